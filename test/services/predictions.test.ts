import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { encodeMask, rleToString } from '../../src-main/common/geometry/rle';
import type { ImageListItem } from '../../src-main/common/model';
import { insertAnnotations, listAnnotations } from '../../src-main/db/annotations';
import { insertModelRun } from '../../src-main/db/modelRuns';
import { acceptPredictions, duplicateIouSetting, getModelClassMap, importCocoResults } from '../../src-main/services/predictions';
import type { Workspace } from '../../src-main/services/workspace';
import { tempDir } from '../helpers/shared';
import { fails, importedDataset, makeImageDir, ok } from '../helpers/workspace';

let imageDir: string;
beforeAll(async () => {
  imageDir = await makeImageDir();
});

interface Scene {
  ws: Workspace;
  a: ImageListItem;
  b: ImageListItem;
  cell: number;
  other: number;
  run: number;
  human: number;
  /** Predictions on a (scores 0.9, 0.6, 0.3) and on b (0.8). */
  preds: number[];
}

async function scene(): Promise<Scene> {
  const { ws, items } = await importedDataset(imageDir);
  const a = items.find((i) => i.path.endsWith('a.jpg'))!;
  const b = items.find((i) => i.path.endsWith('b.png'))!;
  const cell = (await ok(ws, 'classes:create', { name: 'cell' })).id;
  const other = (await ok(ws, 'classes:create', { name: 'other' })).id;
  const db = ws.current!.db;
  const run = await insertModelRun(db, { model: 'tiny', parameters: { conf: 0.25 }, provider: 'cpu' });
  const [human] = await insertAnnotations(db, [{ imageId: a.id, classId: cell, geometry: { kind: 'box', x: 1, y: 1, w: 5, h: 5 }, source: 'human' }]);
  const box = (x: number) => ({ kind: 'box' as const, x, y: 2, w: 10, h: 8 });
  const preds = await insertAnnotations(db, [
    { imageId: a.id, classId: cell, geometry: box(2), source: 'model', modelRunId: run, score: 0.9 },
    { imageId: a.id, classId: cell, geometry: box(12), source: 'model', modelRunId: run, score: 0.6 },
    { imageId: a.id, classId: cell, geometry: box(22), source: 'model', modelRunId: run, score: 0.3 },
    { imageId: b.id, classId: cell, geometry: box(2), source: 'model', modelRunId: run, score: 0.8 },
  ]);
  return { ws, a, b, cell, other, run, human: human!, preds };
}

const byId = async (ws: Workspace, imageId: number) => new Map((await listAnnotations(ws.current!.db, imageId)).map((r) => [r.id, r]));

