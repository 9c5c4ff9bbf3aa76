/// <reference types="vitest/config" />
import { defineConfig } from 'vite';

// Tauri serves the built files from disk and the dev server on a fixed port.
export default defineConfig({
  base: './',
  clearScreen: false,
  server: { port: 1420, strictPort: true },
  build: {
    outDir: 'dist',
    // WebKitGTK 2.50 (Tauri v2 on Linux) understands ES2021.
    target: ['es2021', 'safari15'],
    chunkSizeWarningLimit: 6000,
  },
  worker: { format: 'es' },
  test: {
    environment: 'jsdom',
    setupFiles: ['test/setup.ts'],
    include: ['src/**/*.test.ts'],
  },
});
