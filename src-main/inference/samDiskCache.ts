import fs from 'node:fs';
import path from 'node:path';

/**
 * The dataset's embedding cache on disk is bounded: an embedding is 4 MB (1×256×64×64 float32),
 * so caching every image of a large dataset would fill the disk. Reading a file marks it used
 * (its modification time), and after each write the least recently used files go until the folder
 * holds at most the cap again. `TESSERA_SAM_CACHE_MB` sets the cap (default 2048 MB; 0 keeps
 * nothing on disk).
 */
export const DEFAULT_CACHE_MB = 2048;

/** The cap in bytes: `TESSERA_SAM_CACHE_MB` when it is a number of megabytes, else the default. */
export function cacheCapBytes(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env['TESSERA_SAM_CACHE_MB'];
  const mb = raw !== undefined && raw.trim() !== '' && Number.isFinite(Number(raw)) && Number(raw) >= 0 ? Number(raw) : DEFAULT_CACHE_MB;
  return Math.floor(mb * 1024 * 1024);
}

/** Marks a cache file as used now, so pruning keeps it longer; a file gone meanwhile is no error. */
export function touch(file: string): void {
  const now = new Date();
  try {
    fs.utimesSync(file, now, now);
  } catch {
    // Removed by another pruning thread or by the user: the next read encodes again.
  }
}

/** Temporary files older than this are left over from a crash and are removed. */
const STALE_TMP_MS = 60 * 60 * 1000;

export interface PruneResult {
  files: number;
  bytes: number;
  removed: number;
  removedBytes: number;
}

/**
 * Removes the least recently used embeddings under `root` (files `<root>/<xx>/<name>.emb`) until
 * they take at most `capBytes`, and temporary files left over from a crash. `keep` is never
 * removed (the file just written).
 */
export function prune(root: string, capBytes: number, keep?: string): PruneResult {
  const entries: { file: string; size: number; mtimeMs: number }[] = [];
  let dirs: string[];
  try {
    dirs = fs.readdirSync(root);
  } catch {
    return { files: 0, bytes: 0, removed: 0, removedBytes: 0 };
  }
  const now = Date.now();
  for (const d of dirs) {
    const dir = path.join(root, d);
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch {
      continue;
    }
    for (const name of names) {
      const file = path.join(dir, name);
      let st: fs.Stats;
      try {
        st = fs.statSync(file);
      } catch {
        continue;
      }
      if (!st.isFile()) continue;
      if (name.endsWith('.tmp')) {
        if (now - st.mtimeMs > STALE_TMP_MS) fs.rmSync(file, { force: true });
        continue;
      }
      if (name.endsWith('.emb')) entries.push({ file, size: st.size, mtimeMs: st.mtimeMs });
    }
  }
  let bytes = entries.reduce((s, e) => s + e.size, 0);
  const total = { files: entries.length, bytes };
  let removed = 0;
  let removedBytes = 0;
  if (bytes > capBytes) {
    entries.sort((a, b) => a.mtimeMs - b.mtimeMs);
    for (const e of entries) {
      if (bytes <= capBytes) break;
      if (keep && path.resolve(e.file) === path.resolve(keep)) continue;
      try {
        fs.rmSync(e.file, { force: true });
      } catch {
        continue;
      }
      bytes -= e.size;
      removed++;
      removedBytes += e.size;
    }
  }
  return { ...total, removed, removedBytes };
}
