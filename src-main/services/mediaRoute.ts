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
 */
export async function resolveMedia(ws: Workspace, pathname: string): Promise<MediaResponse> {
  const m = /^\/?(thumb|view)\/(\d{1,15})$/.exec(pathname);
  try {
    if (!m) throw new AppError('INVALID_ARGUMENT', `bad media path "${pathname.slice(0, 80)}"`);
    const f = await ws.mediaFor().get(m[1] as MediaKind, Number(m[2]));
    return { ok: true, ...f };
  } catch (e) {
    const error = toErrorData(e);
    return { ok: false, status: STATUS[error.code] ?? 500, error };
  }
}
