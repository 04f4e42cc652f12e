import type { Db } from './open';

/** Queries behind "what to label next" and the classifier trained on embeddings. */

export type QueuePool = 'unlabeled' | 'not_done';

const POOL_SQL: Record<QueuePool, string> = {
  // No human annotation (tags included); predictions do not make an image labeled.
  unlabeled: "NOT EXISTS (SELECT 1 FROM annotations a WHERE a.image_id = i.id AND a.source = 'human')",
  not_done: "i.status NOT IN ('done', 'reviewed')",
};

/** Ids (in id order) of the images still to label: the pool a queue is drawn from. */
export async function poolImageIds(db: Db, pool: QueuePool): Promise<number[]> {
  return await db.prepare(`SELECT i.id FROM images i WHERE ${POOL_SQL[pool]} ORDER BY i.id`).pluck().all() as number[];
}

/** The latest model run (highest id) that has predictions still stored, or null. */
export async function latestRunWithPredictions(db: Db): Promise<number | null> {
  const id = await db.prepare("SELECT max(model_run_id) FROM annotations WHERE source = 'model'").pluck().get() as number | null;
  return id ?? null;
}

export async function runExists(db: Db, runId: number): Promise<boolean> {
  return await db.prepare('SELECT 1 FROM model_runs WHERE id = ?').get(runId) !== undefined;
}

/**
 * Per image the run looked at, the scores of the run's predictions on it (highest first; empty
 * when it found nothing). Images are those the run records as done, and those holding its
 * predictions (runs that record no per-image progress).
 */
export async function runImageScores(db: Db, runId: number): Promise<Map<number, number[]>> {
  const out = new Map<number, number[]>();
  for (const id of await db.prepare("SELECT image_id FROM model_run_images WHERE run_id = ? AND state = 'done'").pluck().all(runId) as number[]) out.set(id, []);
  const rows = await db
    .prepare("SELECT image_id, coalesce(score, 1) AS score FROM annotations WHERE model_run_id = ? AND source = 'model' ORDER BY image_id, score DESC")
    .all(runId) as { image_id: number; score: number }[];
  for (const r of rows) {
    let list = out.get(r.image_id);
    if (!list) out.set(r.image_id, (list = []));
    list.push(r.score);
  }
  return out;
}

/** Human image tags: image id -> the distinct classes tagged on it (frame 0 and any other frame together). */
export async function humanImageTags(db: Db): Promise<Map<number, number[]>> {
  const out = new Map<number, number[]>();
  const rows = await db
    .prepare("SELECT DISTINCT image_id, class_id FROM annotations WHERE kind = 'tag' AND source = 'human' AND class_id IS NOT NULL ORDER BY image_id, class_id")
    .all() as { image_id: number; class_id: number }[];
  for (const r of rows) {
    let list = out.get(r.image_id);
    if (!list) out.set(r.image_id, (list = []));
    list.push(r.class_id);
  }
  return out;
}

export async function classNames(db: Db, ids: readonly number[]): Promise<string[]> {
  const stmt = db.prepare('SELECT name FROM classes WHERE id = ?').pluck();
  const names: string[] = [];
  for (const id of ids) names.push(((await stmt.get(id)) as string | undefined) ?? `class ${id}`);
  return names;
}

/** Records images a run has finished (a run computed all at once, such as the classifier's). */
export async function addDoneRunImages(db: Db, runId: number, images: readonly { imageId: number; detections: number }[]): Promise<void> {
  const stmt = db.prepare(`INSERT INTO model_run_images (run_id, image_id, state, detections) VALUES (?, ?, 'done', ?)
     ON CONFLICT (run_id, image_id) DO UPDATE SET state = excluded.state, detections = excluded.detections`);
  await db.transaction(async () => {
    for (const r of images) await stmt.run(runId, r.imageId, r.detections);
  })();
}
