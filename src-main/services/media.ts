import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import sharp, { type Sharp } from 'sharp';
import { decode as decodeBmp } from 'fast-bmp';
import { AppError } from '../common/errors';
import type { FileState, ImageRecord } from '../common/model';
import { getImage, setFileMtime } from '../db/images';
import type { Dataset } from './dataset';
import { resolveStoredPath } from './paths';
import { applyWindow, percentileWindow } from './window';

export type MediaKind = 'thumb' | 'view';

export interface MediaFile {
  /** Absolute path of the bytes to send. */
  file: string;
  mime: string;
}

export const THUMB_SIZE = 256;

/** Formats a browser shows as they are, when no orientation or depth conversion is needed. */
const DIRECT: Record<string, string> = { jpeg: 'image/jpeg', png: 'image/png', webp: 'image/webp' };

/**
 * Image renditions for the renderer: thumbnails for the grid and a displayable full-resolution
 * image for the viewer. Both show the oriented pixels annotation coordinates refer to, and are
 * made on first request and cached beside the dataset, so the grid never waits on all of them.
 */
export class Media {
  private readonly inflight = new Map<string, Promise<void>>();

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

  async get(kind: MediaKind, imageId: number): Promise<MediaFile> {
    const im = getImage(this.ds.db, imageId);
    if (!im) throw new AppError('NOT_FOUND', `image ${imageId} is not in the dataset`, { imageId });
    const state = this.fileState(im);
    if (state === 'missing') throw new AppError('FILE_MISSING', `${im.path}: file is missing on disk`, { imageId, path: im.path });
    if (state === 'changed') {
      throw new AppError('FILE_CHANGED', `${im.path}: file changed on disk since it was imported`, { imageId, path: im.path });
    }
    const src = this.imagePath(im);
    if (kind === 'view' && DIRECT[im.format] && im.orientation === 1 && im.bitDepth <= 8 && im.frames === 1) {
      return { file: src, mime: DIRECT[im.format]! };
    }
    const ext = kind === 'thumb' ? 'webp' : 'png';
    const out = path.join(this.ds.cacheDir, kind, im.contentHash.slice(0, 2), `${im.contentHash}.${ext}`);
    if (!fs.existsSync(out)) await this.render(kind, im, src, out);
    return { file: out, mime: kind === 'thumb' ? 'image/webp' : 'image/png' };
  }

  private render(kind: MediaKind, im: ImageRecord, src: string, out: string): Promise<void> {
    const pending = this.inflight.get(out);
    if (pending) return pending;
    const job = (async () => {
      let img = await this.open(im, src);
      if (im.bitDepth > 8) img = await windowed(img);
      img = img.rotate(); // apply EXIF orientation
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
 * Renders a high-bit-depth image to 8 bits through its automatic percentile window, so the
 * used range fills black..white. Orientation metadata is kept for the caller's rotate().
 */
async function windowed(img: Sharp): Promise<Sharp> {
  const meta = await img.metadata();
  // Keep the file's own 16-bit interpretation: converting to sRGB first would scale the samples.
  const space = meta.space === 'grey16' || meta.space === 'rgb16' ? meta.space : 'rgb16';
  const { data, info } = await img.clone().toColourspace(space).raw({ depth: 'ushort' }).toBuffer({ resolveWithObject: true });
  const samples = new Uint16Array(data.buffer, data.byteOffset, data.byteLength / 2);
  const w = percentileWindow(samples, info.channels);
  const out = applyWindow(samples, info.channels, w);
  return sharp(Buffer.from(out.buffer, out.byteOffset, out.byteLength), {
    raw: { width: info.width, height: info.height, channels: info.channels as 1 | 2 | 3 | 4 },
  }).withMetadata({ orientation: meta.orientation ?? 1 });
}
