import type { ImageDetail, ImageListItem } from '../../src-main/common/model';
import type { StackInfo } from '../../src-main/common/stacks';
import { call, errorMessage } from '../bridge';
import type { DatasetState } from './dataset.svelte';
import { baseName } from './format';
import { rememberOpenImage } from './session';

/** How long frame stepping pauses before the frame shown is remembered for the image. */
export const VIEWED_FRAME_DELAY_MS = 300;

export interface ViewerProblem {
  title: string;
  message: string;
}

/** Which image of the filtered list is open in the viewer, and how it is shown. */
export class ViewerState {
  /** Position in the filtered list; null while the grid is shown. */
  index = $state<number | null>(null);
  item = $state.raw<ImageListItem | null>(null);
  detail = $state.raw<ImageDetail | null>(null);
  loadError = $state<string | null>(null);
  zoom = $state<number | null>(null);
  /** Image-pixel position under the pointer, null when it is outside the viewer. */
  pointer = $state.raw<{ x: number; y: number } | null>(null);
  /** The current image is loaded and drawn. */
  ready = $state(false);
  /** The frame shown of a multi-frame image (DICOM frames, TIFF pages), from 0. */
  frame = $state(0);
  /** The frame whose pixels are on screen (null while one is loading). */
  shownFrame = $state<number | null>(null);
  /**
   * The open image is shown from its tile pyramid, which is built from the first frame only:
   * its other frames cannot be shown, so it counts as one frame (no frame bar, no frame keys).
   */
  tiled = $state(false);
  /**
   * The stack the open image is a slice of (a DICOM series or numbered sequence of files), with
   * its slices in order; null for an image in no stack. `slice` is the open image's position.
   */
  stack = $state.raw<{ info: StackInfo; members: ImageListItem[] } | null>(null);
  slice = $state(0);

  readonly fileProblem = $derived.by((): ViewerProblem | null => {
    const d = this.detail;
    if (!d || d.fileState === 'ok') return null;
    if (d.fileState === 'not_allowed') {
      return {
        title: 'Folder not allowed',
        message: `${d.path} lies outside the dataset's folder, in a folder you have not allowed this dataset to read. Allow it from the notice above the grid if you trust this dataset.`,
      };
    }
    if (d.fileState === 'missing') {
      return {
        title: 'File missing',
        message: `${d.path} is no longer on disk. It was moved, renamed or deleted after it was imported.`,
      };
    }
    return {
      title: 'File changed',
      message: `${d.path} has changed on disk since it was imported, so existing annotations may not match it. Restore the original file or import the new one.`,
    };
  });

  readonly problem = $derived.by((): ViewerProblem | null => {
    if (this.fileProblem) return this.fileProblem;
    if (this.loadError) return { title: 'Cannot show this image', message: this.loadError };
    return null;
  });

  readonly fileName = $derived(this.item ? baseName(this.item.path) : '');

  // Navigation is asynchronous (a page may need fetching); only the latest request may land.
  private navToken = 0;
  /** The frame to remember for an image, written once stepping pauses (see setFrame). */
  private frameWrite: { id: number; frame: number; timer: ReturnType<typeof setTimeout> } | null = null;
  /** The slice to remember for a stack, written like the frame (see setSlice). */
  private sliceWrite: { stackId: number; imageId: number; timer: ReturnType<typeof setTimeout> } | null = null;

  constructor(
    private readonly dataset: DatasetState,
    private readonly onError: (e: unknown) => void,
    /** Another image is shown, or none: status messages about the last one are stale. */
    private readonly onContextChange: () => void = () => {},
  ) {}

  get active(): boolean {
    return this.index !== null;
  }

  /** Opens the grid item at `index`; a stack opens on `sliceImageId`, else on the slice last viewed. */
  async open(index: number, sliceImageId?: number): Promise<void> {
    const token = ++this.navToken;
    this.flushViewedFrame();
    const tile = await this.dataset.getItem(index);
    if (token !== this.navToken || !tile) return;
    let item = tile;
    let stack: ViewerState['stack'] = null;
    let slice = 0;
    if (tile.stack) {
      try {
        const s = await call('stacks:get', { id: tile.stack.id });
        stack = { info: s.stack, members: s.members };
        slice = Math.max(0, s.members.findIndex((m) => m.id === (sliceImageId ?? s.viewedImageId)));
        item = s.members[slice] ?? tile;
      } catch {
        // The stack could not be read: its tile's own slice, as a single image.
      }
      if (token !== this.navToken) return;
    }
    // A multi-frame image opens on the frame last viewed, so its pixels and shapes load once.
    let frame = 0;
    if (item.frames > 1) {
      try {
        frame = await call('images:viewedFrame', { id: item.id });
      } catch {
        // The remembered frame could not be read: the first frame, which is always there.
      }
      if (token !== this.navToken) return;
    }
    if (item.id !== this.item?.id) {
      this.onContextChange();
      rememberOpenImage(item.id);
    }
    this.index = index;
    this.stack = stack;
    this.slice = slice;
    this.item = item;
    this.frame = Math.min(frame, item.frames - 1);
    this.shownFrame = null;
    this.tiled = false;
    this.detail = null;
    this.loadError = null;
    this.ready = false;
    await this.loadDetail(token, item);
  }