describe('reviewing predictions', () => {
  it('accept turns a prediction into a human annotation, keeps run and score in attributes, and undoes', async () => {
    const s = await scene();
    const before = await byId(s.ws, s.a.id);
    const r = await ok(s.ws, 'predictions:accept', { ids: [s.preds[0]!] });
    expect(r.ids).toEqual([s.preds[0]]);
    expect(r.images).toHaveLength(1);
    const accepted = (await byId(s.ws, s.a.id)).get(s.preds[0]!)!;
    expect(accepted).toMatchObject({ source: 'human', modelRunId: null, score: null, version: 2, classId: s.cell });
    expect(accepted.attributes).toEqual({ acceptedFrom: s.run, score: 0.9 });
    expect(accepted.geometry).toEqual(before.get(s.preds[0]!)!.geometry);
    // The human annotation is untouched.
    expect((await byId(s.ws, s.a.id)).get(s.human)).toEqual(before.get(s.human));
    expect((await ok(s.ws, 'images:get', { id: s.a.id })).status).toBe('in_progress');

    expect((await ok(s.ws, 'annotations:history', { imageId: s.a.id })).undoLabel).toBe('Accept prediction');
    await ok(s.ws, 'annotations:undo', { imageId: s.a.id });
    expect((await byId(s.ws, s.a.id)).get(s.preds[0]!)).toMatchObject({ source: 'model', modelRunId: s.run, score: 0.9, attributes: {} });
  });

  it('edit-to-accept applies the class and geometry change while accepting', async () => {
    const s = await scene();
    await ok(s.ws, 'predictions:accept', { ids: [], edits: [{ id: s.preds[1]!, classId: s.other, geometry: { kind: 'box', x: 13, y: 3, w: 9, h: 7 } }] });
    expect((await byId(s.ws, s.a.id)).get(s.preds[1]!)).toMatchObject({ source: 'human', classId: s.other, geometry: { kind: 'box', x: 13, y: 3, w: 9, h: 7 } });
    expect((await fails(s.ws, 'predictions:accept', { ids: [], edits: [{ id: s.preds[2]!, geometry: { kind: 'box', x: 1, y: 1, w: 0, h: 4 } }] })).code).toBe('INVALID_GEOMETRY');
  });

  it('reject removes only predictions, one journal entry per image, and undo brings them back', async () => {
    const s = await scene();
    const r = await ok(s.ws, 'predictions:reject', { ids: [s.preds[1]!, s.preds[2]!, s.preds[3]!] });
    expect(r.images.map((i) => i.imageId).sort()).toEqual([s.a.id, s.b.id].sort());
    expect([...(await byId(s.ws, s.a.id)).keys()].sort()).toEqual([s.human, s.preds[0]!].sort());
    expect((await byId(s.ws, s.b.id)).size).toBe(0);
    await ok(s.ws, 'annotations:undo', { imageId: s.a.id });
    expect((await byId(s.ws, s.a.id)).size).toBe(4);
    expect((await fails(s.ws, 'predictions:reject', { ids: [s.human] })).code).toBe('INVALID_ARGUMENT');
    expect((await byId(s.ws, s.a.id)).has(s.human)).toBe(true);
    expect((await fails(s.ws, 'predictions:accept', { ids: [999_999] })).code).toBe('NOT_FOUND');
  });

  it('accepts everything above a threshold, for one image or the whole run', async () => {
    const s = await scene();
    const one = await ok(s.ws, 'predictions:acceptAbove', { runId: s.run, imageId: s.a.id, threshold: 0.5 });
    expect(one.ids.sort()).toEqual([s.preds[0]!, s.preds[1]!].sort());
    expect((await byId(s.ws, s.a.id)).get(s.preds[2]!)!.source).toBe('model');
    expect((await byId(s.ws, s.b.id)).get(s.preds[3]!)!.source).toBe('model');
    const all = await ok(s.ws, 'predictions:acceptAbove', { runId: s.run, threshold: 0.5 });
    expect(all.ids).toEqual([s.preds[3]]);
    expect((await ok(s.ws, 'predictions:acceptAbove', { runId: s.run, threshold: 0.95 })).ids).toEqual([]);
  });

  it('remembers a class map per model, refusing unknown dataset classes', async () => {
    const s = await scene();
    const ds = s.ws.current!;
    expect(await getModelClassMap(ds, 'tiny', ['Cell', 'potted plant'])).toEqual({ map: { Cell: s.cell, 'potted plant': null }, stored: false });
    await ok(s.ws, 'classmap:set', { modelId: 'tiny', map: { 'potted plant': s.other, Cell: null } });
    expect(await getModelClassMap(ds, 'tiny', ['Cell', 'potted plant'])).toEqual({ map: { 'potted plant': s.other, Cell: null }, stored: true });
    expect((await getModelClassMap(ds, 'another', ['cell'])).stored).toBe(false);
    expect((await fails(s.ws, 'classmap:set', { modelId: 'tiny', map: { x: 4242 } })).code).toBe('INVALID_ARGUMENT');
  });
});

