import { describe, expect, it } from 'vitest';
import { applyAffine, compose, flipX, rot90, rotateAbout, scale, shearAbout, translate } from '../../../src-main/common/augment/affine';
import { clipPolygonToRect, clipPolylineToRect, minAreaRect } from '../../../src-main/common/augment/polygonClip';
import { transformGeometry } from '../../../src-main/common/augment/transformGeometry';
import { obbCorners, ringSignedArea } from '../../../src-main/common/geometry/shapes';

const frame = { x0: 0, y0: 0, x1: 100, y1: 80 };

describe('affine maps', () => {
  it('a quarter turn sends the top-left corner to the top-right and keeps pixel edges on integers', () => {
    expect(applyAffine(rot90(1, 100, 80), 0, 0)).toEqual([80, 0]);
    expect(applyAffine(rot90(1, 100, 80), 100, 80)).toEqual([0, 100]);
    expect(applyAffine(rot90(3, 100, 80), 0, 0)).toEqual([0, 100]);
    expect(applyAffine(flipX(100), 10, 5)).toEqual([90, 5]);
    expect(applyAffine(compose(translate(3, 4), scale(2)), 1, 1)).toEqual([5, 6]);
  });
});

describe('clipping', () => {
  it('cuts a polygon to the frame (Sutherland-Hodgman) and keeps its inside area', () => {
    const ring = [-20, 10, 50, 10, 50, 40, -20, 40];
    const cut = clipPolygonToRect(ring, frame);
    expect(Math.abs(ringSignedArea(cut))).toBeCloseTo(50 * 30);
    expect(Math.min(...cut.filter((_, i) => i % 2 === 0))).toBe(0);
    expect(clipPolygonToRect([200, 200, 300, 200, 300, 300], frame)).toEqual([]);
  });

  it('cuts a line into its inside pieces and measures both lengths', () => {
    const r = clipPolylineToRect([-10, 10, 50, 10, 50, 120, 60, 120, 60, 50, 90, 50], frame);
    expect(r.pieces).toEqual([
      [0, 10, 50, 10, 50, 80],
      [60, 80, 60, 50, 90, 50],
    ]);
    expect(r.lengthBefore).toBeCloseTo(60 + 110 + 10 + 70 + 30);
    expect(r.lengthAfter).toBeCloseTo(50 + 70 + 30 + 30);
  });

  it('finds the smallest rectangle around a turned rectangle exactly', () => {
    const g = { kind: 'obb' as const, cx: 40, cy: 30, w: 30, h: 10, angle: 0.4 };
    const r = minAreaRect(obbCorners(g));
    expect(r.w * r.h).toBeCloseTo(300);
    expect(r.cx).toBeCloseTo(40);
    expect(r.cy).toBeCloseTo(30);
  });
});

