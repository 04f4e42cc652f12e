import { COCO_STAT_NAMES, type EvalResult } from '../../src-main/common/eval/types';

/** The files an evaluation's numbers can be saved as. */
export type EvalTable = 'stats' | 'classes' | 'confusion' | 'confidence' | 'errors';

export const EVAL_TABLE_LABELS: Record<EvalTable, string> = {
  stats: 'COCO stats',
  classes: 'Per class',
  confusion: 'Confusion matrix',
  confidence: 'F1 vs confidence',
  errors: 'Errors',
};

/** RFC 4180: quoted when it holds a comma, quote or line break. */
function cell(v: string | number | null): string {
  if (v === null) return '';
  const s = typeof v === 'number' ? (Number.isFinite(v) ? String(v) : '') : v;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function csv(rows: readonly (readonly (string | number | null)[])[]): string {
  return rows.map((r) => r.map(cell).join(',')).join('\r\n') + '\r\n';
}

export function evalCsv(r: EvalResult, table: EvalTable): string {
  switch (table) {
    case 'stats':
      return csv([['stat', 'value'], ...COCO_STAT_NAMES.map((n, i) => [n, r.stats[i] ?? null])]);
    case 'classes':
      return csv([
        // `detections` counts every score (what AP uses); tp/fp/fn, precision, recall and F1 use
        // the score threshold, as `detections_at_threshold` does.
        ['class_id', 'class', 'ap', 'ap50', 'ap75', 'ground_truths', 'detections', 'detections_at_threshold', 'tp', 'fp', 'fn', 'precision', 'recall', 'f1'],
        ...r.perClass.map((c) => [c.classId, c.name, c.ap, c.ap50, c.ap75, c.groundTruths, c.detections, c.detectionsAtThreshold, c.tp, c.fp, c.fn, c.precision, c.recall, c.f1]),
      ]);
    case 'confusion':
      return csv([['ground_truth \\ predicted', ...r.confusion.labels], ...r.confusion.matrix.map((row, i) => [r.confusion.labels[i] ?? '', ...row])]);
    case 'confidence':
      return csv([
        ['threshold', 'precision', 'recall', 'f1'],
        ...r.confidence.thresholds.map((t, i) => [t, r.confidence.precision[i] ?? null, r.confidence.recall[i] ?? null, r.confidence.f1[i] ?? null]),
      ]);
    case 'errors':
      return csv([
        ['kind', 'image_id', 'image', 'annotation_id', 'other_annotation_id', 'replaced', 'class', 'other_class', 'score', 'iou', 'area', 'x', 'y', 'w', 'h'],
        ...r.errors.map((e) => [e.kind, e.imageId, e.image, e.annotationId, e.otherAnnotationId, e.replaced ? 1 : 0, e.className, e.otherClassName, e.score, e.iou, e.area, ...e.bbox]),
      ]);
  }
}

export function evalJson(r: EvalResult): string {
  return JSON.stringify({ ...r, statNames: COCO_STAT_NAMES }, null, 2);
}

/** A file name from free text (a dataset or run name), safe on every platform. */
export function fileStem(...parts: string[]): string {
  return parts
    .map((p) => p.trim().replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^[_.]+|[_.]+$/g, ''))
    .filter((p) => p.length > 0)
    .join('-')
    .slice(0, 120) || 'evaluation';
}
