import ort from 'onnxruntime-node';
import { fmtDims, modelMismatch, resolveInputSize } from '../common/inference/decode';
import { postprocess } from '../common/inference/postprocess';
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
}

/**
 * One image (or one region of it) through one model, in the calling thread: preprocess with sharp, session.run,
 * decode + NMS + masks. The app and CLI call it through InferencePool (a worker thread); this
 * function is what the worker runs.
 */
export async function detectInProcess(key: SessionKey, input: ImageInput, manifest: ModelManifest, overrides: DetectOverrides = {}, pixels: PixelOptions = {}): Promise<DetectResult> {
  if (manifest.task === 'classify') return classifyInProcess(key, input, manifest, overrides, pixels);
  const { session, provider, warnings } = await getSession(key.file, key);
  const inputName = manifest.input ?? session.inputNames[0]!;
  const meta = session.inputMetadata.find((m) => m.name === inputName);
  if (!meta) throw modelMismatch(key.file, 'the manifest names an input the model does not have', `input "${inputName}"`, `inputs ${session.inputNames.join(', ')}`);
  const dims = meta.isTensor ? meta.shape : [];
  const inputSize = resolveInputSize(manifest, dims, key.file, inputName);

  const t0 = performance.now();
  const pre = await preprocess(input, manifest, inputSize, pixels);
  const t1 = performance.now();
  if (pre.nodataOnly) return { detections: [], timings: { preMs: t1 - t0, runMs: 0, postMs: 0 }, provider, warnings };
  const feeds = { [inputName]: new ort.Tensor('float32', pre.tensor, [1, 3, inputSize[0], inputSize[1]]) };
  const results = await session.run(feeds);
  const t2 = performance.now();
  const outputs: OutputTensor[] = session.outputNames.map((name) => {
    const t = results[name]!;
    if (t.type !== 'float32') throw modelMismatch(key.file, `output "${name}" has element type ${t.type}`, 'float32', `${t.type} ${fmtDims(t.dims)}`);
    return { name, dims: t.dims, data: t.data as Float32Array };
  });
  const detections = postprocess(outputs, manifest, pre.geometry, key.file, overrides);
  const t3 = performance.now();
  for (const t of Object.values(results)) t.dispose();
  return { detections, timings: { preMs: t1 - t0, runMs: t2 - t1, postMs: t3 - t2 }, provider, warnings };
}
