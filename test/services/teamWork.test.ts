import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { ParsedArgs } from '../../src-main/common/contract';
import { isAppError } from '../../src-main/common/errors';
import type { LeaseState } from '../../src-main/common/team';
import { insertImages, setStatus } from '../../src-main/db/images';
import { Dataset } from '../../src-main/services/dataset';
import {
  AUDIT_DETAIL_MAX_BYTES,
  auditLog,
  createJobs,
  dashboard,
  deleteJob,
  getJob,
  jobImageIds,
  jobOfImage,
  leaseOf,
  listJobs,
  markReviewed,
  markStarted,
  markStatus,
  recordAudit,
  releaseLease,
  releaseSessionLeases,
  requireLease,
  takeLease,
  throughput,
} from '../../src-main/team/work';
import { imageRows } from '../helpers/images';
import type { LeaseRaceTask } from '../helpers/leaseRace';
import { freshPgDataset, pgSkipReason, type PgDataset } from '../helpers/postgres';
import { tempDir } from '../helpers/shared';

/**
 * A team's work on one dataset: leases, jobs, throughput and the audit log. Runs on SQLite in the
 * unit project and with every dataset in PostgreSQL in unit-pg (the same dataset paths).
 */
const open: Dataset[] = [];
afterEach(async () => {
  for (const ds of open.splice(0)) await ds.close();
});

async function fresh(n: number): Promise<{ ds: Dataset; ids: number[]; file: string }> {
  const dir = tempDir('tessera-teamwork-');
  const file = path.join(dir, 'team.tessera');
  const ds = await Dataset.create(file, dir);
  open.push(ds);
  const ids = await insertImages(ds.db, imageRows(n));
  return { ds, ids, file };
}

async function reopen(file: string): Promise<Dataset> {
  const ds = await Dataset.open(file);
  open.push(ds);
  return ds;
}

async function failure(p: Promise<unknown>): Promise<{ code: string; message: string; detail?: Record<string, unknown> }> {
  try {
    await p;
  } catch (e) {
    if (isAppError(e)) return { code: e.code, message: e.message, detail: e.detail };
    throw e;
  }
  throw new Error('expected a failure');
}

const T = 1_700_000_000_000;
const TTL = 30_000;

