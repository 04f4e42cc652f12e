import fs from 'node:fs';
import path from 'node:path';
import { fromFile } from 'geotiff';
import { crsMember, epsgFromGeoKeys, linearUnitFromGeoKeys, geoTransformFromTags, geometryToGeoJson, parseNodata, type GeoReference } from '../common/geo';
import type { ExportClass, ExportImage } from '../common/formats/types';
import type { Split } from '../common/model';
import { setGeoReferences } from '../db/geo';
import type { Db } from '../db/open';
import type { FormatWriter, WriteContext } from './interchange/types';

/**
 * Reads a TIFF's georeference with the `geotiff` package (tags only; no pixels are decoded):
 * the geotransform from ModelTransformation or ModelTiepoint + ModelPixelScale, the CRS's EPSG
 * code from GeoKeys, nodata from GDAL_NODATA. Null for a TIFF that is not georeferenced or whose
 * georeference is not an affine transform (ground control points only).
 */
export async function readGeoReference(file: string): Promise<GeoReference | null> {
  const tiff = await fromFile(file);
  try {
    const image = await tiff.getImage(0);
    const fd = image.fileDirectory;
    const num = async (tag: 'ModelPixelScale' | 'ModelTiepoint' | 'ModelTransformation'): Promise<number[] | undefined> => {
      if (!fd.hasTag(tag)) return undefined;
      const v = (await fd.loadValue(tag)) as ArrayLike<number> | number | undefined;
      return v === undefined ? undefined : typeof v === 'number' ? [v] : Array.from(v, Number);
    };
    const keys = image.getGeoKeys() as Record<string, unknown> | null;
    const transform = geoTransformFromTags({
      pixelScale: await num('ModelPixelScale'),
      tiepoints: await num('ModelTiepoint'),
      transformation: await num('ModelTransformation'),
      pixelIsPoint: keys?.['GTRasterTypeGeoKey'] === 2,
    });
    if (!transform) return null;
    const nodataTag = fd.hasTag('GDAL_NODATA') ? await fd.loadValue('GDAL_NODATA') : undefined;
    const citation = keys?.['GTCitationGeoKey'] ?? keys?.['GeogCitationGeoKey'];
    return {
      transform,
      epsg: epsgFromGeoKeys(keys),
      linearUnit: linearUnitFromGeoKeys(keys),
      crsName: typeof citation === 'string' ? citation.replace(/\|+$/, '') : null,
      nodata: parseNodata(typeof nodataTag === 'string' ? nodataTag : nodataTag === undefined ? null : String(nodataTag)),
    };
  } finally {
    await tiff.close();
  }
}

/** The georeference of a file when it is a TIFF that has one; never throws (import goes on without it). */
export async function probeGeoReference(file: string, format: string): Promise<GeoReference | null> {
  if (format !== 'tiff') return null;
  try {
    return await readGeoReference(file);
  } catch {
    return null;
  }
}

/**
 * Georeferences of images an import is about to add (any import: image files or an annotated
 * dataset), by index, null where a file has none. Read before the insert's transaction, which
 * then records them with storeGeoReferences.
 */
export async function probeGeoReferences(images: readonly { file: string; format: string }[]): Promise<(GeoReference | null)[]> {
  const out: (GeoReference | null)[] = [];
  for (const im of images) out.push(await probeGeoReference(im.file, im.format));
  return out;
}

/** Records probed georeferences for the rows just inserted (`ids` in the probe's order); call inside the insert's transaction. */
export async function storeGeoReferences(db: Db, ids: readonly number[], geos: readonly (GeoReference | null)[]): Promise<void> {
  await setGeoReferences(
    db,
    ids.flatMap((imageId, i) => (geos[i] ? [{ imageId, geo: geos[i]! }] : [])),
  );
}

/**
 * The 'geojson' export: one FeatureCollection per georeferenced image, `<image stem>.geojson`
 * beside the image, in the image's own CRS (named by a `crs` member; images of one dataset may
 * use different CRSs, which one collection could not hold). Each feature is one shape with
 * properties class, source ('human' | 'model'), score (null for human shapes), image and the
 * annotation id. Images without a georeference get no file and one counted warning.
 */
export function geoJsonWriter(geoOf: (imageId: number) => Promise<GeoReference | null>): FormatWriter {
  return {
    format: 'geojson',
    imagePath: (name: string, _split: Split | null) => name,
    async write(outDir: string, _classes: ExportClass[], images: AsyncIterable<ExportImage>, ctx: WriteContext) {
      let files = 0;
      let empty = 0;
      for await (const im of images) {
        const geo = await geoOf(im.id);
        if (!geo) {
          ctx.warn('not-georeferenced', 'images without a georeference: no GeoJSON written for them');
          continue;
        }
        const features = [];
        for (const a of im.annotations) {
          const geometry = geometryToGeoJson(a.geometry, geo.transform);
          if (!geometry) {
            ctx.warn(`unsupported:${a.geometry.kind}`, `${a.geometry.kind} shapes cannot be written as GeoJSON`);
            continue;
          }
          features.push({
            type: 'Feature',
            id: a.id,
            geometry,
            properties: { class: a.label, source: a.source ?? 'human', score: a.score ?? null, image: im.file, annotationId: a.id },
          });
        }
        if (features.length === 0) empty++;
        const crs = crsMember(geo.epsg);
        const collection = {
          type: 'FeatureCollection',
          name: path.posix.basename(im.file),
          ...(crs ? { crs } : {}),
          features,
        };
        const ext = path.posix.extname(im.file);
        const out = path.join(outDir, ...`${im.file.slice(0, im.file.length - ext.length)}.geojson`.split('/'));
        fs.mkdirSync(path.dirname(out), { recursive: true });
        await fs.promises.writeFile(out, JSON.stringify(collection, null, 1));
        files++;
      }
      return { files, emptyLabelFiles: empty };
    },
  };
}
