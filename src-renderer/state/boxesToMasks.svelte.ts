import type { EvalRunInfo } from '../../src-main/common/eval/types';
import { plural } from '../../src-main/common/prelabel';
import type { BoxesToMasksSummary } from '../../src-main/common/segment';
import { call, errorMessage } from '../bridge';
import { app as appState, type AppState } from './app.svelte';
import { editorState, type EditorState } from './editor.svelte';
import { JobTracker } from './job.svelte';
import { models as modelsState, type ModelsState } from './models.svelte';
import { sam as samState, type SamState } from './sam.svelte';

/** "Masks from 12 boxes of run #3: 10 masks in run #5 (2 empty)". */
export function boxesToMasksText(s: BoxesToMasksSummary, source: string, as: 'mask' | 'polygon'): string {
  const made = plural(s.created, as === 'mask' ? 'mask' : 'polygon');
  const empty = s.empty > 0 ? ` (${s.empty} empty, not stored)` : '';
  const failed = s.failed > 0 ? `; ${plural(s.failed, 'image')} failed: ${s.warnings.filter((w) => !w.startsWith('and ')).slice(0, 3).join('; ')}` : '';
  const stopped = s.cancelled ? '; cancelled, the images done are kept' : '';
  return `Masks from ${plural(s.boxes, 'box', 'boxes')} ${source}: ${made} in run #${s.runId}${empty}${failed}${stopped}`;
}

/**
 * Detector boxes to masks: the box predictions of a run, or the boxes selected in the editor,
 * prompt the segment tool's SAM model; the masks (or traced polygons) become the predictions of
 * a new run, which the model panel then reviews. One job at a time, with progress and Cancel.
 */
export class BoxesToMasksState {
  /** The dataset's model runs, newest first, to choose the boxes' run from. */
  runs = $state.raw<EvalRunInfo[]>([]);
  runId = $state<number | null>(null);
  as = $state<'mask' | 'polygon'>('mask');
  tolerance = $state(1);
  running = $state(false);
  /** What the last job did, shown until the next (in the dataset it ran in). */
  /** The panel's last run when the list was last read: a newer one (a pre-label run just done) is chosen. */
  private seenRun: number | null = null;
  /** Runs made here hold masks, not boxes: they are never chosen as the source by themselves. */
  private readonly made = new Set<number>();
  private last = $state.raw<{ text: string; dataset: string | null } | null>(null);
  readonly job: JobTracker;

  constructor(
    private readonly app: AppState,
    private readonly es: EditorState,
    private readonly sam: SamState,
    private readonly models: ModelsState,
  ) {
    this.job = new JobTracker('boxes-to-masks', (t) => this.app.say(t, 'error'));
    es.ctx.masks = {
      canRun: () => !this.running,
      fromBoxes: (ids) => void this.fromBoxes(ids),
    };
  }

  /** The last outcome when it belongs to the dataset open now. */
  get summaryText(): string | null {
    return this.last !== null && this.last.dataset === this.dataset() ? this.last.text : null;
  }

  /** Reads the runs again; the chosen one stays while it exists, else the panel's last run, else the newest. */
  async loadRuns(): Promise<void> {
    if (!this.app.dataset.summary) {
      this.runs = [];
      this.runId = null;
      return;
    }
    try {
      const runs = (await call('eval:runs', {})).slice().sort((a, b) => b.id - a.id);
      this.runs = runs;
      const last = this.models.currentRunId;
      const fresh = last !== null && last !== this.seenRun && !this.made.has(last) && runs.some((r) => r.id === last);
      this.seenRun = last;
      if (fresh) this.runId = last;
      else if (this.runId === null || !runs.some((r) => r.id === this.runId)) this.runId = runs.find((r) => r.id === last)?.id ?? runs[0]?.id ?? null;
    } catch (e) {
      this.app.fail(e);
    }
  }

  /** Every box prediction of the chosen run. */
  fromRun(): Promise<void> {
    const runId = this.runId;
    if (runId === null) return Promise.resolve();
    return this.start({ runId }, `of run #${runId}`, false);
  }

  /** The given boxes of the image on screen; its predictions are read again when done. */
  async fromBoxes(ids: readonly number[]): Promise<void> {
    if (ids.length === 0) return;
    await this.es.editor.idle();
    await this.start({ annotationIds: [...ids] }, 'selected', true);
  }

  private async start(scope: { runId: number } | { annotationIds: number[] }, source: string, oneImage: boolean): Promise<void> {
    if (this.running) return;
    this.running = true;
    const as = this.as;
    try {
      // No model, or one not downloaded: said in the status line, nothing is sent.
      const model = await this.sam.ready();
      const tolerance = Number.isFinite(this.tolerance) && this.tolerance >= 0 ? Math.min(100, this.tolerance) : 1;
      const summary = await this.job.run((jobId) =>
        call('segment:boxesToMasks', { jobId, modelId: model.manifest.id, ...scope, as, ...(as === 'polygon' ? { tolerance } : {}) }),
      );
      const text = boxesToMasksText(summary, source, as);
      this.last = { text, dataset: this.dataset() };
      this.app.say(text, summary.cancelled || summary.failed > 0 ? 'error' : 'info');
      this.made.add(summary.runId);
      this.models.showRun(summary.runId);
      await this.es.editor.reload();
      await this.loadRuns();
      if (!oneImage) void this.app.dataset.refresh();
    } catch (e) {
      this.app.say(`Masks from boxes failed: ${errorMessage(e)}`, 'error');
    } finally {
      this.running = false;
    }
  }

  private dataset(): string | null {
    return this.app.dataset.summary?.path ?? null;
  }
}

export const boxesToMasks = new BoxesToMasksState(appState, editorState, samState, modelsState);
