import type { AttributeValue, Geometry, KeypointSchema, Split } from '../model';

/**
 * The neutral form every dataset format is read into and written from. Readers produce it from
 * files; the interchange service maps it onto the dataset (one transaction) and back. Geometry is
 * always in image pixels of the image as displayed (EXIF-oriented), like everywhere in Tessera.
 */

export const FORMATS = ['coco', 'yolo', 'voc', 'labelme', 'cvat'] as const;
export type FormatName = (typeof FORMATS)[number];

/** Export targets: the formats plus the YOLO flavours and mask PNGs. */
export const EXPORT_FORMATS = ['coco', 'yolo', 'yolo-seg', 'yolo-obb', 'voc', 'labelme', 'cvat', 'masks', 'geojson'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export interface InterchangeAnnotation {
  /** Class name as the file names it. */
  label: string;
  geometry: Geometry;
  /** Extra per-object data kept through a round trip (VOC truncated/difficult, COCO extra keys, CVAT attributes...). */
  attributes: Record<string, AttributeValue>;
  /** COCO iscrowd. */
  crowd?: boolean;
  /** Model confidence, for predictions (COCO results, YOLO with a 6th column). */
  score?: number;
}

export interface InterchangeImage {
  /**
   * Where the image file is, relative to the folder being imported (forward slashes), as the
   * annotation file names it. Never absolute in output; readers refuse keys that escape their root.
   */
  file: string;
  /** Size as stated by the annotation file, if it states one (checked against the real file on import). */
  width?: number;
  height?: number;
  split?: Split;
  /**
   * The annotation file (relative to the imported folder) that embeds this image's bytes, when
   * the image file itself is missing (labelme `imageData`); the importer writes it out from there.
   */
  embeddedIn?: string;
  /** Image-level labels (labelme flags, classification tags). */
  tags: string[];
  annotations: InterchangeAnnotation[];
  /** The image's integer id in a COCO source, remembered so results made against that file map onto it. */
  cocoId?: number;
}

export interface FormatProblem {
  /** The annotation file the problem is in (relative to the imported folder). */
  file: string;
  /** Line (text formats) or JSON path / XML element, when known. */
  where?: string;
  severity: 'error' | 'warning';
  message: string;
}

export interface InterchangeDataset {
  format: FormatName;
  /** Class names in the file's order (COCO category order, YOLO index order). */
  classes: string[];
  images: InterchangeImage[];
  problems: FormatProblem[];
  /** Counted, non-fatal adjustments, e.g. { clampedCoordinates: 3 }. */
  counters: Record<string, number>;
  /** COCO sources: class name -> its integer category id (the first, when ids share a name). */
  cocoCategoryIds?: Record<string, number>;
  /** Class name -> keypoint schema (0-based skeleton), for categories with keypoints (COCO). */
  classKeypoints?: Record<string, KeypointSchema>;
}

/** What each export target can hold; the exporter converts or refuses anything else before writing. */
export const CAPABILITIES: Record<ExportFormat, readonly Geometry['kind'][]> = {
  coco: ['box', 'polygon', 'mask', 'keypoints'],
  yolo: ['box'],
  'yolo-seg': ['polygon'],
  'yolo-obb': ['obb'],
  voc: ['box'],
  labelme: ['box', 'polygon', 'point', 'mask', 'polyline'],
  cvat: ['box', 'polygon', 'point', 'mask', 'polyline'],
  masks: ['mask'],
  /** GeoTIFF images only: shapes in the image's CRS (see services/geotiff.ts). */
  geojson: ['box', 'polygon', 'point', 'polyline'],
};

/** One image as handed to a writer: everything already converted to kinds the target can hold. */
export interface ExportImage {
  id: number;
  /** Output-relative path of the image file (forward slashes), e.g. "images/train/a.jpg". */
  file: string;
  /** The source file on disk, for writers that copy or embed it. */
  source: string;
  width: number;
  height: number;
  split: Split | null;
  tags: string[];
  annotations: (InterchangeAnnotation & {
    id: number;
    classIndex: number;
    source?: 'human' | 'model';
    /**
     * JSON.stringify(geometry) as the dataset stores it, when `geometry` is that stored value
     * unconverted: a writer may copy its numbers rather than format them again.
     */
    geometryJson?: string;
  })[];
  /** The id a COCO import gave the image, which a COCO export writes again. */
  cocoId?: number;
}

export interface ExportClass {
  /** Position in the export's class list (0-based); writers derive their own ids from it. */
  index: number;
  name: string;
  color: string;
  /** The category id a COCO import gave the class, which a COCO export writes again. */
  cocoId?: number;
  /** The class's keypoint names and skeleton (0-based), written with COCO categories. */
  keypoints?: KeypointSchema | null;
}

/** What a dry run (and, after writing, a real import) reports. */
export interface InterchangeReport {
  format: FormatName;
  /** Annotation files or folder that were read. */
  source: string;
  dryRun: boolean;
  classes: { name: string; annotations: number; isNew: boolean }[];
  images: { total: number; matched: number; added: number; missing: number };
  annotations: { total: number; byKind: Partial<Record<Geometry['kind'], number>> };
  problems: FormatProblem[];
  counters: Record<string, number>;
  elapsedMs: number;
  /**
   * Set when the input is refused as a whole (unreadable, or not one image of it usable): why.
   * A dry run still reports every problem; the import itself then writes nothing and fails.
   */
  refused?: string;
}

export interface ExportWarning {
  /** e.g. "mask→box", "polygon→box", "unsupported:point". */
  kind: string;
  count: number;
  message: string;
}

export interface ExportReport {
  format: ExportFormat;
  outDir: string;
  images: number;
  annotations: number;
  bySplit: Record<Split | 'none', number>;
  /** Label/annotation files written; an empty label file is written only for an image with no annotations. */
  files: number;
  emptyLabelFiles: number;
  warnings: ExportWarning[];
  elapsedMs: number;
}
