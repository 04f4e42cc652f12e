import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import {
  applyVoi,
  CT_PRESETS,
  dragWindow,
  minimumRun,
  minMaxRange,
  percentileRange,
  percentileWindowOf,
  rangeOfWindow,
  sampleRangeOf,
  voiLinear,
  windowFromRange,
} from '../../../src-main/common/imaging/window';
import { sharedPath } from '../../helpers/shared';
import { areaMm2, frameValues, unsupportedSyntaxMessage, valueUnit, type DicomMeta } from '../../../src-main/common/imaging/dicom';

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

describe('automatic window as a sample range (tile pyramids, model input)', () => {
  it('spans the 0.5-99.5 percentiles of the used range', () => {
    const s = new Uint16Array(1000);
    for (let i = 0; i < s.length; i++) s[i] = i % 236;
    s[0] = 60000; // a hot pixel does not stretch the window
    const w = percentileRange(s, 1);
    expect(w.low).toBeLessThanOrEqual(2);
    expect(w.high).toBeGreaterThanOrEqual(230);
    expect(w.high).toBeLessThan(240);
    const out = applyVoi(s, 1, windowFromRange(w.low, w.high));
    expect(Math.max(...out)).toBe(255);
    expect(out[1]).toBeLessThan(5);
  });

  it('ignores alpha when choosing the window and keeps it opaque', () => {
    const s = new Uint16Array([100, 65535, 200, 65535, 300, 65535]);
    const w = percentileRange(s, 2);
    expect(w).toEqual({ low: 100, high: 300 });
    const out = Array.from(applyVoi(s, 2, windowFromRange(w.low, w.high), { alphaMax: 65535 }));
    expect([out[0], out[1], out[3], out[4], out[5]]).toEqual([0, 255, 255, 255, 255]);
    expect(Math.abs(out[2]! - 127.5)).toBeLessThanOrEqual(0.5);
  });

  it('a flat image gets a non-empty window', () => {
    const w = percentileRange(new Uint16Array(10).fill(7), 1);
    expect(w.high).toBeGreaterThan(w.low);
  });

  it('agrees with the DICOM center/width form the viewer uses', () => {
    const s = Uint16Array.from({ length: 5000 }, (_, i) => (i * 7919) % 4001);
    const w = percentileRange(s, 1);
    expect(rangeOfWindow(percentileWindowOf(s, 1))).toEqual(w);
    // Ranks floor/ceil of pct * (n - 1): 0..999 gives 4 and 995.
    expect(percentileRange(Uint16Array.from({ length: 1000 }, (_, i) => i), 1)).toEqual({ low: 4, high: 995 });
  });

  it('shows the stardist 16-bit TIFF (samples 0..235) with full contrast, not black', async () => {
    const file = sharedPath('datasets/tiff16_stardist_dsb2018/img2d.tif');
    if (!file) return;
    const { data, info } = await sharp(file).toColourspace('grey16').raw({ depth: 'ushort' }).toBuffer({ resolveWithObject: true });
    const s = new Uint16Array(data.buffer, data.byteOffset, data.byteLength / 2);
    // Divided by 257 as an 8-bit display would, every sample is black.
    expect(s.every((v) => v >> 8 === 0)).toBe(true);
    const w = percentileRange(s, info.channels);
    expect(w.high).toBeLessThanOrEqual(236);
    const out = applyVoi(s, info.channels, windowFromRange(w.low, w.high));
    expect(out.some((v) => v === 255)).toBe(true);
    expect(out.filter((v) => v >= 128).length / out.length).toBeGreaterThan(0.01);
  });
});

