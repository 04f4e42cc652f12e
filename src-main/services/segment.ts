import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { AppError } from '../common/errors';
import type { Provider, RawPixels, ThreadSettings } from '../common/inference/types';
import { applyVoi } from '../common/imaging/window';
import type { Raster } from '../common/imaging/raster';
import { traceMask } from '../common/geometry/trace';
import type { AnnotationRecord, Geometry, ImageRecord } from '../common/model';
import type { BoxesToMasksSummary, EncodeResult, SamManifest, SegmentBox, SegmentMask, SegmentPoint, SegmentRegion, SegmentResult } from '../common/segment';
import { getAnnotationsByIds, insertAnnotations, type NewAnnotation } from '../db/annotations';
import { findImagesByName, getImage } from '../db/images';
import { insertClass, listClasses } from '../db/classes';
import { SAM_MEAN, SAM_STD } from '../common/inference/samManifest';
import { inspectSamPair } from '../common/inference/samFamily';
import type { ModelIo } from '../common/inference/types';
import { editAnnotations } from './annotations';
import { readSamManifestFile } from './samModels';
import { finishModelRun, insertModelRun } from '../db/modelRuns';
import { addRunImages, getModelRun, markRunImage, predictionIds, setRunProvider } from '../db/prelabel';
import type { SamDecodeArgs, SamDecodeValue, SamEncodeArgs, SamEncodeValue, SamFrame, SamModelKey, SamPreprocessing, SamSource } from '../inference/sam';
import sharp from 'sharp';
import { levelScale, levelSize, type PyramidGeometry } from '../common/pyramid';
import type { Dataset } from './dataset';
import { requireImageUnchanged } from './media';
import { chosenWindow, decodedForDisplay, defaultWindow, rasterNeedsWindow } from './dicom/display';
import { fullDecodePixelsSetting, readRaster, readRasterPart, requireFrame, vipsReadable } from './raster';
import { nextClassColour } from '../common/palette';

/**
 * Interactive segmentation with SAM-family pairs (Segment Anything, EfficientViT-SAM, SAM 2): which pixels the encoder sees
 * (the displayed frame, windowed for 16-bit and DICOM, a region of a large image), the identity
 * of an embedding in the worker's and the dataset's caches, and prompts in image pixels in,
 * whole-image masks out. The models run in the inference workers (inference/sam.ts).
 */

/** What the inference layer offers this service (InferencePool's SAM requests). */
export interface SamBackend {
  samEncode(args: SamEncodeArgs): Promise<SamEncodeValue>;
  samDecode(args: SamDecodeArgs): Promise<SamDecodeValue>;
  samStats(encoder: string): Promise<{ encodes: number; embeddings: number }>;
}

/** A model ready to run: its manifest and both files. */
export interface SamModelFiles {
  manifest: SamManifest;
  encoderPath: string;
  decoderPath: string;
}

export interface SegmentTarget {
  imageId: number;
  frame: number;
  region?: SegmentRegion | undefined;
  providers?: Provider[] | undefined;
  threads?: ThreadSettings | undefined;
}

export interface SegmentPrompt extends SegmentTarget {
  points: SegmentPoint[];
  box?: SegmentBox | undefined;
  /** The `lowResId` of the candidate shown for an earlier prompt: its low-resolution mask is fed back to the decoder. */
  refineFrom?: string | undefined;
  /** Keep the candidates' low-resolution masks for a later prompt to refine from (the answer's masks carry `lowResId`). */
  keepLowRes?: boolean | undefined;
}

/** Below this long side an image is encoded whole; a region asked of it is widened to the whole image. */
export const WHOLE_IMAGE_SIDE = 4096;

const identities = new Map<string, string>();

/** Identity of a model file: its resolved path, size and modification time, hashed. */
export function fileIdentity(file: string): string {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch {
    throw new AppError('FILE_NOT_FOUND', `${file}: does not exist`, { path: file });
  }
  const raw = `${path.resolve(file)}\u0000${st.size}\u0000${st.mtimeMs}`;
  let id = identities.get(raw);
  if (!id) {
    id = createHash('sha256').update(raw).digest('hex');
    identities.set(raw, id);
  }
  return id;
}

