import os from 'node:os';
import { Worker } from 'node:worker_threads';
import { AppError } from '../common/errors';
import type { DetectOverrides, ModelManifest } from '../common/inference/types';
import type { DetectResult, SessionKey } from './detect';
import type { EmbedResult } from './embed';
import type { ModelInspection } from './inspect';
import type { ImageInput, PixelOptions } from './preprocess';
import type { SamComputed, SamDecodeArgs, SamDecodeValue, SamEncodeArgs, SamEncoderInfo, SamEncodeValue, SamModelKey } from './sam';
import { sessionCacheKey, unpack, type DetectReply, type DetectRequest, type SessionInfo, type ValueReply, type WorkerRequest, type WorkerStats } from './wire';

export interface PoolOptions {
  /** Worker threads, 1 or 2: each holds its own sessions, and onnxruntime already uses every core. */
  size?: number;
  /**
   * Module the workers run. The default is the build's inferenceWorker.js when this module runs
   * from the build (the app, the built CLI), else worker.ts through tsx (tests, the CLI from
   * source, `npm run web`).
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
  /** Settles the caller's promise with the worker's successful reply. */
  resolve: (reply: unknown) => void;
  reject: (e: Error) => void;
}

interface Slot {
  worker: Worker;
  inFlight: number;
  /** Sessions asked of this worker (sessionCacheKey): requests for them go to it when it is free. */
  sessions: Set<string>;
  /** Those whose first request is still in flight: the worker is loading them. */
  loading: Set<string>;
}

/** What the pool's workers hold (diagnostics): live threads, model loads so far, sessions held. */
type OkValue<T> = ValueReply<T> & { ok: true };

export interface PoolStats {
  /** Worker threads running now. */
  workers: number;
  /** Model loads the running workers have done, inspection included. */
  loads: number;
  sessions: SessionInfo[];
}

