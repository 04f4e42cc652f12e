import { describe, expect, it } from 'vitest';
import type { Augment, AugmentStep, Preprocess } from '../../../src-main/common/augment/recipe';
import { augmentSchema, preprocessSchema } from '../../../src-main/common/augment/recipe';
import { mulberry32 } from '../../../src-main/common/random';
import { geometryArea, validateGeometry } from '../../../src-main/common/geometry/shapes';
import { augmentSample, preprocessSample } from '../../../src-main/services/augment/pipeline';
import type { Sample, Transformed } from '../../../src-main/services/augment/types';
import { type Ann, bccdSamples, bitsBox, bitsOf, boxIou, cocoSamples, geometryRect, maskIou, obbSamples, rasterOf } from './fixtures';

/**
 * Every geometric augmentation and preprocessing step, forced on (p = 1, fixed ranges), applied
 * to real annotated images and, with the same seed, to a raster of each annotation as an image:
 * the moved annotation must agree with the moved raster, objects mostly outside must be dropped
 * and counted, and nothing without area may come out.
 */

const GEOMETRIC: [string, AugmentStep][] = [
  ['flip horizontal', { op: 'flip', horizontal: 1, vertical: 0 }],
  ['flip vertical', { op: 'flip', horizontal: 0, vertical: 1 }],
  ['flip both', { op: 'flip', horizontal: 1, vertical: 1 }],
  ['rot90', { op: 'rot90', p: 1 }],
  ['rotate 17°', { op: 'rotate', p: 1, degrees: [17, 17], fill: 0 }],
  ['rotate -120°', { op: 'rotate', p: 1, degrees: [-120, -120], fill: 0 }],
  ['scaleCrop x1.4', { op: 'scaleCrop', p: 1, scale: [1.4, 1.4], fill: 0 }],
  ['scaleCrop x0.6', { op: 'scaleCrop', p: 1, scale: [0.6, 0.6], fill: 0 }],
  ['shear 12°,-7°', { op: 'shear', p: 1, x: [12, 12], y: [-7, -7], fill: 0 }],
  ['mosaic', { op: 'mosaic', p: 1 }],
];

const PREPROCESS: [string, Preprocess][] = [
  ['resize fit 320x320', preprocessSchema.parse({ resize: { mode: 'fit', width: 320, height: 320 } })],
  ['resize fill 300x300', preprocessSchema.parse({ resize: { mode: 'fill', width: 300, height: 300 } })],
  ['resize letterbox 416x416', preprocessSchema.parse({ resize: { mode: 'letterbox', width: 416, height: 416 } })],
  ['resize stretch 512x256', preprocessSchema.parse({ resize: { mode: 'stretch', width: 512, height: 256 } })],
  ['tile 256 overlap 48', preprocessSchema.parse({ tile: { size: 256, overlap: 48, minVisible: 0.3 } })],
];

let samplesCache: Sample<Ann>[] | null | undefined;
async function samples(): Promise<Sample<Ann>[] | null> {
  if (samplesCache !== undefined) return samplesCache;
  const [b, c, o] = await Promise.all([bccdSamples(2), cocoSamples(3, true), obbSamples(2)]);
  samplesCache = b && c && o ? [...b, ...c, ...o] : null;
  return samplesCache;
}

interface Figures {
  boxIous: number[];
  smallIous: number[];
  maskIous: number[];
  kinds: Set<string>;
  dropped: number;
  clipped: number;
}

function newFigures(): Figures {
  return { boxIous: [], smallIous: [], maskIous: [], kinds: new Set(), dropped: 0, clipped: 0 };
}

function setPixels(img: { data: Buffer; channels: number }): number {
  let n = 0;
  for (let i = 0; i < img.data.length; i += img.channels) if (img.data[i]! >= 128) n++;
  return n;
}

/**
 * `run` applied to each sample, then to each annotation alone with its raster as the image: the
 * outputs must pair up (same steps, same sizes), and each moved annotation agree with its moved
 * raster. `areaScale(sample, output)` is how the step scales areas; `minVisible` the drop threshold.
 */
