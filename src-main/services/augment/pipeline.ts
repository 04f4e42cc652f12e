import { readFile } from 'node:fs/promises';
import sharp, { type OverlayOptions } from 'sharp';
import type { Augment, AugmentStep, Preprocess } from '../../common/augment/recipe';
import { compose, determinant, flipX, flipY, mapPoints, rot90, rotateAbout, scale, shearAbout, translate, type Affine } from '../../common/augment/affine';
import { transformGeometry, type Frame } from '../../common/augment/transformGeometry';
import { decodeMask, encodeMask, rleArea, rleBBox } from '../../common/geometry/rle';
import { geometryBBox } from '../../common/geometry/shapes';
import type { Geometry } from '../../common/model';
import { sharpOf, toRaw, warpImage } from './image';
import type { AugAnnotation, RawImage, Rng, Sample, TransformCounts, Transformed } from './types';

/**
 * The augmentation and preprocessing pipeline: every geometric step is an affine map with an
 * output size (common/augment/affine.ts), applied to the pixels through sharp and to every
 * annotation exactly (common/augment/transformGeometry.ts; masks move with the pixels). Every
 * random value comes from the `rng` given, drawn in a fixed order (per step: the probability
 * draw, then the step's values when it applies), so one seed gives the same bytes every time.
 */

type MaskGeometry = Extract<Geometry, { kind: 'mask' }>;

/** A decoded image file as raw 8-bit pixels (EXIF orientation applied, as Tessera shows images). */
export async function loadRawImage(file: string | Buffer): Promise<RawImage> {
  const input = typeof file === 'string' ? await readFile(file) : file;
  const { data, info } = await sharp(input).rotate().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  const channels = info.channels === 1 || info.channels === 3 || info.channels === 4 ? info.channels : 3;
  if (channels !== info.channels) return toRaw(sharp(data, { raw: { width: info.width, height: info.height, channels: info.channels } }), channels);
  return { data, width: info.width, height: info.height, channels };
}

/** One geometric step: the map into an output of width x height, and the frame objects are cut to (all of it). */
interface GeoStep {
  m: Affine;
  width: number;
  height: number;
}

function fullFrame(width: number, height: number): Frame {
  return { x0: 0, y0: 0, x1: width, y1: height };
}

function maskImage(g: MaskGeometry): RawImage {
  const [h, w] = g.rle.size;
  const bits = decodeMask(g.rle);
  const data = Buffer.alloc(w * h);
  for (let i = 0; i < bits.length; i++) data[i] = bits[i] ? 255 : 0;
  return { data, width: w, height: h, channels: 1 };
}

function maskFromImage(img: RawImage): MaskGeometry {
  return { kind: 'mask', rle: encodeMask(img.data, img.width, img.height) };
}

/**
 * A mask moved by whole pixels (dx, dy) into a width x height mask, run by run without decoding:
 * what lands outside is cut off. Column-major order is kept by a shift, so the pieces arrive
 * sorted.
 */
export function shiftRleInto(rle: MaskGeometry['rle'], dx: number, dy: number, width: number, height: number): MaskGeometry['rle'] {
  const [h] = rle.size;
  const out: number[] = [];
  let end = 0;
  const emit = (a: number, b: number) => {
    if (a === end && out.length > 0) out[out.length - 1] = out[out.length - 1]! + b - a;
    else out.push(a - end, b - a);
    end = b;
  };
  let p = 0;
  for (let i = 0; i < rle.counts.length; i++) {
    const c = rle.counts[i]!;
    if (i & 1 && c > 0) {
      for (let a = p, e = p + c; a < e; ) {
        const x = Math.floor(a / h);
        const y0 = a - x * h;
        const y1 = Math.min(h, y0 + (e - a));
        const nx = x + dx;
        const ny0 = Math.max(0, y0 + dy);
        const ny1 = Math.min(height, y1 + dy);
        if (nx >= 0 && nx < width && ny0 < ny1) emit(nx * height + ny0, nx * height + ny1);
        a = x * h + y1;
      }
    }
    p += c;
  }
  if (end < width * height || out.length === 0) out.push(width * height - end);
  return { size: [height, width], counts: out };
}

