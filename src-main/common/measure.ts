import { metresPerCrsUnit, pixelToCrs, type GeoReference } from './geo';

/**
 * Lengths of a line drawn on an image (the ruler): in pixels always, in millimetres when the
 * image states its pixel spacing (DICOM), in metres when it is georeferenced. Points are image
 * pixel coordinates (0, 0 at the top-left corner of the first pixel).
 */
export interface RulerLength {
  pixels: number;
  mm: number | null;
  metres: number | null;
  /** How the metres were found: in a projected CRS's units, or geodesic on the WGS 84 ellipsoid (geographic CRS, Web Mercator). */
  metresBy: 'projected' | 'geodesic' | null;
  /**
   * The grid distance in the projected CRS's own units when their size in metres is unknown (the
   * file states no unit and its EPSG code is not one known to be in metres); null otherwise.
   */
  crsUnits: number | null;
}

export interface MeasureContext {
  /** Millimetres per pixel [row spacing (vertical), column spacing (horizontal)], DICOM's PixelSpacing order. */
  pixelSpacing?: readonly [number, number] | null;
  geo?: Pick<GeoReference, 'transform' | 'epsg' | 'linearUnit'> | null;
}

export function rulerLength(x0: number, y0: number, x1: number, y1: number, ctx: MeasureContext = {}): RulerLength {
  const dx = x1 - x0, dy = y1 - y0;
  const pixels = Math.hypot(dx, dy);
  const s = ctx.pixelSpacing;
  const mm = s ? Math.hypot(dx * s[1], dy * s[0]) : null;
  let metres: number | null = null;
  let metresBy: RulerLength['metresBy'] = null;
  let crsUnits: number | null = null;
  if (ctx.geo) {
    const a = pixelToCrs(ctx.geo.transform, x0, y0);
    const b = pixelToCrs(ctx.geo.transform, x1, y1);
    if (isGeographicEpsg(ctx.geo.epsg)) {
      // X is longitude, Y latitude, in degrees.
      metres = geodesicDistance(a[1], a[0], b[1], b[0]);
      metresBy = 'geodesic';
    } else if (ctx.geo.epsg !== null && WEB_MERCATOR.has(ctx.geo.epsg)) {
      // Web Mercator's metres grow with latitude (by 1 / cos): the distance on the ground instead.
      const [lon0, lat0] = fromWebMercator(a[0], a[1]);
      const [lon1, lat1] = fromWebMercator(b[0], b[1]);
      metres = geodesicDistance(lat0, lon0, lat1, lon1);
      metresBy = 'geodesic';
    } else {
      const grid = Math.hypot(b[0] - a[0], b[1] - a[1]);
      const unit = metresPerCrsUnit(ctx.geo);
      if (unit !== null) {
        metres = grid * unit;
        metresBy = 'projected';
      } else {
        crsUnits = grid;
      }
    }
  }
  return { pixels, mm, metres, metresBy, crsUnits };
}

/**
 * Whether an EPSG code names a geographic (longitude/latitude) CRS: EPSG gives geographic 2D
 * CRSs codes 4001..4999 (4326 WGS 84, 4269 NAD83, 4258 ETRS89 ...). Lengths in a projected CRS
 * are grid distances in its unit (UTM's scale factor, at most 0.04 % off within a zone, is not
 * undone), converted to metres only when that unit is known (see metresPerCrsUnit).
 */
export function isGeographicEpsg(epsg: number | null | undefined): boolean {
  return epsg !== null && epsg !== undefined && epsg >= 4001 && epsg <= 4999;
}

/** Web (pseudo-) Mercator under its current and former codes. */
const WEB_MERCATOR = new Set([3857, 3785, 900913, 102100]);

/** Longitude and latitude in degrees of a Web Mercator point (spherical, radius 6 378 137 m). */
export function fromWebMercator(x: number, y: number): [number, number] {
  const deg = 180 / Math.PI;
  return [(x / WGS84_A) * deg, (2 * Math.atan(Math.exp(y / WGS84_A)) - Math.PI / 2) * deg];
}

const WGS84_A = 6378137;
const WGS84_F = 1 / 298.257223563;

/**
 * Distance in metres between two points on the WGS 84 ellipsoid (latitudes and longitudes in
 * degrees): Vincenty's inverse formula (accurate to well under a millimetre); for nearly
 * antipodal points, where it does not converge, the great-circle distance on the mean radius.
 */
export function geodesicDistance(lat1: number, lon1: number, lat2: number, lon2: number): number {
  const rad = Math.PI / 180;
  const a = WGS84_A, f = WGS84_F, b = a * (1 - f);
  const L = (lon2 - lon1) * rad;
  const U1 = Math.atan((1 - f) * Math.tan(lat1 * rad));
  const U2 = Math.atan((1 - f) * Math.tan(lat2 * rad));
  const sinU1 = Math.sin(U1), cosU1 = Math.cos(U1), sinU2 = Math.sin(U2), cosU2 = Math.cos(U2);
  let lambda = L;
  for (let i = 0; i < 200; i++) {
    const sinL = Math.sin(lambda), cosL = Math.cos(lambda);
    const sinSigma = Math.hypot(cosU2 * sinL, cosU1 * sinU2 - sinU1 * cosU2 * cosL);
    if (sinSigma === 0) return 0;
    const cosSigma = sinU1 * sinU2 + cosU1 * cosU2 * cosL;
    const sigma = Math.atan2(sinSigma, cosSigma);
    const sinAlpha = (cosU1 * cosU2 * sinL) / sinSigma;
    const cos2Alpha = 1 - sinAlpha * sinAlpha;
    const cos2SigmaM = cos2Alpha === 0 ? 0 : cosSigma - (2 * sinU1 * sinU2) / cos2Alpha;
    const C = (f / 16) * cos2Alpha * (4 + f * (4 - 3 * cos2Alpha));
    const prev = lambda;
    lambda = L + (1 - C) * f * sinAlpha * (sigma + C * sinSigma * (cos2SigmaM + C * cosSigma * (-1 + 2 * cos2SigmaM * cos2SigmaM)));
    if (Math.abs(lambda - prev) < 1e-12) {
      const u2 = (cos2Alpha * (a * a - b * b)) / (b * b);
      const A = 1 + (u2 / 16384) * (4096 + u2 * (-768 + u2 * (320 - 175 * u2)));
      const B = (u2 / 1024) * (256 + u2 * (-128 + u2 * (74 - 47 * u2)));
      const dSigma =
        B * sinSigma * (cos2SigmaM + (B / 4) * (cosSigma * (-1 + 2 * cos2SigmaM * cos2SigmaM) - (B / 6) * cos2SigmaM * (-3 + 4 * sinSigma * sinSigma) * (-3 + 4 * cos2SigmaM * cos2SigmaM)));
      return b * A * (sigma - dSigma);
    }
  }
  const R = 6371008.8;
  const p1 = lat1 * rad, p2 = lat2 * rad;
  const h = Math.sin((p2 - p1) / 2) ** 2 + Math.cos(p1) * Math.cos(p2) * Math.sin(L / 2) ** 2;
  return 2 * R * Math.asin(Math.min(1, Math.sqrt(h)));
}
