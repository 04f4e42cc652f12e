import fs from 'node:fs';
import path from 'node:path';
import { AppError } from '../common/errors';
import type { ImportDuplicate, ImportProblem, ImportReport, JobProgress } from '../common/model';
import type { DicomMeta } from '../common/imaging/dicom';
import { findByHashes, findByPath, insertImages, type NewImage } from '../db/images';
import { setImagingMeta } from '../db/imaging';
import { rebuildStacks } from '../db/stacks';
import { probeGeoReferences, storeGeoReferences } from './geotiff';
import type { Dataset } from './dataset';
import { isInside, toStoredPath } from './paths';
import { IMAGE_EXTENSIONS, probeImage, type ProbeResult } from './probe';

/** 2.5 gigapixels: a 50,000 x 50,000 orthomosaic passes, a decompression bomb does not. */
export const DEFAULT_MAX_PIXELS = 2_500_000_000;

/** The pixel guard, from TESSERA_MAX_PIXELS when set to a positive number. */
export function maxPixelsSetting(env: NodeJS.ProcessEnv = process.env): number {
  const v = Number(env['TESSERA_MAX_PIXELS']);
  return Number.isFinite(v) && v > 0 ? v : DEFAULT_MAX_PIXELS;
}

export interface ImportOptions {
  paths: readonly string[];
  recursive?: boolean;
  /** Files outside the dataset root are refused unless the user agreed to store absolute paths. */
  allowOutsideRoot?: boolean;
  /** Files this caller may read (browser mode: its served folders); every file when absent. */
  confine?: (absFile: string) => boolean;
  maxPixels?: number;
  /** Files probed at once; probing is I/O and libvips thread-pool bound. */
  concurrency?: number;
  isCancelled?: () => boolean;
  onProgress?: (p: Omit<JobProgress, 'jobId' | 'kind'>) => void;
  /** Minimum milliseconds between progress reports. */
  progressIntervalMs?: number;
}

interface Candidate {
  file: string;
  /** Named explicitly (not found by walking a folder): unsupported extensions are reported. */
  explicit: boolean;
}

/**
 * Imports image files into a dataset. Files are probed first (hash, size, depth, frames) and
 * problems are collected per file; the accepted images are then written in one transaction, so
 * an import that fails or is cancelled leaves the dataset as it was.
 */
