import type { SamInspection, SamModelEntry } from '../../src-main/common/segment';
import { call, errorCode, errorMessage } from '../bridge';
import { app as appState, type AppState } from './app.svelte';
import { JobTracker } from './job.svelte';
import { sam as samState, type SamState } from './sam.svelte';

/**
 * The model panel's segmentation (SAM-family) section: downloading a shipped pair, and inspecting
 * and adding a custom encoder/decoder pair. The list itself is the segment tool's (SamState), so
 * what the panel shows and what the tool's selector offers never differ; each download or add
 * reads it again and chooses the new model in the tool.
 */
export class SamModelsState {
  /** The model whose two files are being downloaded, if any. */
  downloading = $state<string | null>(null);
  /** Why the last download failed, shown in full under that model. */
  downloadError = $state.raw<{ id: string; text: string } | null>(null);
  readonly downloadJob: JobTracker;

  // The add-a-pair dialog.
  dialogOpen = $state(false);
  encoder = $state('');
  decoder = $state('');
  inspection = $state.raw<SamInspection | null>(null);
  /** The paths the inspection was made of: Add sends exactly those. */
  private inspected: { encoder: string; decoder: string } | null = null;
  added = $state.raw<SamModelEntry | null>(null);
  dialogError = $state<string | null>(null);
  busy = $state(false);

  constructor(
    private readonly app: AppState,
    private readonly sam: SamState,
  ) {
    this.downloadJob = new JobTracker('sam-model-download', (t) => this.app.say(t, 'error'));
  }

  get models(): SamModelEntry[] {
    return this.sam.models;
  }

  /** The segment tool's model. */
  get chosenId(): string | null {
    return this.sam.modelId;
  }

  get listError(): string | null {
    return this.sam.listError;
  }

  async refresh(): Promise<void> {
    try {
      await this.sam.loadModels(true);
    } catch {
      // The segment tool's state keeps the reason (listError), which the section shows.
    }
  }

  /** Fetches both files of a shipped pair, then makes it the segment tool's model. */
  async download(id: string): Promise<void> {
    if (this.downloading) return;
    this.downloading = id;
    this.downloadError = null;
    try {
      const entry = await this.downloadJob.run((jobId) => call('segment:download', { jobId, id }));
      await this.refresh();
      this.sam.choose(entry.manifest.id);
      this.app.say(`Downloaded ${entry.manifest.name}`);
    } catch (e) {
      if (errorCode(e) === 'CANCELLED') this.app.say('Download cancelled; nothing was kept');
      else {
        this.downloadError = { id, text: errorMessage(e) };
        this.app.fail(e);
      }
    } finally {
      this.downloading = null;
    }
  }

  // ---- adding a custom pair -----------------------------------------------------------------

  openDialog(): void {
    this.dialogOpen = true;
    this.inspection = null;
    this.inspected = null;
    this.added = null;
    this.dialogError = null;
  }

  closeDialog(): void {
    this.dialogOpen = false;
  }

  async browse(part: 'encoder' | 'decoder'): Promise<void> {
    const picked = await this.app.pick('files', `Choose the ${part} (.onnx)`);
    if (!picked?.[0]) return;
    this[part] = picked[0];
    // A changed file makes the last inspection stale.
    this.inspection = null;
    this.inspected = null;
  }

  /** Forgets the inspection when a path is edited, so Add never sends files that were not inspected. */
  edited(): void {
    this.inspection = null;
    this.inspected = null;
    this.added = null;
  }

  private async step(work: () => Promise<void>): Promise<void> {
    this.busy = true;
    this.dialogError = null;
    try {
      await work();
    } catch (e) {
      this.dialogError = errorMessage(e);
    } finally {
      this.busy = false;
    }
  }

  inspect(): Promise<void> {
    const pair = { encoder: this.encoder.trim(), decoder: this.decoder.trim() };
    this.inspection = null;
    this.inspected = null;
    this.added = null;
    return this.step(async () => {
      this.inspection = await call('segment:inspect', pair);
      this.inspected = pair;
    });
  }

  /** Adds the inspected pair with the manifest proposed for it, then chooses it in the segment tool. */
  add(): Promise<void> {
    const pair = this.inspected;
    if (!pair || !this.inspection?.proposed) return Promise.resolve();
    return this.step(async () => {
      const added = await call('segment:add', pair);
      await this.refresh();
      this.sam.choose(added.manifest.id);
      this.added = added;
      this.app.say(`Segmentation model added: ${added.manifest.name}`);
    });
  }
}

export const samModels = new SamModelsState(appState, samState);
