import type { Migration } from './types';

/**
 * Dataset versions: a numbered, named, immutable snapshot of what an export reads. Each version
 * keeps a compact copy of the image list (paths and content hashes, never the files), the classes
 * (name, colour, order, attribute and keypoint definitions, remembered COCO ids), and the stored
 * annotation rows (tags included) with their ids, so exporting a version later writes the same
 * files as the first time whatever was edited since.
 *
 * Nothing refers to the live tables: deleting an image or a class later leaves the versions as they
 * were. Rows are never updated (the triggers refuse it); deleting a version deletes its rows.
 * Numbers come from AUTOINCREMENT ids, so a deleted version's number is never given again.
 */
export const versions: Migration = {
  version: 15,
  name: 'versions',
  up: `
    CREATE TABLE versions (
      id               INTEGER PRIMARY KEY AUTOINCREMENT,
      number           INTEGER NOT NULL UNIQUE CHECK (number >= 1),
      name             TEXT NOT NULL,
      note             TEXT NOT NULL DEFAULT '',
      created_at       INTEGER NOT NULL,
      with_predictions INTEGER NOT NULL CHECK (with_predictions IN (0, 1)),
      recipe           TEXT CHECK (recipe IS NULL OR json_valid(recipe)),
      image_count      INTEGER NOT NULL,
      class_count      INTEGER NOT NULL,
      annotation_count INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE version_images (
      version_id   INTEGER NOT NULL REFERENCES versions (id) ON DELETE CASCADE,
      image_id     INTEGER NOT NULL,
      path         TEXT NOT NULL,
      external     INTEGER NOT NULL CHECK (external IN (0, 1)),
      content_hash TEXT NOT NULL,
      width        INTEGER NOT NULL,
      height       INTEGER NOT NULL,
      orientation  INTEGER NOT NULL,
      format       TEXT NOT NULL,
      frames       INTEGER NOT NULL,
      status       TEXT NOT NULL,
      split        TEXT,
      coco_id      INTEGER,
      geo          TEXT CHECK (geo IS NULL OR json_valid(geo)),
      PRIMARY KEY (version_id, image_id)
    ) STRICT, WITHOUT ROWID;

    CREATE TABLE version_classes (
      version_id INTEGER NOT NULL REFERENCES versions (id) ON DELETE CASCADE,
      class_id   INTEGER NOT NULL,
      name       TEXT NOT NULL,
      color      TEXT NOT NULL,
      sort_order INTEGER NOT NULL,
      attributes TEXT NOT NULL,
      keypoints  TEXT,
      coco_id    INTEGER,
      PRIMARY KEY (version_id, class_id)
    ) STRICT, WITHOUT ROWID;

    CREATE TABLE version_annotations (
      version_id INTEGER NOT NULL REFERENCES versions (id) ON DELETE CASCADE,
      id         INTEGER NOT NULL,
      image_id   INTEGER NOT NULL,
      frame      INTEGER NOT NULL,
      class_id   INTEGER,
      kind       TEXT NOT NULL,
      geometry   TEXT NOT NULL,
      attributes TEXT NOT NULL,
      source     TEXT NOT NULL,
      score      REAL,
      z          INTEGER NOT NULL,
      PRIMARY KEY (version_id, id)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX version_annotations_image ON version_annotations (version_id, image_id, z, id);

    CREATE TRIGGER versions_immutable BEFORE UPDATE ON versions BEGIN SELECT RAISE(ABORT, 'versions are immutable'); END;
    CREATE TRIGGER version_images_immutable BEFORE UPDATE ON version_images BEGIN SELECT RAISE(ABORT, 'versions are immutable'); END;
    CREATE TRIGGER version_classes_immutable BEFORE UPDATE ON version_classes BEGIN SELECT RAISE(ABORT, 'versions are immutable'); END;
    CREATE TRIGGER version_annotations_immutable BEFORE UPDATE ON version_annotations BEGIN SELECT RAISE(ABORT, 'versions are immutable'); END;
  `,
};
