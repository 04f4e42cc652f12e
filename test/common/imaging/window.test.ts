import { describe, expect, it } from 'vitest';
import {
  applyVoi,
  CT_PRESETS,
  dragWindow,
  percentileWindowOf,
  rangeOfWindow,
  voiLinear,
  windowFromRange,
} from '../../../src-main/common/imaging/window';
import { areaMm2, unsupportedSyntaxMessage } from '../../../src-main/common/imaging/dicom';

describe('DICOM linear VOI function', () => {
  // PS3.3 C.11.2.1.2.1 with c = 50, w = 350 (mediastinum): the ramp runs from
  // c - 0.5 - (w-1)/2 = -125 (exclusive) to c - 0.5 + (w-1)/2 = 224.
  it.each([
    [-1000, 0],
    [-125, 0],
    [224, 1],
    [225, 1],
    [49.5, 0.5],
    [-125 + 349 / 4, 0.25],
  ])('x = %d gives %d', (x, y) => {
    expect(voiLinear(x, { center: 50, width: 350 })).toBeCloseTo(y, 10);
  });

  it('a width of 1 is a threshold at the center', () => {
    expect(voiLinear(9, { center: 10, width: 1 })).toBe(0);
    expect(voiLinear(10, { center: 10, width: 1 })).toBe(1);
  });

  it('windowFromRange and rangeOfWindow are inverse', () => {
    for (const [lo, hi] of [
      [0, 255],
      [-1024, 3071],
      [12.5, 13],
    ] as const) {
      const w = windowFromRange(lo, hi);
      expect(voiLinear(lo, w)).toBe(0);
      expect(voiLinear(hi, w)).toBe(1);
      const r = rangeOfWindow(w);
      expect(r.low).toBeCloseTo(lo, 10);
      expect(r.high).toBeCloseTo(hi, 10);
    }
  });
});

describe('applyVoi', () => {
  it('maps the window to 0..255 and clamps outside it', () => {
    const lung = CT_PRESETS.find((p) => p.name === 'Lung')!;
    const out = applyVoi(new Float32Array([-2000, -1350.5, -600, 149, 1000]), 1, lung);
    expect(Array.from(out)).toEqual([0, 0, 128, 255, 255]);
  });

  it('MONOCHROME1 inverts the output, not the samples', () => {
    const data = new Float32Array([0, 64, 128, 255]);
    const w = windowFromRange(0, 255);
    const plain = applyVoi(data, 1, w);
    const inverted = applyVoi(data, 1, w, { invert: true });
    expect(Array.from(plain)).toEqual([0, 64, 128, 255]);
    expect(Array.from(inverted)).toEqual([255, 191, 127, 0]);
    expect(Array.from(data)).toEqual([0, 64, 128, 255]);
  });

  it('scales a 16-bit alpha channel instead of windowing it', () => {
    const out = applyVoi(new Uint16Array([100, 65535, 300, 0]), 2, windowFromRange(100, 300), { alphaMax: 65535 });
    expect(Array.from(out)).toEqual([0, 255, 255, 0]);
  });
});

describe('standard CT presets', () => {
  it.each([
    ['Lung', -600, 1500],
    ['Mediastinum', 50, 350],
    ['Bone', 400, 1800],
    ['Brain', 40, 80],
    ['Abdomen', 40, 400],
  ])('%s is %d/%d', (name, center, width) => {
    expect(CT_PRESETS.find((p) => p.name === name)).toEqual({ name, center, width });
  });
});

describe('automatic percentile window', () => {
  it('spans the used range of a 16-bit container holding 0..235 and ignores a hot pixel', () => {
    const s = new Uint16Array(10000);
    for (let i = 0; i < s.length; i++) s[i] = i % 236;
    s[0] = 60000;
    const { low, high } = rangeOfWindow(percentileWindowOf(s, 1));
    expect(low).toBeLessThanOrEqual(2);
    expect(high).toBeGreaterThanOrEqual(230);
    expect(high).toBeLessThan(240);
    expect(Math.max(...applyVoi(s, 1, percentileWindowOf(s, 1)))).toBe(255);
  });

  it('works on negative, fractional modality values (HU)', () => {
    const hu = new Float32Array(1000);
    for (let i = 0; i < hu.length; i++) hu[i] = -1000 + i * 2.5;
    const { low, high } = rangeOfWindow(percentileWindowOf(hu, 1));
    expect(low).toBeGreaterThanOrEqual(-1000);
    expect(low).toBeLessThan(-980);
    expect(high).toBeGreaterThan(1480);
    expect(high).toBeLessThanOrEqual(1500);
  });

  it('a flat image gets a non-empty window', () => {
    const w = percentileWindowOf(new Float32Array(10).fill(-7), 1);
    expect(w.width).toBeGreaterThanOrEqual(1);
    expect(voiLinear(-7, w)).toBe(0);
  });
});

describe('right-drag', () => {
  it('horizontal motion changes the width, vertical the center, width stays >= 1', () => {
    expect(dragWindow({ center: 40, width: 400 }, 10, 0, 2)).toEqual({ center: 40, width: 420 });
    expect(dragWindow({ center: 40, width: 400 }, 0, -5, 2)).toEqual({ center: 30, width: 400 });
    expect(dragWindow({ center: 40, width: 10 }, -100, 0, 2).width).toBe(1);
  });
});

describe('DICOM helpers', () => {
  it('names an unsupported transfer syntax', () => {
    expect(unsupportedSyntaxMessage('1.2.840.10008.1.2.4.100')).toBe('unsupported transfer syntax 1.2.840.10008.1.2.4.100 (MPEG2 Main Profile / Main Level)');
    expect(unsupportedSyntaxMessage('1.2.3')).toBe('unsupported transfer syntax 1.2.3 (unknown)');
  });

  it('areas in mm² use row and column spacing', () => {
    expect(areaMm2(100, [0.5, 0.25])).toBeCloseTo(12.5, 10);
    expect(areaMm2(100, null)).toBeNull();
  });
});
