import type { StackInfo } from './stacks';

/** Value sets of the dataset model, shared by the store, the services and the renderer. */
export const IMAGE_STATUSES = ['new', 'in_progress', 'done', 'reviewed', 'rejected'] as const;
export type ImageStatus = (typeof IMAGE_STATUSES)[number];

export const SPLITS = ['train', 'val', 'test'] as const;
export type Split = (typeof SPLITS)[number];

export const ANNOTATION_KINDS = ['box', 'polygon', 'mask', 'point', 'obb', 'tag', 'polyline', 'keypoints'] as const;
export type AnnotationKind = (typeof ANNOTATION_KINDS)[number];

export const ANNOTATION_SOURCES = ['human', 'model'] as const;
export type AnnotationSource = (typeof ANNOTATION_SOURCES)[number];

/** Where an image file stands relative to what was imported. */
/**
 * Whether an image's file is still what was imported. `not_allowed`: it lies outside the dataset
 * folder, in a folder the user has not allowed for this dataset, so it is not read at all.
 */
export type FileState = 'ok' | 'missing' | 'changed' | 'not_allowed';

/**
 * Geometry in image pixels of the oriented image (what the user sees), origin top-left.
 * Masks are run-length encoded column-major like COCO (`size` is [height, width]).
 */
export type Geometry =
  | { kind: 'box'; x: number; y: number; w: number; h: number }
  | { kind: 'polygon'; parts: number[][] }
  | { kind: 'mask'; rle: { size: [number, number]; counts: number[] } }
  | { kind: 'point'; x: number; y: number }
  | { kind: 'obb'; cx: number; cy: number; w: number; h: number; angle: number }
  | { kind: 'tag' }
  /** An open line: flat `[x0, y0, x1, y1, ...]`, at least two distinct points. */
  | { kind: 'polyline'; points: number[] }
  /**
   * Keypoints of one object, flat `[x, y, v, ...]` in the order of its class's keypoint names;
   * `v` as in COCO: 0 not labelled (x = y = 0), 1 labelled but not visible, 2 labelled and visible.
   */
  | { kind: 'keypoints'; points: number[] };

/** Values an annotation attribute can hold (see AttributeDef). */
export type AttributeValue = string | number | boolean | null;

/** A stored annotation: a readonly value; edits produce a new value with `version` bumped. */
export interface AnnotationRecord {
  id: number;
  imageId: number;
  frame: number;
  classId: number | null;
  kind: AnnotationKind;
  geometry: Geometry;
  source: AnnotationSource;
  modelRunId: number | null;
  score: number | null;
  attributes: Record<string, AttributeValue>;
  z: number;
  createdAt: number;
  updatedAt: number;
  version: number;
}

/** Per-class attribute definitions, edited in the class panel (e.g. occluded, severity 1-5). */
export type AttributeDef =
  | { name: string; type: 'boolean'; default?: boolean }
  | { name: string; type: 'number'; min?: number; max?: number; step?: number; default?: number }
  | { name: string; type: 'select'; options: string[]; default?: string }
  | { name: string; type: 'text'; default?: string };

export interface ImageRecord {
  id: number;
  path: string;
  external: boolean;
  contentHash: string;
  fileSize: number;
  fileMtimeMs: number;
  width: number;
  height: number;
  channels: number;
  bitDepth: number;
  format: string;
  frames: number;
  orientation: number;
  status: ImageStatus;
  split: Split | null;
  createdAt: number;
  updatedAt: number;
}

export interface ImageListItem {
  id: number;
  path: string;
  width: number;
  height: number;
  bitDepth: number;
  frames: number;
  status: ImageStatus;
  split: Split | null;
  annotationCount: number;
  /** Open comments pinned on the image (replies not counted). */
  openComments: number;
  /**
   * The image's media address, `<dataset uuid>/<image id>/<version>`: the version follows the
   * file's content hash, size and modification time, so no cache can hand back another dataset's
   * or an older file's pixels for it. Renditions are asked for by this key only.
   */
  media: string;
  /** The item's score under a ranked filter (e.g. cosine similarity for "More like this"). */
  score?: number;
  /**
   * Set when the grid item is a stack of separate files: the item is its middle slice (its
   * thumbnail), with the status and annotation count of the whole stack.
   */
  stack?: StackInfo;
}

export interface ImageFilter {
  status?: ImageStatus;
  classId?: number;
  split?: Split | 'none';
  hasPredictions?: boolean;
  /** With (true) or without (false) any human annotation, tags included; predictions do not count. */
  labeled?: boolean;
  /** Only these images (e.g. the images a dataset health figure points at, or those picked on the embedding map). */
  ids?: number[];
  /**
   * Only these images, in this order rather than import order, each with its score shown in the
   * grid: "More like this" (cosine similarity), "What to label next" (the strategy's priority).
   * `label` names the ranking in the grid's header.
   */
  ranked?: { ids: number[]; scores?: number[]; label: string };
  /** With (true) or without (false) an open comment. */
  hasOpenComments?: boolean;
}

