import { AppError } from '../common/errors';
import type { ParsedArgs, ResultOf } from '../common/contract';
import type { Rle } from '../common/geometry/rle';
import { applyVoi } from '../common/imaging/window';
import type { ImageRecord } from '../common/model';
import type { SegmentMask } from '../common/segment';
import { getImage } from '../db/images';
import type { VisionWorker } from '../vision/client';
import type { Pixels } from '../vision/ops';
import type { Dataset } from './dataset';
import { defaultWindow, rasterNeedsWindow } from './dicom/display';
import type { Media } from './media';
import { readRasterPart, requireFrame, vipsReadable, type Raster } from './raster';

/**
 * The classical smart tools (magic wand, GrabCut, watershed, intelligent scissors) on the pixels the labeler sees: the
 * oriented frame as displayed, i.e. 8-bit images as stored and deeper ones (16-bit, float, DICOM)
 * through the frame's current display window, alpha left out. OpenCV runs in its own worker
 * thread (vision/); results are COCO RLE masks over the whole image.
 */
export interface SmartDeps {
  ds: Dataset;
  media: Media;
  vision: VisionWorker;
}

/** A rectangle of whole pixels inside the image. */
interface Area {
  x: number;
  y: number;
  w: number;
  h: number;
}

async function image(deps: SmartDeps, imageId: number, frame: number): Promise<ImageRecord> {
  const im = await getImage(deps.ds.db, imageId);
  if (!im) throw new AppError('NOT_FOUND', `image ${imageId} is not in the dataset`, { imageId });
  requireFrame(im, frame);
  return im;
}

/** The whole pixels a rectangle in image coordinates covers, clipped to the image; null when none. */
function clip(im: ImageRecord, x0: number, y0: number, x1: number, y1: number): Area | null {
  const ax = Math.max(0, Math.floor(Math.min(x0, x1)));
  const ay = Math.max(0, Math.floor(Math.min(y0, y1)));
  const bx = Math.min(im.width, Math.ceil(Math.max(x0, x1)));
  const by = Math.min(im.height, Math.ceil(Math.max(y0, y1)));
  return bx > ax && by > ay ? { x: ax, y: ay, w: bx - ax, h: by - ay } : null;
}

/**
 * The displayed 8-bit pixels (grey or RGB) of an area of a frame. Deep samples go through the
 * window the viewer shows the frame with (remembered, the file's own, else automatic), computed
 * like the viewer does; a large image's area is decoded on its own where libvips can.
 */
export async function displayedPixels(deps: SmartDeps, im: ImageRecord, frame: number, area: Area): Promise<Pixels> {
  // Only the pixels imported: a file edited since would give a mask of another picture.
  await deps.media.requireUnchanged(im);
  const whole = area.x === 0 && area.y === 0 && area.w === im.width && area.h === im.height;
  const byPart = !whole && deps.media.isLarge(im) && vipsReadable(im);
  const r: Raster = byPart ? await readRasterPart(deps.ds, im, frame, { region: area }) : await deps.media.raster(im, frame);
  let bytes: Uint8Array;
  if (rasterNeedsWindow(r)) {
    const stats = await deps.media.statsRaster(im, frame);
    const win = (await defaultWindow(deps.ds.db, im, frame, () => stats)).window;
    bytes = applyVoi(r.data, r.channels, win, { invert: r.invert === true });
  } else {
    bytes = r.data as Uint8Array;
  }
  const from: Area = byPart ? { x: 0, y: 0, w: area.w, h: area.h } : area;
  const src = r.channels;
  const ch: 1 | 3 = src === 1 ? 1 : 3;
  const out = new Uint8Array(area.w * area.h * ch);
  for (let y = 0; y < area.h; y++) {
    const row = ((from.y + y) * r.width + from.x) * src;
    if (src === ch) {
      out.set(bytes.subarray(row, row + area.w * src), y * area.w * ch);
      continue;
    }
    for (let x = 0, i = row, o = y * area.w * ch; x < area.w; x++, i += src, o += ch) {
      out[o] = bytes[i]!;
      out[o + 1] = bytes[i + 1]!;
      out[o + 2] = bytes[i + 2]!;
    }
  }
  return { data: out, width: area.w, height: area.h, channels: ch };
}

