import fs from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COCO80 } from '../../src-main/common/inference/coco';
import type { ModelManifest } from '../../src-main/common/inference/types';
import type { ImageListItem } from '../../src-main/common/model';
import { insertAnnotations, listAnnotations } from '../../src-main/db/annotations';
import { parsePgUrl } from '../../src-main/db/postgres';
import { getModelRun, rejectedShapesOfImage, runImageCounts } from '../../src-main/db/prelabel';
import { closeInferenceBackend, inferenceBackend, resumePrelabel, runPrelabel, tryModel, type Detector } from '../../src-main/services/prelabel';
import { storeUrlFor } from '../../src-main/services/storeTarget';
import { Workspace } from '../../src-main/services/workspace';
import { physicalCores } from '../../src-main/inference/threads';
import type { JobProgress } from '../../src-main/common/model';
import { sharedPath, tempDir } from '../helpers/shared';
import { fails, newWorkspace, ok } from '../helpers/workspace';
import { yolov8nInt8Manifest } from '../helpers/models';

const model = sharedPath('models/yolov8n_int8.onnx');
const images = sharedPath('datasets/coco_tinycoco/images/train2017');
const NAMES = ['000000397133.jpg', '000000037777.jpg', '000000006818.jpg'];

const manifest: ModelManifest = yolov8nInt8Manifest(model ?? 'absent.onnx');

function iou(a: { x: number; y: number; w: number; h: number }, b: { x: number; y: number; w: number; h: number }): number {
  const w = Math.max(0, Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x));
  const h = Math.max(0, Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y));
  return (w * h) / (a.w * a.h + b.w * b.h - w * h);
}

async function dataset(): Promise<{ ws: Workspace; items: ImageListItem[] }> {
  const dir = tempDir();
  const ws = newWorkspace(dir);
  await ok(ws, 'dataset:create', { path: path.join(dir, 'd.tessera'), root: images! });
  await ok(ws, 'images:import', { jobId: 'imp', paths: NAMES.map((n) => path.join(images!, n)) });
  const { items } = await ok(ws, 'images:list', {});
  return { ws, items };
}

/** The real onnxruntime detector, counting which images it was asked to run. */
async function countingDetector(): Promise<{ detector: Detector; calls: string[] }> {
  const real = (await inferenceBackend()).detector;
  const calls: string[] = [];
  return { calls, detector: { detect: (req) => (calls.push(path.basename(req.imagePath)), real.detect(req)) } };
}

