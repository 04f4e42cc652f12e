/**
 * L2-regularised logistic regression on embedding vectors (linear evaluation of a frozen
 * encoder): softmax over K classes (one label per row) or K one-vs-rest sigmoids (several labels
 * per row). Features are centred on the training mean and scaled so that the mean squared row norm
 * is 1; the loss is the mean cross-entropy plus l2/2 ||W||^2 (the bias is not penalised),
 * minimised by Nesterov's accelerated gradient with the step 1/L from a power-iteration estimate
 * of the data's largest eigenvalue. Pure computation: runs in the classifier worker and in tests.
 */

export type LinearMode = 'softmax' | 'one-vs-rest';

export interface TrainInput {
  mode: LinearMode;
  /** Row-major vectors, `dim` values per row. */
  x: Float32Array;
  dim: number;
  classes: number;
  /** softmax: the class index of each row; one-vs-rest: rows x classes 0/1 flags. */
  y: Int32Array | Uint8Array;
  /** Rows to train on (indexes into x). */
  rows: Int32Array;
  l2: number;
  maxIterations: number;
  /** Stops once the largest gradient entry is below this. */
  tolerance?: number;
}

export interface LinearModel {
  mode: LinearMode;
  dim: number;
  classes: number;
  mean: Float64Array;
  scale: number;
  /** classes x dim weights on the standardised features. */
  w: Float64Array;
  b: Float64Array;
  iterations: number;
}

function standardiser(x: Float32Array, dim: number, rows: Int32Array): { mean: Float64Array; scale: number } {
  const mean = new Float64Array(dim);
  for (const r of rows) for (let j = 0; j < dim; j++) mean[j]! += x[r * dim + j]!;
  for (let j = 0; j < dim; j++) mean[j]! /= rows.length;
  let ss = 0;
  for (const r of rows) {
    for (let j = 0; j < dim; j++) {
      const v = x[r * dim + j]! - mean[j]!;
      ss += v * v;
    }
  }
  const scale = Math.sqrt(ss / rows.length) || 1;
  return { mean, scale };
}

/** Standardised copy of the rows (n x dim), in single precision: half the memory to stream per pass. */
function standardise(x: Float32Array, dim: number, rows: ArrayLike<number>, mean: Float64Array, scale: number): Float32Array {
  const out = new Float32Array(rows.length * dim);
  const inv = 1 / scale;
  for (let i = 0; i < rows.length; i++) {
    const o = rows[i]! * dim;
    for (let j = 0; j < dim; j++) out[i * dim + j] = (x[o + j]! - mean[j]!) * inv;
  }
  return out;
}

/** Largest eigenvalue of [X 1]^T [X 1] / n by power iteration (a slight overestimate is safe). */
function largestEigenvalue(z: Float32Array, n: number, dim: number): number {
  let v = new Float64Array(dim + 1).fill(1 / Math.sqrt(dim + 1));
  let lambda = 1;
  const t = new Float64Array(n);
  for (let it = 0; it < 30; it++) {
    for (let i = 0; i < n; i++) {
      let s = v[dim]!;
      for (let j = 0; j < dim; j++) s += z[i * dim + j]! * v[j]!;
      t[i] = s;
    }
    const next = new Float64Array(dim + 1);
    for (let i = 0; i < n; i++) {
      const ti = t[i]! / n;
      for (let j = 0; j < dim; j++) next[j]! += z[i * dim + j]! * ti;
      next[dim]! += ti;
    }
    let norm = 0;
    for (let j = 0; j <= dim; j++) norm += next[j]! * next[j]!;
    norm = Math.sqrt(norm);
    if (norm === 0) return 1;
    const prev = lambda;
    lambda = norm;
    for (let j = 0; j <= dim; j++) next[j]! /= norm;
    v = next;
    if (Math.abs(lambda - prev) < 1e-6 * lambda) break;
  }
  return lambda;
}

/** a[ao..ao+len) . b[bo..bo+len), four partial sums at a time. */
function dot(a: Float64Array, ao: number, b: Float32Array, bo: number, len: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let j = 0;
  for (; j + 3 < len; j += 4) {
    s0 += a[ao + j]! * b[bo + j]!;
    s1 += a[ao + j + 1]! * b[bo + j + 1]!;
    s2 += a[ao + j + 2]! * b[bo + j + 2]!;
    s3 += a[ao + j + 3]! * b[bo + j + 3]!;
  }
  for (; j < len; j++) s0 += a[ao + j]! * b[bo + j]!;
  return s0 + s1 + s2 + s3;
}

/** y[yo..yo+len) += g x[xo..xo+len). */
function axpy(g: number, x: Float32Array, xo: number, y: Float64Array, yo: number, len: number): void {
  let j = 0;
  for (; j + 3 < len; j += 4) {
    y[yo + j]! += g * x[xo + j]!;
    y[yo + j + 1]! += g * x[xo + j + 1]!;
    y[yo + j + 2]! += g * x[xo + j + 2]!;
    y[yo + j + 3]! += g * x[xo + j + 3]!;
  }
  for (; j < len; j++) y[yo + j]! += g * x[xo + j]!;
}

