import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InferencePool } from '../../src-main/inference/pool';
import { familyPromptTensors, logitsToImageRle, longestSide, maskFrame, maskToFrame, promptTensors, resizeBilinear, samInputStretched, samInputTensor, type SamDecodeArgs } from '../../src-main/inference/sam';
import sharp from 'sharp';
import { tempDir } from '../helpers/shared';
import { writeEfficientVitPair, writeSam2Pair } from '../helpers/samFamilyModels';
import { decodeMask, encodeMask } from '../../src-main/common/geometry/rle';
import { sharedPath } from '../helpers/shared';

const pair = sharedPath('models/sam_contract');
const slowModel = sharedPath('models/yolov8n_int8.onnx');

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

  it('sends SAM 2 prompts stretched per axis into 1024×1024, with no padding point, a box as labels 2 and 3', () => {
    const land = { x: 0, y: 0, w: 1600, h: 900 };
    const a = familyPromptTensors('sam2', [{ x: 800, y: 450, label: 1 }, { x: 400, y: 900, label: 0 }], undefined, land, 1024);
    expect(Array.from(a.coords)).toEqual([512, 512, 256, 1024]);
    expect(Array.from(a.labels)).toEqual([1, 0]);
    const b = familyPromptTensors('sam2', [{ x: 160, y: 90, label: 1 }], { x0: 1600, y0: 900, x1: 0, y1: 450 }, land, 1024);
    expect(Array.from(b.coords)).toEqual([102.4, 102.4, 0, 512, 1024, 1024].map(Math.fround));
    expect(Array.from(b.labels)).toEqual([1, 2, 3]);
    // In a region: relative to its corner, stretched by its own sides.
    const c = familyPromptTensors('sam2', [{ x: 2256, y: 1128, label: 1 }], undefined, { x: 2000, y: 1000, w: 2048, h: 512 }, 1024);
    expect(Array.from(c.coords)).toEqual([128, 256]);
  });

  it('sends EfficientViT-SAM prompts into the 1024 frame of the long-side resize, each axis by its rounded size, with no padding point', () => {
    // 1000×999: the long side becomes 1024, the short one int(999·1.024 + 0.5) = 1023.
    const t = familyPromptTensors('efficientvit-sam', [{ x: 500, y: 999, label: 1 }], { x0: 0, y0: 0, x1: 1000, y1: 999 }, { x: 0, y: 0, w: 1000, h: 999 }, 1024);
    expect(Array.from(t.coords)).toEqual([512, 1023, 0, 0, 1024, 1023]);
    expect(Array.from(t.labels)).toEqual([1, 2, 3]);
    const p = familyPromptTensors('efficientvit-sam', [{ x: 100, y: 640, label: 1 }], undefined, { x: 0, y: 0, w: 427, h: 640 }, 1024);
    expect(Array.from(p.coords)).toEqual([Math.fround(100 * (683 / 427)), 1024]);
    expect(Array.from(p.labels)).toEqual([1]);
  });

  it('resizes masks bilinearly with pixel centres aligned, as F.interpolate(align_corners=False) and cv2.resize do', () => {
    const up = resizeBilinear(Float32Array.from([0, 1, 2, 3]), 0, 2, 2, 4, 4);
    expect(Array.from(up)).toEqual([0, 0.25, 0.75, 1, 0.5, 0.75, 1.25, 1.5, 1.5, 1.75, 2.25, 2.5, 2, 2.25, 2.75, 3]);
    // The top-left crop of the same resize, and a plane read from an offset.
    expect(Array.from(resizeBilinear(Float32Array.from([9, 9, 0, 1, 2, 3]), 2, 2, 2, 4, 4, 2, 3))).toEqual([0, 0.25, 0.5, 0.75, 1.5, 1.75]);
    const down = resizeBilinear(Float32Array.from([0, 1, 2, 3, 4, 5, 6, 7]), 0, 4, 2, 2, 1);
    expect(Array.from(down)).toEqual([2.5, 4.5]);
  });

  it("brings EfficientViT-SAM's low-resolution mask to the region: up to 1024, the padding cut off, down to the region", () => {
    // A 200×100 region fills 1024×512 of the frame: the mask's top half. Logits = the row index
    // in the 256 grid; frame row r reads (r + 0.5)/4 − 0.5, and the region's last row samples
    // frame row 99.5·5.12 − 0.5 = 508.94 of the cut: 126.86. Without the cut it would be about 254.
    const low = new Float32Array(256 * 256).map((_, i) => Math.floor(i / 256));
    const m = maskToFrame('efficientvit-sam', low, 0, 256, 256, { x: 0, y: 0, w: 200, h: 100 }, 200, 100, 1024);
    expect(m.length).toBe(200 * 100);
    expect(m[99 * 200]).toBeCloseTo(126.86, 3);
    expect(m[0]).toBeCloseTo(0.14, 3);
    // SAM 2's covers the stretched square: the last row reads the last cells.
    const s = maskToFrame('sam2', low, 0, 256, 256, { x: 0, y: 0, w: 200, h: 100 }, 200, 100, 1024);
    expect(s[99 * 200]).toBeCloseTo(254.22, 2);
    // A mask already at the region's size (a SAM 2 export taking orig_im_size) is kept as it is.
    const same = new Float32Array(200 * 100).fill(3);
    expect(maskToFrame('sam2', same, 0, 200, 100, { x: 0, y: 0, w: 200, h: 100 }, 200, 100, 1024)).toEqual(same);
  });

  it('computes only where a mask can be above 0, thresholding the same as the whole resizes', () => {
    // Blobs of positive logits with a rough edge, in a field of small negative values.
    const low = new Float32Array(256 * 256).map((_, i) => {
      const x = i % 256, y = Math.floor(i / 256);
      return Math.max(12 - Math.hypot(x - 70, y - 40), 6 - Math.hypot(x - 200, y - 150)) + 0.7 * Math.sin(x * 1.3 + y * 0.7);
    });
    const region = { x: 0, y: 0, w: 900, h: 500 };
    const { newW, newH } = longestSide(900, 500, 1024);
    const whole = {
      sam2: resizeBilinear(low, 0, 256, 256, 900, 500),
      'efficientvit-sam': resizeBilinear(resizeBilinear(low, 0, 256, 256, 1024, 1024, newW, newH), 0, newW, newH, 900, 500),
    };
    for (const family of ['sam2', 'efficientvit-sam'] as const) {
      const got = maskToFrame(family, low, 0, 256, 256, region, 900, 500, 1024);
      let inside = 0, differ = 0;
      for (let i = 0; i < got.length; i++) {
        if (whole[family][i]! > 0) inside++;
        if (got[i]! > 0 !== whole[family][i]! > 0) differ++;
      }
      expect(inside, family).toBeGreaterThan(1000);
      expect(differ, family).toBe(0);
    }
    expect(maskToFrame('sam2', new Float32Array(256 * 256).fill(-3), 0, 256, 256, region, 900, 500, 1024).every((v) => v <= 0)).toBe(true);
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

describe('SAM encoder input', () => {
  const pre = { family: 'sam', inputSize: 1024, mean: [123.675, 116.28, 103.53] as [number, number, number], std: [58.395, 57.12, 57.375] as [number, number, number] };
  /** The tensor's RGB (0-255 units) at an input pixel. */
  const rgbAt = (t: Float32Array, x: number, y: number) => [0, 1, 2].map((c) => Math.round(t[c * 1024 * 1024 + y * 1024 + x]! * pre.std[c]! + pre.mean[c]!));

  it('is the oriented image (EXIF), resized on its long side, normalised, padded with zeros; or a region of it', async () => {
    // Shown 427 wide and 640 high with a red block at x 100..200, y 400..500; stored turned a
    // quarter the other way with orientation 6.
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="427" height="640"><rect width="427" height="640" fill="rgb(40,80,120)"/><rect x="100" y="400" width="100" height="100" fill="rgb(250,0,0)"/></svg>`;
    const file = path.join(tempDir(), 'turned.jpg');
    const shown = await sharp(Buffer.from(svg)).png().toBuffer();
    await sharp(shown).rotate(270).withMetadata({ orientation: 6 }).jpeg({ quality: 98 }).toFile(file);
    expect((await sharp(file).metadata()).width).toBe(640);
    const t = await samInputTensor({ path: file, page: 0 }, { x: 0, y: 0, w: 427, h: 640 }, pre);
    const near = (got: number[], want: number[]) => expect(got.every((v, i) => Math.abs(v - want[i]!) <= 8), `${got} vs ${want}`).toBe(true);
    near(rgbAt(t, 240, 720), [250, 0, 0]);
    near(rgbAt(t, 80, 80), [40, 80, 120]);
    // 427 · 1.6 + 0.5 → 683 columns of image, then zeros.
    near(rgbAt(t, 682, 500), [40, 80, 120]);
    expect([0, 1, 2].map((c) => t[c * 1024 * 1024 + 500 * 1024 + 683])).toEqual([0, 0, 0]);
    expect([0, 1, 2].map((c) => t[c * 1024 * 1024 + 1023 * 1024 + 1023])).toEqual([0, 0, 0]);
    // A 300×300 region at (50, 300): the block's centre (150, 450) lands at (100, 150)·1024/300.
    const r = await samInputTensor({ path: file, page: 0 }, { x: 50, y: 300, w: 300, h: 300 }, pre);
    near(rgbAt(r, 341, 512), [250, 0, 0]);
    near(rgbAt(r, 100, 100), [40, 80, 120]);
  });

  it('stretches the image to the square for SAM 2, without padding, normalised with ImageNet mean and std', async () => {
    // 400 wide, 800 high, a red block at x 100..200, y 600..800: stretched, it covers x 256..512, y 768..1024.
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="400" height="800"><rect width="400" height="800" fill="rgb(40,80,120)"/><rect x="100" y="600" width="100" height="200" fill="rgb(250,0,0)"/></svg>`;
    const png = await sharp(Buffer.from(svg)).png().toBuffer();
    const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    const t = await samInputStretched({ raw: { data, width: info.width, height: info.height, channels: 3 } }, { x: 0, y: 0, w: 400, h: 800 }, { ...pre, family: 'sam2' });
    expect(t.length).toBe(3 * 1024 * 1024);
    const near = (got: number[], want: number[]) => expect(got.every((v, i) => Math.abs(v - want[i]!) <= 8), `${got} vs ${want}`).toBe(true);
    near(rgbAt(t, 384, 1000), [250, 0, 0]);
    near(rgbAt(t, 600, 1000), [40, 80, 120]);
    near(rgbAt(t, 1023, 1023), [40, 80, 120]);
    near(rgbAt(t, 384, 700), [40, 80, 120]);
    // ImageNet's normalisation on 0-1 values is the manifest's on 0-255 values: (40/255 − 0.485)/0.229.
    expect(t[1023 * 1024 + 1023]).toBeCloseTo((40 / 255 - 0.485) / 0.229, 2);
  });

  it('takes grey pixels decoded by the caller to three equal channels', async () => {
    const data = new Uint8Array(20 * 10).fill(200);
    const t = await samInputTensor({ raw: { data, width: 20, height: 10, channels: 1 } }, { x: 0, y: 0, w: 20, h: 10 }, pre);
    expect(rgbAt(t, 500, 200)).toEqual([200, 200, 200]);
    expect(rgbAt(t, 500, 600)).toEqual(pre.mean.map(Math.round));
  });
});

describe.runIf(pair)('SAM requests in the inference workers', () => {
  const pool = new InferencePool({ size: 2 });
  afterAll(() => pool.close());
  // Built while collecting, also when the shared pair is absent and the tests skip.
  const model = { encoder: path.join(pair ?? '', 'sam_contract_encoder.onnx'), decoder: path.join(pair ?? '', 'sam_contract_decoder.onnx') };
  const pre = { family: 'sam', inputSize: 1024, mean: [123.675, 116.28, 103.53] as [number, number, number], std: [58.395, 57.12, 57.375] as [number, number, number] };
  const frame = { region: { x: 0, y: 0, w: 64, h: 48 }, width: 64, height: 48 };
  const raw = () => ({ raw: { data: new Uint8Array(64 * 48 * 3).fill(128), width: 64, height: 48, channels: 3 as const } });

  it('feeds back as mask_input the low-resolution mask the prompt names, and zeros otherwise', async () => {
    const e = await pool.samEncode({ model, pre, key: 'refine-test', diskFile: null, frame, source: raw() });
    expect(e.cached).toBeNull();
    const base: SamDecodeArgs = { model, pre, key: 'refine-test', diskFile: null, points: [{ x: 20, y: 20, label: 1 }], keepLowRes: true };
    const first = await pool.samDecode(base);
    // Nothing to refine from: zeros and has_mask_input 0.
    expect(first.fed).toEqual({ hasMaskInput: 0, maskInputInside: 0 });
    const firstId = first.masks[0]!.lowResId!;
    expect(firstId).toEqual(expect.any(String));
    const cut = [{ x: 20, y: 20, label: 1 as const }, { x: 22, y: 20, label: 0 as const }];
    const second = await pool.samDecode({ ...base, refineFrom: firstId, points: cut });
    // The single point's disk, radius 64 in the 1024 frame, is about 804 cells of 4×4 in the 256×256 mask.
    expect(second.fed.hasMaskInput).toBe(1);
    expect(second.fed.maskInputInside).toBeGreaterThan(780);
    expect(second.fed.maskInputInside).toBeLessThan(830);
    // Then the mask the background point cut is what is fed.
    const third = await pool.samDecode({ ...base, refineFrom: second.masks[0]!.lowResId!, points: cut });
    expect(third.fed.hasMaskInput).toBe(1);
    expect(third.fed.maskInputInside).toBeLessThan(second.fed.maskInputInside - 100);
    expect(third.fed.maskInputInside).toBeGreaterThan(0);
    const plain = await pool.samDecode(base);
    expect(plain.fed).toEqual({ hasMaskInput: 0, maskInputInside: 0 });
  });

  it('refines from the answer named, not from whatever the worker decoded last (a hover, a box job, a prompt taken back)', async () => {
    await pool.samEncode({ model, pre, key: 'named', diskFile: null, frame, source: raw() });
    const base: SamDecodeArgs = { model, pre, key: 'named', diskFile: null, points: [{ x: 20, y: 20, label: 1 }], keepLowRes: true };
    const shown = await pool.samDecode(base);
    const shownId = shown.masks[0]!.lowResId!;
    const cut = [{ x: 20, y: 20, label: 1 as const }, { x: 22, y: 20, label: 0 as const }];
    // The mask of a prompt taken back (its answer dropped), and a decode that keeps nothing (boxes to masks).
    const retracted = await pool.samDecode({ ...base, refineFrom: shownId, points: cut });
    const retractedInside = (await pool.samDecode({ ...base, refineFrom: retracted.masks[0]!.lowResId!, points: cut })).fed.maskInputInside;
    const boxJob = await pool.samDecode({ ...base, keepLowRes: false, points: [], box: { x0: 40, y0: 30, x1: 60, y1: 45 } });
    expect(boxJob.masks.every((m) => m.lowResId === undefined)).toBe(true);
    const again = await pool.samDecode({ ...base, refineFrom: shownId, points: [...cut.slice(0, 1), { x: 30, y: 30, label: 1 }] });
    expect(again.fed.hasMaskInput).toBe(1);
    // The shown disk (about 804 cells), not the cut one the worker made last.
    expect(again.fed.maskInputInside).toBeGreaterThan(780);
    expect(again.fed.maskInputInside).toBeLessThan(830);
    expect(retractedInside).toBeLessThan(again.fed.maskInputInside - 100);
    expect(again.warnings).toEqual([]);
  });

  it('decodes without mask_input, and says why, for an id it no longer keeps or one of another image', async () => {
    await pool.samEncode({ model, pre, key: 'evict-a', diskFile: null, frame, source: raw() });
    await pool.samEncode({ model, pre, key: 'evict-b', diskFile: null, frame, source: raw() });
    const base: SamDecodeArgs = { model, pre, key: 'evict-a', diskFile: null, points: [{ x: 20, y: 20, label: 1 }], keepLowRes: true };
    const unknown = await pool.samDecode({ ...base, refineFrom: 'no-such-mask' });
    expect(unknown.found).toBe(true);
    expect(unknown.fed).toEqual({ hasMaskInput: 0, maskInputInside: 0 });
    expect(unknown.warnings.some((w) => /no-such-mask.*no longer kept/.test(w))).toBe(true);
    const oldest = (await pool.samDecode(base)).masks[0]!.lowResId!;
    const other = await pool.samDecode({ ...base, key: 'evict-b', refineFrom: oldest });
    expect(other.fed.hasMaskInput).toBe(0);
    expect(other.warnings.some((w) => /another image or model/.test(w))).toBe(true);
    // 64 masks are kept: enough later answers push the oldest out.
    for (let i = 0; i < 64; i++) await pool.samDecode({ ...base, points: [{ x: i % 64, y: 10, label: 1 }] });
    const evicted = await pool.samDecode({ ...base, refineFrom: oldest });
    expect(evicted.fed.hasMaskInput).toBe(0);
    expect(evicted.warnings.some((w) => w.includes(`${oldest}) is no longer kept`))).toBe(true);
  });

  it('answers `found: false` for an embedding it does not hold, and asks for pixels when encoding without them', async () => {
    const d = await pool.samDecode({ model, pre, key: 'never-encoded', diskFile: null, points: [{ x: 1, y: 1, label: 1 }] });
    expect(d.found).toBe(false);
    const e = await pool.samEncode({ model, pre, key: 'never-encoded', diskFile: null, frame, source: null });
    expect(e.needsSource).toBe(true);
  });

  it('refuses a manifest whose family the pair does not follow, and families it does not know, naming them', async () => {
    await pool.samEncode({ model, pre: { ...pre, family: 'sam2' }, key: 'as-sam2', diskFile: null, frame, source: raw() });
    await expect(pool.samDecode({ model, pre: { ...pre, family: 'sam2' }, key: 'as-sam2', diskFile: null, points: [{ x: 1, y: 1, label: 1 }] })).rejects.toThrow(
      /the manifest says family "sam2", but the files follow the "sam" contract/,
    );
    await expect(pool.samEncode({ model, pre: { ...pre, family: 'sam3' }, key: 'x', diskFile: null, frame, source: raw() })).rejects.toThrow(/unknown SAM family "sam3"/);
  });

  it('loads the encoder in the encoder thread only: the worker that decodes reports its provider without loading it', async () => {
    const own = new InferencePool({ size: 2 });
    try {
      const e = await own.samEncode({ model, pre, key: 'once', diskFile: null, frame, source: raw() });
      expect(e).toMatchObject({ cached: null, provider: 'cpu' });
      const d = await own.samDecode({ model, pre, key: 'once', diskFile: null, points: [{ x: 20, y: 20, label: 1 }], keepLowRes: true });
      expect(d.found).toBe(true);
      // Cached answers still name the encoder's provider.
      expect(await own.samEncode({ model, pre, key: 'once', diskFile: null, frame, source: null })).toMatchObject({ cached: 'memory', provider: 'cpu', warnings: [] });
      await own.samDecode({ model, pre, key: 'once', diskFile: null, points: [{ x: 30, y: 20, label: 1 }], refineFrom: d.masks[0]!.lowResId });
      const stats = await own.stats();
      expect(stats.workers).toBe(2);
      expect(stats.sessions.filter((x) => x.file === model.encoder)).toHaveLength(1);
      expect(stats.sessions.filter((x) => x.file === model.decoder)).toHaveLength(1);
      expect(stats.loads).toBe(2);
    } finally {
      await own.close();
    }
  });

  it('keeps every request of one pair in one worker, where its embeddings are', async () => {
    const keys = ['w1', 'w2', 'w3', 'w4'];
    await Promise.all(keys.map((key) => pool.samEncode({ model, pre, key, diskFile: null, frame, source: raw() })));
    const found = await Promise.all(keys.map((key) => pool.samDecode({ model, pre, key, diskFile: null, points: [{ x: 5, y: 5, label: 1 }] })));
    expect(found.map((f) => f.found)).toEqual([true, true, true, true]);
  });
});

describe.runIf(pair && slowModel)('encoding ahead', () => {
  it('does not hold up decoding: a prompt is answered while another image is being encoded', async () => {
    const pool = new InferencePool({ size: 1 });
    try {
      const model = { encoder: path.join(pair!, 'sam_contract_encoder.onnx'), decoder: path.join(pair!, 'sam_contract_decoder.onnx') };
      const pre = { family: 'sam', inputSize: 1024, mean: [123.675, 116.28, 103.53] as [number, number, number], std: [58.395, 57.12, 57.375] as [number, number, number] };
      const frame = { region: { x: 0, y: 0, w: 64, h: 48 }, width: 64, height: 48 };
      const raw = () => ({ raw: { data: new Uint8Array(64 * 48 * 3).fill(128), width: 64, height: 48, channels: 3 as const } });
      await pool.samEncode({ model, pre, key: 'here', diskFile: null, frame, source: raw() });
      // A slower "encoder" (a detector taking a 320 input) for the next images, one after another.
      const slow = { model: { ...model, encoder: slowModel! }, pre: { ...pre, inputSize: 320 }, diskFile: null, frame };
      await pool.samEncode({ ...slow, key: 'warm-up', source: raw() });
      let encodedAt = 0;
      const ahead = Promise.all(['next1', 'next2', 'next3', 'next4'].map((key) => pool.samEncode({ ...slow, key, source: raw() }))).then(() => (encodedAt = performance.now()));
      await new Promise((r) => setTimeout(r, 20));
      const decode = await pool.samDecode({ model, pre, key: 'here', diskFile: null, points: [{ x: 20, y: 20, label: 1 }] });
      const decodedAt = performance.now();
      expect(decode.found).toBe(true);
      await ahead;
      expect(encodedAt - decodedAt, 'the decode waited for the encoder').toBeGreaterThan(0);
    } finally {
      await pool.close();
    }
  });
});

describe('refinement with EfficientViT-SAM and SAM 2 pairs', () => {
  const pool = new InferencePool({ size: 1 });
  afterAll(() => pool.close());
  const dir = tempDir();
  const pre = (family: string, inputSize: number) => ({ family, inputSize, mean: [123.675, 116.28, 103.53] as [number, number, number], std: [58.395, 57.12, 57.375] as [number, number, number] });
  const frame = { region: { x: 0, y: 0, w: 640, h: 480 }, width: 640, height: 480 };
  const raw = () => ({ raw: { data: new Uint8Array(640 * 480 * 3).fill(100), width: 640, height: 480, channels: 3 as const } });

  it('feeds SAM 2 the best low-resolution mask of the previous prompt as mask_input; EfficientViT-SAM takes none', async () => {
    const sam2 = { model: writeSam2Pair(dir), pre: pre('sam2', 1024), key: 'sam2-refine', diskFile: null };
    await pool.samEncode({ ...sam2, frame, source: raw() });
    const base: SamDecodeArgs = { ...sam2, points: [{ x: 320, y: 240, label: 1 }], keepLowRes: true };
    const first = await pool.samDecode(base);
    expect(first.fed).toEqual({ hasMaskInput: 0, maskInputInside: 0 });
    const second = await pool.samDecode({ ...base, refineFrom: first.masks[0]!.lowResId! });
    // The best mask (IoU 0.9) is the disk of radius 64 in the frame: about π·16² = 804 cells of 4×4.
    expect(second.fed.hasMaskInput).toBe(1);
    expect(second.fed.maskInputInside).toBeGreaterThan(780);
    expect(second.fed.maskInputInside).toBeLessThan(830);
    expect((await pool.samDecode({ ...base })).fed).toEqual({ hasMaskInput: 0, maskInputInside: 0 });

    const evit = { model: writeEfficientVitPair(dir), pre: pre('efficientvit-sam', 512), key: 'evit-refine', diskFile: null };
    await pool.samEncode({ ...evit, frame, source: raw() });
    const e: SamDecodeArgs = { ...evit, points: [{ x: 320, y: 240, label: 1 }], keepLowRes: true };
    const once = await pool.samDecode(e);
    const again = await pool.samDecode({ ...e, refineFrom: once.masks[0]?.lowResId ?? 'none' });
    expect(again.fed).toEqual({ hasMaskInput: 0, maskInputInside: 0 });
    expect(again.masks.map((m) => m.score)).toEqual([expect.closeTo(0.9, 5), expect.closeTo(0.3, 5)]);
  });
});
