import { describe, expect, it } from 'vitest';
import { fillHoles, paintStroke, polygonArea, polygonToRle, rasterizePolygon } from '../../../src-main/common/geometry/raster';
import { decodeMask, encodeMask, rleArea, rleBBox, rleToString } from '../../../src-main/common/geometry/rle';
import { mulberry32 } from '../../../src-main/common/random';

/** Parses a picture of a mask: '#' set, '.' unset, one string per row. */
function picture(rows: string[]): { m: Uint8Array; w: number; h: number } {
  const w = rows[0]!.length;
  return { m: Uint8Array.from(rows.join('').split(''), (c) => (c === '#' ? 1 : 0)), w, h: rows.length };
}

function draw(m: Uint8Array, w: number): string[] {
  const rows: string[] = [];
  for (let i = 0; i < m.length; i += w) rows.push([...m.subarray(i, i + w)].map((v) => (v ? '#' : '.')).join(''));
  return rows;
}

describe('polygonToRle', () => {
  // Expected values written by pycocotools 2.0.11: mask.merge(mask.frPyObjects(parts, h, w)),
  // then its compressed counts, area and toBbox.
  const table: { name: string; parts: number[][]; h: number; w: number; rle: string; area: number; bbox: number[] }[] = [
    { name: 'one pixel by its corners', parts: [[3, 4, 4, 4, 4, 5, 3, 5]], h: 10, w: 8, rle: 'R11]1', area: 1, bbox: [3, 4, 1, 1] },
    { name: 'fractional triangle', parts: [[0.3, 0.2, 7.7, 1.1, 2.5, 6.9]], h: 8, w: 9, rle: '8354MN1O1O1O`0', area: 24, bbox: [1, 0, 6, 7] },
    { name: 'negative coordinates', parts: [[-2.4, -3.1, 5.2, -1, 4.4, 6.6, -1, 5]], h: 7, w: 6, rle: '0521O000007', area: 29, bbox: [0, 0, 5, 6] },
    { name: 'beyond the image', parts: [[3, 3, 12, 3, 12, 12, 3, 12]], h: 8, w: 8, rle: 'k0530000000', area: 25, bbox: [3, 3, 5, 5] },
    { name: 'repeated vertices', parts: [[1, 1, 1, 1, 6, 1, 6, 6, 6, 6, 1, 6, 1, 1]], h: 8, w: 8, rle: '9530000000?', area: 25, bbox: [1, 1, 5, 5] },
    { name: 'self-intersecting bow tie', parts: [[0, 0, 8, 8, 8, 0, 0, 8]], h: 9, w: 9, rle: '073N2N2N10O2N2N28', area: 32, bbox: [0, 0, 8, 7] },
    { name: 'two overlapping parts', parts: [[0, 0, 5, 0, 5, 5, 0, 5], [3, 3, 9, 3, 9, 9, 3, 9]], h: 10, w: 10, rle: '05500004L03M0000007', area: 57, bbox: [0, 0, 9, 9] },
    { name: 'sliver between pixel centres', parts: [[1.02, 1, 1.08, 7.9, 1.05, 1]], h: 8, w: 8, rle: 'P2', area: 0, bbox: [0, 0, 0, 0] },
    {
      name: 'pentagram',
      parts: [[50, 0, 61, 35, 98, 35, 68, 57, 79, 91, 50, 70, 21, 91, 32, 57, 2, 35, 39, 35]],
      h: 100,
      w: 100,
      rle: '_:1S31O001O1O1O001O1O1O001O1O1O001O1O001aND4=HE9<CF>:_OHb09ZOJf07VOKk06QOLP14mNNT13hN0X11dN1]10^N3c1g00O1O1O100O1OO2M2N2N2N3L3N2N2N3M2M3104M2N2M3N2N3M2M3N2N2N1N01O1O001O1O1OVO]N3c1LbN1]1NgN0X1OlNNT12oNLP13TOKk04YOJf05^OHb08AF>9FE9:KD4;[100O1O100O1O1O100O1O1O100O1O1O100OZ8',
      area: 2820,
      bbox: [3, 1, 94, 90],
    },
  ];

  for (const c of table) {
    it(`matches pycocotools: ${c.name}`, () => {
      const rle = polygonToRle(c.parts, c.h, c.w);
      expect(rle.size).toEqual([c.h, c.w]);
      expect(rleToString(rle)).toBe(c.rle);
      expect(rleArea(rle)).toBe(c.area);
      const b = rleBBox(rle);
      expect([b.x, b.y, b.w, b.h]).toEqual(c.bbox);
    });
  }

  it('covers exactly the pixels of an integer rectangle, and none for no parts', () => {
    const rle = polygonToRle([[2, 1, 7, 1, 7, 4, 2, 4]], 6, 9);
    expect(draw(decodeMask(rle), 9)).toEqual(['.........', '..#####..', '..#####..', '..#####..', '.........', '.........']);
    expect(polygonToRle([], 3, 4)).toEqual({ size: [3, 4], counts: [12] });
  });

  it('refuses coordinates that would make the outline walk unbounded', () => {
    expect(() => polygonToRle([[0, 0, Number.POSITIVE_INFINITY, 0, 1, 1]], 4, 4)).toThrow(/finite/);
    expect(() => polygonToRle([[0, 0, Number.NaN, 0, 1, 1]], 4, 4)).toThrow(/finite/);
    expect(() => polygonToRle([[0, 0, 1e9, 0, 1, 1]], 4, 4)).toThrow(RangeError);
    expect(() => polygonToRle([[0, 0, 1e7, 0, 0, 1e7]], 4, 4)).toThrow(/too long/);
    // Far outside but finite and bounded: rasterised like any other (here, nothing inside).
    expect(rleArea(polygonToRle([[-5000, -5000, -4000, -5000, -4000, -4000]], 4, 4))).toBe(0);
  });

  it('rasterizePolygon gives the same pixels row-major', () => {
    const parts = [[0.3, 0.2, 7.7, 1.1, 2.5, 6.9], [5, 5, 8.5, 5, 8.5, 7.5]];
    const m = rasterizePolygon(parts, 9, 8);
    expect(m.length).toBe(72);
    expect(encodeMask(m, 9, 8)).toEqual(encodeMask(decodeMask(polygonToRle(parts, 8, 9)), 9, 8));
    expect(m[1 * 9 + 2]).toBe(1);
    expect(m[7 * 9 + 8]).toBe(0);
  });
});