/**
 * The part of the image the encoder sees: the region asked for, cut to whole pixels inside the
 * image; the whole image when none is given, or when the image is small enough to encode whole
 * anyway (its embedding then serves every view of it).
 */
export function encodedRegion(im: Pick<ImageRecord, 'width' | 'height' | 'path'>, region: SegmentRegion | undefined): SegmentRegion {
  const W = im.width, H = im.height;
  if (!region || Math.max(W, H) <= WHOLE_IMAGE_SIDE) return { x: 0, y: 0, w: W, h: H };
  const x0 = Math.max(0, Math.floor(region.x)), y0 = Math.max(0, Math.floor(region.y));
  const x1 = Math.min(W, Math.ceil(region.x + region.w)), y1 = Math.min(H, Math.ceil(region.y + region.h));
  if (x1 <= x0 || y1 <= y0) {
    throw new AppError('INVALID_ARGUMENT', `${im.path}: region ${region.w}x${region.h} at ${region.x},${region.y} lies outside the ${W}x${H} image`);
  }
  return { x: x0, y: y0, w: x1 - x0, h: y1 - y0 };
}

function crop8(px: { data: Uint8Array; channels: number }, width: number, r: SegmentRegion): Uint8Array {
  const ch = px.channels;
  const out = new Uint8Array(r.w * r.h * ch);
  for (let y = 0; y < r.h; y++) out.set(px.data.subarray(((r.y + y) * width + r.x) * ch, ((r.y + y) * width + r.x + r.w) * ch), y * r.w * ch);
  return out;
}

/**
 * An embedding's identity and where it comes from. `source` decodes the pixels only when the
 * embedding has to be computed.
 */
interface Plan {
  model: SamModelKey;
  pre: SamPreprocessing;
  key: string;
  diskFile: string;
  frame: SamFrame;
  source: () => Promise<SamSource>;
  /** Whether `source` decodes pixels in this thread (DICOM, deep images, BMP) rather than naming a file. */
  decodesHere: boolean;
}

/**
 * A built tile pyramid of an image (see services/pyramid.ts): its geometry and the file of a tile.
 * Its levels let a large region be encoded from a reduced copy rather than the full resolution.
 */
export interface PyramidLevels {
  geometry: PyramidGeometry;
  tile(level: number, col: number, row: number): Promise<string>;
}

/**
 * The coarsest pyramid level at which the region's long side is still at least `inputSize`, and
 * the region widened to whole pixels of that level; null when only the full resolution is.
 */
export function levelForRegion(g: PyramidGeometry, region: SegmentRegion, inputSize: number): { level: number; scale: number; region: SegmentRegion } | null {
  let best: number | null = null;
  for (let level = g.levels - 2; level >= 0; level--) {
    if (Math.max(region.w, region.h) / levelScale(g, level) < inputSize) break;
    best = level;
  }
  if (best === null) return null;
  const scale = levelScale(g, best);
  const x0 = Math.floor(region.x / scale) * scale, y0 = Math.floor(region.y / scale) * scale;
  const x1 = Math.min(g.width, Math.ceil((region.x + region.w) / scale) * scale), y1 = Math.min(g.height, Math.ceil((region.y + region.h) / scale) * scale);
  return { level: best, scale, region: { x: x0, y: y0, w: x1 - x0, h: y1 - y0 } };
}

