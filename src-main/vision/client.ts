import { Worker } from 'node:worker_threads';
import { AppError } from '../common/errors';
import type { LabelsOut, MaskOut, PathOut, Pixels, WatershedOptions } from './ops';
import type { VisionReply, VisionRequest, VisionStats } from './wire';

export interface VisionWorkerOptions {
  /**
   * Module the thread runs. The default is the build's visionWorker.js when this module runs
   * from the build (the app, the built CLI), else worker.ts through tsx (tests, `npm run web`).
   */
  entry?: URL;
}

/**
 * From source the worker is worker.ts started by workerEntry.mjs. In the electron-vite build this
 * module is bundled into out/main, and worker.ts is built beside it as its own entry named
 * `visionWorker` (main.build.rollupOptions.input in electron.vite.config.ts).
 */
function defaultEntry(): URL {
  const here = new URL(import.meta.url);
  return here.pathname.endsWith('.ts') ? new URL('./workerEntry.mjs', here) : new URL('./visionWorker.js', here);
}

/**
 * The pixels' buffer to transfer: theirs when they fill it, else (a view into a larger buffer, such
 * as a Node Buffer's pool) a copy of them.
 */
function handOver(pixels: Pixels): ArrayBuffer[] {
  const d = pixels.data;
  if (d.byteOffset !== 0 || d.byteLength !== d.buffer.byteLength || !(d.buffer instanceof ArrayBuffer)) pixels.data = d.slice();
  return [pixels.data.buffer as ArrayBuffer];
}

type Request = VisionRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

/**
 * The smart tools' OpenCV, in one worker thread started on first use and kept: OpenCV loads
 * once (about 0.2 s) and every later call only pays for its own work. Requests are served in
 * order; pixels are handed over, not copied. A thread that dies fails its pending calls and is
 * replaced on the next one. An idle thread does not keep the process alive.
 */
export class VisionWorker {
  private worker: Worker | null = null;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  private closed = false;
  private readonly entry: URL;

  constructor(opts: VisionWorkerOptions = {}) {
    this.entry = opts.entry ?? defaultEntry();
  }

  wand(pixels: Pixels, x: number, y: number, tolerance: number): Promise<MaskOut> {
    return this.call({ op: 'wand', pixels, x, y, tolerance }, handOver(pixels));
  }

  grabcut(pixels: Pixels, box: { x: number; y: number; w: number; h: number }, iterations: number): Promise<MaskOut> {
    return this.call({ op: 'grabcut', pixels, box, iterations }, handOver(pixels));
  }

  watershed(pixels: Pixels, options: WatershedOptions): Promise<LabelsOut> {
    return this.call({ op: 'watershed', pixels, options }, handOver(pixels));
  }

  scissors(pixels: Pixels, from: { x: number; y: number }, to: { x: number; y: number }): Promise<PathOut> {
    return this.call({ op: 'scissors', pixels, from, to }, handOver(pixels));
  }

  /** The thread's WebAssembly heap size and calls served (starts it when not running). */
  stats(): Promise<VisionStats> {
    return this.call({ op: 'stats' }, []);
  }

  get running(): boolean {
    return this.worker !== null;
  }

  private call<T>(req: Request, transfer: ArrayBuffer[]): Promise<T> {
    if (this.closed) return Promise.reject(new AppError('CANCELLED', 'the smart tools worker is closed'));
    const worker = this.worker ?? this.spawn();
    const id = this.nextId++;
    worker.ref();
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: (v) => resolve(v as T), reject });
      worker.postMessage({ ...req, id }, transfer);
    });
  }

  private spawn(): Worker {
    const worker = new Worker(this.entry);
    this.worker = worker;
    worker.on('message', (reply: VisionReply) => {
      const p = this.pending.get(reply.id);
      if (!p) return;
      this.pending.delete(reply.id);
      if (this.pending.size === 0) worker.unref();
      if (reply.ok) {
        p.resolve(reply.value);
      } else {
        const e = new AppError(reply.error.code, reply.error.message, reply.error.detail);
        if (reply.error.stack) e.stack = reply.error.stack;
        p.reject(e);
      }
    });
    const fail = (err: Error): void => {
      if (this.worker === worker) this.worker = null;
      for (const [id, p] of this.pending) {
        this.pending.delete(id);
        p.reject(err);
      }
    };
    worker.on('error', (e) => fail(new AppError('INTERNAL', `smart tools worker failed: ${e.message}`)));
    worker.on('exit', (code) => fail(new AppError(this.closed ? 'CANCELLED' : 'INTERNAL', `smart tools worker exited with code ${code}`)));
    return worker;
  }

  /** Stops the thread; pending calls are rejected. */
  async close(): Promise<void> {
    this.closed = true;
    const w = this.worker;
    if (!w) return;
    const exited = new Promise<void>((r) => w.once('exit', () => r()));
    w.postMessage({ close: true });
    const timer = setTimeout(() => void w.terminate(), 2000);
    await exited;
    clearTimeout(timer);
  }
}
