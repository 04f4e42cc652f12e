import { usearch } from './usearch';
import { AppError } from '../common/errors';
import { SPLITS, type Split } from '../common/model';
import { DEFAULT_DUPLICATE_THRESHOLD, type DuplicatePair, type DuplicateReport } from '../common/similarity';
import { noteEmbeddingsChanged, type EmbeddingMatrix } from '../db/embeddings';
import { setSplits } from '../db/export';
import { getImage } from '../db/images';
import type { Db } from '../db/open';
import type { Dataset } from './dataset';
import { imageMatrix, noEmbeddingsMessage, pickEmbeddingModel } from './similarity';

/**
 * Near-duplicates: pairs of images whose vectors have a cosine similarity at or above a threshold,
 * joined into groups. Up to EXACT_LIMIT images every image is compared with every other one
 * (usearch exactSearch, a block of queries at a time). Beyond, all-pairs costs n² (at 100,000 x
 * 1,280 about 15 minutes on two cores), so the candidates come from a usearch HNSW index of the
 * vectors quantised to 8 bits (built once per set of vectors and kept), and every candidate's
 * similarity is computed again exactly from the float vectors: the scores reported are exact, and
 * only a pair the index failed to propose could be missed.
 */

const { exactSearch, Index, MetricKind, ScalarKind } = usearch;

/** Above this many vectors the candidates come from the HNSW index. */
export const EXACT_LIMIT = 10_000;
/** Neighbours asked per image first; an image whose last neighbour still passes is asked again with more. */
const FIRST_K = 16;
const MAX_K = 1024;
/** Queries per exactSearch call. */
const BLOCK = 512;
/** Candidates from the 8-bit index are rescored when their approximate score is this close below the threshold. */
const QUANTISATION_MARGIN = 0.03;

export interface DuplicateOptions {
  threshold?: number;
  model?: string;
  /** Force the exact all-pairs comparison (or the index) whatever the size; for tests and the benchmark. */
  method?: 'auto' | 'exact' | 'index';
}

interface Neighbours {
  /** Rows of each query's neighbours (itself possibly among them) and their approximate similarities. */
  rows: Uint32Array;
  scores: Float32Array;
  counts: Uint32Array;
  k: number;
}

type Searcher = (queries: Uint32Array, k: number) => Neighbours;

function exactSearcher(m: EmbeddingMatrix): Searcher {
  const n = m.imageIds.length;
  return (queries, k) => {
    const kk = Math.min(k, n);
    const rows = new Uint32Array(queries.length * kk);
    const scores = new Float32Array(queries.length * kk);
    const counts = new Uint32Array(queries.length);
    for (let b = 0; b < queries.length; b += BLOCK) {
      const batch = queries.subarray(b, Math.min(queries.length, b + BLOCK));
      const q = new Float32Array(batch.length * m.dim);
      batch.forEach((row, i) => q.set(m.data.subarray(row * m.dim, (row + 1) * m.dim), i * m.dim));
      const found = exactSearch(m.data, q, m.dim, kk, MetricKind.Cos, 0) as { keys: BigUint64Array; distances: Float32Array; counts?: BigUint64Array };
      for (let i = 0; i < batch.length; i++) {
        const c = found.counts ? Number(found.counts[i]) : found.keys.length;
        counts[b + i] = c;
        for (let j = 0; j < c; j++) {
          rows[(b + i) * kk + j] = Number(found.keys[i * kk + j]);
          scores[(b + i) * kk + j] = 1 - found.distances[i * kk + j]!;
        }
      }
    }
    return { rows, scores, counts, k: kk };
  };
}

/** HNSW indexes per connection and model, kept while the vectors are (same key as the matrix). */
const indexes = new WeakMap<Db, Map<number, { key: string; index: InstanceType<typeof Index> }>>();

