import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { AppError, isAppError } from '../../common/errors';
import { safeRelativeKey } from '../../common/formats/paths';
import type { FormatName, FormatProblem, InterchangeDataset, InterchangeImage, InterchangeReport } from '../../common/formats/types';
import { ringSignedArea, validateGeometry } from '../../common/geometry/shapes';
import { nextClassColours } from '../../common/palette';
import { ANNOTATION_KINDS, SPLITS, type AttributeValue, type Geometry, type JobProgress, type KeypointSchema, type Split } from '../../common/model';
import { insertAnnotations, type NewAnnotation } from '../../db/annotations';
import { insertClasses, listClasses, setClassKeypoints } from '../../db/classes';
import { keypointSchemaProblem, keypointsFit } from '../../common/keypoints';
import { insertImages, type NewImage } from '../../db/images';
import { annotationKeysOfImages, imagesByHashes, imagesByPaths, rememberCocoIds, setImageSplits, takenPaths } from '../../db/interchange';
import { finishModelRun, insertModelRun } from '../../db/modelRuns';
import { rebuildStacks } from '../../db/stacks';
import type { Dataset } from '../dataset';
import { imageRow, maxPixelsSetting, probeFiles } from '../importer';
import { probeGeoReferences, storeGeoReferences } from '../geotiff';
import type { GeoReference } from '../../common/geo';
import { isInside, toStoredPath } from '../paths';
import type { ProbeResult } from '../probe';
import { resolveReader } from './detect';
import type { FormatReader } from './types';

/**
 * Importing an annotated dataset (COCO, YOLO, VOC, labelme, CVAT) into the open dataset.
 *
 * Everything is decided before anything is written: the reader turns the files into the neutral
 * form, image files are probed and matched to the dataset by content, every annotation is checked
 * against its image, and the plan is then written in one transaction. A dry run is the same plan
 * without the write, so the report a user approves is the report of what happens.
 */

export interface InterchangeImportOptions {
  /** The annotation file or folder. */
  path: string;
  format: FormatName | 'auto';
  /** Images outside the dataset root are refused unless the user agreed to store absolute paths. */
  allowOutsideRoot?: boolean;
  /** Files this caller may read (browser mode: its served folders); every file when absent. */
  confine?: (absFile: string) => boolean;
  maxPixels?: number;
  /**
   * Open every image file (content hash, size as displayed, truncation and corruption checks)
   * before planning. An import always does; a dry run only when asked, and otherwise matches
   * images to the dataset by stored path and takes their sizes from the dataset or the file's
   * own width and height (counted as imagesNotProbed).
   */
  probe?: boolean;
  concurrency?: number;
  /**
   * Create the COCO categories no annotation uses too. By default they are left out (counted as
   * emptyClassesLeftOut): a COCO file lists all 80 categories for a few images of two of them.
   * Classes already in the dataset are never affected.
   */
  keepEmptyClasses?: boolean;
  /** The formats to choose from; all registered readers by default. */
  readers?: readonly FormatReader[];
  isCancelled?: () => boolean;
  onProgress?: (p: Omit<JobProgress, 'jobId' | 'kind'>) => void;
  progressIntervalMs?: number;
}

/** Limits of what an edit may store (see the contract); an imported value must fit them too. */
const MAX_COORD = 1e7;
const MAX_NAME = 200;
const MAX_ATTRIBUTE_TEXT = 10_000;

/**
 * Annotation rows per insertAnnotations call inside the import's transaction. Each call is a
 * savepoint, and SQLite slows down more and more once one savepoint's pages outgrow its page cache:
 * the benchmark's 1,000,000 rows took 134 s in one call and about 5 s in calls of this size. Also
 * keeps only one batch of row objects alive next to the plan.
 */
const WRITE_BATCH = 20_000;

interface PlannedAnnotation {
  classKey: string;
  geometry: Geometry;
  attributes: Record<string, AttributeValue>;
  score: number | null;
}

interface PlannedImage {
  /** An image already in the dataset, or the index of a row this import adds. */
  target: { existing: number } | { added: number };
  split: Split | null;
  annotations: PlannedAnnotation[];
  /** The image's id in a COCO source. */
  cocoId?: number;
}

interface PlannedClass {
  key: string;
  name: string;
  existingId: number | null;
  annotations: number;
  /** The class's category id in a COCO source. */
  cocoId?: number;
  /** The keypoint schema the dataset's class already has, if any. */
  existingKeypoints?: KeypointSchema | null;
  /** The keypoint schema the file gives the class (COCO category keypoints and skeleton). */
  fileKeypoints?: KeypointSchema;
}

/**
 * The schema a class's keypoint objects are checked against: the dataset's when the class has
 * one (a file does not redefine a class's keypoints), else the file's, which the import stores.
 */
function keypointSchemaOf(c: PlannedClass): KeypointSchema | null {
  return c.existingKeypoints ?? c.fileKeypoints ?? null;
}

/**
 * For a file whose keypoints are the class's names in another order: for each of the class's
 * keypoints, the index of the file's keypoint of that name. Null when the names differ.
 */
