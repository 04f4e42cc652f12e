import { EigenvalueDecomposition, Matrix } from 'ml-matrix';
import { UMAP } from 'umap-js';
import { createRequire } from 'node:module';
import { mulberry32 } from '../common/random';

// usearch's ES build looks for its native addon from a global `__dirname` when one is defined
// (`tsx -e` defines '.', and the search then never ends); its CommonJS build uses its own folder.
const usearch = createRequire(import.meta.url)('usearch') as typeof import('usearch').default;

/**
 * 2-D projections of a row-major matrix of vectors (the embedding map): PCA by randomized subspace
 * iteration (a few passes over the data instead of a d x d covariance) and UMAP (umap-js, seeded)
 * on the top principal components with an exact k-NN graph from usearch. Pure computation: the
 * embedding map runs it in a worker thread.
 */

export interface ProjectionHooks {
  /** Work done so far out of `total` (any unit), for progress reports. */
  onProgress?: (done: number, total: number) => void;
}

export interface PcaResult {
  /** n x components, row-major. */
  coords: Float32Array;
  /** Variance along each component, largest first. */
  variance: Float64Array;
  /** components x d unit axes, row-major. */
  axes: Float64Array;
  /** Subspace iterations run. */
  iterations: number;
}

export interface PcaOptions extends ProjectionHooks {
  components?: number;
  /** Extra vectors carried in the subspace beyond `components` (speeds up convergence). */
  oversample?: number;
  /** Most subspace iterations; fewer when the leading variances have settled. */
  maxIterations?: number;
  /**
   * Relative change of the leading variances' sum below which iteration stops. The sum, not each
   * variance: where the leading variances are nearly equal their axes may turn within the plane
   * they span for many more iterations without changing what the map shows.
   */
  tolerance?: number;
  seed?: number;
  /**
   * Rows the axes are found from when there are more (a seeded random sample); every row is then
   * projected on them. The leading axes of 5,000 rows are those of 20,000 to well within what a
   * map shows, at a quarter of the work.
   */
  sampleRows?: number;
}

/** Orthonormalises the k rows (length d) of `q` in place (modified Gram-Schmidt). */
function orthonormalize(q: Float64Array, k: number, d: number): void {
  for (let j = 0; j < k; j++) {
    const rj = j * d;
    for (let m = 0; m < j; m++) {
      const rm = m * d;
      let dot = 0;
      for (let t = 0; t < d; t++) dot += q[rj + t]! * q[rm + t]!;
      for (let t = 0; t < d; t++) q[rj + t]! -= dot * q[rm + t]!;
    }
    let norm = 0;
    for (let t = 0; t < d; t++) norm += q[rj + t]! * q[rj + t]!;
    norm = Math.sqrt(norm);
    // A vanished direction (rank-deficient data) is replaced by a unit vector along one axis.
    if (norm < 1e-12) {
      q.fill(0, rj, rj + d);
      q[rj + (j % d)] = 1;
    } else for (let t = 0; t < d; t++) q[rj + t]! /= norm;
  }
}

/** y (n x k) = (X - mean) Q^T for the k rows of q. */
function project(x: Float32Array, n: number, d: number, mean: Float64Array, q: Float64Array, k: number, y: Float64Array): void {
  const mq = new Float64Array(k);
  for (let j = 0; j < k; j++) {
    let s = 0;
    for (let t = 0; t < d; t++) s += mean[t]! * q[j * d + t]!;
    mq[j] = s;
  }
  for (let i = 0; i < n; i++) {
    const base = i * d;
    // Two axes per pass over the row: each value of x is loaded once for both.
    let j = 0;
    for (; j + 1 < k; j += 2) {
      const qa = j * d;
      const qb = qa + d;
      let sa = 0;
      let sb = 0;
      for (let t = 0; t < d; t++) {
        const v = x[base + t]!;
        sa += v * q[qa + t]!;
        sb += v * q[qb + t]!;
      }
      y[i * k + j] = sa - mq[j]!;
      y[i * k + j + 1] = sb - mq[j + 1]!;
    }
    if (j < k) {
      const qa = j * d;
      let sa = 0;
      for (let t = 0; t < d; t++) sa += x[base + t]! * q[qa + t]!;
      y[i * k + j] = sa - mq[j]!;
    }
  }
}

