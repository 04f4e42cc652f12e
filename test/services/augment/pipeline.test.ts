import { describe, expect, it } from 'vitest';
import type { AugmentStep } from '../../../src-main/common/augment/recipe';
import { augmentSchema, preprocessSchema } from '../../../src-main/common/augment/recipe';
import { mulberry32 } from '../../../src-main/common/random';
import { geometryArea, validateGeometry } from '../../../src-main/common/geometry/shapes';
import { augmentSample, preprocessSample, tileOrigins } from '../../../src-main/services/augment/pipeline';
import type { Sample } from '../../../src-main/services/augment/types';
import { decodeMask } from '../../../src-main/common/geometry/rle';
import { type Ann, bccdSamples, bitsOf, cocoSamples, obbSamples, rasterOf } from './fixtures';

const PHOTOMETRIC: AugmentStep[] = [
  { op: 'brightness', p: 1, factor: [1.3, 1.3] },
  { op: 'contrast', p: 1, factor: [1.6, 1.6] },
  { op: 'gamma', p: 1, gamma: [0.6, 0.6] },
  { op: 'hue', p: 1, degrees: [40, 40] },
  { op: 'saturation', p: 1, factor: [1.7, 1.7] },
  { op: 'blur', p: 1, sigma: [2, 2] },
  { op: 'noise', p: 1, sigma: [12, 12] },
  { op: 'cutout', p: 1, count: 3, size: [0.2, 0.2], fill: 0 },
];

const EVERYTHING = augmentSchema.parse({
  outputs: 3,
  seed: 7,
  minVisible: 0.3,
  steps: [
    { op: 'flip', horizontal: 0.5, vertical: 0.2 },
    { op: 'rot90', p: 0.5 },
    { op: 'rotate', p: 0.7, degrees: [-25, 25], fill: 114 },
    { op: 'scaleCrop', p: 0.7, scale: [0.7, 1.5], fill: 114 },
    { op: 'shear', p: 0.5, x: [-10, 10], y: [-10, 10], fill: 114 },
    { op: 'brightness', p: 0.5, factor: [0.7, 1.3] },
    { op: 'contrast', p: 0.5, factor: [0.7, 1.3] },
    { op: 'gamma', p: 0.5, gamma: [0.7, 1.4] },
    { op: 'hue', p: 0.5, degrees: [-20, 20] },
    { op: 'saturation', p: 0.5, factor: [0.5, 1.5] },
    { op: 'blur', p: 0.5, sigma: [0.5, 1.5] },
    { op: 'noise', p: 0.5, sigma: [2, 10] },
    { op: 'cutout', p: 0.5, count: 2, size: [0.05, 0.2], fill: 0 },
    { op: 'mosaic', p: 0.5 },
  ],
});

async function realSamples(): Promise<Sample<Ann>[] | null> {
  const [b, c, o] = await Promise.all([bccdSamples(2), cocoSamples(2, true), obbSamples(2)]);
  return b && c && o ? [...b, ...c, ...o] : null;
}

function pool(all: Sample<Ann>[], seed: number): (n: number) => Promise<Sample<Ann>[]> {
  const rng = mulberry32(seed);
  return async (n) => Array.from({ length: n }, () => all[Math.floor(rng() * all.length)]!);
}

describe('photometric augmentations', () => {
  for (const step of PHOTOMETRIC) {
    it(`${step.op} changes the pixels and leaves every annotation identical`, async () => {
      const all = await realSamples();
      if (!all) return;
      const aug = augmentSchema.parse({ outputs: 1, seed: 1, steps: [step] });
      for (const sample of all) {
        const out = await augmentSample(sample, aug, mulberry32(3));
        expect(out.applied).toHaveLength(1);
        expect(out.applied[0]).toMatch(new RegExp(`^${step.op}`));
        expect(out.annotations).toEqual(sample.annotations);
        expect(out.counts).toEqual({ clipped: 0, dropped: 0 });
        expect([out.image.width, out.image.height, out.image.channels]).toEqual([sample.image.width, sample.image.height, sample.image.channels]);
        expect(out.image.data.length).toBe(sample.image.data.length);
        expect(out.image.data.equals(sample.image.data)).toBe(false);
      }
    });
  }

  it('brightness above 1 brightens, gamma below 1 brightens, contrast above 1 spreads the grey levels', async () => {
    const all = await bccdSamples(1);
    if (!all) return;
    const s = all[0]!;
    const mean = (b: Buffer) => b.reduce((a, v) => a + v, 0) / b.length;
    const spread = (b: Buffer) => {
      const m = mean(b);
      return Math.sqrt(b.reduce((a, v) => a + (v - m) ** 2, 0) / b.length);
    };
    const run = async (step: AugmentStep) => (await augmentSample(s, augmentSchema.parse({ outputs: 1, seed: 1, steps: [step] }), mulberry32(1))).image.data;
    expect(mean(await run({ op: 'brightness', p: 1, factor: [1.3, 1.3] }))).toBeGreaterThan(mean(s.image.data) + 5);
    expect(mean(await run({ op: 'gamma', p: 1, gamma: [0.6, 0.6] }))).toBeGreaterThan(mean(s.image.data) + 5);
    expect(spread(await run({ op: 'contrast', p: 1, factor: [1.6, 1.6] }))).toBeGreaterThan(spread(s.image.data) * 1.4);
    // Noise of sigma 10: away from the clipped ends, the change has mean 0 and deviation 10.
    const noisy = await run({ op: 'noise', p: 1, sigma: [10, 10] });
    let sum = 0;
    let sq = 0;
    let n = 0;
    for (let i = 0; i < noisy.length; i++) {
      const v = s.image.data[i]!;
      if (v < 50 || v > 205) continue;
      const d = noisy[i]! - v;
      sum += d;
      sq += d * d;
      n++;
    }
    expect(n).toBeGreaterThan(100_000);
    expect(Math.abs(sum / n)).toBeLessThan(0.1);
    expect(Math.sqrt(sq / n - (sum / n) ** 2)).toBeGreaterThan(9.8);
    expect(Math.sqrt(sq / n - (sum / n) ** 2)).toBeLessThan(10.2);
  });
});