describe.runIf(model && images)('pre-labeling with yolov8n_int8 on coco_tinycoco', () => {
  let ws: Workspace;
  let items: ImageListItem[];
  beforeAll(async () => {
    ({ ws, items } = await dataset());
  });
  afterAll(closeInferenceBackend);

  it('stores predictions as model annotations, skips labeled images, never touches human ones, and records the run', async () => {
    const db = ws.current!.db;
    const labeled = items.find((i) => i.path === NAMES[2])!;
    const cls = (await ok(ws, 'classes:create', { name: 'mine' })).id;
    const [human] = await insertAnnotations(db, [{ imageId: labeled.id, classId: cls, geometry: { kind: 'box', x: 1, y: 1, w: 9, h: 9 }, source: 'human' }]);
    const { detector, calls } = await countingDetector();
    const progress: number[] = [];
    const s = await runPrelabel(
      ws.current!,
      detector,
      { manifest, modelFile: model!, imageIds: items.map((i) => i.id), skipLabeled: true, conf: 0.3 },
      { onProgress: (p) => progress.push(p.done) },
    );
    expect(s).toMatchObject({ images: 3, done: 2, skipped: 1, failed: 0, pending: 0, provider: 'cpu', cancelled: false });
    expect(calls.sort()).toEqual([NAMES[0], NAMES[1]].sort());
    expect(progress.at(-1)).toBe(3);
    expect(s.msPerImage).toBeGreaterThan(0);

    const first = await listAnnotations(db, items.find((i) => i.path === NAMES[0])!.id);
    expect(first.length).toBeGreaterThan(0);
    expect(s.detections).toBe((await listAnnotations(db, items.find((i) => i.path === NAMES[1])!.id)).length + first.length);
    for (const a of first) {
      expect(a).toMatchObject({ source: 'model', modelRunId: s.runId, kind: 'box' });
      expect(a.score).toBeGreaterThanOrEqual(0.3);
    }
    const person = await ws.current!.db.prepare("SELECT id FROM classes WHERE name = 'person'").pluck().get() as number;
    const people = first.filter((a) => a.classId === person && a.geometry.kind === 'box');
    expect(Math.max(...people.map((a) => iou(a.geometry as { x: number; y: number; w: number; h: number }, { x: 389, y: 70, w: 109, h: 278 })))).toBeGreaterThanOrEqual(0.7);
    expect(first.find((a) => a.attributes['modelClass'] === 'person')).toBeTruthy();

    expect((await listAnnotations(db, labeled.id)).map((a) => a.id)).toEqual([human]);
    const run = (await getModelRun(db, s.runId))!;
    expect(run).toMatchObject({ model: 'yolov8n-int8', provider: 'cpu', status: 'done' });
    expect(run.parameters).toMatchObject({ conf: 0.3, iou: 0.45, size: [320, 320], skipLabeled: true, classes: { person: person }, manifest: { resize: 'cv2-linear' } });
  });

  it('a cancelled run resumes with what is pending and runs no image twice', async () => {
    const db = ws.current!.db;
    const { detector, calls } = await countingDetector();
    const ids = items.filter((i) => i.path !== NAMES[2]).map((i) => i.id);
    let runId = 0;
    let doneSoFar = 0;
    const first = await runPrelabel(ws.current!, detector, { manifest, modelFile: model!, imageIds: ids, skipLabeled: false }, { onProgress: (p) => (doneSoFar = p.done), isCancelled: () => doneSoFar >= 1, onRun: (id) => (runId = id) });
    expect(first).toMatchObject({ runId, cancelled: true, done: 1, pending: 1 });
    expect((await getModelRun(db, runId))!.status).toBe('cancelled');
    const ofRun = async () => await db.prepare('SELECT count(*) FROM annotations WHERE model_run_id = ?').pluck().get(runId) as number;
    const afterFirst = await ofRun();

    const resumed = await resumePrelabel(ws.current!, detector, runId);
    expect(resumed).toMatchObject({ runId, cancelled: false, done: 2, pending: 0, images: 2 });
    // The image run ahead before the cancel is run again on resume; the one done is not.
    const doneFirst = items.find((i) => i.id === ids[0])!.path;
    expect(calls.filter((c) => c === doneFirst)).toHaveLength(1);
    expect(new Set(calls).size).toBe(2);
    expect(await ofRun()).toBe(afterFirst + resumed.detections);
    expect(await runImageCounts(db, runId)).toEqual({ pending: 0, done: 2, skipped: 0, failed: 0 });
    expect((await getModelRun(db, runId))!.status).toBe('done');
  });

  it('a model that does not fit its manifest fails the run with the decoder error, storing nothing', async () => {
    const db = ws.current!.db;
    const count = async () => await db.prepare('SELECT count(*) FROM annotations').pluck().get() as number;
    const before = await count();
    let runId = 0;
    const wrong: ModelManifest = { ...manifest, id: 'wrong', family: 'yolox', colour: 'bgr', scale: 1 };
    const err = await runPrelabel(ws.current!, (await inferenceBackend()).detector, { manifest: wrong, modelFile: model!, imageIds: [items[0]!.id], skipLabeled: false }, { onRun: (id) => (runId = id) }).then(
      () => null,
      (e: Error & { code?: string }) => e,
    );
    expect(err?.code).toMatch(/INVALID_ARGUMENT|UNSUPPORTED/);
    expect(err?.message).toMatch(/yolov8n_int8\.onnx/);
    expect((await getModelRun(db, runId))!.status).toBe('failed');
    expect(await count()).toBe(before);
  });

  it('trying a model on one image returns detections and stores nothing', async () => {
    const db = ws.current!.db;
    const count = async () => await db.prepare('SELECT count(*) FROM annotations').pluck().get() as number;
    const before = await count();
    const r = await tryModel(ws.current!, (await inferenceBackend()).detector, { manifest, modelFile: model!, imageId: items[0]!.id });
    expect(r.detections.length).toBeGreaterThan(0);
    expect(r.provider).toBe('cpu');
    expect(await count()).toBe(before);
    expect(fs.existsSync(model!)).toBe(true);
  });
});