/** q (k x d) = ((X - mean)^T y)^T. */
function backProject(x: Float32Array, n: number, d: number, mean: Float64Array, y: Float64Array, k: number, q: Float64Array): void {
  q.fill(0);
  const ysum = new Float64Array(k);
  for (let i = 0; i < n; i++) {
    const base = i * d;
    let j = 0;
    for (; j + 1 < k; j += 2) {
      const ya = y[i * k + j]!;
      const yb = y[i * k + j + 1]!;
      ysum[j]! += ya;
      ysum[j + 1]! += yb;
      const qa = j * d;
      const qb = qa + d;
      for (let t = 0; t < d; t++) {
        const v = x[base + t]!;
        q[qa + t]! += v * ya;
        q[qb + t]! += v * yb;
      }
    }
    if (j < k) {
      const ya = y[i * k + j]!;
      ysum[j]! += ya;
      const qa = j * d;
      for (let t = 0; t < d; t++) q[qa + t]! += x[base + t]! * ya;
    }
  }
  for (let j = 0; j < k; j++) for (let t = 0; t < d; t++) q[j * d + t]! -= mean[t]! * ysum[j]!;
}

/**
 * The top principal components of n vectors of length d (row-major `x`): coordinates, variances
 * (descending) and axes. Each component's sign is fixed so that its largest-magnitude axis entry is
 * positive, so the same data gives the same picture.
 */
export function pca(x: Float32Array, n: number, d: number, opts: PcaOptions = {}): PcaResult {
  if (x.length !== n * d) throw new Error(`a ${n} x ${d} matrix needs ${n * d} values, got ${x.length}`);
  const c = Math.max(1, Math.min(opts.components ?? 2, d, Math.max(1, n)));
  const sampleRows = opts.sampleRows ?? 5000;
  if (n > sampleRows && sampleRows > c) return sampledPca(x, n, d, c, sampleRows, opts);
  const k = Math.min(d, c + (opts.oversample ?? 10));
  const maxIterations = opts.maxIterations ?? 6;
  const tolerance = opts.tolerance ?? 1e-4;
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let t = 0; t < d; t++) mean[t]! += x[i * d + t]!;
  for (let t = 0; t < d; t++) mean[t]! /= Math.max(1, n);

  const rand = mulberry32(opts.seed ?? 1);
  const q = new Float64Array(k * d);
  for (let i = 0; i < q.length; i++) q[i] = rand() - 0.5;
  orthonormalize(q, k, d);
  const y = new Float64Array(n * k);
  const denom = Math.max(1, n - 1);
  let previous: number[] | null = null;
  let values: number[] = [];
  let vectors: Matrix = Matrix.eye(k);
  let iterations = 0;
  for (;;) {
    project(x, n, d, mean, q, k, y);
    // Rayleigh-Ritz: the covariance restricted to the subspace, B = Y^T Y / (n - 1).
    const b = new Matrix(k, k);
    for (let a = 0; a < k; a++)
      for (let e = a; e < k; e++) {
        let s = 0;
        for (let i = 0; i < n; i++) s += y[i * k + a]! * y[i * k + e]!;
        b.set(a, e, s / denom);
        b.set(e, a, s / denom);
      }
    const evd = new EigenvalueDecomposition(b, { assumeSymmetric: true });
    const order = evd.realEigenvalues.map((v, i) => [v, i] as const).sort((p, r) => r[0] - p[0]);
    values = order.map((o) => Math.max(0, o[0]));
    vectors = new Matrix(k, k);
    order.forEach((o, col) => {
      for (let r = 0; r < k; r++) vectors.set(r, col, evd.eigenvectorMatrix.get(r, o[1]));
    });
    iterations++;
    opts.onProgress?.(iterations, maxIterations);
    const lead = values.slice(0, c).reduce((a, v) => a + v, 0);
    const settled = previous !== null && Math.abs(lead - previous.slice(0, c).reduce((a, v) => a + v, 0)) <= tolerance * Math.max(lead, 1e-30);
    if (settled || iterations >= maxIterations || k === d) break;
    previous = values;
    backProject(x, n, d, mean, y, k, q);
    orthonormalize(q, k, d);
  }

  const axes = new Float64Array(c * d);
  const signs = new Float64Array(c);
  for (let j = 0; j < c; j++) {
    let best = 0;
    for (let t = 0; t < d; t++) {
      let s = 0;
      for (let m = 0; m < k; m++) s += vectors.get(m, j) * q[m * d + t]!;
      axes[j * d + t] = s;
      if (Math.abs(s) > Math.abs(best)) best = s;
    }
    signs[j] = best < 0 ? -1 : 1;
    for (let t = 0; t < d; t++) axes[j * d + t]! *= signs[j]!;
  }
  const coords = new Float32Array(n * c);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < c; j++) {
      let s = 0;
      for (let m = 0; m < k; m++) s += y[i * k + m]! * vectors.get(m, j);
      coords[i * c + j] = s * signs[j]!;
    }
  return { coords, variance: Float64Array.from(values.slice(0, c)), axes, iterations };
}

/**
 * PCA axes from a seeded random sample of rows (random, not evenly spaced: rows often come in
 * runs or cycles, a folder at a time), then every row projected on them, centred on the mean of
 * all rows.
 */
