import type { Dataset } from '../services/dataset';
import type { AuditEntry, LeaseState, TeamDashboard, UserThroughput, WorkJob } from '../common/team';
import type { ParsedArgs } from '../common/contract';
import { AppError } from '../common/errors';
import { imageIdsWhere } from '../db/images';
import {
  assignedImageIds,
  assignees,
  deleteJobRow,
  deleteLease,
  deleteSessionLeases,
  doneRows,
  imageIdsOfJob,
  imageLease,
  insertAudit,
  insertJob,
  journalLines,
  jobExists,
  jobIdOfImage,
  jobNamesLike,
  selectAudit,
  selectJobs,
  setDone,
  setReviewed,
  setStarted,
  upsertLease,
  type JournalLine,
  type LeaseRow,
} from '../db/teamWork';

/**
 * A team's work on one dataset, in the dataset's own tables (migration 17): jobs and their
 * progress, image leases, the audit log and the dashboard figures. Every function works on both
 * engines; the team server calls them on behalf of the logged-in user.
 *
 * Times are the calling process's clock (`now`, which tests pass): every server and worker of a
 * team is expected to keep its clock in step (NTP), as leases last tens of seconds.
 */

const HOUR_MS = 3_600_000;
/** The most of an audit entry's detail that is stored (UTF-8 bytes of its JSON text). */
export const AUDIT_DETAIL_MAX_BYTES = 4096;

function isForeignKeyError(e: unknown): boolean {
  return typeof e === 'object' && e !== null && (e as { code?: unknown }).code === 'SQLITE_CONSTRAINT_FOREIGNKEY';
}

const noImage = (imageId: number): AppError => new AppError('NOT_FOUND', `image ${imageId} does not exist`, { imageId });

/** A live lease as `session` (or, without one, `user`) sees it; a lapsed or missing one is free. */
function stateOf(imageId: number, lease: LeaseRow | null, now: number, mine: (l: LeaseRow) => boolean): LeaseState {
  if (!lease || lease.expiresAt <= now) return { imageId, mine: false, holder: null, expiresAt: null };
  return { imageId, mine: mine(lease), holder: lease.user, expiresAt: lease.expiresAt };
}

/**
 * Takes or renews `user`'s lease of an image for `ttlMs` (on `session`); tells who holds it when another does.
 * A lease is one session's (one browser tab): the same user in another session gets the image
 * read-only like anyone else until the lease is released or lapses. Taking it (not renewing)
 * also records the start of the image's work, as `markStarted` does.
 */
export async function takeLease(ds: Dataset, imageId: number, user: string, session: string, ttlMs: number, now = Date.now()): Promise<LeaseState> {
  if (!Number.isFinite(ttlMs) || ttlMs <= 0) throw new AppError('INVALID_ARGUMENT', `a lease must last a positive time, not ${ttlMs} ms`, { ttlMs });
  // The upsert decides atomically; the read after it only reports who won. Should the holder
  // release between the two (the read finds no live lease), the upsert is tried again.
  for (let attempt = 0; attempt < 5; attempt++) {
    let taken: LeaseRow | null;
    try {
      taken = await upsertLease(ds.db, imageId, user, session, now, now + ttlMs);
    } catch (e) {
      if (isForeignKeyError(e)) throw noImage(imageId);
      throw e;
    }
    if (taken) {
      // A lease newly taken is the user opening the image for editing: the first one starts its
      // clock for the time per image (when it is in one of the user's jobs).
      if (taken.acquiredAt === now) await setStarted(ds.db, [imageId], user, now);
      return { imageId, mine: true, holder: taken.user, expiresAt: taken.expiresAt };
    }
    const { exists, lease } = await imageLease(ds.db, imageId);
    if (!exists) throw noImage(imageId);
    if (lease && lease.session !== session && lease.expiresAt > now) return { imageId, mine: false, holder: lease.user, expiresAt: lease.expiresAt };
  }
  throw new AppError('INTERNAL', `image ${imageId}: its lease kept changing hands while it was taken; try again`, { imageId });
}

/** Gives up the lease `session` holds on an image; true when there was one. */
export async function releaseLease(ds: Dataset, imageId: number, session: string): Promise<boolean> {
  return await deleteLease(ds.db, imageId, session);
}

/** Releases every lease a session holds (logout, socket closed); the image ids released. */
export async function releaseSessionLeases(ds: Dataset, session: string): Promise<number[]> {
  return await deleteSessionLeases(ds.db, session);
}

/**
 * Who holds an image's lease, seen by `user`. With `session`, `mine` says whether that session
 * holds it (what decides whether it may edit); without, whether `user` does in any session.
 */
export async function leaseOf(ds: Dataset, imageId: number, user: string, session?: string, now = Date.now()): Promise<LeaseState> {
  const { exists, lease } = await imageLease(ds.db, imageId);
  if (!exists) throw noImage(imageId);
  return stateOf(imageId, lease, now, (l) => (session === undefined ? l.user === user : l.session === session));
}

