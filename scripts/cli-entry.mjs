// Chooses what the `tessera` command runs: the CLI built with the app (out/main/cli.js, starts
// in tens of milliseconds) or the TypeScript source through tsx (a second or two, but always the
// code on disk).
//
// The rule: the build is used when it exists and is not older than every file and folder under
// src-main and electron.vite.config.ts (a folder's time changes when a file in it is added,
// removed or renamed). Otherwise the source runs, so an edit is never answered by an older build.
// TESSERA_CLI=source or TESSERA_CLI=build overrides the choice.
import fs from 'node:fs';
import path from 'node:path';

/** The newest modification time under dir, folders included, and the path that has it. */
function newest(dir, best) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) newest(p, best);
    else {
      const t = fs.statSync(p).mtimeMs;
      if (t > best.mtimeMs) Object.assign(best, { mtimeMs: t, file: p });
    }
  }
  const t = fs.statSync(dir).mtimeMs;
  if (t > best.mtimeMs) Object.assign(best, { mtimeMs: t, file: dir });
  return best;
}

/**
 * { kind: 'build' | 'source', file, reason } for the checkout at root; reason says why the
 * source runs (null for the build).
 */
export function cliEntry(root, mode = process.env.TESSERA_CLI) {
  const built = path.join(root, 'out', 'main', 'cli.js');
  const source = { kind: 'source', file: path.join(root, 'src-main', 'cli', 'bin.ts') };
  if (mode === 'source') return { ...source, reason: 'TESSERA_CLI=source' };
  let builtTime;
  try {
    builtTime = fs.statSync(built).mtimeMs;
  } catch {
    if (mode === 'build') throw new Error(`${built} does not exist (TESSERA_CLI=build); run npm run build`);
    return { ...source, reason: 'the CLI is not built (npm run build builds it)' };
  }
  if (mode === 'build' || !fs.existsSync(source.file)) return { kind: 'build', file: built, reason: null };
  const best = newest(path.join(root, 'src-main'), { mtimeMs: 0, file: null });
  const config = path.join(root, 'electron.vite.config.ts');
  if (fs.existsSync(config) && fs.statSync(config).mtimeMs > best.mtimeMs) Object.assign(best, { mtimeMs: fs.statSync(config).mtimeMs, file: config });
  if (best.mtimeMs > builtTime) {
    return { ...source, reason: `${path.relative(root, best.file)} is newer than the build out/main/cli.js (npm run build updates it)` };
  }
  return { kind: 'build', file: built, reason: null };
}
