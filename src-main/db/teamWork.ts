import type { AuditEntry, WorkJob } from '../common/team';
import type { Db } from './open';

/**
 * The tables of a team's work (migration 17): image leases, jobs and their images, the audit log.
 * Plain statements on either engine; the rules (who may take what, errors) are in team/work.ts.
 */

export interface LeaseRow {
  imageId: number;
  user: string;
  session: string;
  acquiredAt: number;
  expiresAt: number;
}

const LEASE_COLUMNS = 'image_id AS imageId, user_name AS "user", session, acquired_at AS acquiredAt, expires_at AS expiresAt';

/**
 * One statement, so that it is atomic on both engines whatever the number of processes: inserts
 * the lease, or takes over the stored one when this session holds it (a renewal, which keeps when
 * it was acquired) or when it has lapsed. Null when someone else holds a live lease.
 */
export async function upsertLease(db: Db, imageId: number, user: string, session: string, now: number, expiresAt: number): Promise<LeaseRow | null> {
  const row = await db
    .prepare(
      `INSERT INTO image_leases (image_id, user_name, session, acquired_at, expires_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (image_id) DO UPDATE SET
         user_name = excluded.user_name,
         session = excluded.session,
         acquired_at = CASE WHEN image_leases.session = excluded.session AND image_leases.expires_at > excluded.acquired_at
                            THEN image_leases.acquired_at ELSE excluded.acquired_at END,
         expires_at = excluded.expires_at
       WHERE image_leases.session = excluded.session OR image_leases.expires_at <= excluded.acquired_at
       RETURNING ${LEASE_COLUMNS}`,
    )
    .get(imageId, user, session, now, expiresAt) as LeaseRow | undefined;
  return row ?? null;
}

/** Whether the image exists, and its stored lease (live or lapsed), in one read. */
export async function imageLease(db: Db, imageId: number, opts: { hold?: boolean } = {}): Promise<{ exists: boolean; lease: LeaseRow | null }> {
  // Held: until the calling transaction ends, nobody can take, renew or release the lease (their
  // INSERT ... ON CONFLICT DO UPDATE waits). SQLite's write transaction already excludes them.
  if (opts.hold && db.engine === 'postgres') await db.prepare('SELECT image_id FROM image_leases WHERE image_id = ? FOR SHARE').run(imageId);
  const row = await db
    .prepare(
      `SELECT i.id AS id, l.user_name AS "user", l.session AS session, l.acquired_at AS acquiredAt, l.expires_at AS expiresAt
       FROM images i LEFT JOIN image_leases l ON l.image_id = i.id WHERE i.id = ?`,
    )
    .get(imageId) as { id: number; user: string | null; session: string | null; acquiredAt: number | null; expiresAt: number | null } | undefined;
  if (!row) return { exists: false, lease: null };
  if (row.user === null) return { exists: true, lease: null };
  return { exists: true, lease: { imageId, user: row.user, session: row.session!, acquiredAt: row.acquiredAt!, expiresAt: row.expiresAt! } };
}

export async function deleteLease(db: Db, imageId: number, session: string): Promise<boolean> {
  return (await db.prepare('DELETE FROM image_leases WHERE image_id = ? AND session = ?').run(imageId, session)).changes > 0;
}

/** Deletes every lease of a session; the image ids, ascending. */
export async function deleteSessionLeases(db: Db, session: string): Promise<number[]> {
  const ids = await db.prepare('DELETE FROM image_leases WHERE session = ? RETURNING image_id').pluck().all(session) as number[];
  return ids.sort((a, b) => a - b);
}

// ---- jobs

/** Image ids already in a job. */
export async function assignedImageIds(db: Db): Promise<Set<number>> {
  return new Set(await db.prepare('SELECT image_id FROM work_job_images').pluck().all() as number[]);
}

/** Names of the jobs that start with `prefix` followed by a space. */
export async function jobNamesLike(db: Db, prefix: string): Promise<string[]> {
  return await db.prepare('SELECT name FROM work_jobs WHERE substr(name, 1, ?) = ?').pluck().all(prefix.length + 1, `${prefix} `) as string[];
}

export async function insertJob(
  db: Db,
  job: { name: string; assignee: string; reviewer: string | null; createdBy: string; createdAt: number },
  imageIds: readonly number[],
): Promise<number> {
  const id = await db
    .prepare('INSERT INTO work_jobs (name, assignee, reviewer, created_by, created_at) VALUES (?, ?, ?, ?, ?) RETURNING id')
    .pluck()
    .get(job.name, job.assignee, job.reviewer, job.createdBy, job.createdAt) as number;
  await db
    .prepare('INSERT INTO work_job_images (job_id, image_id) SELECT CAST(? AS INTEGER), v.value FROM (SELECT value FROM json_each(?)) AS v')
    .run(id, JSON.stringify(imageIds));
  return id;
}

/** Jobs with their progress, in id order: all, those of one user (assignee or reviewer), or those with the given ids. */
export async function selectJobs(db: Db, where: { user?: string; ids?: readonly number[] } = {}): Promise<WorkJob[]> {
  const conds: string[] = [];
  const params: unknown[] = [];
  if (where.user !== undefined) {
    conds.push('(j.assignee = ? OR j.reviewer = ?)');
    params.push(where.user, where.user);
  }
  if (where.ids !== undefined) {
    conds.push('j.id IN (SELECT value FROM json_each(?))');
    params.push(JSON.stringify(where.ids));
  }
  return await db
    .prepare(
      `SELECT j.id AS id, j.name AS name, j.assignee AS assignee, j.reviewer AS reviewer, j.created_by AS createdBy, j.created_at AS createdAt,
              count(w.image_id) AS images, count(w.done_at) AS done, count(w.reviewed_at) AS reviewed
       FROM work_jobs j LEFT JOIN work_job_images w ON w.job_id = j.id
       ${conds.length ? `WHERE ${conds.join(' AND ')}` : ''}
       GROUP BY j.id, j.name, j.assignee, j.reviewer, j.created_by, j.created_at
       ORDER BY j.id`,
    )
    .all(...params) as WorkJob[];
}