/** Builds one COCO RLE (column-major) over the whole image from set pixels met in column-major order. */
class RleBuilder {
  private readonly counts: number[] = [];
  /** Column-major index just past the last set pixel. */
  private end = 0;
  private run = 0;
  area = 0;
  private minX = Infinity;
  private minY = Infinity;
  private maxX = -1;
  private maxY = -1;

  constructor(
    private readonly width: number,
    private readonly height: number,
  ) {}

  /** Adds pixel (x, y); calls must come in column-major order. */
  add(x: number, y: number): void {
    const idx = x * this.height + y;
    if (this.area > 0 && idx === this.end) {
      this.run++;
    } else {
      if (this.area > 0) this.counts.push(this.run);
      this.counts.push(idx - this.end);
      this.run = 1;
    }
    this.end = idx + 1;
    this.area++;
    if (x < this.minX) this.minX = x;
    if (x > this.maxX) this.maxX = x;
    if (y < this.minY) this.minY = y;
    if (y > this.maxY) this.maxY = y;
  }

  finish(): SegmentMask {
    const total = this.width * this.height;
    const counts = this.area > 0 ? [...this.counts, this.run, total - this.end] : [total];
    const rle: Rle = { size: [this.height, this.width], counts };
    const bbox: [number, number, number, number] = this.area > 0 ? [this.minX, this.minY, this.maxX - this.minX + 1, this.maxY - this.minY + 1] : [0, 0, 0, 0];
    return { rle, area: this.area, bbox, score: 1 };
  }
}

/** A mask of an area (row-major 0/1) as a mask over the whole image. */
function placeMask(mask: Uint8Array, area: Area, im: ImageRecord): SegmentMask {
  const b = new RleBuilder(im.width, im.height);
  for (let x = 0; x < area.w; x++) for (let y = 0, i = x; y < area.h; y++, i += area.w) if (mask[i]) b.add(area.x + x, area.y + y);
  return b.finish();
}

/** The instances of a label image of an area (0 background, 1..count) as masks over the whole image. */
function placeLabels(labels: Int32Array, count: number, area: Area, im: ImageRecord): SegmentMask[] {
  const builders = Array.from({ length: count }, () => new RleBuilder(im.width, im.height));
  for (let x = 0; x < area.w; x++) {
    for (let y = 0, i = x; y < area.h; y++, i += area.w) {
      const l = labels[i]!;
      if (l > 0) builders[l - 1]!.add(area.x + x, area.y + y);
    }
  }
  return builders.map((b) => b.finish());
}

/** Magic wand: the region around (x, y) whose displayed colour is within `tolerance` per channel. */
export async function smartWand(deps: SmartDeps, a: ParsedArgs<'smart:wand'>): Promise<ResultOf<'smart:wand'>> {
  const im = await image(deps, a.imageId, a.frame);
  const px = Math.floor(a.x);
  const py = Math.floor(a.y);
  if (px < 0 || py < 0 || px >= im.width || py >= im.height) {
    throw new AppError('INVALID_ARGUMENT', `${im.path}: point (${a.x}, ${a.y}) is outside the ${im.width}x${im.height} image`, { imageId: im.id });
  }
  const area = a.region ? clip(im, a.region.x, a.region.y, a.region.x + a.region.w, a.region.y + a.region.h) : { x: 0, y: 0, w: im.width, h: im.height };
  if (!area || px < area.x || py < area.y || px >= area.x + area.w || py >= area.y + area.h) {
    throw new AppError('INVALID_ARGUMENT', `${im.path}: point (${a.x}, ${a.y}) is outside the region searched`, { imageId: im.id });
  }
  const pixels = await displayedPixels(deps, im, a.frame, area);
  const out = await deps.vision.wand(pixels, px - area.x, py - area.y, a.tolerance);
  return placeMask(out.mask, area, im);
}

/** Margin of the crop GrabCut runs on, around the box: its background model needs room. */
function grabcutMargin(w: number, h: number): number {
  return Math.max(16, Math.round(0.3 * Math.max(w, h)));
}

