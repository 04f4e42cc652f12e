import type { AnnotationKind, ImageStatus, Split } from './model';

/**
 * The dataset health report (`dataset:health`): what a dataset holds and what may be wrong with
 * it before training. Everything is about human annotations unless it says predictions.
 */

/** Thresholds the report applies; shown with the figures so the numbers can be read. */
export const HEALTH_LIMITS = {
  /** A shape is tiny below this area in square image pixels (smaller than a 4 x 4 square)... */
  tinyArea: 16,
  /** ...or when the shorter side of its bounding box is under this many pixels (a sliver). */
  tinySide: 2,
  /** A class needs at least this many annotations in every split that has images. */
  minPerSplit: 10,
  /** Image ids carried per figure for linking to the grid; `total` says how many there are. */
  maxLinkedIds: 10_000,
  /** Problem shapes listed one by one; the counts are always complete. */
  maxListed: 500,
} as const;

/** Images a figure points at: the first `maxLinkedIds` ids (ascending) and how many there are. */
export interface LinkedImages {
  ids: number[];
  total: number;
}

/** One bin of a histogram: values v with min <= v < max (max null: no upper end). */
export interface HealthBin {
  label: string;
  min: number;
  max: number | null;
  /** What is counted: images for objects per image, shapes for sizes and aspect ratios. */
  count: number;
  images: LinkedImages;
}

export interface ClassHealth {
  /** null: annotations without a class. */
  classId: number | null;
  name: string;
  color: string;
  /** Human annotations of the class, image tags included. */
  human: number;
  /** Model predictions of the class, counted apart. */
  predictions: number;
  /** Images holding at least one human annotation of the class. */
  images: number;
}

export interface ShapeIssue {
  annotationId: number;
  imageId: number;
  classId: number | null;
  kind: AnnotationKind;
  /** Area in square image pixels (0 for degenerate shapes without one). */
  area: number;
  reason: string;
}

export interface ShapeIssues {
  count: number;
  /** The first `maxListed` issues, by annotation id. */
  items: ShapeIssue[];
  images: LinkedImages;
}

export interface SplitShortfall {
  classId: number;
  name: string;
  /** 'all' when no image has a split: the whole dataset is then the one group checked. */
  split: Split | 'all';
  count: number;
}

export interface HealthReport {
  images: {
    total: number;
    byStatus: Record<ImageStatus, number>;
    bySplit: Record<Split | 'none', number>;
    /** Images with no human annotation (predictions do not count). */
    unlabeled: number;
  };
  annotations: { human: number; predictions: number; tags: number };
  classes: ClassHealth[];
  /** Human annotations per image other than tags, as a histogram of images. */
  objectsPerImage: HealthBin[];
  /** sqrt(area) in image pixels of boxes, rotated boxes, polygons and masks. */
  sizes: HealthBin[];
  /** Width / height of the same shapes (rotated boxes: their own sides; others: bounding box). */
  aspectRatios: HealthBin[];
  tiny: ShapeIssues;
  degenerate: ShapeIssues;
  /** Classes with fewer than `minPerSplit` human annotations in a split that has images. */
  splitShortfalls: SplitShortfall[];
  /**
   * Images with identical content. Content hashes are unique in a dataset, so an import skips a
   * file whose content is already there (and lists it in its report); this can only be empty
   * unless that rule is broken. Near-duplicates (resized, re-encoded) are found from embeddings
   * (services/duplicates.ts), not here.
   */
  duplicates: { contentHash: string; imageIds: number[] }[];
  limits: typeof HEALTH_LIMITS;
}
