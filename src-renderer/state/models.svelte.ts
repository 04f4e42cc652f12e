import type { ModelInspection } from '../../src-main/common/contract';
import type { Provider } from '../../src-main/common/inference/types';
import { plural, prelabelSummaryText, type ClassMap, type ModelEntry, type PrelabelSummary, type TryResult, type UnfinishedRun } from '../../src-main/common/prelabel';
import { call, errorCode, errorMessage } from '../bridge';
import { app as appState, type AppState } from './app.svelte';
import { editorState, type EditorState } from './editor.svelte';
import { JobTracker } from './job.svelte';
import { versionView } from './versions.svelte';
import { team } from './team.svelte';

export type PrelabelScope = 'image' | 'all' | 'filtered' | 'unlabeled';

export interface ProviderChoice {
  id: Provider;
  label: string;
  enabled: boolean;
}

// Written out rather than imported: the renderer takes only types from the main process's modules.
// Only the CPU is on by default, as in the backend: the shipped runtime has no GPU providers, and
// trying them would warn on every run until the user sets one up and ticks it.
const DEFAULT_PROVIDERS: readonly ProviderChoice[] = [
  { id: 'cuda', label: 'CUDA', enabled: false },
  { id: 'dml', label: 'DirectML', enabled: false },
  { id: 'coreml', label: 'CoreML', enabled: false },
  { id: 'webgpu', label: 'WebGPU', enabled: false },
  { id: 'cpu', label: 'CPU', enabled: true },
];
const PROVIDERS_KEY = 'tessera.providers';

/**
 * The saved preference, completed with any provider it lacks (a newer app may know more) and
 * stripped of any it no longer knows, so a stale or hand-edited entry never breaks a run.
 */
function loadProviders(): ProviderChoice[] {
  let saved: unknown = null;
  try {
    saved = JSON.parse(localStorage.getItem(PROVIDERS_KEY) ?? 'null');
  } catch {
    saved = null;
  }
  const out: ProviderChoice[] = [];
  if (Array.isArray(saved)) {
    for (const s of saved as { id?: unknown; enabled?: unknown }[]) {
      const known = DEFAULT_PROVIDERS.find((d) => d.id === s?.id);
      if (known && !out.some((o) => o.id === known.id)) out.push({ ...known, enabled: s.enabled === true });
    }
  }
  for (const d of DEFAULT_PROVIDERS) if (!out.some((o) => o.id === d.id)) out.push({ ...d });
  return out;
}

/**
 * onnxruntime's CPU threads as the user set them on this computer: intra-op threads (null: one
 * per physical core, the backend's choice) and whether idle threads spin. Spinning is off by
 * default: a spinning thread holds its core between operators, and the UI shares those cores.
 */
export interface ThreadChoice {
  threads: number | null;
  spinning: boolean;
}
const THREADS_KEY = 'tessera.threads';
/** The backend's limit (MAX_THREADS), written out for the same reason as the providers above. */
const MAX_THREADS = 256;

function validThreads(n: unknown): number | null {
  return typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= MAX_THREADS ? n : null;
}

/** The saved thread settings; anything stale or hand-edited falls back to the defaults. */
function loadThreads(): ThreadChoice {
  let saved: unknown = null;
  try {
    saved = JSON.parse(localStorage.getItem(THREADS_KEY) ?? 'null');
  } catch {
    saved = null;
  }
  const s = (saved && typeof saved === 'object' ? saved : {}) as { threads?: unknown; spinning?: unknown };
  return { threads: validThreads(s.threads), spinning: s.spinning === true };
}

/**
 * Model-assisted labeling as the viewer sees it: the chosen model, the custom-model dialog's
 * steps, the class mapping, pre-label jobs, and the review calls on predictions.
 */
