import fs from 'node:fs';
import sharp, { type Metadata, type Sharp } from 'sharp';
import { AppError } from '../common/errors';
import { letterboxGeometry, type LetterboxGeometry } from '../common/inference/letterbox';
import { modelInputWindow } from '../common/inference/highBitDepth';
import { antialiasedByDefault, resizeLinear16, resizeLinear8, shrinkArea } from '../common/inference/resize';
import type { ZscoreStats } from '../common/inference/semantic';
import type { Tile } from '../common/inference/tiling';
import type { ModelManifest, RawPixels } from '../common/inference/types';

export interface Preprocessed {
  /** Float32 NCHW [1, 3, H, W]. */
  tensor: Float32Array;
  geometry: LetterboxGeometry;
  /** Every sample of the input equals the nodata value: there is nothing to detect. */
  nodataOnly?: boolean;
}

export type { RawPixels };

/**
 * What the model looks at: an image file (optionally one region of it, in oriented image pixels,
 * for tiled inference) or pixels the caller decoded.
 */
export type ImageInput = string | { path: string; region?: Tile; size?: KnownSize } | { raw: RawPixels };

/**
 * What the caller already knows of an 8-bit image file (the dataset's record of it): its size
 * after EXIF orientation. For a whole image resized 'cv2-linear' the header is then not read
 * again; a file whose decoded size differs (changed since it was recorded) is read again as if
 * nothing were known.
 */
export interface KnownSize {
  width: number;
  height: number;
}

export interface PixelOptions {
  /** Samples equal to this are "no data" (GeoTIFF); an input holding nothing else is not run. */
  nodata?: number;
  /** For images deeper than 8 bits: the sample range mapped onto 0-255, overriding the manifest rule. */
  window?: { low: number; high: number };
  /** For `normalize: 'zscore'`: the whole image's sample statistics, so that its tiles share them. */
  zscore?: ZscoreStats;
}

/**
 * Reads the file once: the header (for the letterbox geometry) and the decode pipeline both parse
 * this buffer, so the file is opened and read once instead of twice.
 */
