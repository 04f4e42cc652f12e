import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import sharp, { type Sharp } from 'sharp';
import { AppError } from '../common/errors';
import type { FileState, ImageRecord } from '../common/model';
import { getImage, setFileMtime } from '../db/images';
import type { Dataset } from './dataset';
import { applyVoi, type VoiWindow } from '../common/imaging/window';
import type { Raster } from '../common/imaging/raster';
import { decodedForDisplay, defaultWindow, geoNodata, needsWindow, rasterNeedsWindow } from './dicom/display';
import { fullDecodePixelsSetting, openImage, readRaster, readRasterPart, REDUCED_SIDE, requireFrame, vipsReadable } from './raster';

export type MediaKind = 'thumb' | 'view';

export interface MediaFile {
  /** Absolute path of the bytes to send. */
  file: string;
  mime: string;
}

export const THUMB_SIZE = 256;

/** What a view or thumbnail request may ask for beyond the image id. */
export interface MediaOptions {
  /** Frame of a multi-frame image (DICOM frames, TIFF pages); 0 by default. */
  frame?: number;
  /** Display window for a high-bit-depth image; the remembered or automatic one by default. */
  window?: VoiWindow;
}

/** Files whose content was checked before being sent as they are, remembered at most. */
const VERIFIED_KEEP = 4096;
/** Windowed views rendered for explicit windows (a drag makes many): the newest are kept. */
const WINDOWED_KEEP = 96;
/** ...and together they stay under this many bytes. */
const WINDOWED_KEEP_BYTES = 256 * 1024 * 1024;
/** A windowed render younger than this is never pruned: its request may still be sending it. */
const WINDOWED_MIN_AGE_MS = 10_000;
/** Decoded frames kept for window drags, by count and by estimated size. */
const RASTERS_KEEP = 4;
const RASTERS_KEEP_BYTES = 512 * 1024 * 1024;

/** Formats a browser shows as they are, when no orientation or depth conversion is needed. */
const DIRECT: Record<string, string> = { jpeg: 'image/jpeg', png: 'image/png', webp: 'image/webp' };

/**
 * Image renditions for the renderer: thumbnails for the grid and a displayable full-resolution
 * image for the viewer. Both show the oriented pixels annotation coordinates refer to, and are
 * made on first request and cached beside the dataset, so the grid never waits on all of them.
 */
export class Media {
  private readonly inflight = new Map<string, Promise<void>>();
  /** Stored files (by path, size and time) whose content hash was checked before they were sent. */
  private readonly verified = new Map<string, string>();
  /** Recently decoded frames, so a window drag does not decode the file for each step. */
  private readonly rasters = new Map<string, { raster: Promise<Raster>; bytes: number }>();

  constructor(
    private readonly ds: Dataset,
    private readonly limitInputPixels: number,
    private readonly opts: {
      /** Images this predicate holds for (those shown from a tile pyramid) are never decoded whole here. */
      reduce?: (im: ImageRecord) => boolean;
      /** Nor images above this many pixels; TESSERA_FULL_DECODE_PIXELS by default. */
      fullDecodePixels?: number;
    } = {},
  ) {}

  /**
   * Whether the image is too large to decode whole for a thumbnail or its display window: those
   * come from a reduced copy libvips makes with bounded memory. DICOM and BMP, which libvips
   * cannot read, are decoded whole (their size is bounded when they are decoded).
   */
  isLarge(im: ImageRecord): boolean {
    if (!vipsReadable(im)) return false;
    return im.width * im.height > (this.opts.fullDecodePixels ?? fullDecodePixelsSetting()) || (this.opts.reduce?.(im) ?? false);
  }

  imagePath(im: ImageRecord): string {
    return this.ds.imagePath(im);
  }

  /** Whether the file is still what was imported (see imageFileState). */
  async fileState(im: ImageRecord): Promise<FileState> {
    return await imageFileState(this.ds, im);
  }

  /** Throws FILE_MISSING or FILE_CHANGED unless the file is still what was imported. */
  async requireUnchanged(im: ImageRecord): Promise<void> {
    await requireImageUnchanged(this.ds, im);
  }