describe('image leases', () => {
  it('are taken, renewed by the same session, refused to others, free once lapsed or released', async () => {
    const { ds, ids } = await fresh(2);
    const img = ids[0]!;

    expect(await leaseOf(ds, img, 'alice', 's-a1', T)).toEqual({ imageId: img, mine: false, holder: null, expiresAt: null });
    expect(await takeLease(ds, img, 'alice', 's-a1', TTL, T)).toEqual({ imageId: img, mine: true, holder: 'alice', expiresAt: T + TTL });

    // Bob sees Alice holding it, and cannot take it.
    expect(await takeLease(ds, img, 'bob', 's-b1', TTL, T + 1000)).toEqual({ imageId: img, mine: false, holder: 'alice', expiresAt: T + TTL });
    expect(await leaseOf(ds, img, 'bob', 's-b1', T + 1000)).toEqual({ imageId: img, mine: false, holder: 'alice', expiresAt: T + TTL });
    // Alice in a second tab gets it read-only too.
    expect(await takeLease(ds, img, 'alice', 's-a2', TTL, T + 1000)).toEqual({ imageId: img, mine: false, holder: 'alice', expiresAt: T + TTL });
    expect(await leaseOf(ds, img, 'alice', 's-a2', T + 1000)).toMatchObject({ mine: false, holder: 'alice' });
    expect(await leaseOf(ds, img, 'alice', 's-a1', T + 1000)).toMatchObject({ mine: true, holder: 'alice' });
    // Without a session, "mine" is the user's.
    expect(await leaseOf(ds, img, 'alice', undefined, T + 1000)).toMatchObject({ mine: true });

    // Renewal moves the expiry and keeps when it was acquired.
    expect(await takeLease(ds, img, 'alice', 's-a1', TTL, T + 20_000)).toEqual({ imageId: img, mine: true, holder: 'alice', expiresAt: T + 20_000 + TTL });
    const row = await ds.db.prepare('SELECT acquired_at AS acquiredAt, expires_at AS expiresAt, session FROM image_leases WHERE image_id = ?').get(img);
    expect(row).toEqual({ acquiredAt: T, expiresAt: T + 50_000, session: 's-a1' });

    // Still held just before the expiry; lapsed at it: Bob takes it, and it is his from then on.
    expect(await takeLease(ds, img, 'bob', 's-b1', TTL, T + 49_999)).toMatchObject({ mine: false, holder: 'alice' });
    expect(await leaseOf(ds, img, 'bob', 's-b1', T + 50_000)).toEqual({ imageId: img, mine: false, holder: null, expiresAt: null });
    expect(await takeLease(ds, img, 'bob', 's-b1', TTL, T + 50_000)).toEqual({ imageId: img, mine: true, holder: 'bob', expiresAt: T + 80_000 });
    expect(await ds.db.prepare('SELECT acquired_at FROM image_leases WHERE image_id = ?').pluck().get(img)).toBe(T + 50_000);
    expect(await takeLease(ds, img, 'alice', 's-a1', TTL, T + 50_001)).toMatchObject({ mine: false, holder: 'bob' });

    // Released: only by the session holding it.
    expect(await releaseLease(ds, img, 's-a1')).toBe(false);
    expect(await releaseLease(ds, img, 's-b1')).toBe(true);
    expect(await releaseLease(ds, img, 's-b1')).toBe(false);
    expect(await leaseOf(ds, img, 'alice', 's-a1', T + 50_002)).toMatchObject({ mine: false, holder: null });
    expect(await takeLease(ds, img, 'alice', 's-a1', TTL, T + 50_002)).toMatchObject({ mine: true, holder: 'alice' });
  });

  it('releases every lease of a session at once, and no other', async () => {
    const { ds, ids } = await fresh(4);
    for (const id of [ids[2]!, ids[0]!, ids[1]!]) expect((await takeLease(ds, id, 'alice', 's-a', TTL, T)).mine).toBe(true);
    expect((await takeLease(ds, ids[3]!, 'bob', 's-b', TTL, T)).mine).toBe(true);
    expect(await releaseSessionLeases(ds, 's-a')).toEqual([ids[0], ids[1], ids[2]]);
    expect(await releaseSessionLeases(ds, 's-a')).toEqual([]);
    expect(await leaseOf(ds, ids[3]!, 'alice', 's-a', T)).toMatchObject({ holder: 'bob' });
    expect(await leaseOf(ds, ids[0]!, 'bob', 's-b', T)).toMatchObject({ holder: null });
  });

  it('refuses an unknown image and a lease of no time', async () => {
    const { ds, ids } = await fresh(1);
    const missing = ids[0]! + 100;
    expect(await failure(takeLease(ds, missing, 'alice', 's', TTL, T))).toMatchObject({ code: 'NOT_FOUND', message: `image ${missing} does not exist` });
    expect((await failure(leaseOf(ds, missing, 'alice', 's', T))).code).toBe('NOT_FOUND');
    expect((await failure(requireLease(ds, missing, 's', T))).code).toBe('NOT_FOUND');
    expect((await failure(takeLease(ds, ids[0]!, 'alice', 's', 0, T))).code).toBe('INVALID_ARGUMENT');
    expect(await ds.db.prepare('SELECT count(*) FROM image_leases').pluck().get()).toBe(0);
  });

  it('requireLease lets only the holding session through, naming the holder and expiry otherwise', async () => {
    const { ds, ids } = await fresh(1);
    const img = ids[0]!;
    const free = await failure(requireLease(ds, img, 's-a', T));
    expect(free.code).toBe('LEASED');
    expect(free.message).toContain('open the image for editing first');

    await takeLease(ds, img, 'alice', 's-a', TTL, T);
    await expect(requireLease(ds, img, 's-a', T + 1)).resolves.toBeUndefined();
    const other = await failure(requireLease(ds, img, 's-b', T + 1));
    expect(other.code).toBe('LEASED');
    expect(other.message).toContain('being edited by alice');
    expect(other.message).toContain(new Date(T + TTL).toISOString());
    expect(other.detail).toEqual({ imageId: img, holder: 'alice', expiresAt: T + TTL });
    // Alice's own second tab is refused too.
    expect((await failure(requireLease(ds, img, 's-a2', T + 1))).code).toBe('LEASED');

    // A lapsed lease lets nobody through, its old holder included.
    const lapsed = await failure(requireLease(ds, img, 's-a', T + TTL));
    expect(lapsed.code).toBe('LEASED');
    expect(lapsed.message).toContain('open the image for editing first');
  });

  it('gives the lease to exactly one of many sessions taking it at once', async () => {
    const { ds, ids, file } = await fresh(3);
    // Several handles on the dataset (several connections: SQLite's busy handler, PostgreSQL's pool).
    const handles = [ds, await reopen(file), await reopen(file), await reopen(file)];
    for (const img of ids) {
      const calls: Promise<LeaseState>[] = [];
      for (let k = 0; k < 24; k++) calls.push(takeLease(handles[k % handles.length]!, img, `user${k}`, `s${k}`, TTL, T));
      const results = await Promise.all(calls);
      const winners = results.map((r, k) => (r.mine ? k : -1)).filter((k) => k >= 0);
      expect(winners).toHaveLength(1);
      const winner = `user${winners[0]}`;
      for (const r of results) expect(r).toMatchObject({ holder: winner, expiresAt: T + TTL });
      expect(await ds.db.prepare('SELECT user_name FROM image_leases WHERE image_id = ?').pluck().get(img)).toBe(winner);
    }
  });

  it('gives a lapsed lease to exactly one of many sessions taking it at once', async () => {
    const { ds, ids, file } = await fresh(1);
    const img = ids[0]!;
    await takeLease(ds, img, 'old', 's-old', TTL, T);
    const handles = [ds, await reopen(file), await reopen(file)];
    const results = await Promise.all(Array.from({ length: 18 }, (_, k) => takeLease(handles[k % 3]!, img, `user${k}`, `s${k}`, TTL, T + TTL + 5)));
    expect(results.filter((r) => r.mine)).toHaveLength(1);
    const winner = results.find((r) => r.mine)!.holder;
    expect(winner).not.toBe('old');
    for (const r of results) expect(r.holder).toBe(winner);
  });
});

