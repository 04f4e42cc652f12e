import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { AppError, isAppError } from '../common/errors';
import type { Db } from '../db/engine';
import { openDatabase } from '../db/open';
import { dropPgSchema, pgSchemaExists } from '../db/pgSchema';
import { isPostgresUrl, openPostgres, parsePgUrl, redact, resetIdentities, type PgDb } from '../db/postgres';
import { Dataset, storedRoot } from './dataset';
import { storeUrlFor } from './storeTarget';

/**
 * `tessera copy <from> <to>`: a whole dataset from one store to another, either side a `.tessera`
 * file or a postgres:// URL. Every row of every table goes over with its id (history included:
 * the edit journal, prediction history, versions, embeddings), in one transaction on the target,
 * read and written in pages by primary key. Afterwards each table is read back on both sides, in
 * primary-key order, and compared by row count and a hash of its rows with values normalised so
 * that both engines hash alike; a mismatch undoes the copy and removes the target.
 *
 * Engine bookkeeping is not copied: SQLite's sqlite_sequence, PostgreSQL's schema_migrations and
 * the `application_id` row of `meta` (PostgreSQL's stand-in for SQLite's header, which the target
 * writes itself). Id counters are carried over, so an id handed out once is never handed out again
 * on the target either. The image root is stored as the target engine keeps it: relative to the
 * file where possible on SQLite, absolute on PostgreSQL.
 */

export interface CopyTableReport {
  table: string;
  rows: number;
  /** sha256 of the table's normalised rows in primary-key order, the same on both sides. */
  hash: string;
}

export interface CopyReport {
  from: string;
  to: string;
  /** The image root folder of both datasets (absolute). */
  root: string;
  tables: CopyTableReport[];
  rows: number;
  verified: true;
}

export interface CopyOptions {
  /** Rows per page read and written (default 500; fewer for wide tables). */
  batch?: number;
  /** Called after each table is copied. */
  onTable?: (table: string, rows: number) => void;
}

/** Tables that belong to the engine, not to the dataset. */
const BOOKKEEPING = new Set(['sqlite_sequence', 'schema_migrations']);
/** meta rows that belong to the engine. */
const META_SKIP = new Set(['application_id']);

interface TableInfo {
  name: string;
  columns: string[];
  pk: string[];
  /** Tables this one refers to (foreign keys), itself excluded. */
  parents: string[];
  /** Primary-key columns holding text (PostgreSQL orders them with COLLATE "C", as SQLite does). */
  textPk: Set<string>;
  /** Columns of type jsonb (PostgreSQL side only). */
  json: Set<string>;
}

interface Side {
  db: Db;
  /** As given, with any password removed. */
  location: string;
  /** The file a SQLite dataset lives in (its root is stored relative to it). */
  file: string | null;
}

const q = (id: string): string => `"${id.replace(/"/g, '""')}"`;