/**
 * Throws LEASED unless `session` holds a live lease on the image. With `hold`, inside a
 * transaction, the lease cannot change hands until that transaction ends: an edit checked this
 * way commits before anyone else can take the image, even if the lease lapses meanwhile.
 */
export async function requireLease(ds: Dataset, imageId: number, session: string, now = Date.now(), opts: { hold?: boolean } = {}): Promise<void> {
  const { exists, lease } = await imageLease(ds.db, imageId, opts);
  if (!exists) throw noImage(imageId);
  if (lease && lease.expiresAt > now) {
    if (lease.session === session) return;
    const until = new Date(lease.expiresAt).toISOString();
    throw new AppError('LEASED', `image ${imageId} is being edited by ${lease.user} (lease until ${until}); it is read-only until they close it`, {
      imageId,
      holder: lease.user,
      expiresAt: lease.expiresAt,
    });
  }
  throw new AppError('LEASED', `image ${imageId}: open the image for editing first (nobody holds its lease)`, { imageId, holder: null, expiresAt: null });
}

/**
 * Splits the images matching `args.filter` that are in no job yet, in id order, into jobs of
 * `perJob` images (at most `maxJobs` of them), assigned to `args.assignees` in turn. Jobs are
 * named "<name> <n>", numbered on from the jobs of that name already there. All in one
 * transaction; INVALID_ARGUMENT, writing nothing, when no image is left to assign.
 */
export async function createJobs(ds: Dataset, args: ParsedArgs<'team:createJobs'>, by: string, now = Date.now()): Promise<WorkJob[]> {
  const db = ds.db;
  const base = args.name ?? 'Job';
  if (args.assignees.length === 0) throw new AppError('INVALID_ARGUMENT', 'a job needs at least one assignee');
  if (!Number.isInteger(args.perJob) || args.perJob < 1) throw new AppError('INVALID_ARGUMENT', `images per job must be a positive whole number, not ${args.perJob}`);
  const ids = await db.transaction(async () => {
    // Two managers splitting at once: the second waits for the first and sees its jobs (SQLite's
    // immediate transaction already holds the write lock).
    if (db.engine === 'postgres') await db.prepare('LOCK TABLE work_job_images IN SHARE ROW EXCLUSIVE MODE').run();
    const matching = await imageIdsWhere(db, args.filter);
    const assigned = await assignedImageIds(db);
    const free = matching.filter((id) => !assigned.has(id));
    if (free.length === 0) {
      throw new AppError(
        'INVALID_ARGUMENT',
        matching.length === 0 ? 'no image matches the filter, so there is nothing to assign' : `all ${matching.length} images matching the filter are in jobs already`,
        { matching: matching.length },
      );
    }
    let n = 0;
    for (const name of await jobNamesLike(db, base)) {
      const m = /^ (\d+)$/.exec(name.slice(base.length));
      if (m) n = Math.max(n, Number(m[1]));
    }
    const made: number[] = [];
    const maxJobs = args.maxJobs ?? Infinity;
    for (let k = 0; k * args.perJob < free.length && made.length < maxJobs; k++) {
      const chunk = free.slice(k * args.perJob, (k + 1) * args.perJob);
      const assignee = args.assignees[k % args.assignees.length]!;
      made.push(await insertJob(db, { name: `${base} ${++n}`, assignee, reviewer: args.reviewer ?? null, createdBy: by, createdAt: now }, chunk));
    }
    return made;
  }).immediate();
  return await selectJobs(db, { ids });
}

/** All jobs, or those `user` is assignee or reviewer of. */
export async function listJobs(ds: Dataset, opts: { user?: string } = {}): Promise<WorkJob[]> {
  return await selectJobs(ds.db, opts);
}

export async function getJob(ds: Dataset, jobId: number): Promise<WorkJob | null> {
  return (await selectJobs(ds.db, { ids: [jobId] }))[0] ?? null;
}

/** Deletes a job; its images become unassigned (their annotations stay). NOT_FOUND when there is none. */
export async function deleteJob(ds: Dataset, jobId: number): Promise<void> {
  if (!(await deleteJobRow(ds.db, jobId))) throw new AppError('NOT_FOUND', `job ${jobId} does not exist`, { jobId });
}

/** The job an image is in, null when none. */
export async function jobOfImage(ds: Dataset, imageId: number): Promise<WorkJob | null> {
  const jobId = await jobIdOfImage(ds.db, imageId);
  return jobId === null ? null : await getJob(ds, jobId);
}

/** The images of a job in id order; NOT_FOUND when there is no such job. */
export async function jobImageIds(ds: Dataset, jobId: number): Promise<number[]> {
  const ids = await imageIdsOfJob(ds.db, jobId);
  if (ids.length === 0 && !(await jobExists(ds.db, jobId))) throw new AppError('NOT_FOUND', `job ${jobId} does not exist`, { jobId });
  return ids;
}

