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

/** The pid file an export's temporary folder holds until the export is in place (exportTemp). */
export const EXPORT_MARKER = '.tessera-export.pid';

/** One exported image in a manifest: where its image file belongs, and the files written for it. */
export interface ManifestImage {
  image: string;
  files: string[];
}

interface Manifest {
  writer: 'tessera';
  format: string;
  /** The dataset exported (its uuid). */
  dataset?: string;
  /** Class names in index order: the indices label files refer to. */
  classes?: string[];
  /** Stored image path → that image's files; what a merge needs to remove an image's stale files. */
  images?: Record<string, ManifestImage>;
  files: string[];
}

/** What the exporter knows of an exported image: its stored path, output name and image file path. */
export interface ExportedImage {
  key: string;
  name: string;
  image: string;
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
    const out: Manifest = { writer: 'tessera', format: String(m.format ?? ''), files: m.files };
    if (typeof m.dataset === 'string') out.dataset = m.dataset;
    if (Array.isArray(m.classes) && m.classes.every((c) => typeof c === 'string')) out.classes = m.classes;
    if (m.images && typeof m.images === 'object') {
      const images: Record<string, ManifestImage> = {};
      for (const [k, v] of Object.entries(m.images)) {
        if (v && typeof v.image === 'string' && Array.isArray(v.files) && v.files.every((f) => typeof f === 'string')) images[k] = { image: v.image, files: v.files };
      }
      out.images = images;
    }
    return out;
  } catch {
    return null;
  }
}

const stemOf = (rel: string) => {
  const base = rel.slice(rel.lastIndexOf('/') + 1);
  const dot = base.lastIndexOf('.');
  return (dot > 0 ? base.slice(0, dot) : base).toLowerCase();
};

/**
 * Writes the manifest of the export in `dir` (the files there now, `skip` left out): format, class
 * names in order, and for each image the files written for it: its image file and the files named
 * after it (label file, annotation file, masks); output names are unique by stem (UniqueNames).
 * Files at the top of the folder (beside no image), under ImageSets/ and under annotations/ belong
 * to the export as a whole.
 */
