import { parentPort } from 'node:worker_threads';
import { toErrorData } from '../common/errors';
import { loadOpenCv } from './opencv';
import { grabcut, scissors, wand, watershed } from './ops';
import type { VisionReply, VisionRequest } from './wire';

/**
 * Worker thread entry for VisionWorker: loads OpenCV once and serves the smart tools, one message
 * at a time. Results come back with their buffers transferred.
 */
const port = parentPort;
if (!port) throw new Error('src-main/vision/worker.ts must run in a worker thread');

let calls = 0;
const ready = loadOpenCv();

port.on('message', (msg: VisionRequest | { close: true }) => {
  if ('close' in msg) {
    port.close();
    return;
  }
  ready.then(
    ({ cv }) => {
      let reply: VisionReply;
      const transfer: ArrayBuffer[] = [];
      try {
        if (msg.op === 'stats') {
          const probe = new cv.Mat(1024, 1024, cv.CV_8UC1);
          const probeAddress = (probe.data as Uint8Array).byteOffset;
          probe.delete();
          reply = { id: msg.id, ok: true, value: { heapBytes: (cv as unknown as { HEAPU8: Uint8Array }).HEAPU8.length, calls, probeAddress } };
        } else {
          calls++;
          const value =
            msg.op === 'wand'
              ? wand(cv, msg.pixels, msg.x, msg.y, msg.tolerance)
              : msg.op === 'grabcut'
                ? grabcut(cv, msg.pixels, msg.box, msg.iterations)
                : msg.op === 'watershed'
                  ? watershed(cv, msg.pixels, msg.options)
                  : scissors(cv, msg.pixels, msg.from, msg.to);
          transfer.push(('mask' in value ? value.mask : 'labels' in value ? value.labels : value.points).buffer as ArrayBuffer);
          reply = { id: msg.id, ok: true, value };
        }
      } catch (e) {
        reply = failure(msg.id, cv, e);
      }
      port.postMessage(reply, transfer);
    },
    (e: unknown) => port.postMessage(failure(msg.id, null, e)),
  );
});

/** OpenCV throws its exceptions as heap pointers: they are turned into their message. */
function failure(id: number, cv: unknown, e: unknown): VisionReply {
  let err = e;
  if (typeof e === 'number' && cv && typeof (cv as { exceptionFromPtr?: unknown }).exceptionFromPtr === 'function') {
    err = new Error(`OpenCV: ${(cv as { exceptionFromPtr(p: number): { msg: string } }).exceptionFromPtr(e).msg}`);
  } else if (!(e instanceof Error)) {
    err = new Error(`OpenCV: ${String(e)}`);
  }
  return { id, ok: false, error: { ...toErrorData(err), ...(err instanceof Error && err.stack ? { stack: err.stack } : {}) } };
}
