import type { ImageDetail, ImageListItem } from '../../src-main/common/model';
import { call, errorMessage } from '../bridge';
import type { DatasetState } from './dataset.svelte';
import { baseName } from './format';

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

  readonly fileProblem = $derived.by((): ViewerProblem | null => {
    const d = this.detail;
    if (!d || d.fileState === 'ok') return null;
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

  constructor(
    private readonly dataset: DatasetState,
    private readonly onError: (e: unknown) => void,
    /** Another image is shown, or none: status messages about the last one are stale. */
    private readonly onContextChange: () => void = () => {},
  ) {}

  get active(): boolean {
    return this.index !== null;
  }

  async open(index: number): Promise<void> {
    const token = ++this.navToken;
    const item = await this.dataset.getItem(index);
    if (token !== this.navToken || !item) return;
    if (item.id !== this.item?.id) this.onContextChange();
    this.index = index;
    this.item = item;
    this.detail = null;
    this.loadError = null;
    this.ready = false;
    try {
      const detail = await call('images:get', { id: item.id });
      if (token === this.navToken) this.detail = detail;
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

  setLoadError(imageId: number, e: unknown): void {
    if (this.item?.id === imageId) this.loadError = errorMessage(e);
  }

  close(): void {
    this.navToken++;
    if (this.index !== null) this.onContextChange();
    if (this.index !== null) this.dataset.returnTo(this.index);
    this.index = null;
    this.item = null;
    this.detail = null;
    this.loadError = null;
    this.zoom = null;
    this.ready = false;
  }
}
