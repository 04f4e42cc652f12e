import { AppError, toErrorData, type ErrorData } from '../common/errors';
import type { MediaKind } from './media';
import type { Workspace } from './workspace';

export type MediaResponse = { ok: true; file: string; mime: string } | { ok: false; status: number; error: ErrorData };

const STATUS: Partial<Record<ErrorData['code'], number>> = {
  NOT_FOUND: 404,
  FILE_MISSING: 404,
  FILE_CHANGED: 409,
  NO_DATASET_OPEN: 409,
  PATH_OUTSIDE_ROOT: 403,
  INVALID_ARGUMENT: 400,
  CORRUPT_IMAGE: 422,
};

/**
 * Resolves a media path `<kind>/<imageId>` (from the Electron protocol or the browser-mode
 * server) to a file to send. Only ids are accepted: no file path ever comes from the renderer.
 * A tile of an image's pyramid is `tile/<imageId>/<level>/<col>/<row>`, all plain integers.
 * A view or thumbnail may name a frame and a display window:
 * `view/<imageId>/<frame>` or `view/<imageId>/<frame>/<center>/<width>` (numbers, center may be negative).
 */
export async function resolveMedia(ws: Workspace, pathname: string): Promise<MediaResponse> {
  const m = /^\/?(thumb|view)\/(\d{1,15})(?:\/(\d{1,6})(?:\/(-?\d{1,9}(?:\.\d{1,6})?)\/(\d{1,9}(?:\.\d{1,6})?))?)?$/.exec(pathname);
  const t = m ? null : /^\/?tile\/(\d{1,15})\/(\d{1,2})\/(\d{1,7})\/(\d{1,7})$/.exec(pathname);
  try {
    if (t) return { ok: true, ...ws.pyramidsFor().tile(Number(t[1]), Number(t[2]), Number(t[3]), Number(t[4])) };
    if (!m) throw new AppError('INVALID_ARGUMENT', `bad media path "${pathname.slice(0, 80)}"`);
    const frame = m[3] === undefined ? undefined : Number(m[3]);
    const window = m[4] === undefined ? undefined : { center: Number(m[4]), width: Math.max(1, Number(m[5])) };
    const f = await ws.mediaFor().get(m[1] as MediaKind, Number(m[2]), { frame, window });
    return { ok: true, ...f };
  } catch (e) {
    const error = toErrorData(e);
    return { ok: false, status: STATUS[error.code] ?? 500, error };
  }
}
