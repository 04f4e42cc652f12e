import { geometryBBox, type Rect } from '../../src-main/common/geometry/shapes';
import type { CommentRecord } from '../../src-main/common/model';
import type { CommentPin } from '../canvas/commentPins';
import { call } from '../bridge';
import { app, type AppState } from './app.svelte';
import { editorState, type EditorState } from './editor.svelte';

const AUTHOR_KEY = 'tessera.commentAuthor';

function storedAuthor(): string {
  try {
    return localStorage.getItem(AUTHOR_KEY) ?? '';
  } catch {
    return '';
  }
}

/** Where a new comment goes: a stored shape, or a point of a frame (image pixels). */
export interface CommentDraft {
  imageId: number;
  frame: number;
  annotationId: number | null;
  x: number;
  y: number;
}

/**
 * Comments pinned on the open image (shapes or points), and the dataset's open comments for the
 * review overview. `Shift+C` comments on the selected shape or, with nothing selected, waits for
 * a click on the image (`placing`); the text is typed in the side panel (`draft`).
 */
export class CommentsState {
  /** The image whose comments `items` holds. */
  imageId = $state<number | null>(null);
  /** Comments of the open image, replies included, oldest first. */
  items = $state.raw<CommentRecord[]>([]);
  /** Waiting for a click on the image to place a point comment. */
  placing = $state(false);
  draft = $state.raw<CommentDraft | null>(null);
  text = $state('');
  busy = $state(false);
  /** The comment picked in the list (its marker is highlighted). */
  active = $state<number | null>(null);
  showResolved = $state(false);
  /** The name comments are signed with, remembered on this computer; empty: the backend's user name. */
  author = $state(storedAuthor());
  /** Open comments across the dataset (the review overview); null until asked for. */
  overview = $state.raw<CommentRecord[] | null>(null);
  /** The viewer's zoom to an area of the image, while a viewer is shown. */
  zoomTo: ((r: Rect) => void) | null = null;

  private loadToken = 0;

  constructor(
    private readonly app: AppState,
    private readonly es: EditorState,
  ) {
    es.ctx.comments = { add: () => this.start() };
  }

  setAuthor(name: string): void {
    this.author = name;
    try {
      if (name.trim()) localStorage.setItem(AUTHOR_KEY, name.trim());
      else localStorage.removeItem(AUTHOR_KEY);
    } catch {
      // Not remembered: storage is unavailable.
    }
  }

  private signed(): { author?: string } {
    const a = this.author.trim();
    return a ? { author: a } : {};
  }

  /** Top-level comments of the open image, open ones first unless resolved ones are hidden. */
  get threads(): CommentRecord[] {
    return this.items.filter((c) => c.parentId === null && (this.showResolved || c.resolvedAt === null));
  }

  get openCount(): number {
    return this.items.filter((c) => c.parentId === null && c.resolvedAt === null).length;
  }

  replies(id: number): CommentRecord[] {
    return this.items.filter((c) => c.parentId === id);
  }

  /** Where a comment's marker goes now: on its shape (which may have moved) while it exists, else its stored point. */
  anchor(c: CommentRecord): { x: number; y: number } {
    const a = c.annotationId !== null ? this.es.editor.annotations.get(c.annotationId) : undefined;
    if (!a) return { x: c.x, y: c.y };
    const b = geometryBBox(a.geometry);
    return { x: b.x + b.w, y: b.y };
  }

  /** Markers of the shown frame's comments (reactive through the editor's tick). */
  pins(frame: number): CommentPin[] {
    void this.es.tick;
    const out: CommentPin[] = this.threads
      .filter((c) => c.frame === frame)
      .map((c) => ({ id: c.id, ...this.anchor(c), open: c.resolvedAt === null, active: c.id === this.active }));
    const d = this.draft;
    if (d && d.frame === frame && d.imageId === this.imageId) out.push({ id: 0, x: d.x, y: d.y, open: true, active: true });
    return out;
  }

  async load(imageId: number | null): Promise<void> {
    const token = ++this.loadToken;
    if (imageId !== this.imageId) {
      this.cancel();
      this.active = null;
      this.items = [];
    }
    this.imageId = imageId;
    if (imageId === null) return;
    try {
      const items = await call('comments:list', { imageId });
      if (token === this.loadToken) this.items = items;
    } catch (e) {
      if (token === this.loadToken) this.app.fail(e);
    }
  }

  /** Shift+C: the selected stored shape gets the comment; without one, the next click on the image places it. */
  start(): void {
    const imageId = this.app.viewer.item?.id;
    if (imageId === undefined) return;
    const frame = this.app.viewer.frame;
    const shapes = this.es.editor.selectedRecords.filter((a) => a.id > 0);
    if (shapes.length === 1) {
      const a = shapes[0]!;
      const b = geometryBBox(a.geometry);
      this.placing = false;
      this.draft = { imageId, frame, annotationId: a.id, x: b.x + b.w, y: b.y };
      return;
    }
    this.draft = null;
    this.placing = true;
    this.app.say('Click on the image where the comment goes (Esc cancels)');
  }

