import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AnnotationRecord, ImageListItem } from '../../src-main/common/model';
import type { Workspace } from '../../src-main/services/workspace';
import { Editor } from '../../src-renderer/editor/Editor';
import type { SceneShape } from '../../src-renderer/editor/scene';
import { callWs, EditorDriver, newWorkspace, workspaceBackend } from '../helpers/editorDriver';
import { tempDir } from '../helpers/shared';

/**
 * Shapes belong to one frame of a multi-frame image: the editor draws, hits, selects and counts
 * only the current frame's, stores new ones on it, and steps frames with , and . keys.
 */
let dir: string;
let ws: Workspace;
let stack: ImageListItem;
let editor: Editor;
let d: EditorDriver;
/** What a view connecting now would draw. */
const scene = (): readonly SceneShape[] => editor.snapshot().scene;
const steps: number[] = [];

beforeAll(async () => {
  dir = tempDir('tessera-editor-frames-');
  const pages = await Promise.all(
    [30, 220, 120].map((v) => sharp({ create: { width: 200, height: 150, channels: 3, background: { r: v, g: v, b: v } } }).png().toBuffer()),
  );
  fs.mkdirSync(path.join(dir, 'imgs'));
  await sharp(pages, { join: { animated: true } }).tiff().toFile(path.join(dir, 'imgs', 'stack.tif'));
  ws = newWorkspace(path.join(dir, 'config'));
  await callWs(ws, 'dataset:create', { path: path.join(dir, 'd.tessera') });
  await callWs(ws, 'images:import', { jobId: 'imp', paths: [path.join(dir, 'imgs')] });
  stack = (await callWs(ws, 'images:list', {})).items[0]!;
  await callWs(ws, 'classes:create', { name: 'cell' });
});

afterAll(async () => {
  await ws.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const rows = (): Promise<AnnotationRecord[]> => callWs(ws, 'annotations:list', { imageId: stack.id });

beforeEach(async () => {
  const existing = await rows();
  if (existing.length) await callWs(ws, 'annotations:edit', { imageId: stack.id, label: 'reset', ops: existing.map((a) => ({ op: 'delete' as const, id: a.id })) });
  editor = new Editor(workspaceBackend(ws));
  editor.setClasses(await callWs(ws, 'classes:list', {}));
  steps.length = 0;
  const nav = { next() {}, previous() {}, close() {}, nextUnlabeled() {}, nextNotDone() {}, markDone() {}, stepFrame: (by: number) => steps.push(by) };
  d = new EditorDriver(editor, { nav });
  await editor.load({ id: stack.id, width: stack.width, height: stack.height, frames: stack.frames });
});

describe('frames in the editor', () => {
  it('stores a box on the frame being edited and shows, hits and selects only that frame\'s shapes', async () => {
    expect(stack.frames).toBe(3);
    d.key('b');
    d.drag(10, 10, 60, 60);
    await d.settle();
    expect(editor.setFrame(1)).toBe(true);
    expect(scene()).toEqual([]);
    d.drag(100, 80, 150, 130);
    await d.settle();
    const stored = await rows();
    expect(stored.map((a) => [a.frame, a.geometry])).toEqual([
      [0, { kind: 'box', x: 10, y: 10, w: 50, h: 50 }],
      [1, { kind: 'box', x: 100, y: 80, w: 50, h: 50 }],
    ]);
    const [onFirst, onSecond] = stored;
    // Frame 1 (the second frame): only its box is drawn, hit and selectable.
    expect(scene().map((s) => s.id)).toEqual([onSecond!.id]);
    expect(editor.hitTest(30, 30, 1)).toBeNull();
    expect(editor.hitTest(120, 100, 1)?.id).toBe(onSecond!.id);
    editor.selectAll();
    expect(editor.selection).toEqual([onSecond!.id]);
    editor.select([onFirst!.id]);
    expect(editor.selection).toEqual([]);
    // Back on frame 0: the other way round.
    editor.setFrame(0);
    expect(scene().map((s) => s.id)).toEqual([onFirst!.id]);
    expect(editor.hitTest(120, 100, 1)).toBeNull();
    expect(editor.idsInRect({ x: 0, y: 0, w: 200, h: 150 })).toEqual([onFirst!.id]);
    // A frame past the last is clamped.
    editor.setFrame(99);
    expect(editor.frame).toBe(2);
  });

  it('pastes onto the frame being edited; undo names the frame a step changed when it is not on screen', async () => {
    d.key('b');
    d.drag(10, 10, 60, 60);
    await d.settle();
    editor.selectAll();
    expect(editor.copySelected()).toBe(true);
    editor.setFrame(2);
    await editor.paste();
    const stored = await rows();
    expect(stored.map((a) => a.frame).sort()).toEqual([0, 2]);
    expect(scene()).toHaveLength(1);
    editor.setFrame(0);
    await editor.undo();
    expect(d.lastStatus?.text).toBe('Undid: Paste shape (on frame 3)');
    expect((await rows()).map((a) => a.frame)).toEqual([0]);
  });

  it('opens on a given frame; , and . step frames only on a multi-frame image', async () => {
    await callWs(ws, 'annotations:edit', {
      imageId: stack.id,
      label: 'draw',
      ops: [{ op: 'create', draft: { classId: null, geometry: { kind: 'box', x: 5, y: 5, w: 20, h: 20 }, frame: 2 } }],
    });
    await editor.load({ id: stack.id, width: stack.width, height: stack.height, frames: stack.frames }, 2);
    expect(editor.frame).toBe(2);
    expect(scene()).toHaveLength(1);
    expect(d.key('.')).toBe(true);
    expect(d.key(',')).toBe(true);
    expect(steps).toEqual([1, -1]);
    await editor.load({ id: stack.id, width: stack.width, height: stack.height });
    expect(d.key('.')).toBe(false);
    expect(steps).toEqual([1, -1]);
  });
});