export async function importImages(ds: Dataset, opts: ImportOptions): Promise<ImportReport> {
  const t0 = Date.now();
  const maxPixels = opts.maxPixels ?? maxPixelsSetting();
  const cancelled = opts.isCancelled ?? (() => false);
  const problems: ImportProblem[] = [];
  const duplicates: ImportDuplicate[] = [];
  let ignored = 0;

  const report = (extra: Partial<ImportReport>): ImportReport => ({
    cancelled: false,
    scanned: 0,
    imported: 0,
    duplicates,
    problems,
    ignored,
    external: 0,
    elapsedMs: Date.now() - t0,
    ...extra,
  });

  // 1. Expand folders and list files.
  opts.onProgress?.({ phase: 'scanning', done: 0, total: 0, imported: 0, duplicates: 0, problems: 0, etaMs: null });
  const candidates: Candidate[] = [];
  for (const p of opts.paths) {
    const abs = path.resolve(p);
    let st: fs.Stats;
    try {
      st = await fs.promises.stat(abs);
    } catch {
      problems.push({ file: abs, kind: 'unreadable', reason: 'no such file or folder' });
      continue;
    }
    if (!opts.allowOutsideRoot && !isInside(ds.root, abs)) {
      throw new AppError(
        'PATH_OUTSIDE_ROOT',
        `${abs}: outside the dataset root ${ds.root}; allow absolute paths to import it from there`,
        { path: abs, root: ds.root },
      );
    }
    if (st.isDirectory()) {
      // Links are followed to files (and folders) inside the dataset root, or inside this folder
      // when the user allowed paths outside the root; others are reported, never dropped silently.
      const allowed = [realpathOr(ds.root), ...(opts.allowOutsideRoot ? [realpathOr(abs)] : [])];
      const found = await walk(abs, { recursive: opts.recursive ?? true, cancelled, allowed, problems });
      for (const f of found) {
        if (IMAGE_EXTENSIONS.has(path.extname(f).toLowerCase())) candidates.push({ file: f, explicit: false });
        else ignored++;
      }
    } else if (path.extname(abs).toLowerCase() === '.txt' || path.extname(abs).toLowerCase() === '.lst') {
      candidates.push(...(await readList(abs)).map((file) => ({ file, explicit: true })));
    } else {
      candidates.push({ file: abs, explicit: true });
    }
    if (cancelled()) return report({ cancelled: true });
  }

  // Paths from lists must obey the same root rule as the arguments.
  const accepted: Candidate[] = [];
  const seenFiles = new Set<string>();
  for (const c of candidates) {
    if (seenFiles.has(c.file)) continue;
    seenFiles.add(c.file);
    if (!opts.allowOutsideRoot && !isInside(ds.root, c.file)) {
      problems.push({ file: c.file, kind: 'outside_root', reason: `outside the dataset root ${ds.root}` });
      continue;
    }
    if (opts.confine && !opts.confine(realpathOr(c.file))) {
      problems.push({ file: c.file, kind: 'outside_root', reason: 'outside the folders this server may use; not read' });
      continue;
    }
    if (c.explicit && !IMAGE_EXTENSIONS.has(path.extname(c.file).toLowerCase())) {
      problems.push({ file: c.file, kind: 'unsupported', reason: `unsupported file type "${path.extname(c.file) || '(none)'}"` });
      continue;
    }
    accepted.push(c);
  }

  // 2. Probe with bounded concurrency, in input order for stable ids.
  const total = accepted.length;
  const results = await probeFiles(
    accepted.map((c) => c.file),
    {
      maxPixels,
      concurrency: opts.concurrency,
      isCancelled: cancelled,
      progressIntervalMs: opts.progressIntervalMs,
      onProblem: (p) => problems.push(p),
      onProgress: opts.onProgress && ((p) => opts.onProgress!({ ...p, duplicates: duplicates.length, problems: problems.length })),
    },
  );
  if (cancelled()) return report({ cancelled: true, scanned: total });

  // 3. Drop duplicates (within this import and against the dataset), then write all at once.
  const probed = results.filter((r): r is ProbeResult => r !== null);
  const existing = await findByHashes(
    ds.db,
    probed.map((r) => r.contentHash),
  );
  const byHash = new Map<string, string>();
  const rows: NewImage[] = [];
  const dicomOf: (DicomMeta | undefined)[] = [];
  const fileOf: string[] = [];
  let external = 0;
  for (const r of probed) {
    const stored = toStoredPath(ds.root, r.file);
    const dupOf = existing.get(r.contentHash) ?? byHash.get(r.contentHash);
    if (dupOf !== undefined) {
      duplicates.push({ file: r.file, duplicateOf: dupOf });
      continue;
    }
    const samePath = await findByPath(ds.db, stored.path);
    if (samePath) {
      problems.push({
        file: r.file,
        kind: 'conflict',
        reason: `already in the dataset with different content (changed on disk since import, id ${samePath.id})`,
      });
      continue;
    }
    byHash.set(r.contentHash, stored.path);
    if (stored.external) external++;
    rows.push(imageRow(r, stored));
    dicomOf.push(r.dicom);
    fileOf.push(r.file);
  }
  // GeoTIFF georeferences (tags only), read before the write transaction.
  const geoOf = await probeGeoReferences(rows.map((r, i) => ({ file: fileOf[i]!, format: r.format })));
  opts.onProgress?.({
    phase: 'writing',
    done: total,
    total,
    imported: 0,
    duplicates: duplicates.length,
    problems: problems.length,
    etaMs: 0,
  });
  await ds.db.transaction(async () => {
    const ids = await insertImages(ds.db, rows);
    for (const [i, id] of ids.entries()) {
      const meta = dicomOf[i];
      if (meta) await setImagingMeta(ds.db, id, meta);
    }
    await storeGeoReferences(ds.db, ids, geoOf);
    // New files may join a series or a numbered sequence, or complete one.
    if (ids.length > 0) await rebuildStacks(ds.db);
  })();
  problems.sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
  opts.onProgress?.({
    phase: 'done',
    done: total,
    total,
    imported: rows.length,
    duplicates: duplicates.length,
    problems: problems.length,
    etaMs: 0,
  });
  return report({ scanned: total, imported: rows.length, external });
}

export interface ProbeFilesOptions {
  maxPixels: number;
  concurrency?: number;
  isCancelled?: () => boolean;
  /** Minimum milliseconds between progress reports. */
  progressIntervalMs?: number;
  onProblem: (p: ImportProblem) => void;
  onProgress?: (p: Omit<JobProgress, 'jobId' | 'kind'>) => void;
}

/**
 * The probe phase, shared by the image import and the annotated-dataset import: probes files
 * with bounded concurrency and returns results aligned with `files` (null where the file was
 * refused, reported through `onProblem`, or not reached because the job was cancelled).
 */
export async function probeFiles(files: readonly string[], opts: ProbeFilesOptions): Promise<(ProbeResult | null)[]> {
  const cancelled = opts.isCancelled ?? (() => false);
  const total = files.length;
  const results: (ProbeResult | null)[] = new Array(total).fill(null);
  let done = 0;
  let next = 0;
  let failed = 0;
  let lastReport = 0;
  const interval = opts.progressIntervalMs ?? 100;
  const tProbe = Date.now();
  const progress = (force = false): void => {
    const now = Date.now();
    if (!opts.onProgress || (!force && now - lastReport < interval)) return;
    lastReport = now;
    const rate = done / Math.max(1, now - tProbe);
    opts.onProgress({
      phase: 'probing',
      done,
      total,
      imported: 0,
      duplicates: 0,
      problems: failed,
      etaMs: done > 0 ? Math.round((total - done) / rate) : null,
    });
  };
  const worker = async (): Promise<void> => {
    while (next < total && !cancelled()) {
      const i = next++;
      const outcome = await probeImage(files[i]!, { maxPixels: opts.maxPixels });
      if (outcome.ok) results[i] = outcome.value;
      else {
        failed++;
        opts.onProblem(outcome.problem);
      }
      done++;
      progress();
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(opts.concurrency ?? 16, total)) }, worker));
  if (!cancelled()) progress(true);
  return results;
}

