import type { Dataset } from '../services/dataset';
import type { ParsedArgs } from '../common/contract';
import type { QueuedRun, RunPart, WorkerInfo } from '../common/team';
import { AppError } from '../common/errors';

/**
 * Pre-label and embedding runs done by `tessera worker` processes: a run is split into parts,
 * each part a job of a PostgreSQL-backed queue that workers claim, heartbeat and retry.
 */

const todo = (what: string): never => {
  throw new AppError('UNSUPPORTED', `${what} is not available yet`);
};

/** The queue as the team server uses it (one per server process). */
export interface TeamQueue {
  queuePrelabel(ds: Dataset, args: ParsedArgs<'team:queuePrelabel'>, by: string): Promise<QueuedRun>;
  queueEmbeddings(ds: Dataset, args: ParsedArgs<'team:queueEmbeddings'>, by: string): Promise<QueuedRun>;
  close(): Promise<void>;
}

/** Opens the queue in the dataset's PostgreSQL database (creating its tables on first use). */
export async function openQueue(_ds: Dataset): Promise<TeamQueue> {
  return todo('the work queue');
}
export async function listWorkers(_ds: Dataset): Promise<WorkerInfo[]> {
  return todo('workers');
}
export async function runParts(_ds: Dataset, _runId: number): Promise<RunPart[]> {
  return todo('workers');
}
