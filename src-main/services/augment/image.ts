import sharp, { type Sharp } from 'sharp';
import { compose, flipX, flipY, rot90, type Affine } from '../../common/augment/affine';
import type { RawImage } from './types';

/**
 * Pixel operations of the augmentation pipeline, through sharp (libvips), on raw 8-bit images.
 * Each call runs one libvips operation, so sharp's fixed order of operations never reorders them.
 * Geometric ones take the same affine map (common/augment/affine.ts) that moves the geometry.
 */

export function sharpOf(img: RawImage): Sharp {
  return sharp(img.data, { raw: { width: img.width, height: img.height, channels: img.channels } });
}

/** Raw pixels of a pipeline, with the channel count brought back to `channels` (libvips may add colour or alpha). */
export async function toRaw(s: Sharp, channels: RawImage['channels']): Promise<RawImage> {
  const { data, info } = await s.raw().toBuffer({ resolveWithObject: true });
  const have = info.channels;
  if (have === channels) return { data, width: info.width, height: info.height, channels };
  const n = info.width * info.height;
  const out = Buffer.alloc(n * channels);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < channels; c++) {
      // Grey to colour repeats the grey; colour to grey keeps the first band (libvips' grey output repeats it);
      // a missing alpha is opaque.
      const src = c < have ? c : c === 3 ? -1 : 0;
      out[i * channels + c] = src < 0 ? 255 : data[i * have + src]!;
    }
  }
  return { data: out, width: info.width, height: info.height, channels };
}

export function background(value: number, channels: number): { r: number; g: number; b: number; alpha: number } {
  void channels;
  return { r: value, g: value, b: value, alpha: 1 };
}

function same(a: Affine, b: Affine): boolean {
  return a.every((v, i) => Math.abs(v - b[i]!) < 1e-9);
}

/** Pixels from (dx, dy) on in a frame width x height, the part outside the image filled with `fill`; dx, dy whole pixels. */
export async function placeInFrame(img: RawImage, dx: number, dy: number, width: number, height: number, fill: number): Promise<RawImage> {
  if (dx === 0 && dy === 0 && width === img.width && height === img.height) return img;
  // The part of the image inside the frame.
  const x0 = Math.max(0, -dx);
  const y0 = Math.max(0, -dy);
  const x1 = Math.min(img.width, width - dx);
  const y1 = Math.min(img.height, height - dy);
  if (x1 <= x0 || y1 <= y0) {
    return toRaw(sharp({ create: { width, height, channels: 3, background: background(fill, 3) } }), img.channels);
  }
  let cur = img;
  if (x0 > 0 || y0 > 0 || x1 < img.width || y1 < img.height) {
    cur = await toRaw(sharpOf(img).extract({ left: x0, top: y0, width: x1 - x0, height: y1 - y0 }), img.channels);
  }
  const left = dx + x0;
  const top = dy + y0;
  const right = width - left - cur.width;
  const bottom = height - top - cur.height;
  if (left === 0 && top === 0 && right === 0 && bottom === 0) return cur;
  return toRaw(sharpOf(cur).extend({ left, top, right, bottom, background: background(fill, img.channels) }), img.channels);
}

/**
 * The image moved by `m` into a width x height frame (area outside the source filled with
 * `fill`). Mirrors and quarter turns use libvips' flip and rotate (exact), scales with whole-pixel
 * offsets use resize plus extract/extend when they shrink, anything else libvips' affine with bilinear
 * interpolation (also for enlargements: libvips' resize shifts an enlarged image by half an
 * output pixel, which the affine path does not). A `mask` (0 or 255 in one band) is resampled smoothly and thresholded at half,
 * so its edge follows the mapped pixel boundary the way a rasterised polygon's does.
 */
