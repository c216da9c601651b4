import { fileURLToPath } from "node:url";
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

const root = fileURLToPath(new URL(".", import.meta.url));

// The chat page. `npm run build` writes it to dist/web, which src/api/static.ts serves at `/`.
// `npx vite --config web/vite.config.ts` serves it with hot reload, proxying the API to a running server.
export default defineConfig({
  root,
  base: "./",
  plugins: [react()],
  build: {
    outDir: fileURLToPath(new URL("../dist/web", import.meta.url)),
    emptyOutDir: true,
    chunkSizeWarningLimit: 800,
  },
  server: {
    proxy: { "/v1": process.env.EDGELLM_URL ?? "http://127.0.0.1:8080" },
  },
});
