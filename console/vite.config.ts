// Builds the console into the Python package, which serves it at "/" (api/routes/console.py).
import { defineConfig } from "vite";

export default defineConfig({
  base: "./", // relative asset URLs: the page works wherever the service mounts it
  build: {
    outDir: "../src/deconfliction/console_dist",
    emptyOutDir: true,
    assetsInlineLimit: 0, // the borders file stays a separate, cacheable asset
    chunkSizeWarningLimit: 1500, // maplibre-gl alone is ~1 MB; one chunk is fine on a LAN
  },
});
