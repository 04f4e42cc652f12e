import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { obbCorners } from '../../src-main/common/geometry/shapes';
import { COCO_PERSON_KEYPOINTS } from '../../src-main/common/keypoints';
import type { ModelManifest } from '../../src-main/common/inference/types';
import type { AnnotationRecord, ImageListItem } from '../../src-main/common/model';
import { findClassByName } from '../../src-main/db/classes';
import { listAnnotations } from '../../src-main/db/annotations';
import { getModelRun } from '../../src-main/db/prelabel';
import { closeInferenceBackend, inferenceBackend, runPrelabel } from '../../src-main/services/prelabel';
import type { Workspace } from '../../src-main/services/workspace';
import { FLOAT, onnxModel } from '../helpers/onnxModel';
import { tempDir } from '../helpers/shared';
import { newWorkspace, ok } from '../helpers/workspace';

/**
 * OBB and pose pre-labeling end to end through onnxruntime, on tiny ONNX models whose output is a
 * fixed tensor in the documented Ultralytics layout (no real OBB or pose model is at hand): the
 * real inference worker runs them, the decoders read their output and the run stores predictions
 * in a real dataset. The image is 1280x640, letterboxed into 640x640: image = (input - pad) * 2
 * with 160 rows of padding at the top.
 */

/** A model ignoring its image and answering `columns` as a channels-first [1, rows, N] output. */
function constantModel(file: string, columns: number[][], metadata: Record<string, string> = {}): string {
  const n = columns.length;
  const rows = columns[0]!.length;
  const values = new Array<number>(rows * n);
  columns.forEach((col, j) => col.forEach((v, r) => (values[r * n + j] = v)));
  fs.writeFileSync(
    file,
    onnxModel({
      inputs: [{ name: 'images', type: FLOAT, dims: [1, 3, 640, 640] }],
      outputs: [{ name: 'output0', type: FLOAT, dims: [1, rows, n] }],
      nodes: [{ op: 'Identity', inputs: ['answer'], outputs: ['output0'] }],
      initializers: [{ name: 'answer', type: FLOAT, dims: [1, rows, n], values }],
      metadata,
    }),
  );
  return file;
}

const base = (over: Partial<ModelManifest>): ModelManifest => ({
  id: 'x',
  name: 'x',
  task: 'obb',
  family: 'ultralytics',
  size: [640, 640],
  colour: 'rgb',
  scale: 1 / 255,
  letterbox: 114,
  classes: ['car', 'truck'],
  thresholds: { score: 0.25, iou: 0.45, maxDetections: 300 },
  ...over,
});

async function dataset(): Promise<{ ws: Workspace; dir: string; image: ImageListItem }> {
  const dir = tempDir();
  await sharp({ create: { width: 1280, height: 640, channels: 3, background: { r: 90, g: 120, b: 60 } } })
    .png()
    .toFile(path.join(dir, 'field.png'));
  const ws = newWorkspace(dir);
  await ok(ws, 'dataset:create', { path: path.join(dir, 'd.tessera'), root: dir });
  await ok(ws, 'images:import', { jobId: 'imp', paths: [path.join(dir, 'field.png')] });
  const { items } = await ok(ws, 'images:list', {});
  return { ws, dir, image: items[0]! };
}

const predictions = async (ws: Workspace, imageId: number): Promise<AnnotationRecord[]> => (await listAnnotations(ws.current!.db, imageId)).filter((a) => a.source === 'model');

afterAll(closeInferenceBackend);

