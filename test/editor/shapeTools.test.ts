import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ringSignedArea } from '../../src-main/common/geometry/shapes';
import type { AnnotationRecord, Geometry } from '../../src-main/common/model';
import { Editor } from '../../src-renderer/editor/Editor';
import { ellipseFromCorners } from '../../src-renderer/editor/tools/ellipse/geometry';
import { normalizeAngle, obbResizeHandles, obbRotateHandle, resizeObb, rotateObb, snapAngle, type Obb } from '../../src-renderer/editor/tools/obb/geometry';
import { callWs, closeTestDataset, createTestDataset, EditorDriver, workspaceBackend, type TestDataset } from '../helpers/editorDriver';

/**
 * The rotated box, polyline and ellipse tools on a real dataset (the editor wired to the real
 * handlers in-process), and the handle math of rotated boxes checked against corners computed
 * here from first principles.
 */

let ds: TestDataset;
let editor: Editor;
let d: EditorDriver;
let imageId: number;
const DEG = Math.PI / 180;

async function stored(): Promise<AnnotationRecord[]> {
  return callWs(ds.ws, 'annotations:list', { imageId });
}

async function only(): Promise<AnnotationRecord> {
  const all = await stored();
  expect(all).toHaveLength(1);
  return all[0]!;
}

/** Corners of a rotated box computed independently: the box's unit axes u = (cos a, sin a), v = (-sin a, cos a). */
function corners(g: { cx: number; cy: number; w: number; h: number; angle: number }): [number, number][] {
  const u = [Math.cos(g.angle), Math.sin(g.angle)] as const;
  const v = [-Math.sin(g.angle), Math.cos(g.angle)] as const;
  return ([[-1, -1], [1, -1], [1, 1], [-1, 1]] as const).map(([su, sv]) => [
    g.cx + (su * g.w * u[0]) / 2 + (sv * g.h * v[0]) / 2,
    g.cy + (su * g.w * u[1]) / 2 + (sv * g.h * v[1]) / 2,
  ]);
}

function close(a: readonly [number, number], b: readonly [number, number], tol: number): void {
  expect(Math.hypot(a[0] - b[0], a[1] - b[1]), `${a} vs ${b}`).toBeLessThanOrEqual(tol);
}

