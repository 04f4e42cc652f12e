import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { polygonArea, polygonToRle } from '../../../src-main/common/geometry/raster';
import { decodeMask, encodeMask, rleArea, rleBBox, rleFromString, rleToString, type Rle } from '../../../src-main/common/geometry/rle';
import { geometryArea } from '../../../src-main/common/geometry/shapes';
import { sharedPath } from '../../helpers/shared';

/**
 * What pycocotools 2.0.11 computes for coco_tinycoco's instances_train2017.json: the area of
 * COCO.annToRLE(ann) for each non-crowd annotation in file order, and for each crowd annotation
 * the length and FNV-1a hash of its compressed counts string, its area and toBbox.
 */
const PYCOCOTOOLS_POLYGON_AREAS = [
  85, 1482, 553, 393, 54088, 6228, 1390, 71457, 9095, 2052, 914, 261, 3035, 82601, 1418, 6844, 8060,
  17418, 572, 324, 1568, 234, 1206, 6991, 67, 42, 8524, 8363, 11341, 128, 2135, 2011, 389, 46986,
  24030, 28184, 3762, 13439, 49051, 16534, 3611, 10067, 58, 7553, 236, 1677, 1045, 418, 3679, 3086,
  8318, 561, 364, 7749, 264, 496, 158, 509, 395, 93, 11166, 2262, 861, 2944, 611, 1266, 140, 223,
  205, 99, 235, 7169, 5287, 7688, 4700, 165, 199, 281, 243, 560, 103, 953, 19, 3188, 416, 946, 351,
  219, 30, 605, 47593, 664, 4437, 17269, 241, 181, 101, 138, 24, 7215, 179, 295, 163, 155, 25, 2289,
  4636, 2801, 16318, 10159, 3753, 4782, 5271, 4580, 28948, 5868, 6019, 2530, 14325, 4559, 2860, 3846,
  456, 22875, 226179, 32483, 15659, 117, 80, 122, 1201, 3579, 914, 57, 2481, 121, 345, 952, 3049,
  1585, 343, 190, 3324, 378, 19125, 72, 143, 45, 43, 814, 3441, 497, 429, 30760, 1552, 32978, 6984,
  9491, 8853, 4617, 3214, 1325, 2438, 3322, 337, 287, 197, 189, 241, 1044, 797, 117, 7644, 647, 837,
  662, 402, 355, 764, 961, 312, 1019, 88, 755, 181, 289, 834, 49, 689, 435, 203, 451, 1071, 10, 5,
  34716, 343, 268, 178, 3596, 556, 572, 256, 292, 477, 606, 442, 594, 467, 486, 3241, 1148, 390, 345,
  440, 494, 393, 494, 959, 296, 240, 1171, 571, 530, 47, 3999, 774, 4544, 2539, 3818, 296, 3387,
  24380, 512, 9, 156, 192, 741, 77, 533, 3, 27, 10, 7, 3050, 68, 1526, 484, 675, 5803, 4948, 956,
  245, 4569, 342, 29751, 6246, 1477, 1254, 1542, 4612, 9498, 9337, 19339, 25592, 3401, 36272, 1885,
  2025, 657, 951, 1351, 1694, 17374, 271, 21405, 41871, 264, 51, 44282, 1307, 1431, 1214, 7527
];
const PYCOCOTOOLS_CROWD: Record<number, { chars: number; fnv1a: number; area: number; bbox: number[] }> = {
  908400386912: { chars: 4987, fnv1a: 2043574003, area: 37950, bbox: [82, 0, 558, 480] },
  900100296649: { chars: 108, fnv1a: 1698462286, area: 1004, bbox: [300, 280, 26, 55] },
  900100463730: { chars: 311, fnv1a: 462090722, area: 2740, bbox: [1, 116, 603, 152] },
  900100087038: { chars: 753, fnv1a: 629041549, area: 6125, bbox: [1, 190, 639, 102] },
};

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

function perimeter(ring: readonly number[]): number {
  const n = ring.length >> 1;
  let p = 0;
  for (let i = 0; i < n; i++) {
    const j = (i + 1) % n;
    p += Math.hypot(ring[2 * j]! - ring[2 * i]!, ring[2 * j + 1]! - ring[2 * i + 1]!);
  }
  return p;
}

interface CocoAnnotation {
  id: number;
  image_id: number;
  iscrowd: 0 | 1;
  area: number;
  bbox: number[];
  segmentation: number[][] | { size: [number, number]; counts: number[] | string };
}

function readJson<T>(file: string): T {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
}

