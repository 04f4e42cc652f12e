import type { HighBitDepthMode, ModelManifest } from './types';

/**
 * What a model sees of an image deeper than 8 bits: the sample range [low, high] that becomes
 * 0..255 of the model input. Which range is the manifest's `highBitDepth` rule:
 * - 'window' (default): the image's display window, the one the labeler looks at (a remembered
 *   window when the caller has one, else the automatic 0.5-99.5 % percentile window);
 * - 'fixed': the manifest's `window` {center, width}; without one, the whole sample range of the
 *   type (0..65535 for 16-bit);
 * - 'minmax': the image's lowest to highest sample.
 */
export interface InputWindow {
  mode: HighBitDepthMode;
  low: number;
  high: number;
}

type Samples = Uint8Array | Uint16Array | Float32Array;

/** Colour samples only: the last channel of 2 or 4 is alpha. */
function colourChannels(channels: number): number {
  return channels === 2 || channels === 4 ? channels - 1 : channels;
}

export function minMaxWindow(data: Samples, channels: number): { low: number; high: number } {
  const colour = colourChannels(channels);
  let low = Infinity, high = -Infinity;
  for (let i = 0; i < data.length; i += channels) {
    for (let c = 0; c < colour; c++) {
      const v = data[i + c]!;
      if (v < low) low = v;
      if (v > high) high = v;
    }
  }
  if (low === Infinity) return { low: 0, high: 1 };
  return { low, high: high > low ? high : low + 1 };
}

/**
 * The 0.5 and 99.5 percentiles of the colour samples. Integer samples use a histogram (exact,
 * the same ranks as the viewer's automatic window); float samples a sorted subsample of at most
 * a million values.
 */
export function percentileWindow(data: Samples, channels: number, lowPct = 0.5, highPct = 99.5): { low: number; high: number } {
  const colour = colourChannels(channels);
  if (!(data instanceof Float32Array)) {
    const hist = new Uint32Array(data instanceof Uint8Array ? 256 : 65536);
    let n = 0;
    for (let i = 0; i < data.length; i += channels) {
      for (let c = 0; c < colour; c++) hist[data[i + c]!]!++;
      n += colour;
    }
    if (n === 0) return { low: 0, high: hist.length - 1 };
    const lowRank = Math.floor((lowPct / 100) * (n - 1));
    const highRank = Math.ceil((highPct / 100) * (n - 1));
    let low = 0, high = hist.length - 1, seen = 0, lowFound = false;
    for (let v = 0; v < hist.length; v++) {
      seen += hist[v]!;
      if (!lowFound && seen > lowRank) {
        low = v;
        lowFound = true;
      }
      if (seen > highRank) {
        high = v;
        break;
      }
    }
    return { low, high: high > low ? high : low + 1 };
  }
  const pixels = data.length / channels;
  const step = Math.max(1, Math.ceil((pixels * colour) / 1_000_000));
  const picked: number[] = [];
  for (let p = 0; p < pixels; p += step) for (let c = 0; c < colour; c++) picked.push(data[p * channels + c]!);
  if (picked.length === 0) return { low: 0, high: 1 };
  const sorted = Float64Array.from(picked).sort();
  const low = sorted[Math.floor((lowPct / 100) * (sorted.length - 1))]!;
  const high = sorted[Math.ceil((highPct / 100) * (sorted.length - 1))]!;
  return { low, high: high > low ? high : low + 1 };
}

/**
 * The input window for an image's samples under the manifest's rule. `display` is the image's
 * current display window when the caller knows one; the 'window' rule falls back to the
 * percentile window without it.
 */
export function modelInputWindow(m: Pick<ModelManifest, 'highBitDepth' | 'window'>, data: Samples, channels: number, display?: { low: number; high: number } | null): InputWindow {
  const mode = m.highBitDepth ?? 'window';
  if (mode === 'fixed') {
    if (m.window) return { mode, low: m.window.center - m.window.width / 2, high: m.window.center + m.window.width / 2 };
    if (data instanceof Uint16Array) return { mode, low: 0, high: 65535 };
    if (data instanceof Uint8Array) return { mode, low: 0, high: 255 };
    return { mode, ...minMaxWindow(data, channels) };
  }
  if (mode === 'minmax') return { mode, ...minMaxWindow(data, channels) };
  return { mode, ...(display ?? percentileWindow(data, channels)) };
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
