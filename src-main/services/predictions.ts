import fs from 'node:fs';
import path from 'node:path';
import { AppError } from '../common/errors';
import { parseCocoRle } from '../common/formats/coco';
import type { AnnotationRecord, Geometry } from '../common/model';
import type { ClassMap, ReviewResult } from '../common/prelabel';
import { validateGeometry } from '../common/geometry/shapes';
import { deleteAnnotationsByIds, getAnnotationsByIds, insertAnnotations, replaceAnnotations, type NewAnnotation } from '../db/annotations';
import { finishModelRun, insertModelRun } from '../db/modelRuns';
import { classIds, findClassByName, insertClass, insertClasses, listClasses } from '../db/classes';
import { getImage, lockImageForEdit, markInProgress } from '../db/images';
import { classesByCocoId, imagesByCocoId } from '../db/interchange';
import { appendEdit, type JournalChange } from '../db/journal';
import { getClassMap, humanShapesOfImage, predictionIds, recordRejections, setClassMap, type KnownShape } from '../db/prelabel';
import { shapeIou } from '../common/geometry/overlap';
import type { Dataset } from './dataset';
import { nextClassColour, nextClassColours } from '../common/palette';

/**
 * Reviewing predictions. A prediction is an annotation with source 'model', a score and its run.
 * Accepting one makes it a human annotation (the CHECK on annotations requires model_run_id NULL
 * then), so the run and the score move into its attributes. Every image touched gets one
 * transaction and one journal entry in the same shape as editor edits, so undo and redo of the
 * annotation service revert an accept or a reject like any other edit.
 *
 * Accepting never stacks a copy on a shape the image already has: a prediction of the same class
 * as a human shape (or as another prediction accepted in the same call) overlapping it at
 * `duplicateIouSetting()` or more is removed instead of becoming a second shape. Rejected
 * predictions are remembered, so a later run finding the same object leaves it out.
 */

const DEFAULT_DUPLICATE_IOU = 0.9;

/** The overlap at which a prediction is the same object as a shape of its class: TESSERA_DUPLICATE_IOU, else 0.9. */
export function duplicateIouSetting(env: NodeJS.ProcessEnv = process.env): number {
  const v = Number(env['TESSERA_DUPLICATE_IOU']);
  return env['TESSERA_DUPLICATE_IOU'] !== undefined && Number.isFinite(v) && v > 0 && v <= 1 ? v : DEFAULT_DUPLICATE_IOU;
}

/** Whether `known` holds a shape of the same frame and class overlapping `shape` at `iou` or more. */
export function sameObject(shape: KnownShape, known: readonly KnownShape[], iou: number, image: { width: number; height: number }): boolean {
  return known.some((k) => k.frame === shape.frame && k.classId === shape.classId && shapeIou(k.geometry, shape.geometry, image.width, image.height) >= iou);
}

export interface PredictionEdit {
  id: number;
  classId?: number | null;
  geometry?: Geometry;
}

export type { ClassMap, ReviewResult };

/**
 * The predictions by image, read after their images are held for editing (lockImageForEdit, in id
 * order so two callers never wait on each other), so no edit of another process slips in between.
 */
async function loadPredictions(ds: Dataset, ids: readonly number[]): Promise<Map<number, AnnotationRecord[]>> {
  if (ds.db.engine === 'postgres') {
    const images = [...new Set([...(await getAnnotationsByIds(ds.db, ids)).values()].map((a) => a.imageId))].sort((a, b) => a - b);
    for (const imageId of images) await lockImageForEdit(ds.db, imageId);
  }
  const stored = await getAnnotationsByIds(ds.db, ids);
  const byImage = new Map<number, AnnotationRecord[]>();
  for (const id of new Set(ids)) {
    const a = stored.get(id);
    if (!a) throw new AppError('NOT_FOUND', `annotation ${id} does not exist`, { id });
    if (a.source !== 'model') throw new AppError('INVALID_ARGUMENT', `annotation ${id} is not a prediction`, { id });
    const list = byImage.get(a.imageId) ?? [];
    list.push(a);
    byImage.set(a.imageId, list);
  }
  return byImage;
}

