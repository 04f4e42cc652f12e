import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { AppError } from '../../common/errors';

/**
 * Every export leaves this file in its folder: the format and every file it wrote (paths relative
 * to the folder, `/`-separated). It is what lets a later export overwrite the folder safely:
 * only files some export listed here are ever removed.
 */
export const EXPORT_MANIFEST = '.tessera-export.json';

/** What to do with an output folder that is not empty. */
export type IfExists = 'refuse' | 'overwrite' | 'merge';

interface Manifest {
  writer: 'tessera';
  format: string;
  files: string[];
}

/** Files under `dir`, relative and `/`-separated, sorted; `skip` names (at any depth) left out. */
export function filesUnder(dir: string, skip: readonly string[] = []): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (e.isDirectory()) continue;
    if (skip.includes(e.name) && e.parentPath === dir) continue;
    out.push(path.relative(dir, path.join(e.parentPath, e.name)).split(path.sep).join('/'));
  }
  return out.sort();
}

function readManifest(dir: string): Manifest | null {
  let text: string;
  try {
    text = fs.readFileSync(path.join(dir, EXPORT_MANIFEST), 'utf8');
  } catch {
    return null;
  }
  try {
    const m = JSON.parse(text) as Partial<Manifest>;
    if (m.writer !== 'tessera' || !Array.isArray(m.files) || !m.files.every((f) => typeof f === 'string')) return null;
    return { writer: 'tessera', format: String(m.format ?? ''), files: m.files };
  } catch {
    return null;
  }
}

/** Writes the manifest of the export in `dir` (the files there now, `skip` left out). */
export function writeManifest(dir: string, format: string, skip: readonly string[]): void {
  const files = filesUnder(dir, [...skip, EXPORT_MANIFEST]);
  const m: Manifest = { writer: 'tessera', format, files };
  fs.writeFileSync(path.join(dir, EXPORT_MANIFEST), `${JSON.stringify(m, null, 1)}\n`);
}

function isEmptyDir(dir: string): boolean | null {
  let st: fs.Stats;
  try {
    st = fs.statSync(dir);
  } catch {
    return null;
  }
  if (!st.isDirectory()) throw new AppError('INVALID_ARGUMENT', `${dir}: exists and is not a folder`, { path: dir });
  return fs.readdirSync(dir).length === 0;
}

/**
 * Checks, before anything is written, that the export may go into `outDir`: it is missing or empty,
 * or the caller chose to overwrite (then everything in it must be listed by an earlier export's
 * manifest) or to merge.
 */
export function checkOutDir(outDir: string, ifExists: IfExists): void {
  const empty = isEmptyDir(outDir);
  if (empty === null || empty) return;
  if (ifExists === 'refuse') {
    throw new AppError('INVALID_ARGUMENT', `${outDir}: folder is not empty; export into a new or empty folder, or overwrite or merge into it`, {
      path: outDir,
      notEmpty: true,
    });
  }
  if (ifExists === 'overwrite') foreignFiles(outDir);
}

/** Refuses to overwrite a folder holding files no earlier export listed (they would be lost). */
function foreignFiles(outDir: string): void {
  const m = readManifest(outDir);
  if (!m) {
    throw new AppError(
      'INVALID_ARGUMENT',
      `${outDir}: was not written by an export (no ${EXPORT_MANIFEST}), so overwriting could delete files of yours; merge into it, or choose an empty folder`,
      { path: outDir, foreign: true },
    );
  }
  const listed = new Set(m.files);
  const foreign = filesUnder(outDir, [EXPORT_MANIFEST]).filter((f) => !listed.has(f));
  if (foreign.length > 0) {
    throw new AppError(
      'INVALID_ARGUMENT',
      `${outDir}: holds ${foreign.length} file(s) no export wrote (${foreign.slice(0, 3).join(', ')}${foreign.length > 3 ? ', …' : ''}); overwriting would delete them, so merge into it or move them away`,
      { path: outDir, foreign: true, files: foreign.slice(0, 20) },
    );
  }
}

function sibling(outDir: string, what: string): string {
  return path.join(path.dirname(outDir), `.${path.basename(outDir)}.${what}-${process.pid}-${crypto.randomBytes(4).toString('hex')}`);
}