/** The pixels of a region (in image pixels, aligned to the level) assembled from one level's tiles, RGB. */
export async function regionFromLevel(p: PyramidLevels, level: number, region: SegmentRegion): Promise<RawPixels> {
  const g = p.geometry;
  const scale = levelScale(g, level);
  const size = levelSize(g, level);
  const lx0 = region.x / scale, ly0 = region.y / scale;
  const lx1 = Math.min(size.width, Math.ceil((region.x + region.w) / scale)), ly1 = Math.min(size.height, Math.ceil((region.y + region.h) / scale));
  const w = lx1 - lx0, h = ly1 - ly0;
  const out = new Uint8Array(w * h * 3);
  const T = g.tileSize;
  const tiles: Promise<void>[] = [];
  for (let row = Math.floor(ly0 / T); row <= Math.floor((ly1 - 1) / T); row++) {
    for (let col = Math.floor(lx0 / T); col <= Math.floor((lx1 - 1) / T); col++) {
      tiles.push(
        (async () => {
          const { data, info } = await sharp(await p.tile(level, col, row)).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
          const tx = col * T, ty = row * T;
          const ix0 = Math.max(lx0, tx), iy0 = Math.max(ly0, ty), ix1 = Math.min(lx1, tx + info.width), iy1 = Math.min(ly1, ty + info.height);
          for (let y = iy0; y < iy1; y++) {
            const src = ((y - ty) * info.width + (ix0 - tx)) * info.channels;
            out.set(data.subarray(src, src + (ix1 - ix0) * 3), ((y - ly0) * w + (ix0 - lx0)) * 3);
          }
        })(),
      );
    }
  }
  await Promise.all(tiles);
  return { data: out, width: w, height: h, channels: 3 };
}

export class Segmenter {
  /**
   * `levels` gives an image's built tile pyramid, when it has one: large regions (and large
   * images encoded whole) are then read from the coarsest level that still has `inputSize` pixels
   * on their long side.
   */
  constructor(
    private readonly backend: () => Promise<SamBackend>,
    private readonly levels: (ds: Dataset, im: ImageRecord) => Promise<PyramidLevels | null> = async () => null,
  ) {}

  private async image(ds: Dataset, imageId: number): Promise<ImageRecord> {
    const im = await getImage(ds.db, imageId);
    if (!im) throw new AppError('NOT_FOUND', `image ${imageId} is not in the dataset`, { imageId });
    return im;
  }

  /** What the encoder sees of an image for a model, and the embedding's cache identity. */
  async plan(ds: Dataset, model: SamModelFiles, t: SegmentTarget): Promise<Plan> {
    const m = model.manifest;
    const im = await this.image(ds, t.imageId);
    // The pixels must be the ones imported: a file edited since would be encoded under the old
    // content hash, and its masks placed with the old size.
    await requireImageUnchanged(ds, im);
    requireFrame(im, t.frame);
    let region = encodedRegion(im, t.region);
    // 8-bit images with a built pyramid: a large region comes from a reduced level. (Deeper
    // images go through the current display window, which the pyramid's tiles may not show.)
    const pyramid = decodedForDisplay(im) || !vipsReadable(im) || t.frame !== 0 ? null : await this.levels(ds, im);
    const level = pyramid ? levelForRegion(pyramid.geometry, region, m.inputSize) : null;
    if (level) region = level.region;
    const pre: SamPreprocessing = { family: m.family, inputSize: m.inputSize, mean: m.mean, std: m.std };
    const decoded = decodedForDisplay(im) || !vipsReadable(im);
    // The window is part of the identity: the display it was encoded through. An automatic window
    // follows from the pixels, which the content hash and frame already name.
    const chosen = decodedForDisplay(im) ? await chosenWindow(ds.db, im, t.frame) : null;
    const windowTag = chosen ? `w${chosen.window.center},${chosen.window.width}` : 'auto';
    const key = [
      fileIdentity(model.encoderPath),
      `${m.family};${m.inputSize};${m.mean.join(',')};${m.std.join(',')}`,
      im.contentHash,
      `f${t.frame}`,
      `r${region.x},${region.y},${region.w},${region.h}`,
      windowTag,
      level ? `L${level.scale}` : 'L1',
    ].join('|');
    const diskFile = path.join(ds.cacheDir, 'sam', im.contentHash.slice(0, 2), `${createHash('sha256').update(key).digest('hex').slice(0, 40)}.emb`);
    const threads = t.threads ? { intraOpThreads: t.threads.threads, spinning: t.threads.spinning } : {};
    return {
      model: { encoder: model.encoderPath, decoder: model.decoderPath, ...(t.providers ? { providers: t.providers } : {}), ...threads },
      pre,
      key,
      diskFile,
      frame: { region, width: im.width, height: im.height },
      decodesHere: decoded || level !== null,
      source: async () => {
        if (level && pyramid) return { raw: await regionFromLevel(pyramid, level.level, region) };
        return decoded ? { raw: await this.displayedPixels(ds, im, t.frame, region, m.inputSize) } : { path: ds.imagePath(im), page: t.frame };
      },
    };
  }