async function journal(ds: Dataset, imageId: number, label: string, before: AnnotationRecord[], after: (AnnotationRecord | null)[], now: number): Promise<number> {
  const id = await appendEdit(
    ds.db,
    {
      imageId,
      label,
      forward: before.map((b, i): JournalChange => ({ id: b.id, value: after[i] ?? null })),
      backward: before.map((b): JournalChange => ({ id: b.id, value: b })),
      user: ds.user,
    },
    now,
  );
  await markInProgress(ds.db, imageId, now);
  return id;
}

/**
 * Turns predictions into human annotations; `edits` apply a class or geometry change while
 * accepting. A prediction that duplicates a shape of its class (see above) is removed instead;
 * its id is listed in `duplicates`. Higher scores are accepted first, so of two copies the
 * better-scored one stays.
 */
export async function acceptPredictions(
  ds: Dataset,
  ids: readonly number[],
  edits: readonly PredictionEdit[] = [],
  now = Date.now(),
  opts: { duplicateIou?: number } = {},
): Promise<ReviewResult> {
  const db = ds.db;
  const iou = opts.duplicateIou ?? duplicateIouSetting();
  return await db
    .transaction(async (): Promise<ReviewResult> => {
      const byImage = await loadPredictions(ds, [...ids, ...edits.map((e) => e.id)]);
      const patch = new Map(edits.map((e) => [e.id, e]));
      const classes = await classIds(db);
      const out: ReviewResult = { ids: [], images: [], duplicates: [] };
      for (const [imageId, unordered] of byImage) {
        const image = (await getImage(db, imageId))!;
        const before = [...unordered].sort((a, b) => (b.score ?? 0) - (a.score ?? 0) || a.id - b.id);
        const known = await humanShapesOfImage(db, imageId);
        const after = before.map((a): AnnotationRecord | null => {
          const e = patch.get(a.id);
          if (e?.geometry) {
            const reason = validateGeometry(e.geometry, image);
            if (reason) throw new AppError('INVALID_GEOMETRY', `annotation ${a.id}: ${reason}`, { id: a.id, reason });
          }
          if (e?.classId != null && !classes.has(e.classId)) throw new AppError('INVALID_ARGUMENT', `class ${e.classId} does not exist`, { classId: e.classId });
          const geometry = e?.geometry ?? a.geometry;
          const classId = e?.classId === undefined ? a.classId : e.classId;
          const shape = { frame: a.frame, classId, geometry };
          if (sameObject(shape, known, iou, image)) return null;
          known.push(shape);
          return {
            ...a,
            source: 'human',
            modelRunId: null,
            score: null,
            classId,
            geometry,
            kind: geometry.kind,
            attributes: { ...a.attributes, acceptedFrom: a.modelRunId, score: a.score },
            version: a.version + 1,
            updatedAt: now,
          };
        });
        const kept = after.filter((a): a is AnnotationRecord => a !== null);
        const dropped = before.filter((_, i) => after[i] === null).map((a) => a.id);
        await replaceAnnotations(db, kept);
        await deleteAnnotationsByIds(db, dropped);
        const label = before.length === 1 ? 'Accept prediction' : `Accept ${before.length} predictions`;
        const journalId = await journal(ds, imageId, label, before, after, now);
        out.ids.push(...kept.map((a) => a.id));
        out.duplicates!.push(...dropped);
        out.images.push({ imageId, journalId });
      }
      return out;
    })
    .immediate();
}

/** Removes predictions (never human annotations), undoably. */
export async function rejectPredictions(ds: Dataset, ids: readonly number[], now = Date.now()): Promise<ReviewResult> {
  const db = ds.db;
  return await db
    .transaction(async (): Promise<ReviewResult> => {
      const out: ReviewResult = { ids: [], images: [] };
      for (const [imageId, before] of await loadPredictions(ds, ids)) {
        await deleteAnnotationsByIds(db, before.map((a) => a.id));
        await recordRejections(db, before, now);
        const journalId = await journal(ds, imageId, before.length === 1 ? 'Reject prediction' : `Reject ${before.length} predictions`, before, before.map(() => null), now);
        out.ids.push(...before.map((a) => a.id));
        out.images.push({ imageId, journalId });
      }
      return out;
    })
    .immediate();
}

