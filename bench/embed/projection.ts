/**
 * Embedding map projection (part of `npm run bench:embed`): 2-D projection time of 20,000
 * synthetic 1,280-d unit vectors (twelve clusters plus noise, like image embeddings).
 * - PCA: the map's randomized subspace iteration (services/projection.ts) in this thread, and the
 *   whole computation in its worker thread (start-up and transfer included), beside an exact PCA
 *   a user would write without it: the full 1,280 x 1,280 covariance and its eigen-decomposition
 *   (ml-matrix). The exact one runs once (it takes tens of seconds); the axes found are compared.
 * - UMAP: the map's UMAP (top 32 principal components, exact k-NN by usearch, umap-js layout) at
 *   20,000 points, and beside umap-js out of the box (its own nearest-neighbour descent on the
 *   1,280-d vectors) at a size where that finishes in reasonable time (printed).
 * Medians of the runs given; ratios are baseline / ours.
 */
import { EigenvalueDecomposition, Matrix } from 'ml-matrix';
import { UMAP } from 'umap-js';
import { mulberry32 } from '../../src-main/common/random';
import { projectInWorker } from '../../src-main/services/embeddingMap';
import { pca, umap2d } from '../../src-main/services/projection';
import { median } from '../stats';
import { printTable } from '../table';

const N = 20_000;
const D = 1_280;
const UMAP_BASELINE_N = 2_000;

/** n unit vectors in d dimensions around `k` cluster centres. */
function synthetic(n: number, d: number, k = 12, seed = 1): Float32Array {
  const rand = mulberry32(seed);
  const centres = Array.from({ length: k }, () => Float32Array.from({ length: d }, () => rand() - 0.5));
  const x = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const c = centres[i % k]!;
    let norm = 0;
    for (let t = 0; t < d; t++) {
      const v = c[t]! + (rand() - 0.5) * 0.6;
      x[i * d + t] = v;
      norm += v * v;
    }
    norm = Math.sqrt(norm);
    for (let t = 0; t < d; t++) x[i * d + t]! /= norm;
  }
  return x;
}

/** Exact PCA: mean, the full covariance (upper triangle, then mirrored), its eigen-decomposition, projection. */
function exactPca(x: Float32Array, n: number, d: number): { coords: Float32Array; axes: Float64Array[]; variance: number[] } {
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let t = 0; t < d; t++) mean[t]! += x[i * d + t]!;
  for (let t = 0; t < d; t++) mean[t]! /= n;
  const cov = new Float64Array(d * d);
  const row = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    for (let t = 0; t < d; t++) row[t] = x[i * d + t]! - mean[t]!;
    for (let a = 0; a < d; a++) {
      const ra = row[a]!;
      const base = a * d;
      for (let b = a; b < d; b++) cov[base + b]! += ra * row[b]!;
    }
  }
  const m = new Matrix(d, d);
  for (let a = 0; a < d; a++)
    for (let b = a; b < d; b++) {
      const v = cov[a * d + b]! / (n - 1);
      m.set(a, b, v);
      m.set(b, a, v);
    }
  const evd = new EigenvalueDecomposition(m, { assumeSymmetric: true });
  const order = evd.realEigenvalues.map((v, i) => [v, i] as const).sort((p, q) => q[0] - p[0]);
  const axes = [0, 1].map((j) => Float64Array.from({ length: d }, (_, t) => evd.eigenvectorMatrix.get(t, order[j]![1])));
  const coords = new Float32Array(n * 2);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < 2; j++) {
      let s = 0;
      for (let t = 0; t < d; t++) s += (x[i * d + t]! - mean[t]!) * axes[j]![t]!;
      coords[i * 2 + j] = s;
    }
  return { coords, axes, variance: [order[0]![0], order[1]![0]] };
}

function time<T>(f: () => T): { ms: number; value: T } {
  const t0 = performance.now();
  const value = f();
  return { ms: performance.now() - t0, value };
}

