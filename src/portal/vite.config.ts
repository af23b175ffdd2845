import { fileURLToPath } from "node:url";
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

/** The portal's source folder (Vite's root) and the repository above it. */
const portalRoot = fileURLToPath(new URL(".", import.meta.url));
const repoRoot = fileURLToPath(new URL("../..", import.meta.url));

/**
 * The admin portal's build: a single-page app served by the Loyalty+ server
 * under /portal/. Its only way to the API is Connect from the browser, so the
 * dev server (`npx vite --config src/portal/vite.config.ts`) proxies the
 * Connect paths to a server on PORTAL_API_URL (default http://127.0.0.1:8080).
 */
export default defineConfig({
  root: portalRoot,
  base: "/portal/",
  plugins: [react()],
  clearScreen: false,
  build: {
    outDir: fileURLToPath(new URL("./dist", import.meta.url)),
    emptyOutDir: true,
    target: "es2022",
    // Every supported browser has modulepreload; the polyfill is dead weight.
    modulePreload: { polyfill: false },
    reportCompressedSize: false,
  },
  server: {
    // The generated service descriptors live in gen/, outside the root.
    fs: { allow: [repoRoot] },
    proxy: {
      "^/loyalty\\.v1\\.": { target: process.env.PORTAL_API_URL ?? "http://127.0.0.1:8080", changeOrigin: true },
    },
  },
});
