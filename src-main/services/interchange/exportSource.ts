import type { GeoReference } from '../../common/geo';
import type { DicomMeta } from '../../common/imaging/dicom';
import type { Raster } from '../../common/imaging/raster';
import { percentileWindowOf, type VoiWindow } from '../../common/imaging/window';
import type { AnnotationKind, ClassRecord, ImageRecord } from '../../common/model';
import type { VersionRecord } from '../../common/versions';
import { listClasses } from '../../db/classes';
import { countKindsOutside, countOnLaterFrames, countScopeImages, readExportChunk, type ExportChunk, type ExportScope, type KindsOutside } from '../../db/export';
import { getGeo } from '../../db/geo';
import { externalImagePaths, getImage } from '../../db/images';
import { cocoExportIds } from '../../db/interchange';
import type { Db } from '../../db/open';
import * as frozen from '../../db/versions';
import { defaultWindow, paddingOf } from '../dicom/display';

/**
 * What an export reads: the dataset as it is now, or a frozen version of it. Both give images in
 * id order with their annotations in drawing order, so an export of a version writes the same
 * files whenever it runs.
 */
export interface ExportSource {
  /** The version read, or null for the dataset as it is now. */
  version: VersionRecord | null;
  classes(): Promise<ClassRecord[]>;
  cocoIds(): Promise<{ image: (id: number) => number; category: (classId: number, index: number) => number }>;
  countImages(scope: ExportScope): Promise<number>;
  readChunk(scope: ExportScope, withPredictions: boolean, afterId: number, limit: number): Promise<ExportChunk>;
  kindsOutside(scope: ExportScope, withPredictions: boolean, kinds: readonly AnnotationKind[]): Promise<KindsOutside>;
  onLaterFrames(scope: ExportScope, withPredictions: boolean): ReturnType<typeof countOnLaterFrames>;
  geo(imageId: number): Promise<GeoReference | null>;
  /** Stored paths of the images outside the dataset folder. */
  externalPaths(): Promise<string[]>;
  /** Whether the source holds an image of this stored path (a merge keeps the files of such images it does not cover). */
  hasPath(path: string): Promise<boolean>;
  /** The content hash each image of the scope had when frozen (versions only: the files must still match). */
  frozenHashes?(scope: ExportScope): ReturnType<typeof frozen.versionImageHashes>;
  /** The train images of the scope in id order (the images a mosaic draws from). */
  trainImageIds(scope: ExportScope): Promise<number[]>;
  /**
   * The largest image id, annotation id and remembered COCO image id the source holds (0 when
   * none): tiles and augmented copies are numbered above them, so a version's are the same
   * whatever the dataset holds later.
   */
  maxIds(): Promise<{ image: number; annotation: number; cocoImage: number }>;
  /**
   * What decoding an image's pixels reads: its record and the display window of its first frame
   * (for samples deeper than 8 bits and DICOM greyscale); undefined when the source has no such image.
   */
  pixels(imageId: number): Promise<{ record: ImageRecord; window: (raster: () => Raster) => Promise<VoiWindow> } | undefined>;
}

export function liveSource(db: Db): ExportSource {
  const inDataset = db.prepare('SELECT 1 FROM images WHERE path = ?').pluck();
  return {
    version: null,
    classes: async () => await listClasses(db),
    cocoIds: async () => await cocoExportIds(db),
    countImages: async (scope) => await countScopeImages(db, scope),
    readChunk: async (scope, withPredictions, afterId, limit) => await readExportChunk(db, scope, withPredictions, afterId, limit),
    kindsOutside: async (scope, withPredictions, kinds) => await countKindsOutside(db, scope, withPredictions, kinds),
    onLaterFrames: async (scope, withPredictions) => await countOnLaterFrames(db, scope, withPredictions),
    geo: async (imageId) => await getGeo(db, imageId),
    externalPaths: async () => await externalImagePaths(db),
    hasPath: async (p) => await inDataset.get(p) !== undefined,
    trainImageIds: async (scope) => {
      const statuses = scope === 'done' ? "AND status IN ('done', 'reviewed')" : scope === 'reviewed' ? "AND status = 'reviewed'" : '';
      return await db.prepare(`SELECT id FROM images WHERE split = 'train' ${statuses} ORDER BY id`).pluck().all() as number[];
    },
    maxIds: async () => ({
      image: await db.prepare('SELECT coalesce(max(id), 0) FROM images').pluck().get() as number,
      annotation: await db.prepare('SELECT coalesce(max(id), 0) FROM annotations').pluck().get() as number,
      cocoImage: await db.prepare('SELECT coalesce(max(coco_id), 0) FROM coco_image_ids').pluck().get() as number,
    }),
    pixels: async (imageId) => {
      const record = await getImage(db, imageId);
      return record ? { record, window: async (raster) => (await defaultWindow(db, record, 0, raster)).window } : undefined;
    },
  };
}

/** Reads version `record` (its row id `id`) instead of the live tables. */
export function versionSource(db: Db, record: VersionRecord & { id: number }): ExportSource {
  const v = record.id;
  const hasPath = db.prepare('SELECT 1 FROM version_images WHERE version_id = ? AND path = ?').pluck();
  return {
    version: record,
    classes: async () => await frozen.versionClasses(db, v),
    cocoIds: async () => await frozen.versionCocoIds(db, v),
    countImages: async (scope) => await frozen.countVersionImages(db, v, scope),
    readChunk: async (scope, withPredictions, afterId, limit) => await frozen.readVersionChunk(db, v, scope, withPredictions, afterId, limit),
    kindsOutside: async (scope, withPredictions, kinds) => await frozen.versionKindsOutside(db, v, scope, withPredictions, kinds),
    onLaterFrames: async (scope, withPredictions) => await frozen.versionOnLaterFrames(db, v, scope, withPredictions),
    geo: async (imageId) => await frozen.versionGeo(db, v, imageId),
    externalPaths: async () => await frozen.versionExternalPaths(db, v),
    hasPath: async (p) => await hasPath.get(v, p) !== undefined,
    frozenHashes: async (scope) => await frozen.versionImageHashes(db, v, scope),
    trainImageIds: async (scope) => await frozen.versionTrainImageIds(db, v, scope),
    maxIds: async () => await frozen.versionMaxIds(db, v),
    // The frozen row and display: neither the image's live record (it may be deleted since) nor its live window.
    pixels: async (imageId) => {
      const row = await frozen.versionImageRow(db, v, imageId);
      if (!row) return undefined;
      const { display, ...rest } = row;
      const record: ImageRecord = { ...rest, fileSize: 0, fileMtimeMs: 0, channels: 0, bitDepth: display.bitDepth ?? 8, createdAt: record0, updatedAt: record0 };
      return {
        record,
        window: async (raster) => {
          if (display.window) return display.window;
          const r = raster();
          const nodata = record.format === 'tiff' ? ((await frozen.versionGeo(db, v, imageId))?.nodata ?? null) : null;
          const meta = display.modality ? ({ modality: display.modality } as DicomMeta) : null;
          return percentileWindowOf(r.data, r.channels, { nodata, exclude: paddingOf(meta, r, nodata) });
        },
      };
    },
  };
}

/** Times of a frozen image's record, which nothing that decodes it reads. */
const record0 = 0;
