import type { Migration } from './types';

/**
 * Georeferenced images (GeoTIFF): the pixel -> CRS geotransform (GDAL order, pixel-corner
 * convention, see common/geo.ts), the CRS as an EPSG code and the file's citation, and the
 * nodata value. Nodata is kept as the file's text ("nan" is a valid nodata, and SQLite stores a
 * REAL NaN as NULL).
 */
export const geo: Migration = {
  version: 5,
  name: 'geo',
  up: `
    CREATE TABLE image_geo (
      image_id  INTEGER PRIMARY KEY REFERENCES images (id) ON DELETE CASCADE,
      transform TEXT NOT NULL CHECK (json_valid(transform) AND json_array_length(transform) = 6),
      epsg      INTEGER,
      crs_name  TEXT,
      nodata    TEXT
    ) STRICT;
  `,
};
