import PgBoss from 'pg-boss';
import { currentScope, type Db } from './engine';
import type { PgDb } from './postgres';

export type { PgBoss };

/**
 * The job queue of team workers: pg-boss, in a schema of its own of the dataset's database, over
 * a small connection pool of its own (pg's own type parsing: the dataset's pool returns JSON as
 * text, which pg-boss does not expect), on the dataset's connection, password included. The
 * named queue is created on first use.
 */
export async function startQueueStore(
  db: Db,
  opts: { schema: string; queue: string; retryLimit: number; expireInSeconds: number; supervise?: boolean; onError?: (e: Error) => void },
): Promise<PgBoss> {
  const { connectionString } = ((db as PgDb).pool as unknown as { options: { connectionString: string } }).options;
  const boss = new PgBoss({
    connectionString,
    max: 4,
    application_name: 'tessera-queue',
    schema: opts.schema,
    supervise: opts.supervise ?? false,
    schedule: false,
    migrate: true,
    maintenanceIntervalSeconds: 60,
  });
  boss.on('error', (e: Error) => opts.onError?.(e));
  await boss.start();
  const name = opts.queue;
  if (!await boss.getQueue(name)) {
    try {
      await boss.createQueue(name, { name, policy: 'standard', retryLimit: opts.retryLimit, retryDelay: 1, expireInSeconds: opts.expireInSeconds });
    } catch (e) {
      // Another process created it at the same moment.
      if (!await boss.getQueue(name)) throw e;
    }
  }
  return boss;
}

/**
 * pg-boss's executor for the calling transaction of `db`: jobs sent with it (`send(..., { db })`)
 * are written by that transaction, so they exist exactly when what it wrote does.
 */
export function queueExecutor(db: Db): { executeSql(text: string, values: unknown[]): Promise<{ rows: unknown[] }> } {
  const client = (currentScope(db) as { client?: { query(text: string, values: unknown[]): Promise<{ rows: unknown[] }> } } | undefined)?.client;
  if (db.engine !== 'postgres' || !client) throw new Error('queueExecutor: call it inside a transaction of a PostgreSQL dataset');
  return { executeSql: async (text, values) => ({ rows: (await client.query(text, values)).rows }) };
}
