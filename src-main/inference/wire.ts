import type { ErrorData } from '../common/errors';
import type { Detection, DetectOverrides, ModelManifest } from '../common/inference/types';
import type { DetectResult, SessionKey } from './detect';
import type { ImageInput, PixelOptions } from './preprocess';
import type { EmbeddingTensor, SamDecodeArgs, SamEncodeArgs, SamFrame, SamModelKey, SamSource } from './sam';
import type { SessionOptions } from './sessions';

/** Messages between InferencePool and its workers. */
export interface DetectRequest {
  id: number;
  kind: 'detect';
  key: SessionKey;
  input: ImageInput;
  manifest: ModelManifest;
  overrides: DetectOverrides;
  pixels: PixelOptions;
}

/**
 * Inspects a model file in the worker, whose CPU session the runs that follow then reuse: it is
 * loaded with the thread settings given, which should be those of the runs to come.
 */
export interface InspectRequest {
  id: number;
  kind: 'inspect';
  file: string;
  threads?: Pick<SessionOptions, 'intraOpThreads' | 'spinning'>;
}

/** Loads a session ahead of the first image. */
export interface PrepareRequest {
  id: number;
  kind: 'prepare';
  key: SessionKey;
}

/** Embedding vectors of several images with an embed model; see inference/embed.ts. */
export interface EmbedRequest {
  id: number;
  kind: 'embed';
  key: SessionKey;
  inputs: ImageInput[];
  manifest: ModelManifest;
}

/** Asks a worker what it has loaded (diagnostics). */
export interface StatsRequest {
  id: number;
  kind: 'stats';
}

/** Encodes an image for a SAM-family pair (or finds its embedding cached); see inference/sam.ts. */
export interface SamEncodeRequest extends SamEncodeArgs {
  id: number;
  kind: 'samEncode';
}

/** Masks for a prompt on an embedding the worker holds; see inference/sam.ts. */
export interface SamDecodeRequest extends SamDecodeArgs {
  id: number;
  kind: 'samDecode';
}

/** Encodes in the worker and sends the embedding back without keeping it; see inference/sam.ts. */
export interface SamComputeRequest extends SamEncodeArgs {
  id: number;
  kind: 'samCompute';
  source: SamSource;
}

/** Hands the worker that decodes an embedding computed in another. */
export interface SamPutRequest {
  id: number;
  kind: 'samPut';
  key: string;
  /** Every encoder output, by name. */
  tensors: EmbeddingTensor[];
  frame: SamFrame;
}

/** The encoder's provider, warnings, inputs and outputs, from its session in the worker that encodes; see inference/sam.ts. */
export interface SamEncoderInfoRequest {
  id: number;
  kind: 'samEncoderInfo';
  model: SamModelKey;
}

/** Asks a worker how many images it has encoded and how many embeddings it holds (diagnostics, tests). */
export interface SamStatsRequest {
  id: number;
  kind: 'samStats';
}

export type WorkerRequest = DetectRequest | EmbedRequest | InspectRequest | PrepareRequest | StatsRequest | SamEncodeRequest | SamDecodeRequest | SamComputeRequest | SamPutRequest | SamStatsRequest | SamEncoderInfoRequest | { close: true };

/** One session a worker holds: its model file, provider order, intra-op threads and spinning (null: onnxruntime's default). */
export interface SessionInfo {
  file: string;
  providers: string[];
  intraOpThreads: number | null;
  spinning: boolean | null;
}

/** What one worker has loaded: `loads` counts every model load it did, `sessions` those it holds now. */
export interface WorkerStats {
  loads: number;
  sessions: SessionInfo[];
}

/**
 * The identity of a session in a worker's cache, the same on both sides of the channel, so the
 * pool can send a request to the worker that already holds its session. No providers means the CPU.
 */
export function sessionCacheKey(file: string, providers: readonly string[] | undefined, threads: number | undefined, spinning: boolean | undefined): string {
  const order = providers && providers.length > 0 ? providers : ['cpu'];
  return `${file}\u0000${order.join(',')}\u0000${threads ?? ''}\u0000${spinning ?? ''}`;
}

/**
 * Detections packed into typed arrays whose buffers are transferred, not copied: a segmentation
 * run carries one RLE per detection, and structured-cloning thousands of small arrays costs more
 * than the run's own post-processing.
 */
