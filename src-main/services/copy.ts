import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { AppError, isAppError } from '../common/errors';
import type { Db } from '../db/engine';
import { openDatabase } from '../db/open';
import { dropPgSchema, pgSchemaExists } from '../db/pgSchema';
import { isPostgresUrl, openPostgres, parsePgUrl, redact, type PgDb } from '../db/postgres';
import { carryCounters, clearMeta, describeTables, idCounters, insertRowsSql, metaPairs, parentsFirst, tablePages, type TableInfo } from '../db/tables';
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

/** meta rows that belong to the engine. */
const META_SKIP = new Set(['application_id']);

interface Side {
  db: Db;
  /** As given, with any password removed. */
  location: string;
  /** The file a SQLite dataset lives in (its root is stored relative to it). */
  file: string | null;
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

/**
 * The meta rows as the dataset means them: without engine rows and the identity, with the root
 * made absolute. A copy is a dataset of its own: it gets a new identity (`uuid`, part of every
 * media address), so the original and the copy open side by side never share a cached picture.
 */
async function metaRows(side: Side): Promise<[string, string][]> {
  const rows = await metaPairs(side.db);
  const kept = rows.filter(([k]) => !META_SKIP.has(k) && k !== 'root' && k !== 'uuid');
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
    for await (const page of tablePages(side.db, t, columns, batch)) for (const row of page) add(row);
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
        const insert = (rows: number): string => insertRowsSql(name, columns, rows);
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
          const pairs: [string, string][] = [...(await metaRows(source)), ['uuid', crypto.randomUUID()]];
          const rows = pairs.map(([k, v]) => columns.map((c) => (c === 'key' ? k : c === 'value' ? (k === 'root' ? targetRoot : v) : null)));
          await clearMeta(t.db);
          await write(rows);
        } else {
          for await (const page of tablePages(source.db, info, columns, size)) await write(page);
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