async function sqliteTables(db: Db): Promise<Map<string, TableInfo>> {
  const names = (await db
    .prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name`)
    .pluck()
    .all()) as string[];
  const out = new Map<string, TableInfo>();
  for (const name of names) {
    if (BOOKKEEPING.has(name)) continue;
    const cols = (await db.prepare('SELECT name, type, pk FROM pragma_table_info(?) ORDER BY cid').all(name)) as { name: string; type: string; pk: number }[];
    const pkCols = cols.filter((c) => c.pk > 0).sort((a, b) => a.pk - b.pk);
    const parents = (await db.prepare('SELECT DISTINCT "table" FROM pragma_foreign_key_list(?)').pluck().all(name)) as string[];
    out.set(name, {
      name,
      columns: cols.map((c) => c.name),
      pk: pkCols.map((c) => c.name),
      parents: parents.filter((p) => p !== name),
      textPk: new Set(pkCols.filter((c) => /CHAR|CLOB|TEXT/i.test(c.type)).map((c) => c.name)),
      json: new Set(),
    });
  }
  return out;
}

async function pgTables(db: Db): Promise<Map<string, TableInfo>> {
  const names = (await db
    .prepare(`SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name`)
    .pluck()
    .all()) as string[];
  const cols = (await db
    .prepare(
      `SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position`,
    )
    .all()) as { table_name: string; column_name: string; data_type: string }[];
  const pks = (await db
    .prepare(
      `SELECT k.table_name, k.column_name FROM information_schema.table_constraints c
         JOIN information_schema.key_column_usage k ON k.constraint_schema = c.constraint_schema AND k.constraint_name = c.constraint_name
        WHERE c.constraint_type = 'PRIMARY KEY' AND c.table_schema = current_schema()
        ORDER BY k.table_name, k.ordinal_position`,
    )
    .all()) as { table_name: string; column_name: string }[];
  const fks = (await db
    .prepare(
      `SELECT c.relname AS child, p.relname AS parent FROM pg_constraint k
         JOIN pg_class c ON c.oid = k.conrelid JOIN pg_class p ON p.oid = k.confrelid
         JOIN pg_namespace n ON n.oid = k.connamespace
        WHERE k.contype = 'f' AND n.nspname = current_schema()`,
    )
    .all()) as { child: string; parent: string }[];
  const out = new Map<string, TableInfo>();
  for (const name of names) {
    if (BOOKKEEPING.has(name)) continue;
    const own = cols.filter((c) => c.table_name === name);
    const pk = pks.filter((k) => k.table_name === name).map((k) => k.column_name);
    const type = new Map(own.map((c) => [c.column_name, c.data_type]));
    out.set(name, {
      name,
      columns: own.map((c) => c.column_name),
      pk,
      parents: [...new Set(fks.filter((f) => f.child === name && f.parent !== name).map((f) => f.parent))],
      textPk: new Set(pk.filter((c) => /text|char/i.test(type.get(c) ?? ''))),
      json: new Set(own.filter((c) => c.data_type === 'jsonb' || c.data_type === 'json').map((c) => c.column_name)),
    });
  }
  return out;
}

/** The dataset's tables with their columns and keys, as the engine's own catalogue describes them. */
export async function describeTables(db: Db): Promise<Map<string, TableInfo>> {
  return db.engine === 'postgres' ? pgTables(db) : sqliteTables(db);
}

/** Table names, every table after the tables its foreign keys refer to; ties by name. */
export function parentsFirst(tables: Map<string, { parents: string[] }>): string[] {
  const order: string[] = [];
  const done = new Set<string>();
  const pending = [...tables.keys()].sort();
  while (pending.length) {
    const i = pending.findIndex((t) => tables.get(t)!.parents.every((p) => done.has(p) || !tables.has(p)));
    if (i < 0) throw new AppError('INTERNAL', `the foreign keys of tables ${pending.join(', ')} form a cycle; no order to copy them in`);
    const [t] = pending.splice(i, 1);
    order.push(t!);
    done.add(t!);
  }
  return order;
}

/** Source and target must hold the same tables and columns (both are migrated to the current schema). */
function checkSameSchema(from: Side, fromTables: Map<string, TableInfo>, to: Side, toTables: Map<string, TableInfo>): void {
  for (const [a, aLoc, b, bLoc] of [
    [fromTables, from.location, toTables, to.location],
    [toTables, to.location, fromTables, from.location],
  ] as const) {
    for (const [name, t] of a) {
      const other = b.get(name);
      if (!other) throw new AppError('INTERNAL', `${aLoc} has table ${name} that ${bLoc} lacks: the two schemas differ, so the dataset cannot be copied`);
      const missing = t.columns.filter((c) => !other.columns.includes(c));
      if (missing.length) {
        throw new AppError('INTERNAL', `${aLoc}: table ${name} has column(s) ${missing.join(', ')} that ${bLoc} lacks: the two schemas differ`);
      }
    }
  }
}

/** The pages of a table in primary-key order, `batch` rows at a time, as arrays in `columns` order. */
async function* pages(db: Db, t: TableInfo, columns: string[], batch: number): AsyncGenerator<unknown[][]> {
  const pg = db.engine === 'postgres';
  const key = t.pk.map((c) => (pg && t.textPk.has(c) ? `${q(c)} COLLATE "C"` : q(c)));
  const colList = columns.map(q).join(', ');
  const pkAt = t.pk.map((c) => columns.indexOf(c));
  const first = db.prepare(`SELECT ${colList} FROM ${q(t.name)} ORDER BY ${key.join(', ')} LIMIT ${batch}`).raw();
  const next = db
    .prepare(`SELECT ${colList} FROM ${q(t.name)} WHERE (${key.join(', ')}) > (${t.pk.map(() => '?').join(', ')}) ORDER BY ${key.join(', ')} LIMIT ${batch}`)
    .raw();
  let after: unknown[] | null = null;
  for (;;) {
    const rows = (await (after ? next.all(...after) : first.all())) as unknown[][];
    if (rows.length) yield rows;
    if (rows.length < batch) return;
    const last = rows[rows.length - 1]!;
    after = pkAt.map((i) => last[i]);
  }
}

/** JSON with object keys sorted, so that the text a jsonb column gives back compares with SQLite's. */
function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

/** One value as both engines give it alike: numbers as numbers, JSON by its content, bytes as hex. */
function normalised(v: unknown, json: boolean): string {
  if (v === null || v === undefined) return 'N';
  if (typeof v === 'number') return `n${Object.is(v, -0) ? '0' : String(v)}`;
  if (typeof v === 'bigint') return `n${v.toString()}`;
  if (Buffer.isBuffer(v) || v instanceof Uint8Array) return `b${Buffer.from(v).toString('hex')}`;
  if (typeof v === 'string') {
    if (json) {
      try {
        return `j${canonicalJson(JSON.parse(v))}`;
      } catch {
        return `s${JSON.stringify(v)}`;
      }
    }
    return `s${JSON.stringify(v)}`;
  }
  return `s${JSON.stringify(String(v))}`;
}

/** The absolute image root of a dataset, from the root its meta stores. */
function absoluteRoot(side: Side, stored: string | undefined): string {
  if (side.db.engine === 'sqlite' && side.file) return path.resolve(path.dirname(side.file), stored ?? '.');
  if (!stored || !path.isAbsolute(stored)) throw new AppError('NOT_A_DATASET', `${side.location}: the dataset has no absolute image root folder stored`);
  return stored;
}

/** The meta rows as the dataset means them: without engine rows, with the root made absolute. */
async function metaRows(side: Side): Promise<[string, string][]> {
  const rows = (await side.db.prepare('SELECT key, value FROM meta').raw().all()) as [string, string][];
  const kept = rows.filter(([k]) => !META_SKIP.has(k) && k !== 'root');
  kept.push(['root', absoluteRoot(side, rows.find(([k]) => k === 'root')?.[1])]);
  return kept.sort(([a], [b]) => (Buffer.compare(Buffer.from(a), Buffer.from(b))));
}

/** Row count and hash of one table of one side. */
async function tableDigest(side: Side, t: TableInfo, columns: string[], json: Set<string>, batch: number): Promise<{ rows: number; hash: string }> {
  const h = crypto.createHash('sha256');
  let n = 0;
  const isJson = columns.map((c) => json.has(c));
  const add = (row: unknown[]): void => {
    h.update(row.map((v, i) => normalised(v, isJson[i]!)).join('\x1f'));
    h.update('\x1e');
    n++;
  };
  if (t.name === 'meta') {
    for (const [k, v] of await metaRows(side)) add(columns.map((c) => (c === 'key' ? k : c === 'value' ? v : null)));
  } else {
    for await (const page of pages(side.db, t, columns, batch)) for (const row of page) add(row);
  }
  return { rows: n, hash: h.digest('hex') };
}

/**
 * Compares two datasets table by table (row counts and row hashes, ids included). Returns the
 * tables with their counts and hashes; throws naming the first table that differs.
 */
export async function compareDatasets(a: Side, b: Side, batch = 500): Promise<CopyTableReport[]> {
  const aTables = await describeTables(a.db);
  const bTables = await describeTables(b.db);
  checkSameSchema(a, aTables, b, bTables);
  const json = new Set<string>();
  const jsonOf = (t: string): Set<string> => new Set([...(aTables.get(t)?.json ?? json), ...(bTables.get(t)?.json ?? json)]);
  const out: CopyTableReport[] = [];
  for (const name of parentsFirst(aTables)) {
    const t = aTables.get(name)!;
    const js = jsonOf(name);
    const size = pageSize(batch, t.columns.length);
    const da = await tableDigest(a, t, t.columns, js, size);
    const db = await tableDigest(b, bTables.get(name)!, t.columns, js, size);
    if (da.rows !== db.rows) {
      throw new AppError('INTERNAL', `copy check failed: table ${name} has ${da.rows} rows in ${a.location} but ${db.rows} in ${b.location}`, { table: name });
    }
    if (da.hash !== db.hash) {
      throw new AppError('INTERNAL', `copy check failed: table ${name} holds different rows in ${a.location} and ${b.location} (same count, ${da.rows})`, {
        table: name,
      });
    }
    out.push({ table: name, rows: da.rows, hash: da.hash });
  }
  return out;
}

function pageSize(batch: number, columns: number): number {
  // Both engines cap the parameters of one statement (SQLite 32766, PostgreSQL 65535).
  return Math.max(1, Math.min(batch, Math.floor(30_000 / Math.max(1, columns))));
}

/** The highest id each table has handed out (SQLite AUTOINCREMENT, PostgreSQL identity sequences). */
async function idCounters(db: Db): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  if (db.engine === 'sqlite') {
    const hasSeq = await db.prepare(`SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'`).get();
    if (!hasSeq) return out;
    for (const [name, seq] of (await db.prepare('SELECT name, seq FROM sqlite_sequence').raw().all()) as [string, number][]) out.set(name, Number(seq));
    return out;
  }
  const cols = (await db
    .prepare(`SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema() AND is_identity = 'YES'`)
    .raw()
    .all()) as [string, string][];
  for (const [table, column] of cols) {
    const seq = (await db.prepare('SELECT pg_get_serial_sequence(?, ?)').pluck().get(table, column)) as string | null;
    if (!seq) continue;
    const r = (await db.prepare(`SELECT last_value, is_called FROM ${seq}`).get()) as { last_value: number; is_called: number };
    const last = r.is_called ? Number(r.last_value) : Number(r.last_value) - 1;
    if (last > 0) out.set(table, last);
  }
  return out;
}

