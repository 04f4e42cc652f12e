import { describe, expect, it } from 'vitest';
import { paintStroke } from '../../../src-main/common/geometry/raster';
import {
  assertRle,
  decodeMask,
  encodeMask,
  rleArea,
  rleBBox,
  rleFromString,
  rleIntersectionArea,
  rleIou,
  rleMerge,
  rleToString,
  type Rle,
} from '../../../src-main/common/geometry/rle';
import { geometryBBox } from '../../../src-main/common/geometry/shapes';
import { mulberry32 } from '../../../src-main/common/random';

/** A row-major mask of blobs: runs of set pixels long enough to cross rows and columns. */
function randomMask(rand: () => number, width: number, height: number, density = 0.4): Uint8Array {
  const m = new Uint8Array(width * height);
  let v = 0;
  for (let i = 0; i < m.length; i++) {
    if (rand() < 0.2) v = rand() < density ? 1 : 0;
    m[i] = v;
  }
  return m;
}

/** The bounds of the set pixels, found by looking at every pixel. */
function bruteBounds(m: Uint8Array, width: number, height: number) {
  let x0 = Infinity;
  let y0 = Infinity;
  let x1 = -1;
  let y1 = -1;
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++)
      if (m[y * width + x]) {
        x0 = Math.min(x0, x);
        x1 = Math.max(x1, x);
        y0 = Math.min(y0, y);
        y1 = Math.max(y1, y);
      }
  return x1 < 0 ? { x: 0, y: 0, w: 0, h: 0 } : { x: x0, y: y0, w: x1 - x0 + 1, h: y1 - y0 + 1 };
}

describe('encodeMask / decodeMask', () => {
  it('encodes a row-major mask as column-major runs starting with zeros', () => {
    // 3 wide, 2 high:  1 0 1
    //                  1 1 0   -> columns: [1,1] [0,1] [1,0]
    const m = Uint8Array.from([1, 0, 1, 1, 1, 0]);
    expect(encodeMask(m, 3, 2)).toEqual({ size: [2, 3], counts: [0, 2, 1, 2, 1] });
    expect(encodeMask(Uint8Array.from([0, 255, 0, 7]), 2, 2)).toEqual({ size: [2, 2], counts: [2, 2] });
    expect(encodeMask(new Uint8Array(12), 4, 3).counts).toEqual([12]);
    expect(encodeMask(new Uint8Array(6).fill(1), 2, 3).counts).toEqual([0, 6]);
    expect(() => encodeMask(new Uint8Array(5), 2, 3)).toThrow(RangeError);
  });

  it('decodes to 0/1 row-major pixels and round-trips random masks of odd shapes', () => {
    expect([...decodeMask({ size: [2, 3], counts: [0, 2, 1, 2, 1] })]).toEqual([1, 0, 1, 1, 1, 0]);
    const rand = mulberry32(1);
    for (const [w, h] of [
      [1, 1],
      [1, 17],
      [23, 1],
      [7, 5],
      [64, 48],
      [33, 91],
    ] as const) {
      const m = randomMask(rand, w, h);
      const rle = encodeMask(m, w, h);
      expect(rle.counts.reduce((a, b) => a + b, 0)).toBe(w * h);
      expect(rle.counts.slice(1).every((c) => c > 0)).toBe(true);
      expect(decodeMask(rle)).toEqual(m);
      expect(rleArea(rle)).toBe(m.reduce((a, b) => a + b, 0));
    }
  });

  it('refuses runs that do not cover the image exactly', () => {
    expect(() => decodeMask({ size: [2, 3], counts: [0, 2, 1, 2] })).toThrow(/cover 5 pixels, not 6/);
    expect(() => decodeMask({ size: [2, 3], counts: [0, 2, 1, 2, 2] })).toThrow(RangeError);
    expect(() => assertRle({ size: [2, 3], counts: [3, -1, 4] })).toThrow(/non-negative/);
    expect(() => assertRle({ size: [2, 3], counts: [1.5, 4.5] })).toThrow(RangeError);
  });

  it('round-trips a 4000x3000 brush mask', () => {
    const w = 4000;
    const h = 3000;
    const m = new Uint8Array(w * h);
    paintStroke(m, w, h, 100, 100, 3900, 2900, 150, 1);
    paintStroke(m, w, h, 3950, 50, 50, 2950, 40.5, 1);
    paintStroke(m, w, h, 2000, 1500, 2100, 1500, 300, 0);
    paintStroke(m, w, h, -50, 1500, 600, 3100, 25, 1);
    const rle = encodeMask(m, w, h);
    expect(rle.size).toEqual([h, w]);
    const back = decodeMask(rle);
    expect(back.length).toBe(m.length);
    // Buffer.compare is one native pass; toEqual on 12 million bytes would take seconds.
    expect(Buffer.compare(Buffer.from(back.buffer), Buffer.from(m.buffer))).toBe(0);
    expect(rleFromString(rleToString(rle), rle.size)).toEqual(rle);
  });
});

