import type Database from 'better-sqlite3';
import { currentScope, Lock, runInScope, type Db, type Params, type RunResult, type Statement, type TransactionFn } from './engine';

/**
 * The store on SQLite: one better-sqlite3 connection. Statements run synchronously inside the
 * async calls, so a call costs one resolved promise: it runs at once unless another task's
 * transaction holds the connection. A transaction holds a lock while its function runs; calls from
 * outside it wait for the lock, so nothing from another task lands inside someone else's
 * transaction.
 */
export class SqliteDb implements Db {
  readonly engine = 'sqlite' as const;
  private readonly lock = new Lock();
  private readonly statements = new Map<string, Compiled>();
  private savepoints = 0;

  constructor(readonly sqlite: Database.Database, readonly location: string) {}

  get open(): boolean {
    return this.sqlite.open;
  }

  get inTransaction(): boolean {
    return currentScope(this) !== undefined;
  }

  /** True when another task's transaction holds the connection, so a call must wait (see ready). */
  blocked(): boolean {
    return this.lock.held && !currentScope(this);
  }

  /** Waits while another task's transaction holds the connection. */
  async ready(): Promise<void> {
    if (this.blocked()) await this.lock.idle();
  }

  compiled(sql: string): Compiled {
    let c = this.statements.get(sql);
    if (!c) {
      const stmt = this.sqlite.prepare(sql);
      c = { stmt, shape: stmt.reader ? 'rows' : null };
      if (this.statements.size > 500) this.statements.clear();
      this.statements.set(sql, c);
    }
    return c;
  }

  prepare(sql: string): Statement {
    return new SqliteStatement(this, sql);
  }

  async exec(sql: string): Promise<void> {
    if (this.blocked()) await this.ready();
    this.sqlite.exec(sql);
  }

  async dataVersion(): Promise<number> {
    await this.ready();
    // data_version moves with other connections' commits, total_changes with this one's.
    const others = this.sqlite.pragma('data_version', { simple: true }) as number;
    const own = this.sqlite.prepare('SELECT total_changes()').pluck().get() as number;
    return others * 1e9 + own;
  }

  transaction<A extends unknown[], T>(fn: (...args: A) => Promise<T> | T): TransactionFn<A, T> {
    const run = (mode: 'IMMEDIATE' | 'DEFERRED') => async (...args: A): Promise<T> => {
      const scope = currentScope(this);
      if (scope) {
        // Nested: a savepoint, so an inner failure undoes only the inner work.
        const name = `sp${++this.savepoints}`;
        this.sqlite.exec(`SAVEPOINT ${name}`);
        try {
          const value = await fn(...args);
          this.sqlite.exec(`RELEASE ${name}`);
          return value;
        } catch (e) {
          if (this.sqlite.inTransaction) {
            this.sqlite.exec(`ROLLBACK TO ${name}`);
            this.sqlite.exec(`RELEASE ${name}`);
          }
          throw e;
        }
      }
      const release = await this.lock.acquire();
      try {
        this.sqlite.exec(`BEGIN ${mode}`);
        try {
          const value = await runInScope({ db: this, depth: 1 }, async () => fn(...args));
          this.sqlite.exec('COMMIT');
          return value;
        } catch (e) {
          if (this.sqlite.inTransaction) this.sqlite.exec('ROLLBACK');
          throw e;
        }
      } finally {
        release();
      }
    };
    const call = run('DEFERRED') as TransactionFn<A, T>;
    call.immediate = run('IMMEDIATE');
    call.deferred = run('DEFERRED');
    return call;
  }

  async close(): Promise<void> {
    await this.ready();
    this.statements.clear();
    if (this.sqlite.open) this.sqlite.close();
  }
}

/** Row shapes of a reading statement; null for one that returns no rows. */
type Shape = 'rows' | 'pluck' | 'raw';

interface Compiled {
  stmt: Database.Statement;
  /** The row shape the statement is set to now. */
  shape: Shape | null;
}

class SqliteStatement implements Statement {
  private pluckOn = false;
  private rawOn = false;

  constructor(private readonly db: SqliteDb, private readonly sql: string) {}

  private stmt(): Database.Statement {
    const c = this.db.compiled(this.sql);
    if (c.shape !== null) {
      // A compiled statement is shared: set its row shape for this call when another call left a different one.
      const shape: Shape = this.rawOn ? 'raw' : this.pluckOn ? 'pluck' : 'rows';
      if (c.shape !== shape) {
        c.stmt.raw(false);
        if (shape === 'raw') c.stmt.raw(true);
        else c.stmt.pluck(shape === 'pluck');
        c.shape = shape;
      }
    }
    return c.stmt;
  }

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

  async all(...params: Params): Promise<unknown[]> {
    if (this.db.blocked()) await this.db.ready();
    return this.stmt().all(...params);
  }

  async get(...params: Params): Promise<unknown> {
    if (this.db.blocked()) await this.db.ready();
    return this.stmt().get(...params);
  }

  async run(...params: Params): Promise<RunResult> {
    if (this.db.blocked()) await this.db.ready();
    const r = this.stmt().run(...params);
    return { changes: r.changes, lastInsertRowid: r.lastInsertRowid };
  }

  async *iterate(...params: Params): AsyncIterableIterator<unknown> {
    if (this.db.blocked()) await this.db.ready();
    // The rows are read at once: better-sqlite3 refuses other statements on the connection while
    // an iterator is open, and the caller may await (and so run other statements) between rows.
    // Callers that may meet many rows read in pages (see readExportChunk).
    const rows = this.stmt().all(...params);
    for (const r of rows) yield r;
  }
}
