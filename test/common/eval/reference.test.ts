import { describe, expect, it } from 'vitest';
import {
  COCO_REFERENCE_ATTRIBUTE,
  cocoReference,
  geometryFingerprint,
  cocoArea,
  cocoBBox,
  readCocoReference,
} from '../../../src-main/common/eval/reference';
import { cocoToInterchange } from '../../../src-main/common/formats/coco';
import type { Geometry } from '../../../src-main/common/model';

// A 2x10 crowd mask of a 5x10 image (20 pixels): its extent is 2 wide and 10 high.
const crowdMask: Geometry = { kind: 'mask', rle: { size: [10, 5], counts: [0, 20, 30] } };
const square: Geometry = { kind: 'polygon', parts: [[1.25, 1, 11.25, 1, 11.25, 6, 1.25, 6]] };

describe('the area and box COCO evaluation judges a ground truth on', () => {
  it('computes polygon shoelace area and vertex extent, mask pixel count and extent', () => {
    expect(cocoArea(square)).toBe(50);
    expect(cocoBBox(square)).toEqual([1.25, 1, 10, 5]);
    expect(cocoArea(crowdMask)).toBe(20);
    expect(cocoBBox(crowdMask)).toEqual([0, 0, 2, 10]);
    expect(cocoArea({ kind: 'box', x: 1, y: 2, w: 3, h: 4 })).toBe(12);
  });

  it("keeps a file's values only where they differ from the shape's beyond rounding", () => {
    expect(cocoReference(square, 50, [1.25, 1, 10, 5])).toBeNull();
    // Widths written to two decimals against the subtraction's 10.000000000000002.
    expect(cocoReference(square, 50.00000000000001, [1.25, 1, 10.000000000000002, 5])).toBeNull();
    expect(cocoReference(crowdMask, undefined, undefined)).toBeNull();
    const ref = cocoReference(crowdMask, 27, [0, 0, 1, 9])!;
    expect(JSON.parse(ref)).toEqual({ geometry: geometryFingerprint(crowdMask), area: 27, bbox: [0, 0, 1, 9] });
    expect(JSON.parse(cocoReference(crowdMask, 20, [0, 0, 1, 9])!)).not.toHaveProperty('area');
    expect(cocoReference(crowdMask, 'big', [0, 0, 'x', 9])).toBeNull();
  });

  it('reads the kept values back only while the geometry is the one they describe', () => {
    const attributes = { iscrowd: true, [COCO_REFERENCE_ATTRIBUTE]: cocoReference(crowdMask, 27, [0, 0, 1, 9]) };
    expect(readCocoReference(attributes, crowdMask)).toEqual({ area: 27, bbox: [0, 0, 1, 9] });
    // The same mask written by another hand (a copy, keys in another order) is still the same.
    expect(readCocoReference(attributes, { rle: { counts: [0, 20, 30], size: [10, 5] }, kind: 'mask' } as Geometry)).toEqual({ area: 27, bbox: [0, 0, 1, 9] });
    // Edited: one more pixel.
    expect(readCocoReference(attributes, { kind: 'mask', rle: { size: [10, 5], counts: [0, 21, 29] } })).toEqual({});
    expect(readCocoReference({ [COCO_REFERENCE_ATTRIBUTE]: 'not json' }, crowdMask)).toEqual({});
    expect(readCocoReference({}, crowdMask)).toEqual({});
    expect(geometryFingerprint(square)).not.toBe(geometryFingerprint({ kind: 'polygon', parts: [[1.25, 1, 11.25, 1, 11.25, 6, 1.25, 6.5]] }));
  });

  it('is kept by the COCO reader for crowd regions only', () => {
    const ds = cocoToInterchange(
      {
        images: [{ id: 1, file_name: 'a.jpg', width: 5, height: 10 }],
        categories: [{ id: 1, name: 'person' }],
        annotations: [
          // COCO's crowd box is the extent of pixel indices, one narrower and shorter than the mask's.
          { id: 1, image_id: 1, category_id: 1, segmentation: { size: [10, 5], counts: [0, 20, 30] }, area: 20, bbox: [0, 0, 1, 9], iscrowd: 1 },
          // A polygon whose file area is a pixel count, not its shoelace area: not crowd, not kept.
          { id: 2, image_id: 1, category_id: 1, segmentation: [[1, 1, 4, 1, 4, 4, 1, 4]], area: 12, bbox: [1, 1, 3, 3], iscrowd: 0 },
        ],
      },
      { file: 'instances.json' },
    );
    expect(ds.problems).toEqual([]);
    const [crowd, polygon] = ds.images[0]!.annotations;
    expect(readCocoReference(crowd!.attributes, crowd!.geometry)).toEqual({ bbox: [0, 0, 1, 9] });
    expect(polygon!.attributes).toEqual({});
  });
});

