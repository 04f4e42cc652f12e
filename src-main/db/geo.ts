import type { GeoReference, GeoTransform } from '../common/geo';
import { parseNodata } from '../common/geo';
import type { Db } from './open';

/** Georeferences of images (GeoTIFF); one row per georeferenced image. */

interface GeoRow {
  image_id: number;
  transform: string;
  epsg: number | null;
  crs_name: string | null;
  nodata: string | null;
  linear_unit: number | null;
}

function toGeo(r: GeoRow): GeoReference {
  return {
    transform: JSON.parse(r.transform) as GeoTransform,
    epsg: r.epsg,
    crsName: r.crs_name,
    nodata: parseNodata(r.nodata),
    linearUnit: r.linear_unit,
  };
}

/** Writes (or replaces) the georeferences of images; callers wrap it with the images' insert. */
export async function setGeoReferences(db: Db, rows: readonly { imageId: number; geo: GeoReference }[]): Promise<void> {
  const stmt = db.prepare(`INSERT INTO image_geo (image_id, transform, epsg, crs_name, nodata, linear_unit) VALUES (?, ?, ?, ?, ?, ?)
     ON CONFLICT (image_id) DO UPDATE SET transform = excluded.transform, epsg = excluded.epsg, crs_name = excluded.crs_name,
       nodata = excluded.nodata, linear_unit = excluded.linear_unit`);
  await db.transaction(async () => {
    for (const { imageId, geo } of rows) {
      const nodata = geo.nodata === null ? null : Number.isNaN(geo.nodata) ? 'nan' : String(geo.nodata);
      await stmt.run(imageId, JSON.stringify(geo.transform), geo.epsg, geo.crsName, nodata, geo.linearUnit ?? null);
    }
  })();
}

export async function getGeo(db: Db, imageId: number): Promise<GeoReference | null> {
  const r = await db.prepare('SELECT image_id, transform, epsg, crs_name, nodata, linear_unit FROM image_geo WHERE image_id = ?').get(imageId) as GeoRow | undefined;
  return r ? toGeo(r) : null;
}
