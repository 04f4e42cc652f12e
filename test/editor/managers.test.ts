import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Geometry } from '../../src-main/common/model';
import { insertAnnotations } from '../../src-main/db/annotations';
import { insertModelRun } from '../../src-main/db/modelRuns';
import { handleKey } from '../../src-renderer/editor/actions';
import { Editor } from '../../src-renderer/editor/Editor';
import { combine } from '../../src-renderer/editor/managers/selection';
import { planReveal, unionRect, type ViewportView } from '../../src-renderer/editor/managers/viewport';
import { callWs, closeTestDataset, createTestDataset, EditorDriver, workspaceBackend, type TestDataset } from '../helpers/editorDriver';

/** The editor's managers where they hold logic of their own: selection modes, bringing shapes into view, visibility, and the object list. */

describe('selection modes', () => {
  it('replaces, adds and toggles, keeping the pick order', () => {
    expect(combine([1, 2], [3, 3], 'replace')).toEqual([3]);
    expect(combine([1, 2], [2, 3], 'add')).toEqual([1, 2, 3]);
    expect(combine([1, 2], [2, 3], 'toggle')).toEqual([1, 3]);
    expect(combine([], [5], 'toggle')).toEqual([5]);
  });
});

describe('bringing a shape into view', () => {
  const view = { x: 100, y: 100, w: 200, h: 100 };

  it('leaves a shape on screen alone, pans to one that fits, zooms to one that does not', () => {
    expect(planReveal(view, { x: 120, y: 120, w: 10, h: 10 })).toEqual({ kind: 'none' });
    expect(planReveal(view, { x: 0, y: 0, w: 20, h: 10 })).toEqual({ kind: 'pan', x: 10, y: 5 });
    // Partly on screen is not on screen.
    expect(planReveal(view, { x: 290, y: 150, w: 20, h: 20 })).toEqual({ kind: 'pan', x: 300, y: 160 });
    expect(planReveal(view, { x: 0, y: 0, w: 150, h: 150 })).toEqual({ kind: 'zoom', rect: { x: 0, y: 0, w: 150, h: 150 } });
  });

  it('takes the union of several shapes', () => {
    expect(unionRect([])).toBeNull();
    expect(unionRect([{ x: 10, y: 20, w: 5, h: 5 }, { x: 0, y: 30, w: 5, h: 10 }])).toEqual({ x: 0, y: 20, w: 15, h: 20 });
  });
});

let ds: TestDataset;
let editor: Editor;
let ids: number[];

const BOX = (x: number, y: number, w: number, h: number): Geometry => ({ kind: 'box', x, y, w, h });

beforeAll(async () => {
  ds = await createTestDataset();
});

afterAll(async () => await closeTestDataset(ds));

/** The view the editor is shown in, as the canvas would answer: a fixed region, recording what it is asked. */
function recordingView(region = { x: 0, y: 0, w: 100, h: 100 }): ViewportView & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    visibleRegion: () => region,
    centerOn: (x, y) => calls.push(`center ${x},${y}`),
    zoomTo: (r) => calls.push(`zoom ${r.x},${r.y},${r.w},${r.h}`),
  };
}

beforeEach(async () => {
  const im = ds.images[0]!;
  const existing = await callWs(ds.ws, 'annotations:list', { imageId: im.id });
  if (existing.length) await callWs(ds.ws, 'annotations:edit', { imageId: im.id, label: 'reset', ops: existing.map((a) => ({ op: 'delete' as const, id: a.id })) });
  const [cell, nucleus, debris] = ds.classes.map((c) => c.id) as [number, number, number];
  const db = ds.ws.current!.db;
  const run = await insertModelRun(db, { model: 'test-model' });
  // Stacking order a, b, c, d; areas b < d < c < a; scores c 0.9, d 0.4.
  ids = await insertAnnotations(db, [
    { imageId: im.id, classId: debris, geometry: BOX(0, 0, 150, 120), source: 'human', z: 1 },
    { imageId: im.id, classId: cell, geometry: BOX(10, 10, 5, 5), source: 'human', z: 2 },
    { imageId: im.id, classId: nucleus, geometry: BOX(100, 100, 60, 40), source: 'model', modelRunId: run, score: 0.9, z: 3 },
    { imageId: im.id, classId: cell, geometry: BOX(160, 20, 20, 20), source: 'model', modelRunId: run, score: 0.4, z: 4 },
  ]);
  editor = new Editor(workspaceBackend(ds.ws));
  editor.setClasses(ds.classes);
  await editor.load({ id: im.id, width: im.width, height: im.height });
});

const order = (): number[] => editor.objects.rows().map((r) => r.id);

