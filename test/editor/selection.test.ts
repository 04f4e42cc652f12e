import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AnnotationRecord } from '../../src-main/common/model';
import { Editor } from '../../src-renderer/editor/Editor';
import type { Overlay } from '../../src-renderer/editor/scene';
import { callWs, closeTestDataset, createTestDataset, EditorDriver, workspaceBackend, type TestDataset } from '../helpers/editorDriver';

let ds: TestDataset;
let editor: Editor;
let d: EditorDriver;

beforeAll(async () => {
  ds = await createTestDataset();
});

afterAll(async () => await closeTestDataset(ds));

async function reset(imageId: number): Promise<void> {
  const existing = await callWs(ds.ws, 'annotations:list', { imageId });
  if (existing.length) await callWs(ds.ws, 'annotations:edit', { imageId, label: 'reset', ops: existing.map((a) => ({ op: 'delete' as const, id: a.id })) });
}

async function open(i: number): Promise<void> {
  const im = ds.images[i]!;
  await editor.load({ id: im.id, width: im.width, height: im.height });
}

function rows(i = 0): Promise<AnnotationRecord[]> {
  return callWs(ds.ws, 'annotations:list', { imageId: ds.images[i]!.id });
}

/** Two overlapping boxes, the second drawn later (higher id and z), and a point. */
async function drawThree(): Promise<AnnotationRecord[]> {
  d.key('b');
  d.drag(10, 10, 60, 60);
  d.drag(40, 40, 90, 90);
  d.key('o');
  d.click(150, 120);
  await d.settle();
  d.key('v');
  return rows();
}

beforeEach(async () => {
  for (const i of [0, 1, 2]) await reset(ds.images[i]!.id);
  editor = new Editor(workspaceBackend(ds.ws));
  editor.setClasses(ds.classes);
  await open(0);
  d = new EditorDriver(editor);
});

