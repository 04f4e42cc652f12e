import { describe, expect, it } from 'vitest';
import { decodeMask, encodeMask } from '../../../src-main/common/geometry';
import {
  circleToRing,
  circleVertexCount,
  CIRCLE_TOLERANCE,
  labelmeMaskCrop,
  labelmeMaskPayloads,
  readLabelmeDocument,
  ringToCircle,
  writeLabelmeDocument,
  type LabelmeBitmap,
} from '../../../src-main/common/formats/labelme';

const shape = (shape_type: string, label: string, points: number[][], extra: Record<string, unknown> = {}) => ({ label, points, group_id: null, description: '', shape_type, flags: {}, mask: null, ...extra });
const doc = (shapes: unknown[], extra: Record<string, unknown> = {}) => ({ version: '5.5.0', flags: {}, shapes, imagePath: 'a.jpg', imageData: null, imageHeight: 20, imageWidth: 30, ...extra });

describe('labelme circles', () => {
  it('approximates a circle within the tolerance with a vertex count that is a multiple of 4', () => {
    for (const r of [0.1, 1, 5, 50, 500, 5000]) {
      const n = circleVertexCount(r);
      expect(n % 4).toBe(0);
      expect(n).toBeGreaterThanOrEqual(12);
      if (n < 360) expect(r * (1 - Math.cos(Math.PI / n))).toBeLessThanOrEqual(CIRCLE_TOLERANCE + 1e-12);
    }
    const ring = circleToRing(10, 10, 13, 14);
    expect(ring.slice(0, 2)).toEqual([13, 14]);
    for (let i = 0; i < ring.length; i += 2) expect(Math.hypot(ring[i]! - 10, ring[i + 1]! - 10)).toBeCloseTo(5, 9);
  });

  it('recovers the circle from its ring and refuses an edited ring', () => {
    const ring = circleToRing(100.5, 40.25, 130, 60);
    const c = ringToCircle(ring)!;
    expect(c[1]).toEqual([130, 60]);
    expect(c[0][0]).toBeCloseTo(100.5, 9);
    expect(c[0][1]).toBeCloseTo(40.25, 9);
    const edited = ring.slice();
    edited[6] = edited[6]! + 1;
    expect(ringToCircle(edited)).toBeNull();
    expect(ringToCircle([0, 0, 10, 0, 10, 10, 0, 10])).toBeNull();
  });
});

