import { AppError } from '../common/errors';
import { getImage } from '../db/images';
import { getMeta, setMeta } from '../db/meta';
import { locateTile } from '../db/stacks';
import type { Dataset } from './dataset';

/** The meta key holding the id of the image open in the viewer ('' while the grid is shown). */
const KEY = 'viewer.open_image';

/** Remembers the image open in the viewer, so a reload or a restart comes back to it; null for the grid. */
export async function setOpenImage(ds: Dataset, id: number | null): Promise<void> {
  if (id !== null && !await getImage(ds.db, id)) throw new AppError('NOT_FOUND', `image ${id} is not in the dataset`, { id });
  await setMeta(ds.db, KEY, id === null ? '' : String(id));
}

/**
 * The image last open in the viewer and the place of its grid tile in the unfiltered grid; `index` is
 * null when the image has since been removed. Null when the grid was shown last.
 */
export async function getOpenImage(ds: Dataset): Promise<{ id: number; index: number | null } | null> {
  const v = await getMeta(ds.db, KEY);
  const id = v ? Number(v) : NaN;
  if (!Number.isInteger(id) || id <= 0) return null;
  if (!await getImage(ds.db, id)) return { id, index: null };
  // The grid shows a stack as one tile: the index is the tile's, and the image opens as its slice.
  return { id, index: await locateTile(ds.db, {}, id) };
}
