import { describe, expect, it } from 'vitest';
import { decodeMask, encodeMask } from '../../../src-main/common/geometry/rle';
import { cutSides, mergeTiled, overlapPixels, placeMask, tileGrid, tiledIou, toImage, type Tile } from '../../../src-main/common/inference/tiling';
import type { Detection } from '../../../src-main/common/inference/types';

const det = (x: number, y: number, w: number, h: number, score = 0.9, classIndex = 0): Detection => ({ classIndex, score, box: { x, y, w, h } });

describe('overlapPixels', () => {
  it.each([
    [640, 0.2, 128],
    [640, 0, 0],
    [640, 100, 100],
    [512, 0.25, 128],
  ])('size %d overlap %d -> %d px', (size, overlap, px) => expect(overlapPixels(size, overlap)).toBe(px));

  it('refuses an overlap as large as the tile', () => {
    expect(() => overlapPixels(640, 640)).toThrow(RangeError);
    expect(() => overlapPixels(640, -1)).toThrow(RangeError);
  });
});

describe('tileGrid', () => {
  it('covers the image with tiles that overlap at least as asked and end at the border', () => {
    for (const [w, h, size, ov] of [
      [2000, 1500, 640, 0.2],
      [1280, 640, 640, 0],
      [641, 3000, 640, 64],
      [5000, 5000, 512, 0.1],
    ] as const) {
      const tiles = tileGrid(w, h, { size, overlap: ov });
      const ovPx = overlapPixels(size, ov);
      const xs = [...new Set(tiles.map((t) => t.x))].sort((a, b) => a - b);
      const ys = [...new Set(tiles.map((t) => t.y))].sort((a, b) => a - b);
      expect(tiles).toHaveLength(xs.length * ys.length);
      expect(xs[0]).toBe(0);
      expect(ys[0]).toBe(0);
      expect(Math.max(...tiles.map((t) => t.x + t.w))).toBe(w);
      expect(Math.max(...tiles.map((t) => t.y + t.h))).toBe(h);
      for (const t of tiles) {
        expect(t.w).toBe(Math.min(size, w));
        expect(t.h).toBe(Math.min(size, h));
      }
      for (let i = 1; i < xs.length; i++) expect(xs[i - 1]! + size - xs[i]!).toBeGreaterThanOrEqual(ovPx);
      for (let i = 1; i < ys.length; i++) expect(ys[i - 1]! + size - ys[i]!).toBeGreaterThanOrEqual(ovPx);
    }
  });

  it('gives one tile for an image smaller than a tile', () => {
    expect(tileGrid(300, 200, { size: 640, overlap: 0.2 })).toEqual([{ x: 0, y: 0, w: 300, h: 200 }]);
  });

  it('spaces 2000 px into 4 tiles of 640 with 0.2 overlap', () => {
    expect(tileGrid(2000, 640, { size: 640, overlap: 0.2 }).map((t) => t.x)).toEqual([0, 453, 907, 1360]);
  });
});

describe('placeMask', () => {
  it('puts a tile mask at its place in the image mask, matching a bitmap paste', () => {
    const tw = 7, th = 5, W = 20, H = 13, ox = 9, oy = 4;
    const tileBits = new Uint8Array(tw * th);
    // An L shape and a lone pixel in the last column, so runs cross column ends.
    for (let y = 1; y < th; y++) tileBits[y * tw + 1] = 1;
    for (let x = 1; x < 5; x++) tileBits[(th - 1) * tw + x] = 1;
    tileBits[0 * tw + 6] = 1;
    tileBits[4 * tw + 0] = 1;
    const placed = placeMask(encodeMask(tileBits, tw, th), ox, oy, H, W);
    const expected = new Uint8Array(W * H);
    for (let y = 0; y < th; y++) for (let x = 0; x < tw; x++) expected[(y + oy) * W + x + ox] = tileBits[y * tw + x]!;
    expect(placed).toEqual(encodeMask(expected, W, H));
    expect(decodeMask(placed)).toEqual(expected);
  });

  it('places a full tile at the origin and an empty one anywhere', () => {
    const full = encodeMask(new Uint8Array(6).fill(1), 3, 2);
    const expected = new Uint8Array(5 * 4);
    for (let y = 0; y < 2; y++) for (let x = 0; x < 3; x++) expected[y * 5 + x] = 1;
    expect(placeMask(full, 0, 0, 4, 5)).toEqual(encodeMask(expected, 5, 4));
    expect(placeMask(encodeMask(new Uint8Array(6), 3, 2), 1, 1, 4, 5)).toEqual({ size: [4, 5], counts: [20] });
  });

  it('refuses a mask that falls outside the image', () => {
    expect(() => placeMask({ size: [2, 3], counts: [6] }, 3, 0, 4, 5)).toThrow(RangeError);
  });
});

