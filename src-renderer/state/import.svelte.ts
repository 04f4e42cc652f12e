import type { ImportReport, JobProgress } from '../../src-main/common/model';
import { call, errorCode, errorMessage, onEvent } from '../bridge';
import { plural } from './format';

export type ImportPhase = 'idle' | 'running' | 'confirmOutside' | 'done' | 'failed';

export interface ImportHooks {
  /** After an import that may have added images. */
  onFinished(report: ImportReport): void;
  onMessage(text: string, kind: 'info' | 'error'): void;
}

function newJobId(): string {
  return `import-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
}

/** One import at a time: what to import, its live progress and its final report. */
export class ImportState {
  open = $state(false);
  pathsText = $state('');
  recursive = $state(true);
  phase = $state<ImportPhase>('idle');
  progress = $state.raw<JobProgress | null>(null);
  report = $state.raw<ImportReport | null>(null);
  error = $state<string | null>(null);
  cancelling = $state(false);
  private jobId: string | null = null;

  constructor(private readonly hooks: ImportHooks) {}

  get paths(): string[] {
    return this.pathsText
      .split(/\r?\n/)
      .map((p) => p.trim())
      .filter((p) => p.length > 0);
  }

  get running(): boolean {
    return this.phase === 'running';
  }

  show(): void {
    this.open = true;
    if (this.phase === 'done' || this.phase === 'failed') this.reset();
  }

  hide(): void {
    if (this.running) return;
    this.open = false;
    this.reset();
  }

  reset(): void {
    if (this.running) return;
    this.phase = 'idle';
    this.progress = null;
    this.report = null;
    this.error = null;
  }

  async start(allowOutsideRoot = false): Promise<void> {
    const paths = this.paths;
    if (paths.length === 0) {
      this.error = 'Enter at least one folder or file path.';
      return;
    }
    if (this.running) return;
    const jobId = newJobId();
    this.jobId = jobId;
    this.phase = 'running';
    this.error = null;
    this.report = null;
    this.cancelling = false;
    this.progress = null;
    const off = onEvent('job:progress', (p) => {
      if (p.jobId === jobId) this.progress = p;
    });
    try {
      const report = await call('images:import', { jobId, paths, recursive: this.recursive, allowOutsideRoot });
      this.report = report;
      this.phase = 'done';
      this.hooks.onMessage(
        `${report.cancelled ? 'Import cancelled' : 'Import finished'}: ${report.imported.toLocaleString('en-US')} imported, ` +
          `${plural(report.duplicates.length, 'duplicate')}, ${plural(report.problems.length, 'problem')}`,
        'info',
      );
      this.hooks.onFinished(report);
    } catch (e) {
      if (errorCode(e) === 'PATH_OUTSIDE_ROOT') {
        this.phase = 'confirmOutside';
        this.error = errorMessage(e);
      } else {
        this.phase = 'failed';
        this.error = errorMessage(e);
        this.hooks.onMessage(`Import failed: ${errorMessage(e)}`, 'error');
      }
    } finally {
      off();
      this.jobId = null;
      this.cancelling = false;
    }
  }

  async cancel(): Promise<void> {
    if (!this.jobId || this.cancelling) return;
    this.cancelling = true;
    try {
      await call('jobs:cancel', { jobId: this.jobId });
    } catch (e) {
      this.cancelling = false;
      this.hooks.onMessage(`Could not cancel: ${errorMessage(e)}`, 'error');
    }
  }
}
