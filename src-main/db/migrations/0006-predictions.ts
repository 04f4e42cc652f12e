import type { Migration } from './types';

/**
 * Predictions kept out of review, and the ids a COCO source gave.
 *
 * `prediction_history` holds a run's detections that are not pending review: those a newer run
 * of the same model replaced on an image ('superseded'), and those found where a human shape
 * ('labeled') or a rejected prediction ('rejected') of the same class already is. Evaluation
 * reads them with the run's pending predictions, so an older run is judged on everything it found.
 *
 * `prediction_rejections` remembers rejected predictions, so a later run finding the same object
 * (same class, overlapping) does not bring it back. Each row keeps the prediction's annotation
 * id: an undo of the reject re-creates that id, and a rejection whose annotation exists again no
 * longer counts.
 *
 * `coco_image_ids` and `coco_category_ids` keep the ids a COCO instances file gave images and
 * categories, so results made against that file map onto the dataset and a COCO export gives
 * the same ids back.
 */
export const predictions: Migration = {
  version: 6,
  name: 'predictions',
  up: `
    CREATE TABLE prediction_history (
      id            INTEGER PRIMARY KEY,
      run_id        INTEGER NOT NULL REFERENCES model_runs (id) ON DELETE CASCADE,
      image_id      INTEGER NOT NULL REFERENCES images (id) ON DELETE CASCADE,
      frame         INTEGER NOT NULL DEFAULT 0,
      class_id      INTEGER REFERENCES classes (id) ON DELETE CASCADE,
      geometry      TEXT NOT NULL,
      score         REAL,
      attributes    TEXT NOT NULL DEFAULT '{}',
      reason        TEXT NOT NULL CHECK (reason IN ('superseded', 'labeled', 'rejected')),
      replaced_by   INTEGER REFERENCES model_runs (id) ON DELETE SET NULL,
      created_at    INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX prediction_history_run ON prediction_history (run_id, image_id);

    CREATE TABLE prediction_rejections (
      annotation_id INTEGER PRIMARY KEY,
      image_id      INTEGER NOT NULL REFERENCES images (id) ON DELETE CASCADE,
      frame         INTEGER NOT NULL DEFAULT 0,
      class_id      INTEGER REFERENCES classes (id) ON DELETE CASCADE,
      geometry      TEXT NOT NULL,
      created_at    INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX prediction_rejections_image ON prediction_rejections (image_id);

    CREATE TABLE coco_image_ids (
      image_id INTEGER PRIMARY KEY REFERENCES images (id) ON DELETE CASCADE,
      coco_id  INTEGER NOT NULL UNIQUE
    ) STRICT;

    CREATE TABLE coco_category_ids (
      class_id INTEGER PRIMARY KEY REFERENCES classes (id) ON DELETE CASCADE,
      coco_id  INTEGER NOT NULL UNIQUE
    ) STRICT;
  `,
};
