import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { threadId } from 'node:worker_threads';
import ort from 'onnxruntime-node';
import sharp, { type Sharp } from 'sharp';
import { AppError } from '../common/errors';
import type { Provider, RawPixels } from '../common/inference/types';
import type { SegmentBox, SegmentPoint, SegmentRegion } from '../common/segment';
import { inspectSamPair, type SamPairLayout } from '../common/inference/samFamily';
import type { ModelIo } from '../common/inference/types';
import { cacheCapBytes, prune, touch } from './samDiskCache';
import { getSession } from './sessions';

/**
 * SAM-family models (Segment Anything / MobileSAM / SlimSAM, EfficientViT-SAM, SAM 2) in the
 * worker thread: the encoder runs once per image (or region) and its outputs (one embedding, or
 * SAM 2's three feature maps) stay here, in a small LRU and in a file of the dataset's cache, so
 * the per-prompt decoder only sends the prompt in and the mask's runs out; the embedding and the
 * 256×256 low-resolution mask fed back for refinement never cross the channel. Each family is
 * fed and postprocessed as its reference code does (see familyPromptTensors and maskToFrame).
 */

/** Which sessions run a SAM-family pair: the two files and the session settings. */
export interface SamModelKey {
  encoder: string;
  decoder: string;
  providers?: Provider[];
  intraOpThreads?: number;
  spinning?: boolean;
}

/** The encoder's preprocessing (from the manifest). */
export interface SamPreprocessing {
  family: string;
  inputSize: number;
  mean: [number, number, number];
  std: [number, number, number];
}

/**
 * What the encoder reads: pixels the caller decoded (already cut to the region, at any
 * resolution), or a page of an 8-bit file that libvips reads itself (oriented, cut to the region).
 */
export type SamSource = { raw: RawPixels } | { path: string; page: number };

/**
 * Where an embedding sits in the image: `region` is the part of the oriented image (image pixels)
 * the encoder saw; `width`/`height` the whole image's size, the frame of the masks.
 */
export interface SamFrame {
  region: SegmentRegion;
  width: number;
  height: number;
}

/**
 * What the thread that decodes needs of the encoder without loading it: the provider its thread
 * runs it on, that load's warnings, and its inputs and outputs (for the pair's layout). Read once
 * in the encoder's thread (samEncoderInfo) and sent along with requests.
 */
export interface SamEncoderInfo {
  provider: Provider;
  warnings: string[];
  io: ModelIo;
}

export interface SamEncodeArgs {
  model: SamModelKey;
  /** The encoder as its thread loaded it; without it, this thread loads the encoder itself. */
  encoderInfo?: SamEncoderInfo;
  pre: SamPreprocessing;
  /** Identity of the embedding: model, image content, frame, region and window. */
  key: string;
  /** The embedding's file in the dataset cache, or null for none. */
  diskFile: string | null;
  frame: SamFrame;
  /** Null asks only whether the embedding is cached: `needsSource` says to send the pixels. */
  source: SamSource | null;
}

export interface SamDecodeArgs {
  model: SamModelKey;
  /** The encoder as its thread loaded it; without it, this thread loads the encoder itself. */
  encoderInfo?: SamEncoderInfo;
  pre: SamPreprocessing;
  key: string;
  diskFile: string | null;
  points: SegmentPoint[];
  box?: SegmentBox;
  /** The low-resolution mask to feed back as mask_input: the `lowResId` of a candidate of an earlier answer. */
  refineFrom?: string | undefined;
  /** Keep each candidate's low-resolution mask for a later prompt to refine from (answers then carry `lowResId`). */
  keepLowRes?: boolean | undefined;
}

export interface SamEncodeValue {
  encodeMs: number;
  /** 'memory' or 'disk' when the embedding was already there, else null (it was encoded now). */
  cached: 'memory' | 'disk' | null;
  provider: Provider;
  warnings: string[];
  /** Not cached, and no source was given: send the pixels. */
  needsSource?: boolean;
}

/** One candidate mask, COCO RLE over the whole image, its runs transferred. */
export interface SamMaskValue {
  counts: Uint32Array;
  size: [number, number];
  area: number;
  bbox: [number, number, number, number];
  score: number;
  /** The id of this candidate's low-resolution mask kept in this thread, to refine from; absent when none is kept. */
  lowResId?: string;
}

export interface SamDecodeValue {
  /** False when the embedding is neither in memory nor on disk: encode first. */
  found: boolean;
  cached: 'memory' | 'disk' | null;
  masks: SamMaskValue[];
  /** Decoder session.run alone. */
  runMs: number;
  /** Everything in the worker: prompt tensors, run, thresholding and run-length encoding. */
  decodeMs: number;
  provider: Provider;
  warnings: string[];
  /** What the decoder was fed for refinement: has_mask_input, and the cells of mask_input above 0 (inside the fed mask). */
  fed: { hasMaskInput: number; maskInputInside: number };
}

/** Masks larger than this (long side) are decoded at this size and scaled up to the image. */
export const MAX_MASK_SIDE = 4096;
const LOW_RES = 256;

/** One encoder output, by its name in the encoder. */
export interface EmbeddingTensor {
  name: string;
  data: Float32Array;
  dims: number[];
}

/** Every output of the encoder for one image (SAM 2 has three: two high-resolution feature maps and the embedding). */
interface Embedding {
  tensors: EmbeddingTensor[];
  frame: SamFrame;
}

/** Embeddings kept in this thread, most recently used last. */
const MEMORY_SLOTS = 6;
const embeddings = new Map<string, Embedding>();
/**
 * Low-resolution masks of recent answers by id, most recently used last, fed back when a prompt
 * names one to refine from: the caller says which answer it shows, so an answer it dropped or
 * took back is never what the next prompt is conditioned on.
 */
const LOW_RES_SLOTS = 64;
const lowRes = new Map<string, { key: string; decoder: string; mask: Float32Array }>();
let lowResIds = 0;
const ZERO_MASK = new Float32Array(LOW_RES * LOW_RES);
/** Encodes so far in this thread (tests check that a cached image is not encoded again). */
let encodes = 0;

export function samStats(): { encodes: number; embeddings: number } {
  return { encodes, embeddings: embeddings.size };
}

function remember(key: string, e: Embedding): void {
  embeddings.delete(key);
  embeddings.set(key, e);
  while (embeddings.size > MEMORY_SLOTS) {
    const oldest = embeddings.keys().next().value as string;
    embeddings.delete(oldest);
  }
}

