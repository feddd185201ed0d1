// Builds the console into the Python package, which serves it at "/" and the API's
// documentation page at "/docs" (api/routes/console.py).
import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));

export default defineConfig({
  base: "./", // relative asset URLs: the page works wherever the service mounts it
  build: {
    outDir: "../src/deconfliction/console_dist",
    emptyOutDir: true,
    assetsInlineLimit: 0, // the borders file stays a separate, cacheable asset
    // maplibre-gl alone is ~1 MB, Swagger UI ~1.5 MB; one chunk a page is fine on a LAN
    chunkSizeWarningLimit: 2000,
    rolldownOptions: { // Vite 8's name for rollupOptions
      // two pages, their hashed assets side by side in assets/
      input: { index: here("./index.html"), docs: here("./docs.html") },
    },
  },
});
