import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { rleArea } from '../../src-main/common/geometry/rle';
import { geometryArea } from '../../src-main/common/geometry/shapes';
import type { AnnotationRecord } from '../../src-main/common/model';
import { Editor } from '../../src-renderer/editor/Editor';
import { splitNuclei } from '../../src-renderer/editor/smart';
import { setWandTolerance } from '../../src-renderer/editor/tools/wand';
import { sharedPath } from '../helpers/shared';
import { callWs, closeTestDataset, createTestDataset, EditorDriver, workspaceBackend, type TestDataset } from '../helpers/editorDriver';

/**
 * The wand and scissors tools' state machines against the real smart tools (OpenCV in its worker,
 * through the workspace's handlers): click and box prompts, preview, Enter, Esc, undo, tolerance
 * changes, anchors along edges.
 */
let ds: TestDataset;
let editor: Editor;
let d: EditorDriver;
let imageId: number;
const W = 200;
const H = 150;
// A 60x50 orange rectangle at (40, 30) on a dark field.
const RECT = { x: 40, y: 30, w: 60, h: 50 };

beforeAll(async () => {
  ds = await createTestDataset();
  const data = Buffer.alloc(W * H * 3, 30);
  for (let y = RECT.y; y < RECT.y + RECT.h; y++) for (let x = RECT.x; x < RECT.x + RECT.w; x++) data.set([200, 100, 50], (y * W + x) * 3);
  const file = path.join(ds.dir, 'rect.png');
  await sharp(data, { raw: { width: W, height: H, channels: 3 } }).png().toFile(file);
  await callWs(ds.ws, 'images:import', { jobId: 'wand', paths: [file] });
  imageId = (await callWs(ds.ws, 'images:list', {})).items.find((i) => i.path.endsWith('rect.png'))!.id;
});

afterAll(async () => {
  await ds.ws.dispose();
  await closeTestDataset(ds);
});

beforeEach(async () => {
  const existing = await callWs(ds.ws, 'annotations:list', { imageId });
  if (existing.length) await callWs(ds.ws, 'annotations:edit', { imageId, label: 'reset', ops: existing.map((a) => ({ op: 'delete' as const, id: a.id })) });
  editor = new Editor(workspaceBackend(ds.ws));
  editor.setClasses(ds.classes);
  await editor.load({ id: imageId, width: W, height: H });
  d = new EditorDriver(editor);
  d.key('w');
});

const stored = (): Promise<AnnotationRecord[]> => callWs(ds.ws, 'annotations:list', { imageId });
const state = (): string => editor.tool.current.name;
const previewArea = (): number => {
  const g = editor.snapshot().overlay.preview?.geometry;
  return g?.kind === 'mask' ? rleArea(g.rle) : -1;
};

describe('magic wand tool', () => {
  it('W picks it; a click previews the region, Esc drops it, Enter stores it as one undo step', async () => {
    expect(editor.toolName).toBe('wand');
    d.click(50, 40);
    expect(state()).toBe('waiting');
    await vi.waitFor(() => expect(state()).toBe('previewing'), { timeout: 10_000 });
    expect(previewArea()).toBe(RECT.w * RECT.h);
    d.key('Escape');
    expect(state()).toBe('idle');
    expect(editor.snapshot().overlay.preview).toBeNull();
    d.key('Enter');
    await d.settle();
    expect(await stored()).toEqual([]);

    d.click(50, 40);
    await vi.waitFor(() => expect(state()).toBe('previewing'), { timeout: 10_000 });
    d.key('Enter');
    await d.settle();
    const [a, ...rest] = await stored();
    expect(rest).toEqual([]);
    expect(a!.kind).toBe('mask');
    expect(a!.classId).toBe(ds.classes[0]!.id);
    expect(geometryArea(a!.geometry)).toBe(RECT.w * RECT.h);
    expect(editor.history.undoLabel).toBe('Magic wand');
    d.key('z', { ctrl: true });
    await d.settle();
    expect(await stored()).toEqual([]);
  });

  it('Enter while the mask is being computed stores it when it arrives', async () => {
    d.click(50, 40);
    expect(state()).toBe('waiting');
    d.key('Enter');
    await vi.waitFor(() => expect(state()).toBe('idle'), { timeout: 10_000 });
    await d.settle();
    const [a, ...rest] = await stored();
    expect(rest).toEqual([]);
    expect(geometryArea(a!.geometry)).toBe(RECT.w * RECT.h);
    d.key('z', { ctrl: true });
    await d.settle();
    expect(await stored()).toEqual([]);
  });

  it('a tolerance change recomputes the mask shown', async () => {
    setWandTolerance(editor, 10);
    d.click(5, 5);
    await vi.waitFor(() => expect(previewArea()).toBe(W * H - RECT.w * RECT.h), { timeout: 10_000 });
    // 255 takes in every colour: the whole image.
    setWandTolerance(editor, 255);
    await vi.waitFor(() => expect(previewArea()).toBe(W * H), { timeout: 10_000 });
    expect(editor.smart.tolerance).toBe(255);
  });

  it('stores a traced polygon when asked to', async () => {
    setWandTolerance(editor, 32);
    editor.smart.commitAs = 'polygon';
    try {
      d.click(50, 40);
      await vi.waitFor(() => expect(state()).toBe('previewing'), { timeout: 10_000 });
      d.key('Enter');
      await d.settle();
      const [a] = await stored();
      expect(a!.geometry).toEqual({ kind: 'polygon', parts: [expect.any(Array)] });
      expect(geometryArea(a!.geometry)).toBeCloseTo(RECT.w * RECT.h, 0);
    } finally {
      editor.smart.commitAs = 'mask';
    }
  });

  it('a drag is a GrabCut box: the rectangle comes out of it', async () => {
    d.drag(RECT.x - 10, RECT.y - 10, RECT.x + RECT.w + 10, RECT.y + RECT.h + 10);
    await vi.waitFor(() => expect(state()).toBe('previewing'), { timeout: 10_000 });
    d.key('Enter');
    await d.settle();
    const [a] = await stored();
    expect(Math.abs(geometryArea(a!.geometry) - RECT.w * RECT.h)).toBeLessThan(0.03 * RECT.w * RECT.h);
    expect(editor.history.undoLabel).toBe('GrabCut');
  });
});