describe('select tool', () => {
  it('a click picks the topmost shape by z then id; Shift adds and removes; a click on nothing clears', async () => {
    const [a, b, p] = await drawThree();
    d.click(50, 50);
    expect(editor.selection).toEqual([b!.id]);
    d.click(20, 20);
    expect(editor.selection).toEqual([a!.id]);
    d.click(150, 121, { shift: true }); // within 6 screen px of the point
    expect(editor.selection).toEqual([a!.id, p!.id]);
    d.click(20, 20, { shift: true });
    expect(editor.selection).toEqual([p!.id]);
    d.click(180, 20);
    expect(editor.selection).toEqual([]);
  });

  it('z-order: send to back and bring to front change which shape a click hits', async () => {
    const [a, b] = await drawThree();
    d.click(50, 50);
    d.key('[', { ctrl: true });
    await d.settle();
    expect((await rows()).find((r) => r.id === b!.id)!.z).toBeLessThan(a!.z);
    d.click(180, 20);
    d.click(50, 50);
    expect(editor.selection).toEqual([a!.id]);
    d.click(75, 75); // only b is there
    d.key(']', { ctrl: true });
    await d.settle();
    d.click(180, 20);
    d.click(50, 50);
    expect(editor.selection).toEqual([b!.id]);
  });

  it('a rectangle selects the shapes wholly inside it; dragging the selection moves all of it in one edit', async () => {
    const [a, b, p] = await drawThree();
    const overlays: Overlay[] = [];
    editor.events.on('overlay', (o) => overlays.push(o));
    d.drag(0, 0, 100, 100);
    expect(overlays.some((o) => o.marquee !== null)).toBe(true);
    expect(editor.selection).toEqual([a!.id, b!.id]);
    d.drag(20, 20, 25, 30);
    await d.settle();
    const after = await rows();
    expect(after.find((r) => r.id === a!.id)!.geometry).toEqual({ kind: 'box', x: 15, y: 20, w: 50, h: 50 });
    expect(after.find((r) => r.id === b!.id)!.geometry).toEqual({ kind: 'box', x: 45, y: 50, w: 50, h: 50 });
    expect(after.find((r) => r.id === p!.id)!.geometry).toEqual(p!.geometry);
    expect(editor.history.undoLabel).toBe('Move 2 shapes');
    d.key('z', { ctrl: true });
    await d.settle();
    expect((await rows()).map((r) => r.geometry)).toEqual([a!.geometry, b!.geometry, p!.geometry]);
  });

  it('Delete removes the selection; Ctrl+D duplicates it 10 px away, selecting the copies', async () => {
    const [a, b] = await drawThree();
    d.click(20, 20);
    d.key('d', { ctrl: true });
    await d.settle();
    const all = await rows();
    expect(all).toHaveLength(4);
    const copy = all.find((r) => ![a!.id, b!.id].includes(r.id) && r.kind === 'box')!;
    expect(copy.geometry).toEqual({ kind: 'box', x: 20, y: 20, w: 50, h: 50 });
    expect(copy.z).toBeGreaterThan(b!.z);
    expect(editor.selection).toEqual([copy.id]);
    d.key('Delete');
    await d.settle();
    expect((await rows()).map((r) => r.id)).not.toContain(copy.id);
    expect(editor.selection).toEqual([]);
  });

  it('copy on one image and paste on another keeps the geometry; masks only paste onto images of the same size', async () => {
    d.key('m');
    d.drag(100, 100, 120, 100);
    await d.settle();
    d.key('v');
    d.key('a', { ctrl: true });
    expect(editor.selection).toHaveLength(1);
    d.key('b');
    d.drag(10, 10, 60, 60);
    await d.settle();
    d.key('v');
    d.key('a', { ctrl: true });
    expect(d.key('c', { ctrl: true })).toBe(true);
    const source = await rows(0);

    await open(1);
    d.key('v', { ctrl: true });
    await d.settle();
    const pasted = await rows(1);
    expect(pasted.map((r) => r.geometry)).toEqual(source.map((r) => r.geometry));
    expect(pasted.map((r) => r.classId)).toEqual(source.map((r) => r.classId));
    expect([...editor.selection].sort()).toEqual(pasted.map((r) => r.id).sort());

    await open(2); // 120 x 90: the mask does not fit
    d.key('v', { ctrl: true });
    await d.settle();
    expect((await rows(2)).map((r) => r.geometry)).toEqual([{ kind: 'box', x: 10, y: 10, w: 50, h: 50 }]);
    expect(d.statuses.some((s) => /did not fit/.test(s.text))).toBe(true);
  });

  it('digits change the class of the selection, or pick the class to draw with when nothing is selected', async () => {
    const [a] = await drawThree();
    d.click(20, 20);
    d.key('3');
    await d.settle();
    expect((await rows()).find((r) => r.id === a!.id)!.classId).toBe(ds.classes[2]!.id);
    d.key('Escape');
    expect(editor.selection).toEqual([]);
    d.key('2');
    expect(editor.activeClassId).toBe(ds.classes[1]!.id);
    d.key('o');
    d.click(5, 5);
    await d.settle();
    expect((await rows()).at(-1)!.classId).toBe(ds.classes[1]!.id);
    expect(d.key('9')).toBe(false); // only three classes
  });

  it('hidden and locked shapes (and classes) cannot be selected; they are UI state, not stored', async () => {
    const [a, b] = await drawThree();
    let hidden = new Set<number>();
    editor.events.on('hidden', (ids) => (hidden = new Set(ids)));
    d.click(50, 50);
    d.key('h', { shift: true });
    expect(hidden.has(b!.id)).toBe(true);
    d.click(50, 50);
    expect(editor.selection).toEqual([a!.id]);
    d.key('l', { shift: true });
    d.click(50, 50);
    expect(editor.selection).toEqual([]);
    d.key('h', { alt: true });
    expect(hidden.size).toBe(0);
    d.click(50, 50);
    expect(editor.selection).toEqual([b!.id]);
    editor.setClassHidden(ds.classes[0]!.id, true);
    expect(editor.selection).toEqual([]);
    expect(hidden.size).toBe(3);
    expect((await rows()).map((r) => r.version)).toEqual([1, 1, 1]);
  });

  it('attributes of a shape and image tags are edits like any other', async () => {
    const [a] = await drawThree();
    await editor.setAttribute(a!.id, 'occluded', true);
    expect((await rows()).find((r) => r.id === a!.id)!.attributes).toEqual({ occluded: true });
    await editor.toggleTag(ds.classes[1]!.id);
    const tags = (await rows()).filter((r) => r.kind === 'tag');
    expect(tags.map((t) => t.classId)).toEqual([ds.classes[1]!.id]);
    expect(editor.tags.map((t) => t.id)).toEqual([tags[0]!.id]);
    await editor.toggleTag(ds.classes[1]!.id);
    expect((await rows()).filter((r) => r.kind === 'tag')).toEqual([]);
    expect(editor.tags).toEqual([]);
  });

  it('a class key right after drawing sets the class of the next shape; only a shape the user selected is relabelled, and the status line says so', async () => {
    const [cell, nucleus, debris] = ds.classes;
    d.key('1');
    d.key('b');
    d.drag(10, 10, 60, 60);
    await d.settle();
    const [first] = await rows();
    expect(editor.selection).toEqual([first!.id]); // shown selected, with its handles
    d.key('3');
    await d.settle();
    expect((await rows()).map((r) => r.classId)).toEqual([cell!.id]);
    expect(editor.activeClassId).toBe(debris!.id);
    expect(d.lastStatus).toEqual({ text: 'Drawing class: debris', kind: 'info' });
    d.drag(100, 20, 150, 80);
    await d.settle();
    expect((await rows()).map((r) => r.classId)).toEqual([cell!.id, debris!.id]);

    // Picked with the select tool, the first box is relabelled, and the status line names it.
    d.key('v');
    d.click(20, 20);
    expect(editor.selection).toEqual([first!.id]);
    d.key('2');
    await d.settle();
    expect((await rows()).map((r) => r.classId)).toEqual([nucleus!.id, debris!.id]);
    expect(d.lastStatus).toEqual({ text: `Box #${first!.id} relabelled to nucleus`, kind: 'info' });
    expect(editor.activeClassId).toBe(nucleus!.id);

    // A click on the just-drawn shape that is still selected makes it the user's selection.
    d.key('b');
    d.drag(20, 100, 60, 140);
    await d.settle();
    const third = (await rows()).at(-1)!;
    expect(third.classId).toBe(nucleus!.id);
    d.key('v');
    d.click(40, 120);
    d.key('1');
    await d.settle();
    expect((await rows()).find((r) => r.id === third.id)!.classId).toBe(cell!.id);
    expect(d.lastStatus!.text).toBe(`Box #${third.id} relabelled to cell`);
  });

  it('a click picks the smallest shape under the pointer; clicking again at the same place cycles through the stack', async () => {
    // Drawn small, large, medium: the medium box is on top, the whole-image box above the small one.
    d.key('b');
    d.drag(80, 80, 100, 100);
    d.drag(2, 2, 198, 148);
    d.drag(60, 60, 130, 130);
    await d.settle();
    const [small, large, medium] = await rows();
    d.key('v');
    d.click(90, 90);
    expect(editor.selection).toEqual([small!.id]);
    d.click(90, 90);
    expect(editor.selection).toEqual([medium!.id]);
    d.click(91, 90); // the same place, within the click tolerance
    expect(editor.selection).toEqual([large!.id]);
    d.click(90, 90);
    expect(editor.selection).toEqual([small!.id]);
    // Elsewhere the smallest shape there comes first again.
    d.click(120, 120);
    expect(editor.selection).toEqual([medium!.id]);
    d.click(10, 10);
    expect(editor.selection).toEqual([large!.id]);
    d.click(95, 85);
    expect(editor.selection).toEqual([small!.id]);
    // A drag on the selected small box moves it, not the boxes around it.
    d.drag(90, 90, 95, 95);
    await d.settle();
    const after = await rows();
    expect(after.find((r) => r.id === small!.id)!.geometry).toEqual({ kind: 'box', x: 85, y: 85, w: 20, h: 20 });
    expect(after.find((r) => r.id === large!.id)!.geometry).toEqual(large!.geometry);
    expect(after.find((r) => r.id === medium!.id)!.geometry).toEqual(medium!.geometry);
    expect(editor.selection).toEqual([small!.id]);
    // With several shapes selected, a click on an unselected smaller one picks it alone.
    d.click(120, 120);
    d.click(10, 10, { shift: true });
    expect(editor.selection).toEqual([medium!.id, large!.id]);
    d.click(92, 92);
    expect(editor.selection).toEqual([small!.id]);
  });

  it('a click after a shape was drawn where the last click was picks the new smallest shape, not the next in the stack', async () => {
    d.key('b');
    d.drag(2, 2, 198, 148);
    await d.settle();
    const [big] = await rows();
    d.key('v');
    d.click(50, 50);
    expect(editor.selection).toEqual([big!.id]);
    d.key('b');
    d.drag(40, 40, 60, 60);
    await d.settle();
    const small = (await rows()).at(-1)!;
    expect(editor.selection).toEqual([small.id]);
    d.key('v');
    d.click(50, 50);
    expect(editor.selection).toEqual([small.id]);
    d.click(50, 50); // now a repeated click: the next in the stack
    expect(editor.selection).toEqual([big!.id]);
  });

  it('the last click is forgotten when another image is opened', async () => {
    d.key('b');
    d.drag(80, 80, 100, 100);
    d.drag(2, 2, 198, 148);
    await d.settle();
    const [small, large] = await rows();
    d.key('v');
    d.click(90, 90);
    expect(editor.selection).toEqual([small!.id]);
    await open(1);
    await open(0);
    editor.select([small!.id]);
    d.click(90, 90); // a first click on the selection: its smallest shape there, no cycling
    expect(editor.selection).toEqual([small!.id]);
    d.click(90, 90);
    expect(editor.selection).toEqual([large!.id]);
  });

  it('a right click selects the shape under the pointer (the smallest), keeping a selection it falls on', async () => {
    d.key('b');
    d.drag(80, 80, 100, 100);
    d.drag(2, 2, 198, 148);
    await d.settle();
    const [small, large] = await rows();
    d.key('Escape');
    d.key('Escape');
    expect(editor.selection).toEqual([]);
    editor.selectForMenu(90, 90, 1);
    expect(editor.selection).toEqual([small!.id]);
    editor.selectForMenu(10, 10, 1);
    expect(editor.selection).toEqual([large!.id]);
    editor.selectForMenu(90, 90, 1); // the large box is selected and under the pointer: kept
    expect(editor.selection).toEqual([large!.id]);
  });
});
