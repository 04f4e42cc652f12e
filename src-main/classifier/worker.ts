import { parentPort } from 'node:worker_threads';
import { trainLinear, type TrainInput } from './logreg';

/**
 * The classifier's training thread: one request (a TrainInput), progress messages while the
 * optimiser runs, then the model (its arrays transferred) or an error. Cancelling terminates it.
 */
export type TrainReply =
  | { type: 'progress'; done: number; total: number }
  | { type: 'result'; model: import('./logreg').LinearModel }
  | { type: 'error'; message: string };

const port = parentPort;
if (!port) throw new Error('the classifier worker must run in a worker thread');
port.once('message', (input: TrainInput) => {
  try {
    const model = trainLinear(input, (done, total) => port.postMessage({ type: 'progress', done, total } satisfies TrainReply));
    port.postMessage({ type: 'result', model } satisfies TrainReply, [model.mean.buffer as ArrayBuffer, model.w.buffer as ArrayBuffer, model.b.buffer as ArrayBuffer]);
  } catch (e) {
    port.postMessage({ type: 'error', message: e instanceof Error ? e.message : String(e) } satisfies TrainReply);
  }
});