/** A dataset with the model run once on its first image, which finds at least 4 objects. */
async function firstRun() {
  const { ws, items } = await dataset();
  const db = ws.current!.db;
  const image = items.find((i) => i.path === NAMES[0])!;
  const { detector } = await countingDetector();
  const args = { manifest, modelFile: model!, imageIds: [image.id], skipLabeled: false, conf: 0.15 };
  const first = await runPrelabel(ws.current!, detector, args);
  const found = (await listAnnotations(db, image.id)).filter((a) => a.source === 'model');
  expect(found.length).toBeGreaterThanOrEqual(4);
  return { ws, db, image, detector, args, first, found };
}

describe.runIf(model && images)('running a model again on the same image', () => {
  afterAll(closeInferenceBackend);

  it('replaces its pending predictions, keeps the older run for evaluation, and brings back neither accepted nor rejected objects', async () => {
    const { ws, db, image, detector, args, first, found } = await firstRun();
    expect(first).toMatchObject({ detections: found.length, replaced: 0, alreadyLabeled: 0, alreadyRejected: 0 });
    const [best, second, moved, ...rest] = [...found].sort((a, b) => b.score! - a.score!);
    await ok(ws, 'predictions:accept', { ids: [best!.id] });
    // A prediction moved by a pixel but not accepted yet is the user's work: it stays.
    const g = moved!.geometry as { kind: 'box'; x: number; y: number; w: number; h: number };
    await ok(ws, 'annotations:edit', { imageId: image.id, label: 'Move', ops: [{ op: 'update', id: moved!.id, patch: { geometry: { ...g, x: g.x + 1 } } }] });
    await ok(ws, 'predictions:reject', { ids: [second!.id] });

    const again = await runPrelabel(ws.current!, detector, args);
    expect(again).toMatchObject({ replaced: rest.length, alreadyLabeled: 2, alreadyRejected: 1, detections: rest.length });
    const now = await listAnnotations(db, image.id);
    // Only the new run's predictions are pending, one per object, and none on the accepted box;
    // the edited one is still there as it was.
    expect(now.filter((a) => a.source === 'model' && a.id !== moved!.id).every((a) => a.modelRunId === again.runId)).toBe(true);
    expect(now.find((a) => a.id === moved!.id)).toMatchObject({ source: 'model', modelRunId: first.runId, geometry: { ...g, x: g.x + 1 } });
    const key = (a: { classId: number | null; geometry: unknown }) => JSON.stringify([a.classId, a.geometry]);
    expect(new Set(now.map(key)).size).toBe(now.length);
    expect(now.filter((a) => key(a) === key(best!))).toHaveLength(1);
    expect(now.some((a) => key(a) === key(second!))).toBe(false);
    expect(now).toHaveLength(found.length - 1);

    // The first run is still judged on everything it found but what review took from it.
    const runs = await ok(ws, 'eval:runs', {});
    expect(runs.find((r) => r.id === first.runId)).toMatchObject({ detections: rest.length + 1, images: 1 });
    const e1 = await ok(ws, 'eval:run', { runId: first.runId, iouType: 'bbox' });
    expect(e1.detections).toBe(rest.length + 1);
    // Its replaced detections are listed as such, under negative ids that name no annotation: a
    // history row's own id may equal an annotation's, and a fix must never reach that shape.
    const live = new Set((await listAnnotations(db, image.id)).map((a) => a.id));
    const listed = (await ok(ws, 'eval:run', { runId: first.runId, iouType: 'bbox', scoreThreshold: 0.1 })).errors.filter((e) => e.kind !== 'false_negative');
    expect(listed.filter((e) => e.replaced)).toHaveLength(rest.length);
    expect(listed.filter((e) => e.replaced).every((e) => e.annotationId < 0)).toBe(true);
    expect(listed.filter((e) => !e.replaced).every((e) => live.has(e.annotationId))).toBe(true);
    // The second run is judged on all it found, the objects review had settled included.
    const e2 = await ok(ws, 'eval:run', { runId: again.runId, iouType: 'bbox' });
    expect(e2.detections).toBe(found.length);

    // An undo of the reject makes that object a prediction again: the rejection no longer counts,
    // and like an edited one the restored prediction stays, so a third run does not repeat it.
    await ok(ws, 'annotations:undo', { imageId: image.id });
    const undone = (await listAnnotations(db, image.id)).find((a) => a.id === second!.id)!;
    expect(undone.source).toBe('model');
    await ok(ws, 'predictions:reject', { ids: [undone.id] });
    await ok(ws, 'annotations:undo', { imageId: image.id });
    const third = await runPrelabel(ws.current!, detector, args);
    expect(third).toMatchObject({ alreadyLabeled: 3, alreadyRejected: 0 });
    expect((await listAnnotations(db, image.id)).find((a) => a.id === second!.id)).toMatchObject({ source: 'model', modelRunId: first.runId });
    const last = await listAnnotations(db, image.id);
    expect(new Set(last.map(key)).size).toBe(last.length);
  }, 120_000);
});

