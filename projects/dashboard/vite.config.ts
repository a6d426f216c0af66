import { defineConfig, type Plugin } from "vite";
import { brotliCompressSync, constants } from "node:zlib";
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";

// brotli writes name.br beside every compressible file of the build: the
// gateway serves it to browsers that accept br (Go's standard library has
// no brotli encoder; gzip is made by the gateway at start-up).
function brotli(): Plugin {
  let outDir = "";
  return {
    name: "phoenix-brotli",
    apply: "build",
    configResolved(c) {
      outDir = c.build.outDir;
    },
    closeBundle() {
      const walk = (dir: string) => {
        for (const name of readdirSync(dir)) {
          const p = join(dir, name);
          if (statSync(p).isDirectory()) walk(p);
          else if (/\.(js|css|html|svg|json|webmanifest)$/.test(name) && statSync(p).size >= 512) {
            const body = readFileSync(p);
            writeFileSync(p + ".br", brotliCompressSync(body, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }));
          }
        }
      };
      walk(outDir);
    },
  };
}

export default defineConfig({
  plugins: [brotli()],
  build: {
    outDir: "dist/ui",
    emptyOutDir: true,
    // The gateway's CSP forbids inline scripts: never inline the
    // modulepreload polyfill or small assets as data: scripts.
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    chunkSizeWarningLimit: 400,
    rollupOptions: {
      onwarn(w: { code?: string }, warn: (w: unknown) => void) {
        // React Server Components' "use client" means nothing in a SPA.
        if (w.code !== "MODULE_LEVEL_DIRECTIVE") warn(w);
      },
    },
  },
  server: {
    proxy: { "/api": { target: "http://127.0.0.1:8080", ws: true } },
  },
  test: {
    environment: "jsdom",
    include: ["src/**/*.test.{ts,tsx}"],
    setupFiles: ["src/test-setup.ts"],
  },
} as any);
