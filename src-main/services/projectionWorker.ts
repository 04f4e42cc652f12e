import { parentPort } from 'node:worker_threads';
import { toErrorData } from '../common/errors';
import { pca, umap2d } from './projection';
import type { ProjectionReply, ProjectionRequest } from './projectionWire';

/**
 * Worker thread entry for the embedding map: one projection per thread (the map starts a thread
 * per computation and ends it to cancel). Progress goes back as messages while it works; the
 * coordinates come back transferred.
 */
const port = parentPort;
if (!port) throw new Error('src-main/services/projectionWorker.ts must run in a worker thread');

port.once('message', (msg: ProjectionRequest) => {
  const progress = (done: number, total: number): void => port.postMessage({ type: 'progress', done, total } satisfies ProjectionReply);
  try {
    const coords =
      msg.method === 'pca'
        ? pca(msg.data, msg.n, msg.d, { components: 2, onProgress: progress }).coords
        : umap2d(msg.data, msg.n, msg.d, { ...msg.umap, onProgress: progress });
    port.postMessage({ type: 'done', coords } satisfies ProjectionReply, [coords.buffer as ArrayBuffer]);
  } catch (e) {
    port.postMessage({ type: 'error', error: toErrorData(e) } satisfies ProjectionReply);
  }
});
