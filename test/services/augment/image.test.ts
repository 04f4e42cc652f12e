import { describe, expect, it } from 'vitest';
import { applyAffine, compose, rotateAbout, scale, shearAbout, translate, type Affine } from '../../../src-main/common/augment/affine';
import { warpImage } from '../../../src-main/services/augment/image';
import { shiftRleInto } from '../../../src-main/services/augment/pipeline';
import { decodeMask, encodeMask } from '../../../src-main/common/geometry/rle';
import { mulberry32 } from '../../../src-main/common/random';

/** The centre of mass of a warped 4x4 white square must land where the affine map sends the square's centre. */
async function centroidError(W: number, H: number, m: Affine, outW: number, outH: number, px: number, py: number): Promise<number> {
  const data = Buffer.alloc(W * H);
  for (let dy = 0; dy < 4; dy++) for (let dx = 0; dx < 4; dx++) data[(py + dy) * W + px + dx] = 255;
  const out = await warpImage({ data, width: W, height: H, channels: 1 }, m, outW, outH, 0);
  let sx = 0;
  let sy = 0;
  let s = 0;
  for (let y = 0; y < outH; y++) {
    for (let x = 0; x < outW; x++) {
      const v = out.data[y * outW + x]!;
      sx += v * (x + 0.5);
      sy += v * (y + 0.5);
      s += v;
    }
  }
  const [ex, ey] = applyAffine(m, px + 2, py + 2);
  return Math.hypot(sx / s - ex, sy / s - ey);
}

describe('warpImage', () => {
  it('moves pixels exactly as the affine map moves coordinates (pixel edges at integers)', async () => {
    for (const [W, H] of [
      [640, 480],
      [641, 479],
    ] as const) {
      for (const m of [rotateAbout(17, W / 2, H / 2), rotateAbout(-120, W / 2, H / 2), rotateAbout(90, W / 2, H / 2), shearAbout(12, -7, W / 2, H / 2)]) {
        for (const [px, py] of [
          [300, 200],
          [120, 330],
        ] as const) {
          expect(await centroidError(W, H, m, W, H, px, py)).toBeLessThan(0.05);
        }
      }
    }
  });

  it('moves pixels exactly under scales with whole-pixel offsets, shrinking and enlarging', async () => {
    const W = 640;
    const H = 480;
    for (const s of [0.5, 0.6, 1.25, 1.4, 2]) {
      const m = compose(translate(-13, -7), scale(Math.round(W * s) / W, Math.round(H * s) / H));
      for (const [px, py] of [
        [100, 100],
        [300, 200],
      ] as const) {
        expect(await centroidError(W, H, m, W, H, px, py), `scale ${s}`).toBeLessThan(0.1);
      }
    }
  });

  it('places mirrored scales right when libvips rounds a half-pixel corner', async () => {
    // Padded widths 25 and 27 put the mapped corner on a half pixel.
    for (const W of [20, 21, 22, 23]) {
      for (const a of [-0.5, -1.5]) {
        const m: Affine = [a, 0, 0, 1, -a * W, 0];
        expect(await centroidError(W, 10, m, Math.ceil(-a * W), 10, 8, 3), `width ${W}, scale ${a}`).toBeLessThan(0.05);
      }
    }
  });
});

describe('shiftRleInto', () => {
  it('moves a mask by whole pixels into another size, the same pixels as moving the decoded mask', () => {
    const W = 37;
    const H = 23;
    const bits = new Uint8Array(W * H);
    const rng = mulberry32(4);
    for (let i = 0; i < bits.length; i++) bits[i] = rng() < 0.4 ? 1 : 0;
    const rle = encodeMask(bits, W, H);
    for (const [dx, dy, w, h] of [
      [0, 0, W, H],
      [-10, -5, 20, 12],
      [5, 7, 50, 40],
      [-36, 0, 10, 10],
      [40, 0, 10, 10],
    ] as const) {
      const expected = new Uint8Array(w * h);
      for (let y = 0; y < H; y++) {
        for (let x = 0; x < W; x++) {
          const nx = x + dx;
          const ny = y + dy;
          if (bits[y * W + x] && nx >= 0 && nx < w && ny >= 0 && ny < h) expected[ny * w + nx] = 1;
        }
      }
      const moved = shiftRleInto(rle, dx, dy, w, h);
      expect(moved).toEqual(encodeMask(expected, w, h));
      expect(Array.from(decodeMask(moved))).toEqual(Array.from(expected));
    }
  });
});
