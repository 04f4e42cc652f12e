import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/shared';
import { MIGRATIONS, SCHEMA_VERSION } from '../../src-main/db/migrations';
import { openDatabase, type Db } from '../../src-main/db/open';
import { insertAnnotations, listAnnotations } from '../../src-main/db/annotations';
import { getClass, listClasses } from '../../src-main/db/classes';
import { insertImages } from '../../src-main/db/images';
import { appendEdit, peekUndo } from '../../src-main/db/journal';
import { insertModelRun } from '../../src-main/db/modelRuns';

async function schemaOf(db: Db): Promise<string[]> {
  return (
    await db.prepare("SELECT type || ' ' || name || ' ' || coalesce(sql, '') FROM sqlite_schema ORDER BY type, name").pluck().all() as string[]
  ).map((s) => s.replace(/\s+/g, ' '));
}

describe('migrations', () => {
  it('are numbered strictly increasing from 1 and end at SCHEMA_VERSION', () => {
    MIGRATIONS.forEach((m, i) => expect(m.version).toBe(i + 1));
    expect(SCHEMA_VERSION).toBe(MIGRATIONS.length);
  });

  it.each(MIGRATIONS.map((m) => [m.version, m.name] as const))(
    'migration %i (%s) applied to version N-1 gives the same schema as a fresh database',
    async (version) => {
      const older = openDatabase(':memory:', { create: true, migrations: MIGRATIONS.filter((m) => m.version < version) });
      const previous = MIGRATIONS.filter((m) => m.version < version).at(-1)?.version ?? 0;
      expect(older.sqlite!.pragma('user_version', { simple: true })).toBe(previous);
      // Migrate the same connection's schema forward by running the remaining steps.
      for (const m of MIGRATIONS.filter((x) => x.version >= version)) {
        await older.exec(m.up);
        older.sqlite!.pragma(`user_version = ${m.version}`);
      }
      const fresh = openDatabase(':memory:', { create: true });
      expect(await schemaOf(older)).toEqual(await schemaOf(fresh));
      await older.close();
      await fresh.close();
    },
  );

  it('a failing migration leaves the database at its previous version', async () => {
    const file = path.join(tempDir(), 'm.tessera');
    await openDatabase(file, { create: true }).close();
    const broken = [...MIGRATIONS, { version: SCHEMA_VERSION + 1, name: 'broken', up: 'CREATE TABLE zz (a); INSERT INTO no_such_table VALUES (1);' }];
    expect(() => openDatabase(file, { migrations: broken })).toThrow(/no_such_table/);
    const db = openDatabase(file);
    expect(db.sqlite!.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    expect(await db.prepare("SELECT count(*) FROM sqlite_schema WHERE name = 'zz'").pluck().get()).toBe(0);
    await db.close();
  });

  it('a version-1 dataset with data migrates to version 2 keeping every row, ids included', async () => {
    const file = path.join(tempDir(), 'v1.tessera');
    const v1 = openDatabase(file, { create: true, migrations: MIGRATIONS.filter((m) => m.version === 1) });
    const img = (p: string) => ({ path: p, external: false, contentHash: p, fileSize: 10, fileMtimeMs: 5, width: 30, height: 20, channels: 3, bitDepth: 8, format: 'png', frames: 1, orientation: 1 });
    const [a, b] = await insertImages(v1, [img('a.png'), img('b.png')]);
    await v1.prepare("UPDATE images SET status = 'done', split = 'val' WHERE id = ?").run(b);
    // Version 1 has no attributes column, so classes are written as version 1 wrote them.
    await v1.prepare("INSERT INTO classes (name, color, hotkey, sort_order, created_at) VALUES ('cell', '#ff0000', '1', 0, 7), ('nucleus', '#00ff00', NULL, 1, 8)").run();
    const [cell, nucleus] = await v1.prepare('SELECT id FROM classes ORDER BY id').pluck().all() as number[];
    const run = await insertModelRun(v1, { model: 'm', provider: 'cpu' });
    await insertAnnotations(v1, [
      { imageId: a!, classId: cell!, geometry: { kind: 'box', x: 1, y: 2, w: 3, h: 4 }, source: 'human', attributes: { occluded: true }, z: 2 },
      { imageId: a!, classId: nucleus!, geometry: { kind: 'polygon', parts: [[0, 0, 5, 0, 5, 5]] }, source: 'model', modelRunId: run, score: 0.75 },
      { imageId: b!, classId: null, geometry: { kind: 'mask', rle: { size: [20, 30], counts: [10, 5, 585] } }, source: 'human' },
      { imageId: b!, classId: cell!, geometry: { kind: 'tag' }, source: 'human' },
    ]);
    // A gap in the ids (a deleted annotation) must survive the table rebuild.
    await v1.prepare('DELETE FROM annotations WHERE id = (SELECT min(id) + 2 FROM annotations)').run();
    await appendEdit(v1, { imageId: a!, label: 'old edit', forward: { x: 1 }, backward: { x: 0 } });
    const dump = async (db: Db, table: string) => await db.prepare(`SELECT * FROM ${table} ORDER BY 1`).all();
    const before: Record<string, unknown[]> = {};
    for (const t of ['images', 'annotations', 'model_runs', 'edit_journal', 'meta']) before[t] = await dump(v1, t);
    const classesBefore = await dump(v1, 'classes');
    const annotationsBefore = (await listAnnotations(v1, a!)).concat(await listAnnotations(v1, b!));
    await v1.close();

    const db = openDatabase(file);
    expect(db.sqlite!.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    // Columns later migrations add to these tables are empty on the rows written before them.
    const added: Record<string, object> = { edit_journal: { user_name: null } };
    for (const [table, rows] of Object.entries(before)) expect(await dump(db, table)).toEqual(rows.map((r) => ({ ...(r as object), ...added[table] })));
    expect(await dump(db, 'classes')).toEqual(classesBefore.map((c) => ({ ...(c as object), attributes: '[]', keypoints: null })));
    expect((await listAnnotations(db, a!)).concat(await listAnnotations(db, b!))).toEqual(annotationsBefore);
    expect(annotationsBefore).toHaveLength(3);
    expect((await listClasses(db)).map((c) => [c.name, c.order, c.attributes])).toEqual([
      ['cell', 0, []],
      ['nucleus', 1, []],
    ]);
    expect(await getClass(db, cell!)).toEqual({ id: cell, name: 'cell', color: '#ff0000', hotkey: '1', order: 0, attributes: [], keypoints: null });
    expect(await peekUndo(db, a!)).toMatchObject({ label: 'old edit', forward: { x: 1 } });
    expect(db.sqlite!.pragma('foreign_key_check')).toEqual([]);

    // From now on an id freed at the top is never handed out again.
    const top = await db.prepare('SELECT max(id) FROM annotations').pluck().get() as number;
    await db.prepare('DELETE FROM annotations WHERE id = ?').run(top);
    const [next] = await insertAnnotations(db, [{ imageId: a!, classId: null, geometry: { kind: 'point', x: 1, y: 1 }, source: 'human' }]);
    expect(next).toBe(top + 1);
    await db.close();
  });

  it('the shape-kinds rebuild (9) keeps ids and the counter, so an id freed at the top before it is not reused', async () => {
    const file = path.join(tempDir(), 'v8.tessera');
    const v8 = openDatabase(file, { create: true, migrations: MIGRATIONS.filter((m) => m.version <= 8) });
    const [a] = await insertImages(v8, [{ path: 'a.png', external: false, contentHash: 'a', fileSize: 1, fileMtimeMs: 1, width: 10, height: 10, channels: 3, bitDepth: 8, format: 'png', frames: 1, orientation: 1 }]);
    const ids = await insertAnnotations(v8, [1, 2, 3].map((x) => ({ imageId: a!, classId: null, geometry: { kind: 'point' as const, x, y: x }, source: 'human' as const })));
    await v8.prepare('DELETE FROM annotations WHERE id = ?').run(ids[2]);
    const rows = await v8.prepare('SELECT * FROM annotations ORDER BY id').all();
    await v8.close();

    const db = openDatabase(file);
    expect(db.sqlite!.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    expect(await db.prepare('SELECT * FROM annotations ORDER BY id').all()).toEqual(rows);
    const [next] = await insertAnnotations(db, [{ imageId: a!, classId: null, geometry: { kind: 'polyline', points: [0, 0, 5, 5] }, source: 'human' }]);
    expect(next).toBe(ids[2]! + 1);
    await insertAnnotations(db, [{ imageId: a!, classId: null, geometry: { kind: 'keypoints', points: [1, 1, 2, 0, 0, 0] }, source: 'human' }]);
    await expect(async () => db.prepare("UPDATE annotations SET kind = 'circle' WHERE id = ?").run(next)).rejects.toThrow(/CHECK/);
    await db.close();
  });
});