function recall(key: string): Embedding | null {
  const e = embeddings.get(key);
  if (!e) return null;
  embeddings.delete(key);
  embeddings.set(key, e);
  return e;
}

/** ResizeLongestSide: the scale and the resized size of a w×h picture whose long side becomes `side`. */
export function longestSide(w: number, h: number, side: number): { scale: number; newW: number; newH: number } {
  const scale = side / Math.max(w, h);
  return { scale, newW: Math.floor(w * scale + 0.5), newH: Math.floor(h * scale + 0.5) };
}

const FAMILIES = ['sam', 'efficientvit-sam', 'sam2'];

function requireFamily(pre: SamPreprocessing, file: string): void {
  if (!FAMILIES.includes(pre.family)) {
    throw new AppError('UNSUPPORTED', `${file}: unknown SAM family "${pre.family}" (known: ${FAMILIES.join(', ')})`, { family: pre.family });
  }
}

// ---------------------------------------------------------------------------------------------
// Disk cache: magic, header length, JSON header (key, frame, each tensor's name and dims, sha256 of
// the data), then the tensors' float32 data one after another.

const MAGIC = Buffer.from('TSAMEMB2');

function readDisk(file: string, key: string): Embedding | null {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch {
    return null;
  }
  try {
    if (buf.length < 12 || !buf.subarray(0, 8).equals(MAGIC)) return null;
    const headerLen = buf.readUInt32LE(8);
    if (12 + headerLen > buf.length) return null;
    const header = JSON.parse(buf.subarray(12, 12 + headerLen).toString('utf8')) as { key?: unknown; tensors?: unknown; frame?: unknown; sha256?: unknown };
    if (header.key !== key || !Array.isArray(header.tensors) || header.tensors.length === 0 || typeof header.sha256 !== 'string') return null;
    const specs = header.tensors as { name: string; dims: number[] }[];
    const sizes = specs.map((t) => (Array.isArray(t.dims) ? t.dims.reduce((a, b) => a * b, 1) : NaN));
    const body = buf.subarray(12 + headerLen);
    if (!sizes.every(Number.isInteger) || body.length !== sizes.reduce((a, b) => a + b, 0) * 4) return null;
    if (createHash('sha256').update(body).digest('hex') !== header.sha256) return null;
    let at = 0;
    const tensors = specs.map((t, i) => {
      const data = new Float32Array(sizes[i]!);
      new Uint8Array(data.buffer).set(body.subarray(at, at + data.byteLength));
      at += data.byteLength;
      return { name: String(t.name), data, dims: t.dims };
    });
    touch(file);
    return { tensors, frame: header.frame as SamFrame };
  } catch {
    return null;
  }
}

/**
 * Written beside its final name and renamed, so a reader never sees half a file; then the least
 * recently used embeddings go until the cache is under its cap (samDiskCache.ts). A cap of 0
 * keeps nothing on disk.
 */
