import { AppError } from '../errors';
import { fmtDims, modelMismatch } from './decode';
import type { EmbeddingPooling, EmbeddingSpec, ModelIo, ModelManifest, OutputTensor } from './types';

/**
 * Embedding vectors from a model output: pooling over the spatial or token axis, then L2
 * normalisation. Pure; inference/embed.ts runs the model.
 */

/** What an embed manifest without `embedding` is read with (a vector output, unit length). */
export const DEFAULT_EMBEDDING: EmbeddingSpec = { pooling: 'none', l2: true };

/**
 * The output of a batch of `batch` images as `batch` vectors, row-major in one array. The layouts
 * read are [B, D], [B, D, 1, 1], [B, C, H, W] (pooled over H, W) and [B, T, C] (pooled over T);
 * see EmbeddingSpec. Anything else, or a batch size that differs, is an error naming the file.
 */
export function poolEmbeddings(t: OutputTensor, spec: EmbeddingSpec, batch: number, file: string): { dim: number; data: Float32Array } {
  const d = t.dims;
  if (d[0] !== batch) throw modelMismatch(file, `output "${t.name}" does not hold one row per image of the batch`, `[${batch}, ...]`, fmtDims(d));
  const vector = d.length === 2 || (d.length === 4 && d[2] === 1 && d[3] === 1);
  if (vector) {
    const dim = d[1]!;
    if (dim < 2) throw modelMismatch(file, `output "${t.name}" is not a vector`, '[B, D] with D > 1', fmtDims(d));
    const data = Float32Array.from(t.data.subarray(0, batch * dim));
    if (spec.l2) l2NormalizeRows(data, dim);
    return { dim, data };
  }
  if (spec.pooling === 'none' || (d.length !== 3 && d.length !== 4)) {
    throw modelMismatch(
      file,
      `output "${t.name}" is not a vector${spec.pooling === 'none' ? ' and the manifest\'s embedding.pooling is "none"' : ''}`,
      spec.pooling === 'none' ? '[B, D] or [B, D, 1, 1] (or set "pooling" to "mean", "max" or "cls" for a feature map or tokens)' : '[B, D], [B, C, H, W] or [B, T, C]',
      fmtDims(d),
    );
  }
  // Feature map [B, C, H, W]: C channels of `positions` values each; tokens [B, T, C]: T rows of C.
  const tokens = d.length === 3;
  const dim = tokens ? d[2]! : d[1]!;
  const positions = tokens ? d[1]! : d[2]! * d[3]!;
  if (spec.pooling === 'cls' && !tokens) throw modelMismatch(file, `output "${t.name}" is a feature map, which has no class token`, '[B, T, C] for pooling "cls"', fmtDims(d));
  const per = dim * positions;
  const data = new Float32Array(batch * dim);
  for (let b = 0; b < batch; b++) {
    const src = t.data.subarray(b * per, (b + 1) * per);
    const out = data.subarray(b * dim, (b + 1) * dim);
    if (spec.pooling === 'cls') out.set(src.subarray(0, dim));
    else if (spec.pooling === 'mean') {
      for (let p = 0; p < positions; p++) for (let c = 0; c < dim; c++) out[c]! += tokens ? src[p * dim + c]! : src[c * positions + p]!;
      for (let c = 0; c < dim; c++) out[c]! /= positions;
    } else {
      out.fill(-Infinity);
      for (let p = 0; p < positions; p++) {
        for (let c = 0; c < dim; c++) {
          const v = tokens ? src[p * dim + c]! : src[c * positions + p]!;
          if (v > out[c]!) out[c] = v;
        }
      }
    }
  }
  if (spec.l2) l2NormalizeRows(data, dim);
  return { dim, data };
}

/** Scales each row of `dim` values to unit length in place; a zero row stays zero. */
export function l2NormalizeRows(data: Float32Array, dim: number): void {
  for (let o = 0; o < data.length; o += dim) {
    let s = 0;
    for (let i = o; i < o + dim; i++) s += data[i]! * data[i]!;
    if (s <= 0 || !Number.isFinite(s)) continue;
    const k = 1 / Math.sqrt(s);
    for (let i = o; i < o + dim; i++) data[i]! *= k;
  }
}

/**
 * Why a vector must not be stored, or null: a NaN or infinite value, or all values equal (a
 * model that sees nothing of the image gives the same constant vector for every photo).
 */
export function vectorProblem(v: ArrayLike<number>): string | null {
  const first = v[0]!;
  let same = true;
  for (let i = 0; i < v.length; i++) {
    const x = v[i]!;
    if (!Number.isFinite(x)) return `holds ${Number.isNaN(x) ? 'NaN' : 'infinite'} values`;
    if (x !== first) same = false;
  }
  if (same) return `has all ${v.length} values equal (${first})`;
  return null;
}

