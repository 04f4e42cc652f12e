import type { Migration } from './types';

/**
 * Multi-frame images (DICOM frames, TIFF pages): the frame last viewed, remembered per image so
 * coming back to an image shows the frame the user was working on. No row means frame 0.
 */
export const frames: Migration = {
  version: 7,
  name: 'frames',
  up: `
    CREATE TABLE image_viewed_frames (
      image_id   INTEGER PRIMARY KEY REFERENCES images (id) ON DELETE CASCADE,
      frame      INTEGER NOT NULL CHECK (frame >= 0),
      updated_at INTEGER NOT NULL
    ) STRICT;
  `,
};
