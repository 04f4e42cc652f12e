/**
 * Run as a child process (`node --import tsx`): one of two processes editing one dataset at once
 * (an edit, or an undo).
 * argv[2] is a JSON `EditorTask`. The two meet through files in `task.dir`, so that their edits
 * overlap every time:
 *
 * - the holder opens the dataset, waits until the other process has opened it too, then makes its
 *   edit inside an outer transaction it keeps open (the edit is done, not yet committed), writes
 *   `holding`, and commits only once the other process is seen waiting for it (PostgreSQL: a
 *   backend blocked by the holder's; SQLite: `starting` written and half a second gone, as the
 *   other then waits in SQLite's busy handler) or has already finished;
 * - the other waits for `holding`, writes `starting` and makes its edit while the holder's is open.
 *
 * Each writes `<role>.json`: what its edit returned, or the error's code and message, with times.
 * The user is TESSERA_USER of the child's environment (the dataset's default user).
 */
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import type { EditOp } from '../../src-main/common/editing';
import { toErrorData } from '../../src-main/common/errors';
import { parsePgUrl } from '../../src-main/db/postgres';
import { editAnnotations, undoEdit } from '../../src-main/services/annotations';
import { Dataset } from '../../src-main/services/dataset';
import { saveSegment } from '../../src-main/services/segment';

export interface EditorTask {
  role: 'holder' | 'other';
  dataset: string;
  dir: string;
  imageId: number;
  /**
   * An edit (the default), an undo of this user's last edit of the image, or a segmented shape
   * stored as a box of class "cell" (saveSegment, which edits inside a transaction of its own).
   */
  action?: 'edit' | 'undo' | 'segment';
  label: string;
  ops: EditOp[];
}

export interface EditorResult {
  ok: boolean;
  journalId?: number;
  code?: string;
  /** The underlying error's own code where it is not an AppError (SQLITE_BUSY, say). */
  cause?: string;
  message?: string;
  user: string;
  /** When the edit was started and when it returned (ms since the epoch). */
  startedAt: number;
  finishedAt: number;
  /** Holder: when it let its transaction commit (just before COMMIT), when the commit returned, and whether the other was seen waiting for it. */
  releasedAt?: number;
  committedAt?: number;
  sawWaiter?: boolean;
}

const task = JSON.parse(process.argv[2]!) as EditorTask;
const mark = (name: string): void => fs.writeFileSync(path.join(task.dir, name), String(Date.now()));
const has = (name: string): boolean => fs.existsSync(path.join(task.dir, name));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(cond: () => boolean | Promise<boolean>, what: string, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`${task.role}: gave up waiting for ${what}`);
    await sleep(20);
  }
}

/** Whether a PostgreSQL backend waits on a lock that `pid` holds. */
async function blockedBy(url: string, pid: number): Promise<boolean> {
  const c = new pg.Client({ connectionString: parsePgUrl(url).connection });
  await c.connect();
  try {
    const r = await c.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))', [pid]);
    return (r.rows[0] as { n: number }).n > 0;
  } finally {
    await c.end();
  }
}

/** The task's edit or undo; the journal entry it wrote or reverted. */
async function act(ds: Dataset): Promise<number> {
  if (task.action === 'segment') {
    return (await saveSegment(ds, { imageId: task.imageId, frame: 0, className: 'cell', geometry: { kind: 'box', x: 40, y: 30, w: 5, h: 5 } })).journalId;
  }
  if (task.action === 'undo') {
    const r = await undoEdit(ds, task.imageId);
    if (!r) throw new Error(`${task.role}: nothing to undo`);
    return r.journalId;
  }
  return (await editAnnotations(ds, { imageId: task.imageId, label: task.label, ops: task.ops })).journalId;
}

async function main(): Promise<void> {
  const ds = await Dataset.open(task.dataset);
  const out: EditorResult = { ok: false, user: ds.user, startedAt: 0, finishedAt: 0 };
  try {
    if (task.role === 'holder') {
      await waitFor(() => has('other.opened'), 'the other process to open the dataset');
      await ds.db
        .transaction(async () => {
          out.startedAt = Date.now();
          out.journalId = await act(ds);
          out.finishedAt = Date.now();
          out.ok = true;
          const pid = ds.db.engine === 'postgres' ? ((await ds.db.prepare('SELECT pg_backend_pid()').pluck().get()) as number) : 0;
          mark('holding');
          let since = 0;
          await waitFor(
            async () => {
              if (has('other.json')) return true;
              if (ds.db.engine === 'postgres') {
                out.sawWaiter = await blockedBy(task.dataset, pid);
                return out.sawWaiter;
              }
              if (!has('starting')) return false;
              since ||= Date.now();
              out.sawWaiter = Date.now() - since >= 500;
              return out.sawWaiter;
            },
            'the other process to wait for this edit',
            // Less than SQLite's busy timeout (5 s), so a waiting writer is let in before it gives up.
            4_000,
          ).catch(() => {
            out.sawWaiter = false;
          });
          out.releasedAt = Date.now();
        })
        .immediate();
      out.committedAt = Date.now();
    } else {
      mark('other.opened');
      await waitFor(() => has('holding'), 'the holder to hold its edit open');
      mark('starting');
      out.startedAt = Date.now();
      try {
        out.journalId = await act(ds);
        out.ok = true;
      } finally {
        out.finishedAt = Date.now();
      }
    }
  } catch (e) {
    const d = toErrorData(e);
    out.ok = false;
    out.code = d.code;
    out.message = d.message;
    const own = (e as { code?: unknown }).code;
    if (typeof own === 'string' && own !== d.code) out.cause = own;
    out.finishedAt ||= Date.now();
  } finally {
    await ds.close();
  }
  fs.writeFileSync(path.join(task.dir, `${task.role}.json`), JSON.stringify(out));
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
