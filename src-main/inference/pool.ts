import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { AppError } from '../common/errors';
import type { DetectOverrides, ModelManifest } from '../common/inference/types';
import type { DetectResult, SessionKey } from './detect';
import type { ImageInput, PixelOptions } from './preprocess';
import { unpack, type DetectReply, type DetectRequest } from './wire';

export interface PoolOptions {
  /** Worker threads, 1 or 2: each holds its own sessions, and onnxruntime already uses every core. */
  size?: number;
  /**
   * Module the workers run. The default starts worker.ts through tsx (tests, CLI, `npm run web`).
   * A bundled app build passes the URL of its compiled worker chunk instead.
   */
  entry?: URL;
}

/**
 * From source (tests, the CLI through tsx) the worker is worker.ts started by workerEntry.mjs.
 * In the electron-vite build this module is bundled into out/main (the app's and the CLI's
 * entries and their shared chunks all sit there, see chunkFileNames), and worker.ts must be built
 * beside it as its own entry named `inferenceWorker` (main.build.rollupOptions.input).
 */
function defaultEntry(): URL {
  const here = new URL(import.meta.url);
  return here.pathname.endsWith('.ts') ? new URL('./workerEntry.mjs', here) : new URL('./inferenceWorker.js', here);
}

interface Pending {
  resolve: (r: DetectResult) => void;
  reject: (e: Error) => void;
}

interface Slot {
  worker: Worker;
  inFlight: number;
}

/**
 * Runs detection off the calling thread in a small pool of worker threads. Each request goes to
 * the least busy worker; results come back with their buffers transferred. A worker that dies
 * fails its pending requests and is replaced on the next call.
 */
export class InferencePool {
  private readonly slots: (Slot | null)[];
  private readonly pending = new Map<number, Pending & { slot: number }>();
  private nextId = 1;
  private closed = false;
  private readonly entry: URL;

  constructor(opts: PoolOptions = {}) {
    const size = Math.max(1, Math.min(2, opts.size ?? (os.availableParallelism() >= 8 ? 2 : 1)));
    this.slots = Array.from({ length: size }, () => null);
    this.entry = opts.entry ?? defaultEntry();
  }

  get size(): number {
    return this.slots.length;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  detect(key: SessionKey, input: ImageInput, manifest: ModelManifest, overrides: DetectOverrides = {}, pixels: PixelOptions = {}): Promise<DetectResult> {
    if (this.closed) return Promise.reject(new AppError('CANCELLED', 'the inference pool is closed'));
    let best = 0;
    for (let i = 0; i < this.slots.length; i++) {
      const s = this.slots[i];
      if (!s) {
        best = i;
        break;
      }
      if (s.inFlight < this.slots[best]!.inFlight) best = i;
    }
    const slot = this.slots[best] ?? this.spawn(best);
    const id = this.nextId++;
    const req: DetectRequest = { id, key, input, manifest, overrides, pixels };
    slot.inFlight++;
    slot.worker.ref();
    // Decoded pixels are handed over, not copied: the caller builds them for this request.
    const transfer = typeof input === 'object' && 'raw' in input ? [input.raw.data.buffer as ArrayBuffer] : [];
    return new Promise<DetectResult>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, slot: best });
      slot.worker.postMessage(req, transfer);
    });
  }

  private spawn(index: number): Slot {
    const worker = new Worker(this.entry);
    const slot: Slot = { worker, inFlight: 0 };
    this.slots[index] = slot;
    worker.on('message', (reply: DetectReply) => {
      const p = this.pending.get(reply.id);
      if (!p) return;
      this.pending.delete(reply.id);
      // An idle worker must not keep a CLI process alive.
      if (--slot.inFlight === 0) slot.worker.unref();
      if (reply.ok) {
        p.resolve({ detections: unpack(reply.packed), timings: reply.timings, provider: reply.provider, warnings: reply.warnings });
      } else {
        const e = new AppError(reply.error.code, reply.error.message, reply.error.detail);
        if (reply.error.stack) e.stack = reply.error.stack;
        p.reject(e);
      }
    });
    const fail = (err: Error): void => {
      if (this.slots[index] === slot) this.slots[index] = null;
      for (const [id, p] of this.pending) {
        if (p.slot !== index) continue;
        this.pending.delete(id);
        p.reject(err);
      }
    };
    worker.on('error', (e) => fail(new AppError('INTERNAL', `inference worker failed: ${e.message}`)));
    worker.on('exit', (code) => fail(new AppError(this.closed ? 'CANCELLED' : 'INTERNAL', `inference worker exited with code ${code}`)));
    return slot;
  }

  /** Stops the workers, releasing their sessions; pending requests are rejected. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(
      this.slots.map(async (s) => {
        if (!s) return;
        const exited = new Promise<void>((r) => s.worker.once('exit', () => r()));
        s.worker.postMessage({ close: true });
        const timer = setTimeout(() => void s.worker.terminate(), 2000);
        await exited;
        clearTimeout(timer);
      }),
    );
  }
}

/** The pool most callers share; created on first use. */
let shared: InferencePool | null = null;

export function sharedPool(): InferencePool {
  if (!shared || shared.isClosed) shared = new InferencePool();
  return shared;
}

/**
 * Detects objects in one image off the main thread (see InferencePool). `key.file` is the model
 * file; `key.providers` the preference order, falling back to the CPU with warnings.
 */
export function detect(key: SessionKey, input: ImageInput, manifest: ModelManifest, overrides: DetectOverrides = {}, pixels: PixelOptions = {}): Promise<DetectResult> {
  return sharedPool().detect(key, input, manifest, overrides, pixels);
}