describe('reproducibility', () => {
  it('the same seed gives the same bytes and annotations twice, another seed different bytes', async () => {
    const all = await realSamples();
    if (!all) return;
    for (const sample of all) {
      const outputs = async (seed: number) => {
        const rng = mulberry32(seed);
        const out = [];
        for (let k = 0; k < EVERYTHING.outputs; k++) out.push(await augmentSample(sample, EVERYTHING, rng, pool(all, seed + k)));
        return out;
      };
      const a = await outputs(11);
      const b = await outputs(11);
      const c = await outputs(12);
      for (let k = 0; k < a.length; k++) {
        expect(a[k]!.image.data.equals(b[k]!.image.data)).toBe(true);
        expect(a[k]!.annotations).toEqual(b[k]!.annotations);
        expect(a[k]!.applied).toEqual(b[k]!.applied);
        expect(a[k]!.counts).toEqual(b[k]!.counts);
      }
      expect(a.some((o, k) => !o.image.data.equals(c[k]!.image.data) || o.image.width !== c[k]!.image.width)).toBe(true);
      // Every output holds only objects with area inside the frame.
      for (const o of [...a, ...c]) {
        for (const ann of o.annotations) {
          expect(validateGeometry(ann.geometry, o.image)).toBeNull();
          expect(geometryArea(ann.geometry)).toBeGreaterThan(0);
        }
      }
    }
  }, 120_000);

  it('a mosaic step without a source of further images is an error', async () => {
    const all = await bccdSamples(1);
    if (!all) return;
    const aug = augmentSchema.parse({ outputs: 1, seed: 1, steps: [{ op: 'mosaic', p: 1 }] });
    await expect(augmentSample(all[0]!, aug, mulberry32(1))).rejects.toThrow(/mosaic step needs three further train images/);
  });
});