  /**
   * The frame's pixels as the viewer shows them, cut to the region: samples deeper than 8 bits and
   * DICOM greyscale through the display window (remembered, the file's own, else automatic),
   * MONOCHROME1 inverted. A frame too large to decode whole is read a region at a time, or reduced.
   */
  private async displayedPixels(ds: Dataset, im: ImageRecord, frame: number, region: SegmentRegion, inputSize: number): Promise<RawPixels> {
    const whole = region.x === 0 && region.y === 0 && region.w === im.width && region.h === im.height;
    const large = vipsReadable(im) && im.width * im.height > fullDecodePixelsSetting();
    let raster: Raster;
    let cut = region;
    if (large) {
      raster = whole ? await readRasterPart(ds, im, frame, { maxSide: Math.max(inputSize, 2048) }) : await readRasterPart(ds, im, frame, { region });
      cut = { x: 0, y: 0, w: raster.width, h: raster.height };
    } else {
      raster = await readRaster(ds, im, frame);
    }
    // The same mapping the viewer draws the frame with (media.ts), alpha left for the encoder to drop.
    const bytes = rasterNeedsWindow(raster)
      ? { data: applyVoi(raster.data, raster.channels, (await defaultWindow(ds.db, im, frame, () => raster)).window, { invert: raster.invert ?? false }), channels: raster.channels }
      : { data: raster.data as Uint8Array, channels: raster.channels };
    const full = cut.x === 0 && cut.y === 0 && cut.w === raster.width && cut.h === raster.height;
    const data = full ? bytes.data : crop8(bytes, raster.width, cut);
    return { data, width: cut.w, height: cut.h, channels: bytes.channels as 1 | 3 | 4 };
  }

  /**
   * Encodes an image (or region) ahead of its first prompt; nothing to do when it is cached.
   * Pixels decoded here (DICOM, deep images) are decoded only once the worker has said that the
   * embedding is in neither cache.
   */
  async encode(ds: Dataset, model: SamModelFiles, t: SegmentTarget): Promise<EncodeResult> {
    const p = await this.plan(ds, model, t);
    const backend = await this.backend();
    const args = { model: p.model, pre: p.pre, key: p.key, diskFile: p.diskFile, frame: p.frame };
    let r = await backend.samEncode({ ...args, source: p.decodesHere ? null : await p.source() });
    if (r.needsSource) r = await backend.samEncode({ ...args, source: await p.source() });
    return { encodeMs: r.encodeMs, cached: r.cached !== null, provider: r.provider, warnings: r.warnings };
  }

  /** Masks for a prompt in image pixels; encodes the image first when its embedding is not cached. */
  async decode(ds: Dataset, model: SamModelFiles, q: SegmentPrompt): Promise<SegmentResult> {
    if (q.points.length === 0 && !q.box) throw new AppError('INVALID_ARGUMENT', 'a prompt needs a point or a box');
    requireInside(await this.image(ds, q.imageId), q);
    const p = await this.plan(ds, model, q);
    const backend = await this.backend();
    const args: SamDecodeArgs = { model: p.model, pre: p.pre, key: p.key, diskFile: p.diskFile, points: q.points, ...(q.box ? { box: q.box } : {}), refineFrom: q.refineFrom, keepLowRes: q.keepLowRes };
    let t0 = performance.now();
    let r = await backend.samDecode(args);
    let encodeMs = 0;
    let cached = r.cached !== null;
    const warnings: string[] = [];
    if (!r.found) {
      const e = await backend.samEncode({ model: p.model, pre: p.pre, key: p.key, diskFile: p.diskFile, frame: p.frame, source: await p.source() });
      if (e.needsSource) throw new AppError('INTERNAL', `image ${q.imageId}: the encoder asked for pixels it was given`);
      encodeMs = e.encodeMs;
      cached = e.cached !== null;
      warnings.push(...e.warnings);
      t0 = performance.now();
      r = await backend.samDecode(args);
      if (!r.found) throw new AppError('INTERNAL', `image ${q.imageId}: the embedding was not kept after encoding`);
    }
    const decodeMs = performance.now() - t0;
    for (const w of r.warnings) if (!warnings.includes(w)) warnings.push(w);
    return { masks: r.masks.map(toMask), encodeMs, decodeMs, cached, provider: r.provider, warnings };
  }
}

