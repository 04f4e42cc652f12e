import type { Geometry } from '../common/model';
import type { Db } from './open';

/** Model runs as pre-labeling sees them: parameters, the provider that ran, and per-image progress. */

export type RunImageState = 'pending' | 'done' | 'skipped' | 'failed';

export interface ModelRunRecord {
  id: number;
  model: string;
  name: string | null;
  parameters: Record<string, unknown>;
  provider: string | null;
  status: 'running' | 'done' | 'failed' | 'cancelled';
  startedAt: number;
  finishedAt: number | null;
}

interface RunRow {
  id: number;
  model: string;
  name: string | null;
  parameters: string;
  provider: string | null;
  status: ModelRunRecord['status'];
  started_at: number;
  finished_at: number | null;
}

export async function getModelRun(db: Db, id: number): Promise<ModelRunRecord | undefined> {
  const r = await db.prepare('SELECT * FROM model_runs WHERE id = ?').get(id) as RunRow | undefined;
  if (!r) return undefined;
  return {
    id: r.id,
    model: r.model,
    name: r.name,
    parameters: JSON.parse(r.parameters) as Record<string, unknown>,
    provider: r.provider,
    status: r.status,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
  };
}

export async function setRunProvider(db: Db, id: number, provider: string): Promise<void> {
  await db.prepare('UPDATE model_runs SET provider = ? WHERE id = ?').run(provider, id);
}

export async function reopenRun(db: Db, id: number): Promise<void> {
  await db.prepare("UPDATE model_runs SET status = 'running', finished_at = NULL WHERE id = ?").run(id);
}

export async function addRunImages(db: Db, runId: number, imageIds: readonly number[]): Promise<void> {
  const stmt = db.prepare('INSERT OR IGNORE INTO model_run_images (run_id, image_id) VALUES (?, ?)');
  await db.transaction(async () => {
    for (const id of imageIds) await stmt.run(runId, id);
  })();
}

export async function markRunImage(db: Db, runId: number, imageId: number, state: RunImageState, info: { detections?: number; ms?: number; error?: string } = {}): Promise<void> {
  await db.prepare('UPDATE model_run_images SET state = ?, detections = ?, ms = ?, error = ? WHERE run_id = ? AND image_id = ?').run(
    state,
    info.detections ?? null,
    info.ms ?? null,
    info.error ?? null,
    runId,
    imageId,
  );
}

/**
 * Takes the image's row of the run for this transaction (a row lock on PostgreSQL; SQLite holds
 * the write lock already) and removes what the run wrote for the image before: its predictions
 * not yet changed by anyone, and those it kept out of review. A part of a run started again on
 * another worker, or twice at once, so leaves one set of the run's predictions per image.
 */
export async function clearRunImage(db: Db, runId: number, imageId: number): Promise<void> {
  await db.prepare('UPDATE model_run_images SET state = state WHERE run_id = ? AND image_id = ?').run(runId, imageId);
  await db.prepare("DELETE FROM annotations WHERE model_run_id = ? AND image_id = ? AND source = 'model' AND version = 1").run(runId, imageId);
  await db.prepare("DELETE FROM prediction_history WHERE run_id = ? AND image_id = ? AND reason IN ('labeled', 'rejected')").run(runId, imageId);
}

/** Images of the run still to do, in id order. */
export async function pendingRunImages(db: Db, runId: number): Promise<number[]> {
  return await db.prepare("SELECT image_id FROM model_run_images WHERE run_id = ? AND state = 'pending' ORDER BY image_id").pluck().all(runId) as number[];
}

export async function runImageCounts(db: Db, runId: number): Promise<Record<RunImageState, number>> {
  const out: Record<RunImageState, number> = { pending: 0, done: 0, skipped: 0, failed: 0 };
  for (const r of await db.prepare('SELECT state, count(*) AS n FROM model_run_images WHERE run_id = ? GROUP BY state').all(runId) as { state: RunImageState; n: number }[]) {
    out[r.state] = r.n;
  }
  return out;
}

/**
 * Runs that stopped with images still to do: cancelled, or left 'running' by a crash or a quit.
 * A run whose images are all settled is finished whatever its status says, so it is not listed;
 * nor is a run queued for workers (it has parts), which they finish.
 */
