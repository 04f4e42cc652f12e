import type { EditResult, HistoryState } from '../../../src-main/common/editing';
import type { AnnotationRecord, Geometry } from '../../../src-main/common/model';
import { polygonSelfIntersects } from '../../../src-main/common/geometry/shapes';
import { isInterpolated } from '../../../src-main/common/geometry/interpolate';
import type { Editor, EditorImage } from '../Editor';
import { shapeLabel } from '../labels';
import type { SceneShape } from '../scene';
import { NO_HISTORY } from './history';

/**
 * The document: the open image's annotations as readonly records keyed by id, for every frame of
 * it. It changes only from what the backend returns (a load, a stored edit, undo and redo).
 */
export class DocumentManager {
  records = new Map<number, AnnotationRecord>();
  private loadToken = 0;
  private readonly flaggedCache = new WeakMap<Geometry, boolean>();

  constructor(private readonly editor: Editor) {}

  /** Opens an image (at `frame`): fetches its annotations and history; the selection and any gesture are dropped. */
  async load(image: EditorImage, frame = 0): Promise<void> {
    const ed = this.editor;
    const token = ++this.loadToken;
    ed.tool.cancel();
    ed.image = image;
    ed.frame = this.clampFrame(frame, image);
    ed.toolHost.forgetToolMemory();
    this.records = new Map();
    ed.selectionManager.reset();
    ed.visibility.forgetShapes();
    ed.edits.state = NO_HISTORY;
    ed.emitScene();
    let records: AnnotationRecord[];
    let history: HistoryState;
    try {
      [records, history] = await Promise.all([ed.backend.list(image.id), ed.backend.history(image.id)]);
    } catch (e) {
      // Without its annotations the image must not be edited: new shapes would hide the unseen ones.
      if (token === this.loadToken) ed.image = null;
      throw e;
    }
    if (token !== this.loadToken) return;
    this.records = new Map(records.map((r) => [r.id, r]));
    ed.edits.state = history;
    ed.emitScene();
  }

  /** Forgets the image (back to the grid); failed actions stay pending. */
  unload(): void {
    const ed = this.editor;
    this.loadToken++;
    ed.tool.cancel();
    ed.image = null;
    ed.frame = 0;
    this.records = new Map();
    ed.selectionManager.reset();
    ed.edits.state = NO_HISTORY;
    ed.emitScene();
  }

  private clampFrame(frame: number, image: EditorImage | null): number {
    const n = Math.max(1, image?.frames ?? 1);
    return Number.isInteger(frame) ? Math.max(0, Math.min(n - 1, frame)) : 0;
  }

  /**
   * Edits another frame of the image: its shapes replace the scene, the gesture in progress is
   * dropped and the selection cleared (shapes of other frames cannot be selected). Returns
   * whether the frame changed.
   */
  setFrame(frame: number): boolean {
    const ed = this.editor;
    const f = this.clampFrame(frame, ed.image);
    if (f === ed.frame) return false;
    ed.tool.cancel();
    ed.frame = f;
    ed.toolHost.forgetToolMemory();
    ed.selectionManager.retain(() => false);
    ed.emitScene();
    return true;
  }

  toScene(a: AnnotationRecord): SceneShape {
    // Self-intersecting outlines are allowed but usually a slip of the hand: they are drawn flagged.
    // The test is quadratic in the vertices, and geometries are immutable values, so it is cached.
    const g = a.geometry;
    let flagged = false;
    if (g.kind === 'polygon') {
      const known = this.flaggedCache.get(g);
      flagged = known ?? g.parts.some((ring) => polygonSelfIntersects(ring));
      if (known === undefined) this.flaggedCache.set(g, flagged);
    }
    const shape: SceneShape = { id: a.id, geometry: a.geometry, color: this.editor.colorOf(a.classId), prediction: a.source === 'model', flagged, z: a.z };
    if (shape.prediction && a.score !== null && a.score !== undefined) shape.score = a.score;
    if (isInterpolated(a)) shape.interpolated = true;
    const label = shapeLabel(this.editor.labelMode, this.editor.classById(a.classId)?.name, shape.score);
    if (label !== undefined) shape.label = label;
    if (g.kind === 'keypoints') shape.skeleton = this.editor.classById(a.classId)?.keypoints?.skeleton ?? [];
    return shape;
  }

  /** Shows what the dataset holds for the image again (an edit found the document out of date). */
  async reloadIf(imageId: number): Promise<void> {
    const ed = this.editor;
    if (ed.image?.id !== imageId) return;
    const records = await ed.backend.list(imageId);
    if (ed.image?.id !== imageId) return;
    this.records = new Map(records.map((r) => [r.id, r]));
    ed.selectionManager.retain(() => true);
    ed.emitScene();
  }

  /** Applies what the backend stored: new values and removed ids, drawn without a full redraw. */
  apply(r: Pick<EditResult, 'changed' | 'deleted'>): void {
    const ed = this.editor;
    ed.revision++;
    const changed: SceneShape[] = [];
    const removed: number[] = [];
    let reorder = false;
    for (const rec of r.changed) {
      if (rec.imageId !== ed.image?.id) continue;
      const before = this.records.get(rec.id);
      if (before && before.z !== rec.z) reorder = true;
      if (!before && this.records.size > 0) {
        // A new shape below others (restored by undo, or pasted with its z) changes the order.
        const maxZ = Math.max(...[...this.records.values()].map((a) => a.z));
        if (rec.z < maxZ) reorder = true;
      }
      this.records.set(rec.id, rec);
      // Shapes of other frames are kept in the document but not drawn.
      if (rec.kind !== 'tag' && rec.frame === ed.frame) changed.push(this.toScene(rec));
    }
    for (const id of r.deleted) {
      const had = this.records.get(id);
      if (!had) continue;
      this.records.delete(id);
      if (had.kind !== 'tag' && had.frame === ed.frame) removed.push(id);
    }
    ed.selectionManager.retain(() => true);
    if (reorder) {
      ed.emitScene();
      return;
    }
    if (changed.length || removed.length) ed.events.emit('shapesChanged', changed, removed);
    ed.emitHidden();
    ed.refreshOverlay();
    ed.events.emit('change');
  }

  /**
   * Fetches the open image's annotations again: pre-labeling and the review calls change them
   * outside the editor's own edits, and the journal may have grown with them.
   */
  async reload(): Promise<void> {
    const ed = this.editor;
    const id = ed.image?.id;
    if (id === undefined) return;
    await ed.idle();
    await this.reloadIf(id);
    if (ed.image?.id === id) {
      ed.revision++;
      await ed.edits.refresh();
      ed.events.emit('change');
    }
  }
}