/** An error for a model whose vectors are broken: names the file, the output and the problem. */
export function badVectors(file: string, output: string, problem: string, image: string): AppError {
  return new AppError('INVALID_ARGUMENT', `${file}: output "${output}" ${problem} for ${image}: the model gives no usable embedding (check the output name, the preprocessing and the file)`, {
    file,
    output,
  });
}

/** Cosine similarity of two vectors (not assumed unit length). */
export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let ab = 0,
    aa = 0,
    bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i]! * b[i]!;
    aa += a[i]! * a[i]!;
    bb += b[i]! * b[i]!;
  }
  return aa > 0 && bb > 0 ? ab / Math.sqrt(aa * bb) : 0;
}

const num = (d: number | string | undefined): number | undefined => (typeof d === 'number' && d > 0 ? d : undefined);

/** Output names that say "the vector" in common exports (timm, Transformers, CLIP, the test fixture). */
const EMBEDDING_NAMES = /^(embeddings?|image_embeds|pooler_output|features?|pooled|last_hidden_state)$/i;

/**
 * An embed manifest for a model file given without one: the input as an image batch (ImageNet
 * conventions assumed and said so), the output named by `output`, else one whose name says it is
 * the embedding, else the first; its pooling from its shape ([B, D]: none, [B, C, H, W]: mean,
 * [B, T, C]: the class token). A named output the model does not have is an error listing those it has.
 */
export function proposeEmbedManifest(io: ModelIo, file: string, output?: string): { manifest: ModelManifest; problems: string[] } {
  const shapes = `inputs ${io.inputs.map((t) => `${t.name} ${fmtDims(t.dims)}`).join(', ')}; outputs ${io.outputs.map((t) => `${t.name} ${fmtDims(t.dims)}`).join(', ')}`;
  const input = io.inputs[0];
  const d = input?.dims ?? [];
  const nhwc = d.length === 4 && d[3] === 3 && d[1] !== 3;
  if (!input || d.length !== 4 || (typeof (nhwc ? d[3] : d[1]) === 'number' && (nhwc ? d[3] : d[1]) !== 3)) {
    throw new AppError('INVALID_ARGUMENT', `${file}: the first input is not an image batch [B, 3, H, W] or [B, H, W, 3] (${shapes})`, { file });
  }
  const out = output !== undefined ? io.outputs.find((o) => o.name === output) : (io.outputs.find((o) => EMBEDDING_NAMES.test(o.name)) ?? io.outputs[0]);
  if (!out) throw new AppError('INVALID_ARGUMENT', `${file}: the model has no output "${output}" (${shapes})`, { file, output });
  const od = out.dims;
  const problems: string[] = [];
  let pooling: EmbeddingPooling;
  if (od.length === 2 || (od.length === 4 && od[2] === 1 && od[3] === 1)) pooling = 'none';
  else if (od.length === 4) pooling = 'mean';
  else if (od.length === 3) pooling = 'cls';
  else throw new AppError('INVALID_ARGUMENT', `${file}: output "${out.name}" ${fmtDims(od)} is not a vector, a feature map [B, C, H, W] or tokens [B, T, C]`, { file, output: out.name });
  if (pooling !== 'none') problems.push(`output "${out.name}" ${fmtDims(od)} is ${pooling === 'mean' ? 'a feature map: averaged over its positions' : 'a token sequence: its first (class) token taken'}`);
  const ih = num(nhwc ? d[1] : d[2]), iw = num(nhwc ? d[2] : d[3]);
  const size: [number, number] = ih && iw ? [ih, iw] : [224, 224];
  if (!(ih && iw)) problems.push(`input size is dynamic ${fmtDims(d)}: assuming 224x224`);
  problems.push("input conventions assumed to be ImageNet's (RGB, /255, mean 0.485,0.456,0.406, std 0.229,0.224,0.225, short side resized then centre-cropped)");
  const base = file.split(/[\\/]/).pop() ?? file;
  const id = base.replace(/\.onnx$/i, '').toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^[^a-z0-9]+/, '') || 'model';
  const manifest: ModelManifest = {
    id,
    name: base.replace(/\.onnx$/i, ''),
    task: 'embed',
    input: input.name,
    size,
    colour: 'rgb',
    scale: 1 / 255,
    mean: [0.485, 0.456, 0.406],
    std: [0.229, 0.224, 0.225],
    letterbox: 'stretch',
    cropFrom: Math.round(size[0] / 0.875),
    ...(nhwc ? { layout: 'nhwc' as const } : {}),
    output: out.name,
    embedding: { pooling, l2: true },
    classes: [],
    thresholds: { score: 0, iou: 0, maxDetections: 1 },
    file,
  };
  return { manifest, problems };
}