describe('accepting never stacks duplicates', () => {
  /** Human boxes on a.jpg, and the same objects found by two runs (identical predictions). */
  async function twoRuns() {
    const s = await scene();
    const db = s.ws.current!.db;
    const second = await insertModelRun(db, { model: 'tiny', parameters: {}, provider: 'cpu' });
    const human = await insertAnnotations(db, [
      { imageId: s.a.id, classId: s.cell, geometry: { kind: 'box', x: 30, y: 20, w: 20, h: 20 }, source: 'human' },
      { imageId: s.a.id, classId: s.other, geometry: { kind: 'box', x: 0, y: 30, w: 12, h: 12 }, source: 'human' },
    ]);
    const found = async (run: number) =>
      await insertAnnotations(db, [
        // The human cell box, a pixel off: IoU 19*20 / (400 + 400 - 380) = 0.905.
        { imageId: s.a.id, classId: s.cell, geometry: { kind: 'box', x: 31, y: 20, w: 20, h: 20 }, source: 'model', modelRunId: run, score: 0.95 },
        // Where the "other" box is, but as a cell: a different class is no duplicate.
        { imageId: s.a.id, classId: s.cell, geometry: { kind: 'box', x: 0, y: 30, w: 12, h: 12 }, source: 'model', modelRunId: run, score: 0.9 },
        // A new object, found by both runs identically.
        { imageId: s.a.id, classId: s.cell, geometry: { kind: 'box', x: 40, y: 0, w: 10, h: 10 }, source: 'model', modelRunId: run, score: run === s.run ? 0.7 : 0.8 },
      ]);
    return { ...s, second, humanBoxes: human, first: await found(s.run), again: await found(second) };
  }

  const humans = async (ws: Workspace, imageId: number) => (await listAnnotations(ws.current!.db, imageId)).filter((a) => a.source === 'human');
  const exactDuplicates = (list: { classId: number | null; geometry: unknown }[]) => list.length - new Set(list.map((a) => JSON.stringify([a.classId, a.geometry]))).size;

  it('accept-all over two runs adds each new object once, keeps the human boxes, and is one undo step', async () => {
    const s = await twoRuns();
    const before = await humans(s.ws, s.a.id);
    expect(before).toHaveLength(3);
    const r = await ok(s.ws, 'predictions:acceptAbove', { runIds: [s.run, s.second], imageId: s.a.id, threshold: 0.5 });
    expect(r.images).toHaveLength(1);
    const after = await humans(s.ws, s.a.id);
    expect(exactDuplicates(after)).toBe(0);
    // The three human boxes, the scene's two predictions over 0.5, the cell where "other" is, and
    // the new object: seven shapes, not eleven.
    expect(after).toHaveLength(7);
    expect(after.filter((a) => (a.geometry as { x: number }).x === 40)).toHaveLength(1);
    // Of the identical copies the better-scored one (the second run's) became the human shape.
    expect(after.find((a) => (a.geometry as { x: number }).x === 40)!.attributes).toMatchObject({ acceptedFrom: s.second, score: 0.8 });
    expect(r.duplicates!.sort()).toEqual([s.first[0]!, s.again[0]!, s.again[1]!, s.first[2]!].sort());
    expect((await listAnnotations(s.ws.current!.db, s.a.id)).filter((a) => a.source === 'model' && a.score! >= 0.5)).toHaveLength(0);

    await ok(s.ws, 'annotations:undo', { imageId: s.a.id });
    expect(await humans(s.ws, s.a.id)).toEqual(before);
    expect((await listAnnotations(s.ws.current!.db, s.a.id)).filter((a) => a.source === 'model')).toHaveLength(9);
  });

  it('accepting one prediction over a human shape of its class at IoU >= 0.9 removes it instead; the threshold is configurable', async () => {
    const s = await twoRuns();
    const r = await ok(s.ws, 'predictions:accept', { ids: [s.first[0]!] });
    expect(r.ids).toEqual([]);
    expect(r.duplicates).toEqual([s.first[0]]);
    expect(await humans(s.ws, s.a.id)).toHaveLength(3);
    expect((await listAnnotations(s.ws.current!.db, s.a.id)).some((a) => a.id === s.first[0])).toBe(false);
    // At a stricter threshold the same overlap (0.905) is a different object.
    const strict = await acceptPredictions(s.ws.current!, [s.again[0]!], [], Date.now(), { duplicateIou: 0.95 });
    expect(strict.ids).toEqual([s.again[0]]);
    expect(duplicateIouSetting({ TESSERA_DUPLICATE_IOU: '0.75' })).toBe(0.75);
    expect(duplicateIouSetting({})).toBe(0.9);
    expect(duplicateIouSetting({ TESSERA_DUPLICATE_IOU: 'x' })).toBe(0.9);
  });
});

