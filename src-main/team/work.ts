import type { Dataset } from '../services/dataset';
import type { AuditEntry, LeaseState, TeamDashboard, UserThroughput, WorkJob } from '../common/team';
import type { ParsedArgs } from '../common/contract';
import { AppError } from '../common/errors';

/**
 * A team's work on one dataset, in the dataset's own tables (migration 17): jobs and their
 * progress, image leases, the audit log and the dashboard figures. Every function works on both
 * engines; the team server calls them on behalf of the logged-in user.
 */

const todo = (what: string): never => {
  throw new AppError('UNSUPPORTED', `${what} is not available yet`);
};

/** Takes or renews `user`'s lease of an image for `ttlMs` (on `session`); tells who holds it when another does. */
export async function takeLease(_ds: Dataset, _imageId: number, _user: string, _session: string, _ttlMs: number): Promise<LeaseState> {
  return todo('leases');
}
/** Gives up the lease `session` holds on an image; true when there was one. */
export async function releaseLease(_ds: Dataset, _imageId: number, _session: string): Promise<boolean> {
  return todo('leases');
}
/** Releases every lease a session holds (logout, socket closed); the image ids released. */
export async function releaseSessionLeases(_ds: Dataset, _session: string): Promise<number[]> {
  return todo('leases');
}
/** Who holds an image's lease, seen by `user`. */
export async function leaseOf(_ds: Dataset, _imageId: number, _user: string): Promise<LeaseState> {
  return todo('leases');
}
/** Throws LEASED unless `session` holds a live lease on the image. */
export async function requireLease(_ds: Dataset, _imageId: number, _session: string): Promise<void> {
  return todo('leases');
}
export async function createJobs(_ds: Dataset, _args: ParsedArgs<'team:createJobs'>, _by: string): Promise<WorkJob[]> {
  return todo('jobs');
}
/** All jobs, or those `user` is assignee or reviewer of. */
export async function listJobs(_ds: Dataset, _opts: { user?: string } = {}): Promise<WorkJob[]> {
  return todo('jobs');
}
export async function getJob(_ds: Dataset, _jobId: number): Promise<WorkJob | null> {
  return todo('jobs');
}
export async function deleteJob(_ds: Dataset, _jobId: number): Promise<void> {
  return todo('jobs');
}
export async function jobImageIds(_ds: Dataset, _jobId: number): Promise<number[]> {
  return todo('jobs');
}
/** Records that `user` started editing these images (first lease), for time per image. */
export async function markStarted(_ds: Dataset, _imageIds: readonly number[], _user: string): Promise<void> {
  return todo('jobs');
}
/** Records images marked done (status 'done') by `user`; other statuses clear it. */
export async function markStatus(_ds: Dataset, _imageIds: readonly number[], _status: string, _user: string): Promise<void> {
  return todo('jobs');
}
export async function markReviewed(_ds: Dataset, _imageId: number, _user: string): Promise<void> {
  return todo('jobs');
}
export async function throughput(_ds: Dataset, _now?: number): Promise<UserThroughput[]> {
  return todo('dashboard');
}
export async function dashboard(_ds: Dataset): Promise<Omit<TeamDashboard, 'workers'>> {
  return todo('dashboard');
}
export async function recordAudit(_ds: Dataset, _entry: { user: string; action: string; imageId?: number | null; detail?: unknown }): Promise<void> {
  return todo('audit');
}
export async function auditLog(_ds: Dataset, _q: { imageId?: number; user?: string; limit: number }): Promise<AuditEntry[]> {
  return todo('audit');
}
