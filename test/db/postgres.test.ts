import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../src-main/common/errors';
import { openDatabase, openSqlite } from '../../src-main/db/open';
import { PG_MIGRATIONS, PG_SCHEMA_VERSION } from '../../src-main/db/pg/migrations';
import { translateSql } from '../../src-main/db/pg/translate';
import { MIGRATIONS, SCHEMA_VERSION } from '../../src-main/db/migrations';
import { openPostgres, parsePgUrl, resetIdentities, type PgDb } from '../../src-main/db/postgres';
import { adminQuery, freshPgDataset, pgSkipReason, type PgDataset } from '../helpers/postgres';

describe('SQLite to PostgreSQL statement translation', () => {
  const t = (sql: string): string => translateSql(sql).text;

  it('numbers ? placeholders but not inside literals, identifiers or comments', () => {
    expect(t('SELECT * FROM a WHERE x = ? AND y IN (?, ?)')).toBe('SELECT * FROM a WHERE x = $1 AND y IN ($2, $3)');
    expect(t(`SELECT '?', "a?b", 'it''s ?' FROM t WHERE c = ? -- why?\n AND d = ? /* ? */`)).toBe(
      `SELECT '?', "a?b", 'it''s ?' FROM t WHERE c = $1 -- why?\n AND d = $2 /* ? */`,
    );
    expect(translateSql('SELECT ?, ?').count).toBe(2);
  });

  it('turns @name parameters into numbers, one per name', () => {
    const r = translateSql('SELECT * FROM a WHERE (@run IS NULL OR b = @run) AND c = @image');
    expect(r.text).toBe('SELECT * FROM a WHERE ($1 IS NULL OR b = $1) AND c = $2');
    expect(r.names).toEqual(['run', 'image']);
  });

  it('rewrites INSERT OR IGNORE as ON CONFLICT DO NOTHING, before RETURNING', () => {
    expect(t('INSERT OR IGNORE INTO c (a, b) VALUES (?, ?)')).toBe('INSERT INTO c (a, b) VALUES ($1, $2) ON CONFLICT DO NOTHING');
    expect(t('insert or ignore into c (a) VALUES (?) RETURNING id;')).toBe('INSERT INTO c (a) VALUES ($1) ON CONFLICT DO NOTHING RETURNING id;');
    expect(t('INSERT OR IGNORE INTO c (a) SELECT x FROM (SELECT 1 AS x RETURNING_NOT) q')).toBe(
      'INSERT INTO c (a) SELECT x FROM (SELECT 1 AS x RETURNING_NOT) q ON CONFLICT DO NOTHING',
    );
    expect(t("INSERT INTO c (a) VALUES ('INSERT OR IGNORE INTO')")).toBe("INSERT INTO c (a) VALUES ('INSERT OR IGNORE INTO')");
  });

  it('rewrites ifnull, CAST AS REAL and group_concat', () => {
    expect(t('SELECT ifnull(a, 0), IFNULL (b, ?) FROM t')).toBe('SELECT coalesce(a, 0), coalesce(b, $1) FROM t');
    expect(t('SELECT CAST(count(*) AS REAL) / ? FROM t')).toBe('SELECT CAST(count(*) AS double precision) / $1 FROM t');
    expect(t("SELECT group_concat(name, ', ') FROM t")).toBe("SELECT string_agg((name)::text, ', ') FROM t");
    expect(t('SELECT group_concat(id) FROM t')).toBe("SELECT string_agg((id)::text, ',') FROM t");
    expect(t("SELECT group_concat(f(a, b), ',') , group_concat(DISTINCT x) FROM t")).toBe(
      "SELECT string_agg((f(a, b))::text, ',') , string_agg(DISTINCT (x)::text, ',') FROM t",
    );
    expect(t("SELECT 'ifnull(group_concat(x)) AS REAL)'")).toBe("SELECT 'ifnull(group_concat(x)) AS REAL)'");
  });

  it("rewrites SQLite's null-safe IS and IS NOT comparisons", () => {
    expect(t('SELECT 1 WHERE a.x IS NOT b.x OR y IS ? OR z IS NOT NULL OR w IS NULL OR v IS NOT TRUE')).toBe(
      'SELECT 1 WHERE a.x IS DISTINCT FROM b.x OR y IS NOT DISTINCT FROM $1 OR z IS NOT NULL OR w IS NULL OR v IS NOT TRUE',
    );
    expect(t('SELECT a IS DISTINCT FROM b, c IS NOT DISTINCT FROM d')).toBe('SELECT a IS DISTINCT FROM b, c IS NOT DISTINCT FROM d');
  });
});

