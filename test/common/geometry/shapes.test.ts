import { describe, expect, it } from 'vitest';
import { fillHoles } from '../../../src-main/common/geometry/raster';
import { decodeMask, encodeMask, rleArea } from '../../../src-main/common/geometry/rle';
import {
  boxFromGeometry,
  distanceToSegment,
  distinctVertexCount,
  geometryArea,
  geometryBBox,
  hitTest,
  maskToPolygonGeometry,
  obbCorners,
  pointInRing,
  polygonSelfIntersects,
  polygonToMaskGeometry,
  ringSignedArea,
  rleCountsArea,
  translateGeometry,
  validateGeometry,
} from '../../../src-main/common/geometry/shapes';
import * as geometry from '../../../src-main/common/geometry';
import type { Geometry } from '../../../src-main/common/model';
import { mulberry32 } from '../../../src-main/common/random';

function maskOf(rows: string[]): Extract<Geometry, { kind: 'mask' }> {
  const w = rows[0]!.length;
  const m = Uint8Array.from(rows.join('').split(''), (c) => (c === '#' ? 1 : 0));
  return { kind: 'mask', rle: encodeMask(m, w, rows.length) };
}

const image = { width: 10, height: 8 };

describe('measures', () => {
  it('ringSignedArea is positive for rings clockwise on screen (y down)', () => {
    expect(ringSignedArea([0, 0, 2, 0, 2, 3, 0, 3])).toBe(6);
    expect(ringSignedArea([0, 0, 0, 3, 2, 3, 2, 0])).toBe(-6);
    expect(ringSignedArea([0, 0, 1, 1, 2, 2])).toBe(0);
  });

  it('distinctVertexCount and rleCountsArea', () => {
    expect(distinctVertexCount([0, 0, 1, 0, 1, 0, 0, 0, 0, 1])).toBe(3);
    expect(rleCountsArea([3, 4, 2, 5, 1])).toBe(9);
    expect(rleCountsArea([])).toBe(0);
  });

  it('geometryArea per kind', () => {
    expect(geometryArea({ kind: 'box', x: 5, y: 5, w: -4, h: 3 })).toBe(12);
    expect(geometryArea({ kind: 'obb', cx: 0, cy: 0, w: 4, h: 2, angle: 1 })).toBe(8);
    // Parts add up whatever their orientation.
    expect(geometryArea({ kind: 'polygon', parts: [[0, 0, 2, 0, 2, 2, 0, 2], [5, 5, 5, 6, 6, 6, 6, 5]] })).toBe(5);
    expect(geometryArea(maskOf(['.#.', '##.']))).toBe(3);
    expect(geometryArea({ kind: 'point', x: 1, y: 1 })).toBe(0);
    expect(geometryArea({ kind: 'tag' })).toBe(0);
  });

  it('obbCorners turn counter-clockwise in image axes', () => {
    const c = obbCorners({ kind: 'obb', cx: 10, cy: 20, w: 4, h: 2, angle: Math.PI / 2 });
    const expected = [11, 18, 11, 22, 9, 22, 9, 18];
    c.forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 12));
  });

  it('geometryBBox per kind', () => {
    expect(geometryBBox({ kind: 'box', x: 5, y: 5, w: -4, h: 3 })).toEqual({ x: 1, y: 5, w: 4, h: 3 });
    expect(geometryBBox({ kind: 'polygon', parts: [[1, 2, 5, 0.5], [3, 9, 4, 4]] })).toEqual({ x: 1, y: 0.5, w: 4, h: 8.5 });
    const r = geometryBBox({ kind: 'obb', cx: 10, cy: 20, w: 4, h: 2, angle: Math.PI / 2 });
    expect([r.x, r.y, r.w, r.h].map((v) => Math.round(v * 1e9) / 1e9)).toEqual([9, 18, 2, 4]);
    expect(geometryBBox(maskOf(['....', '..#.', '.##.']))).toEqual({ x: 1, y: 1, w: 2, h: 2 });
    expect(geometryBBox({ kind: 'point', x: 3, y: 4 })).toEqual({ x: 3, y: 4, w: 0, h: 0 });
    expect(geometryBBox({ kind: 'tag' })).toEqual({ x: 0, y: 0, w: 0, h: 0 });
  });
});

