/**
 * Display windows for images deeper than 8 bits: which input range maps to black..white.
 * Without a window, a 16-bit image that uses only 0..235 (common in fluorescence microscopy)
 * would be divided by 257 and shown black.
 */
export interface DisplayWindow {
  low: number;
  high: number;
}

/**
 * The automatic window: the 0.5 and 99.5 percentiles of all samples (alpha excluded), found
 * with a histogram so it costs one pass over the pixels.
 */
export function percentileWindow(
  samples: Uint16Array,
  channels: number,
  lowPct = 0.5,
  highPct = 99.5,
): DisplayWindow {
  const colour = channels === 2 || channels === 4 ? channels - 1 : channels;
  const hist = new Uint32Array(65536);
  let n = 0;
  for (let i = 0; i < samples.length; i += channels) {
    for (let c = 0; c < colour; c++) hist[samples[i + c]!]!++;
    n += colour;
  }
  if (n === 0) return { low: 0, high: 65535 };
  const lowRank = Math.floor((lowPct / 100) * (n - 1));
  const highRank = Math.ceil((highPct / 100) * (n - 1));
  let low = 0;
  let high = 65535;
  let seen = 0;
  let lowFound = false;
  for (let v = 0; v < 65536; v++) {
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
  if (high <= low) high = low + 1;
  return { low, high };
}

/** Maps samples through the window to 8 bits; alpha is scaled linearly instead. */
export function applyWindow(samples: Uint16Array, channels: number, w: DisplayWindow): Uint8Array {
  const out = new Uint8Array(samples.length);
  const scale = 255 / (w.high - w.low);
  const hasAlpha = channels === 2 || channels === 4;
  for (let i = 0; i < samples.length; i++) {
    const v = samples[i]!;
    if (hasAlpha && i % channels === channels - 1) {
      out[i] = v >> 8;
      continue;
    }
    const s = (v - w.low) * scale;
    out[i] = s <= 0 ? 0 : s >= 255 ? 255 : Math.round(s);
  }
  return out;
}
