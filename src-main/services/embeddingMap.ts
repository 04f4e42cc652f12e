import { Worker } from 'node:worker_threads';
import { AppError } from '../common/errors';
import {
  embeddingModelById,
  getProjection,
  imageEmbeddingsDigest,
  listEmbeddingModels,
  loadImageEmbeddings,
  putProjection,
  type EmbeddingModelRecord,
  type ProjectionMethod,
} from '../db/embeddings';
import type { Db } from '../db/open';
import type { EmbeddingMapData, EmbeddingMapState } from '../common/embeddingMap';
import { UMAP_DEFAULTS } from './projection';
import type { ProjectionReply, ProjectionRequest } from './projectionWire';

/**
 * The embedding map: a 2-D projection of one embedding model's image vectors, PCA (fast, the
 * default) or UMAP (seeded), computed in a worker thread and cached in embedding_projections under
 * a digest of the vectors, so an unchanged dataset opens its map at once and a changed one is
 * computed again.
 */

/** The parameters a method's projection is cached under. */
export function projectionParameters(method: ProjectionMethod): string {
  return method === 'pca' ? JSON.stringify({ components: 2 }) : JSON.stringify(UMAP_DEFAULTS);
}

/**
 * From source the worker is projectionWorker.ts started by projectionWorkerEntry.mjs. In the
 * electron-vite build this module is bundled into out/main and the worker is built beside it as
 * its own entry named `projectionWorker` (main.build.rollupOptions.input).
 */
function defaultEntry(): URL {
  const here = new URL(import.meta.url);
  return here.pathname.endsWith('.ts') ? new URL('./projectionWorkerEntry.mjs', here) : new URL('./projectionWorker.js', here);
}

async function modelOf(db: Db, modelId: number): Promise<EmbeddingModelRecord> {
  const model = await embeddingModelById(db, modelId);
  if (!model) throw new AppError('NOT_FOUND', `no embedding model with id ${modelId}`, { modelId });
  return model;
}

function toData(p: { modelId: number; method: ProjectionMethod; imageIds: Int32Array; coords: Float32Array; createdAt: number }, cached: boolean, elapsedMs: number): EmbeddingMapData {
  return { modelId: p.modelId, method: p.method, imageIds: Array.from(p.imageIds), coords: Array.from(p.coords), cached, computedAt: p.createdAt, elapsedMs };
}

/** The models that have image vectors, the model to show, and its cached map when current. */
export async function embeddingMapState(db: Db, method: ProjectionMethod, modelId?: number): Promise<EmbeddingMapState> {
  const models = (await listEmbeddingModels(db)).map((m) => ({ id: m.id, key: m.key, name: m.name, dim: m.dim, imageCount: m.imageCount }));
  const chosen = modelId ?? [...models].sort((a, b) => b.imageCount - a.imageCount || a.id - b.id).find((m) => m.imageCount > 0)?.id ?? null;
  if (chosen === null) return { models, modelId: null, map: null };
  const model = await modelOf(db, chosen);
  const stored = await getProjection(db, model.id, method, projectionParameters(method));
  if (!stored || stored.inputHash !== (await imageEmbeddingsDigest(db, model)).digest) return { models, modelId: chosen, map: null };
  return { models, modelId: chosen, map: toData(stored, true, 0) };
}

export interface ComputeMapOptions {
  /** Compute even when the cache is current. */
  recompute?: boolean;
  isCancelled?: () => boolean;
  /** Work done out of `total`: subspace iterations (PCA) or layout epochs (UMAP). */
  onProgress?: (done: number, total: number) => void;
  /** Module the worker thread runs (tests, benchmarks); see defaultEntry. */
  entry?: URL;
}

/** Runs one projection in a fresh worker thread; a cancel ends the thread. */
export function projectInWorker(req: ProjectionRequest, opts: Pick<ComputeMapOptions, 'isCancelled' | 'onProgress' | 'entry'> = {}): Promise<Float32Array> {
  return new Promise<Float32Array>((resolve, reject) => {
    const worker = new Worker(opts.entry ?? defaultEntry());
    let settled = false;
    const finish = (f: () => void): void => {
      if (settled) return;
      settled = true;
      clearInterval(poll);
      void worker.terminate();
      f();
    };
    const poll = setInterval(() => {
      if (opts.isCancelled?.()) finish(() => reject(new AppError('CANCELLED', 'the embedding map was cancelled')));
    }, 50);
    worker.on('message', (m: ProjectionReply) => {
      if (m.type === 'progress') opts.onProgress?.(m.done, m.total);
      else if (m.type === 'done') finish(() => resolve(m.coords));
      else finish(() => reject(new AppError(m.error.code, m.error.message, m.error.detail)));
    });
    worker.on('error', (e) => finish(() => reject(new AppError('INTERNAL', `the embedding map's worker failed: ${e.message}`))));
    worker.on('exit', (code) => finish(() => reject(new AppError('INTERNAL', `the embedding map's worker exited with code ${code}`))));
    worker.postMessage(req, [req.data.buffer as ArrayBuffer]);
  });
}

/**
 * The map of a model's current image vectors by `method`: the cached one when the vectors are
 * unchanged (unless `recompute`), else computed off the main thread and cached.
 */
export async function computeEmbeddingMap(db: Db, modelId: number, method: ProjectionMethod, opts: ComputeMapOptions = {}): Promise<EmbeddingMapData> {
  const model = await modelOf(db, modelId);
  const parameters = projectionParameters(method);
  const { digest, count } = await imageEmbeddingsDigest(db, model);
  if (!opts.recompute) {
    const stored = await getProjection(db, model.id, method, parameters);
    if (stored && stored.inputHash === digest) return toData(stored, true, 0);
  }
  if (count === 0) {
    throw new AppError(
      'INVALID_ARGUMENT',
      model.imageCount > 0
        ? `the ${model.imageCount} image vectors of "${model.name}" are all out of date (their images changed since): compute embeddings again (Curate, Embeddings)`
        : `embedding model "${model.name}" has no image vectors to map: compute embeddings first (Curate, Embeddings)`,
      { modelId },
    );
  }
  const started = performance.now();
  const m = await loadImageEmbeddings(db, model);
  const n = m.imageIds.length;
  let coords: Float32Array;
  if (method === 'umap' && n <= UMAP_DEFAULTS.nNeighbors + 1) {
    throw new AppError('INVALID_ARGUMENT', `UMAP needs more than ${UMAP_DEFAULTS.nNeighbors + 1} images with vectors, this model has ${n}`, { modelId });
  }
  if (n === 1) coords = new Float32Array(2);
  else {
    coords = await projectInWorker(
      { method, data: m.data, n, d: m.dim, ...(method === 'umap' ? { umap: { ...UMAP_DEFAULTS } } : {}) },
      opts,
    );
  }
  const stored = { modelId: model.id, method, parameters, inputHash: digest, imageIds: m.imageIds, coords };
  const now = Date.now();
  await putProjection(db, stored, now);
  return toData({ ...stored, createdAt: now }, false, performance.now() - started);
}