describe.runIf(model && images)('deleting a prediction in the editor', () => {
  afterAll(closeInferenceBackend);

  it('rejects it for the next run of the model, and an undo of the delete takes the rejection back', async () => {
    const { ws, db, image, detector, args, first, found } = await firstRun();
    const [best] = [...found].sort((a, b) => b.score! - a.score!);
    const key = (a: { classId: number | null; geometry: unknown }) => JSON.stringify([a.classId, a.geometry]);

    // The Delete key: an editor edit, not predictions:reject.
    await ok(ws, 'annotations:edit', { imageId: image.id, label: 'Delete', ops: [{ op: 'delete', id: best!.id }] });
    const second = await runPrelabel(ws.current!, detector, args);
    expect(second).toMatchObject({ replaced: found.length - 1, alreadyRejected: 1, alreadyLabeled: 0, detections: found.length - 1 });
    expect((await listAnnotations(db, image.id)).some((a) => key(a) === key(best!))).toBe(false);

    // Undone, the deleted prediction is back and pending; the rejection no longer counts, and like
    // any restored prediction it stays, so the next run leaves its object out as already there.
    const rejected = async () => (await rejectedShapesOfImage(db, image.id)).map(key);
    expect(await rejected()).toEqual([key(best!)]);
    await ok(ws, 'annotations:undo', { imageId: image.id });
    expect(await rejected()).toEqual([]);
    await ok(ws, 'annotations:redo', { imageId: image.id });
    expect(await rejected()).toEqual([key(best!)]);
    await ok(ws, 'annotations:undo', { imageId: image.id });
    expect(await rejected()).toEqual([]);
    expect((await listAnnotations(db, image.id)).find((a) => a.id === best!.id)).toMatchObject({ source: 'model', modelRunId: first.runId });
    const third = await runPrelabel(ws.current!, detector, args);
    expect(third).toMatchObject({ alreadyRejected: 0, alreadyLabeled: 1 });
    const now = await listAnnotations(db, image.id);
    expect(now.filter((a) => key(a) === key(best!))).toHaveLength(1);
    expect(new Set(now.map(key)).size).toBe(now.length);
  }, 120_000);
});

