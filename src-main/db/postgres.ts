import pg from 'pg';
import { AppError } from '../common/errors';
import { currentScope, flatParams, runInScope, type Db, type Params, type RunResult, type Statement, type TransactionFn, type TxScope } from './engine';
import type { Migration } from './migrations/types';
import { PG_MIGRATIONS, PG_SCHEMA_VERSION } from './pg/migrations';
import { translated } from './pg/translate';

/**
 * The store on PostgreSQL: a connection pool, one dataset per PostgreSQL schema.
 *
 * Values come back as better-sqlite3 gives them for the same query, so the services need not know
 * which engine they talk to: bigint and numeric are JS numbers, booleans are 1/0, json and jsonb are
 * their text (the code parses it), bytea is a Buffer. These parsers belong to this pool only; the
 * process-wide `pg.types` are left alone.
 *
 * A transaction takes a client from the pool; everything awaited inside it on this Db runs on that
 * client (an AsyncLocalStorage scope), while calls from elsewhere use other pooled connections and
 * so do not see its uncommitted rows.
 */

const NUMBER = (v: string): number => Number(v);
const TEXT = (v: string): string => v;
const BOOL = (v: string): number => (v === 't' ? 1 : 0);

const TYPE_PARSERS: Record<number, (v: string) => unknown> = {
  20: NUMBER, // int8
  1700: NUMBER, // numeric
  114: TEXT, // json
  3802: TEXT, // jsonb
  16: BOOL, // bool: SQLite answers comparisons with 1 and 0
};

export const SQLITE_CODES: Record<string, string> = {
  '23505': 'SQLITE_CONSTRAINT_UNIQUE',
  '23503': 'SQLITE_CONSTRAINT_FOREIGNKEY',
  '23514': 'SQLITE_CONSTRAINT_CHECK',
  '23502': 'SQLITE_CONSTRAINT_NOTNULL',
  // RAISE EXCEPTION in a trigger (the versions tables refuse updates), as SQLite's RAISE(ABORT).
  P0001: 'SQLITE_CONSTRAINT_TRIGGER',
};

const types: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: string) => {
    const own = TYPE_PARSERS[oid];
    if (own && format !== 'binary') return own;
    return (pg.types.getTypeParser as (o: number, f?: string) => unknown)(oid, format);
  }) as pg.CustomTypesConfig['getTypeParser'],
};

/** An error from PostgreSQL, with the code the SQLite side would give (`code`) and its own (`pgCode`). */
export class PgQueryError extends Error {
  readonly code: string;
  readonly pgCode: string | undefined;
  readonly constraint: string | undefined;
  readonly detail: string | undefined;

  constructor(e: pg.DatabaseError | Error, sql: string) {
    const first = sql.trim().split('\n')[0]!.trim();
    super(`${e.message} (in: ${first.length > 120 ? `${first.slice(0, 117)}...` : first})`, { cause: e });
    this.name = 'PgQueryError';
    const code = (e as pg.DatabaseError).code;
    this.pgCode = code;
    this.code = (code && SQLITE_CODES[code]) ?? code ?? 'PG_ERROR';
    this.constraint = (e as pg.DatabaseError).constraint;
    this.detail = (e as pg.DatabaseError).detail;
  }
}

interface PgScope extends TxScope {
  client: pg.PoolClient;
}

type Queryable = pg.Pool | pg.PoolClient;

export interface PgTarget {
  /** The URL pg connects with (no `schema` parameter). */
  connection: string;
  schema: string;
  /** The URL without its password, for messages. */
  location: string;
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * `postgres://user[:password]@host[:port]/database[?schema=name]`: the dataset lives in schema
 * `name` of that database (`public` when not given).
 */
export function parsePgUrl(url: string): PgTarget {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new AppError('INVALID_ARGUMENT', `${redact(url)}: not a valid postgres:// URL`, { url: redact(url) });
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') {
    throw new AppError('INVALID_ARGUMENT', `${redact(url)}: a PostgreSQL URL starts with postgres://`, { url: redact(url) });
  }
  const schema = u.searchParams.get('schema') ?? 'public';
  u.searchParams.delete('schema');
  const shown = new URL(u.href);
  shown.password = '';
  if (schema !== 'public') shown.searchParams.set('schema', schema);
  const location = shown.href;
  if (!SCHEMA_NAME.test(schema)) {
    throw new AppError('INVALID_ARGUMENT', `${location}: schema name "${schema}" must be lower-case letters, digits and _`, { url: location });
  }
  return { connection: u.href, schema, location };
}

