import type { Migration } from './types';

/**
 * Two more annotation kinds: open polylines and keypoints (pose), and a keypoint schema per class
 * (names, skeleton edges, left/right pairs) as JSON. The kind CHECK cannot be altered in place, so
 * the annotations table is rebuilt; every id is kept, and the AUTOINCREMENT counter carries over,
 * so ids freed by deletes are still never handed out again (the edit journal relies on it).
 */
export const shapeKinds: Migration = {
  version: 9,
  name: 'shape-kinds',
  up: `
    ALTER TABLE classes ADD COLUMN keypoints TEXT CHECK (keypoints IS NULL OR json_valid(keypoints));

    CREATE TEMP TABLE annotations_seq AS SELECT seq FROM sqlite_sequence WHERE name = 'annotations';

    CREATE TABLE annotations_v9 (
      id           INTEGER PRIMARY KEY AUTOINCREMENT,
      image_id     INTEGER NOT NULL REFERENCES images (id) ON DELETE CASCADE,
      frame        INTEGER NOT NULL DEFAULT 0,
      class_id     INTEGER REFERENCES classes (id) ON DELETE RESTRICT,
      kind         TEXT NOT NULL
                   CHECK (kind IN ('box', 'polygon', 'mask', 'point', 'obb', 'tag', 'polyline', 'keypoints')),
      geometry     TEXT NOT NULL,
      source       TEXT NOT NULL CHECK (source IN ('human', 'model')),
      model_run_id INTEGER REFERENCES model_runs (id) ON DELETE CASCADE,
      score        REAL,
      attributes   TEXT NOT NULL DEFAULT '{}',
      z            INTEGER NOT NULL DEFAULT 0,
      created_at   INTEGER NOT NULL,
      updated_at   INTEGER NOT NULL,
      version      INTEGER NOT NULL DEFAULT 1,
      CHECK ((source = 'model') = (model_run_id IS NOT NULL))
    ) STRICT;
    INSERT INTO annotations_v9 (id, image_id, frame, class_id, kind, geometry, source, model_run_id, score, attributes, z,
                                created_at, updated_at, version)
      SELECT id, image_id, frame, class_id, kind, geometry, source, model_run_id, score, attributes, z,
             created_at, updated_at, version
      FROM annotations;
    DROP TABLE annotations;
    ALTER TABLE annotations_v9 RENAME TO annotations;
    CREATE INDEX annotations_image ON annotations (image_id, class_id, source);
    CREATE INDEX annotations_class ON annotations (class_id, image_id);
    CREATE INDEX annotations_run ON annotations (model_run_id) WHERE model_run_id IS NOT NULL;

    UPDATE sqlite_sequence SET seq = max(seq, (SELECT seq FROM temp.annotations_seq))
      WHERE name = 'annotations' AND EXISTS (SELECT 1 FROM temp.annotations_seq);
    INSERT INTO sqlite_sequence (name, seq)
      SELECT 'annotations', seq FROM temp.annotations_seq
      WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'annotations');
    DROP TABLE temp.annotations_seq;
  `,
};