describe('intelligent scissors tool', () => {
  it('I picks it; anchors on three sides of the rectangle give its outline, closed along the fourth', async () => {
    d.key('i');
    expect(editor.toolName).toBe('scissors');
    const livePoints = (): number => {
      const g = editor.snapshot().overlay.preview?.geometry;
      return g?.kind === 'polygon' ? g.parts[0]!.length / 2 : 0;
    };
    // Anchors just inside the left, bottom and right edges; the pointer waits each time for the
    // path along the edge to come back before clicking.
    const anchors: [number, number][] = [
      [RECT.x, RECT.y + 5],
      [RECT.x + 30, RECT.y + RECT.h - 1],
      [RECT.x + RECT.w - 1, RECT.y + 10],
    ];
    d.click(...anchors[0]!);
    expect(state()).toBe('tracing');
    for (const [x, y] of anchors.slice(1)) {
      const before = livePoints();
      d.move(x, y);
      await vi.waitFor(() => expect(livePoints()).toBeGreaterThan(before + 10), { timeout: 10_000 });
      d.click(x, y);
    }
    d.key('Enter');
    await vi.waitFor(async () => expect(await stored()).toHaveLength(1), { timeout: 10_000 });
    const [a] = await stored();
    expect(a!.kind).toBe('polygon');
    expect(editor.history.undoLabel).toBe('Intelligent scissors');
    // The outline runs along the edge pixels (inside or just outside), so its area is the
    // rectangle's give or take a pixel's width around it.
    const area = geometryArea(a!.geometry);
    expect(area).toBeGreaterThan((RECT.w - 2) * (RECT.h - 2));
    expect(area).toBeLessThan((RECT.w + 2) * (RECT.h + 2));
  });

  it('clicks without waiting for the path still follow the edges: each segment gets its own path', async () => {
    d.key('i');
    d.click(RECT.x, RECT.y + 5);
    d.click(RECT.x + 30, RECT.y + RECT.h - 1);
    d.click(RECT.x + RECT.w - 1, RECT.y + 10);
    d.key('Enter');
    await vi.waitFor(async () => expect(await stored()).toHaveLength(1), { timeout: 10_000 });
    const area = geometryArea((await stored())[0]!.geometry);
    expect(area).toBeGreaterThan((RECT.w - 2) * (RECT.h - 2));
    expect(area).toBeLessThan((RECT.w + 2) * (RECT.h + 2));
  });

  it('Backspace drops the last anchor and Esc the outline; nothing is stored', async () => {
    d.key('i');
    d.click(RECT.x, RECT.y + 5);
    d.click(RECT.x + 30, RECT.y + RECT.h - 1);
    expect(state()).toBe('tracing');
    expect(editor.snapshot().overlay.handles).toHaveLength(2);
    d.key('Backspace');
    expect(editor.snapshot().overlay.handles).toHaveLength(1);
    d.key('Escape');
    expect(state()).toBe('idle');
    await d.settle();
    expect(await stored()).toEqual([]);
  });
});

const stack = sharedPath('datasets/dicom_pydicom/SC_rgb_rle_2frame.dcm');

describe.runIf(stack)('split nuclei', () => {
  it('stores nothing when the frame changes while the watershed runs: the nuclei belong to the frame asked about', async () => {
    await callWs(ds.ws, 'dataset:allowExternal', { folders: [path.dirname(stack!)] }).catch(() => null);
    await callWs(ds.ws, 'images:import', { jobId: 'stack', paths: [stack!], allowOutsideRoot: true });
    const item = (await callWs(ds.ws, 'images:list', {})).items.find((i) => i.path.endsWith('SC_rgb_rle_2frame.dcm'))!;
    expect(item.frames).toBe(2);
    const image = { id: item.id, width: item.width, height: item.height, frames: 2 };
    const onStack = (): Promise<AnnotationRecord[]> => callWs(ds.ws, 'annotations:list', { imageId: item.id });
    // Frame 1 is left for frame 2 before the answer comes: nothing is stored, on either frame.
    await editor.load(image);
    const pending = splitNuclei(editor);
    expect(editor.setFrame(1)).toBe(true);
    expect(await pending).toBeNull();
    await d.settle();
    expect(await onStack()).toEqual([]);
    // Staying on the frame, what is found is stored on it.
    await editor.load(image, 1);
    expect(await splitNuclei(editor)).not.toBeNull();
    const shapes = await onStack();
    expect(shapes.length).toBeGreaterThan(0);
    expect(shapes.every((a) => a.frame === 1)).toBe(true);
  });
});
