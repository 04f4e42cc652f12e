import { afterEach, describe, expect, it } from 'vitest';
import { insertAnnotations } from '../../src-main/db/annotations';
import { insertClass } from '../../src-main/db/classes';
import { humanShapes } from '../../src-main/db/health';
import { findByHashes, insertImages } from '../../src-main/db/images';
import { insertModelRun } from '../../src-main/db/modelRuns';
import { openDatabase, type Db } from '../../src-main/db/open';
import { openPostgres } from '../../src-main/db/postgres';
import { imageRows } from '../helpers/images';
import { freshPgDataset, pgSkipReason, type PgDataset } from '../helpers/postgres';

/** Image writes and lookups in chunks, on both engines; SQLite's connection shared between tasks. */

const engines = [
  {
    name: 'sqlite',
    skip: null as string | null,
    open: async (): Promise<{ db: Db; drop: () => Promise<void> }> => ({ db: openDatabase(':memory:', { create: true }), drop: async () => {} }),
  },
  {
    name: 'postgres',
    skip: pgSkipReason(),
    open: async (): Promise<{ db: Db; drop: () => Promise<void> }> => {
      const target: PgDataset = await freshPgDataset('calls');
      return { db: await openPostgres(target.url, { create: true }), drop: target.drop };
    },
  },
];

describe.each(engines)('image rows in chunks ($name)', ({ skip, open }) => {
  let opened: { db: Db; drop: () => Promise<void> } | undefined;
  afterEach(async () => {
    if (!opened) return;
    await opened.db.close();
    await opened.drop();
    opened = undefined;
  });

  it.skipIf(skip !== null)('inserts images across chunk boundaries and returns each one its own id, in order', async () => {
    opened = await open();
    const { db } = opened;
    for (const n of [1, 63, 64, 65, 200]) {
      const rows = imageRows(n, { from: 1000 * n, pathOf: (i) => `n${n}/${i}.png` });
      const ids = await insertImages(db, rows, 42);
      expect(new Set(ids).size).toBe(n);
      const stored = (await db.prepare('SELECT id, path, content_hash, created_at FROM images WHERE path LIKE ?').raw().all(`n${n}/%`)) as [number, string, string, number][];
      const byPath = new Map(stored.map(([id, p, h, at]) => [p, { id, h, at }]));
      rows.forEach((r, k) => expect(byPath.get(r.path)).toEqual({ id: ids[k], h: r.contentHash, at: 42 }));
    }
    expect(await insertImages(db, [])).toEqual([]);
  });

  it.skipIf(skip !== null)('reads every human shape once, in id order, across pages, with other statements between pages', async () => {
    opened = await open();
    const { db } = opened;
    const [img] = await insertImages(db, imageRows(1, { from: 5 }));
    const cls = await insertClass(db, { name: 'cell', color: '#112233' });
    const box = (x: number) => ({ imageId: img!, classId: cls.id, geometry: { kind: 'box' as const, x, y: 1, w: 2, h: 2 }, source: 'human' as const });
    const run = await insertModelRun(db, { model: 'm' });
    const ids = await insertAnnotations(db, [box(0), box(1), { ...box(2), source: 'model' as const, modelRunId: run, score: 0.5 }, box(3), box(4), box(5), box(6)]);
    const seen: number[] = [];
    for await (const row of humanShapes(db, 2)) {
      seen.push(row.id);
      // Another statement while the pages are read: allowed on both engines.
      expect(await db.prepare('SELECT count(*) FROM annotations').pluck().get()).toBe(7);
    }
    expect(seen).toEqual(ids.filter((_, k) => k !== 2));
  });

  it.skipIf(skip !== null)('a task a transaction started and left running works outside it once it is over', async () => {
    opened = await open();
    const { db } = opened;
    await db.exec('CREATE TABLE straggler_marks (n INTEGER NOT NULL)');
    let straggler: Promise<unknown> | undefined;
    await db.transaction(async () => {
      await db.prepare('INSERT INTO straggler_marks (n) VALUES (1)').run();
      // Not awaited: it runs after this transaction has committed.
      straggler = new Promise((resolve) => setTimeout(resolve, 50)).then(() => db.prepare('INSERT INTO straggler_marks (n) VALUES (2)').run());
    })();
    // Another transaction, open while the straggler writes, is rolled back: the straggler's row
    // must not be part of it.
    await expect(
      db.transaction(async () => {
        await db.prepare('INSERT INTO straggler_marks (n) VALUES (3)').run();
        await new Promise((resolve) => setTimeout(resolve, 200));
        throw new Error('rolled back');
      })(),
    ).rejects.toThrow('rolled back');
    await straggler;
    expect(await db.prepare('SELECT n FROM straggler_marks ORDER BY n').pluck().all()).toEqual([1, 2]);
  });

  it.skipIf(skip !== null)('writes none of the images when one of them is refused', async () => {
    opened = await open();
    const { db } = opened;
    await insertImages(db, imageRows(1, { from: 7 }));
    // Row 100 of 130 repeats a stored content hash: the whole call is undone.
    const rows = imageRows(130, { from: 10_000 });
    rows[100] = { ...rows[100]!, contentHash: 'h7' };
    await expect(insertImages(db, rows)).rejects.toThrow(/UNIQUE|unique/);
    expect(await db.prepare('SELECT count(*) FROM images').pluck().get()).toBe(1);
  });

  it.skipIf(skip !== null)('finds stored images by content hash in chunks; unknown and repeated hashes are fine', async () => {
    opened = await open();
    const { db } = opened;
    await insertImages(db, imageRows(1200));
    const asked = [...Array.from({ length: 1300 }, (_, i) => `h${i}`), 'h5', 'h5', 'nope'];
    const found = await findByHashes(db, asked);
    expect(found.size).toBe(1200);
    expect(found.get('h0')).toBe('img/0.png');
    expect(found.get('h1199')).toBe('img/1199.png');
    expect(found.get('h5')).toBe('img/5.png');
    expect(found.has('h1200')).toBe(false);
    expect(found.has('nope')).toBe(false);
    expect((await findByHashes(db, [])).size).toBe(0);
  });
});

