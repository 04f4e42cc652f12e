import type { GeoReference } from '../../common/geo';
import type { AnnotationKind, ClassRecord } from '../../common/model';
import type { VersionRecord } from '../../common/versions';
import { listClasses } from '../../db/classes';
import { countKindsOutside, countOnLaterFrames, countScopeImages, readExportChunk, type ExportChunk, type ExportScope, type KindsOutside } from '../../db/export';
import { getGeo } from '../../db/geo';
import { externalImagePaths } from '../../db/images';
import { cocoExportIds } from '../../db/interchange';
import type { Db } from '../../db/open';
import * as frozen from '../../db/versions';

/**
 * What an export reads: the dataset as it is now, or a frozen version of it. Both give images in
 * id order with their annotations in drawing order, so an export of a version writes the same
 * files whenever it runs.
 */
export interface ExportSource {
  /** The version read, or null for the dataset as it is now. */
  version: VersionRecord | null;
  classes(): ClassRecord[];
  cocoIds(): { image: (id: number) => number; category: (classId: number, index: number) => number };
  countImages(scope: ExportScope): number;
  readChunk(scope: ExportScope, withPredictions: boolean, afterId: number, limit: number): ExportChunk;
  kindsOutside(scope: ExportScope, withPredictions: boolean, kinds: readonly AnnotationKind[]): KindsOutside;
  onLaterFrames(scope: ExportScope, withPredictions: boolean): ReturnType<typeof countOnLaterFrames>;
  geo(imageId: number): GeoReference | null;
  /** Stored paths of the images outside the dataset folder. */
  externalPaths(): string[];
  /** Whether the source holds an image of this stored path (a merge keeps the files of such images it does not cover). */
  hasPath(path: string): boolean;
  /** The content hash each image of the scope had when frozen (versions only: the files must still match). */
  frozenHashes?(scope: ExportScope): ReturnType<typeof frozen.versionImageHashes>;
}

export function liveSource(db: Db): ExportSource {
  const inDataset = db.prepare('SELECT 1 FROM images WHERE path = ?').pluck();
  return {
    version: null,
    classes: () => listClasses(db),
    cocoIds: () => cocoExportIds(db),
    countImages: (scope) => countScopeImages(db, scope),
    readChunk: (scope, withPredictions, afterId, limit) => readExportChunk(db, scope, withPredictions, afterId, limit),
    kindsOutside: (scope, withPredictions, kinds) => countKindsOutside(db, scope, withPredictions, kinds),
    onLaterFrames: (scope, withPredictions) => countOnLaterFrames(db, scope, withPredictions),
    geo: (imageId) => getGeo(db, imageId),
    externalPaths: () => externalImagePaths(db),
    hasPath: (p) => inDataset.get(p) !== undefined,
  };
}

/** Reads version `record` (its row id `id`) instead of the live tables. */
export function versionSource(db: Db, record: VersionRecord & { id: number }): ExportSource {
  const v = record.id;
  const hasPath = db.prepare('SELECT 1 FROM version_images WHERE version_id = ? AND path = ?').pluck();
  return {
    version: record,
    classes: () => frozen.versionClasses(db, v),
    cocoIds: () => frozen.versionCocoIds(db, v),
    countImages: (scope) => frozen.countVersionImages(db, v, scope),
    readChunk: (scope, withPredictions, afterId, limit) => frozen.readVersionChunk(db, v, scope, withPredictions, afterId, limit),
    kindsOutside: (scope, withPredictions, kinds) => frozen.versionKindsOutside(db, v, scope, withPredictions, kinds),
    onLaterFrames: (scope, withPredictions) => frozen.versionOnLaterFrames(db, v, scope, withPredictions),
    geo: (imageId) => frozen.versionGeo(db, v, imageId),
    externalPaths: () => frozen.versionExternalPaths(db, v),
    hasPath: (p) => hasPath.get(v, p) !== undefined,
    frozenHashes: (scope) => frozen.versionImageHashes(db, v, scope),
  };
}
