import type { BatchMatches, Matches } from 'usearch';
import { AppError } from '../common/errors';
import type { NextQueue, QueueStrategy, UncertaintyMeasure } from '../common/curation';
import { latestRunWithPredictions, poolImageIds, runExists, runImageScores, type QueuePool } from '../db/curation';
import { embeddingModelById, listEmbeddingModels, loadImageEmbeddings, type EmbeddingMatrix, type EmbeddingModelRecord } from '../db/embeddings';
import type { Db } from '../db/open';
import { usearch } from './usearch';

/**
 * What to label next: a queue of the images still to label, ordered by
 * - uncertainty: of the last prediction run (or the one named) on each image, from the scores of
 *   its predictions there: least confidence (1 - best score) or margin (1 - (best - second best));
 *   an image the run saw and found nothing on counts as fully uncertain (best score 0);
 * - diversity: k-centre greedy on the embeddings (cosine distance), the labeled images being the
 *   first centres: each next image is the one farthest from every labeled and already queued image;
 * - hybrid: the same greedy order, each pick maximising uncertainty x distance to the centres;
 * - uniqueness: the cosine distance to the nearest other image of the dataset (1 - similarity).
 */

export interface QueueOptions {
  strategy: QueueStrategy;
  measure?: UncertaintyMeasure;
  pool?: QueuePool;
  /** The prediction run for uncertainty; the latest run with predictions when omitted. */
  runId?: number;
  /** The embedding model for diversity and uniqueness; the one with most image vectors when omitted. */
  embeddingModelId?: number;
  /** Longest queue (k-centre greedy costs one pass over the pool per image queued). */
  limit?: number;
}

export const DEFAULT_QUEUE_LIMIT = 500;

/** Per-image uncertainty in [0, 1] from a run's prediction scores (highest first). */
export function uncertaintyOf(scores: readonly number[], measure: UncertaintyMeasure): number {
  const best = scores[0] ?? 0;
  if (measure === 'least-confidence') return 1 - best;
  return 1 - (best - (scores[1] ?? 0));
}

/** Scales rows to unit length in place (zero rows stay zero), so a dot product is a cosine. */
export function normalizeRows(data: Float32Array, dim: number): Float32Array {
  for (let r = 0; r * dim < data.length; r++) {
    let s = 0;
    for (let j = r * dim; j < (r + 1) * dim; j++) s += data[j]! * data[j]!;
    if (s === 0) continue;
    const inv = 1 / Math.sqrt(s);
    for (let j = r * dim; j < (r + 1) * dim; j++) data[j]! *= inv;
  }
  return data;
}

function rowsOf(data: Float32Array, dim: number, rows: readonly number[]): Float32Array {
  const out = new Float32Array(rows.length * dim);
  rows.forEach((r, i) => out.set(data.subarray(r * dim, (r + 1) * dim), i * dim));
  return out;
}

function firstNeighbours(m: Matches | BatchMatches, k: number): { keys: BigUint64Array; distances: Float32Array; k: number } {
  return { keys: m.keys, distances: m.distances, k: 'k' in m ? m.k : k };
}

/**
 * k-centre greedy (farthest-point traversal) over unit rows of `data` by cosine distance:
 * `centres` start the set, and `k` of `candidates` are added one at a time, each the one whose
 * distance to its nearest centre (times its weight, when `weights` are given) is largest.
 * Returns the picks (indexes into `candidates`) in order and each pick's value when picked.
 * Without centres the first pick is the candidate farthest from the candidates' mean.
 */