export class ModelsState {
  models = $state.raw<ModelEntry[]>([]);
  modelId = $state<string | null>(null);
  /** The provider that actually ran the last inference, as the backend reported it. */
  provider = $state<string | null>(null);
  classMap = $state.raw<ClassMap>({});
  /** Predictions under this score are hidden in the viewer. */
  threshold = $state(0.25);
  running = $state(false);
  lastSummary = $state.raw<PrelabelSummary | null>(null);
  lastRunId = $state<number | null>(null);
  /** The dataset (its file) open when the last run settled: its outcome is shown only in that dataset. */
  private runDataset = $state<string | null>(null);
  skipLabeled = $state(true);
  /** Tiled (sliced) inference for large images: tile side in pixels, overlap as a fraction, extra whole-image pass. */
  tiled = $state(false);
  tileSize = $state(640);
  tileOverlap = $state(0.2);
  tileFullPass = $state(false);
  /** Execution providers in the order to try them; the backend still falls back to the CPU. */
  providers = $state.raw<ProviderChoice[]>(loadProviders());
  /** CPU threads and spinning for every run and try, remembered per computer like the providers. */
  cpuThreads = $state.raw<ThreadChoice>(loadThreads());
  /** Warnings of the last inference (e.g. a provider that failed to load), shown until the next. */
  warnings = $state.raw<string[]>([]);

  // The custom-model dialog.
  dialogOpen = $state(false);
  file = $state('');
  /** A labels file chosen for the model's class names (else one beside the model is read). */
  labelsFile = $state('');
  report = $state.raw<ModelInspection | null>(null);
  tried = $state.raw<TryResult | null>(null);
  /** The model the dialog added; trying it on the current image needs its id. */
  added = $state.raw<ModelEntry | null>(null);
  dialogError = $state<string | null>(null);
  busy = $state(false);

  /** Runs of this dataset that stopped with images left, offered for resuming. */
  unfinished = $state.raw<UnfinishedRun[]>([]);
  /** The model whose weights are being downloaded, if any. */
  downloading = $state<string | null>(null);
  /** Why the last download failed, shown in full next to that model's Download button. */
  downloadError = $state.raw<{ id: string; text: string } | null>(null);

  readonly job: JobTracker;
  readonly downloadJob: JobTracker;

  constructor(
    private readonly app: AppState,
    private readonly es: EditorState,
  ) {
    this.job = new JobTracker('prelabel', (t) => this.app.say(t, 'error'));
    this.downloadJob = new JobTracker('model-download', (t) => this.app.say(t, 'error'));
    // The review actions live in the editor's registry (keys, menu, help); their effects are ours.
    es.ctx.review = {
      canPrelabel: () => this.modelId !== null && !this.running && this.mayRun,
      prelabelImage: () => void this.prelabel('image'),
      accept: (ids) => void this.accept(ids),
      reject: (ids) => void this.reject(ids),
      acceptAbove: () => void this.acceptAbove(),
    };
    es.editor.setPredictionThreshold(this.threshold);
  }

  /** The last run's outcome and id, when it belongs to the dataset open now. */
  get currentSummary(): PrelabelSummary | null {
    return this.runDataset !== null && this.runDataset === this.openDataset() ? this.lastSummary : null;
  }

  get currentRunId(): number | null {
    return this.runDataset !== null && this.runDataset === this.openDataset() ? this.lastRunId : null;
  }

  private openDataset(): string | null {
    return this.app.dataset.summary?.path ?? null;
  }

  /** Forgets the last run's outcome when another dataset (or none) is open. */
  private forgetOtherDataset(): void {
    if (this.runDataset === this.openDataset()) return;
    this.runDataset = null;
    this.lastSummary = null;
    this.lastRunId = null;
    this.warnings = [];
    this.unfinished = [];
  }

  get model(): ModelEntry | null {
    return this.models.find((m) => m.manifest.id === this.modelId) ?? null;
  }

  async refresh(): Promise<void> {
    this.forgetOtherDataset();
    try {
      // Embed models compute vectors (the Curate view's), not predictions.
      const list = (await call('models:list', {})).filter((m) => m.manifest.task !== 'embed');
      this.models = list;
      // Only models whose weights are on disk can run; the others need downloading first.
      if (this.modelId === null || !list.some((m) => m.manifest.id === this.modelId)) this.modelId = list.find((m) => m.path !== null)?.manifest.id ?? null;
      await this.loadClassMap();
      await this.loadUnfinished();
    } catch (e) {
      this.app.fail(e);
    }
  }

