import { describe, expect, it } from 'vitest';
import { applyWindow, percentileWindow } from '../../src-main/services/window';

describe('automatic display window', () => {
  it('spans the 0.5-99.5 percentiles of the used range', () => {
    const s = new Uint16Array(1000);
    for (let i = 0; i < s.length; i++) s[i] = i % 236;
    s[0] = 60000; // a hot pixel does not stretch the window
    const w = percentileWindow(s, 1);
    expect(w.low).toBeLessThanOrEqual(2);
    expect(w.high).toBeGreaterThanOrEqual(230);
    expect(w.high).toBeLessThan(240);
    const out = applyWindow(s, 1, w);
    expect(Math.max(...out)).toBe(255);
    expect(out[1]).toBeLessThan(5);
  });

  it('ignores alpha when choosing the window and keeps it opaque', () => {
    const s = new Uint16Array([100, 65535, 200, 65535, 300, 65535]);
    const w = percentileWindow(s, 2);
    expect(w).toEqual({ low: 100, high: 300 });
    const out = Array.from(applyWindow(s, 2, w));
    expect([out[0], out[1], out[3], out[4], out[5]]).toEqual([0, 255, 255, 255, 255]);
    expect(Math.abs(out[2]! - 127.5)).toBeLessThanOrEqual(0.5);
  });

  it('a flat image gets a non-empty window', () => {
    const w = percentileWindow(new Uint16Array(10).fill(7), 1);
    expect(w.high).toBeGreaterThan(w.low);
  });
});
