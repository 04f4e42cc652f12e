import { describe, expect, it } from 'vitest';
import { ACTIONS, actionForChord, duplicateBindings, handleKey } from '../../src-renderer/editor/actions';
import type { EditorBackend } from '../../src-renderer/editor/backend';
import { connectView } from '../../src-renderer/editor/connect';
import { Editor } from '../../src-renderer/editor/Editor';
import { chordLabel, chordOf } from '../../src-renderer/editor/keys';
import type { EditorPointerEvent, Overlay, SceneShape, SceneView } from '../../src-renderer/editor/scene';

/** The registry and key handling need no dataset: an empty backend stands in. */
const idleBackend: EditorBackend = {
  list: async () => [],
  edit: () => Promise.reject(new Error('not used')),
  undo: async () => null,
  redo: async () => null,
  history: async () => ({ canUndo: false, canRedo: false, undoLabel: null, redoLabel: null }),
};

describe('the action registry', () => {
  it('binds no chord twice and has unique ids', () => {
    expect(duplicateBindings()).toEqual([]);
    expect(new Set(ACTIONS.map((a) => a.id)).size).toBe(ACTIONS.length);
    // The check itself finds a clash when there is one.
    expect(duplicateBindings([...ACTIONS, { id: 'x', label: 'x', group: 'Edit', keys: ['b'], perform: () => {} }])).toEqual(['b: tool.box, x']);
  });

  it('holds the editor, viewer and image shortcuts in one place', () => {
    const expected: Record<string, string> = {
      v: 'tool.select',
      b: 'tool.box',
      p: 'tool.polygon',
      m: 'tool.brush',
      e: 'tool.eraser',
      o: 'tool.point',
      'ctrl+z': 'undo',
      'shift+ctrl+z': 'redo',
      'ctrl+y': 'redo',
      '[': 'brushSmaller',
      ']': 'brushLarger',
      delete: 'delete',
      escape: 'cancel',
      enter: 'finish',
      backspace: 'backspace',
      '?': 'shortcuts',
      arrowright: 'next',
      d: 'next',
      arrowleft: 'previous',
      a: 'previous',
      f: 'fit',
      'ctrl+0': 'fit',
      'ctrl+1': 'oneToOne',
      'ctrl+enter': 'markDone',
      'ctrl+d': 'duplicate',
      'ctrl+c': 'copy',
      'ctrl+v': 'paste',
      '1': 'class.1',
      '9': 'class.9',
    };
    for (const [chord, id] of Object.entries(expected)) expect([chord, actionForChord(chord)?.id]).toEqual([chord, id]);
  });

  it('turns key presses into canonical chords', () => {
    expect(chordOf({ key: 'Z', ctrl: true, shift: true, alt: false })).toBe('shift+ctrl+z');
    expect(chordOf({ key: 'z', ctrl: true, shift: false, alt: false })).toBe('ctrl+z');
    expect(chordOf({ key: '?', ctrl: false, shift: true, alt: false })).toBe('?');
    expect(chordOf({ key: 'Enter', ctrl: false, shift: true, alt: false })).toBe('shift+enter');
    expect(chordOf({ key: 'ArrowRight', ctrl: false, shift: false, alt: false })).toBe('arrowright');
    expect(chordOf({ key: 'B', ctrl: false, shift: false, alt: false })).toBe('b'); // caps lock
    expect(chordLabel('shift+ctrl+z')).toBe('Shift+Ctrl+Z');
    expect(chordLabel('arrowleft')).toBe('←');
  });

  it('keys switch tools; disabled actions leave the key alone; viewer actions reach the context', () => {
    const editor = new Editor(idleBackend);
    const calls: string[] = [];
    const ctx = {
      editor,
      view: { fit: () => calls.push('fit'), oneToOne: () => calls.push('1:1'), zoomIn: () => calls.push('in'), zoomOut: () => calls.push('out') },
      nav: {
        next: () => calls.push('next'),
        previous: () => calls.push('prev'),
        close: () => calls.push('close'),
        nextUnlabeled: () => calls.push('unlabeled'),
        nextNotDone: () => calls.push('notDone'),
        markDone: () => calls.push('done'),
      },
    };
    const press = (key: string, mods: { ctrl?: boolean; shift?: boolean; alt?: boolean } = {}) =>
      handleKey(ctx, { key, ctrl: false, shift: false, alt: false, ...mods });
    expect(press('p')).toBe(true);
    expect(editor.toolName).toBe('polygon');
    expect(press('m')).toBe(true);
    expect(editor.toolName).toBe('brush');
    expect(press('z', { ctrl: true })).toBe(false); // nothing to undo
    expect(press('q')).toBe(false);
    press('d');
    press('ArrowLeft');
    press('f');
    press('0', { ctrl: true });
    press('Escape'); // nothing to cancel or deselect: back to the grid
    press('n');
    press('N', { shift: true });
    expect(calls).toEqual(['next', 'prev', 'fit', 'fit', 'close', 'unlabeled', 'notDone']);
  });

  it('Shift+C comments, only on an open image and where the comments state is supplied', async () => {
    const editor = new Editor(idleBackend);
    const added: string[] = [];
    const withComments = { editor, comments: { add: () => added.push('add') } };
    const shiftC = { key: 'C', ctrl: false, shift: true, alt: false };
    expect(actionForChord(chordOf(shiftC))?.id).toBe('comment.add');
    expect(ACTIONS.find((a) => a.id === 'comment.add')?.contextMenu).toBe(true);
    expect(handleKey(withComments, shiftC)).toBe(false); // no image yet
    await editor.load({ id: 1, width: 10, height: 10 });
    expect(handleKey({ editor }, shiftC)).toBe(false); // no comments state
    expect(handleKey(withComments, shiftC)).toBe(true);
    expect(added).toEqual(['add']);
  });
});

describe('connecting a view', () => {
  it('pushes the current state at once, forwards pointer events and tells whether the left button pans', async () => {
    const editor = new Editor(idleBackend);
    await editor.load({ id: 1, width: 100, height: 100 });
    editor.setTool('box');
    const log: string[] = [];
    let handler: ((t: 'down' | 'move' | 'up', e: EditorPointerEvent) => void) | null = null;
    let overlay: Overlay | null = null;
    const view: SceneView = {
      setShapes: (s: readonly SceneShape[]) => log.push(`shapes ${s.length}`),
      updateShapes: () => log.push('update'),
      setHidden: (ids) => log.push(`hidden ${ids.size}`),
      setOverlay: (o) => (overlay = o),
      onPointer: (h) => {
        handler = h;
        return () => (handler = null);
      },
      setLeftButtonPans: (p) => log.push(`pans ${p}`),
      stats: () => ({ staticDraws: 0, shapesDrawn: 0, lastStaticDrawMs: 0 }),
    };
    const off = connectView(editor, view);
    expect(log).toEqual(['shapes 0', 'hidden 0', 'pans false']);
    const e = (x: number, y: number): EditorPointerEvent => ({ x, y, button: 0, shift: false, ctrl: false, alt: false, zoom: 1 });
    handler!('down', e(10, 10));
    handler!('move', e(40, 30));
    expect(overlay!.preview?.geometry).toEqual({ kind: 'box', x: 10, y: 10, w: 30, h: 20 });
    editor.cancelGesture();
    editor.setTool('pan');
    expect(log.at(-1)).toBe('pans true');
    off();
    expect(handler).toBeNull();
  });
});
