import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AnnotationRecord } from '../../src-main/common/model';
import { ACTIONS, enabled, VIEW_ONLY_ACTIONS } from '../../src-renderer/editor/actions';
import { Editor } from '../../src-renderer/editor/Editor';
import { callWs, closeTestDataset, createTestDataset, EditorDriver, workspaceBackend, type TestDataset } from '../helpers/editorDriver';

/**
 * A view-only image (team mode: someone else holds its lease): the editor shows its shapes but
 * sends nothing, by tool, key, menu command or direct call, and turns editable again when told.
 */
let ds: TestDataset;
let editor: Editor;
let d: EditorDriver;
let imageId: number;

function stored(): Promise<AnnotationRecord[]> {
  return callWs(ds.ws, 'annotations:list', { imageId });
}

beforeAll(async () => {
  ds = await createTestDataset();
  imageId = ds.images[0]!.id;
});

afterAll(async () => await closeTestDataset(ds));

beforeEach(async () => {
  const existing = await stored();
  if (existing.length) await callWs(ds.ws, 'annotations:edit', { imageId, label: 'reset', ops: existing.map((a) => ({ op: 'delete' as const, id: a.id })) });
  await callWs(ds.ws, 'annotations:edit', {
    imageId,
    label: 'seed',
    ops: [{ op: 'create', draft: { classId: ds.classes[0]!.id, geometry: { kind: 'box', x: 20, y: 20, w: 40, h: 30 } } }],
  });
  editor = new Editor(workspaceBackend(ds.ws));
  editor.setClasses(ds.classes);
  await editor.load({ id: imageId, width: 200, height: 150 });
  d = new EditorDriver(editor, { view: { fit() {}, oneToOne() {}, zoomIn() {}, zoomOut() {} } });
});

describe('view-only editor', () => {
  it('offers only tools that change nothing: drawing tools are refused by key and by call, and a drag stores nothing', async () => {
    d.key('b');
    expect(editor.toolName).toBe('box');
    editor.setReadOnly(true);
    expect(editor.toolName).toBe('pan');
    for (const key of ['b', 'p', 'm', 'v', 'e', 'o', 'k']) expect(d.key(key)).toBe(false);
    editor.setTool('polygon');
    expect(editor.toolName).toBe('pan');
    expect(d.lastStatus?.text).toMatch(/view only/);
    d.drag(100, 60, 150, 120);
    await d.settle();
    expect(await stored()).toHaveLength(1);
    // Tools that only look stay available.
    expect(d.key('u')).toBe(true);
    expect(editor.toolName).toBe('ruler');
  });

  it('sends no edit, undo or redo, whatever calls them, and the stored shapes stay as they were', async () => {
    const before = await stored();
    const box = before[0]!;
    editor.setReadOnly(true);
    expect(editor.readOnly).toBe(true);
    expect(await editor.create({ kind: 'box', x: 5, y: 5, w: 10, h: 10 }, 'Box')).toBeNull();
    expect(await editor.commit('Delete', [{ op: 'delete', id: box.id }])).toBeNull();
    expect(await editor.moveShapes([box.id], 10, 10)).toBeNull();
    await editor.undo();
    await d.settle();
    expect(await stored()).toEqual(before);
    expect(editor.pending).toHaveLength(0);
    expect(d.statuses.some((s) => /view only/.test(s.text))).toBe(true);
  });

  it('disables every action that edits, by key and by button, and keeps viewing and navigation', () => {
    editor.select([(editor.annotations.keys().next().value as number)]);
    expect(enabled(ACTIONS.find((a) => a.id === 'delete')!, d.ctx)).toBe(true);
    editor.setReadOnly(true);
    // Entering view-only drops the selection, so nothing is half-editable.
    expect(editor.selection).toEqual([]);
    editor.selectAll();
    for (const a of ACTIONS) {
      if (!VIEW_ONLY_ACTIONS.has(a.id)) expect(enabled(a, d.ctx), a.id).toBe(false);
    }
    for (const id of ['undo', 'redo', 'delete', 'paste', 'duplicate', 'markDone', 'class.1', 'tool.box', 'tool.select']) {
      expect(enabled(ACTIONS.find((a) => a.id === id)!, d.ctx), id).toBe(false);
    }
    expect(d.key('Delete')).toBe(false);
    expect(d.key('z', { ctrl: true })).toBe(false);
    expect(d.key('1')).toBe(false);
    expect(enabled(ACTIONS.find((a) => a.id === 'fit')!, d.ctx)).toBe(true);
    expect(d.key('f')).toBe(true);
  });

  it('turns editable again: the select tool is back and a box drawn is stored', async () => {
    editor.setReadOnly(true);
    editor.setReadOnly(false);
    expect(editor.readOnly).toBe(false);
    expect(editor.toolName).toBe('select');
    expect(d.key('b')).toBe(true);
    d.drag(100, 60, 150, 120);
    await d.settle();
    const all = await stored();
    expect(all).toHaveLength(2);
    expect(all.some((a) => a.geometry.kind === 'box' && a.geometry.x === 100 && a.geometry.y === 60)).toBe(true);
  });
});