  /** Whether this user may run models here: always, except for a team server's annotators and reviewers. */
  get mayRun(): boolean {
    return !team.active || team.isManager;
  }

  async loadUnfinished(): Promise<void> {
    if (!this.mayRun) {
      this.unfinished = [];
      return;
    }
    try {
      this.unfinished = await call('prelabel:unfinished', {});
    } catch (e) {
      this.app.fail(e);
    }
  }

  /** Fetches a shipped model's weights (checked against its sha256), then makes it the chosen one. */
  async download(id: string): Promise<void> {
    if (this.downloading) return;
    this.downloading = id;
    this.downloadError = null;
    try {
      const entry = await this.downloadJob.run((jobId) => call('models:download', { jobId, id }));
      await this.refresh();
      await this.choose(entry.manifest.id);
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

  async choose(id: string): Promise<void> {
    this.modelId = id;
    await this.loadClassMap();
  }

  // ---- class mapping ------------------------------------------------------------------------

  async loadClassMap(): Promise<void> {
    const id = this.modelId;
    if (!id) return;
    try {
      const r = await call('classmap:get', { modelId: id });
      if (this.modelId === id) this.classMap = r.map;
    } catch (e) {
      this.app.fail(e);
    }
  }

  async setMapping(modelClass: string, classId: number | null): Promise<void> {
    const id = this.modelId;
    if (!id) return;
    const map = { ...this.classMap, [modelClass]: classId };
    this.classMap = map;
    try {
      const stored = await call('classmap:set', { modelId: id, map });
      if (this.modelId === id) this.classMap = stored;
    } catch (e) {
      this.app.fail(e);
    }
  }

  // ---- the custom-model dialog --------------------------------------------------------------

  openDialog(): void {
    this.dialogOpen = true;
    this.report = null;
    this.tried = null;
    this.added = null;
    this.dialogError = null;
  }

  closeDialog(): void {
    this.dialogOpen = false;
  }

  async browse(): Promise<void> {
    const picked = await this.app.pick('files', 'Choose an ONNX model');
    if (picked?.[0]) this.file = picked[0];
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
    this.report = null;
    this.tried = null;
    this.added = null;
    return this.step(async () => {
      const labels = this.labelsFile.trim();
      this.report = await call('models:inspect', { file: this.file.trim(), ...(labels ? { labels } : {}) });
    });
  }

  /** Adds the model as inspected and tried; the new model becomes the chosen one. */
  add(): Promise<void> {
    return this.step(async () => {
      // Without a manifest the service stores the one it proposed, which the dialog has shown.
      const added = await call('models:add', { file: this.file.trim(), ...this.chosenManifest() });
      await this.refresh();
      await this.choose(added.manifest.id);
      this.added = added;
      this.app.say(`Model added: ${added.manifest.name}`);
    });
  }

  /** With a labels file chosen, the manifest inspection proposed with its names; else the service proposes one itself. */
  private chosenManifest(): { manifest?: Record<string, unknown> } {
    const p = this.report?.proposed;
    return this.labelsFile.trim() && p ? { manifest: { ...p } } : {};
  }

  /** Runs the inspected file on the current image without registering the model or storing anything. */
  tryOnImage(): Promise<void> {
    const imageId = this.es.editor.image?.id;
    const file = this.file.trim();
    if (imageId === undefined || !file) return Promise.resolve();
    return this.step(async () => {
      this.tried = await call('models:try', { file, imageId, ...this.chosenManifest(), conf: this.threshold, providers: this.providerOrder(), tiling: this.tiling(), ...this.threadOptions() });
      this.provider = this.tried.provider;
      this.warnings = this.tried.warnings;
    });
  }

  // ---- execution providers ------------------------------------------------------------------

  /** The tiling options when "Tiled" is on, else undefined (whole images). */
  tiling(): { size: number; overlap: number; fullPass: boolean } | undefined {
    if (!this.tiled) return undefined;
    const size = Math.round(Math.min(16384, Math.max(32, this.tileSize || 640)));
    const overlap = Math.min(0.9, Math.max(0, this.tileOverlap || 0));
    return { size, overlap, fullPass: this.tileFullPass };
  }

  /** The enabled providers in order, or undefined (the backend's default) when none is. */
  providerOrder(): Provider[] | undefined {
    const on = this.providers.filter((p) => p.enabled).map((p) => p.id);
    return on.length > 0 ? on : undefined;
  }

  private saveProviders(list: ProviderChoice[]): void {
    this.providers = list;
    try {
      localStorage.setItem(PROVIDERS_KEY, JSON.stringify(list.map(({ id, enabled }) => ({ id, enabled }))));
    } catch {
      // Storage may be full or disabled; the choice then lasts for this session only.
    }
  }

  setProviderEnabled(id: Provider, enabled: boolean): void {
    this.saveProviders(this.providers.map((p) => (p.id === id ? { ...p, enabled } : p)));
  }

  moveProvider(id: Provider, by: -1 | 1): void {
    const list = [...this.providers];
    const i = list.findIndex((p) => p.id === id);
    const j = i + by;
    if (i < 0 || j < 0 || j >= list.length) return;
    [list[i], list[j]] = [list[j]!, list[i]!];
    this.saveProviders(list);
  }

  /** The thread settings a call sends: spinning always (off unless chosen), threads when set. */
  threadOptions(): { threads?: number; spinning: boolean } {
    const { threads, spinning } = this.cpuThreads;
    return threads === null ? { spinning } : { threads, spinning };
  }

  /** Sets the intra-op threads; anything but a whole number from 1 to 256 means automatic. */
  setThreads(n: number | null): void {
    this.saveThreads({ ...this.cpuThreads, threads: validThreads(n) });
  }

  setSpinning(spinning: boolean): void {
    this.saveThreads({ ...this.cpuThreads, spinning });
  }

  private saveThreads(choice: ThreadChoice): void {
    this.cpuThreads = choice;
    try {
      localStorage.setItem(THREADS_KEY, JSON.stringify(choice));
    } catch {
      // As for the providers: the choice then lasts for this session only.
    }
  }

  // ---- pre-labeling -------------------------------------------------------------------------

  async prelabel(scope: PrelabelScope): Promise<void> {
    const id = this.modelId;
    if (!id || this.running) return;
    const imageId = this.es.editor.image?.id;
    if (scope === 'image' && imageId === undefined) return;
    const scopeArg =
      scope === 'image' && imageId !== undefined
        ? { imageIds: [imageId] }
        : { filter: scope === 'filtered' ? this.app.dataset.filter : {}, unlabeledOnly: scope === 'unlabeled' };
    this.running = true;
    try {
      const summary = await this.job.run((jobId) =>
        // The image asked for explicitly is pre-labeled even when it holds human labels.
        call('prelabel:run', {
          jobId,
          modelId: id,
          scope: scopeArg,
          skipLabeled: scope === 'image' ? false : this.skipLabeled,
          providers: this.providerOrder(),
          tiling: this.tiling(),
          ...this.threadOptions(),
        }),
      );
      await this.settle(summary, scope === 'image');
    } catch (e) {
      this.app.fail(e);
    } finally {
      this.running = false;
      void this.loadUnfinished();
    }
  }

  /** Finishes a run that stopped (cancelled, or cut off by a quit) with its recorded parameters. */
  async resume(runId: number): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      const summary = await this.job.run((jobId) => call('prelabel:resume', { jobId, runId, ...this.threadOptions() }));
      await this.settle(summary, false);
    } catch (e) {
      this.app.fail(e);
    } finally {
      this.running = false;
      void this.loadUnfinished();
    }
  }

