import type { AnnotationKind, AttributeValue, Geometry } from '../common/model';
import type { Db } from './open';

/** Queries behind model evaluation: the runs that can be evaluated and the shapes to compare. */

export interface EvalRunRow {
  id: number;
  name: string | null;
  model: string;
  status: string;
  startedAt: number;
  /** Images the run covered (pre-labeling's list, or those holding its predictions). */
  images: number;
  detections: number;
}

/** Every model run, newest first, with how many images and predictions it has (embedding runs of workers left out: they predict nothing). */
export async function listEvalRuns(db: Db): Promise<EvalRunRow[]> {
  return await db
    .prepare(
      `SELECT r.id, r.name, r.model, r.status, r.started_at AS startedAt,
              max((SELECT count(*) FROM model_run_images i WHERE i.run_id = r.id),
                  (SELECT count(*) FROM (SELECT a.image_id FROM annotations a WHERE a.model_run_id = r.id
                                         UNION SELECT h.image_id FROM prediction_history h WHERE h.run_id = r.id) AS u)) AS images,
              (SELECT count(*) FROM annotations a WHERE a.model_run_id = r.id)
                + (SELECT count(*) FROM prediction_history h WHERE h.run_id = r.id) AS detections
         FROM model_runs r
        WHERE NOT EXISTS (SELECT 1 FROM run_parts p WHERE p.run_id = r.id AND p.kind = 'embed')
        ORDER BY r.id DESC`,
    )
    .all() as EvalRunRow[];
}

export interface EvalRunRecord {
  id: number;
  name: string | null;
  model: string;
}

export async function getEvalRun(db: Db, id: number): Promise<EvalRunRecord | undefined> {
  return await db.prepare('SELECT id, name, model FROM model_runs WHERE id = ?').get(id) as EvalRunRecord | undefined;
}

/** Runs called `name`, newest first (names are not unique). */
export async function findEvalRunsByName(db: Db, name: string): Promise<EvalRunRecord[]> {
  return await db.prepare('SELECT id, name, model FROM model_runs WHERE name = ? ORDER BY id DESC').all(name) as EvalRunRecord[];
}

export interface EvalImageRow {
  id: number;
  path: string;
  width: number;
  height: number;
}

export async function getEvalImages(db: Db, ids: readonly number[]): Promise<EvalImageRow[]> {
  const stmt = db.prepare('SELECT id, path, width, height FROM images WHERE id = ?');
  const out: EvalImageRow[] = [];
  for (const id of ids) {
    const r = await stmt.get(id) as EvalImageRow | undefined;
    if (r) out.push(r);
  }
  return out;
}

export interface EvalShape {
  id: number;
  imageId: number;
  classId: number | null;
  kind: AnnotationKind;
  geometry: Geometry;
  score: number | null;
  attributes: Record<string, AttributeValue>;
}

interface ShapeRow {
  id: number;
  image_id: number;
  class_id: number | null;
  kind: AnnotationKind;
  geometry: string;
  score: number | null;
  attributes: string;
}

/**
 * The annotations of one image that evaluation compares, in id order (the order COCO's files
 * list them): the human ones for ground truth, or the predictions of one run, those still pending
 * review and those kept in the prediction history (replaced by a newer run, or found where a
 * human or rejected shape already was; see migration 6), after them. History rows have their
 * own ids, which may equal an annotation's: they are given as negative ids, so nothing takes one
 * for an annotation (see EvalError.replaced). Only the first
 * frame: models run on it, and COCO has one image per entry.
 */
export async function evalShapesOfImage(db: Db, imageId: number, from: { source: 'human' } | { runId: number }): Promise<EvalShape[]> {
  const rows = (
    'runId' in from
      ? await db
          .prepare(
            `SELECT id, image_id, class_id, kind, geometry, score, attributes FROM (
               SELECT 0 AS part, id, image_id, class_id, kind, geometry, score, attributes
                 FROM annotations WHERE image_id = ? AND source = 'model' AND model_run_id = ? AND frame = 0
               UNION ALL
               SELECT 1 AS part, -id AS id, image_id, class_id, json_extract(geometry, '$.kind') AS kind, geometry, score, attributes
                 FROM prediction_history WHERE image_id = ? AND run_id = ? AND frame = 0) AS u
             ORDER BY part, abs(id)`,
          )
          .all(imageId, from.runId, imageId, from.runId)
      : await db.prepare("SELECT id, image_id, class_id, kind, geometry, score, attributes FROM annotations WHERE image_id = ? AND source = 'human' AND frame = 0 ORDER BY id").all(imageId)
  ) as ShapeRow[];
  return rows.map((r) => ({
    id: r.id,
    imageId: r.image_id,
    classId: r.class_id,
    kind: r.kind,
    geometry: JSON.parse(r.geometry) as Geometry,
    score: r.score,
    attributes: JSON.parse(r.attributes) as Record<string, AttributeValue>,
  }));
}

/**
 * The images a pre-labeling run has finished, or null for a run without a per-image record
 * (imported predictions), whose images are those in scope.
 */
export async function runFinishedImages(db: Db, runId: number): Promise<Set<number> | null> {
  const recorded = await db.prepare('SELECT count(*) FROM model_run_images WHERE run_id = ?').pluck().get(runId) as number;
  if (recorded === 0) return null;
  return new Set(await db.prepare("SELECT image_id FROM model_run_images WHERE run_id = ? AND state = 'done'").pluck().all(runId) as number[]);
}
