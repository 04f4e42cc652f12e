import { AppError } from '../common/errors';
import type { VersionDiff, VersionRecord } from '../common/versions';
import { parseRecipe } from '../common/augment/parseRecipe';
import type { AnnotationRecord, ClassRecord, ImageRecord } from '../common/model';
import { getImagingMeta } from '../db/imaging';
import type { Db } from '../db/open';
import * as db from '../db/versions';
import type { Dataset } from './dataset';
import { chosenWindow } from './dicom/display';

/**
 * Versions of a dataset: numbered, named, immutable snapshots of its images (with content
 * hashes), classes, splits, tags and annotations, for exporting the same training set again
 * later, comparing two states, and viewing old labels (see db/versions).
 */

export interface CreateVersionArgs {
  name: string;
  note?: string;
  /** Also freeze pending model predictions (human annotations, accepted predictions among them, always are). */
  withPredictions?: boolean;
  /** Export settings to keep with the version (common/augment/recipe): validated, kept as parsed. */
  recipe?: unknown;
  /** Where the recipe came from, for its error messages (a file name). */
  recipeFile?: string;
}

export async function createVersion(ds: Dataset, args: CreateVersionArgs, now = Date.now()): Promise<VersionRecord> {
  const name = args.name.trim();
  if (!name) throw new AppError('INVALID_ARGUMENT', 'a version needs a name', { field: 'name' });
  const recipe = args.recipe === undefined || args.recipe === null ? undefined : parseRecipe(args.recipe, args.recipeFile ?? 'recipe');
  const { recipeFile: _file, ...rest } = args;
  return await db.insertVersion(ds.db, { ...rest, name, recipe, display: async () => await frozenDisplay(ds.db) }, now);
}

/**
 * How each image shown through a display window (DICOM, samples deeper than 8 bits) is displayed
 * now, frozen with a version so a recipe's export of it later gives the same 8-bit pixels whatever
 * window is chosen since (or whether the image is still in the dataset).
 */
async function frozenDisplay(d: Db): Promise<Map<number, db.FrozenDisplay>> {
  const out = new Map<number, db.FrozenDisplay>();
  const rows = await d.prepare("SELECT id, path, format, frames, bit_depth AS bitDepth FROM images WHERE format = 'dicom' OR bit_depth > 8").all() as Pick<ImageRecord, 'id' | 'path' | 'format' | 'frames' | 'bitDepth'>[];
  // Only DICOM files carry windows of their own; others have one only when it was remembered.
  const anySeries = await d.prepare('SELECT 1 FROM series_windows LIMIT 1').get() !== undefined;
  const own = new Set(await d.prepare('SELECT image_id FROM image_windows').pluck().all() as number[]);
  for (const r of rows) {
    const entry: db.FrozenDisplay = {};
    if (r.bitDepth > 8) entry.bitDepth = r.bitDepth;
    const chosen = r.format === 'dicom' || anySeries || own.has(r.id) ? await chosenWindow(d, r as ImageRecord, 0) : null;
    if (chosen) entry.window = chosen.window;
    const modality = r.format === 'dicom' ? (await getImagingMeta(d, r.id))?.modality : undefined;
    if (modality) entry.modality = modality;
    if (Object.keys(entry).length > 0) out.set(r.id, entry);
  }
  return out;
}

export async function listVersions(ds: Dataset): Promise<VersionRecord[]> {
  return await db.listVersions(ds.db);
}

/** The version of this number, or a NOT_FOUND error naming it. */
export async function requireVersion(ds: Dataset, number: number): Promise<VersionRecord & { id: number }> {
  const v = await db.getVersion(ds.db, number);
  const id = await db.versionId(ds.db, number);
  if (!v || id === undefined) {
    const known = (await db.listVersions(ds.db)).map((x) => x.number);
    throw new AppError('NOT_FOUND', `no version ${number} in this dataset (${known.length ? `versions: ${known.join(', ')}` : 'it has no versions'})`, { version: number });
  }
  return { ...v, id };
}

/** Differences from version `a` to version `b`, or to the dataset as it is now (`'current'`). */
export async function diffVersions(ds: Dataset, a: number, b: number | 'current'): Promise<VersionDiff> {
  const from = await requireVersion(ds, a);
  const to = b === 'current' ? null : await requireVersion(ds, b);
  return await db.diffVersions(ds.db, from, to);
}

export async function deleteVersion(ds: Dataset, number: number): Promise<void> {
  await requireVersion(ds, number);
  await db.deleteVersion(ds.db, number);
}

/** Ids of the version's images that the dataset still holds (id order). */
export async function versionImageIds(ds: Dataset, number: number): Promise<number[]> {
  const v = await requireVersion(ds, number);
  return await ds.db.prepare('SELECT v.image_id FROM version_images v JOIN images i ON i.id = v.image_id WHERE v.version_id = ? ORDER BY v.image_id').pluck().all(v.id) as number[];
}

/** The annotations one image had in a version (for viewing it read-only). */
/** The classes as version `number` froze them (names, colours, attributes, keypoints), for viewing it. */
export async function versionClassList(ds: Dataset, number: number): Promise<ClassRecord[]> {
  const v = await requireVersion(ds, number);
  return (await db.versionClasses(ds.db, v.id)).map(({ cocoId: _, ...c }) => c);
}

export async function versionAnnotations(ds: Dataset, number: number, imageId: number): Promise<AnnotationRecord[]> {
  const v = await requireVersion(ds, number);
  if (!await db.versionHasImage(ds.db, v.id, imageId)) {
    throw new AppError('NOT_FOUND', `image ${imageId} is not in version ${number}`, { version: number, imageId });
  }
  return await db.versionImageAnnotations(ds.db, v.id, imageId, v.createdAt);
}
