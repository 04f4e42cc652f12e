import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { AppError } from '../common/errors';
import { percentileRange } from '../common/imaging/window';
import type { ImageRecord } from '../common/model';
import { pyramidLevels, tileGrid, totalTiles, type PyramidGeometry, type PyramidInfo } from '../common/pyramid';
import { getImage } from '../db/images';
import type { Dataset } from './dataset';
import type { Media, MediaFile } from './media';
import { REDUCED_SIDE, sixteenBitSamples, vipsReadable } from './raster';
import { geoNodata } from './dicom/display';

export const TILE_SIZE = 256;
/** Images of at least this many pixels are shown from a pyramid (TESSERA_PYRAMID_PIXELS). */
export const DEFAULT_PYRAMID_PIXELS = 64_000_000;
/** A tiled TIFF (e.g. a cloud-optimised GeoTIFF) gets a pyramid once a side is longer than this. */
const TILED_TIFF_SIDE = 4096;
const TILE_QUALITY = 85;
/** How often a cancel is looked for; progress goes out every third look. */
const POLL_MS = 100;

export function pyramidPixelsSetting(env: NodeJS.ProcessEnv = process.env): number {
  const v = Number(env['TESSERA_PYRAMID_PIXELS']);
  return Number.isFinite(v) && v > 0 ? v : DEFAULT_PYRAMID_PIXELS;
}

export interface BuildProgress {
  done: number;
  total: number;
  etaMs: number | null;
}

export interface BuildWatcher {
  onProgress?: (p: BuildProgress) => void;
  isCancelled?: () => boolean;
}

type TileFormat = 'jpeg' | 'webp';

interface Meta extends PyramidGeometry {
  format: TileFormat;
}

const TILE_MIME: Record<TileFormat, string> = { jpeg: 'image/jpeg', webp: 'image/webp' };

interface Build {
  promise: Promise<void>;
  watchers: Set<BuildWatcher>;
  last: BuildProgress | null;
}

/**
 * Tile pyramids for gigapixel images, cached beside the dataset under `pyramid/` and keyed by
 * content hash. libvips writes the whole pyramid in one streaming pass with bounded memory; it
 * goes into a temporary folder that is renamed into place only once complete, so a cancelled,
 * failed or interrupted build is never read.
 */
export class Pyramids {
  private readonly builds = new Map<string, Build>();
  /** Finished pyramids by content hash, so serving a tile costs no extra file read. */
  private readonly metas = new Map<string, Meta>();
  /**
   * Whether a large TIFF is stored in tiles, by content hash: the media renderer asks for every
   * view and thumbnail, and the answer otherwise costs reading the file's header each time.
   */
  private readonly tiled = new Map<string, boolean>();
  private closed = false;

  constructor(
    private readonly ds: Dataset,
    private readonly media: Media,
    private readonly opts: { thresholdPixels?: number; limitInputPixels: number },
  ) {}

  /** Whether this image is shown from tiles rather than as one bitmap. */
  needsPyramid(im: ImageRecord): boolean {
    // libvips cannot read DICOM or BMP: they are shown whole (DICOM frames are bounded at decoding).
    if (!vipsReadable(im)) return false;
    if (im.width * im.height >= (this.opts.thresholdPixels ?? pyramidPixelsSetting())) return true;
    if (im.format !== 'tiff' || Math.max(im.width, im.height) <= TILED_TIFF_SIDE) return false;
    const known = this.tiled.get(im.contentHash);
    if (known !== undefined) return known;
    const tiled = tiffTiling(this.media.imagePath(im));
    // An unreadable file is looked at again next time.
    if (tiled !== null) this.tiled.set(im.contentHash, tiled);
    return tiled ?? false;
  }

  async info(imageId: number): Promise<PyramidInfo> {
    const im = await this.image(imageId);
    const base = { imageId, width: im.width, height: im.height, tileSize: TILE_SIZE };
    if (!this.needsPyramid(im)) return { ...base, state: 'none', levels: 0 };
    const levels = pyramidLevels(im.width, im.height, TILE_SIZE);
    const meta = await this.readMeta(im);
    if (meta) return { ...base, state: 'ready', levels: meta.levels, tileSize: meta.tileSize };
    return { ...base, state: this.builds.has(im.contentHash) ? 'building' : 'missing', levels };
  }