  async get(kind: MediaKind, imageId: number, opts: MediaOptions = {}): Promise<MediaFile> {
    const im = await getImage(this.ds.db, imageId);
    if (!im) throw new AppError('NOT_FOUND', `image ${imageId} is not in the dataset`, { imageId });
    await this.requireUnchanged(im);
    const src = this.imagePath(im);
    const frame = opts.frame ?? 0;
    requireFrame(im, frame);
    // GeoTIFF nodata (GDAL_NODATA): those pixels are drawn transparent.
    const nodata = await geoNodata(this.ds.db, im);
    if (decodedForDisplay(im) || frame > 0) return this.windowed(kind, im, frame, opts.window, nodata);
    if (kind === 'view' && DIRECT[im.format] && im.orientation === 1 && im.bitDepth <= 8 && im.frames === 1) {
      await this.requireImageFile(im, src);
      return { file: src, mime: DIRECT[im.format]! };
    }
    const tag = nodata === null ? '' : '-nodata';
    const out = path.join(this.ds.cacheDir, kind, im.contentHash.slice(0, 2), `${im.contentHash}${tag}.${EXT[kind]}`);
    if (!fs.existsSync(out)) await this.once(out, () => this.render(kind, im, src, out, nodata));
    return { file: out, mime: MIME[kind] };
  }

  /**
   * A stored file is sent as it is only when libvips reads it as the image the row describes
   * (format and size) and its bytes are the ones whose hash the row holds: a dataset row naming
   * any other file, with a matching size and time, gets an error instead of the file's bytes,
   * and what is sent is exactly what was imported (and probed) as an image. The hash is taken
   * once per file state.
   */
  private async requireImageFile(im: ImageRecord, src: string): Promise<void> {
    const meta = await sharp(src, { limitInputPixels: this.limitInputPixels })
      .metadata()
      .catch(() => null);
    if (!meta || meta.format !== im.format || meta.width !== im.width || meta.height !== im.height) {
      throw new AppError('CORRUPT_IMAGE', `${im.path}: the file is not the ${im.format} image of ${im.width} × ${im.height} that was imported`, {
        imageId: im.id,
        path: im.path,
      });
    }
    const st = fs.statSync(src);
    const state = `${src}\0${st.size}\0${st.mtimeMs}`;
    if (this.verified.get(state) === im.contentHash) return;
    if (hashFile(src) !== im.contentHash) {
      throw new AppError('FILE_CHANGED', `${im.path}: the file's content is not the one that was imported`, { imageId: im.id, path: im.path });
    }
    if (this.verified.size >= VERIFIED_KEEP) this.verified.delete(this.verified.keys().next().value!);
    this.verified.set(state, im.contentHash);
  }

  /** The decoded frame, shared by the requests of a window drag (the last few frames are kept). */
  raster(im: ImageRecord, frame: number): Promise<Raster> {
    return this.cached(`${im.contentHash}:${frame}`, im.width * im.height * im.channels * sampleBytes(im), () => readRaster(this.ds, im, frame, this.limitInputPixels));
  }

  /**
   * The samples a display window and value range are computed from: the decoded frame, or for a
   * large image (see isLarge) a copy reduced to REDUCED_SIDE, whose percentiles barely differ.
   */
  statsRaster(im: ImageRecord, frame: number): Promise<Raster> {
    if (!this.isLarge(im)) return this.raster(im, frame);
    const scale = Math.min(1, REDUCED_SIDE / Math.max(im.width, im.height));
    const bytes = Math.ceil(im.width * scale) * Math.ceil(im.height * scale) * im.channels * sampleBytes(im);
    return this.cached(`${im.contentHash}:${frame}:reduced`, bytes, () => readRasterPart(this.ds, im, frame, { maxSide: REDUCED_SIDE }, this.limitInputPixels));
  }

