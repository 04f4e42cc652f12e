import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const sharedDir = path.resolve(repoRoot, '..', 'shared');

/**
 * Path of a file or folder in ../shared, or null when it is absent. Absent data is only
 * acceptable outside CI: under CI=true the test fails instead of skipping.
 */
export function sharedPath(rel: string): string | null {
  const p = path.join(sharedDir, rel);
  if (fs.existsSync(p)) return p;
  if (process.env['CI']) throw new Error(`${p} is missing, and CI is set: shared test data must be present`);
  console.log(`skipping: ${p} is not present (shared test data is only in the development checkout)`);
  return null;
}

export function tempDir(prefix = 'tessera-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}
