import { describe, expect, it } from 'vitest';
import type { AnnotationRecord } from '../../src-main/common/model';
import type { EditorBackend } from '../../src-renderer/editor/backend';
import { Editor } from '../../src-renderer/editor/Editor';

function record(id: number, source: AnnotationRecord['source'], score: number | null): AnnotationRecord {
  return {
    id,
    imageId: 1,
    frame: 0,
    classId: null,
    kind: 'box',
    geometry: { kind: 'box', x: 10 * id, y: 10, w: 40, h: 30 },
    source,
    modelRunId: source === 'model' ? 7 : null,
    score,
    attributes: {},
    z: 0,
    createdAt: 0,
    updatedAt: 0,
    version: 1,
  };
}

// A human shape with a score (e.g. imported with one) must still never be hidden by the slider.
const RECORDS = [record(1, 'model', 0.9), record(2, 'model', 0.5), record(3, 'model', 0.2), record(4, 'human', null), record(5, 'human', 0.1)];

const backend: EditorBackend = {
  list: async () => RECORDS,
  edit: () => Promise.reject(new Error('not used')),
  undo: async () => null,
  redo: async () => null,
  history: async () => ({ canUndo: false, canRedo: false, undoLabel: null, redoLabel: null }),
};

describe('the prediction threshold', () => {
  it('hides predictions scoring below it from the scene, never human shapes, and drops them from the selection', async () => {
    const editor = new Editor(backend);
    let hidden = new Set<number>();
    editor.events.on('hidden', (ids) => (hidden = new Set(ids)));
    await editor.load({ id: 1, width: 200, height: 100 });

    const visible = (): number[] => [1, 2, 3, 4, 5].filter((id) => !hidden.has(id));
    expect(visible()).toEqual([1, 2, 3, 4, 5]);

    editor.select([2, 4]);
    editor.setPredictionThreshold(0.5);
    // At the threshold is shown; below it is hidden.
    expect(visible()).toEqual([1, 2, 4, 5]);
    expect(editor.predictions.map((a) => a.id).sort()).toEqual([1, 2]);

    editor.setPredictionThreshold(0.95);
    expect(visible()).toEqual([4, 5]);
    expect(editor.predictions).toEqual([]);
    expect(editor.selection).toEqual([4]);
    // A hidden prediction cannot be picked on the canvas either.
    expect(editor.hitTest(25, 20, 1)).toBeNull();

    // Out-of-range values are clamped, and a non-number leaves the threshold as it was.
    editor.setPredictionThreshold(Number.NaN);
    expect(editor.predictionThreshold).toBe(0.95);
    editor.setPredictionThreshold(-1);
    expect(visible()).toEqual([1, 2, 3, 4, 5]);
  });

  it('gives predictions their score in the scene and human shapes none', async () => {
    const editor = new Editor(backend);
    await editor.load({ id: 1, width: 200, height: 100 });
    const scene = editor.snapshot().scene;
    expect(scene.map((s) => [s.id, s.prediction, s.score])).toEqual([
      [1, true, 0.9],
      [2, true, 0.5],
      [3, true, 0.2],
      [4, false, undefined],
      [5, false, undefined],
    ]);
  });
});