describe('COCO compressed strings', () => {
  // Strings written by pycocotools 2.0.11 (mask.frPyObjects / encode) for these runs.
  const table: [string, [number, number], number[]][] = [
    ['R11]1', [10, 8], [34, 1, 45]],
    ['8354MN1O1O1O`0', [8, 9], [8, 3, 5, 7, 2, 5, 3, 4, 4, 3, 5, 2, 21]],
    ['0521O000007', [7, 6], [0, 5, 2, 6, 1, 6, 1, 6, 1, 6, 8]],
    ['05Pb`n0NR^_QO][T2Oe^][:', [4000, 3000], [0, 5, 1000000, 3, 2, 70000, 1, 10929989]],
    ['34=', [5, 4], [3, 4, 13]],
    ['P2', [8, 8], [64]],
  ];

  it('writes and reads the strings pycocotools writes', () => {
    for (const [s, size, counts] of table) {
      expect(rleToString({ size, counts })).toBe(s);
      expect(rleFromString(s, size)).toEqual({ size, counts });
    }
  });

  it('round-trips random runs, including large counts and negative differences', () => {
    const rand = mulberry32(7);
    for (let k = 0; k < 200; k++) {
      const counts = Array.from({ length: 1 + Math.floor(rand() * 30) }, () => Math.floor(rand() ** 4 * 2 ** (1 + Math.floor(rand() * 34))));
      const size: [number, number] = [1, counts.reduce((a, b) => a + b, 0)];
      const s = rleToString({ size, counts });
      expect(s).toMatch(/^[0-o]*$/);
      expect(rleFromString(s, size).counts).toEqual(counts);
    }
  });

  it('refuses characters outside the alphabet and strings cut inside a count', () => {
    expect(() => rleFromString('R1 ]1', [10, 8])).toThrow(/invalid character/);
    expect(() => rleFromString('R', [10, 8])).toThrow(/ends inside a count/);
    // 'M' is -3 as a first count: no run can be negative.
    expect(() => rleFromString('M', [1, 1])).toThrow(/negative/);
  });
});