/**
 * Runs detection and model inspection off the calling thread in a small pool of worker threads.
 * The workers and their sessions live until close(): a model inspected or run once is not loaded
 * again, whatever job asks for it next. A request goes to an idle worker that already holds its
 * session, else to a worker not started yet, else to the least busy one; results come back with
 * their buffers transferred. A worker that dies fails its pending requests and is replaced on the
 * next call. Idle workers do not keep the process alive.
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

  /** Worker threads running now. */
  get workers(): number {
    return this.slots.filter((s) => s !== null).length;
  }

  detect(key: SessionKey, input: ImageInput, manifest: ModelManifest, overrides: DetectOverrides = {}, pixels: PixelOptions = {}): Promise<DetectResult> {
    // Decoded pixels are handed over, not copied: the caller builds them for this request.
    const transfer = typeof input === 'object' && 'raw' in input ? [input.raw.data.buffer as ArrayBuffer] : [];
    return this.request<DetectReply & { ok: true }>(sessionCacheKey(key.file, key.providers, key.intraOpThreads, key.spinning), (id): DetectRequest => ({ id, kind: 'detect', key, input, manifest, overrides, pixels }), transfer).then(
      (reply) => ({ detections: unpack(reply.packed), timings: reply.timings, provider: reply.provider, warnings: reply.warnings, ...(reply.semantic ? { semantic: reply.semantic } : {}) }),
    );
  }

  /**
   * Embedding vectors of several images in a worker (see embedInProcess), batched there as the
   * model allows; the vectors come back transferred, not copied.
   */
  embed(key: SessionKey, inputs: ImageInput[], manifest: ModelManifest): Promise<EmbedResult> {
    return this.request<OkValue<EmbedResult>>(sessionCacheKey(key.file, key.providers, key.intraOpThreads, key.spinning), (id) => ({ id, kind: 'embed', key, inputs, manifest })).then((r) => r.value);
  }

  /**
   * Inspects a model in a worker (see inspectModel). Its CPU session stays loaded there with the
   * thread settings given, so a run of the same file on the CPU with the same settings that
   * follows does not load it again; a run with other settings loads its own session.
   */
  inspect(file: string, threads: Pick<SessionKey, 'intraOpThreads' | 'spinning'> = {}): Promise<ModelInspection> {
    const session = sessionCacheKey(file, ['cpu'], threads.intraOpThreads, threads.spinning);
    return this.request<OkValue<ModelInspection>>(session, (id) => ({ id, kind: 'inspect', file, ...(Object.keys(threads).length > 0 ? { threads } : {}) })).then((r) => r.value);
  }

  /**
   * Starts a worker and loads a session there ahead of the first image, while the caller does
   * other work; detect() with the same key then goes to that worker and finds it loaded.
   */
  prepare(key: SessionKey): Promise<void> {
    return this.request<OkValue<null>>(sessionCacheKey(key.file, key.providers, key.intraOpThreads, key.spinning), (id) => ({ id, kind: 'prepare', key })).then(() => undefined);
  }

  /**
   * The embedding of an image for a SAM-family pair: found in the memory or disk cache of the
   * worker that decodes the pair's prompts, else computed in a thread of the encoder's own (so a
   * long encoder run never holds up a decode) and handed to that worker. Without a source only
   * the caches are looked at (`needsSource` when they miss). Pixels decoded by the caller are
   * handed over; two requests for one embedding share its computation.
   */
  async samEncode(args: SamEncodeArgs): Promise<SamEncodeValue> {
    const encoderInfo = await this.samEncoderInfo(args.model);
    const probe = await this.samRequest<OkValue<SamEncodeValue>>(args.model.encoder, (id) => ({ id, kind: 'samEncode', ...args, encoderInfo, source: null })).then((r) => r.value);
    if (!probe.needsSource || !args.source) return probe;
    const source = args.source;
    let computing = this.computing.get(args.key);
    if (!computing) {
      computing = (async (): Promise<SamEncodeValue> => {
        const transfer = 'raw' in source ? [source.raw.data.buffer as ArrayBuffer] : [];
        const c = await this.encoders().samRequest<OkValue<SamComputed>>(args.model.encoder, (id) => ({ id, kind: 'samCompute', ...args, source }), transfer).then((r) => r.value);
        await this.samRequest<OkValue<null>>(args.model.encoder, (id) => ({ id, kind: 'samPut', key: args.key, tensors: c.tensors, frame: args.frame }), c.tensors.map((t) => t.data.buffer as ArrayBuffer));
        return { encodeMs: c.encodeMs, cached: null, provider: c.provider, warnings: c.warnings };
      })();
      this.computing.set(args.key, computing);
      const done = (): void => void this.computing.delete(args.key);
      computing.then(done, done);
    }
    return computing;
  }

  /** Embeddings being computed now, by key. */
  private readonly computing = new Map<string, Promise<SamEncodeValue>>();
  /** The thread SAM-family encoders run in, apart from the workers that decode. */
  private encoderPool: InferencePool | null = null;

  private encoders(): InferencePool {
    this.encoderPool ??= new InferencePool({ size: 1, entry: this.entry });
    return this.encoderPool;
  }

  /** Each encoder's info by session, read once in the encoder's thread. */
  private readonly encoderInfos = new Map<string, Promise<SamEncoderInfo>>();

  /**
   * The encoder's provider, load warnings, inputs and outputs, from its session in the encoder's
   * thread (loaded there once, where it encodes), so that the worker that decodes never loads
   * the encoder only to report them or to read the pair's layout.
   */
  private samEncoderInfo(model: SamModelKey): Promise<SamEncoderInfo> {
    const key = sessionCacheKey(model.encoder, model.providers, model.intraOpThreads, model.spinning);
    let info = this.encoderInfos.get(key);
    if (!info) {
      const m: SamModelKey = { encoder: model.encoder, decoder: model.decoder, ...(model.providers ? { providers: model.providers } : {}), ...(model.intraOpThreads !== undefined ? { intraOpThreads: model.intraOpThreads } : {}), ...(model.spinning !== undefined ? { spinning: model.spinning } : {}) };
      info = this.encoders().samRequest<OkValue<SamEncoderInfo>>(model.encoder, (id) => ({ id, kind: 'samEncoderInfo', model: m })).then((r) => r.value);
      this.encoderInfos.set(key, info);
      // A failed load is not remembered: the file may be fixed and tried again.
      info.catch(() => this.encoderInfos.delete(key));
    }
    return info;
  }

  /** Masks for a prompt, in the worker that holds the pair's embeddings. */
  async samDecode(args: SamDecodeArgs): Promise<SamDecodeValue> {
    const encoderInfo = await this.samEncoderInfo(args.model);
    return this.samRequest<OkValue<SamDecodeValue>>(args.model.encoder, (id) => ({ id, kind: 'samDecode', ...args, encoderInfo })).then((r) => r.value);
  }

  /** Images encoded (in any thread) and embeddings held by the worker of a SAM-family encoder. */
  async samStats(encoder: string): Promise<{ encodes: number; embeddings: number }> {
    const own = await this.samWorkerStats(encoder);
    const enc = this.encoderPool ? await this.encoderPool.samWorkerStats(encoder) : { encodes: 0, embeddings: 0 };
    return { encodes: own.encodes + enc.encodes, embeddings: own.embeddings };
  }

  private async samWorkerStats(encoder: string): Promise<{ encodes: number; embeddings: number }> {
    const index = this.samSlots.get(encoder);
    const slot = index === undefined ? null : this.slots[index];
    if (!slot) return { encodes: 0, embeddings: 0 };
    return this.send<OkValue<{ encodes: number; embeddings: number }>>(slot, index!, (id) => ({ id, kind: 'samStats' }), []).then((r) => r.value);
  }

  /** The worker of each SAM-family encoder: its embeddings and refinement masks live there. */
  private readonly samSlots = new Map<string, number>();

  private samRequest<R>(encoder: string, build: (id: number) => WorkerRequest, transfer: ArrayBuffer[] = []): Promise<R> {
    if (this.closed) return Promise.reject(new AppError('CANCELLED', 'the inference pool is closed'));
    let index = this.samSlots.get(encoder);
    if (index === undefined) {
      index = this.pick(`sam\u0000${encoder}`);
      this.samSlots.set(encoder, index);
    }
    const slot = this.slots[index] ?? this.spawn(index);
    return this.send<R>(slot, index, build, transfer);
  }

  /** What the running workers hold, the SAM encoder's thread included; starts none. */
  async stats(): Promise<PoolStats> {
    const live = this.slots.filter((s): s is Slot => s !== null);
    const each = await Promise.all(
      live.map((slot) => this.send<OkValue<WorkerStats>>(slot, this.slots.indexOf(slot), (id) => ({ id, kind: 'stats' }), []).then((r) => r.value)),
    );
    const enc = this.encoderPool ? await this.encoderPool.stats() : { workers: 0, loads: 0, sessions: [] };
    return { workers: live.length + enc.workers, loads: each.reduce((n, s) => n + s.loads, 0) + enc.loads, sessions: [...each.flatMap((s) => s.sessions), ...enc.sessions] };
  }

  /**
   * The slot for a request on `session`: a worker holding it that is idle or loading it (another
   * worker would only load it again), else one not started, else the least busy.
   */
  private pick(session: string): number {
    let best = -1;
    for (let i = 0; i < this.slots.length; i++) {
      const s = this.slots[i];
      if (s && s.sessions.has(session) && (s.inFlight === 0 || s.loading.has(session))) return i;
    }
    for (let i = 0; i < this.slots.length; i++) {
      const s = this.slots[i];
      if (!s) return i;
      const b = best >= 0 ? this.slots[best]! : null;
      if (!b || s.inFlight < b.inFlight || (s.inFlight === b.inFlight && s.sessions.has(session) && !b.sessions.has(session))) best = i;
    }
    return best;
  }

  private request<R>(session: string, build: (id: number) => WorkerRequest, transfer: ArrayBuffer[] = []): Promise<R> {
    if (this.closed) return Promise.reject(new AppError('CANCELLED', 'the inference pool is closed'));
    const index = this.pick(session);
    const slot = this.slots[index] ?? this.spawn(index);
    const sent = this.send<R>(slot, index, build, transfer);
    if (!slot.sessions.has(session)) {
      slot.sessions.add(session);
      slot.loading.add(session);
      const loaded = (): void => void slot.loading.delete(session);
      sent.then(loaded, loaded);
    }
    return sent;
  }

  private send<R>(slot: Slot, index: number, build: (id: number) => WorkerRequest, transfer: ArrayBuffer[]): Promise<R> {
    const id = this.nextId++;
    slot.inFlight++;
    slot.worker.ref();
    return new Promise<R>((resolve, reject) => {
      this.pending.set(id, { resolve: (reply) => resolve(reply as R), reject, slot: index });
      slot.worker.postMessage(build(id), transfer);
    });
  }

  private spawn(index: number): Slot {
    const worker = new Worker(this.entry);
    const slot: Slot = { worker, inFlight: 0, sessions: new Set(), loading: new Set() };
    this.slots[index] = slot;
    worker.on('message', (reply: DetectReply | ValueReply<unknown>) => {
      const p = this.pending.get(reply.id);
      if (!p) return;
      this.pending.delete(reply.id);
      // An idle worker must not keep a CLI process alive.
      if (--slot.inFlight === 0) slot.worker.unref();
      if (reply.ok) {
        p.resolve(reply);
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
    const encoders = this.encoderPool;
    this.encoderPool = null;
    if (encoders) await encoders.close();
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
