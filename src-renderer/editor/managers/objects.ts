import type { AnnotationRecord } from '../../../src-main/common/model';
import { geometryArea } from '../../../src-main/common/geometry/shapes';
import type { Editor } from '../Editor';

/** The orders the object list offers: stacking order (z, then id), class order, area (smallest first), score (highest first). */
export type ObjectSort = 'z' | 'class' | 'area' | 'score';
export type ObjectSource = 'all' | 'human' | 'model';

/** One shape of the current frame as the object list shows it. */
export interface ObjectRow {
  readonly id: number;
  readonly record: AnnotationRecord;
  /** Image pixels², computed once per stored version of the shape. */
  readonly area: number;
}

/** How a click on a row changes the selection: that row alone, toggled in or out (Ctrl), or the range from the last clicked row (Shift). */
export type PickMode = 'replace' | 'toggle' | 'range';

/**
 * The object list: every shape of the current frame (human and predictions) in a chosen order,
 * filtered by source and class. Rows are made once per stored version of a shape (the area of a
 * mask decodes it), so a change re-sorts the existing rows instead of rebuilding them. Clicking a
 * row and Tab select through the list in its order and bring the shape into view.
 */
export class ObjectList {
  sort: ObjectSort = 'z';
  source: ObjectSource = 'all';
  /** Only shapes of this class; undefined for every class (null is "no class"). */
  classFilter: number | null | undefined = undefined;
  /** Bumped whenever `rows()` would answer differently (shapes, classes, order or filters changed). */
  version = 0;
  private readonly made = new WeakMap<AnnotationRecord, ObjectRow>();
  private cached: ObjectRow[] | null = null;
  private counts: Map<number | null, number> | null = null;
  /** The row a Shift+click extends from. */
  private anchor: number | null = null;

  constructor(private readonly editor: Editor) {
    // The scene event carries every shape (load, frame, classes, reorder); shapesChanged an edit's.
    editor.events.on('scene', () => this.invalidate());
    editor.events.on('shapesChanged', () => this.invalidate());
  }

  private invalidate(): void {
    this.cached = null;
    this.counts = null;
    this.version++;
  }

  setSort(sort: ObjectSort): void {
    if (sort === this.sort) return;
    this.sort = sort;
    this.invalidate();
    this.editor.events.emit('change');
  }

  setFilter(f: { source?: ObjectSource; classId?: number | null | undefined }): void {
    if (f.source !== undefined) this.source = f.source;
    if ('classId' in f) this.classFilter = f.classId;
    this.invalidate();
    this.editor.events.emit('change');
  }

  private row(a: AnnotationRecord): ObjectRow {
    let r = this.made.get(a);
    if (!r) {
      r = { id: a.id, record: a, area: geometryArea(a.geometry) };
      this.made.set(a, r);
    }
    return r;
  }

  /** The rows in list order (cached until something changes). */
  rows(): readonly ObjectRow[] {
    if (this.cached) return this.cached;
    const ed = this.editor;
    const rows: ObjectRow[] = [];
    // ordered() is z, then id: the default order, and the tie-break of the others (sort is stable).
    for (const a of ed.ordered()) {
      if (this.source === 'human' && a.source === 'model') continue;
      if (this.source === 'model' && a.source !== 'model') continue;
      if (this.classFilter !== undefined && a.classId !== this.classFilter) continue;
      rows.push(this.row(a));
    }
    if (this.sort === 'area') rows.sort((p, q) => p.area - q.area);
    else if (this.sort === 'score') rows.sort((p, q) => (q.record.score ?? -1) - (p.record.score ?? -1));
    else if (this.sort === 'class') {
      const rank = new Map(ed.classes.map((c, i) => [c.id, i]));
      rows.sort((p, q) => (rank.get(p.record.classId ?? -1) ?? Infinity) - (rank.get(q.record.classId ?? -1) ?? Infinity));
    }
    this.cached = rows;
    return rows;
  }

  /** Shapes per class on the current frame, every source (the list's class strip). */
  classCounts(): ReadonlyMap<number | null, number> {
    if (this.counts) return this.counts;
    const counts = new Map<number | null, number>();
    for (const a of this.editor.annotations.values()) if (a.kind !== 'tag' && a.frame === this.editor.frame) counts.set(a.classId, (counts.get(a.classId) ?? 0) + 1);
    this.counts = counts;
    return counts;
  }

  indexOf(id: number): number {
    return this.rows().findIndex((r) => r.id === id);
  }

  /**
   * A click on the row of `id`: selects as `mode` says and brings the shape into view. Hidden and
   * locked shapes cannot be selected; the status line says so and the view still goes to them.
   */
  pick(id: number, mode: PickMode = 'replace'): void {
    const ed = this.editor;
    const a = ed.annotations.get(id);
    if (!a) return;
    if (mode === 'range' && this.anchor !== null) {
      const rows = this.rows();
      const i = rows.findIndex((r) => r.id === this.anchor);
      const j = rows.findIndex((r) => r.id === id);
      if (i >= 0 && j >= 0) {
        const span = rows.slice(Math.min(i, j), Math.max(i, j) + 1).filter((r) => ed.isEditable(r.record));
        ed.select(
          span.map((r) => r.id),
          'replace',
        );
        ed.viewport.reveal([id]);
        return;
      }
    }
    this.anchor = id;
    if (!ed.isEditable(a)) {
      ed.say(ed.isVisible(a) ? `${label(a)} is locked: unlock it to select it` : `${label(a)} is hidden: show it to select it`, 'error');
      ed.viewport.reveal([id]);
      return;
    }
    ed.select([id], mode === 'toggle' ? 'toggle' : 'replace');
    ed.viewport.reveal([id]);
  }

  /**
   * Tab and Shift+Tab: selects the next (or previous) selectable shape in list order after the
   * last one selected, round the list, and brings it into view. Returns its id, or null when no
   * shape can be selected.
   */
  cycle(by: 1 | -1): number | null {
    const ed = this.editor;
    const rows = this.rows().filter((r) => ed.isEditable(r.record));
    if (rows.length === 0) return null;
    const last = ed.selection[ed.selection.length - 1];
    const at = last === undefined ? -1 : rows.findIndex((r) => r.id === last);
    const next = at < 0 ? (by > 0 ? 0 : rows.length - 1) : (at + by + rows.length) % rows.length;
    const id = rows[next]!.id;
    this.anchor = id;
    ed.select([id]);
    ed.viewport.reveal([id]);
    return id;
  }

  /** Whether Tab has a shape to select. */
  canCycle(): boolean {
    return this.editor.image !== null && this.rows().some((r) => this.editor.isEditable(r.record));
  }
}

function label(a: AnnotationRecord): string {
  return `${a.kind.charAt(0).toUpperCase()}${a.kind.slice(1)} #${a.id}`;
}