describe('coco_tinycoco instances', () => {
  const file = sharedPath('datasets/coco_tinycoco/annotations/instances_train2017.json');
  const data = file ? readJson<{ images: { id: number; width: number; height: number }[]; annotations: CocoAnnotation[] }>(file) : null;
  const images = new Map(data?.images.map((i) => [i.id, i]));

  it.skipIf(!data)('rasterises every polygon to the area pycocotools computes', () => {
    const polygons = data!.annotations.filter((a) => !a.iscrowd);
    expect(polygons).toHaveLength(PYCOCOTOOLS_POLYGON_AREAS.length);
    expect(polygons.filter((a) => (a.segmentation as number[][]).length > 1).length).toBeGreaterThan(0);
    const areas = polygons.map((a) => {
      const img = images.get(a.image_id)!;
      return rleArea(polygonToRle(a.segmentation as number[][], img.height, img.width));
    });
    expect(areas).toEqual(PYCOCOTOOLS_POLYGON_AREAS);
    // The area alone, as an export computes it, without the runs.
    expect(polygons.map((a) => polygonArea(a.segmentation as number[][], images.get(a.image_id)!.height, images.get(a.image_id)!.width))).toEqual(PYCOCOTOOLS_POLYGON_AREAS);
  });

  it.skipIf(!data)('stays close to the stored polygon areas, which are exact shoelace areas', () => {
    let rasterTotal = 0;
    let storedTotal = 0;
    for (const a of data!.annotations) {
      if (a.iscrowd) continue;
      const parts = a.segmentation as number[][];
      const img = images.get(a.image_id)!;
      const raster = rleArea(polygonToRle(parts, img.height, img.width));
      expect(geometryArea({ kind: 'polygon', parts }) / a.area).toBeCloseTo(1, 9);
      // Pixelisation moves the area by a fraction of the outline's length (0.23 at worst here).
      const outline = parts.reduce((s, p) => s + perimeter(p), 0);
      expect(Math.abs(raster - a.area)).toBeLessThanOrEqual(0.25 * outline);
      if (a.area >= 1000) expect(Math.abs(raster - a.area) / a.area).toBeLessThan(0.01);
      rasterTotal += raster;
      storedTotal += a.area;
    }
    expect(Math.abs(rasterTotal / storedTotal - 1)).toBeLessThan(5e-4);
  });

  it.skipIf(!data)('decodes crowd RLE to the pixels pycocotools sees and encodes them back unchanged', () => {
    const crowd = data!.annotations.filter((a) => a.iscrowd);
    expect(crowd.map((a) => a.id).sort((x, y) => x - y)).toEqual(Object.keys(PYCOCOTOOLS_CROWD).map(Number).sort((x, y) => x - y));
    for (const a of crowd) {
      const seg = a.segmentation as { size: [number, number]; counts: number[] };
      const img = images.get(a.image_id)!;
      expect(seg.size).toEqual([img.height, img.width]);
      const rle: Rle = { size: seg.size, counts: seg.counts };
      const ref = PYCOCOTOOLS_CROWD[a.id]!;
      const pixels = decodeMask(rle);
      // The stored `area` (and bbox) of COCO crowd annotations come from elsewhere: area is 3-33 %
      // above the pixel count, bbox one pixel smaller than toBbox. pycocotools agrees with us.
      expect(pixels.reduce((s, v) => s + v, 0)).toBe(ref.area);
      expect(rleArea(rle)).toBe(ref.area);
      expect(encodeMask(pixels, img.width, img.height).counts).toEqual(seg.counts);
      const s = rleToString(rle);
      expect([s.length, fnv1a(s)]).toEqual([ref.chars, ref.fnv1a]);
      expect(rleFromString(s, seg.size)).toEqual(rle);
      const b = rleBBox(rle);
      expect([b.x, b.y, b.w, b.h]).toEqual(ref.bbox);
    }
  });
});

describe('datumaro fixtures', () => {
  it('segment_anything compressed strings round-trip and decode to the stated area and bbox', () => {
    const dir = sharedPath('datasets/datumaro_assets/segment_anything_dataset');
    if (!dir) return;
    const files = fs.readdirSync(dir).filter((f) => f.endsWith('.json'));
    expect(files.length).toBeGreaterThanOrEqual(2);
    let checked = 0;
    for (const f of files) {
      const doc = readJson<{ annotations: { segmentation: { size: [number, number]; counts: string }; area: number; bbox: number[] }[] }>(path.join(dir, f));
      for (const a of doc.annotations) {
        const { size, counts } = a.segmentation;
        const rle = rleFromString(counts, size);
        expect(rleToString(rle)).toBe(counts);
        expect(decodeMask(rle).reduce((s, v) => s + v, 0)).toBe(a.area);
        const b = rleBBox(rle);
        expect([b.x, b.y, b.w, b.h]).toEqual(a.bbox);
        checked++;
      }
    }
    expect(checked).toBeGreaterThanOrEqual(2);
  });

  it('COCO fixtures with uncompressed RLE decode to their stated area', () => {
    const dir = sharedPath('datasets/datumaro_assets/coco_dataset');
    if (!dir) return;
    let checked = 0;
    for (const rel of fs.readdirSync(dir, { recursive: true }) as string[]) {
      if (!rel.endsWith('.json')) continue;
      const doc = readJson<{ annotations?: CocoAnnotation[] }>(path.join(dir, rel));
      for (const a of doc.annotations ?? []) {
        // Keypoint and caption fixtures have no segmentation; polygons are covered above.
        const seg = a.segmentation as CocoAnnotation['segmentation'] | undefined;
        if (!seg || Array.isArray(seg) || typeof seg.counts === 'string') continue;
        const rle: Rle = { size: seg.size, counts: seg.counts };
        const pixels = decodeMask(rle);
        expect(pixels.reduce((s, v) => s + v, 0)).toBe(a.area);
        expect(encodeMask(pixels, seg.size[1], seg.size[0]).counts).toEqual(seg.counts);
        checked++;
      }
    }
    expect(checked).toBeGreaterThanOrEqual(5);
  });
});
