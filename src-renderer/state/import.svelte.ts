import type { ImportReport, JobProgress } from '../../src-main/common/model';
import { FORMATS, type FormatName, type InterchangeReport } from '../../src-main/common/formats/types';
import { BridgeError, call, errorCode, errorMessage } from '../bridge';
import { plural } from './format';
import { JobTracker } from './job.svelte';

export type ImportPhase = 'idle' | 'checking' | 'running' | 'confirmOutside' | 'done' | 'failed';

/** "images" is the plain image import; the others read an annotated dataset. */
export type ImportFormat = 'images' | 'auto' | FormatName;

export const IMPORT_FORMATS: readonly ImportFormat[] = ['images', 'auto', ...FORMATS];

export const IMPORT_FORMAT_LABELS: Record<ImportFormat, string> = {
  images: 'Images only',
  auto: 'Auto-detect',
  coco: 'COCO',
  yolo: 'YOLO',
  voc: 'Pascal VOC',
  labelme: 'labelme',
  cvat: 'CVAT',
};

export interface ImportHooks {
  /** After an import that may have added images, classes or annotations. */
  onFinished(report: ImportReport | InterchangeReport): void;
  onMessage(text: string, kind: 'info' | 'error'): void;
}

type Action = 'check' | 'import';

/**
 * Auto-detection found no annotation format at all. A failure that names a format is different:
 * something was recognised and then could not be read, which must not quietly become an image import.
 */
function nothingDetected(e: unknown): boolean {
  if (!(e instanceof BridgeError)) return false;
  if (e.code !== 'UNSUPPORTED_FORMAT' && e.code !== 'INVALID_ARGUMENT') return false;
  return typeof e.detail?.['path'] === 'string' && e.detail['format'] === undefined;
}

/**
 * One import at a time: what to import and in which format, the dry-run report of an annotated
 * dataset, the live progress and the final report.
 */
export class ImportState {
  open = $state(false);
  pathsText = $state('');
  recursive = $state(true);
  /** Create COCO categories no annotation uses (left out and counted by default). */
  keepEmptyClasses = $state(false);
  format = $state<ImportFormat>('images');
  phase = $state<ImportPhase>('idle');
  /** Final report of a plain image import. */
  report = $state.raw<ImportReport | null>(null);
  /** Final report of an annotated dataset import. */
  interchangeReport = $state.raw<InterchangeReport | null>(null);
  error = $state<string | null>(null);
  /** Said next to the form, e.g. that Auto-detect found no annotations and imports images only. */
  note = $state<string | null>(null);
  /** What the outside-root confirmation will run again once agreed. */
  pendingAction = $state<Action>('import');
  private dryRunReport = $state.raw<InterchangeReport | null>(null);
  // The dry run answers for one path in one format; editing either makes it stale.
  private dryRunKey = $state<string | null>(null);
  // Agreeing to absolute paths for a check carries over to importing the same thing.
  private outsideAgreedKey = $state<string | null>(null);
  // Auto-detect found no annotation format here, so importing means importing images.
  private imagesOnlyKey = $state<string | null>(null);
  private readonly job: JobTracker;

  constructor(private readonly hooks: ImportHooks) {
    this.job = new JobTracker('import', (text) => hooks.onMessage(text, 'error'));
  }

  get progress(): JobProgress | null {
    return this.job.progress;
  }

  get cancelling(): boolean {
    return this.job.cancelling;
  }

  get paths(): string[] {
    return this.pathsText
      .split(/\r?\n/)
      .map((p) => p.trim())
      .filter((p) => p.length > 0);
  }

  get running(): boolean {
    return this.phase === 'running';
  }

  get busy(): boolean {
    return this.phase === 'running' || this.phase === 'checking';
  }

  /**
   * Whether the next import reads annotations. Auto-detect with several paths, or on a path
   * where nothing was detected, is the image import: an annotated dataset is one folder or file.
   */
  get annotated(): boolean {
    if (this.format === 'images') return false;
    if (this.format !== 'auto') return true;
    return this.paths.length === 1 && this.imagesOnlyKey !== this.key;
  }

  /** The dry run for exactly what is in the form now, or null. */
  get dryRun(): InterchangeReport | null {
    return this.dryRunKey !== null && this.dryRunKey === this.key ? this.dryRunReport : null;
  }

  private get key(): string {
    return `${this.format}\n${this.keepEmptyClasses}\n${this.paths.join('\n')}`;
  }

  show(): void {
    this.open = true;
    if (this.phase === 'done' || this.phase === 'failed') this.reset();
  }

  hide(): void {
    if (this.busy) return;
    this.open = false;
    this.reset();
  }

  reset(): void {
    if (this.busy) return;
    this.phase = 'idle';
    this.job.progress = null;
    this.report = null;
    this.interchangeReport = null;
    this.error = null;
    this.note = null;
    this.dryRunReport = null;
    this.dryRunKey = null;
    this.outsideAgreedKey = null;
    this.imagesOnlyKey = null;
  }

