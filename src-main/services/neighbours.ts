import { usearch } from './usearch';

/**
 * The near-duplicate candidate search over one matrix of vectors (row-major, `dim` values a row):
 * row pairs whose cosine similarity is at or above a cut, exactly (usearch exactSearch, a block of
 * queries at a time) or from an HNSW index of the vectors quantised to 8 bits. Pure: runs on the
 * main thread (the command line) or in the duplicates worker thread (the app).
 */

const { exactSearch, Index, MetricKind, ScalarKind } = usearch;

/** The vectors searched. */
export interface VectorMatrix {
  data: Float32Array;
  dim: number;
  rows: number;
}

/** Neighbours asked per image first; an image whose last neighbour still passes is asked again with more. */
const FIRST_K = 16;
const MAX_K = 1024;
/** Queries per exactSearch call. */
const BLOCK = 512;

/** Candidates from the 8-bit index are rescored when their approximate score is this close below the threshold. */
export const QUANTISATION_MARGIN = 0.03;

export interface Neighbours {
  /** Rows of each query's neighbours (itself possibly among them) and their approximate similarities. */
  rows: Uint32Array;
  scores: Float32Array;
  counts: Uint32Array;
  k: number;
}

export type Searcher = (queries: Uint32Array, k: number) => Neighbours;

export function exactSearcher(m: VectorMatrix): Searcher {
  const n = m.rows;
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

export type HnswIndex = InstanceType<typeof Index>;

/**
 * An HNSW index of the rows (cosine, vectors quantised to 8 bits); row numbers are its keys. Built
 * in one thread: a graph built by several threads depends on their timing, and the same vectors
 * must give the same near-duplicates every time they are asked for.
 */
export function buildIndex(m: VectorMatrix): HnswIndex {
  const index = new Index({ dimensions: m.dim, metric: MetricKind.Cos, quantization: ScalarKind.I8, connectivity: 16, expansion_add: 64, expansion_search: 64, multi: false });
  const keys = new BigUint64Array(m.rows);
  for (let i = 0; i < m.rows; i++) keys[i] = BigInt(i);
  index.add(keys, m.data, 1);
  return index;
}

/** Searches the index; approximate scores (8-bit vectors), to be computed again exactly. */
export function indexSearcher(index: HnswIndex, m: VectorMatrix): Searcher {
  return (queries, k) => {
    const kk = Math.min(k, m.rows);
    const rows = new Uint32Array(queries.length * kk);
    const scores = new Float32Array(queries.length * kk);
    const counts = new Uint32Array(queries.length);
    for (let b = 0; b < queries.length; b += 4096) {
      const batch = queries.subarray(b, Math.min(queries.length, b + 4096));
      const q = new Float32Array(batch.length * m.dim);
      batch.forEach((row, i) => q.set(m.data.subarray(row * m.dim, (row + 1) * m.dim), i * m.dim));
      // One thread, as the index was built with (it holds search contexts for that many).
      const found = index.search(q, kk, 1) as { keys: BigUint64Array; distances: Float32Array; counts?: BigUint64Array };
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

export function norms(m: VectorMatrix): Float32Array {
  const out = new Float32Array(m.rows);
  for (let r = 0; r < out.length; r++) {
    let s = 0;
    for (let i = r * m.dim, e = i + m.dim; i < e; i++) s += m.data[i]! * m.data[i]!;
    out[r] = Math.sqrt(s);
  }
  return out;
}

export function cosine(m: VectorMatrix, norm: Float32Array, a: number, b: number): number {
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
export function pairsAbove(search: Searcher, n: number, cut: number): Map<number, Set<number>> {
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


/** Row pairs [a0, b0, a1, b1, …] (a < b) at or above `cut`, from the index or the exact search. */
export function candidatePairs(m: VectorMatrix, cut: number, index: HnswIndex | null): Uint32Array {
  const found = pairsAbove(index ? indexSearcher(index, m) : exactSearcher(m), m.rows, cut);
  const out: number[] = [];
  for (const [a, bs] of found) for (const b of bs) out.push(a, b);
  return Uint32Array.from(out);
}