async function readImage(file: string): Promise<Buffer> {
  try {
    return await fs.promises.readFile(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new AppError('FILE_NOT_FOUND', `${file}: image not found`, { path: file });
    throw new AppError('CORRUPT_IMAGE', `${file}: cannot decode the image: ${e instanceof Error ? e.message : String(e)}`, { path: file });
  }
}

/** Oriented size of an image from its header: EXIF orientations 5-8 swap width and height. */
export async function orientedSize(file: string, bytes: Buffer | string): Promise<{ width: number; height: number; deep: boolean }> {
  let meta: Metadata;
  try {
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch (e) {
    throw new AppError('CORRUPT_IMAGE', `${file}: cannot decode the image: ${e instanceof Error ? e.message : String(e)}`, { path: file });
  }
  if (!meta.width || !meta.height) throw new AppError('CORRUPT_IMAGE', `${file}: cannot read the image size`, { path: file });
  const swap = (meta.orientation ?? 1) >= 5;
  const deep = meta.depth !== undefined && meta.depth !== 'uchar' && meta.depth !== 'char';
  return { width: swap ? meta.height : meta.width, height: swap ? meta.width : meta.height, deep };
}


/**
 * Decodes, orients (EXIF), resizes and lays the pixels out as the network wants: NCHW float32,
 * RGB or BGR, value * scale, then (value - mean) / std. The manifest's `resize` chooses the
 * resize: 'cv2-linear' (default) decodes the full image with sharp, keeping 8-bit samples as
 * stored (no ICC conversion, as cv2.imread), and resizes as cv2.resize INTER_LINEAR does (see
 * common/inference/resize.ts), classifiers and semantic models averaging first the axes shrunk
 * more than 2x when their manifest names no resize; 'vips-linear' lets sharp resize (antialiased, with JPEG
 * shrink-on-load). The letterbox padding is written here rather than by sharp so that it carries
 * the same 0-255 value for 16-bit images.
 */
export async function preprocess(input: ImageInput, m: ModelManifest, inputSize: [number, number], opts: PixelOptions = {}): Promise<Preprocessed> {
  const [dstH, dstW] = inputSize;
  const cv2 = (m.resize ?? 'cv2-linear') === 'cv2-linear';
  let file: string;
  let src: { width: number; height: number; deep: boolean };
  let pipeline: Sharp;
  let known: KnownSize | undefined;
  if (typeof input === 'object' && 'raw' in input) {
    const r = input.raw;
    file = `${r.width}x${r.height} pixels`;
    src = { width: r.width, height: r.height, deep: false };
    pipeline = sharp(Buffer.from(r.data.buffer, r.data.byteOffset, r.data.byteLength), { raw: { width: r.width, height: r.height, channels: r.channels } });
  } else {
    file = typeof input === 'string' ? input : input.path;
    const region = typeof input === 'string' ? undefined : input.region;
    // Only the full-size decode of a whole image ('cv2-linear') shows that the file changed since
    // its size was known; libvips' resize and a region would take the stale size as given.
    known = typeof input === 'string' || region || !cv2 ? undefined : input.size;
    // A region of a large image is read by libvips from the file, which loads only what the
    // region needs from tiled TIFFs; a whole image is read into memory once (see readImage).
    if (region && !fs.existsSync(file)) throw new AppError('FILE_NOT_FOUND', `${file}: image not found`, { path: file });
    const bytes = region ? file : await readImage(file);
    src = known ? { width: known.width, height: known.height, deep: false } : await orientedSize(file, bytes);
    // The reference reads 8-bit samples as stored: an embedded ICC profile is not applied.
    pipeline = sharp(bytes, { limitInputPixels: false, ignoreIcc: cv2 && !src.deep }).rotate();
    if (region) {
      if (region.x < 0 || region.y < 0 || region.x + region.w > src.width || region.y + region.h > src.height) {
        throw new AppError('INVALID_ARGUMENT', `${file}: region ${region.w}x${region.h} at ${region.x},${region.y} is outside the ${src.width}x${src.height} image`, { path: file });
      }
      // extract() after rotate() cuts the oriented image, the one annotations use.
      pipeline = pipeline.extract({ left: region.x, top: region.y, width: region.w, height: region.h });
      src = { ...src, width: region.w, height: region.h };
    }
  }
  const g = letterboxGeometry(src.width, src.height, dstW, dstH, m.letterbox === 'stretch' ? 'stretch' : 'letterbox', m.letterboxAlign ?? 'center');
  pipeline = pipeline.removeAlpha();
  if (!cv2) pipeline = pipeline.resize(g.newW, g.newH, { fit: 'fill', kernel: 'linear' });
  pipeline = pipeline.toColourspace(src.deep ? 'rgb16' : 'srgb').raw({ depth: src.deep ? 'ushort' : 'uchar' });
  const decoded = await pipeline.toBuffer({ resolveWithObject: true }).catch((e: unknown) => {
    throw new AppError('CORRUPT_IMAGE', `${file}: cannot decode the image: ${e instanceof Error ? e.message : String(e)}`, { path: file });
  });
  const info = decoded.info;
  const channels = info.channels;
  const [expectW, expectH] = cv2 ? [src.width, src.height] : [g.newW, g.newH];
  if (known && (info.width !== expectW || info.height !== expectH)) return preprocess(file, m, inputSize, opts);
  if (info.width !== expectW || info.height !== expectH || (channels !== 3 && channels !== 1)) {
    throw new AppError('INTERNAL', `${file}: decoding gave ${info.width}x${info.height}x${channels}, expected ${expectW}x${expectH}x3`);
  }
  let data: Uint8Array | Uint16Array = src.deep
    ? new Uint16Array(decoded.data.buffer, decoded.data.byteOffset, decoded.data.byteLength / 2)
    : new Uint8Array(decoded.data.buffer, decoded.data.byteOffset, decoded.data.byteLength);
  if (cv2) {
    // Classifiers and semantic models without a resize of their own average the pixels of an axis
    // shrunk more than 2x (a photo to 224 px), which the detectors' reference resize would alias.
    const pre = m.resize === undefined && antialiasedByDefault(m.task) ? shrinkArea(data, info.width, info.height, channels, g.newW, g.newH) : { data, width: info.width, height: info.height };
    data =
      pre.data instanceof Uint16Array
        ? resizeLinear16(pre.data, pre.width, pre.height, channels, g.newW, g.newH)
        : resizeLinear8(pre.data, pre.width, pre.height, channels, g.newW, g.newH);
  }
  const plane = dstW * dstH;
  const tensor = new Float32Array(3 * plane);
  const mean = m.mean ?? [0, 0, 0];
  const std = m.std ?? [1, 1, 1];
  // Channel c of the tensor reads source channel order[c]: BGR models read RGB pixels backwards.
  const order = m.colour === 'bgr' ? [2, 1, 0] : [0, 1, 2];
  const pad = m.letterbox === 'stretch' ? 0 : m.letterbox;
  // 8-bit and 16-bit pixels go through separate loops so that each inner loop reads one typed
  // array type with no per-pixel branch; this loop is a measurable part of the per-image CPU.
  const deepPx = data instanceof Uint16Array ? data : null;
  const bytePx = data instanceof Uint8Array ? data : new Uint8Array(0);
  if (opts.nodata !== undefined) {
    const px = deepPx ?? bytePx;
    const nd = opts.nodata;
    let all = true;
    for (let i = 0; i < px.length; i++) {
      if (px[i] !== nd) {
        all = false;
        break;
      }
    }
    // A resize with a linear kernel keeps a region of only nodata exactly nodata.
    if (all) return { tensor: new Float32Array(3 * dstW * dstH), geometry: g, nodataOnly: true };
  }
  // The services pass the window of the whole image (see services/prelabel.ts), so all tiles of
  // one image share it; called on its own, the manifest's rule is applied to these pixels.
  const w = deepPx ? (opts.window ?? modelInputWindow(m, deepPx, channels)) : null;
  const lo = w ? w.low : 0;
  const k = w ? (w.high > w.low ? 255 / (w.high - w.low) : 0) : 1;
  const rowStride = g.newW * channels;
  const a = [0, 1, 2].map((c) => m.scale / std[c]!);
  const b = [0, 1, 2].map((c) => -mean[c]! / std[c]!);
  // Only the padding needs the fill; the image area is overwritten below.
  if (g.newW !== dstW || g.newH !== dstH) for (let c = 0; c < 3; c++) tensor.fill(pad * a[c]! + b[c]!, c * plane, (c + 1) * plane);
  if (!deepPx && channels === 3) {
    // The common case (8-bit colour) in one pass over the pixels, reading each source row once
    // and writing the three planes together.
    const s0 = order[0]!, s1 = order[1]!, s2 = order[2]!;
    const a0 = a[0]!, a1 = a[1]!, a2 = a[2]!, b0 = b[0]!, b1 = b[1]!, b2 = b[2]!;
    const p1 = plane, p2 = 2 * plane;
    for (let y = 0; y < g.newH; y++) {
      let o = (y + g.padTop) * dstW + g.padLeft;
      const end = o + g.newW;
      for (let i = y * rowStride; o < end; o++, i += 3) {
        tensor[o] = bytePx[i + s0]! * a0 + b0;
        tensor[o + p1] = bytePx[i + s1]! * a1 + b1;
        tensor[o + p2] = bytePx[i + s2]! * a2 + b2;
      }
    }
    return { tensor, geometry: g };
  }
  for (let c = 0; c < 3; c++) {
    const ac = a[c]!, bc = b[c]!;
    const out = tensor.subarray(c * plane, (c + 1) * plane);
    const sc = channels === 1 ? 0 : order[c]!;
    for (let y = 0; y < g.newH; y++) {
      let o = (y + g.padTop) * dstW + g.padLeft;
      const end = o + g.newW;
      let i = y * rowStride + sc;
      if (deepPx) {
        for (; o < end; o++, i += channels) out[o] = Math.min(255, Math.max(0, (deepPx[i]! - lo) * k)) * ac + bc;
      } else {
        for (; o < end; o++, i += channels) out[o] = bytePx[i]! * ac + bc;
      }
    }
  }
  return { tensor, geometry: g };
}
