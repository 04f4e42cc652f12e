import { describe, expect, it } from 'vitest';
import { CAPABILITIES } from '../../../src-main/common/formats/types';
import { decodeMask, encodeMask, fillHoles, polygonToRle, rasterizePolygon, rleArea } from '../../../src-main/common/geometry';
import type { Geometry } from '../../../src-main/common/model';
import {
  boxToPolygon,
  conversionMessage,
  convertGeometry,
  maskToPolygon,
  obbToPolygon,
  toBox,
  toMask,
  toObb,
} from '../../../src-main/services/interchange/convert';

type Of<K extends Geometry['kind']> = Extract<Geometry, { kind: K }>;

/** A W x H mask with the pixels of `set(x, y)` on. */
function maskOf(w: number, h: number, set: (x: number, y: number) => boolean): Of<'mask'> {
  const m = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) if (set(x, y)) m[y * w + x] = 1;
  return { kind: 'mask', rle: encodeMask(m, w, h) };
}

const square: Of<'polygon'> = { kind: 'polygon', parts: [[2, 3, 12, 3, 12, 9, 2, 9]] };
const triangle: Of<'polygon'> = { kind: 'polygon', parts: [[1, 1, 9, 2, 4, 8]] };

describe('single conversions', () => {
  it('box to polygon gives its four corners clockwise on screen, negative sizes normalised', () => {
    expect(boxToPolygon({ kind: 'box', x: 1, y: 2, w: 3, h: 4 }).parts).toEqual([[1, 2, 4, 2, 4, 6, 1, 6]]);
    expect(boxToPolygon({ kind: 'box', x: 4, y: 6, w: -3, h: -4 }).parts).toEqual([[1, 2, 4, 2, 4, 6, 1, 6]]);
  });

  it('polygon to box is the extent of the vertices', () => {
    expect(toBox(triangle)).toEqual({ kind: 'box', x: 1, y: 1, w: 8, h: 7 });
    expect(toBox({ kind: 'polygon', parts: [[0, 0, 1, 0, 0, 1], [5, 5, 7, 5, 7, 9]] })).toEqual({ kind: 'box', x: 0, y: 0, w: 7, h: 9 });
  });

  it('a rotated box to box is the extent of its corners', () => {
    const b = toBox({ kind: 'obb', cx: 10, cy: 10, w: 2, h: 2, angle: Math.PI / 4 })!;
    expect(b.x).toBeCloseTo(10 - Math.SQRT2, 12);
    expect(b.w).toBeCloseTo(2 * Math.SQRT2, 12);
    expect(b.h).toBeCloseTo(2 * Math.SQRT2, 12);
  });

  it('a rotated box to polygon is its four corners', () => {
    const p = obbToPolygon({ kind: 'obb', cx: 5, cy: 5, w: 4, h: 2, angle: 0 });
    expect(p.parts).toEqual([[3, 4, 7, 4, 7, 6, 3, 6]]);
  });

  it('mask to box is the bounding box of its pixels; an empty mask has none', () => {
    const m = maskOf(20, 10, (x, y) => x >= 3 && x < 8 && y >= 2 && y < 6);
    expect(toBox(m)).toEqual({ kind: 'box', x: 3, y: 2, w: 5, h: 4 });
    expect(toBox(maskOf(5, 5, () => false))).toBeNull();
  });

  it('box to rotated box keeps the box with angle 0; polygons and masks become their bounding box', () => {
    expect(toObb({ kind: 'box', x: 2, y: 4, w: 6, h: 2 })).toEqual({ kind: 'obb', cx: 5, cy: 5, w: 6, h: 2, angle: 0 });
    expect(toObb(triangle)).toEqual({ kind: 'obb', cx: 5, cy: 4.5, w: 8, h: 7, angle: 0 });
    expect(toObb(maskOf(10, 10, (x, y) => x === 4 && y === 7))).toEqual({ kind: 'obb', cx: 4.5, cy: 7.5, w: 1, h: 1, angle: 0 });
  });

  it('polygon and box to mask rasterise like the COCO API', () => {
    expect(toMask(square, 20, 15)!.rle).toEqual(polygonToRle(square.parts, 15, 20));
    const fromBox = toMask({ kind: 'box', x: 2, y: 3, w: 10, h: 6 }, 20, 15)!;
    expect(fromBox.rle).toEqual(polygonToRle(square.parts, 15, 20));
    expect(rleArea(fromBox.rle)).toBeGreaterThan(0);
  });

  it('a polygon that covers no pixel centre gives no mask', () => {
    expect(toMask({ kind: 'polygon', parts: [[1.1, 1.1, 1.3, 1.1, 1.2, 1.3]] }, 10, 10)).toBeNull();
  });

  it('mask to polygon traces pixel edges exactly: rasterising the polygon gives the mask back', () => {
    const m = maskOf(30, 20, (x, y) => (x - 10) ** 2 + (y - 9) ** 2 < 30 || (x > 22 && y > 14));
    const p = maskToPolygon(m)!;
    expect(p.parts).toHaveLength(2);
    expect(rasterizePolygon(p.parts, 30, 20)).toEqual(decodeMask(m.rle));
  });

  it('mask to polygon loses holes (filled)', () => {
    const ring = maskOf(12, 12, (x, y) => x >= 2 && x < 10 && y >= 2 && y < 10 && !(x >= 5 && x < 7 && y >= 5 && y < 7));
    const p = maskToPolygon(ring)!;
    const back = rasterizePolygon(p.parts, 12, 12);
    expect(back).toEqual(fillHoles(decodeMask(ring.rle), 12, 12));
    expect(back.reduce((a, b) => a + b, 0)).toBe(rleArea(ring.rle) + 4);
    expect(conversionMessage('mask→polygon')).toMatch(/holes/);
  });
});

