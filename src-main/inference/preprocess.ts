import fs from 'node:fs';
import sharp, { type Metadata } from 'sharp';
import { AppError } from '../common/errors';
import { letterboxGeometry, type LetterboxGeometry } from '../common/inference/letterbox';
import type { ModelManifest } from '../common/inference/types';

export interface Preprocessed {
  /** Float32 NCHW [1, 3, H, W]. */
  tensor: Float32Array;
  geometry: LetterboxGeometry;
}

/** Oriented size of an image from its header: EXIF orientations 5-8 swap width and height. */
async function orientedSize(file: string): Promise<{ width: number; height: number; deep: boolean }> {
  if (!fs.existsSync(file)) throw new AppError('FILE_NOT_FOUND', `${file}: image not found`, { path: file });
  let meta: Metadata;
  try {
    meta = await sharp(file).metadata();
  } catch (e) {
    throw new AppError('CORRUPT_IMAGE', `${file}: cannot decode the image: ${e instanceof Error ? e.message : String(e)}`, { path: file });
  }
  if (!meta.width || !meta.height) throw new AppError('CORRUPT_IMAGE', `${file}: cannot read the image size`, { path: file });
  const swap = (meta.orientation ?? 1) >= 5;
  const deep = meta.depth !== undefined && meta.depth !== 'uchar' && meta.depth !== 'char';
  return { width: swap ? meta.height : meta.width, height: swap ? meta.width : meta.height, deep };
}

/** Maps 16-bit samples onto 0-255 as the manifest's `highBitDepth` rule says (default min-max). */
function deepToByteScale(data: Uint16Array, rule: ModelManifest['highBitDepth']): { lo: number; k: number } {
  if (rule === 'fixed') return { lo: 0, k: 255 / 65535 };
  let lo: number, hi: number;
  if (rule === 'window') {
    // The viewer's automatic window: 0.5 and 99.5 percentiles from a histogram.
    const hist = new Uint32Array(65536);
    for (let i = 0; i < data.length; i++) hist[data[i]!]!++;
    const lowCount = data.length * 0.005, highCount = data.length * 0.995;
    let acc = 0;
    lo = 0;
    hi = 65535;
    let loSet = false;
    for (let v = 0; v < 65536; v++) {
      acc += hist[v]!;
      if (!loSet && acc > lowCount) {
        lo = v;
        loSet = true;
      }
      if (acc >= highCount) {
        hi = v;
        break;
      }
    }
  } else {
    lo = 65535;
    hi = 0;
    for (let i = 0; i < data.length; i++) {
      const v = data[i]!;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  }
  return { lo, k: hi > lo ? 255 / (hi - lo) : 0 };
}

/**
 * Decodes, orients (EXIF), resizes with sharp and lays the pixels out as the network wants:
 * NCHW float32, RGB or BGR, value * scale, then (value - mean) / std. The letterbox padding is
 * written here rather than by sharp so that it carries the same 0-255 value for 16-bit images.
 */
export async function preprocess(file: string, m: ModelManifest, inputSize: [number, number]): Promise<Preprocessed> {
  const [dstH, dstW] = inputSize;
  const src = await orientedSize(file);
  const g = letterboxGeometry(src.width, src.height, dstW, dstH, m.letterbox === 'stretch' ? 'stretch' : 'letterbox', m.letterboxAlign ?? 'center');
  const pipeline = sharp(file)
    .rotate()
    .removeAlpha()
    .resize(g.newW, g.newH, { fit: 'fill', kernel: 'linear' })
    .toColourspace(src.deep ? 'rgb16' : 'srgb')
    .raw({ depth: src.deep ? 'ushort' : 'uchar' });
  const { data, info } = await pipeline.toBuffer({ resolveWithObject: true }).catch((e: unknown) => {
    throw new AppError('CORRUPT_IMAGE', `${file}: cannot decode the image: ${e instanceof Error ? e.message : String(e)}`, { path: file });
  });
  const channels = info.channels;
  if (info.width !== g.newW || info.height !== g.newH || (channels !== 3 && channels !== 1)) {
    throw new AppError('INTERNAL', `${file}: resize gave ${info.width}x${info.height}x${channels}, expected ${g.newW}x${g.newH}x3`);
  }
  const px: Uint8Array | Uint16Array = src.deep
    ? new Uint16Array(data.buffer, data.byteOffset, data.byteLength / 2)
    : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const { lo, k } = src.deep ? deepToByteScale(px as Uint16Array, m.highBitDepth) : { lo: 0, k: 1 };

  const plane = dstW * dstH;
  const tensor = new Float32Array(3 * plane);
  const mean = m.mean ?? [0, 0, 0];
  const std = m.std ?? [1, 1, 1];
  // Channel c of the tensor reads source channel order[c]: BGR models read RGB pixels backwards.
  const order = m.colour === 'bgr' ? [2, 1, 0] : [0, 1, 2];
  const pad = m.letterbox === 'stretch' ? 0 : m.letterbox;
  for (let c = 0; c < 3; c++) {
    const a = m.scale / std[c]!;
    const b = -mean[c]! / std[c]!;
    const out = tensor.subarray(c * plane, (c + 1) * plane);
    out.fill(pad * a + b);
    const sc = channels === 1 ? 0 : order[c]!;
    for (let y = 0; y < g.newH; y++) {
      let o = (y + g.padTop) * dstW + g.padLeft;
      let i = y * g.newW * channels + sc;
      for (let x = 0; x < g.newW; x++, o++, i += channels) {
        const v = src.deep ? Math.min(255, Math.max(0, (px[i]! - lo) * k)) : px[i]!;
        out[o] = v * a + b;
      }
    }
  }
  return { tensor, geometry: g };
}