/** Turns the logits out[at..at+k) (their largest `max`) into probabilities in place. */
function activate(mode: LinearMode, out: Float64Array, at: number, k: number, max: number): void {
  if (mode === 'softmax') {
    let sum = 0;
    for (let c = 0; c < k; c++) {
      const e = Math.exp(out[at + c]! - max);
      out[at + c] = e;
      sum += e;
    }
    for (let c = 0; c < k; c++) out[at + c]! /= sum;
  } else {
    for (let c = 0; c < k; c++) out[at + c] = 1 / (1 + Math.exp(-out[at + c]!));
  }
}

/** Class probabilities (rows x classes) of standardised rows for weights w, b. */
function probabilities(mode: LinearMode, z: Float32Array, n: number, dim: number, k: number, w: Float64Array, b: Float64Array, out: Float64Array): void {
  for (let i = 0; i < n; i++) {
    let max = -Infinity;
    for (let c = 0; c < k; c++) {
      const v = dot(w, c * dim, z, i * dim, dim) + b[c]!;
      out[i * k + c] = v;
      if (v > max) max = v;
    }
    activate(mode, out, i * k, k, max);
  }
}

export function trainLinear(input: TrainInput, onProgress?: (done: number, total: number) => void): LinearModel {
  const { mode, x, dim, classes: k, y, rows, l2 } = input;
  const n = rows.length;
  if (n === 0) throw new Error('no rows to train on');
  const { mean, scale } = standardiser(x, dim, rows);
  const z = standardise(x, dim, rows, mean, scale);
  const target = new Float64Array(n * k);
  for (let i = 0; i < n; i++) {
    const r = rows[i]!;
    if (mode === 'softmax') target[i * k + y[r]!] = 1;
    else for (let c = 0; c < k; c++) target[i * k + c] = y[r * k + c]!;
  }
  // The Hessian of the mean softmax (sigmoid) cross-entropy is at most 1/2 (1/4) of [X 1]^T[X 1]/n.
  const lipschitz = (mode === 'softmax' ? 0.5 : 0.25) * largestEigenvalue(z, n, dim) * 1.05 + l2;
  const step = 1 / lipschitz;
  const size = k * dim;
  let w = new Float64Array(size);
  let b = new Float64Array(k);
  let wPrev = new Float64Array(size);
  let bPrev = new Float64Array(k);
  const vw = new Float64Array(size);
  const vb = new Float64Array(k);
  const p = new Float64Array(n * k);
  const gw = new Float64Array(size);
  const gb = new Float64Array(k);
  const tolerance = input.tolerance ?? 1e-5;
  let t = 1;
  let iterations = 0;
  for (let it = 0; it < input.maxIterations; it++) {
    iterations = it + 1;
    // Look-ahead point v = w + ((t - 1) / t') (w - wPrev).
    const tNext = (1 + Math.sqrt(1 + 4 * t * t)) / 2;
    const momentum = (t - 1) / tNext;
    for (let q = 0; q < size; q++) vw[q] = w[q]! + momentum * (w[q]! - wPrev[q]!);
    for (let c = 0; c < k; c++) vb[c] = b[c]! + momentum * (b[c]! - bPrev[c]!);
    t = tNext;
    gw.fill(0);
    gb.fill(0);
    // One pass over the rows: each row's probabilities, then its share of the gradient while the
    // row is still in cache.
    for (let i = 0; i < n; i++) {
      const o = i * dim;
      const pi = i * k;
      let max = -Infinity;
      for (let c = 0; c < k; c++) {
        const v = dot(vw, c * dim, z, o, dim) + vb[c]!;
        p[pi + c] = v;
        if (v > max) max = v;
      }
      activate(mode, p, pi, k, max);
      for (let c = 0; c < k; c++) {
        const g = (p[pi + c]! - target[pi + c]!) / n;
        if (g === 0) continue;
        gb[c]! += g;
        axpy(g, z, o, gw, c * dim, dim);
      }
    }
    let gmax = 0;
    for (let q = 0; q < size; q++) {
      gw[q]! += l2 * vw[q]!;
      gmax = Math.max(gmax, Math.abs(gw[q]!));
    }
    for (let c = 0; c < k; c++) gmax = Math.max(gmax, Math.abs(gb[c]!));
    [wPrev, w] = [w, wPrev];
    [bPrev, b] = [b, bPrev];
    for (let q = 0; q < size; q++) w[q] = vw[q]! - step * gw[q]!;
    for (let c = 0; c < k; c++) b[c] = vb[c]! - step * gb[c]!;
    if (onProgress && (it % 10 === 0 || it === input.maxIterations - 1)) onProgress(it + 1, input.maxIterations);
    if (gmax < tolerance) break;
  }
  return { mode, dim, classes: k, mean, scale, w, b, iterations };
}

/** Class probabilities (rows x classes) of the given rows of x. */
export function predictLinear(model: LinearModel, x: Float32Array, rows: ArrayLike<number>): Float64Array {
  const z = standardise(x, model.dim, rows, model.mean, model.scale);
  const out = new Float64Array(rows.length * model.classes);
  probabilities(model.mode, z, rows.length, model.dim, model.classes, model.w, model.b, out);
  return out;
}