describe('keypoints', () => {
  const pose = (W: number): Ann => ({
    label: 'cell',
    // Left point, right point, one unlabelled, one near the right edge.
    geometry: { kind: 'keypoints', points: [100, 120, 2, 200, 130, 2, 0, 0, 0, W - 3, 50, 1] },
    flipPairs: [[0, 1]],
  });

  it('a horizontal flip mirrors the points and swaps each left/right pair; a vertical flip alone does too, a quarter turn does not', async () => {
    const all = await bccdSamples(1);
    if (!all) return;
    const image = all[0]!.image;
    const W = image.width;
    const H = image.height;
    const sample = { image, annotations: [pose(W)] };
    const flip = (horizontal: number, vertical: number) => augmentSchema.parse({ outputs: 1, seed: 1, steps: [{ op: 'flip', horizontal, vertical }] });
    const h = await augmentSample(sample, flip(1, 0), mulberry32(1));
    expect(h.annotations[0]!.geometry).toEqual({ kind: 'keypoints', points: [W - 200, 130, 2, W - 100, 120, 2, 0, 0, 0, 3, 50, 1] });
    // Mirrored top-bottom the left of the object is still on the other side of its right.
    const v = await augmentSample(sample, flip(0, 1), mulberry32(1));
    expect(v.annotations[0]!.geometry).toEqual({ kind: 'keypoints', points: [200, H - 130, 2, 100, H - 120, 2, 0, 0, 0, W - 3, H - 50, 1] });
    const both = await augmentSample(sample, flip(1, 1), mulberry32(1));
    expect(both.annotations[0]!.geometry).toEqual({ kind: 'keypoints', points: [W - 100, H - 120, 2, W - 200, H - 130, 2, 0, 0, 0, 3, H - 50, 1] });
    const turned = await augmentSample(sample, augmentSchema.parse({ outputs: 1, seed: 1, steps: [{ op: 'rot90', p: 1 }] }), mulberry32(1));
    expect(turned.applied).toEqual(['rot90 90°']);
    // Clockwise: (x, y) -> (H - y, x), no swap.
    expect(turned.annotations[0]!.geometry).toEqual({ kind: 'keypoints', points: [H - 120, 100, 2, H - 130, 200, 2, 0, 0, 0, H - 50, W - 3, 1] });
  });

  it('points leaving the frame become unlabelled, and an object with none left is dropped and counted', async () => {
    const all = await bccdSamples(1);
    if (!all) return;
    const image = all[0]!.image;
    const W = image.width;
    // Shift everything right by a quarter of the width: the point near the right edge leaves.
    const sample = { image, annotations: [pose(W), { label: 'edge', geometry: { kind: 'keypoints' as const, points: [W - 2, 10, 2] } }] };
    const out = await preprocessSample(sample, preprocessSchema.parse({ tile: { size: 320, overlap: 0, minVisible: 0.25 } }));
    const first = out[0]!;
    expect(first.applied[0]).toBe('tile 0,0 320x320');
    expect(first.annotations).toEqual([{ ...pose(W), geometry: { kind: 'keypoints', points: [100, 120, 2, 200, 130, 2, 0, 0, 0, 0, 0, 0] } }]);
    // The edge object lies wholly in another tile: not counted here.
    expect(first.counts).toEqual({ clipped: 1, dropped: 0 });
    // A quarter turn about the centre of the 640 x 480 frame moves both right-edge points below it.
    const turned = await augmentSample(sample, augmentSchema.parse({ outputs: 1, seed: 1, steps: [{ op: 'rotate', p: 1, degrees: [90, 90] }] }), mulberry32(1));
    const H = image.height;
    const at = (x: number, y: number) => [W / 2 - (y - H / 2), H / 2 + (x - W / 2)];
    const kp = (turned.annotations[0]!.geometry as { points: number[] }).points;
    expect(kp.map((v) => Math.round(v * 1e6) / 1e6)).toEqual([...at(100, 120), 2, ...at(200, 130), 2, 0, 0, 0, 0, 0, 0]);
    expect(turned.annotations).toHaveLength(1);
    expect(turned.counts).toEqual({ clipped: 1, dropped: 1 });
  });
});

describe('tiling', () => {
  it('covers the whole image with the last tile flush with the far edge', () => {
    expect(tileOrigins(640, 256, 48)).toEqual([0, 208, 384]);
    expect(tileOrigins(512, 256, 0)).toEqual([0, 256]);
    expect(tileOrigins(200, 256, 48)).toEqual([0]);
    for (const [len, size, overlap] of [
      [1000, 300, 50],
      [257, 256, 0],
      [4096, 640, 128],
    ] as const) {
      const o = tileOrigins(len, size, overlap);
      expect(o[o.length - 1]! + size).toBe(len);
      for (let i = 1; i < o.length; i++) expect(o[i]! - o[i - 1]!).toBeLessThanOrEqual(size - overlap);
    }
  });

  it('counts an object only where a tile edge cuts it, not in the tiles it is wholly outside of', async () => {
    const image = { data: Buffer.alloc(512 * 256 * 3, 90), width: 512, height: 256, channels: 3 as const };
    const inside: Ann = { label: 'a', geometry: { kind: 'box', x: 10, y: 10, w: 40, h: 40 } };
    const across: Ann = { label: 'b', geometry: { kind: 'box', x: 236, y: 100, w: 40, h: 20 } };
    const mostlyRight: Ann = { label: 'c', geometry: { kind: 'box', x: 250, y: 200, w: 40, h: 20 } };
    const tiles = await preprocessSample({ image, annotations: [inside, across, mostlyRight] }, preprocessSchema.parse({ tile: { size: 256, overlap: 0, minVisible: 0.25 } }));
    expect(tiles.map((t) => t.applied)).toEqual([['tile 0,0 256x256'], ['tile 256,0 256x256']]);
    expect(tiles[0]!.annotations.map((a) => [a.label, a.geometry])).toEqual([
      ['a', { kind: 'box', x: 10, y: 10, w: 40, h: 40 }],
      ['b', { kind: 'box', x: 236, y: 100, w: 20, h: 20 }],
    ]);
    // c has 6 of its 40 pixels of width in the left tile: dropped there, kept on the right.
    expect(tiles[0]!.counts).toEqual({ clipped: 1, dropped: 1 });
    expect(tiles[1]!.annotations.map((a) => [a.label, a.geometry])).toEqual([
      ['b', { kind: 'box', x: 0, y: 100, w: 20, h: 20 }],
      ['c', { kind: 'box', x: 0, y: 200, w: 34, h: 20 }],
    ]);
    expect(tiles[1]!.counts).toEqual({ clipped: 2, dropped: 0 });
  });

  it('cuts a COCO image into tiles whose objects are clipped, dropped under minVisible, counted, and never without area', async () => {
    const all = await cocoSamples(4, true);
    if (!all) return;
    let clipped = 0;
    let dropped = 0;
    for (const sample of all) {
      const tiles = await preprocessSample(sample, preprocessSchema.parse({ tile: { size: 200, overlap: 40, minVisible: 0.4 }, resize: { mode: 'letterbox', width: 128, height: 128 }, grayscale: true }));
      const xs = tileOrigins(sample.image.width, 200, 40);
      const ys = tileOrigins(sample.image.height, 200, 40);
      expect(tiles).toHaveLength(xs.length * ys.length);
      for (const t of tiles) {
        expect([t.image.width, t.image.height, t.image.channels]).toEqual([128, 128, 1]);
        expect(t.applied).toEqual([expect.stringMatching(/^tile /), 'resize letterbox 128x128', 'grayscale']);
        clipped += t.counts.clipped;
        dropped += t.counts.dropped;
        for (const a of t.annotations) {
          expect(validateGeometry(a.geometry, t.image)).toBeNull();
          expect(geometryArea(a.geometry)).toBeGreaterThan(0);
        }
      }
    }
    expect(clipped).toBeGreaterThan(0);
    expect(dropped).toBeGreaterThan(0);
  });
});