/** Sets the target's id counters to at least the source's, so no id handed out there is reused here. */
async function carryCounters(target: Db, counters: Map<string, number>, tables: Map<string, TableInfo>): Promise<void> {
  if (target.engine === 'postgres') {
    await resetIdentities(target as PgDb);
    const cols = (await target
      .prepare(`SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema() AND is_identity = 'YES'`)
      .raw()
      .all()) as [string, string][];
    for (const [table, column] of cols) {
      const from = counters.get(table);
      if (from === undefined) continue;
      const max = Number((await target.prepare(`SELECT coalesce(max(${q(column)}), 0) FROM ${q(table)}`).pluck().get()) ?? 0);
      if (from > max) await target.prepare('SELECT setval(pg_get_serial_sequence(?, ?), ?, true)').get(table, column, from);
    }
    return;
  }
  // SQLite keeps sqlite_sequence at max(id) of every AUTOINCREMENT table by itself on insert; a
  // counter the source moved further (rows deleted since) is carried over.
  const autoinc = new Set(
    (await target.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE '%AUTOINCREMENT%'`).pluck().all()) as string[],
  );
  for (const table of autoinc) {
    if (!tables.has(table)) continue;
    const pk = tables.get(table)!.pk[0]!;
    const max = Number((await target.prepare(`SELECT coalesce(max(${q(pk)}), 0) FROM ${q(table)}`).pluck().get()) ?? 0);
    const want = Math.max(max, counters.get(table) ?? 0);
    if (want === 0) continue;
    const r = await target.prepare('UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = ?').run(want, table);
    if (r.changes === 0) await target.prepare('INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)').run(table, want);
  }
}

interface Target extends Side {
  /** Removes what was created: the file, or the schema's tables. */
  remove(): Promise<void>;
  /** Called after the copy commits (the file that marks a dataset kept in PostgreSQL by path). */
  commit(): void;
}

function refuse(where: string): never {
  throw new AppError('DATASET_EXISTS', `${where}: the copy's target already exists; tessera copy writes only a new .tessera file or an empty (or missing) PostgreSQL schema`, {
    target: where,
  });
}