/** A row-major 0/1 mask of a `w` x `h` image with the pixels `set(x, y)` picks. */
function maskOf(w: number, h: number, set: (x: number, y: number) => boolean): Uint8Array {
  const m = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) m[y * w + x] = set(x, y) ? 1 : 0;
  return m;
}

function writeJson(dir: string, name: string, value: unknown): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, JSON.stringify(value));
  return file;
}

describe('importing COCO results with RLE masks', () => {
  /**
   * Image a.jpg (64x48) with two ground-truth squares, 10x10 each: a cell at (0,0) and debris at
   * (30,10). The results (image 1 = a.jpg through an instances file) are masks:
   * - the cell minus a 4x7 corner, 72 of its 100 pixels: mask IoU 72/100 = 0.72, while its box is
   *   the square's (box IoU 1), written as a compressed counts string;
   * - the debris square moved 3 pixels right: 70 shared pixels of 130, IoU 7/13 = 0.538, written
   *   as an uncompressed counts list and without a bbox (an RLE holds its own extent).
   */
  async function partialOverlap() {
    const { ws, items } = await importedDataset(imageDir);
    const a = items.find((i) => i.path.endsWith('a.jpg'))!;
    expect([a.width, a.height]).toEqual([64, 48]);
    const cell = (await ok(ws, 'classes:create', { name: 'cell' })).id;
    const debris = (await ok(ws, 'classes:create', { name: 'debris' })).id;
    const ds = ws.current!;
    const square = (x0: number, y0: number) => maskOf(64, 48, (x, y) => x >= x0 && x < x0 + 10 && y >= y0 && y < y0 + 10);
    await insertAnnotations(ds.db, [
      { imageId: a.id, classId: cell, geometry: { kind: 'mask', rle: encodeMask(square(0, 0), 64, 48) }, source: 'human' },
      { imageId: a.id, classId: debris, geometry: { kind: 'mask', rle: encodeMask(square(30, 10), 64, 48) }, source: 'human' },
    ]);
    const cellPred = encodeMask(maskOf(64, 48, (x, y) => x < 10 && y < 10 && !(x >= 6 && y >= 3)), 64, 48);
    const debrisPred = encodeMask(square(33, 10), 64, 48);
    const dir = tempDir();
    const instances = writeJson(dir, 'instances.json', { images: [{ id: 1, file_name: 'a.jpg', width: 64, height: 48 }], categories: [{ id: 1, name: 'cell' }, { id: 2, name: 'debris' }] });
    const results = writeJson(dir, 'segm_results.json', [
      { image_id: 1, category_id: 1, bbox: [0, 0, 10, 10], score: 0.9, segmentation: { size: cellPred.size, counts: rleToString(cellPred) } },
      { image_id: 1, category_id: 2, score: 0.8, segmentation: { size: debrisPred.size, counts: debrisPred.counts } },
    ]);
    return { ws, ds, a, cell, debris, cellPred, debrisPred, instances, results };
  }

  it('stores compressed and uncompressed RLE results as masks, and mask IoU decides the evaluation', async () => {
    const s = await partialOverlap();
    const report = await importCocoResults(s.ds, { file: s.results, name: 'masks', instances: s.instances });
    expect(report).toMatchObject({ predictions: 2, images: 1, unmatchedResults: 0, invalid: 0 });
    const stored = (await listAnnotations(s.ds.db, s.a.id)).filter((x) => x.source === 'model');
    expect(stored.map((x) => [x.classId, x.score, x.modelRunId, x.geometry])).toEqual([
      [s.cell, 0.9, report.runId, { kind: 'mask', rle: s.cellPred }],
      [s.debris, 0.8, report.runId, { kind: 'mask', rle: s.debrisPred }],
    ]);

    const segm = await ok(s.ws, 'eval:run', { runId: report.runId, iouType: 'segm', iouThreshold: 0.6 });
    const cell = segm.perClass.find((c) => c.classId === s.cell)!;
    const debris = segm.perClass.find((c) => c.classId === s.debris)!;
    // One ground truth and one detection per class: AP is 1 at every COCO threshold (0.50, 0.55,
    // ..., 0.95) the IoU reaches and 0 above, so AP@[.5:.95] is the share of thresholds reached.
    // Cell, IoU 0.72: 0.50..0.70, 5 of 10. Debris, IoU 0.538: 0.50 only, 1 of 10.
    // (Precision at each recall point carries COCO's epsilon, so 1 comes out as 0.9999999999999999.)
    const near = (got: number, want: number) => expect(Math.abs(got - want)).toBeLessThan(1e-12);
    near(cell.ap, 0.5);
    near(cell.ap50, 1);
    near(cell.ap75, 0);
    near(debris.ap, 0.1);
    near(debris.ap50, 1);
    near(debris.ap75, 0);
    near(segm.stats[0]!, (0.5 + 0.1) / 2);
    near(segm.stats[1]!, 1);
    near(segm.stats[2]!, 0);
    // At IoU 0.6 the cell is found, the debris detection is a false positive and its square missed.
    expect(cell).toMatchObject({ tp: 1, fp: 0, fn: 0 });
    expect(debris).toMatchObject({ tp: 0, fp: 1, fn: 1 });
    const miss = segm.errors.find((e) => e.kind === 'false_positive')!;
    near(miss.iou, 70 / 130);

    // Judged by boxes, the cell's prediction is its ground truth's square: IoU 1.
    const bbox = await ok(s.ws, 'eval:run', { runId: report.runId, iouType: 'bbox' });
    near(bbox.perClass.find((c) => c.classId === s.cell)!.ap, 1);
  });

  it('refuses an RLE whose size is not the image\'s, or that is malformed, and stores nothing', async () => {
    const s = await partialOverlap();
    const count = async () => ({
      runs: await s.ds.db.prepare('SELECT count(*) FROM model_runs').pluck().get(),
      annotations: await s.ds.db.prepare('SELECT count(*) FROM annotations').pluck().get(),
      classes: await s.ds.db.prepare('SELECT count(*) FROM classes').pluck().get(),
    });
    const before = await count();
    const good = JSON.parse(fs.readFileSync(s.results, 'utf8')) as unknown[];
    // [width, height] instead of COCO's [height, width]: the runs still cover 64 x 48 pixels.
    const swapped = writeJson(path.dirname(s.results), 'swapped.json', [...good, { image_id: 1, category_id: 1, bbox: [0, 0, 5, 5], score: 0.5, segmentation: { size: [64, 48], counts: rleToString(s.cellPred) } }]);
    const e = await (async () => {
      try {
        await importCocoResults(s.ds, { file: swapped, name: 'wrong size', instances: s.instances });
      } catch (err) {
        return err as { code: string; message: string };
      }
      throw new Error('the import succeeded');
    })();
    expect(e.code).toBe('INVALID_GEOMETRY');
    expect(e.message).toBe(`${swapped}: result 2: RLE size [64, 48] is not the [height, width] of image 1 (${s.a.path}, [48, 64])`);
    expect(await count()).toEqual(before);

    const short = writeJson(path.dirname(s.results), 'short.json', [...good, { image_id: 1, category_id: 1, score: 0.5, segmentation: { size: [48, 64], counts: [100, 20] } }]);
    await expect(async () => importCocoResults(s.ds, { file: short, name: 'short', instances: s.instances })).rejects.toThrow(`${short}: result 2: segmentation: RLE runs cover 120 pixels, not 3072 (48x64)`);
    const garbled = writeJson(path.dirname(s.results), 'garbled.json', [{ image_id: 1, category_id: 1, score: 0.5, segmentation: { size: [48, 64], counts: 'ab\u0001' } }]);
    await expect(async () => importCocoResults(s.ds, { file: garbled, name: 'garbled', instances: s.instances })).rejects.toThrow(/garbled\.json: result 0: segmentation: RLE counts string is malformed/);
    // Without an RLE a result still needs its box.
    const boxless = writeJson(path.dirname(s.results), 'boxless.json', [{ image_id: 1, category_id: 1, score: 0.5, segmentation: [[0, 0, 5, 0, 5, 5]] }]);
    await expect(async () => importCocoResults(s.ds, { file: boxless, name: 'boxless', instances: s.instances })).rejects.toThrow(/boxless\.json: result 0 lacks/);
    expect(await count()).toEqual(before);
  });
});

