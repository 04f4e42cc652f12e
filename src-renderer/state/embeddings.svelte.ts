import type { EmbedJobSummary, EmbeddingModelChoice, StoredEmbeddingModel } from '../../src-main/common/embeddings';
import type { ImageFilter } from '../../src-main/common/model';
import { call, errorCode, errorMessage } from '../bridge';
import { app } from './app.svelte';
import { JobTracker } from './job.svelte';

export type EmbedScope = 'new' | 'all' | 'filtered';

/**
 * The Curate view's embeddings section: the embed models one can choose, the vectors the dataset
 * holds per model, and one compute job at a time (progress, ETA, Cancel).
 */
export class EmbeddingsState {
  available = $state.raw<EmbeddingModelChoice[]>([]);
  stored = $state.raw<StoredEmbeddingModel[]>([]);
  imageCount = $state(0);
  modelId = $state<string | null>(null);
  scope = $state<EmbedScope>('new');
  crops = $state(false);
  running = $state(false);
  downloading = $state<string | null>(null);
  summary = $state.raw<EmbedJobSummary | null>(null);
  error = $state<string | null>(null);
  readonly job: JobTracker;
  readonly downloadJob: JobTracker;

  constructor(
    private readonly say: (text: string, kind?: 'info' | 'error') => void,
    /** The grid's filter, for the "filtered" scope. */
    private readonly gridFilter: () => ImageFilter,
  ) {
    this.job = new JobTracker('embed', (t) => this.say(t, 'error'));
    this.downloadJob = new JobTracker('embed-download', (t) => this.say(t, 'error'));
  }

  get model(): EmbeddingModelChoice | null {
    return this.available.find((m) => m.id === this.modelId) ?? null;
  }

  async refresh(): Promise<void> {
    try {
      const r = await call('embeddings:models', {});
      this.available = r.available;
      this.stored = r.stored;
      this.imageCount = r.imageCount;
      if (this.modelId === null || !r.available.some((m) => m.id === this.modelId)) this.modelId = r.available.find((m) => m.downloaded)?.id ?? r.available[0]?.id ?? null;
    } catch (e) {
      this.error = errorMessage(e);
    }
  }

  /** The grid's filter as the channel takes it: a ranked list becomes its ids. */
  private filterArg(): ImageFilter {
    const { ranked, ...rest } = this.gridFilter();
    return ranked ? { ...rest, ids: rest.ids ? rest.ids.filter((i) => ranked.ids.includes(i)) : ranked.ids } : rest;
  }

  async start(): Promise<void> {
    const modelId = this.modelId;
    if (!modelId || this.running) return;
    this.running = true;
    this.error = null;
    this.summary = null;
    try {
      const images = this.scope === 'filtered' ? { filter: this.filterArg() } : this.scope;
      const s = await this.job.run((jobId) => call('embeddings:compute', { jobId, modelId, images, crops: this.crops }));
      this.summary = s;
      this.say(s.cancelled ? `Cancelled: ${s.computed} vectors kept` : `Embeddings: ${s.computed} images computed`);
    } catch (e) {
      this.error = errorMessage(e);
      this.say(this.error, 'error');
    } finally {
      this.running = false;
      await this.refresh();
    }
  }

  async download(id: string): Promise<void> {
    if (this.downloading) return;
    this.downloading = id;
    this.error = null;
    try {
      await this.downloadJob.run((jobId) => call('models:download', { jobId, id }));
      await this.refresh();
      this.modelId = id;
    } catch (e) {
      if (errorCode(e) === 'CANCELLED') this.say('Download cancelled; nothing was kept');
      else this.error = errorMessage(e);
    } finally {
      this.downloading = null;
    }
  }
}

/** The one embeddings section state: a job keeps running (and is followed) while the Curate view is closed. */
export const embeddings = new EmbeddingsState(
  (text, kind) => app.say(text, kind),
  () => app.dataset.filter,
);
