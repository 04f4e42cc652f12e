import crypto from 'node:crypto';
import path from 'node:path';

/**
 * Where the dataset a path names is kept. Normally the path is the SQLite file itself. With
 * `TESSERA_STORE=postgres://…` set, every dataset named by a file path lives in PostgreSQL
 * instead, in a schema of that database named after the path's absolute form (the file itself
 * then only marks that the dataset exists). The test suites run a second time this way, so that
 * every service and command is exercised on both engines without a line of them changing.
 */
export function storeUrlFor(file: string): string | null {
  const base = process.env['TESSERA_STORE'];
  if (!base || !/^postgres(ql)?:\/\//i.test(base)) return null;
  const abs = path.resolve(file);
  const u = new URL(base);
  u.searchParams.set('schema', `f_${crypto.createHash('sha256').update(abs).digest('hex').slice(0, 24)}`);
  return u.href;
}