/** The row the write phase inserts for a probed file stored at `stored`. */
export function imageRow(probe: ProbeResult, stored: { path: string; external: boolean }): NewImage {
  const { file: _file, dicom: _dicom, ...rest } = probe;
  return { ...rest, path: stored.path, external: stored.external };
}

function realpathOr(p: string): string {
  try {
    return fs.realpathSync(p);
  } catch {
    return p;
  }
}

interface WalkOptions {
  recursive: boolean;
  cancelled: () => boolean;
  /** Real paths that links may lead into. */
  allowed: readonly string[];
  /** Receives the links that are not followed, with the reason. */
  problems: ImportProblem[];
}

/**
 * The files below `dir`, in name order. Symbolic links are followed to files and folders inside
 * the allowed roots; a loop, a dangling link, a link leading outside them, and a link back to a
 * folder already walked are reported instead, except that a link named like no image and not
 * leading to a folder is ignored as any file that is not an image is.
 */
async function walk(dir: string, o: WalkOptions): Promise<string[]> {
  const out: string[] = [];
  const stack = [dir];
  const walked = new Set<string>();
  const realStart = realpathOr(dir);
  while (stack.length && !o.cancelled()) {
    const d = stack.pop()!;
    // A folder reached twice (directly and through a link) is read once.
    const real = realpathOr(d);
    if (walked.has(real)) continue;
    walked.add(real);
    let entries: fs.Dirent[];
    try {
      entries = await fs.promises.readdir(d, { withFileTypes: true });
    } catch {
      continue;
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const subdirs: string[] = [];
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const p = path.join(d, e.name);
      if (e.isDirectory()) {
        // The dataset's own cache folder is never imported.
        if (!e.name.endsWith('-cache')) subdirs.push(p);
      } else if (e.isFile()) out.push(p);
      else if (e.isSymbolicLink()) {
        const target = await followLink(p, o);
        if (target === 'file') out.push(p);
        else if (target !== null && !e.name.endsWith('-cache')) {
          if (isInside(target.dir, real) || isInside(target.dir, realStart)) {
            // A link to a folder holding this one (an ancestor) would walk it again, and more.
            o.problems.push({ file: p, kind: 'unreadable', reason: `a link back to the folder ${target.dir}, which holds or is a folder already being imported (a loop); not followed` });
          } else if (walked.has(target.dir) || stack.some((s) => realpathOr(s) === target.dir)) {
            o.problems.push({ file: p, kind: 'unreadable', reason: `a second route to the folder ${target.dir}, already imported through another path; not followed` });
          } else subdirs.push(p);
        }
      }
    }
    if (o.recursive) stack.push(...subdirs.reverse());
  }
  return out;
}

/**
 * Where a symbolic link leads: a file, a folder (by real path), or null once reported. A link
 * whose name is not an image's that does not lead to a folder is only listed, by its name, and
 * then ignored like any other file that is not an image: it is never reported.
 */
async function followLink(link: string, o: WalkOptions): Promise<'file' | { dir: string } | null> {
  const image = IMAGE_EXTENSIONS.has(path.extname(link).toLowerCase());
  let real: string;
  try {
    real = await fs.promises.realpath(link);
  } catch (e) {
    if (!image) return 'file';
    const code = (e as NodeJS.ErrnoException).code;
    const to = await fs.promises.readlink(link).catch(() => '?');
    const reason =
      code === 'ELOOP'
        ? `a symbolic link loop (-> ${to}): it never reaches a file`
        : code === 'ENOENT'
          ? `a dangling symbolic link: its target ${to} does not exist`
          : `cannot follow the symbolic link to ${to} (${code ?? (e as Error).message})`;
    o.problems.push({ file: link, kind: 'unreadable', reason });
    return null;
  }
  const st = await fs.promises.stat(real).catch(() => null);
  if (!image && !st?.isDirectory()) return 'file';
  if (!o.allowed.some((r) => isInside(r, real))) {
    o.problems.push({ file: link, kind: 'outside_root', reason: `a symbolic link leading outside ${o.allowed.join(' and ')} (to ${real}); not followed` });
    return null;
  }
  if (st?.isFile()) return 'file';
  if (st?.isDirectory()) return o.recursive ? { dir: real } : null;
  o.problems.push({ file: link, kind: 'unreadable', reason: `a symbolic link to ${real}, which is not a regular file or folder` });
  return null;
}

/** A list file names one image per line, relative to the list's folder; # starts a comment. */
async function readList(file: string): Promise<string[]> {
  const text = await fs.promises.readFile(file, 'utf8');
  const dir = path.dirname(file);
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l.length > 0 && !l.startsWith('#'))
    .map((l) => path.resolve(dir, l));
}