export function kCenterGreedy(
  data: Float32Array,
  dim: number,
  centres: readonly number[],
  candidates: readonly number[],
  k: number,
  weights?: Float64Array,
): { order: number[]; values: number[] } {
  const n = candidates.length;
  const minDist = new Float64Array(n);
  if (centres.length > 0 && n > 0) {
    // The nearest labeled image of every candidate, by an exact SIMD search.
    const found = firstNeighbours(usearch.exactSearch(rowsOf(data, dim, centres), rowsOf(data, dim, candidates), dim, 1, usearch.MetricKind.Cos), 1);
    for (let i = 0; i < n; i++) minDist[i] = Math.max(0, found.distances[i * found.k]!);
  } else {
    const mean = new Float64Array(dim);
    for (const c of candidates) for (let j = 0; j < dim; j++) mean[j]! += data[c * dim + j]!;
    let norm = 0;
    for (let j = 0; j < dim; j++) norm += mean[j]! * mean[j]!;
    norm = Math.sqrt(norm) || 1;
    for (let i = 0; i < n; i++) {
      let dot = 0;
      const o = candidates[i]! * dim;
      for (let j = 0; j < dim; j++) dot += data[o + j]! * mean[j]!;
      minDist[i] = 1 - dot / norm;
    }
  }
  const candidateRows = rowsOf(data, dim, candidates);
  const picked = new Uint8Array(n);
  const order: number[] = [];
  const values: number[] = [];
  const steps = Math.min(k, n);
  for (let step = 0; step < steps; step++) {
    let best = -1;
    let bestValue = -Infinity;
    for (let i = 0; i < n; i++) {
      if (picked[i]) continue;
      const v = weights ? minDist[i]! * weights[i]! : minDist[i]!;
      if (v > bestValue) {
        bestValue = v;
        best = i;
      }
    }
    picked[best] = 1;
    order.push(best);
    values.push(bestValue);
    if (step === 0 && centres.length === 0) {
      // The mean only chose the first pick; distances from now on are to picks.
      minDist.fill(Infinity);
    }
    if (step === steps - 1) break;
    // Distances from the pick to every candidate, by the same exact SIMD search.
    const found = usearch.exactSearch(candidateRows, candidateRows.slice(best * dim, (best + 1) * dim), dim, n, usearch.MetricKind.Cos);
    const keys = found.keys;
    const dist = found.distances;
    for (let r = 0; r < keys.length; r++) {
      const i = Number(keys[r]);
      if (picked[i]) continue;
      const d = Math.max(0, dist[r]!);
      if (d < minDist[i]!) minDist[i] = d;
    }
  }
  return { order, values };
}

/**
 * Uniqueness of each row: its cosine distance to the nearest other row (0 for an exact
 * duplicate, larger for an image unlike any other). A single row gets 1.
 */
export function uniquenessScores(data: Float32Array, dim: number): Float64Array {
  const n = data.length / dim;
  const out = new Float64Array(n);
  if (n < 2) return out.fill(1);
  const m = firstNeighbours(usearch.exactSearch(data, data, dim, 2, usearch.MetricKind.Cos), 2);
  for (let i = 0; i < n; i++) {
    // The row itself is usually first, but an exact duplicate may come before it.
    const a = Number(m.keys[i * m.k]);
    out[i] = Math.max(0, a === i ? m.distances[i * m.k + 1]! : m.distances[i * m.k]!);
  }
  return out;
}

/** The embedding model to use: the one asked for, else the one with most image vectors. */
export async function chooseEmbeddingModel(db: Db, id: number | undefined): Promise<EmbeddingModelRecord> {
  if (id !== undefined) {
    const m = await embeddingModelById(db, id);
    if (!m) throw new AppError('NOT_FOUND', `embedding model ${id} does not exist in this dataset`, { embeddingModelId: id });
    if (m.imageCount === 0) throw new AppError('INVALID_ARGUMENT', `embedding model "${m.name}" has no image vectors yet: compute embeddings first (Curate, Embeddings)`, { embeddingModelId: id });
    return m;
  }
  const models = (await listEmbeddingModels(db)).filter((m) => m.imageCount > 0);
  if (models.length === 0) throw new AppError('INVALID_ARGUMENT', 'no embeddings are stored in this dataset: compute embeddings first (Curate, Embeddings)');
  return models.reduce((a, b) => (b.imageCount > a.imageCount ? b : a));
}

async function runUncertainty(db: Db, runId: number | undefined, measure: UncertaintyMeasure): Promise<{ runId: number; u: Map<number, number> }> {
  const id = runId ?? await latestRunWithPredictions(db);
  if (id === null) throw new AppError('INVALID_ARGUMENT', 'no prediction run has predictions in this dataset: pre-label images with a model (or predict tags with the classifier) first, or choose the diversity strategy');
  if (!await runExists(db, id)) throw new AppError('NOT_FOUND', `model run ${id} does not exist`, { runId: id });
  const scores = await runImageScores(db, id);
  if (scores.size === 0) throw new AppError('INVALID_ARGUMENT', `model run ${id} holds no predictions and no finished images`, { runId: id });
  const u = new Map<number, number>();
  for (const [image, s] of scores) u.set(image, uncertaintyOf(s, measure));
  return { runId: id, u };
}

