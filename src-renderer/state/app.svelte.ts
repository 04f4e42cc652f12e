import type { AppInfo, DatasetSummary, RecentDataset } from '../../src-main/common/model';
import { call, errorMessage } from '../bridge';
import { DatasetState } from './dataset.svelte';
import { ExportState } from './export.svelte';
import { ImportState } from './import.svelte';
import { ViewerState } from './viewer.svelte';
import { openImageToRestore, rememberOpenImage } from './session';

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
    // The frame stepped to just before a reload is written now rather than after its pause.
    window.addEventListener('pagehide', () => this.viewer.flushViewedFrame());
    try {
      const [info, current] = await Promise.all([call('app:info', {}), call('dataset:current', {})]);
      this.info = info;
      if (current) {
        await this.enter(current);
        await this.restoreImage(true);
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
    await this.restoreImage(false);
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

  /**
   * Back to the image that was open (on its remembered frame) when the page was reloaded
   * (`reload`: the URL hash), or, in the desktop app, when the dataset was last left with an image
   * open; the grid, with a message, when that image is gone.
   */
  private async restoreImage(reload: boolean): Promise<void> {
    try {
      const open = await openImageToRestore({ fromHash: reload, fromDataset: this.info?.mode === 'electron' });
      if (!open || this.screen !== 'dataset' || this.viewer.active) return;
      if (open.index === null) {
        this.say(`The image that was open (id ${open.id}) is no longer in the dataset`, 'error');
        rememberOpenImage(null);
        return;
      }
      await this.viewer.open(open.index, open.id);
    } catch (e) {
      this.fail(e);
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
