import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COCO80 } from '../../src-main/common/inference/coco';
import type { ClassRecord } from '../../src-main/common/model';
import { ACTIONS } from '../../src-renderer/editor/actions';
import { handleClassKey, hotkeyChord, hotkeyProblem, searchClasses } from '../../src-renderer/editor/classKeys';
import { Editor } from '../../src-renderer/editor/Editor';
import { shapeLabel } from '../../src-renderer/editor/labels';
import type { SceneShape } from '../../src-renderer/editor/scene';
import { callWs, closeTestDataset, createTestDataset, EditorDriver, workspaceBackend, type TestDataset } from '../helpers/editorDriver';

const coco: ClassRecord[] = COCO80.map((name, i) => ({ id: i + 1, name, color: '#000000', hotkey: null, order: i, attributes: [], keypoints: null }));
const names = (cs: readonly ClassRecord[]) => cs.map((c) => c.name);

describe('class search', () => {
  it('filters without regard to case; exact, then prefix, then word start, then anywhere; alphabetical within each', () => {
    expect(names(searchClasses(coco, 'tra'))).toEqual(['traffic light', 'train']);
    expect(names(searchClasses(coco, 'TRA'))).toEqual(['traffic light', 'train']);
    // 'light' starts a word of 'traffic light' only; 'ca' starts four names and is inside 'suitcase'.
    expect(names(searchClasses(coco, 'light'))).toEqual(['traffic light']);
    expect(names(searchClasses(coco, 'ca'))).toEqual(['cake', 'car', 'carrot', 'cat', 'suitcase']);
    // A word start ('sports ball') before a match inside a word ('baseball ...').
    expect(names(searchClasses(coco, 'ball'))).toEqual(['sports ball', 'baseball bat', 'baseball glove']);
    expect(names(searchClasses(coco, 'cup'))[0]).toBe('cup');
    expect(names(searchClasses(coco, ' ')).length).toBe(80);
    expect(searchClasses(coco, 'zzz')).toEqual([]);
    expect(searchClasses(coco, '')).toEqual(coco);
  });
});

describe('class keys beyond 1-9', () => {
  it('refuses keys the editor uses, Ctrl combinations and keys another class has; takes a free key', () => {
    const cs = coco.map((c) => (c.name === 'cat' ? { ...c, hotkey: 'g' } : c));
    expect(hotkeyProblem('b', cs, 1)).toBe('B is already "Box"; choose another key');
    expect(hotkeyProblem('3', cs, 1)).toMatch(/^3 is already "Class 3"/);
    expect(hotkeyProblem('/', cs, 1)).toMatch(/is already "Search the classes/);
    expect(hotkeyProblem('ctrl+g', cs, 1)).toMatch(/Ctrl combinations/);
    expect(hotkeyProblem('g', cs, 1)).toBe('G is already the key of class "cat"');
    expect(hotkeyProblem('g', cs, cs.find((c) => c.name === 'cat')!.id)).toBeNull();
    expect(hotkeyProblem('shift+g', cs, 1)).toBeNull();
    expect(hotkeyProblem('f2', cs, 1)).toBeNull();
    // Every action key is refused.
    for (const a of ACTIONS) for (const k of a.keys) expect(hotkeyProblem(k, cs, 1), k).not.toBeNull();
    expect(hotkeyChord({ key: 'Shift', ctrl: false, shift: true, alt: false })).toBeNull();
    expect(hotkeyChord({ key: 'Escape', ctrl: false, shift: false, alt: false })).toBeNull();
    expect(hotkeyChord({ key: 'G', ctrl: false, shift: true, alt: false })).toBe('shift+g');
  });
});

describe('class keys in the editor', () => {
  let ds: TestDataset;
  beforeAll(async () => {
    ds = await createTestDataset();
  });
  afterAll(async () => await closeTestDataset(ds));

  it("a class's own key picks it and relabels the selected shape, as 1-9 do; an action's key still does the action", async () => {
    const debris = ds.classes.find((c) => c.name === 'debris')!;
    await callWs(ds.ws, 'classes:update', { id: debris.id, hotkey: 'g' });
    // The backend keeps one class per key.
    const nucleus = ds.classes.find((c) => c.name === 'nucleus')!;
    await expect(callWs(ds.ws, 'classes:update', { id: nucleus.id, hotkey: 'g' })).rejects.toThrow(/already the key of class "debris"/);
    const classes = await callWs(ds.ws, 'classes:list', {});
    const editor = new Editor(workspaceBackend(ds.ws));
    editor.setClasses(classes);
    const im = ds.images[0]!;
    await editor.load({ id: im.id, width: im.width, height: im.height });
    const d = new EditorDriver(editor);
    const press = (key: string, shift = false) => handleClassKey(d.ctx, { key, ctrl: false, shift, alt: false });
    d.key('1');
    d.key('b');
    d.drag(10, 10, 60, 60);
    await d.settle();
    d.key('v');
    d.click(20, 20);
    expect(press('g')).toBe(true);
    await d.settle();
    expect(editor.activeClassId).toBe(debris.id);
    const rows = await callWs(ds.ws, 'annotations:list', { imageId: im.id });
    expect(rows.map((r) => r.classId)).toEqual([debris.id]);
    expect(d.lastStatus?.text).toBe(`Box #${rows[0]!.id} relabelled to debris`);
    // A key no class has, and a key an action has, are not class keys.
    expect(press('j')).toBe(false);
    expect(press('b')).toBe(false);
  });
});

describe('shape labels', () => {
  it('name, score, both or none; human shapes have no score', () => {
    expect(shapeLabel('both', 'traffic light', 0.874)).toBe('traffic light 0.87');
    expect(shapeLabel('both', 'cat', undefined)).toBe('cat');
    expect(shapeLabel('both', undefined, 0.5)).toBe('0.50');
    expect(shapeLabel('name', 'cat', 0.5)).toBe('cat');
    expect(shapeLabel('score', 'cat', 0.5)).toBe('0.50');
    expect(shapeLabel('score', 'cat', undefined)).toBeUndefined();
    expect(shapeLabel('none', 'cat', 0.5)).toBeUndefined();
  });

  it('the editor gives each scene shape its label and sends the scene again when the mode changes', async () => {
    const ds = await createTestDataset();
    try {
      const editor = new Editor(workspaceBackend(ds.ws));
      editor.setClasses(ds.classes);
      const im = ds.images[1]!;
      await editor.load({ id: im.id, width: im.width, height: im.height });
      const d = new EditorDriver(editor);
      d.key('2');
      d.key('b');
      d.drag(10, 10, 80, 60);
      await d.settle();
      const scenes: (readonly SceneShape[])[] = [];
      editor.events.on('scene', (s) => scenes.push(s));
      expect(editor.snapshot().scene.map((s) => s.label)).toEqual(['nucleus']);
      editor.setLabelMode('none');
      expect(scenes.at(-1)!.map((s) => s.label)).toEqual([undefined]);
      editor.setLabelMode('score');
      expect(scenes.at(-1)!.map((s) => s.label)).toEqual([undefined]);
      editor.setLabelMode('name');
      expect(scenes.at(-1)!.map((s) => s.label)).toEqual(['nucleus']);
    } finally {
      await closeTestDataset(ds);
    }
  });
});