/** A URL as it may be shown: the password removed. */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    u.password = '';
    return u.href;
  } catch {
    return url.replace(/(\/\/[^:/@]*):[^@]*@/, '$1@');
  }
}

export function isPostgresUrl(s: string): boolean {
  return /^postgres(ql)?:\/\//i.test(s);
}

export class PgDb implements Db {
  readonly engine = 'postgres' as const;
  private closed = false;
  private savepoints = 0;

  constructor(readonly pool: pg.Pool, readonly location: string, readonly schema: string) {}

  get open(): boolean {
    return !this.closed;
  }

  get inTransaction(): boolean {
    return currentScope(this) !== undefined;
  }

  /** The transaction's client when called inside one, else the pool. */
  private target(): Queryable {
    const scope = currentScope(this) as PgScope | undefined;
    return scope ? scope.client : this.pool;
  }

  async query(sql: string, params: Params, rowMode?: 'array'): Promise<pg.QueryResult> {
    if (this.closed) throw new AppError('NO_DATASET_OPEN', `${this.location}: the dataset is closed`);
    const t = translated(sql);
    let values = flatParams(params);
    if (t.names) {
      const obj = (values.length === 1 && typeof values[0] === 'object' && values[0] !== null ? values[0] : {}) as Record<string, unknown>;
      values = t.names.map((n) => obj[n]);
    }
    values = values.map(toPg);
    try {
      const q = this.target();
      const config = (rowMode ? { text: t.text, values, rowMode } : { text: t.text, values }) as pg.QueryConfig;
      return await (q.query as (c: pg.QueryConfig) => Promise<pg.QueryResult>).call(q, config);
    } catch (e) {
      throw new PgQueryError(e as Error, sql);
    }
  }

  prepare(sql: string): Statement {
    return new PgStatement(this, sql);
  }

  async exec(sql: string): Promise<void> {
    if (this.closed) throw new AppError('NO_DATASET_OPEN', `${this.location}: the dataset is closed`);
    try {
      await this.target().query(translated(sql).text);
    } catch (e) {
      throw new PgQueryError(e as Error, sql);
    }
  }

  async dataVersion(): Promise<number> {
    const r = await this.query('SELECT last_value FROM tessera_data_version', [], 'array');
    return Number((r.rows[0] as unknown[])[0]);
  }

  transaction<A extends unknown[], T>(fn: (...args: A) => Promise<T> | T): TransactionFn<A, T> {
    const call = (async (...args: A): Promise<T> => {
      const scope = currentScope(this) as PgScope | undefined;
      if (scope) {
        // Nested: a savepoint, so an inner failure undoes only the inner work.
        const name = `sp${++this.savepoints}`;
        await scope.client.query(`SAVEPOINT ${name}`);
        try {
          const value = await fn(...args);
          await scope.client.query(`RELEASE SAVEPOINT ${name}`);
          return value;
        } catch (e) {
          await scope.client.query(`ROLLBACK TO SAVEPOINT ${name}`);
          await scope.client.query(`RELEASE SAVEPOINT ${name}`);
          throw e;
        }
      }
      if (this.closed) throw new AppError('NO_DATASET_OPEN', `${this.location}: the dataset is closed`);
      const client = await this.pool.connect();
      let broken: Error | undefined;
      try {
        await client.query('BEGIN');
        try {
          const value = await runInScope<T>({ db: this, depth: 1, client } as PgScope, async () => fn(...args));
          await client.query('COMMIT');
          return value;
        } catch (e) {
          try {
            await client.query('ROLLBACK');
          } catch (r) {
            broken = r as Error;
          }
          throw e;
        }
      } finally {
        // A client whose rollback failed is not given back to the pool.
        client.release(broken);
      }
    }) as TransactionFn<A, T>;
    call.immediate = call;
    call.deferred = call;
    return call;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }
}

