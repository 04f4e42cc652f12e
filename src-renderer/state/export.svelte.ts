import type { JobProgress, Split } from '../../src-main/common/model';
import { EXPORT_FORMATS, type ExportFormat, type ExportReport } from '../../src-main/common/formats/types';
import { BridgeError, call, errorCode, errorMessage } from '../bridge';
import { plural } from './format';
import { JobTracker } from './job.svelte';
import { AugmentState } from './augment.svelte';

export type ExportPhase = 'idle' | 'running' | 'done' | 'failed';
export type ExportOnly = 'all' | 'done' | 'reviewed';
export type ImageHandling = 'copy' | 'link' | 'none';
export type SplitCounts = Record<Split | 'none', number>;

export { EXPORT_FORMATS };

export const EXPORT_FORMAT_LABELS: Record<ExportFormat, string> = {
  coco: 'COCO',
  yolo: 'YOLO detect',
  'yolo-seg': 'YOLO segment',
  'yolo-obb': 'YOLO OBB',
  voc: 'Pascal VOC',
  labelme: 'labelme',
  cvat: 'CVAT XML',
  masks: 'Mask PNGs',
  geojson: 'GeoJSON (GeoTIFF images)',
};

export interface ExportHooks {
  /** After splits were stored, so the grid shows them. */
  onSplitsChanged(): void;
  onMessage(text: string, kind: 'info' | 'error'): void;
}

/**
 * "0.8/0.1/0.1", "80 10 10" or "8,1,1": three non-negative numbers, in the order train, val, test.
 * Only their proportions matter (the backend normalises), so percentages work as well as fractions.
 */
export function parseRatios(text: string): [number, number, number] | string {
  const parts = text
    .trim()
    .split(/[\s/,;:]+/)
    .filter((p) => p.length > 0);
  if (parts.length !== 3) return 'Give three ratios, train/val/test, e.g. 0.8/0.1/0.1.';
  const nums = parts.map((p) => Number(p));
  if (nums.some((n) => !Number.isFinite(n) || n < 0)) return 'Ratios must be numbers of 0 or more.';
  if (nums[0]! + nums[1]! + nums[2]! <= 0) return 'At least one ratio must be above 0.';
  return [nums[0]!, nums[1]!, nums[2]!];
}

/** The export dialog: options, split assignment, the running export and its summary. */
export class ExportState {
  open = $state(false);
  format = $state<ExportFormat>('coco');
  outDir = $state('');
  only = $state<ExportOnly>('all');
  withPredictions = $state(false);
  images = $state<ImageHandling>('copy');
  strict = $state(false);
  cocoSegmentation = $state<'polygon' | 'rle'>('polygon');

  ratiosText = $state('0.8/0.1/0.1');
  seed = $state(1);
  stratify = $state(true);
  assigning = $state(false);
  splitsResult = $state.raw<SplitCounts | null>(null);
  splitsError = $state<string | null>(null);

  phase = $state<ExportPhase>('idle');
  report = $state.raw<ExportReport | null>(null);
  error = $state<string | null>(null);
  /** The folder chosen is not empty: the dialog asks whether to overwrite it, merge into it, or not export. */
  askExisting = $state<string | null>(null);
  /** Why a merge into that folder was refused (the earlier export there does not fit this one); Overwrite is still offered. */
  mergeRefused = $state<string | null>(null);
  /** Preprocessing and augmentation applied at export (a recipe), with its preview. */
  readonly augment = new AugmentState();
  private readonly job: JobTracker;

  constructor(private readonly hooks: ExportHooks) {
    this.job = new JobTracker('export', (text) => hooks.onMessage(text, 'error'));
  }

  get running(): boolean {
    return this.phase === 'running';
  }

  get progress(): JobProgress | null {
    return this.job.progress;
  }

  get cancelling(): boolean {
    return this.job.cancelling;
  }

  get ratios(): [number, number, number] | string {
    return parseRatios(this.ratiosText);
  }

  show(): void {
    this.open = true;
    if (this.phase === 'done' || this.phase === 'failed') this.reset();
  }