export interface PackedDetections {
  boxes: Float64Array;
  scores: Float32Array;
  classes: Int32Array;
  /** For each detection, its RLE counts, or an empty array when it has no mask. */
  maskCounts: Uint32Array[];
  maskSize: [number, number] | null;
  /** Rotated boxes (obb models), cx, cy, w, h, angle per detection; empty when the detections have none. */
  obbs?: Float64Array;
  /** Keypoints (pose models), `keypointCount` x, y, score triples per detection; empty when none. */
  keypoints?: Float64Array;
  keypointCount?: number;
  /** 1 for a detection that is an image tag (classify), else 0; absent when none is. */
  tags?: Uint8Array;
}

export type DetectReply =
  | { id: number; ok: true; packed: PackedDetections; timings: DetectResult['timings']; provider: DetectResult['provider']; warnings: string[]; semantic?: DetectResult['semantic'] }
  | { id: number; ok: false; error: ErrorData & { stack?: string } };

/** The answer to an inspect or stats request. */
export type ValueReply<T> = { id: number; ok: true; value: T } | { id: number; ok: false; error: ErrorData & { stack?: string } };

export function pack(dets: readonly Detection[]): { packed: PackedDetections; transfer: ArrayBuffer[] } {
  const n = dets.length;
  const boxes = new Float64Array(n * 4);
  const scores = new Float32Array(n);
  const classes = new Int32Array(n);
  const maskCounts: Uint32Array[] = [];
  let maskSize: [number, number] | null = null;
  const tags = dets.some((d) => d.tag) ? new Uint8Array(n) : undefined;
  dets.forEach((d, i) => {
    boxes.set([d.box.x, d.box.y, d.box.w, d.box.h], i * 4);
    scores[i] = d.score;
    classes[i] = d.classIndex;
    maskCounts.push(d.mask ? Uint32Array.from(d.mask.counts) : new Uint32Array(0));
    if (d.mask) maskSize = d.mask.size;
    if (tags && d.tag) tags[i] = 1;
  });
  // Every detection of one run has a rotated box, or keypoints of one count, or neither.
  const obbs = new Float64Array(dets[0]?.obb ? n * 5 : 0);
  const kc = (dets[0]?.keypoints?.length ?? 0) / 3;
  const keypoints = new Float64Array(n * kc * 3);
  dets.forEach((d, i) => {
    if (obbs.length > 0 && d.obb) obbs.set([d.obb.cx, d.obb.cy, d.obb.w, d.obb.h, d.obb.angle], i * 5);
    if (kc > 0 && d.keypoints) keypoints.set(d.keypoints.slice(0, kc * 3), i * kc * 3);
  });
  return {
    packed: { boxes, scores, classes, maskCounts, maskSize, obbs, keypoints, keypointCount: kc, ...(tags ? { tags } : {}) },
    transfer: [boxes.buffer, scores.buffer, classes.buffer, obbs.buffer, keypoints.buffer, ...maskCounts.map((m) => m.buffer as ArrayBuffer), ...(tags ? [tags.buffer as ArrayBuffer] : [])],
  };
}

export function unpack(p: PackedDetections): Detection[] {
  const out: Detection[] = [];
  for (let i = 0; i < p.scores.length; i++) {
    const d: Detection = {
      classIndex: p.classes[i]!,
      score: p.scores[i]!,
      box: { x: p.boxes[i * 4]!, y: p.boxes[i * 4 + 1]!, w: p.boxes[i * 4 + 2]!, h: p.boxes[i * 4 + 3]! },
    };
    const counts = p.maskCounts[i];
    if (p.maskSize && counts && counts.length > 0) d.mask = { size: p.maskSize, counts: Array.from(counts) };
    if (p.obbs && p.obbs.length > 0) d.obb = { cx: p.obbs[i * 5]!, cy: p.obbs[i * 5 + 1]!, w: p.obbs[i * 5 + 2]!, h: p.obbs[i * 5 + 3]!, angle: p.obbs[i * 5 + 4]! };
    const kc = p.keypointCount ?? 0;
    if (p.keypoints && kc > 0) d.keypoints = Array.from(p.keypoints.subarray(i * kc * 3, (i + 1) * kc * 3));
    if (p.tags?.[i]) d.tag = true;
    out.push(d);
  }
  return out;
}