function indexSearcher(db: Db, modelId: number, key: string, m: EmbeddingMatrix): Searcher {
  let perDb = indexes.get(db);
  if (!perDb) indexes.set(db, (perDb = new Map()));
  let entry = perDb.get(modelId);
  if (entry?.key !== key) {
    const index = new Index({ dimensions: m.dim, metric: MetricKind.Cos, quantization: ScalarKind.I8, connectivity: 16, expansion_add: 64, expansion_search: 64, multi: false });
    const n = m.imageIds.length;
    const keys = new BigUint64Array(n);
    for (let i = 0; i < n; i++) keys[i] = BigInt(i);
    index.add(keys, m.data, 0);
    entry = { key, index };
    perDb.set(modelId, entry);
  }
  const index = entry.index;
  return (queries, k) => {
    const kk = Math.min(k, m.imageIds.length);
    const rows = new Uint32Array(queries.length * kk);
    const scores = new Float32Array(queries.length * kk);
    const counts = new Uint32Array(queries.length);
    for (let b = 0; b < queries.length; b += 4096) {
      const batch = queries.subarray(b, Math.min(queries.length, b + 4096));
      const q = new Float32Array(batch.length * m.dim);
      batch.forEach((row, i) => q.set(m.data.subarray(row * m.dim, (row + 1) * m.dim), i * m.dim));
      const found = index.search(q, kk, 0) as { keys: BigUint64Array; distances: Float32Array; counts?: BigUint64Array };
      for (let i = 0; i < batch.length; i++) {
        const c = found.counts ? Number(found.counts[i]) : Math.min(kk, found.keys.length);
        counts[b + i] = c;
        for (let j = 0; j < c; j++) {
          rows[(b + i) * kk + j] = Number(found.keys[i * kk + j]);
          scores[(b + i) * kk + j] = 1 - found.distances[i * kk + j]!;
        }
      }
    }
    return { rows, scores, counts, k: kk };
  };
}

function norms(m: EmbeddingMatrix): Float32Array {
  const out = new Float32Array(m.imageIds.length);
  for (let r = 0; r < out.length; r++) {
    let s = 0;
    for (let i = r * m.dim, e = i + m.dim; i < e; i++) s += m.data[i]! * m.data[i]!;
    out[r] = Math.sqrt(s);
  }
  return out;
}

function cosine(m: EmbeddingMatrix, norm: Float32Array, a: number, b: number): number {
  let s = 0;
  const oa = a * m.dim;
  const ob = b * m.dim;
  for (let i = 0; i < m.dim; i++) s += m.data[oa + i]! * m.data[ob + i]!;
  const d = norm[a]! * norm[b]!;
  return d > 0 ? s / d : 0;
}

/**
 * Row pairs (a < b) at or above the threshold. Each row's neighbours are read best first; a row
 * whose last neighbour still passes may have more, and is asked again with four times as many.
 */
function pairsAbove(search: Searcher, n: number, cut: number): Map<number, Set<number>> {
  const out = new Map<number, Set<number>>();
  let queries = Uint32Array.from({ length: n }, (_, i) => i);
  let k = FIRST_K;
  while (queries.length > 0) {
    const found = search(queries, k);
    const again: number[] = [];
    for (let i = 0; i < queries.length; i++) {
      const a = queries[i]!;
      const c = found.counts[i]!;
      for (let j = 0; j < c; j++) {
        const b = found.rows[i * found.k + j]!;
        if (found.scores[i * found.k + j]! < cut) continue;
        if (b === a) continue;
        const lo = Math.min(a, b);
        const hi = Math.max(a, b);
        let s = out.get(lo);
        if (!s) out.set(lo, (s = new Set()));
        s.add(hi);
      }
      if (c === found.k && found.k < n && found.scores[i * found.k + c - 1]! >= cut && k < MAX_K) again.push(a);
    }
    queries = Uint32Array.from(again);
    k *= 4;
  }
  return out;
}

/** Connected groups of the pairs (union-find over image ids), largest first, ids ascending. */
function groupsOf(pairs: readonly DuplicatePair[]): number[][] {
  const parent = new Map<number, number>();
  const find = (x: number): number => {
    let r = x;
    while (parent.get(r) !== r) r = parent.get(r)!;
    let c = x;
    while (c !== r) {
      const next = parent.get(c)!;
      parent.set(c, r);
      c = next;
    }
    return r;
  };
  for (const p of pairs) {
    for (const id of [p.a.imageId, p.b.imageId]) if (!parent.has(id)) parent.set(id, id);
    const ra = find(p.a.imageId);
    const rb = find(p.b.imageId);
    if (ra !== rb) parent.set(Math.max(ra, rb), Math.min(ra, rb));
  }
  const groups = new Map<number, number[]>();
  for (const id of parent.keys()) {
    const r = find(id);
    const g = groups.get(r);
    if (g) g.push(id);
    else groups.set(r, [id]);
  }
  return [...groups.values()].map((g) => g.sort((a, b) => a - b)).sort((a, b) => b.length - a.length || a[0]! - b[0]!);
}