function keypointRemap(file: KeypointSchema, cls: KeypointSchema): number[] | null {
  if (file.names.length !== cls.names.length) return null;
  const at = new Map(file.names.map((n, i) => [n, i]));
  if (at.size !== file.names.length) return null;
  const map = cls.names.map((n) => at.get(n));
  return map.every((i): i is number => i !== undefined) ? map : null;
}

export interface ImportPlan {
  report: InterchangeReport;
  newImages: NewImage[];
  /** The file each new image is read from (for its georeference), in newImages' order. */
  newImageFiles: string[];
  /** Embedded images to write under the dataset root before the transaction (see EMBEDDED_FOLDER). */
  extract: { from: string; to: string }[];
  images: PlannedImage[];
  /** In the file's order; new classes are created in this order. */
  classes: PlannedClass[];
  hasPredictions: boolean;
  format: FormatName;
  source: string;
}

/**
 * Dry run: what an import of `opts.path` would do; writes nothing. The image files are only
 * checked for existence unless `opts.probe` asks for them to be opened too.
 */
export async function inspectDataset(ds: Dataset, opts: InterchangeImportOptions): Promise<InterchangeReport> {
  return (await planImport(ds, { ...opts, probe: opts.probe ?? false })).report;
}

/**
 * Imports in one transaction: new images, classes, the model run for predictions, annotations
 * and splits, or nothing at all when anything fails or the job is cancelled (AppError CANCELLED).
 */
export async function importDataset(ds: Dataset, opts: InterchangeImportOptions): Promise<InterchangeReport> {
  const t0 = Date.now();
  const plan = await planImport(ds, { ...opts, probe: true });
  const cancelled = opts.isCancelled ?? (() => false);
  if (cancelled()) throw cancelledError(plan.source);
  if (plan.report.refused) {
    const none = plan.report.images.total === 0;
    throw new AppError(none ? 'UNSUPPORTED_FORMAT' : 'FILE_MISSING', `${plan.source}: ${plan.report.refused}; nothing was written`, {
      path: plan.source,
      format: plan.format,
      problems: plan.report.problems.length,
    });
  }
  const progress = (phase: 'writing' | 'done') =>
    opts.onProgress?.({
      phase,
      done: plan.report.images.total,
      total: plan.report.images.total,
      imported: phase === 'done' ? plan.report.images.added : 0,
      duplicates: plan.report.counters['duplicateAnnotations'] ?? 0,
      problems: plan.report.problems.length,
      etaMs: 0,
    });
  const geos = await probeGeoReferences(plan.newImages.map((r, i) => ({ file: plan.newImageFiles[i]!, format: r.format })));
  progress('writing');
  const written = await extractEmbedded(plan);
  try {
    await writePlan(ds, plan, geos);
  } catch (e) {
    // The rows are rolled back; the image files written for them go too.
    for (const f of written) fs.rmSync(f, { force: true });
    if (isAppError(e)) throw e;
    throw new AppError('INTERNAL', `${plan.source}: import failed and nothing was written: ${(e as Error).message}`, { path: plan.source });
  }
  progress('done');
  return { ...plan.report, dryRun: false, elapsedMs: Date.now() - t0 };
}

/** Folder under the dataset root that receives images found only embedded in annotation files. */
export const EMBEDDED_FOLDER = 'embedded-images';

/** Copies extracted embedded images into place; returns the files it created. */
async function extractEmbedded(plan: ImportPlan): Promise<string[]> {
  const created: string[] = [];
  try {
    for (const { from, to } of plan.extract) {
      const bytes = await fs.promises.readFile(from);
      const existing = await fs.promises.readFile(to).catch(() => null);
      if (existing) {
        if (existing.equals(bytes)) continue;
        throw new AppError('DATASET_EXISTS', `${to}: a different file is already there; move it away to import the embedded image`, { path: to });
      }
      await fs.promises.mkdir(path.dirname(to), { recursive: true });
      await fs.promises.writeFile(to, bytes, { flag: 'wx' });
      created.push(to);
    }
  } catch (e) {
    for (const f of created) fs.rmSync(f, { force: true });
    throw e;
  }
  return created;
}

function cancelledError(source: string): AppError {
  return new AppError('CANCELLED', `${source}: import cancelled; nothing was written`, { path: source });
}

