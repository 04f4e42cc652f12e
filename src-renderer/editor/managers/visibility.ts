import type { AnnotationRecord } from '../../../src-main/common/model';
import type { Editor } from '../Editor';

/**
 * Which shapes are hidden or locked: per shape, per class, and predictions under the review
 * slider's threshold. This is state of the view, never stored; a locked shape cannot be selected
 * or changed until unlocked.
 */
export class VisibilityManager {
  readonly hiddenIds = new Set<number>();
  readonly lockedIds = new Set<number>();
  readonly hiddenClasses = new Set<number | null>();
  readonly lockedClasses = new Set<number | null>();
  /**
   * Predictions scoring below this are hidden (the review slider). Hiding rather than dropping
   * them keeps the document equal to the dataset, so raising the slider again shows them at once.
   */
  predictionThreshold = 0;

  constructor(private readonly editor: Editor) {}

  isVisible(a: AnnotationRecord): boolean {
    return this.editor.isOnFrame(a) && !this.hiddenIds.has(a.id) && !this.hiddenClasses.has(a.classId) && !this.belowThreshold(a);
  }

  isEditable(a: AnnotationRecord): boolean {
    return this.isVisible(a) && !this.isLocked(a);
  }

  /** Locked by itself or through its class. */
  isLocked(a: AnnotationRecord): boolean {
    return this.lockedIds.has(a.id) || this.lockedClasses.has(a.classId);
  }

  belowThreshold(a: AnnotationRecord): boolean {
    return a.source === 'model' && this.predictionThreshold > 0 && (a.score ?? 1) < this.predictionThreshold;
  }

  /** Ids not to draw on the static layer: hidden, or drawn live on the overlay (by the tool or an action in flight). */
  hiddenSet(): Set<number> {
    const ids = new Set<number>(this.editor.toolHost.liveIds);
    for (const a of this.editor.annotations.values()) if (!this.isVisible(a)) ids.add(a.id);
    for (const id of this.editor.edits.liveIds()) ids.add(id);
    return ids;
  }

  /** A new image: what was hidden or locked one by one belonged to the previous one. */
  forgetShapes(): void {
    this.hiddenIds.clear();
    this.lockedIds.clear();
  }

  /** Hides or shows shapes; hidden ones leave the selection. */
  setHidden(ids: readonly number[], hidden: boolean): void {
    if (ids.length === 0) return;
    for (const id of ids) {
      if (hidden) this.hiddenIds.add(id);
      else this.hiddenIds.delete(id);
    }
    if (hidden) this.editor.selectionManager.retain((a) => !ids.includes(a.id));
    this.changed(true);
  }

  /** Locks or unlocks shapes; locked ones leave the selection. */
  setLocked(ids: readonly number[], locked: boolean): void {
    if (ids.length === 0) return;
    for (const id of ids) {
      if (locked) this.lockedIds.add(id);
      else this.lockedIds.delete(id);
    }
    if (locked) this.editor.selectionManager.retain((a) => !ids.includes(a.id));
    this.changed(false);
  }

  toggleHiddenSelection(): void {
    const sel = this.editor.selection;
    if (sel.length === 0) {
      this.editor.say('Select shapes to hide first', 'error');
      return;
    }
    this.setHidden([...sel], sel.some((id) => !this.hiddenIds.has(id)));
  }

  toggleLockedSelection(): void {
    const sel = this.editor.selection;
    if (sel.length === 0) {
      this.editor.say('Select shapes to lock first', 'error');
      return;
    }
    const lock = sel.some((id) => !this.lockedIds.has(id));
    this.editor.say(lock ? 'Locked: the shapes cannot be selected or changed until unlocked' : 'Unlocked');
    this.setLocked([...sel], lock);
  }

  showAll(): void {
    this.hiddenIds.clear();
    this.hiddenClasses.clear();
    this.changed(true);
  }

  unlockAll(): void {
    this.lockedIds.clear();
    this.lockedClasses.clear();
    this.editor.events.emit('change');
  }

  setClassHidden(classId: number | null, hidden: boolean): void {
    if (hidden) this.hiddenClasses.add(classId);
    else this.hiddenClasses.delete(classId);
    this.editor.selectionManager.retain((a) => this.isVisible(a));
    this.changed(true);
  }

  setClassLocked(classId: number | null, locked: boolean): void {
    if (locked) this.lockedClasses.add(classId);
    else this.lockedClasses.delete(classId);
    this.editor.selectionManager.retain((a) => this.isEditable(a));
    this.changed(false);
  }

  setPredictionThreshold(t: number): void {
    if (!Number.isFinite(t)) return;
    this.predictionThreshold = Math.min(1, Math.max(0, t));
    this.editor.selectionManager.retain((a) => this.isVisible(a));
    this.changed(true);
  }

  private changed(drawn: boolean): void {
    if (drawn) this.editor.emitHidden();
    this.editor.refreshOverlay();
    this.editor.events.emit('change');
  }
}
