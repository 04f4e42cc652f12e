import { describe, expect, it } from 'vitest';
import { resizeLinear16, resizeLinear8 } from '../../../src-main/common/inference/resize';

/** Exact bilinear with OpenCV's pixel-centre mapping and border clamping, in doubles. */
function reference(src: ArrayLike<number>, sw: number, sh: number, cn: number, dw: number, dh: number): number[] {
  const tap = (d: number, s: number, n: number): [number, number, number] => {
    const p = (d + 0.5) * (s / n) - 0.5;
    if (p <= 0) return [0, 0, 0];
    if (p >= s - 1) return [s - 1, s - 1, 0];
    const i = Math.floor(p);
    return [i, i + 1, p - i];
  };
  const out: number[] = [];
  for (let y = 0; y < dh; y++) {
    const [y0, y1, fy] = tap(y, sh, dh);
    for (let x = 0; x < dw; x++) {
      const [x0, x1, fx] = tap(x, sw, dw);
      for (let c = 0; c < cn; c++) {
        const at = (yy: number, xx: number): number => src[(yy * sw + xx) * cn + c]!;
        out.push((at(y0, x0) * (1 - fx) + at(y0, x1) * fx) * (1 - fy) + (at(y1, x0) * (1 - fx) + at(y1, x1) * fx) * fy);
      }
    }
  }
  return out;
}

/** Deterministic pseudo-random samples. */
function noise(n: number, max: number, seed = 1): number[] {
  let s = seed;
  return Array.from({ length: n }, () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return (s >>> 8) % (max + 1);
  });
}

describe('resizeLinear8 (cv2.resize INTER_LINEAR)', () => {
  it('samples pixel centres without antialiasing: 1-pixel stripes shrunk to 3 keep their contrast', () => {
    // Positions 0.83, 3.5 and 6.17 of 0,255,0,255,...: an antialiasing reduce would give ~128 everywhere.
    const stripes = Uint8Array.from({ length: 8 }, (_, i) => (i % 2 ? 255 : 0));
    expect([...resizeLinear8(stripes, 8, 1, 1, 3, 1)]).toEqual([213, 128, 42]);
  });

  it('clamps at the borders when enlarging: the outer output pixels copy the edge', () => {
    expect([...resizeLinear8(Uint8Array.from([0, 100]), 2, 1, 1, 4, 1)]).toEqual([0, 25, 75, 100]);
    expect([...resizeLinear8(Uint8Array.from([0, 100]), 1, 2, 1, 1, 4)]).toEqual([0, 25, 75, 100]);
  });

  it('an exact 2x reduction is the rounded mean of each 2x2 block, per channel', () => {
    // 2x2 RGB pixels: R 1,2 / 3,4 -> (10 + 2) >> 2 = 3; G 254,253 / 252,251 -> 253; B stays 7.
    const rgb = Uint8Array.from([1, 254, 7, 2, 253, 7, 3, 252, 7, 4, 251, 7]);
    expect([...resizeLinear8(rgb, 2, 2, 3, 1, 1)]).toEqual([3, 253, 7]);
  });

  it('keeps a constant image constant and returns a copy when the size does not change', () => {
    const flat = new Uint8Array(37 * 23 * 3).fill(201);
    for (const [w, h] of [[16, 9], [50, 31], [37, 1], [3, 60]] as const) expect(resizeLinear8(flat, 37, 23, 3, w, h).every((v) => v === 201)).toBe(true);
    const same = resizeLinear8(flat, 37, 23, 3, 37, 23);
    expect(same).not.toBe(flat);
    expect(same).toEqual(flat);
  });

  it.each([
    [1, 97, 61, 40, 25],
    [3, 97, 61, 40, 25],
    [3, 31, 17, 80, 44],
    [3, 64, 48, 52, 48],
    [1, 5, 300, 9, 120],
  ])('with %i channels, %ix%i to %ix%i is within 1 of exact bilinear interpolation', (cn, sw, sh, dw, dh) => {
    const src = Uint8Array.from(noise(sw * sh * cn, 255, sw * dh));
    const got = resizeLinear8(src, sw, sh, cn, dw, dh);
    const want = reference(src, sw, sh, cn, dw, dh);
    expect(got).toHaveLength(dw * dh * cn);
    let worst = 0;
    for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i]! - want[i]!));
    expect(worst).toBeLessThanOrEqual(1);
  });

  it('rejects sizes that do not fit the buffer', () => {
    expect(() => resizeLinear8(new Uint8Array(10), 4, 4, 1, 2, 2)).toThrow(/cannot resize 4x4x1 \(10 samples\) to 2x2/);
    expect(() => resizeLinear8(new Uint8Array(16), 4, 4, 1, 0, 2)).toThrow(RangeError);
  });
});

describe('resizeLinear16', () => {
  it('interpolates 16-bit samples (single-precision positions), rounded, and halves by block means', () => {
    const src = Uint16Array.from(noise(45 * 30 * 3, 65535, 7));
    const got = resizeLinear16(src, 45, 30, 3, 28, 19);
    const want = reference(src, 45, 30, 3, 28, 19);
    for (let i = 0; i < want.length; i++) expect(Math.abs(got[i]! - want[i]!)).toBeLessThanOrEqual(1);
    expect([...resizeLinear16(Uint16Array.from([1000, 2000, 3000, 4001]), 2, 2, 1, 1, 1)]).toEqual([2500]);
    expect(resizeLinear16(new Uint16Array(20 * 20).fill(40000), 20, 20, 1, 7, 13).every((v) => v === 40000)).toBe(true);
  });
});