/** The whole-pixel offset of a map that only translates by whole pixels, else null. */
function wholeShift(m: Affine): [number, number] | null {
  if (m[0] !== 1 || m[1] !== 0 || m[2] !== 0 || m[3] !== 1) return null;
  return Number.isInteger(m[4]) && Number.isInteger(m[5]) ? [m[4], m[5]] : null;
}

/**
 * A mask warped like the image, but only around the object: the mask's box with two pixels of
 * margin (all unset, so nothing spills out of it) is warped into the box of its mapped corners
 * within the frame, and the result placed in the full frame. The same pixels as warping the whole
 * mask, at the cost of the object's size rather than the image's.
 */
async function warpMaskWindow(rle: MaskGeometry['rle'], step: GeoStep): Promise<MaskGeometry['rle']> {
  const [H, W] = rle.size;
  const r = rleBBox(rle);
  const empty = () => shiftRleInto({ size: [1, 1], counts: [1] }, 0, 0, step.width, step.height);
  if (r.w === 0 || r.h === 0) return empty();
  const sx = Math.max(0, r.x - 2);
  const sy = Math.max(0, r.y - 2);
  const sw = Math.min(W, r.x + r.w + 2) - sx;
  const sh = Math.min(H, r.y + r.h + 2) - sy;
  const m1 = compose(step.m, translate(sx, sy));
  const c = mapPoints(m1, [0, 0, sw, 0, sw, sh, 0, sh]);
  const xs = [c[0]!, c[2]!, c[4]!, c[6]!];
  const ys = [c[1]!, c[3]!, c[5]!, c[7]!];
  // Rounded outward after a tolerance, so a map onto whole pixels keeps its exact window.
  const wx0 = Math.max(0, Math.floor(Math.min(...xs) + 1e-9));
  const wy0 = Math.max(0, Math.floor(Math.min(...ys) + 1e-9));
  const wx1 = Math.min(step.width, Math.ceil(Math.max(...xs) - 1e-9));
  const wy1 = Math.min(step.height, Math.ceil(Math.max(...ys) - 1e-9));
  if (wx1 <= wx0 || wy1 <= wy0) return empty();
  const sub = maskImage({ kind: 'mask', rle: shiftRleInto(rle, -sx, -sy, sw, sh) });
  const warped = await warpImage(sub, compose(translate(-wx0, -wy0), m1), wx1 - wx0, wy1 - wy0, 0, true);
  return shiftRleInto(encodeMask(warped.data, warped.width, warped.height), wx0, wy0, step.width, step.height);
}

/** A mask moved by the step, or null when dropped; `clipped` when its moved outline leaves the frame. */
async function transformMask(g: MaskGeometry, step: GeoStep, minVisible: number): Promise<{ geometry: MaskGeometry | null; clipped: boolean }> {
  const before = rleArea(g.rle) * Math.abs(determinant(step.m));
  const shift = wholeShift(step.m);
  // Tiles and crops move masks by whole pixels: cut the runs directly, the same pixels a warp gives.
  const geometry: MaskGeometry = shift
    ? { kind: 'mask', rle: shiftRleInto(g.rle, shift[0], shift[1], step.width, step.height) }
    : { kind: 'mask', rle: await warpMaskWindow(g.rle, step) };
  const after = rleArea(geometry.rle);
  const r = rleBBox(g.rle);
  const corners = mapPoints(step.m, [r.x, r.y, r.x + r.w, r.y, r.x + r.w, r.y + r.h, r.x, r.y + r.h]);
  const clipped = corners.some((v, i) => v < -1e-9 || v > (i & 1 ? step.height : step.width) + 1e-9);
  if (after === 0 || before <= 0 || after / before < minVisible) return { geometry: null, clipped: false };
  return { geometry, clipped };
}

