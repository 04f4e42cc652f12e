import { describe, expect, it } from 'vitest';
import { geodesicDistance, isGeographicEpsg, rulerLength } from '../../src-main/common/measure';
import { linearUnitFromGeoKeys, metresPerCrsUnit } from '../../src-main/common/geo';

describe('ruler lengths', () => {
  it('measures pixels, and mm with the row and the column spacing each on its own axis', () => {
    const r = rulerLength(10, 20, 40, 60, { pixelSpacing: [0.5, 0.25] });
    expect(r.pixels).toBeCloseTo(50, 12);
    // 30 columns × 0.25 mm across, 40 rows × 0.5 mm down.
    expect(r.mm).toBeCloseTo(Math.hypot(7.5, 20), 12);
    expect(r.metres).toBeNull();
    expect(rulerLength(0, 0, 3, 4).mm).toBeNull();
  });

  it('measures metres through a projected CRS (UTM, 0.3 m pixels, rotated)', () => {
    const t: [number, number, number, number, number, number] = [500000, 0.3, 0.1, 4649776, 0.1, -0.3];
    const r = rulerLength(0, 0, 100, 0, { geo: { transform: t, epsg: 32618 } });
    expect(r.metresBy).toBe('projected');
    expect(r.metres).toBeCloseTo(100 * Math.hypot(0.3, 0.1), 9);
  });

  it('measures geodesic metres on WGS 84 for a geographic CRS', () => {
    // One degree of longitude along the equator: a × π / 180 on the ellipsoid.
    expect(geodesicDistance(0, 0, 0, 1)).toBeCloseTo((6378137 * Math.PI) / 180, 3);
    // Vincenty's own test line: Flinders Peak to Buninyong, 54 972.271 m.
    const lat1 = -(37 + 57 / 60 + 3.7203 / 3600), lon1 = 144 + 25 / 60 + 29.5244 / 3600;
    const lat2 = -(37 + 39 / 60 + 10.1561 / 3600), lon2 = 143 + 55 / 60 + 35.3839 / 3600;
    expect(geodesicDistance(lat1, lon1, lat2, lon2)).toBeCloseTo(54972.271, 2);
    // 0.00001° pixels from (10°E, 50°N): 1000 pixels east is 0.01° along the parallel, about 716 m.
    const t: [number, number, number, number, number, number] = [10, 0.00001, 0, 50, 0, -0.00001];
    const r = rulerLength(0, 0, 1000, 0, { geo: { transform: t, epsg: 4326 } });
    expect(r.metresBy).toBe('geodesic');
    expect(r.metres).toBeCloseTo(geodesicDistance(50, 10, 50, 10.01), 6);
    expect(r.metres!).toBeGreaterThan(700);
    expect(r.metres!).toBeLessThan(720);
    expect(isGeographicEpsg(4326)).toBe(true);
    expect(isGeographicEpsg(32618)).toBe(false);
    expect(isGeographicEpsg(null)).toBe(false);
  });

  it('measures Web Mercator on the ground, not in its latitude-stretched metres', () => {
    // shade.tif's grid: 9.5546 m pixels at about 39.6°N, where a Mercator metre is cos(lat) on the ground.
    const t: [number, number, number, number, number, number] = [-11858134.818413004, 9.5546285343, 0, 4813698.2926443005, 0, -9.5546285343];
    const r = rulerLength(0, 512, 1000, 512, { geo: { transform: t, epsg: 3857 } });
    expect(r.metresBy).toBe('geodesic');
    const lat = (2 * Math.atan(Math.exp((4813698.2926443005 - 512 * 9.5546285343) / 6378137)) - Math.PI / 2);
    // Along a parallel the ellipsoid's distance is within 0.5 % of the sphere's cos(lat) × Mercator metres.
    expect(Math.abs(r.metres! / (1000 * 9.5546285343 * Math.cos(lat)) - 1)).toBeLessThan(0.005);
  });

  it('gives no metres for a georeference without a CRS (units unknown)', () => {
    expect(rulerLength(0, 0, 10, 0, { geo: { transform: [0, 1, 0, 0, 0, -1], epsg: null } }).metres).toBeNull();
  });

  it('converts a CRS stated in feet, and gives no metres for a projected CRS whose unit is unknown', () => {
    const t: [number, number, number, number, number, number] = [980000, 2, 0, 200000, 0, -2];
    // NY Long Island State Plane (EPSG:2263) is in US survey feet: 100 pixels of 2 ft.
    const feet = rulerLength(0, 0, 100, 0, { geo: { transform: t, epsg: 2263, linearUnit: 1200 / 3937 } });
    expect(feet.metres).toBeCloseTo(200 * (1200 / 3937), 9);
    expect(feet.crsUnits).toBeNull();
    // The same file without its unit key: 200 grid units, never called metres.
    const unknown = rulerLength(0, 0, 100, 0, { geo: { transform: t, epsg: 2263 } });
    expect(unknown.metres).toBeNull();
    expect(unknown.metresBy).toBeNull();
    expect(unknown.crsUnits).toBeCloseTo(200, 9);
    // A UTM zone is in metres by definition, stated or not; a user-defined CRS needs the key.
    expect(rulerLength(0, 0, 100, 0, { geo: { transform: t, epsg: 32618 } }).metres).toBeCloseTo(200, 9);
    expect(rulerLength(0, 0, 100, 0, { geo: { transform: t, epsg: null, linearUnit: 1 } }).metres).toBeCloseTo(200, 9);
  });

  it('reads the linear unit from GeoKeys', () => {
    expect(linearUnitFromGeoKeys({ ProjLinearUnitsGeoKey: 9001 })).toBe(1);
    expect(linearUnitFromGeoKeys({ ProjLinearUnitsGeoKey: 9002 })).toBe(0.3048);
    expect(linearUnitFromGeoKeys({ ProjLinearUnitsGeoKey: 9003 })).toBeCloseTo(0.3048006096, 10);
    expect(linearUnitFromGeoKeys({ ProjLinearUnitsGeoKey: 32767, ProjLinearUnitSizeGeoKey: 0.5 })).toBe(0.5);
    expect(linearUnitFromGeoKeys({ ProjLinearUnitsGeoKey: 9999 })).toBeNull();
    expect(linearUnitFromGeoKeys({ GeographicTypeGeoKey: 4326 })).toBeNull();
    expect(metresPerCrsUnit({ epsg: 2263, linearUnit: null })).toBeNull();
    expect(metresPerCrsUnit({ epsg: 32633 })).toBe(1);
  });
});