describe('polygonArea', () => {
  it('is the pixel count of polygonToRle for rings of every sort, including ones partly or wholly off the image', () => {
    const rand = mulberry32(2024);
    // Whole, half, tenth and arbitrary coordinates; repeated vertices; negative coordinates,
    // whose rounding differs at edge ends; a few very long steep and flat edges.
    const coord = (max: number) => {
      const k = rand();
      const v = rand() * (max + 30) - 15;
      return k < 0.3 ? Math.round(v) : k < 0.55 ? Math.round(v * 2) / 2 : k < 0.8 ? Math.round(v * 10) / 10 : v;
    };
    let checked = 0;
    for (let i = 0; i < 4000; i++) {
      const w = 1 + Math.floor(rand() * 70);
      const h = 1 + Math.floor(rand() * 70);
      const parts: number[][] = [];
      const nParts = rand() < 0.85 ? 1 : 2 + Math.floor(rand() * 2);
      for (let p = 0; p < nParts; p++) {
        const ring: number[] = [];
        const n = 1 + Math.floor(rand() * 12);
        for (let k = 0; k < n; k++) {
          ring.push(coord(w), coord(h));
          if (rand() < 0.1) ring.push(ring[ring.length - 2]!, ring[ring.length - 1]!);
        }
        parts.push(ring);
      }
      const expected = rleArea(polygonToRle(parts, h, w));
      expect(polygonArea(parts, h, w), JSON.stringify({ parts, w, h })).toBe(expected);
      if (expected > 0) checked++;
    }
    expect(checked).toBeGreaterThan(2500);
    const tall = [2.5, -40, 3.7, 900.2, 1.2, 400];
    const wide = [-40, 2.5, 900.2, 3.7, 400, 1.2];
    expect(polygonArea([tall], 600, 8)).toBe(rleArea(polygonToRle([tall], 600, 8)));
    expect(polygonArea([wide], 8, 600)).toBe(rleArea(polygonToRle([wide], 8, 600)));
    expect(polygonArea([], 5, 5)).toBe(0);
  });

  it('refuses the coordinates polygonToRle refuses', () => {
    expect(() => polygonArea([[0, 0, Number.NaN, 1, 2, 2]], 10, 10)).toThrow(RangeError);
    expect(() => polygonArea([[0, 0, 1e12, 1, 2, 2]], 10, 10)).toThrow(RangeError);
  });
});