export async function unfinishedRuns(db: Db): Promise<{ runId: number; model: string; status: ModelRunRecord['status']; pending: number; done: number }[]> {
  return await db
    .prepare(
      `SELECT r.id AS runId, r.model AS model, r.status AS status,
              count(*) FILTER (WHERE i.state = 'pending') AS pending, count(*) FILTER (WHERE i.state <> 'pending') AS done
         FROM model_runs r JOIN model_run_images i ON i.run_id = r.id
        WHERE r.status IN ('running', 'cancelled')
          AND NOT EXISTS (SELECT 1 FROM run_parts p WHERE p.run_id = r.id)
        GROUP BY r.id
       HAVING count(*) FILTER (WHERE i.state = 'pending') > 0
        ORDER BY r.id DESC`,
    )
    .all() as { runId: number; model: string; status: ModelRunRecord['status']; pending: number; done: number }[];
}

/** Whether the image holds any human annotation (pre-labeling may skip those). */
export async function hasHumanAnnotations(db: Db, imageId: number): Promise<boolean> {
  return await db.prepare("SELECT 1 FROM annotations WHERE image_id = ? AND source = 'human' LIMIT 1").get(imageId) !== undefined;
}

export async function getClassMap(db: Db, model: string): Promise<Record<string, number | null> | undefined> {
  const v = await db.prepare('SELECT map FROM class_maps WHERE model = ?').pluck().get(model) as string | undefined;
  return v === undefined ? undefined : (JSON.parse(v) as Record<string, number | null>);
}

export async function setClassMap(db: Db, model: string, map: Record<string, number | null>, now = Date.now()): Promise<void> {
  await db.prepare(
    'INSERT INTO class_maps (model, map, updated_at) VALUES (?, ?, ?) ON CONFLICT (model) DO UPDATE SET map = excluded.map, updated_at = excluded.updated_at',
  ).run(model, JSON.stringify(map), now);
}

/** Model predictions selected by run, image and minimum score; all optional but the run or ids. */
export async function predictionIds(db: Db, q: { runId: number; imageId?: number; minScore: number }): Promise<number[]> {
  const sql =
    "SELECT id FROM annotations WHERE source = 'model' AND model_run_id = ? AND score >= ?" + (q.imageId === undefined ? '' : ' AND image_id = ?') + ' ORDER BY image_id, id';
  const params: unknown[] = [q.runId, q.minScore];
  if (q.imageId !== undefined) params.push(q.imageId);
  return await db.prepare(sql).pluck().all(...params) as number[];
}

/** Image ids in id order, all or only those without any annotation. */
export async function imageIdsForPrelabel(db: Db, unlabeledOnly: boolean): Promise<number[]> {
  const sql = unlabeledOnly
    ? "SELECT id FROM images i WHERE NOT EXISTS (SELECT 1 FROM annotations a WHERE a.image_id = i.id AND a.source = 'human') ORDER BY id"
    : 'SELECT id FROM images ORDER BY id';
  return await db.prepare(sql).pluck().all() as number[];
}

export async function setRunParameters(db: Db, id: number, parameters: Record<string, unknown>): Promise<void> {
  await db.prepare('UPDATE model_runs SET parameters = ? WHERE id = ?').run(JSON.stringify(parameters), id);
}

/** A prediction kept for evaluation but not offered for review (see migration 6). */
export interface HistoryPrediction {
  runId: number;
  imageId: number;
  frame?: number;
  classId: number | null;
  geometry: Geometry;
  score: number | null;
  attributes?: Record<string, unknown>;
  reason: 'superseded' | 'labeled' | 'rejected';
  replacedBy?: number | null;
}

export async function addPredictionHistory(db: Db, rows: readonly HistoryPrediction[], now = Date.now()): Promise<void> {
  const stmt = db.prepare(
    'INSERT INTO prediction_history (run_id, image_id, frame, class_id, geometry, score, attributes, reason, replaced_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
  );
  for (const r of rows) {
    await stmt.run(r.runId, r.imageId, r.frame ?? 0, r.classId, JSON.stringify(r.geometry), r.score, JSON.stringify(r.attributes ?? {}), r.reason, r.replacedBy ?? null, now);
  }
}

