import { describe, expect, it } from 'vitest';
import { inputBoxToImage, letterboxGeometry, roundHalfEven } from '../../../src-main/common/inference/letterbox';
import { boxIou, makeCandidates, nms, pushCandidate, topK } from '../../../src-main/common/inference/nms';

describe('letterboxGeometry', () => {
  it.each([
    // src w, h, dst w, h, newW, newH, padLeft, padTop
    [640, 427, 320, 320, 320, 214, 0, 53],
    [640, 427, 416, 416, 416, 278, 0, 69],
    [427, 640, 320, 320, 214, 320, 53, 0],
    [100, 100, 320, 320, 320, 320, 0, 0],
    [1000, 10, 320, 320, 320, 3, 0, 158],
    // Ultralytics rounds 212.5 half to even (Python's round): 212, padded 54 above and below.
    [640, 425, 320, 320, 320, 212, 0, 54],
    [425, 640, 320, 320, 212, 320, 54, 0],
    // ...and 213.5 to 214.
    [640, 427, 320, 320, 320, 214, 0, 53],
  ])('%ix%i into %ix%i centres a %ix%i image at (%i, %i)', (sw, sh, dw, dh, nw, nh, pl, pt) => {
    const g = letterboxGeometry(sw, sh, dw, dh);
    expect([g.newW, g.newH, g.padLeft, g.padTop]).toEqual([nw, nh, pl, pt]);
  });

  it('puts the image top-left for yolox, truncating its size as YOLOX does, and pads only right and bottom', () => {
    // 427 * 0.65 = 277.55: YOLOX's int() gives 277 where rounding would give 278.
    const g = letterboxGeometry(640, 427, 416, 416, 'letterbox', 'topleft');
    expect([g.padLeft, g.padTop, g.newW, g.newH]).toEqual([0, 0, 416, 277]);
  });

  it("rounds like Python's round(): half to even, otherwise to the nearest", () => {
    expect([0.5, 1.5, 2.5, 212.5, 213.5, 212.49, 212.51, 3].map(roundHalfEven)).toEqual([0, 2, 2, 212, 214, 212, 213, 3]);
  });

  it('stretches without padding, scaling each axis on its own', () => {
    const g = letterboxGeometry(640, 427, 640, 640, 'stretch');
    expect([g.scaleX, g.scaleY, g.padLeft, g.padTop]).toEqual([1, 640 / 427, 0, 0]);
  });

  it('maps input boxes back to image pixels and clips them to the image', () => {
    const g = letterboxGeometry(640, 427, 320, 320);
    const b = inputBoxToImage(g, 10, 53 + 5, 20, 53 + 15);
    expect(b.x1).toBeCloseTo(20, 5);
    expect(b.y1).toBeCloseTo(5 / g.scaleY, 5);
    expect(b.x2).toBeCloseTo(40, 5);
    const clipped = inputBoxToImage(g, -10, 0, 330, 320);
    expect(clipped).toEqual({ x1: 0, y1: 0, x2: 640, y2: 427 });
  });

  it('refuses empty sizes', () => {
    expect(() => letterboxGeometry(0, 10, 320, 320)).toThrow(/cannot letterbox 0x10/);
  });
});

function candidates(rows: [number, number, number, number, number, number][]) {
  const c = makeCandidates(1);
  rows.forEach(([x1, y1, x2, y2, s, cls], i) => pushCandidate(c, x1, y1, x2, y2, s, cls, i));
  return c;
}

describe('nms', () => {
  it('computes IoU of x1y1x2y2 boxes', () => {
    expect(boxIou([0, 0, 10, 10], 0, [5, 0, 15, 10], 0)).toBeCloseTo(50 / 150, 6);
    expect(boxIou([0, 0, 10, 10], 0, [10, 0, 20, 10], 0)).toBe(0);
  });

  it('suppresses overlapping boxes of the same class only, best score first', () => {
    const c = candidates([
      [0, 0, 10, 10, 0.6, 0],
      [1, 1, 11, 11, 0.9, 0], // best of class 0
      [0, 0, 10, 10, 0.8, 1], // same place, other class: kept
      [50, 50, 60, 60, 0.5, 0], // far away: kept
      [2, 2, 12, 12, 0.7, 1], // overlaps the class-1 box
    ]);
    expect(nms(c, 0.45, 100)).toEqual([1, 2, 3]);
  });

  it('keeps boxes that overlap at or below the IoU threshold', () => {
    const c = candidates([
      [0, 0, 10, 10, 0.9, 0],
      [5, 0, 15, 10, 0.8, 0], // IoU 1/3
    ]);
    expect(nms(c, 0.5, 100)).toEqual([0, 1]);
    expect(nms(c, 0.3, 100)).toEqual([0]);
  });

  it('stops at maxDetections', () => {
    const c = candidates(Array.from({ length: 10 }, (_, i) => [i * 20, 0, i * 20 + 10, 10, 0.5 + i / 100, 0] as [number, number, number, number, number, number]));
    expect(nms(c, 0.45, 3)).toEqual([9, 8, 7]);
    expect(topK(c, 2)).toEqual([9, 8]);
  });

  it('grows the candidate arrays past their capacity', () => {
    const c = makeCandidates(1);
    for (let i = 0; i < 100; i++) pushCandidate(c, i, i, i + 1, i + 1, i / 100, i % 3, i);
    expect(c.count).toBe(100);
    expect(c.rows[99]).toBe(99);
    expect(c.boxes[99 * 4 + 2]).toBe(100);
  });
});