describe('readLabelmeDocument', () => {
  it('reads every shape type, flags as tags and shape flags/description as attributes', () => {
    const bmp: LabelmeBitmap = { width: 3, height: 2, data: Uint8Array.from([1, 1, 0, 0, 1, 1]) };
    const d = doc(
      [
        shape('rectangle', 'box', [[10, 8], [2, 3]], { flags: { occluded: true }, description: 'left one' }),
        shape('polygon', 'poly', [[0, 0], [4, 0], [4, 4]], { attributes: { grade: 3, note: 'n' } }),
        shape('circle', 'round', [[10, 10], [13, 14]]),
        shape('point', 'pt', [[1.5, 2.5]]),
        shape('linestrip', 'line', [[0, 0], [1, 1], [2, 0]]),
        shape('line', 'line', [[0, 0], [1, 1]]),
        shape('mask', 'blob', [[5, 6], [7, 7]], { mask: 'ignored-by-this-module' }),
      ],
      { flags: { good: true, bad: false } },
    );
    expect(labelmeMaskPayloads(d)).toEqual([{ index: 6, base64: 'ignored-by-this-module', box: { width: 3, height: 2 }, image: { width: 30, height: 20 } }]);
    const r = readLabelmeDocument(d, 'a.json', new Map([[6, bmp]]));
    expect(r.tags).toEqual(['good']);
    expect([r.width, r.height, r.imagePath, r.hasImageData]).toEqual([30, 20, 'a.jpg', false]);
    expect(r.annotations.map((a) => [a.label, a.geometry.kind])).toEqual([
      ['box', 'box'],
      ['poly', 'polygon'],
      ['round', 'polygon'],
      ['pt', 'point'],
      ['line', 'polyline'],
      ['line', 'polyline'],
      ['blob', 'mask'],
    ]);
    expect(r.annotations[0]).toEqual({ label: 'box', geometry: { kind: 'box', x: 2, y: 3, w: 8, h: 5 }, attributes: { occluded: true, description: 'left one' } });
    expect(r.annotations[1]!.attributes).toEqual({ grade: 3, note: 'n' });
    expect(r.annotations[2]!.attributes).toEqual({ labelme_shape: 'circle' });
    expect(r.annotations[4]!.geometry).toEqual({ kind: 'polyline', points: [0, 0, 1, 1, 2, 0] });
    expect(r.annotations[5]!.geometry).toEqual({ kind: 'polyline', points: [0, 0, 1, 1] });
    const mask = r.annotations[6]!.geometry as { kind: 'mask'; rle: { size: [number, number]; counts: number[] } };
    expect(mask.rle.size).toEqual([20, 30]);
    const px = decodeMask(mask.rle);
    const set: number[][] = [];
    px.forEach((v, i) => v && set.push([i % 30, Math.floor(i / 30)]));
    expect(set).toEqual([[5, 6], [6, 6], [6, 7], [7, 7]]);
    expect(r.problems).toEqual([]);
    expect(r.counters).toEqual({ circlesAsPolygons: 1 });
  });

  it('joins shapes sharing label and group_id: polygons into parts, with a mask into one mask', () => {
    const full = new Uint8Array(30 * 20);
    full[5 * 30 + 20] = 1;
    const bmp: LabelmeBitmap = { width: 1, height: 1, data: Uint8Array.from([1]) };
    const d = doc([
      shape('polygon', 'leaf', [[0, 0], [4, 0], [4, 4]], { group_id: 1 }),
      shape('polygon', 'stem', [[0, 0], [4, 0], [4, 4]], { group_id: 1 }),
      shape('rectangle', 'leaf', [[10, 10], [12, 12]], { group_id: 1 }),
      shape('polygon', 'cell', [[0, 0], [10, 0], [10, 10], [0, 10]], { group_id: 2 }),
      shape('mask', 'cell', [[20, 5], [20, 5]], { group_id: 2, mask: 'x' }),
      shape('point', 'leaf', [[1, 1]], { group_id: 1 }),
    ]);
    const r = readLabelmeDocument(d, 'a.json', new Map([[4, bmp]]));
    expect(r.problems).toEqual([]);
    expect(r.annotations.map((a) => [a.label, a.geometry.kind, a.attributes['group_id']])).toEqual([
      ['leaf', 'polygon', 1],
      ['stem', 'polygon', 1],
      ['cell', 'mask', 2],
      ['leaf', 'point', 1],
    ]);
    expect((r.annotations[0]!.geometry as { parts: number[][] }).parts).toEqual([
      [0, 0, 4, 0, 4, 4],
      [10, 10, 12, 10, 12, 12, 10, 12],
    ]);
    const cell = decodeMask((r.annotations[2]!.geometry as { rle: { size: [number, number]; counts: number[] } }).rle);
    expect(cell.reduce((a, b) => a + b, 0)).toBe(100 + 1);
    expect(cell[5 * 30 + 20]).toBe(1);
    expect(r.counters).toEqual({ groupsJoined: 2, groupShapesRasterized: 1 });
  });

  it('reports bad shapes with their index and skips them', () => {
    const r = readLabelmeDocument(
      doc(
        [
          shape('rectangle', 'a', [[1, 1], [1, 5]]),
          shape('polygon', 'a', [[0, 0], [1, Number.NaN], [2, 2]]),
          shape('polygon', '', [[0, 0], [1, 1], [2, 0]]),
          shape('polygon', 'a', [[0, 0], [1, 1]]),
          shape('mask', 'a', [[0, 0], [1, 1]], { mask: '!!' }),
          shape('circle', 'a', [[3, 3], [3, 3]]),
          'nonsense',
        ],
        { imageWidth: 'wide' },
      ),
      'd/a.json',
      new Map([[4, 'the "mask" PNG cannot be decoded']]),
    );
    expect(r.annotations).toEqual([]);
    expect(r.problems.map((p) => [p.file, p.where, p.severity])).toEqual([
      ['d/a.json', 'imageWidth', 'warning'],
      ['d/a.json', 'shapes[0]', 'warning'],
      ['d/a.json', 'shapes[1]', 'error'],
      ['d/a.json', 'shapes[2]', 'error'],
      ['d/a.json', 'shapes[3]', 'error'],
      ['d/a.json', 'shapes[4]', 'error'],
      ['d/a.json', 'shapes[5]', 'warning'],
      ['d/a.json', 'shapes[6]', 'error'],
    ]);
    expect(r.problems[5]!.message).toMatch(/without imageWidth/);
    expect(readLabelmeDocument({ images: [] }, 'coco.json', new Map()).problems[0]).toMatchObject({ severity: 'error', message: expect.stringMatching(/no "shapes"/) });
  });
});