  /** Shows a run's outcome and brings the viewer, classes and grid up to date with it. */
  private async settle(summary: PrelabelSummary, oneImage: boolean): Promise<void> {
    this.lastSummary = summary;
    this.runDataset = this.openDataset();
    if (summary.provider) this.provider = summary.provider;
    this.warnings = summary.warnings;
    this.lastRunId = summary.runId;
    const warn = summary.warnings.length > 0 ? ` (${summary.warnings.join('; ')})` : '';
    const what = `${prelabelSummaryText(summary)}${warn}`;
    this.app.say(what, summary.failed > 0 || summary.warnings.length > 0 ? 'error' : 'info');
    // Without a stored class mapping, model classes become dataset classes of the same name.
    this.app.dataset.classes = await call('classes:list', {});
    await this.es.editor.reload();
    if (!oneImage) void this.app.dataset.refresh();
  }

  /** A run made outside pre-labeling (masks from boxes) becomes the run the panel reviews. */
  showRun(runId: number): void {
    this.lastSummary = null;
    this.runDataset = this.openDataset();
    this.lastRunId = runId;
  }

  // ---- review -------------------------------------------------------------------------------

  private async review(work: () => Promise<unknown>, done: string | null): Promise<void> {
    // A version open in the viewer is read-only: its predictions are not the dataset's to accept.
    if (versionView.current) return void this.app.say(versionView.refusal().message, 'error');
    try {
      await this.es.editor.idle();
      await work();
      if (done) this.app.say(done);
    } catch (e) {
      this.app.fail(e);
    }
    await this.es.editor.reload();
  }