describe('cutSides', () => {
  const W = 2000, H = 1000;
  it('marks sides on inner tile edges only', () => {
    const tile: Tile = { x: 640, y: 0, w: 640, h: 640 };
    expect(cutSides({ x: 641, y: 0, w: 50, h: 50 }, tile, W, H)).toEqual({ left: true, top: false, right: false, bottom: false });
    expect(cutSides({ x: 1200, y: 600, w: 79, h: 40 }, tile, W, H)).toEqual({ left: false, top: false, right: true, bottom: true });
    // The same box in a tile at the image corner touches only image borders.
    expect(cutSides({ x: 0, y: 0, w: 50, h: 50 }, { x: 0, y: 0, w: 640, h: 640 }, W, H)).toEqual({ left: false, top: false, right: false, bottom: false });
  });
});

describe('mergeTiled', () => {
  const W = 1152, H = 640;
  const left: Tile = { x: 0, y: 0, w: 640, h: 640 };
  const right: Tile = { x: 512, y: 0, w: 640, h: 640 };
  const opts = { width: W, height: H, iou: 0.5 };

  it('keeps an object seen whole in both tiles once', () => {
    const out = mergeTiled([{ detection: det(530, 100, 60, 80, 0.8), tile: left }, { detection: det(531, 101, 60, 79, 0.85), tile: right }], opts);
    expect(out).toHaveLength(1);
    expect(out[0]!.score).toBeCloseTo(0.85);
  });

  it('drops the partial box at a tile edge in favour of the complete one, even when it scores higher', () => {
    // The object spans x 600..700: the left tile cuts it at 640, the right tile sees it whole.
    const partial = { detection: det(600, 100, 40, 80, 0.95), tile: left };
    const complete = { detection: det(600, 100, 100, 80, 0.7), tile: right };
    const out = mergeTiled([partial, complete], opts);
    expect(out).toEqual([det(600, 100, 100, 80, 0.7)]);
    // Plain IoU of the two boxes is 0.4: plain NMS would have kept both.
    expect(tiledIou({ box: partial.detection.box, tile: left, cut: true }, { box: complete.detection.box, tile: right, cut: false })).toBeGreaterThan(0.9);
  });

  it('fuses the two halves of an object larger than the overlap', () => {
    // Object x 300..900: the left tile sees 300..640, the right 512..900; neither whole.
    const out = mergeTiled([{ detection: det(300, 50, 340, 200, 0.6), tile: left }, { detection: det(512, 52, 388, 196, 0.7), tile: right }], opts);
    expect(out).toHaveLength(1);
    expect(out[0]!.box).toEqual({ x: 300, y: 50, w: 600, h: 200 });
    expect(out[0]!.score).toBeCloseTo(0.7);
  });

  it('keeps different classes and separate objects apart', () => {
    const out = mergeTiled(
      [
        { detection: det(600, 100, 40, 80, 0.9, 0), tile: left },
        { detection: det(600, 100, 100, 80, 0.8, 1), tile: right },
        { detection: det(100, 100, 50, 50, 0.7, 0), tile: left },
        { detection: det(1000, 300, 50, 50, 0.7, 0), tile: right },
      ],
      opts,
    );
    expect(out).toHaveLength(4);
  });

  it('lets a full-pass detection (never cut) win over tile pieces', () => {
    const whole: Tile = { x: 0, y: 0, w: W, h: H };
    const out = mergeTiled(
      [
        { detection: det(300, 50, 340, 200, 0.9), tile: left },
        { detection: det(512, 52, 388, 196, 0.9), tile: right },
        { detection: det(302, 49, 596, 203, 0.6), tile: whole },
      ],
      opts,
    );
    expect(out).toEqual([det(302, 49, 596, 203, 0.6)]);
  });

  it('unions the masks of fused pieces and places tile masks in the image', () => {
    const tw = 640, th = 640;
    const leftBits = new Uint8Array(tw * th), rightBits = new Uint8Array(tw * th);
    for (let y = 60; y < 240; y++) for (let x = 300; x < 640; x++) leftBits[y * tw + x] = 1;
    for (let y = 60; y < 240; y++) for (let x = 0; x < 388; x++) rightBits[y * tw + x] = 1;
    const a = toImage({ ...det(300, 60, 340, 180, 0.6), mask: encodeMask(leftBits, tw, th) }, left, W, H);
    const b = toImage({ ...det(0, 60, 388, 180, 0.7), mask: encodeMask(rightBits, tw, th) }, right, W, H);
    expect(b.box.x).toBe(512);
    const out = mergeTiled([{ detection: a, tile: left }, { detection: b, tile: right }], opts);
    expect(out).toHaveLength(1);
    const bits = decodeMask(out[0]!.mask!);
    let n = 0;
    for (const v of bits) n += v;
    expect(n).toBe(600 * 180);
    expect(bits[100 * W + 899]).toBe(1);
    expect(bits[100 * W + 900]).toBe(0);
  });

  it('caps the result at maxDetections, best first', () => {
    const out = mergeTiled(
      [0.3, 0.9, 0.5].map((s, i) => ({ detection: det(i * 100, 0, 50, 50, s), tile: left })),
      { ...opts, maxDetections: 2 },
    );
    expect(out.map((d) => d.score)).toEqual([0.9, 0.5]);
  });
});
