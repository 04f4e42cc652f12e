import type { AppInfo, DatasetSummary, RecentDataset } from '../../src-main/common/model';
import { call, errorMessage } from '../bridge';
import { DatasetState } from './dataset.svelte';
import { ExportState } from './export.svelte';
import { ImportState } from './import.svelte';
import { ViewerState } from './viewer.svelte';

export type Screen = 'loading' | 'start' | 'dataset';
export type PickPurpose = 'createDataset' | 'openDataset' | 'folder' | 'files';

export interface StatusMessage {
  text: string;
  kind: 'info' | 'error';
  at: number;
}

/** How long a status message stays (ms): errors longer, so they can be read. A newer message or another image replaces it sooner. */
export const MESSAGE_MS = { info: 8_000, error: 30_000 } as const;

/** The window's UI state; one instance, shared by all components. */
export class AppState {
  info = $state.raw<AppInfo | null>(null);
  screen = $state<Screen>('loading');
  recent = $state.raw<RecentDataset[]>([]);
  /** Last error or job message, for the status line; it expires (MESSAGE_MS) and is dropped when another image opens. */
  message = $state.raw<StatusMessage | null>(null);
  private messageTimer: ReturnType<typeof setTimeout> | null = null;

  readonly dataset = new DatasetState((e) => this.fail(e));
  readonly importer = new ImportState({
    onFinished: () => void this.dataset.refresh(),
    onMessage: (text, kind) => this.say(text, kind),
  });
  readonly exporter = new ExportState({
    onSplitsChanged: () => void this.dataset.refresh(),
    onMessage: (text, kind) => this.say(text, kind),
  });
  readonly viewer = new ViewerState(
    this.dataset,
    (e) => this.fail(e),
    () => this.clearMessage(),
  );

  get nativeDialogs(): boolean {
    return this.info?.nativeDialogs ?? false;
  }

  say(text: string, kind: 'info' | 'error' = 'info'): void {
    const m: StatusMessage = { text, kind, at: Date.now() };
    this.message = m;
    if (this.messageTimer !== null) clearTimeout(this.messageTimer);
    this.messageTimer = setTimeout(() => {
      this.messageTimer = null;
      if (this.message === m) this.message = null;
    }, MESSAGE_MS[kind]);
  }

  /** Drops the status message: what it said belongs to a context that is gone (another image, the grid). */
  clearMessage(): void {
    if (this.messageTimer !== null) clearTimeout(this.messageTimer);
    this.messageTimer = null;
    this.message = null;
  }

  fail(e: unknown): void {
    this.say(errorMessage(e), 'error');
  }

  async init(): Promise<void> {
    try {
      const [info, current] = await Promise.all([call('app:info', {}), call('dataset:current', {})]);
      this.info = info;
      if (current) {
        await this.enter(current);
        return;
      }
    } catch (e) {
      this.fail(e);
    }
    this.screen = 'start';
    await this.loadRecent();
  }

  async loadRecent(): Promise<void> {
    try {
      this.recent = await call('dataset:recent', {});
    } catch (e) {
      this.fail(e);
    }
  }

  /** Throws on failure so the form that asked can show the reason next to itself. */
  async createDataset(path: string, root?: string): Promise<void> {
    const summary = await call('dataset:create', root ? { path, root } : { path });
    await this.enter(summary);
    this.say(`Created ${summary.path}`);
  }

  /** Throws on failure, like createDataset. */
  async openDataset(path: string): Promise<void> {
    const summary = await call('dataset:open', { path });
    await this.enter(summary);
    this.say(`Opened ${summary.path}`);
  }

  async closeDataset(): Promise<void> {
    if (this.importer.running) {
      this.say('Cancel or wait for the running import before closing the dataset.', 'error');
      return;
    }
    if (this.exporter.running || this.exporter.assigning) {
      this.say('Cancel or wait for the running export before closing the dataset.', 'error');
      return;
    }
    try {
      await call('dataset:close', {});
    } catch (e) {
      this.fail(e);
      return;
    }
    this.viewer.close();
    this.importer.hide();
    this.exporter.hide();
    this.dataset.close();
    this.screen = 'start';
    this.clearMessage();
    await this.loadRecent();
  }

  /** Opens the image at `index` of the filtered list; a finished import's report makes way for it. */
  /** Opens the grid item at `index`; for a stack, on the slice `imageId` when given. */
  openImage(index: number, imageId?: number): void {
    if (this.importer.open && !this.importer.running && this.importer.phase === 'done') this.importer.hide();
    void this.viewer.open(index, imageId);
  }

  /** A native file dialog; null when cancelled or where there are none (browser mode). */
  async pick(purpose: PickPurpose, title?: string): Promise<string[] | null> {
    if (!this.nativeDialogs) return null;
    try {
      return await call('dialog:pick', title ? { purpose, title } : { purpose });
    } catch (e) {
      this.fail(e);
      return null;
    }
  }

  private async enter(summary: DatasetSummary): Promise<void> {
    this.viewer.close();
    this.importer.hide();
    this.screen = 'dataset';
    await this.dataset.open(summary);
  }
}

export const app = new AppState();