  private cached(key: string, bytes: number, read: () => Promise<Raster>): Promise<Raster> {
    const hit = this.rasters.get(key);
    if (hit) {
      this.rasters.delete(key);
      this.rasters.set(key, hit);
      return hit.raster;
    }
    const raster = read();
    raster.catch(() => this.rasters.delete(key));
    this.rasters.set(key, { raster, bytes });
    // The newest stays even when it alone is over the byte bound: a drag over it reuses it.
    let total = [...this.rasters.values()].reduce((a, r) => a + r.bytes, 0);
    while (this.rasters.size > 1 && (this.rasters.size > RASTERS_KEEP || total > RASTERS_KEEP_BYTES)) {
      const oldest = this.rasters.keys().next().value!;
      total -= this.rasters.get(oldest)!.bytes;
      this.rasters.delete(oldest);
    }
    return raster;
  }

  /**
   * A frame rendered through a display window: the requested one, else the image's default
   * (remembered, file preset or automatic). Renders are cached by window, so a remembered
   * window change gives a new file.
   */
  private async windowed(kind: MediaKind, im: ImageRecord, frame: number, requested: VoiWindow | undefined, nodata: number | null): Promise<MediaFile> {
    // A large image's thumbnail, like its window, comes from the reduced copy.
    const reduced = kind === 'thumb' && this.isLarge(im);
    let decoded: Raster | null = null;
    let win: VoiWindow | null = requested ?? null;
    if (!win) {
      if (needsWindow(im)) decoded = await this.statsRaster(im, frame);
      win = needsWindow(im) ? (await defaultWindow(this.ds.db, im, frame, () => decoded!)).window : null;
      if (!reduced && this.isLarge(im)) decoded = null;
    }
    const tag = (win ? `-w${fmt(win.center)}_${fmt(win.width)}` : '') + (nodata === null ? '' : '-nodata');
    const dir = requested ? 'window' : kind;
    const out = path.join(this.ds.cacheDir, dir, im.contentHash.slice(0, 2), `${im.contentHash}-f${frame}${tag}-${kind}.${EXT[kind]}`);
    if (fs.existsSync(out)) {
      // A render served again counts as new, so pruning for another request leaves it alone.
      if (requested) touch(out);
    } else {
      await this.once(out, async () => {
        const r = decoded ?? (await (reduced ? this.statsRaster(im, frame) : this.raster(im, frame)));
        const bytes = win && rasterNeedsWindow(r) ? applyVoi(r.data, r.channels, win, { invert: r.invert, alphaMax: alphaMaxOf(r) }) : (r.data as Uint8Array);
        // Nodata is matched on the stored samples, before the window maps them to display values.
        const shown = nodata === null ? null : maskNodata(r.data, bytes, r.channels, nodata);
        let img = shown
          ? sharp(Buffer.from(shown.data.buffer, shown.data.byteOffset, shown.data.byteLength), { raw: { width: r.width, height: r.height, channels: shown.channels } })
          : sharp(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), { raw: { width: r.width, height: r.height, channels: r.channels } });
        writeAtomic(out, await encode(img, kind).toBuffer());
        if (requested) pruneWindowed(path.join(this.ds.cacheDir, 'window'), out);
      });
    }
    return { file: out, mime: MIME[kind] };
  }

  /** Runs `make` once for concurrent requests of the same output file. */
  private once(key: string, make: () => Promise<void>): Promise<void> {
    const pending = this.inflight.get(key);
    if (pending) return pending;
    const job = make().finally(() => this.inflight.delete(key));
    this.inflight.set(key, job);
    return job;
  }

  /** A thumbnail or view of an image shown as stored (apart from orientation and nodata). */
  private async render(kind: MediaKind, im: ImageRecord, src: string, out: string, nodata: number | null): Promise<void> {
    let img = await openImage(im, src, 0, this.limitInputPixels);
    img = img.rotate(); // apply EXIF orientation
    if (nodata !== null) img = await this.masked(im, img, nodata, kind === 'thumb');
    const buf = await encode(img, kind)
      .toBuffer()
      .catch((e: Error) => {
        throw new AppError('CORRUPT_IMAGE', `${im.path}: cannot decode (${e.message})`, { imageId: im.id, path: im.path });
      });
    writeAtomic(out, buf);
  }

  /**
   * The oriented 8-bit pixels with nodata made transparent, decoded in memory. A thumbnail is
   * reduced first: its colours by the usual resize, its nodata test on a nearest-neighbour
   * reduction of the same size, whose samples are still the stored values.
   */
  private async masked(im: ImageRecord, img: Sharp, nodata: number, thumb: boolean): Promise<Sharp> {
    const reduce = (s: Sharp, kernel?: 'nearest') => (thumb ? s.resize(THUMB_SIZE, THUMB_SIZE, { fit: 'inside', withoutEnlargement: true, kernel }) : s);
    const decode = <T>(p: Promise<T>) =>
      p.catch((e: Error) => {
        throw new AppError('CORRUPT_IMAGE', `${im.path}: cannot decode (${e.message})`, { imageId: im.id, path: im.path });
      });
    const [{ data, info }, samples] = await Promise.all([
      decode(reduce(img.clone()).raw().toBuffer({ resolveWithObject: true })),
      thumb ? decode(reduce(img.clone(), 'nearest').raw().toBuffer()) : null,
    ]);
    const shown = maskNodata(samples && samples.length === data.length ? samples : data, data, info.channels, nodata);
    const raw = shown ? shown.data : data;
    return sharp(Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength), {
      raw: { width: info.width, height: info.height, channels: shown ? shown.channels : info.channels },
    });
  }
}

