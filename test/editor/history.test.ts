import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import type { EditResult } from '../../src-main/common/editing';
import { Editor } from '../../src-renderer/editor/Editor';
import type { EditorBackend } from '../../src-renderer/editor/backend';
import type { SceneShape } from '../../src-renderer/editor/scene';
import { callWs, closeTestDataset, createTestDataset, EditorDriver, newWorkspace, workspaceBackend, type TestDataset } from '../helpers/editorDriver';

let ds: TestDataset;

beforeAll(async () => {
  ds = await createTestDataset();
});

afterAll(async () => await closeTestDataset(ds));

async function openEditor(backend: EditorBackend, image = ds.images[0]!): Promise<{ editor: Editor; d: EditorDriver }> {
  const editor = new Editor(backend);
  editor.setClasses(ds.classes);
  await editor.load({ id: image.id, width: image.width, height: image.height });
  return { editor, d: new EditorDriver(editor) };
}

describe('undo and redo through the backend journal', () => {
  it('each action is one edit; undo and redo restore the exact stored values; the history labels follow', async () => {
    const image = ds.images[0]!;
    const { editor, d } = await openEditor(workspaceBackend(ds.ws), image);
    const list = () => callWs(ds.ws, 'annotations:list', { imageId: image.id });
    d.key('b');
    d.drag(10, 10, 60, 40);
    await d.settle();
    const [drawn] = await list();
    expect(editor.history).toMatchObject({ canUndo: true, canRedo: false, undoLabel: 'Draw box' });
    d.key('v');
    d.drag(30, 25, 50, 35); // move the selected box by (20, 10)
    await d.settle();
    const [moved] = await list();
    expect(moved!.geometry).toEqual({ kind: 'box', x: 30, y: 20, w: 50, h: 30 });
    expect(editor.history.undoLabel).toBe('Move box');

    d.key('z', { ctrl: true });
    await d.settle();
    expect((await list())[0]!.geometry).toEqual(drawn!.geometry);
    expect(editor.annotations.get(drawn!.id)!.geometry).toEqual(drawn!.geometry);
    expect(d.lastStatus!.text).toBe('Undid: Move box');
    d.key('z', { ctrl: true });
    await d.settle();
    expect(await list()).toEqual([]);
    expect(editor.annotations.size).toBe(0);
    expect(editor.history).toMatchObject({ canUndo: false, canRedo: true, redoLabel: 'Draw box' });

    d.key('z', { ctrl: true, shift: true });
    await d.settle();
    const redone = await list();
    expect(redone.map((a) => [a.id, a.geometry])).toEqual([[drawn!.id, drawn!.geometry]]);
    d.key('y', { ctrl: true });
    await d.settle();
    expect((await list())[0]!.geometry).toEqual(moved!.geometry);
    expect([...editor.annotations.values()]).toEqual(await list());
    expect(d.key('y', { ctrl: true })).toBe(false); // nothing left to redo: the key does nothing
  });

  it('undo works after the dataset is closed and opened again in a new workspace', async () => {
    const image = ds.images[1]!;
    const { d } = await openEditor(workspaceBackend(ds.ws), image);
    d.key('o');
    d.click(5, 5);
    d.click(7, 9);
    await d.settle();
    expect(await callWs(ds.ws, 'annotations:list', { imageId: image.id })).toHaveLength(2);
    await ds.ws.close();

    const ws2 = newWorkspace(path.join(ds.dir, 'config2'));
    await callWs(ws2, 'dataset:open', { path: ds.file });
    try {
      const { editor, d: d2 } = await openEditor(workspaceBackend(ws2), image);
      expect(editor.annotations.size).toBe(2);
      expect(editor.history).toMatchObject({ canUndo: true, undoLabel: 'Add point' });
      d2.key('z', { ctrl: true });
      await d2.settle();
      const left = await callWs(ws2, 'annotations:list', { imageId: image.id });
      expect(left.map((a) => a.geometry)).toEqual([{ kind: 'point', x: 5, y: 5 }]);
      expect([...editor.annotations.values()]).toEqual(left);
    } finally {
      await ws2.close();
      await callWs(ds.ws, 'dataset:open', { path: ds.file });
    }
  });
});