/** Verdicts a reviewer gives a done image. */
export const REVIEW_VERDICTS = ['reviewed', 'rejected'] as const;
export type ReviewVerdict = (typeof REVIEW_VERDICTS)[number];

/** An image's review state after a verdict. */
export interface ImageReview {
  id: number;
  status: ImageStatus;
  reviewComment: string | null;
}

export interface ClassRecord {
  id: number;
  name: string;
  color: string;
  hotkey: string | null;
  order: number;
  /** Attribute definitions for annotations of this class. */
  attributes: AttributeDef[];
  /** Keypoint names and skeleton, for classes whose objects are keypoints (pose); else null. */
  keypoints: KeypointSchema | null;
}

/**
 * A class's keypoints: names in order, skeleton edges as pairs of 0-based indexes into `names`,
 * and the pairs that swap on a horizontal flip (left/right eye...).
 */
export interface KeypointSchema {
  names: string[];
  skeleton: [number, number][];
  flipPairs?: [number, number][];
}

export interface DatasetSummary {
  path: string;
  name: string;
  root: string;
  schemaVersion: number;
  imageCount: number;
  /** The dataset's identity (it names the dataset in media addresses). */
  uuid: string;
  /**
   * Folders outside the dataset's folder that hold some of its images and that this user has not
   * allowed it to read yet (see `dataset:allowExternal`); their images are not read until then.
   */
  blockedFolders: { folder: string; images: number }[];
}

export interface DatasetInfo {
  path: string;
  root: string;
  schemaVersion: number;
  images: { total: number; byStatus: Record<ImageStatus, number>; bySplit: Record<Split | 'none', number> };
  classes: { id: number; name: string; color: string; annotations: number }[];
  annotations: {
    total: number;
    byKind: Record<AnnotationKind, number>;
    bySource: Record<AnnotationSource, number>;
  };
  modelRuns: number;
}

export interface RecentDataset {
  path: string;
  name: string;
  openedAt: number;
}

export type ImportProblemKind =
  | 'empty'
  | 'unsupported'
  | 'corrupt'
  | 'truncated'
  | 'too_large'
  | 'unreadable'
  | 'outside_root'
  | 'conflict';

export interface ImportProblem {
  file: string;
  kind: ImportProblemKind;
  reason: string;
}

export interface ImportDuplicate {
  file: string;
  /** The stored path (or the earlier file in this import) with the same content. */
  duplicateOf: string;
}

export interface ImportReport {
  cancelled: boolean;
  scanned: number;
  imported: number;
  duplicates: ImportDuplicate[];
  problems: ImportProblem[];
  /** Files in scanned folders whose extension is not an image format; not errors. */
  ignored: number;
  /** Imported files outside the dataset root, stored by absolute path. */
  external: number;
  elapsedMs: number;
}

export type JobPhase = 'scanning' | 'probing' | 'writing' | 'done';

export interface JobProgress {
  jobId: string;
  /** prelabel: done/total images, `imported` = predictions stored; model-download, sam-model-download: bytes (both files of a pair together). */
  kind: 'import' | 'interchange-import' | 'export' | 'prelabel' | 'model-download' | 'sam-model-download' | 'pyramid' | 'embed' | 'embedding-map' | 'train-classifier' | 'augment-preview';
  phase: JobPhase;
  done: number;
  total: number;
  imported: number;
  duplicates: number;
  problems: number;
  /** Estimated milliseconds left, null while unknown. */
  etaMs: number | null;
}

export interface ImageDetail extends ImageRecord {
  fileState: FileState;
  /** The media address as of this call (see ImageListItem.media). */
  media: string;
  annotationCount: number;
  /** The reviewer's comment from the last verdict, kept until the next one. */
  reviewComment: string | null;
}

export interface AppInfo {
  version: string;
  mode: 'electron' | 'web';
  nativeDialogs: boolean;
}

/**
 * A comment pinned to a shape (`annotationId`) or to a point of an image's frame. `x`, `y` is the
 * pin in image pixels, kept when the shape goes (the comment then shows as a point comment, and
 * finds its shape again if an undo brings it back). Replies name their comment in `parentId`; only
 * top-level comments are resolved and counted.
 */
export interface CommentRecord {
  id: number;
  imageId: number;
  frame: number;
  annotationId: number | null;
  /** Whether the shape of `annotationId` still exists. */
  shapeExists: boolean;
  x: number;
  y: number;
  parentId: number | null;
  author: string;
  body: string;
  createdAt: number;
  resolvedAt: number | null;
  resolvedBy: string | null;
  /** The image's stored path, for lists across images. */
  imagePath: string;
}