describe('object list', () => {
  it('lists the frame in stacking order and sorts by class, area and score', () => {
    const [a, b, c, d] = ids as [number, number, number, number];
    expect(order()).toEqual([a, b, c, d]);
    editor.objects.setSort('area');
    expect(order()).toEqual([b, d, c, a]);
    editor.objects.setSort('score');
    expect(order()).toEqual([c, d, a, b]);
    // Class order is cell, nucleus, debris; within a class, stacking order.
    editor.objects.setSort('class');
    expect(order()).toEqual([b, d, c, a]);
  });

  it('filters by source and class', () => {
    const [a, b, c, d] = ids as [number, number, number, number];
    editor.objects.setFilter({ source: 'model' });
    expect(order()).toEqual([c, d]);
    editor.objects.setFilter({ source: 'human' });
    expect(order()).toEqual([a, b]);
    editor.objects.setFilter({ source: 'all', classId: ds.classes[0]!.id });
    expect(order()).toEqual([b, d]);
    editor.objects.setFilter({ classId: undefined });
    expect(order()).toEqual([a, b, c, d]);
  });

  it('follows edits, undo and redo, reusing the rows of shapes that did not change', async () => {
    const [a, b, c, d] = ids as [number, number, number, number];
    editor.objects.setSort('area');
    const before = new Map(editor.objects.rows().map((r) => [r.id, r]));
    // Moving b does not change its area, but it is a new version: its row is new, the others are the same objects.
    await editor.moveShapes([b], 5, 5);
    const after = editor.objects.rows();
    expect(after.map((r) => r.id)).toEqual([b, d, c, a]);
    expect(after.find((r) => r.id === b)).not.toBe(before.get(b));
    for (const id of [a, c, d]) expect(after.find((r) => r.id === id)).toBe(before.get(id));
    editor.select([d]);
    await editor.deleteSelected();
    expect(order()).toEqual([b, c, a]);
    await editor.undo();
    expect(order()).toHaveLength(4);
    const d2 = order()[1]!;
    expect(editor.annotations.get(d2)!.geometry).toEqual(BOX(160, 20, 20, 20));
    const d2row = editor.objects.rows()[1];
    // A new box drawn with the box tool appears in its place by area.
    const drv = new EditorDriver(editor);
    drv.key('b');
    drv.drag(180, 100, 200, 110);
    await drv.settle();
    expect(order()).toHaveLength(5);
    expect(editor.objects.rows()[2]).toBe(d2row);
  });

  it('picks a row: selects it, brings it into view, and extends with Shift and Ctrl', () => {
    const [a, b, c, d] = ids as [number, number, number, number];
    const view = recordingView();
    editor.viewport.attach(view);
    editor.objects.pick(c);
    expect(editor.selection).toEqual([c]);
    expect(view.calls).toEqual(['center 130,120']);
    editor.objects.pick(a);
    expect(view.calls.at(-1)).toBe('zoom 0,0,150,120');
    editor.objects.pick(b, 'toggle');
    expect(editor.selection).toEqual([a, b]);
    editor.objects.pick(d, 'range');
    expect(editor.selection).toEqual([b, c, d]);
    // b lies inside the region on screen: the view stays.
    const n = view.calls.length;
    editor.objects.pick(b);
    expect(view.calls).toHaveLength(n);
  });

  it('does not select a locked or hidden shape from its row, and says why', () => {
    const [a, b] = ids as [number, number, number, number];
    const said: string[] = [];
    editor.events.on('status', (s) => said.push(s.text));
    editor.visibility.setLocked([a], true);
    editor.objects.pick(a);
    expect(editor.selection).toEqual([]);
    expect(said.at(-1)).toMatch(/locked/);
    editor.visibility.setHidden([b], true);
    editor.objects.pick(b);
    expect(editor.selection).toEqual([]);
    expect(said.at(-1)).toMatch(/hidden/);
  });

  it('Tab and Shift+Tab cycle through the selectable rows in list order, round the list', () => {
    const [a, b, c, d] = ids as [number, number, number, number];
    const ctx = { editor };
    const tab = (shift = false) => handleKey(ctx, { key: 'Tab', shift, ctrl: false, alt: false });
    const view = recordingView();
    editor.viewport.attach(view);
    editor.objects.setSort('area');
    expect(tab()).toBe(true);
    expect(editor.selection).toEqual([b]);
    expect(view.calls).toEqual([]);
    tab();
    expect(editor.selection).toEqual([d]);
    // d lies outside the region on screen: the view pans to it.
    expect(view.calls).toEqual(['center 170,30']);
    // A locked row is stepped over.
    editor.visibility.setLocked([c], true);
    tab();
    expect(editor.selection).toEqual([a]);
    tab();
    expect(editor.selection).toEqual([b]);
    tab(true);
    expect(editor.selection).toEqual([a]);
    // With nothing to select, Tab is left to the page (focus moves on).
    editor.visibility.setHidden([a, b, c, d], true);
    expect(tab()).toBe(false);
  });
});

describe('visibility', () => {
  it('hides and locks single shapes: they leave the selection, stop being drawn or edited, and come back', () => {
    const [a, b] = ids as [number, number, number, number];
    editor.select([a, b]);
    editor.visibility.setHidden([a], true);
    expect(editor.selection).toEqual([b]);
    expect(editor.snapshot().hidden.has(a)).toBe(true);
    expect(editor.hiddenIds.has(a)).toBe(true);
    editor.visibility.setLocked([b], true);
    expect(editor.selection).toEqual([]);
    expect(editor.isEditable(editor.annotations.get(b)!)).toBe(false);
    expect(editor.isVisible(editor.annotations.get(b)!)).toBe(true);
    editor.visibility.setHidden([a], false);
    editor.visibility.setLocked([b], false);
    expect(editor.snapshot().hidden.has(a)).toBe(false);
    expect(editor.isEditable(editor.annotations.get(b)!)).toBe(true);
  });

  it('locks through the class as well as one by one', () => {
    const b = ids[1]!;
    editor.setClassLocked(ds.classes[0]!.id, true);
    expect(editor.visibility.isLocked(editor.annotations.get(b)!)).toBe(true);
    expect(editor.lockedIds.has(b)).toBe(false);
  });
});
