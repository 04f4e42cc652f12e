import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InferencePool } from '../../src-main/inference/pool';
import { logitsToImageRle, longestSide, maskFrame, promptTensors, type SamDecodeArgs } from '../../src-main/inference/sam';
import { decodeMask, encodeMask } from '../../src-main/common/geometry/rle';
import { sharedPath } from '../helpers/shared';

const pair = sharedPath('models/sam_contract');

describe('SAM geometry', () => {
  it('resizes the longest side as ResizeLongestSide does (int(x * s + 0.5))', () => {
    expect(longestSide(640, 427, 1024)).toEqual({ scale: 1.6, newW: 1024, newH: 683 });
    expect(longestSide(427, 640, 1024)).toMatchObject({ newW: 683, newH: 1024 });
    expect(longestSide(300, 200, 1024)).toMatchObject({ newW: 1024, newH: 683 });
    expect(longestSide(2000, 1500, 1024)).toMatchObject({ newW: 1024, newH: 768 });
    expect(longestSide(1000, 999, 1024)).toMatchObject({ newW: 1024, newH: 1023 });
  });

  it('sends points in the 1024 frame, a box as labels 2 and 3, and a padding point without a box', () => {
    const whole = { x: 0, y: 0, w: 640, h: 427 };
    const a = promptTensors([{ x: 400, y: 200, label: 1 }, { x: 430, y: 200, label: 0 }], undefined, whole, 1024);
    expect(Array.from(a.coords)).toEqual([640, 320, 688, 320, 0, 0]);
    expect(Array.from(a.labels)).toEqual([1, 0, -1]);
    const b = promptTensors([], { x0: 200, y0: 150, x1: 100, y1: 100 }, whole, 1024);
    expect(Array.from(b.coords)).toEqual([160, 160, 320, 240]);
    expect(Array.from(b.labels)).toEqual([2, 3]);
    // In a region, prompts are relative to its corner and scaled by its long side.
    const c = promptTensors([{ x: 2400, y: 1200, label: 1 }], undefined, { x: 2000, y: 1000, w: 2048, h: 1024 }, 1024);
    expect(Array.from(c.coords)).toEqual([200, 100, 0, 0]);
  });

  it('decodes masks at the region size up to 4096 and scales larger ones', () => {
    expect(maskFrame({ x: 0, y: 0, w: 640, h: 427 })).toEqual({ mw: 640, mh: 427 });
    expect(maskFrame({ x: 0, y: 0, w: 8192, h: 6000 })).toEqual({ mw: 4096, mh: 3000 });
  });

  it('turns logits into whole-image COCO RLE, the same as encodeMask of the thresholded mask', () => {
    const W = 37, H = 23;
    // A region of the image at full resolution, and the same region at a third of it.
    const region = { x: 5, y: 4, w: 24, h: 15 };
    for (const [mw, mh] of [[24, 15], [8, 5]] as const) {
      const logits = new Float32Array(mw * mh).map((_, i) => Math.sin(i * 1.7) + (i % 3 === 0 ? 0.5 : -0.2));
      const r = logitsToImageRle(logits, 0, mw, mh, region, W, H);
      const ref = new Uint8Array(W * H);
      for (let y = region.y; y < region.y + region.h; y++) {
        for (let x = region.x; x < region.x + region.w; x++) {
          const mx = Math.floor(((x - region.x) * mw) / region.w), my = Math.floor(((y - region.y) * mh) / region.h);
          ref[y * W + x] = logits[my * mw + mx]! > 0 ? 1 : 0;
        }
      }
      expect(Array.from(r.counts)).toEqual(encodeMask(ref, W, H).counts);
      expect(r.area).toBe(ref.reduce((n, v) => n + v, 0));
      const back = decodeMask({ size: [H, W], counts: Array.from(r.counts) });
      expect(Buffer.from(back).equals(Buffer.from(ref))).toBe(true);
    }
    const none = logitsToImageRle(new Float32Array(4).fill(-1), 0, 2, 2, { x: 0, y: 0, w: 2, h: 2 }, 2, 2);
    expect(none).toEqual({ counts: Uint32Array.from([4]), area: 0, bbox: [0, 0, 0, 0] });
  });
});