/**
 * Display bytes with the pixels whose every colour sample (in `samples`, the stored values) equals
 * `nodata` made transparent: an alpha channel is added (or the existing one cleared there). Null
 * when no pixel is nodata, so such an image is shown as it is. NaN nodata matches NaN samples.
 */
export function maskNodata(
  samples: ArrayLike<number>,
  display: Uint8Array,
  channels: number,
  nodata: number,
): { data: Uint8Array; channels: 2 | 4 } | null {
  const hasAlpha = channels === 2 || channels === 4;
  const colour = hasAlpha ? channels - 1 : channels;
  const pixels = Math.floor(samples.length / channels);
  const isNodata = Number.isNaN(nodata) ? (v: number) => Number.isNaN(v) : (v: number) => v === nodata;
  let out: Uint8Array | null = null;
  const outChannels = colour + 1;
  for (let p = 0; p < pixels; p++) {
    const base = p * channels;
    let all = true;
    for (let c = 0; c < colour && all; c++) all = isNodata(samples[base + c]!);
    if (!all) continue;
    if (!out) {
      // First nodata pixel: copy the display bytes with an opaque (or the stored) alpha.
      out = new Uint8Array(pixels * outChannels);
      for (let q = 0; q < pixels; q++) {
        for (let c = 0; c < colour; c++) out[q * outChannels + c] = display[q * channels + c]!;
        out[q * outChannels + colour] = hasAlpha ? display[q * channels + colour]! : 255;
      }
    }
    out[p * outChannels + colour] = 0;
  }
  return out ? { data: out, channels: outChannels as 2 | 4 } : null;
}

const EXT: Record<MediaKind, string> = { thumb: 'webp', view: 'png' };
const MIME: Record<MediaKind, string> = { thumb: 'image/webp', view: 'image/png' };

/** The encoding of a thumbnail (reduced WebP) or a view (full-size PNG, fast compression). */
function encode(img: Sharp, kind: MediaKind): Sharp {
  return kind === 'thumb' ? img.resize(THUMB_SIZE, THUMB_SIZE, { fit: 'inside', withoutEnlargement: true }).webp({ quality: 80 }) : img.png({ compressionLevel: 1 });
}

/** SHA-256 of a file, read a mebibyte at a time so a large image is never held whole. */
function hashFile(file: string): string {
  const hash = crypto.createHash('sha256');
  const buf = Buffer.allocUnsafe(1 << 20);
  const fd = fs.openSync(file, 'r');
  try {
    for (let n; (n = fs.readSync(fd, buf, 0, buf.length, null)) > 0; ) hash.update(buf.subarray(0, n));
  } finally {
    fs.closeSync(fd);
  }
  return hash.digest('hex');
}

/** Window values in file names: a few decimals, no exponent. */
function fmt(v: number): string {
  return String(Math.round(v * 1000) / 1000);
}

function writeAtomic(out: string, buf: Buffer): void {
  fs.mkdirSync(path.dirname(out), { recursive: true });
  const tmp = `${out}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`;
  fs.writeFileSync(tmp, buf);
  fs.renameSync(tmp, out);
}