/** Refuses prompt points outside the image and a box that does not overlap it, naming the file. */
function requireInside(im: ImageRecord, q: { points: SegmentPoint[]; box?: SegmentBox | undefined }): void {
  for (const pt of q.points) {
    if (pt.x < 0 || pt.y < 0 || pt.x > im.width || pt.y > im.height) {
      throw new AppError('INVALID_ARGUMENT', `${im.path}: point ${pt.x},${pt.y} lies outside the ${im.width}x${im.height} image`, { imageId: im.id });
    }
  }
  const b = q.box;
  if (b && (Math.max(b.x0, b.x1) <= 0 || Math.max(b.y0, b.y1) <= 0 || Math.min(b.x0, b.x1) >= im.width || Math.min(b.y0, b.y1) >= im.height)) {
    throw new AppError('INVALID_ARGUMENT', `${im.path}: box ${b.x0},${b.y0},${b.x1},${b.y1} does not overlap the ${im.width}x${im.height} image`, { imageId: im.id });
  }
}

export function toMask(m: SamDecodeValue['masks'][number]): SegmentMask {
  return { rle: { size: m.size, counts: Array.from(m.counts) }, area: m.area, bbox: m.bbox, score: m.score, ...(m.lowResId ? { lowResId: m.lowResId } : {}) };
}

/**
 * The part of a whole-image mask inside its bbox, row-major (bw×bh), for tracing without
 * decoding the whole image.
 */
export function cropMask(m: SegmentMask): { data: Uint8Array; x: number; y: number; w: number; h: number } {
  const [x0, y0, bw, bh] = m.bbox;
  const H = m.rle.size[0];
  const data = new Uint8Array(bw * bh);
  let p = 0;
  m.rle.counts.forEach((c, i) => {
    if (i & 1) {
      for (let q = p; q < p + c; q++) {
        const x = Math.floor(q / H) - x0, y = (q % H) - y0;
        data[y * bw + x] = 1;
      }
    }
    p += c;
  });
  return { data, x: x0, y: y0, w: bw, h: bh };
}

/** A mask as a polygon: traced (and simplified by `tolerance` pixels) in image pixels; null when nothing is left. */
export function maskToPolygon(m: SegmentMask, tolerance: number): number[][] | null {
  if (m.area === 0) return null;
  const c = cropMask(m);
  const parts = traceMask(c.data, c.w, c.h, tolerance)
    .map((ring) => ring.map((v, i) => v + (i % 2 === 0 ? c.x : c.y)))
    .filter((ring) => ring.length >= 6);
  return parts.length > 0 ? parts : null;
}

export interface BoxesToMasksArgs {
  model: SamModelFiles;
  runId?: number | undefined;
  annotationIds?: number[] | undefined;
  as: 'mask' | 'polygon';
  tolerance: number;
  providers?: Provider[] | undefined;
  threads?: ThreadSettings | undefined;
}

export interface BoxesToMasksHooks {
  isCancelled?: () => boolean;
  onProgress?: (p: { done: number; total: number; created: number }) => void;
  /** Called with the new run's id as soon as it exists. */
  onRun?: (runId: number) => void;
}

/**
 * Detector boxes to masks: each box of a run's predictions (or of the chosen annotations) prompts
 * the decoder, images one at a time (each encoded once); each image's masks (or traced polygons)
 * are stored in one transaction as predictions of a new run whose parameters name the boxes' run.
 * Empty masks are counted, not stored. An image that cannot be read or encoded is marked failed
 * (its error names it) and the run goes on; only an error of the model fails the run. Cancelling
 * keeps what is stored and marks the run cancelled.
 */