  /** A point comment at this place of the image (image pixels), e.g. where the right-click menu was opened. */
  startAt(x: number, y: number): void {
    this.draft = null;
    this.placing = true;
    this.place(x, y);
  }

  /** The click that places a point comment (image pixels). */
  place(x: number, y: number): void {
    const item = this.app.viewer.item;
    if (!this.placing || !item) return;
    this.placing = false;
    const cx = Math.max(0, Math.min(item.width, x));
    const cy = Math.max(0, Math.min(item.height, y));
    this.draft = { imageId: item.id, frame: this.app.viewer.frame, annotationId: null, x: cx, y: cy };
  }

  cancel(): void {
    this.placing = false;
    this.draft = null;
    this.text = '';
  }

  async submit(): Promise<void> {
    const d = this.draft;
    if (!d || !this.text.trim() || this.busy) return;
    this.busy = true;
    try {
      const c = await call(
        'comments:add',
        d.annotationId !== null
          ? { imageId: d.imageId, frame: d.frame, annotationId: d.annotationId, body: this.text, ...this.signed() }
          : { imageId: d.imageId, frame: d.frame, x: d.x, y: d.y, body: this.text, ...this.signed() },
      );
      this.draft = null;
      this.text = '';
      this.active = c.id;
      await this.changed(d.imageId);
    } catch (e) {
      this.app.fail(e);
    } finally {
      this.busy = false;
    }
  }

  async reply(parentId: number, body: string): Promise<boolean> {
    const imageId = this.imageId;
    if (imageId === null || !body.trim()) return false;
    try {
      await call('comments:add', { imageId, parentId, body, ...this.signed() });
      await this.changed(imageId);
      return true;
    } catch (e) {
      this.app.fail(e);
      return false;
    }
  }

  async resolve(c: CommentRecord, resolved: boolean): Promise<void> {
    try {
      await call('comments:resolve', { id: c.id, resolved, ...this.signed() });
      await this.changed(c.imageId);
    } catch (e) {
      this.app.fail(e);
    }
  }

  async remove(c: CommentRecord): Promise<void> {
    try {
      await call('comments:delete', { id: c.id });
      if (this.active === c.id) this.active = null;
      await this.changed(c.imageId);
    } catch (e) {
      this.app.fail(e);
    }
  }

  /** Shows a comment of the open image: its frame, its shape selected, the view on it. */
  focus(c: CommentRecord): void {
    this.active = c.id;
    const v = this.app.viewer;
    if (v.item?.id !== c.imageId) return;
    v.setFrame(c.frame);
    const shape = c.annotationId !== null ? this.es.editor.annotations.get(c.annotationId) : undefined;
    if (shape) {
      this.es.editor.select([shape.id]);
      this.zoomTo?.(geometryBBox(shape.geometry));
    } else {
      this.zoomTo?.({ x: c.x - 16, y: c.y - 16, w: 32, h: 32 });
    }
  }

  /** Opens the image of a comment from the overview (keeping the grid's filter when it holds the image) and shows the comment. */
  async openFrom(c: CommentRecord): Promise<void> {
    const ds = this.app.dataset;
    try {
      let index = await call('images:locate', { id: c.imageId, filter: ds.filter });
      if (index === null) {
        ds.setFilter({});
        index = await call('images:locate', { id: c.imageId, filter: {} });
      }
      if (index === null) return;
      this.active = c.id;
      this.pendingFocus = c.id;
      await this.app.viewer.open(index, c.imageId);
    } catch (e) {
      this.app.fail(e);
    }
  }

  /** A comment to show once its image's comments and shapes are loaded (from the overview). */
  pendingFocus: number | null = null;

  /** Shows the comment waiting to be shown, if it is on the open image; once the image is drawn. */
  focusPending(): void {
    const id = this.pendingFocus;
    if (id === null) return;
    const c = this.items.find((x) => x.id === id);
    if (!c) return;
    this.pendingFocus = null;
    this.focus(c);
  }

  async loadOverview(): Promise<void> {
    try {
      this.overview = await call('comments:open', {});
    } catch (e) {
      this.app.fail(e);
    }
  }

  hideOverview(): void {
    this.overview = null;
  }

  /** After a change on an image: its comments, the grid's count and the overview follow. */
  private async changed(imageId: number): Promise<void> {
    if (imageId === this.imageId) await this.load(imageId);
    const open = this.imageId === imageId ? this.openCount : null;
    const v = this.app.viewer;
    const stack = v.stack && v.item?.id === imageId && v.stack.members.some((m) => m.id === imageId) ? v.stack.info.id : null;
    if (open !== null && stack !== null) {
      // A slice's tile is its stack's, counting every slice: it moves by this slice's change.
      const delta = open - v.item!.openComments;
      if (delta !== 0) this.app.dataset.updateStackTile(stack, (t) => ({ openComments: Math.max(0, t.openComments + delta) }));
    } else if (open !== null) this.app.dataset.updateItem(imageId, { openComments: open });
    if (open !== null && v.item?.id === imageId) v.item = { ...v.item, openComments: open };
    if (this.overview !== null) await this.loadOverview();
  }
}

export const comments = new CommentsState(app, editorState);