export async function deleteJobRow(db: Db, jobId: number): Promise<boolean> {
  return (await db.prepare('DELETE FROM work_jobs WHERE id = ?').run(jobId)).changes > 0;
}

export async function jobExists(db: Db, jobId: number): Promise<boolean> {
  return (await db.prepare('SELECT 1 FROM work_jobs WHERE id = ?').get(jobId)) !== undefined;
}

export async function jobIdOfImage(db: Db, imageId: number): Promise<number | null> {
  return (await db.prepare('SELECT job_id FROM work_job_images WHERE image_id = ?').pluck().get(imageId) as number | undefined) ?? null;
}

export async function imageIdsOfJob(db: Db, jobId: number): Promise<number[]> {
  return await db.prepare('SELECT image_id FROM work_job_images WHERE job_id = ? ORDER BY image_id').pluck().all(jobId) as number[];
}

/** Sets `started_at` of those images in jobs assigned to `user` that have none yet. */
export async function setStarted(db: Db, imageIds: readonly number[], user: string, now: number): Promise<number> {
  const r = await db
    .prepare(
      `UPDATE work_job_images SET started_at = ?
       WHERE started_at IS NULL AND image_id IN (SELECT value FROM json_each(?))
         AND job_id IN (SELECT id FROM work_jobs WHERE assignee = ?)`,
    )
    .run(now, JSON.stringify(imageIds), user);
  return r.changes;
}

/** Marks the images done by `user` (those not already done keep nothing older), or clears it (user null). */
export async function setDone(db: Db, imageIds: readonly number[], user: string | null, now: number): Promise<number> {
  const ids = JSON.stringify(imageIds);
  const r =
    user === null
      ? await db.prepare('UPDATE work_job_images SET done_by = NULL, done_at = NULL WHERE done_at IS NOT NULL AND image_id IN (SELECT value FROM json_each(?))').run(ids)
      : await db.prepare('UPDATE work_job_images SET done_by = ?, done_at = ? WHERE done_at IS NULL AND image_id IN (SELECT value FROM json_each(?))').run(user, now, ids);
  return r.changes;
}

export async function setReviewed(db: Db, imageId: number, user: string, now: number): Promise<number> {
  return (await db.prepare('UPDATE work_job_images SET reviewed_by = ?, reviewed_at = ? WHERE image_id = ?').run(user, now, imageId)).changes;
}

/** Every image marked done, with who and when, and when it was started. */
export async function doneRows(db: Db): Promise<{ user: string; startedAt: number | null; doneAt: number }[]> {
  return await db
    .prepare('SELECT done_by AS "user", started_at AS startedAt, done_at AS doneAt FROM work_job_images WHERE done_by IS NOT NULL ORDER BY done_by, done_at')
    .all() as { user: string; startedAt: number | null; doneAt: number }[];
}

/** Everyone a job is assigned to. */
export async function assignees(db: Db): Promise<string[]> {
  return await db.prepare('SELECT DISTINCT assignee FROM work_jobs ORDER BY assignee').pluck().all() as string[];
}

// ---- audit

export async function insertAudit(db: Db, e: { at: number; user: string; action: string; imageId: number | null; detail: string | null }): Promise<number> {
  return await db
    .prepare('INSERT INTO audit_log (at, user_name, action, image_id, detail) VALUES (?, ?, ?, ?, ?) RETURNING id')
    .pluck()
    .get(e.at, e.user, e.action, e.imageId, e.detail) as number;
}

/** The WHERE clause (empty for neither) of rows of one image and/or one user (`image_id`, `user_name`). */
function byImageAndUser(q: { imageId?: number; user?: string }): { where: string; params: unknown[] } {
  const conds: string[] = [];
  const params: unknown[] = [];
  if (q.imageId !== undefined) {
    conds.push('image_id = ?');
    params.push(q.imageId);
  }
  if (q.user !== undefined) {
    conds.push('user_name = ?');
    params.push(q.user);
  }
  return { where: conds.length ? `WHERE ${conds.join(' AND ')}` : '', params };
}

/** Newest first: of one image, of one user, or of both. */
export async function selectAudit(db: Db, q: { imageId?: number; user?: string; limit: number }): Promise<AuditEntry[]> {
  const { where, params } = byImageAndUser(q);
  return await db
    .prepare(
      `SELECT id, at, user_name AS "user", action, image_id AS imageId, detail FROM audit_log
       ${where} ORDER BY id DESC LIMIT ?`,
    )
    .all(...params, q.limit) as AuditEntry[];
}

/** An edit journal entry without its payloads: who changed which image when, for the audit. */
export interface JournalLine {
  id: number;
  imageId: number;
  at: number;
  /** Null for edits made before users were recorded. */
  user: string | null;
  label: string;
  undone: boolean;
}

/** Edit journal entries newest first, of one image and/or one user. */
export async function journalLines(db: Db, q: { imageId?: number; user?: string; limit: number }): Promise<JournalLine[]> {
  const { where, params } = byImageAndUser(q);
  const rows = await db
    .prepare(
      `SELECT id, image_id AS imageId, created_at AS at, user_name AS "user", label, undone FROM edit_journal
       ${where} ORDER BY id DESC LIMIT ?`,
    )
    .all(...params, q.limit) as (Omit<JournalLine, 'undone'> & { undone: number })[];
  return rows.map((r) => ({ ...r, undone: r.undone === 1 }));
}