describe.runIf(pair)('SAM requests in the inference workers', () => {
  const pool = new InferencePool({ size: 2 });
  afterAll(() => pool.close());
  const model = { encoder: path.join(pair!, 'sam_contract_encoder.onnx'), decoder: path.join(pair!, 'sam_contract_decoder.onnx') };
  const pre = { family: 'sam', inputSize: 1024, mean: [123.675, 116.28, 103.53] as [number, number, number], std: [58.395, 57.12, 57.375] as [number, number, number] };
  const frame = { region: { x: 0, y: 0, w: 64, h: 48 }, width: 64, height: 48 };
  const raw = () => ({ raw: { data: new Uint8Array(64 * 48 * 3).fill(128), width: 64, height: 48, channels: 3 as const } });

  it('feeds the previous low-resolution mask back as mask_input when refining, and zeros otherwise', async () => {
    const e = await pool.samEncode({ model, pre, key: 'refine-test', diskFile: null, frame, source: raw() });
    expect(e.cached).toBeNull();
    const base: SamDecodeArgs = { model, pre, key: 'refine-test', diskFile: null, points: [{ x: 20, y: 20, label: 1 }], refine: false };
    const first = await pool.samDecode({ ...base, refine: true });
    // Nothing to refine yet: zeros and has_mask_input 0.
    expect(first.fed).toEqual({ hasMaskInput: 0, maskInputInside: 0 });
    const cut = [{ x: 20, y: 20, label: 1 as const }, { x: 22, y: 20, label: 0 as const }];
    const second = await pool.samDecode({ ...base, refine: true, points: cut });
    // The single point's disk, radius 64 in the 1024 frame, is about 804 cells of 4×4 in the 256×256 mask.
    expect(second.fed.hasMaskInput).toBe(1);
    expect(second.fed.maskInputInside).toBeGreaterThan(780);
    expect(second.fed.maskInputInside).toBeLessThan(830);
    // Then the mask the background point cut is what is fed.
    const third = await pool.samDecode({ ...base, refine: true, points: cut });
    expect(third.fed.hasMaskInput).toBe(1);
    expect(third.fed.maskInputInside).toBeLessThan(second.fed.maskInputInside - 100);
    expect(third.fed.maskInputInside).toBeGreaterThan(0);
    const plain = await pool.samDecode(base);
    expect(plain.fed).toEqual({ hasMaskInput: 0, maskInputInside: 0 });
  });

  it('answers `found: false` for an embedding it does not hold, and asks for pixels when encoding without them', async () => {
    const d = await pool.samDecode({ model, pre, key: 'never-encoded', diskFile: null, points: [{ x: 1, y: 1, label: 1 }], refine: false });
    expect(d.found).toBe(false);
    const e = await pool.samEncode({ model, pre, key: 'never-encoded', diskFile: null, frame, source: null });
    expect(e.needsSource).toBe(true);
  });

  it('refuses families it cannot decode yet, naming them', async () => {
    await expect(pool.samEncode({ model, pre: { ...pre, family: 'sam2' }, key: 'x', diskFile: null, frame, source: raw() })).rejects.toThrow(/sam2 family is not decoded yet/);
  });

  it('keeps every request of one pair in one worker, where its embeddings are', async () => {
    const keys = ['w1', 'w2', 'w3', 'w4'];
    await Promise.all(keys.map((key) => pool.samEncode({ model, pre, key, diskFile: null, frame, source: raw() })));
    const found = await Promise.all(keys.map((key) => pool.samDecode({ model, pre, key, diskFile: null, points: [{ x: 5, y: 5, label: 1 }], refine: false })));
    expect(found.map((f) => f.found)).toEqual([true, true, true, true]);
  });
});