describe('geometry fingerprints', () => {
  /** FNV-1a of the values joined with commas: the text stored fingerprints were made from. */
  function joinedFingerprint(kind: string, values: (string | number)[]): string {
    const s = values.join(',');
    let h = 0x811c9dc5;
    for (let i = 0; i < s.length; i++) {
      h ^= s.charCodeAt(i);
      h = Math.imul(h, 0x01000193) >>> 0;
    }
    return `${kind}:${s.length}:${h.toString(16).padStart(8, '0')}`;
  }

  it('are FNV-1a of the joined values, so fingerprints kept in datasets still match', () => {
    expect(geometryFingerprint(crowdMask)).toBe(joinedFingerprint('mask', ['mask', 10, 5, 3, 0, 20, 30]));
    expect(geometryFingerprint(square)).toBe(joinedFingerprint('polygon', ['polygon', 8, 1.25, 1, 11.25, 1, 11.25, 6, 1.25, 6]));
    expect(geometryFingerprint({ kind: 'obb', cx: 1, cy: -2, w: 3.5, h: 4, angle: 0.1 })).toBe(joinedFingerprint('obb', ['obb', 1, -2, 3.5, 4, 0.1]));
    expect(geometryFingerprint({ kind: 'tag' })).toBe(joinedFingerprint('tag', ['tag']));
  });

  // Runs of 2 over a 1000x600 image: 300,000 counts, more than a call's argument list holds.
  const big: Geometry = { kind: 'mask', rle: { size: [600, 1000], counts: Array.from({ length: 300_000 }, () => 2) } };

  it('take a crowd mask of 300,000 RLE counts', () => {
    const f = geometryFingerprint(big);
    expect(f).toMatch(/^mask:\d+:[0-9a-f]{8}$/);
    const edited: Geometry = { kind: 'mask', rle: { size: [600, 1000], counts: [...big.rle.counts.slice(0, -2), 1, 3] } };
    expect(geometryFingerprint(edited)).not.toBe(f);
    const ref = cocoReference(big, 123_456, [0, 0, 999, 599])!;
    expect(readCocoReference({ [COCO_REFERENCE_ATTRIBUTE]: ref }, big)).toEqual({ area: 123_456, bbox: [0, 0, 999, 599] });
  });

  it('let the COCO reader keep the file values of such a crowd mask', () => {
    const ds = cocoToInterchange(
      {
        images: [{ id: 1, file_name: 'a.jpg', width: 1000, height: 600 }],
        categories: [{ id: 1, name: 'person' }],
        annotations: [{ id: 1, image_id: 1, category_id: 1, segmentation: big.rle, area: 123_456, bbox: [0, 0, 999, 599], iscrowd: 1 }],
      },
      { file: 'instances.json' },
    );
    expect(ds.problems).toEqual([]);
    const [crowd] = ds.images[0]!.annotations;
    expect(crowd!.geometry).toEqual(big);
    expect(readCocoReference(crowd!.attributes, crowd!.geometry)).toEqual({ area: 123_456, bbox: [0, 0, 999, 599] });
  });
});
