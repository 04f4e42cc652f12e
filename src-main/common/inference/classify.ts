import { AppError } from '../errors';
import { fmtDims, modelMismatch } from './decode';
import type { Detection, ModelManifest, OutputTensor } from './types';

/**
 * Image classification: which region of the image the network sees, and its scores turned into
 * image tags. Pure; inference/classify.ts runs the model.
 */

/** The top-k default when a classify manifest gives none. */
export const DEFAULT_TOP_K = 5;

export interface CropRegion {
  x: number;
  y: number;
  w: number;
  h: number;
}

/**
 * The region of a `width` x `height` image the network input shows. With `cropFrom` (ImageNet's
 * "resize the short side to 256, centre-crop 224"), the centre crop is mapped back onto the
 * image: the short side scaled to `cropFrom` makes `size` cover `size / scale` image pixels.
 * Without it, the whole image (resized without keeping the aspect ratio).
 */
export function classifyCrop(m: ModelManifest, inputSize: [number, number], width: number, height: number): CropRegion {
  if (!m.cropFrom) return { x: 0, y: 0, w: width, h: height };
  const scale = m.cropFrom / Math.min(width, height);
  const w = Math.max(1, Math.min(width, Math.round(inputSize[1] / scale)));
  const h = Math.max(1, Math.min(height, Math.round(inputSize[0] / scale)));
  return { x: Math.round((width - w) / 2), y: Math.round((height - h) / 2), w, h };
}

/** The output a classify model is read from: the manifest's `output`, else the first. */
export function classifyOutput(outputs: readonly OutputTensor[], m: ModelManifest, file: string): OutputTensor {
  const shapes = outputs.map((o) => `${o.name} ${fmtDims(o.dims)}`).join(', ');
  const t = m.output ? outputs.find((o) => o.name === m.output) : outputs[0];
  if (!t) throw modelMismatch(file, 'the manifest names an output the model does not have', `output "${m.output}"`, `outputs ${shapes}`);
  return t;
}

/** Per-class scores: the output [1, C] (or [1, C, 1, 1]) through the manifest's activation. */
export function classScores(t: OutputTensor, m: ModelManifest, file: string): Float32Array {
  const d = t.dims;
  const flat = d.length >= 2 && d[0] === 1 && d.slice(2).every((x) => x === 1);
  const labels = m.labels ? ` (labels file ${m.labels})` : '';
  if (!flat) throw modelMismatch(file, `output "${t.name}" is not one score per class`, `[1, ${m.classes.length}]`, fmtDims(d));
  const c = d[1]!;
  if (c !== m.classes.length) {
    throw modelMismatch(file, `output "${t.name}" holds ${c} class scores but the manifest names ${m.classes.length} classes${labels}`, `[1, ${m.classes.length}]`, fmtDims(d));
  }
  const raw = t.data.subarray(0, c);
  const out = new Float32Array(c);
  const act = m.activation ?? 'softmax';
  const already = alreadyProbabilities(raw, c, 1, act);
  if (already) throw new AppError('INVALID_ARGUMENT', `${file}: output "${t.name}": ${already}`, { file, output: t.name, activation: act });
  if (act === 'softmax') {
    let max = -Infinity;
    for (let i = 0; i < c; i++) if (raw[i]! > max) max = raw[i]!;
    let sum = 0;
    for (let i = 0; i < c; i++) sum += out[i] = Math.exp(raw[i]! - max);
    for (let i = 0; i < c; i++) out[i]! /= sum;
  } else if (act === 'sigmoid') {
    for (let i = 0; i < c; i++) out[i] = 1 / (1 + Math.exp(-raw[i]!));
  } else out.set(raw);
  return out;
}

/**
 * The `topK` best classes scoring at least `threshold`, best first, as tags of the whole
 * `width` x `height` image.
 */
export function topTags(scores: Float32Array, topK: number, threshold: number, width: number, height: number): Detection[] {
  const order = Array.from(scores.keys()).filter((i) => scores[i]! >= threshold);
  order.sort((a, b) => scores[b]! - scores[a]! || a - b);
  return order.slice(0, topK).map((i) => ({ classIndex: i, score: scores[i]!, box: { x: 0, y: 0, w: width, h: height }, tag: true as const }));
}

/**
 * Why the scores in `data` (`c` classes at each of `n` positions: a position's classes adjacent
 * when `channelsLast`, else one plane of `n` per class) look like probabilities already, which
 * `act` would squash: softmax of probabilities is about 1/C each, so nothing passes a threshold;
 * sigmoid of them lies in 0.5..0.73, so everything passes 0.5. Null when they look like logits.
 * Probabilities: every value in [0, 1] and, for softmax, each position's scores summing to 1.
 * Softmax over one class is refused too: it is 1 everywhere.
 */
export function alreadyProbabilities(data: ArrayLike<number>, c: number, n: number, act: 'softmax' | 'sigmoid' | 'none', channelsLast = true): string | null {
  if (act === 'none') return null;
  const fix = 'the model\'s output already holds probabilities (its export ends in a Softmax or Sigmoid): set "activation": "none" in the manifest';
  if (act === 'softmax' && c === 1) return 'softmax over one class is 1 everywhere: set "activation" in the manifest to "sigmoid" (logits) or "none" (probabilities)';
  const total = c * n;
  // A few logits may all fall in [0, 1] by chance; a whole output of them does not.
  if (act === 'sigmoid' && total < 16) return null;
  for (let i = 0; i < total; i++) {
    const v = data[i]!;
    if (!(v >= 0 && v <= 1)) return null;
  }
  if (act === 'sigmoid') return `every score is between 0 and 1, which sigmoid would turn into 0.5..0.73; ${fix}`;
  for (let p = 0; p < n; p++) {
    let sum = 0;
    for (let k = 0; k < c; k++) sum += data[channelsLast ? p * c + k : k * n + p]!;
    if (Math.abs(sum - 1) > 1e-3) return null;
  }
  return `the class scores sum to 1 at every position, which softmax would flatten to about 1/${c} each; ${fix}`;
}