describe.runIf(model && images)('pre-labeling beside another writer of the dataset', () => {
  afterAll(closeInferenceBackend);

  it('writes an image\'s results after a write another connection commits while they are being written', async () => {
    const { ws, items } = await dataset();
    const db = ws.current!.db;
    const ids = items.filter((i) => i.path !== NAMES[2]).map((i) => i.id);
    const other = items.find((i) => i.path === NAMES[2])!;
    const real = (await inferenceBackend()).detector;
    // A run left with one image pending and its provider already known, so that nothing but the
    // image's own transaction writes after its detection.
    let runId = 0;
    let doneSoFar = 0;
    const first = await runPrelabel(ws.current!, real, { manifest, modelFile: model!, imageIds: ids, skipLabeled: false }, { onProgress: (p) => (doneSoFar = p.done), isCancelled: () => doneSoFar >= 1, onRun: (id) => (runId = id) });
    expect(first).toMatchObject({ done: 1, pending: 1 });

    // Another connection (a second window, the command line) takes the write lock as the
    // detection returns and commits a second later, while this one is writing the results.
    // On PostgreSQL the other connection holds its transaction (and the row it wrote) open the same way.
    const flag = new Int32Array(new SharedArrayBuffer(8));
    const pgUrl = storeUrlFor(ws.current!.file);
    const writer = new Worker(
      pgUrl
        ? `const { workerData } = require('node:worker_threads');
           const pg = require(workerData.module);
           const flag = new Int32Array(workerData.sab);
           const c = new pg.Client({ connectionString: workerData.connection, options: '-c search_path=' + workerData.schema });
           (async () => {
             await c.connect();
             Atomics.wait(flag, 0, 0, 60000);
             await c.query('BEGIN');
             await c.query('UPDATE images SET updated_at = updated_at + 1 WHERE id = $1', [workerData.imageId]);
             Atomics.store(flag, 0, 2);
             Atomics.notify(flag, 0);
             Atomics.wait(flag, 1, 0, 1000);
             await c.query('COMMIT');
             await c.end();
           })().catch((e) => { process.exitCode = 1; throw e; });`
        : `const { workerData } = require('node:worker_threads');
           const Database = require(workerData.module);
           const flag = new Int32Array(workerData.sab);
           const db = new Database(workerData.file);
           Atomics.wait(flag, 0, 0, 60000);
           db.exec('BEGIN IMMEDIATE');
           db.prepare('UPDATE images SET updated_at = updated_at + 1 WHERE id = ?').run(workerData.imageId);
           Atomics.store(flag, 0, 2);
           Atomics.notify(flag, 0);
           Atomics.wait(flag, 1, 0, 1000);
           db.exec('COMMIT');
           db.close();`,
      {
        eval: true,
        workerData: pgUrl
          ? { sab: flag.buffer, ...parsePgUrl(pgUrl), imageId: other.id, module: require.resolve('pg') }
          : { sab: flag.buffer, file: ws.current!.file, imageId: other.id, module: require.resolve('better-sqlite3') },
      },
    );
    const exited = new Promise((resolve, reject) => writer.on('exit', resolve).on('error', reject));
    const detector: Detector = {
      detect: async (req) => {
        const r = await real.detect(req);
        Atomics.store(flag, 0, 1);
        Atomics.notify(flag, 0);
        expect(Atomics.wait(flag, 0, 1, 10_000)).not.toBe('timed-out');
        return r;
      },
    };
    const updatedBefore = await db.prepare('SELECT updated_at FROM images WHERE id = ?').pluck().get(other.id) as number;
    const resumed = await resumePrelabel(ws.current!, detector, runId);
    await exited;
    expect(resumed).toMatchObject({ done: 2, failed: 0, pending: 0 });
    expect(resumed.detections).toBeGreaterThan(0);
    expect(await runImageCounts(db, runId)).toEqual({ pending: 0, done: 2, skipped: 0, failed: 0 });
    expect(await db.prepare('SELECT updated_at FROM images WHERE id = ?').pluck().get(other.id)).toBe(updatedBefore + 1);
  }, 120_000);
});

describe.runIf(model && images)('resuming an older run of a model', () => {
  afterAll(closeInferenceBackend);

  it('leaves the predictions of a newer run pending and keeps its own findings as replaced by the newer run', async () => {
    const { ws, items } = await dataset();
    const db = ws.current!.db;
    const image = items.find((i) => i.path === NAMES[0])!;
    const { detector } = await countingDetector();
    const args = { manifest, modelFile: model!, imageIds: [image.id], skipLabeled: false, conf: 0.15 };
    const older = await runPrelabel(ws.current!, detector, args, { isCancelled: () => true });
    expect(older).toMatchObject({ cancelled: true, pending: 1, detections: 0 });
    const newer = await runPrelabel(ws.current!, detector, args);
    expect(newer.runId).toBeGreaterThan(older.runId);
    const pending = async () => (await listAnnotations(db, image.id)).filter((a) => a.source === 'model');
    const before = await pending();
    expect(before.length).toBeGreaterThanOrEqual(4);

    const resumed = await resumePrelabel(ws.current!, detector, older.runId);
    expect(resumed).toMatchObject({ runId: older.runId, done: 1, replaced: 0, detections: 0 });
    // The newer run's predictions are untouched and are the only ones offered for review.
    expect(await pending()).toEqual(before);
    const history = await db.prepare('SELECT run_id AS runId, reason, replaced_by AS replacedBy, count(*) AS n FROM prediction_history GROUP BY run_id, reason, replaced_by').all();
    expect(history).toEqual([{ runId: older.runId, reason: 'superseded', replacedBy: newer.runId, n: before.length }]);
    // The older run is still judged on all it found.
    const runs = await ok(ws, 'eval:runs', {});
    expect(runs.find((r) => r.id === older.runId)).toMatchObject({ detections: before.length, images: 1 });
    expect(runs.find((r) => r.id === newer.runId)).toMatchObject({ detections: before.length, images: 1 });
  }, 120_000);
});

