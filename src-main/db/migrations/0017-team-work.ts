import type { Migration } from './types';

/**
 * Work shared by a team on one dataset:
 * - `work_jobs` / `work_job_images`: a manager's split of the images into jobs, each assigned to
 *   an annotator (and optionally a reviewer). An image is in at most one job. `started_at` is when
 *   the assignee first opened the image for editing, `done_at` when they marked it done.
 * - `image_leases`: who is editing an image now. A lease past `expires_at` is free to take.
 * - `audit_log`: who did what to which image and when (edits, status, review, predictions
 *   accepted or rejected, jobs, leases), appended by the team server.
 */
export const teamWork: Migration = {
  version: 17,
  name: 'team-work',
  up: `
    CREATE TABLE work_jobs (
      id         INTEGER PRIMARY KEY AUTOINCREMENT,
      name       TEXT NOT NULL,
      assignee   TEXT NOT NULL,
      reviewer   TEXT,
      created_by TEXT NOT NULL,
      created_at INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX work_jobs_assignee ON work_jobs (assignee);
    CREATE INDEX work_jobs_reviewer ON work_jobs (reviewer) WHERE reviewer IS NOT NULL;

    CREATE TABLE work_job_images (
      job_id      INTEGER NOT NULL REFERENCES work_jobs (id) ON DELETE CASCADE,
      image_id    INTEGER NOT NULL UNIQUE REFERENCES images (id) ON DELETE CASCADE,
      started_at  INTEGER,
      done_by     TEXT,
      done_at     INTEGER,
      reviewed_by TEXT,
      reviewed_at INTEGER,
      PRIMARY KEY (job_id, image_id)
    ) STRICT;

    CREATE TABLE image_leases (
      image_id    INTEGER PRIMARY KEY REFERENCES images (id) ON DELETE CASCADE,
      user_name   TEXT NOT NULL,
      session     TEXT NOT NULL,
      acquired_at INTEGER NOT NULL,
      expires_at  INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE audit_log (
      id        INTEGER PRIMARY KEY AUTOINCREMENT,
      at        INTEGER NOT NULL,
      user_name TEXT NOT NULL,
      action    TEXT NOT NULL,
      image_id  INTEGER,
      detail    TEXT
    ) STRICT;
    CREATE INDEX audit_log_image ON audit_log (image_id, id) WHERE image_id IS NOT NULL;
    CREATE INDEX audit_log_user ON audit_log (user_name, id);
  `,
};
