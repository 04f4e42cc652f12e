import { AppError } from '../common/errors';
import type { Db } from './engine';
import { resetIdentities, type PgDb } from './postgres';

/**
 * A dataset's tables as the engine's own catalogue describes them (SQLite's pragmas, PostgreSQL's
 * information_schema), read and written whole: what a copy between engines needs, so that no
 * table or column is ever left out by a list kept by hand.
 */

/** Tables that belong to the engine, not to the dataset. */
export const BOOKKEEPING = new Set(['sqlite_sequence', 'schema_migrations']);

export interface TableInfo {
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

/** The pages of a table in primary-key order, `batch` rows at a time, as arrays in `columns` order. */
export async function* tablePages(db: Db, t: TableInfo, columns: string[], batch: number): AsyncGenerator<unknown[][]> {
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

/** The highest id each table has handed out (SQLite AUTOINCREMENT, PostgreSQL identity sequences). */
export async function idCounters(db: Db): Promise<Map<string, number>> {
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
  // Version numbers are counted in meta on PostgreSQL (a failed create uses none up; see insertVersion).
  const versions = Number((await db.prepare("SELECT value FROM meta WHERE key = 'versions_last_number'").pluck().get()) ?? 0);
  if (versions > (out.get('versions') ?? 0)) out.set('versions', versions);
  return out;
}

/** Sets the target's id counters to at least the source's, so no id handed out there is reused here. */
export async function carryCounters(target: Db, counters: Map<string, number>, tables: Map<string, TableInfo>): Promise<void> {
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

/** `INSERT INTO table (columns) VALUES (...), (...)` for `rows` rows. */
export function insertRowsSql(table: string, columns: readonly string[], rows: number): string {
  const one = `(${columns.map(() => '?').join(', ')})`;
  return `INSERT INTO ${q(table)} (${columns.map(q).join(', ')}) VALUES ${Array.from({ length: rows }, () => one).join(', ')}`;
}

/** The meta table's rows as [key, value]. */
export async function metaPairs(db: Db): Promise<[string, string][]> {
  return (await db.prepare('SELECT key, value FROM meta').raw().all()) as [string, string][];
}

/** Removes every meta row but the engine's own (`application_id`). */
export async function clearMeta(db: Db): Promise<void> {
  await db.prepare(`DELETE FROM meta WHERE key <> 'application_id'`).run();
}
