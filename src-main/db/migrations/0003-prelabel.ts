import type { Migration } from './types';

/**
 * Pre-labeling: which images a model run covers and how far it got, so a run interrupted by a
 * restart resumes where it stopped (images with no detections leave no annotations, so the
 * annotations alone cannot tell what is done); and the model-class to dataset-class map each
 * model was last used with.
 */
export const prelabel: Migration = {
  version: 3,
  name: 'prelabel',
  up: `
    CREATE TABLE model_run_images (
      run_id     INTEGER NOT NULL REFERENCES model_runs (id) ON DELETE CASCADE,
      image_id   INTEGER NOT NULL REFERENCES images (id) ON DELETE CASCADE,
      state      TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'skipped', 'failed')),
      detections INTEGER,
      ms         REAL,
      error      TEXT,
      PRIMARY KEY (run_id, image_id)
    ) STRICT, WITHOUT ROWID;

    CREATE TABLE class_maps (
      model      TEXT PRIMARY KEY,
      map        TEXT NOT NULL CHECK (json_valid(map)),
      updated_at INTEGER NOT NULL
    ) STRICT;
  `,
};