describe('automatic window on fractional data and with nodata', () => {
  it('bins fractional data over its own range (0.05..0.30 is not stretched to 1.05)', () => {
    // PET/MR with a fractional rescale: values 0.05..0.30 in steps of 0.00025.
    const s = Float32Array.from({ length: 1001 }, (_, i) => 0.05 + i * 0.00025);
    const w = percentileRange(s, 1);
    // Ranks floor/ceil of pct * 1000: samples 5 and 995.
    expect(w.low).toBeCloseTo(s[5]!, 4);
    expect(w.high).toBeCloseTo(s[995]!, 4);
    expect(w.high).toBeLessThan(0.3);
    const out = applyVoi(s, 1, percentileWindowOf(s, 1));
    expect(out[0]).toBe(0);
    expect(out[1000]).toBe(255);
    expect(Math.abs(out[500]! - 128)).toBeLessThanOrEqual(1);
  });

  it('counts integer data stored as floats exactly, as before', () => {
    const ints = Array.from({ length: 1000 }, (_, i) => i);
    expect(percentileRange(Float32Array.from(ints), 1)).toEqual({ low: 4, high: 995 });
    expect(percentileRange(ints, 1)).toEqual({ low: 4, high: 995 });
    const hu = Float32Array.from({ length: 4000 }, (_, i) => -1024 + ((i * 7919) % 4096));
    expect(percentileRange(hu, 1)).toEqual(percentileRange(Int16Array.from(hu), 1));
  });

  it('leaves NaN out of the ranks', () => {
    const s = Float32Array.from({ length: 2000 }, (_, i) => (i < 1000 ? i / 1000 : NaN));
    const w = percentileRange(s, 1);
    expect(w.low).toBeCloseTo(0.004, 4);
    expect(w.high).toBeCloseTo(0.995, 4);
  });

  it('skips a nodata value when asked', () => {
    // A float GeoTIFF: half the pixels are nodata -9999, the rest 0.1..0.6.
    const s = Float32Array.from({ length: 2000 }, (_, i) => (i % 2 ? -9999 : 0.1 + (i / 2) * 0.0005));
    const plain = percentileRange(s, 1);
    expect(plain.low).toBe(-9999);
    const w = percentileRange(s, 1, { nodata: -9999 });
    expect(w.low).toBeGreaterThanOrEqual(0.1);
    expect(w.low).toBeLessThan(0.11);
    expect(w.high).toBeGreaterThan(0.59);
    expect(w.high).toBeLessThanOrEqual(0.6);
    expect(rangeOfWindow(percentileWindowOf(s, 1, { nodata: -9999 })).low).toBeCloseTo(w.low, 10);
    expect(sampleRangeOf(s, 1, -9999)).toEqual({ low: s[0], high: s[1998] });
    expect(minMaxRange(s, 1, -9999).low).toBe(s[0]);
    // Integer nodata 0 on 16-bit data: the window is that of the other samples.
    const u = Uint16Array.from({ length: 1000 }, (_, i) => (i < 500 ? 0 : 1000 + i));
    expect(percentileRange(u, 1, { nodata: 0 })).toEqual(percentileRange(u.subarray(500), 1));
    // Only nodata: no samples, the default range.
    expect(percentileRange(new Float32Array(5).fill(-9999), 1, { nodata: -9999 })).toEqual({ low: 0, high: 1 });
  });

  it('takes other percentiles', () => {
    const s = Uint16Array.from({ length: 1001 }, (_, i) => i);
    expect(percentileRange(s, 1, { lowPct: 2, highPct: 98 })).toEqual({ low: 20, high: 980 });
  });
});

