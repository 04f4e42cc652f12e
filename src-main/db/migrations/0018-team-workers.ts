import type { Migration } from './types';

/**
 * Runs done by `tessera worker` processes:
 * - `worker_nodes`: every worker process the queue has seen, with its last heartbeat.
 * - `run_parts`: a queued run split into parts of a few images, each a job of the work queue;
 *   which worker ran it last, on which execution provider, how many times it was started.
 *   Pre-label and embedding runs both have a `model_runs` row (an embedding run's parameters
 *   say `kind: 'embed'`), so parts, per-image progress and the run's status work alike.
 */
export const teamWorkers: Migration = {
  version: 18,
  name: 'team-workers',
  up: `
    CREATE TABLE worker_nodes (
      name       TEXT PRIMARY KEY,
      host       TEXT NOT NULL,
      pid        INTEGER NOT NULL,
      provider   TEXT NOT NULL,
      started_at INTEGER NOT NULL,
      last_seen  INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE run_parts (
      run_id      INTEGER NOT NULL REFERENCES model_runs (id) ON DELETE CASCADE,
      part        INTEGER NOT NULL,
      kind        TEXT NOT NULL CHECK (kind IN ('prelabel', 'embed')),
      image_ids   TEXT NOT NULL,
      state       TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running', 'done', 'failed')),
      job_id      TEXT,
      worker      TEXT,
      provider    TEXT,
      attempts    INTEGER NOT NULL DEFAULT 0,
      started_at  INTEGER,
      finished_at INTEGER,
      error       TEXT,
      PRIMARY KEY (run_id, part)
    ) STRICT;
    CREATE INDEX run_parts_running ON run_parts (worker) WHERE state = 'running';
  `,
};
