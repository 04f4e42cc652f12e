import type { Migration } from './types';

/**
 * Editing: class attribute definitions, and annotation ids that are never reused.
 *
 * The edit journal re-creates annotations under their old id (undo of a delete, redo of a create).
 * Without AUTOINCREMENT SQLite hands out max(id) + 1, so an id freed by an undo could be given to
 * a new annotation on another image and the redo would then collide with it. ALTER TABLE cannot
 * add AUTOINCREMENT, so the table is rebuilt; the copy keeps every id, and sqlite_sequence starts
 * at the highest one.
 */
export const editing: Migration = {
  version: 2,
  name: 'editing',
  up: `
    ALTER TABLE classes ADD COLUMN attributes TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(attributes));

    CREATE TABLE annotations_v2 (
      id           INTEGER PRIMARY KEY AUTOINCREMENT,
      image_id     INTEGER NOT NULL REFERENCES images (id) ON DELETE CASCADE,
      frame        INTEGER NOT NULL DEFAULT 0,
      class_id     INTEGER REFERENCES classes (id) ON DELETE RESTRICT,
      kind         TEXT NOT NULL CHECK (kind IN ('box', 'polygon', 'mask', 'point', 'obb', 'tag')),
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
    INSERT INTO annotations_v2 (id, image_id, frame, class_id, kind, geometry, source, model_run_id, score, attributes, z,
                                created_at, updated_at, version)
      SELECT id, image_id, frame, class_id, kind, geometry, source, model_run_id, score, attributes, z,
             created_at, updated_at, version
      FROM annotations;
    DROP TABLE annotations;
    ALTER TABLE annotations_v2 RENAME TO annotations;
    CREATE INDEX annotations_image ON annotations (image_id, class_id, source);
    CREATE INDEX annotations_class ON annotations (class_id, image_id);
    CREATE INDEX annotations_run ON annotations (model_run_id) WHERE model_run_id IS NOT NULL;
  `,
};