/** Pairs of images at or above the threshold (default 0.95) by the model's current vectors, with their groups and split leakage. */
export function findNearDuplicates(ds: Dataset, opts: DuplicateOptions = {}): DuplicateReport {
  const t0 = performance.now();
  const threshold = opts.threshold ?? DEFAULT_DUPLICATE_THRESHOLD;
  if (!Number.isFinite(threshold) || threshold < -1 || threshold > 1) throw new AppError('INVALID_ARGUMENT', `the near-duplicate threshold must be a cosine similarity from -1 to 1, not ${threshold}`);
  const model = pickEmbeddingModel(ds, opts.model);
  const { matrix, key } = imageMatrix(ds.db, model);
  const n = matrix.imageIds.length;
  if (n === 0) throw new AppError('NOT_FOUND', noEmbeddingsMessage(ds.file, model.key));
  const useIndex = opts.method === 'index' || (opts.method !== 'exact' && n > EXACT_LIMIT);
  const search = useIndex ? indexSearcher(ds.db, model.id, key, matrix) : exactSearcher(matrix);
  const found = pairsAbove(search, n, useIndex ? threshold - QUANTISATION_MARGIN : threshold - 1e-6);
  const norm = norms(matrix);
  const raw: { a: number; b: number; score: number }[] = [];
  for (const [a, bs] of found) {
    for (const b of bs) {
      const score = cosine(matrix, norm, a, b);
      if (score >= threshold) raw.push({ a: matrix.imageIds[a]!, b: matrix.imageIds[b]!, score });
    }
  }
  const info = new Map<number, { path: string; split: Split | null }>();
  const ids = [...new Set(raw.flatMap((p) => [p.a, p.b]))];
  for (let i = 0; i < ids.length; i += 10_000) {
    const rows = ds.db.prepare('SELECT id, path, split FROM images WHERE id IN (SELECT value FROM json_each(?))').all(JSON.stringify(ids.slice(i, i + 10_000))) as { id: number; path: string; split: Split | null }[];
    for (const r of rows) info.set(r.id, { path: r.path, split: r.split });
  }
  const pairs: DuplicatePair[] = raw.map((p) => {
    const [lo, hi] = p.a < p.b ? [p.a, p.b] : [p.b, p.a];
    const a = { imageId: lo, ...(info.get(lo) ?? { path: '', split: null }) };
    const b = { imageId: hi, ...(info.get(hi) ?? { path: '', split: null }) };
    return { a, b, score: p.score, leakage: a.split !== null && b.split !== null && a.split !== b.split };
  });
  pairs.sort((x, y) => y.score - x.score || x.a.imageId - y.a.imageId || x.b.imageId - y.b.imageId);
  return {
    model: { key: model.key, name: model.name },
    threshold,
    searched: n,
    pairs,
    groups: groupsOf(pairs),
    leakage: pairs.filter((p) => p.leakage).length,
    elapsedMs: performance.now() - t0,
  };
}

export interface ResolveResult {
  action: 'move' | 'drop';
  imageId: number;
  /** The split the image is in now (move), null when dropped or moved to no split. */
  split: Split | null;
}

/**
 * One click on a near-duplicate pair: `move` puts `imageId` into the split of `keepId`; `drop`
 * removes `imageId` from the dataset with its annotations, comments and vectors (the file on
 * disk stays). Each in one transaction.
 */
export function resolveDuplicate(ds: Dataset, a: { action: 'move' | 'drop'; imageId: number; keepId: number }): ResolveResult {
  if (a.imageId === a.keepId) throw new AppError('INVALID_ARGUMENT', 'a near-duplicate pair needs two different images');
  return ds.db.transaction(() => {
    const keep = getImage(ds.db, a.keepId);
    if (!keep) throw new AppError('NOT_FOUND', `image ${a.keepId} is not in the dataset`, { id: a.keepId });
    const im = getImage(ds.db, a.imageId);
    if (!im) throw new AppError('NOT_FOUND', `image ${a.imageId} is not in the dataset`, { id: a.imageId });
    if (a.action === 'move') {
      if (keep.split !== null && !SPLITS.includes(keep.split)) throw new AppError('INVALID_ARGUMENT', `image ${a.keepId} has an unknown split`);
      setSplits(ds.db, [[a.imageId, keep.split]]);
      return { action: 'move' as const, imageId: a.imageId, split: keep.split };
    }
    removeImages(ds.db, [a.imageId]);
    return { action: 'drop' as const, imageId: a.imageId, split: null };
  })();
}

/**
 * Removes images from the dataset in one transaction: their annotations, comments, vectors and
 * the rest of what belongs to them go with them (foreign keys cascade). Files on disk are not
 * touched. Returns how many were removed.
 */
export function removeImages(db: Db, ids: readonly number[]): number {
  const del = db.prepare('DELETE FROM images WHERE id = ?');
  let removed = 0;
  db.transaction(() => {
    for (const id of ids) removed += del.run(id).changes;
  })();
  if (removed > 0) noteEmbeddingsChanged(db);
  return removed;
}