  /**
   * Builds the image's pyramid unless it exists; resolves once tiles can be served. A second call
   * for the same image joins the build in progress. Cancelling (any watcher) stops libvips and
   * removes what it wrote; the call then rejects with CANCELLED.
   */
  async ensure(imageId: number, watcher: BuildWatcher = {}): Promise<PyramidInfo> {
    const im = await this.image(imageId);
    await this.media.requireUnchanged(im);
    if (!this.needsPyramid(im) || await this.readMeta(im)) return await this.info(imageId);
    let build = this.builds.get(im.contentHash);
    if (!build) {
      const b: Build = { promise: Promise.resolve(), watchers: new Set(), last: null };
      b.promise = this.build(im, b).finally(() => this.builds.delete(im.contentHash));
      this.builds.set(im.contentHash, b);
      build = b;
    }
    build.watchers.add(watcher);
    if (build.last) watcher.onProgress?.(build.last);
    try {
      await build.promise;
    } finally {
      build.watchers.delete(watcher);
    }
    return await this.info(imageId);
  }

  /** The file of one tile; every part of the address is checked against the pyramid's grid. */
  async tile(imageId: number, level: number, col: number, row: number): Promise<MediaFile> {
    const im = await this.image(imageId);
    const meta = await this.readMeta(im);
    if (!meta) throw new AppError('NOT_FOUND', `${im.path}: no tile pyramid has been built`, { imageId });
    const ok = (v: number, below: number) => Number.isSafeInteger(v) && v >= 0 && v < below;
    if (!ok(level, meta.levels)) throw new AppError('INVALID_ARGUMENT', `tile level ${level} is outside 0..${meta.levels - 1}`, { imageId, level });
    const grid = tileGrid(meta, level);
    if (!ok(col, grid.cols) || !ok(row, grid.rows)) {
      throw new AppError('INVALID_ARGUMENT', `tile ${col},${row} is outside the ${grid.cols}x${grid.rows} grid of level ${level}`, { imageId, level, col, row });
    }
    const file = path.join(this.dir(im), 'p_files', String(level), `${col}_${row}.${meta.format}`);
    if (!fs.existsSync(file)) {
      // The cache folder may have been deleted meanwhile: look at the disk again next time.
      this.metas.delete(im.contentHash);
      throw new AppError('NOT_FOUND', `${im.path}: tile ${level}/${col}_${row} is missing from the pyramid`, { imageId, level, col, row });
    }
    return { file, mime: TILE_MIME[meta.format] };
  }

  /** Stops every build, e.g. when the dataset closes. */
  close(): void {
    this.closed = true;
  }

  private async image(imageId: number): Promise<ImageRecord> {
    const im = await getImage(this.ds.db, imageId);
    if (!im) throw new AppError('NOT_FOUND', `image ${imageId} is not in the dataset`, { imageId });
    return im;
  }

  private dir(im: ImageRecord): string {
    return path.join(this.ds.cacheDir, 'pyramid', im.contentHash.slice(0, 2), im.contentHash);
  }

  private async readMeta(im: ImageRecord): Promise<Meta | null> {
    const known = this.metas.get(im.contentHash);
    if (known) return known;
    try {
      const m = JSON.parse(fs.readFileSync(path.join(this.dir(im), 'pyramid.json'), 'utf8')) as Meta;
      if (m.width !== im.width || m.height !== im.height) return null;
      // A pyramid of the other tile format (made before nodata was masked) is built again.
      if ((m.format ?? 'jpeg') !== (await this.nodataMask(im) === null ? 'jpeg' : 'webp')) return null;
      this.metas.set(im.contentHash, m);
      return m;
    } catch {
      return null;
    }
  }

  /**
   * The GeoTIFF nodata value that tiles show as transparent, or null. Masking runs as a libvips
   * pass of its own (bounded memory, like the tiles), which can only test equality with the
   * extremes of an 8-bit sample: nodata 0 or 255, on images without an alpha channel. Other
   * nodata values, and images over 8 bits, keep JPEG tiles with nodata shown as stored.
   */
  private async nodataMask(im: ImageRecord): Promise<0 | 255 | null> {
    if (im.format !== 'tiff' || im.bitDepth > 8 || (im.channels !== 1 && im.channels !== 3)) return null;
    const nodata = await geoNodata(this.ds.db, im);
    return nodata === 0 || nodata === 255 ? nodata : null;
  }