/**
 * Real processes, each with its own connection, taking the same leases at the same moment. The
 * unit project runs both engines here by name, so unit-pg (which maps dataset paths to
 * PostgreSQL) does not run it a second time.
 */
const mapped = Boolean(process.env['TESSERA_STORE']);
const pgSkip = mapped ? null : pgSkipReason();
const schemas: PgDataset[] = [];
afterAll(async () => {
  for (const s of schemas) await s.drop();
});

/** Starts a lease-taking process; resolves with its answers once `go` resolves and it is done. */
function racer(task: LeaseRaceTask, ready: () => void, go: Promise<void>): Promise<LeaseState[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.resolve('test/helpers/leaseRace.ts'), JSON.stringify(task)], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    let sawReady = false;
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (!sawReady && out.startsWith('ready\n')) {
        sawReady = true;
        ready();
        void go.then(() => child.stdin.write('go\n'));
      }
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`${task.session} exited with ${code}: ${err}`));
      resolve(JSON.parse(out.slice('ready\n'.length)) as LeaseState[]);
    });
  });
}

describe.skipIf(mapped)('leases taken by several processes at once', () => {
  const engines = [
    { name: 'SQLite file', skip: null as string | null, location: async () => path.join(tempDir('tessera-lease-race-'), 'race.tessera') },
    {
      name: 'PostgreSQL',
      skip: pgSkip,
      location: async () => {
        const s = await freshPgDataset('lease_race');
        schemas.push(s);
        return s.url;
      },
    },
  ];
  for (const engine of engines) {
    it.skipIf(engine.skip !== null)(`${engine.name}: each image goes to exactly one process`, async () => {
      const location = await engine.location();
      const ds = await Dataset.create(location, tempDir('tessera-lease-race-root-'));
      open.push(ds);
      const ids = await insertImages(ds.db, imageRows(8));
      const n = 4;
      let readyCount = 0;
      let start!: () => void;
      const go = new Promise<void>((r) => (start = r));
      const ready = () => {
        if (++readyCount === n) start();
      };
      const results = await Promise.all(
        Array.from({ length: n }, (_, k) => racer({ dataset: location, imageIds: ids, user: `user${k}`, session: `proc${k}`, ttlMs: 120_000 }, ready, go)),
      );
      for (const [i, id] of ids.entries()) {
        const answers = results.map((r) => r[i]!);
        expect(answers.every((a) => a.imageId === id)).toBe(true);
        const winners = answers.map((a, k) => (a.mine ? k : -1)).filter((k) => k >= 0);
        expect(winners, JSON.stringify(answers)).toHaveLength(1);
        for (const a of answers) expect(a.holder).toBe(`user${winners[0]}`);
        expect(await ds.db.prepare('SELECT session FROM image_leases WHERE image_id = ?').pluck().get(id)).toBe(`proc${winners[0]}`);
      }
    }, 120_000);
  }
});