describe('paintStroke', () => {
  /** Every pixel tested against the definition: centre within radius of the segment. */
  function brute(w: number, h: number, x0: number, y0: number, x1: number, y1: number, r: number): number[] {
    const out: number[] = [];
    const dx = x1 - x0;
    const dy = y1 - y0;
    const l2 = dx * dx + dy * dy;
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) {
        const cx = x + 0.5;
        const cy = y + 0.5;
        const t = l2 > 0 ? Math.max(0, Math.min(1, ((cx - x0) * dx + (cy - y0) * dy) / l2)) : 0;
        if (Math.hypot(cx - x0 - t * dx, cy - y0 - t * dy) <= r) out.push(y * w + x);
      }
    return out;
  }

  it('sets exactly the pixels within the radius of the segment and reports their bounds', () => {
    const rand = mulberry32(5);
    const w = 37;
    const h = 29;
    for (let k = 0; k < 150; k++) {
      const x0 = rand() * 50 - 6;
      const y0 = rand() * 40 - 6;
      // Some strokes are dabs (one point), some horizontal or vertical.
      const kind = k % 5;
      const x1 = kind === 0 ? x0 : rand() * 50 - 6;
      const y1 = kind === 1 ? y0 : kind === 0 ? y0 : rand() * 40 - 6;
      const r = kind === 2 ? rand() * 1.2 : rand() * 8;
      const m = new Uint8Array(w * h).fill(2);
      const rect = paintStroke(m, w, h, x0, y0, x1, y1, r, 1);
      const expected = brute(w, h, x0, y0, x1, y1, r);
      const got: number[] = [];
      let untouched = 0;
      m.forEach((v, i) => {
        if (v === 1) got.push(i);
        else if (v === 2) untouched++;
      });
      expect(got).toEqual(expected);
      expect(untouched + got.length).toBe(w * h);
      if (expected.length === 0) expect(rect).toBeNull();
      else {
        const xs = expected.map((i) => i % w);
        const ys = expected.map((i) => Math.floor(i / w));
        expect(rect).toEqual({ x: Math.min(...xs), y: Math.min(...ys), w: Math.max(...xs) - Math.min(...xs) + 1, h: Math.max(...ys) - Math.min(...ys) + 1 });
      }
    }
  });

  it('erases with value 0, includes centres exactly at the radius, and ignores strokes off the image', () => {
    const w = 7;
    const h = 5;
    const m = new Uint8Array(w * h).fill(1);
    // Centre (3.5, 2.5), radius 1: the four neighbours are exactly 1 away.
    expect(paintStroke(m, w, h, 3.5, 2.5, 3.5, 2.5, 1, 0)).toEqual({ x: 2, y: 1, w: 3, h: 3 });
    expect(draw(m, w)).toEqual(['#######', '###.###', '##...##', '###.###', '#######']);
    expect(paintStroke(m, w, h, -10, -10, -5, 20, 3, 0)).toBeNull();
    expect(paintStroke(m, w, h, 1, 1, 2, 2, -1, 0)).toBeNull();
    expect(paintStroke(m, w, h, 1, 1, Number.NaN, 2, 2, 0)).toBeNull();
    expect(() => paintStroke(m, w + 1, h, 0, 0, 1, 1, 1, 1)).toThrow(RangeError);
  });

  it('touches only the rows and columns of the stroke on a large mask', () => {
    const w = 4000;
    const h = 3000;
    const m = new Uint8Array(w * h).fill(7);
    const rect = paintStroke(m, w, h, 1000.2, 2000.7, 1012.9, 2003.1, 2.5, 1)!;
    expect(rect).toEqual({ x: 998, y: 1998, w: 17, h: 8 });
    let changed = 0;
    for (let y = rect.y - 2; y < rect.y + rect.h + 2; y++)
      for (let x = rect.x - 2; x < rect.x + rect.w + 2; x++) {
        const inside = x >= rect.x && x < rect.x + rect.w && y >= rect.y && y < rect.y + rect.h;
        if (!inside) expect(m[y * w + x]).toBe(7);
        else if (m[y * w + x] === 1) changed++;
      }
    expect(changed).toBeGreaterThan(60);
    expect(m.reduce((s, v) => s + (v === 7 ? 0 : 1), 0)).toBe(changed);
  });
});

describe('fillHoles', () => {
  it('fills background enclosed 4-wise and leaves the input alone', () => {
    const { m, w, h } = picture([
      '.........', //
      '.#####...',
      '.#...#.#.',
      '.#.#.#.#.', // the dot inside the ring stays set
      '.#####.#.',
      '.......#.',
      '..###..##', // this notch is open to the border on the right
    ]);
    const before = m.slice();
    expect(draw(fillHoles(m, w, h), w)).toEqual([
      '.........', //
      '.#####...',
      '.#####.#.',
      '.#####.#.',
      '.#####.#.',
      '.......#.',
      '..###..##',
    ]);
    expect(m).toEqual(before);
  });

  it('fills a pocket closed only diagonally, since background connects 4-wise', () => {
    const { m, w, h } = picture(['.#.', '#.#', '.#.']);
    expect(draw(fillHoles(m, w, h), w)).toEqual(['.#.', '###', '.#.']);
    const border = picture(['###', '#.#', '###']);
    expect(draw(fillHoles(border.m, 3, 3), 3)).toEqual(['###', '###', '###']);
    const open = picture(['#.#', '#.#', '###']);
    expect(draw(fillHoles(open.m, 3, 3), 3)).toEqual(['#.#', '#.#', '###']);
  });
});
