// Starts the TypeScript worker under tsx, like src-main/inference/workerEntry.mjs: the worker
// thread is a fresh module graph that neither vitest's nor electron-vite's transform reaches.
import { register } from 'tsx/esm/api';

register();
await import('./projectionWorker.ts');
