import type { EditOp, EditResult, HistoryState } from '../../../src-main/common/editing';
import type { AnnotationRecord } from '../../../src-main/common/model';
import { errorCodeOf, messageOf } from '../backend';
import type { Editor } from '../Editor';
import type { SceneShape } from '../scene';

/** A user action on its way to the backend, or one that failed and waits for a retry. */
export interface PendingAction {
  imageId: number;
  label: string;
  ops: EditOp[];
  /**
   * What to select once it is stored: the created shapes, the shapes a drawing tool just
   * finished ('drawn': shown selected, but not a selection the class keys relabel), or the ids.
   */
  select: 'created' | 'drawn' | readonly number[] | null;
  /** How the action looks while it is in flight (drawn on the overlay). */
  live: readonly SceneShape[];
  error: string | null;
}

export const NO_HISTORY: HistoryState = { canUndo: false, canRedo: false, undoLabel: null, redoLabel: null };
/** Codes for which sending the same action again cannot succeed. */
const FINAL_CODES = new Set(['INVALID_GEOMETRY', 'INVALID_ARGUMENT', 'STALE_EDIT', 'NOT_FOUND', 'NO_DATASET_OPEN', 'READ_ONLY', 'LEASED', 'FORBIDDEN']);

/**
 * Saving and the journal: every completed user action is one `edit` call on the backend, sent in
 * order; undo and redo step the backend's per-image journal.
 *
 * Saving is pessimistic: the document changes only once the backend has stored an action,
 * from the records it returns. While the call is in flight the action is drawn on the overlay,
 * so nothing flickers; if it fails the document is untouched and the action is kept for
 * `retryPending()` (or `discardPending()`).
 */
export class HistoryManager {
  /** The undo and redo buttons' state for the open image. */
  state: HistoryState = NO_HISTORY;
  /** Failed actions waiting for a retry, oldest first. */
  pending: PendingAction[] = [];
  private inFlight: PendingAction[] = [];
  private queue: Promise<unknown> = Promise.resolve();
  /** Jobs (edits, undo and redo steps) queued or running; the history state is refreshed after each. */
  private queued = 0;

  /** Whether an edit or a step is still on its way, so the undo/redo state shown may be about to change. */
  get settling(): boolean {
    return this.queued > 0;
  }

  constructor(private readonly editor: Editor) {}

  /** How the actions in flight look (drawn on the overlay until answered). */
  liveShapes(): SceneShape[] {
    return this.inFlight.flatMap((p) => p.live);
  }

  /** Ids of stored shapes that an action in flight draws live instead. */
  liveIds(): number[] {
    const docs = this.editor.annotations;
    return this.inFlight.flatMap((p) => p.live.map((s) => s.id)).filter((id) => docs.has(id));
  }

  /** Waits until every action sent so far has been answered (tests and shutdown). */
  async idle(): Promise<void> {
    let q: Promise<unknown>;
    do {
      q = this.queue;
      await q;
    } while (q !== this.queue);
  }

  /** Sends one user action as one edit. Resolves with the result, or null when it was not stored. */
  commit(
    label: string,
    ops: EditOp[],
    opts: { select?: 'created' | 'drawn' | readonly number[] | null; live?: readonly SceneShape[] } = {},
  ): Promise<EditResult | null> {
    const image = this.editor.image;
    if (!image || ops.length === 0) return Promise.resolve(null);
    if (this.editor.readOnly) {
      this.editor.refuse(`${label} was not saved: this image is view only`);
      return Promise.resolve(null);
    }
    if (this.pending.length > 0) {
      this.editor.refuse(`Not saved: "${this.pending[0]!.label}" is waiting to be saved. Retry or discard it first.`);
      return Promise.resolve(null);
    }
    const action: PendingAction = { imageId: image.id, label, ops, select: opts.select ?? null, live: opts.live ?? [], error: null };
    this.inFlight.push(action);
    this.editor.emitHidden();
    this.editor.refreshOverlay();
    return this.enqueue(() => this.send(action));
  }