async function loadUnit(db: Db, model: EmbeddingModelRecord): Promise<EmbeddingMatrix & { row: Map<number, number> }> {
  const m = await loadImageEmbeddings(db, model);
  normalizeRows(m.data, m.dim);
  const row = new Map<number, number>();
  m.imageIds.forEach((id, i) => row.set(id, i));
  return { ...m, row };
}

export async function buildQueue(db: Db, opts: QueueOptions): Promise<NextQueue> {
  const measure = opts.measure ?? 'margin';
  const pool = await poolImageIds(db, opts.pool ?? 'unlabeled');
  const limit = opts.limit ?? DEFAULT_QUEUE_LIMIT;
  const poolName = opts.pool === 'not_done' ? 'not done' : 'unlabeled';
  if (opts.strategy === 'uncertainty') {
    const { runId, u } = await runUncertainty(db, opts.runId, measure);
    const scored = pool.filter((id) => u.has(id));
    // Most uncertain first; ties in id order.
    scored.sort((a, b) => u.get(b)! - u.get(a)! || a - b);
    const ids = scored.slice(0, limit);
    return {
      strategy: 'uncertainty',
      ids,
      scores: ids.map((id) => u.get(id)!),
      label: `Next to label: uncertainty (${measure}) of run ${runId}`,
      runId,
      embeddingModelId: null,
      candidates: pool.length,
      unscored: pool.length - scored.length,
    };
  }
  const model = await chooseEmbeddingModel(db, opts.embeddingModelId);
  const m = await loadUnit(db, model);
  if (m.imageIds.length === 0) {
    throw new AppError('INVALID_ARGUMENT', `the ${model.imageCount} image vectors of "${model.name}" are all out of date (their images changed since): compute embeddings again (Curate, Embeddings)`, { embeddingModelId: model.id });
  }
  const inPool = new Set(pool);
  if (opts.strategy === 'uniqueness') {
    const uniq = uniquenessScores(m.data, m.dim);
    const scored = pool.filter((id) => m.row.has(id));
    if (scored.length === 0 && pool.length > 0) throw new AppError('INVALID_ARGUMENT', `no ${poolName} image has a current vector of "${model.name}": compute embeddings for new images first (Curate, Embeddings)`);
    scored.sort((a, b) => uniq[m.row.get(b)!]! - uniq[m.row.get(a)!]! || a - b);
    const ids = scored.slice(0, limit);
    return {
      strategy: 'uniqueness',
      ids,
      scores: ids.map((id) => uniq[m.row.get(id)!]!),
      label: `Next to label: uniqueness (${model.name})`,
      runId: null,
      embeddingModelId: model.id,
      candidates: pool.length,
      unscored: pool.length - scored.length,
    };
  }
  let candidates = pool.filter((id) => m.row.has(id));
  let weights: Float64Array | undefined;
  let runId: number | null = null;
  if (opts.strategy === 'hybrid') {
    const r = await runUncertainty(db, opts.runId, measure);
    runId = r.runId;
    candidates = candidates.filter((id) => r.u.has(id));
    weights = Float64Array.from(candidates, (id) => r.u.get(id)!);
  }
  if (candidates.length === 0 && pool.length > 0) {
    throw new AppError(
      'INVALID_ARGUMENT',
      opts.strategy === 'hybrid'
        ? `no ${poolName} image has both a vector of "${model.name}" and a prediction of run ${runId}`
        : `no ${poolName} image has a vector of "${model.name}": compute embeddings first (Curate, Embeddings)`,
    );
  }
  const centres: number[] = [];
  for (let i = 0; i < m.imageIds.length; i++) if (!inPool.has(m.imageIds[i]!)) centres.push(i);
  const { order, values } = kCenterGreedy(
    m.data,
    m.dim,
    centres,
    candidates.map((id) => m.row.get(id)!),
    limit,
    weights,
  );
  return {
    strategy: opts.strategy,
    ids: order.map((i) => candidates[i]!),
    scores: values,
    label: opts.strategy === 'hybrid' ? `Next to label: uncertainty (${measure}, run ${runId}) x diversity (${model.name})` : `Next to label: diversity (${model.name})`,
    runId,
    embeddingModelId: model.id,
    candidates: pool.length,
    unscored: pool.length - candidates.length,
  };
}
