import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { decodeMask, rleArea } from '../../src-main/common/geometry/rle';
import { geometryArea } from '../../src-main/common/geometry/shapes';
import type { AnnotationRecord, Geometry } from '../../src-main/common/model';
import { Editor } from '../../src-renderer/editor/Editor';
import { callWs, closeTestDataset, createTestDataset, EditorDriver, workspaceBackend, type TestDataset } from '../helpers/editorDriver';

let ds: TestDataset;
let editor: Editor;
let d: EditorDriver;
let imageId: number;

async function stored(): Promise<AnnotationRecord[]> {
  return callWs(ds.ws, 'annotations:list', { imageId });
}

async function only(): Promise<AnnotationRecord> {
  const all = await stored();
  expect(all).toHaveLength(1);
  return all[0]!;
}

/** Pixels whose centre lies within r of the segment: the brush model, counted independently. */
function capsulePixels(w: number, h: number, x0: number, y0: number, x1: number, y1: number, r: number): Set<number> {
  const out = new Set<number>();
  const dx = x1 - x0;
  const dy = y1 - y0;
  const len2 = dx * dx + dy * dy;
  for (let py = 0; py < h; py++) {
    for (let px = 0; px < w; px++) {
      const cx = px + 0.5;
      const cy = py + 0.5;
      const t = len2 === 0 ? 0 : Math.max(0, Math.min(1, ((cx - x0) * dx + (cy - y0) * dy) / len2));
      if (Math.hypot(cx - x0 - t * dx, cy - y0 - t * dy) <= r) out.add(py * w + px);
    }
  }
  return out;
}

function setPixels(g: Geometry): Set<number> {
  if (g.kind !== 'mask') throw new Error('not a mask');
  const m = decodeMask(g.rle);
  const out = new Set<number>();
  m.forEach((v, i) => v && out.add(i));
  return out;
}

beforeAll(async () => {
  ds = await createTestDataset();
  imageId = ds.images[0]!.id;
});

afterAll(async () => await closeTestDataset(ds));

beforeEach(async () => {
  const existing = await callWs(ds.ws, 'annotations:list', { imageId });
  if (existing.length) await callWs(ds.ws, 'annotations:edit', { imageId, label: 'reset', ops: existing.map((a) => ({ op: 'delete' as const, id: a.id })) });
  editor = new Editor(workspaceBackend(ds.ws));
  editor.setClasses(ds.classes);
  await editor.load({ id: imageId, width: 200, height: 150 });
  d = new EditorDriver(editor);
});

describe('box tool', () => {
  it('a drag from (10,20) to (110,70) at zoom 2 stores x 10, y 20, w 100, h 50 in image pixels, of the active class, selected', async () => {
    d.zoom = 2;
    d.key('b');
    expect(editor.toolName).toBe('box');
    d.drag(10, 20, 110, 70);
    await d.settle();
    const a = await only();
    expect(a.geometry).toEqual({ kind: 'box', x: 10, y: 20, w: 100, h: 50 });
    expect(a.classId).toBe(ds.classes[0]!.id);
    expect(editor.selection).toEqual([a.id]);
    expect(editor.annotations.get(a.id)).toEqual(a);
  });

  it('clicking two corners (in any order) stores the box between them', async () => {
    d.key('b');
    d.click(80, 90);
    expect(editor.tool.busy).toBe(true);
    d.move(50, 60);
    d.click(30.004, 40);
    await d.settle();
    expect((await only()).geometry).toEqual({ kind: 'box', x: 30, y: 40, w: 50, h: 50 });
  });

  it('a corner dragged past the image edge stops at the edge', async () => {
    d.key('b');
    d.drag(150, 100, 260, 200);
    await d.settle();
    expect((await only()).geometry).toEqual({ kind: 'box', x: 150, y: 100, w: 50, h: 50 });
  });

  it('a box with zero area is never stored and the status says why', async () => {
    d.key('b');
    d.drag(10, 10, 60, 10);
    await d.settle();
    expect(await stored()).toEqual([]);
    expect(d.lastStatus).toMatchObject({ kind: 'error' });
    expect(d.lastStatus!.text).toMatch(/zero area/);
  });

  it('the select tool resizes a box by its corner and edge handles', async () => {
    d.key('b');
    d.drag(10, 20, 110, 70);
    await d.settle();
    d.key('v');
    d.drag(110, 70, 130, 90); // south-east handle
    await d.settle();
    expect((await only()).geometry).toEqual({ kind: 'box', x: 10, y: 20, w: 120, h: 70 });
    d.drag(10, 55, 0, 30); // west edge handle: only x moves
    await d.settle();
    expect((await only()).geometry).toEqual({ kind: 'box', x: 0, y: 20, w: 130, h: 70 });
  });
});