  /** Runs again what the outside-root confirmation was asked for, now with absolute paths allowed. */
  async confirmOutside(): Promise<void> {
    this.outsideAgreedKey = this.key;
    if (this.pendingAction === 'check') await this.check();
    else await this.start(true);
  }

  /** Dry run of an annotated dataset: reads it and reports what an import would do, writing nothing. */
  async check(): Promise<void> {
    if (this.busy) return;
    const target = this.singlePath();
    if (target === null) return;
    const format = this.format === 'images' ? 'auto' : this.format;
    const key = this.key;
    this.phase = 'checking';
    this.error = null;
    this.note = null;
    try {
      const report = await call('interchange:inspect', {
        path: target,
        format,
        allowOutsideRoot: this.outsideAgreedKey === key,
        keepEmptyClasses: this.keepEmptyClasses,
      });
      this.dryRunReport = report;
      this.dryRunKey = key;
      this.phase = 'idle';
    } catch (e) {
      this.afterFailure(e, 'check', key);
    }
  }

  async start(allowOutsideRoot = false): Promise<void> {
    if (this.busy) return;
    if (this.annotated) {
      if (this.dryRun) {
        await this.importAnnotated(allowOutsideRoot || this.outsideAgreedKey === this.key);
        return;
      }
      // Nothing is written before its dry run has been shown. The check is also how Auto-detect
      // learns that a folder holds plain images, which then import like "Images only".
      await this.check();
      if (this.annotated || this.phase !== 'idle') return;
    }
    await this.importImages(allowOutsideRoot || this.outsideAgreedKey === this.key);
  }

  cancel(): Promise<void> {
    return this.job.cancel();
  }

  private singlePath(): string | null {
    const paths = this.paths;
    if (paths.length === 1) return paths[0]!;
    this.error =
      paths.length === 0
        ? 'Enter the folder or annotation file of the dataset.'
        : 'An annotated dataset is one folder or one annotation file: enter a single path.';
    return null;
  }

  private async importImages(allowOutsideRoot: boolean): Promise<void> {
    const paths = this.paths;
    if (paths.length === 0) {
      this.error = 'Enter at least one folder or file path.';
      return;
    }
    await this.runJob('import', async (jobId) => {
      const report = await call('images:import', { jobId, paths, recursive: this.recursive, allowOutsideRoot });
      this.report = report;
      this.hooks.onMessage(
        `${report.cancelled ? 'Import cancelled' : 'Import finished'}: ${report.imported.toLocaleString('en-US')} imported, ` +
          `${plural(report.duplicates.length, 'duplicate')}, ${plural(report.problems.length, 'problem')}`,
        'info',
      );
      this.hooks.onFinished(report);
    });
  }

  private async importAnnotated(allowOutsideRoot: boolean): Promise<void> {
    const target = this.singlePath();
    if (target === null) return;
    const format = this.format === 'images' ? 'auto' : this.format;
    await this.runJob('import', async (jobId) => {
      const report = await call('interchange:import', { jobId, path: target, format, allowOutsideRoot, keepEmptyClasses: this.keepEmptyClasses });
      this.interchangeReport = report;
      this.hooks.onMessage(
        `Import finished: ${plural(report.images.added, 'image')} added, ${plural(report.annotations.total, 'annotation')}, ` +
          `${plural(report.problems.length, 'problem')}`,
        'info',
      );
      this.hooks.onFinished(report);
    });
  }

  private async runJob(action: Action, work: (jobId: string) => Promise<void>): Promise<void> {
    const key = this.key;
    this.phase = 'running';
    this.error = null;
    this.note = null;
    this.report = null;
    this.interchangeReport = null;
    try {
      await this.job.run(work);
      this.phase = 'done';
    } catch (e) {
      this.afterFailure(e, action, key);
    }
  }

  private afterFailure(e: unknown, action: Action, key: string): void {
    const code = errorCode(e);
    if (code === 'PATH_OUTSIDE_ROOT') {
      this.pendingAction = action;
      this.phase = 'confirmOutside';
      this.error = errorMessage(e);
    } else if (code === 'CANCELLED') {
      // The import is one transaction: cancelling it leaves the dataset untouched.
      this.phase = 'idle';
      this.note = 'Import cancelled: nothing was written.';
      this.hooks.onMessage('Import cancelled: nothing was written', 'info');
    } else if (action === 'check' && this.format === 'auto' && nothingDetected(e)) {
      this.imagesOnlyKey = key;
      this.phase = 'idle';
      this.note = `No annotation format recognised (${errorMessage(e)}): this imports the images only.`;
    } else {
      this.phase = 'failed';
      this.error = errorMessage(e);
      this.hooks.onMessage(`${action === 'check' ? 'Check' : 'Import'} failed: ${errorMessage(e)}`, 'error');
    }
  }
}
