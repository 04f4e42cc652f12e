import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { AppError, toErrorData, type ErrorData } from '../common/errors';
import type { ImageRecord } from '../common/model';
import { getImage } from '../db/images';
import type { Dataset } from './dataset';
import type { MediaKind } from './media';
import { isInside } from './paths';
import type { Workspace } from './workspace';

export type MediaResponse =
  | {
      ok: true;
      file: string;
      mime: string;
      /** Validator for conditional requests: changes whenever the bytes sent could. */
      etag: string;
    }
  | { ok: false; status: number; error: ErrorData };

const STATUS: Partial<Record<ErrorData['code'], number>> = {
  NOT_FOUND: 404,
  FILE_MISSING: 404,
  FILE_CHANGED: 409,
  NO_DATASET_OPEN: 409,
  PATH_OUTSIDE_ROOT: 403,
  EXTERNAL_NOT_ALLOWED: 403,
  INVALID_ARGUMENT: 400,
  CORRUPT_IMAGE: 422,
  UNSUPPORTED_FORMAT: 422,
};

/**
 * How media may be cached: the address already names the dataset and the file's version, and a
 * conditional request (the ETag) is still checked against the file on every reuse, so a reload
 * never shows pixels the disk no longer holds.
 */
export const MEDIA_CACHE_CONTROL = 'private, no-cache';

/** The part of an image's media address that changes with the file: content hash, size, mtime. */
export function mediaVersion(ds: Dataset, im: Pick<ImageRecord, 'path' | 'external' | 'contentHash'>): string {
  const hash = im.contentHash.slice(0, 12);
  let st: fs.Stats;
  try {
    // Only a name for the file's state: serving it checks the path fully (links included), so a
    // grid page of addresses costs one stat per image.
    const file = im.external ? ds.imagePath(im) : path.resolve(ds.root, im.path);
    if (!im.external && !isInside(ds.root, file)) throw new Error('outside the root');
    st = fs.statSync(file);
  } catch {
    return `${hash}-none`;
  }
  return `${hash}-${st.size.toString(36)}-${Math.round(st.mtimeMs).toString(36)}`;
}

/** `<dataset uuid>/<image id>/<version>`: what the renderer asks for an image's renditions by. */
export function mediaKey(ds: Dataset, im: Pick<ImageRecord, 'id' | 'path' | 'external' | 'contentHash'>): string {
  return `${ds.uuid}/${im.id}/${mediaVersion(ds, im)}`;
}

const KEY = '([0-9a-f-]{36})\\/(\\d{1,15})\\/([0-9a-f]{12}-(?:none|[0-9a-z]{1,14}-[0-9a-z]{1,14}))';
const NUM = '(-?\\d{1,9}(?:\\.\\d{1,6})?)';
const VIEW = new RegExp(`^\\/?(thumb|view)\\/${KEY}(?:\\/(\\d{1,6})(?:\\/${NUM}\\/${NUM})?)?$`);
const TILE = new RegExp(`^\\/?tile\\/${KEY}\\/(\\d{1,2})\\/(\\d{1,7})\\/(\\d{1,7})$`);

/**
 * Resolves a media path (from the Electron protocol or the browser-mode server) to a file to send.
 * Every address names the dataset and the version of the image's file:
 * `<thumb|view>/<key>[/<frame>[/<center>/<width>]]` and `tile/<key>/<level>/<col>/<row>`, where
 * `<key>` is mediaKey's `<dataset uuid>/<image id>/<version>`. An address of another dataset, or
 * of a file since changed, is refused rather than answered with whatever is current; only ids and
 * numbers are accepted, no file path ever comes from the renderer.
 */
export async function resolveMedia(ws: Workspace, pathname: string): Promise<MediaResponse> {
  const m = VIEW.exec(pathname);
  const t = m ? null : TILE.exec(pathname);
  try {
    const parts = m ?? t;
    if (!parts) throw new AppError('INVALID_ARGUMENT', `bad media path "${pathname.slice(0, 80)}"`);
    const key = m ? { uuid: m[2]!, id: Number(m[3]), version: m[4]! } : { uuid: t![1]!, id: Number(t![2]), version: t![3]! };
    const ds = ws.current;
    if (!ds) throw new AppError('NO_DATASET_OPEN', 'no dataset is open');
    if (key.uuid !== ds.uuid) throw new AppError('NOT_FOUND', `media of another dataset (${key.uuid}); ${ds.name} is open`, { uuid: key.uuid });
    const im = await getImage(ds.db, key.id);
    if (!im) throw new AppError('NOT_FOUND', `image ${key.id} is not in the dataset`, { imageId: key.id });
    if (mediaVersion(ds, im) !== key.version) {
      throw new AppError('FILE_CHANGED', `${im.path}: the file is not the version this address names`, { imageId: im.id, path: im.path });
    }
    if (t) {
      const f = await ws.pyramidsFor().tile(im.id, Number(t[4]), Number(t[5]), Number(t[6]));
      return { ok: true, ...f, etag: etagOf(f.file, key.version) };
    }
    const frame = m![5] === undefined ? undefined : Number(m![5]);
    const window = m![6] === undefined ? undefined : { center: Number(m![6]), width: Math.max(1, Number(m![7])) };
    const f = await ws.mediaFor().get(m![1] as MediaKind, im.id, { frame, window });
    return { ok: true, ...f, etag: etagOf(f.file, key.version) };
  } catch (e) {
    const error = toErrorData(e);
    return { ok: false, status: STATUS[error.code] ?? 500, error };
  }
}

/** The served file's identity: which rendition (its path names image, frame and window) and when it was written. */
function etagOf(file: string, version: string): string {
  let stamp = '';
  try {
    const st = fs.statSync(file);
    stamp = `${st.size}:${Math.round(st.mtimeMs)}`;
  } catch {
    // gone meanwhile: the send fails and says so
  }
  return `"${crypto.createHash('sha256').update(`${version}\0${file}\0${stamp}`).digest('base64url').slice(0, 27)}"`;
}
