import pg from 'pg';
import { AppError } from '../common/errors';
import { parsePgUrl } from './postgres';

/**
 * Whole-schema operations on the server a postgres:// URL names, over a connection of their own
 * (not a dataset's pool): whether the schema exists, and dropping it with everything in it.
 */

async function withClient<T>(url: string, fn: (c: pg.Client, schema: string) => Promise<T>): Promise<T> {
  const t = parsePgUrl(url);
  const c = new pg.Client({ connectionString: t.connection, connectionTimeoutMillis: 10_000 });
  try {
    await c.connect();
  } catch (e) {
    await c.end().catch(() => {});
    throw new AppError('CONNECTION_FAILED', `${t.location}: cannot connect to PostgreSQL (${(e as Error).message})`, { url: t.location });
  }
  try {
    return await fn(c, t.schema);
  } finally {
    await c.end();
  }
}

export async function pgSchemaExists(url: string): Promise<boolean> {
  return withClient(url, async (c, schema) => (await c.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema])).rowCount === 1);
}

/** Drops the URL's schema and everything in it; with `recreate`, leaves it there again, empty. */
export async function dropPgSchema(url: string, recreate: boolean): Promise<void> {
  await withClient(url, async (c, schema) => {
    // parsePgUrl allows only [a-z_][a-z0-9_]* as a schema name, so it is safe to interpolate.
    await c.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    if (recreate) await c.query(`CREATE SCHEMA ${schema}`);
  });
}