describe('transformGeometry', () => {
  it('re-boxes a turned box from its whole outline, not from two corners', () => {
    const m = rotateAbout(30, 50, 40);
    const r = transformGeometry({ kind: 'box', x: 40, y: 30, w: 20, h: 20 }, m, frame, 0.25);
    const c = 20 * (Math.cos(Math.PI / 6) + Math.sin(Math.PI / 6));
    expect(r.geometries[0]).toMatchObject({ kind: 'box' });
    const b = r.geometries[0] as { x: number; y: number; w: number; h: number };
    expect(b.w).toBeCloseTo(c);
    expect(b.h).toBeCloseTo(c);
    expect(b.x + b.w / 2).toBeCloseTo(50);
    expect(r.clipped).toBe(false);
  });

  it('clips a box cut by the frame and drops one mostly outside', () => {
    const m = translate(70, 0);
    const cut = transformGeometry({ kind: 'box', x: 10, y: 10, w: 40, h: 20 }, m, frame, 0.25);
    expect(cut).toEqual({ geometries: [{ kind: 'box', x: 80, y: 10, w: 20, h: 20 }], clipped: true, dropped: false });
    const gone = transformGeometry({ kind: 'box', x: 25, y: 10, w: 40, h: 20 }, m, frame, 0.25);
    expect(gone).toEqual({ geometries: [], clipped: false, dropped: true });
    // Touching the frame with no area left is dropped, never kept as a zero-area box.
    const edge = transformGeometry({ kind: 'box', x: 30, y: 10, w: 40, h: 20 }, m, frame, 0);
    expect(edge.dropped).toBe(true);
  });

  it('turns a rotated box with a rotation and refits it as the smallest rectangle under a shear', () => {
    const g = { kind: 'obb' as const, cx: 50, cy: 40, w: 30, h: 10, angle: 0.3 };
    const turned = transformGeometry(g, rotateAbout(20, 50, 40), frame, 0.25);
    expect(turned.geometries[0]).toMatchObject({ kind: 'obb', cx: 50, cy: 40, w: 30, h: 10 });
    expect((turned.geometries[0] as { angle: number }).angle).toBeCloseTo(0.3 + (20 * Math.PI) / 180);
    const mirrored = transformGeometry(g, flipX(100), frame, 0.25).geometries[0] as typeof g;
    expect(obbCorners(mirrored).map((v) => Math.round(v * 1e6) / 1e6).sort()).toEqual(
      obbCorners(g)
        .map((v, i) => (i % 2 === 0 ? 100 - v : v))
        .map((v) => Math.round(v * 1e6) / 1e6)
        .sort(),
    );
    const sheared = transformGeometry(g, shearAbout(20, 0, 50, 40), frame, 0.25).geometries[0] as typeof g;
    // The sheared rectangle is a parallelogram of the same area; the rectangle around it is larger.
    expect(sheared.w * sheared.h).toBeGreaterThan(300);
    expect(sheared.w * sheared.h).toBeLessThan(300 * 1.5);
    // The refitted box keeps its long side as its width, turned about as far as the shear turned it.
    expect(sheared.w).toBeGreaterThan(sheared.h);
    expect(Math.abs(sheared.angle - 0.3)).toBeLessThan(0.3);
    // An unequal scale refits too, keeping the orientation of the width.
    const stretched = transformGeometry({ ...g, angle: 1.2 }, scale(1.1, 0.9), frame, 0.25).geometries[0] as typeof g;
    expect(stretched.w).toBeGreaterThan(stretched.h);
    expect(Math.abs(stretched.angle - Math.atan2(0.9 * Math.sin(1.2), 1.1 * Math.cos(1.2)))).toBeLessThan(0.1);
  });

  it('keeps a polygon part with area and drops slivers', () => {
    const r = transformGeometry({ kind: 'polygon', parts: [[90, 10, 120, 10, 120, 40, 90, 40], [10, 10, 20, 10, 20, 20]] }, translate(0, 0), frame, 0.2);
    expect(r.clipped).toBe(true);
    expect(r.geometries).toEqual([{ kind: 'polygon', parts: [[90, 10, 100, 10, 100, 40, 90, 40], [10, 10, 20, 10, 20, 20]] }]);
  });

  it('drops points that leave the frame and cuts lines into pieces', () => {
    expect(transformGeometry({ kind: 'point', x: 10, y: 10 }, translate(95, 0), frame, 0.25).dropped).toBe(true);
    expect(transformGeometry({ kind: 'point', x: 10, y: 10 }, translate(5, 0), frame, 0.25).geometries).toEqual([{ kind: 'point', x: 15, y: 10 }]);
    const r = transformGeometry({ kind: 'polyline', points: [50, 10, 150, 10, 150, 30, 50, 30] }, translate(0, 0), frame, 0.25);
    expect(r.clipped).toBe(true);
    expect(r.geometries).toEqual([
      { kind: 'polyline', points: [50, 10, 100, 10] },
      { kind: 'polyline', points: [100, 30, 50, 30] },
    ]);
  });

  it('keeps a tag as it is and refuses a mask (masks move with the pixels)', () => {
    expect(transformGeometry({ kind: 'tag' }, flipX(100), frame, 0.25).geometries).toEqual([{ kind: 'tag' }]);
    expect(() => transformGeometry({ kind: 'mask', rle: { size: [80, 100], counts: [8000] } }, flipX(100), frame, 0.25)).toThrow(/pixels/);
  });
});
