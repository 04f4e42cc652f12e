import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import sharp, { type Sharp } from 'sharp';
import { decode as decodeBmp } from 'fast-bmp';
import { AppError } from '../common/errors';
import type { FileState, ImageRecord } from '../common/model';
import { getImage, setFileMtime } from '../db/images';
import { getGeo } from '../db/geo';
import type { Dataset } from './dataset';
import { resolveStoredPath } from './paths';
import { applyVoi, type VoiWindow } from '../common/imaging/window';
import type { Raster } from '../common/imaging/raster';
import { defaultWindow, needsWindow, rasterNeedsWindow } from './dicom/display';
import { readRaster } from './raster';

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

/** Windowed views rendered for explicit windows (a drag makes many): the newest are kept. */
const WINDOWED_KEEP = 96;

/** Formats a browser shows as they are, when no orientation or depth conversion is needed. */
const DIRECT: Record<string, string> = { jpeg: 'image/jpeg', png: 'image/png', webp: 'image/webp' };

/**
 * Image renditions for the renderer: thumbnails for the grid and a displayable full-resolution
 * image for the viewer. Both show the oriented pixels annotation coordinates refer to, and are
 * made on first request and cached beside the dataset, so the grid never waits on all of them.
 */
export class Media {
  private readonly inflight = new Map<string, Promise<void>>();
  /** Recently decoded frames, so a window drag does not decode the file for each step. */
  private readonly rasters = new Map<string, Promise<Raster>>();

  constructor(
    private readonly ds: Dataset,
    private readonly limitInputPixels: number,
  ) {}

  imagePath(im: ImageRecord): string {
    return resolveStoredPath(this.ds.root, im.path, im.external);
  }

  /**
   * Whether the file is still what was imported. Only a changed modification time with an
   * unchanged size costs a hash; when the content proves identical the new time is recorded,
   * so the file is not hashed again on the next request.
   */
  fileState(im: ImageRecord): FileState {
    let st: fs.Stats;
    try {
      st = fs.statSync(this.imagePath(im));
    } catch (e) {
      if (e instanceof AppError) throw e;
      return 'missing';
    }
    if (!st.isFile()) return 'missing';
    if (st.size === im.fileSize && Math.round(st.mtimeMs) === im.fileMtimeMs) return 'ok';
    if (st.size !== im.fileSize) return 'changed';
    const hash = crypto.createHash('sha256').update(fs.readFileSync(this.imagePath(im))).digest('hex');
    if (hash !== im.contentHash) return 'changed';
    setFileMtime(this.ds.db, im.id, st.mtimeMs);
    return 'ok';
  }

  async get(kind: MediaKind, imageId: number, opts: MediaOptions = {}): Promise<MediaFile> {
    const im = getImage(this.ds.db, imageId);
    if (!im) throw new AppError('NOT_FOUND', `image ${imageId} is not in the dataset`, { imageId });
    const state = this.fileState(im);
    if (state === 'missing') throw new AppError('FILE_MISSING', `${im.path}: file is missing on disk`, { imageId, path: im.path });
    if (state === 'changed') {
      throw new AppError('FILE_CHANGED', `${im.path}: file changed on disk since it was imported`, { imageId, path: im.path });
    }
    const src = this.imagePath(im);
    const frame = opts.frame ?? 0;
    if (frame >= Math.max(1, im.frames) || frame < 0) {
      throw new AppError('INVALID_ARGUMENT', `${im.path}: frame ${frame} does not exist (the image has ${im.frames})`, { imageId, frame });
    }
    // GeoTIFF nodata (GDAL_NODATA): those pixels are drawn transparent.
    const nodata = im.format === 'tiff' ? (getGeo(this.ds.db, im.id)?.nodata ?? null) : null;
    if (needsWindow(im) || frame > 0 || im.format === 'dicom') return this.windowed(kind, im, frame, opts.window, nodata);
    if (kind === 'view' && DIRECT[im.format] && im.orientation === 1 && im.bitDepth <= 8 && im.frames === 1) {
      return { file: src, mime: DIRECT[im.format]! };
    }
    const ext = kind === 'thumb' ? 'webp' : 'png';
    const tag = nodata === null ? '' : '-nodata';
    const out = path.join(this.ds.cacheDir, kind, im.contentHash.slice(0, 2), `${im.contentHash}${tag}.${ext}`);
    if (!fs.existsSync(out)) await this.render(kind, im, src, out, nodata);
    return { file: out, mime: kind === 'thumb' ? 'image/webp' : 'image/png' };
  }

  /** The decoded frame, shared by the requests of a window drag (the last few frames are kept). */
  raster(im: ImageRecord, frame: number): Promise<Raster> {
    const key = `${im.contentHash}:${frame}`;
    let r = this.rasters.get(key);
    if (r) {
      this.rasters.delete(key);
      this.rasters.set(key, r);
      return r;
    }
    r = readRaster(this.ds, im, frame, this.limitInputPixels);
    r.catch(() => this.rasters.delete(key));
    this.rasters.set(key, r);
    while (this.rasters.size > 4) this.rasters.delete(this.rasters.keys().next().value!);
    return r;
  }

