import type { Migration } from './types';

/**
 * Medical imaging: per-image metadata of DICOM files (only what decoding, display windows and
 * measurements need; no patient or study identifiers) and the display windows users chose,
 * remembered per image and per series.
 */
export const medical: Migration = {
  version: 4,
  name: 'medical',
  up: `
    CREATE TABLE image_imaging (
      image_id   INTEGER PRIMARY KEY REFERENCES images (id) ON DELETE CASCADE,
      kind       TEXT NOT NULL CHECK (kind IN ('dicom')),
      series_uid TEXT,
      meta       TEXT NOT NULL CHECK (json_valid(meta))
    ) STRICT;
    CREATE INDEX image_imaging_series ON image_imaging (series_uid) WHERE series_uid IS NOT NULL;

    CREATE TABLE image_windows (
      image_id   INTEGER PRIMARY KEY REFERENCES images (id) ON DELETE CASCADE,
      center     REAL NOT NULL,
      width      REAL NOT NULL CHECK (width >= 1),
      updated_at INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE series_windows (
      series_uid TEXT PRIMARY KEY,
      center     REAL NOT NULL,
      width      REAL NOT NULL CHECK (width >= 1),
      updated_at INTEGER NOT NULL
    ) STRICT, WITHOUT ROWID;
  `,
};