describe('convertGeometry picks what the target holds', () => {
  const box: Geometry = { kind: 'box', x: 2, y: 3, w: 10, h: 6 };
  const obb: Geometry = { kind: 'obb', cx: 8, cy: 8, w: 6, h: 3, angle: 0.3 };
  const mask = maskOf(20, 15, (x, y) => x >= 4 && x < 9 && y >= 5 && y < 11);
  const point: Geometry = { kind: 'point', x: 3, y: 4 };

  const cases: { g: Geometry; format: keyof typeof CAPABILITIES; to: Geometry['kind'] | null; conversion: string | null }[] = [
    { g: box, format: 'coco', to: 'box', conversion: null },
    { g: box, format: 'yolo-seg', to: 'polygon', conversion: 'box→polygon' },
    { g: box, format: 'yolo-obb', to: 'obb', conversion: 'box→obb' },
    { g: box, format: 'masks', to: 'mask', conversion: 'box→mask' },
    { g: square, format: 'yolo', to: 'box', conversion: 'polygon→box' },
    { g: square, format: 'voc', to: 'box', conversion: 'polygon→box' },
    { g: square, format: 'yolo-obb', to: 'obb', conversion: 'polygon→obb' },
    { g: square, format: 'masks', to: 'mask', conversion: 'polygon→mask' },
    { g: square, format: 'cvat', to: 'polygon', conversion: null },
    { g: mask, format: 'yolo', to: 'box', conversion: 'mask→box' },
    { g: mask, format: 'yolo-seg', to: 'polygon', conversion: 'mask→polygon' },
    { g: mask, format: 'yolo-obb', to: 'obb', conversion: 'mask→obb' },
    { g: mask, format: 'labelme', to: 'mask', conversion: null },
    { g: obb, format: 'coco', to: 'polygon', conversion: 'obb→polygon' },
    { g: obb, format: 'voc', to: 'box', conversion: 'obb→box' },
    { g: obb, format: 'masks', to: 'mask', conversion: 'obb→mask' },
    { g: point, format: 'labelme', to: 'point', conversion: null },
    { g: point, format: 'yolo', to: null, conversion: 'unsupported:point' },
    { g: point, format: 'coco', to: null, conversion: 'unsupported:point' },
  ];
  for (const c of cases) {
    it(`${c.g.kind} into ${c.format}: ${c.conversion ?? 'unchanged'}`, () => {
      const r = convertGeometry(c.g, CAPABILITIES[c.format], 20, 15);
      expect(r.conversion).toBe(c.conversion);
      expect(r.geometry?.kind ?? null).toBe(c.to);
      if (r.geometry) expect(CAPABILITIES[c.format]).toContain(r.geometry.kind);
      if (c.conversion === null) expect(r.geometry).toBe(c.g);
    });
  }

  it('every conversion has a message for the report', () => {
    for (const c of cases.filter((x) => x.conversion)) expect(conversionMessage(c.conversion!)).not.toBe(c.conversion);
  });
});