/**
 * Moves the finished export in `tmp` (holding its manifest) to `outDir`.
 *
 * - missing or empty `outDir`: `tmp` is renamed into place.
 * - overwrite: the old folder (only files an earlier export listed, checked again now) is renamed
 *   aside, `tmp` renamed into place, then the old one deleted; if the second rename fails the old
 *   folder is put back.
 * - merge: each file of the export replaces the file of the same path (the old ones are moved
 *   to a backup folder first and put back if any move fails), files the export did not write are
 *   kept, and the manifest lists the files of both. `tmp` is removed by the caller.
 */
export function placeExport(tmp: string, outDir: string, ifExists: IfExists): void {
  const empty = isEmptyDir(outDir);
  if (empty === null || empty) {
    // rename() replaces an empty folder on POSIX but not on Windows.
    if (empty) fs.rmdirSync(outDir);
    fs.renameSync(tmp, outDir);
    return;
  }
  if (ifExists === 'refuse') checkOutDir(outDir, 'refuse');
  if (ifExists === 'overwrite') {
    foreignFiles(outDir);
    const aside = sibling(outDir, 'replaced');
    fs.renameSync(outDir, aside);
    try {
      fs.renameSync(tmp, outDir);
    } catch (e) {
      fs.renameSync(aside, outDir);
      throw e;
    }
    fs.rmSync(aside, { recursive: true, force: true, maxRetries: 3 });
    return;
  }
  mergeInto(tmp, outDir);
}

function mergeInto(tmp: string, outDir: string): void {
  const files = filesUnder(tmp, [EXPORT_MANIFEST]);
  // Nothing moves unless every file can: a folder where a file goes, or a file where a folder goes, stops it.
  for (const rel of files) {
    const dest = path.join(outDir, ...rel.split('/'));
    const st = fs.statSync(dest, { throwIfNoEntry: false });
    if (st?.isDirectory()) throw new AppError('INVALID_ARGUMENT', `${dest}: is a folder where the export writes a file; nothing was merged`, { path: dest });
    const parts = rel.split('/');
    for (let i = 1; i < parts.length; i++) {
      const p = path.join(outDir, ...parts.slice(0, i));
      const ps = fs.statSync(p, { throwIfNoEntry: false });
      if (ps && !ps.isDirectory()) throw new AppError('INVALID_ARGUMENT', `${p}: is a file where the export writes a folder; nothing was merged`, { path: p });
    }
  }
  const old = readManifest(outDir);
  const backup = sibling(outDir, 'merge-backup');
  fs.mkdirSync(backup);
  const done: { rel: string; replaced: boolean }[] = [];
  try {
    for (const rel of [...files, EXPORT_MANIFEST]) {
      const src = path.join(tmp, ...rel.split('/'));
      const dest = path.join(outDir, ...rel.split('/'));
      if (rel === EXPORT_MANIFEST) {
        const union = new Set([...(old?.files ?? []), ...files]);
        const kept = [...union].filter((f) => f !== EXPORT_MANIFEST && fs.existsSync(path.join(outDir, ...f.split('/')))).sort();
        const m = JSON.parse(fs.readFileSync(src, 'utf8')) as Manifest;
        fs.writeFileSync(src, `${JSON.stringify({ ...m, files: kept }, null, 1)}\n`);
      }
      let replaced = false;
      if (fs.existsSync(dest)) {
        const b = path.join(backup, ...rel.split('/'));
        fs.mkdirSync(path.dirname(b), { recursive: true });
        fs.renameSync(dest, b);
        replaced = true;
      }
      done.push({ rel, replaced });
      fs.mkdirSync(path.dirname(dest), { recursive: true });
      fs.renameSync(src, dest);
    }
  } catch (e) {
    let restored = true;
    for (const { rel, replaced } of done.reverse()) {
      const dest = path.join(outDir, ...rel.split('/'));
      try {
        if (fs.existsSync(dest)) fs.rmSync(dest, { force: true });
        if (replaced) fs.renameSync(path.join(backup, ...rel.split('/')), dest);
      } catch {
        restored = false; // the backup folder keeps what could not be put back
      }
    }
    if (restored) fs.rmSync(backup, { recursive: true, force: true, maxRetries: 3 });
    throw e;
  }
  fs.rmSync(backup, { recursive: true, force: true, maxRetries: 3 });
}
