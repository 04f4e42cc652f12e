import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Editor } from '../../src-renderer/editor/Editor';
import { onRulerLine, type RulerLine } from '../../src-renderer/editor/tools/ruler';
import { callWs, closeTestDataset, createTestDataset, EditorDriver, workspaceBackend, type TestDataset } from '../helpers/editorDriver';

/** The ruler (U): a drag measures a line that is shown, never stored; Esc, another tool or image clears it. */
let ds: TestDataset;
let editor: Editor;
let d: EditorDriver;
let imageId: number;
let line: RulerLine | null = null;

beforeAll(async () => {
  ds = await createTestDataset();
  imageId = ds.images[0]!.id;
  onRulerLine((l) => (line = l));
});

afterAll(async () => await closeTestDataset(ds));

beforeEach(async () => {
  editor = new Editor(workspaceBackend(ds.ws));
  editor.setClasses(ds.classes);
  await editor.load({ id: imageId, width: 200, height: 150 });
  d = new EditorDriver(editor);
});

describe('ruler tool', () => {
  it('measures a dragged line, clamped to the image, storing nothing; Esc clears it', async () => {
    d.zoom = 2;
    d.key('u');
    expect(editor.toolName).toBe('ruler');
    d.drag(10, 20, 250, 100);
    await d.settle();
    expect(line).toEqual({ x0: 10, y0: 20, x1: 200, y1: 100 });
    expect(await callWs(ds.ws, 'annotations:list', { imageId })).toEqual([]);
    // The next drag replaces it.
    d.drag(30, 30, 60, 70);
    expect(line).toEqual({ x0: 30, y0: 30, x1: 60, y1: 70 });
    d.key('escape');
    expect(line).toBeNull();
    expect(editor.toolName).toBe('ruler');
  });

  it('a click measures nothing, and another tool drops the line', () => {
    d.key('u');
    d.drag(10, 10, 50, 10);
    expect(line).not.toBeNull();
    d.click(80, 80);
    expect(line).toBeNull();
    d.drag(10, 10, 50, 10);
    d.key('b');
    expect(line).toBeNull();
  });
});
