import type { Db } from '../../src-main/db/engine';
import { Dataset } from '../../src-main/services/dataset';

/**
 * Runs `fn` on the store of the dataset at `file` (SQLite, or PostgreSQL when the suite keeps
 * datasets there), closing it afterwards: what a command wrote, read straight from the store.
 */
export async function withStore<T>(file: string, fn: (db: Db) => Promise<T>): Promise<T> {
  const ds = await Dataset.open(file);
  try {
    return await fn(ds.db);
  } finally {
    await ds.close();
  }
}