describe('importing COCO results with an instances file', () => {
  it('refuses a category whose name no class has, listing it, and with allowNewClasses makes it a class and counts it', async () => {
    const { ws, items } = await importedDataset(imageDir);
    const ds = ws.current!;
    const a = items.find((i) => i.path.endsWith('a.jpg'))!;
    const cell = (await ok(ws, 'classes:create', { name: 'cell' })).id;
    const dir = tempDir();
    const instances = writeJson(dir, 'instances.json', {
      images: [{ id: 1, file_name: 'a.jpg', width: 64, height: 48 }],
      categories: [{ id: 1, name: 'Cell' }, { id: 7, name: 'platelet' }],
    });
    const results = writeJson(dir, 'results.json', [
      { image_id: 1, category_id: 1, bbox: [0, 0, 10, 10], score: 0.9 },
      { image_id: 1, category_id: 7, bbox: [20, 20, 5, 5], score: 0.8 },
      { image_id: 1, category_id: 7, bbox: [30, 20, 5, 5], score: 0.7 },
    ]);
    const count = async () => ({
      runs: await ds.db.prepare('SELECT count(*) FROM model_runs').pluck().get(),
      annotations: await ds.db.prepare('SELECT count(*) FROM annotations').pluck().get(),
      classes: await ds.db.prepare('SELECT count(*) FROM classes').pluck().get(),
    });
    const before = await count();
    await expect(async () => importCocoResults(ds, { file: results, name: 'refused', instances })).rejects.toThrow(
      `${results}: category id 7 (platelet) matches no class of the dataset by name in ${instances}; pass --allow-new-classes to import them as new classes named as in that file`,
    );
    expect(await count()).toEqual(before);

    const report = await importCocoResults(ds, { file: results, name: 'allowed', instances, allowNewClasses: true });
    expect(report).toMatchObject({ predictions: 3, newCategoryIds: [7], newClassNames: ['platelet'], newCategoryResults: 2 });
    const platelet = (await ok(ws, 'classes:list', {})).find((c) => c.name === 'platelet')!;
    expect((await listAnnotations(ds.db, a.id)).map((x) => x.classId)).toEqual([cell, platelet.id, platelet.id]);
    await ws.close();
  });
});