describe.runIf(model && images)('pre-labeling through the contract', () => {
  afterAll(closeInferenceBackend);

  it('adds a custom model, tries it, runs a job with progress events and resumes nothing twice', async () => {
    const dir = tempDir();
    const events: JobProgress[] = [];
    const ws = new Workspace({ configDir: dir, mode: 'web', version: 'test', emit: (_e, p) => void events.push(p as JobProgress) });
    await ok(ws, 'dataset:create', { path: path.join(dir, 'd.tessera'), root: images! });
    await ok(ws, 'images:import', { jobId: 'imp', paths: NAMES.slice(0, 2).map((n) => path.join(images!, n)) });
    const { items } = await ok(ws, 'images:list', {});

    const { file: _f, ...rest } = manifest;
    const added = await ok(ws, 'models:add', { file: model!, manifest: rest as Record<string, unknown> });
    expect(added).toMatchObject({ origin: 'custom', path: model });
    expect((await ok(ws, 'models:list', {})).some((e) => e.manifest.id === manifest.id)).toBe(true);

    const tried = await ok(ws, 'models:try', { modelId: manifest.id, imageId: items[0]!.id, conf: 0.4 });
    expect(tried.provider).toBe('cpu');
    expect(tried.detections.some((d) => d.className === 'person')).toBe(true);
    expect(await ws.current!.db.prepare('SELECT count(*) FROM annotations').pluck().get()).toBe(0);

    events.length = 0;
    const s = await ok(ws, 'prelabel:run', { jobId: 'pl', modelId: manifest.id, scope: { filter: {}, unlabeledOnly: true }, conf: 0.4, provider: 'cpu' });
    expect(s).toMatchObject({ images: 2, done: 2, provider: 'cpu' });
    const mine = events.filter((e) => e.jobId === 'pl');
    expect(mine.every((e) => e.kind === 'prelabel' && e.total === 2)).toBe(true);
    expect(mine.at(-1)).toMatchObject({ phase: 'done', done: 2, imported: s.detections });
    expect(mine.some((e) => e.etaMs !== null)).toBe(true);

    // The by-name default map now names the classes pre-labeling created.
    const cm = await ok(ws, 'classmap:get', { modelId: manifest.id });
    expect(cm.stored).toBe(false);
    expect(cm.map['person']).toEqual(expect.any(Number));

    const again = await ok(ws, 'prelabel:resume', { jobId: 'pl2', runId: s.runId });
    expect(again).toMatchObject({ done: 2, detections: 0 });
    expect(await ws.current!.db.prepare('SELECT count(*) FROM annotations').pluck().get()).toBe(s.detections);
    await ws.dispose();
  });

  it('lists runs left with pending images, cancelled or cut off by a quit, until they are resumed', async () => {
    const dir = tempDir();
    const ws = newWorkspace(dir);
    await ok(ws, 'dataset:create', { path: path.join(dir, 'd.tessera'), root: images! });
    await ok(ws, 'images:import', { jobId: 'imp', paths: NAMES.slice(0, 2).map((n) => path.join(images!, n)) });
    const { file: _f, ...rest } = manifest;
    await ok(ws, 'models:add', { file: model!, manifest: rest as Record<string, unknown> });
    expect(await ok(ws, 'prelabel:unfinished', {})).toEqual([]);

    const db = ws.current!.db;
    const { items } = await ok(ws, 'images:list', {});
    let runId = 0;
    let doneSoFar = 0;
    const { detector } = await inferenceBackend();
    const first = await runPrelabel(
      ws.current!,
      detector,
      { manifest, modelFile: model!, imageIds: items.map((i) => i.id), skipLabeled: false },
      { onProgress: (p) => (doneSoFar = p.done), isCancelled: () => doneSoFar >= 1, onRun: (id) => (runId = id) },
    );
    expect(first).toMatchObject({ cancelled: true, pending: 1 });
    expect(await ok(ws, 'prelabel:unfinished', {})).toEqual([{ runId, modelId: manifest.id, status: 'cancelled', pending: 1, done: 1 }]);
    // A run the app quit during stays 'running' in the file; it is unfinished all the same.
    await db.prepare("UPDATE model_runs SET status = 'running' WHERE id = ?").run(runId);
    expect(await ok(ws, 'prelabel:unfinished', {})).toMatchObject([{ runId, status: 'running', pending: 1 }]);

    await ok(ws, 'prelabel:resume', { jobId: 'pl2', runId });
    expect(await ok(ws, 'prelabel:unfinished', {})).toEqual([]);
    // A finished run with every image settled is never listed.
    await ok(ws, 'prelabel:run', { jobId: 'pl3', modelId: manifest.id, scope: { filter: {}, unlabeledOnly: false } });
    expect(await ok(ws, 'prelabel:unfinished', {})).toEqual([]);
    await ws.dispose();
  });

  it('keeps the inference worker and the session it loaded across inspection, tries and jobs, and stops it when the workspace closes', async () => {
    // This process's threads, where the system lists them (Linux).
    const threads = (): number | null => (fs.existsSync('/proc/self/task') ? fs.readdirSync('/proc/self/task').length : null);
    let threadsWithWorker: number | null = null;
    const dir = tempDir();
    const ws = newWorkspace(dir);
    try {
      await ok(ws, 'dataset:create', { path: path.join(dir, 'd.tessera'), root: images! });
      await ok(ws, 'images:import', { jobId: 'imp', paths: NAMES.slice(0, 2).map((n) => path.join(images!, n)) });
      const { items } = await ok(ws, 'images:list', {});
      expect(await ws.inferenceStats()).toEqual({ workers: 0, loads: 0, sessions: [] });

      const inspected = await ok(ws, 'models:inspect', { file: model! });
      expect(inspected.proposed).toMatchObject({ family: 'ultralytics' });
      const tried = await ok(ws, 'models:try', { file: model!, imageId: items[0]!.id, providers: ['cpu'] });
      expect(tried.detections.length).toBeGreaterThan(0);
      const added = await ok(ws, 'models:add', { file: model! });
      const modelId = added.manifest.id;
      const first = await ok(ws, 'prelabel:run', { jobId: 'a', modelId, scope: { imageIds: [items[0]!.id] }, provider: 'cpu' });
      // A second job, and a try of the registered model, in the same workspace.
      const second = await ok(ws, 'prelabel:run', { jobId: 'b', modelId, scope: { imageIds: [items[1]!.id] } });
      expect([first.done, second.done]).toEqual([1, 1]);
      await ok(ws, 'models:try', { modelId, imageId: items[1]!.id });
      // The pool reports one worker that loaded the file once, inspection included: inspection
      // loads with the app's thread settings, which the tries and jobs use.
      expect(await ws.inferenceStats()).toEqual({ workers: 1, loads: 1, sessions: [{ file: model!, providers: ['cpu'], intraOpThreads: physicalCores(), spinning: false }] });
      // Another dataset in the same window keeps the worker too.
      await ws.close();
      await ok(ws, 'dataset:create', { path: path.join(dir, 'e.tessera'), root: images! });
      await ok(ws, 'images:import', { jobId: 'imp2', paths: [path.join(images!, NAMES[2]!)] });
      const other = (await ok(ws, 'images:list', {})).items[0]!;
      await ok(ws, 'prelabel:run', { jobId: 'c', modelId, scope: { imageIds: [other.id] } });
      expect(await ws.inferenceStats()).toMatchObject({ workers: 1, loads: 1 });
      threadsWithWorker = threads();
    } finally {
      await ws.dispose();
    }
    // Closed with the workspace: the worker thread and the threads its session ran are gone.
    expect(await ws.inferenceStats()).toEqual({ workers: 0, loads: 0, sessions: [] });
    expect(ws.current).toBeNull();
    if (threadsWithWorker !== null) expect(threads()!).toBeLessThan(threadsWithWorker);
  }, 120_000);

  it('tries a model file before it is added, with the proposed or a given manifest, storing and registering nothing', async () => {
    const dir = tempDir();
    const ws = newWorkspace(dir);
    await ok(ws, 'dataset:create', { path: path.join(dir, 'd.tessera'), root: images! });
    await ok(ws, 'images:import', { jobId: 'imp', paths: [path.join(images!, NAMES[0]!)] });
    const { items } = await ok(ws, 'images:list', {});

    const proposed = await ok(ws, 'models:try', { file: model!, imageId: items[0]!.id, conf: 0.4, providers: ['cpu'] });
    expect(proposed.provider).toBe('cpu');
    expect(proposed.detections.some((d) => d.className === 'person')).toBe(true);

    const { file: _f, ...rest } = manifest;
    const given = await ok(ws, 'models:try', { file: model!, manifest: { ...rest, classes: COCO80.map((c) => `m-${c}`) }, imageId: items[0]!.id, conf: 0.4 });
    expect(given.detections.some((d) => d.className === 'm-person')).toBe(true);

    expect(await ws.current!.db.prepare('SELECT count(*) FROM annotations').pluck().get()).toBe(0);
    expect((await ok(ws, 'models:list', {})).some((e) => e.origin === 'custom')).toBe(false);
    // Naming both a registered id and a file is refused by the contract, as is naming neither.
    expect((await fails(ws, 'models:try', { modelId: 'x', file: model!, imageId: items[0]!.id } as never)).code).toBe('INVALID_ARGUMENT');
    expect((await fails(ws, 'models:try', { imageId: items[0]!.id } as never)).code).toBe('INVALID_ARGUMENT');
    await ws.dispose();
  });
});

