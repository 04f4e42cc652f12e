import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { EditOp } from '../../src-main/common/editing';
import type { Geometry } from '../../src-main/common/model';
import { insertClass } from '../../src-main/db/classes';
import { insertImages } from '../../src-main/db/images';
import { editAnnotations, historyState, listImageAnnotations, undoEdit, redoEdit } from '../../src-main/services/annotations';
import { Dataset } from '../../src-main/services/dataset';
import type { EditorResult, EditorTask } from '../helpers/concurrentEdit';
import { freshPgDataset, pgSkipReason, type PgDataset } from '../helpers/postgres';
import { tempDir } from '../helpers/shared';

/**
 * Several processes editing one dataset at once, on both engines: a SQLite file two processes
 * open, and a PostgreSQL schema. The unit project runs both engines here by name, so the unit-pg
 * project (which maps dataset paths to PostgreSQL) does not run this file a second time.
 */
const mapped = Boolean(process.env['TESSERA_STORE']);
const pgSkip = mapped ? null : pgSkipReason();
const SCRIPT = path.resolve('test/helpers/concurrentEdit.ts');

const schemas: PgDataset[] = [];
afterAll(async () => {
  for (const s of schemas) await s.drop();
});

interface EngineCase {
  name: string;
  skip: string | null;
  /** A new place for a dataset: a .tessera path or a postgres:// URL. */
  location(): Promise<string>;
}

const ENGINES: EngineCase[] = [
  { name: 'SQLite file', skip: null, location: async () => path.join(tempDir('tessera-conc-'), 'shared.tessera') },
  {
    name: 'PostgreSQL',
    skip: pgSkip,
    location: async () => {
      const s = await freshPgDataset('conc');
      schemas.push(s);
      return s.url;
    },
  },
];

const box = (x: number): Geometry => ({ kind: 'box', x, y: 2, w: 10, h: 8 });

interface Fixture {
  location: string;
  imageId: number;
  /** Two annotations of the image, both at version 1. */
  a: number;
  b: number;
}

/** A dataset with one 64 x 48 image holding two boxes, made by user "setup". */
async function fixture(engine: EngineCase): Promise<Fixture> {
  const location = await engine.location();
  const ds = await Dataset.create(location, tempDir('tessera-conc-root-'));
  try {
    ds.user = 'setup';
    const [imageId] = await insertImages(ds.db, [
      { path: 'a.png', external: false, contentHash: 'h', fileSize: 1, fileMtimeMs: 0, width: 64, height: 48, channels: 3, bitDepth: 8, format: 'png', frames: 1, orientation: 1 },
    ]);
    const cls = await insertClass(ds.db, { name: 'cell', color: '#ff0000' });
    const made = await editAnnotations(ds, {
      imageId: imageId!,
      label: 'setup',
      ops: [
        { op: 'create', draft: { classId: cls.id, geometry: box(1) } },
        { op: 'create', draft: { classId: cls.id, geometry: box(20) } },
      ],
    });
    return { location, imageId: imageId!, a: made.created[0]!, b: made.created[1]! };
  } finally {
    await ds.close();
  }
}