function obbOf(r: AnnotationRecord): Obb {
  expect(r.geometry.kind).toBe('obb');
  return r.geometry as Obb;
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

describe('rotated box handle math', () => {
  const g: Obb = { kind: 'obb', cx: 100, cy: 80, w: 60, h: 30, angle: 35 * DEG };

  it('a corner handle moves its corner to the pointer and keeps the opposite corner; the angle stays', () => {
    const [nw, , se] = corners(g);
    const target: [number, number] = [se![0] + 12, se![1] + 7];
    const r = resizeObb(g, 'se', target[0], target[1]);
    expect(r.angle).toBe(g.angle);
    const c = corners(r);
    close(c[0]!, nw!, 0.02);
    close(c[2]!, target, 0.02);
  });

  it('a side handle changes one size only, keeping the opposite side in place', () => {
    const before = corners(g);
    // Pointer 10 px beyond the east side along the box's u axis, and 5 px along v (ignored).
    const e = obbResizeHandles(g).find((h) => h.id === 'e')!;
    const r = resizeObb(g, 'e', e.x + 10 * Math.cos(g.angle) - 5 * Math.sin(g.angle), e.y + 10 * Math.sin(g.angle) + 5 * Math.cos(g.angle));
    expect(r.w).toBeCloseTo(70, 2);
    expect(r.h).toBe(30);
    const after = corners(r);
    close(after[0]!, before[0]!, 0.02); // the west side: nw and sw
    close(after[3]!, before[3]!, 0.02);
  });

  it('dragging past the opposite side flips the box with positive sizes', () => {
    const w = obbResizeHandles(g).find((h) => h.id === 'w')!;
    const east = obbResizeHandles(g).find((h) => h.id === 'e')!;
    const r = resizeObb(g, 'w', east.x + 20 * Math.cos(g.angle), east.y + 20 * Math.sin(g.angle));
    expect(r.w).toBeCloseTo(20, 2);
    expect(r.h).toBe(30);
    expect(w.x).not.toBe(r.cx);
  });

  it('rotation turns about the centre by the swept angle; with snapping the angle is a multiple of 15 degrees', () => {
    const from = obbRotateHandle(g, 1);
    const turn = (deg: number) => ({ x: g.cx + (from.x - g.cx) * Math.cos(deg * DEG) - (from.y - g.cy) * Math.sin(deg * DEG), y: g.cy + (from.x - g.cx) * Math.sin(deg * DEG) + (from.y - g.cy) * Math.cos(deg * DEG) });
    const free = rotateObb(g, from, turn(22), false);
    expect([free.cx, free.cy, free.w, free.h]).toEqual([g.cx, g.cy, g.w, g.h]);
    expect(free.angle / DEG).toBeCloseTo(57, 9);
    const snapped = rotateObb(g, from, turn(22), true);
    expect(snapped.angle / DEG).toBeCloseTo(60, 9);
    expect(rotateObb(g, from, turn(-44), true).angle / DEG).toBeCloseTo(-15, 9);
    expect(rotateObb(g, from, turn(170), true).angle / DEG).toBeCloseTo(-150, 9);
    for (const a of [-179, -97.4, -7.4, 0, 7.6, 44, 133, 180]) {
      const s = snapAngle(a * DEG) / DEG;
      expect(Math.abs(s / 15 - Math.round(s / 15))).toBeLessThan(1e-9);
      expect(Math.abs(normalizeAngle((s - a) * DEG))).toBeLessThanOrEqual(7.5 * DEG + 1e-12);
    }
  });

  it('the rotation handle sits a fixed screen distance beyond the top side at every zoom', () => {
    const top = [(corners(g)[0]![0] + corners(g)[1]![0]) / 2, (corners(g)[0]![1] + corners(g)[1]![1]) / 2] as const;
    for (const zoom of [0.5, 1, 4]) {
      const r = obbRotateHandle(g, zoom);
      expect(Math.hypot(r.x - top[0], r.y - top[1]) * zoom).toBeCloseTo(24, 9);
      // Away from the centre: farther from it than the top side is.
      expect(Math.hypot(r.x - g.cx, r.y - g.cy)).toBeGreaterThan(Math.hypot(top[0] - g.cx, top[1] - g.cy));
    }
  });
});

describe('rotated box tool', () => {
  it('draws, resizes, rotates with snapping and moves; each step is one undoable edit', async () => {
    d.key('r');
    expect(editor.toolName).toBe('obb');
    d.drag(40, 50, 120, 90);
    await d.settle();
    const drawn = await only();
    expect(drawn.geometry).toEqual({ kind: 'obb', cx: 80, cy: 70, w: 80, h: 40, angle: 0 });
    expect(editor.selection).toEqual([drawn.id]);
    expect(editor.history.undoLabel).toBe('Draw rotated box');
    // The handles of the new box are shown by the tool that drew it.
    const handles = editor.selectionHandles();
    expect(handles.filter((h) => h.kind === 'resize')).toHaveLength(8);
    expect(handles.filter((h) => h.kind === 'rotate')).toHaveLength(1);

    // East side 20 px out: the west side stays at x 40.
    d.drag(120, 70, 140, 75);
    await d.settle();
    const resized = obbOf(await only());
    expect(resized).toEqual({ kind: 'obb', cx: 90, cy: 70, w: 100, h: 40, angle: 0 });

    // The knob is 24 screen px above the top side's middle (90, 50); Shift snaps 32 degrees to 30.
    const knob = { x: 90, y: 26 };
    const at = { x: 90 + 44 * Math.sin(32 * DEG), y: 70 - 44 * Math.cos(32 * DEG) };
    d.drag(knob.x, knob.y, at.x, at.y, { shift: true });
    await d.settle();
    const rotated = obbOf(await only());
    expect(rotated.angle / DEG).toBeCloseTo(30, 9);
    expect([rotated.cx, rotated.cy, rotated.w, rotated.h]).toEqual([90, 70, 100, 40]);
    expect(editor.history.undoLabel).toBe('Rotate rotated box');

    // Without Shift the angle follows the pointer: the knob (now turned 30 degrees) swept a further 10.
    const knob2 = obbRotateHandle(rotated, 1);
    const sweep = (p: { x: number; y: number }, deg: number) => ({
      x: 90 + (p.x - 90) * Math.cos(deg * DEG) - (p.y - 70) * Math.sin(deg * DEG),
      y: 70 + (p.x - 90) * Math.sin(deg * DEG) + (p.y - 70) * Math.cos(deg * DEG),
    });
    const to2 = sweep(knob2, 10);
    d.drag(knob2.x, knob2.y, to2.x, to2.y);
    await d.settle();
    expect(obbOf(await only()).angle / DEG).toBeCloseTo(40, 6);

    // The south side of the turned box 10 px out along its own v axis: the north side stays put.
    const turned = obbOf(await only());
    const s = obbResizeHandles(turned).find((h) => h.id === 's')!;
    const v = [-Math.sin(turned.angle), Math.cos(turned.angle)] as const;
    d.drag(s.x, s.y, s.x + 10 * v[0], s.y + 10 * v[1]);
    await d.settle();
    const taller = obbOf(await only());
    expect(taller.h).toBeCloseTo(50, 1);
    expect(taller.w).toBe(100);
    close(corners(taller)[0]!, corners(turned)[0]!, 0.02);
    close(corners(taller)[1]!, corners(turned)[1]!, 0.02);

    // A drag inside moves it.
    d.drag(taller.cx, taller.cy, taller.cx + 5, taller.cy - 3);
    await d.settle();
    const movedBox = obbOf(await only());
    expect([movedBox.cx, movedBox.cy, movedBox.w, movedBox.h, movedBox.angle]).toEqual([taller.cx + 5, taller.cy - 3, taller.w, taller.h, taller.angle]);

    // Every step undoes to the one before, down to nothing.
    for (const want of [taller, turned, rotated, resized, drawn.geometry]) {
      await editor.undo();
      expect((await only()).geometry).toEqual(want);
    }
    await editor.undo();
    expect(await stored()).toEqual([]);
  });

  it('the select tool shows the same handles on a selected rotated box and rotates it', async () => {
    d.key('r');
    d.drag(40, 50, 120, 90);
    await d.settle();
    d.key('Escape');
    d.key('v');
    d.click(80, 70);
    const id = (await only()).id;
    expect(editor.selection).toEqual([id]);
    expect(editor.selectionHandles().map((h) => h.kind).sort()).toEqual([...Array(8).fill('resize'), 'rotate'].sort());
    d.drag(80, 26, 80 + 44, 70); // a quarter turn, clockwise on screen
    await d.settle();
    const g = obbOf(await only());
    expect(g.angle / DEG).toBeCloseTo(90, 6);
    expect([g.cx, g.cy, g.w, g.h]).toEqual([80, 70, 80, 40]);
    // Turned, the box spans x 60..100 and y 30..110: its north handle is now at (100, 70).
    expect(editor.selectionHandles().some((h) => h.kind === 'resize' && Math.hypot(h.x - 100, h.y - 70) < 1e-9)).toBe(true);
    d.drag(70, 90, 80, 90); // a drag inside moves it
    await d.settle();
    expect(obbOf(await only()).cx).toBe(90);
  });
});

describe('polyline tool', () => {
  it('click points, Backspace drops the last, Enter ends; the stored line is open', async () => {
    d.zoom = 2;
    d.key('l');
    expect(editor.toolName).toBe('polyline');
    d.click(10, 10).click(60, 20).click(100, 80);
    d.key('Backspace');
    d.click(90, 90);
    expect(d.key('Enter')).toBe(true);
    await d.settle();
    const a = await only();
    expect(a.geometry).toEqual({ kind: 'polyline', points: [10, 10, 60, 20, 90, 90] });
    expect(a.kind).toBe('polyline');
    expect(editor.history.undoLabel).toBe('Draw polyline');
  });

  it('a double click ends the line; one point is refused and stays open; Escape abandons it', async () => {
    d.key('l');
    d.click(10, 100).click(50, 120).click(50, 120);
    await d.settle();
    expect((await only()).geometry).toEqual({ kind: 'polyline', points: [10, 100, 50, 120] });
    d.click(150, 20);
    d.key('Enter');
    await d.settle();
    expect(d.lastStatus!.text).toMatch(/at least 2 distinct points/);
    expect(editor.tool.busy).toBe(true);
    d.key('Escape');
    expect(editor.tool.busy).toBe(false);
    expect(await stored()).toHaveLength(1);
  });

  it('the select tool drags, inserts and removes vertices, moves the line, and picks it by its stroke', async () => {
    d.key('l');
    d.click(10, 10).click(100, 10).click(100, 80);
    d.key('Enter');
    await d.settle();
    const id = (await only()).id;
    d.key('v');
    expect(editor.selectionHandles().filter((h) => h.kind === 'vertex')).toHaveLength(3);
    d.drag(100, 10, 110, 20);
    await d.settle();
    expect((await only()).geometry).toEqual({ kind: 'polyline', points: [10, 10, 110, 20, 100, 80] });
    d.click(60, 15); // on the first segment: a vertex is inserted
    await d.settle();
    expect((await only()).geometry).toEqual({ kind: 'polyline', points: [10, 10, 60, 15, 110, 20, 100, 80] });
    d.click(110, 20, { alt: true });
    await d.settle();
    expect((await only()).geometry).toEqual({ kind: 'polyline', points: [10, 10, 60, 15, 100, 80] });
    d.drag(80, 47.5, 90, 57.5); // from the middle of a segment: the whole line moves
    await d.settle();
    expect((await only()).geometry).toEqual({ kind: 'polyline', points: [20, 20, 70, 25, 110, 90] });
    d.move(70, 25);
    d.key('Delete');
    await d.settle();
    expect((await only()).geometry).toEqual({ kind: 'polyline', points: [20, 20, 110, 90] });
    d.move(20, 20);
    d.key('Delete');
    await d.settle();
    expect(d.lastStatus!.text).toMatch(/at least 2 points/);
    // Deselected, a click near the stroke (not on the empty side of the bend) picks it again.
    d.key('Escape');
    expect(editor.selection).toEqual([]);
    d.click(65, 57);
    expect(editor.selection).toEqual([id]);
    d.click(100, 30);
    expect(editor.selection).toEqual([]);
  });
});

describe('ellipse tool', () => {
  it('a drag stores a polygon whose area is within 1 % of pi a b and whose outline stays within 0.25 px', async () => {
    d.key('c');
    expect(editor.toolName).toBe('ellipse');
    d.drag(20, 30, 120, 90);
    await d.settle();
    const g = (await only()).geometry as Extract<Geometry, { kind: 'polygon' }>;
    expect(g.kind).toBe('polygon');
    const ring = g.parts[0]!;
    const [a, b, cx, cy] = [50, 30, 70, 60];
    expect(Math.abs(Math.abs(ringSignedArea(ring)) - Math.PI * a * b) / (Math.PI * a * b)).toBeLessThan(0.01);
    // Each vertex and each edge midpoint lies within 0.25 px (plus the 0.01 px rounding) of the ellipse, sampled densely.
    const samples: [number, number][] = Array.from({ length: 20_000 }, (_, k) => [cx + a * Math.cos((2 * Math.PI * k) / 20_000), cy + b * Math.sin((2 * Math.PI * k) / 20_000)]);
    const off = (x: number, y: number) => Math.min(...samples.map(([sx, sy]) => Math.hypot(sx - x, sy - y)));
    const n = ring.length / 2;
    for (let i = 0; i < n; i++) {
      const j = (i + 1) % n;
      expect(off(ring[2 * i]!, ring[2 * i + 1]!)).toBeLessThanOrEqual(0.26);
      expect(off((ring[2 * i]! + ring[2 * j]!) / 2, (ring[2 * i + 1]! + ring[2 * j + 1]!) / 2)).toBeLessThanOrEqual(0.26);
    }
    expect(editor.history.undoLabel).toBe('Draw ellipse');
  });

  it('Shift makes a circle on the larger side of the drag', async () => {
    d.key('c');
    d.drag(20, 30, 80, 50, { shift: true });
    await d.settle();
    const ring = ((await only()).geometry as Extract<Geometry, { kind: 'polygon' }>).parts[0]!;
    expect(Math.abs(Math.abs(ringSignedArea(ring)) - Math.PI * 900) / (Math.PI * 900)).toBeLessThan(0.01);
    for (let i = 0; i < ring.length; i += 2) expect(Math.abs(Math.hypot(ring[i]! - 50, ring[i + 1]! - 60) - 30)).toBeLessThanOrEqual(0.26);
    expect(editor.history.undoLabel).toBe('Draw circle');
  });

  it('a small ellipse keeps its area too (a 12-gon inscribed would be 4.5 % short)', () => {
    const ring = ellipseFromCorners(0, 0, 6, 4, false).parts[0]!;
    expect(ring.length / 2).toBe(12);
    expect(Math.abs(Math.abs(ringSignedArea(ring)) - Math.PI * 6) / (Math.PI * 6)).toBeLessThan(0.01);
  });
});
