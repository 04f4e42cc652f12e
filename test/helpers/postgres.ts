import { execFileSync, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';

/**
 * One throw-away PostgreSQL cluster per test run (vitest globalSetup of the unit project): initdb
 * into a temp folder, started on a free port of 127.0.0.1 as an unprivileged user when the run is
 * root, stopped and removed at the end. Workers find it in TESSERA_TEST_PG_URL. A URL already set
 * in that variable (a server of one's own) is used as it is.
 *
 * Without PostgreSQL the tests that need it skip with a printed reason; under CI that is a failure.
 */

const URL_ENV = 'TESSERA_TEST_PG_URL';
const SKIP_ENV = 'TESSERA_TEST_PG_SKIP';

export function findBin(name: string): string | null {
  for (const dir of (process.env['PATH'] ?? '').split(path.delimiter)) {
    if (dir && fs.existsSync(path.join(dir, name))) return path.join(dir, name);
  }
  const root = '/usr/lib/postgresql';
  if (fs.existsSync(root)) {
    const versions = fs
      .readdirSync(root)
      .filter((v) => fs.existsSync(path.join(root, v, 'bin', name)))
      .sort((a, b) => Number(b) - Number(a));
    if (versions.length) return path.join(root, versions[0]!, 'bin', name);
  }
  return null;
}

function userExists(user: string): boolean {
  return spawnSync('id', ['-u', user], { stdio: 'ignore' }).status === 0;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** vitest globalSetup: starts the cluster; the returned function stops it. */
export default async function setup(): Promise<(() => Promise<void>) | undefined> {
  if (process.env[URL_ENV]) return undefined;
  const initdb = findBin('initdb');
  const pgCtl = findBin('pg_ctl');
  if (!initdb || !pgCtl) {
    const why = 'PostgreSQL is not installed (no initdb/pg_ctl on PATH or under /usr/lib/postgresql/*/bin)';
    if (process.env['CI']) throw new Error(`${why}; CI must run the PostgreSQL tests (.ci/run installs Debian's postgresql)`);
    process.env[SKIP_ENV] = why;
    console.warn(`[postgres] ${why}: the PostgreSQL tests skip`);
    return undefined;
  }

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-pg-'));
  const data = path.join(dir, 'data');
  const log = path.join(dir, 'server.log');
  const root = process.getuid?.() === 0;
  const user = root ? (userExists('postgres') ? 'postgres' : 'nobody') : null;
  const as = (bin: string, args: string[]): [string, string[]] => (user ? ['runuser', ['-u', user, '--', bin, ...args]] : [bin, args]);
  if (user) {
    fs.chmodSync(dir, 0o700);
    execFileSync('chown', ['-R', user, dir]);
  }
  const run = (bin: string, args: string[]): void => {
    const [cmd, argv] = as(bin, args);
    const r = spawnSync(cmd, argv, { encoding: 'utf8', cwd: dir });
    if (r.status !== 0) throw new Error(`${bin} ${args.join(' ')} failed (${r.status}): ${r.stderr || r.stdout}${fs.existsSync(log) ? `\n${fs.readFileSync(log, 'utf8')}` : ''}`);
  };
  run(initdb, ['-D', data, '--locale=C', '--encoding=UTF8', '--auth=trust', '-U', 'tessera', '--no-sync']);
  fs.appendFileSync(path.join(data, 'postgresql.conf'), '\nfsync = off\nsynchronous_commit = off\nfull_page_writes = off\nmax_connections = 200\n');
  const port = await freePort();
  run(pgCtl, ['start', '-w', '-t', '60', '-D', data, '-l', log, '-o', `-k ${dir} -h 127.0.0.1 -p ${port}`]);

  const url = `postgres://tessera@127.0.0.1:${port}/postgres`;
  // Ready when a query answers (pg_ctl -w waits for the socket; a query makes sure).
  for (let i = 0; ; i++) {
    const c = new pg.Client({ connectionString: url });
    try {
      await c.connect();
      await c.query('SELECT 1');
      await c.end();
      break;
    } catch (e) {
      await c.end().catch(() => {});
      if (i > 50) throw e;
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  process.env[URL_ENV] = url;

  let stopped = false;
  const stop = (): void => {
    if (stopped) return;
    stopped = true;
    try {
      run(pgCtl, ['stop', '-m', 'fast', '-w', '-D', data]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  };
  // A run that ends without its teardown (interrupted) still stops the server.
  process.once('exit', () => {
    try {
      stop();
    } catch {
      // nothing more to do while exiting
    }
  });
  return async () => stop();
}

/** The test cluster's URL (database `postgres`, schema `public`), or null when it is not running. */
export function pgUrl(): string | null {
  return process.env[URL_ENV] || null;
}

export function pgAvailable(): boolean {
  return pgUrl() !== null;
}

/** Why the PostgreSQL tests skip, printed once per file that asks; null when they run. */
export function pgSkipReason(): string | null {
  if (pgAvailable()) return null;
  const why = process.env[SKIP_ENV] ?? `${URL_ENV} is not set (the unit project's globalSetup starts a cluster)`;
  console.warn(`[postgres] skipped: ${why}`);
  return why;
}

export interface PgDataset {
  /** postgres://...?schema=NAME: an empty schema of its own. */
  url: string;
  schema: string;
  /** Drops the schema and everything in it. */
  drop(): Promise<void>;
}

/**
 * A new empty schema for one test, as a dataset URL (open it with `{ create: true }`). With
 * `created: false` the schema itself is not made, to test opening a missing one.
 */
export async function freshPgDataset(name = 'ds', opts: { created?: boolean } = {}): Promise<PgDataset> {
  const base = pgUrl();
  if (!base) throw new Error('PostgreSQL is not available; guard the test with pgSkipReason()');
  const schema = `t_${name.toLowerCase().replace(/[^a-z0-9_]/g, '_').slice(0, 30)}_${crypto.randomBytes(5).toString('hex')}`;
  if (opts.created !== false) await adminQuery(`CREATE SCHEMA ${schema}`);
  const u = new URL(base);
  u.searchParams.set('schema', schema);
  return {
    url: u.href,
    schema,
    drop: async () => {
      await adminQuery(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    },
  };
}

/** One statement on the test cluster over a connection of its own. */
export async function adminQuery(sql: string, params: unknown[] = []): Promise<pg.QueryResult> {
  const c = new pg.Client({ connectionString: pgUrl()! });
  await c.connect();
  try {
    return await c.query(sql, params);
  } finally {
    await c.end();
  }
}
