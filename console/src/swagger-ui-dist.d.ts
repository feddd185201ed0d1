// The little of swagger-ui-dist's ES bundle that docs.ts uses (the package ships no types).
declare module "swagger-ui-dist/swagger-ui-es-bundle.js" {
  interface SwaggerUIOptions {
    domNode?: HTMLElement | null;
    dom_id?: string;
    url?: string;
    deepLinking?: boolean;
    persistAuthorization?: boolean;
    validatorUrl?: string | null;
    [option: string]: unknown;
  }
  const SwaggerUI: (options: SwaggerUIOptions) => unknown;
  export default SwaggerUI;
}