export function writeManifest(
  dir: string,
  format: string,
  skip: readonly string[],
  classes: readonly string[] = [],
  exported: readonly ExportedImage[] = [],
  dataset?: string,
): void {
  const files = filesUnder(dir, [...skip, EXPORT_MANIFEST, EXPORT_MARKER]);
  const byStem = new Map<string, ManifestImage>();
  const images: Record<string, ManifestImage> = {};
  for (const e of exported) {
    const rec: ManifestImage = { image: e.image, files: [] };
    images[e.key] = rec;
    byStem.set(stemOf(e.name), rec);
  }
  for (const f of files) {
    const rec = byStem.get(stemOf(f));
    // Files every export writes whatever its images (data.yaml, split lists, COCO's JSON) are
    // nobody's, even where an image's name happens to match.
    if (!rec || /^(ImageSets|annotations)\//.test(f) || (!f.includes('/') && rec.image.includes('/'))) continue;
    rec.files.push(f);
  }
  const m: Manifest = { writer: 'tessera', format, ...(dataset ? { dataset } : {}), classes: [...classes], images, files };
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

/** What a merge compares with the previous export in the folder. */
export interface MergeExpect {
  format: string;
  classes: readonly string[];
  /** The dataset's uuid. */
  dataset?: string;
}

/**
 * Checks, before anything is written, that the export may go into `outDir`: it is missing or empty,
 * or the caller chose to overwrite (then everything in it must be listed by an earlier export's
 * manifest) or to merge (then the earlier export, where there is one, must be of the same format
 * and classes, and no link may stand in the folder).
 */
export function checkOutDir(outDir: string, ifExists: IfExists, expect?: MergeExpect): void {
  const empty = isEmptyDir(outDir);
  if (empty === null || empty) return;
  if (ifExists === 'refuse') {
    throw new AppError('INVALID_ARGUMENT', `${outDir}: folder is not empty; export into a new or empty folder, or overwrite or merge into it`, {
      path: outDir,
      notEmpty: true,
    });
  }
  if (ifExists === 'overwrite') foreignFiles(outDir);
  if (ifExists === 'merge') {
    noLinks(outDir);
    if (expect) mergeable(outDir, readManifest(outDir), expect);
  }
}

/** A merge writes and removes files under `outDir`: a link there would lead it into another folder (the source images, say). */
function noLinks(outDir: string): void {
  for (const e of fs.readdirSync(outDir, { recursive: true, withFileTypes: true })) {
    if (!e.isSymbolicLink()) continue;
    const p = path.join(e.parentPath, e.name);
    throw new AppError('INVALID_ARGUMENT', `${p}: is a link; merging would write or delete through it, so nothing was merged; remove the link or export into another folder`, {
      path: p,
      link: true,
    });
  }
}

/** Refuses a merge whose result would mix two exports that do not fit together. */
function mergeable(outDir: string, old: Manifest | null, expect: MergeExpect): void {
  if (!old) return;
  const refuse = (why: string, detail: Record<string, unknown>) => {
    throw new AppError('INVALID_ARGUMENT', `${outDir}: cannot merge: ${why}; choose Overwrite (--overwrite) to replace the earlier export, or export into another folder`, {
      path: outDir,
      mergeConflict: true,
      ...detail,
    });
  };
  if (old.format !== expect.format) refuse(`the earlier export there is ${old.format || 'of another format'}, this one is ${expect.format}`, { was: old.format, format: expect.format });
  if (old.dataset && expect.dataset && old.dataset !== expect.dataset) {
    refuse('the earlier export there is of another dataset, whose images could have the same output names as this one\'s', { was: old.dataset, dataset: expect.dataset });
  }
  if (!old.classes || !old.images) refuse(`its ${EXPORT_MANIFEST} does not list the classes and images of the earlier export, so the two cannot be checked to fit`, {});
  const was = old.classes!;
  const now = expect.classes;
  if (was.length !== now.length || was.some((c, i) => c !== now[i])) {
    const i = was.findIndex((c, k) => c !== now[k]);
    const at = i < 0 ? now.length : i;
    refuse(
      `the classes changed since the earlier export (class ${at} was ${JSON.stringify(was[at] ?? null)}, is ${JSON.stringify(now[at] ?? null)}), and its label files number classes by the old list`,
      { was, classes: [...now] },
    );
  }
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
  const foreign = filesUnder(outDir, [EXPORT_MANIFEST, EXPORT_MARKER]).filter((f) => !listed.has(f));
  if (foreign.length > 0) {
    throw new AppError(
      'INVALID_ARGUMENT',
      `${outDir}: holds ${foreign.length} file(s) no export wrote (${foreign.slice(0, 3).join(', ')}${foreign.length > 3 ? ', …' : ''}); overwriting would delete them, so merge into it or move them away`,
      { path: outDir, foreign: true, files: foreign.slice(0, 20) },
    );
  }
}

/**
 * Hidden siblings a placement makes beside `outDir`: `.<name>.replaced-<pid>-<hex>` (the old
 * folder while an overwrite swaps folders), `.<name>.merge-backup-<pid>-<hex>` (the files a merge
 * replaced or removed) and `.<name>.journal-<pid>-<hex>.json`, written before anything moves and
 * removed last. A process killed in between leaves them; recoverInterruptedPlacements finishes or
 * rolls back its work from the journal.
 */
const SIBLING = /^\.(.+)\.(replaced|merge-backup)-(\d{1,10})-([0-9a-f]{8})$/;
const JOURNAL = /^\.(.+)\.journal-(\d{1,10})-([0-9a-f]{8})\.json(\.tmp)?$/;

interface JournalEntry {
  rel: string;
  /** A file was there before (moved to the backup). */
  old: boolean;
  /** The export puts a file there. */
  new: boolean;
}

interface Journal {
  op: 'overwrite' | 'merge';
  pid: number;
  /** Names in the parent folder. */
  out: string;
  tmp: string;
  aside: string;
  /** 'done': every file is in place; what is left is removing the aside folder. */
  phase: 'moving' | 'done';
  entries?: JournalEntry[];
}

/** Test hook: called between the steps of a placement (a test kills the process there). */
export const placementSteps: { step?: (name: string) => void } = {};

function placeId(): string {
  return `${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
}

function sibling(outDir: string, what: string, id: string): string {
  return path.join(path.dirname(outDir), `.${path.basename(outDir)}.${what}-${id}`);
}

/** Written whole or not at all (a new file renamed over the old), and flushed before anything moves. */
function writeJournal(file: string, j: Journal): void {
  const t = `${file}.tmp`;
  const fd = fs.openSync(t, 'w');
  try {
    fs.writeSync(fd, JSON.stringify(j));
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(t, file);
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: the process exists but belongs to another user.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface PlaceOptions {
  /** Compared with the earlier export before a merge (format, class names in order). */
  expect?: MergeExpect;
  /** Whether the dataset still holds the image of this stored path (a merge keeps an uncovered image's files only then). */
  inDataset?: (key: string) => Promise<boolean>;
}

/**
 * Moves the finished export in `tmp` (holding its manifest, and the pid marker until it is in
 * place) to `outDir`.
 *
 * - missing or empty `outDir`: `tmp` is renamed into place.
 * - overwrite: the old folder (only files an earlier export listed, checked again now) is renamed
 *   aside, `tmp` renamed into place, then the old one deleted; if the second rename fails the old
 *   folder is put back.
 * - merge: see mergeInto. `tmp` is removed by the caller.
 *
 * Overwrite and merge write a journal beside `outDir` before moving anything, so that the next
 * export into the same parent folder can finish or roll back one that was killed.
 */
export async function placeExport(tmp: string, outDir: string, ifExists: IfExists, opts: PlaceOptions = {}): Promise<void> {
  const empty = isEmptyDir(outDir);
  if (empty === null || empty) {
    // rename() replaces an empty folder on POSIX but not on Windows.
    if (empty) fs.rmdirSync(outDir);
    fs.renameSync(tmp, outDir);
    fs.rmSync(path.join(outDir, EXPORT_MARKER), { force: true });
    return;
  }
  if (ifExists === 'refuse') checkOutDir(outDir, 'refuse');
  if (ifExists === 'overwrite') {
    foreignFiles(outDir);
    const id = placeId();
    const aside = sibling(outDir, 'replaced', id);
    const journal = sibling(outDir, 'journal', id) + '.json';
    const j: Journal = { op: 'overwrite', pid: process.pid, out: path.basename(outDir), tmp: path.basename(tmp), aside: path.basename(aside), phase: 'moving' };
    writeJournal(journal, j);
    try {
      fs.renameSync(outDir, aside);
    } catch (e) {
      fs.rmSync(journal, { force: true });
      throw e;
    }
    placementSteps.step?.('overwrite:aside');
    try {
      fs.renameSync(tmp, outDir);
    } catch (e) {
      fs.renameSync(aside, outDir);
      fs.rmSync(journal, { force: true });
      throw e;
    }
    placementSteps.step?.('overwrite:placed');
    fs.rmSync(path.join(outDir, EXPORT_MARKER), { force: true });
    writeJournal(journal, { ...j, phase: 'done' });
    fs.rmSync(aside, { recursive: true, force: true, maxRetries: 3 });
    fs.rmSync(journal, { force: true });
    return;
  }
  await mergeInto(tmp, outDir, opts);
}

const under = (dir: string, rel: string) => path.join(dir, ...rel.split('/'));

/** Refuses a path under `outDir` any of whose components is a link, or a folder where a file goes. */
function plainPath(outDir: string, rel: string): void {
  const parts = rel.split('/');
  for (let i = 1; i <= parts.length; i++) {
    const p = path.join(outDir, ...parts.slice(0, i));
    const st = fs.lstatSync(p, { throwIfNoEntry: false });
    if (!st) return;
    if (st.isSymbolicLink()) {
      throw new AppError('INVALID_ARGUMENT', `${p}: is a link; merging would write or delete through it, so nothing was merged; remove the link or export into another folder`, { path: p, link: true });
    }
    if (i < parts.length && !st.isDirectory()) throw new AppError('INVALID_ARGUMENT', `${p}: is a file where the export writes a folder; nothing was merged`, { path: p });
    if (i === parts.length && st.isDirectory()) throw new AppError('INVALID_ARGUMENT', `${p}: is a folder where the export writes a file; nothing was merged`, { path: p });
  }
}

/**
 * Merges the export in `tmp` into `outDir`, which may hold an earlier export and files of the user's.
 *
 * - Refused (nothing changes) when the earlier export is of another format or other classes (names
 *   in order), or when a link stands in the folder.
 * - Each file of the export replaces the file of the same path.
 * - Files the earlier export wrote (listed in its manifest) that this one does not write are
 *   removed, except the files of images this export does not cover that the dataset still holds
 *   (an export of only the done images keeps the others' files), and an image file an earlier
 *   export copied where this export, writing no image files, would have put it. So an image whose
 *   split or output name changed, or that was deleted, leaves nothing behind, and split lists and
 *   other files of the earlier export that this one no longer writes go.
 * - Files no export wrote are kept.
 * - All or nothing: the files replaced or removed are moved to a backup folder first and put
 *   back if any move fails (or, after a crash, by the next export: see the journal).
 */
async function mergeInto(tmp: string, outDir: string, opts: PlaceOptions): Promise<void> {
  const files = filesUnder(tmp, [EXPORT_MANIFEST, EXPORT_MARKER]);
  const fresh = readManifest(tmp);
  if (!fresh) throw new AppError('INTERNAL', `${tmp}: the export has no ${EXPORT_MANIFEST}`, { path: tmp });
  noLinks(outDir);
  const old = readManifest(outDir);
  if (opts.expect) mergeable(outDir, old, opts.expect);
  const writes = new Set(files);
  const images: Record<string, ManifestImage> = { ...(fresh.images ?? {}) };
  // An earlier export's files this one does not write: stale unless they belong to an image kept as it was.
  const removals: string[] = [];
  if (old) {
    const keep = new Set<string>();
    for (const [key, rec] of Object.entries(old.images ?? {})) {
      const now = fresh.images?.[key];
      if (now) {
        // Covered again: its old image file stays only where this export would have put it.
        if (rec.image === now.image && rec.files.includes(rec.image) && !writes.has(rec.image)) {
          keep.add(rec.image);
          now.files = [...now.files, rec.image].sort();
        }
      } else if (await opts.inDataset?.(key)) {
        const taken = rec.files.find((f) => writes.has(f));
        if (taken) {
          // Output names are unique per export: another image now has this one's name.
          throw new AppError(
            'INVALID_ARGUMENT',
            `${outDir}: cannot merge: ${taken} of the earlier export belongs to ${key}, which this export does not include, and this export writes another image's file there; choose Overwrite (--overwrite), or export all images`,
            { path: outDir, mergeConflict: true, file: taken, image: key },
          );
        }
        const left = rec.files;
        for (const f of left) keep.add(f);
        images[key] = { image: rec.image, files: left };
      }
    }
    for (const f of old.files) {
      if (writes.has(f) || keep.has(f) || f === EXPORT_MANIFEST) continue;
      const st = fs.lstatSync(under(outDir, f), { throwIfNoEntry: false });
      if (st?.isFile()) removals.push(f);
    }
  }
  for (const rel of [...files, ...removals]) plainPath(outDir, rel);

  const entries: JournalEntry[] = [];
  for (const rel of [...files, EXPORT_MANIFEST]) entries.push({ rel, old: fs.existsSync(under(outDir, rel)), new: true });
  for (const rel of removals) entries.push({ rel, old: true, new: false });

  // The manifest lists this export's files and the earlier ones kept.
  const removed = new Set(removals);
  const kept = (old?.files ?? []).filter((f) => !writes.has(f) && !removed.has(f) && f !== EXPORT_MANIFEST && fs.existsSync(under(outDir, f)));
  const m: Manifest = { ...fresh, images, files: [...new Set([...files, ...kept])].sort() };
  fs.writeFileSync(path.join(tmp, EXPORT_MANIFEST), `${JSON.stringify(m, null, 1)}\n`);

  const id = placeId();
  const backup = sibling(outDir, 'merge-backup', id);
  const journal = sibling(outDir, 'journal', id) + '.json';
  const j: Journal = { op: 'merge', pid: process.pid, out: path.basename(outDir), tmp: path.basename(tmp), aside: path.basename(backup), phase: 'moving', entries };
  writeJournal(journal, j);
  fs.mkdirSync(backup);
  let moved = 0;
  try {
    for (const e of entries) {
      const dest = under(outDir, e.rel);
      if (e.old) {
        const b = under(backup, e.rel);
        fs.mkdirSync(path.dirname(b), { recursive: true });
        fs.renameSync(dest, b);
      }
      moved++;
      placementSteps.step?.(`merge:${moved}`);
      if (e.new) {
        fs.mkdirSync(path.dirname(dest), { recursive: true });
        fs.renameSync(under(tmp, e.rel), dest);
      }
    }
  } catch (e) {
    const restored = rollBack(outDir, backup, entries.slice(0, moved + 1));
    if (restored) {
      fs.rmSync(backup, { recursive: true, force: true, maxRetries: 3 });
      fs.rmSync(journal, { force: true });
    }
    throw e;
  }
  writeJournal(journal, { ...j, phase: 'done', entries: [] });
  fs.rmSync(backup, { recursive: true, force: true, maxRetries: 3 });
  fs.rmSync(journal, { force: true });
}

