import { describe, expect, it } from 'vitest';
import { encodeMask } from '../../src-main/common/geometry/rle';
import type { SegmentRegion } from '../../src-main/common/segment';
import { longestSide, maskRle, resizeBilinear } from '../../src-main/inference/sam';

/**
 * The per-prompt mask path (maskRle: resizes and RLE computed only over the window that can be
 * above 0) against the plain one: each family's resizes over the whole frame, thresholded, scaled
 * to the image by nearest neighbour and run-length encoded by encodeMask.
 */

function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A w×h plane of logits: a few blobs with rough edges in a field of negative values. */
function blobs(w: number, h: number, seed: number, n = 3): Float32Array {
  const r = rng(seed);
  const spots = Array.from({ length: n }, () => ({ x: r() * w, y: r() * h, s: (0.03 + r() * 0.12) * Math.max(w, h) }));
  return new Float32Array(w * h).map((_, i) => {
    const x = i % w, y = Math.floor(i / w);
    let v = -1;
    for (const p of spots) v = Math.max(v, 1 - Math.hypot(x - p.x, y - p.y) / p.s);
    return v * 8 + (r() - 0.5) * 0.8;
  });
}

/** The mask at mw×mh over the region, as each family's reference postprocessing computes it whole. */
function wholeFrame(family: string, low: Float32Array, sw: number, sh: number, region: SegmentRegion, mw: number, mh: number, frame: number): Float32Array {
  if (sw === mw && sh === mh) return low;
  if (family === 'sam2') return resizeBilinear(low, 0, sw, sh, mw, mh);
  const { newW, newH } = longestSide(region.w, region.h, frame);
  return resizeBilinear(resizeBilinear(low, 0, sw, sh, frame, frame, newW, newH), 0, newW, newH, mw, mh);
}

function reference(family: string, low: Float32Array, sw: number, sh: number, region: SegmentRegion, mw: number, mh: number, frame: number, W: number, H: number) {
  const m = wholeFrame(family, low, sw, sh, region, mw, mh, frame);
  const img = new Uint8Array(W * H);
  let area = 0, x0 = Infinity, y0 = Infinity, x1 = -1, y1 = -1;
  for (let y = region.y; y < region.y + region.h; y++) {
    for (let x = region.x; x < region.x + region.w; x++) {
      const mx = Math.floor(((x - region.x) * mw) / region.w), my = Math.floor(((y - region.y) * mh) / region.h);
      if (m[my * mw + mx]! > 0) {
        img[y * W + x] = 1;
        area++;
        x0 = Math.min(x0, x);
        x1 = Math.max(x1, x);
        y0 = Math.min(y0, y);
        y1 = Math.max(y1, y);
      }
    }
  }
  const bbox = area > 0 ? [x0, y0, x1 - x0 + 1, y1 - y0 + 1] : [0, 0, 0, 0];
  return { counts: encodeMask(img, W, H).counts, area, bbox };
}

interface Geometry {
  name: string;
  W: number;
  H: number;
  region: SegmentRegion;
  /** The mask frame, when smaller than the region (images over 4096). */
  mw?: number;
  mh?: number;
}

const whole = (W: number, H: number): SegmentRegion => ({ x: 0, y: 0, w: W, h: H });
const GEOMETRIES: Geometry[] = [
  { name: 'landscape', W: 640, H: 427, region: whole(640, 427) },
  { name: 'portrait', W: 427, H: 640, region: whole(427, 640) },
  { name: 'odd sizes', W: 333, H: 517, region: whole(333, 517) },
  { name: 'tiny', W: 7, H: 5, region: whole(7, 5) },
  { name: 'square', W: 300, H: 300, region: whole(300, 300) },
  { name: 'a region of a larger image', W: 901, H: 613, region: { x: 123, y: 47, w: 511, h: 389 } },
  { name: 'mask smaller than the region', W: 700, H: 450, region: { x: 10, y: 20, w: 600, h: 401 }, mw: 287, mh: 191 },
];

type Case = { name: string; plane: (w: number, h: number) => Float32Array };
const CASES: Case[] = [
  ...[1, 2, 3, 4, 5].map((seed) => ({ name: `random blobs ${seed}`, plane: (w: number, h: number) => blobs(w, h, seed, 1 + (seed % 4)) })),
  { name: 'empty', plane: (w, h) => new Float32Array(w * h).fill(-2) },
  { name: 'full', plane: (w, h) => new Float32Array(w * h).fill(3) },
  {
    name: 'touching every border',
    plane: (w, h) => new Float32Array(w * h).map((_, i) => ((i % w === 0 || i % w === w - 1 || i < w || i >= w * (h - 1)) ? 1.5 : -1.5)),
  },
  { name: 'one corner cell', plane: (w, h) => new Float32Array(w * h).fill(-1).fill(0.25, w * h - 1) },
  { name: 'one first cell', plane: (w, h) => new Float32Array(w * h).fill(-1).fill(0.25, 0, 1) },
  { name: 'values near 0', plane: (w, h) => new Float32Array(w * h).map((_, i) => ((i * 7919) % 13 === 0 ? 1e-7 : -1e-7)) },
  { name: '+0 and -0 only', plane: (w, h) => new Float32Array(w * h).map((_, i) => (i % 3 === 0 ? 0 : -0)) },
  {
    name: '+0, -0, NaN and a few positives',
    plane: (w, h) => new Float32Array(w * h).map((_, i) => (i % 97 === 5 ? 2 : i % 5 === 0 ? NaN : i % 2 ? 0 : -0)),
  },
  { name: 'noise', plane: (w, h) => { const r = rng(99); return new Float32Array(w * h).map(() => r() - 0.7); } },
];

