import type { Migration } from './types';

/**
 * The linear unit of a GeoTIFF's projected CRS, in metres, as the file states it
 * (ProjLinearUnitsGeoKey): lengths are given in metres only when the unit is known, so a CRS in
 * US survey feet is never measured as if it were in metres. Null for images imported before, and
 * for files that state no unit (then the EPSG code decides, see common/geo.ts metresPerCrsUnit).
 */
export const geoUnits: Migration = {
  version: 13,
  name: 'geo-units',
  up: `
    ALTER TABLE image_geo ADD COLUMN linear_unit REAL CHECK (linear_unit IS NULL OR linear_unit > 0);
  `,
};
