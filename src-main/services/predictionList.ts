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
  /**
   * With `all`: pending (`id` an annotation's), accepted (now a human annotation, `id` its id,
   * as accepted, edits included; the score the model gave), or kept in the run's history (`id`
   * that row's): superseded by a newer run of the model, or not offered for review because a
   * human or rejected shape of the class was already there (labeled, rejected).
   */
  status?: 'pending' | 'accepted' | PredictionHistoryReason;
}

type PredictionHistoryReason = 'superseded' | 'labeled' | 'rejected';

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

/**
 * The pending predictions of one run (id or name) or all runs, of one image (id or file name) or
 * all, by image then id. With `all`, every prediction the runs made that is still known: the
 * pending ones, those accepted (human annotations now, found by the run they were accepted from),
 * and those in the prediction history (superseded, or found where a shape already was), each with
 * its `status`. Predictions the user rejected are deleted and not listed.
 */
export async function listPredictions(ds: Dataset, q: { run?: string; image?: string; all?: boolean } = {}): Promise<ListedPrediction[]> {
  const runId = q.run !== undefined ? await resolveRun(ds, q.run) : undefined;
  const imageId = q.image !== undefined ? (await findImageByRef(ds, q.image)).id : undefined;
  const params = { run: runId ?? null, image: imageId ?? null };
  const accepted = q.all ? " OR (a.source = 'human' AND json_extract(a.attributes, '$.acceptedFrom') IS NOT NULL)" : '';
  const rows = await ds.db
    .prepare(
      `SELECT a.id, i.path AS file, c.name AS className
         FROM annotations a JOIN images i ON i.id = a.image_id LEFT JOIN classes c ON c.id = a.class_id
        WHERE (a.source = 'model'${accepted})
          AND (CAST(@run AS bigint) IS NULL OR coalesce(a.model_run_id, CAST(json_extract(a.attributes, '$.acceptedFrom') AS INTEGER)) = @run) AND (CAST(@image AS bigint) IS NULL OR a.image_id = @image)
        ORDER BY i.path, a.image_id, a.frame, a.id`,
    )
    .all(params) as { id: number; file: string; className: string | null }[];
  const records = await getAnnotationsByIds(ds.db, rows.map((r) => r.id));
  const listed: ListedPrediction[] = rows.map((r) => {
    const a = records.get(r.id)!;
    if (a.source === 'model') {
      return { id: a.id, runId: a.modelRunId, imageId: a.imageId, file: r.file, frame: a.frame, kind: a.kind, className: r.className, score: a.score, ...cocoGeometry(a.geometry), ...(q.all ? { status: 'pending' as const } : {}) };
    }
    const from = a.attributes['acceptedFrom'], score = a.attributes['score'];
    return {
      id: a.id,
      runId: typeof from === 'number' ? from : null,
      imageId: a.imageId,
      file: r.file,
      frame: a.frame,
      kind: a.kind,
      className: r.className,
      score: typeof score === 'number' ? score : null,
      ...cocoGeometry(a.geometry),
      status: 'accepted' as const,
    };
  });
  if (!q.all) return listed;
  const history = await ds.db
    .prepare(
      `SELECT h.id, h.run_id AS runId, h.image_id AS imageId, h.frame, h.geometry, h.score, h.reason, i.path AS file, c.name AS className
         FROM prediction_history h JOIN images i ON i.id = h.image_id LEFT JOIN classes c ON c.id = h.class_id
        WHERE (CAST(@run AS bigint) IS NULL OR h.run_id = @run) AND (CAST(@image AS bigint) IS NULL OR h.image_id = @image)
        ORDER BY i.path, h.image_id, h.frame, h.id`,
    )
    .all(params) as { id: number; runId: number; imageId: number; frame: number; geometry: string; score: number | null; reason: PredictionHistoryReason; file: string; className: string | null }[];
  for (const h of history) {
    const g = JSON.parse(h.geometry) as Geometry;
    listed.push({ id: h.id, runId: h.runId, imageId: h.imageId, file: h.file, frame: h.frame, kind: g.kind, className: h.className, score: h.score, ...cocoGeometry(g), status: h.reason });
  }
  // By image, as without `all`; within an image the stored (pending, accepted) before the history.
  const key = (p: ListedPrediction): [string, number, number] => [p.file, p.imageId, p.frame];
  return listed
    .map((p, i) => ({ p, i }))
    .sort((x, y) => {
      const [fa, ia, ra] = key(x.p), [fb, ib, rb] = key(y.p);
      return (fa < fb ? -1 : fa > fb ? 1 : 0) || ia - ib || ra - rb || x.i - y.i;
    })
    .map((e) => e.p);
}