async function agree(
  run: (s: Sample<Ann>) => Promise<Transformed<Ann>[]>,
  areaScale: (s: Sample<Ann>, out: Transformed<Ann>) => number,
  minVisible: number,
  figures: Figures,
): Promise<void> {
  const all = await samples();
  if (!all) return;
  for (const sample of all) {
    const { width, height } = sample.image;
    const whole = await run(sample);
    const expected: Ann[][] = whole.map(() => []);
    for (const t of whole) {
      for (const a of t.annotations) {
        expect(validateGeometry(a.geometry, t.image), `${a.label} ${JSON.stringify(a.geometry).slice(0, 200)}`).toBeNull();
        expect(geometryArea(a.geometry)).toBeGreaterThan(0);
      }
    }
    for (const ann of sample.annotations) {
      const raster = rasterOf(ann.geometry, width, height);
      const before = setPixels(raster);
      if (before === 0) continue;
      const outs = await run({ image: raster, annotations: [ann] });
      expect(outs).toHaveLength(whole.length);
      for (let k = 0; k < outs.length; k++) {
        const moved = outs[k]!;
        expect(moved.applied).toEqual(whole[k]!.applied);
        expect([moved.image.width, moved.image.height]).toEqual([whole[k]!.image.width, whole[k]!.image.height]);
        expected[k]!.push(...moved.annotations);
        const bits = bitsOf(moved.image);
        const after = bits.reduce((a, b) => a + b, 0);
        const expectedArea = before * areaScale(sample, moved);
        const visible = after / expectedArea;
        // A raster a few hundred pixels large changes its pixel count by resampling alone: its
        // fraction is not measured precisely enough to say which side of a threshold it is on.
        if (expectedArea < 400) continue;
        if (visible < minVisible - 0.05) {
          expect(moved.annotations, `${ann.label} with ${visible} visible`).toEqual([]);
          if (visible > 0 || moved.counts.dropped > 0) figures.dropped += moved.counts.dropped;
          continue;
        }
        if (visible < minVisible + 0.05) continue;
        expect(moved.annotations, `${ann.label} with ${visible} visible`).toHaveLength(1);
        expect(moved.counts.dropped).toBe(0);
        if (visible < 0.85) {
          expect(moved.counts.clipped, `${ann.label} with ${visible} visible is clipped`).toBe(1);
          figures.clipped++;
        }
        const g = moved.annotations[0]!.geometry;
        expect(g.kind).toBe(ann.geometry.kind);
        figures.kinds.add(g.kind);
        const box = bitsBox(bits, moved.image.width)!;
        // Both sides through the project's rasteriser: the moved annotation's raster against the moved raster.
        const own = bitsOf(rasterOf(g, moved.image.width, moved.image.height));
        const r = bitsBox(own, moved.image.width) ?? geometryRect(g);
        // The project's rasteriser (pycocotools' rounding) is not symmetric to the pixel, so a
        // small object's boxes may differ by a pixel per side: objects 48 pixels across and more
        // must agree to IoU 0.95, smaller ones (24 pixels or more) to 0.85, and all are reported.
        const iou = boxIou(r, box);
        const side = Math.min(box.x1 - box.x0, box.y1 - box.y0);
        const what = `${ann.label} ${g.kind} box ${JSON.stringify(r)} vs raster ${JSON.stringify(box)}`;
        if (side >= 48) {
          figures.boxIous.push(iou);
          expect(iou, what).toBeGreaterThanOrEqual(0.95);
        } else if (side >= 24) {
          figures.smallIous.push(iou);
          expect(iou, what).toBeGreaterThanOrEqual(0.85);
        }
        if (g.kind !== 'box' && after >= 2000) {
          const m = maskIou(own, bits);
          figures.maskIous.push(m);
          expect(m, `${ann.label} ${g.kind} mask`).toBeGreaterThanOrEqual(0.9);
        }
      }
    }
    // The whole image moves its own annotations exactly as one at a time (a mosaic adds the
    // other images' objects after them).
    for (let k = 0; k < whole.length; k++) expect(whole[k]!.annotations.slice(0, expected[k]!.length)).toEqual(expected[k]);
  }
}

function stats(v: number[]): string {
  if (v.length === 0) return '-';
  const s = v.slice().sort((a, b) => a - b);
  return `min ${s[0]!.toFixed(4)} median ${s[Math.floor(s.length / 2)]!.toFixed(4)}`;
}