/**
 * GrabCut initialised with the box, run on a crop around it (the box and a margin) rather than
 * the whole image: the result lies inside the box, and the crop keeps the call fast.
 */
export async function smartGrabcut(deps: SmartDeps, a: ParsedArgs<'smart:grabcut'>): Promise<ResultOf<'smart:grabcut'>> {
  const im = await image(deps, a.imageId, a.frame);
  const box = clip(im, a.box.x0, a.box.y0, a.box.x1, a.box.y1);
  if (!box || box.w < 2 || box.h < 2) throw new AppError('INVALID_ARGUMENT', `${im.path}: the GrabCut box must cover at least 2x2 pixels of the image`, { imageId: im.id });
  const m = grabcutMargin(box.w, box.h);
  const crop = clip(im, box.x - m, box.y - m, box.x + box.w + m, box.y + box.h + m)!;
  if (crop.w === box.w && crop.h === box.h) {
    throw new AppError('INVALID_ARGUMENT', `${im.path}: the GrabCut box covers the whole image, leaving no background to learn from`, { imageId: im.id });
  }
  const pixels = await displayedPixels(deps, im, a.frame, crop);
  const out = await deps.vision.grabcut(pixels, { x: box.x - crop.x, y: box.y - crop.y, w: box.w, h: box.h }, a.iterations);
  return placeMask(out.mask, crop, im);
}

/**
 * Threshold and instances (see vision/ops.ts watershed): over the whole frame, or the box. The
 * threshold used (Otsu's when none is given) comes back with the instances.
 */
export async function smartWatershed(deps: SmartDeps, a: ParsedArgs<'smart:watershed'>): Promise<ResultOf<'smart:watershed'>> {
  const im = await image(deps, a.imageId, a.frame);
  const area = a.box ? clip(im, a.box.x0, a.box.y0, a.box.x1, a.box.y1) : { x: 0, y: 0, w: im.width, h: im.height };
  if (!area) throw new AppError('INVALID_ARGUMENT', `${im.path}: the box lies outside the image`, { imageId: im.id });
  const pixels = await displayedPixels(deps, im, a.frame, area);
  const out = await deps.vision.watershed(pixels, { ...(a.threshold !== undefined ? { threshold: a.threshold } : {}), split: a.split, minArea: a.minArea, fillHoles: a.fillHoles });
  return { instances: placeLabels(out.labels, out.count, area, im), threshold: out.threshold };
}

/** Margin of the area the scissors search around their two points: a path may bulge out that far. */
function scissorsMargin(from: { x: number; y: number }, to: { x: number; y: number }): number {
  return Math.max(32, Math.round(0.5 * Math.hypot(to.x - from.x, to.y - from.y)));
}

/**
 * Intelligent scissors: the path along edges from one point to the other, searched in the area
 * the two points span plus a margin (a livewire segment rather than a whole-image map, so each
 * call stays fast on large images).
 */
export async function smartScissors(deps: SmartDeps, a: ParsedArgs<'smart:scissors'>): Promise<ResultOf<'smart:scissors'>> {
  const im = await image(deps, a.imageId, a.frame);
  for (const p of [a.from, a.to]) {
    if (p.x < 0 || p.y < 0 || p.x >= im.width || p.y >= im.height) {
      throw new AppError('INVALID_ARGUMENT', `${im.path}: point (${p.x}, ${p.y}) is outside the ${im.width}x${im.height} image`, { imageId: im.id });
    }
  }
  const m = scissorsMargin(a.from, a.to);
  const area = clip(im, Math.min(a.from.x, a.to.x) - m, Math.min(a.from.y, a.to.y) - m, Math.max(a.from.x, a.to.x) + m + 1, Math.max(a.from.y, a.to.y) + m + 1)!;
  const pixels = await displayedPixels(deps, im, a.frame, area);
  const out = await deps.vision.scissors(pixels, { x: a.from.x - area.x, y: a.from.y - area.y }, { x: a.to.x - area.x, y: a.to.y - area.y });
  const points: number[] = new Array(out.points.length);
  for (let i = 0; i < out.points.length; i += 2) {
    points[i] = out.points[i]! + area.x + 0.5;
    points[i + 1] = out.points[i + 1]! + area.y + 0.5;
  }
  return { points };
}
