import { parentPort } from 'node:worker_threads';
import { buildIndex, candidatePairs } from './neighbours';

/**
 * Worker thread entry for findNearDuplicatesInWorker: one candidate search over the matrix it is
 * handed, the row pairs sent back (transferred), then the thread ends.
 */
const port = parentPort;
if (!port) throw new Error('src-main/services/duplicatesWorker.ts must run in a worker thread');

port.once('message', (msg: { data: Float32Array; dim: number; rows: number; cut: number; useIndex: boolean }) => {
  try {
    const m = { data: msg.data, dim: msg.dim, rows: msg.rows };
    const pairs = candidatePairs(m, msg.cut, msg.useIndex ? buildIndex(m) : null);
    port.postMessage({ ok: true, pairs }, [pairs.buffer as ArrayBuffer]);
  } catch (e) {
    port.postMessage({ ok: false, message: e instanceof Error ? e.message : String(e) });
  }
});