function report(name: string, f: Figures): void {
  console.log(
    `IoU ${name}: box (>= 48 px) ${stats(f.boxIous)} n=${f.boxIous.length}; box (24-48 px) ${stats(f.smallIous)} n=${f.smallIous.length}; mask ${stats(f.maskIous)} n=${f.maskIous.length}; clipped ${f.clipped}, dropped ${f.dropped}`,
  );
}

/** Three further images for a mosaic: the next samples, or blank images of their sizes for a raster run. */
function others(all: Sample<Ann>[], sample: Sample<Ann>): (n: number) => Promise<Sample<Ann>[]> {
  return async (n) => {
    const i = all.findIndex((s) => s.image.width === sample.image.width && s.image.height === sample.image.height);
    const picked = Array.from({ length: n }, (_, k) => all[(Math.max(0, i) + 1 + k) % all.length]!);
    if (sample.image.channels !== 1) return picked;
    return picked.map((p) => ({ image: { data: Buffer.alloc(p.image.width * p.image.height), width: p.image.width, height: p.image.height, channels: 1 as const }, annotations: [] }));
  };
}

describe('augmentation geometry agrees with the moved raster', () => {
  for (const [name, step] of GEOMETRIC) {
    it(`${name}: boxes, polygons, crowd masks and rotated boxes`, async () => {
      const all = await samples();
      if (!all) return;
      const figures = newFigures();
      const aug: Augment = augmentSchema.parse({ outputs: 1, seed: 1, minVisible: 0.25, steps: [step] });
      const scaleOf = () => (step.op === 'scaleCrop' ? step.scale[0] ** 2 : 1);
      const seeds = step.op === 'rot90' ? [1, 2, 3, 5] : step.op === 'mosaic' ? [1, 2, 3] : [1];
      for (const seed of seeds) {
        await agree(
          async (s) => {
            const out = await augmentSample(s, aug, mulberry32(seed), others(all, s));
            expect(out.applied).toHaveLength(1);
            return [out];
          },
          scaleOf,
          aug.minVisible,
          figures,
        );
      }
      // A mosaic shows a quarter or more of this image: the crowd masks and crops may all be cut away.
      expect([...figures.kinds].sort()).toEqual(step.op === 'mosaic' ? expect.arrayContaining(['box', 'polygon']) : ['box', 'mask', 'obb', 'polygon']);
      const cuts = step.op === 'mosaic' || step.op === 'rotate' || (step.op === 'scaleCrop' && step.scale[0] > 1);
      if (cuts) expect(figures.clipped).toBeGreaterThan(0);
      if (step.op === 'mosaic' || (step.op === 'scaleCrop' && step.scale[0] > 1)) expect(figures.dropped).toBeGreaterThan(0);
      report(name, figures);
    }, 180_000);
  }

  for (const [name, pre] of PREPROCESS) {
    it(`${name}: boxes, polygons, crowd masks and rotated boxes`, async () => {
      if (!(await samples())) return;
      const figures = newFigures();
      const minVisible = pre.tile ? pre.tile.minVisible : 0;
      await agree(
        (s) => preprocessSample(s, pre),
        (s, out) => (pre.resize ? scaleOfResize(pre, s, out) : 1),
        minVisible,
        figures,
      );
      expect([...figures.kinds].sort()).toEqual(['box', 'mask', 'obb', 'polygon']);
      if (pre.tile || pre.resize?.mode === 'fill') expect(figures.clipped).toBeGreaterThan(0);
      if (pre.tile) expect(figures.dropped).toBeGreaterThan(0);
      report(name, figures);
    }, 180_000);
  }
});

/** The area factor of a resize: the scaled image's area over the source's. */
function scaleOfResize(pre: Preprocess, s: Sample<Ann>, out: Transformed<Ann>): number {
  const r = pre.resize!;
  const { width: W, height: H } = s.image;
  if (r.mode === 'stretch') return (out.image.width * out.image.height) / (W * H);
  const f = r.mode === 'fill' ? Math.max(r.width / W, r.height / H) : Math.min(r.width / W, r.height / H);
  return f * f;
}