const fmt = (ms: number): string => (ms >= 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${ms.toFixed(0)} ms`);

export async function run(): Promise<void> {
  console.log(`\n## Embedding map: 2-D projection of ${N.toLocaleString('en-US')} x ${D.toLocaleString('en-US')} synthetic vectors\n`);
  const x = synthetic(N, D);
  const rows: string[][] = [];

  // PCA in this thread, three runs.
  const ours = [0, 1, 2].map(() => time(() => pca(x, N, D)));
  const oursMs = median(ours.map((r) => r.ms));
  console.log(`PCA in this thread: ${ours.map((r) => fmt(r.ms)).join(', ')}`);
  // The same through the map's worker thread (start-up, transfer and all), three runs.
  const viaWorker: number[] = [];
  for (let r = 0; r < 3; r++) {
    const t0 = performance.now();
    await projectInWorker({ method: 'pca', data: x.slice(), n: N, d: D });
    viaWorker.push(performance.now() - t0);
  }
  console.log(`PCA in the worker thread: ${viaWorker.map(fmt).join(', ')}`);
  const exact = time(() => exactPca(x, N, D));
  console.log(`exact PCA: ${fmt(exact.ms)}`);
  const axes = ours[0]!.value.axes;
  const agree = [0, 1].map((j) => Math.abs(exact.value.axes[j]!.reduce((s, v, t) => s + v * axes[j * D + t]!, 0)));
  rows.push(['PCA, this thread', `${N}`, fmt(oursMs), '3', `exact covariance + eigen-decomposition: ${fmt(exact.ms)} (1 run)`, `${(exact.ms / oursMs).toFixed(1)}x`]);
  rows.push(['PCA, worker thread (as the app runs it)', `${N}`, fmt(median(viaWorker)), '3', `same: ${fmt(exact.ms)}`, `${(exact.ms / median(viaWorker)).toFixed(1)}x`]);

  // UMAP at full size (one run: it takes a while).
  const umapFull = time(() => umap2d(x, N, D));
  console.log(`UMAP at ${N}: ${fmt(umapFull.ms)}`);
  rows.push(['UMAP (PCA-32 + usearch k-NN + umap-js)', `${N}`, fmt(umapFull.ms), '1', 'umap-js alone: not run at this size (minutes)', '–']);

  // UMAP beside umap-js out of the box, at a size the baseline finishes in.
  const small = x.subarray(0, UMAP_BASELINE_N * D);
  const oursSmall = [0, 1, 2].map(() => time(() => umap2d(small, UMAP_BASELINE_N, D)).ms);
  console.log(`UMAP at ${UMAP_BASELINE_N}: ${oursSmall.map(fmt).join(', ')}`);
  const asArrays = Array.from({ length: UMAP_BASELINE_N }, (_, i) => Array.from(small.subarray(i * D, (i + 1) * D)));
  const plain = time(() => new UMAP({ nComponents: 2, nNeighbors: 15, minDist: 0.1, random: mulberry32(42) }).fit(asArrays));
  console.log(`umap-js alone at ${UMAP_BASELINE_N}: ${fmt(plain.ms)}\n`);
  rows.push([
    'UMAP (PCA-32 + usearch k-NN + umap-js)',
    `${UMAP_BASELINE_N}`,
    fmt(median(oursSmall)),
    '3',
    `umap-js fit on the 1,280-d vectors: ${fmt(plain.ms)} (1 run)`,
    `${(plain.ms / median(oursSmall)).toFixed(1)}x`,
  ]);

  printTable(['projection', 'points', 'median', 'runs', 'baseline', 'baseline / ours'], rows);
  const captured = ours[0]!.value.variance.reduce((a, v) => a + v, 0) / (exact.value.variance[0]! + exact.value.variance[1]!);
  console.log(`\nPCA: ${ours[0]!.value.iterations} subspace iterations; variance on the two axes ${(captured * 100).toFixed(2)}% of the exact top two; |cos| with the exact axes ${agree.map((a) => a.toFixed(3)).join(', ')} (axes of nearly equal variances may turn within their plane)`);
}