/** Whether the geometry's moved bounding box misses the frame (touching an edge with no area inside counts as missing for shapes with area). */
function missesFrame(g: Geometry, m: Affine, width: number, height: number): boolean {
  if (g.kind === 'tag') return false;
  const r = geometryBBox(g);
  const c = mapPoints(m, [r.x, r.y, r.x + r.w, r.y, r.x + r.w, r.y + r.h, r.x, r.y + r.h]);
  const xs = [c[0]!, c[2]!, c[4]!, c[6]!];
  const ys = [c[1]!, c[3]!, c[5]!, c[7]!];
  const x0 = Math.min(...xs);
  const x1 = Math.max(...xs);
  const y0 = Math.min(...ys);
  const y1 = Math.max(...ys);
  if (x1 < 0 || y1 < 0 || x0 > width || y0 > height) return true;
  const hasArea = g.kind === 'box' || g.kind === 'polygon' || g.kind === 'mask' || g.kind === 'obb';
  return hasArea && (x1 <= 0 || y1 <= 0 || x0 >= width || y0 >= height);
}

/**
 * The annotations moved by a step. An object whose moved box misses the frame entirely is
 * dropped and counted, unless `outsideIsElsewhere` (tiles: it belongs to another tile, and is
 * neither cut nor lost).
 */
async function transformAnnotations<A extends AugAnnotation>(
  annotations: readonly A[],
  step: GeoStep,
  minVisible: number,
  counts: TransformCounts,
  outsideIsElsewhere = false,
): Promise<A[]> {
  const out: A[] = [];
  const frame = fullFrame(step.width, step.height);
  for (const a of annotations) {
    if (missesFrame(a.geometry, step.m, step.width, step.height)) {
      if (!outsideIsElsewhere) counts.dropped++;
      continue;
    }
    if (a.geometry.kind === 'mask') {
      const r = await transformMask(a.geometry, step, minVisible);
      if (!r.geometry) counts.dropped++;
      else {
        if (r.clipped) counts.clipped++;
        out.push({ ...a, geometry: r.geometry });
      }
      continue;
    }
    const r = transformGeometry(a.geometry, step.m, frame, minVisible, a.flipPairs);
    if (r.dropped) counts.dropped++;
    else if (r.clipped) counts.clipped++;
    for (const geometry of r.geometries) out.push({ ...a, geometry });
  }
  return out;
}

async function applyGeo<A extends AugAnnotation>(
  sample: Sample<A>,
  step: GeoStep,
  fill: number,
  minVisible: number,
  counts: TransformCounts,
  outsideIsElsewhere = false,
): Promise<Sample<A>> {
  const image = await warpImage(sample.image, step.m, step.width, step.height, fill);
  const annotations = await transformAnnotations(sample.annotations, step, minVisible, counts, outsideIsElsewhere);
  return { image, annotations };
}

/** Tile origins along one side: `size` apart less `overlap`, the last one flush with the far edge. */
export function tileOrigins(length: number, size: number, overlap: number): number[] {
  if (length <= size) return [0];
  const stride = size - overlap;
  const out: number[] = [];
  for (let p = 0; p + size < length; p += stride) out.push(p);
  out.push(length - size);
  return out;
}

/** The map and output size of a resize of a width x height image. */
export function resizeStep(resize: NonNullable<Preprocess['resize']>, width: number, height: number): GeoStep {
  const { mode, width: w, height: h } = resize;
  if (mode === 'stretch') return { m: scale(w / width, h / height), width: w, height: h };
  if (mode === 'fill') {
    const s = Math.max(w / width, h / height);
    const rw = Math.max(w, Math.round(width * s));
    const rh = Math.max(h, Math.round(height * s));
    const left = Math.floor((rw - w) / 2);
    const top = Math.floor((rh - h) / 2);
    return { m: compose(translate(-left, -top), scale(rw / width, rh / height)), width: w, height: h };
  }
  const s = Math.min(w / width, h / height);
  const rw = Math.max(1, Math.min(w, Math.round(width * s)));
  const rh = Math.max(1, Math.min(h, Math.round(height * s)));
  if (mode === 'fit') return { m: scale(rw / width, rh / height), width: rw, height: rh };
  const left = Math.floor((w - rw) / 2);
  const top = Math.floor((h - rh) / 2);
  return { m: compose(translate(left, top), scale(rw / width, rh / height)), width: w, height: h };
}

