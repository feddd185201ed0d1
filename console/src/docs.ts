// The API's documentation page (served at /docs): Swagger UI, bundled from swagger-ui-dist so
// that nothing is fetched from the internet, reading this line's own /openapi.json.
import "swagger-ui-dist/swagger-ui.css";
import SwaggerUI from "swagger-ui-dist/swagger-ui-es-bundle.js";

SwaggerUI({
  domNode: document.getElementById("swagger-ui"),
  url: new URL("/openapi.json", location.href).href, // same origin as the page
  deepLinking: true,
  persistAuthorization: false,
  validatorUrl: null, // no online validator badge (it would call validator.swagger.io)
});