/** Values as pg sends them: bigint as its text, booleans as the 1 and 0 the schema stores. */
function toPg(v: unknown): unknown {
  if (typeof v === 'bigint') return v.toString();
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (v instanceof Uint8Array && !Buffer.isBuffer(v)) return Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  return v;
}

class PgStatement implements Statement {
  private pluckOn = false;
  private rawOn = false;

  constructor(private readonly db: PgDb, private readonly sql: string) {}

  pluck(on = true): this {
    this.pluckOn = on;
    if (on) this.rawOn = false;
    return this;
  }

  raw(on = true): this {
    this.rawOn = on;
    if (on) this.pluckOn = false;
    return this;
  }

  private async rows(params: Params): Promise<unknown[]> {
    const r = await this.db.query(this.sql, params, this.pluckOn || this.rawOn ? 'array' : undefined);
    if (this.pluckOn) return (r.rows as unknown[][]).map((row) => row[0]);
    return r.rows;
  }

  async all(...params: Params): Promise<unknown[]> {
    return this.rows(params);
  }

  async get(...params: Params): Promise<unknown> {
    const rows = await this.rows(params);
    return rows[0];
  }

  async run(...params: Params): Promise<RunResult> {
    const r = await this.db.query(this.sql, params);
    return { changes: r.rowCount ?? 0, lastInsertRowid: 0 };
  }

  async *iterate(...params: Params): AsyncIterableIterator<unknown> {
    const rows = await this.rows(params);
    for (const r of rows) yield r;
  }
}

export interface PgOpenOptions {
  /** Create the dataset in an empty (or missing) schema. Refused if the schema holds one. */
  create?: boolean;
  /** With `create`: drop whatever the schema holds first (a dataset path made again; see storeUrlFor). */
  replace?: boolean;
  /** Migrations to apply; tests pass a prefix to build older versions. */
  migrations?: readonly Migration[];
  /** Connections in the pool (default 10). */
  max?: number;
}

/** Written to `meta` (key `application_id`) as SQLite's header carries it: "TESS". */
export const PG_APPLICATION_ID = String(0x54455353);

/**
 * Opens (or creates) a dataset in a PostgreSQL schema: checks that the schema holds a Tessera
 * dataset, creates it when asked, and applies migrations under an advisory lock so that several
 * processes opening it at once migrate it once. Every failure is an AppError naming the URL
 * (without its password).
 */
export async function openPostgres(url: string, opts: PgOpenOptions = {}): Promise<PgDb> {
  const target = parsePgUrl(url);
  const { schema, location } = target;
  const migrations = opts.migrations ?? PG_MIGRATIONS;
  const pool = new pg.Pool({
    connectionString: target.connection,
    options: `-c search_path=${schema}`,
    types,
    max: opts.max ?? 10,
    connectionTimeoutMillis: 10_000,
  });
  // An idle client that loses its server must not crash the process; the next query reports it.
  pool.on('error', () => {});
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch (e) {
    await pool.end().catch(() => {});
    const msg = (e as Error).message || String(e);
    throw new AppError('CONNECTION_FAILED', `${location}: cannot connect to PostgreSQL (${msg})`, { url: location });
  }
  try {
    if (opts.create && opts.replace) await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    const exists = (await client.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema])).rowCount === 1;
    const state = exists ? await datasetState(client, schema) : 'empty';
    if (opts.create) {
      if (state === 'dataset') throw new AppError('DATASET_EXISTS', `${location}: already holds a Tessera dataset`, { url: location });
      if (state === 'other') {
        throw new AppError('NOT_A_DATASET', `${location}: schema ${schema} holds tables that are not a Tessera dataset; choose an empty schema`, { url: location });
      }
      if (!exists) await client.query(`CREATE SCHEMA IF NOT EXISTS ${schema}`);
    } else if (!exists) {
      throw new AppError('NOT_A_DATASET', `${location}: no schema ${schema} in this database, so no Tessera dataset`, { url: location });
    } else if (state !== 'dataset') {
      throw new AppError('NOT_A_DATASET', `${location}: schema ${schema} is ${state === 'empty' ? 'empty' : 'not a Tessera dataset'}`, { url: location });
    }
    await migrate(client, schema, location, migrations);
  } catch (e) {
    client.release();
    await pool.end().catch(() => {});
    if (e instanceof AppError) throw e;
    throw new AppError('INTERNAL', `${location}: ${(e as Error).message}`, { url: location });
  }
  client.release();
  return new PgDb(pool, location, schema);
}