async function writePlan(ds: Dataset, plan: ImportPlan, geos: readonly (GeoReference | null)[]): Promise<void> {
  const db = ds.db;
  await db.transaction(async () => {
    const addedIds = await insertImages(db, plan.newImages);
    await storeGeoReferences(db, addedIds, geos);
    if (addedIds.length > 0) await rebuildStacks(db);
    const classIds = new Map<string, number>();
    // Looked up again inside the transaction: a class made since the plan is reused, not doubled.
    const present = await listClasses(db);
    const byKey = new Map(present.map((c) => [classKey(c.name), c.id]));
    const added: PlannedClass[] = [];
    for (const c of plan.classes) {
      const id = c.existingId ?? byKey.get(c.key);
      if (id === undefined) added.push(c);
      else classIds.set(c.key, id);
    }
    // Same colours as classes created by hand, continuing from the classes already there.
    const colours = nextClassColours(present.map((c) => c.color), added.length);
    const newClassIds = await insertClasses(
      db,
      added.map((c, i) => ({ name: c.name, color: colours[i]! })),
    );
    added.forEach((c, i) => classIds.set(c.key, newClassIds[i]!));
    const presentKeypoints = new Map(present.map((c) => [c.id, c.keypoints]));
    for (const c of plan.classes) {
      const id = classIds.get(c.key)!;
      if (c.fileKeypoints && !presentKeypoints.get(id)) await setClassKeypoints(db, id, c.fileKeypoints);
    }
    const runId = plan.hasPredictions
      ? await insertModelRun(db, { model: `import ${path.basename(plan.source)}`, name: path.basename(plan.source), parameters: { format: plan.format, source: plan.source } })
      : null;
    let rows: NewAnnotation[] = [];
    const splits: { id: number; split: Split }[] = [];
    for (const im of plan.images) {
      const imageId = 'existing' in im.target ? im.target.existing : addedIds[im.target.added]!;
      if (im.split) splits.push({ id: imageId, split: im.split });
      for (const a of im.annotations) {
        const predicted = a.score !== null;
        rows.push({
          imageId,
          classId: classIds.get(a.classKey)!,
          geometry: a.geometry,
          source: predicted ? 'model' : 'human',
          modelRunId: predicted ? runId : null,
          score: a.score,
          attributes: a.attributes,
        });
      }
      if (rows.length >= WRITE_BATCH) {
        await insertAnnotations(db, rows);
        rows = [];
      }
    }
    await insertAnnotations(db, rows);
    if (runId !== null) await finishModelRun(db, runId, 'done');
    await setImageSplits(db, splits);
    await rememberCocoIds(
      db,
      plan.images.flatMap((im) => (im.cocoId === undefined ? [] : [{ id: 'existing' in im.target ? im.target.existing : addedIds[im.target.added]!, cocoId: im.cocoId }])),
      plan.classes.flatMap((c) => (c.cocoId === undefined ? [] : [{ id: classIds.get(c.key)!, cocoId: c.cocoId }])),
    );
  })();
}

/** A COCO id worth remembering: an integer SQLite stores exactly. */
function cocoIdOf(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isSafeInteger(v) ? v : undefined;
}

/** SQLite's NOCASE folds ASCII letters only; class names are matched the same way. */
function classKey(name: string): string {
  return name.replace(/[A-Z]/g, (c) => c.toLowerCase());
}

/** JSON with object keys sorted, so the same geometry compares equal whoever built the object. */
function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

function duplicateKey(classKeyOf: string, g: Geometry): string {
  return `${classKeyOf}\u0000${g.kind}\u0000${canonicalJson(g)}`;
}

/**
 * A value from a file, quoted for a message: short, and never by serialising it whole, since a
 * damaged file can hold values nested deeper than JSON.stringify can recurse.
 */
function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 100 ? `${v.slice(0, 100)}…` : v);
  if (v === null || typeof v === 'number' || typeof v === 'boolean' || v === undefined) return String(v);
  return Array.isArray(v) ? 'a list' : `a ${typeof v}`;
}

/** A class name from a file, trimmed; null when empty, too long, not text or holding a NUL (which PostgreSQL text cannot hold). */
function validName(raw: unknown): string | null {
  if (typeof raw !== 'string') return null;
  const s = raw.trim();
  return s.length > 0 && s.length <= MAX_NAME && !s.includes('\0') ? s : null;
}

/** Why a geometry from a file cannot be stored (beyond validateGeometry: shape and bounds), or null. */
function checkGeometry(g: unknown, size: { width: number; height: number }): string | null {
  if (g === null || typeof g !== 'object') return 'geometry is missing';
  const kind = (g as { kind?: unknown }).kind;
  if (!ANNOTATION_KINDS.includes(kind as Geometry['kind'])) return `unknown geometry kind ${describe(kind)}`;
  const geo = g as Geometry;
  if (geo.kind === 'polygon' && plainPolygon(geo.parts)) return null;
  try {
    if (geo.kind === 'polygon' && (!Array.isArray(geo.parts) || geo.parts.some((p) => !Array.isArray(p)))) return 'polygon parts are not lists of coordinates';
    if (geo.kind === 'mask' && (!geo.rle || !Array.isArray(geo.rle.size) || !Array.isArray(geo.rle.counts))) return 'mask has no run-length encoding';
    // Size unknown (a dry run without the image opened): a mask is checked against its own size.
    const known = size.width > 0 && size.height > 0;
    const reason = validateGeometry(geo, !known && geo.kind === 'mask' ? { width: geo.rle.size[1]!, height: geo.rle.size[0]! } : size);
    if (reason) return reason;
  } catch (e) {
    return `malformed geometry (${(e as Error).message})`;
  }
  const nums =
    geo.kind === 'box' ? [geo.x, geo.y, geo.w, geo.h] : geo.kind === 'obb' ? [geo.cx, geo.cy, geo.w, geo.h] : geo.kind === 'point' ? [geo.x, geo.y] : geo.kind === 'polygon' ? geo.parts.flat() : geo.kind === 'polyline' ? geo.points : [];
  if (nums.some((n) => Math.abs(n) > MAX_COORD)) return `coordinates beyond ±${MAX_COORD} pixels`;
  return null;
}