async function grayscale(img: RawImage): Promise<RawImage> {
  return toRaw(sharpOf(img).removeAlpha().greyscale(), 1);
}

/**
 * Preprocessing of one image for export: tiles first (several outputs, objects cut by a tile
 * edge clipped and dropped under the tile's `minVisible`, and counted in that tile; objects wholly
 * in other tiles are not counted), then resize, then grayscale. Without tiling, one output.
 */
export async function preprocessSample<A extends AugAnnotation>(sample: Sample<A>, preprocess: Preprocess): Promise<Transformed<A>[]> {
  const tiles: Transformed<A>[] = [];
  const { width, height } = sample.image;
  if (preprocess.tile) {
    const { size, overlap, minVisible } = preprocess.tile;
    for (const y of tileOrigins(height, size, overlap)) {
      for (const x of tileOrigins(width, size, overlap)) {
        const counts = { clipped: 0, dropped: 0 };
        const step = { m: translate(-x, -y), width: Math.min(size, width), height: Math.min(size, height) };
        const t = await applyGeo(sample, step, 0, minVisible, counts, true);
        tiles.push({ ...t, counts, applied: [`tile ${x},${y} ${step.width}x${step.height}`] });
      }
    }
  } else tiles.push({ ...sample, annotations: sample.annotations.slice(), counts: { clipped: 0, dropped: 0 }, applied: [] });
  const out: Transformed<A>[] = [];
  for (let t of tiles) {
    if (preprocess.resize) {
      const step = resizeStep(preprocess.resize, t.image.width, t.image.height);
      const r = await applyGeo(t, step, preprocess.resize.pad, 0, t.counts);
      t = { ...t, ...r, applied: [...t.applied, `resize ${preprocess.resize.mode} ${step.width}x${step.height}`] };
    }
    if (preprocess.grayscale) t = { ...t, image: await grayscale(t.image), applied: [...t.applied, 'grayscale'] };
    out.push(t);
  }
  return out;
}

function draw(rng: Rng, [lo, hi]: readonly [number, number]): number {
  return lo + (hi - lo) * rng();
}

function fmt(v: number): string {
  return String(Math.round(v * 100) / 100);
}

/** A 256-entry lookup applied to every colour band (alpha untouched). */
function lookup(img: RawImage, table: Uint8Array): RawImage {
  const data = Buffer.from(img.data);
  const bands = img.channels === 4 ? 3 : img.channels;
  for (let i = 0; i < data.length; i += img.channels) for (let c = 0; c < bands; c++) data[i + c] = table[data[i + c]!]!;
  return { ...img, data };
}

function meanGrey(img: RawImage): number {
  const bands = img.channels === 4 ? 3 : img.channels;
  let sum = 0;
  for (let i = 0; i < img.data.length; i += img.channels) for (let c = 0; c < bands; c++) sum += img.data[i + c]!;
  return sum / ((img.data.length / img.channels) * bands);
}

/**
 * The standard normal quantile at p (Acklam's rational approximation, relative error below
 * 1.2e-9), for the noise table.
 */
