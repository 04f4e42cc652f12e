/**
 * Team mode: one dataset served to several people by `tessera serve`, with roles, jobs, image
 * leases, an audit log and pre-label or embedding work done by `tessera worker` processes.
 * These are the shapes the server and the renderer exchange; in the single-user app the `team:*`
 * channels answer UNSUPPORTED (and `team:me` null).
 */

/** Roles on a dataset, each allowed everything the ones before it are. */
export const ROLES = ['annotator', 'reviewer', 'manager'] as const;
export type Role = (typeof ROLES)[number];

/** Whether `role` includes `needed` (manager ⊃ reviewer ⊃ annotator). */
export function roleAtLeast(role: Role, needed: Role): boolean {
  return ROLES.indexOf(role) >= ROLES.indexOf(needed);
}

/** Account names: what a person logs in with, shown in the audit log and on leases. */
export const USER_NAME_PATTERN = /^[A-Za-z0-9._@-]{1,64}$/;

/** Who this browser is logged in as on the team server. */
export interface TeamMe {
  user: string;
  role: Role;
  /** Seconds a lease lasts without renewal (the renderer renews at a third of it). */
  leaseSeconds: number;
}

/** Who may edit an image now. */
export interface LeaseState {
  imageId: number;
  /** True when the caller holds the lease (it may edit); false: view only. */
  mine: boolean;
  /** Who holds it, null when nobody does. */
  holder: string | null;
  /** Epoch ms when the lease lapses unless renewed; null when free. */
  expiresAt: number | null;
}

/** A manager's batch of images for one annotator (and optionally one reviewer). */
export interface WorkJob {
  id: number;
  name: string;
  assignee: string;
  reviewer: string | null;
  createdBy: string;
  createdAt: number;
  images: number;
  /** Images the assignee marked done. */
  done: number;
  /** Images the reviewer gave a verdict on. */
  reviewed: number;
}

/** One user's pace, from the jobs' timestamps. */
export interface UserThroughput {
  user: string;
  /** Images marked done (all time). */
  done: number;
  /** Images marked done in the last hour. */
  lastHour: number;
  /** Images done per hour over the span from their first start to their last done (null below 2 images). */
  perHour: number | null;
  /** Median ms from first opening an image for editing to marking it done (null when none). */
  medianMsPerImage: number | null;
}

export interface TeamDashboard {
  jobs: WorkJob[];
  users: UserThroughput[];
  /** Workers seen by the queue (pre-label and embedding parts). */
  workers: WorkerInfo[];
}

/** One line of the audit log. */
export interface AuditEntry {
  id: number;
  at: number;
  user: string;
  /** The channel or event, e.g. 'annotations:edit', 'images:review', 'lease:take'. */
  action: string;
  imageId: number | null;
  /** What was done, as stored (JSON text), e.g. the edit's ops or the review verdict. */
  detail: string | null;
}

/** A `tessera worker` process as the queue saw it last. */
export interface WorkerInfo {
  name: string;
  host: string;
  pid: number;
  /** The execution provider its sessions use (e.g. 'cpu', 'cuda'). */
  provider: string;
  startedAt: number;
  lastSeen: number;
  /** Whether its heartbeat is recent. */
  alive: boolean;
}

/** One part of a queued pre-label or embedding run, as a worker ran it. */
export interface RunPart {
  runId: number;
  part: number;
  images: number;
  state: 'queued' | 'running' | 'done' | 'failed';
  worker: string | null;
  provider: string | null;
  attempts: number;
  startedAt: number | null;
  finishedAt: number | null;
  error: string | null;
}

/** What `team:queuePrelabel` / `team:queueEmbeddings` queued. */
export interface QueuedRun {
  runId: number;
  parts: number;
  images: number;
}

/** A shape change one user made, pushed to everyone viewing that image. */
export interface AnnotationsChanged {
  imageId: number;
  by: string;
  /** The channel that changed it. */
  action: string;
}