async function createPgTarget(url: string, location: string, opts: { replace?: boolean; marker?: string }): Promise<Target> {
  const existed = opts.replace ? false : await pgSchemaExists(url);
  let db: PgDb;
  try {
    db = await openPostgres(url, { create: true, replace: opts.replace });
  } catch (e) {
    if (isAppError(e) && (e.code === 'DATASET_EXISTS' || e.code === 'NOT_A_DATASET')) refuse(location);
    throw e;
  }
  return {
    db,
    location,
    file: null,
    remove: async () => {
      await db.close();
      // The schema goes with everything the copy made in it; one that was there (empty) before stays, empty.
      await dropPgSchema(url, existed);
    },
    commit: () => {
      if (opts.marker) fs.writeFileSync(opts.marker, `${db.location}\n`);
    },
  };
}

async function createTarget(spec: string): Promise<Target> {
  if (isPostgresUrl(spec)) return createPgTarget(spec, parsePgUrl(spec).location, {});
  const abs = path.resolve(spec);
  if (fs.existsSync(abs)) refuse(abs);
  const mapped = storeUrlFor(abs);
  if (mapped) {
    if (!fs.existsSync(path.dirname(abs))) throw new AppError('FILE_NOT_FOUND', `${abs}: folder ${path.dirname(abs)} does not exist`, { path: abs });
    return createPgTarget(mapped, abs, { replace: true, marker: abs });
  }
  const db = openDatabase(abs, { create: true });
  return {
    db,
    location: abs,
    file: abs,
    remove: async () => {
      await db.close();
      for (const f of [abs, `${abs}-wal`, `${abs}-shm`, `${abs}-journal`]) fs.rmSync(f, { force: true });
    },
    commit: () => {},
  };
}