describe('pre-labeling with an Ultralytics OBB model', () => {
  it('stores regularised rotated boxes in image pixels as obb predictions, one per object after rotated NMS', async () => {
    const { ws, dir, image } = await dataset();
    const file = constantModel(path.join(dir, 'obb.onnx'), [
      [320, 320, 200, 50, 0.9, 0.0, 0.3],
      [320, 320, 200, 50, 0.8, 0.0, 0.3 + Math.PI], // the same box under another name
      [100, 300, 60, 20, 0.0, 0.7, 2.0], // past π/2: stored with w and h swapped
      [500, 200, 300, 12, 0.6, 0.0, Math.PI / 4],
      [500, 200, 300, 12, 0.5, 0.0, (3 * Math.PI) / 4], // crossing it: kept
    ]);
    const summary = await runPrelabel(ws.current!, (await inferenceBackend()).detector, { manifest: base({ file }), modelFile: file, imageIds: [image.id], skipLabeled: false });
    expect([summary.done, summary.failed, summary.detections]).toEqual([1, 0, 4]);
    const got = await predictions(ws, image.id);
    expect(got.map((a) => a.kind)).toEqual(['obb', 'obb', 'obb', 'obb']);
    const byScore = [...got].sort((a, b) => b.score! - a.score!);
    const geo = byScore.map((a) => a.geometry as Extract<AnnotationRecord['geometry'], { kind: 'obb' }>);
    expect([geo[0]!.cx, geo[0]!.cy, geo[0]!.w, geo[0]!.h].map((v) => +v.toFixed(3))).toEqual([640, 320, 400, 100]);
    expect(geo[0]!.angle).toBeCloseTo(0.3, 5);
    expect([geo[1]!.cx, geo[1]!.cy, geo[1]!.w, geo[1]!.h].map((v) => +v.toFixed(3))).toEqual([200, 280, 40, 120]);
    expect(geo[1]!.angle).toBeCloseTo(2.0 - Math.PI / 2, 5);
    expect(geo[2]!.angle).toBeCloseTo(Math.PI / 4, 5);
    expect([geo[3]!.w, geo[3]!.h].map((v) => +v.toFixed(3))).toEqual([24, 600]);
    expect(geo[3]!.angle).toBeCloseTo(Math.PI / 4, 5);
    for (const g of geo) expect(g.angle >= 0 && g.angle < Math.PI / 2).toBe(true);
    // The corners of the first box: the input box's, through the letterbox.
    const c = obbCorners(geo[0]!);
    const cos = Math.cos(0.3), sin = Math.sin(0.3);
    expect(c[0]).toBeCloseTo(640 - 200 * cos + 50 * sin, 3);
    expect(c[1]).toBeCloseTo(320 - 200 * sin - 50 * cos, 3);
    const car = (await findClassByName(ws.current!.db, 'car'))!.id;
    expect(byScore.map((a) => [car === a.classId ? 'car' : 'truck', a.modelRunId])).toEqual([
      ['car', summary.runId],
      ['truck', summary.runId],
      ['car', summary.runId],
      ['car', summary.runId],
    ]);
    await ws.close();
  });

  it('inspection of the file proposes an obb manifest from its Ultralytics metadata', async () => {
    // Channels first: more candidates (16) than rows (7), as every Ultralytics head has.
    const dir = tempDir();
    const file = constantModel(path.join(dir, 'rows-obb.onnx'), Array.from({ length: 16 }, () => [1, 2, 3, 4, 0.5, 0.5, 0.1]), { task: 'obb', names: "{0: 'crop row', 1: 'weed'}", imgsz: '[640, 640]' });
    const r = await (await inferenceBackend()).inspect(file);
    expect(r.proposed).toMatchObject({ task: 'obb', family: 'ultralytics', classes: ['crop row', 'weed'], size: [640, 640] });
    expect(r.problems).toEqual([]);
  });
});

