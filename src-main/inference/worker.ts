import { parentPort } from 'node:worker_threads';
import { toErrorData } from '../common/errors';
import { detectInProcess } from './detect';
import { embedInProcess } from './embed';
import { inspectModel } from './inspect';
import { samCompute, samDecode, samEncode, samEncoderInfo, samPut, samStats } from './sam';
import { getSession, releaseSessions, sessionStats } from './sessions';
import { pack, type DetectReply, type ValueReply, type WorkerRequest } from './wire';

/**
 * Worker thread entry for InferencePool: detection (detectInProcess, one message per image), model
 * inspection, and what the worker holds. Sessions stay cached here between requests, so a model
 * inspected or run once is not loaded again until the pool closes the worker.
 */
const port = parentPort;
if (!port) throw new Error('src-main/inference/worker.ts must run in a worker thread');

function failure(id: number, e: unknown): ValueReply<never> {
  return { id, ok: false, error: { ...toErrorData(e), ...(e instanceof Error && e.stack ? { stack: e.stack } : {}) } };
}

port.on('message', (msg: WorkerRequest) => {
  if ('close' in msg) {
    void releaseSessions().finally(() => port.close());
    return;
  }
  if (msg.kind === 'stats') {
    const reply: ValueReply<ReturnType<typeof sessionStats>> = { id: msg.id, ok: true, value: sessionStats() };
    port.postMessage(reply);
    return;
  }
  if (msg.kind === 'prepare') {
    getSession(msg.key.file, msg.key).then(
      () => port.postMessage({ id: msg.id, ok: true, value: null }),
      (e: unknown) => port.postMessage(failure(msg.id, e)),
    );
    return;
  }
  if (msg.kind === 'samStats') {
    port.postMessage({ id: msg.id, ok: true, value: samStats() });
    return;
  }
  if (msg.kind === 'samEncode') {
    samEncode(msg).then(
      (value) => port.postMessage({ id: msg.id, ok: true, value }),
      (e: unknown) => port.postMessage(failure(msg.id, e)),
    );
    return;
  }
  if (msg.kind === 'samCompute') {
    samCompute(msg).then(
      (value) => port.postMessage({ id: msg.id, ok: true, value }, value.tensors.map((t) => t.data.buffer as ArrayBuffer)),
      (e: unknown) => port.postMessage(failure(msg.id, e)),
    );
    return;
  }
  if (msg.kind === 'samEncoderInfo') {
    samEncoderInfo(msg.model).then(
      (value) => port.postMessage({ id: msg.id, ok: true, value }),
      (e: unknown) => port.postMessage(failure(msg.id, e)),
    );
    return;
  }
  if (msg.kind === 'samPut') {
    samPut(msg);
    port.postMessage({ id: msg.id, ok: true, value: null });
    return;
  }
  if (msg.kind === 'samDecode') {
    samDecode(msg).then(
      (value) => port.postMessage({ id: msg.id, ok: true, value }, value.masks.map((m) => m.counts.buffer as ArrayBuffer)),
      (e: unknown) => port.postMessage(failure(msg.id, e)),
    );
    return;
  }
  if (msg.kind === 'embed') {
    embedInProcess(msg.key, msg.inputs, msg.manifest).then(
      (value) => port.postMessage({ id: msg.id, ok: true, value }, [value.data.buffer as ArrayBuffer]),
      (e: unknown) => port.postMessage(failure(msg.id, e)),
    );
    return;
  }
  if (msg.kind === 'inspect') {
    inspectModel(msg.file, msg.threads).then(
      (value) => port.postMessage({ id: msg.id, ok: true, value }),
      (e: unknown) => port.postMessage(failure(msg.id, e)),
    );
    return;
  }
  detectInProcess(msg.key, msg.input, msg.manifest, msg.overrides, msg.pixels).then(
    (r) => {
      const { packed, transfer } = pack(r.detections);
      const reply: DetectReply = { id: msg.id, ok: true, packed, timings: r.timings, provider: r.provider, warnings: r.warnings, ...(r.semantic ? { semantic: r.semantic } : {}) };
      if (r.semantic) transfer.push(r.semantic.labels.buffer as ArrayBuffer, r.semantic.prob.buffer as ArrayBuffer);
      port.postMessage(reply, transfer);
    },
    (e: unknown) => port.postMessage(failure(msg.id, e)),
  );
});
