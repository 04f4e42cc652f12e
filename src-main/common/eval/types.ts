import type { ImageFilter } from '../model';

/**
 * Evaluation DTOs shared by the evaluation service, the contract, the CLI and the renderer.
 * Ground truth is the human annotations of the images in scope; detections are the annotations
 * of one model run (pre-labeling or imported predictions), already in dataset classes.
 */

export const IOU_TYPES = ['bbox', 'segm'] as const;
export type IouType = (typeof IOU_TYPES)[number];

/** The names of COCO's 12-number stats vector, in its order. */
export const COCO_STAT_NAMES = ['AP', 'AP50', 'AP75', 'APs', 'APm', 'APl', 'AR1', 'AR10', 'AR100', 'ARs', 'ARm', 'ARl'] as const;
export type CocoStatName = (typeof COCO_STAT_NAMES)[number];

export interface EvalRequest {
  runId: number;
  iouType: IouType;
  /** Images in scope (all images when empty); e.g. `{ split: 'val' }`. */
  filter?: ImageFilter;
  /** Score a detection needs to count in P/R/F1, the confusion matrix and the error lists. */
  scoreThreshold?: number;
  /** IoU a detection needs to match a ground truth in P/R/F1, the confusion matrix and the error lists. */
  iouThreshold?: number;
}

/** A precision-recall curve on COCO's 101 recall points (precision -1 where undefined). */
export interface PrCurve {
  recall: number[];
  precision: number[];
  /** Score of the detection that reaches each recall point, -1 where none does. */
  scores: number[];
}

/** Matches counted at one score and IoU threshold, and the rates they give. */
export interface DetectionCounts {
  tp: number;
  fp: number;
  fn: number;
  precision: number;
  recall: number;
  f1: number;
}

/** Per class; `tp` to `f1` are at the request's score and IoU thresholds. */
export interface ClassMetrics extends DetectionCounts {
  classId: number;
  name: string;
  /** AP@[.5:.95], area all, 100 detections; -1 when the class has no ground truth. */
  ap: number;
  ap50: number;
  ap75: number;
  /** Ground truths (not crowd) and detections of this class in scope, every score (what AP ranks). */
  groundTruths: number;
  detections: number;
  /** Detections of this class at or above the score threshold (what P, R and F1 count). */
  detectionsAtThreshold: number;
  /** At IoU 0.5, area all, 100 detections. */
  pr: PrCurve;
}

/** Precision, recall and F1 of all classes together as the score threshold moves. */
export interface ConfidenceCurve {
  thresholds: number[];
  precision: number[];
  recall: number[];
  f1: number[];
  /** The threshold with the highest F1, null without detections. */
  best: { threshold: number; f1: number } | null;
}

/**
 * Rows are ground-truth classes, columns predicted classes, both in `labels` order with
 * "background" last: the background row counts detections that matched no ground truth (false
 * positives), the background column ground truths that no detection found (false negatives).
 */
export interface ConfusionMatrix {
  labels: string[];
  classIds: (number | null)[];
  matrix: number[][];
}

export type EvalErrorKind = 'false_positive' | 'false_negative' | 'wrong_class';

export interface EvalError {
  kind: EvalErrorKind;
  imageId: number;
  /** The image's path in the dataset, for display. */
  image: string;
  /** The detection for false positives and wrong classes, the ground truth for false negatives. */
  annotationId: number;
  /** The ground truth a wrong-class detection overlaps, null otherwise. */
  otherAnnotationId: number | null;
  /**
   * The detection is no longer on the image: a newer run replaced it, or it was found where a
   * human or rejected shape already was, so it is kept only in the run's history for evaluation.
   * `annotationId` is then negative and names no annotation; such a detection cannot be accepted
   * or rejected.
   */
  replaced: boolean;
  classId: number | null;
  className: string;
  /** For a wrong class: the ground truth's class. */
  otherClassName: string | null;
  score: number | null;
  /** IoU with `otherAnnotationId` (wrong class) or with the best-overlapping ground truth, 0 when none. */
  iou: number;
  area: number;
  /** [x, y, w, h] in image pixels. */
  bbox: [number, number, number, number];
}

export interface EvalResult {
  runId: number;
  runName: string;
  iouType: IouType;
  images: number;
  groundTruths: number;
  detections: number;
  scoreThreshold: number;
  iouThreshold: number;
  /** COCO's stats vector in COCO_STAT_NAMES order; -1 where undefined. */
  stats: number[];
  perClass: ClassMetrics[];
  confidence: ConfidenceCurve;
  confusion: ConfusionMatrix;
  errors: EvalError[];
}

/** A model run that can be evaluated. */
export interface EvalRunInfo {
  id: number;
  name: string;
  model: string;
  status: string;
  images: number;
  detections: number;
  startedAt: number;
}