/** Records that `user` started editing these images (first lease), for time per image. Only the first start counts, and only in `user`'s own jobs. */
export async function markStarted(ds: Dataset, imageIds: readonly number[], user: string, now = Date.now()): Promise<void> {
  if (imageIds.length === 0) return;
  await setStarted(ds.db, imageIds, user, now);
}

/**
 * Records images marked done (status 'done') by `user`; other statuses clear it, except
 * 'reviewed', which a reviewer gives a done image and which leaves it done. An image already done
 * keeps who did it and when.
 */
export async function markStatus(ds: Dataset, imageIds: readonly number[], status: string, user: string, now = Date.now()): Promise<void> {
  if (imageIds.length === 0 || status === 'reviewed') return;
  await setDone(ds.db, imageIds, status === 'done' ? user : null, now);
}

/** Records `user`'s verdict on an image of a job (the latest counts). */
export async function markReviewed(ds: Dataset, imageId: number, user: string, now = Date.now()): Promise<void> {
  await setReviewed(ds.db, imageId, user, now);
}

function median(values: number[]): number | null {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/**
 * Each user's pace, from the images they marked done: all time and in the hour before `now`;
 * images per hour over the span from the first start to the last done (null below 2 images);
 * the median time from start to done. Everyone with a job is listed, done or not, by name.
 */
export async function throughput(ds: Dataset, now = Date.now()): Promise<UserThroughput[]> {
  const rows = await doneRows(ds.db);
  const byUser = new Map<string, { startedAt: number | null; doneAt: number }[]>();
  for (const name of await assignees(ds.db)) byUser.set(name, []);
  for (const r of rows) {
    const list = byUser.get(r.user) ?? [];
    list.push({ startedAt: r.startedAt, doneAt: r.doneAt });
    byUser.set(r.user, list);
  }
  const out: UserThroughput[] = [];
  for (const [user, done] of byUser) {
    const lastHour = done.filter((d) => d.doneAt > now - HOUR_MS && d.doneAt <= now).length;
    let perHour: number | null = null;
    if (done.length >= 2) {
      const first = Math.min(...done.map((d) => d.startedAt ?? d.doneAt));
      const last = Math.max(...done.map((d) => d.doneAt));
      if (last > first) perHour = done.length / ((last - first) / HOUR_MS);
    }
    const durations = done.filter((d) => d.startedAt !== null).map((d) => d.doneAt - d.startedAt!);
    out.push({ user, done: done.length, lastHour, perHour, medianMsPerImage: median(durations) });
  }
  return out.sort((a, b) => (a.user < b.user ? -1 : a.user > b.user ? 1 : 0));
}

export async function dashboard(ds: Dataset, now = Date.now()): Promise<Omit<TeamDashboard, 'workers'>> {
  return { jobs: await listJobs(ds), users: await throughput(ds, now) };
}

/** The detail as stored: its JSON text, or when longer than the cap, a JSON object marking the cut with the text's start. */
export function auditDetailText(detail: unknown): string | null {
  if (detail === undefined || detail === null) return null;
  const text = JSON.stringify(detail);
  if (text === undefined) return null;
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes <= AUDIT_DETAIL_MAX_BYTES) return text;
  // The longest start whose marked form fits (escapes make the quoted start longer than its text).
  const whole = Buffer.from(text, 'utf8');
  const marked = (keep: number): string => {
    const start = whole.subarray(0, keep).toString('utf8').replace(/\uFFFD$/, '');
    return JSON.stringify({ truncated: true, bytes, start });
  };
  let lo = 0;
  let hi = AUDIT_DETAIL_MAX_BYTES;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (Buffer.byteLength(marked(mid), 'utf8') <= AUDIT_DETAIL_MAX_BYTES) lo = mid;
    else hi = mid - 1;
  }
  return marked(lo);
}

/** Appends one line to the audit log; `detail` is stored as JSON text, cut to 4 KB with a marker. */
export async function recordAudit(
  ds: Dataset,
  entry: { user: string; action: string; imageId?: number | null; detail?: unknown },
  now = Date.now(),
): Promise<void> {
  await insertAudit(ds.db, { at: now, user: entry.user, action: entry.action, imageId: entry.imageId ?? null, detail: auditDetailText(entry.detail) });
}

/** The audit log newest first, of one image and/or one user. */
export async function auditLog(ds: Dataset, q: { imageId?: number; user?: string; limit: number }): Promise<AuditEntry[]> {
  return await selectAudit(ds.db, q);
}

/** The edit journal newest first, of one image and/or one user: which edits each user made, without their payloads. */
export async function editHistory(ds: Dataset, q: { imageId?: number; user?: string; limit: number }): Promise<JournalLine[]> {
  return await journalLines(ds.db, q);
}