describe('a failing backend', () => {
  it('keeps the action pending, changes nothing locally, says why, and stores it on retry', async () => {
    const image = ds.images[2]!;
    const real = workspaceBackend(ds.ws);
    let failNext = true;
    // A transport that drops the next edit, as a lost connection or a full disk would.
    const flaky: EditorBackend = {
      ...real,
      edit: (imageId, label, ops): Promise<EditResult> => {
        if (failNext) {
          failNext = false;
          return Promise.reject(new Error('connection lost'));
        }
        return real.edit(imageId, label, ops);
      },
    };
    const { editor, d } = await openEditor(flaky, image);
    const scenes: SceneShape[][] = [];
    editor.events.on('scene', (s) => scenes.push([...s]));
    const changed: SceneShape[][] = [];
    editor.events.on('shapesChanged', (c) => changed.push([...c]));
    d.key('b');
    d.drag(10, 10, 50, 50);
    await d.settle();
    expect(editor.annotations.size).toBe(0);
    expect(changed).toEqual([]);
    expect(editor.pending).toHaveLength(1);
    expect(d.lastStatus).toMatchObject({ kind: 'error' });
    expect(d.lastStatus!.text).toMatch(/Not saved: Draw box: connection lost/);
    expect(await callWs(ds.ws, 'annotations:list', { imageId: image.id })).toEqual([]);

    // A new action is refused while one waits, so the dataset never gets them out of order.
    d.drag(60, 60, 80, 80);
    await d.settle();
    expect(editor.pending).toHaveLength(1);
    expect(d.lastStatus!.text).toMatch(/waiting to be saved/);

    expect(d.key('s', { ctrl: true })).toBe(true);
    await d.settle();
    expect(editor.pending).toEqual([]);
    const rows = await callWs(ds.ws, 'annotations:list', { imageId: image.id });
    expect(rows.map((a) => a.geometry)).toEqual([{ kind: 'box', x: 10, y: 10, w: 40, h: 40 }]);
    expect(changed.at(-1)!.map((s) => s.id)).toEqual([rows[0]!.id]);
    expect(editor.selection).toEqual([rows[0]!.id]);
  });

  it('actions queued behind a failed one wait with it and are stored in order on retry', async () => {
    const image = ds.images[1]!;
    const real = workspaceBackend(ds.ws);
    let failures = 1;
    const calls: string[] = [];
    const flaky: EditorBackend = {
      ...real,
      edit: async (imageId, label, ops): Promise<EditResult> => {
        calls.push(label);
        // Answer later, so the second action is queued before the first fails.
        await new Promise((r) => setTimeout(r, 5));
        if (failures > 0) {
          failures--;
          throw new Error('disk full');
        }
        return real.edit(imageId, label, ops);
      },
    };
    const { editor, d } = await openEditor(flaky, image);
    const before = (await callWs(ds.ws, 'annotations:list', { imageId: image.id })).length;
    d.key('o');
    d.click(20, 20);
    d.click(30, 30);
    await d.settle();
    expect(calls).toEqual(['Add point']); // the second never went out
    expect(editor.pending.map((p) => p.label)).toEqual(['Add point', 'Add point']);
    expect((await callWs(ds.ws, 'annotations:list', { imageId: image.id })).length).toBe(before);
    await editor.undo();
    expect(d.lastStatus!.text).toMatch(/not saved yet/);

    await editor.retryPending();
    await d.settle();
    expect(editor.pending).toEqual([]);
    const after = await callWs(ds.ws, 'annotations:list', { imageId: image.id });
    expect(after.slice(before).map((a) => a.geometry)).toEqual([
      { kind: 'point', x: 20, y: 20 },
      { kind: 'point', x: 30, y: 30 },
    ]);
    expect(after.slice(before).every((a) => editor.annotations.get(a.id)?.version === a.version)).toBe(true);
  });

  it('an image whose annotations cannot be read is not editable', async () => {
    const image = ds.images[0]!;
    const real = workspaceBackend(ds.ws);
    const calls: string[] = [];
    const editor = new Editor({
      ...real,
      list: () => Promise.reject(new Error('connection lost')),
      edit: (imageId, label, ops) => {
        calls.push(label);
        return real.edit(imageId, label, ops);
      },
    });
    editor.setClasses(ds.classes);
    await expect(editor.load({ id: image.id, width: image.width, height: image.height })).rejects.toThrow('connection lost');
    expect(editor.image).toBeNull();
    const d = new EditorDriver(editor);
    d.key('o');
    d.click(5, 5);
    await d.settle();
    expect(calls).toEqual([]);
  });

  it('a refusal by the backend is reported and not kept for retry', async () => {
    const image = ds.images[2]!;
    const real = workspaceBackend(ds.ws);
    const { editor, d } = await openEditor(real, image);
    const before = editor.annotations.size;
    // Not through a tool (they validate first): a stale base version, as after an edit elsewhere.
    const [first] = [...editor.annotations.values()];
    await editor.commit('Move box', [{ op: 'update', id: first!.id, patch: { z: 5 }, baseVersion: first!.version + 7 }]);
    expect(editor.pending).toEqual([]);
    expect(d.lastStatus!.text).toMatch(/Move box was refused/);
    expect(editor.annotations.size).toBe(before);
  });
});