export async function boxesToMasks(seg: Segmenter, ds: Dataset, a: BoxesToMasksArgs, hooks: BoxesToMasksHooks = {}): Promise<BoxesToMasksSummary> {
  const db = ds.db;
  const m = a.model.manifest;
  if (a.runId !== undefined && !await getModelRun(db, a.runId)) throw new AppError('NOT_FOUND', `model run ${a.runId} does not exist`, { runId: a.runId });
  const ids = a.annotationIds ?? await predictionIds(db, { runId: a.runId!, minScore: -Number.MAX_VALUE });
  const found = await getAnnotationsByIds(db, ids);
  if (a.annotationIds) {
    const missing = a.annotationIds.filter((id) => !found.has(id));
    if (missing.length > 0) throw new AppError('NOT_FOUND', `annotations ${missing.slice(0, 10).join(', ')} do not exist`, { ids: missing.slice(0, 100) });
  }
  const boxes = ids.map((id) => found.get(id)!).filter((r) => r.geometry.kind === 'box');
  if (boxes.length === 0) {
    throw new AppError('INVALID_ARGUMENT', a.annotationIds ? 'none of the chosen annotations is a box' : `model run ${a.runId} has no box predictions`, { runId: a.runId });
  }
  const byImage = new Map<number, AnnotationRecord[]>();
  for (const b of boxes) byImage.set(b.imageId, [...(byImage.get(b.imageId) ?? []), b]);
  const sourceRuns = [...new Set(boxes.map((b) => b.modelRunId).filter((r): r is number => r != null))];
  const parameters = {
    task: 'boxes-to-masks',
    sourceRunId: a.runId ?? (sourceRuns.length === 1 ? sourceRuns[0]! : null),
    sourceRunIds: sourceRuns,
    ...(a.annotationIds ? { annotationIds: a.annotationIds } : {}),
    as: a.as,
    ...(a.as === 'polygon' ? { tolerance: a.tolerance } : {}),
    encoder: path.basename(a.model.encoderPath),
    decoder: path.basename(a.model.decoderPath),
    inputSize: m.inputSize,
  };
  const runId = await db.transaction(async () => {
    const id = await insertModelRun(db, { model: m.id, name: `${m.name}: masks from ${a.runId !== undefined ? `run ${a.runId}` : `${boxes.length} box${boxes.length === 1 ? '' : 'es'}`}`, parameters });
    await addRunImages(db, id, [...byImage.keys()]);
    return id;
  })();
  hooks.onRun?.(runId);
  let created = 0, empty = 0, done = 0, failed = 0, ran = 0, failedInARow = 0, cancelled = false;
  let provider: string | null = null;
  const warnings = new Set<string>();
  let moreWarnings = 0;
  const warn = (w: string): void => {
    if (warnings.has(w)) return;
    if (warnings.size < MAX_SUMMARY_WARNINGS) warnings.add(w);
    else moreWarnings++;
  };
  try {
    for (const [imageId, list] of byImage) {
      if (hooks.isCancelled?.()) {
        cancelled = true;
        break;
      }
      const started = performance.now();
      const items: NewAnnotation[] = [];
      let boxEmpty = 0;
      try {
        for (const b of list) {
          const g = b.geometry as Extract<AnnotationRecord['geometry'], { kind: 'box' }>;
          const r = await seg.decode(ds, a.model, { imageId, frame: b.frame, points: [], box: { x0: g.x, y0: g.y, x1: g.x + g.w, y1: g.y + g.h }, providers: a.providers, threads: a.threads });
          provider ??= r.provider;
          for (const w of r.warnings) warn(w);
          const best = r.masks[0];
          const geometry: Geometry | null = !best || best.area === 0 ? null : a.as === 'mask' ? { kind: 'mask', rle: best.rle } : (() => {
            const parts = maskToPolygon(best, a.tolerance);
            return parts ? { kind: 'polygon' as const, parts } : null;
          })();
          if (!geometry) {
            boxEmpty++;
            continue;
          }
          items.push({ imageId, frame: b.frame, classId: b.classId, geometry, source: 'model', modelRunId: runId, score: b.score ?? best!.score });
        }
      } catch (e) {
        failedInARow++;
        // A model that cannot run fails the run rather than every image one by one (and so does
        // a run whose first images all fail); an image that cannot be read fails only itself.
        const im = await getImage(db, imageId);
        const name = im?.path ?? `image ${imageId}`;
        if (modelLevelError(e, a.model, name) || (ran === 0 && failedInARow >= 3)) throw e;
        const message = e instanceof Error ? e.message : String(e);
        const error = message.startsWith(`${name}: `) ? message : `${name}: ${message}`;
        await markRunImage(db, runId, imageId, 'failed', { error });
        warn(error);
        failed++;
        done++;
        hooks.onProgress?.({ done, total: byImage.size, created });
        continue;
      }
      failedInARow = 0;
      ran++;
      empty += boxEmpty;
      await db.transaction(async () => {
        await insertAnnotations(db, items);
        await markRunImage(db, runId, imageId, 'done', { detections: items.length, ms: performance.now() - started });
      })();
      created += items.length;
      done++;
      hooks.onProgress?.({ done, total: byImage.size, created });
    }
  } catch (e) {
    await finishModelRun(db, runId, 'failed');
    throw e;
  }
  if (provider) await setRunProvider(db, runId, provider);
  await finishModelRun(db, runId, cancelled ? 'cancelled' : 'done');
  const list = [...warnings];
  if (moreWarnings > 0) list.push(`and ${moreWarnings} more`);
  return { runId, boxes: boxes.length, created, empty, failed, warnings: list, cancelled };
}

