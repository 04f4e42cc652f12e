import type { JobProgress } from '../../src-main/common/model';
import { call, errorMessage, onEvent } from '../bridge';

/**
 * One cancellable backend job at a time (an import or an export): its id, the progress events
 * for that id, and cancelling it. What the job does and how its outcome is shown stay with the
 * caller.
 */
export class JobTracker {
  progress = $state.raw<JobProgress | null>(null);
  cancelling = $state(false);
  private jobId: string | null = null;

  /**
   * @param prefix starts every job id, so the backend's logs say which dialog ran it.
   * @param onError where a refused cancel is reported.
   */
  constructor(
    private readonly prefix: string,
    private readonly onError: (text: string) => void,
  ) {}

  /** Runs `work` under a fresh job id, following its progress until it settles either way. */
  async run<T>(work: (jobId: string) => Promise<T>): Promise<T> {
    const jobId = `${this.prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
    this.jobId = jobId;
    this.cancelling = false;
    this.progress = null;
    // Progress of an earlier job can still arrive after it settled; only this id's counts.
    const off = onEvent('job:progress', (p) => {
      if (p.jobId === jobId) this.progress = p;
    });
    try {
      return await work(jobId);
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
      this.onError(`Could not cancel: ${errorMessage(e)}`);
    }
  }
}