describe.runIf(model && images)('thread settings of pre-labeling through the contract', () => {
  afterAll(closeInferenceBackend);

  it('records the app\'s defaults (no spinning) in the run, or the settings asked for, and resumes with this machine\'s', async () => {
    const dir = tempDir();
    const ws = newWorkspace(dir);
    await ok(ws, 'dataset:create', { path: path.join(dir, 'd.tessera'), root: images! });
    await ok(ws, 'images:import', { jobId: 'imp', paths: [path.join(images!, NAMES[0]!)] });
    const { file: _f, ...rest } = manifest;
    await ok(ws, 'models:add', { file: model!, manifest: rest as Record<string, unknown> });
    const scope = { filter: {}, unlabeledOnly: false };
    const params = async (runId: number) => (await getModelRun(ws.current!.db, runId))!.parameters;

    const plain = await ok(ws, 'prelabel:run', { jobId: 'a', modelId: manifest.id, scope });
    expect(plain.done).toBe(1);
    expect(await params(plain.runId)).toMatchObject({ threads: physicalCores(), spinning: false });

    const asked = await ok(ws, 'prelabel:run', { jobId: 'b', modelId: manifest.id, scope, threads: 1, spinning: true });
    expect(asked.done).toBe(1);
    expect(await params(asked.runId)).toMatchObject({ threads: 1, spinning: true });
    // The same detections whatever the threads.
    expect(asked.detections).toBe(plain.detections);

    const tried = await ok(ws, 'models:try', { modelId: manifest.id, imageId: (await ok(ws, 'images:list', {})).items[0]!.id, threads: 2, spinning: false });
    expect(tried.detections.length).toBe(plain.detections);

    await ok(ws, 'prelabel:resume', { jobId: 'c', runId: asked.runId, threads: 2 });
    expect(await params(asked.runId)).toMatchObject({ threads: 2, spinning: false });

    for (const bad of [{ threads: 0 }, { threads: 1.5 }, { threads: 257 }, { spinning: 'yes' }]) {
      const e = await fails(ws, 'prelabel:run', { jobId: 'd', modelId: manifest.id, scope, ...(bad as object) });
      expect(e.code).toBe('INVALID_ARGUMENT');
    }
    await ws.close();
  });
});