/** Copies the dataset `from` into the new dataset `to` (see the top of this file). */
export async function copyDataset(from: string, to: string, opts: CopyOptions = {}): Promise<CopyReport> {
  const batch = opts.batch ?? 500;
  // The target is refused before the source is even opened, so nothing is written on a refusal.
  if (!isPostgresUrl(to) && fs.existsSync(path.resolve(to))) refuse(path.resolve(to));
  const src = await Dataset.open(from);
  const source: Side = { db: src.db, location: isPostgresUrl(from) ? redact(from) : src.file, file: src.db.engine === 'sqlite' ? src.file : null };
  let target: Target | null = null;
  try {
    target = await createTarget(to);
    const t = target;
    const fromTables = await describeTables(source.db);
    const toTables = await describeTables(t.db);
    checkSameSchema(source, fromTables, t, toTables);
    const order = parentsFirst(fromTables);
    const counters = await idCounters(source.db);
    const rootAbs = src.root;
    const targetRoot = t.db.engine === 'sqlite' && t.file ? storedRoot(t.file, rootAbs) : rootAbs;

    const tables = await t.db.transaction(async () => {
      for (const name of order) {
        const info = fromTables.get(name)!;
        const columns = info.columns;
        // JSON read from PostgreSQL is written to SQLite compact, as the app writes it.
        const toSqliteJson = t.db.engine === 'sqlite' ? fromTables.get(name)!.json : new Set<string>();
        const jsonAt = columns.map((c) => toSqliteJson.has(c));
        const size = pageSize(batch, columns.length);
        let n = 0;
        const insert = (rows: number): string =>
          `INSERT INTO ${q(name)} (${columns.map(q).join(', ')}) VALUES ${Array.from({ length: rows }, () => `(${columns.map(() => '?').join(', ')})`).join(', ')}`;
        const full = t.db.prepare(insert(size));
        const write = async (rows: unknown[][]): Promise<void> => {
          const values = rows.flatMap((r) => r.map((v, i) => (jsonAt[i] && typeof v === 'string' ? JSON.stringify(JSON.parse(v)) : v)));
          try {
            await (rows.length === size ? full : t.db.prepare(insert(rows.length))).run(values);
          } catch (e) {
            throw new AppError('INTERNAL', `copying table ${name} to ${t.location} failed: ${(e as Error).message}`, { table: name });
          }
          n += rows.length;
        };
        if (name === 'meta') {
          // The target's own application_id stays; the root is stored as the target engine keeps it.
          const rows = (await metaRows(source)).map(([k, v]) => columns.map((c) => (c === 'key' ? k : c === 'value' ? (k === 'root' ? targetRoot : v) : null)));
          await t.db.prepare(`DELETE FROM meta WHERE key <> 'application_id'`).run();
          await write(rows);
        } else {
          for await (const page of pages(source.db, info, columns, size)) await write(page);
        }
        opts.onTable?.(name, n);
      }
      await carryCounters(t.db, counters, fromTables);
      // The check reads the target inside the transaction: a mismatch undoes the whole copy.
      return compareDatasets(source, t, batch);
    })();
    t.commit();
    await t.db.close();
    target = null;
    return { from: source.location, to: t.location, root: rootAbs, tables, rows: tables.reduce((a, x) => a + x.rows, 0), verified: true };
  } catch (e) {
    if (target) await target.remove().catch(() => {});
    throw e;
  } finally {
    await src.close();
  }
}

export type { Side as CopySide };
