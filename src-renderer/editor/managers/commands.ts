import type { AnnotationDraft, AnnotationPatch, EditOp, EditResult } from '../../../src-main/common/editing';
import type { AnnotationRecord, AttributeValue, Geometry } from '../../../src-main/common/model';
import { validateGeometry } from '../../../src-main/common/geometry/shapes';
import type { Editor } from '../Editor';
import { convertGeometry, fillMaskHoles, translateGeometry, type ConvertTarget } from '../masks';

/** Commands on the selected shapes that each make one edit: stacking order, class, attributes, tags, conversions. */
export class ShapeCommands {
  constructor(private readonly editor: Editor) {}

  deleteSelected(): Promise<EditResult | null> {
    const ed = this.editor;
    const sel = ed.editableSelection();
    if (sel.length === 0) return Promise.resolve(ed.nothingSelected('shapes to delete'));
    const label = sel.length === 1 ? `Delete ${sel[0]!.kind}` : `Delete ${sel.length} shapes`;
    return ed.commit(label, sel.map((a) => ({ op: 'delete', id: a.id })), { select: [] });
  }

  /** Moves shapes by (dx, dy) image pixels, as one edit. */
  moveShapes(ids: readonly number[], dx: number, dy: number): Promise<EditResult | null> {
    const ed = this.editor;
    const recs = ids.map((id) => ed.annotations.get(id)).filter((a): a is AnnotationRecord => a !== undefined && ed.isEditable(a));
    if (!ed.image || recs.length === 0 || (dx === 0 && dy === 0)) return Promise.resolve(null);
    const ops: EditOp[] = recs.map((a) => ({
      op: 'update',
      id: a.id,
      patch: { geometry: translateGeometry(a.geometry, dx, dy) },
      baseVersion: a.version,
    }));
    const live = ops.map((o, i) => ({ ...ed.toScene(recs[i]!), geometry: (o as { patch: AnnotationPatch }).patch.geometry! }));
    return ed.commit(recs.length === 1 ? `Move ${recs[0]!.kind}` : `Move ${recs.length} shapes`, ops, { live });
  }

  /** Replaces one shape's geometry (a vertex drag, a resize, a painted stroke). */
  updateGeometry(id: number, geometry: Geometry, label: string): Promise<EditResult | null> {
    const ed = this.editor;
    const a = ed.annotations.get(id);
    if (!a) return Promise.resolve(null);
    if (!ed.accept(geometry)) return Promise.resolve(null);
    return ed.commit(label, [{ op: 'update', id, patch: { geometry }, baseVersion: a.version }], {
      live: [{ ...ed.toScene(a), geometry }],
    });
  }

  /** Creates a shape of the active class (a drawing tool finishing its gesture). */
  create(geometry: Geometry, label: string): Promise<EditResult | null> {
    const ed = this.editor;
    if (!ed.accept(geometry)) return Promise.resolve(null);
    const z = this.topZ() + 1;
    const draft: AnnotationDraft = { classId: ed.activeClassId, geometry, frame: ed.frame, z, attributes: this.defaultAttributes(ed.activeClassId) };
    return ed.commit(label, [{ op: 'create', draft }], {
      select: 'drawn',
      live: [{ id: -1, geometry, color: ed.colorOf(ed.activeClassId), prediction: false, flagged: false, z }],
    });
  }

  defaultAttributes(classId: number | null): Record<string, AttributeValue> {
    const ed = this.editor;
    const out: Record<string, AttributeValue> = {};
    for (const d of ed.classById(classId)?.attributes ?? []) if (d.default !== undefined) out[d.name] = d.default;
    return out;
  }

  topZ(): number {
    const ed = this.editor;
    let z = 0;
    for (const a of ed.annotations.values()) z = Math.max(z, a.z);
    return z;
  }

  bottomZ(): number {
    let z = 0;
    for (const a of this.editor.annotations.values()) z = Math.min(z, a.z);
    return z;
  }

  bringToFront(): Promise<EditResult | null> {
    const ed = this.editor;
    const sel = ed.editableSelection().sort((a, b) => a.z - b.z || a.id - b.id);
    if (sel.length === 0) return Promise.resolve(ed.nothingSelected('shapes'));
    let z = ed.topZ();
    const ops: EditOp[] = sel.map((a) => ({ op: 'update', id: a.id, patch: { z: ++z }, baseVersion: a.version }));
    return ed.commit('Bring to front', ops);
  }

  sendToBack(): Promise<EditResult | null> {
    const ed = this.editor;
    const sel = ed.editableSelection().sort((a, b) => b.z - a.z || b.id - a.id);
    if (sel.length === 0) return Promise.resolve(ed.nothingSelected('shapes'));
    let z = this.bottomZ();
    const ops: EditOp[] = sel.map((a) => ({ op: 'update', id: a.id, patch: { z: --z }, baseVersion: a.version }));
    return ed.commit('Send to back', ops);
  }

