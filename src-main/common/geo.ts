import type { Geometry } from './model';

/**
 * Georeferenced images (GeoTIFF): pixel <-> CRS maths and GeoJSON, as pure functions.
 *
 * Pixel convention: image pixel coordinates are continuous with (0, 0) at the top-left *corner*
 * of the top-left pixel, the same space annotations use (a box at x=0, w=1 covers the first
 * pixel exactly), and GDAL's "pixel is area" convention. The geotransform is stored in GDAL's
 * order and always in that corner convention: a file tagged "pixel is point" (the tiepoint names
 * a pixel centre) is shifted by half a pixel at import, as GDAL does.
 *
 *   X = t[0] + px * t[1] + py * t[2]
 *   Y = t[3] + px * t[4] + py * t[5]
 */
export type GeoTransform = [number, number, number, number, number, number];

export interface GeoReference {
  transform: GeoTransform;
  /** EPSG code of the CRS (projected, else geographic), null when the file names none (user-defined). */
  epsg: number | null;
  /** The file's own citation of the CRS, e.g. "WGS 84 / UTM zone 18N", when it has one. */
  crsName: string | null;
  /** GDAL_NODATA: samples of this value are no data (NaN allowed); null when the file sets none. */
  nodata: number | null;
  /**
   * Metres per unit of a projected CRS as the file states it (ProjLinearUnitsGeoKey: metre, foot,
   * US survey foot, ...); null or absent when the file does not say (see metresPerCrsUnit).
   */
  linearUnit?: number | null;
}

/** The TIFF tags a georeference comes from (GeoTIFF 1.1 section 2.6 / 2.7). */
export interface GeoTags {
  /** ModelPixelScaleTag: ScaleX, ScaleY, ScaleZ. */
  pixelScale?: readonly number[];
  /** ModelTiepointTag: I, J, K, X, Y, Z (one or more tiepoints). */
  tiepoints?: readonly number[];
  /** ModelTransformationTag: the 4x4 matrix row by row. */
  transformation?: readonly number[];
  /** GTRasterTypeGeoKey is RasterPixelIsPoint (2). */
  pixelIsPoint?: boolean;
}

/**
 * The geotransform from the tags: a full ModelTransformation wins; else a tiepoint with a pixel
 * scale (Y grows downward in pixels, so the Y scale is negated). Null without enough tags (a
 * file with several tiepoints and no scale is a GCP set, which is not an affine transform).
 */
export function geoTransformFromTags(tags: GeoTags): GeoTransform | null {
  let t: GeoTransform | null = null;
  const m = tags.transformation;
  if (m && m.length >= 16) {
    t = [m[3]!, m[0]!, m[1]!, m[7]!, m[4]!, m[5]!];
  } else if (tags.pixelScale && tags.pixelScale.length >= 2 && tags.tiepoints && tags.tiepoints.length >= 6) {
    const [i, j, , x, y] = tags.tiepoints as number[];
    const sx = tags.pixelScale[0]!, sy = tags.pixelScale[1]!;
    t = [x! - i! * sx, sx, 0, y! + j! * sy, 0, -sy];
  }
  if (!t || !t.every(Number.isFinite)) return null;
  if (tags.pixelIsPoint) {
    // The tiepoint names the centre of a pixel: move the origin to that pixel's corner.
    t = [t[0] - 0.5 * t[1] - 0.5 * t[2], t[1], t[2], t[3] - 0.5 * t[4] - 0.5 * t[5], t[4], t[5]];
  }
  return t;
}

/** The EPSG code named by GeoKeys: the projected CRS, else the geographic one; 32767 = user-defined. */
export function epsgFromGeoKeys(keys: Record<string, unknown> | null | undefined): number | null {
  if (!keys) return null;
  for (const k of ['ProjectedCSTypeGeoKey', 'GeographicTypeGeoKey']) {
    const v = keys[k];
    if (typeof v === 'number' && Number.isInteger(v) && v > 0 && v !== 32767) return v;
  }
  return null;
}

/** EPSG linear units (the unit of measure codes GeoTIFF uses) in metres. */
const LINEAR_UNITS: Record<number, number> = {
  9001: 1, // metre
  9002: 0.3048, // international foot
  9003: 1200 / 3937, // US survey foot
  9005: 0.3047972654, // Clarke's foot
  9014: 1.8288, // fathom
  9030: 1852, // nautical mile
  9036: 1000, // kilometre
  9093: 1609.344, // statute mile
};

/**
 * Metres per linear unit of the projected CRS as the GeoKeys state it: ProjLinearUnitsGeoKey,
 * or a user-defined unit (32767) with its ProjLinearUnitSizeGeoKey; null when they say nothing.
 */
export function linearUnitFromGeoKeys(keys: Record<string, unknown> | null | undefined): number | null {
  if (!keys) return null;
  const code = keys['ProjLinearUnitsGeoKey'];
  if (typeof code !== 'number') return null;
  if (code === 32767) {
    const size = keys['ProjLinearUnitSizeGeoKey'];
    return typeof size === 'number' && Number.isFinite(size) && size > 0 ? size : null;
  }
  return LINEAR_UNITS[code] ?? null;
}

