import ort from 'onnxruntime-node';
import { toErrorData } from '../common/errors';
import { classifyCrop } from '../common/inference/classify';
import { fmtDims, modelMismatch } from '../common/inference/decode';
import { DEFAULT_EMBEDDING, poolEmbeddings } from '../common/inference/embed';
import { modelInputTensor } from '../common/inference/semantic';
import type { ModelManifest, Provider } from '../common/inference/types';
import { cropRaw, inputSizeOf, toNhwc } from './classify';
import type { SessionKey } from './detect';
import { orientedSize, preprocess, type ImageInput } from './preprocess';
import { getSession } from './sessions';

export interface EmbedTimings {
  preMs: number;
  runMs: number;
  postMs: number;
}

export interface EmbedResult {
  /** Values per vector. */
  dim: number;
  /** One row of `dim` values per input that has a vector (see `rows`), row-major. */
  data: Float32Array;
  /** For each row of `data`, the index of its input. */
  rows: number[];
  /** Inputs that could not be read (missing, corrupt), with the reason; they have no row. */
  failures: { index: number; code: string; message: string }[];
  /** The largest batch the model's input takes: null when its batch dimension is dynamic. */
  maxBatch: number | null;
  timings: EmbedTimings;
  provider: Provider;
  warnings: string[];
}

/** The model input of one image: the manifest's centre crop (`cropFrom`) or the whole image or region, resized. */
async function modelInput(input: ImageInput, manifest: ModelManifest, size: [number, number]): Promise<Float32Array> {
  let source: ImageInput;
  if (typeof input === 'object' && 'raw' in input) {
    const crop = classifyCrop(manifest, size, input.raw.width, input.raw.height);
    source = { raw: manifest.cropFrom ? cropRaw(input.raw, crop) : input.raw };
  } else {
    const file = typeof input === 'string' ? input : input.path;
    const region = typeof input === 'string' ? undefined : input.region;
    const known = typeof input === 'string' ? undefined : input.size;
    const image = region ? { width: region.w, height: region.h } : (known ?? (await orientedSize(file, file)));
    const crop = classifyCrop(manifest, size, image.width, image.height);
    const at = region ? { x: region.x + crop.x, y: region.y + crop.y, w: crop.w, h: crop.h } : crop;
    source = manifest.cropFrom || region ? { path: file, region: at } : { path: file, ...(known ? { size: known } : {}) };
  }
  const pre = await preprocess(source, { ...manifest, letterbox: 'stretch' }, size);
  return manifest.normalize === 'zscore' ? modelInputTensor(pre.tensor, pre.geometry, manifest, { layout: 'nchw', channels: 3, size }) : pre.tensor;
}

/**
 * Embedding vectors of several images with an embed model: each image preprocessed as the
 * manifest says (as a classifier's: centre crop or whole image, mean/std, layout), then the
 * images run together in batches (one run when the input's batch dimension is dynamic, else
 * batches of its fixed size), the `output` pooled and normalised (common/inference/embed.ts).
 * An image that cannot be read is reported in `failures`; a model that does not fit (input,
 * output name or shape) throws an error naming the file.
 */
export async function embedInProcess(key: SessionKey, inputs: readonly ImageInput[], manifest: ModelManifest): Promise<EmbedResult> {
  const { session, provider, warnings } = await getSession(key.file, key);
  const inputName = manifest.input ?? session.inputNames[0]!;
  const meta = session.inputMetadata.find((m) => m.name === inputName);
  if (!meta) throw modelMismatch(key.file, 'the manifest names an input the model does not have', `input "${inputName}"`, `inputs ${session.inputNames.join(', ')}`);
  const dims = meta.isTensor ? meta.shape : [];
  const [h, w] = inputSizeOf(manifest, dims, key.file, inputName);
  const wanted = manifest.output ?? session.outputNames[0]!;
  if (!session.outputNames.includes(wanted)) {
    throw modelMismatch(key.file, 'the manifest names an output the model does not have', `output "${wanted}"`, `outputs ${session.outputNames.join(', ')}`);
  }
  const fixedBatch = typeof dims[0] === 'number' && dims[0] > 0 ? dims[0] : null;
  const spec = manifest.embedding ?? DEFAULT_EMBEDDING;
  const nhwc = manifest.layout === 'nhwc';
  const plane = 3 * h * w;

  const t0 = performance.now();
  const failures: EmbedResult['failures'] = [];
  const tensors: { index: number; data: Float32Array }[] = [];
  const pre = await Promise.all(
    inputs.map((input, index) =>
      modelInput(input, manifest, [h, w]).then(
        (t) => ({ index, t }),
        (e: unknown) => {
          const d = toErrorData(e);
          failures.push({ index, code: d.code, message: d.message });
          return null;
        },
      ),
    ),
  );
  for (const p of pre) if (p) tensors.push({ index: p.index, data: nhwc ? toNhwc(p.t, h, w) : p.t });
  const t1 = performance.now();

  const step = fixedBatch ?? Math.max(1, tensors.length);
  let dim = 0;
  const chunks: Float32Array[] = [];
  let runMs = 0;
  for (let start = 0; start < tensors.length; start += step) {
    const part = tensors.slice(start, start + step);
    // A fixed batch larger than what is left is filled with copies of the last image.
    const n = fixedBatch ?? part.length;
    const feed = new Float32Array(n * plane);
    for (let i = 0; i < n; i++) feed.set(part[Math.min(i, part.length - 1)]!.data, i * plane);
    const r0 = performance.now();
    const results = await session.run({ [inputName]: new ort.Tensor('float32', feed, nhwc ? [n, h, w, 3] : [n, 3, h, w]) }, [wanted]);
    runMs += performance.now() - r0;
    const out = results[wanted]!;
    try {
      if (out.type !== 'float32') throw modelMismatch(key.file, `output "${wanted}" has element type ${out.type}`, 'float32', `${out.type} ${fmtDims(out.dims)}`);
      const pooled = poolEmbeddings({ name: wanted, dims: out.dims, data: out.data as Float32Array }, spec, n, key.file);
      if (dim !== 0 && pooled.dim !== dim) throw modelMismatch(key.file, `output "${wanted}" changed its size between batches`, `${dim} values`, `${pooled.dim}`);
      dim = pooled.dim;
      chunks.push(pooled.data.subarray(0, part.length * dim));
    } finally {
      for (const t of Object.values(results)) t.dispose();
    }
  }
  const data = new Float32Array(tensors.length * dim);
  let o = 0;
  for (const c of chunks) {
    data.set(c, o);
    o += c.length;
  }
  const t2 = performance.now();
  return {
    dim,
    data,
    rows: tensors.map((t) => t.index),
    failures: failures.sort((a, b) => a.index - b.index),
    maxBatch: fixedBatch,
    timings: { preMs: t1 - t0, runMs, postMs: t2 - t1 - runMs },
    provider,
    warnings,
  };
}