describe('importing results with many categories', () => {
  it('creates 20,000 classes in seconds, one per category, in the order first met', async () => {
    const { ws } = await importedDataset(imageDir);
    const ds = ws.current!;
    const before = (await ok(ws, 'classes:list', {})).length;
    const n = 20_000;
    const dir = tempDir();
    const categories = Array.from({ length: n }, (_, i) => ({ id: i + 1, name: `species ${i + 1}` }));
    const instances = writeJson(dir, 'instances.json', { images: [{ id: 1, file_name: 'a.jpg', width: 64, height: 48 }], categories });
    const results = writeJson(
      dir,
      'results.json',
      categories.map((c) => ({ image_id: 1, category_id: c.id, bbox: [c.id % 50, 2, 8, 8], score: 0.5 })),
    );
    const t = performance.now();
    const report = await importCocoResults(ds, { file: results, name: 'many', instances, allowNewClasses: true });
    const ms = performance.now() - t;
    expect(report).toMatchObject({ predictions: n, images: 1 });
    const classes = await ok(ws, 'classes:list', {});
    expect(classes).toHaveLength(before + n);
    expect(classes.slice(before).map((c) => c.name)).toEqual(categories.map((c) => c.name));
    expect(new Set(classes.map((c) => c.color)).size).toBeGreaterThan(1);
    // Linear: about a second here; one class at a time re-reading every class took minutes.
    expect(ms).toBeLessThan(20_000);
    await ws.close();
  }, 120_000);
});