describe('writeLabelmeDocument', () => {
  it('writes rectangles, points, circles, multi-part polygons as a group and masks over their box', () => {
    const m = new Uint8Array(30 * 20);
    m[3 * 30 + 4] = m[3 * 30 + 5] = m[4 * 30 + 5] = 1;
    const rle = encodeMask(m, 30, 20);
    const crop = labelmeMaskCrop(rle)!;
    expect([crop.x, crop.y, crop.bitmap.width, crop.bitmap.height, [...crop.bitmap.data]]).toEqual([4, 3, 2, 2, [1, 1, 0, 1]]);
    const skipped: string[] = [];
    const out = writeLabelmeDocument(
      { imagePath: 'a.jpg', width: 30, height: 20, tags: ['good'] },
      [
        { label: 'b', geometry: { kind: 'box', x: 1, y: 2, w: 3, h: 4 }, attributes: { occluded: true, description: 'd', grade: 2 } },
        { label: 'p', geometry: { kind: 'point', x: 1, y: 1 }, attributes: {} },
        { label: 'c', geometry: { kind: 'polygon', parts: [circleToRing(10, 10, 15, 10)] }, attributes: { labelme_shape: 'circle' } },
        { label: 'g', geometry: { kind: 'polygon', parts: [[0, 0, 1, 0, 1, 1], [5, 5, 6, 5, 6, 6]] }, attributes: { group_id: 4 } },
        { label: 'h', geometry: { kind: 'polygon', parts: [[0, 0, 1, 0, 1, 1], [5, 5, 6, 5, 6, 6]] }, attributes: {} },
        { label: 'm', geometry: { kind: 'mask', rle }, attributes: {} },
        { label: 'o', geometry: { kind: 'obb', cx: 1, cy: 1, w: 1, h: 1, angle: 0 }, attributes: {} },
      ],
      (i) => (i === 5 ? { x: 4, y: 3, width: 2, height: 2, base64: 'PNG' } : null),
      (k) => skipped.push(k),
    );
    expect(out.flags).toEqual({ good: true });
    expect(out.imageData).toBeNull();
    expect(out.shapes.map((s) => [s.label, s.shape_type, s.group_id])).toEqual([
      ['b', 'rectangle', null],
      ['p', 'point', null],
      ['c', 'circle', null],
      ['g', 'polygon', 4],
      ['g', 'polygon', 4],
      ['h', 'polygon', 5],
      ['h', 'polygon', 5],
      ['m', 'mask', null],
    ]);
    expect(out.shapes[0]).toMatchObject({ points: [[1, 2], [4, 6]], flags: { occluded: true }, description: 'd', attributes: { grade: 2 } });
    expect(out.shapes[2]!.points[1]).toEqual([15, 10]);
    expect(out.shapes[7]).toMatchObject({ points: [[4, 3], [5, 4]], mask: 'PNG' });
    expect(skipped).toEqual(['unsupported:obb']);
  });
});