describe('polygon tool', () => {
  it('click vertices and Enter closes; at zoom 3 the coordinates are still image pixels', async () => {
    d.zoom = 3;
    d.key('p');
    d.click(10, 10).click(100, 10).click(100, 80);
    expect(d.key('Enter')).toBe(true);
    await d.settle();
    expect((await only()).geometry).toEqual({ kind: 'polygon', parts: [[10, 10, 100, 10, 100, 80]] });
  });

  it('clicking near the first vertex closes it; Backspace removes the last vertex', async () => {
    d.key('p');
    d.click(10, 10).click(100, 10).click(100, 80).click(60, 120);
    d.key('Backspace');
    d.click(50, 90);
    d.click(12, 11); // within 8 screen px of the first vertex at zoom 1
    await d.settle();
    expect((await only()).geometry).toEqual({ kind: 'polygon', parts: [[10, 10, 100, 10, 100, 80, 50, 90]] });
  });

  it('Escape abandons the polygon; a 2-vertex polygon is refused with the reason and stays open', async () => {
    d.key('p');
    d.click(10, 10).click(100, 10);
    d.key('Enter');
    await d.settle();
    expect(await stored()).toEqual([]);
    expect(d.lastStatus!.text).toMatch(/at least 3 distinct vertices/);
    expect(editor.tool.busy).toBe(true);
    d.key('Escape');
    expect(editor.tool.busy).toBe(false);
    d.key('Enter');
    await d.settle();
    expect(await stored()).toEqual([]);
  });

  it('edits vertices of a selected polygon: drag, insert on an edge, Alt+click and Delete on a hovered vertex', async () => {
    d.key('p');
    d.click(10, 10).click(100, 10).click(100, 80).click(10, 80);
    d.key('Enter');
    await d.settle();
    const id = (await only()).id;
    d.key('v');
    expect(editor.selection).toEqual([id]);
    d.drag(100, 10, 120, 5);
    await d.settle();
    expect((await only()).geometry).toEqual({ kind: 'polygon', parts: [[10, 10, 120, 5, 100, 80, 10, 80]] });
    d.click(10, 45); // on the edge from (10,80) back to (10,10)
    await d.settle();
    expect((await only()).geometry).toEqual({ kind: 'polygon', parts: [[10, 10, 120, 5, 100, 80, 10, 80, 10, 45]] });
    d.click(100, 80, { alt: true });
    await d.settle();
    expect((await only()).geometry).toEqual({ kind: 'polygon', parts: [[10, 10, 120, 5, 10, 80, 10, 45]] });
    d.move(10, 45);
    d.key('Delete');
    await d.settle();
    const after = await only();
    expect(after.id).toBe(id);
    expect(after.geometry).toEqual({ kind: 'polygon', parts: [[10, 10, 120, 5, 10, 80]] });
    // One vertex fewer would leave two: refused, the polygon stays.
    d.move(120, 5);
    d.key('Delete');
    await d.settle();
    expect((await only()).geometry).toEqual(after.geometry);
    expect(d.lastStatus!.text).toMatch(/at least 3 vertices/);
  });

  it('Shift+Enter adds the ring as a part of the selected polygon', async () => {
    d.key('p');
    d.click(10, 10).click(50, 10).click(50, 50);
    d.key('Enter');
    await d.settle();
    const id = (await only()).id;
    d.click(100, 100).click(150, 100).click(150, 140);
    d.key('Enter', { shift: true });
    await d.settle();
    const a = await only();
    expect(a.id).toBe(id);
    expect(a.geometry).toEqual({ kind: 'polygon', parts: [[10, 10, 50, 10, 50, 50], [100, 100, 150, 100, 150, 140]] });
  });
});