describe('validateGeometry', () => {
  const cases: [Geometry, RegExp | null][] = [
    [{ kind: 'box', x: 1, y: 1, w: 3, h: 2 }, null],
    [{ kind: 'box', x: 1, y: 1, w: 0, h: 2 }, /box with zero area/],
    [{ kind: 'obb', cx: 1, cy: 1, w: 3, h: 0, angle: 0 }, /rotated box with zero area/],
    [{ kind: 'box', x: Number.NaN, y: 1, w: 3, h: 2 }, /finite/],
    [{ kind: 'polygon', parts: [] }, /at least one part/],
    [{ kind: 'polygon', parts: [[0, 0, 1, 0, 1]] }, /odd number/],
    [{ kind: 'polygon', parts: [[0, 0, 4, 0, 4, 4], [0, 0, 1, 1, 0, 0]] }, /3 distinct vertices \(part 2\)/],
    [{ kind: 'polygon', parts: [[0, 0, 1, 1, 2, 2]] }, /zero area/],
    // Self-intersection is allowed: COCO data has it. This bow tie's lobes cancel in the signed
    // area, but it covers 32 pixels.
    [{ kind: 'polygon', parts: [[0, 0, 8, 8, 8, 0, 0, 8]] }, null],
    [{ kind: 'polygon', parts: [[0, 0, 1, 1, 1, 1, 3, 3, 2, 2]] }, /zero area/],
    [{ kind: 'mask', rle: { size: [8, 10], counts: [5, 3, 72] } }, null],
    [{ kind: 'mask', rle: { size: [10, 8], counts: [5, 3, 72] } }, /mask is 8x10 but the image is 10x8/],
    [{ kind: 'mask', rle: { size: [8, 10], counts: [5, 3, 71] } }, /cover 79 pixels, not 80/],
    [{ kind: 'mask', rle: { size: [8, 10], counts: [80] } }, /empty mask/],
    [{ kind: 'mask', rle: { size: [8, 10], counts: [5, -3, 78] } }, /non-negative whole numbers/],
    [{ kind: 'mask', rle: { size: [8, 10], counts: [5, 2.5, 72.5] } }, /non-negative whole numbers/],
    [{ kind: 'point', x: 1, y: 2 }, null],
    [{ kind: 'tag' }, null],
  ];
  for (const [g, expected] of cases) {
    it(`${g.kind} ${JSON.stringify(g).slice(0, 60)} -> ${expected ?? 'ok'}`, () => {
      const got = validateGeometry(g, image);
      if (expected === null) expect(got).toBeNull();
      else expect(got).toMatch(expected);
    });
  }
});

describe('polygonSelfIntersects, pointInRing, distanceToSegment', () => {
  it('finds proper crossings between non-adjacent edges only', () => {
    expect(polygonSelfIntersects([0, 0, 8, 8, 8, 0, 0, 8])).toBe(true); // bow tie
    const pentagram = [0, 1, 2, 3, 4].map((k) => (k * 2 * 2 * Math.PI) / 5).flatMap((a) => [Math.cos(a), Math.sin(a)]);
    expect(polygonSelfIntersects(pentagram)).toBe(true);
    expect(polygonSelfIntersects([0, 0, 4, 0, 4, 4, 0, 4])).toBe(false);
    expect(polygonSelfIntersects([0, 0, 4, 0, 2, 3])).toBe(false);
    expect(polygonSelfIntersects([0, 0, 4, 0, 4, 4, 0, 4, 0, 0])).toBe(false); // closing vertex repeated
    // Touching at a vertex (a traced diagonal pinch) and a vertex on another edge are not crossings.
    expect(polygonSelfIntersects([0, 0, 1, 0, 1, 1, 2, 1, 2, 2, 1, 2, 1, 1, 0, 1])).toBe(false);
    expect(polygonSelfIntersects([0, 0, 4, 0, 4, 2, 2, 0, 0, 2])).toBe(false);
    // A concave ring whose last edge cuts back across the first part.
    expect(polygonSelfIntersects([0, 0, 6, 0, 6, 6, 3, 6, 3, -2, 0, -2])).toBe(true);
  });

  it('pointInRing uses the even-odd rule', () => {
    const u = [0, 0, 6, 0, 6, 6, 4, 6, 4, 2, 2, 2, 2, 6, 0, 6]; // a U open at the bottom
    expect(pointInRing(1, 3, u)).toBe(true);
    expect(pointInRing(3, 4, u)).toBe(false); // inside the notch
    expect(pointInRing(3, 1, u)).toBe(true);
    expect(pointInRing(7, 1, u)).toBe(false);
    // A bow tie's lobes are left and right of its crossing at (4, 4).
    expect(pointInRing(2, 4, [0, 0, 8, 8, 8, 0, 0, 8])).toBe(true);
    expect(pointInRing(7, 4, [0, 0, 8, 8, 8, 0, 0, 8])).toBe(true);
    expect(pointInRing(4, 2, [0, 0, 8, 8, 8, 0, 0, 8])).toBe(false);
  });

  it('distanceToSegment measures to the nearest point, endpoints included', () => {
    expect(distanceToSegment(0, 0, 1, 0, 3, 0)).toBe(1);
    expect(distanceToSegment(2, 2, 1, 0, 3, 0)).toBe(2);
    expect(distanceToSegment(6, 4, 1, 0, 3, 0)).toBe(5);
    expect(distanceToSegment(0, 0, 3, 4, 3, 4)).toBe(5);
    expect(distanceToSegment(1, 1, 0, 0, 2, 2)).toBe(0);
  });
});