/** Warnings listed in a summary at most (the images' own errors stay in the run's images). */
export const MAX_SUMMARY_WARNINGS = 20;

/**
 * Whether an error of a boxes-to-masks image is the model's rather than the image's: the run was
 * closed, the error names one of the model's files, or the model's format is not what the family
 * needs (an image's own format errors name the image).
 */
function modelLevelError(e: unknown, model: SamModelFiles, image: string): boolean {
  const code = e instanceof AppError ? e.code : (e as { code?: unknown } | null)?.code;
  const message = e instanceof Error ? e.message : String(e);
  if (code === 'CANCELLED') return true;
  const files = [model.encoderPath, model.decoderPath, path.resolve(model.encoderPath), path.resolve(model.decoderPath)];
  if (files.some((f) => message.includes(f))) return true;
  const detail = (e as { detail?: Record<string, unknown> } | null)?.detail;
  if (detail && Object.values(detail).some((v) => typeof v === 'string' && files.includes(v))) return true;
  return (code === 'UNSUPPORTED_FORMAT' || code === 'UNSUPPORTED') && !message.includes(image);
}

/**
 * A model from the command line: a manifest file, or an encoder/decoder pair with Segment
 * Anything's preprocessing (1024, SAM mean and std). Missing files are named.
 */
export function samModelFromArgs(a: { model?: string | undefined; encoder?: string | undefined; decoder?: string | undefined }): SamModelFiles {
  const exists = (f: string, what: string) => {
    if (!fs.existsSync(f)) throw new AppError('FILE_NOT_FOUND', `${f}: ${what} does not exist`, { path: f });
    if (!fs.statSync(f).isFile()) throw new AppError('INVALID_ARGUMENT', `${f}: ${what} is not a file`, { path: f });
    return f;
  };
  if (a.model) {
    const manifest = readSamManifestFile(path.resolve(a.model));
    const need = (ref: SamManifest['encoder'], what: 'encoder' | 'decoder') => {
      if (!ref.file) {
        // A shipped manifest names URLs: the app downloads them into its settings folder, which
        // the command line does not know; the files are passed by path instead.
        throw new AppError(
          'INVALID_ARGUMENT',
          `${path.resolve(a.model!)}: the manifest names no local ${what} file, only ${ref.url ?? 'nothing'}; download the model in the app's model panel (it keeps the files as models/interactive/${manifest.id}.encoder.onnx and ${manifest.id}.decoder.onnx in the app's settings folder) and pass them with --encoder and --decoder`,
          { path: a.model },
        );
      }
      return exists(ref.file, `the manifest's ${what}`);
    };
    return { manifest, encoderPath: need(manifest.encoder, 'encoder'), decoderPath: need(manifest.decoder, 'decoder') };
  }
  const encoderPath = exists(path.resolve(a.encoder!), 'the encoder');
  const decoderPath = exists(path.resolve(a.decoder!), 'the decoder');
  const id = path.basename(encoderPath, path.extname(encoderPath)).toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^[^a-z0-9]+/, '') || 'sam';
  const manifest: SamManifest = {
    id,
    name: path.basename(encoderPath),
    task: 'interactive',
    family: 'sam',
    encoder: { file: encoderPath },
    decoder: { file: decoderPath },
    inputSize: 1024,
    mean: SAM_MEAN,
    std: SAM_STD,
  };
  return { manifest, encoderPath, decoderPath };
}

