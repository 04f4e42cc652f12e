import { geometryBBox, obbCorners } from '../common/geometry/shapes';
import type { Geometry } from '../common/model';
import { getAnnotationsByIds } from '../db/annotations';
import type { Dataset } from './dataset';
import { resolveRun } from './evaluation';
import { findImageByRef } from './segment';

/**
 * Every prediction a run (or every run) left for review, in COCO's terms, so that a script can
 * read what a model produced: the image's file name, kind, class name, score, and the geometry
 * as a COCO annotation has it.
 */
export interface ListedPrediction {
  id: number;
  runId: number | null;
  imageId: number;
  file: string;
  frame: number;
  kind: Geometry['kind'];
  className: string | null;
  score: number | null;
  /** [x, y, w, h]; absent for tags. */
  bbox?: [number, number, number, number];
  /** Polygons as COCO lists [[x0, y0, x1, y1, ...]], or a mask's uncompressed RLE (column-major, `size` [height, width]). */
  segmentation?: number[][] | { size: [number, number]; counts: number[] };
  /** Keypoints as COCO lists them: [x, y, v, ...], and how many are labelled (v > 0). */
  keypoints?: number[];
  num_keypoints?: number;
  /** A rotated box's own fields: centre, size and angle (radians). */
  obb?: { cx: number; cy: number; w: number; h: number; angle: number };
  /** A point prediction. */
  point?: [number, number];
  /** A polyline's points [x0, y0, x1, y1, ...]. */
  line?: number[];
}

function bboxOf(g: Geometry): [number, number, number, number] | undefined {
  if (g.kind === 'tag') return undefined;
  const b = geometryBBox(g);
  return b ? [b.x, b.y, b.w, b.h] : undefined;
}

/** One stored shape in COCO's terms (see ListedPrediction). */
export function cocoGeometry(g: Geometry): Pick<ListedPrediction, 'bbox' | 'segmentation' | 'keypoints' | 'num_keypoints' | 'obb' | 'point' | 'line'> {
  const bbox = bboxOf(g);
  switch (g.kind) {
    case 'tag':
      return {};
    case 'box':
      return { bbox: [g.x, g.y, g.w, g.h] };
    case 'polygon':
      return { bbox, segmentation: g.parts.map((p) => [...p]) };
    case 'mask':
      return { bbox, segmentation: { size: g.rle.size, counts: [...g.rle.counts] } };
    case 'obb':
      return { bbox, segmentation: [obbCorners(g)], obb: { cx: g.cx, cy: g.cy, w: g.w, h: g.h, angle: g.angle } };
    case 'keypoints': {
      let labelled = 0;
      for (let i = 2; i < g.points.length; i += 3) if (g.points[i]! > 0) labelled++;
      return { bbox, keypoints: [...g.points], num_keypoints: labelled };
    }
    case 'point':
      return { point: [g.x, g.y] };
    case 'polyline':
      return { bbox, line: [...g.points] };
  }
}

/** The pending predictions of one run (id or name) or all runs, of one image (id or file name) or all, by image then id. */
export function listPredictions(ds: Dataset, q: { run?: string; image?: string } = {}): ListedPrediction[] {
  const runId = q.run !== undefined ? resolveRun(ds, q.run) : undefined;
  const imageId = q.image !== undefined ? findImageByRef(ds, q.image).id : undefined;
  const rows = ds.db
    .prepare(
      `SELECT a.id, i.path AS file, c.name AS className
         FROM annotations a JOIN images i ON i.id = a.image_id LEFT JOIN classes c ON c.id = a.class_id
        WHERE a.source = 'model' AND (@run IS NULL OR a.model_run_id = @run) AND (@image IS NULL OR a.image_id = @image)
        ORDER BY i.path, a.image_id, a.frame, a.id`,
    )
    .all({ run: runId ?? null, image: imageId ?? null }) as { id: number; file: string; className: string | null }[];
  const records = getAnnotationsByIds(ds.db, rows.map((r) => r.id));
  return rows.map((r) => {
    const a = records.get(r.id)!;
    return { id: a.id, runId: a.modelRunId, imageId: a.imageId, file: r.file, frame: a.frame, kind: a.kind, className: r.className, score: a.score, ...cocoGeometry(a.geometry) };
  });
}