describe('SQLite migration 16 (journal user)', () => {
  it('adds a nullable user_name to the edit journal, the same as a fresh dataset', () => {
    const schemaOf = (d: ReturnType<typeof openSqlite>): string[] =>
      (d.prepare("SELECT type || ' ' || name || ' ' || coalesce(sql, '') FROM sqlite_schema ORDER BY type, name").pluck().all() as string[]).map((x) => x.replace(/\s+/g, ' '));
    const older = openSqlite(':memory:', { create: true, migrations: MIGRATIONS.filter((m) => m.version < 16) });
    expect(older.pragma('user_version', { simple: true })).toBe(15);
    const cols = (): string[] => (older.pragma('table_info(edit_journal)') as { name: string }[]).map((c) => c.name);
    expect(cols()).not.toContain('user_name');
    older.exec(MIGRATIONS.find((m) => m.version === 16)!.up);
    expect(cols()).toContain('user_name');
    const fresh = openSqlite(':memory:', { create: true, migrations: MIGRATIONS.filter((m) => m.version <= 16) });
    expect(fresh.pragma('user_version', { simple: true })).toBe(16);
    expect(schemaOf(older)).toEqual(schemaOf(fresh));
    const info = (fresh.pragma('table_info(edit_journal)') as { name: string; notnull: number; type: string }[]).find((c) => c.name === 'user_name');
    expect(info).toMatchObject({ type: 'TEXT', notnull: 0 });
    older.close();
    fresh.close();
  });
});

const skip = pgSkipReason();

