import { colourChannels, minMaxRange, percentileRange, sampleRangeOf, type SampleRange } from '../imaging/window';
import type { HighBitDepthMode, ModelManifest } from './types';

/**
 * What a model sees of an image deeper than 8 bits: the sample range [low, high] that becomes
 * 0..255 of the model input. Which range is the manifest's `highBitDepth` rule:
 * - 'window' (default): the image's display window, the one the labeler looks at (a remembered
 *   window when the caller has one, else the viewer's automatic 0.5-99.5 % percentile window,
 *   common/imaging/window.ts percentileRange);
 * - 'fixed': the manifest's `window` {center, width}; without one, the whole sample range of the
 *   type (0..65535 for 16-bit);
 * - 'minmax': the image's lowest to highest sample.
 * A model that z-scores its input (`normalize: 'zscore'`) under the 'window' rule gets 'minmax':
 * its z-score is then that of the samples, not of a display window that clips and quantises them
 * (which would make the predictions follow the labeler's display contrast).
 */
export interface InputWindow {
  mode: HighBitDepthMode;
  low: number;
  high: number;
}

type Samples = Uint8Array | Uint16Array | Float32Array;

/**
 * The input window for an image's samples under the manifest's rule. `display` is the image's
 * current display window when the caller knows one; the 'window' rule falls back to the
 * percentile window without it. Samples equal to `nodata` or within `exclude` (DICOM padding,
 * CT's outside-the-scan value) are not image and stay out of the automatic and min-max windows,
 * as they do out of the viewer's.
 */
/** The rule a model's deep input follows: the manifest's, 'minmax' for a z-scoring model under 'window' (see above). */
export function inputWindowMode(m: Pick<ModelManifest, 'highBitDepth' | 'normalize'>): HighBitDepthMode {
  const mode = m.highBitDepth ?? 'window';
  return mode === 'window' && m.normalize === 'zscore' ? 'minmax' : mode;
}

export function modelInputWindow(
  m: Pick<ModelManifest, 'highBitDepth' | 'window' | 'normalize'>,
  data: Samples,
  channels: number,
  display?: { low: number; high: number } | null,
  nodata?: number | null,
  exclude?: SampleRange | null,
): InputWindow {
  const mode = inputWindowMode(m);
  if (mode === 'fixed') {
    if (m.window) return { mode, low: m.window.center - m.window.width / 2, high: m.window.center + m.window.width / 2 };
    if (data instanceof Uint16Array) return { mode, low: 0, high: 65535 };
    if (data instanceof Uint8Array) return { mode, low: 0, high: 255 };
    return { mode, ...minMaxRange(data, channels, nodata) };
  }
  if (mode === 'minmax') {
    const { low, high } = sampleRangeOf(data, channels, nodata, exclude);
    return { mode, low, high: high > low ? high : low + 1 };
  }
  return { mode, ...(display ?? percentileRange(data, channels, { nodata, exclude })) };
}

/**
 * Samples through a window to bytes (alpha dropped), optionally inverted (DICOM MONOCHROME1,
 * where the lowest value is white).
 */
export function windowToBytes(data: Samples, channels: number, w: { low: number; high: number }, invert = false): { data: Uint8Array; channels: 1 | 3 } {
  const colour = colourChannels(channels) as 1 | 3;
  const pixels = data.length / channels;
  const out = new Uint8Array(pixels * colour);
  const k = w.high > w.low ? 255 / (w.high - w.low) : 0;
  for (let p = 0, o = 0; p < pixels; p++) {
    for (let c = 0; c < colour; c++, o++) {
      const s = (data[p * channels + c]! - w.low) * k;
      const v = s <= 0 ? 0 : s >= 255 ? 255 : Math.round(s);
      out[o] = invert ? 255 - v : v;
    }
  }
  return { data: out, channels: colour };
}