const jobArgs = (a: Partial<ParsedArgs<'team:createJobs'>> & Pick<ParsedArgs<'team:createJobs'>, 'perJob' | 'assignees'>): ParsedArgs<'team:createJobs'> => ({
  filter: {},
  ...a,
});

describe('jobs', () => {
  it('splits the unassigned images in id order into jobs of perJob, assigned in turn', async () => {
    const { ds, ids } = await fresh(23);
    const jobs = await createJobs(ds, jobArgs({ perJob: 5, assignees: ['ann', 'ben'], reviewer: 'rita' }), 'max', T);
    expect(jobs.map((j) => [j.name, j.assignee, j.reviewer, j.images, j.done, j.reviewed, j.createdBy, j.createdAt])).toEqual([
      ['Job 1', 'ann', 'rita', 5, 0, 0, 'max', T],
      ['Job 2', 'ben', 'rita', 5, 0, 0, 'max', T],
      ['Job 3', 'ann', 'rita', 5, 0, 0, 'max', T],
      ['Job 4', 'ben', 'rita', 5, 0, 0, 'max', T],
      ['Job 5', 'ann', 'rita', 3, 0, 0, 'max', T],
    ]);
    const parts = await Promise.all(jobs.map((j) => jobImageIds(ds, j.id)));
    expect(parts.flat()).toEqual(ids);
    expect(parts.map((p) => p.length)).toEqual([5, 5, 5, 5, 3]);
    expect(parts[1]).toEqual(ids.slice(5, 10));
    expect(await listJobs(ds)).toEqual(jobs);
    expect(await getJob(ds, jobs[2]!.id)).toEqual(jobs[2]);
    expect(await getJob(ds, jobs[4]!.id + 1)).toBeNull();

    // Everything is assigned: a second split has nothing left, and writes nothing.
    const none = await failure(createJobs(ds, jobArgs({ perJob: 5, assignees: ['ann'] }), 'max', T));
    expect(none).toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(none.message).toContain('all 23 images matching the filter are in jobs already');
    expect(await ds.db.prepare('SELECT count(*) FROM work_jobs').pluck().get()).toBe(5);
  });

  it('takes only images matching the filter, at most maxJobs jobs, and then only what is left', async () => {
    const { ds, ids } = await fresh(12);
    const doneIds = ids.filter((_, i) => i % 2 === 0); // 6 images
    await setStatus(ds.db, doneIds, 'done');

    const first = await createJobs(ds, jobArgs({ name: 'Batch', filter: { status: 'done' }, perJob: 2, maxJobs: 2, assignees: ['ann', 'ben', 'cy'] }), 'max', T);
    expect(first.map((j) => [j.name, j.assignee, j.reviewer, j.images])).toEqual([
      ['Batch 1', 'ann', null, 2],
      ['Batch 2', 'ben', null, 2],
    ]);
    expect((await jobImageIds(ds, first[0]!.id)).concat(await jobImageIds(ds, first[1]!.id))).toEqual(doneIds.slice(0, 4));

    // The next split of the same filter takes the two done images left, numbering on.
    const second = await createJobs(ds, jobArgs({ name: 'Batch', filter: { status: 'done' }, perJob: 5, assignees: ['cy'] }), 'max', T + 1);
    expect(second.map((j) => [j.name, j.assignee, j.images])).toEqual([['Batch 3', 'cy', 2]]);
    expect(await jobImageIds(ds, second[0]!.id)).toEqual(doneIds.slice(4));

    // No image in two jobs; the images not done are still free for another split.
    const all = await ds.db.prepare('SELECT image_id FROM work_job_images ORDER BY image_id').pluck().all();
    expect(all).toEqual(doneIds);
    const rest = await createJobs(ds, jobArgs({ perJob: 10, assignees: ['dee'] }), 'max', T + 2);
    expect(rest.map((j) => [j.name, j.images])).toEqual([['Job 1', 6]]);
    expect(await jobImageIds(ds, rest[0]!.id)).toEqual(ids.filter((_, i) => i % 2 === 1));

    const empty = await failure(createJobs(ds, jobArgs({ filter: { status: 'rejected' }, perJob: 1, assignees: ['ann'] }), 'max', T));
    expect(empty.code).toBe('INVALID_ARGUMENT');
    expect(empty.message).toContain('no image matches the filter');
    expect(await ds.db.prepare('SELECT count(*) FROM work_jobs').pluck().get()).toBe(4);
  });

  it('gives no image to two jobs when two managers split at once', async () => {
    const { ds, ids, file } = await fresh(20);
    // PostgreSQL: another pooled handle, so the two transactions overlap. SQLite: the same handle
    // (its transactions queue); a second connection in this process would wait for the first in
    // SQLite's busy handler, which blocks the thread the first needs to finish.
    const other = ds.db.engine === 'postgres' ? await reopen(file) : ds;
    const [a, b] = await Promise.all([
      createJobs(ds, jobArgs({ perJob: 5, maxJobs: 2, assignees: ['ann'] }), 'max', T),
      createJobs(other, jobArgs({ perJob: 5, maxJobs: 2, assignees: ['ben'] }), 'mia', T),
    ]);
    const jobs = [...a!, ...b!];
    expect(jobs.map((j) => j.images)).toEqual([5, 5, 5, 5]);
    expect(new Set(jobs.map((j) => j.name))).toEqual(new Set(['Job 1', 'Job 2', 'Job 3', 'Job 4']));
    const images = (await Promise.all(jobs.map((j) => jobImageIds(ds, j.id)))).flat().sort((p, q) => p - q);
    expect(images).toEqual(ids);
  });

  it('lists the jobs of a user, counts progress, and deletes a job leaving its images free', async () => {
    const { ds, ids } = await fresh(6);
    const [j1, j2] = await createJobs(ds, jobArgs({ perJob: 3, assignees: ['ann', 'ben'], reviewer: 'rita' }), 'max', T);
    const [a, b, c] = await jobImageIds(ds, j1!.id);
    const [d] = await jobImageIds(ds, j2!.id);

    expect((await listJobs(ds, { user: 'ann' })).map((j) => j.id)).toEqual([j1!.id]);
    expect((await listJobs(ds, { user: 'rita' })).map((j) => j.id)).toEqual([j1!.id, j2!.id]);
    expect(await listJobs(ds, { user: 'nobody' })).toEqual([]);

    await markStatus(ds, [a!, b!], 'done', 'ann', T + 10);
    await markStatus(ds, [d!], 'done', 'ben', T + 20);
    await markReviewed(ds, a!, 'rita', T + 30);
    expect((await listJobs(ds)).map((j) => [j.images, j.done, j.reviewed])).toEqual([
      [3, 2, 1],
      [3, 1, 0],
    ]);
    // Back to in progress: no longer done. Reviewed leaves it done; done again keeps the first time.
    await markStatus(ds, [b!], 'in_progress', 'ann', T + 40);
    await markStatus(ds, [a!], 'reviewed', 'rita', T + 41);
    await markStatus(ds, [a!, c!], 'done', 'ann', T + 50);
    const rows = await ds.db.prepare('SELECT image_id AS id, done_by AS doneBy, done_at AS doneAt, reviewed_by AS reviewedBy FROM work_job_images WHERE job_id = ? ORDER BY image_id').all(j1!.id);
    expect(rows).toEqual([
      { id: a, doneBy: 'ann', doneAt: T + 10, reviewedBy: 'rita' },
      { id: b, doneBy: null, doneAt: null, reviewedBy: null },
      { id: c, doneBy: 'ann', doneAt: T + 50, reviewedBy: null },
    ]);
    expect(await getJob(ds, j1!.id)).toMatchObject({ images: 3, done: 2, reviewed: 1 });

    await deleteJob(ds, j1!.id);
    expect(await getJob(ds, j1!.id)).toBeNull();
    expect((await failure(deleteJob(ds, j1!.id))).code).toBe('NOT_FOUND');
    expect((await failure(jobImageIds(ds, j1!.id))).code).toBe('NOT_FOUND');
    expect(await ds.db.prepare('SELECT count(*) FROM work_job_images').pluck().get()).toBe(3);
    const again = await createJobs(ds, jobArgs({ perJob: 10, assignees: ['cy'] }), 'max', T);
    expect(await jobImageIds(ds, again[0]!.id)).toEqual([a, b, c]);
    expect(again[0]!.name).toBe('Job 3');
  });

  it('records the first start only, and only in the user\'s own jobs', async () => {
    const { ds } = await fresh(4);
    const [j1, j2] = await createJobs(ds, jobArgs({ perJob: 2, assignees: ['ann', 'ben'] }), 'max', T);
    const [a, b] = await jobImageIds(ds, j1!.id);
    const [c] = await jobImageIds(ds, j2!.id);
    await markStarted(ds, [a!, c!], 'ann', T + 5);
    await markStarted(ds, [a!, b!], 'ann', T + 9);
    await markStarted(ds, [], 'ann', T + 9);
    const started = await ds.db.prepare('SELECT image_id AS id, started_at AS s FROM work_job_images ORDER BY image_id').all();
    expect(started.slice(0, 3)).toEqual([
      { id: a, s: T + 5 },
      { id: b, s: T + 9 },
      { id: c, s: null },
    ]);
  });

  it('starts an image\'s clock when its assignee first takes its lease, not on renewal or by others', async () => {
    const { ds, ids } = await fresh(3);
    const [job] = await createJobs(ds, jobArgs({ perJob: 2, maxJobs: 1, assignees: ['ann'] }), 'max', T);
    const [a, b] = await jobImageIds(ds, job!.id);
    const startedAt = async (id: number) => await ds.db.prepare('SELECT started_at FROM work_job_images WHERE image_id = ?').pluck().get(id);
    expect(await jobOfImage(ds, a!)).toEqual(job);
    expect(await jobOfImage(ds, ids[2]!)).toBeNull();

    await takeLease(ds, b!, 'ben', 's-b', TTL, T + 1);
    expect(await startedAt(b!)).toBeNull();
    await releaseLease(ds, b!, 's-b');
    await takeLease(ds, a!, 'ann', 's-a', TTL, T + 2);
    await takeLease(ds, a!, 'ann', 's-a', TTL, T + 3);
    expect(await startedAt(a!)).toBe(T + 2);
    await releaseLease(ds, a!, 's-a');
    await takeLease(ds, a!, 'ann', 's-a2', TTL, T + 4);
    expect(await startedAt(a!)).toBe(T + 2);
    await takeLease(ds, b!, 'ann', 's-a', TTL, T + 5);
    expect(await startedAt(b!)).toBe(T + 5);
    await takeLease(ds, ids[2]!, 'ann', 's-a', TTL, T + 6);
    expect(await ds.db.prepare('SELECT count(*) FROM work_job_images WHERE image_id = ?').pluck().get(ids[2])).toBe(0);
  });
});

