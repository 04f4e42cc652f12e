import type { Migration } from './types';

/**
 * The first schema. Geometry is JSON in image pixels of the oriented image; masks are stored as
 * RLE inside that JSON. Annotation counts and areas are never stored: they come from queries.
 */
export const initial: Migration = {
  version: 1,
  name: 'initial',
  up: `
    CREATE TABLE meta (
      key   TEXT PRIMARY KEY,
      value TEXT NOT NULL
    ) STRICT;

    CREATE TABLE images (
      id            INTEGER PRIMARY KEY,
      path          TEXT NOT NULL UNIQUE,
      external      INTEGER NOT NULL DEFAULT 0 CHECK (external IN (0, 1)),
      content_hash  TEXT NOT NULL UNIQUE,
      file_size     INTEGER NOT NULL,
      file_mtime_ms INTEGER NOT NULL,
      width         INTEGER NOT NULL CHECK (width > 0),
      height        INTEGER NOT NULL CHECK (height > 0),
      channels      INTEGER NOT NULL,
      bit_depth     INTEGER NOT NULL,
      format        TEXT NOT NULL,
      frames        INTEGER NOT NULL DEFAULT 1 CHECK (frames >= 1),
      orientation   INTEGER NOT NULL DEFAULT 1,
      status        TEXT NOT NULL DEFAULT 'new'
                    CHECK (status IN ('new', 'in_progress', 'done', 'reviewed', 'rejected')),
      split         TEXT CHECK (split IN ('train', 'val', 'test')),
      review_comment TEXT,
      created_at    INTEGER NOT NULL,
      updated_at    INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX images_status ON images (status, id);
    CREATE INDEX images_split ON images (split, id);

    CREATE TABLE classes (
      id         INTEGER PRIMARY KEY,
      name       TEXT NOT NULL UNIQUE COLLATE NOCASE,
      color      TEXT NOT NULL,
      hotkey     TEXT,
      sort_order INTEGER NOT NULL,
      created_at INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE model_runs (
      id          INTEGER PRIMARY KEY,
      model       TEXT NOT NULL,
      name        TEXT,
      parameters  TEXT NOT NULL DEFAULT '{}',
      provider    TEXT,
      status      TEXT NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'done', 'failed', 'cancelled')),
      started_at  INTEGER NOT NULL,
      finished_at INTEGER
    ) STRICT;

    CREATE TABLE annotations (
      id           INTEGER PRIMARY KEY,
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
    CREATE INDEX annotations_image ON annotations (image_id, class_id, source);
    CREATE INDEX annotations_class ON annotations (class_id, image_id);
    CREATE INDEX annotations_run ON annotations (model_run_id) WHERE model_run_id IS NOT NULL;

    -- One row per user edit; forward and backward hold the annotation states needed to redo and
    -- undo it, so history survives closing the dataset.
    CREATE TABLE edit_journal (
      id         INTEGER PRIMARY KEY,
      image_id   INTEGER NOT NULL REFERENCES images (id) ON DELETE CASCADE,
      label      TEXT NOT NULL,
      forward    TEXT NOT NULL,
      backward   TEXT NOT NULL,
      undone     INTEGER NOT NULL DEFAULT 0 CHECK (undone IN (0, 1)),
      created_at INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX edit_journal_image ON edit_journal (image_id, id);
  `,
};