function normalQuantile(p: number): number {
  const a = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239];
  const b = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
  const c = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
  const tail = (q: number) => (((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) / ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1);
  if (p < 0.02425) return tail(Math.sqrt(-2 * Math.log(p)));
  if (p > 1 - 0.02425) return -tail(Math.sqrt(-2 * Math.log(1 - p)));
  const q = p - 0.5;
  const r = q * q;
  return ((((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * q) / (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1);
}

const NOISE_BITS = 12;
/** Standard normal values at the midpoints of 4,096 equal-probability slices. */
const NORMAL_TABLE = Float64Array.from({ length: 1 << NOISE_BITS }, (_, i) => normalQuantile((i + 0.5) / (1 << NOISE_BITS)));

/**
 * Gaussian noise of `sigma` grey levels on every colour band. One draw from `rng` seeds a
 * xorshift stream that picks each sample's value from a table of normal quantiles: the same
 * distribution to far below a grey level, at a fraction of the cost of a transcendental pair per
 * sample.
 */
function addNoise(img: RawImage, sigma: number, rng: Rng): RawImage {
  const data = Buffer.from(img.data);
  const px = new Uint8Array(data.buffer, data.byteOffset, data.length);
  let x = Math.floor(rng() * 0xffffffff) | 0 || 0x9e3779b9;
  // Offsets of half a grey level make the truncation below a rounding.
  const table = Float64Array.from(NORMAL_TABLE, (v) => v * sigma + 0.5);
  const shift = 32 - NOISE_BITS;
  const step = img.channels;
  const bands = step === 4 ? 3 : step;
  for (let i = 0; i < px.length; i += step) {
    for (let c = i; c < i + bands; c++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      const v = px[c]! + table[x >>> shift]!;
      px[c] = v <= 0 ? 0 : v >= 255 ? 255 : v;
    }
  }
  return { ...img, data };
}

/** A photometric step's pixels; annotations are untouched. */
async function photometric(img: RawImage, step: Exclude<AugmentStep, { op: 'flip' | 'rot90' | 'rotate' | 'scaleCrop' | 'shear' | 'mosaic' }>, rng: Rng): Promise<{ image: RawImage; label: string }> {
  switch (step.op) {
    case 'brightness': {
      const f = draw(rng, step.factor);
      return { image: await toRaw(sharpOf(img).modulate({ brightness: f }), img.channels), label: `brightness x${fmt(f)}` };
    }
    case 'saturation': {
      const f = draw(rng, step.factor);
      return { image: await toRaw(sharpOf(img).modulate({ saturation: f }), img.channels), label: `saturation x${fmt(f)}` };
    }
    case 'hue': {
      // libvips turns hue by whole degrees.
      const deg = Math.round(draw(rng, step.degrees));
      return { image: await toRaw(sharpOf(img).modulate({ hue: ((deg % 360) + 360) % 360 }), img.channels), label: `hue ${deg}°` };
    }
    case 'contrast': {
      const f = draw(rng, step.factor);
      const mean = meanGrey(img);
      return { image: await toRaw(sharpOf(img).linear(f, mean * (1 - f)), img.channels), label: `contrast x${fmt(f)}` };
    }
    case 'gamma': {
      // out = 255 (in / 255) ^ gamma: above 1 darkens the mid-tones, below 1 brightens them.
      const g = draw(rng, step.gamma);
      const table = new Uint8Array(256);
      for (let v = 0; v < 256; v++) table[v] = Math.round(255 * Math.pow(v / 255, g));
      return { image: lookup(img, table), label: `gamma ${fmt(g)}` };
    }
    case 'blur': {
      const sigma = draw(rng, step.sigma);
      return { image: await toRaw(sharpOf(img).blur(sigma), img.channels), label: `blur σ${fmt(sigma)}` };
    }
    case 'noise': {
      const sigma = draw(rng, step.sigma);
      return { image: addNoise(img, sigma, rng), label: `noise σ${fmt(sigma)}` };
    }
    case 'cutout': {
      const boxes: { left: number; top: number; width: number; height: number }[] = [];
      for (let i = 0; i < step.count; i++) {
        const width = Math.max(1, Math.min(img.width, Math.round(draw(rng, step.size) * img.width)));
        const height = Math.max(1, Math.min(img.height, Math.round(draw(rng, step.size) * img.height)));
        const left = Math.floor(rng() * (img.width - width + 1));
        const top = Math.floor(rng() * (img.height - height + 1));
        boxes.push({ left, top, width, height });
      }
      const layers = boxes.map((b) => {
        const data = Buffer.alloc(b.width * b.height * img.channels, step.fill);
        if (img.channels === 4) for (let i = 3; i < data.length; i += 4) data[i] = 255;
        return { input: data, raw: { width: b.width, height: b.height, channels: img.channels }, left: b.left, top: b.top };
      });
      return { image: await toRaw(sharpOf(img).composite(layers), img.channels), label: `cutout ${boxes.map((b) => `${b.width}x${b.height}@${b.left},${b.top}`).join(' ')}` };
    }
  }
}

/** The geometric step a drawn augmentation makes of a width x height image (values drawn from `rng`). */
function geometricStep(step: Extract<AugmentStep, { op: 'flip' | 'rot90' | 'rotate' | 'scaleCrop' | 'shear' }>, W: number, H: number, rng: Rng, horizontal?: boolean, vertical?: boolean): { geo: GeoStep; fill: number; label: string } {
  switch (step.op) {
    case 'flip': {
      let m: Affine = [1, 0, 0, 1, 0, 0];
      if (horizontal) m = compose(flipX(W), m);
      if (vertical) m = compose(flipY(H), m);
      return { geo: { m, width: W, height: H }, fill: 0, label: `flip${horizontal ? ' horizontal' : ''}${vertical ? ' vertical' : ''}` };
    }
    case 'rot90': {
      const k = 1 + Math.min(2, Math.floor(rng() * 3));
      return { geo: { m: rot90(k, W, H), width: k % 2 ? H : W, height: k % 2 ? W : H }, fill: 0, label: `rot90 ${90 * k}°` };
    }
    case 'rotate': {
      const deg = draw(rng, step.degrees);
      return { geo: { m: rotateAbout(deg, W / 2, H / 2), width: W, height: H }, fill: step.fill, label: `rotate ${fmt(deg)}°` };
    }
    case 'scaleCrop': {
      const s = draw(rng, step.scale);
      const rw = Math.max(1, Math.round(W * s));
      const rh = Math.max(1, Math.round(H * s));
      // Zoomed in: a window of the zoomed image; zoomed out: the small image somewhere in the frame.
      const ox = rw >= W ? Math.floor(rng() * (rw - W + 1)) : -Math.floor(rng() * (W - rw + 1));
      const oy = rh >= H ? Math.floor(rng() * (rh - H + 1)) : -Math.floor(rng() * (H - rh + 1));
      return { geo: { m: compose(translate(-ox, -oy), scale(rw / W, rh / H)), width: W, height: H }, fill: step.fill, label: `scaleCrop x${fmt(s)} at ${-ox},${-oy}` };
    }
    case 'shear': {
      const x = draw(rng, step.x);
      const y = draw(rng, step.y);
      return { geo: { m: shearAbout(x, y, W / 2, H / 2), width: W, height: H }, fill: step.fill, label: `shear ${fmt(x)}°,${fmt(y)}°` };
    }
  }
}

/** Annotations of a region's output moved by (dx, dy) onto a width x height canvas (masks re-embedded). */
async function onCanvas<A extends AugAnnotation>(annotations: readonly A[], dx: number, dy: number, width: number, height: number): Promise<A[]> {
  const out: A[] = [];
  const m = translate(dx, dy);
  for (const a of annotations) {
    if (a.geometry.kind === 'mask') {
      out.push({ ...a, geometry: { kind: 'mask', rle: shiftRleInto(a.geometry.rle, dx, dy, width, height) } });
    } else {
      const r = transformGeometry(a.geometry, m, fullFrame(width, height), 0, undefined);
      for (const geometry of r.geometries) out.push({ ...a, geometry });
    }
  }
  return out;
}

/**
 * Mosaic: this sample and three others in a 2x2 grid around a centre drawn in the middle half of
 * the frame, output at this sample's size. Each image is scaled to fit the frame and placed with
 * its inner corner at the centre; what falls outside its quarter is cut off (objects clipped or
 * dropped under `minVisible`, counted).
 */
async function mosaic<A extends AugAnnotation>(sample: Sample<A>, others: Sample<A>[], rng: Rng, minVisible: number, counts: TransformCounts): Promise<{ sample: Sample<A>; label: string }> {
  const W = sample.image.width;
  const H = sample.image.height;
  const cx = Math.round(W * (0.25 + 0.5 * rng()));
  const cy = Math.round(H * (0.25 + 0.5 * rng()));
  const regions = [
    { x: 0, y: 0, w: cx, h: cy },
    { x: cx, y: 0, w: W - cx, h: cy },
    { x: 0, y: cy, w: cx, h: H - cy },
    { x: cx, y: cy, w: W - cx, h: H - cy },
  ];
  const parts = [sample, ...others];
  const layers: OverlayOptions[] = [];
  const annotations: A[] = [];
  for (let q = 0; q < 4; q++) {
    const region = regions[q]!;
    if (region.w <= 0 || region.h <= 0) continue;
    const part = parts[q]!;
    const image = part.image.channels === sample.image.channels ? part.image : await toRaw(sharpOf(part.image), sample.image.channels);
    const s = Math.min(W / image.width, H / image.height);
    const rw = Math.max(1, Math.round(image.width * s));
    const rh = Math.max(1, Math.round(image.height * s));
    // The inner corner of each image touches the centre.
    const ox = q % 2 === 0 ? region.w - rw : 0;
    const oy = q < 2 ? region.h - rh : 0;
    const step = { m: compose(translate(ox, oy), scale(rw / image.width, rh / image.height)), width: region.w, height: region.h };
    const moved = await applyGeo({ image, annotations: part.annotations }, step, 114, minVisible, counts);
    layers.push({ input: moved.image.data, raw: { width: moved.image.width, height: moved.image.height, channels: moved.image.channels }, left: region.x, top: region.y });
    annotations.push(...(await onCanvas(moved.annotations, region.x, region.y, W, H)));
  }
  const ch = sample.image.channels;
  const canvas = Buffer.alloc(W * H * ch, 114);
  if (ch === 4) for (let i = 3; i < canvas.length; i += 4) canvas[i] = 255;
  const image = await toRaw(sharpOf({ data: canvas, width: W, height: H, channels: ch }).composite(layers), ch);
  return { sample: { image, annotations }, label: `mosaic at ${cx},${cy}` };
}

/**
 * One augmented output of a sample: the recipe's steps in order, each applied with its
 * probability. `drawOthers(n)` gives the n further train images a mosaic needs; a mosaic step
 * that applies without it is an error.
 */
export async function augmentSample<A extends AugAnnotation>(
  sample: Sample<A>,
  augment: Augment,
  rng: Rng,
  drawOthers?: (n: number) => Promise<Sample<A>[]>,
): Promise<Transformed<A>> {
  let cur: Sample<A> = { image: sample.image, annotations: sample.annotations.slice() };
  const counts: TransformCounts = { clipped: 0, dropped: 0 };
  const applied: string[] = [];
  for (const step of augment.steps) {
    if (step.op === 'flip') {
      const h = rng() < step.horizontal;
      const v = rng() < step.vertical;
      if (!h && !v) continue;
      const g = geometricStep(step, cur.image.width, cur.image.height, rng, h, v);
      cur = await applyGeo(cur, g.geo, g.fill, augment.minVisible, counts);
      applied.push(g.label);
      continue;
    }
    if (!(rng() < step.p)) continue;
    if (step.op === 'mosaic') {
      if (!drawOthers) throw new Error('a mosaic step needs three further train images, and none were given');
      const others = await drawOthers(3);
      if (others.length < 3) throw new Error(`a mosaic step needs three further train images, got ${others.length}`);
      const r = await mosaic(cur, others.slice(0, 3), rng, augment.minVisible, counts);
      cur = r.sample;
      applied.push(r.label);
    } else if (step.op === 'rot90' || step.op === 'rotate' || step.op === 'scaleCrop' || step.op === 'shear') {
      const g = geometricStep(step, cur.image.width, cur.image.height, rng);
      cur = await applyGeo(cur, g.geo, g.fill, augment.minVisible, counts);
      applied.push(g.label);
    } else {
      const r = await photometric(cur.image, step, rng);
      cur = { image: r.image, annotations: cur.annotations };
      applied.push(r.label);
    }
  }
  return { ...cur, counts, applied };
}