function writeDisk(file: string, key: string, e: Embedding): string | null {
  const cap = cacheCapBytes();
  if (cap === 0) return null;
  try {
    const body = Buffer.concat(e.tensors.map((t) => Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength)));
    const tensors = e.tensors.map((t) => ({ name: t.name, dims: t.dims }));
    const header = Buffer.from(JSON.stringify({ key, tensors, frame: e.frame, sha256: createHash('sha256').update(body).digest('hex') }));
    const len = Buffer.alloc(4);
    len.writeUInt32LE(header.length);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.${threadId}.${Date.now()}.tmp`;
    fs.writeFileSync(tmp, Buffer.concat([MAGIC, len, header, body]));
    fs.renameSync(tmp, file);
    prune(path.dirname(path.dirname(file)), cap, file);
    return null;
  } catch (err) {
    return `${file}: the embedding could not be cached on disk: ${err instanceof Error ? err.message : String(err)}`;
  }
}

// ---------------------------------------------------------------------------------------------
// Encoder

/**
 * How an encoder takes the image: 'nchw' [1,3,S,S] normalised and padded here (Segment Anything's
 * own preprocessing); 'hwc' [H,W,3] RGB 0-255 resized only, the model normalising and padding
 * itself (samexporter's `--use-preprocess` exports, e.g. X-AnyLabeling's MobileSAM).
 */
export type SamInputLayout = 'nchw' | 'hwc';

/**
 * RGB pixels of the region resized so its long side is `S` (ResizeLongestSide), interleaved; or,
 * with `stretch`, resized to S×S whatever its aspect ratio (SAM 2).
 */
async function resizedRgb(source: SamSource, region: SegmentRegion, S: number, stretch = false): Promise<{ data: Buffer; width: number; height: number; channels: number }> {
  const { newW, newH } = stretch ? { newW: S, newH: S } : longestSide(region.w, region.h, S);
  let img: Sharp;
  if ('raw' in source) {
    const r = source.raw;
    img = sharp(Buffer.from(r.data.buffer, r.data.byteOffset, r.data.byteLength), { raw: { width: r.width, height: r.height, channels: r.channels } });
  } else {
    img = sharp(source.path, { page: source.page, limitInputPixels: false }).rotate();
    const meta = await sharp(source.path, { page: source.page, limitInputPixels: false }).metadata();
    const swap = (meta.orientation ?? 1) >= 5;
    const W = swap ? meta.height! : meta.width!, H = swap ? meta.width! : meta.height!;
    if (region.x !== 0 || region.y !== 0 || region.w !== W || region.h !== H) {
      img = img.extract({ left: region.x, top: region.y, width: region.w, height: region.h });
    }
  }
  const { data, info } = await img
    .resize(newW, newH, { fit: 'fill', kernel: 'linear' })
    .removeAlpha()
    .toColourspace('srgb')
    .raw()
    .toBuffer({ resolveWithObject: true })
    .catch((e: unknown) => {
      const name = 'raw' in source ? 'decoded pixels' : source.path;
      throw new AppError('CORRUPT_IMAGE', `${name}: cannot decode the image: ${e instanceof Error ? e.message : String(e)}`);
    });
  if (info.width !== newW || info.height !== newH) throw new AppError('INTERNAL', `resizing gave ${info.width}x${info.height}, expected ${newW}x${newH}`);
  return { data, width: newW, height: newH, channels: info.channels };
}

/** The encoder input: RGB resized (ResizeLongestSide), normalised, padded bottom/right with zeros, NCHW. */
export async function samInputTensor(source: SamSource, region: SegmentRegion, pre: SamPreprocessing): Promise<Float32Array> {
  const S = pre.inputSize;
  const { data, width: newW, height: newH, channels: ch } = await resizedRgb(source, region, S);
  const plane = S * S;
  const tensor = new Float32Array(3 * plane);
  for (let c = 0; c < 3; c++) {
    const a = 1 / pre.std[c]!, b = -pre.mean[c]! / pre.std[c]!;
    const sc = ch >= 3 ? c : 0;
    const out = tensor.subarray(c * plane, (c + 1) * plane);
    for (let y = 0; y < newH; y++) {
      let i = y * newW * ch + sc;
      for (let o = y * S, end = o + newW; o < end; o++, i += ch) out[o] = data[i]! * a + b;
    }
  }
  return tensor;
}

/**
 * SAM 2's encoder input (samexporter's SAM2ImageEncoder.prepare_input): the region stretched to
 * S×S without keeping its aspect ratio, (x / 255 - mean) / std with ImageNet's mean and std
 * (the manifest's, in 0-255 units: the same numbers times 255), NCHW; no padding.
 */
export async function samInputStretched(source: SamSource, region: SegmentRegion, pre: SamPreprocessing): Promise<Float32Array> {
  const S = pre.inputSize;
  const { data, channels: ch } = await resizedRgb(source, region, S, true);
  const plane = S * S;
  const tensor = new Float32Array(3 * plane);
  for (let c = 0; c < 3; c++) {
    const a = 1 / pre.std[c]!, b = -pre.mean[c]! / pre.std[c]!;
    const sc = ch >= 3 ? c : 0;
    const out = tensor.subarray(c * plane, (c + 1) * plane);
    for (let o = 0, i = sc; o < plane; o++, i += ch) out[o] = data[i]! * a + b;
  }
  return tensor;
}

/** The input of an encoder that preprocesses itself: [newH, newW, 3] RGB 0-255, resized only. */
export async function samInputHwc(source: SamSource, region: SegmentRegion, inputSize: number): Promise<{ data: Float32Array; dims: [number, number, 3] }> {
  const { data, width, height, channels: ch } = await resizedRgb(source, region, inputSize);
  const out = new Float32Array(width * height * 3);
  for (let p = 0, i = 0; p < width * height; p++, i += ch) {
    out[p * 3] = data[i]!;
    out[p * 3 + 1] = data[ch >= 3 ? i + 1 : i]!;
    out[p * 3 + 2] = data[ch >= 3 ? i + 2 : i]!;
  }
  return { data: out, dims: [height, width, 3] };
}

/** The layout an encoder's image input asks for, or null when it is neither. */
export function inputLayout(shape: readonly (number | string)[], inputSize: number): SamInputLayout | null {
  const fixedOr = (d: number | string | undefined, want: number) => typeof d !== 'number' || d < 0 || d === want;
  if (shape.length === 4 && fixedOr(shape[0], 1) && shape[1] === 3 && fixedOr(shape[2], inputSize) && fixedOr(shape[3], inputSize)) return 'nchw';
  if (shape.length === 3 && shape[2] === 3) return 'hwc';
  return null;
}

async function encodeNow(a: SamEncodeArgs, source: SamSource): Promise<{ embedding: Embedding; provider: Provider; warnings: string[] }> {
  const { session, provider, warnings } = await getSession(a.model.encoder, a.model);
  const name = session.inputNames[0]!;
  const meta = session.inputMetadata[0];
  const S = a.pre.inputSize;
  const shape = meta && meta.isTensor ? meta.shape : [];
  const found = meta && meta.isTensor && meta.type === 'float32' ? inputLayout(shape, S) : null;
  // Only Segment Anything's own exports come in both layouts; EfficientViT-SAM and SAM 2 take [1,3,S,S].
  const layout = found === 'hwc' && a.pre.family !== 'sam' ? null : found;
  if (!layout) {
    const type = meta && meta.isTensor ? `${meta.type} ` : '';
    const wanted = a.pre.family === 'sam' ? `float32 [1,3,${S},${S}] (the manifest's inputSize) or [H,W,3]` : `float32 [1,3,${S},${S}] (the manifest's inputSize)`;
    throw new AppError('UNSUPPORTED_FORMAT', `${a.model.encoder}: encoder input "${name}" is ${type}[${shape.join(',')}], expected ${wanted}`, { file: a.model.encoder });
  }
  const input =
    layout === 'hwc'
      ? await samInputHwc(source, a.frame.region, S).then((t) => new ort.Tensor('float32', t.data, t.dims))
      : new ort.Tensor('float32', a.pre.family === 'sam2' ? await samInputStretched(source, a.frame.region, a.pre) : await samInputTensor(source, a.frame.region, a.pre), [1, 3, S, S]);
  const out = await session.run({ [name]: input });
  // Every output is kept: the decoder's layout says which one feeds which of its inputs.
  const tensors: EmbeddingTensor[] = session.outputNames.map((outName) => {
    const t = out[outName]!;
    if (t.type !== 'float32') throw new AppError('UNSUPPORTED_FORMAT', `${a.model.encoder}: output "${outName}" is ${t.type}, expected float32`, { file: a.model.encoder });
    return { name: outName, data: t.data as Float32Array, dims: [...t.dims] };
  });
  encodes++;
  return { embedding: { tensors, frame: a.frame }, provider, warnings };
}

/** The encoder's provider, load warnings, inputs and outputs, from its session in this thread. */
export async function samEncoderInfo(model: SamModelKey): Promise<SamEncoderInfo> {
  const { session, provider, warnings } = await getSession(model.encoder, model);
  return { provider, warnings, io: sessionIo(session) };
}

function sessionIo(session: ort.InferenceSession): ModelIo {
  const dims = (m: (typeof session.inputMetadata)[number]) => (m.isTensor ? [...m.shape] : []);
  return { inputs: session.inputMetadata.map((m) => ({ name: m.name, dims: dims(m) })), outputs: session.outputMetadata.map((m) => ({ name: m.name, dims: dims(m) })) };
}

/** The encoder as sent by its thread; loaded here only when no info came (a caller without an encoder thread). */
function encoderInfoOf(a: { model: SamModelKey; encoderInfo?: SamEncoderInfo | undefined }): Promise<SamEncoderInfo> {
  return a.encoderInfo ? Promise.resolve(a.encoderInfo) : samEncoderInfo(a.model);
}

/** The embedding of an image: from memory, else from disk, else encoded (and cached in both). */
export async function samEncode(a: SamEncodeArgs): Promise<SamEncodeValue> {
  requireFamily(a.pre, a.model.encoder);
  const t0 = performance.now();
  if (recall(a.key)) {
    const { provider, warnings } = await encoderInfoOf(a);
    return { encodeMs: 0, cached: 'memory', provider, warnings };
  }
  const fromDisk = a.diskFile ? readDisk(a.diskFile, a.key) : null;
  if (fromDisk) {
    remember(a.key, fromDisk);
    const { provider, warnings } = await encoderInfoOf(a);
    return { encodeMs: 0, cached: 'disk', provider, warnings };
  }
  if (!a.source) {
    const { provider, warnings } = await encoderInfoOf(a);
    return { encodeMs: 0, cached: null, provider, warnings, needsSource: true };
  }
  const { embedding, provider, warnings } = await encodeNow(a, a.source);
  remember(a.key, embedding);
  const encodeMs = performance.now() - t0;
  const failed = a.diskFile ? writeDisk(a.diskFile, a.key, embedding) : null;
  return { encodeMs, cached: null, provider, warnings: failed ? [...warnings, failed] : warnings };
}

/** An embedding computed in the encoder's thread, its data transferred to the decoder's. */
export interface SamComputed {
  tensors: EmbeddingTensor[];
  encodeMs: number;
  provider: Provider;
  warnings: string[];
}

/**
 * Encodes in this thread and hands the embedding back (written to the disk cache first) without
 * keeping it: the thread that decodes keeps it (samPut). Encoding in a thread of its own means a
 * long encoder run (the next image, encoded ahead) never holds up a prompt's decoding.
 */
export async function samCompute(a: SamEncodeArgs & { source: SamSource }): Promise<SamComputed> {
  requireFamily(a.pre, a.model.encoder);
  const t0 = performance.now();
  const { embedding, provider, warnings } = await encodeNow(a, a.source);
  const encodeMs = performance.now() - t0;
  const failed = a.diskFile ? writeDisk(a.diskFile, a.key, embedding) : null;
  // Copies the channel can take over: onnxruntime's outputs may be views on memory it owns.
  const tensors = embedding.tensors.map((t) => ({ name: t.name, data: t.data.slice(), dims: t.dims }));
  return { tensors, encodeMs, provider, warnings: failed ? [...warnings, failed] : warnings };
}

/** Keeps an embedding computed elsewhere (samCompute) for the decoder. */
export function samPut(a: { key: string; tensors: EmbeddingTensor[]; frame: SamFrame }): void {
  remember(a.key, { tensors: a.tensors, frame: a.frame });
}

// ---------------------------------------------------------------------------------------------
// Decoder

const DECODER_INPUTS = ['image_embeddings', 'point_coords', 'point_labels', 'mask_input', 'has_mask_input', 'orig_im_size'];
const DECODER_OUTPUTS = ['masks', 'iou_predictions', 'low_res_masks'];

function checkDecoder(session: ort.InferenceSession, file: string): void {
  const missingIn = DECODER_INPUTS.filter((n) => !session.inputNames.includes(n));
  const missingOut = DECODER_OUTPUTS.filter((n) => !session.outputNames.includes(n));
  if (missingIn.length + missingOut.length > 0) {
    const parts = [missingIn.length ? `inputs ${missingIn.join(', ')}` : '', missingOut.length ? `outputs ${missingOut.join(', ')}` : ''].filter(Boolean);
    throw new AppError('UNSUPPORTED_FORMAT', `${file}: not a Segment Anything-contract decoder: it lacks ${parts.join(' and ')} (it has inputs ${session.inputNames.join(', ')}; outputs ${session.outputNames.join(', ')})`, { file });
  }
}

/** The size the decoder returns masks at for an embedding's region: the region, at most MAX_MASK_SIDE long. */
export function maskFrame(region: SegmentRegion): { mw: number; mh: number } {
  const long = Math.max(region.w, region.h);
  if (long <= MAX_MASK_SIDE) return { mw: region.w, mh: region.h };
  const k = MAX_MASK_SIDE / long;
  return { mw: Math.max(1, Math.round(region.w * k)), mh: Math.max(1, Math.round(region.h * k)) };
}

/**
 * Prompt points and the box's corners (labels 2, 3) scaled from image pixels of the region into a
 * decoder's frame, per axis; with `padding` and no box, a padding point (label -1) ends the list.
 */
function scaledPrompt(points: readonly SegmentPoint[], box: SegmentBox | undefined, region: SegmentRegion, sx: number, sy: number, padding: boolean): { coords: Float32Array; labels: Float32Array } {
  const k = points.length;
  const n = k + (box ? 2 : padding ? 1 : 0);
  const coords = new Float32Array(n * 2);
  const labels = new Float32Array(n);
  points.forEach((p, i) => {
    coords[i * 2] = (p.x - region.x) * sx;
    coords[i * 2 + 1] = (p.y - region.y) * sy;
    labels[i] = p.label;
  });
  if (box) {
    coords.set([(Math.min(box.x0, box.x1) - region.x) * sx, (Math.min(box.y0, box.y1) - region.y) * sy, (Math.max(box.x0, box.x1) - region.x) * sx, (Math.max(box.y0, box.y1) - region.y) * sy], k * 2);
    labels[k] = 2;
    labels[k + 1] = 3;
  } else if (padding) {
    labels[k] = -1;
  }
  return { coords, labels };
}

/** The prompt in the encoder's frame: points, then the box's corners (labels 2, 3) or a padding point. */
export function promptTensors(points: readonly SegmentPoint[], box: SegmentBox | undefined, region: SegmentRegion, inputSize: number): { coords: Float32Array; labels: Float32Array } {
  const s = inputSize / Math.max(region.w, region.h);
  return scaledPrompt(points, box, region, s, s, true);
}

/** Mask cells x0..x0+w-1, y0..y0+h-1 of an mw×mh mask and which of them are inside (row-major); every other cell is outside. */
interface InsideWindow {
  x0: number;
  y0: number;
  w: number;
  h: number;
  inside: Uint8Array;
}

/**
 * COCO RLE over the whole width×height image of a mask given by the inside cells of a window of
 * it (null: none), mw×mh over `region`, scaled up by nearest neighbour where the mask is smaller
 * than the region. Works on runs per column and reads only the window, so the cost is the
 * image's width plus the window's cells, not the image's pixels.
 */
function windowToImageRle(
  win: InsideWindow | null,
  mw: number,
  mh: number,
  region: SegmentRegion,
  width: number,
  height: number,
): { counts: Uint32Array; area: number; bbox: [number, number, number, number] } {
  const counts: number[] = [];
  let cur = 0;
  let run = 0;
  const push = (v: number, len: number): void => {
    if (len <= 0) return;
    if (v !== cur) {
      counts.push(run);
      run = 0;
      cur = v;
    }
    run += len;
  };
  const { x: rx, y: ry, w: rw, h: rh } = region;
  const { x0: wx, y0: wy, w: ww, h: wh, inside } = win ?? { x0: 0, y0: 0, w: 0, h: 0, inside: new Uint8Array(0) };
  // Which window columns and rows hold any, so the column pass reads only the mask's own rows.
  const colAny = new Uint8Array(ww);
  let rowMin = wh, rowMax = -1;
  for (let j = 0; j < wh; j++) {
    let any = false;
    for (let i = 0, at = j * ww; i < ww; i++, at++) {
      if (inside[at] === 1) {
        colAny[i] = 1;
        any = true;
      }
    }
    if (any) {
      if (j < rowMin) rowMin = j;
      rowMax = j;
    }
  }
  let area = 0;
  let minX = Infinity, minY = Infinity, maxX = -1, maxY = -1;
  let segsOf = -1;
  const segs: number[] = [];
  for (let x = 0; x < width; x++) {
    if (x < rx || x >= rx + rw) {
      push(0, height);
      continue;
    }
    const mx = Math.min(mw - 1, Math.floor(((x - rx) * mw) / rw));
    if (mx !== segsOf) {
      segsOf = mx;
      segs.length = 0;
      const i = mx - wx;
      if (i >= 0 && i < ww && colAny[i]) {
        let was = false;
        for (let j = rowMin; j <= rowMax + 1; j++) {
          const v = j <= rowMax && inside[j * ww + i] === 1;
          if (v !== was) {
            // The first image row whose mask row is `wy + j`.
            segs.push(ry + Math.floor(((wy + j) * rh + mh - 1) / mh));
            was = v;
          }
        }
      }
    }
    if (segs.length === 0) {
      push(0, height);
      continue;
    }
    let y = 0;
    for (let i = 0; i < segs.length; i += 2) {
      const y0 = Math.max(0, segs[i]!), y1 = Math.min(height, segs[i + 1]!);
      if (y1 <= y0) continue;
      push(0, y0 - y);
      push(1, y1 - y0);
      area += y1 - y0;
      if (x < minX) minX = x;
      maxX = x;
      if (y0 < minY) minY = y0;
      if (y1 - 1 > maxY) maxY = y1 - 1;
      y = y1;
    }
    push(0, height - y);
  }
  counts.push(run);
  const bbox: [number, number, number, number] = area > 0 ? [minX, minY, maxX - minX + 1, maxY - minY + 1] : [0, 0, 0, 0];
  return { counts: Uint32Array.from(counts), area, bbox };
}

/**
 * Thresholds (> 0) one mask of logits, mw×mh over `region`, into COCO RLE over the whole
 * width×height image, scaling up by nearest neighbour where the mask is smaller than the region.
 * One read-only pass finds the rows and columns holding cells above 0 (a row of values below 0
 * told by its sign bits alone, any other read from both ends, its middle skipped once both ends
 * are found); only that box is then marked and encoded.
 */
export function logitsToImageRle(
  logits: Float32Array,
  offset: number,
  mw: number,
  mh: number,
  region: SegmentRegion,
  width: number,
  height: number,
): { counts: Uint32Array; area: number; bbox: [number, number, number, number] } {
  let x0 = mw, x1 = -1, y0 = mh, y1 = -1;
  // The float's bits as integers: a row whose every value has the sign bit set (all below 0, or
  // -0) ANDs to a negative number and holds nothing above 0, which one branch-free pass tells.
  const bits = new Int32Array(logits.buffer, logits.byteOffset, logits.length);
  for (let my = 0; my < mh; my++) {
    const base = offset + my * mw;
    let a0 = -1, a1 = -1, a2 = -1, a3 = -1;
    let k = base;
    for (const end = base + mw - 3; k < end; k += 4) {
      a0 &= bits[k]!;
      a1 &= bits[k + 1]!;
      a2 &= bits[k + 2]!;
      a3 &= bits[k + 3]!;
    }
    for (const end = base + mw; k < end; k++) a0 &= bits[k]!;
    if ((a0 & a1 & a2 & a3) < 0) continue;
    let first = 0;
    while (first < mw && !(logits[base + first]! > 0)) first++;
    if (first === mw) continue;
    let last = mw - 1;
    while (!(logits[base + last]! > 0)) last--;
    if (first < x0) x0 = first;
    if (last > x1) x1 = last;
    if (my < y0) y0 = my;
    y1 = my;
  }
  if (x1 < 0) return windowToImageRle(null, mw, mh, region, width, height);
  const w = x1 - x0 + 1, h = y1 - y0 + 1;
  const inside = new Uint8Array(w * h);
  for (let j = 0; j < h; j++) {
    const base = offset + (y0 + j) * mw + x0;
    for (let i = 0, at = j * w; i < w; i++, at++) if (logits[base + i]! > 0) inside[at] = 1;
  }
  return windowToImageRle({ x0, y0, w, h, inside }, mw, mh, region, width, height);
}

/**
 * The prompt of an EfficientViT-SAM or SAM 2 decoder: points, then the box's corners (labels 2, 3),
 * no padding point (SAM 2's export appends its own; EfficientViT-SAM's demo sends none), in the
 * `frame`-square the decoder's prompt encoder works in, each axis scaled on its own:
 * - sam2: the image was stretched to the square, so x·frame/w and y·frame/h (samexporter's and
 *   X-AnyLabeling's SAM2ImageDecoder.prepare_points);
 * - efficientvit-sam: the image was resized on its long side, so x·newW/w and y·newH/h with newW,
 *   newH the long-side size at `frame` (run_efficientvit_sam_onnx.py, SamDecoder.apply_coords).
 */
export function familyPromptTensors(
  family: 'sam2' | 'efficientvit-sam',
  points: readonly SegmentPoint[],
  box: SegmentBox | undefined,
  region: SegmentRegion,
  frame: number,
): { coords: Float32Array; labels: Float32Array } {
  let sx: number, sy: number;
  if (family === 'sam2') {
    sx = frame / region.w;
    sy = frame / region.h;
  } else {
    const { newW, newH } = longestSide(region.w, region.h, frame);
    sx = newW / region.w;
    sy = newH / region.h;
  }
  return scaledPrompt(points, box, region, sx, sy, false);
}

/** Source indices and weights of a bilinear resampling along one axis (pixel centres aligned, clamped at the ends). */
function bilinearAxis(n: number, inSize: number, outSize: number): { i0: Int32Array; i1: Int32Array; t: Float32Array } {
  const i0 = new Int32Array(n), i1 = new Int32Array(n), t = new Float32Array(n);
  const scale = inSize / outSize;
  for (let d = 0; d < n; d++) {
    const pos = Math.max(0, (d + 0.5) * scale - 0.5);
    const lo = Math.min(Math.floor(pos), inSize - 1);
    i0[d] = lo;
    i1[d] = Math.min(lo + 1, inSize - 1);
    t[d] = pos - lo;
  }
  return { i0, i1, t };
}

/** Output cells [first, last] whose two source indices reach into [lo, hi], widened by `margin`, within [0, n). */
function reaching(axis: { i0: Int32Array; i1: Int32Array }, lo: number, hi: number, margin: number): [number, number] {
  const n = axis.i0.length;
  let first = 0;
  while (first < n && axis.i1[first]! < lo) first++;
  let last = n - 1;
  while (last >= 0 && axis.i0[last]! > hi) last--;
  return [Math.max(0, first - margin), Math.min(n - 1, last + margin)];
}

/** Outside every window: a logit that thresholds as outside. */
const OUTSIDE = -1;

/**
 * Bilinear resampling of one sw×sh plane (from `offset`) to dw×dh, as PyTorch's
 * F.interpolate(mode='bilinear', align_corners=False) and OpenCV's INTER_LINEAR compute it:
 * pixel centres aligned, source positions below 0 clamped to 0, the last row and column repeated.
 * Only the top-left cw×ch of the result is computed (a crop of it, as after padding), and with
 * `win` only the columns x0..x1 and rows y0..y1 of that (the rest reads OUTSIDE).
 */
export function resizeBilinear(
  src: Float32Array,
  offset: number,
  sw: number,
  sh: number,
  dw: number,
  dh: number,
  cw = dw,
  ch = dh,
  win?: { x0: number; x1: number; y0: number; y1: number },
): Float32Array {
  const xs = bilinearAxis(cw, sw, dw), ys = bilinearAxis(ch, sh, dh);
  const out = new Float32Array(cw * ch);
  const { x0, x1, y0, y1 } = win ?? { x0: 0, x1: cw - 1, y0: 0, y1: ch - 1 };
  if (win) out.fill(OUTSIDE);
  for (let y = y0; y <= y1; y++) {
    const r0 = offset + ys.i0[y]! * sw, r1 = offset + ys.i1[y]! * sw, ty = ys.t[y]!;
    for (let x = x0; x <= x1; x++) {
      const a = xs.i0[x]!, b = xs.i1[x]!, tx = xs.t[x]!;
      const top = src[r0 + a]! + (src[r0 + b]! - src[r0 + a]!) * tx;
      const bottom = src[r1 + a]! + (src[r1 + b]! - src[r1 + a]!) * tx;
      out[y * cw + x] = top + (bottom - top) * ty;
    }
  }
  return out;
}

/** The smallest box (inclusive) of the plane's cells above 0, or null when none is. */
function positiveBox(src: Float32Array, offset: number, w: number, h: number): { x0: number; x1: number; y0: number; y1: number } | null {
  let x0 = w, x1 = -1, y0 = h, y1 = -1;
  for (let y = 0; y < h; y++) {
    const row = offset + y * w;
    for (let x = 0; x < w; x++) {
      if (src[row + x]! > 0) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        y1 = y;
      }
    }
  }
  return x1 < 0 ? null : { x0, x1, y0, y1 };
}

/**
 * One mask of logits as the decoder gave it (sw×sh) brought to the mask frame (mw×mh over the
 * encoded region), as each family's reference postprocessing does it:
 * - sam: the decoder already returns it at orig_im_size;
 * - sam2: the low-resolution mask covers the stretched square, so it is resized straight to the
 *   region (samexporter's SAM2ImageDecoder.process_output, cv2.resize);
 * - efficientvit-sam: upsampled to the frame×frame square, cut to the part the image filled before
 *   padding, then resized to the region (run_efficientvit_sam_onnx.py, mask_postprocessing).
 * A mask already at mw×mh (a SAM 2 export taking orig_im_size) is taken as it is.
 *
 * Only what can come out above 0 is computed: a bilinear value is a weighted mean of its sources,
 * so a cell none of whose sources is above 0 is not either. Between the two resizes of
 * EfficientViT-SAM the first is computed one cell wider, so every second-stage cell that reads a
 * possibly positive cell reads exact neighbours too; the thresholded mask is the same as with
 * both resizes computed whole.
 */
export function maskToFrame(family: string, logits: Float32Array, offset: number, sw: number, sh: number, region: SegmentRegion, mw: number, mh: number, frame: number): Float32Array {
  if (sw === mw && sh === mh) return logits.subarray(offset, offset + mw * mh);
  if (family !== 'sam2' && family !== 'efficientvit-sam') throw new AppError('INTERNAL', `no mask postprocessing for the ${family} family`);
  const box = positiveBox(logits, offset, sw, sh);
  if (!box) return new Float32Array(mw * mh).fill(OUTSIDE);
  const windowOf = (cw: number, ch: number, inW: number, inH: number, outW: number, outH: number, b: typeof box, margin: number) => {
    const [x0, x1] = reaching(bilinearAxis(cw, inW, outW), b.x0, b.x1, margin);
    const [y0, y1] = reaching(bilinearAxis(ch, inH, outH), b.y0, b.y1, margin);
    return { x0, x1, y0, y1 };
  };
  if (family === 'sam2') return resizeBilinear(logits, offset, sw, sh, mw, mh, mw, mh, windowOf(mw, mh, sw, sh, mw, mh, box, 0));
  const { newW, newH } = longestSide(region.w, region.h, frame);
  const reach = windowOf(newW, newH, sw, sh, frame, frame, box, 0);
  const wide = windowOf(newW, newH, sw, sh, frame, frame, box, 1);
  const square = resizeBilinear(logits, offset, sw, sh, frame, frame, newW, newH, wide);
  return resizeBilinear(square, 0, newW, newH, mw, mh, mw, mh, windowOf(mw, mh, newW, newH, mw, mh, reach, 0));
}

/**
 * resizeBilinear's values (the same arithmetic, so the same float32 results) for the output
 * cells x0..x1, y0..y1 only, as a (x1-x0+1)×(y1-y0+1) plane; the source is a window of the sw×sh
 * plane: its cells sx0.., sy0.. stored from `offset` with `stride` per row. Every source cell
 * the window reads must lie inside the source window. Given bytes for `out`, it receives 1 where
 * the value is above 0, else 0.
 */
function resizeWindow(
  src: Float32Array,
  offset: number,
  stride: number,
  sx0: number,
  sy0: number,
  sw: number,
  sh: number,
  dw: number,
  dh: number,
  win: { x0: number; x1: number; y0: number; y1: number },
  out: Float32Array | Uint8Array = new Float32Array((win.x1 - win.x0 + 1) * (win.y1 - win.y0 + 1)),
): typeof out {
  const { x0, x1, y0, y1 } = win;
  const xs = bilinearAxis(x1 + 1, sw, dw), ys = bilinearAxis(y1 + 1, sh, dh);
  const w = x1 - x0 + 1;
  // Into bytes: whether the value, rounded to float32 as resizeBilinear stores it, is above 0.
  const threshold = out instanceof Uint8Array;
  for (let y = y0; y <= y1; y++) {
    const r0 = offset + (ys.i0[y]! - sy0) * stride - sx0, r1 = offset + (ys.i1[y]! - sy0) * stride - sx0, ty = ys.t[y]!;
    for (let x = x0, o = (y - y0) * w; x <= x1; x++, o++) {
      const a = xs.i0[x]!, b = xs.i1[x]!, tx = xs.t[x]!;
      const top = src[r0 + a]! + (src[r0 + b]! - src[r0 + a]!) * tx;
      const bottom = src[r1 + a]! + (src[r1 + b]! - src[r1 + a]!) * tx;
      const v = top + (bottom - top) * ty;
      out[o] = threshold ? (Math.fround(v) > 0 ? 1 : 0) : v;
    }
  }
  return out;
}

/**
 * One candidate mask as the decoder gave it (sw×sh logits from `offset`) straight to COCO RLE
 * over the whole width×height image: the same mask as logitsToImageRle(maskToFrame(...)), at a
 * cost that follows the mask rather than the image. Both resizes are computed only over the
 * window that can come out above 0 (maskToFrame says why that is exact), into buffers of the
 * window's size, and only that window is thresholded and encoded.
 */
export function maskRle(
  family: string,
  logits: Float32Array,
  offset: number,
  sw: number,
  sh: number,
  region: SegmentRegion,
  mw: number,
  mh: number,
  frame: number,
  width: number,
  height: number,
): { counts: Uint32Array; area: number; bbox: [number, number, number, number] } {
  if (sw === mw && sh === mh) return logitsToImageRle(logits, offset, mw, mh, region, width, height);
  if (family !== 'sam2' && family !== 'efficientvit-sam') throw new AppError('INTERNAL', `no mask postprocessing for the ${family} family`);
  const box = positiveBox(logits, offset, sw, sh);
  if (!box) return windowToImageRle(null, mw, mh, region, width, height);
  const windowOf = (cw: number, ch: number, inW: number, inH: number, outW: number, outH: number, b: typeof box, margin: number) => {
    const [x0, x1] = reaching(bilinearAxis(cw, inW, outW), b.x0, b.x1, margin);
    const [y0, y1] = reaching(bilinearAxis(ch, inH, outH), b.y0, b.y1, margin);
    return { x0, x1, y0, y1 };
  };
  const size = (b: { x0: number; x1: number; y0: number; y1: number }) => (b.x1 - b.x0 + 1) * (b.y1 - b.y0 + 1);
  let win: { x0: number; x1: number; y0: number; y1: number };
  let inside: Uint8Array;
  if (family === 'sam2') {
    win = windowOf(mw, mh, sw, sh, mw, mh, box, 0);
    inside = resizeWindow(logits, offset, sw, 0, 0, sw, sh, mw, mh, win, new Uint8Array(size(win))) as Uint8Array;
  } else {
    const { newW, newH } = longestSide(region.w, region.h, frame);
    const reach = windowOf(newW, newH, sw, sh, frame, frame, box, 0);
    const wide = windowOf(newW, newH, sw, sh, frame, frame, box, 1);
    const square = resizeWindow(logits, offset, sw, 0, 0, sw, sh, frame, frame, wide) as Float32Array;
    win = windowOf(mw, mh, newW, newH, mw, mh, reach, 0);
    inside = resizeWindow(square, 0, wide.x1 - wide.x0 + 1, wide.x0, wide.y0, newW, newH, mw, mh, win, new Uint8Array(size(win))) as Uint8Array;
  }
  const w = win.x1 - win.x0 + 1, h = win.y1 - win.y0 + 1;
  return windowToImageRle({ x0: win.x0, y0: win.y0, w, h, inside }, mw, mh, region, width, height);
}

const layouts = new Map<string, SamPairLayout>();

/** The kept low-resolution mask `a.refineFrom` names, or undefined (and why, in `warnings`) when it is gone or belongs to another image or decoder. */
function refinedMask(a: SamDecodeArgs, warnings: string[]): Float32Array | undefined {
  const id = a.refineFrom!;
  const kept = lowRes.get(id);
  if (!kept) {
    warnings.push(`the mask to refine from (${id}) is no longer kept: decoded without it`);
    return undefined;
  }
  if (kept.key !== a.key || kept.decoder !== a.model.decoder) {
    warnings.push(`the mask to refine from (${id}) belongs to another image or model: decoded without it`);
    return undefined;
  }
  lowRes.delete(id);
  lowRes.set(id, kept);
  return kept.mask;
}

/** How to feed the pair, from both sessions' inputs and outputs (common/inference/samFamily.ts); checked against the manifest's family. */
async function pairLayout(a: SamDecodeArgs): Promise<SamPairLayout> {
  const id = `${a.model.encoder}\u0000${a.model.decoder}`;
  const known = layouts.get(id);
  if (known && known.family === a.pre.family) return known;
  // The encoder's inputs and outputs come from its own thread: this one never loads it.
  const encoder = (await encoderInfoOf(a)).io;
  const decoder = sessionIo((await getSession(a.model.decoder, a.model)).session);
  const found = inspectSamPair(encoder, decoder, { encoder: a.model.encoder, decoder: a.model.decoder });
  if (!found.layout) {
    throw new AppError('UNSUPPORTED_FORMAT', found.problems.join('; '), { encoder: a.model.encoder, decoder: a.model.decoder, problems: found.problems });
  }
  if (found.layout.family !== a.pre.family) {
    throw new AppError('UNSUPPORTED_FORMAT', `${a.model.encoder} + ${a.model.decoder}: the manifest says family "${a.pre.family}", but the files follow the "${found.layout.family}" contract`, { family: a.pre.family, found: found.layout.family });
  }
  layouts.set(id, found.layout);
  return found.layout;
}

/** Masks for a prompt on an embedding this thread holds (or finds on disk); `found: false` when neither. */
export async function samDecode(a: SamDecodeArgs): Promise<SamDecodeValue> {
  requireFamily(a.pre, a.model.decoder);
  const t0 = performance.now();
  let cached: SamDecodeValue['cached'] = 'memory';
  let e = recall(a.key);
  if (!e && a.diskFile) {
    e = readDisk(a.diskFile, a.key);
    if (e) {
      remember(a.key, e);
      cached = 'disk';
    }
  }
  const { session, provider, warnings: sessionWarnings } = await getSession(a.model.decoder, a.model);
  const warnings = [...sessionWarnings];
  if (!e) return { found: false, cached: null, masks: [], runMs: 0, decodeMs: 0, provider, warnings, fed: { hasMaskInput: 0, maskInputInside: 0 } };
  if (a.pre.family === 'sam') checkDecoder(session, a.model.decoder);
  const layout = await pairLayout(a);
  const family = layout.family;
  const { region, width, height } = e.frame;
  const { mw, mh } = maskFrame(region);
  const { coords, labels } = family === 'sam' ? promptTensors(a.points, a.box, region, a.pre.inputSize) : familyPromptTensors(family, a.points, a.box, region, layout.promptFrame);
  const n = labels.length;
  const previous = layout.decoder.maskInput && a.refineFrom !== undefined ? refinedMask(a, warnings) : undefined;
  const feeds: Record<string, ort.Tensor> = {};
  for (const [input, output] of Object.entries(layout.encoder.feeds)) {
    // A single-output encoder's output may go by another name (the layout says which); a cached
    // embedding of one tensor is that output.
    const t = e.tensors.find((x) => x.name === output) ?? (e.tensors.length === 1 ? e.tensors[0] : undefined);
    if (!t) throw new AppError('UNSUPPORTED_FORMAT', `${a.model.encoder}: the embedding has no "${output}" for the decoder's ${input} (it has ${e.tensors.map((x) => x.name).join(', ')})`, { file: a.model.encoder });
    feeds[input] = new ort.Tensor('float32', t.data, t.dims);
  }
  feeds['point_coords'] = new ort.Tensor('float32', coords, [1, n, 2]);
  feeds['point_labels'] = new ort.Tensor('float32', labels, [1, n]);
  if (layout.decoder.maskInput) {
    feeds['mask_input'] = new ort.Tensor('float32', previous ?? ZERO_MASK, [1, 1, LOW_RES, LOW_RES]);
    feeds['has_mask_input'] = new ort.Tensor('float32', new Float32Array([previous ? 1 : 0]), [1]);
  }
  if (layout.decoder.origImSize) {
    const meta = session.inputMetadata.find((m) => m.name === 'orig_im_size');
    feeds['orig_im_size'] =
      meta && meta.isTensor && meta.type === 'int64' ? new ort.Tensor('int64', BigInt64Array.from([BigInt(mh), BigInt(mw)]), [2]) : new ort.Tensor('float32', new Float32Array([mh, mw]), [2]);
  }
  const r0 = performance.now();
  const out = await session.run(feeds);
  const runMs = performance.now() - r0;
  const masks = out['masks']!, iou = out['iou_predictions']!;
  const [, M = 1, sh = 0, sw = 0] = masks.dims;
  if (masks.dims.length !== 4 || masks.dims[0] !== 1) {
    throw new AppError('UNSUPPORTED_FORMAT', `${a.model.decoder}: masks came out [${masks.dims.join(',')}], expected [1,M,H,W]`, { file: a.model.decoder });
  }
  if (family === 'sam' && (sh !== mh || sw !== mw)) {
    throw new AppError('UNSUPPORTED_FORMAT', `${a.model.decoder}: masks came out [${masks.dims.join(',')}], expected [1,M,${mh},${mw}] (orig_im_size)`, { file: a.model.decoder });
  }
  const logits = masks.data as Float32Array;
  const scores = iou.data as Float32Array;
  const order = Array.from({ length: M }, (_, i) => i).sort((p, q) => scores[q]! - scores[p]!);
  const value: SamMaskValue[] = order.map((m) => {
    const rle = maskRle(family, logits, m * sw * sh, sw, sh, region, mw, mh, layout.promptFrame, width, height);
    return { ...rle, size: [height, width], score: scores[m]! };
  });
  // Each candidate's 256×256 logits, kept under an id the answer carries, for a later prompt to refine from.
  const low = a.keepLowRes && layout.decoder.lowResMasks ? out[layout.decoder.lowResMasks] : undefined;
  if (low && low.dims.length === 4 && low.dims[2] === LOW_RES && low.dims[3] === LOW_RES) {
    const kept = low.dims[1] ?? 0;
    order.forEach((m, i) => {
      if (m >= kept) return;
      const id = `${threadId}-${++lowResIds}`;
      lowRes.set(id, { key: a.key, decoder: a.model.decoder, mask: (low.data as Float32Array).slice(m * LOW_RES * LOW_RES, (m + 1) * LOW_RES * LOW_RES) });
      value[i]!.lowResId = id;
    });
    while (lowRes.size > LOW_RES_SLOTS) lowRes.delete(lowRes.keys().next().value as string);
  }
  let maskInputInside = 0;
  if (previous) for (let i = 0; i < previous.length; i++) if (previous[i]! > 0) maskInputInside++;
  for (const t of Object.values(out)) t.dispose();
  return { found: true, cached, masks: value, runMs, decodeMs: performance.now() - t0, provider, warnings, fed: { hasMaskInput: previous ? 1 : 0, maskInputInside } };
}
