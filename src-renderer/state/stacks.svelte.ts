import { call, errorMessage } from '../bridge';
import { app } from './app.svelte';
import type { EditorState } from './editor.svelte';

/** "one undo step" on one image, or one on each image written to. */
function undoText(images: number): string {
  return images === 1 ? 'one undo step' : `one undo step on each of the ${images} slices`;
}

/**
 * Shapes across slices: propagation (copy the selection to the next N slices) and interpolation
 * (a box or polygon between two key slices), for the frames of a multi-frame image and the slices
 * of a stack. The backend writes one edit per image; what was done is said in the status line.
 */
export class SliceEdits {
  /** The "how many slices" box is open. */
  asking = $state(false);
  /** The count last used, offered again. */
  count = $state(1);

  constructor(private readonly es: EditorState) {}

  private unit(): string {
    return app.viewer.stack ? 'slice' : 'frame';
  }

  private selectedIds(kinds?: readonly string[]): number[] {
    return this.es.editor.selectedRecords.filter((a) => a.id > 0 && a.kind !== 'tag' && (!kinds || kinds.includes(a.kind))).map((a) => a.id);
  }

  askPropagate(): void {
    if (this.selectedIds().length > 0) this.asking = true;
  }

  cancel(): void {
    this.asking = false;
  }

  /** Copies the selected shapes to the next `count` slices (or frames). */
  async propagate(count: number): Promise<void> {
    this.asking = false;
    const v = app.viewer;
    const item = v.item;
    const ids = this.selectedIds();
    if (!item || ids.length === 0 || !Number.isInteger(count) || count < 1) return;
    this.count = count;
    try {
      const r = await call('stacks:propagate', { imageId: item.id, frame: v.frame, ids, count });
      const unit = this.unit();
      const what = ids.length === 1 ? '1 shape' : `${ids.length} shapes`;
      app.say(`${what} copied to the next ${r.slices === 1 ? unit : `${r.slices} ${unit}s`} (${undoText(r.images)})`);
      this.after(item.id, r.shapes);
    } catch (e) {
      app.say(errorMessage(e), 'error');
    }
  }

  /** Interpolates the selected box or polygon towards the nearest key slice of its class. */
  async interpolate(): Promise<void> {
    const v = app.viewer;
    const item = v.item;
    const ids = this.selectedIds(['box', 'polygon']);
    if (!item) return;
    if (ids.length !== 1) {
      app.say('Select one box or polygon to interpolate', 'error');
      return;
    }
    try {
      const r = await call('stacks:interpolate', { imageId: item.id, id: ids[0]! });
      const unit = this.unit();
      app.say(`Interpolated on ${r.slices} ${r.slices === 1 ? unit : `${unit}s`} between ${unit}s ${r.from + 1} and ${r.to + 1} (${undoText(r.images)})`);
      this.after(item.id, r.shapes);
    } catch (e) {
      app.say(errorMessage(e), 'error');
    }
  }

  private after(openId: number, shapes: readonly { imageId: number }[]): void {
    this.es.noteOutsideEdit();
    // Frames of the open image received shapes: the editor reads them (and their undo step) again.
    if (shapes.some((s) => s.imageId === openId) && app.viewer.item?.id === openId) void this.es.reload();
  }
}
