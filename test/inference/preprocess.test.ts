import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ModelManifest } from '../../src-main/common/inference/types';
import { preprocess } from '../../src-main/inference/preprocess';
import { tempDir } from '../helpers/shared';

const base: ModelManifest = {
  id: 't',
  name: 't',
  task: 'detect',
  family: 'ultralytics',
  size: [32, 32],
  colour: 'rgb',
  scale: 1 / 255,
  letterbox: 114,
  classes: ['a'],
  thresholds: { score: 0.25, iou: 0.45, maxDetections: 10 },
  file: 't.onnx',
};
const at = (t: Float32Array, c: number, y: number, x: number, size = 32): number => t[c * size * size + y * size + x]!;

describe('preprocess', () => {
  const dir = tempDir();
  const red = path.join(dir, 'red.png');
  const rotated = path.join(dir, 'rotated.jpg');
  const deep = path.join(dir, 'deep.png');
  beforeAll(async () => {
    // 64x32 pure red: letterboxed into 32x32 it fills rows 8..23.
    await sharp({ create: { width: 64, height: 32, channels: 3, background: { r: 255, g: 0, b: 0 } } }).png().toFile(red);
    // Stored 64x32, EXIF orientation 6 (rotate 90° clockwise): the oriented image is 32x64.
    await sharp({ create: { width: 64, height: 32, channels: 3, background: { r: 0, g: 0, b: 255 } } }).jpeg().withMetadata({ orientation: 6 }).toFile(rotated);
    // 16-bit grey holding only 1000..3000: min-max must spread it over 0..255.
    const px = new Uint16Array(32 * 32);
    for (let i = 0; i < px.length; i++) px[i] = 1000 + Math.round((2000 * (i % 32)) / 31);
    await sharp(px, { raw: { width: 32, height: 32, channels: 1, premultiplied: false } }).toColourspace('grey16').png().toFile(deep);
  });

  it('letterboxes into NCHW float32 with the pad value, scale and colour order', async () => {
    const rgb = await preprocess(red, base, [32, 32]);
    expect(rgb.tensor).toHaveLength(3 * 32 * 32);
    expect(rgb.geometry).toMatchObject({ newW: 32, newH: 16, padLeft: 0, padTop: 8 });
    expect([at(rgb.tensor, 0, 16, 16), at(rgb.tensor, 1, 16, 16), at(rgb.tensor, 2, 16, 16)]).toEqual([1, 0, 0]);
    expect(at(rgb.tensor, 0, 0, 0)).toBeCloseTo(114 / 255, 6);
    expect(at(rgb.tensor, 0, 31, 31)).toBeCloseTo(114 / 255, 6);
    const bgr = await preprocess(red, { ...base, colour: 'bgr', scale: 1 }, [32, 32]);
    expect([at(bgr.tensor, 0, 16, 16), at(bgr.tensor, 2, 16, 16), at(bgr.tensor, 0, 0, 0)]).toEqual([0, 255, 114]);
    const norm = await preprocess(red, { ...base, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] }, [32, 32]);
    expect(at(norm.tensor, 0, 16, 16)).toBeCloseTo(2, 5);
  });

  it('stretches and aligns top-left when the manifest says so', async () => {
    expect((await preprocess(red, { ...base, letterbox: 'stretch' }, [32, 32])).geometry).toMatchObject({ newW: 32, newH: 32, padTop: 0 });
    const tl = await preprocess(red, { ...base, letterboxAlign: 'topleft' }, [32, 32]);
    expect(tl.geometry).toMatchObject({ padTop: 0, padLeft: 0 });
    expect(at(tl.tensor, 0, 0, 0)).toBe(1);
    expect(at(tl.tensor, 0, 31, 0)).toBeCloseTo(114 / 255, 6);
  });

  it("resizes as cv2.resize INTER_LINEAR by default, with libvips' antialiasing reduce when the manifest says 'vips-linear'", async () => {
    // 1-pixel vertical stripes, 96x48, into 32x32 (newW 32): cv2 samples at 3x + 1, between a dark
    // and a bright column, keeping the contrast; an antialiasing reduce averages it to grey.
    const stripes = path.join(dir, 'stripes.png');
    const px = Buffer.alloc(96 * 48 * 3);
    for (let i = 0; i < 96 * 48; i++) px.fill(i % 2 ? 255 : 0, i * 3, i * 3 + 3);
    await sharp(px, { raw: { width: 96, height: 48, channels: 3 } }).png().toFile(stripes);
    const spread = (t: Float32Array): number => {
      const row = Array.from({ length: 32 }, (_, x) => at(t, 0, 16, x));
      return Math.max(...row) - Math.min(...row);
    };
    const cv2 = await preprocess(stripes, base, [32, 32]);
    expect(cv2.geometry).toMatchObject({ newW: 32, newH: 16, padTop: 8 });
    expect(spread(cv2.tensor)).toBe(1);
    expect(spread((await preprocess(stripes, { ...base, resize: 'cv2-linear' }, [32, 32])).tensor)).toBe(1);
    expect(spread((await preprocess(stripes, { ...base, resize: 'vips-linear' }, [32, 32])).tensor)).toBeLessThan(0.5);
  });

  it('applies EXIF orientation: geometry is in oriented pixels', async () => {
    const r = await preprocess(rotated, base, [32, 32]);
    expect([r.geometry.srcW, r.geometry.srcH]).toEqual([32, 64]);
    expect(r.geometry).toMatchObject({ newW: 16, newH: 32, padLeft: 8 });
    expect(at(r.tensor, 2, 16, 16)).toBeGreaterThan(0.9);
  });

  it('takes the recorded oriented size instead of the header, and reads the file again when its size has changed since', async () => {
    const fromHeader = await preprocess(rotated, base, [32, 32]);
    const recorded = await preprocess({ path: rotated, size: { width: 32, height: 64 } }, base, [32, 32]);
    expect(recorded.geometry).toEqual(fromHeader.geometry);
    expect(recorded.tensor).toEqual(fromHeader.tensor);
    // A record made before the file was replaced (or one ignoring the orientation): the decoded size wins.
    const stale = await preprocess({ path: rotated, size: { width: 64, height: 32 } }, base, [32, 32]);
    expect(stale.geometry).toEqual(fromHeader.geometry);
    expect(stale.tensor).toEqual(fromHeader.tensor);
    const vips = { ...base, resize: 'vips-linear' as const };
    expect((await preprocess({ path: rotated, size: { width: 64, height: 32 } }, vips, [32, 32])).geometry).toEqual((await preprocess(rotated, vips, [32, 32])).geometry);
  });

  it('maps 16-bit images through the automatic window by default, by min-max, or fixed by 65535', async () => {
    const mm = await preprocess(deep, base, [32, 32]);
    const row = Array.from({ length: 32 }, (_, x) => at(mm.tensor, 0, 16, x));
    expect(Math.min(...row)).toBeCloseTo(0, 2);
    expect(Math.max(...row)).toBeCloseTo(1, 2);
    const minmax = await preprocess(deep, { ...base, highBitDepth: 'minmax' }, [32, 32]);
    expect(at(minmax.tensor, 0, 16, 0)).toBe(0);
    expect(at(minmax.tensor, 0, 16, 31)).toBeCloseTo(1, 6);
    const fixed = await preprocess(deep, { ...base, highBitDepth: 'fixed' }, [32, 32]);
    expect(at(fixed.tensor, 0, 16, 31)).toBeCloseTo(3000 / 65535, 3);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe('shrinking a photo a lot', () => {
  // One-pixel black and white columns and rows (a fine fabric, a crop field seen from above): 600 px to 224, 2.7x.
  const side = 600;
  const checker = new Uint8Array(side * side * 3);
  for (let y = 0; y < side; y++) for (let x = 0; x < side; x++) checker.fill((x + y) % 2 ? 255 : 0, (y * side + x) * 3, (y * side + x) * 3 + 3);
  const raw = { raw: { data: checker, width: side, height: side, channels: 3 as const } };
  const spread = (t: Float32Array): number => {
    let lo = Infinity, hi = -Infinity;
    for (const v of t) [lo, hi] = [Math.min(lo, v), Math.max(hi, v)];
    return hi - lo;
  };

  it('classifiers and semantic models average the pixels (mid grey); detectors keep the reference cv2 resize, which aliases', async () => {
    const m = { ...base, size: [224, 224] as [number, number], letterbox: 'stretch' as const, scale: 1 };
    for (const task of ['classify', 'semantic'] as const) {
      const t = (await preprocess(raw, { ...m, task }, [224, 224])).tensor;
      // Blocks of 2 or 3 pixels a side: 4/9 to 5/9 white at most, 113 to 142.
      expect(spread(t)).toBeLessThanOrEqual(30);
      expect(Math.abs(t.reduce((a, b) => a + b, 0) / t.length - 127.5)).toBeLessThan(2);
      // A manifest naming the cv2 resize gets it as named.
      expect(spread((await preprocess(raw, { ...m, task, resize: 'cv2-linear' }, [224, 224])).tensor)).toBeGreaterThan(100);
    }
    expect(spread((await preprocess(raw, { ...m, task: 'detect' }, [224, 224])).tensor)).toBeGreaterThan(100);
  });
});
