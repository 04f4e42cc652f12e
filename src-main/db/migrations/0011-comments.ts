import type { Migration } from './types';

/**
 * Comments pinned to a shape or to a point of an image's frame, with replies and an open/resolved
 * state. A comment always keeps its point (image pixels), so it stays where it was when its shape
 * is deleted. `annotation_id` has no foreign key on purpose: annotation ids are never handed out
 * again (AUTOINCREMENT), so a shape brought back by undo, which keeps its id, finds its comments
 * again, and rebuilding the annotations table in a later migration cannot touch them.
 */
export const comments: Migration = {
  version: 11,
  name: 'comments',
  up: `
    CREATE TABLE comments (
      id            INTEGER PRIMARY KEY AUTOINCREMENT,
      image_id      INTEGER NOT NULL REFERENCES images (id) ON DELETE CASCADE,
      frame         INTEGER NOT NULL DEFAULT 0 CHECK (frame >= 0),
      annotation_id INTEGER,
      x             REAL NOT NULL,
      y             REAL NOT NULL,
      parent_id     INTEGER REFERENCES comments (id) ON DELETE CASCADE,
      author        TEXT NOT NULL,
      body          TEXT NOT NULL CHECK (length(body) > 0),
      created_at    INTEGER NOT NULL,
      resolved_at   INTEGER,
      resolved_by   TEXT
    ) STRICT;
    CREATE INDEX comments_image ON comments (image_id, frame);
    CREATE INDEX comments_open ON comments (image_id) WHERE parent_id IS NULL AND resolved_at IS NULL;
    CREATE INDEX comments_parent ON comments (parent_id) WHERE parent_id IS NOT NULL;
    CREATE INDEX comments_annotation ON comments (annotation_id) WHERE annotation_id IS NOT NULL;
  `,
};
