import { AsyncLocalStorage } from 'node:async_hooks';
import type Database from 'better-sqlite3';

/**
 * The dataset store as the services see it, whichever engine holds it: SQLite in one file
 * (better-sqlite3, in-process) or PostgreSQL (a connection pool). Every call is asynchronous.
 *
 * Statements are written once, in the SQL both engines accept, with `?` placeholders; the
 * PostgreSQL side numbers them. A unit of work is `db.transaction(fn)`: everything `fn` awaits on
 * the same Db runs inside it, and it commits when `fn` resolves or rolls back when it throws.
 * Calls from elsewhere wait until it ends (SQLite) or run on other connections (PostgreSQL).
 */
export type Engine = 'sqlite' | 'postgres';

export interface RunResult {
  changes: number;
  /** SQLite only; write `INSERT ... RETURNING id` to get a new row's id on both engines. */
  lastInsertRowid: number | bigint;
}

/** Parameters as better-sqlite3 takes them: positional values, or arrays of them. */
export type Params = unknown[];

export interface Statement {
  all(...params: Params): Promise<unknown[]>;
  get(...params: Params): Promise<unknown>;
  run(...params: Params): Promise<RunResult>;
  iterate(...params: Params): AsyncIterableIterator<unknown>;
  /** Rows become their first column's value. */
  pluck(on?: boolean): this;
  /** Rows become arrays of column values. */
  raw(on?: boolean): this;
}

export interface TransactionFn<A extends unknown[], T> {
  (...args: A): Promise<T>;
  /** SQLite: BEGIN IMMEDIATE (takes the write lock at once). Same as a call on PostgreSQL. */
  immediate(...args: A): Promise<T>;
  deferred(...args: A): Promise<T>;
}

export interface Db {
  readonly engine: Engine;
  /** False once closed. */
  readonly open: boolean;
  /** Where it lives: a file path, or a postgres:// URL without its password. */
  readonly location: string;
  prepare(sql: string): Statement;
  /** Runs one or more statements without parameters. */
  exec(sql: string): Promise<void>;
  transaction<A extends unknown[], T>(fn: (...args: A) => Promise<T> | T): TransactionFn<A, T>;
  /** True while the calling code runs inside a transaction of this Db. */
  readonly inTransaction: boolean;
  /**
   * A number that changes whenever any connection, this one included, changes the dataset
   * (SQLite's data_version and total_changes, a PostgreSQL sequence bumped by triggers); caches
   * keyed on it see every write.
   */
  dataVersion(): Promise<number>;
  close(): Promise<void>;
  /** The SQLite handle, for what only SQLite has (pragmas, backups). Absent on PostgreSQL. */
  readonly sqlite?: Database.Database;
}

/** A FIFO lock: one holder at a time, waiters served in order. */
export class Lock {
  private tail: Promise<void> = Promise.resolve();
  private holders = 0;

  get held(): boolean {
    return this.holders > 0;
  }

  async acquire(): Promise<() => void> {
    let release!: () => void;
    const next = new Promise<void>((r) => (release = r));
    const prev = this.tail;
    this.tail = prev.then(() => next);
    this.holders++;
    await prev;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.holders--;
      release();
    };
  }

  /** Resolves when no one holds or waits for the lock. */
  async idle(): Promise<void> {
    while (this.holders > 0) await this.tail;
  }
}

export interface TxScope {
  db: object;
  depth: number;
  /** The engine's connection that the transaction runs on (PostgreSQL: a pooled client). */
  client?: unknown;
  /** Set once the transaction's function has settled. */
  done?: boolean;
}

const scopes = new AsyncLocalStorage<TxScope>();

/** The transaction of `db` the calling code runs in, if any. */
export function currentScope(db: object): TxScope | undefined {
  const s = scopes.getStore();
  // A task started inside a transaction and still running after it (a timer, say) keeps the
  // scope in its async context: once the transaction is over it is outside it, like any other.
  return s && s.db === db && !s.done ? s : undefined;
}

export async function runInScope<T>(scope: TxScope, fn: () => Promise<T>): Promise<T> {
  try {
    return await scopes.run(scope, fn);
  } finally {
    scope.done = true;
  }
}

/** better-sqlite3 takes `run(a, b)` and `run([a, b])` alike; so do both engines here. */
export function flatParams(params: Params): unknown[] {
  if (params.length === 1 && Array.isArray(params[0])) return params[0] as unknown[];
  const out: unknown[] = [];
  for (const p of params) {
    if (Array.isArray(p)) out.push(...(p as unknown[]));
    else out.push(p);
  }
  return out;
}
