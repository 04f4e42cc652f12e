import type { Migration } from '../../migrations/types';

/** Worker processes and the parts of queued runs (see the SQLite migration 18). */
export const teamWorkers: Migration = {
  version: 18,
  name: 'team-workers',
  up: `
    CREATE TABLE worker_nodes (
      name       text COLLATE "C" PRIMARY KEY,
      host       text COLLATE "C" NOT NULL,
      pid        bigint NOT NULL,
      provider   text COLLATE "C" NOT NULL,
      started_at bigint NOT NULL,
      last_seen  bigint NOT NULL
    );

    CREATE TABLE run_parts (
      run_id      bigint NOT NULL REFERENCES model_runs (id) ON DELETE CASCADE,
      part        bigint NOT NULL,
      kind        text COLLATE "C" NOT NULL CHECK (kind IN ('prelabel', 'embed')),
      image_ids   text NOT NULL,
      state       text COLLATE "C" NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running', 'done', 'failed')),
      job_id      text COLLATE "C",
      worker      text COLLATE "C",
      provider    text COLLATE "C",
      attempts    bigint NOT NULL DEFAULT 0,
      started_at  bigint,
      finished_at bigint,
      error       text,
      PRIMARY KEY (run_id, part)
    );
    CREATE INDEX run_parts_running ON run_parts (worker) WHERE state = 'running';
  `,
};