/**
 * Accepts every prediction of the runs (or of one image of them) scoring at least `threshold`,
 * in one call: one journal entry per image however many runs the predictions come from.
 */
export async function acceptAbove(ds: Dataset, q: { runId?: number; runIds?: readonly number[]; imageId?: number; threshold: number }, now = Date.now()): Promise<ReviewResult> {
  const runs = [...new Set([...(q.runId === undefined ? [] : [q.runId]), ...(q.runIds ?? [])])];
  const ids: number[] = [];
  for (const runId of runs) ids.push(...(await predictionIds(ds.db, { runId, imageId: q.imageId, minScore: q.threshold })));
  return ids.length === 0 ? { ids: [], images: [], duplicates: [] } : await acceptPredictions(ds, ids, [], now);
}

/**
 * Model class name -> dataset class id, or null for a class the user chose to ignore. Names absent
 * from a stored map are ignored too; with nothing stored, each model class goes to the dataset
 * class of the same name (case-insensitive), created when first needed.
 */

export async function getModelClassMap(ds: Dataset, modelId: string, modelClasses: readonly string[]): Promise<{ map: ClassMap; stored: boolean }> {
  const stored = await getClassMap(ds.db, modelId);
  if (stored) return { map: stored, stored: true };
  const byName = new Map((await listClasses(ds.db)).map((c) => [c.name.toLowerCase(), c.id]));
  return { map: Object.fromEntries(modelClasses.map((n) => [n, byName.get(n.toLowerCase()) ?? null])), stored: false };
}

export async function setModelClassMap(ds: Dataset, modelId: string, map: ClassMap): Promise<ClassMap> {
  const known = await classIds(ds.db);
  for (const [name, id] of Object.entries(map)) {
    if (id !== null && !known.has(id)) throw new AppError('INVALID_ARGUMENT', `class ${id} (for "${name}") does not exist`, { name, classId: id });
  }
  await setClassMap(ds.db, modelId, map);
  return map;
}


/**
 * The dataset class of a name, created (with the next palette colour) when there is none. The
 * classes are counted once, so creating many stays linear.
 */
function classMaker(ds: Dataset): (name: string) => Promise<number> {
  let colours: string[] | null = null;
  return async (name) => {
    const existing = await findClassByName(ds.db, name);
    if (existing) return existing.id;
    colours ??= (await listClasses(ds.db)).map((c) => c.color);
    const color = nextClassColour(colours);
    colours.push(color);
    return (await insertClass(ds.db, { name, color, hotkey: null })).id;
  };
}

/** A class name as the store compares names: ASCII letters without case (see findClassByName). */
function nameKey(name: string): string {
  return name.replace(/[A-Z]/g, (c) => c.toLowerCase());
}

/** The dataset's classes by nameKey, read in one query. */
async function classesByName(ds: Dataset): Promise<Map<string, number>> {
  return new Map((await listClasses(ds.db)).map((c) => [nameKey(c.name), c.id]));
}

/**
 * The dataset classes of these names, in order. The missing ones are added at the end of the
 * class list in the order first named, with the next palette colours, in one batch: creating
 * thousands stays a few statements.
 */
async function ensureClasses(ds: Dataset, names: readonly string[]): Promise<number[]> {
  const present = await listClasses(ds.db);
  const byKey = new Map(present.map((c) => [nameKey(c.name), c.id]));
  const missing = new Map<string, string>();
  for (const name of names) if (!byKey.has(nameKey(name)) && !missing.has(nameKey(name))) missing.set(nameKey(name), name);
  const colours = nextClassColours(present.map((c) => c.color), missing.size);
  const ids = await insertClasses(ds.db, [...missing.values()].map((name, i) => ({ name, color: colours[i]! })));
  [...missing.keys()].forEach((k, i) => byKey.set(k, ids[i]!));
  return names.map((name) => byKey.get(nameKey(name))!);
}

