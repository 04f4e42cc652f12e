import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ImageListItem } from '../../src-main/common/model';
import { listAnnotations } from '../../src-main/db/annotations';
import { closeInferenceBackend } from '../../src-main/services/prelabel';
import type { Workspace } from '../../src-main/services/workspace';
import { MOBILENET_TOP1, mobilenetManifest } from '../helpers/models';
import { sharedPath, tempDir } from '../helpers/shared';
import { fails, newWorkspace, ok } from '../helpers/workspace';

const model = sharedPath('models/mobilenetv2-12-int8.onnx');
const labels = sharedPath('models/imagenet_labels.json');
const images = sharedPath('datasets/coco_tinycoco/images/train2017');

describe.runIf(model && labels && images)('pre-labeling with a classifier (MobileNetV2) on coco_tinycoco', () => {
  let ws: Workspace;
  let items: ImageListItem[];
  beforeAll(async () => {
    const dir = tempDir();
    ws = newWorkspace(dir);
    await ok(ws, 'dataset:create', { path: path.join(dir, 'd.tessera'), root: images! });
    await ok(ws, 'images:import', { jobId: 'imp', paths: MOBILENET_TOP1.map(([n]) => path.join(images!, n)) });
    ({ items } = await ok(ws, 'images:list', {}));
    // Added with its labels file and no class list: the registry reads the names from the file.
    const { classes: _drop, ...manifest } = mobilenetManifest(model!, labels!);
    void _drop;
    const entry = await ok(ws, 'models:add', { file: model!, manifest: { ...manifest } });
    expect(entry.manifest.classes).toHaveLength(1000);
    expect(entry.manifest.family).toBeUndefined();
  });
  afterAll(closeInferenceBackend);

  it('stores the top-k classes as image tags with score and run, the README\'s answers first, and counts them by kind', async () => {
    const summary = await ok(ws, 'prelabel:run', { jobId: 'p', modelId: 'mobilenetv2', scope: { imageIds: items.map((i) => i.id) }, skipLabeled: false, conf: 0.01 });
    expect(summary.done).toBe(4);
    expect(summary.byKind).toEqual({ tag: summary.detections });
    expect(summary.detections).toBeGreaterThanOrEqual(4);
    expect(summary.detections).toBeLessThanOrEqual(20);
    const db = ws.current!.db;
    const classes = await ok(ws, 'classes:list', {});
    const nameOf = new Map(classes.map((c) => [c.id, c.name]));
    for (const [file, label, min] of MOBILENET_TOP1) {
      const image = items.find((i) => i.path === file)!;
      const tags = (await listAnnotations(db, image.id)).filter((a) => a.source === 'model');
      expect(tags.length).toBeGreaterThanOrEqual(1);
      expect(tags.length).toBeLessThanOrEqual(5);
      for (const t of tags) {
        expect(t.kind).toBe('tag');
        expect(t.geometry).toEqual({ kind: 'tag' });
        expect(t.modelRunId).toBe(summary.runId);
      }
      const best = [...tags].sort((a, b) => b.score! - a.score!)[0]!;
      expect(nameOf.get(best.classId!)).toBe(label);
      expect(best.score).toBeGreaterThanOrEqual(min);
      console.log(`${file}: ${tags.map((t) => `${nameOf.get(t.classId!)} ${t.score!.toFixed(3)}`).join(', ')}`);
    }
  });

  it('accepting a tag prediction makes it a human tag; rejecting one removes it; a classifier does not run tiled', async () => {
    const db = ws.current!.db;
    // Microwave (0.76) leaves room for other classes above the threshold.
    const image = items.find((i) => i.path === '000000037777.jpg')!;
    const tags = (await listAnnotations(db, image.id)).filter((a) => a.source === 'model').sort((a, b) => b.score! - a.score!);
    expect(tags.length).toBeGreaterThanOrEqual(2);
    await ok(ws, 'predictions:accept', { ids: [tags[0]!.id] });
    await ok(ws, 'predictions:reject', { ids: [tags[1]!.id] });
    const after = await listAnnotations(db, image.id);
    const accepted = after.find((a) => a.id === tags[0]!.id)!;
    expect(accepted.source).toBe('human');
    expect(accepted.kind).toBe('tag');
    expect(accepted.classId).toBe(tags[0]!.classId);
    expect(after.some((a) => a.id === tags[1]!.id)).toBe(false);
    const err = await fails(ws, 'prelabel:run', { jobId: 'q', modelId: 'mobilenetv2', scope: { imageIds: [image.id] }, skipLabeled: false, tiling: { size: 512, overlap: 64, fullPass: false } });
    expect(err.message).toContain('is a classifier');
  });

  it('a labels file whose count differs from the model output fails the run naming the file', async () => {
    const dir = tempDir();
    const short = path.join(dir, 'labels.txt');
    fs.writeFileSync(short, JSON.parse(fs.readFileSync(labels!, 'utf8')).slice(0, 10).join('\n'));
    const { classes: _drop, ...manifest } = mobilenetManifest(model!, short);
    void _drop;
    await ok(ws, 'models:add', { file: model!, manifest: { ...manifest, id: 'mobilenet-short' } });
    const err = await fails(ws, 'prelabel:run', { jobId: 'r', modelId: 'mobilenet-short', scope: { imageIds: [items[0]!.id] }, skipLabeled: false });
    expect(err.message).toContain(`holds 1000 class scores but the manifest names 10 classes (labels file ${short})`);
  });

  it('inspection proposes classify and reads a labels file beside the model, or the one chosen', async () => {
    const dir = tempDir();
    const linked = path.join(dir, 'leafnet.onnx');
    fs.symlinkSync(model!, linked);
    const names = JSON.parse(fs.readFileSync(labels!, 'utf8')) as string[];
    // A manifest-like JSON of the same stem is no labels file: passed over for labels.txt.
    fs.writeFileSync(path.join(dir, 'leafnet.json'), JSON.stringify({ id: 'x' }));
    fs.writeFileSync(path.join(dir, 'labels.txt'), names.join('\n'));
    const found = await ok(ws, 'models:inspect', { file: linked });
    expect(found.proposed).toMatchObject({ task: 'classify', size: [224, 224], cropFrom: 256, labels: path.join(dir, 'labels.txt') });
    expect(found.proposed!.classes).toEqual(names);
    expect(found.outputs).toEqual([{ name: 'output', dims: [expect.anything(), 1000] }]);
    const short = path.join(dir, 'two.json');
    fs.writeFileSync(short, JSON.stringify(['healthy', 'diseased']));
    const chosen = await ok(ws, 'models:inspect', { file: linked, labels: short });
    expect(chosen.proposed).toBeNull();
    expect(chosen.problems.join('\n')).toContain(`${short}: holds 2 names but ${linked} outputs 1000 class scores`);
    fs.rmSync(path.join(dir, 'labels.txt'));
    const none = await ok(ws, 'models:inspect', { file: linked });
    expect(none.proposed!.classes.slice(0, 2)).toEqual(['class_0', 'class_1']);
    expect(none.problems.join('\n')).toContain('no labels file');
  });

  it('maps model classes to dataset classes as for detectors: mapped ones stored under the dataset class, the rest ignored', async () => {
    const db = ws.current!.db;
    const vehicle = (await ok(ws, 'classes:create', { name: 'vehicle' })).id;
    await ok(ws, 'classmap:set', { modelId: 'mobilenetv2', map: { Cab: vehicle, 'School bus': vehicle } });
    const image = items.find((i) => i.path === '000000303818.jpg')!;
    const s = await ok(ws, 'prelabel:run', { jobId: 'm', modelId: 'mobilenetv2', scope: { imageIds: [image.id] }, skipLabeled: false, conf: 0.01 });
    const stored = (await listAnnotations(db, image.id)).filter((a) => a.modelRunId === s.runId);
    expect(stored.length).toBe(2);
    expect(stored.every((a) => a.classId === vehicle && a.kind === 'tag')).toBe(true);
    expect(stored.map((a) => a.attributes['modelClass']).sort()).toEqual(['Cab', 'School bus']);
  });

  it('a labels file beside the model that does not fit it is left out, saying so', async () => {
    const dir = tempDir();
    const linked = path.join(dir, 'other.onnx');
    fs.symlinkSync(model!, linked);
    fs.writeFileSync(path.join(dir, 'other.txt'), 'a\nb\n');
    const r = await ok(ws, 'models:inspect', { file: linked });
    expect(r.proposed?.task).toBe('classify');
    expect(r.proposed!.classes[0]).toBe('class_0');
    expect(r.problems.join('\n')).toContain(`${path.join(dir, 'other.txt')}: holds 2 names but ${linked} outputs 1000 class scores (inputs input [batch_size, 3, 224, 224]; outputs output [batch_size, 1000]); not used`);
  });
});
