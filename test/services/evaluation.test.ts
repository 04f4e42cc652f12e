import { beforeAll, describe, expect, it } from 'vitest';
import { cocoReference, COCO_REFERENCE_ATTRIBUTE } from '../../src-main/common/eval/reference';
import { encodeMask } from '../../src-main/common/geometry/rle';
import type { Geometry, ImageListItem } from '../../src-main/common/model';
import { insertAnnotations } from '../../src-main/db/annotations';
import { insertModelRun } from '../../src-main/db/modelRuns';
import { addRunImages, markRunImage } from '../../src-main/db/prelabel';
import type { Workspace } from '../../src-main/services/workspace';
import { fails, importedDataset, makeImageDir, ok } from '../helpers/workspace';

let imageDir: string;
beforeAll(async () => {
  imageDir = await makeImageDir();
});

const box = (x: number, y: number, w: number, h: number): Geometry => ({ kind: 'box', x, y, w, h });

/** A mask of a `w` x `h` image with the rectangle at (x, y) of size rw x rh set. */
function rectMask(w: number, h: number, x: number, y: number, rw: number, rh: number): Geometry {
  const m = new Uint8Array(w * h);
  for (let yy = y; yy < y + rh; yy++) for (let xx = x; xx < x + rw; xx++) m[yy * w + xx] = 1;
  return { kind: 'mask', rle: encodeMask(m, w, h) };
}

interface Scene {
  ws: Workspace;
  a: ImageListItem;
  b: ImageListItem;
  cell: number;
  debris: number;
  gt: { a1: number; a2: number; a3: number; b1: number };
  run: number;
  det: { right: number; wrongClass: number; falsePositive: number; low: number; onB: number };
}

/**
 * Image a (64x48): cells at a1 and a3, debris at a2; image b (40x30): a cell drawn as a polygon.
 * The run finds a1 (0.9), calls a3 debris (0.8), sees a cell where there is none (0.7), finds a2
 * only at 0.3, and finds b's cell with a box (0.6).
 */
async function scene(): Promise<Scene> {
  const { ws, items } = await importedDataset(imageDir);
  const a = items.find((i) => i.path.endsWith('a.jpg'))!;
  const b = items.find((i) => i.path.endsWith('b.png'))!;
  const cell = (await ok(ws, 'classes:create', { name: 'cell' })).id;
  const debris = (await ok(ws, 'classes:create', { name: 'debris' })).id;
  const db = ws.current!.db;
  const [a1, a2, a3, b1] = await insertAnnotations(db, [
    { imageId: a.id, classId: cell, geometry: box(0, 0, 10, 10), source: 'human' },
    { imageId: a.id, classId: debris, geometry: box(20, 0, 10, 10), source: 'human' },
    { imageId: a.id, classId: cell, geometry: box(40, 20, 10, 10), source: 'human' },
    { imageId: b.id, classId: cell, geometry: { kind: 'polygon', parts: [[5, 5, 15, 5, 15, 15, 5, 15]] }, source: 'human' },
  ]);
  const run = await insertModelRun(db, { model: 'detector', name: 'first' });
  const [right, wrongClass, falsePositive, low, onB] = await insertAnnotations(db, [
    { imageId: a.id, classId: cell, geometry: box(0, 0, 10, 10), source: 'model', modelRunId: run, score: 0.9 },
    { imageId: a.id, classId: debris, geometry: box(40, 20, 10, 10), source: 'model', modelRunId: run, score: 0.8 },
    { imageId: a.id, classId: cell, geometry: box(50, 0, 10, 10), source: 'model', modelRunId: run, score: 0.7 },
    { imageId: a.id, classId: debris, geometry: box(20, 0, 10, 10), source: 'model', modelRunId: run, score: 0.3 },
    { imageId: b.id, classId: cell, geometry: box(5, 5, 10, 10), source: 'model', modelRunId: run, score: 0.6 },
  ]);
  return { ws, a, b, cell, debris, gt: { a1: a1!, a2: a2!, a3: a3!, b1: b1! }, run, det: { right: right!, wrongClass: wrongClass!, falsePositive: falsePositive!, low: low!, onB: onB! } };
}