/**
 * Resolves the dataset class for each model class index: the stored map when there is one,
 * otherwise the same-named class, created on demand. Returns null for ignored classes.
 */
export async function classResolver(ds: Dataset, modelId: string, modelClasses: readonly string[]): Promise<(index: number) => Promise<number | null>> {
  const stored = await getClassMap(ds.db, modelId);
  const make = classMaker(ds);
  const cache = new Map<number, number | null>();
  return async (index) => {
    const hit = cache.get(index);
    if (hit !== undefined) return hit;
    const name = modelClasses[index] ?? `class ${index}`;
    let id: number | null;
    if (stored) id = stored[name] ?? null;
    else {
      id = await make(name);
    }
    cache.set(index, id);
    return id;
  };
}

export interface ResultsImportReport {
  runId: number;
  predictions: number;
  images: number;
  /** Result image ids no dataset image matched, and how many results they held. */
  unmatchedImageIds: number[];
  unmatchedResults: number;
  /** Results whose box, polygon or mask could not be stored (empty, outside the image). */
  invalid: number;
  /**
   * With `allowNewClasses`: category ids that matched no class, each made a class (named as in the
   * instances file, else "category N").
   */
  newCategoryIds: number[];
  /** The names of those new classes, in the same order. */
  newClassNames: string[];
  /** Results stored under such a new class. */
  newCategoryResults: number;
}

interface CocoResult {
  image_id: number;
  category_id: number;
  bbox?: [number, number, number, number];
  score: number;
  segmentation?: unknown;
}

function readJsonFile(file: string): unknown {
  if (!fs.existsSync(file)) throw new AppError('FILE_NOT_FOUND', `${file}: does not exist`, { path: file });
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as unknown;
  } catch (e) {
    throw new AppError('UNSUPPORTED_FORMAT', `${file}: is not JSON: ${(e as Error).message}`, { file });
  }
}

function isRleObject(seg: unknown): seg is Record<string, unknown> {
  return typeof seg === 'object' && seg !== null && !Array.isArray(seg);
}

/** A results entry needs a box unless its segmentation is an RLE mask, which holds its own extent. */
function isResult(r: unknown): r is CocoResult {
  const o = r as Partial<CocoResult> | null;
  if (typeof o !== 'object' || o === null || !Number.isInteger(o.image_id) || !Number.isInteger(o.category_id) || typeof o.score !== 'number') return false;
  if (o.bbox === undefined) return isRleObject(o.segmentation);
  return Array.isArray(o.bbox) && o.bbox.length === 4 && o.bbox.every((v) => typeof v === 'number' && Number.isFinite(v));
}

/**
 * The geometry a result is stored as, before it is checked against its image: a non-empty list
 * of polygons stays a polygon, an RLE object (compressed counts string or counts list, read
 * like the COCO dataset reader reads them) becomes a mask, anything else is the box.
 */
function resultGeometry(r: CocoResult, file: string, index: number): Geometry {
  const seg = r.segmentation;
  if (Array.isArray(seg) && seg.length > 0 && seg.every((p) => Array.isArray(p) && p.every((v) => typeof v === 'number'))) return { kind: 'polygon', parts: seg as number[][] };
  if (isRleObject(seg)) {
    const parsed = parseCocoRle(seg);
    if ('problem' in parsed) throw new AppError('UNSUPPORTED_FORMAT', `${file}: result ${index}: segmentation: ${parsed.problem}`, { file, index, problem: parsed.problem });
    return { kind: 'mask', rle: parsed.rle };
  }
  const [x, y, w, h] = r.bbox!;
  return { kind: 'box', x, y, w, h };
}

