import { resolve } from 'node:path';
import { defineConfig } from 'electron-vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';

// Native and large Node modules stay outside the bundles and load from node_modules at run time.
const external = ['better-sqlite3', 'sharp', 'onnxruntime-node', 'fast-bmp', 'ws', 'zod', 'yaml', 'fast-xml-parser', 'dicom-parser', 'jpeg-lossless-decoder-js', 'geotiff', '@techstark/opencv-js', 'usearch', 'umap-js'];
// The DICOM codecs are Emscripten builds that load their .wasm from beside their own script.
const externalPatterns = [/^@cornerstonejs\/codec-/];

export default defineConfig({
  main: {
    build: {
      outDir: 'out/main',
      rollupOptions: {
        input: {
          index: resolve(__dirname, 'src-main/app/index.ts'),
          // Inference runs in a worker thread; the pool loads this bundle next to the main one.
          inferenceWorker: resolve(__dirname, 'src-main/inference/worker.ts'),
          // The smart tools' OpenCV (WebAssembly) runs in a worker thread of its own (vision/client.ts).
          visionWorker: resolve(__dirname, 'src-main/vision/worker.ts'),
          // The in-app classifier trains in a worker thread of its own (classifier/client.ts).
          classifierWorker: resolve(__dirname, 'src-main/classifier/worker.ts'),
          // Near-duplicate search over many vectors runs in a worker thread (services/duplicates.ts).
          duplicatesWorker: resolve(__dirname, 'src-main/services/duplicatesWorker.ts'),
          // The embedding map's projections (PCA, UMAP) run in a worker thread (services/embeddingMap.ts).
          projectionWorker: resolve(__dirname, 'src-main/services/projectionWorker.ts'),
          // The `tessera` command (scripts/tessera.mjs runs it when it is not older than src-main).
          cli: resolve(__dirname, 'src-main/cli/bin.ts'),
        },
        external: [...external, ...externalPatterns],
        // Shared chunks sit beside the entries, so the pool finds ./inferenceWorker.js from any of them.
        output: { chunkFileNames: '[name]-[hash].js' },
      },
    },
  },
  preload: {
    build: {
      outDir: 'out/preload',
      rollupOptions: {
        input: { index: resolve(__dirname, 'src-main/preload/index.ts') },
        // A sandboxed preload can only require('electron'): one self-contained CommonJS file.
        output: { format: 'cjs', entryFileNames: '[name].cjs', inlineDynamicImports: true },
      },
    },
  },
  renderer: {
    root: resolve(__dirname, 'src-renderer'),
    plugins: [svelte()],
    build: {
      outDir: 'out/renderer',
      rollupOptions: { input: { index: resolve(__dirname, 'src-renderer/index.html') } },
    },
  },
});
