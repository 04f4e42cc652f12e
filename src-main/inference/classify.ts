import ort from 'onnxruntime-node';
import { classifyCrop, classifyOutput, classScores, DEFAULT_TOP_K, topTags } from '../common/inference/classify';
import { fmtDims, modelMismatch, resolveInputSize } from '../common/inference/decode';
import { modelInputTensor } from '../common/inference/semantic';
import type { DetectOverrides, ModelManifest, OutputTensor, RawPixels } from '../common/inference/types';
import type { DetectResult, SessionKey } from './detect';
import { orientedSize, preprocess, type ImageInput, type PixelOptions } from './preprocess';
import { getSession } from './sessions';

/** The input size of a classifier, from a [1, 3, H, W] input (NCHW) or a [1, H, W, 3] one (NHWC). */
export function inputSizeOf(m: ModelManifest, dims: readonly (number | string)[], file: string, name: string): [number, number] {
  if (m.layout !== 'nhwc') return resolveInputSize(m, dims, file, name);
  const want: [number, number] = m.size === 'dynamic' ? (m.defaultSize ?? [224, 224]) : m.size;
  const fits = dims.length === 4 && (typeof dims[3] !== 'number' || dims[3] === 3) && [dims[1], dims[2]].every((d, i) => typeof d !== 'number' || d === want[i]);
  if (!fits) throw modelMismatch(file, `input "${name}" is not an NHWC image batch of the manifest's size`, `[1, ${want[0]}, ${want[1]}, 3]`, fmtDims(dims));
  return want;
}

export function cropRaw(r: RawPixels, c: { x: number; y: number; w: number; h: number }): RawPixels {
  const ch = r.channels;
  const out = new Uint8Array(c.w * c.h * ch);
  for (let y = 0; y < c.h; y++) out.set(r.data.subarray(((c.y + y) * r.width + c.x) * ch, ((c.y + y) * r.width + c.x + c.w) * ch), y * c.w * ch);
  return { data: out, width: c.w, height: c.h, channels: ch };
}

/** NCHW [1, 3, H, W] to NHWC [1, H, W, 3]. */
export function toNhwc(t: Float32Array, h: number, w: number): Float32Array {
  const plane = h * w;
  const out = new Float32Array(3 * plane);
  for (let p = 0; p < plane; p++) for (let c = 0; c < 3; c++) out[p * 3 + c] = t[c * plane + p]!;
  return out;
}

/**
 * One image through a classifier: the centre crop (`cropFrom`) or the whole image resized to the
 * input, the manifest's mean/std (and `normalize`) and layout, then the output's activation; the `topK` best
 * classes at or above the score threshold come back as tags of the whole image.
 */
export async function classifyInProcess(key: SessionKey, input: ImageInput, manifest: ModelManifest, overrides: DetectOverrides = {}, pixels: PixelOptions = {}): Promise<DetectResult> {
  const { session, provider, warnings } = await getSession(key.file, key);
  const inputName = manifest.input ?? session.inputNames[0]!;
  const meta = session.inputMetadata.find((m) => m.name === inputName);
  if (!meta) throw modelMismatch(key.file, 'the manifest names an input the model does not have', `input "${inputName}"`, `inputs ${session.inputNames.join(', ')}`);
  const [h, w] = inputSizeOf(manifest, meta.isTensor ? meta.shape : [], key.file, inputName);

  const t0 = performance.now();
  // The image's own size (the region's, for a tile), then the part of it the network sees.
  let image: { width: number; height: number };
  let source: ImageInput;
  if (typeof input === 'object' && 'raw' in input) {
    image = { width: input.raw.width, height: input.raw.height };
    const crop = classifyCrop(manifest, [h, w], image.width, image.height);
    source = { raw: manifest.cropFrom ? cropRaw(input.raw, crop) : input.raw };
  } else {
    const file = typeof input === 'string' ? input : input.path;
    const region = typeof input === 'string' ? undefined : input.region;
    const known = typeof input === 'string' ? undefined : input.size;
    image = region ? { width: region.w, height: region.h } : (known ?? (await orientedSize(file, file)));
    const crop = classifyCrop(manifest, [h, w], image.width, image.height);
    const at = region ? { x: region.x + crop.x, y: region.y + crop.y, w: crop.w, h: crop.h } : crop;
    source = manifest.cropFrom || region ? { path: file, region: at } : { path: file, ...(known ? { size: known } : {}) };
  }
  const pre = await preprocess(source, { ...manifest, letterbox: 'stretch' }, [h, w], pixels);
  const t1 = performance.now();
  if (pre.nodataOnly) return { detections: [], timings: { preMs: t1 - t0, runMs: 0, postMs: 0 }, provider, warnings };
  const nhwc = manifest.layout === 'nhwc';
  // normalize "zscore": each channel zero-mean, unit-variance over the image the network sees.
  const planes = manifest.normalize === 'zscore' ? modelInputTensor(pre.tensor, pre.geometry, manifest, { layout: 'nchw', channels: 3, size: [h, w] }) : pre.tensor;
  const feeds = { [inputName]: new ort.Tensor('float32', nhwc ? toNhwc(planes, h, w) : planes, nhwc ? [1, h, w, 3] : [1, 3, h, w]) };
  const wanted = manifest.output ?? session.outputNames[0]!;
  if (!session.outputNames.includes(wanted)) throw modelMismatch(key.file, 'the manifest names an output the model does not have', `output "${wanted}"`, `outputs ${session.outputNames.join(', ')}`);
  const results = await session.run(feeds, [wanted]);
  const t2 = performance.now();
  const outputs: OutputTensor[] = Object.entries(results).map(([name, t]) => {
    if (t.type !== 'float32') throw modelMismatch(key.file, `output "${name}" has element type ${t.type}`, 'float32', `${t.type} ${fmtDims(t.dims)}`);
    return { name, dims: t.dims, data: t.data as Float32Array };
  });
  const scores = classScores(classifyOutput(outputs, manifest, key.file), manifest, key.file);
  const detections = topTags(scores, manifest.topK ?? DEFAULT_TOP_K, overrides.score ?? manifest.thresholds.score, image.width, image.height);
  const t3 = performance.now();
  for (const t of Object.values(results)) t.dispose();
  return { detections, timings: { preMs: t1 - t0, runMs: t2 - t1, postMs: t3 - t2 }, provider, warnings };
}
