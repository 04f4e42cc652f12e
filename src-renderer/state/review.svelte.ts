import type { ImageStatus, ReviewVerdict } from '../../src-main/common/model';
import { call } from '../bridge';
import { app, type AppState } from './app.svelte';
import { editorState, type EditorState } from './editor.svelte';

const JUDGEABLE: readonly ImageStatus[] = ['done', 'reviewed', 'rejected'];

/**
 * Image review: a verdict (reviewed, or rejected with a comment) on the image open in the viewer,
 * and a review mode that walks the done images of the grid's filter one by one, moving on after
 * each verdict. The keys live in the editor's action registry; their effects are here.
 */
export class ReviewState {
  /** Review mode: a verdict moves on to the next done image. */
  active = $state(false);
  /** The image the open rejection comment box is about; null while no box is open. */
  commentFor = $state<number | null>(null);
  comment = $state('');
  busy = $state(false);
  /** Done images left in the filter, while reviewing. */
  remaining = $state<number | null>(null);

  constructor(
    private readonly app: AppState,
    es: EditorState,
  ) {
    es.ctx.verdict = {
      canJudge: () => this.canJudge,
      accept: () => void this.judge('reviewed'),
      reject: () => this.beginReject(),
    };
  }

  /** The rejection comment box is open, for the image on screen. */
  get commenting(): boolean {
    return this.commentFor !== null && this.commentFor === this.app.viewer.item?.id;
  }

  get canJudge(): boolean {
    const item = this.app.viewer.item;
    return !this.busy && item !== null && JUDGEABLE.includes(item.status);
  }

  /** Enters review mode at the first done image of the grid's filter. */
  async start(): Promise<void> {
    const r = await this.findDone(undefined);
    if (r === undefined) return;
    if (r === null) {
      this.app.say('No done images to review in this view');
      return;
    }
    this.active = true;
    this.closeComment();
    await this.app.viewer.open(r.index, r.id);
    await this.countRemaining();
  }

  stop(): void {
    this.active = false;
    this.remaining = null;
    this.closeComment();
  }

  beginReject(): void {
    const item = this.app.viewer.item;
    if (!item || !this.canJudge) return;
    const detail = this.app.viewer.detail;
    this.comment = detail?.id === item.id ? (detail.reviewComment ?? '') : '';
    this.commentFor = item.id;
  }

  closeComment(): void {
    this.commentFor = null;
    this.comment = '';
  }

  /** Rejects the image the box was opened for; a box left open while another image came up is only closed. */
  async confirmReject(): Promise<void> {
    if (!this.commenting) {
      this.closeComment();
      return;
    }
    await this.judge('rejected', this.comment);
  }

  /** The next done image after the open one, leaving this one as it is. */
  async skip(): Promise<void> {
    this.closeComment();
    await this.advance();
  }

  async judge(verdict: ReviewVerdict, comment?: string): Promise<void> {
    const v = this.app.viewer;
    const item = v.item;
    if (!item || !this.canJudge) return;
    this.busy = true;
    try {
      const r = await call('images:review', comment?.trim() ? { id: item.id, verdict, comment } : { id: item.id, verdict });
      this.closeComment();
      if (v.item?.id === item.id) {
        v.item = { ...v.item, status: r.status };
        if (v.detail?.id === item.id) v.detail = { ...v.detail, status: r.status, reviewComment: r.reviewComment };
      }
      const said = verdict === 'reviewed' ? 'Image accepted' : 'Image rejected';
      this.app.say(said);
      // Statuses shown by the grid and its counts are out of date now.
      await this.app.dataset.refresh();
      if (this.active) await this.advance(said);
    } catch (e) {
      this.app.fail(e);
    } finally {
      this.busy = false;
    }
  }

  /** To the next done image; `note` (the verdict just given) is said again there, as opening it clears the status line. */
  private async advance(note?: string): Promise<void> {
    const r = await this.findDone(this.app.viewer.item?.id);
    if (r === undefined) return;
    if (r === null || r.id === this.app.viewer.item?.id) {
      await this.countRemaining();
      this.app.say(this.remaining === 0 ? 'No done images left to review' : 'No other done image to review');
      return;
    }
    await this.app.viewer.open(r.index, r.id);
    if (note) this.app.say(note);
    await this.countRemaining();
  }

  /** undefined when the call failed (already reported). */
  private async findDone(afterId: number | undefined): Promise<{ id: number; index: number } | null | undefined> {
    try {
      return await call('images:findNext', afterId === undefined ? { filter: this.app.dataset.filter, want: 'done' } : { filter: this.app.dataset.filter, afterId, want: 'done' });
    } catch (e) {
      this.app.fail(e);
      return undefined;
    }
  }

  private async countRemaining(): Promise<void> {
    try {
      const { status: _any, ...rest } = this.app.dataset.filter;
      this.remaining = await call('images:count', { filter: { ...rest, status: 'done' } });
    } catch (e) {
      this.app.fail(e);
    }
  }
}

export const review = new ReviewState(app, editorState);