describe('pre-labeling with an Ultralytics pose model', () => {
  /** Two people (the second a near copy of the first, suppressed) and one more: box, score, 17 keypoints. */
  const person = (cx: number, score: number, kps: (k: number) => [number, number, number]): number[] => [cx, 300, 100, 200, score, ...Array.from({ length: 17 }, (_, k) => kps(k)).flat()];
  const columns = [
    person(320, 0.9, (k) => [300 + k, 220 + 5 * k, k === 0 ? 0.9 : k === 1 ? 0.3 : k === 2 ? 0.1 : 0.8]),
    person(322, 0.85, (k) => [301 + k, 220 + 5 * k, 0.9]),
    person(520, 0.6, (k) => [500 + k, 220 + 5 * k, 0.7]),
  ];

  it('stores keypoints predictions with COCO visibility and gives the class the COCO person schema', async () => {
    const { ws, dir, image } = await dataset();
    const file = constantModel(path.join(dir, 'pose.onnx'), columns);
    const summary = await runPrelabel(ws.current!, (await inferenceBackend()).detector, { manifest: base({ task: 'pose', classes: ['person'], file }), modelFile: file, imageIds: [image.id], skipLabeled: false });
    expect([summary.done, summary.detections]).toEqual([1, 2]);
    const got = (await predictions(ws, image.id)).sort((a, b) => b.score! - a.score!);
    expect(got.map((a) => a.kind)).toEqual(['keypoints', 'keypoints']);
    const points = (got[0]!.geometry as { points: number[] }).points;
    expect(points).toHaveLength(51);
    // Keypoint 1 scored 0.9: visible; 2 scored 0.3: labelled, not visible; 3 scored 0.1: not labelled.
    expect(points.slice(0, 9).map((v) => +v.toFixed(3))).toEqual([600, 120, 2, 602, 130, 1, 0, 0, 0]);
    expect(points.slice(9, 12).map((v) => +v.toFixed(3))).toEqual([606, 150, 2]);
    const cls = (await findClassByName(ws.current!.db, 'person'))!;
    expect(got[0]!.classId).toBe(cls.id);
    expect(cls.keypoints).toEqual(COCO_PERSON_KEYPOINTS);
    await ws.close();
  });

  it('counts in the summary the objects whose keypoints all scored too low to be stored', async () => {
    const { ws, dir, image } = await dataset();
    const faint = [...columns, person(100, 0.7, (k) => [80 + k, 220 + 5 * k, 0.1]), person(200, 0.65, (k) => [180 + k, 220 + 5 * k, 0.2])];
    const file = constantModel(path.join(dir, 'pose.onnx'), faint);
    const summary = await runPrelabel(ws.current!, (await inferenceBackend()).detector, { manifest: base({ task: 'pose', classes: ['person'], file }), modelFile: file, imageIds: [image.id], skipLabeled: false });
    expect([summary.done, summary.detections]).toEqual([1, 2]);
    expect(summary.warnings).toEqual(['2 objects were found with no keypoint scoring 0.25 or more, and not stored']);
    await ws.close();
  });

  it('fails the run, storing nothing, when the class has another keypoint schema', async () => {
    const { ws, dir, image } = await dataset();
    const cls = await ok(ws, 'classes:create', { name: 'person' });
    await ok(ws, 'classes:setKeypoints', { id: cls.id, keypoints: { names: ['head', 'tail'], skeleton: [[0, 1]] } });
    const file = constantModel(path.join(dir, 'pose.onnx'), columns);
    let runId = 0;
    const err = await runPrelabel(ws.current!, (await inferenceBackend()).detector, { manifest: base({ task: 'pose', classes: ['person'], file }), modelFile: file, imageIds: [image.id], skipLabeled: false }, { onRun: (id) => (runId = id) }).then(
      () => null,
      (e: Error) => e,
    );
    expect(err?.message).toBe(
      'class "person" has another keypoint schema than model "x": the class has 2 keypoints (head, tail), the model 17 (nose, left_eye, right_eye, left_ear, right_ear, left_shoulder, right_shoulder, left_elbow, …); map the model\'s class to another class, or change the class\'s keypoints to the model\'s',
    );
    expect(await predictions(ws, image.id)).toEqual([]);
    expect((await getModelRun(ws.current!.db, runId))!.status).toBe('failed');
    expect((await findClassByName(ws.current!.db, 'person'))!.keypoints!.names).toEqual(['head', 'tail']);
    await ws.close();
  });
});
