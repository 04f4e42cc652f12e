// Whether the build in out/ is current, by modification times, read in a few milliseconds.
//
// The rule: a build output is current when it exists and is not older than every file and
// folder of its sources (a folder's time changes when a file in it is added, removed or renamed)
// and electron.vite.config.ts. An edit, a checkout or a stash makes the sources newer, so old
// code is never run in their place.
//
// The `tessera` command runs the CLI built with the app (out/main/cli.js, starts in tens of
// milliseconds) when it is current against src-main, else the TypeScript source through tsx (a
// fraction of a second more, but always the code on disk). TESSERA_CLI=source or
// TESSERA_CLI=build overrides the choice.
import fs from 'node:fs';
import path from 'node:path';

/** The newest modification time under each path, folders included, and the path that has it. */
export function newest(paths, best = { mtimeMs: 0, file: null }) {
  for (const p of paths) {
    let st;
    try {
      st = fs.statSync(p);
    } catch {
      continue;
    }
    if (st.mtimeMs > best.mtimeMs) Object.assign(best, { mtimeMs: st.mtimeMs, file: p });
    if (st.isDirectory()) newest(fs.readdirSync(p).map((name) => path.join(p, name)), best);
  }
  return best;
}

/** Null when built exists and is current against sources (paths under root), else why not. */
export function staleness(root, built, sources) {
  let builtTime;
  try {
    builtTime = fs.statSync(path.join(root, built)).mtimeMs;
  } catch {
    return `${built} does not exist`;
  }
  const best = newest([...sources, 'electron.vite.config.ts'].map((s) => path.join(root, s)));
  return best.mtimeMs > builtTime ? `${path.relative(root, best.file)} is newer than ${built}` : null;
}

/**
 * { kind: 'build' | 'source', file, reason } for the checkout at root; reason says why the
 * source runs (null for the build).
 */
export function cliEntry(root, mode = process.env.TESSERA_CLI) {
  const built = path.join(root, 'out', 'main', 'cli.js');
  const source = { kind: 'source', file: path.join(root, 'src-main', 'cli', 'bin.ts') };
  if (mode === 'source') return { ...source, reason: 'TESSERA_CLI=source' };
  if (mode === 'build') {
    if (!fs.existsSync(built)) throw new Error(`${built} does not exist (TESSERA_CLI=build); npm run build builds it`);
    return { kind: 'build', file: built, reason: null };
  }
  // An installed copy without sources runs its build.
  if (fs.existsSync(built) && !fs.existsSync(source.file)) return { kind: 'build', file: built, reason: null };
  const stale = staleness(root, 'out/main/cli.js', ['src-main']);
  return stale ? { ...source, reason: `${stale} (npm run build updates it)` } : { kind: 'build', file: built, reason: null };
}
