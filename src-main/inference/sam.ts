import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import ort from 'onnxruntime-node';
import sharp, { type Sharp } from 'sharp';
import { AppError } from '../common/errors';
import type { Provider, RawPixels } from '../common/inference/types';
import type { SegmentBox, SegmentPoint, SegmentRegion } from '../common/segment';
import { getSession } from './sessions';

/**
 * Segment Anything-contract models in the worker thread: the encoder runs once per image (or
 * region) and its embedding stays here, in a small LRU and in a file of the dataset's cache, so
 * the per-prompt decoder only sends the prompt in and the mask's runs out; the 4 MB embedding
 * and the 256×256 low-resolution mask fed back for refinement never cross the channel.
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

export interface SamEncodeArgs {
  model: SamModelKey;
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
  pre: SamPreprocessing;
  key: string;
  diskFile: string | null;
  points: SegmentPoint[];
  box?: SegmentBox;
  refine: boolean;
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

interface Embedding {
  data: Float32Array;
  dims: number[];
  frame: SamFrame;
}

/** Embeddings kept in this thread, most recently used last. */
const MEMORY_SLOTS = 6;
const embeddings = new Map<string, Embedding>();
/** The low-resolution mask of the last prompt on each embedding and the decoder that made it, fed back when refining. */
const lowRes = new Map<string, { decoder: string; mask: Float32Array }>();
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
    lowRes.delete(oldest);
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

function requireSam(pre: SamPreprocessing, file: string): void {
  if (pre.family !== 'sam') {
    throw new AppError('UNSUPPORTED', `${file}: the ${pre.family} family is not decoded yet; only Segment Anything-contract pairs (family "sam") are`, { family: pre.family });
  }
}

// ---------------------------------------------------------------------------------------------
// Disk cache: magic, header length, JSON header (key, dims, frame, sha256 of the data), float32 data.

const MAGIC = Buffer.from('TSAMEMB1');

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
    const header = JSON.parse(buf.subarray(12, 12 + headerLen).toString('utf8')) as { key?: unknown; dims?: unknown; frame?: unknown; sha256?: unknown };
    if (header.key !== key || !Array.isArray(header.dims) || typeof header.sha256 !== 'string') return null;
    const dims = header.dims as number[];
    const n = dims.reduce((a, b) => a * b, 1);
    const body = buf.subarray(12 + headerLen);
    if (!Number.isInteger(n) || body.length !== n * 4) return null;
    if (createHash('sha256').update(body).digest('hex') !== header.sha256) return null;
    const data = new Float32Array(n);
    new Uint8Array(data.buffer).set(body);
    return { data, dims, frame: header.frame as SamFrame };
  } catch {
    return null;
  }
}