const escapeRe = (t: string) => t.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const safeRel = (rel: string) => rel !== '' && !rel.includes('\\') && !path.isAbsolute(rel) && rel.split('/').every((p) => p !== '' && p !== '.' && p !== '..');

/** Puts back what a merge moved; false when something could not be (the backup keeps it). */
function rollBack(outDir: string, backup: string, entries: readonly JournalEntry[]): boolean {
  let restored = true;
  for (const e of [...entries].reverse()) {
    const dest = under(outDir, e.rel);
    const b = under(backup, e.rel);
    try {
      if (e.old) {
        if (!fs.existsSync(b)) continue; // not moved yet
        fs.rmSync(dest, { force: true });
        fs.renameSync(b, dest);
      } else if (e.new) {
        // Nothing stood there before the merge: whatever is there now the merge put.
        fs.rmSync(dest, { force: true });
      }
    } catch {
      restored = false;
    }
  }
  return restored;
}

/**
 * Finishes or rolls back the placements of exports into `parent` whose process is gone, from
 * their journals: an overwrite killed before its new folder was in place gets the old one back,
 * one killed after loses the old one; a merge killed while moving files gets every file it moved
 * put back, one killed after loses its backup. Aside folders without a journal (killed by
 * an earlier version) are finished likewise. Returns the paths removed; never throws.
 */
