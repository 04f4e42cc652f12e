import { Worker } from 'node:worker_threads';
import { AppError } from '../common/errors';
import type { LinearModel, TrainInput } from './logreg';
import type { TrainReply } from './worker';

/**
 * From source the worker is worker.ts started by workerEntry.mjs (tests, `npm run web`). In the
 * electron-vite build this module is bundled into out/main, and worker.ts is built beside it as
 * its own entry named `classifierWorker` (main.build.rollupOptions.input in electron.vite.config.ts).
 */
function defaultEntry(): URL {
  const here = new URL(import.meta.url);
  return here.pathname.endsWith('.ts') ? new URL('./workerEntry.mjs', here) : new URL('./classifierWorker.js', here);
}

/**
 * Trains in a worker thread of its own, off the main thread: progress is reported, and `cancelled()` (polled) stops the thread.
 */
export function trainInWorker(
  input: TrainInput,
  hooks: { onProgress?: (done: number, total: number) => void; cancelled?: () => boolean } = {},
  entry: URL = defaultEntry(),
): Promise<LinearModel> {
  return new Promise<LinearModel>((resolve, reject) => {
    const worker = new Worker(entry);
    let settled = false;
    const finish = (f: () => void): void => {
      if (settled) return;
      settled = true;
      clearInterval(poll);
      f();
      void worker.terminate();
    };
    const poll = setInterval(() => {
      if (hooks.cancelled?.()) finish(() => reject(new AppError('CANCELLED', 'training was cancelled')));
    }, 50);
    worker.on('message', (m: TrainReply) => {
      if (m.type === 'progress') hooks.onProgress?.(m.done, m.total);
      else if (m.type === 'result') finish(() => resolve(m.model));
      else finish(() => reject(new AppError('INTERNAL', `classifier training failed: ${m.message}`)));
    });
    worker.on('error', (e) => finish(() => reject(new AppError('INTERNAL', `classifier worker failed: ${e.message}`))));
    worker.on('exit', (code) => finish(() => reject(new AppError('INTERNAL', `classifier worker exited with code ${code}`))));
    // Copied, not handed over: the caller still predicts with the same vectors.
    worker.postMessage(input);
  });
}
