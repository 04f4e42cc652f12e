import { AppError } from '../common/errors';

/** Cancellation for long jobs, keyed by the caller's job id. */
export class Jobs {
  private readonly running = new Map<string, { cancelled: boolean }>();

  start(jobId: string): JobToken {
    if (this.running.has(jobId)) throw new AppError('INVALID_ARGUMENT', `job ${jobId} is already running`, { jobId });
    const state = { cancelled: false };
    this.running.set(jobId, state);
    return {
      jobId,
      get cancelled() {
        return state.cancelled;
      },
      finish: () => {
        this.running.delete(jobId);
      },
    };
  }

  cancel(jobId: string): boolean {
    const s = this.running.get(jobId);
    if (!s) return false;
    s.cancelled = true;
    return true;
  }
}

export interface JobToken {
  readonly jobId: string;
  readonly cancelled: boolean;
  finish(): void;
}