describe('one SQLite connection shared by several tasks', () => {
  let db: Db | undefined;
  afterEach(async () => {
    await db?.close();
    db = undefined;
  });

  it("makes a call from another task wait for a transaction and see its commit, while the transaction's own calls run at once", async () => {
    db = openDatabase(':memory:', { create: true });
    const d = db;
    const count = d.prepare('SELECT count(*) FROM images').pluck();
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const order: string[] = [];
    const tx = d.transaction(async () => {
      await insertImages(d, imageRows(3));
      order.push(`inside sees ${String(await count.get())}`);
      await held;
      await insertImages(d, imageRows(2, { from: 3 }));
      order.push('commit');
    })();
    await new Promise((r) => setTimeout(r, 20));
    const outside = count.get().then((n) => order.push(`outside sees ${String(n)}`));
    await new Promise((r) => setTimeout(r, 20));
    expect(order).toEqual(['inside sees 3']);
    release();
    await Promise.all([tx, outside]);
    expect(order).toEqual(['inside sees 3', 'commit', 'outside sees 5']);
  });

  it('gives each statement the row shape it asked for when several share one compiled statement', async () => {
    db = openDatabase(':memory:', { create: true });
    await insertImages(db, imageRows(2));
    const sql = 'SELECT id, path FROM images ORDER BY id';
    const rows = db.prepare(sql);
    const plucked = db.prepare(sql).pluck();
    const raw = db.prepare(sql).raw();
    for (let k = 0; k < 2; k++) {
      expect(await plucked.all()).toEqual([1, 2]);
      expect(await rows.get()).toEqual({ id: 1, path: 'img/0.png' });
      expect(await raw.all()).toEqual([[1, 'img/0.png'], [2, 'img/1.png']]);
      expect(await plucked.get()).toBe(1);
      expect(await rows.all()).toEqual([{ id: 1, path: 'img/0.png' }, { id: 2, path: 'img/1.png' }]);
      const it: unknown[] = [];
      for await (const r of raw.iterate()) it.push(r);
      expect(it).toEqual([[1, 'img/0.png'], [2, 'img/1.png']]);
    }
    // The shape set last stays with the statement object: switching it back works too.
    plucked.pluck(false);
    expect(await plucked.get()).toEqual({ id: 1, path: 'img/0.png' });
    raw.raw(false).pluck();
    expect(await raw.get()).toBe(1);
  });
});