describe('min-max range', () => {
  it('spans lowest to highest colour sample, alpha excluded, at least one unit wide', () => {
    expect(minMaxRange(Float32Array.from([-3.5, 2, 7.25]), 1)).toEqual({ low: -3.5, high: 7.25 });
    expect(sampleRangeOf(Uint16Array.from([1, 2, 3, 65535]), 4)).toEqual({ low: 1, high: 3 });
    expect(minMaxRange(new Uint16Array(4).fill(9), 1)).toEqual({ low: 9, high: 10 });
    expect(sampleRangeOf(new Uint16Array(4).fill(9), 1)).toEqual({ low: 9, high: 9 });
    expect(minMaxRange(new Float32Array(0), 1)).toEqual({ low: 0, high: 1 });
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

/**
 * A CT slice: a scan circle with values -1000..1000 in steps of 1 (two samples each), and
 * everything outside the reconstructed circle at `outside`.
 */
function ctSlice(outside: number, outsideCount: number): Float32Array {
  const inside = Array.from({ length: 4002 }, (_, i) => -1000 + Math.floor(i / 2));
  return Float32Array.from([...inside, ...Array.from({ length: outsideCount }, () => outside)]);
}

describe('padding and the outside-the-scan value in automatic windows', () => {
  it('a run of -3024 outside the scan is found and left out, giving the window of the scan itself', () => {
    const slice = ctSlice(-3024, 2000);
    // Counted, the fill value becomes the window's black end and washes the scan out.
    expect(percentileRange(slice, 1).low).toBe(-3024);
    expect(minimumRun(slice, 1)).toBe(-3024);
    const scan = percentileRange(slice.subarray(0, 4002), 1);
    expect(percentileRange(slice, 1, { exclude: { low: -3024, high: -3024 } })).toEqual(scan);
    expect(scan.low).toBeGreaterThan(-1000);
    expect(sampleRangeOf(slice, 1, null, { low: -3024, high: -3024 })).toEqual({ low: -1000, high: 1000 });
    // -2000 as well, and a whole padding range [-3024, -2000].
    expect(minimumRun(ctSlice(-2000, 500), 1)).toBe(-2000);
    const ranged = Float32Array.from([...ctSlice(-3024, 300), ...Array.from({ length: 300 }, (_, i) => -2000 - i)]);
    expect(percentileRange(ranged, 1, { exclude: { low: -3024, high: -2000 } })).toEqual(scan);
  });

  it('a padding range computed in double precision still leaves out float32 samples of that value', () => {
    // -32768 * 0.0123 is -403.0464 in double precision; stored as float32 it is -403.04638671875.
    const pad = -32768 * 0.0123;
    expect(Math.fround(pad)).not.toBe(pad);
    const slice = Float32Array.from([...Array.from({ length: 400 }, (_, i) => i * 0.0123), ...Array.from({ length: 400 }, () => pad)]);
    const scan = slice.subarray(0, 400);
    const exclude = { low: pad, high: pad };
    expect(sampleRangeOf(slice, 1, null, exclude)).toEqual(sampleRangeOf(scan, 1));
    expect(percentileRange(slice, 1, { exclude })).toEqual(percentileRange(scan, 1));
    // A nodata value given in double precision is matched the same way.
    expect(sampleRangeOf(slice, 1, pad)).toEqual(sampleRangeOf(scan, 1));
    expect(minimumRun(Float32Array.from([...scan, pad, pad]), 1, { nodata: pad })).toBeNull();
  });

  it('air clamped at -1024 HU, a few stray low samples and a continuous bottom are not runs', () => {
    const clamped = Float32Array.from([...Array.from({ length: 3000 }, () => -1024), ...ctSlice(-1023, 1)]);
    expect(minimumRun(clamped, 1)).toBeNull();
    expect(minimumRun(ctSlice(-3024, 10), 1)).toBeNull(); // 0.25 %: below the low percentile's rank
    expect(minimumRun(ctSlice(-1000, 0), 1)).toBeNull();
    expect(minimumRun(new Float32Array(0), 1)).toBeNull();
    expect(minimumRun(Float32Array.of(5, 5, 5), 1)).toBeNull();
  });
});

const meta = (over: Partial<DicomMeta>): DicomMeta => ({
  transferSyntax: '1.2.840.10008.1.2.1',
  sopClassUid: '1.2.840.10008.5.1.4.1.1.2',
  modality: 'CT',
  photometric: 'MONOCHROME2',
  rows: 2,
  columns: 2,
  frames: 2,
  samplesPerPixel: 1,
  bitsAllocated: 16,
  bitsStored: 16,
  highBit: 15,
  pixelRepresentation: 1,
  planarConfiguration: 0,
  rescaleSlope: 1,
  rescaleIntercept: -1024,
  rescaleType: null,
  windows: [],
  pixelSpacing: null,
  seriesInstanceUid: null,
  ...over,
});

describe('units of DICOM values', () => {
  it('HU only when the Rescale Type says so, or for classic CT Image Storage without one', () => {
    expect(valueUnit(meta({}))).toBe('HU');
    expect(valueUnit(meta({ rescaleType: 'HU' }))).toBe('HU');
    expect(valueUnit(meta({ rescaleType: 'US' }))).toBeNull();
    expect(valueUnit(meta({ sopClassUid: '1.2.840.10008.5.1.4.1.1.2.1' }))).toBeNull();
    expect(valueUnit(meta({ sopClassUid: '1.2.840.10008.5.1.4.1.1.2.1', rescaleType: 'HU' }))).toBe('HU');
    expect(valueUnit(meta({ sopClassUid: '1.2.840.10008.5.1.4.1.1.4', modality: 'MR' }))).toBeNull();
    expect(valueUnit(meta({ rescaleType: 'MGML' }))).toBe('MGML');
  });

  it('a frame of its own has its own rescale, unit and windows; others use the image values', () => {
    const frame1 = { rescaleSlope: 0.5, rescaleIntercept: 0, rescaleType: 'US', windows: [{ name: 'MAP', center: 50, width: 100 }] };
    const m = meta({ sopClassUid: '1.2.840.10008.5.1.4.1.1.2.1', rescaleType: 'HU', perFrame: [{ rescaleSlope: 1, rescaleIntercept: -1024, rescaleType: 'HU', windows: [] }, frame1] });
    expect(frameValues(m, 1)).toEqual(frame1);
    expect(valueUnit(m, 0)).toBe('HU');
    expect(valueUnit(m, 1)).toBeNull();
    expect(frameValues(meta({}), 1).rescaleIntercept).toBe(-1024);
  });
});