describe.skipIf(skip !== null)('PostgreSQL engine', () => {
  let ds: PgDataset;
  let db: PgDb;
  const opened: PgDb[] = [];
  const datasets: PgDataset[] = [];

  async function fresh(name: string): Promise<{ ds: PgDataset; db: PgDb }> {
    const d = await freshPgDataset(name);
    datasets.push(d);
    const o = await openPostgres(d.url, { create: true });
    opened.push(o);
    return { ds: d, db: o };
  }

  async function addImage(on: PgDb, path: string): Promise<number> {
    return (await on
      .prepare(
        `INSERT INTO images (path, content_hash, file_size, file_mtime_ms, width, height, channels, bit_depth, format, created_at, updated_at)
         VALUES (?, ?, 1, 1, 10, 10, 3, 8, 'png', 1, 1) RETURNING id`,
      )
      .pluck()
      .get(path, `hash-${path}`)) as number;
  }

  beforeAll(async () => {
    ({ ds, db } = await fresh('engine'));
  });

  afterAll(async () => {
    for (const o of opened) await o.close();
    for (const d of datasets) await d.drop();
  });

  it('gives values the types better-sqlite3 gives', async () => {
    const id = await addImage(db, 'types.png');
    expect(typeof id).toBe('number');
    expect(await db.prepare('SELECT count(*) FROM images').pluck().get()).toBe(1);
    expect(await db.prepare('SELECT count(*) AS n, sum(width) AS s, avg(width) AS a FROM images').get()).toEqual({ n: 1, s: 10, a: 10 });
    await db.prepare('INSERT INTO class_maps (model, map, updated_at) VALUES (?, ?, ?)').run('m', JSON.stringify({ b: 1, a: [1, 2] }), 5);
    const map = await db.prepare('SELECT map FROM class_maps').pluck().get();
    expect(typeof map).toBe('string');
    expect(JSON.parse(map as string)).toEqual({ a: [1, 2], b: 1 });
    expect(typeof (await db.prepare(`SELECT '{"x":1}'::json`).pluck().get())).toBe('string');
    const model = (await db
      .prepare(`INSERT INTO embedding_models (key, name, dim, dtype, normalized, created_at) VALUES ('k', 'K', 2, 'f32', 1, 0) RETURNING id`)
      .pluck()
      .get()) as number;
    const vec = Buffer.from(new Float32Array([1.5, -2]).buffer);
    await db.prepare('INSERT INTO embeddings (model_id, image_id, content_hash, vector, created_at) VALUES (?, ?, ?, ?, ?)').run(model, id, 'h', vec, 0);
    const back = await db.prepare('SELECT vector FROM embeddings').pluck().get();
    expect(Buffer.isBuffer(back)).toBe(true);
    expect((back as Buffer).equals(vec)).toBe(true);
    expect(await db.prepare('SELECT CAST(? AS REAL) / 4').pluck().get(1)).toBe(0.25);
    expect(await db.prepare('SELECT 1 = 1, 1 = 2').raw().get()).toEqual([1, 0]);
    expect(await db.prepare('SELECT id, path FROM images').raw().all()).toEqual([[id, 'types.png']]);
    const rows: unknown[] = [];
    for await (const r of db.prepare('SELECT path FROM images').pluck().iterate()) rows.push(r);
    expect(rows).toEqual(['types.png']);
    expect(await db.prepare('SELECT group_concat(path) FROM images WHERE id = @id').pluck().get({ id })).toBe('types.png');
    expect(await db.prepare('SELECT count(*) FROM images WHERE id = ? AND external = ?').pluck().get(BigInt(id), false)).toBe(1);
    expect(await db.prepare('SELECT ifnull(NULL, width) + ? FROM images WHERE id = ?').pluck().get([7, id])).toBe(17);
    expect(await db.prepare('SELECT count(*) FROM images WHERE split IS ? AND review_comment IS NOT ?').pluck().get(null, 'x')).toBe(1);
  });

  it('runs INSERT OR IGNORE and reports changes', async () => {
    const ins = db.prepare('INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)');
    expect((await ins.run('k1', 'a')).changes).toBe(1);
    expect((await ins.run(['k1', 'b'])).changes).toBe(0);
    expect(await db.prepare('SELECT value FROM meta WHERE key = ?').pluck().get('k1')).toBe('a');
  });

  it('gives constraint failures the codes the SQLite side checks', async () => {
    await addImage(db, 'dup.png');
    await expect(addImage(db, 'dup.png')).rejects.toMatchObject({ code: 'SQLITE_CONSTRAINT_UNIQUE', pgCode: '23505' });
    await expect(
      db.prepare(`INSERT INTO edit_journal (image_id, label, forward, backward, created_at) VALUES (?, 'x', '[]', '[]', 0)`).run(999_999),
    ).rejects.toMatchObject({ code: 'SQLITE_CONSTRAINT_FOREIGNKEY' });
    await expect(db.prepare('SELECT nope FROM images').all()).rejects.toThrow(/nope.*\(in: SELECT nope FROM images\)/);
  });

  it('commits a transaction, rolls it back on throw, and nests with savepoints', async () => {
    const count = async (): Promise<number> => (await db.prepare("SELECT count(*) FROM meta WHERE key LIKE 'tx-%'").pluck().get()) as number;
    const put = (k: string) => db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)').run(k, 'v');
    expect(db.inTransaction).toBe(false);
    await db.transaction(async () => {
      expect(db.inTransaction).toBe(true);
      await put('tx-1');
    })();
    expect(await count()).toBe(1);

    await expect(
      db.transaction(async () => {
        await put('tx-2');
        throw new Error('boom');
      })(),
    ).rejects.toThrow('boom');
    expect(await count()).toBe(1);

    const value = await db.transaction(async (n: number) => {
      await put('tx-3');
      await expect(
        db.transaction(async () => {
          await put('tx-4');
          await put('tx-3'); // duplicate: fails inside the savepoint
        })(),
      ).rejects.toMatchObject({ code: 'SQLITE_CONSTRAINT_UNIQUE' });
      await db.transaction(async () => put('tx-5')).immediate();
      return n * 2;
    })(21);
    expect(value).toBe(42);
    expect(await db.prepare("SELECT key FROM meta WHERE key LIKE 'tx-%' ORDER BY key").pluck().all()).toEqual(['tx-1', 'tx-3', 'tx-5']);
  });

  it('runs statements from outside a transaction on the pool, without its uncommitted rows', async () => {
    let inserted!: () => void;
    const ready = new Promise<void>((r) => (inserted = r));
    const outside = (async () => {
      await ready;
      return { inTx: db.inTransaction, n: await db.prepare("SELECT count(*) FROM meta WHERE key = 'iso'").pluck().get() };
    })();
    await db.transaction(async () => {
      await db.prepare("INSERT INTO meta (key, value) VALUES ('iso', 'v')").run();
      expect(await db.prepare("SELECT count(*) FROM meta WHERE key = 'iso'").pluck().get()).toBe(1);
      inserted();
      expect(await outside).toEqual({ inTx: false, n: 0 });
    })();
    expect(await db.prepare("SELECT count(*) FROM meta WHERE key = 'iso'").pluck().get()).toBe(1);
  });

  it('lets two processes write in concurrent transactions, and each sees the other in dataVersion', async () => {
    const other = await openPostgres(ds.url);
    opened.push(other);
    const before = await db.dataVersion();
    let aIn!: () => void;
    let bCounted!: () => void;
    let aCounted!: () => void;
    const aStarted = new Promise<void>((r) => (aIn = r));
    const bDone = new Promise<void>((r) => (bCounted = r));
    const aDone = new Promise<void>((r) => (aCounted = r));
    const count = (on: PgDb) => on.prepare("SELECT count(*) FROM meta WHERE key LIKE 'conc-%'").pluck().get();
    // Both transactions are open while each counts: each sees its own row only.
    const a = db.transaction(async () => {
      await db.prepare("INSERT INTO meta (key, value) VALUES ('conc-a', 'a')").run();
      aIn();
      await bDone;
      const n = await count(db);
      aCounted();
      return n;
    })();
    const b = other.transaction(async () => {
      await aStarted;
      await other.prepare("INSERT INTO meta (key, value) VALUES ('conc-b', 'b')").run();
      const n = await count(other);
      bCounted();
      await aDone;
      return n;
    })();
    expect(await Promise.all([a, b])).toEqual([1, 1]);
    expect(await db.prepare("SELECT key FROM meta WHERE key LIKE 'conc-%' ORDER BY key").pluck().all()).toEqual(['conc-a', 'conc-b']);
    const after = await db.dataVersion();
    expect(after).not.toBe(before);
    await other.prepare("DELETE FROM meta WHERE key = 'conc-b'").run();
    expect(await db.dataVersion()).not.toBe(after);
    const stable = await db.dataVersion();
    await db.prepare('SELECT count(*) FROM meta').get();
    expect(await db.dataVersion()).toBe(stable);
  });

  it('refuses updates of a version, as the SQLite triggers do', async () => {
    const v = (await db
      .prepare(
        `INSERT INTO versions (number, name, created_at, with_predictions, image_count, class_count, annotation_count) VALUES (1, 'v1', 0, 0, 0, 0, 0) RETURNING id`,
      )
      .pluck()
      .get()) as number;
    await expect(db.prepare("UPDATE versions SET name = 'x' WHERE id = ?").run(v)).rejects.toThrow(/versions are immutable/);
    await expect(db.prepare("UPDATE versions SET name = 'x' WHERE id = ?").run(v)).rejects.toMatchObject({ code: 'SQLITE_CONSTRAINT_TRIGGER' });
    expect((await db.prepare('DELETE FROM versions WHERE id = ?').run(v)).changes).toBe(1);
  });

  it('moves identities past explicitly inserted ids', async () => {
    await db.prepare("INSERT INTO classes (id, name, color, sort_order, created_at) VALUES (500, 'Explicit', '#fff', 0, 0)").run();
    await expect(db.prepare("INSERT INTO classes (name, color, sort_order, created_at) VALUES ('lower', '#fff', 1, 0)").run()).resolves.toMatchObject({ changes: 1 });
    await resetIdentities(db);
    const id = await db.prepare("INSERT INTO classes (name, color, sort_order, created_at) VALUES ('after', '#fff', 2, 0) RETURNING id").pluck().get();
    expect(id).toBe(501);
    // Class names are unique whatever their ASCII case, as SQLite's NOCASE.
    await expect(db.prepare("INSERT INTO classes (name, color, sort_order, created_at) VALUES ('EXPLICIT', '#fff', 3, 0)").run()).rejects.toMatchObject({
      code: 'SQLITE_CONSTRAINT_UNIQUE',
    });
  });

  it('creates the full schema at the latest version, with the journal user column', async () => {
    expect(PG_SCHEMA_VERSION).toBe(SCHEMA_VERSION);
    expect(await db.prepare('SELECT version FROM schema_migrations ORDER BY version').pluck().all()).toEqual(PG_MIGRATIONS.map((m) => m.version));
    const img = await addImage(db, 'journal.png');
    await db.prepare(`INSERT INTO edit_journal (image_id, label, forward, backward, created_at, user_name) VALUES (?, 'x', '[]', '[]', 0, 'ana')`).run(img);
    expect(await db.prepare('SELECT user_name FROM edit_journal WHERE image_id = ?').pluck().get(img)).toBe('ana');
    expect(db.location).toBe(ds.url);
  });

  it('keeps datasets in different schemas of one database apart', async () => {
    const second = await fresh('second');
    await addImage(second.db, 'only-in-second.png');
    expect(await second.db.prepare('SELECT path FROM images').pluck().all()).toEqual(['only-in-second.png']);
    expect(await db.prepare("SELECT count(*) FROM images WHERE path = 'only-in-second.png'").pluck().get()).toBe(0);
    expect(second.db.location).toContain(`?schema=${second.ds.schema}`);
  });

  it('upgrades a dataset made by older migrations', async () => {
    const d = await freshPgDataset('upgrade');
    datasets.push(d);
    const old = await openPostgres(d.url, { create: true, migrations: PG_MIGRATIONS.slice(0, 1) });
    expect(await old.prepare('SELECT max(version) FROM schema_migrations').pluck().get()).toBe(15);
    await old.close();
    const now = await openPostgres(d.url);
    opened.push(now);
    expect(await now.prepare('SELECT max(version) FROM schema_migrations').pluck().get()).toBe(PG_SCHEMA_VERSION);
    expect(await now.prepare("SELECT count(*) FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'edit_journal' AND column_name = 'user_name'").pluck().get()).toBe(1);
  });

  it('refuses schemas that are not a dataset, datasets that exist, and datasets too new', async () => {
    const code = async (p: Promise<unknown>): Promise<{ code: string; message: string }> => {
      try {
        const o = await p;
        opened.push(o as PgDb);
      } catch (e) {
        expect(e).toBeInstanceOf(AppError);
        return { code: (e as AppError).code, message: (e as AppError).message };
      }
      throw new Error('expected a refusal');
    };
    const empty = await freshPgDataset('empty');
    datasets.push(empty);
    expect(await code(openPostgres(empty.url))).toMatchObject({ code: 'NOT_A_DATASET', message: expect.stringContaining(empty.schema) });

    const missing = await freshPgDataset('missing', { created: false });
    expect((await code(openPostgres(missing.url))).code).toBe('NOT_A_DATASET');

    const other = await freshPgDataset('other');
    datasets.push(other);
    await adminQuery(`CREATE TABLE ${other.schema}.meta (key text, value text)`);
    expect((await code(openPostgres(other.url))).code).toBe('NOT_A_DATASET');
    expect((await code(openPostgres(other.url, { create: true }))).code).toBe('NOT_A_DATASET');

    expect((await code(openPostgres(ds.url, { create: true }))).code).toBe('DATASET_EXISTS');

    const newer = await freshPgDataset('newer');
    datasets.push(newer);
    await (await openPostgres(newer.url, { create: true })).close();
    await adminQuery(`INSERT INTO ${newer.schema}.schema_migrations (version, name, applied_at) VALUES (999, 'future', 0)`);
    expect(await code(openPostgres(newer.url))).toMatchObject({ code: 'DATASET_TOO_NEW', message: expect.stringContaining('999') });
  });

  it('names the URL without its password when the server cannot be reached', async () => {
    const url = 'postgres://someone:s3cret@127.0.0.1:1/nowhere?schema=x';
    const e = await openPostgres(url).then(
      () => null,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(AppError);
    expect((e as AppError).code).toBe('CONNECTION_FAILED');
    expect((e as AppError).message).toContain('postgres://someone@127.0.0.1:1/nowhere?schema=x');
    expect((e as AppError).message).not.toContain('s3cret');
    expect(parsePgUrl('postgres://u:p@h:5/db').schema).toBe('public');
    expect(() => parsePgUrl('postgres://u@h/db?schema=Bad-Name')).toThrow(/schema name/);
  });

  it('has every SQLite table, column, index and foreign key of the latest schema', async () => {
    const lite = openDatabase(':memory:', { create: true }).sqlite!;
    const tables = (lite.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name").pluck().all() as string[]);
    const pgCols = (await db
      .prepare('SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position')
      .raw()
      .all()) as [string, string][];
    const pgIndexes = (await db.prepare('SELECT tablename, indexdef FROM pg_indexes WHERE schemaname = current_schema()').raw().all()) as [string, string][];
    const pgFks = (await db
      .prepare(
        `SELECT c.conrelid::regclass::text, a.attname, c.confrelid::regclass::text, c.confdeltype::text
         FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
         WHERE c.contype = 'f' AND c.connamespace = current_schema()::regnamespace`,
      )
      .raw()
      .all()) as [string, string, string, string][];
    const indexColumns = (def: string): string[] =>
      /USING \w+ \((.*?)\)(?: WHERE .*)?$/
        .exec(def)![1]!
        .split(',')
        .map((c) => c.trim().replace(/^lower\((.*)\)$/, '$1').replace(/ COLLATE .*$/, '').replace(/^"(.*)"$/, '$1'));
    const deleteAction: Record<string, string> = { a: 'NO ACTION', r: 'RESTRICT', c: 'CASCADE', n: 'SET NULL', d: 'SET DEFAULT' };

    expect(tables.length).toBeGreaterThan(20);
    const problems: string[] = [];
    for (const table of tables) {
      const liteCols = (lite.pragma(`table_info(${table})`) as { name: string }[]).map((c) => c.name);
      const cols = pgCols.filter(([t]) => t === table).map(([, c]) => c);
      if (JSON.stringify(cols) !== JSON.stringify(liteCols)) problems.push(`${table}: columns ${cols.join(',')} vs SQLite ${liteCols.join(',')}`);

      const liteIndexes = lite.pragma(`index_list(${table})`) as { name: string; unique: number }[];
      for (const ix of liteIndexes) {
        const want = (lite.pragma(`index_info(${ix.name})`) as { name: string }[]).map((c) => c.name);
        const match = pgIndexes.some(([t, def]) => t === table && JSON.stringify(indexColumns(def)) === JSON.stringify(want) && (!ix.unique || def.startsWith('CREATE UNIQUE')));
        if (!match) problems.push(`${table}: no ${ix.unique ? 'unique ' : ''}index on (${want.join(', ')}) like SQLite's ${ix.name}`);
      }
      for (const fk of lite.pragma(`foreign_key_list(${table})`) as { table: string; from: string; on_delete: string }[]) {
        const match = pgFks.some(([t, col, ref, del]) => t === table && col === fk.from && ref === fk.table && deleteAction[del] === fk.on_delete);
        if (!match) problems.push(`${table}.${fk.from}: no foreign key to ${fk.table} ON DELETE ${fk.on_delete}`);
      }
    }
    const extra = [...new Set(pgCols.map(([t]) => t))].filter((t) => !tables.includes(t) && t !== 'schema_migrations');
    expect(extra).toEqual([]);
    expect(problems).toEqual([]);
    lite.close();
  });
});
