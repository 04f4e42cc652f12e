import type { Db } from '../../src-main/db/engine';
import { openDatabase } from '../../src-main/db/open';
import { openPostgres } from '../../src-main/db/postgres';
import { storeUrlFor } from '../../src-main/services/storeTarget';

/**
 * Which engine holds the datasets a test names by path: SQLite (the file itself) or PostgreSQL
 * (the `unit-pg` project sets TESSERA_STORE; see src-main/services/storeTarget.ts).
 */
export function storeEngine(): 'sqlite' | 'postgres' {
  return /^postgres(ql)?:\/\//i.test(process.env['TESSERA_STORE'] ?? '') ? 'postgres' : 'sqlite';
}

const told = new Set<string>();

/**
 * True when datasets live in PostgreSQL, for `it.skipIf(onPostgres('why'))` on tests about what
 * only a SQLite file has (its bytes, its permissions, the folders beside it). The reason is
 * printed once per file that skips.
 */
export function onPostgres(why: string): boolean {
  if (storeEngine() !== 'postgres') return false;
  if (!told.has(why)) {
    told.add(why);
    console.warn(`[unit-pg] skipped: ${why}`);
  }
  return true;
}

/**
 * The store of the dataset at `file`, opened beside the app's own connection as another program
 * would: the SQLite file, or the PostgreSQL schema the path maps to. Close it when done.
 */
export async function openStore(file: string): Promise<Db> {
  const url = storeUrlFor(file);
  return url ? await openPostgres(url) : openDatabase(file);
}