/**
 * The common polygon, checked in one pass without validateGeometry's allocations (a flattened
 * copy and a Set of vertex strings per ring, a tenth of a large import's time): every part a list
 * of an even number of finite coordinates within ±MAX_COORD, with a non-zero signed area. Such a
 * ring has three vertices off one line, which is all validateGeometry asks; anything else goes
 * through the full checks for their reason.
 */
function plainPolygon(parts: unknown): boolean {
  if (!Array.isArray(parts) || parts.length === 0) return false;
  for (const part of parts) {
    if (!Array.isArray(part) || part.length % 2 !== 0) return false;
    for (let i = 0; i < part.length; i++) {
      const n: unknown = part[i];
      if (typeof n !== 'number' || !Number.isFinite(n) || Math.abs(n) > MAX_COORD) return false;
    }
    if (ringSignedArea(part as number[]) === 0) return false;
  }
  return true;
}

/** Only the fields of the kind: readers may hand over objects carrying more. */
function normalizeGeometry(g: Geometry): Geometry {
  switch (g.kind) {
    case 'box':
      return { kind: 'box', x: g.x, y: g.y, w: g.w, h: g.h };
    case 'polygon':
      // The coordinate lists are shared, not copied: they are plain numbers (checked), serialise
      // the same either way, and copying them held a second set for the largest part of an import.
      return { kind: 'polygon', parts: g.parts.map((p) => p) };
    case 'mask':
      return { kind: 'mask', rle: { size: [g.rle.size[0], g.rle.size[1]], counts: [...g.rle.counts] } };
    case 'point':
      return { kind: 'point', x: g.x, y: g.y };
    case 'obb':
      return { kind: 'obb', cx: g.cx, cy: g.cy, w: g.w, h: g.h, angle: g.angle };
    case 'tag':
      return { kind: 'tag' };
    case 'polyline':
      return { kind: 'polyline', points: [...g.points] };
    case 'keypoints':
      return { kind: 'keypoints', points: [...g.points] };
  }
}

/** Attribute values as the dataset stores them; anything else is dropped and counted. */
function cleanAttributes(raw: unknown): { attributes: Record<string, AttributeValue>; dropped: string[] } {
  const attributes: Record<string, AttributeValue> = {};
  const dropped: string[] = [];
  if (raw === undefined || raw === null) return { attributes, dropped };
  if (typeof raw !== 'object' || Array.isArray(raw)) return { attributes, dropped: ['(attributes are not a map)'] };
  for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
    const ok =
      k.length > 0 &&
      k.length <= MAX_NAME &&
      (v === null || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v)) || (typeof v === 'string' && v.length <= MAX_ATTRIBUTE_TEXT));
    if (ok) attributes[k] = v as AttributeValue;
    else dropped.push(k.slice(0, 50));
  }
  return { attributes, dropped };
}

/** `fn` over `items` with at most `limit` calls in flight; results in input order. */
async function mapBounded<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

function realpathOr(p: string): string {
  try {
    return fs.realpathSync(p);
  } catch {
    return p;
  }
}

interface Entry {
  key: string;
  abs: string;
  /** Annotation file embedding the image when the file is missing (labelme imageData). */
  embeddedIn?: string;
  /** For an embedded image: where it was extracted for probing, and where the import stores it. */
  probeAt?: string;
  storeAt?: string;
  stated: { width?: unknown; height?: unknown }[];
  split: Split | null;
  tags: unknown[];
  annotations: unknown[];
  cocoId?: number;
}

/**
 * Why an input is refused as a whole, or null: an import that can use none of its images (the
 * file is unreadable, lists none, or every one is missing or refused) would at most create the
 * file's classes, which is not what anyone asked for. The first error says why.
 */
function refusal(listed: number, usable: number, problems: readonly FormatProblem[]): string | null {
  if (usable > 0) return null;
  const first = problems.find((p) => p.severity === 'error');
  const why = first ? `: ${first.file}${first.where ? ` (${first.where})` : ''}: ${first.message}` : '';
  const more = problems.length > 1 ? ` (${problems.length} problems in all)` : '';
  return listed === 0 ? `no image to import${why}${more}` : listed === 1 ? `its one image cannot be used${why}${more}` : `none of its ${listed} images can be used${why}${more}`;
}

/** Steps 1-5 of an import: read, resolve and probe images, match classes, validate, drop duplicates. */
export async function planImport(ds: Dataset, opts: InterchangeImportOptions): Promise<ImportPlan> {
  try {
    return await plan(ds, opts);
  } catch (e) {
    if (isAppError(e)) throw e;
    // Whatever a damaged file provokes, the caller learns which input it was.
    const input = path.resolve(opts.path);
    throw new AppError('INTERNAL', `${input}: ${(e as Error).message ?? String(e)}`, { path: input });
  }
}