  hide(): void {
    if (this.running || this.assigning) return;
    this.open = false;
    this.reset();
  }

  /** Back to the form; the options are kept, since the next export usually differs in one of them. */
  reset(): void {
    if (this.running) return;
    this.phase = 'idle';
    this.job.progress = null;
    this.report = null;
    this.error = null;
    this.splitsError = null;
    this.askExisting = null;
    this.mergeRefused = null;
  }

  async assignSplits(): Promise<void> {
    if (this.assigning || this.running) return;
    const ratios = this.ratios;
    if (typeof ratios === 'string') {
      this.splitsError = ratios;
      return;
    }
    if (!Number.isSafeInteger(this.seed)) {
      this.splitsError = 'The seed must be a whole number.';
      return;
    }
    this.assigning = true;
    this.splitsError = null;
    this.splitsResult = null;
    try {
      const counts = await call('splits:assign', { ratios, seed: this.seed, stratify: this.stratify, only: this.only });
      this.splitsResult = counts;
      this.hooks.onMessage(`Splits assigned: ${counts.train} train, ${counts.val} val, ${counts.test} test`, 'info');
      this.hooks.onSplitsChanged();
    } catch (e) {
      this.splitsError = errorMessage(e);
      this.hooks.onMessage(`Assigning splits failed: ${errorMessage(e)}`, 'error');
    } finally {
      this.assigning = false;
    }
  }

  /** Drops the question about a folder that is not empty: nothing is exported. */
  dismissExisting(): void {
    this.askExisting = null;
    this.mergeRefused = null;
  }

  /**
   * Exports with the dialog's options. A folder that is not empty is refused by the backend
   * unless `ifExists` says otherwise; the refusal turns into the question (askExisting).
   */
  async start(ifExists: 'refuse' | 'overwrite' | 'merge' = 'refuse'): Promise<void> {
    if (this.running || this.assigning) return;
    this.askExisting = null;
    this.mergeRefused = null;
    const outDir = this.outDir.trim();
    if (!outDir) {
      this.error = 'Enter the folder to export to.';
      return;
    }
    const recipe = this.augment.active ? this.augment.parts() : null;
    if (typeof recipe === 'string') {
      this.error = recipe;
      return;
    }
    this.phase = 'running';
    this.error = null;
    this.report = null;
    try {
      const report = await this.job.run((jobId) =>
        call('interchange:export', {
          jobId,
          outDir,
          format: this.format,
          only: this.only,
          withPredictions: this.withPredictions,
          images: this.images,
          strict: this.strict,
          cocoSegmentation: this.cocoSegmentation,
          ifExists,
          ...(recipe ? { recipe } : {}),
        }),
      );
      this.report = report;
      this.phase = 'done';
      const warned = report.warnings.reduce((n, w) => n + w.count, 0);
      this.hooks.onMessage(
        `Exported ${plural(report.images, 'image')} and ${plural(report.annotations, 'annotation')} to ${report.outDir}` +
          (warned > 0 ? ` (${plural(warned, 'conversion')} with warnings)` : ''),
        'info',
      );
    } catch (e) {
      if (ifExists === 'refuse' && e instanceof BridgeError && e.detail?.['notEmpty'] === true) {
        this.phase = 'idle';
        this.askExisting = outDir;
      } else if (ifExists === 'merge' && e instanceof BridgeError && e.detail?.['mergeConflict'] === true) {
        // The question stays, with the reason: Overwrite or Cancel.
        this.phase = 'idle';
        this.askExisting = outDir;
        this.mergeRefused = errorMessage(e);
      } else if (errorCode(e) === 'CANCELLED') {
        this.phase = 'idle';
        this.error = 'Export cancelled.';
        this.hooks.onMessage('Export cancelled', 'info');
      } else {
        this.phase = 'failed';
        this.error = errorMessage(e);
        this.hooks.onMessage(`Export failed: ${errorMessage(e)}`, 'error');
      }
    }
  }

  cancel(): Promise<void> {
    return this.job.cancel();
  }
}
