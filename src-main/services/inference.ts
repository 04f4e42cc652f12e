import type { ModelInspection } from '../common/contract';
import type { Provider, ThreadSettings } from '../common/inference/types';
import { InferencePool, sharedPool, type PoolOptions, type PoolStats } from '../inference/pool';
import type { ImageInput } from '../inference/preprocess';
import type { Embedder } from './embeddings';
import type { DetectRequest, Detector } from './prelabel';
import type { SamBackend } from './segment';

/**
 * The inference backend of pre-labeling: detection and model inspection in the inference layer's
 * worker threads, off this thread. This module stays light (no onnxruntime, no sharp: those load
 * in the workers), so a caller can start a worker before it loads anything else.
 */

/** The provider preference order when the user names a first choice: it, then the CPU. */
export function providerOrder(first: Provider | undefined): Provider[] | undefined {
  return first ? [...new Set<Provider>([first, 'cpu'])] : undefined;
}

/** What the inference layer reads for a request: decoded pixels, a region of the file, or the whole file. */
export function detectInput(req: DetectRequest): ImageInput {
  if (req.raw) return { raw: req.raw };
  if (req.region) return { path: req.imagePath, region: req.region };
  if (req.size) return { path: req.imagePath, size: req.size };
  return req.imagePath;
}

/** What pre-labeling and interactive segmentation need from the inference layer: detection, model inspection, SAM-family pairs. */
export interface InferenceBackend extends SamBackend {
  detector: Detector;
  /** Embedding vectors of images, batched in a worker (see services/embeddings.ts). */
  embedder: Embedder;
  /**
   * Inspects a model where it then runs, loading it on the CPU with `threads`, so that a CPU run of
   * the same file with the same thread settings does not load it again (one with other settings
   * loads its own session).
   */
  inspect(file: string, threads?: ThreadSettings): Promise<ModelInspection>;
  /**
   * Starts a worker and loads the model's session there, ahead of the first image; the runs that
   * name the same file, providers and thread settings use it. A failure is left for the run to report.
   */
  prepare(file: string, providers?: Provider[], threads?: ThreadSettings): Promise<void>;
  /** Diagnostics: worker threads running, model loads they did, sessions they hold. */
  stats(): Promise<PoolStats>;
  /** Stops the workers and releases their sessions; requests after it fail as cancelled. */
  close(): Promise<void>;
}

/** A session's thread options from pre-labeling's thread settings; onnxruntime's defaults when none. */
function sessionThreads(threads: ThreadSettings | undefined): { intraOpThreads?: number; spinning?: boolean } {
  return threads ? { intraOpThreads: threads.threads, spinning: threads.spinning } : {};
}

/** The backend over a pool: detection and inspection in its worker threads. */
function backendOver(pool: () => InferencePool): InferenceBackend {
  return {
    detector: {
      async detect(req) {
        const input = detectInput(req);
        const pixels = { ...(req.nodata !== undefined ? { nodata: req.nodata } : {}), ...(req.zscore ? { zscore: req.zscore } : {}) };
        const r = await pool().detect({ file: req.modelFile, providers: req.providers, ...sessionThreads(req.threads) }, input, req.manifest, { score: req.conf, iou: req.iou, ...(req.tile ? { tile: true } : {}) }, pixels);
        return { detections: r.detections, provider: r.provider, ms: r.timings.preMs + r.timings.runMs + r.timings.postMs, warnings: r.warnings, ...(r.semantic ? { semantic: r.semantic } : {}) };
      },
    },
    embedder: {
      embed: (req) => pool().embed({ file: req.modelFile, providers: req.providers, ...sessionThreads(req.threads) }, req.inputs, req.manifest),
    },
    inspect: (file, threads) => pool().inspect(file, sessionThreads(threads)),
    prepare: (file, providers, threads) => pool().prepare({ file, providers, ...sessionThreads(threads) }),
    stats: () => pool().stats(),
    samEncode: (args) => pool().samEncode(args),
    samDecode: (args) => pool().samDecode(args),
    samStats: (encoder) => pool().samStats(encoder),
    close: () => pool().close(),
  };
}

/**
 * A backend with workers of its own, for an owner that keeps it across jobs (a Workspace) and
 * closes it when it closes.
 */
export function createInferenceBackend(opts: PoolOptions = {}): InferenceBackend {
  const pool = new InferencePool(opts);
  return backendOver(() => pool);
}

let backend: InferenceBackend | null = null;

/** The backend of this process (the CLI, tests): the inference layer's shared worker pool. */
export function inferenceBackend(): Promise<InferenceBackend> {
  backend ??= backendOver(sharedPool);
  return Promise.resolve(backend);
}

/** Stops the shared backend's workers (the CLI must, or they keep the process alive). */
export async function closeInferenceBackend(): Promise<void> {
  if (!backend) return;
  const b = backend;
  backend = null;
  await b.close();
}
