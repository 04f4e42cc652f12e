import type { Migration } from './types';

/**
 * Display adjustments (brightness, contrast, gamma, invert, channels) remembered for an image,
 * and a dataset-wide default for images without their own. Settings are JSON (see
 * common/imaging/display.ts); the default is the single row with id 1.
 */
export const display: Migration = {
  version: 12,
  name: 'display',
  up: `
    CREATE TABLE image_display (
      image_id   INTEGER PRIMARY KEY REFERENCES images (id) ON DELETE CASCADE,
      settings   TEXT NOT NULL CHECK (json_valid(settings)),
      updated_at INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE dataset_display (
      id         INTEGER PRIMARY KEY CHECK (id = 1),
      settings   TEXT NOT NULL CHECK (json_valid(settings)),
      updated_at INTEGER NOT NULL
    ) STRICT;
  `,
};
