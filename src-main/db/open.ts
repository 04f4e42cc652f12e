import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { AppError } from '../common/errors';
import type { Db } from './engine';
import { MIGRATIONS, SCHEMA_VERSION, type Migration } from './migrations';
import { SqliteDb } from './sqlite';

export type { Db };

/** Written to the SQLite header so a Tessera dataset is told apart from any other SQLite file. */
export const APPLICATION_ID = 0x54455353; // "TESS"

export interface OpenOptions {
  /** Create the file (and schema) if it does not exist. Refused if it exists. */
  create?: boolean;
  readonly?: boolean;
  /** Migrations to apply; tests pass a prefix to build older versions. */
  migrations?: readonly Migration[];
  /**
   * Path of a better-sqlite3 binary built for the running runtime. The Electron app sets this
   * (TESSERA_SQLITE_BINDING) so node_modules keeps the Node build used by tests and the CLI.
   */
  nativeBinding?: string;
}

function nativeBindingFromEnv(): string | undefined {
  const p = process.env['TESSERA_SQLITE_BINDING'];
  return p && p.length > 0 ? p : undefined;
}

/**
 * Opens (or creates) a dataset database: WAL, foreign keys, application id check and migrations.
 * Every failure is an AppError naming the file.
 */
export function openDatabase(file: string, opts: OpenOptions = {}): Db {
  return new SqliteDb(openSqlite(file, opts), file);
}

/** The SQLite connection itself, opened, checked and migrated as `openDatabase` does. */
export function openSqlite(file: string, opts: OpenOptions = {}): Database.Database {
  const migrations = opts.migrations ?? MIGRATIONS;
  const target = migrations.length ? migrations[migrations.length - 1]!.version : 0;
  const memory = file === ':memory:';
  const exists = memory ? false : fs.existsSync(file);

  if (opts.create && exists) {
    throw new AppError('DATASET_EXISTS', `${file}: a file already exists there`, { path: file });
  }
  if (!opts.create && !memory && !exists) {
    throw new AppError('FILE_NOT_FOUND', `${file}: no such dataset file`, { path: file });
  }
  if (!memory && exists && fs.statSync(file).isDirectory()) {
    throw new AppError('NOT_A_DATASET', `${file}: is a folder, not a Tessera dataset file`, { path: file });
  }
  if (opts.create && !memory) {
    const dir = path.dirname(path.resolve(file));
    if (!fs.existsSync(dir)) {
      throw new AppError('FILE_NOT_FOUND', `${file}: folder ${dir} does not exist`, { path: file });
    }
    try {
      fs.accessSync(dir, fs.constants.W_OK);
    } catch {
      throw new AppError('READ_ONLY', `${file}: folder ${dir} is read-only; choose a writable folder`, { path: file });
    }
  }

  let db: Database.Database;
  try {
    db = new Database(file, {
      readonly: opts.readonly ?? false,
      fileMustExist: !opts.create && !memory,
      nativeBinding: opts.nativeBinding ?? nativeBindingFromEnv(),
    });
  } catch (e) {
    throw describeOpenError(file, e);
  }

  try {
    // Reading the header is the first access: a non-SQLite file fails here.
    const appId = db.pragma('application_id', { simple: true }) as number;
    const version = db.pragma('user_version', { simple: true }) as number;
    const isNew = version === 0 && appId === 0 && isEmptySchema(db);

    if (!isNew && appId !== APPLICATION_ID) {
      throw new AppError('NOT_A_DATASET', `${file}: is an SQLite database but not a Tessera dataset`, { path: file });
    }
    if (version > SCHEMA_VERSION && migrations === MIGRATIONS) {
      throw new AppError(
        'DATASET_TOO_NEW',
        `${file}: dataset schema version ${version} is newer than this Tessera supports (${SCHEMA_VERSION}); update Tessera to open it`,
        { path: file, version, supported: SCHEMA_VERSION },
      );
    }
    if (isNew && !opts.create && !memory) {
      throw new AppError('NOT_A_DATASET', `${file}: is an empty SQLite file, not a Tessera dataset`, { path: file });
    }

    if (!opts.readonly) {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
    }
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 5000');
    // 64 MiB of page cache keeps the annotation indexes of a large dataset in memory while
    // importing or pre-labeling; SQLite only takes it as pages are used.
    db.pragma('cache_size = -65536');
    db.pragma('temp_store = MEMORY');

    if (version < target) {
      if (opts.readonly) {
        throw new AppError('READ_ONLY', `${file}: needs an upgrade to schema ${target} but was opened read-only`, { path: file });
      }
      migrate(db, version, migrations);
    }
    return db;
  } catch (e) {
    db.close();
    throw describeOpenError(file, e);
  }
}

function isEmptySchema(db: Database.Database): boolean {
  const row = db.prepare('SELECT count(*) AS n FROM sqlite_schema').get() as { n: number };
  return row.n === 0;
}

function migrate(db: Database.Database, from: number, migrations: readonly Migration[]): void {
  for (let i = 1; i < migrations.length; i++) {
    if (migrations[i]!.version <= migrations[i - 1]!.version) {
      throw new Error(`migrations are not strictly increasing at ${migrations[i]!.name}`);
    }
  }
  for (const m of migrations) {
    if (m.version <= from) continue;
    db.transaction(() => {
      db.exec(m.up);
      db.pragma(`user_version = ${m.version}`);
      db.pragma(`application_id = ${APPLICATION_ID}`);
    }).immediate();
  }
}

function describeOpenError(file: string, e: unknown): AppError {
  if (e instanceof AppError) return e;
  const err = e as { code?: string; message?: string };
  const msg = err.message ?? String(e);
  if (err.code === 'SQLITE_NOTADB' || /not a database/i.test(msg)) {
    return new AppError('NOT_A_DATASET', `${file}: is not a Tessera dataset (not an SQLite database)`, { path: file });
  }
  if (err.code === 'SQLITE_READONLY' || err.code === 'SQLITE_CANTOPEN' || /readonly|read-only/i.test(msg)) {
    return new AppError('READ_ONLY', `${file}: cannot be written (${msg})`, { path: file });
  }
  return new AppError('INTERNAL', `${file}: ${msg}`, { path: file });
}

export async function schemaVersion(db: Db): Promise<number> {
  if (db.sqlite) return db.sqlite.pragma('user_version', { simple: true }) as number;
  const v = (await db.prepare('SELECT max(version) FROM schema_migrations').pluck().get()) as number | null;
  return v ?? 0;
}