describe('rleMerge, rleIou', () => {
  const square = (x0: number, y0: number, x1: number, y1: number, w: number, h: number): Rle => {
    const m = new Uint8Array(w * h);
    for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) m[y * w + x] = 1;
    return encodeMask(m, w, h);
  };
  const a = square(0, 0, 6, 6, 10, 10);
  const b = square(3, 3, 9, 9, 10, 10);

  it('matches pycocotools on two overlapping squares', () => {
    // pycocotools: merge([A, B], intersect=True) -> 'Q137000U1'; iou([B], [A], [0/1]) -> 9/63, 9/36.
    expect(rleToString(rleMerge([a, b], true))).toBe('Q137000U1');
    expect(rleArea(rleMerge([a, b]))).toBe(63);
    expect(rleIou(a, b)).toBeCloseTo(9 / 63, 12);
    expect(rleIou(a, b, true)).toBeCloseTo(9 / 36, 12);
    expect(rleIou(b, a)).toBeCloseTo(rleIou(a, b), 12);
  });

  it('agrees with pixel-by-pixel union and intersection on random masks', () => {
    const rand = mulberry32(3);
    const w = 29;
    const h = 31;
    for (let k = 0; k < 20; k++) {
      const ms = [0, 1, 2].map(() => randomMask(rand, w, h, 0.5));
      const rles = ms.map((m) => encodeMask(m, w, h));
      const or = ms[0]!.map((_, i) => ms[0]![i]! | ms[1]![i]! | ms[2]![i]!);
      const and = ms[0]!.map((_, i) => ms[0]![i]! & ms[1]![i]! & ms[2]![i]!);
      // Canonical output: what encodeMask gives for the same pixels.
      expect(rleMerge(rles)).toEqual(encodeMask(or, w, h));
      expect(rleMerge(rles, true)).toEqual(encodeMask(and, w, h));
      const inter = ms[0]!.reduce((s, v, i) => s + (v & ms[1]![i]!), 0);
      const union = ms[0]!.reduce((s, v, i) => s + (v | ms[1]![i]!), 0);
      expect(rleIntersectionArea(rles[0]!, rles[1]!)).toBe(inter);
      expect(rleIou(rles[0]!, rles[1]!)).toBeCloseTo(inter / union, 12);
      expect(rleIou(rles[0]!, rles[1]!, true)).toBeCloseTo(inter / rleArea(rles[1]!), 12);
    }
  });

  it('handles the edge cases COCO defines and refuses mixed sizes', () => {
    expect(rleMerge([])).toEqual({ size: [0, 0], counts: [] });
    // A single mask comes back as given, even with a non-canonical empty run.
    expect(rleMerge([{ size: [2, 2], counts: [1, 0, 1, 2] }])).toEqual({ size: [2, 2], counts: [1, 0, 1, 2] });
    const empty: Rle = { size: [10, 10], counts: [100] };
    expect(rleIou(empty, empty)).toBe(0);
    expect(rleIou(a, empty, true)).toBe(0);
    expect(() => rleMerge([a, { size: [10, 11], counts: [110] }])).toThrow(/cannot combine/);
  });
});

describe('rleBBox', () => {
  it('follows COCO toBbox: whole pixels, full height for runs spanning columns', () => {
    // pycocotools toBbox: [3,4]/[0,4,13] style cases written out.
    expect(rleBBox({ size: [5, 4], counts: [3, 4, 13] })).toEqual({ x: 0, y: 0, w: 2, h: 5 });
    expect(rleBBox({ size: [5, 4], counts: [0, 2, 18] })).toEqual({ x: 0, y: 0, w: 1, h: 2 });
    expect(rleBBox({ size: [10, 8], counts: [34, 1, 45] })).toEqual({ x: 3, y: 4, w: 1, h: 1 });
    expect(rleBBox({ size: [5, 10], counts: [50] })).toEqual({ x: 0, y: 0, w: 0, h: 0 });
    // An empty run of ones is not a pixel.
    expect(rleBBox({ size: [5, 4], counts: [7, 0, 13] })).toEqual({ x: 0, y: 0, w: 0, h: 0 });
  });

  it('equals the bounds of the decoded pixels and geometryBBox', () => {
    const rand = mulberry32(11);
    for (let k = 0; k < 30; k++) {
      const w = 1 + Math.floor(rand() * 40);
      const h = 1 + Math.floor(rand() * 40);
      const m = randomMask(rand, w, h, rand() * 0.3);
      const rle = encodeMask(m, w, h);
      expect(rleBBox(rle)).toEqual(bruteBounds(m, w, h));
      expect(geometryBBox({ kind: 'mask', rle })).toEqual(rleBBox(rle));
    }
  });
});