describe('evaluating a model run against the human annotations', () => {
  it('lists the runs, and reports per-class counts, the confusion matrix and the errors', async () => {
    const s = await scene();
    const runs = await ok(s.ws, 'eval:runs', {});
    expect(runs).toEqual([expect.objectContaining({ id: s.run, name: 'first', model: 'detector', images: 2, detections: 5 })]);

    const r = await ok(s.ws, 'eval:run', { runId: s.run, iouType: 'bbox' });
    // Imported predictions keep no list of the images they cover: every image in scope counts.
    const images = await ok(s.ws, 'images:count', {});
    expect(images).toBeGreaterThan(2);
    expect(r).toMatchObject({ runId: s.run, runName: 'first', iouType: 'bbox', images, groundTruths: 4, detections: 5, scoreThreshold: 0.5, iouThreshold: 0.5 });
    expect(r.stats).toHaveLength(12);
    const cell = r.perClass.find((c) => c.classId === s.cell)!;
    const debris = r.perClass.find((c) => c.classId === s.debris)!;
    // cell: a1 and b1 found, a3 missed (called debris), one false cell.
    expect(cell).toMatchObject({ name: 'cell', groundTruths: 3, detections: 3, tp: 2, fp: 1, fn: 1 });
    expect(cell.precision).toBeCloseTo(2 / 3, 12);
    expect(cell.recall).toBeCloseTo(2 / 3, 12);
    expect(cell.f1).toBeCloseTo(2 / 3, 12);
    // Two debris detections in all (what AP ranks), one at or above the 0.5 score threshold (what P and R count).
    expect(debris).toMatchObject({ groundTruths: 1, detections: 2, detectionsAtThreshold: 1, tp: 0, fp: 1, fn: 1, precision: 0, recall: 0, f1: 0 });
    // COCO AP of cell: detections 0.9 (TP), 0.7 (FP), 0.6 (TP) against 3 -> precision 1 to recall
    // 1/3, then 2/3 to recall 2/3: (34 * 1 + 33 * 2/3) / 101 at every IoU threshold (exact boxes).
    expect(cell.ap).toBeCloseTo((34 + 33 * (2 / 3)) / 101, 9);
    expect(cell.pr.recall).toHaveLength(101);
    expect(cell.pr.scores[0]).toBe(0.9);
    expect(cell.pr.scores[60]).toBe(0.6);
    expect(cell.pr.scores[67]).toBe(-1);

    expect(r.confusion.labels).toEqual(['cell', 'debris', 'background']);
    expect(r.confusion.classIds).toEqual([s.cell, s.debris, null]);
    expect(r.confusion.matrix).toEqual([
      [2, 1, 0],
      [0, 0, 1],
      [1, 0, 0],
    ]);

    const errors = r.errors.map((e) => [e.kind, e.annotationId, e.otherAnnotationId, e.className, e.otherClassName, e.score, e.iou]);
    expect(errors).toEqual([
      ['wrong_class', s.det.wrongClass, s.gt.a3, 'debris', 'cell', 0.8, 1],
      ['false_positive', s.det.falsePositive, null, 'cell', null, 0.7, 0],
      ['false_negative', s.gt.a2, null, 'debris', null, null, 0],
    ]);
    const fp = r.errors.find((e) => e.kind === 'false_positive')!;
    expect(fp).toMatchObject({ imageId: s.a.id, image: s.a.path, classId: s.cell, area: 100, bbox: [50, 0, 10, 10] });

    // A lower score threshold brings the 0.3 debris in: a2 is found.
    const low = await ok(s.ws, 'eval:run', { runId: s.run, iouType: 'bbox', scoreThreshold: 0.25 });
    expect(low.perClass.find((c) => c.classId === s.debris)).toMatchObject({ detections: 2, detectionsAtThreshold: 2, tp: 1, fp: 1, fn: 0 });
    expect(low.errors.some((e) => e.kind === 'false_negative')).toBe(false);
    expect(low.confidence.thresholds).toHaveLength(101);
    expect(low.confidence.best).not.toBeNull();
  });

  it('leaves keypoints and open lines out of box and mask evaluation (a COCO person is its outline, not also its keypoints)', async () => {
    const s = await scene();
    const db = s.ws.current!.db;
    // a1's cell also has keypoints and a polyline along its edge, as a COCO person_keypoints import gives.
    await insertAnnotations(db, [
      { imageId: s.a.id, classId: s.cell, geometry: { kind: 'keypoints', points: [1, 1, 2, 9, 9, 2] }, source: 'human' },
      { imageId: s.a.id, classId: s.cell, geometry: { kind: 'polyline', points: [0, 0, 10, 0] }, source: 'human' },
    ]);
    for (const iouType of ['bbox', 'segm'] as const) {
      const r = await ok(s.ws, 'eval:run', { runId: s.run, iouType });
      expect(r.groundTruths, iouType).toBe(4);
      expect(r.perClass.find((c) => c.classId === s.cell), iouType).toMatchObject({ groundTruths: 3, tp: 2, fn: 1 });
    }
  });

  it('evaluates masks: the box on b covers exactly the pixels of its polygon', async () => {
    const s = await scene();
    const r = await ok(s.ws, 'eval:run', { runId: s.run, iouType: 'segm' });
    const cell = r.perClass.find((c) => c.classId === s.cell)!;
    expect(cell.tp).toBe(2);
    expect(cell.ap).toBeCloseTo((34 + 33 * (2 / 3)) / 101, 9);
  });

  it('judges only the images in scope, and a pre-labeling run only on the images it finished', async () => {
    const s = await scene();
    const db = s.ws.current!.db;
    await db.prepare("UPDATE images SET split = 'val' WHERE id = ?").run(s.b.id);
    const val = await ok(s.ws, 'eval:run', { runId: s.run, iouType: 'bbox', filter: { split: 'val' } });
    expect(val).toMatchObject({ images: 1, groundTruths: 1, detections: 1 });
    expect(val.perClass.find((c) => c.classId === s.cell)!.ap).toBeCloseTo(1, 12);
    expect(val.perClass.find((c) => c.classId === s.debris)!.ap).toBe(-1);

    const pre = await insertModelRun(db, { model: 'prelabel' });
    await addRunImages(db, pre, [s.a.id, s.b.id]);
    await markRunImage(db, pre, s.b.id, 'done', { detections: 1 });
    await insertAnnotations(db, [{ imageId: s.b.id, classId: s.cell, geometry: box(5, 5, 10, 10), source: 'model', modelRunId: pre, score: 0.5 }]);
    const r = await ok(s.ws, 'eval:run', { runId: pre, iouType: 'bbox' });
    // Image a is still pending: its ground truth is not counted against the run.
    expect(r).toMatchObject({ images: 1, groundTruths: 1, detections: 1 });
    expect(r.stats[0]).toBeCloseTo(1, 12);
  });

  it("uses a crowd region's imported box only while its mask is the imported one", async () => {
    const s = await scene();
    const db = s.ws.current!.db;
    // The file said the crowd box is 20x20; the mask covers 10x10. A detection inside the file's
    // box but outside the mask's falls in the crowd region (ignored) while the import stands.
    const mask = rectMask(64, 48, 30, 30, 10, 10);
    const reference = cocoReference(mask, 400, [30, 30, 20, 20])!;
    const [crowd] = await insertAnnotations(db, [{ imageId: s.a.id, classId: s.cell, geometry: mask, source: 'human', attributes: { iscrowd: true, [COCO_REFERENCE_ATTRIBUTE]: reference } }]);
    const run = await insertModelRun(db, { model: 'detector', name: 'crowd' });
    await insertAnnotations(db, [
      { imageId: s.a.id, classId: s.cell, geometry: box(42, 32, 6, 6), source: 'model', modelRunId: run, score: 0.95 },
      { imageId: s.a.id, classId: s.cell, geometry: box(0, 0, 10, 10), source: 'model', modelRunId: run, score: 0.9 },
    ]);
    const before = await ok(s.ws, 'eval:run', { runId: run, iouType: 'bbox' });
    const cellBefore = before.perClass.find((c) => c.classId === s.cell)!;
    expect(cellBefore).toMatchObject({ groundTruths: 3, tp: 1, fp: 0 });
    expect(before.errors.filter((e) => e.kind === 'false_positive')).toEqual([]);

    await ok(s.ws, 'annotations:edit', { imageId: s.a.id, label: 'grow crowd', ops: [{ op: 'update', id: crowd!, patch: { geometry: rectMask(64, 48, 30, 30, 11, 10) } }] });
    const after = await ok(s.ws, 'eval:run', { runId: run, iouType: 'bbox' });
    expect(after.perClass.find((c) => c.classId === s.cell)).toMatchObject({ tp: 1, fp: 1 });
    expect(after.errors.filter((e) => e.kind === 'false_positive').map((e) => e.score)).toEqual([0.95]);
    expect(after.perClass.find((c) => c.classId === s.cell)!.ap).toBeLessThan(cellBefore.ap);
  });

  it('refuses runs that do not exist and arguments outside the contract', async () => {
    const s = await scene();
    expect((await fails(s.ws, 'eval:run', { runId: 999, iouType: 'bbox' })).code).toBe('NOT_FOUND');
    expect((await fails(s.ws, 'eval:run', { runId: s.run, iouType: 'bbox', scoreThreshold: 1.5 })).code).toBe('INVALID_ARGUMENT');
    expect((await fails(s.ws, 'eval:run', { runId: s.run, iouType: 'keypoints' as 'bbox' })).code).toBe('INVALID_ARGUMENT');
  });
});