async function datasetState(client: pg.PoolClient, schema: string): Promise<'empty' | 'dataset' | 'other'> {
  const n = Number(
    (await client.query(`SELECT count(*) AS n FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace WHERE s.nspname = $1 AND c.relkind IN ('r', 'p', 'v', 'm', 'S')`, [schema]))
      .rows[0].n,
  );
  if (n === 0) return 'empty';
  const hasMeta = (await client.query(`SELECT to_regclass($1) AS t`, [`${schema}.meta`])).rows[0].t !== null;
  if (!hasMeta) return 'other';
  const r = await client.query(`SELECT value FROM ${schema}.meta WHERE key = 'application_id'`);
  return r.rows[0]?.value === PG_APPLICATION_ID ? 'dataset' : 'other';
}

async function migrate(client: pg.PoolClient, schema: string, location: string, migrations: readonly Migration[]): Promise<void> {
  for (let i = 1; i < migrations.length; i++) {
    if (migrations[i]!.version <= migrations[i - 1]!.version) throw new Error(`migrations are not strictly increasing at ${migrations[i]!.name}`);
  }
  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`tessera-migrate:${schema}`]);
    const hasTable = (await client.query('SELECT to_regclass($1) AS t', [`${schema}.schema_migrations`])).rows[0].t !== null;
    const version = hasTable ? Number((await client.query(`SELECT coalesce(max(version), 0) AS v FROM ${schema}.schema_migrations`)).rows[0].v) : 0;
    if (version > PG_SCHEMA_VERSION && migrations === PG_MIGRATIONS) {
      throw new AppError(
        'DATASET_TOO_NEW',
        `${location}: dataset schema version ${version} is newer than this Tessera supports (${PG_SCHEMA_VERSION}); update Tessera to open it`,
        { url: location, version, supported: PG_SCHEMA_VERSION },
      );
    }
    for (const m of migrations) {
      if (m.version <= version) continue;
      try {
        await client.query(m.up);
      } catch (e) {
        throw new Error(`migration ${m.version} (${m.name}) failed: ${(e as Error).message}`);
      }
      await client.query(`INSERT INTO ${schema}.schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)`, [m.version, m.name, Date.now()]);
    }
    await client.query('COMMIT');
  } catch (e) {
    await client.query('ROLLBACK').catch(() => {});
    throw e;
  }
}

/**
 * Moves every identity column's sequence past the largest id in its table. A copy that inserts rows
 * with their ids must call this afterwards, or the next generated id would collide.
 */
export async function resetIdentities(db: PgDb): Promise<void> {
  const cols = (await db
    .prepare(`SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema() AND is_identity = 'YES' ORDER BY table_name`)
    .raw()
    .all()) as [string, string][];
  for (const [table, column] of cols) {
    await db
      .prepare(`SELECT setval(pg_get_serial_sequence(?, ?), coalesce((SELECT max(${column}) FROM ${table}), 0) + 1, false)`)
      .get(table, column);
  }
}