  setClassOfSelection(classId: number | null): Promise<EditResult | null> {
    const ed = this.editor;
    const sel = ed.editableSelection().filter((a) => a.classId !== classId);
    if (sel.length === 0) return Promise.resolve(null);
    const name = ed.classById(classId)?.name ?? 'no class';
    const ops: EditOp[] = sel.map((a) => ({ op: 'update', id: a.id, patch: { classId }, baseVersion: a.version }));
    const what = sel.length === 1 ? `${sel[0]!.kind.charAt(0).toUpperCase()}${sel[0]!.kind.slice(1)} #${sel[0]!.id}` : `${sel.length} shapes`;
    return ed.commit(`Set class ${name}`, ops).then((r) => {
      if (r) ed.say(`${what} relabelled to ${name}`);
      return r;
    });
  }

  /**
   * Keys 1-9 pick the class the next shape is drawn with. Shapes the user selected (a click, a
   * rectangle, Ctrl+A) are relabelled to it too, and the status line says so; the shape a drawing
   * tool just finished is not such a selection, so drawing one shape after another of different
   * classes never relabels the previous one.
   */
  pickClassByIndex(index: number): Promise<EditResult | null> {
    const ed = this.editor;
    const c = ed.classes[index];
    if (!c) {
      ed.say(`There is no class ${index + 1}`, 'error');
      return Promise.resolve(null);
    }
    ed.activeClassId = c.id;
    ed.events.emit('change');
    if (!ed.selectionManager.drawn && ed.editableSelection().some((a) => a.classId !== c.id)) return ed.setClassOfSelection(c.id);
    ed.dropDrawnOfOtherClass();
    ed.say(`Drawing class: ${c.name}`);
    return Promise.resolve(null);
  }

  setAttribute(id: number, name: string, value: AttributeValue): Promise<EditResult | null> {
    const ed = this.editor;
    const a = ed.annotations.get(id);
    if (!a || !ed.isEditable(a)) return Promise.resolve(null);
    if (a.attributes[name] === value) return Promise.resolve(null);
    return ed.commit(`Set ${name}`, [{ op: 'update', id, patch: { attributes: { ...a.attributes, [name]: value } }, baseVersion: a.version }]);
  }

  /** Adds or removes an image-level tag of the class. */
  toggleTag(classId: number): Promise<EditResult | null> {
    const ed = this.editor;
    const have = ed.tags.filter((t) => t.classId === classId);
    const name = ed.classById(classId)?.name ?? 'tag';
    if (have.length > 0) return ed.commit(`Remove tag ${name}`, have.map((t) => ({ op: 'delete', id: t.id })));
    return ed.commit(`Tag ${name}`, [{ op: 'create', draft: { classId, geometry: { kind: 'tag' }, attributes: ed.defaultAttributes(classId) } }]);
  }

  /** Replaces the selected shapes by another kind, keeping class, attributes and z (one edit). */
  convertSelection(target: ConvertTarget, tolerancePx: number): Promise<EditResult | null> {
    const ed = this.editor;
    const sel = ed.editableSelection();
    if (!ed.image || sel.length === 0) return Promise.resolve(ed.nothingSelected('shapes to convert'));
    const image = ed.image;
    const ops: EditOp[] = [];
    const problems: string[] = [];
    for (const a of sel) {
      const g = convertGeometry(a.geometry, target, image, tolerancePx);
      if (typeof g === 'string') {
        problems.push(g);
        continue;
      }
      const why = validateGeometry(g, image);
      if (why) {
        problems.push(why);
        continue;
      }
      // A box from a shape is a new shape next to it; polygon and mask conversions replace it.
      if (target !== 'box') ops.push({ op: 'delete', id: a.id });
      ops.push({ op: 'create', draft: { classId: a.classId, geometry: g, frame: a.frame, attributes: a.attributes, z: target === 'box' ? ed.topZ() + 1 + ops.length : a.z } });
    }
    if (problems.length) ed.refuse(`Not converted: ${problems[0]}`);
    if (ops.length === 0) return Promise.resolve(null);
    const label = target === 'box' ? 'Box from shape' : `Convert to ${target}`;
    return ed.commit(label, ops, { select: 'created' });
  }

  /** Fills the holes of the selected masks. */
  fillHolesOfSelection(): Promise<EditResult | null> {
    const ed = this.editor;
    const masks = ed.editableSelection().filter((a) => a.geometry.kind === 'mask');
    if (masks.length === 0) return Promise.resolve(ed.nothingSelected('a mask'));
    const ops: EditOp[] = [];
    for (const a of masks) {
      const g = fillMaskHoles(a.geometry as Extract<Geometry, { kind: 'mask' }>);
      if (g) ops.push({ op: 'update', id: a.id, patch: { geometry: g }, baseVersion: a.version });
    }
    if (ops.length === 0) {
      ed.say('The mask has no holes');
      return Promise.resolve(null);
    }
    return ed.commit('Fill holes', ops);
  }
}