  /**
   * A frame rendered through a display window: the requested one, else the image's default
   * (remembered, file preset or automatic). Renders are cached by window, so a remembered
   * window change gives a new file.
   */
  private async windowed(kind: MediaKind, im: ImageRecord, frame: number, requested: VoiWindow | undefined, nodata: number | null): Promise<MediaFile> {
    let decoded: Raster | null = null;
    let win: VoiWindow | null = requested ?? null;
    if (!win) {
      if (needsWindow(im)) decoded = await this.raster(im, frame);
      win = needsWindow(im) ? defaultWindow(this.ds.db, im, () => decoded!).window : null;
    }
    const ext = kind === 'thumb' ? 'webp' : 'png';
    const tag = (win ? `-w${fmt(win.center)}_${fmt(win.width)}` : '') + (nodata === null ? '' : '-nodata');
    const dir = requested ? 'window' : kind;
    const out = path.join(this.ds.cacheDir, dir, im.contentHash.slice(0, 2), `${im.contentHash}-f${frame}${tag}-${kind}.${ext}`);
    if (!fs.existsSync(out)) {
      await this.once(out, async () => {
        const r = decoded ?? (await this.raster(im, frame));
        const bytes = win && rasterNeedsWindow(r) ? applyVoi(r.data, r.channels, win, { invert: r.invert, alphaMax: r.bitDepth > 8 ? 65535 : 255 }) : (r.data as Uint8Array);
        // Nodata is matched on the stored samples, before the window maps them to display values.
        const shown = nodata === null ? null : maskNodata(r.data, bytes, r.channels, nodata);
        let img = shown
          ? sharp(Buffer.from(shown.data.buffer, shown.data.byteOffset, shown.data.byteLength), { raw: { width: r.width, height: r.height, channels: shown.channels } })
          : sharp(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), { raw: { width: r.width, height: r.height, channels: r.channels } });
        img = kind === 'thumb' ? img.resize(THUMB_SIZE, THUMB_SIZE, { fit: 'inside', withoutEnlargement: true }).webp({ quality: 80 }) : img.png({ compressionLevel: 1 });
        writeAtomic(out, await img.toBuffer());
        if (requested) pruneOldest(path.dirname(out), WINDOWED_KEEP);
      });
    }
    return { file: out, mime: kind === 'thumb' ? 'image/webp' : 'image/png' };
  }

  private once(key: string, make: () => Promise<void>): Promise<void> {
    const pending = this.inflight.get(key);
    if (pending) return pending;
    const job = make().finally(() => this.inflight.delete(key));
    this.inflight.set(key, job);
    return job;
  }

  private render(kind: MediaKind, im: ImageRecord, src: string, out: string, nodata: number | null): Promise<void> {
    const pending = this.inflight.get(out);
    if (pending) return pending;
    const job = (async () => {
      let img = await this.open(im, src);
      img = img.rotate(); // apply EXIF orientation
      if (nodata !== null) img = await this.masked(im, img, nodata, kind === 'thumb');
      if (kind === 'thumb') {
        img = img.resize(THUMB_SIZE, THUMB_SIZE, { fit: 'inside', withoutEnlargement: true }).webp({ quality: 80 });
      } else {
        img = img.png({ compressionLevel: 1 });
      }
      const buf = await img.toBuffer().catch((e: Error) => {
        throw new AppError('CORRUPT_IMAGE', `${im.path}: cannot decode (${e.message})`, { imageId: im.id, path: im.path });
      });
      fs.mkdirSync(path.dirname(out), { recursive: true });
      const tmp = `${out}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`;
      fs.writeFileSync(tmp, buf);
      fs.renameSync(tmp, out);
    })().finally(() => this.inflight.delete(out));
    this.inflight.set(out, job);
    return job;
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

  private async open(im: ImageRecord, src: string): Promise<Sharp> {
    if (im.format === 'bmp') {
      const decoded = decodeBmp(await fs.promises.readFile(src));
      const channels = decoded.channels as 1 | 2 | 3 | 4;
      const data = decoded.data as Uint8Array;
      return sharp(Buffer.from(data.buffer, data.byteOffset, data.byteLength), {
        raw: { width: decoded.width, height: decoded.height, channels },
      });
    }
    return sharp(src, { limitInputPixels: this.limitInputPixels, page: 0 });
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

/** Deletes the oldest files of a folder beyond `keep`. */
function pruneOldest(dir: string, keep: number): void {
  const files = fs.readdirSync(dir).filter((f) => !f.endsWith('.tmp'));
  if (files.length <= keep) return;
  const byAge = files
    .map((f) => {
      try {
        return { f, t: fs.statSync(path.join(dir, f)).mtimeMs };
      } catch {
        return null;
      }
    })
    .filter((x): x is { f: string; t: number } => x !== null)
    .sort((a, b) => a.t - b.t);
  for (const { f } of byAge.slice(0, byAge.length - keep)) fs.rmSync(path.join(dir, f), { force: true });
}
