import type { Migration } from './types';

/**
 * Stacks: separate files that are slices of one volume (a DICOM series, a numbered greyscale
 * sequence), shown as one grid tile and stepped through in the viewer. Membership is planned at
 * import (and once when a dataset from before this version is opened); `position` is the slice
 * order, from 0. `viewed_image_id` is the slice last viewed, which the stack opens on.
 */
export const stacks: Migration = {
  version: 10,
  name: 'stacks',
  up: `
    CREATE TABLE stacks (
      id              INTEGER PRIMARY KEY,
      kind            TEXT NOT NULL CHECK (kind IN ('dicom', 'sequence')),
      key             TEXT NOT NULL,
      name            TEXT NOT NULL,
      slice_order     TEXT NOT NULL CHECK (slice_order IN ('position', 'instance', 'name', 'number')),
      viewed_image_id INTEGER REFERENCES images (id) ON DELETE SET NULL,
      UNIQUE (kind, key)
    ) STRICT;

    CREATE TABLE stack_members (
      stack_id INTEGER NOT NULL REFERENCES stacks (id) ON DELETE CASCADE,
      image_id INTEGER NOT NULL UNIQUE REFERENCES images (id) ON DELETE CASCADE,
      position INTEGER NOT NULL CHECK (position >= 0),
      PRIMARY KEY (stack_id, position)
    ) STRICT;
  `,
};
