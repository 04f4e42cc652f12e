import ort from 'onnxruntime-node';
import { AppError } from '../common/errors';
import { fmtDims, modelMismatch, resolveInputSize } from '../common/inference/decode';
import { postprocess } from '../common/inference/postprocess';
import { modelInputTensor, resolveSemanticInput, semanticMaps, type SemanticMaps } from '../common/inference/semantic';
import type { Detection, DetectOverrides, DetectTimings, ModelManifest, OutputTensor, Provider } from '../common/inference/types';
import { preprocess, type ImageInput, type PixelOptions } from './preprocess';
import { getSession, type SessionOptions } from './sessions';
import { classifyInProcess } from './classify';

/** Which session runs a model: its file and the provider preference order. */
export interface SessionKey extends SessionOptions {
  file: string;
}

export interface DetectResult {
  detections: Detection[];
  timings: DetectTimings;
  provider: Provider;
  warnings: string[];
  /** Semantic models: the per-pixel classes of the input's region (detections stay empty). */
  semantic?: SemanticMaps;
}

/**
 * One image (or one region of it) through one model, in the calling thread: preprocess with sharp, session.run,
 * decode + NMS + masks. The app and CLI call it through InferencePool (a worker thread); this
 * function is what the worker runs.
 */
export async function detectInProcess(key: SessionKey, input: ImageInput, manifest: ModelManifest, overrides: DetectOverrides = {}, pixels: PixelOptions = {}): Promise<DetectResult> {
  if (manifest.task === 'classify') return classifyInProcess(key, input, manifest, overrides, pixels);
  if (manifest.task === 'embed') throw new AppError('INVALID_ARGUMENT', `model "${manifest.id}" (${key.file}): embed models compute embeddings, not predictions`, { id: manifest.id, file: key.file });
  const { session, provider, warnings } = await getSession(key.file, key);
  const inputName = manifest.input ?? session.inputNames[0]!;
  const meta = session.inputMetadata.find((m) => m.name === inputName);
  if (!meta) throw modelMismatch(key.file, 'the manifest names an input the model does not have', `input "${inputName}"`, `inputs ${session.inputNames.join(', ')}`);
  const dims = meta.isTensor ? meta.shape : [];
  if (manifest.task === 'semantic') return semanticInProcess(key, input, manifest, pixels, { session, provider, warnings, inputName, dims });
  const inputSize = resolveInputSize(manifest, dims, key.file, inputName);

  const t0 = performance.now();
  const pre = await preprocess(input, manifest, inputSize, pixels);
  const t1 = performance.now();
  if (pre.nodataOnly) return { detections: [], timings: { preMs: t1 - t0, runMs: 0, postMs: 0 }, provider, warnings };
  const feeds = { [inputName]: new ort.Tensor('float32', pre.tensor, [1, 3, inputSize[0], inputSize[1]]) };
  const results = await session.run(feeds);
  const t2 = performance.now();
  const outputs = floatOutputs(session, results, key.file);
  const detections = postprocess(outputs, manifest, pre.geometry, key.file, overrides);
  const t3 = performance.now();
  for (const t of Object.values(results)) t.dispose();
  return { detections, timings: { preMs: t1 - t0, runMs: t2 - t1, postMs: t3 - t2 }, provider, warnings };
}

type Session = Awaited<ReturnType<typeof getSession>>['session'];

function floatOutputs(session: Session, results: ort.InferenceSession.OnnxValueMapType, file: string): OutputTensor[] {
  return session.outputNames.map((name) => {
    const t = results[name]!;
    if (t.type !== 'float32') throw modelMismatch(file, `output "${name}" has element type ${t.type}`, 'float32', `${t.type} ${fmtDims(t.dims)}`);
    return { name, dims: t.dims, data: t.data as Float32Array };
  });
}

/**
 * A semantic segmenter on one image or region: the input laid out as the model declares it
 * (nchw or nhwc, one or three channels, optionally z-scored), and its scores turned into
 * per-pixel classes at the region's size (see common/inference/semantic.ts). Masks and instances
 * are made by the caller, after the tiles of an image are stitched.
 */
async function semanticInProcess(
  key: SessionKey,
  input: ImageInput,
  manifest: ModelManifest,
  pixels: PixelOptions,
  s: { session: Session; provider: Provider; warnings: string[]; inputName: string; dims: readonly (number | string)[] },
): Promise<DetectResult> {
  const spec = resolveSemanticInput(manifest, s.dims, key.file, s.inputName);
  const t0 = performance.now();
  const pre = await preprocess(input, manifest, spec.size, pixels);
  const t1 = performance.now();
  if (pre.nodataOnly) return { detections: [], timings: { preMs: t1 - t0, runMs: 0, postMs: 0 }, provider: s.provider, warnings: s.warnings };
  const data = modelInputTensor(pre.tensor, pre.geometry, manifest, spec, pixels.zscore);
  const [h, w] = spec.size;
  const shape = spec.layout === 'nhwc' ? [1, h, w, spec.channels] : [1, spec.channels, h, w];
  const results = await s.session.run({ [s.inputName]: new ort.Tensor('float32', data, shape) });
  const t2 = performance.now();
  const semantic = semanticMaps(floatOutputs(s.session, results, key.file), manifest, pre.geometry, key.file);
  const t3 = performance.now();
  for (const t of Object.values(results)) t.dispose();
  return { detections: [], semantic, timings: { preMs: t1 - t0, runMs: t2 - t1, postMs: t3 - t2 }, provider: s.provider, warnings: s.warnings };
}
