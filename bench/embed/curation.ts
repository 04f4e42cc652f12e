/**
 * What to label next and the in-app classifier on synthetic 1,280-value vectors (5,000 images,
 * 5 clusters; 4,000 tagged): training the softmax logistic regression in its worker thread, the
 * k-centre greedy queue (500 picks, 500 labeled centres) beside the same greedy walk with plain
 * JavaScript dot products, and uniqueness of every image. Wall time and this process's CPU time
 * (on a busy machine the CPU time is the one to compare).
 * Run: npx tsx -e "import('./bench/embed/curation.ts').then(m=>m.run())"
 */
import { mulberry32 } from '../../src-main/common/random';
import { trainInWorker } from '../../src-main/classifier/client';
import { trainLinear } from '../../src-main/classifier/logreg';
import { kCenterGreedy, normalizeRows, uniquenessScores } from '../../src-main/services/activeLearning';

const N = Number(process.env['BENCH_N'] ?? 5_000);
const DIM = 1280;
const K = 5;

/** The greedy walk with plain JavaScript dot products: the baseline for the SIMD search. */
function kCenterPlain(data: Float32Array, dim: number, centres: number[], candidates: number[], k: number): number[] {
  const n = candidates.length;
  const minDist = new Float64Array(n).fill(Infinity);
  const update = (row: number): void => {
    for (let i = 0; i < n; i++) {
      let dot = 0;
      const c = candidates[i]! * dim;
      for (let j = 0; j < dim; j++) dot += data[c + j]! * data[row * dim + j]!;
      minDist[i] = Math.min(minDist[i]!, Math.max(0, 1 - dot));
    }
  };
  for (const c of centres) update(c);
  const order: number[] = [];
  const picked = new Uint8Array(n);
  for (let s = 0; s < k; s++) {
    let best = -1;
    for (let i = 0; i < n; i++) if (!picked[i] && (best < 0 || minDist[i]! > minDist[best]!)) best = i;
    picked[best] = 1;
    order.push(best);
    update(candidates[best]!);
  }
  return order;
}

function measure<T>(f: () => T): { value: T; wallMs: number; cpuMs: number } {
  const c = process.cpuUsage();
  const t = performance.now();
  const value = f();
  const d = process.cpuUsage(c);
  return { value, wallMs: performance.now() - t, cpuMs: (d.user + d.system) / 1e3 };
}

export async function run(): Promise<void> {
  const rng = mulberry32(1);
  const g = (): number => Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
  const centres = Array.from({ length: K }, () => Float32Array.from({ length: DIM }, () => g() * 0.05));
  const x = new Float32Array(N * DIM);
  const y = new Int32Array(N);
  for (let i = 0; i < N; i++) {
    y[i] = i % K;
    for (let j = 0; j < DIM; j++) x[i * DIM + j] = centres[i % K]![j]! + 0.1 * g();
  }
  const rows = Int32Array.from({ length: Math.round(N * 0.8) }, (_, i) => i);
  const input = { mode: 'softmax' as const, x, dim: DIM, classes: K, y, rows, l2: 1e-3, maxIterations: 500 };
  const t0 = performance.now();
  const m = await trainInWorker(input);
  const workerMs = performance.now() - t0;
  const inline = measure(() => trainLinear(input));
  console.log(`train softmax, ${rows.length} x ${DIM}, ${K} classes: worker ${Math.round(workerMs)} ms wall; same thread ${Math.round(inline.wallMs)} ms wall, ${Math.round(inline.cpuMs)} ms CPU; ${m.iterations} iterations`);

  normalizeRows(x, DIM);
  const labeled = Array.from({ length: N / 10 }, (_, i) => i);
  const pool = Array.from({ length: N - N / 10 }, (_, i) => i + N / 10);
  const simd = measure(() => kCenterGreedy(x, DIM, labeled, pool, 500));
  const plain = measure(() => kCenterPlain(x, DIM, labeled, pool, 500));
  // Float32 SIMD and double sums differ in the last digits, which reorders near-ties.
  const plainSet = new Set(plain.value);
  const shared = simd.value.order.filter((v) => plainSet.has(v)).length / simd.value.order.length;
  console.log(
    `k-centre greedy, 500 picks of ${pool.length} (${labeled.length} labeled): usearch ${Math.round(simd.wallMs)} ms wall, ${Math.round(simd.cpuMs)} ms CPU; plain JS ${Math.round(plain.wallMs)} ms wall, ${Math.round(plain.cpuMs)} ms CPU; ratio (CPU) ${(plain.cpuMs / simd.cpuMs).toFixed(1)}x; picks in common ${(shared * 100).toFixed(0)} %`,
  );
  const u = measure(() => uniquenessScores(x, DIM));
  console.log(`uniqueness of ${N}: ${Math.round(u.wallMs)} ms wall, ${Math.round(u.cpuMs)} ms CPU (all threads)`);
}