/**
 * Imports a COCO results list ([{image_id, category_id, bbox, score, segmentation?}]) as one model
 * run. With an instances file (the one the results were made for), image ids are matched through
 * its file_name against the dataset paths' file names, and categories through its names. Without
 * one, the ids a COCO import of the dataset remembered are used (see migration 6): image ids,
 * else images whose file name is that number (COCO's 000000397133.jpg is image 397133), and
 * category ids. A category id that matches no class (with an instances file: one it lacks, or
 * whose name no dataset class has) refuses the file with the ids listed, unless
 * `allowNewClasses` makes each a class (counted in the report): results under
 * classes the ground truth does not use can only ever score zero. Polygon segmentations are kept
 * as polygons, RLE segmentations as masks (their size must be the image's [height, width]), and
 * anything else as the box. A malformed or wrongly sized RLE refuses the whole file: nothing is
 * stored.
 */
export async function importCocoResults(ds: Dataset, opts: { file: string; name: string; instances?: string; allowNewClasses?: boolean }, now = Date.now()): Promise<ResultsImportReport> {
  const list = readJsonFile(opts.file);
  if (!Array.isArray(list)) throw new AppError('UNSUPPORTED_FORMAT', `${opts.file}: is not a COCO results list (a JSON array)`, { file: opts.file });
  list.forEach((r, i) => {
    if (!isResult(r)) throw new AppError('UNSUPPORTED_FORMAT', `${opts.file}: result ${i} lacks image_id, category_id, score, or a bbox [x,y,w,h] (which only an RLE segmentation may replace)`, { file: opts.file, index: i });
  });
  const results = list as CocoResult[];
  const geometries = results.map((r, i) => resultGeometry(r, opts.file, i));

  const byBase = new Map<string, number>();
  const byNumber = new Map<number, number>();
  for (const row of await ds.db.prepare('SELECT id, path FROM images').all() as { id: number; path: string }[]) {
    const base = path.basename(row.path);
    byBase.set(base.toLowerCase(), row.id);
    const stem = base.replace(/\.[^.]+$/, '');
    if (/^\d+$/.test(stem)) byNumber.set(Number(stem), row.id);
  }
  const imageOf = new Map<number, number | undefined>();
  const categoryName = new Map<number, string>();
  const remembered = { images: await imagesByCocoId(ds.db), classes: await classesByCocoId(ds.db) };
  // Read again inside the transaction below.
  let byName = await classesByName(ds);
  if (opts.instances) {
    const inst = readJsonFile(opts.instances) as { images?: { id: number; file_name: string }[]; categories?: { id: number; name: string }[] };
    if (!Array.isArray(inst?.images)) throw new AppError('UNSUPPORTED_FORMAT', `${opts.instances}: is not a COCO instances file (no images list)`, { file: opts.instances });
    for (const im of inst.images) imageOf.set(im.id, byBase.get(path.basename(String(im.file_name)).toLowerCase()));
    for (const c of inst.categories ?? []) categoryName.set(c.id, String(c.name));
  }
  const imageFor = (id: number) => (opts.instances ? imageOf.get(id) : (remembered.images.get(id) ?? byNumber.get(id)));
  // The class each category id stands for without creating any: undefined when none.
  // With an instances file, a category whose name no dataset class has is as unknown as one the
  // file lacks: its results could only score zero.
  const known = (cat: number): number | undefined => {
    if (opts.instances) {
      const name = categoryName.get(cat);
      return name === undefined ? undefined : byName.get(nameKey(name));
    }
    return remembered.classes.get(cat);
  };
  const unknown: number[] = [];
  for (const c of new Set(results.filter((r) => imageFor(r.image_id) !== undefined).map((r) => r.category_id))) {
    if (known(c) === undefined) unknown.push(c);
  }
  unknown.sort((a, b) => a - b);
  if (unknown.length > 0 && !opts.allowNewClasses) {
    const named = (c: number) => (categoryName.has(c) ? `${c} (${categoryName.get(c)})` : String(c));
    const shown = unknown.slice(0, 20).map(named).join(', ') + (unknown.length > 20 ? `, … (${unknown.length} in all)` : '');
    const where = opts.instances
      ? `no class of the dataset by name in ${opts.instances}` + (unknown.some((c) => !categoryName.has(c)) ? ' (an id shown without a name is not in its categories)' : '')
      : 'nothing in the COCO category ids this dataset remembers from its COCO import';
    throw new AppError(
      'INVALID_ARGUMENT',
      `${opts.file}: category id${unknown.length === 1 ? '' : 's'} ${shown} match${unknown.length === 1 ? 'es' : ''} ${where}; ` +
        (opts.instances
          ? 'pass --allow-new-classes to import them as new classes named as in that file, else "category N" '
          : 'give the instances file the results were made for with --instances, or pass --allow-new-classes to import them as new classes "category N" ') +
        '(which no ground truth uses, so they score zero). A COCO import creates no class for a category no annotation uses, unless imported with --keep-empty-classes. Nothing was imported.',
      { file: opts.file, categoryIds: unknown },
    );
  }
  const newCategories = new Set(unknown);

  return await ds.db
    .transaction(async (): Promise<ResultsImportReport> => {
      const runId = await insertModelRun(ds.db, {
        model: `import ${path.basename(opts.file)}`,
        name: opts.name,
        parameters: { format: 'coco-results', source: path.resolve(opts.file), instances: opts.instances ? path.resolve(opts.instances) : null },
      }, now);
      byName = await classesByName(ds);
      const classFor = new Map<number, number>();
      // The category of each row; its class is set once every row is read.
      const categoryOfRow: number[] = [];
      let newCategoryResults = 0;
      const images = new Map<number, Awaited<ReturnType<typeof getImage>>>();
      const rows: NewAnnotation[] = [];
      const unmatched = new Set<number>();
      let unmatchedResults = 0;
      let invalid = 0;
      for (const [i, r] of results.entries()) {
        const imageId = imageFor(r.image_id);
        if (imageId === undefined) {
          unmatched.add(r.image_id);
          unmatchedResults++;
          continue;
        }
        if (!images.has(imageId)) images.set(imageId, await getImage(ds.db, imageId));
        const image = images.get(imageId)!;
        const geometry = geometries[i]!;
        if (geometry.kind === 'mask' && (geometry.rle.size[0] !== image.height || geometry.rle.size[1] !== image.width)) {
          const [h, w] = geometry.rle.size;
          throw new AppError(
            'INVALID_GEOMETRY',
            `${opts.file}: result ${i}: RLE size [${h}, ${w}] is not the [height, width] of image ${r.image_id} (${image.path}, [${image.height}, ${image.width}])`,
            { file: opts.file, index: i, size: [h, w], imageSize: [image.height, image.width] },
          );
        }
        if (validateGeometry(geometry, image)) {
          invalid++;
          continue;
        }
        if (newCategories.has(r.category_id)) newCategoryResults++;
        rows.push({ imageId, classId: null, geometry, source: 'model', modelRunId: runId, score: r.score, attributes: { cocoCategory: r.category_id } });
        categoryOfRow.push(r.category_id);
      }
      // Each category met gets its class: a known one, else the class of its name (or
      // "category N"), created in the order first met, all in one batch.
      const named: number[] = [];
      for (const cat of new Set(categoryOfRow)) {
        const k = newCategories.has(cat) ? undefined : known(cat);
        if (k !== undefined) classFor.set(cat, k);
        else named.push(cat);
      }
      const made = await ensureClasses(ds, named.map((cat) => categoryName.get(cat) ?? `category ${cat}`));
      named.forEach((cat, i) => classFor.set(cat, made[i]!));
      rows.forEach((row, i) => (row.classId = classFor.get(categoryOfRow[i]!)!));
      await insertAnnotations(ds.db, rows, now);
      await finishModelRun(ds.db, runId, 'done', now);
      return {
        runId,
        predictions: rows.length,
        images: new Set(rows.map((r) => r.imageId)).size,
        unmatchedImageIds: [...unmatched].sort((a, b) => a - b),
        unmatchedResults,
        invalid,
        newCategoryIds: [...newCategories].filter((c) => classFor.has(c)),
        newClassNames: [...newCategories].filter((c) => classFor.has(c)).map((c) => categoryName.get(c) ?? `category ${c}`),
        newCategoryResults,
      };
    })
    .immediate();
}
