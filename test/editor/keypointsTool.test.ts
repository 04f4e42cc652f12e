import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { AnnotationRecord, ClassRecord } from '../../src-main/common/model';
import { Editor } from '../../src-renderer/editor/Editor';
import { callWs, closeTestDataset, createTestDataset, EditorDriver, workspaceBackend, type TestDataset } from '../helpers/editorDriver';

let ds: TestDataset;
let editor: Editor;
let d: EditorDriver;
let imageId: number;
let pose: ClassRecord;

async function stored(): Promise<AnnotationRecord[]> {
  return callWs(ds.ws, 'annotations:list', { imageId });
}

/** A right click as the canvas sends it to a tool that takes the secondary button. */
function rightClick(x: number, y: number): void {
  const e = { x, y, button: 2, shift: false, ctrl: false, alt: false, zoom: 1 };
  editor.pointer('down', e);
  editor.pointer('up', e);
}

beforeAll(async () => {
  ds = await createTestDataset();
  imageId = ds.images[0]!.id;
  pose = await callWs(ds.ws, 'classes:create', { name: 'pose' });
  pose = await callWs(ds.ws, 'classes:setKeypoints', { id: pose.id, keypoints: { names: ['head', 'neck', 'tail'], skeleton: [[0, 1], [1, 2]] } });
});

afterAll(async () => await closeTestDataset(ds));

beforeEach(async () => {
  const existing = await stored();
  if (existing.length) await callWs(ds.ws, 'annotations:edit', { imageId, label: 'reset', ops: existing.map((a) => ({ op: 'delete' as const, id: a.id })) });
  editor = new Editor(workspaceBackend(ds.ws));
  editor.setClasses(await callWs(ds.ws, 'classes:list', {}));
  await editor.load({ id: imageId, width: 200, height: 150 });
  d = new EditorDriver(editor);
  editor.setActiveClass(pose.id);
  expect(d.key('k')).toBe(true);
  expect(editor.toolName).toBe('keypoints');
});

describe('keypoints tool', () => {
  it('places the class keypoints in order: click visible, right click not visible; the last one stores the object, undo removes it', async () => {
    const tool = editor.tool as import('../../src-renderer/editor/tools/keypoints').KeypointsTool;
    expect(tool.prompt()).toBe('head (1/3)');
    d.click(10.5, 20.25);
    expect(tool.prompt()).toBe('neck (2/3)');
    rightClick(30, 40);
    expect(tool.prompt()).toBe('tail (3/3)');
    expect(await stored()).toEqual([]);
    d.click(50, 60);
    await d.settle();
    const [a] = await stored();
    expect(a!.classId).toBe(pose.id);
    expect(a!.geometry).toEqual({ kind: 'keypoints', points: [10.5, 20.25, 2, 30, 40, 1, 50, 60, 2] });
    // The scene carries the class skeleton for the canvas.
    expect(editor.toScene(editor.annotations.get(a!.id)!).skeleton).toEqual([[0, 1], [1, 2]]);
    expect(d.key('z', { ctrl: true })).toBe(true);
    await d.settle();
    expect(await stored()).toEqual([]);
  });

  it('J skips a keypoint (0, 0, 0), Shift+click marks one not visible, Backspace takes the last back, Enter stores early', async () => {
    expect(d.key('j')).toBe(true);
    d.click(7, 8);
    expect(d.key('Backspace')).toBe(true);
    d.click(5, 6, { shift: true });
    expect(d.key('Enter')).toBe(true);
    await d.settle();
    expect((await stored()).map((a) => a.geometry)).toEqual([{ kind: 'keypoints', points: [0, 0, 0, 5, 6, 1, 0, 0, 0] }]);
  });

  it('Escape abandons the object; Enter with nothing placed stores nothing', async () => {
    d.click(5, 6);
    expect(d.key('Escape')).toBe(true);
    expect(editor.tool.busy).toBe(false);
    d.key('j');
    d.key('Enter');
    await d.settle();
    expect(await stored()).toEqual([]);
    expect(d.lastStatus?.text).toMatch(/No keypoint is placed/);
  });

  it('says why without a schema on the active class, and places nothing', async () => {
    editor.setActiveClass(ds.classes[0]!.id);
    const tool = editor.tool as import('../../src-renderer/editor/tools/keypoints').KeypointsTool;
    expect(tool.prompt()).toBe('Class "cell" has no keypoints: define them in the class panel (⚲)');
    d.click(10, 10);
    await d.settle();
    expect(d.lastStatus).toEqual({ text: 'Class "cell" has no keypoints: define them in the class panel (⚲)', kind: 'error' });
    expect(await stored()).toEqual([]);
  });
});

describe('editing keypoints with the select tool', () => {
  async function placed(): Promise<AnnotationRecord> {
    d.click(20, 20);
    d.click(60, 20);
    d.click(60, 80);
    await d.settle();
    d.key('v');
    const [a] = await stored();
    editor.select([a!.id]);
    return a!;
  }

  it('drags a single keypoint (one journaled edit), moves the whole object from between its points, Alt+click swaps visibility', async () => {
    const a = await placed();
    expect(editor.selectionHandles()).toEqual([
      { x: 20, y: 20, kind: 'vertex' },
      { x: 60, y: 20, kind: 'vertex' },
      { x: 60, y: 80, kind: 'vertex' },
    ]);
    d.drag(60, 20, 90, 30);
    await d.settle();
    expect((await stored())[0]!.geometry).toEqual({ kind: 'keypoints', points: [20, 20, 2, 90, 30, 2, 60, 80, 2] });
    expect(editor.history.undoLabel).toBe('Move keypoint');

    // Inside the box of its points, away from every point: the object moves whole.
    d.drag(40, 50, 50, 45);
    await d.settle();
    expect((await stored())[0]!.geometry).toEqual({ kind: 'keypoints', points: [30, 15, 2, 100, 25, 2, 70, 75, 2] });

    d.click(30, 15, { alt: true });
    await d.settle();
    expect((await stored())[0]!.geometry).toEqual({ kind: 'keypoints', points: [30, 15, 1, 100, 25, 2, 70, 75, 2] });
    expect((await stored())[0]!.id).toBe(a.id);
    d.key('z', { ctrl: true });
    await d.settle();
    expect((await stored())[0]!.geometry).toEqual({ kind: 'keypoints', points: [30, 15, 2, 100, 25, 2, 70, 75, 2] });
  });
});
