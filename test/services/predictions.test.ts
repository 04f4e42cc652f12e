import { beforeAll, describe, expect, it } from 'vitest';
import type { ImageListItem } from '../../src-main/common/model';
import { insertAnnotations, listAnnotations } from '../../src-main/db/annotations';
import { insertModelRun } from '../../src-main/db/modelRuns';
import { getModelClassMap } from '../../src-main/services/predictions';
import type { Workspace } from '../../src-main/services/workspace';
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
  const run = insertModelRun(db, { model: 'tiny', parameters: { conf: 0.25 }, provider: 'cpu' });
  const [human] = insertAnnotations(db, [{ imageId: a.id, classId: cell, geometry: { kind: 'box', x: 1, y: 1, w: 5, h: 5 }, source: 'human' }]);
  const box = (x: number) => ({ kind: 'box' as const, x, y: 2, w: 10, h: 8 });
  const preds = insertAnnotations(db, [
    { imageId: a.id, classId: cell, geometry: box(2), source: 'model', modelRunId: run, score: 0.9 },
    { imageId: a.id, classId: cell, geometry: box(12), source: 'model', modelRunId: run, score: 0.6 },
    { imageId: a.id, classId: cell, geometry: box(22), source: 'model', modelRunId: run, score: 0.3 },
    { imageId: b.id, classId: cell, geometry: box(2), source: 'model', modelRunId: run, score: 0.8 },
  ]);
  return { ws, a, b, cell, other, run, human: human!, preds };
}

const byId = (ws: Workspace, imageId: number) => new Map(listAnnotations(ws.current!.db, imageId).map((r) => [r.id, r]));

describe('reviewing predictions', () => {
  it('accept turns a prediction into a human annotation, keeps run and score in attributes, and undoes', async () => {
    const s = await scene();
    const before = byId(s.ws, s.a.id);
    const r = await ok(s.ws, 'predictions:accept', { ids: [s.preds[0]!] });
    expect(r.ids).toEqual([s.preds[0]]);
    expect(r.images).toHaveLength(1);
    const accepted = byId(s.ws, s.a.id).get(s.preds[0]!)!;
    expect(accepted).toMatchObject({ source: 'human', modelRunId: null, score: null, version: 2, classId: s.cell });
    expect(accepted.attributes).toEqual({ acceptedFrom: s.run, score: 0.9 });
    expect(accepted.geometry).toEqual(before.get(s.preds[0]!)!.geometry);
    // The human annotation is untouched.
    expect(byId(s.ws, s.a.id).get(s.human)).toEqual(before.get(s.human));
    expect((await ok(s.ws, 'images:get', { id: s.a.id })).status).toBe('in_progress');

    expect((await ok(s.ws, 'annotations:history', { imageId: s.a.id })).undoLabel).toBe('Accept prediction');
    await ok(s.ws, 'annotations:undo', { imageId: s.a.id });
    expect(byId(s.ws, s.a.id).get(s.preds[0]!)).toMatchObject({ source: 'model', modelRunId: s.run, score: 0.9, attributes: {} });
  });

  it('edit-to-accept applies the class and geometry change while accepting', async () => {
    const s = await scene();
    await ok(s.ws, 'predictions:accept', { ids: [], edits: [{ id: s.preds[1]!, classId: s.other, geometry: { kind: 'box', x: 13, y: 3, w: 9, h: 7 } }] });
    expect(byId(s.ws, s.a.id).get(s.preds[1]!)).toMatchObject({ source: 'human', classId: s.other, geometry: { kind: 'box', x: 13, y: 3, w: 9, h: 7 } });
    expect((await fails(s.ws, 'predictions:accept', { ids: [], edits: [{ id: s.preds[2]!, geometry: { kind: 'box', x: 1, y: 1, w: 0, h: 4 } }] })).code).toBe('INVALID_GEOMETRY');
  });

  it('reject removes only predictions, one journal entry per image, and undo brings them back', async () => {
    const s = await scene();
    const r = await ok(s.ws, 'predictions:reject', { ids: [s.preds[1]!, s.preds[2]!, s.preds[3]!] });
    expect(r.images.map((i) => i.imageId).sort()).toEqual([s.a.id, s.b.id].sort());
    expect([...byId(s.ws, s.a.id).keys()].sort()).toEqual([s.human, s.preds[0]!].sort());
    expect(byId(s.ws, s.b.id).size).toBe(0);
    await ok(s.ws, 'annotations:undo', { imageId: s.a.id });
    expect(byId(s.ws, s.a.id).size).toBe(4);
    expect((await fails(s.ws, 'predictions:reject', { ids: [s.human] })).code).toBe('INVALID_ARGUMENT');
    expect(byId(s.ws, s.a.id).has(s.human)).toBe(true);
    expect((await fails(s.ws, 'predictions:accept', { ids: [999_999] })).code).toBe('NOT_FOUND');
  });

  it('accepts everything above a threshold, for one image or the whole run', async () => {
    const s = await scene();
    const one = await ok(s.ws, 'predictions:acceptAbove', { runId: s.run, imageId: s.a.id, threshold: 0.5 });
    expect(one.ids.sort()).toEqual([s.preds[0]!, s.preds[1]!].sort());
    expect(byId(s.ws, s.a.id).get(s.preds[2]!)!.source).toBe('model');
    expect(byId(s.ws, s.b.id).get(s.preds[3]!)!.source).toBe('model');
    const all = await ok(s.ws, 'predictions:acceptAbove', { runId: s.run, threshold: 0.5 });
    expect(all.ids).toEqual([s.preds[3]]);
    expect((await ok(s.ws, 'predictions:acceptAbove', { runId: s.run, threshold: 0.95 })).ids).toEqual([]);
  });

  it('remembers a class map per model, refusing unknown dataset classes', async () => {
    const s = await scene();
    const ds = s.ws.current!;
    expect(getModelClassMap(ds, 'tiny', ['Cell', 'potted plant'])).toEqual({ map: { Cell: s.cell, 'potted plant': null }, stored: false });
    await ok(s.ws, 'classmap:set', { modelId: 'tiny', map: { 'potted plant': s.other, Cell: null } });
    expect(getModelClassMap(ds, 'tiny', ['Cell', 'potted plant'])).toEqual({ map: { 'potted plant': s.other, Cell: null }, stored: true });
    expect(getModelClassMap(ds, 'another', ['cell']).stored).toBe(false);
    expect((await fails(s.ws, 'classmap:set', { modelId: 'tiny', map: { x: 4242 } })).code).toBe('INVALID_ARGUMENT');
  });
});