function sampledPca(x: Float32Array, n: number, d: number, c: number, rows: number, opts: PcaOptions): PcaResult {
  const rand = mulberry32((opts.seed ?? 1) ^ 0x9e3779b9);
  const order = Int32Array.from({ length: n }, (_, i) => i);
  for (let r = 0; r < rows; r++) {
    const pick = r + Math.floor(rand() * (n - r));
    const tmp = order[r]!;
    order[r] = order[pick]!;
    order[pick] = tmp;
  }
  const chosen = order.subarray(0, rows).sort();
  const sample = new Float32Array(rows * d);
  for (let r = 0; r < rows; r++) {
    const i = chosen[r]!;
    sample.set(x.subarray(i * d, (i + 1) * d), r * d);
  }
  const found = pca(sample, rows, d, { ...opts, components: c, sampleRows: rows });
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let t = 0; t < d; t++) mean[t]! += x[i * d + t]!;
  for (let t = 0; t < d; t++) mean[t]! /= n;
  const coords = new Float32Array(n * c);
  const y = new Float64Array(n * c);
  project(x, n, d, mean, found.axes, c, y);
  const variance = new Float64Array(c);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < c; j++) {
      coords[i * c + j] = y[i * c + j]!;
      variance[j]! += (y[i * c + j]! * y[i * c + j]!) / Math.max(1, n - 1);
    }
  return { coords, variance, axes: found.axes, iterations: found.iterations };
}

export interface UmapOptions extends ProjectionHooks {
  nNeighbors?: number;
  minDist?: number;
  seed?: number;
  /** Optimisation epochs; umap-js picks (200 or 500) when absent. */
  nEpochs?: number;
  /** Principal components the neighbour graph is built on (vectors with fewer values are used as they are). */
  pcaComponents?: number;
}

export const UMAP_DEFAULTS = { nNeighbors: 15, minDist: 0.1, seed: 42, pcaComponents: 32 } as const;

/**
 * UMAP to 2-D, seeded: the same input and options give the same coordinates. The vectors are first
 * reduced to their top principal components (as is usual before UMAP), then an exact k-NN graph
 * (usearch) is handed to umap-js, whose layout epochs report progress.
 */
export function umap2d(x: Float32Array, n: number, d: number, opts: UmapOptions = {}): Float32Array {
  const nNeighbors = Math.min(opts.nNeighbors ?? UMAP_DEFAULTS.nNeighbors, Math.max(2, n - 1));
  if (n <= nNeighbors) throw new Error(`UMAP needs more than ${nNeighbors} vectors, got ${n}`);
  const seed = opts.seed ?? UMAP_DEFAULTS.seed;
  const want = opts.pcaComponents ?? UMAP_DEFAULTS.pcaComponents;
  let red: Float32Array;
  let dim: number;
  if (d > want) {
    red = pca(x, n, d, { components: want, oversample: 8, maxIterations: 2, seed }).coords;
    dim = want;
  } else {
    red = x;
    dim = d;
  }
  const found = usearch.exactSearch(red, red, dim, nNeighbors, usearch.MetricKind.L2sq, 0) as unknown as {
    keys: BigUint64Array;
    distances: Float32Array;
  };
  const knnIndices: number[][] = [];
  const knnDistances: number[][] = [];
  for (let i = 0; i < n; i++) {
    const idx: number[] = [];
    const dist: number[] = [];
    for (let j = 0; j < nNeighbors; j++) {
      idx.push(Number(found.keys[i * nNeighbors + j]!));
      dist.push(Math.sqrt(Math.max(0, found.distances[i * nNeighbors + j]!)));
    }
    knnIndices.push(idx);
    knnDistances.push(dist);
  }
  const umap = new UMAP({
    nComponents: 2,
    nNeighbors,
    minDist: opts.minDist ?? UMAP_DEFAULTS.minDist,
    random: mulberry32(seed),
    ...(opts.nEpochs ? { nEpochs: opts.nEpochs } : {}),
  });
  umap.setPrecomputedKNN(knnIndices, knnDistances);
  // With the neighbours given, umap-js only counts the rows of its input.
  const rows: number[][] = Array.from({ length: n }, () => []);
  const epochs = umap.initializeFit(rows);
  for (let e = 0; e < epochs; e++) {
    umap.step();
    if (e % 5 === 4 || e === epochs - 1) opts.onProgress?.(e + 1, epochs);
  }
  const emb = umap.getEmbedding();
  const out = new Float32Array(n * 2);
  for (let i = 0; i < n; i++) {
    out[i * 2] = emb[i]![0]!;
    out[i * 2 + 1] = emb[i]![1]!;
  }
  return out;
}