  private async build(im: ImageRecord, b: Build): Promise<void> {
    const final = this.dir(im);
    removeAbandoned(final);
    const tmp = `${final}.build-${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
    fs.mkdirSync(tmp, { recursive: true });
    const geometry: PyramidGeometry = { width: im.width, height: im.height, tileSize: TILE_SIZE, levels: pyramidLevels(im.width, im.height, TILE_SIZE) };
    const total = totalTiles(geometry);
    const started = Date.now();
    const file = this.media.imagePath(im);
    let img = sharp(file, { limitInputPixels: this.opts.limitInputPixels, page: 0 });
    const nodata = await this.nodataMask(im);
    const maskFile = path.join(tmp, 'nodata-mask.tif');
    let stopped: 'cancelled' | 'closed' | null = null;
    const writing = (async () => {
      if (im.bitDepth > 8) {
        // The automatic 0.5-99.5 % window small images get, taken from a reduced copy (percentiles
        // barely move) and applied as one linear map to 16 bits, which libvips then writes as 8.
        const reduced = sharp(file, { limitInputPixels: this.opts.limitInputPixels, page: 0 });
        const meta = await reduced.metadata();
        const { data, info } = await sixteenBitSamples(reduced.resize(REDUCED_SIDE, REDUCED_SIDE, { fit: 'inside', withoutEnlargement: true }), meta)
          // The file's own 16-bit samples: without this, libvips would convert grey to sRGB first.
          .raw({ depth: 'ushort' })
          .toBuffer({ resolveWithObject: true });
        if (stopped) throw new AppError('CANCELLED', `${im.path}: tile pyramid build cancelled`, { imageId: im.id });
        const w = percentileRange(new Uint16Array(data.buffer, data.byteOffset, data.byteLength / 2), info.channels, { nodata: await geoNodata(this.ds.db, im) });
        const k = 65535 / (w.high - w.low);
        img = img.linear(k, -w.low * k);
      }
      if (nodata !== null) {
        // Alpha 0 where every sample is nodata: a band OR of "sample >= 1" (nodata 0), or the
        // inverted band AND of "sample >= 255" (nodata 255), written as a one-band tiled TIFF
        // in the displayed orientation and joined to the pixels as their alpha channel.
        let mask = sharp(file, { limitInputPixels: this.opts.limitInputPixels, page: 0 }).rotate();
        mask =
          nodata === 0
            ? mask.threshold(1, { grayscale: false }).bandbool('or').toColourspace('b-w')
            : mask.threshold(255, { grayscale: false }).bandbool('and').toColourspace('b-w').negate({ alpha: false });
        await mask.tiff({ compression: 'lzw', tile: true }).toFile(maskFile);
        if (stopped) throw new AppError('CANCELLED', `${im.path}: tile pyramid build cancelled`, { imageId: im.id });
        img = img.joinChannel(maskFile);
      }
      img = img.rotate(); // EXIF orientation: tiles show the pixels annotation coordinates refer to
      // Full chroma: small coloured objects are what labellers look for, and 4:2:0 smears them at
      // coarse levels. WebP keeps the nodata alpha (lossless alpha, lossy colour like the JPEG);
      // effort 1 halves the encode time of the default for slightly larger tiles.
      img = nodata === null ? img.jpeg({ quality: TILE_QUALITY, chromaSubsampling: '4:4:4' }) : img.webp({ quality: TILE_QUALITY, effort: 1 });
      return img.tile({ size: TILE_SIZE, overlap: 0, depth: 'onetile', layout: 'dz' }).toFile(path.join(tmp, 'p'));
    })();

    let polls = 0;
    const timer = setInterval(() => {
      if (stopped) return;
      if (this.closed || [...b.watchers].some((w) => w.isCancelled?.())) {
        stopped = this.closed ? 'closed' : 'cancelled';
        abortWrites(tmp);
        return;
      }
      if (++polls % 3 !== 0) return;
      const done = countTiles(tmp);
      const elapsed = Date.now() - started;
      b.last = { done, total, etaMs: done > 0 ? Math.round((elapsed * (total - done)) / done) : null };
      for (const w of b.watchers) w.onProgress?.(b.last);
    }, POLL_MS);

    try {
      const info = await writing;
      if (info.width !== im.width || info.height !== im.height) {
        throw new AppError('CORRUPT_IMAGE', `${im.path}: decodes to ${info.width}x${info.height}, not the ${im.width}x${im.height} recorded at import`, { imageId: im.id });
      }
      if (stopped) throw new AppError('CANCELLED', `${im.path}: tile pyramid build cancelled`, { imageId: im.id });
      const meta: Meta = { ...geometry, format: nodata === null ? 'jpeg' : 'webp' };
      fs.rmSync(maskFile, { force: true });
      fs.writeFileSync(path.join(tmp, 'pyramid.json'), JSON.stringify(meta));
      b.last = { done: total, total, etaMs: 0 };
      for (const w of b.watchers) w.onProgress?.(b.last);
      fs.rmSync(final, { recursive: true, force: true });
      fs.renameSync(tmp, final);
    } catch (e) {
      if (stopped) throw new AppError('CANCELLED', `${im.path}: tile pyramid build cancelled`, { imageId: im.id });
      if (e instanceof AppError) throw e;
      throw new AppError('CORRUPT_IMAGE', `${im.path}: cannot build a tile pyramid (${(e as Error).message.split('\n')[0]})`, { imageId: im.id, path: im.path });
    } finally {
      clearInterval(timer);
      removeQuietly(tmp);
      removeQuietly(`${tmp}.stopped`);
    }
  }
}

/** Tiles written so far, all levels. */
function countTiles(dir: string): number {
  const files = path.join(dir, 'p_files');
  let n = 0;
  let levels: string[];
  try {
    levels = fs.readdirSync(files);
  } catch {
    return 0;
  }
  for (const l of levels) {
    if (!/^\d+$/.test(l)) continue;
    try {
      n += fs.readdirSync(path.join(files, l)).length;
    } catch {
      // a level folder being created right now
    }
  }
  return n;
}

/**
 * Sharp gives no handle to cancel a libvips pipeline, but libvips stops at its first failed write.
 * Moving the output folder away and putting a plain file at its path makes every later tile write
 * fail at once (libvips recreates missing folders, so the file is what stops it).
 */
function abortWrites(dir: string): void {
  try {
    fs.renameSync(dir, `${dir}.stopped`);
    fs.writeFileSync(dir, '');
  } catch {
    // already finished or gone: nothing left to stop
  }
}

/** Temporary folders of builds whose process is gone (a crash or a kill), never to be finished. */
function removeAbandoned(final: string): void {
  const parent = path.dirname(final);
  const prefix = `${path.basename(final)}.build-`;
  let names: string[];
  try {
    names = fs.readdirSync(parent);
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const pid = Number(/^(\d+)-/.exec(name.slice(prefix.length))?.[1]);
    if (pid === process.pid || (Number.isSafeInteger(pid) && isAlive(pid))) continue;
    removeQuietly(path.join(parent, name));
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function removeQuietly(p: string): void {
  try {
    fs.rmSync(p, { recursive: true, force: true });
  } catch {
    // best effort: a leftover temporary folder is never read
  }
}

/** Whether a TIFF stores its first image in tiles (TileWidth, tag 322, in the first IFD). */
export function isTiledTiff(file: string): boolean {
  return tiffTiling(file) ?? false;
}

/** As isTiledTiff, but null when the file cannot be read. */
function tiffTiling(file: string): boolean | null {
  let fd: number | null = null;
  try {
    fd = fs.openSync(file, 'r');
    const read = (pos: number, len: number): Buffer => {
      const buf = Buffer.alloc(len);
      fs.readSync(fd!, buf, 0, len, pos);
      return buf;
    };
    const head = read(0, 16);
    const le = head.toString('latin1', 0, 2) === 'II';
    const u16 = (b: Buffer, o: number) => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
    const u32 = (b: Buffer, o: number) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
    const u64 = (b: Buffer, o: number) => Number(le ? b.readBigUInt64LE(o) : b.readBigUInt64BE(o));
    const magic = u16(head, 2);
    if (magic === 42) {
      const ifd = u32(head, 4);
      const count = u16(read(ifd, 2), 0);
      const entries = read(ifd + 2, count * 12);
      for (let i = 0; i < count; i++) if (u16(entries, i * 12) === 322) return true;
    } else if (magic === 43) {
      const ifd = u64(head, 8);
      const count = u64(read(ifd, 8), 0);
      const entries = read(ifd + 8, count * 20);
      for (let i = 0; i < count; i++) if (u16(entries, i * 20) === 322) return true;
    }
    return false;
  } catch {
    return null;
  } finally {
    if (fd !== null) fs.closeSync(fd);
  }
}