export async function warpImage(img: RawImage, m: Affine, width: number, height: number, fill: number, mask = false): Promise<RawImage> {
  const W = img.width;
  const H = img.height;
  let out: RawImage | null = null;
  if (same(m, [1, 0, 0, 1, 0, 0]) && width === W && height === H) return img;
  if (same(m, flipX(W)) && width === W && height === H) out = await toRaw(sharpOf(img).flop(), img.channels);
  else if (same(m, flipY(H)) && width === W && height === H) out = await toRaw(sharpOf(img).flip(), img.channels);
  else if (same(m, rot90(2, W, H)) && width === W && height === H) out = await toRaw(sharpOf(img).rotate(180), img.channels);
  else if (same(m, compose(flipX(W), flipY(H))) && width === W && height === H) out = await toRaw(sharpOf(img).rotate(180), img.channels);
  else if (same(m, rot90(1, W, H)) && width === H && height === W) out = await toRaw(sharpOf(img).rotate(90), img.channels);
  else if (same(m, rot90(3, W, H)) && width === H && height === W) out = await toRaw(sharpOf(img).rotate(270), img.channels);
  else if (m[1] === 0 && m[2] === 0 && m[0] > 0 && m[3] > 0 && m[0] <= 1 && m[3] <= 1 && isWhole(m[0] * W) && isWhole(m[3] * H) && isWhole(m[4]) && isWhole(m[5])) {
    const rw = Math.round(m[0] * W);
    const rh = Math.round(m[3] * H);
    let scaled = img;
    if (rw !== W || rh !== H) {
      scaled = await toRaw(sharpOf(img).resize(rw, rh, { fit: 'fill', kernel: mask ? 'linear' : 'lanczos3' }), img.channels);
    }
    out = await placeInFrame(scaled, Math.round(m[4]), Math.round(m[5]), width, height, fill);
  } else out = await affineWarp(img, m, width, height, fill);
  if (mask) for (let i = 0; i < out.data.length; i++) out.data[i] = out.data[i]! >= 128 ? 255 : 0;
  return out;
}

function isWhole(v: number): boolean {
  return Math.abs(v - Math.round(v)) < 1e-6;
}

const PAD = 2;

/**
 * libvips' affine takes pixel-centre (index) coordinates and writes the bounding box of the
 * transformed input (the corners of [0, width] x [0, height] mapped by the linear part), its
 * origin at the minimum corner rounded half away from zero. The input is padded with `fill`
 * first (so edge pixels interpolate against the fill), the fractional part of the offset goes to
 * `odx`/`ody`, and the whole part is a crop or pad of the result onto the frame.
 */
async function affineWarp(img: RawImage, m: Affine, width: number, height: number, fill: number): Promise<RawImage> {
  const padded = await toRaw(
    sharpOf(img).extend({ left: PAD, top: PAD, right: PAD, bottom: PAD, background: background(fill, img.channels) }),
    img.channels,
  );
  const [a, b, c, d, e, f] = m;
  const Wp = padded.width;
  const Hp = padded.height;
  // Continuous map of the padded image: p_out = A (p - PAD) + t; in index coordinates
  // i_out = A i + T with T = A (0.5 - PAD) + t - 0.5.
  const Tx = a * (0.5 - PAD) + b * (0.5 - PAD) + e - 0.5;
  const Ty = c * (0.5 - PAD) + d * (0.5 - PAD) + f - 0.5;
  const xs = [0, a * Wp, b * Hp, a * Wp + b * Hp];
  const ys = [0, c * Wp, d * Hp, c * Wp + d * Hp];
  // The minimum is at most 0 (the origin maps to 0); libvips rounds its halves away from zero.
  const Lx = -Math.round(-Math.min(...xs));
  const Ly = -Math.round(-Math.min(...ys));
  const kx = Math.floor(Tx + Lx);
  const ky = Math.floor(Ty + Ly);
  const warped = await toRaw(
    sharpOf(padded).affine([a, b, c, d], {
      background: background(fill, img.channels),
      interpolator: sharp.interpolators.bilinear,
      odx: Tx + Lx - kx,
      ody: Ty + Ly - ky,
    }),
    img.channels,
  );
  // Frame pixel i is result pixel i - k.
  return placeInFrame(warped, kx, ky, width, height, fill);
}

/** Encodes raw pixels as a PNG (lossless) or JPEG file's bytes. */
export async function encodeImage(img: RawImage, format: 'png' | 'jpeg', quality = 95): Promise<Buffer> {
  const s = sharpOf(img);
  return format === 'png' ? s.png().toBuffer() : s.jpeg({ quality }).toBuffer();
}
