import { SvelteMap } from 'svelte/reactivity';
import type { ClassRecord, DatasetSummary, FileState, ImageFilter, ImageListItem } from '../../src-main/common/model';
import { call } from '../bridge';
import { versionView } from './versions.svelte';

export const PAGE_SIZE = 200;

export type ThumbProblem = Exclude<FileState, 'ok'> | 'unreadable';

/**
 * The open dataset as the grid and viewer see it: the current filter, how many images match,
 * and the pages of the filtered list fetched so far. Pages are fetched on demand and kept, so a
 * dataset of any size costs only what has been scrolled past.
 */
export class DatasetState {
  summary = $state<DatasetSummary | null>(null);
  filter = $state.raw<ImageFilter>({});
  /** Images matching the filter; null while being counted. */
  total = $state<number | null>(null);
  classes = $state.raw<ClassRecord[]>([]);
  /** Why a thumbnail failed to load, by image id, so re-rendered cells do not retry. */
  readonly thumbProblems = new SvelteMap<number, ThumbProblem>();
  /** Grid position to bring into view (and focus, when `focusAnchor`) when the grid is shown again. */
  gridAnchor = $state(0);
  focusAnchor = $state(false);

  private readonly pages = new SvelteMap<number, ImageListItem[]>();
  private readonly inflight = new Map<number, Promise<ImageListItem[] | null>>();
  // Bumped whenever the list changes meaning, so answers to older requests are dropped.
  private generation = 0;

  constructor(private readonly onError: (e: unknown) => void) {}

  get name(): string {
    return this.summary?.name ?? '';
  }

  /** Starts working on a freshly opened dataset. */
  async open(summary: DatasetSummary): Promise<void> {
    this.summary = summary;
    this.filter = {};
    this.gridAnchor = 0;
    this.focusAnchor = false;
    await this.refresh();
  }

  close(): void {
    this.summary = null;
    this.generation++;
    this.pages.clear();
    this.inflight.clear();
    this.thumbProblems.clear();
    this.total = null;
    this.classes = [];
  }

  /** Coming back from the viewer: the grid shows and focuses the image last viewed. */
  returnTo(index: number): void {
    this.gridAnchor = index;
    this.focusAnchor = true;
  }

  setFilter(filter: ImageFilter): void {
    this.filter = filter;
    this.gridAnchor = 0;
    this.focusAnchor = false;
    void this.refresh();
  }

  /** Drops everything cached and counts again, e.g. after an import or a filter change. */
  async refresh(): Promise<void> {
    const gen = ++this.generation;
    this.pages.clear();
    this.inflight.clear();
    this.thumbProblems.clear();
    this.total = null;
    const filter = this.filter;
    try {
      // While a version is open read-only, its own classes name and colour its shapes.
      const version = versionView.current;
      const [total, classes] = await Promise.all([call('images:count', { filter }), version ? call('versions:classes', { number: version.number }) : call('classes:list', {})]);
      if (gen !== this.generation) return;
      this.total = total;
      this.classes = classes;
    } catch (e) {
      if (gen === this.generation) this.onError(e);
    }
  }

  /** Gives an image of the fetched pages its current media address (e.g. after its file was touched). */
  updateMedia(id: number, media: string): void {
    for (const [page, items] of this.pages) {
      const i = items.findIndex((it) => it.id === id);
      if (i < 0) continue;
      const next = items.slice();
      next[i] = { ...items[i]!, media };
      this.pages.set(page, next);
      return;
    }
  }

  /** Changes fields of an image of the fetched pages (e.g. its open comment count after a comment). */
  updateItem(id: number, patch: Partial<Omit<ImageListItem, 'id'>>): void {
    for (const [page, items] of this.pages) {
      const i = items.findIndex((it) => it.id === id);
      if (i < 0) continue;
      const next = items.slice();
      next[i] = { ...items[i]!, ...patch };
      this.pages.set(page, next);
      return;
    }
  }

  /** Changes fields of the grid tile of a stack in the fetched pages (its id is a cover slice's). */
  updateStackTile(stackId: number, patch: (tile: ImageListItem) => Partial<Omit<ImageListItem, 'id'>>): void {
    for (const [page, items] of this.pages) {
      const i = items.findIndex((it) => it.stack?.id === stackId);
      if (i < 0) continue;
      const next = items.slice();
      next[i] = { ...items[i]!, ...patch(items[i]!) };
      this.pages.set(page, next);
      return;
    }
  }

  /** The item at `index` in filter order if its page is already here (reactive). */
  itemAt(index: number): ImageListItem | undefined {
    return this.pages.get(Math.floor(index / PAGE_SIZE))?.[index % PAGE_SIZE];
  }

  /** Makes sure the pages covering [from, to] are fetched or on their way. */
  ensureRange(from: number, to: number): void {
    if (to < from) return;
    for (let p = Math.floor(from / PAGE_SIZE); p <= Math.floor(to / PAGE_SIZE); p++) void this.ensurePage(p);
  }

  /** The item at `index`, fetching its page if needed; null if out of range or on failure. */
  async getItem(index: number): Promise<ImageListItem | null> {
    if (index < 0 || (this.total !== null && index >= this.total)) return null;
    const page = await this.ensurePage(Math.floor(index / PAGE_SIZE));
    return page?.[index % PAGE_SIZE] ?? null;
  }

  private ensurePage(page: number): Promise<ImageListItem[] | null> {
    const have = this.pages.get(page);
    if (have) return Promise.resolve(have);
    const running = this.inflight.get(page);
    if (running) return running;
    const gen = this.generation;
    const filter = this.filter;
    const p = call('images:list', { filter, offset: page * PAGE_SIZE, limit: PAGE_SIZE })
      .then(({ items }) => {
        if (gen !== this.generation) return null;
        this.pages.set(page, items);
        return items;
      })
      .catch((e: unknown) => {
        if (gen === this.generation) this.onError(e);
        return null;
      })
      .finally(() => {
        // Only forget our own request: a refresh may already have started a new one.
        if (this.inflight.get(page) === p) this.inflight.delete(page);
      });
    this.inflight.set(page, p);
    return p;
  }
}
