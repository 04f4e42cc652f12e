import { describe, expect, it } from 'vitest';
import { fillHoles, paintStroke, rasterizePolygon } from '../../../src-main/common/geometry/raster';
import { polygonSelfIntersects, ringSignedArea } from '../../../src-main/common/geometry/shapes';
import { distanceToSegment, simplifyRing, traceMask } from '../../../src-main/common/geometry/trace';
import { mulberry32 } from '../../../src-main/common/random';

function picture(rows: string[]): { m: Uint8Array; w: number; h: number } {
  const w = rows[0]!.length;
  return { m: Uint8Array.from(rows.join('').split(''), (c) => (c === '#' ? 1 : 0)), w, h: rows.length };
}

const sum = (m: Uint8Array) => m.reduce((a, b) => a + b, 0);

describe('traceMask', () => {
  it('traces a lone pixel as its square, in pixel-corner coordinates', () => {
    const m = new Uint8Array(8 * 7);
    m[4 * 8 + 3] = 1;
    expect(traceMask(m, 8, 7, 0)).toEqual([[3, 4, 4, 4, 4, 5, 3, 5]]);
    // Simplification never drops a part below a polygon.
    expect(traceMask(m, 8, 7, 5)).toHaveLength(1);
    expect(traceMask(m, 8, 7, 5)[0]!.length).toBeGreaterThanOrEqual(6);
  });

  it('keeps only corners, clockwise on screen, one ring per 8-connected component in raster order', () => {
    const { m, w, h } = picture([
      '..........', //
      '.####.....',
      '.####..##.',
      '.##....##.',
      '.##.......',
      '...#......', // touches the L diagonally: same component
      '.........#',
    ]);
    const rings = traceMask(m, w, h, 0);
    expect(rings).toEqual([
      [1, 1, 5, 1, 5, 3, 3, 3, 3, 5, 4, 5, 4, 6, 3, 6, 3, 5, 1, 5],
      [7, 2, 9, 2, 9, 4, 7, 4],
      [9, 6, 10, 6, 10, 7, 9, 7],
    ]);
    for (const r of rings) expect(ringSignedArea(r)).toBeGreaterThan(0);
    expect(rings.reduce((a, r) => a + ringSignedArea(r), 0)).toBe(sum(m));
    expect(traceMask(new Uint8Array(12), 4, 3)).toEqual([]);
  });

  it('gives polygons that rasterise back to the mask (tolerance 0)', () => {
    const shapes: string[][] = [
      ['......', '.####.', '.####.', '......'], // rectangle
      ['######', '######', '######'], // the whole image, edges included
      ['#.....', '##....', '###...', '####..', '#####.'], // staircase
      ['#....', '.#...', '..#..', '...#.', '....#'], // diagonal chain of single pixels
      ['.#..#.', '#.##.#', '.#..#.', '......', '##.###'], // diagonal pinches and several components
      ['.###.', '##.##', '.###.'], // ring: its hole comes back filled
      ['#.#.#', '.#.#.', '#.#.#', '.#.#.'], // checkerboard: one component
    ];
    for (const rows of shapes) {
      const { m, w, h } = picture(rows);
      const back = rasterizePolygon(traceMask(m, w, h, 0), w, h);
      expect([...back], rows.join('/')).toEqual([...fillHoles(m, w, h)]);
    }
  });

  it('round-trips random blobs and brush strokes (holes come back filled)', () => {
    const rand = mulberry32(9);
    for (let k = 0; k < 40; k++) {
      const w = 5 + Math.floor(rand() * 30);
      const h = 5 + Math.floor(rand() * 30);
      const m = new Uint8Array(w * h);
      if (k % 2) for (let i = 0; i < m.length; i++) m[i] = rand() < 0.45 ? 1 : 0;
      else for (let s = 0; s < 4; s++) paintStroke(m, w, h, rand() * w, rand() * h, rand() * w, rand() * h, rand() * 3, rand() < 0.75 ? 1 : 0);
      const rings = traceMask(m, w, h, 0);
      expect(rasterizePolygon(rings, w, h)).toEqual(fillHoles(m, w, h));
      // Exact outlines only touch themselves at corners.
      for (const r of rings) expect(polygonSelfIntersects(r)).toBe(false);
    }
  });

  it('simplifies staircases within tolerance and keeps the area close', () => {
    const w = 80;
    const h = 60;
    const m = new Uint8Array(w * h);
    paintStroke(m, w, h, 40, 30, 40, 30, 22, 1);
    const exact = traceMask(m, w, h, 0)[0]!;
    for (const [tolerance, fraction] of [
      [0.5, 0.75],
      [1, 0.25],
    ] as const) {
      const simple = traceMask(m, w, h, tolerance)[0]!;
      expect(simple.length).toBeLessThan(exact.length * fraction);
      // Every exact corner lies within the tolerance of the simplified outline.
      const n = simple.length / 2;
      for (let i = 0; i < exact.length; i += 2) {
        let d = Infinity;
        for (let j = 0; j < n; j++) {
          const k = (j + 1) % n;
          d = Math.min(d, distanceToSegment(exact[i]!, exact[i + 1]!, simple[2 * j]!, simple[2 * j + 1]!, simple[2 * k]!, simple[2 * k + 1]!));
        }
        expect(d).toBeLessThanOrEqual(tolerance + 1e-9);
      }
      const area = sum(rasterizePolygon([simple], w, h));
      expect(Math.abs(area - sum(m)) / sum(m)).toBeLessThan(0.02);
    }
  });
});

describe('simplifyRing', () => {
  it('drops collinear vertices at tolerance 0 and keeps real corners', () => {
    expect(simplifyRing([0, 0, 2, 0, 4, 0, 4, 3, 4, 6, 0, 6, 0, 3], 0)).toEqual([0, 0, 4, 0, 4, 6, 0, 6]);
    expect(simplifyRing([0, 0, 5, 0.4, 10, 0, 10, 10, 0, 10], 0.3)).toEqual([0, 0, 5, 0.4, 10, 0, 10, 10, 0, 10]);
    expect(simplifyRing([0, 0, 5, 0.4, 10, 0, 10, 10, 0, 10], 0.5)).toEqual([0, 0, 10, 0, 10, 10, 0, 10]);
  });

  it('never goes below three vertices, and leaves triangles alone', () => {
    const sliver = [0, 0, 10, 0.1, 20, 0, 10, -0.1];
    const s = simplifyRing(sliver, 1);
    expect(s).toHaveLength(6);
    expect(s.slice(0, 2)).toEqual([0, 0]);
    expect(simplifyRing([0, 0, 1, 0, 0, 1], 10)).toEqual([0, 0, 1, 0, 0, 1]);
  });
});
