import ort from 'onnxruntime-node';
import { AppError } from '../common/errors';
import { MAX_THREADS, PROVIDERS, type Provider } from '../common/inference/types';
import { sessionCacheKey, type WorkerStats } from './wire';

/** onnxruntime's names for Tessera's providers. */
const ORT_NAME: Record<Provider, string> = { cuda: 'cuda', dml: 'dml', coreml: 'coreml', webgpu: 'webgpu', cpu: 'cpu' };

export interface LoadedSession {
  session: ort.InferenceSession;
  /** The provider that actually runs the model. */
  provider: Provider;
  /** One line per provider tried before it that failed to load, with onnxruntime's reason. */
  warnings: string[];
}

export interface SessionOptions {
  /** Preference order; CPU is always tried last even when left out, and the warning says so. */
  providers?: readonly Provider[];
  /** onnxruntime's intra-op threads; its own default (one per physical core) when omitted. */
  intraOpThreads?: number;
  /**
   * Whether idle intra-op threads spin waiting for work (onnxruntime's default: they do). Off,
   * they sleep: a run is a little slower on idle cores and much faster when another process wants
   * them (see inference/threads.ts).
   */
  spinning?: boolean;
}

const cache = new Map<string, { loaded: Promise<LoadedSession>; file: string; providers: Provider[]; threads: number | undefined; spinning: boolean | undefined }>();
/** Model loads this thread has done (InferenceSession.create calls that succeeded). */
let loads = 0;

/**
 * A session for a model file, created once per file, provider order and thread settings. Providers are tried in
 * the given order; each that fails to load leaves a warning naming it and the reason, so a
 * broken GPU setup is visible rather than a silent slowdown.
 */
export function getSession(file: string, opts: SessionOptions = {}): Promise<LoadedSession> {
  const order = opts.providers && opts.providers.length > 0 ? [...opts.providers] : ['cpu' as const];
  for (const p of order) if (!PROVIDERS.includes(p)) throw new Error(`unknown execution provider "${p}"`);
  const threads = opts.intraOpThreads;
  if (threads !== undefined && !(Number.isInteger(threads) && threads >= 1 && threads <= MAX_THREADS)) {
    throw new AppError('INVALID_ARGUMENT', `intra-op threads must be a whole number from 1 to ${MAX_THREADS}, got ${threads}`);
  }
  const key = sessionCacheKey(file, order, threads, opts.spinning);
  let s = cache.get(key);
  if (!s) {
    s = { loaded: load(file, order, threads, opts.spinning), file, providers: order, threads, spinning: opts.spinning };
    cache.set(key, s);
    // A failed load must not stay cached: the file may be fixed and tried again.
    s.loaded.catch(() => cache.delete(key));
  }
  return s.loaded;
}

/** What this thread has loaded: the number of model loads so far, and the sessions it holds. */
export function sessionStats(): WorkerStats {
  return {
    loads,
    sessions: [...cache.values()].map((s) => ({ file: s.file, providers: [...s.providers], intraOpThreads: s.threads ?? null, spinning: s.spinning ?? null })),
  };
}

async function load(file: string, order: Provider[], threads: number | undefined, spinning: boolean | undefined): Promise<LoadedSession> {
  const warnings: string[] = [];
  const tries = order.includes('cpu') ? order : [...order, 'cpu' as const];
  let lastError: unknown;
  for (const provider of tries) {
    try {
      const session = await ort.InferenceSession.create(file, {
        executionProviders: [ORT_NAME[provider]],
        graphOptimizationLevel: 'all',
        ...(threads ? { intraOpNumThreads: threads } : {}),
        // The Node binding passes `extra` on as session config entries (onnxruntime's
        // onnxruntime_session_options_config_keys.h): here session.intra_op.allow_spinning.
        ...(spinning !== undefined ? { extra: { session: { intra_op: { allow_spinning: spinning ? '1' : '0' } } } } : {}),
      });
      loads++;
      if (!order.includes(provider)) warnings.push(`falling back to cpu, which is not in the provider list (${order.join(', ')})`);
      return { session, provider, warnings };
    } catch (e) {
      lastError = e;
      const reason = (e instanceof Error ? e.message : String(e)).split('\n')[0];
      warnings.push(`${provider} failed to load: ${reason}`);
      // A model that even the CPU cannot load is broken, not a provider problem.
      if (provider === 'cpu') break;
    }
  }
  const missing = lastError instanceof Error && /no such file|not exist|ENOENT/i.test(lastError.message);
  const e = new AppError(missing ? 'FILE_NOT_FOUND' : 'UNSUPPORTED_FORMAT', `${file}: cannot load the model: ${warnings.join('; ')}`, { file });
  e.cause = lastError;
  throw e;
}

/** Releases every cached session (tests, and the app when models change). */
export async function releaseSessions(): Promise<void> {
  const all = [...cache.values()];
  cache.clear();
  await Promise.all(all.map(async (p) => (await p.loaded.catch(() => null))?.session.release()));
}

/**
 * A float32 input tensor for `session.run`, so callers outside this folder (the benchmark) can
 * feed a session without importing onnxruntime themselves.
 */
export function float32Tensor(data: Float32Array, dims: readonly number[]): ort.Tensor {
  return new ort.Tensor('float32', data, dims);
}