  accept(ids: readonly number[]): Promise<void> {
    if (ids.length === 0) return Promise.resolve();
    return this.review(async () => {
      const r = await call('predictions:accept', { ids: [...ids] });
      this.app.say(acceptedText(r.ids.length, r.duplicates?.length ?? 0));
    }, null);
  }

  reject(ids: readonly number[]): Promise<void> {
    if (ids.length === 0) return Promise.resolve();
    return this.review(() => call('predictions:reject', { ids: [...ids] }), ids.length === 1 ? 'Prediction rejected' : `${ids.length} predictions rejected`);
  }

  /**
   * Accepts what the slider shows on this image: the visible predictions of every run, at the
   * slider's score, in one call, so one undo takes the whole accept back.
   */
  acceptAbove(): Promise<void> {
    const imageId = this.es.editor.image?.id;
    const runs = [...new Set(this.es.editor.predictions.map((a) => a.modelRunId).filter((r): r is number => r !== null))];
    if (imageId === undefined || runs.length === 0) return Promise.resolve();
    return this.review(async () => {
      const r = await call('predictions:acceptAbove', { runIds: runs, imageId, threshold: this.threshold });
      this.app.say(`${acceptedText(r.ids.length, r.duplicates?.length ?? 0)} (scoring ${this.threshold.toFixed(2)} or more)`);
    }, null);
  }

  /** Accepts every prediction of the last run at or above the slider's score, on all its images. */
  acceptRunAbove(): Promise<void> {
    const runId = this.currentRunId;
    if (runId === null) return Promise.resolve();
    return this.review(async () => {
      const r = await call('predictions:acceptAbove', { runId, threshold: this.threshold });
      this.app.say(`${acceptedText(r.ids.length, r.duplicates?.length ?? 0)} of run #${runId} on ${plural(r.images.length, 'image')}`);
      void this.app.dataset.refresh();
    }, null);
  }

  setThreshold(t: number): void {
    this.threshold = t;
    this.es.editor.setPredictionThreshold(t);
  }
}

/** "Accepted 3 predictions; 2 were already there as shapes and were dropped". */
function acceptedText(accepted: number, duplicates: number): string {
  const dropped = duplicates > 0 ? `; ${plural(duplicates, 'duplicate')} of shapes already there dropped` : '';
  return `Accepted ${plural(accepted, 'prediction')}${dropped}`;
}

export const models = new ModelsState(appState, editorState);
