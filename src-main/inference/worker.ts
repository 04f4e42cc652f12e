import { parentPort } from 'node:worker_threads';
import { toErrorData } from '../common/errors';
import { detectInProcess } from './detect';
import { releaseSessions } from './sessions';
import { pack, type DetectReply, type DetectRequest } from './wire';

/** Worker thread entry: runs detectInProcess for InferencePool, one message per image. */
const port = parentPort;
if (!port) throw new Error('src-main/inference/worker.ts must run in a worker thread');

port.on('message', (msg: DetectRequest | { close: true }) => {
  if ('close' in msg) {
    void releaseSessions().finally(() => port.close());
    return;
  }
  detectInProcess(msg.key, msg.input, msg.manifest, msg.overrides, msg.pixels).then(
    (r) => {
      const { packed, transfer } = pack(r.detections);
      const reply: DetectReply = { id: msg.id, ok: true, packed, timings: r.timings, provider: r.provider, warnings: r.warnings };
      port.postMessage(reply, transfer);
    },
    (e: unknown) => {
      const reply: DetectReply = { id: msg.id, ok: false, error: { ...toErrorData(e), ...(e instanceof Error && e.stack ? { stack: e.stack } : {}) } };
      port.postMessage(reply);
    },
  );
});
