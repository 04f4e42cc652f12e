import { AppError } from '../common/errors';
import type { AnnotationRecord } from '../common/model';
import type { VersionDiff, VersionRecord } from '../common/versions';
import * as db from '../db/versions';
import type { Dataset } from './dataset';

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
  /** Export settings to keep with the version (common/augment/recipe). */
  recipe?: unknown;
}

export function createVersion(ds: Dataset, args: CreateVersionArgs, now = Date.now()): VersionRecord {
  const name = args.name.trim();
  if (!name) throw new AppError('INVALID_ARGUMENT', 'a version needs a name', { field: 'name' });
  return db.insertVersion(ds.db, { ...args, name }, now);
}

export function listVersions(ds: Dataset): VersionRecord[] {
  return db.listVersions(ds.db);
}

/** The version of this number, or a NOT_FOUND error naming it. */
export function requireVersion(ds: Dataset, number: number): VersionRecord & { id: number } {
  const v = db.getVersion(ds.db, number);
  const id = db.versionId(ds.db, number);
  if (!v || id === undefined) {
    const known = db.listVersions(ds.db).map((x) => x.number);
    throw new AppError('NOT_FOUND', `no version ${number} in this dataset (${known.length ? `versions: ${known.join(', ')}` : 'it has no versions'})`, { version: number });
  }
  return { ...v, id };
}

/** Differences from version `a` to version `b`, or to the dataset as it is now (`'current'`). */
export function diffVersions(ds: Dataset, a: number, b: number | 'current'): VersionDiff {
  const from = requireVersion(ds, a);
  const to = b === 'current' ? null : requireVersion(ds, b);
  return db.diffVersions(ds.db, from, to);
}

export function deleteVersion(ds: Dataset, number: number): void {
  requireVersion(ds, number);
  db.deleteVersion(ds.db, number);
}

/** Ids of the version's images that the dataset still holds (id order). */
export function versionImageIds(ds: Dataset, number: number): number[] {
  const v = requireVersion(ds, number);
  return ds.db.prepare('SELECT v.image_id FROM version_images v JOIN images i ON i.id = v.image_id WHERE v.version_id = ? ORDER BY v.image_id').pluck().all(v.id) as number[];
}

/** The annotations one image had in a version (for viewing it read-only). */
export function versionAnnotations(ds: Dataset, number: number, imageId: number): AnnotationRecord[] {
  const v = requireVersion(ds, number);
  if (!db.versionHasImage(ds.db, v.id, imageId)) {
    throw new AppError('NOT_FOUND', `image ${imageId} is not in version ${number}`, { version: number, imageId });
  }
  return db.versionImageAnnotations(ds.db, v.id, imageId, v.createdAt);
}
