import { describe, expect, it } from 'vitest';
import { applyDisplayLuts, DEFAULT_DISPLAY, displayLuts, displayValue, isIdentityDisplay, rgbaHistogram } from '../../../src-main/common/imaging/display';

describe('display lookup tables', () => {
  it('leaves every value as it is at the defaults', () => {
    expect(isIdentityDisplay(DEFAULT_DISPLAY)).toBe(true);
    const [r] = displayLuts(DEFAULT_DISPLAY);
    for (let v = 0; v < 256; v++) expect(r[v]).toBe(v);
  });

  it('applies contrast around mid-grey, brightness, gamma and invert', () => {
    const s = { ...DEFAULT_DISPLAY, contrast: 50 };
    // Slope 2 around 127.5: 100 → 72.5, 200 → 255 (clipped).
    expect(displayValue(s, 100)).toBe(Math.round(((100 / 255 - 0.5) * 2 + 0.5) * 255));
    expect(displayValue(s, 200)).toBe(255);
    expect(displayValue({ ...DEFAULT_DISPLAY, brightness: 10 }, 0)).toBe(Math.round(0.1 * 255));
    expect(displayValue({ ...DEFAULT_DISPLAY, gamma: 2 }, 64)).toBe(Math.round(Math.sqrt(64 / 255) * 255));
    expect(displayValue({ ...DEFAULT_DISPLAY, invert: true }, 10)).toBe(245);
  });

  it('hides a channel, keeps alpha, and counts a histogram per channel', () => {
    const px = new Uint8ClampedArray([10, 20, 30, 255, 10, 20, 30, 0, 40, 40, 40, 255]);
    const h = rgbaHistogram(px);
    expect(h.pixels).toBe(2);
    expect(h.grey).toBe(false);
    expect(h.bins[0][10]).toBe(1);
    expect(h.bins[2][40]).toBe(1);
    applyDisplayLuts(px, displayLuts({ ...DEFAULT_DISPLAY, channels: [true, false, true], invert: true }));
    expect(Array.from(px.slice(0, 4))).toEqual([245, 0, 225, 255]);
    expect(rgbaHistogram(new Uint8ClampedArray([5, 5, 5, 255])).grey).toBe(true);
  });
});