async function plan(ds: Dataset, opts: InterchangeImportOptions): Promise<ImportPlan> {
  const t0 = Date.now();
  const cancelled = opts.isCancelled ?? (() => false);
  const input = path.resolve(opts.path);
  try {
    await fs.promises.stat(input);
  } catch {
    throw new AppError('FILE_NOT_FOUND', `${input}: no such file or folder`, { path: input });
  }
  const reader = await resolveReader(input, opts.format, opts.readers);
  opts.onProgress?.({ phase: 'scanning', done: 0, total: 0, imported: 0, duplicates: 0, problems: 0, etaMs: null });

  let data: InterchangeDataset;
  try {
    data = await reader.read(input);
  } catch (e) {
    if (isAppError(e)) throw e;
    throw new AppError('UNSUPPORTED_FORMAT', `${input}: cannot be read as ${reader.name}: ${(e as Error).message ?? String(e)}`, { path: input, format: reader.name });
  }
  if (cancelled()) throw cancelledError(input);
  if (!data || !Array.isArray(data.images)) throw new AppError('INTERNAL', `${input}: the ${reader.name} reader returned no image list`, { path: input });

  const baseDir = path.resolve(reader.baseDir(input));
  if (!opts.allowOutsideRoot && !isInside(ds.root, baseDir)) {
    throw new AppError('PATH_OUTSIDE_ROOT', `${baseDir}: outside the dataset root ${ds.root}; allow absolute paths to import it from there`, {
      path: baseDir,
      root: ds.root,
    });
  }
  const realRoot = realpathOr(ds.root);
  // Annotation problems name the file they were read from: the input itself when it is one file,
  // otherwise the image's key (YOLO, VOC and labelme keep one annotation file per image).
  const inputIsFile = (await fs.promises.stat(input)).isFile();
  const sourceName = (key: string) => (inputIsFile ? path.basename(input) : key);

  const problems: FormatProblem[] = Array.isArray(data.problems) ? data.problems.filter((p) => p && typeof p === 'object') : [];
  const counters: Record<string, number> = {};
  for (const [k, v] of Object.entries(data.counters ?? {})) if (typeof v === 'number' && Number.isFinite(v)) counters[k] = v;
  const count = (k: string, n = 1) => {
    if (n !== 0) counters[k] = (counters[k] ?? 0) + n;
  };
  const problem = (file: string, severity: FormatProblem['severity'], message: string, where?: string) =>
    problems.push(where === undefined ? { file, severity, message } : { file, where, severity, message });
  const images = { total: data.images.length, matched: 0, added: 0, missing: 0 };

  // Resolve keys; the same file named twice is one image.
  const entries = new Map<string, Entry>();
  for (const [i, raw] of data.images.entries()) {
    const im = raw as Partial<InterchangeImage> | null;
    const annotations = Array.isArray(im?.annotations) ? im.annotations : [];
    const tags = Array.isArray(im?.tags) ? im.tags : [];
    const skip = (file: string, message: string) => {
      problem(file, 'error', message, `image ${i + 1}`);
      count('skippedImages');
      count('skippedAnnotations', annotations.length + tags.length);
    };
    const rawKey = typeof im?.file === 'string' ? im.file : '';
    const key = safeRelativeKey(rawKey);
    if (key === null) {
      skip(sourceName(rawKey || `image ${i + 1}`), `image path ${JSON.stringify(rawKey.slice(0, 200))} is absolute or leaves ${baseDir}`);
      continue;
    }
    const abs = path.resolve(baseDir, key);
    if (!isInside(baseDir, abs)) {
      skip(sourceName(key), `image path ${key} leaves ${baseDir}`);
      continue;
    }
    if (!opts.allowOutsideRoot && !isInside(ds.root, abs)) {
      skip(sourceName(key), `image ${key} is outside the dataset root ${ds.root}`);
      continue;
    }
    const split = SPLITS.includes(im?.split as Split) ? (im!.split as Split) : null;
    if (im?.split !== undefined && im.split !== null && split === null) problem(sourceName(key), 'warning', `unknown split ${describe(im.split)} ignored`);
    const e = entries.get(abs);
    if (e) {
      e.stated.push({ width: im?.width, height: im?.height });
      e.split = split ?? e.split;
      e.tags.push(...tags);
      e.annotations.push(...annotations);
      e.embeddedIn ??= typeof im?.embeddedIn === 'string' ? im.embeddedIn : undefined;
      e.cocoId ??= cocoIdOf(im?.cocoId);
    } else {
      entries.set(abs, {
        key,
        abs,
        embeddedIn: typeof im?.embeddedIn === 'string' ? im.embeddedIn : undefined,
        stated: [{ width: im?.width, height: im?.height }],
        split,
        tags: [...tags],
        annotations: [...annotations],
        cocoId: cocoIdOf(im?.cocoId),
      });
    }
  }
  // The entries hold what is still needed; each image's raw annotations are then dropped as soon
  // as they are planned, so a large file is not resident twice (read and planned) at the peak.
  // The reader's object is let go of rather than emptied: a reader may keep it.
  data = { ...data, images: [] };

  // Existence and links, then the probe phase shared with the image import.
  const present: Entry[] = [];
  const listed = [...entries.values()];
  const exists = await mapBounded(listed, 32, async (e) => {
    try {
      await fs.promises.stat(e.abs);
      return true;
    } catch {
      return false;
    }
  });
  for (const [i, e] of listed.entries()) {
    if (!exists[i] && e.embeddedIn && reader.embeddedImage) {
      // The bytes go to the cache for probing (a dry run writes nothing into the dataset); the
      // real import copies them under the root, in embedded-images/, before its transaction.
      const bytes = await reader.embeddedImage(input, e.embeddedIn).catch(() => null);
      if (bytes) {
        const rel = e.key.split('/');
        e.probeAt = path.join(ds.cacheDir, 'embedded', crypto.createHash('sha256').update(input).digest('hex').slice(0, 16), ...rel);
        await fs.promises.mkdir(path.dirname(e.probeAt), { recursive: true });
        await fs.promises.writeFile(e.probeAt, bytes);
        e.storeAt = path.join(ds.root, EMBEDDED_FOLDER, ...rel);
        count('embeddedImagesUsed');
        present.push(e);
        continue;
      }
    }
    if (!exists[i]) {
      problem(sourceName(e.key), 'error', `image file ${e.key} not found in ${baseDir}`);
      images.missing++;
      count('skippedAnnotations', e.annotations.length + e.tags.length);
      continue;
    }
    if (!opts.allowOutsideRoot && !isInside(realRoot, realpathOr(e.abs))) {
      problem(sourceName(e.key), 'error', `image ${e.key} is a link leading outside the dataset root ${ds.root}`);
      count('skippedImages');
      count('skippedAnnotations', e.annotations.length + e.tags.length);
      continue;
    }
    if (opts.confine && !opts.confine(realpathOr(e.abs))) {
      problem(sourceName(e.key), 'error', `image ${e.key} leads outside the folders this server may use; not read`);
      count('skippedImages');
      count('skippedAnnotations', e.annotations.length + e.tags.length);
      continue;
    }
    present.push(e);
  }
  if (cancelled()) throw cancelledError(input);
  const probe = opts.probe ?? true;
  const probed = !probe ? [] : await probeFiles(
    present.map((e) => e.probeAt ?? e.abs),
    {
      maxPixels: opts.maxPixels ?? maxPixelsSetting(),
      concurrency: opts.concurrency,
      isCancelled: cancelled,
      progressIntervalMs: opts.progressIntervalMs,
      onProblem: (p) => {
        const e = entries.get(p.file);
        problem(sourceName(e?.key ?? path.basename(p.file)), 'error', `image ${e?.key ?? p.file}: ${p.reason}`);
        count('skippedImages');
        count('skippedAnnotations', (e?.annotations.length ?? 0) + (e?.tags.length ?? 0));
      },
      onProgress: opts.onProgress && ((p) => opts.onProgress!({ ...p, problems: problems.length })),
    },
  );
  if (cancelled()) throw cancelledError(input);

  // Match by content, or plan a new row.
  const known = await imagesByHashes(
    ds.db,
    probed.filter((r): r is ProbeResult => r !== null).map((r) => r.contentHash),
  );
  const stored = present.map((e) => toStoredPath(ds.root, e.storeAt ?? e.abs));
  const taken = await takenPaths(
    ds.db,
    stored.map((s) => s.path),
  );
  const newImages: NewImage[] = [];
  const newImageFiles: string[] = [];
  const extract: { from: string; to: string }[] = [];
  const addedByHash = new Map<string, number>();
  const kept: { entry: Entry; target: PlannedImage['target']; width: number; height: number }[] = [];
  if (!probe) {
    // Not opened: an image is in the dataset when its stored path is, and is as large as the
    // dataset or the annotation file says (NaN when neither does: only masks need the size).
    const byPath = await imagesByPaths(
      ds.db,
      stored.map((s) => s.path),
    );
    for (const [i, e] of present.entries()) {
      const known = byPath.get(stored[i]!.path);
      const bad = known && e.stated.find((x) => (typeof x.width === 'number' && x.width !== known.width) || (typeof x.height === 'number' && x.height !== known.height));
      if (known && bad) {
        problem(sourceName(e.key), 'error', `image ${e.key}: the file states ${String(bad.width)}x${String(bad.height)} but the dataset has it as ${known.width}x${known.height}`);
        count('skippedImages');
        count('skippedAnnotations', e.annotations.length + e.tags.length);
        continue;
      }
      if (known) {
        images.matched++;
        kept.push({ entry: e, target: { existing: known.id }, width: known.width, height: known.height });
        continue;
      }
      const s = e.stated.find((x) => typeof x.width === 'number' && typeof x.height === 'number');
      kept.push({ entry: e, target: { added: images.added }, width: s ? (s.width as number) : NaN, height: s ? (s.height as number) : NaN });
      images.added++;
    }
    count('imagesNotProbed', present.length);
  }
  for (const [i, e] of present.entries()) {
    if (!probe) break;
    const r = probed[i];
    if (!r) continue;
    const bad = e.stated.find(
      (s) => (s.width !== undefined && s.width !== null && s.width !== r.width) || (s.height !== undefined && s.height !== null && s.height !== r.height),
    );
    if (bad) {
      problem(
        sourceName(e.key),
        'error',
        `image ${e.key}: the file states ${String(bad.width)}x${String(bad.height)} but the image is ${r.width}x${r.height} (as displayed)`,
      );
      count('skippedImages');
      count('skippedAnnotations', e.annotations.length + e.tags.length);
      continue;
    }
    const existing = known.get(r.contentHash);
    if (existing) {
      images.matched++;
      kept.push({ entry: e, target: { existing: existing.id }, width: existing.width, height: existing.height });
      continue;
    }
    const planned = addedByHash.get(r.contentHash);
    if (planned !== undefined) {
      images.matched++;
      kept.push({ entry: e, target: { added: planned }, width: r.width, height: r.height });
      continue;
    }
    if (taken.has(stored[i]!.path)) {
      problem(sourceName(e.key), 'error', `image ${e.key}: already in the dataset with different content (changed on disk since it was imported)`);
      count('skippedImages');
      count('skippedAnnotations', e.annotations.length + e.tags.length);
      continue;
    }
    addedByHash.set(r.contentHash, newImages.length);
    kept.push({ entry: e, target: { added: newImages.length }, width: r.width, height: r.height });
    newImages.push(imageRow(r, stored[i]!));
    newImageFiles.push(e.probeAt ?? e.abs);
    if (e.probeAt && e.storeAt) extract.push({ from: e.probeAt, to: e.storeAt });
    images.added++;
  }

  // Classes: the file's list first, in its order, then labels and tags as they appear.
  const existingClasses = new Map((await listClasses(ds.db)).map((c) => [classKey(c.name), c]));
  const classes = new Map<string, PlannedClass>();
  const useClass = (name: string): PlannedClass => {
    const key = classKey(name);
    let c = classes.get(key);
    if (!c) {
      const ex = existingClasses.get(key);
      c = { key, name: ex?.name ?? name, existingId: ex?.id ?? null, annotations: 0, existingKeypoints: ex?.keypoints ?? null };
      classes.set(key, c);
    }
    return c;
  };
  const cocoCategoryIds = data.cocoCategoryIds && typeof data.cocoCategoryIds === 'object' ? data.cocoCategoryIds : {};
  const classKeypoints = data.classKeypoints && typeof data.classKeypoints === 'object' ? data.classKeypoints : {};
  for (const raw of Array.isArray(data.classes) ? data.classes : []) {
    const name = validName(raw);
    if (name) {
      const c = useClass(name);
      c.cocoId ??= cocoIdOf(Object.hasOwn(cocoCategoryIds, raw as string) ? cocoCategoryIds[raw as string] : undefined);
      const k = Object.hasOwn(classKeypoints, raw as string) ? classKeypoints[raw as string] : undefined;
      const problemOf = k ? keypointSchemaProblem(k) : null;
      if (k && problemOf) problem(path.basename(input), 'error', `keypoints of class "${c.name}": ${problemOf}; not stored`);
      else if (k && !c.fileKeypoints) {
        c.fileKeypoints = k;
        const ex = c.existingKeypoints;
        if (ex && JSON.stringify(ex.names) !== JSON.stringify(k.names)) {
          const names = (s: KeypointSchema) => `${s.names.length} (${s.names.slice(0, 3).join(', ')}${s.names.length > 3 ? ', ...' : ''})`;
          if (keypointRemap(k, ex)) {
            problem(path.basename(input), 'warning', `class "${c.name}" keeps its keypoints ${names(ex)}; the file names the same keypoints in another order, so its objects' keypoints are put in the class's order by name`);
          } else {
            problem(path.basename(input), 'error', `class "${c.name}" has the keypoints ${names(ex)}, the file ${names(k)}: its keypoint objects of this class are skipped (their points would take other names)`);
          }
        }
      }
    }
    else problem(path.basename(input), 'warning', `class name ${describe(raw)} is empty, too long or not text; ignored`);
  }

  // What is already stored on matched images, to recognise a second import of the same file.
  const classNameById = new Map((await listClasses(ds.db)).map((c) => [c.id, classKey(c.name)]));
  const existingKeys = new Map<number, Set<string>>();
  const matchedIds = kept.flatMap((k) => ('existing' in k.target ? [k.target.existing] : []));
  for (const a of await annotationKeysOfImages(ds.db, matchedIds)) {
    let set = existingKeys.get(a.imageId);
    if (!set) existingKeys.set(a.imageId, (set = new Set()));
    let g: unknown;
    try {
      g = JSON.parse(a.geometry);
    } catch {
      continue;
    }
    set.add(duplicateKey(a.classId === null ? '' : (classNameById.get(a.classId) ?? ''), g as Geometry));
  }

  const byKind: Partial<Record<Geometry['kind'], number>> = {};
  let total = 0;
  let hasPredictions = false;
  const planned: PlannedImage[] = [];
  for (const k of kept) {
    const e = k.entry;
    const file = sourceName(e.key);
    const seen = 'existing' in k.target ? (existingKeys.get(k.target.existing) ?? new Set<string>()) : new Set<string>();
    const out: PlannedAnnotation[] = [];
    const accept = (name: string, geometry: Geometry, attributes: Record<string, AttributeValue>, score: number | null) => {
      const key = classKey(name);
      // Only images already in the dataset can hold duplicates; new ones skip the serialising.
      if (seen.size > 0 && seen.has(duplicateKey(key, geometry))) {
        count('duplicateAnnotations');
        return;
      }
      const c = useClass(name);
      c.annotations++;
      out.push({ classKey: key, geometry, attributes, score });
      byKind[geometry.kind] = (byKind[geometry.kind] ?? 0) + 1;
      total++;
      if (score !== null) hasPredictions = true;
    };
    for (const [j, raw] of e.annotations.entries()) {
      const where = `image ${e.key}, annotation ${j + 1}`;
      const a = raw as { label?: unknown; geometry?: unknown; attributes?: unknown; crowd?: unknown; score?: unknown } | null;
      const name = validName(a?.label);
      if (!name) {
        problem(file, 'error', `label ${describe(a?.label)} is empty, too long, not text or holds a NUL character; annotation skipped`, where);
        count('skippedAnnotations');
        continue;
      }
      const reason = checkGeometry(a!.geometry, k);
      if (reason) {
        problem(file, 'error', `${reason}; annotation skipped`, where);
        count('skippedAnnotations');
        continue;
      }
      let g = a!.geometry as Geometry;
      if (g.kind === 'keypoints') {
        const planned = useClass(name);
        const schema = keypointSchemaOf(planned);
        // A file naming the class's keypoints in another order is read by name; other names are refused.
        const ex = planned.existingKeypoints;
        const fk = planned.fileKeypoints;
        if (ex && fk && JSON.stringify(ex.names) !== JSON.stringify(fk.names)) {
          const map = keypointRemap(fk, ex);
          if (!map || g.points.length !== fk.names.length * 3) {
            problem(file, 'error', `keypoints named ${fk.names.slice(0, 3).join(', ')}${fk.names.length > 3 ? ', ...' : ''} do not match class "${name}"'s; annotation skipped`, where);
            count('skippedAnnotations');
            continue;
          }
          const pts = g.points;
          g = { kind: 'keypoints', points: map.flatMap((from) => [pts[from * 3]!, pts[from * 3 + 1]!, pts[from * 3 + 2]!]) };
        }
        const why = !schema
          ? `class "${name}" has no keypoint schema (the file defines no keypoints for it)`
          : !keypointsFit(g.points, schema)
            ? `${g.points.length / 3} keypoints, but class "${name}" has ${schema.names.length}`
            : null;
        if (why) {
          problem(file, 'error', `${why}; annotation skipped`, where);
          count('skippedAnnotations');
          continue;
        }
      }
      let score: number | null = null;
      if (a!.score !== undefined && a!.score !== null) {
        if (typeof a!.score !== 'number' || !Number.isFinite(a!.score) || a!.score < 0 || a!.score > 1) {
          problem(file, 'error', `score ${describe(a!.score)} is not a confidence between 0 and 1; annotation skipped`, where);
          count('skippedAnnotations');
          continue;
        }
        score = a!.score;
      }
      const { attributes, dropped } = cleanAttributes(a!.attributes);
      if (dropped.length) {
        problem(file, 'warning', `attribute(s) ${dropped.join(', ')} not stored: values must be text, finite numbers, true/false or null`, where);
        count('droppedAttributes', dropped.length);
      }
      // Crowd regions are kept as an attribute so a COCO export can restore iscrowd.
      if (a!.crowd === true) attributes['iscrowd'] = true;
      accept(name, normalizeGeometry(g), attributes, score);
    }
    for (const raw of e.tags) {
      const name = validName(raw);
      if (!name) {
        problem(file, 'error', `image tag ${describe(raw)} is empty, too long, not text or holds a NUL character; skipped`, `image ${e.key}`);
        count('skippedAnnotations');
        continue;
      }
      accept(name, { kind: 'tag' }, {}, null);
    }
    if (e.split) count('splitsSet');
    planned.push({ target: k.target, split: e.split, annotations: out, ...(e.cocoId !== undefined ? { cocoId: e.cocoId } : {}) });
    e.annotations = [];
    e.tags = [];
  }

  // COCO lists every category whether used or not; one without annotations is not created unless
  // asked (its category id is not needed to re-export: no annotation refers to it).
  if (reader.name === 'coco' && !opts.keepEmptyClasses) {
    for (const [key, c] of classes) {
      if (c.existingId !== null || c.annotations > 0) continue;
      classes.delete(key);
      count('emptyClassesLeftOut');
    }
  }

  const refused = refusal(images.total, kept.length, problems);
  const report: InterchangeReport = {
    format: reader.name,
    source: input,
    dryRun: true,
    classes: [...classes.values()].map((c) => ({ name: c.name, annotations: c.annotations, isNew: c.existingId === null })),
    images,
    annotations: { total, byKind },
    problems,
    counters,
    elapsedMs: Date.now() - t0,
  };
  if (refused) report.refused = refused;
  return { report, newImages, newImageFiles, extract, images: planned, classes: [...classes.values()], hasPredictions, format: reader.name, source: input };
}