/**
 * Projected CRSs whose unit is the metre by definition, for files that name the CRS by its EPSG
 * code without stating the unit: UTM zones on WGS 84, NAD27, NAD83, ETRS89, SIRGAS 2000 and
 * GDA94/GDA2020 (MGA), ETRS89-LAEA and LCC Europe, Lambert-93, the British National Grid,
 * Australian Albers and World Mercator. Others are not assumed: a US State Plane zone may be in
 * feet, and a length in feet labelled metres is worse than none.
 */
const METRE_EPSG_RANGES: readonly [number, number][] = [
  [32601, 32660],
  [32701, 32760],
  [26701, 26722],
  [26901, 26923],
  [25828, 25838],
  [31965, 31985],
  [28348, 28358],
  [7846, 7859],
  [3034, 3035],
  [2154, 2154],
  [27700, 27700],
  [3577, 3577],
  [3395, 3395],
];

/** Metres per unit of a georeference's projected CRS: as its file states, else as its EPSG code defines; null when unknown. */
export function metresPerCrsUnit(geo: Pick<GeoReference, 'epsg' | 'linearUnit'>): number | null {
  if (geo.linearUnit !== undefined && geo.linearUnit !== null) return geo.linearUnit;
  const e = geo.epsg;
  if (e === null) return null;
  return METRE_EPSG_RANGES.some(([a, b]) => e >= a && e <= b) ? 1 : null;
}

/** GDAL_NODATA is ASCII ("0", "-9999", "nan"); null when absent or unreadable. */
export function parseNodata(text: string | null | undefined): number | null {
  if (text === null || text === undefined) return null;
  const s = text.replace(/\0/g, '').trim();
  if (s === '') return null;
  if (/^[-+]?nan$/i.test(s)) return NaN;
  const v = Number(s);
  return Number.isNaN(v) ? null : v;
}

export function pixelToCrs(t: GeoTransform, px: number, py: number): [number, number] {
  return [t[0] + px * t[1] + py * t[2], t[3] + px * t[4] + py * t[5]];
}

export function crsToPixel(t: GeoTransform, x: number, y: number): [number, number] {
  const det = t[1] * t[5] - t[2] * t[4];
  if (det === 0) throw new RangeError('the geotransform is not invertible');
  const dx = x - t[0], dy = y - t[3];
  return [(t[5] * dx - t[2] * dy) / det, (-t[4] * dx + t[1] * dy) / det];
}

/** GeoJSON's (2008) named-CRS member, which GDAL and QGIS read; RFC 7946 dropped it but allows it by prior arrangement. */
export function crsMember(epsg: number | null): { type: 'name'; properties: { name: string } } | null {
  return epsg === null ? null : { type: 'name', properties: { name: `urn:ogc:def:crs:EPSG::${epsg}` } };
}

export type GeoJsonGeometry =
  | { type: 'Point'; coordinates: [number, number] }
  | { type: 'LineString'; coordinates: [number, number][] }
  | { type: 'Polygon'; coordinates: [number, number][][] }
  | { type: 'MultiPolygon'; coordinates: [number, number][][][] };

/**
 * A shape's geometry in the CRS. Boxes and polygons become polygons with closed rings (a
 * multi-part polygon becomes a MultiPolygon of its parts), points points, polylines line strings. Other kinds must be
 * converted first (the exporter turns masks and rotated boxes into polygons); they give null.
 */
export function geometryToGeoJson(g: Geometry, t: GeoTransform): GeoJsonGeometry | null {
  const at = (x: number, y: number): [number, number] => pixelToCrs(t, x, y);
  const ring = (flat: readonly number[]): [number, number][] => {
    const pts: [number, number][] = [];
    for (let i = 0; i + 1 < flat.length; i += 2) pts.push(at(flat[i]!, flat[i + 1]!));
    if (pts.length > 0) pts.push(pts[0]!);
    return pts;
  };
  switch (g.kind) {
    case 'box':
      return { type: 'Polygon', coordinates: [ring([g.x, g.y, g.x + g.w, g.y, g.x + g.w, g.y + g.h, g.x, g.y + g.h])] };
    case 'polygon': {
      const parts = g.parts.filter((p) => p.length >= 6).map((p) => [ring(p)]);
      if (parts.length === 0) return null;
      return parts.length === 1 ? { type: 'Polygon', coordinates: parts[0]! } : { type: 'MultiPolygon', coordinates: parts };
    }
    case 'point':
      return { type: 'Point', coordinates: at(g.x, g.y) };
    case 'polyline': {
      const pts: [number, number][] = [];
      for (let i = 0; i + 1 < g.points.length; i += 2) pts.push(at(g.points[i]!, g.points[i + 1]!));
      return { type: 'LineString', coordinates: pts };
    }
    default:
      return null;
  }
}

/** Coordinate text for the status line, with enough decimals to tell neighbouring pixels apart. */
export function formatCrsCoordinate(x: number, y: number, t: GeoTransform): string {
  const pixel = Math.min(Math.hypot(t[1], t[4]), Math.hypot(t[2], t[5])) || 1;
  const d = Math.max(0, Math.min(9, Math.ceil(-Math.log10(pixel)) + 1));
  return `${x.toFixed(d)}, ${y.toFixed(d)}`;
}