  private async loadDetail(token: number, item: ImageListItem): Promise<void> {
    try {
      const detail = await call('images:get', { id: item.id });
      if (token !== this.navToken) return;
      this.detail = detail;
      // The grid's thumbnail of a file found changed or missing says so too, not the old pixels.
      if (detail.fileState !== 'ok') this.dataset.thumbProblems.set(detail.id, detail.fileState);
    } catch (e) {
      if (token === this.navToken) this.onError(e);
    }
  }

  next(): void {
    const total = this.dataset.total;
    if (this.index === null || total === null || this.index + 1 >= total) return;
    void this.open(this.index + 1);
  }

  previous(): void {
    if (this.index === null || this.index <= 0) return;
    void this.open(this.index - 1);
  }

  /** Frames of the open image that can be shown (1 for ordinary images and those shown from tiles). */
  get frames(): number {
    return this.tiled ? 1 : Math.max(1, this.item?.frames ?? 1);
  }

  /**
   * Shows another frame of the open image (clamped to the image's frames) and remembers it in
   * the dataset, so coming back to the image shows it again. Returns whether the frame changed.
   * Stepping through frames writes the frame once it pauses for VIEWED_FRAME_DELAY_MS (or the
   * image is left), not once per step.
   */
  setFrame(frame: number): boolean {
    const item = this.item;
    if (!item) return false;
    const f = Math.max(0, Math.min(this.frames - 1, Math.round(frame)));
    if (f === this.frame) return false;
    this.frame = f;
    this.rememberFrame(item.id, f);
    return true;
  }

  /**
   * The image is shown from its tile pyramid (see `tiled`): back on its first frame, which is
   * what is shown; the remembered frame stays as it was.
   */
  setTiled(imageId: number): void {
    if (this.item?.id !== imageId || this.tiled) return;
    this.tiled = true;
    if (this.frameWrite?.id === imageId) {
      clearTimeout(this.frameWrite.timer);
      this.frameWrite = null;
    }
    this.frame = 0;
  }

  private rememberFrame(id: number, frame: number): void {
    if (this.frameWrite) clearTimeout(this.frameWrite.timer);
    this.frameWrite = { id, frame, timer: setTimeout(() => this.flushViewedFrame(), VIEWED_FRAME_DELAY_MS) };
  }

  /** Writes the frame waiting to be remembered now (the image is left, the viewer closes). */
  flushViewedFrame(): void {
    this.flushViewedSlice();
    const w = this.frameWrite;
    if (!w) return;
    clearTimeout(w.timer);
    this.frameWrite = null;
    call('images:setViewedFrame', { id: w.id, frame: w.frame }).catch((e: unknown) => this.onError(e));
  }

  /** Steps frames of the open image; past its first or last frame, slices of its stack. */
  stepFrame(by: number): boolean {
    if (this.setFrame(this.frame + by)) return true;
    return this.setSlice(this.slice + by);
  }

  /** Slices of the open stack (1 for an image in no stack). */
  get slices(): number {
    return this.stack?.members.length ?? 1;
  }

  /**
   * Shows another slice of the open stack (clamped): that image, its own shapes and pixels, in
   * the same view; the slice is remembered for the stack, and as the open image (rememberOpenImage),
   * once stepping pauses, like frames.
   */
  setSlice(k: number): boolean {
    const s = this.stack;
    if (!s || this.index === null) return false;
    const i = Math.max(0, Math.min(s.members.length - 1, Math.round(k)));
    if (i === this.slice) return false;
    const token = ++this.navToken;
    this.flushViewedFrame();
    const item = s.members[i]!;
    this.onContextChange();
    // The slice left keeps what changed while it was open (its status), for stepping back to it.
    const left = this.item;
    if (left && s.members[this.slice]?.id === left.id) this.stack = { ...s, members: s.members.map((m, k) => (k === this.slice ? left : m)) };
    this.slice = i;
    this.item = item;
    this.frame = 0;
    this.shownFrame = null;
    this.tiled = false;
    this.detail = null;
    this.loadError = null;
    this.ready = false;
    if (this.sliceWrite) clearTimeout(this.sliceWrite.timer);
    this.sliceWrite = { stackId: s.info.id, imageId: item.id, timer: setTimeout(() => this.flushViewedSlice(), VIEWED_FRAME_DELAY_MS) };
    void this.loadDetail(token, item);
    return true;
  }

  private flushViewedSlice(): void {
    const w = this.sliceWrite;
    if (!w) return;
    clearTimeout(w.timer);
    this.sliceWrite = null;
    call('stacks:setViewed', { id: w.stackId, imageId: w.imageId }).catch((e: unknown) => this.onError(e));
    // The open image is the slice shown, so a reload or restart comes back to this slice.
    rememberOpenImage(w.imageId);
  }

  setLoadError(imageId: number, e: unknown): void {
    if (this.item?.id === imageId) this.loadError = errorMessage(e);
  }

  close(): void {
    this.navToken++;
    this.flushViewedFrame();
    if (this.index !== null) this.onContextChange();
    if (this.index !== null) this.dataset.returnTo(this.index);
    if (this.index !== null) rememberOpenImage(null);
    this.index = null;
    this.item = null;
    this.detail = null;
    this.loadError = null;
    this.zoom = null;
    this.ready = false;
    this.frame = 0;
    this.shownFrame = null;
    this.tiled = false;
    this.stack = null;
    this.slice = 0;
  }
}
