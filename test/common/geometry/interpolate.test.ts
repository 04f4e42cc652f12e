import { describe, expect, it } from 'vitest';
import { alignRings, interpolateGeometry, interpolationMark, isInterpolated, lerpBox, lerpPolygon, resampleRing } from '../../../src-main/common/geometry/interpolate';

describe('interpolation between key shapes', () => {
  it.each([
    [0, { x: 10, y: 20, w: 30, h: 40 }],
    [0.25, { x: 20, y: 30, w: 40, h: 35 }],
    [0.5, { x: 30, y: 40, w: 50, h: 30 }],
    [1, { x: 50, y: 60, w: 70, h: 20 }],
  ])('lerps each side of a box linearly (t = %f)', (t, want) => {
    expect(lerpBox({ kind: 'box', x: 10, y: 20, w: 30, h: 40 }, { kind: 'box', x: 50, y: 60, w: 70, h: 20 }, t)).toEqual({ kind: 'box', ...want });
  });

  it('resamples a ring evenly by arc length from its first vertex', () => {
    expect(resampleRing([0, 0, 4, 0, 4, 4, 0, 4], 8)).toEqual([0, 0, 2, 0, 4, 0, 4, 2, 4, 4, 2, 4, 0, 4, 0, 2]);
  });

  it('aligns the second ring on the vertex nearest the first ring\'s start, turning the same way', () => {
    const a = [0, 0, 10, 0, 10, 10, 0, 10];
    const b = [11, 11, 11, 1, 1, 1, 1, 11]; // the other way round, starting elsewhere
    expect(alignRings(a, b).b).toEqual([1, 1, 11, 1, 11, 11, 1, 11]);
  });

  it('interpolates polygons of different vertex counts after resampling both to the larger count', () => {
    const tri = { kind: 'polygon' as const, parts: [[0, 0, 8, 0, 0, 8]] };
    const quad = { kind: 'polygon' as const, parts: [[0, 0, 8, 0, 8, 8, 0, 8]] };
    const mid = lerpPolygon(tri, quad, 0.5)!;
    expect(mid.parts[0]).toHaveLength(8);
    expect(lerpPolygon(tri, quad, 1)!.parts[0]).toEqual(quad.parts[0]);
    expect(lerpPolygon(tri, { kind: 'polygon', parts: [[0, 0, 1, 0, 1, 1], [5, 5, 6, 5, 6, 6]] }, 0.5)).toBeNull();
  });

  it('refuses other kinds and mixed kinds with a reason', () => {
    expect(interpolateGeometry({ kind: 'point', x: 1, y: 1 }, { kind: 'point', x: 2, y: 2 }, 0.5)).toEqual({ reason: 'only boxes and polygons are interpolated, not a point' });
    expect(interpolateGeometry({ kind: 'box', x: 0, y: 0, w: 1, h: 1 }, { kind: 'polygon', parts: [[0, 0, 1, 0, 1, 1]] }, 0.5)).toEqual({ reason: 'a box and a polygon cannot be interpolated' });
  });

  it('marks a shape with the ids of its two keys, lower first; the older mark `true` still counts', () => {
    expect(interpolationMark(40, 12)).toBe('12-40');
    expect(isInterpolated({ attributes: { interpolated: '12-40' } })).toBe(true);
    expect(isInterpolated({ attributes: { interpolated: true } })).toBe(true);
    expect(isInterpolated({ attributes: { interpolated: 'yes' } })).toBe(false);
    expect(isInterpolated({ attributes: {} })).toBe(false);
  });
});