function runEditor(task: EditorTask, user: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', SCRIPT, JSON.stringify(task)], {
      env: { ...process.env, TESSERA_USER: user },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('error', reject);
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${task.role} (${user}) exited with ${code}: ${output}`))));
  });
}

/** What one process does: an edit labelled "<user> edits", or an undo. */
interface Move {
  user: string;
  action?: 'edit' | 'undo' | 'segment';
  ops?: EditOp[];
}

/** The holder's process keeps its edit (or undo) open while the other's makes its own; both results come back. */
async function overlap(f: Fixture, holder: Move, other: Move): Promise<{ holder: EditorResult; other: EditorResult }> {
  const dir = tempDir('tessera-conc-barrier-');
  const task = (role: 'holder' | 'other', m: Move): EditorTask => ({
    role,
    dataset: f.location,
    dir,
    imageId: f.imageId,
    action: m.action ?? 'edit',
    label: `${m.user} edits`,
    ops: m.ops ?? [],
  });
  await Promise.all([runEditor(task('holder', holder), holder.user), runEditor(task('other', other), other.user)]);
  const read = (role: string) => JSON.parse(fs.readFileSync(path.join(dir, `${role}.json`), 'utf8')) as EditorResult;
  return { holder: read('holder'), other: read('other') };
}

async function stored(location: string) {
  const ds = await Dataset.open(location);
  try {
    const annotations = await ds.db.prepare('SELECT id, geometry, version FROM annotations ORDER BY id').all() as { id: number; geometry: string; version: number }[];
    const journal = await ds.db.prepare("SELECT user_name, label, forward FROM edit_journal WHERE user_name <> 'setup' ORDER BY id").all() as {
      user_name: string;
      label: string;
      forward: string;
    }[];
    return {
      byId: new Map(annotations.map((a) => [a.id, { geometry: JSON.parse(a.geometry) as Geometry, version: a.version }])),
      journal: journal.map((j) => ({ user: j.user_name, label: j.label, forward: JSON.parse(j.forward) as { id: number; value: { geometry: Geometry } | null }[] })),
    };
  } finally {
    await ds.close();
  }
}

describe.skipIf(mapped)('two processes editing one image at once', () => {
  for (const engine of ENGINES) {
    describe.skipIf(engine.skip !== null)(engine.name, () => {
      it('both succeed when they edit different annotations', async () => {
        const f = await fixture(engine);
        const { holder: alice, other: bob } = await overlap(
          f,
          { user: 'alice', ops: [{ op: 'update', id: f.a, baseVersion: 1, patch: { geometry: box(3) } }] },
          { user: 'bob', ops: [{ op: 'update', id: f.b, baseVersion: 1, patch: { geometry: box(30) } }] },
        );
        const r = { alice, bob };

        expect(r.alice, JSON.stringify(r.alice)).toMatchObject({ ok: true, user: 'alice' });
        expect(r.bob, JSON.stringify(r.bob)).toMatchObject({ ok: true, user: 'bob' });
        // They overlapped: Bob started before Alice's transaction committed.
        expect(r.bob.startedAt).toBeLessThan(r.alice.releasedAt!);

        const s = await stored(f.location);
        expect(s.byId.get(f.a)).toEqual({ geometry: box(3), version: 2 });
        expect(s.byId.get(f.b)).toEqual({ geometry: box(30), version: 2 });
        expect(s.journal.map((j) => [j.user, j.label]).sort()).toEqual([
          ['alice', 'alice edits'],
          ['bob', 'bob edits'],
        ]);
      }, 120_000);

      it('gives the second writer of one annotation STALE_EDIT, and keeps the first edit and its journal entry', async () => {
        const f = await fixture(engine);
        const { holder: alice, other: bob } = await overlap(
          f,
          { user: 'alice', ops: [{ op: 'update', id: f.a, baseVersion: 1, patch: { geometry: box(3) } }] },
          { user: 'bob', ops: [{ op: 'update', id: f.a, baseVersion: 1, patch: { geometry: box(40) } }] },
        );
        const r = { alice, bob };

        expect(r.alice, JSON.stringify(r.alice)).toMatchObject({ ok: true, user: 'alice', sawWaiter: true });
        expect(r.bob.startedAt).toBeLessThan(r.alice.releasedAt!);
        // Bob waited for Alice's edit, then saw its version: a conflict, not a busy database.
        expect(r.bob, JSON.stringify(r.bob)).toMatchObject({ ok: false, code: 'STALE_EDIT' });
        expect(r.bob.message).toContain(`annotation ${f.a} is at version 2, the edit was made on 1`);
        expect(r.bob.finishedAt).toBeGreaterThanOrEqual(r.alice.releasedAt!);

        const s = await stored(f.location);
        expect(s.byId.get(f.a)).toEqual({ geometry: box(3), version: 2 });
        expect(s.byId.get(f.b)).toEqual({ geometry: box(20), version: 1 });
        expect(s.journal).toHaveLength(1);
        expect(s.journal[0]).toMatchObject({ user: 'alice', label: 'alice edits' });
        expect(s.journal[0]!.forward).toEqual([{ id: f.a, value: expect.objectContaining({ geometry: box(3), version: 2 }) }]);
      }, 120_000);

      it('stores a segmented shape made while another process edits the image (it waits its turn)', async () => {
        const f = await fixture(engine);
        const r = await overlap(f, { user: 'alice', ops: [{ op: 'update', id: f.a, baseVersion: 1, patch: { geometry: box(3) } }] }, { user: 'bob', action: 'segment' });

        expect(r.holder, JSON.stringify(r.holder)).toMatchObject({ ok: true, user: 'alice' });
        expect(r.other.startedAt).toBeLessThan(r.holder.releasedAt!);
        expect(r.other, JSON.stringify(r.other)).toMatchObject({ ok: true, user: 'bob' });
        const s = await stored(f.location);
        expect(s.byId.get(f.a)).toEqual({ geometry: box(3), version: 2 });
        expect([...s.byId.values()].map((a) => a.geometry)).toContainEqual({ kind: 'box', x: 40, y: 30, w: 5, h: 5 });
        expect(s.journal.map((j) => [j.user, j.label]).sort()).toEqual([
          ['alice', 'alice edits'],
          ['bob', 'Segment (mask)'],
        ]);
      }, 120_000);

      it("refuses an undo racing another user's edit of its annotation, and keeps the edit", async () => {
        const f = await fixture(engine);
        const alice = await Dataset.open(f.location);
        alice.user = 'alice';
        try {
          await editAnnotations(alice, { imageId: f.imageId, label: 'alice edits', ops: [{ op: 'update', id: f.a, patch: { geometry: box(3) } }] });
        } finally {
          await alice.close();
        }
        // Bob moves the shape Alice just moved while she undoes her move.
        const r = await overlap(f, { user: 'bob', ops: [{ op: 'update', id: f.a, baseVersion: 2, patch: { geometry: box(40) } }] }, { user: 'alice', action: 'undo' });

        expect(r.holder, JSON.stringify(r.holder)).toMatchObject({ ok: true, user: 'bob', sawWaiter: true });
        expect(r.other.startedAt).toBeLessThan(r.holder.releasedAt!);
        expect(r.other, JSON.stringify(r.other)).toMatchObject({ ok: false, code: 'STALE_EDIT', user: 'alice' });
        expect(r.other.message).toContain(`annotation ${f.a} was changed since`);

        const s = await stored(f.location);
        expect(s.byId.get(f.a)).toEqual({ geometry: box(40), version: 3 });
        // Alice's history of the image was dropped; Bob's edit is journalled.
        expect(s.journal.map((j) => [j.user, j.label])).toEqual([['bob', 'bob edits']]);
      }, 120_000);
    });
  }
});

describe.skipIf(mapped)('the edit history is per user', () => {
  for (const engine of ENGINES) {
    describe.skipIf(engine.skip !== null)(engine.name, () => {
      /** The same dataset opened twice, as Alice and as Bob. */
      async function both(f: Fixture): Promise<{ alice: Dataset; bob: Dataset; close(): Promise<void> }> {
        const alice = await Dataset.open(f.location);
        alice.user = 'alice';
        const bob = await Dataset.open(f.location);
        bob.user = 'bob';
        return { alice, bob, close: async () => void (await Promise.all([alice.close(), bob.close()])) };
      }
      const geometryOf = async (ds: Dataset, imageId: number, id: number) => (await listImageAnnotations(ds, imageId)).find((a) => a.id === id)?.geometry;

      it("undoes and redoes only the calling user's edits", async () => {
        const f = await fixture(engine);
        const { alice, bob, close } = await both(f);
        try {
          await editAnnotations(alice, { imageId: f.imageId, label: 'alice moves a', ops: [{ op: 'update', id: f.a, patch: { geometry: box(3) } }] });
          await editAnnotations(bob, { imageId: f.imageId, label: 'bob moves b', ops: [{ op: 'update', id: f.b, patch: { geometry: box(30) } }] });

          expect(await historyState(alice, f.imageId)).toMatchObject({ canUndo: true, undoLabel: 'alice moves a' });
          expect(await historyState(bob, f.imageId)).toMatchObject({ canUndo: true, undoLabel: 'bob moves b' });

          // Bob's edit is the newer one, yet Alice's undo reverts hers and leaves his.
          expect((await undoEdit(alice, f.imageId))!.label).toBe('alice moves a');
          expect(await geometryOf(alice, f.imageId, f.a)).toEqual(box(1));
          expect(await geometryOf(alice, f.imageId, f.b)).toEqual(box(30));
          expect(await historyState(alice, f.imageId)).toMatchObject({ canUndo: false, canRedo: true, redoLabel: 'alice moves a' });
          expect(await historyState(bob, f.imageId)).toMatchObject({ canUndo: true, canRedo: false, undoLabel: 'bob moves b' });

          // A new edit by Bob ends his redo branch, not Alice's.
          await editAnnotations(bob, { imageId: f.imageId, label: 'bob moves b again', ops: [{ op: 'update', id: f.b, patch: { geometry: box(32) } }] });
          expect((await redoEdit(alice, f.imageId))!.label).toBe('alice moves a');
          expect(await geometryOf(bob, f.imageId, f.a)).toEqual(box(3));

          expect((await undoEdit(bob, f.imageId))!.label).toBe('bob moves b again');
          expect((await undoEdit(bob, f.imageId))!.label).toBe('bob moves b');
          expect(await geometryOf(bob, f.imageId, f.b)).toEqual(box(20));
          expect(await geometryOf(bob, f.imageId, f.a)).toEqual(box(3));
          // Bob's own history is used up; the "setup" user's entry is not his to undo.
          expect(await undoEdit(bob, f.imageId)).toBeNull();
        } finally {
          await close();
        }
      }, 60_000);

      it("refuses an undo that would overwrite another user's later edit of the same annotation", async () => {
        const f = await fixture(engine);
        const { alice, bob, close } = await both(f);
        try {
          await editAnnotations(alice, { imageId: f.imageId, label: 'alice moves a', ops: [{ op: 'update', id: f.a, patch: { geometry: box(3) } }] });
          await editAnnotations(bob, { imageId: f.imageId, label: 'bob moves a', ops: [{ op: 'update', id: f.a, baseVersion: 2, patch: { geometry: box(5) } }] });

          await expect(undoEdit(alice, f.imageId)).rejects.toMatchObject({ code: 'STALE_EDIT' });
          expect(await geometryOf(alice, f.imageId, f.a)).toEqual(box(5));
          // Alice's history of the image is gone; Bob's is whole and still undoes.
          expect(await historyState(alice, f.imageId)).toMatchObject({ canUndo: false, canRedo: false });
          expect((await undoEdit(bob, f.imageId))!.label).toBe('bob moves a');
          expect(await geometryOf(bob, f.imageId, f.a)).toEqual(box(3));
        } finally {
          await close();
        }
      }, 60_000);

      it('lets any user undo history written before users were recorded', async () => {
        const f = await fixture(engine);
        const { alice, bob, close } = await both(f);
        try {
          await editAnnotations(alice, { imageId: f.imageId, label: 'old edit', ops: [{ op: 'update', id: f.a, patch: { geometry: box(3) } }] });
          await alice.db.prepare('UPDATE edit_journal SET user_name = NULL').run();
          expect(await historyState(bob, f.imageId)).toMatchObject({ canUndo: true, undoLabel: 'old edit' });
          expect((await undoEdit(bob, f.imageId))!.label).toBe('old edit');
          expect(await geometryOf(bob, f.imageId, f.a)).toEqual(box(1));
          expect((await redoEdit(alice, f.imageId))!.label).toBe('old edit');
          expect(await geometryOf(alice, f.imageId, f.a)).toEqual(box(3));
        } finally {
          await close();
        }
      }, 60_000);
    });
  }
});