/**
 * The manifest of a pair given as two files: inspected (both files' inputs and outputs) and
 * proposed by the family that fits them; a pair that fits none fails with what the closest
 * family misses, naming the files.
 */
export async function inspectedPair(inspect: (file: string) => Promise<ModelIo>, files: SamModelFiles): Promise<SamModelFiles> {
  const [enc, dec] = await Promise.all([inspect(files.encoderPath), inspect(files.decoderPath)]);
  const found = inspectSamPair(enc, dec, { encoder: files.encoderPath, decoder: files.decoderPath });
  if (!found.family || !found.proposed) {
    throw new AppError('UNSUPPORTED_FORMAT', found.problems.join('; ') || `${files.encoderPath} + ${files.decoderPath}: no SAM family fits this pair`, { encoder: files.encoderPath, decoder: files.decoderPath, problems: found.problems });
  }
  return { ...files, manifest: found.proposed };
}

/** An image by id (digits) or by file name / path below the dataset root; an ambiguous name is refused. */
export async function findImageByRef(ds: Dataset, ref: string): Promise<ImageRecord> {
  if (/^\d+$/.test(ref)) {
    const im = await getImage(ds.db, Number(ref));
    if (im) return im;
  }
  const found = await findImagesByName(ds.db, ref.replace(/\\/g, '/'));
  if (found.length === 1) return found[0]!;
  if (found.length === 0) throw new AppError('NOT_FOUND', `${ds.file}: no image ${/^\d+$/.test(ref) ? 'with id or' : ''} named "${ref}"`, { image: ref });
  throw new AppError('INVALID_ARGUMENT', `"${ref}" names ${found.length} images (${found.slice(0, 5).map((i) => `${i.id} ${i.path}`).join(', ')}); give the id or a longer path`, { image: ref });
}

/**
 * Stores a segmented shape as a human annotation of the named class (created when missing)
 * through the editor's edit path: one transaction, one journal entry, undoable.
 */
export async function saveSegment(ds: Dataset, a: { imageId: number; frame: number; className: string; geometry: Geometry }): Promise<{ annotationId: number; classId: number; journalId: number }> {
  const name = a.className.trim();
  if (!name) throw new AppError('INVALID_ARGUMENT', 'the class name is empty');
  // One transaction: a class made for a shape that cannot be stored is not left behind.
  return await ds.db.transaction(async () => {
    let cls = (await listClasses(ds.db)).find((c) => c.name === name);
    if (!cls) {
      cls = await insertClass(ds.db, { name, color: nextClassColour((await listClasses(ds.db)).map((c) => c.color)), hotkey: null });
    }
    const r = await editAnnotations(ds, { imageId: a.imageId, label: a.geometry.kind === 'polygon' ? 'Segment (polygon)' : 'Segment (mask)', ops: [{ op: 'create', draft: { classId: cls.id, geometry: a.geometry, frame: a.frame } }] });
    return { annotationId: r.created[0]!, classId: cls.id, journalId: r.journalId };
  }).immediate(); // Reads, then writes: see editAnnotations.
}
