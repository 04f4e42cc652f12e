import { describe, expect, it } from 'vitest';
import { minMaxRange, percentileRange } from '../../../src-main/common/imaging/window';
import { modelInputWindow, windowToBytes } from '../../../src-main/common/inference/highBitDepth';

describe('model input windows for images deeper than 8 bits', () => {
  // 1000 samples 0..999 in a 16-bit container.
  const ramp = Uint16Array.from({ length: 1000 }, (_, i) => i);

  it.each([
    [{}, 'window', 4, 995],
    [{ highBitDepth: 'window' as const }, 'window', 4, 995],
    [{ highBitDepth: 'minmax' as const }, 'minmax', 0, 999],
    [{ highBitDepth: 'fixed' as const }, 'fixed', 0, 65535],
    [{ highBitDepth: 'fixed' as const, window: { center: 300, width: 200 } }, 'fixed', 200, 400],
  ])('%j -> %s [%d, %d]', (rule, mode, low, high) => {
    expect(modelInputWindow(rule, ramp, 1)).toEqual({ mode, low, high });
  });

  it('uses the display window the caller knows for "window"', () => {
    expect(modelInputWindow({}, ramp, 1, { low: 10, high: 20 })).toEqual({ mode: 'window', low: 10, high: 20 });
    expect(modelInputWindow({ highBitDepth: 'minmax' }, ramp, 1, { low: 10, high: 20 })).toEqual({ mode: 'minmax', low: 0, high: 999 });
  });

  it('handles float samples (DICOM modality values) and ignores alpha', () => {
    const hu = Float32Array.from({ length: 2001 }, (_, i) => i - 1000);
    expect(minMaxRange(hu, 1)).toEqual({ low: -1000, high: 1000 });
    const w = percentileRange(hu, 1);
    expect(w.low).toBe(-990);
    expect(w.high).toBe(990);
    // Grey + alpha: the alpha 65535 must not count.
    const ga = Uint16Array.from([10, 65535, 20, 65535, 30, 65535]);
    expect(minMaxRange(ga, 2)).toEqual({ low: 10, high: 30 });
  });

  it('leaves a GeoTIFF nodata value out of the automatic and min-max windows', () => {
    // An elevation model: 1 in 20 samples is nodata -9999, the rest 100..2999.
    const dem = Float32Array.from({ length: 2000 }, (_, i) => (i % 20 === 0 ? -9999 : 100 + ((i * 37) % 2900)));
    const auto = modelInputWindow({}, dem, 1, null, -9999);
    expect(auto.low).toBeGreaterThanOrEqual(100);
    expect(modelInputWindow({ highBitDepth: 'minmax' }, dem, 1, null, -9999).low).toBeGreaterThanOrEqual(100);
    // Without the nodata value the window reaches down to it and flattens the terrain.
    expect(modelInputWindow({}, dem, 1).low).toBe(-9999);
  });

  it("leaves CT padding and the outside-the-scan value out, as the viewer's window does", () => {
    // A CT slice: a fifth of it is -3024 outside the scan circle, the rest -1000..1000 HU.
    const ct = Float32Array.from({ length: 5000 }, (_, i) => (i % 5 === 0 ? -3024 : -1000 + ((i * 41) % 2001)));
    const padding = { low: -3024, high: -3024 };
    expect(modelInputWindow({}, ct, 1, null, null, padding).low).toBeGreaterThanOrEqual(-1000);
    expect(modelInputWindow({ highBitDepth: 'minmax' }, ct, 1, null, null, padding)).toEqual({ mode: 'minmax', low: -1000, high: 1000 });
    // Counted, the padding pulls the window down to it and washes the tissue out.
    expect(modelInputWindow({ highBitDepth: 'minmax' }, ct, 1).low).toBe(-3024);
  });

  it('maps through the window to bytes, clamping, dropping alpha and inverting on request', () => {
    const px = Uint16Array.from([0, 100, 200, 300, 9]);
    expect(Array.from(windowToBytes(px, 1, { low: 100, high: 200 }).data)).toEqual([0, 0, 255, 255, 0]);
    expect(Array.from(windowToBytes(px, 1, { low: 100, high: 200 }, true).data)).toEqual([255, 255, 0, 0, 255]);
    const rgba = Uint16Array.from([0, 40, 100, 65535]);
    expect(windowToBytes(rgba, 4, { low: 0, high: 100 })).toEqual({ data: Uint8Array.from([0, 102, 255]), channels: 3 });
  });
});

describe('the input window of a z-scoring model', () => {
  it('is the samples\' range, not the display window, under the default rule; a fixed window stays', () => {
    const data = Uint16Array.from([100, 200, 300, 4000]);
    const display = { low: 150, high: 250 };
    expect(modelInputWindow({ normalize: 'zscore' }, data, 1, display)).toEqual({ mode: 'minmax', low: 100, high: 4000 });
    expect(modelInputWindow({}, data, 1, display)).toEqual({ mode: 'window', low: 150, high: 250 });
    expect(modelInputWindow({ normalize: 'zscore', highBitDepth: 'fixed', window: { center: 200, width: 100 } }, data, 1, display)).toEqual({ mode: 'fixed', low: 150, high: 250 });
  });
});