describe('translateGeometry', () => {
  it('moves vector kinds exactly and returns new values', () => {
    const poly: Geometry = { kind: 'polygon', parts: [[0, 0, 4, 0, 4, 4], [10, 10, 11, 10, 11, 11]] };
    expect(translateGeometry(poly, 1.5, -2)).toEqual({ kind: 'polygon', parts: [[1.5, -2, 5.5, -2, 5.5, 2], [11.5, 8, 12.5, 8, 12.5, 9]] });
    expect(poly).toEqual({ kind: 'polygon', parts: [[0, 0, 4, 0, 4, 4], [10, 10, 11, 10, 11, 11]] });
    expect(translateGeometry({ kind: 'box', x: 1, y: 2, w: 3, h: 4 }, 0.25, 1)).toEqual({ kind: 'box', x: 1.25, y: 3, w: 3, h: 4 });
    expect(translateGeometry({ kind: 'obb', cx: 1, cy: 2, w: 3, h: 4, angle: 0.3 }, -1, 1)).toEqual({ kind: 'obb', cx: 0, cy: 3, w: 3, h: 4, angle: 0.3 });
    expect(translateGeometry({ kind: 'point', x: 1, y: 2 }, 3, 4)).toEqual({ kind: 'point', x: 4, y: 6 });
    expect(translateGeometry({ kind: 'tag' }, 3, 4)).toEqual({ kind: 'tag' });
  });

  it('shifts mask pixels by rounded offsets, dropping what leaves the image', () => {
    const g = maskOf(['##...', '.#...', '.###.', '....#']);
    expect(translateGeometry(g, 1, 1)).toEqual(maskOf(['.....', '.##..', '..#..', '..###']));
    expect(translateGeometry(g, -1.4, -0.6)).toEqual(maskOf(['#....', '###..', '...#.', '.....']));
    expect(translateGeometry(g, 9, 0)).toEqual(maskOf(['.....', '.....', '.....', '.....']));
  });

  it('agrees with shifting decoded pixels on random masks', () => {
    const rand = mulberry32(21);
    for (let k = 0; k < 60; k++) {
      const w = 1 + Math.floor(rand() * 25);
      const h = 1 + Math.floor(rand() * 25);
      const m = new Uint8Array(w * h);
      let v = 0;
      for (let i = 0; i < m.length; i++) {
        if (rand() < 0.25) v = rand() < 0.5 ? 1 : 0;
        m[i] = v;
      }
      const dx = Math.round((rand() - 0.5) * 2 * (w + 2));
      const dy = Math.round((rand() - 0.5) * 2 * (h + 2));
      const shifted = new Uint8Array(w * h);
      for (let y = 0; y < h; y++)
        for (let x = 0; x < w; x++) {
          const nx = x + dx;
          const ny = y + dy;
          if (m[y * w + x] && nx >= 0 && ny >= 0 && nx < w && ny < h) shifted[ny * w + nx] = 1;
        }
      const moved = translateGeometry({ kind: 'mask', rle: encodeMask(m, w, h) }, dx, dy);
      expect(moved).toEqual({ kind: 'mask', rle: encodeMask(shifted, w, h) });
    }
  });
});

