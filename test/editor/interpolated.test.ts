import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Editor } from '../../src-renderer/editor/Editor';
import type { ActionContext } from '../../src-renderer/editor/actions';
import { callWs, closeTestDataset, createTestDataset, EditorDriver, workspaceBackend, type TestDataset } from '../helpers/editorDriver';

let ds: TestDataset;

beforeAll(async () => {
  ds = await createTestDataset();
});

afterAll(async () => await closeTestDataset(ds));

describe('interpolated shapes in the editor', () => {
  it('are drawn marked until moved by hand, after which the stored shape is a key shape', async () => {
    const im = ds.images[0]!;
    const made = await callWs(ds.ws, 'annotations:edit', {
      imageId: im.id,
      label: 'interpolate',
      ops: [{ op: 'create', draft: { classId: ds.classes[0]!.id, geometry: { kind: 'box', x: 20, y: 20, w: 40, h: 30 }, attributes: { interpolated: true } } }],
    });
    const editor = new Editor(workspaceBackend(ds.ws));
    const d = new EditorDriver(editor);
    await editor.load({ id: im.id, width: im.width, height: im.height });
    const id = made.created[0]!;
    expect(editor.toScene(editor.annotations.get(id)!).interpolated).toBe(true);
    d.key('v');
    d.drag(40, 35, 50, 45);
    await d.settle();
    const [stored] = await callWs(ds.ws, 'annotations:list', { imageId: im.id });
    expect(stored!.geometry).toEqual({ kind: 'box', x: 30, y: 30, w: 40, h: 30 });
    expect(stored!.attributes).toEqual({});
    expect(editor.toScene(editor.annotations.get(id)!).interpolated).toBeUndefined();
  });

  it('offers propagation and interpolation with a selection when the image has slices to step through', async () => {
    const im = ds.images[1]!;
    const editor = new Editor(workspaceBackend(ds.ws));
    const asked: string[] = [];
    const nav = { next() {}, previous() {}, close() {}, nextUnlabeled() {}, nextNotDone() {}, markDone() {}, stepFrame() {}, frames: () => 1 };
    const slices: ActionContext['slices'] = { propagate: () => asked.push('propagate'), interpolate: () => asked.push('interpolate') };
    let count = 1;
    const d = new EditorDriver(editor, { nav: { ...nav, slices: () => count }, slices });
    await editor.load({ id: im.id, width: im.width, height: im.height });
    d.key('b');
    d.drag(10, 10, 60, 60);
    await d.settle();
    d.key('a', { ctrl: true });
    // A single image: nothing to copy to.
    expect(d.key('>')).toBe(false);
    count = 5;
    expect(d.key('>')).toBe(true);
    expect(d.key('I', { shift: true })).toBe(true);
    expect(asked).toEqual(['propagate', 'interpolate']);
  });
});
