// Starts the TypeScript worker under tsx, the way scripts/tessera.mjs runs the CLI: the worker
// thread is a fresh module graph that neither vitest's nor electron-vite's transform reaches.
import { register } from 'tsx/esm/api';

register();
await import('./worker.ts');