describe('conversions', () => {
  it('boxFromGeometry takes the bounding box', () => {
    expect(boxFromGeometry({ kind: 'polygon', parts: [[1, 2, 5, 0.5, 3, 9]] })).toEqual({ kind: 'box', x: 1, y: 0.5, w: 4, h: 8.5 });
    expect(boxFromGeometry(maskOf(['....', '..#.', '.##.']))).toEqual({ kind: 'box', x: 1, y: 1, w: 2, h: 2 });
    expect(boxFromGeometry({ kind: 'box', x: 5, y: 5, w: -2, h: 1 })).toEqual({ kind: 'box', x: 3, y: 5, w: 2, h: 1 });
  });

  it('polygonToMaskGeometry rasterises polygons, boxes and rotated boxes like COCO', () => {
    const poly = polygonToMaskGeometry({ kind: 'polygon', parts: [[2, 1, 7, 1, 7, 4, 2, 4]] }, 10, 8);
    expect(poly.rle.size).toEqual([8, 10]);
    expect(rleArea(poly.rle)).toBe(15);
    expect(polygonToMaskGeometry({ kind: 'box', x: 2, y: 1, w: 5, h: 3 }, 10, 8)).toEqual(poly);
    expect(polygonToMaskGeometry({ kind: 'obb', cx: 4.5, cy: 2.5, w: 3, h: 5, angle: Math.PI / 2 }, 10, 8)).toEqual(poly);
    expect(validateGeometry(poly, image)).toBeNull();
  });

  it('maskToPolygonGeometry traces each component; holes come back filled', () => {
    const g = maskOf(['..........', '.####.....', '.#..#...#.', '.####.....', '..........', '..........', '..........', '..........']);
    const p = maskToPolygonGeometry(g, 0)!;
    expect(p.parts).toEqual([
      [1, 1, 5, 1, 5, 4, 1, 4],
      [8, 2, 9, 2, 9, 3, 8, 3],
    ]);
    expect(validateGeometry(p, image)).toBeNull();
    const back = polygonToMaskGeometry(p, 10, 8);
    expect(back.rle).toEqual(encodeMask(fillHoles(decodeMask(g.rle), 10, 8), 10, 8));
    expect(maskToPolygonGeometry({ kind: 'mask', rle: { size: [8, 10], counts: [80] } })).toBeNull();
  });
});

describe('hitTest', () => {
  const cases: [string, Geometry, number, number, number, boolean][] = [
    ['inside a box', { kind: 'box', x: 2, y: 2, w: 4, h: 3 }, 3, 3, 0, true],
    ['outside a box, beyond tolerance', { kind: 'box', x: 2, y: 2, w: 4, h: 3 }, 7.5, 3, 1, false],
    ['near a box edge', { kind: 'box', x: 2, y: 2, w: 4, h: 3 }, 6.8, 3, 1, true],
    ['near a box corner (diagonal distance)', { kind: 'box', x: 2, y: 2, w: 4, h: 3 }, 6.8, 5.8, 1, false],
    ['box with negative size', { kind: 'box', x: 6, y: 5, w: -4, h: -3 }, 3, 3, 0, true],
    ['in a U notch', { kind: 'polygon', parts: [[0, 0, 6, 0, 6, 6, 4, 6, 4, 2, 2, 2, 2, 6, 0, 6]] }, 3, 4, 0.5, false],
    ['near a U notch wall', { kind: 'polygon', parts: [[0, 0, 6, 0, 6, 6, 4, 6, 4, 2, 2, 2, 2, 6, 0, 6]] }, 3.7, 4, 0.5, true],
    ['in the second part', { kind: 'polygon', parts: [[0, 0, 1, 0, 1, 1], [10, 10, 12, 10, 12, 12, 10, 12]] }, 11, 11, 0, true],
    ['inside a rotated box', { kind: 'obb', cx: 10, cy: 10, w: 10, h: 2, angle: Math.PI / 4 }, 12, 12, 0, true],
    ['off a rotated box', { kind: 'obb', cx: 10, cy: 10, w: 10, h: 2, angle: Math.PI / 4 }, 12, 8, 0.5, false],
    ['on a set mask pixel', maskOf(['....', '..#.', '....']), 2.5, 1.5, 0, true],
    ['on an unset mask pixel', maskOf(['....', '..#.', '....']), 0.5, 1.5, 0, false],
    ['near a set mask pixel', maskOf(['....', '..#.', '....']), 1.6, 1.5, 0.5, true],
    ['diagonally near a set mask pixel', maskOf(['....', '..#.', '....']), 1.6, 0.6, 0.5, false],
    ['outside the mask image', maskOf(['##', '##']), 5, 1, 1, false],
    ['a mask pixel in a long run across columns', maskOf(['.##', '###', '##.']), 1.5, 0.5, 0, true],
    ['near a point', { kind: 'point', x: 5, y: 5 }, 6, 6, 1.5, true],
    ['away from a point', { kind: 'point', x: 5, y: 5 }, 6, 6, 1.4, false],
    ['a tag', { kind: 'tag' }, 0, 0, 100, false],
  ];
  for (const [name, g, x, y, tol, expected] of cases) {
    it(`${name}: ${expected}`, () => expect(hitTest(g, x, y, tol)).toBe(expected));
  }
});

describe('index', () => {
  it('re-exports every module', () => {
    for (const name of ['validateGeometry', 'encodeMask', 'rleToString', 'polygonToRle', 'paintStroke', 'fillHoles', 'traceMask', 'simplifyRing', 'hitTest', 'distanceToSegment', 'rleIou', 'rleBBox']) {
      expect(typeof (geometry as Record<string, unknown>)[name], name).toBe('function');
    }
  });
});