export function recoverInterruptedPlacements(parent: string): string[] {
  // Placement is synchronous: one of this process's own pid was left by an earlier process with that pid.
  const gone = (pid: number) => pid === process.pid || !processAlive(pid);
  let names: string[];
  try {
    names = fs.readdirSync(parent);
  } catch {
    return [];
  }
  const removed: string[] = [];
  const rm = (p: string) => {
    try {
      fs.rmSync(p, { recursive: true, force: true, maxRetries: 3 });
      removed.push(p);
    } catch {
      /* left for a later export */
    }
  };
  const handled = new Set<string>();
  for (const name of names) {
    const m = JOURNAL.exec(name);
    if (!m || !gone(Number(m[2]))) continue;
    const file = path.join(parent, name);
    if (m[4]) {
      // A journal that was being written: the complete one beside it (or none: nothing moved yet) decides.
      rm(file);
      continue;
    }
    let j: Journal;
    try {
      j = JSON.parse(fs.readFileSync(file, 'utf8')) as Journal;
      if ((j.op !== 'overwrite' && j.op !== 'merge') || typeof j.out !== 'string' || typeof j.aside !== 'string' || typeof j.tmp !== 'string') throw new Error('bad journal');
    } catch {
      continue; // not ours to interpret
    }
    // Only names a placement makes, for the folder the journal is named after, and paths inside it.
    const ok =
      j.out === m[1] &&
      SIBLING.exec(j.aside)?.[1] === j.out &&
      new RegExp(`^\\.${escapeRe(j.out)}\\.export-\\d{1,10}-[0-9a-f]{8}$`).test(j.tmp) &&
      (j.entries ?? []).every((e) => typeof e.rel === 'string' && safeRel(e.rel));
    if (!ok) continue;
    const outDir = path.join(parent, j.out);
    const aside = path.join(parent, j.aside);
    handled.add(j.aside);
    try {
      if (j.op === 'overwrite') {
        if (!fs.existsSync(outDir) && fs.existsSync(aside)) fs.renameSync(aside, outDir);
        else {
          fs.rmSync(path.join(outDir, EXPORT_MARKER), { force: true });
          rm(aside);
        }
      } else {
        if (j.phase === 'moving' && fs.existsSync(aside)) {
          if (!rollBack(outDir, aside, j.entries ?? [])) continue;
        }
        rm(aside);
      }
      rm(path.join(parent, j.tmp));
      rm(file);
    } catch {
      /* left for a later export */
    }
  }
  for (const name of names) {
    const m = SIBLING.exec(name);
    if (!m || handled.has(name) || !gone(Number(m[3]))) continue;
    if (names.some((n) => JOURNAL.exec(n)?.[3] === m[4])) continue; // its journal is in use or unreadable
    const dir = path.join(parent, name);
    const outDir = path.join(parent, m[1]!);
    try {
      if (!fs.lstatSync(dir).isDirectory()) continue;
      if (m[2] === 'replaced' && !fs.existsSync(outDir)) {
        fs.renameSync(dir, outDir);
        continue;
      }
      if (m[2] === 'merge-backup' && fs.existsSync(outDir)) {
        // Put back what is missing; a file the merge already replaced keeps the new one.
        for (const rel of filesUnder(dir)) {
          const dest = under(outDir, rel);
          if (fs.lstatSync(dest, { throwIfNoEntry: false })) continue;
          fs.mkdirSync(path.dirname(dest), { recursive: true });
          fs.renameSync(under(dir, rel), dest);
        }
      }
      rm(dir);
    } catch {
      /* left for a later export */
    }
  }
  return removed;
}
