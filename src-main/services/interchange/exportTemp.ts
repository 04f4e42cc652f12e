import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { EXPORT_MARKER, processAlive, recoverInterruptedPlacements } from './exportPlace';

/**
 * The hidden folder an export is written into before it is renamed into place:
 * `.<name>.export-<pid>-<8 hex>` beside the destination, holding a marker file with the pid while
 * it is being written and until it is in place. A process killed mid-export (kill -9, power loss) leaves it behind; the next
 * export into the same parent folder removes the ones whose writer is gone, after finishing or
 * rolling back an overwrite or merge it was placing (recoverInterruptedPlacements).
 */
const TEMP_NAME = /^\..+\.export-(\d{1,10})-[0-9a-f]{8}$/;
const MARKER = EXPORT_MARKER;

/** Temporary folders this process is writing now: never stale, whatever the pid says. */
const active = new Set<string>();

/** Creates the temporary folder for an export into `outDir` (whose parent must exist). */
export function createExportTemp(outDir: string): string {
  const tmp = path.join(path.dirname(outDir), `.${path.basename(outDir)}.export-${process.pid}-${crypto.randomBytes(4).toString('hex')}`);
  fs.mkdirSync(tmp);
  active.add(tmp);
  fs.writeFileSync(path.join(tmp, MARKER), `${process.pid}\n`);
  return tmp;
}

/** The export in `tmp` has ended (renamed into place or removed). */
export function releaseExportTemp(tmp: string): void {
  active.delete(tmp);
}

/**
 * Whether a folder in `parent` is an export's temporary folder whose writer is gone. Only folders
 * with the temporary name that hold the marker (or nothing: killed before the marker was written)
 * qualify, so a user's folder that merely looks alike is never touched. A live process with the
 * recorded pid keeps its folder, even where the pid was reused: the rule errs on keeping.
 */
function isStale(parent: string, name: string): boolean {
  const m = TEMP_NAME.exec(name);
  if (!m) return false;
  const dir = path.join(parent, name);
  if (active.has(dir)) return false;
  let st: fs.Stats;
  let entries: string[];
  try {
    st = fs.lstatSync(dir);
    if (!st.isDirectory()) return false;
    entries = fs.readdirSync(dir);
  } catch {
    return false;
  }
  let pid = Number(m[1]);
  if (entries.length > 0) {
    let marker: string;
    try {
      marker = fs.readFileSync(path.join(dir, MARKER), 'utf8');
    } catch {
      return false;
    }
    if (!/^\d{1,10}\s*$/.test(marker)) return false;
    pid = Number(marker.trim());
  }
  // This process's own pid on a folder it is not writing: left by an earlier process with that pid.
  if (pid === process.pid) return true;
  return !processAlive(pid);
}

/**
 * Removes the temporary folders of exports that were killed in `parent`; returns the paths removed.
 * A folder that cannot be removed is left for a later export: cleaning never fails an export.
 */
export function removeStaleExportTemps(parent: string): string[] {
  const removed = recoverInterruptedPlacements(parent);
  let names: string[];
  try {
    names = fs.readdirSync(parent);
  } catch {
    return removed;
  }
  for (const name of names) {
    if (!isStale(parent, name)) continue;
    const dir = path.join(parent, name);
    try {
      fs.rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
      removed.push(dir);
    } catch {
      /* in use or not ours to remove: kept */
    }
  }
  return removed;
}