describe('mask brush and eraser', () => {
  it('a stroke stores one mask whose pixels are exactly those within the radius of the path', async () => {
    d.key('m');
    while (editor.brushRadius > 5) d.key('[');
    expect(editor.brushRadius).toBe(5);
    d.drag(50, 50, 100, 50, {}, 10);
    await d.settle();
    const a = await only();
    expect(a.kind).toBe('mask');
    expect(a.classId).toBe(ds.classes[0]!.id);
    const expected = capsulePixels(200, 150, 50, 50, 100, 50, 5);
    expect(setPixels(a.geometry)).toEqual(expected);
    // And close to the continuous model pi r^2 + 2 r L.
    const model = Math.PI * 25 + 2 * 5 * 50;
    expect(Math.abs(rleArea((a.geometry as Extract<Geometry, { kind: 'mask' }>).rle) - model) / model).toBeLessThan(0.05);
  });

  it('a second stroke extends the selected mask; the eraser removes exactly its pixels; erasing all deletes it', async () => {
    d.key('m');
    while (editor.brushRadius > 5) d.key('[');
    d.drag(50, 50, 100, 50);
    await d.settle();
    const id = (await only()).id;
    d.drag(100, 50, 100, 100);
    await d.settle();
    const extended = await only();
    expect(extended.id).toBe(id);
    const union = new Set([...capsulePixels(200, 150, 50, 50, 100, 50, 5), ...capsulePixels(200, 150, 100, 50, 100, 100, 5)]);
    expect(setPixels(extended.geometry)).toEqual(union);

    d.key('e');
    d.drag(75, 30, 75, 70);
    await d.settle();
    const erased = await only();
    const cut = capsulePixels(200, 150, 75, 30, 75, 70, 5);
    expect(setPixels(erased.geometry)).toEqual(new Set([...union].filter((p) => !cut.has(p))));

    while (editor.brushRadius < 100) d.key(']');
    d.drag(0, 75, 200, 75);
    await d.settle();
    expect(await stored()).toEqual([]);
  });

  it('the eraser erases the mask under the pointer when a point and a smaller box lie on it too', async () => {
    d.key('m');
    while (editor.brushRadius > 5) d.key('[');
    d.drag(50, 50, 100, 50);
    d.key('b');
    d.drag(70, 40, 80, 60);
    d.key('o');
    d.click(75, 50);
    await d.settle();
    const [mask, box, point] = await stored();
    expect([mask!.kind, box!.kind, point!.kind]).toEqual(['mask', 'box', 'point']);
    editor.clearSelection();
    d.key('e');
    d.click(75, 50);
    await d.settle();
    expect(d.lastStatus?.text ?? '').not.toMatch(/Nothing to erase/);
    const after = await stored();
    const erased = after.find((a) => a.id === mask!.id)!;
    const cut = capsulePixels(200, 150, 75, 50, 75, 50, 5);
    const painted = capsulePixels(200, 150, 50, 50, 100, 50, 5);
    expect(setPixels(erased.geometry)).toEqual(new Set([...painted].filter((p) => !cut.has(p))));
    expect(after.find((a) => a.id === box!.id)!.geometry).toEqual(box!.geometry);
    expect(after.find((a) => a.id === point!.id)!.geometry).toEqual(point!.geometry);
  });

  it('a class key after painting a mask makes the next stroke a new mask of that class', async () => {
    const [cell, , debris] = ds.classes;
    d.key('1');
    d.key('m');
    while (editor.brushRadius > 5) d.key('[');
    d.drag(30, 30, 60, 30);
    await d.settle();
    const first = await only();
    expect(editor.selection).toEqual([first.id]);
    d.key('3');
    expect(d.lastStatus).toEqual({ text: 'Drawing class: debris', kind: 'info' });
    d.drag(120, 100, 150, 100);
    await d.settle();
    const all = await stored();
    expect(all.map((a) => [a.kind, a.classId])).toEqual([
      ['mask', cell!.id],
      ['mask', debris!.id],
    ]);
    expect(setPixels(all[0]!.geometry)).toEqual(capsulePixels(200, 150, 30, 30, 60, 30, 5));
    expect(setPixels(all[1]!.geometry)).toEqual(capsulePixels(200, 150, 120, 100, 150, 100, 5));
    // The same class key again keeps the just-drawn mask, so the brush goes on extending it.
    d.key('3');
    expect(editor.selection).toEqual([all[1]!.id]);
    // Another class made active otherwise (a class just created) drops it the same way.
    editor.setActiveClass(cell!.id);
    expect(editor.selection).toEqual([]);
  });

  it('fill holes sets the pixels enclosed by the mask', async () => {
    d.key('m');
    while (editor.brushRadius > 3) d.key('[');
    d.move(40, 40).down(40, 40).move(100, 40).move(100, 100).move(40, 100).move(40, 40).up(40, 40);
    await d.settle();
    const before = await only();
    expect(setPixels(before.geometry).has(70 * 200 + 70)).toBe(false);
    d.key('f', { shift: true });
    await d.settle();
    const after = await only();
    expect(setPixels(after.geometry).has(70 * 200 + 70)).toBe(true);
    expect(geometryArea(after.geometry)).toBeGreaterThan(geometryArea(before.geometry) + 40 * 40);
  });
});