/** Written beside its final name and renamed, so a reader never sees half a file. */
function writeDisk(file: string, key: string, e: Embedding): string | null {
  try {
    const body = Buffer.from(e.data.buffer, e.data.byteOffset, e.data.byteLength);
    const header = Buffer.from(JSON.stringify({ key, dims: e.dims, frame: e.frame, sha256: createHash('sha256').update(body).digest('hex') }));
    const len = Buffer.alloc(4);
    len.writeUInt32LE(header.length);
    fs.mkdirSync(path.dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
    fs.writeFileSync(tmp, Buffer.concat([MAGIC, len, header, body]));
    fs.renameSync(tmp, file);
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

/** RGB pixels of the region resized so its long side is `inputSize` (ResizeLongestSide), interleaved. */
async function resizedRgb(source: SamSource, region: SegmentRegion, S: number): Promise<{ data: Buffer; width: number; height: number; channels: number }> {
  const { newW, newH } = longestSide(region.w, region.h, S);
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
  const layout = meta && meta.isTensor && meta.type === 'float32' ? inputLayout(shape, S) : null;
  if (!layout) {
    const type = meta && meta.isTensor ? `${meta.type} ` : '';
    throw new AppError('UNSUPPORTED_FORMAT', `${a.model.encoder}: encoder input "${name}" is ${type}[${shape.join(',')}], expected float32 [1,3,${S},${S}] (the manifest's inputSize) or [H,W,3]`, { file: a.model.encoder });
  }
  const input =
    layout === 'nchw'
      ? new ort.Tensor('float32', await samInputTensor(source, a.frame.region, a.pre), [1, 3, S, S])
      : await samInputHwc(source, a.frame.region, S).then((t) => new ort.Tensor('float32', t.data, t.dims));
  const out = await session.run({ [name]: input });
  const outName = session.outputNames.includes('image_embeddings') ? 'image_embeddings' : session.outputNames[0]!;
  const t = out[outName]!;
  if (t.type !== 'float32') throw new AppError('UNSUPPORTED_FORMAT', `${a.model.encoder}: output "${outName}" is ${t.type}, expected float32`, { file: a.model.encoder });
  encodes++;
  return { embedding: { data: t.data as Float32Array, dims: [...t.dims], frame: a.frame }, provider, warnings };
}

/** The embedding of an image: from memory, else from disk, else encoded (and cached in both). */
export async function samEncode(a: SamEncodeArgs): Promise<SamEncodeValue> {
  requireSam(a.pre, a.model.encoder);
  const t0 = performance.now();
  if (recall(a.key)) {
    const { provider, warnings } = await getSession(a.model.encoder, a.model);
    return { encodeMs: 0, cached: 'memory', provider, warnings };
  }
  const fromDisk = a.diskFile ? readDisk(a.diskFile, a.key) : null;
  if (fromDisk) {
    remember(a.key, fromDisk);
    const { provider, warnings } = await getSession(a.model.encoder, a.model);
    return { encodeMs: 0, cached: 'disk', provider, warnings };
  }
  if (!a.source) {
    const { provider, warnings } = await getSession(a.model.encoder, a.model);
    return { encodeMs: 0, cached: null, provider, warnings, needsSource: true };
  }
  const { embedding, provider, warnings } = await encodeNow(a, a.source);
  remember(a.key, embedding);
  lowRes.delete(a.key);
  const encodeMs = performance.now() - t0;
  const failed = a.diskFile ? writeDisk(a.diskFile, a.key, embedding) : null;
  return { encodeMs, cached: null, provider, warnings: failed ? [...warnings, failed] : warnings };
}

/** An embedding computed in the encoder's thread, its data transferred to the decoder's. */
export interface SamComputed {
  data: Float32Array;
  dims: number[];
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
  requireSam(a.pre, a.model.encoder);
  const t0 = performance.now();
  const { embedding, provider, warnings } = await encodeNow(a, a.source);
  const encodeMs = performance.now() - t0;
  const failed = a.diskFile ? writeDisk(a.diskFile, a.key, embedding) : null;
  // A copy the channel can take over: onnxruntime's output may be a view on memory it owns.
  return { data: embedding.data.slice(), dims: embedding.dims, encodeMs, provider, warnings: failed ? [...warnings, failed] : warnings };
}

/** Keeps an embedding computed elsewhere (samCompute) for the decoder. */
export function samPut(a: { key: string; data: Float32Array; dims: number[]; frame: SamFrame }): void {
  remember(a.key, { data: a.data, dims: a.dims, frame: a.frame });
  lowRes.delete(a.key);
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

/** The prompt in the encoder's frame: points, then the box's corners (labels 2, 3) or a padding point. */
export function promptTensors(points: readonly SegmentPoint[], box: SegmentBox | undefined, region: SegmentRegion, inputSize: number): { coords: Float32Array; labels: Float32Array } {
  const s = inputSize / Math.max(region.w, region.h);
  const n = points.length + (box ? 2 : 1);
  const coords = new Float32Array(n * 2);
  const labels = new Float32Array(n);
  points.forEach((p, i) => {
    coords[i * 2] = (p.x - region.x) * s;
    coords[i * 2 + 1] = (p.y - region.y) * s;
    labels[i] = p.label;
  });
  const k = points.length;
  if (box) {
    coords.set([(Math.min(box.x0, box.x1) - region.x) * s, (Math.min(box.y0, box.y1) - region.y) * s, (Math.max(box.x0, box.x1) - region.x) * s, (Math.max(box.y0, box.y1) - region.y) * s], k * 2);
    labels[k] = 2;
    labels[k + 1] = 3;
  } else {
    labels[k] = -1;
  }
  return { coords, labels };
}

/**
 * Thresholds (> 0) one mask of logits, mw×mh over `region`, into COCO RLE over the whole
 * width×height image, scaling up by nearest neighbour where the mask is smaller than the region.
 * Works on runs per column, so a gigapixel image costs its width times the runs, not its pixels.
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
  // One pass in memory order marks the inside cells and which columns and rows hold any, so the
  // column-major pass below reads only the mask's own rows of the columns it touches.
  const inside = new Uint8Array(mw * mh);
  const colAny = new Uint8Array(mw);
  let rowMin = mh, rowMax = -1;
  for (let my = 0; my < mh; my++) {
    const base = offset + my * mw;
    let any = false;
    for (let mx = 0; mx < mw; mx++) {
      if (logits[base + mx]! > 0) {
        inside[my * mw + mx] = 1;
        colAny[mx] = 1;
        any = true;
      }
    }
    if (any) {
      if (my < rowMin) rowMin = my;
      rowMax = my;
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
      if (colAny[mx]) {
        let was = false;
        for (let my = rowMin; my <= rowMax + 1; my++) {
          const v = my <= rowMax && inside[my * mw + mx] === 1;
          if (v !== was) {
            // The first image row whose mask row is `my`.
            segs.push(ry + Math.floor((my * rh + mh - 1) / mh));
            was = v;
          }
        }
      }
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

/** Masks for a prompt on an embedding this thread holds (or finds on disk); `found: false` when neither. */
export async function samDecode(a: SamDecodeArgs): Promise<SamDecodeValue> {
  requireSam(a.pre, a.model.decoder);
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
  const { session, provider, warnings } = await getSession(a.model.decoder, a.model);
  if (!e) return { found: false, cached: null, masks: [], runMs: 0, decodeMs: 0, provider, warnings, fed: { hasMaskInput: 0, maskInputInside: 0 } };
  checkDecoder(session, a.model.decoder);
  const { region, width, height } = e.frame;
  const { mw, mh } = maskFrame(region);
  const { coords, labels } = promptTensors(a.points, a.box, region, a.pre.inputSize);
  const n = labels.length;
  const last = a.refine ? lowRes.get(a.key) : undefined;
  // Another decoder's mask is not what this one would refine.
  const previous = last && last.decoder === a.model.decoder ? last.mask : undefined;
  const maskInput = previous ?? ZERO_MASK;
  const feeds = {
    image_embeddings: new ort.Tensor('float32', e.data, e.dims),
    point_coords: new ort.Tensor('float32', coords, [1, n, 2]),
    point_labels: new ort.Tensor('float32', labels, [1, n]),
    mask_input: new ort.Tensor('float32', maskInput, [1, 1, LOW_RES, LOW_RES]),
    has_mask_input: new ort.Tensor('float32', new Float32Array([previous ? 1 : 0]), [1]),
    orig_im_size: new ort.Tensor('float32', new Float32Array([mh, mw]), [2]),
  };
  const r0 = performance.now();
  const out = await session.run(feeds);
  const runMs = performance.now() - r0;
  const masks = out['masks']!, iou = out['iou_predictions']!, low = out['low_res_masks']!;
  const M = masks.dims[1] ?? 1;
  if (masks.dims.length !== 4 || masks.dims[2] !== mh || masks.dims[3] !== mw) {
    throw new AppError('UNSUPPORTED_FORMAT', `${a.model.decoder}: masks came out [${masks.dims.join(',')}], expected [1,M,${mh},${mw}] (orig_im_size)`, { file: a.model.decoder });
  }
  const logits = masks.data as Float32Array;
  const scores = iou.data as Float32Array;
  const order = Array.from({ length: M }, (_, i) => i).sort((p, q) => scores[q]! - scores[p]!);
  const value: SamMaskValue[] = order.map((m) => {
    const rle = logitsToImageRle(logits, m * mw * mh, mw, mh, region, width, height);
    return { ...rle, size: [height, width], score: scores[m]! };
  });
  const lowData = low.data as Float32Array;
  const best = order[0] ?? 0;
  lowRes.set(a.key, { decoder: a.model.decoder, mask: lowData.slice(best * LOW_RES * LOW_RES, (best + 1) * LOW_RES * LOW_RES) });
  let maskInputInside = 0;
  if (previous) for (let i = 0; i < previous.length; i++) if (previous[i]! > 0) maskInputInside++;
  for (const t of Object.values(out)) t.dispose();
  return { found: true, cached, masks: value, runMs, decodeMs: performance.now() - t0, provider, warnings, fed: { hasMaskInput: previous ? 1 : 0, maskInputInside } };
}