describe('throughput', () => {
  it('counts images done per user, in the last hour, per hour and the median time per image', async () => {
    const { ds } = await fresh(8);
    const [ja, jb, jc, jd] = await createJobs(ds, jobArgs({ perJob: 3, maxJobs: 4, assignees: ['alice', 'bob', 'carol', 'dave'] }), 'max', T);
    expect([ja, jb, jc, jd].map((j) => j?.images)).toEqual([3, 3, 2, undefined]);
    const [a1, a2, a3] = await jobImageIds(ds, ja!.id);
    const [b1, b2, b3] = await jobImageIds(ds, jb!.id);
    const [c1] = await jobImageIds(ds, jc!.id);
    const s = 1000;
    // Alice: started at 0, 100, 300 s; done at 60, 220, 330 s: 60, 120 and 30 s each.
    for (const [id, start, done] of [
      [a1, 0, 60],
      [a2, 100, 220],
      [a3, 300, 330],
    ] as const) {
      await markStarted(ds, [id!], 'alice', T + start * s);
      await markStatus(ds, [id!], 'done', 'alice', T + done * s);
    }
    // Bob: two done (40 s and 100 s), one started and not done; the first done 2 hours before the second.
    await markStarted(ds, [b1!], 'bob', T);
    await markStatus(ds, [b1!], 'done', 'bob', T + 40 * s);
    await markStarted(ds, [b2!], 'bob', T + 7200 * s);
    await markStatus(ds, [b2!], 'done', 'bob', T + 7300 * s);
    await markStarted(ds, [b3!], 'bob', T + 7400 * s);
    // Carol: nothing done. Alice also marks one of Carol's images done without opening it first.
    await markStatus(ds, [c1!], 'done', 'alice', T + 1000 * s);

    const now = T + 3000 * s;
    const users = await throughput(ds, now);
    expect(users.map((u) => u.user)).toEqual(['alice', 'bob', 'carol']);
    const [alice, bob, carol] = users;
    // Alice: 4 done, all within the hour before now; 4 images over 0..1000 s; median of 30, 60, 120 s.
    expect(alice).toMatchObject({ user: 'alice', done: 4, lastHour: 4, medianMsPerImage: 60_000 });
    expect(alice!.perHour).toBeCloseTo(4 / (1000 / 3600), 9);
    // Bob: 2 done, the second after `now` (not in its last hour), the first 2960 s before it; 2 images over 0..7300 s; median of 40 and 100 s.
    expect(bob).toMatchObject({ user: 'bob', done: 2, lastHour: 1, medianMsPerImage: 70_000 });
    expect(bob!.perHour).toBeCloseTo(2 / (7300 / 3600), 9);
    expect(carol).toEqual({ user: 'carol', done: 0, lastHour: 0, perHour: null, medianMsPerImage: null });

    // An hour later Alice's are out of the last hour; one image alone has no rate.
    expect((await throughput(ds, now + 3600 * s)).find((u) => u.user === 'alice')!.lastHour).toBe(0);
    await markStatus(ds, [a1!, a2!, a3!, c1!], 'in_progress', 'alice', now);
    await markStatus(ds, [a3!], 'done', 'alice', now + 10 * s);
    expect((await throughput(ds, now + 20 * s))[0]).toEqual({ user: 'alice', done: 1, lastHour: 1, perHour: null, medianMsPerImage: 2_710_000 });

    const board = await dashboard(ds, now);
    expect(board.jobs.map((j) => [j.assignee, j.done])).toEqual([
      ['alice', 1],
      ['bob', 2],
      ['carol', 0],
    ]);
    expect(board.users.map((u) => u.user)).toEqual(['alice', 'bob', 'carol']);
  });
});