describe('moving masks and flagging outlines', () => {
  it('dragging a selected mask moves its pixels by whole pixels', async () => {
    d.key('m');
    while (editor.brushRadius > 4) d.key('[');
    d.drag(50, 50, 80, 50);
    await d.settle();
    const before = await only();
    d.key('v');
    d.drag(60, 50, 72.4, 41.6); // (12.4, -8.4) rounds to (12, -8)
    await d.settle();
    const after = await only();
    expect(after.id).toBe(before.id);
    const shifted = new Set([...setPixels(before.geometry)].map((p) => p + 12 - 8 * 200));
    expect(setPixels(after.geometry)).toEqual(shifted);
  });

  it('a self-intersecting polygon is stored but drawn flagged', async () => {
    let flagged: boolean | undefined;
    editor.events.on('shapesChanged', (changed) => (flagged = changed[0]?.flagged));
    d.key('p');
    d.click(10, 10).click(100, 100).click(100, 10).click(10, 100);
    d.key('Enter');
    await d.settle();
    expect((await only()).kind).toBe('polygon');
    expect(flagged).toBe(true);
  });
});

describe('point tool and conversions', () => {
  it('a click stores a point in image pixels', async () => {
    d.zoom = 0.5;
    d.key('o');
    d.click(33.333, 44.444);
    await d.settle();
    expect((await only()).geometry).toEqual({ kind: 'point', x: 33.33, y: 44.44 });
  });

  it('mask to polygon follows the trace tolerance', async () => {
    d.key('m');
    while (editor.brushRadius < 20) d.key(']');
    d.click(100, 75);
    await d.settle();
    editor.traceTolerance = 0.5;
    d.key('p', { shift: true });
    await d.settle();
    const fine = await only();
    d.key('z', { ctrl: true });
    await d.settle();
    d.key('v');
    d.click(100, 75);
    editor.traceTolerance = 3;
    d.key('p', { shift: true });
    await d.settle();
    const coarse = await only();
    const vertices = (a: AnnotationRecord) => (a.geometry as Extract<Geometry, { kind: 'polygon' }>).parts[0]!.length / 2;
    expect(vertices(coarse)).toBeLessThan(vertices(fine));
    expect(vertices(coarse)).toBeGreaterThanOrEqual(4);
    const disc = Math.PI * editor.brushRadius ** 2;
    expect(Math.abs(geometryArea(coarse.geometry) - disc) / disc).toBeLessThan(0.1);
  });

  it('polygon to mask, mask to polygon, and a box from a shape', async () => {
    d.key('p');
    d.click(20, 20).click(120, 20).click(120, 100).click(20, 100);
    d.key('Enter');
    await d.settle();
    const poly = await only();
    d.key('m', { shift: true });
    await d.settle();
    const mask = await only();
    expect(mask.kind).toBe('mask');
    expect(mask.id).not.toBe(poly.id);
    expect(mask.classId).toBe(poly.classId);
    expect(Math.abs(geometryArea(mask.geometry) - 8000) / 8000).toBeLessThan(0.03);
    expect(editor.selection).toEqual([mask.id]);

    d.key('p', { shift: true });
    await d.settle();
    const back = await only();
    expect(back.kind).toBe('polygon');
    expect(Math.abs(geometryArea(back.geometry) - 8000) / 8000).toBeLessThan(0.03);

    d.key('b', { shift: true });
    await d.settle();
    const all = await stored();
    expect(all).toHaveLength(2);
    const box = all.find((a) => a.kind === 'box')!;
    expect(box.geometry).toMatchObject({ kind: 'box' });
    const g = box.geometry as Extract<Geometry, { kind: 'box' }>;
    expect(Math.abs(g.x - 20)).toBeLessThanOrEqual(1);
    expect(Math.abs(g.y - 20)).toBeLessThanOrEqual(1);
    expect(Math.abs(g.w - 100)).toBeLessThanOrEqual(1);
    expect(Math.abs(g.h - 80)).toBeLessThanOrEqual(1);
  });
});