  private enqueue<T>(job: () => Promise<T>): Promise<T> {
    this.queued++;
    if (this.queued === 1) this.editor.events.emit('change');
    const run = this.queue.then(job).finally(() => {
      this.queued--;
      // The last job answered: whoever shows "saving" learns it is over.
      if (this.queued === 0) this.editor.events.emit('change');
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async send(action: PendingAction): Promise<EditResult | null> {
    const ed = this.editor;
    // An earlier action failed while this one waited: it may depend on it, so it waits too.
    if (this.pending.length > 0 && !this.pending.includes(action)) {
      this.settle(action);
      action.error = 'an earlier change was not saved';
      this.pending.push(action);
      ed.events.emit('change');
      return null;
    }
    let result: EditResult;
    try {
      result = await ed.backend.edit(action.imageId, action.label, action.ops);
    } catch (e) {
      this.settle(action);
      const code = errorCodeOf(e);
      if (code !== null && FINAL_CODES.has(code)) {
        ed.refuse(`${action.label} was refused: ${messageOf(e)}`);
        // The dataset moved on under us (another window, a restored backup): show what it holds.
        if (code === 'STALE_EDIT' || code === 'NOT_FOUND') await ed.reloadIf(action.imageId);
      } else {
        action.error = messageOf(e);
        this.pending.push(action);
        ed.refuse(`Not saved: ${action.label}: ${action.error}. Retry to save it.`);
      }
      ed.events.emit('change');
      return null;
    }
    this.settle(action);
    if (ed.image?.id === action.imageId) {
      ed.apply(result);
      if (action.select === 'created') ed.select(result.created);
      else if (action.select === 'drawn') {
        ed.select(result.created);
        ed.selectionManager.drawn = true;
      } else if (action.select) ed.select(action.select);
      await this.refresh();
    }
    return result;
  }

  /** Takes an action off the overlay once it has been answered. */
  private settle(action: PendingAction): void {
    this.inFlight = this.inFlight.filter((a) => a !== action);
    this.editor.emitHidden();
    this.editor.refreshOverlay();
  }

  /** Sends the failed actions again, in order; those that fail again stay pending. */
  retryPending(): Promise<void> {
    const actions = this.pending;
    if (actions.length === 0) return Promise.resolve();
    this.pending = [];
    for (const a of actions) a.error = null;
    this.inFlight.push(...actions.filter((a) => a.imageId === this.editor.image?.id));
    this.editor.events.emit('change');
    return this.enqueue(async () => {
      for (const [i, a] of actions.entries()) {
        const r = await this.send(a);
        if (!r && this.pending.length > 0) {
          // Keep the rest behind the one that failed again.
          for (const rest of actions.slice(i + 1)) {
            this.settle(rest);
            rest.error = 'an earlier change was not saved';
            this.pending.push(rest);
          }
          break;
        }
      }
      if (this.pending.length === 0) this.editor.say('Saved');
      this.editor.events.emit('change');
    });
  }

  discardPending(): void {
    if (this.pending.length === 0) return;
    const n = this.pending.length;
    this.pending = [];
    this.editor.say(n === 1 ? 'Discarded the unsaved change' : `Discarded ${n} unsaved changes`);
    this.editor.events.emit('change');
  }

  /** Fetches the undo and redo state of the open image again. */
  async refresh(): Promise<void> {
    const ed = this.editor;
    const id = ed.image?.id;
    if (id === undefined) return;
    try {
      const h = await ed.backend.history(id);
      if (ed.image?.id === id) {
        this.state = h;
        ed.events.emit('change');
      }
    } catch {
      // The buttons stay as they were; the next action refreshes them again.
    }
  }

  step(which: 'undo' | 'redo'): Promise<void> {
    const ed = this.editor;
    if (!ed.image) return Promise.resolve();
    if (ed.readOnly) {
      ed.refuse(`Nothing to ${which}: this image is view only`);
      return Promise.resolve();
    }
    if (this.pending.length > 0) {
      ed.refuse(`"${this.pending[0]!.label}" is not saved yet: retry or discard it before ${which === 'undo' ? 'undoing' : 'redoing'}.`);
      return Promise.resolve();
    }
    ed.cancelGesture();
    const imageId = ed.image.id;
    return this.enqueue(async () => {
      let r: EditResult | null;
      try {
        r = which === 'undo' ? await ed.backend.undo(imageId) : await ed.backend.redo(imageId);
      } catch (e) {
        ed.refuse(`${which === 'undo' ? 'Undo' : 'Redo'} failed: ${messageOf(e)}`);
        return;
      }
      if (ed.image?.id !== imageId) return;
      if (!r) {
        ed.say(which === 'undo' ? 'Nothing to undo' : 'Nothing to redo');
      } else {
        // History is per image: a step may change shapes of a frame not on screen; say which.
        const touched = [...r.changed, ...r.deleted.map((id) => ed.annotations.get(id)).filter((a): a is AnnotationRecord => a !== undefined)];
        const frames = new Set(touched.filter((a) => a.kind !== 'tag').map((a) => a.frame));
        ed.apply(r);
        const elsewhere = frames.size > 0 && !frames.has(ed.frame) ? ` (on frame ${[...frames].map((f) => f + 1).join(', ')})` : '';
        ed.say(`${which === 'undo' ? 'Undid' : 'Redid'}: ${r.label}${elsewhere}`);
      }
      await this.refresh();
    });
  }
}