describe('audit log', () => {
  it('keeps who did what to which image, newest first, by image, user or both', async () => {
    const { ds, ids } = await fresh(2);
    const [x, y] = ids;
    await recordAudit(ds, { user: 'ann', action: 'annotations:edit', imageId: x, detail: { ops: [{ op: 'create' }] } }, T + 1);
    await recordAudit(ds, { user: 'ben', action: 'annotations:edit', imageId: x, detail: 'moved' }, T + 2);
    await recordAudit(ds, { user: 'ann', action: 'images:setStatus', imageId: y, detail: { status: 'done' } }, T + 3);
    await recordAudit(ds, { user: 'max', action: 'team:createJobs', detail: { jobs: 2 } }, T + 4);
    await recordAudit(ds, { user: 'ann', action: 'lease:take', imageId: x }, T + 5);

    const all = await auditLog(ds, { limit: 100 });
    expect(all.map((e) => [e.at, e.user, e.action, e.imageId, e.detail])).toEqual([
      [T + 5, 'ann', 'lease:take', x, null],
      [T + 4, 'max', 'team:createJobs', null, '{"jobs":2}'],
      [T + 3, 'ann', 'images:setStatus', y, '{"status":"done"}'],
      [T + 2, 'ben', 'annotations:edit', x, '"moved"'],
      [T + 1, 'ann', 'annotations:edit', x, '{"ops":[{"op":"create"}]}'],
    ]);
    expect(all.map((e) => e.id)).toEqual([...all.map((e) => e.id)].sort((p, q) => q - p));
    expect((await auditLog(ds, { imageId: x, limit: 100 })).map((e) => e.at)).toEqual([T + 5, T + 2, T + 1]);
    expect((await auditLog(ds, { user: 'ann', limit: 100 })).map((e) => e.at)).toEqual([T + 5, T + 3, T + 1]);
    expect((await auditLog(ds, { user: 'ann', imageId: x, limit: 100 })).map((e) => e.at)).toEqual([T + 5, T + 1]);
    expect((await auditLog(ds, { user: 'ann', limit: 2 })).map((e) => e.at)).toEqual([T + 5, T + 3]);
    expect(await auditLog(ds, { user: 'nobody', limit: 10 })).toEqual([]);
  });

  it('cuts a long detail to the cap, marking the cut', async () => {
    const { ds, ids } = await fresh(1);
    const big = { ops: Array.from({ length: 400 }, (_, i) => ({ op: 'update', id: i, label: 'é"\\' })) };
    await recordAudit(ds, { user: 'ann', action: 'annotations:edit', imageId: ids[0], detail: big }, T);
    const [entry] = await auditLog(ds, { limit: 1 });
    const full = JSON.stringify(big);
    expect(Buffer.byteLength(full)).toBeGreaterThan(AUDIT_DETAIL_MAX_BYTES);
    // As much of the start as fits: within a character of the cap.
    expect(Buffer.byteLength(entry!.detail!)).toBeLessThanOrEqual(AUDIT_DETAIL_MAX_BYTES);
    expect(Buffer.byteLength(entry!.detail!)).toBeGreaterThan(AUDIT_DETAIL_MAX_BYTES - 4);
    const cut = JSON.parse(entry!.detail!) as { truncated: boolean; bytes: number; start: string };
    expect(cut.truncated).toBe(true);
    expect(cut.bytes).toBe(Buffer.byteLength(full));
    expect(cut.start.length).toBeGreaterThan(2000);
    expect(full.startsWith(cut.start)).toBe(true);
  });
});