/**
 * The sample value of an opaque pixel. 16-bit alpha usually spans 0..65535, but GeoTIFFs often
 * store a 0/255 mask band beside 16-bit colour: an alpha band holding nothing above 255 is that.
 */
function alphaMaxOf(r: Raster): number {
  if (r.bitDepth <= 8 || r.channels !== 4) return 255;
  for (let i = r.channels - 1; i < r.data.length; i += r.channels) if (r.data[i]! > 255) return 65535;
  return 255;
}

function touch(file: string): void {
  try {
    const now = new Date();
    fs.utimesSync(file, now, now);
  } catch {
    // pruned meanwhile: the caller's existence check raced; the request renders it again next time
  }
}

/** Bytes per stored sample as a decoded raster holds it (DICOM greyscale as floats). */
function sampleBytes(im: ImageRecord): number {
  if (im.format === 'dicom' && im.channels === 1) return 4;
  return im.bitDepth > 16 ? 4 : im.bitDepth > 8 ? 2 : 1;
}

/**
 * Bounds the renders for explicit windows (all images, all subfolders) to the newest
 * WINDOWED_KEEP files and WINDOWED_KEEP_BYTES. Renders younger than WINDOWED_MIN_AGE_MS and
 * `keep` (just returned to a request) are never deleted.
 */
export function pruneWindowed(dir: string, keep: string, now = Date.now()): void {
  const files: { file: string; t: number; size: number }[] = [];
  let subs: string[];
  try {
    subs = fs.readdirSync(dir);
  } catch {
    return;
  }
  for (const sub of subs) {
    let names: string[];
    try {
      names = fs.readdirSync(path.join(dir, sub));
    } catch {
      continue;
    }
    for (const f of names) {
      if (f.endsWith('.tmp')) continue;
      const file = path.join(dir, sub, f);
      try {
        const st = fs.statSync(file);
        if (st.isFile()) files.push({ file, t: st.mtimeMs, size: st.size });
      } catch {
        // removed by another request meanwhile
      }
    }
  }
  files.sort((a, b) => b.t - a.t); // newest first
  let count = 0;
  let bytes = 0;
  for (const f of files) {
    count++;
    bytes += f.size;
    if (count <= WINDOWED_KEEP && bytes <= WINDOWED_KEEP_BYTES) continue;
    if (f.file === keep || now - f.t < WINDOWED_MIN_AGE_MS) continue;
    fs.rmSync(f.file, { force: true });
  }
}

/**
 * Whether an image's file is still what was imported. Only a changed modification time with an
 * unchanged size costs a hash; when the content proves identical the new time is recorded, so
 * the file is not hashed again on the next request.
 */
export async function imageFileState(ds: Dataset, im: ImageRecord): Promise<FileState> {
  let file: string;
  try {
    file = ds.imagePath(im);
  } catch (e) {
    if (e instanceof AppError && e.code === 'EXTERNAL_NOT_ALLOWED') return 'not_allowed';
    throw e;
  }
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (e) {
    if (e instanceof AppError) throw e;
    return 'missing';
  }
  if (!st.isFile()) return 'missing';
  if (st.size === im.fileSize && Math.round(st.mtimeMs) === im.fileMtimeMs) return 'ok';
  if (st.size !== im.fileSize) return 'changed';
  if (hashFile(file) !== im.contentHash) return 'changed';
  await setFileMtime(ds.db, im.id, st.mtimeMs);
  return 'ok';
}

/** Throws FILE_MISSING or FILE_CHANGED (or EXTERNAL_NOT_ALLOWED) unless the file is still what was imported. */
export async function requireImageUnchanged(ds: Dataset, im: ImageRecord): Promise<void> {
  ds.imagePath(im); // an image in a folder not allowed is refused as such
  const state = await imageFileState(ds, im);
  if (state === 'missing') throw new AppError('FILE_MISSING', `${im.path}: file is missing on disk`, { imageId: im.id, path: im.path });
  if (state === 'changed') {
    throw new AppError('FILE_CHANGED', `${im.path}: file changed on disk since it was imported`, { imageId: im.id, path: im.path });
  }
}
