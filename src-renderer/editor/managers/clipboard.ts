import type { AnnotationDraft, EditOp, EditResult } from '../../../src-main/common/editing';
import type { AnnotationRecord } from '../../../src-main/common/model';
import { geometryBBox, validateGeometry } from '../../../src-main/common/geometry/shapes';
import type { Editor } from '../Editor';
import { translateGeometry } from '../masks';

/** Duplicates land this far (image pixels) from the original so they are seen as new shapes. */
const DUPLICATE_OFFSET = 10;

export interface ClipboardContent {
  imageId: number;
  size: { width: number; height: number };
  items: AnnotationDraft[];
}

export function drafts(recs: readonly AnnotationRecord[]): AnnotationDraft[] {
  return recs.map((a) => ({ classId: a.classId, geometry: a.geometry, frame: a.frame, attributes: a.attributes, z: a.z }));
}

/** Copy, paste and duplicate. */
export class ClipboardManager {
  content: ClipboardContent | null = null;

  constructor(private readonly editor: Editor) {}

  duplicateSelected(): Promise<EditResult | null> {
    const ed = this.editor;
    const sel = ed.selectedRecords.filter((a) => ed.isVisible(a) && a.kind !== 'tag');
    if (!ed.image || sel.length === 0) return Promise.resolve(ed.nothingSelected('shapes to duplicate'));
    let z = ed.topZ();
    const ops: EditOp[] = drafts(sel).map((d) => ({
      op: 'create',
      draft: { ...d, geometry: translateGeometry(d.geometry, DUPLICATE_OFFSET, DUPLICATE_OFFSET), z: ++z },
    }));
    return ed.commit(sel.length === 1 ? `Duplicate ${sel[0]!.kind}` : `Duplicate ${sel.length} shapes`, ops, { select: 'created' });
  }

  copySelected(): boolean {
    const ed = this.editor;
    const sel = ed.selectedRecords.filter((a) => a.kind !== 'tag');
    if (!ed.image || sel.length === 0) {
      ed.nothingSelected('shapes to copy');
      return false;
    }
    this.content = { imageId: ed.image.id, size: { width: ed.image.width, height: ed.image.height }, items: drafts(sel) };
    ed.say(sel.length === 1 ? 'Copied 1 shape' : `Copied ${sel.length} shapes`);
    ed.events.emit('change');
    return true;
  }

  /**
   * Pastes the clipboard: on the image it came from, offset like a duplicate; on another image,
   * at the same pixel position (images of a series are usually aligned). Masks need an image of
   * the same size; shapes falling wholly outside the image are left out and counted.
   */
  paste(): Promise<EditResult | null> {
    const ed = this.editor;
    const clip = this.content;
    if (!ed.image || !clip || clip.items.length === 0) {
      ed.say('Nothing to paste', 'error');
      return Promise.resolve(null);
    }
    const image = ed.image;
    const offset = clip.imageId === image.id ? DUPLICATE_OFFSET : 0;
    let z = ed.topZ();
    const ops: EditOp[] = [];
    let skipped = 0;
    for (const d of clip.items) {
      if (d.geometry.kind === 'mask' && (clip.size.width !== image.width || clip.size.height !== image.height)) {
        skipped++;
        continue;
      }
      const g = translateGeometry(d.geometry, offset, offset);
      const bb = geometryBBox(g);
      if (bb.x > image.width || bb.y > image.height || bb.x + bb.w < 0 || bb.y + bb.h < 0 || validateGeometry(g, image)) {
        skipped++;
        continue;
      }
      const classId = d.classId !== null && ed.classById(d.classId) ? d.classId : null;
      // Pasted onto the frame being edited, wherever it was copied from.
      ops.push({ op: 'create', draft: { ...d, classId, geometry: g, frame: ed.frame, z: ++z } });
    }
    if (skipped) ed.say(`${skipped} shape${skipped === 1 ? '' : 's'} did not fit this image and ${skipped === 1 ? 'was' : 'were'} not pasted`, 'error');
    if (ops.length === 0) return Promise.resolve(null);
    return ed.commit(ops.length === 1 ? 'Paste shape' : `Paste ${ops.length} shapes`, ops, { select: 'created' });
  }
}