describe('channels', () => {
  it('one-band and four-band images keep their band count through every step', async () => {
    const all = await bccdSamples(1);
    if (!all) return;
    const rgb = all[0]!.image;
    const n = rgb.width * rgb.height;
    const grey = Buffer.alloc(n);
    const rgba = Buffer.alloc(n * 4);
    for (let i = 0; i < n; i++) {
      grey[i] = rgb.data[i * 3 + 1]!;
      rgba.set([rgb.data[i * 3]!, rgb.data[i * 3 + 1]!, rgb.data[i * 3 + 2]!, 255], i * 4);
    }
    for (const image of [
      { data: grey, width: rgb.width, height: rgb.height, channels: 1 as const },
      { data: rgba, width: rgb.width, height: rgb.height, channels: 4 as const },
    ]) {
      const sample = { image, annotations: all[0]!.annotations };
      const others = async (k: number) => Array.from({ length: k }, () => all[0]!);
      for (const step of [...EVERYTHING.steps.map((s) => ({ ...s, p: 1 }))]) {
        const aug = augmentSchema.parse({ outputs: 1, seed: 1, steps: [step.op === 'flip' ? { op: 'flip', horizontal: 1, vertical: 1 } : step] });
        const out = await augmentSample(sample, aug, mulberry32(5), others);
        expect(out.image.channels, step.op).toBe(image.channels);
        expect(out.image.data.length, step.op).toBe(out.image.width * out.image.height * image.channels);
      }
    }
  }, 60_000);
});

describe('masks', () => {
  it('a mask warped around its object gives the pixels of warping the whole mask like the image', async () => {
    const all = await cocoSamples(2, true);
    if (!all) return;
    const sample = all.find((s) => s.annotations.some((a) => a.geometry.kind === 'mask'))!;
    const mask = sample.annotations.find((a) => a.geometry.kind === 'mask')!;
    const { width, height } = sample.image;
    const raster = rasterOf(mask.geometry, width, height);
    for (const step of [
      { op: 'rotate', p: 1, degrees: [17, 17], fill: 0 },
      { op: 'shear', p: 1, x: [12, 12], y: [-7, -7], fill: 0 },
      { op: 'flip', horizontal: 1, vertical: 0 },
      { op: 'scaleCrop', p: 1, scale: [1.4, 1.4], fill: 0 },
    ] as const) {
      const aug = augmentSchema.parse({ outputs: 1, seed: 1, minVisible: 0, steps: [step] });
      const moved = await augmentSample({ image: sample.image, annotations: [mask] }, aug, mulberry32(9));
      const whole = await augmentSample({ image: raster, annotations: [] }, aug, mulberry32(9));
      const g = moved.annotations[0]!.geometry;
      expect(g.kind).toBe('mask');
      const bits = decodeMask((g as Extract<typeof g, { kind: 'mask' }>).rle);
      const expected = bitsOf(whole.image);
      let diff = 0;
      for (let i = 0; i < bits.length; i++) if (bits[i] !== expected[i]) diff++;
      expect(diff, step.op).toBe(0);
    }
  });
});
