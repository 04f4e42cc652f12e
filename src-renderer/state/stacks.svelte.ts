import { call, errorMessage } from '../bridge';
import { app } from './app.svelte';
import type { EditorState } from './editor.svelte';
import { versionView } from './versions.svelte';

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

  /**
   * Waits for the edits still being saved, so the backend reads the shapes as they are on screen;
   * false (said in the status line) while an edit that failed to save waits to be retried or
   * discarded, as drawing is refused then.
   */
  private async saved(): Promise<boolean> {
    const ed = this.es.editor;
    await ed.idle();
    if (ed.pending.length > 0) {
      app.say(`Not done: "${ed.pending[0]!.label}" is waiting to be saved. Retry or discard it first.`, 'error');
      return false;
    }
    return true;
  }

  private selectedIds(kinds?: readonly string[]): number[] {
    return this.es.editor.selectedRecords.filter((a) => a.id > 0 && a.kind !== 'tag' && (!kinds || kinds.includes(a.kind))).map((a) => a.id);
  }

  askPropagate(): void {
    if (this.es.editor.selectedRecords.some((a) => a.kind !== 'tag')) this.asking = true;
  }

  cancel(): void {
    this.asking = false;
  }

  /** Copies the selected shapes to the next `count` slices (or frames). */
  async propagate(count: number): Promise<void> {
    this.asking = false;
    const v = app.viewer;
    const item = v.item;
    const frame = v.frame;
    if (!item || this.es.editor.selectedRecords.length === 0) return;
    if (!Number.isInteger(count) || count < 1) return;
    if (versionView.current) return void app.say(versionView.refusal().message, 'error');
    this.count = count;
    try {
      // Shapes still being saved get their ids first; the selection is read once they have.
      if (!(await this.saved()) || v.item?.id !== item.id || v.frame !== frame) return;
      const ids = this.selectedIds();
      if (ids.length === 0) return;
      const r = await call('stacks:propagate', { imageId: item.id, frame, ids, count });
      const unit = this.unit();
      const what = ids.length === 1 ? '1 shape' : `${ids.length} shapes`;
      app.say(`${what} copied to the next ${r.slices === 1 ? unit : `${r.slices} ${unit}s`} (${undoText(r.images)})`);
      this.after(item.id, r.shapes);
    } catch (e) {
      app.say(errorMessage(e), 'error');
    }
  }

  /** Interpolates the selected box or polygon towards the key shape of the same object on another slice. */
  async interpolate(): Promise<void> {
    const v = app.viewer;
    const item = v.item;
    if (!item) return;
    if (versionView.current) return void app.say(versionView.refusal().message, 'error');
    try {
      if (!(await this.saved()) || v.item?.id !== item.id) return;
      const ids = this.selectedIds(['box', 'polygon']);
      if (ids.length !== 1) {
        app.say('Select one box or polygon to interpolate', 'error');
        return;
      }
      const r = await call('stacks:interpolate', { imageId: item.id, id: ids[0]! });
      const unit = this.unit();
      const replaced = r.replaced === 0 ? '' : `, replacing ${r.replaced} interpolated ${r.replaced === 1 ? 'shape' : 'shapes'}`;
      app.say(`Interpolated on ${r.slices} ${r.slices === 1 ? unit : `${unit}s`} between ${unit}s ${r.from + 1} and ${r.to + 1}${replaced} (${undoText(r.images)})`);
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
