import type { AnnotationRecord } from '../../../src-main/common/model';
import { geometryArea, geometryBBox, hitTest } from '../../../src-main/common/geometry/shapes';
import type { Editor } from '../Editor';
import { insideRect } from '../shapes';
import { HIT_PX } from '../tools/Tool';

export type SelectMode = 'replace' | 'add' | 'toggle';

/**
 * Which shapes are selected, in the order they were picked, and whether the selection is the shape a
 * drawing tool just finished rather than one the user picked.
 */
export class SelectionManager {
  private idList: number[] = [];
  /**
   * The selection is the shape a drawing tool just finished: it is shown with its handles, but a
   * class key sets the class of the next shape instead of relabelling it.
   */
  drawn = false;

  constructor(private readonly editor: Editor) {}

  get ids(): readonly number[] {
    return this.idList;
  }

  get records(): AnnotationRecord[] {
    const docs = this.editor.annotations;
    return this.idList.map((id) => docs.get(id)).filter((a): a is AnnotationRecord => a !== undefined);
  }

  /** The one selected shape, or null when none or several are selected. */
  single(): AnnotationRecord | null {
    if (this.idList.length !== 1) return null;
    return this.editor.annotations.get(this.idList[0]!) ?? null;
  }

  /** Sets the selection as the user picked it (a click, a rectangle, Ctrl+A, the menu, the object list...). */
  select(ids: readonly number[], mode: SelectMode = 'replace'): void {
    const wasDrawn = this.drawn;
    this.drawn = false;
    const docs = this.editor.annotations;
    const next = combine(this.idList, ids, mode).filter((id) => {
      const a = docs.get(id);
      return a !== undefined && this.editor.isOnFrame(a);
    });
    if (next.join() === this.idList.join()) {
      if (wasDrawn) this.editor.events.emit('change');
      return;
    }
    this.idList = next;
    this.editor.refreshOverlay();
    this.editor.events.emit('change');
  }

  /** Forgets the selection without telling anyone (the caller redraws). */
  reset(): void {
    this.idList = [];
    this.drawn = false;
  }

  /** Keeps only the selected shapes that pass `keep` (silently: the caller redraws). */
  retain(keep: (a: AnnotationRecord) => boolean): void {
    const docs = this.editor.annotations;
    this.idList = this.idList.filter((id) => {
      const a = docs.get(id);
      return a !== undefined && keep(a);
    });
  }

  /**
   * Every visible, unlocked shape at (x, y), the one a click picks first: smallest area first (a
   * small shape inside a large one stays reachable), equal areas topmost first (z, then id).
   */
  hitsAt(x: number, y: number, zoom: number): AnnotationRecord[] {
    const tol = HIT_PX / zoom;
    const ed = this.editor;
    const hits = ed
      .ordered()
      .filter((a) => ed.isEditable(a) && hitTest(a.geometry, x, y, tol))
      .map((a, i) => ({ a, i, area: geometryArea(a.geometry) }));
    hits.sort((p, q) => p.area - q.area || q.i - p.i);
    return hits.map((h) => h.a);
  }

  /**
   * A right click at (x, y): the shape there becomes the selection, so the context menu acts on
   * it; a click on a shape already selected, or on nothing, keeps the selection.
   */
  selectForMenu(x: number, y: number, zoom: number): void {
    const hits = this.hitsAt(x, y, zoom);
    if (hits.length === 0 || hits.some((a) => this.idList.includes(a.id))) return;
    this.select([hits[0]!.id]);
  }

  clear(): boolean {
    if (this.idList.length === 0) return false;
    this.select([]);
    return true;
  }

  selectAll(): void {
    this.select(this.editor.ordered().filter((a) => this.editor.isEditable(a)).map((a) => a.id));
  }

  /** Shapes wholly inside the rectangle, editable ones only. */
  idsInRect(r: { x: number; y: number; w: number; h: number }): number[] {
    return this.editor
      .ordered()
      .filter((a) => this.editor.isEditable(a) && insideRect(geometryBBox(a.geometry), r))
      .map((a) => a.id);
  }
}

/** The selection after picking `ids` in `mode`: replacing it, adding to it, or toggling each id. */
export function combine(current: readonly number[], ids: readonly number[], mode: SelectMode): number[] {
  if (mode === 'replace') return [...new Set(ids)];
  if (mode === 'add') return [...current, ...[...new Set(ids)].filter((id) => !current.includes(id))];
  const next = current.filter((id) => !ids.includes(id));
  for (const id of new Set(ids)) if (!current.includes(id)) next.push(id);
  return next;
}