/**
 * Moves the pending predictions of older runs of `model` (lower ids) on one image into the
 * history, as replaced by `runId`; returns how many. A newer run's predictions stay: resuming an
 * older run never replaces them (see newerRunOfImage). Accepted predictions are human
 * annotations and stay, and so do predictions the user changed without accepting yet (edited, or
 * brought back by an undo: any version after the first).
 */
export async function supersedePredictions(db: Db, q: { model: string; runId: number; imageId: number }, now = Date.now()): Promise<number> {
  // Moved as stored, in SQL: geometry and attributes are copied as text, never parsed and written again.
  const pending = `FROM annotations a JOIN model_runs r ON r.id = a.model_run_id
    WHERE a.image_id = ? AND a.source = 'model' AND a.version = 1 AND r.model = ? AND a.model_run_id < ?`;
  await db.prepare(
    `INSERT INTO prediction_history (run_id, image_id, frame, class_id, geometry, score, attributes, reason, replaced_by, created_at)
     SELECT a.model_run_id, a.image_id, a.frame, a.class_id, a.geometry, a.score, a.attributes, 'superseded', ?, ? ${pending} ORDER BY a.id`,
  ).run(q.runId, now, q.imageId, q.model, q.runId);
  // Only first versions are replaced, and ids are never reused (AUTOINCREMENT), so none of these
  // rows has a rejection: a rejected prediction brought back by an undo is at version 2 or more.
  return (await db.prepare(`DELETE FROM annotations WHERE id IN (SELECT a.id ${pending})`).run(q.imageId, q.model, q.runId)).changes;
}

/** The newest run of `model` after `runId` that finished the image, if any (a resumed older run defers to it). */
export async function newerRunOfImage(db: Db, q: { model: string; runId: number; imageId: number }): Promise<number | undefined> {
  return await db
    .prepare(
      `SELECT max(r.id) FROM model_runs r JOIN model_run_images i ON i.run_id = r.id
        WHERE r.model = ? AND r.id > ? AND i.image_id = ? AND i.state = 'done'`,
    )
    .pluck()
    .get(q.model, q.runId, q.imageId) as number | null ?? undefined;
}

/** Remembers rejected predictions, so a later run finding the same object leaves it out. */
export async function recordRejections(db: Db, rows: readonly { id: number; imageId: number; frame: number; classId: number | null; geometry: Geometry }[], now = Date.now()): Promise<void> {
  const stmt = db.prepare(`INSERT INTO prediction_rejections (annotation_id, image_id, frame, class_id, geometry, created_at) VALUES (?, ?, ?, ?, ?, ?)
     ON CONFLICT (annotation_id) DO UPDATE SET image_id = excluded.image_id, frame = excluded.frame, class_id = excluded.class_id,
       geometry = excluded.geometry, created_at = excluded.created_at`);
  for (const r of rows) await stmt.run(r.id, r.imageId, r.frame, r.classId, JSON.stringify(r.geometry), now);
}

/** A shape of one image a new prediction is compared with. */
export interface KnownShape {
  frame: number;
  classId: number | null;
  geometry: Geometry;
}

/** The human shapes of one image; with `edited`, also the predictions edited but not accepted yet. */
export async function humanShapesOfImage(db: Db, imageId: number, opts: { edited?: boolean } = {}): Promise<KnownShape[]> {
  const which = opts.edited ? "(source = 'human' OR version > 1)" : "source = 'human'";
  return (await db.prepare(`SELECT frame, class_id AS classId, geometry FROM annotations WHERE image_id = ? AND ${which}`).all(imageId) as { frame: number; classId: number | null; geometry: string }[]).map(
    (r) => ({ frame: r.frame, classId: r.classId, geometry: JSON.parse(r.geometry) as Geometry }),
  );
}

/** The rejected predictions of one image that still count: those an undo has not brought back. */
export async function rejectedShapesOfImage(db: Db, imageId: number): Promise<KnownShape[]> {
  return (
    await db
      .prepare('SELECT r.frame, r.class_id AS classId, r.geometry FROM prediction_rejections r WHERE r.image_id = ? AND NOT EXISTS (SELECT 1 FROM annotations a WHERE a.id = r.annotation_id)')
      .all(imageId) as { frame: number; classId: number | null; geometry: string }[]
  ).map((r) => ({ frame: r.frame, classId: r.classId, geometry: JSON.parse(r.geometry) as Geometry }));
}