function check(family: string, low: Float32Array, sw: number, sh: number, g: Geometry, frame: number): number {
  const mw = g.mw ?? g.region.w, mh = g.mh ?? g.region.h;
  const got = maskRle(family, low, 0, sw, sh, g.region, mw, mh, frame, g.W, g.H);
  const want = reference(family, low, sw, sh, g.region, mw, mh, frame, g.W, g.H);
  expect(Array.from(got.counts)).toEqual(want.counts);
  expect(got.area).toBe(want.area);
  expect(got.bbox).toEqual(want.bbox);
  return want.area;
}

describe('maskRle: the mask of each family at the cost of the mask, the same as the whole-frame path', () => {
  for (const family of ['sam2', 'efficientvit-sam'] as const) {
    for (const frame of family === 'sam2' ? [1024] : [1024, 512]) {
      it(`${family} (prompt frame ${frame}): 256×256 logits upsampled to the image`, () => {
        let nonEmpty = 0;
        for (const g of GEOMETRIES) {
          for (const c of CASES) {
            const low = c.plane(256, 256);
            try {
              if (check(family, low, 256, 256, g, frame) > 0) nonEmpty++;
            } catch (e) {
              throw new Error(`${family} ${g.name}, ${c.name}: ${e instanceof Error ? e.message : String(e)}`);
            }
          }
        }
        // Most cases have a mask (the random ones, full, borders, corners): not only empty ones are compared.
        expect(nonEmpty).toBeGreaterThanOrEqual(GEOMETRIES.length * 8);
      });
    }
  }

  it('sam: logits already at the mask frame (orig_im_size), and SAM 2 exports that take it', () => {
    for (const family of ['sam', 'sam2']) {
      for (const g of GEOMETRIES) {
        const mw = g.mw ?? g.region.w, mh = g.mh ?? g.region.h;
        for (const c of CASES) {
          const logits = c.plane(mw, mh);
          try {
            check(family, logits, mw, mh, g, 1024);
          } catch (e) {
            throw new Error(`${family} ${g.name}, ${c.name}: ${e instanceof Error ? e.message : String(e)}`);
          }
        }
      }
    }
  });

  it('reads each candidate from its offset in the decoder output', () => {
    const g = GEOMETRIES[0]!;
    const a = blobs(256, 256, 11), b = blobs(256, 256, 12);
    const both = new Float32Array(2 * 256 * 256);
    both.set(a);
    both.set(b, 256 * 256);
    for (const family of ['sam2', 'efficientvit-sam']) {
      const second = maskRle(family, both, 256 * 256, 256, 256, g.region, g.W, g.H, 1024, g.W, g.H);
      expect(Array.from(second.counts)).toEqual(reference(family, b, 256, 256, g.region, g.W, g.H, 1024, g.W, g.H).counts);
    }
  });
});

describe('maskRle: work and memory follow the mask', () => {
  it('encodes a small mask on a 50000×50000 frame in a fraction of the time a pass over the frame takes', () => {
    // A frame-sized plane would be 2.5 G floats (10 GB) to fill, resize and scan: seconds at best.
    const W = 50_000, H = 50_000;
    const t0 = performance.now();
    const low = new Float32Array(256 * 256).fill(-4);
    // One positive cell at (100, 60) of the 256×256 mask.
    low[60 * 256 + 100] = 4;
    for (const family of ['sam2', 'efficientvit-sam']) {
      const r = maskRle(family, low, 0, 256, 256, { x: 0, y: 0, w: W, h: H }, W, H, 1024, W, H);
      expect(r.counts.reduce((n, c) => n + c, 0), family).toBe(W * H);
      expect(r.area, family).toBeGreaterThan(0);
      const [x, y, w, h] = r.bbox;
      // The cell covers x 100/256..101/256 and y 60/256..61/256 of the frame; bilinear spreads it by under a cell.
      expect(x, family).toBeGreaterThan((99 / 256) * W);
      expect(x + w, family).toBeLessThan((102 / 256) * W);
      expect(y, family).toBeGreaterThan((59 / 256) * H);
      expect(y + h, family).toBeLessThan((62 / 256) * H);
    }
    expect(performance.now() - t0).toBeLessThan(1000);
  });
});
