/**
 * Display windows (DICOM "VOI LUT" windows, window/level) as pure functions: which sample
 * values map to black..white when a high-bit-depth image is shown on an 8-bit screen.
 */

/** A window as DICOM states it: WindowCenter (level) and WindowWidth, in modality units. */
export interface VoiWindow {
  center: number;
  width: number;
}

/** A named window: a file's own preset or a standard one. */
export interface NamedWindow extends VoiWindow {
  name: string;
}

/**
 * Standard CT windows in Hounsfield units (center/width), as used by radiology viewers and
 * teaching material (e.g. Radiopaedia's "Windowing (CT)" article; the same values ship as
 * presets in OHIF/Cornerstone): lung -600/1500, mediastinum 50/350, bone 400/1800, brain 40/80,
 * abdomen (soft tissue) 40/400.
 */
export const CT_PRESETS: readonly NamedWindow[] = [
  { name: 'Lung', center: -600, width: 1500 },
  { name: 'Mediastinum', center: 50, width: 350 },
  { name: 'Bone', center: 400, width: 1800 },
  { name: 'Brain', center: 40, width: 80 },
  { name: 'Abdomen', center: 40, width: 400 },
];

/** Narrowest window accepted: DICOM requires WindowWidth >= 1. */
export const MIN_WIDTH = 1;

/**
 * The DICOM linear VOI function (PS3.3 C.11.2.1.2.1) scaled to 0..1:
 * x <= c - 0.5 - (w-1)/2 gives 0, x > c - 0.5 + (w-1)/2 gives 1, linear in between.
 */
export function voiLinear(x: number, win: VoiWindow): number {
  const w = Math.max(MIN_WIDTH, win.width);
  const c = win.center - 0.5;
  const half = (w - 1) / 2;
  if (x <= c - half) return 0;
  if (x > c + half) return 1;
  return w === 1 ? 1 : (x - c) / (w - 1) + 0.5;
}

/** The window whose linear VOI function maps `low` to black and `high` to white. */
export function windowFromRange(low: number, high: number): VoiWindow {
  const hi = high > low ? high : low + 1;
  return { center: (low + hi) / 2 + 0.5, width: hi - low + 1 };
}

/** The sample range [low, high] that a window spreads over black..white (inverse of windowFromRange). */
export function rangeOfWindow(win: VoiWindow): { low: number; high: number } {
  const w = Math.max(MIN_WIDTH, win.width);
  return { low: win.center - 0.5 - (w - 1) / 2, high: win.center - 0.5 + (w - 1) / 2 };
}

/**
 * Maps samples through a window to 8-bit display values. `channels` says how samples are
 * interleaved; a 4th channel is alpha and is scaled from the sample range instead. With `invert`
 * (DICOM MONOCHROME1) the lowest values are white.
 */
export function applyVoi(
  data: ArrayLike<number>,
  channels: number,
  win: VoiWindow,
  opts: { invert?: boolean; alphaMax?: number } = {},
): Uint8Array {
  const out = new Uint8Array(data.length);
  const w = Math.max(MIN_WIDTH, win.width);
  const c = win.center - 0.5;
  const lo = c - (w - 1) / 2;
  const hi = c + (w - 1) / 2;
  const scale = w === 1 ? 0 : 255 / (w - 1);
  const invert = opts.invert === true;
  const alpha = channels === 4 || channels === 2;
  const alphaScale = 255 / (opts.alphaMax ?? 255);
  for (let i = 0; i < data.length; i++) {
    const x = data[i]!;
    if (alpha && i % channels === channels - 1) {
      out[i] = Math.min(255, Math.round(x * alphaScale));
      continue;
    }
    let y: number;
    if (x <= lo) y = 0;
    else if (x > hi) y = 255;
    else y = w === 1 ? 255 : Math.round((x - c) * scale + 127.5);
    out[i] = invert ? 255 - y : y;
  }
  return out;
}

/** A sample range [low, high]: the values that map to black and white. */
export interface SampleRange {
  low: number;
  high: number;
}

/** How many of the interleaved channels are colour: the last of 2 or 4 is alpha. */
export function colourChannels(channels: number): number {
  return channels === 2 || channels === 4 ? channels - 1 : channels;
}

/**
 * A value to compare samples of `data` with, as the array stores it: a Float32Array holds float32
 * values, so a value computed in double precision (a rescaled padding value, a nodata of 0.1)
 * is rounded to float32 first, or an exact comparison with the samples would miss it.
 */
function asStored(data: ArrayLike<number>, v: number): number {
  return data instanceof Float32Array ? Math.fround(v) : v;
}

/**
 * Smallest and largest colour sample (alpha, NaN, `nodata` and samples within `exclude` left out),
 * and whether every one is a whole number; null when there are none.
 */
function extent(data: ArrayLike<number>, channels: number, nodata?: number | null, exclude?: SampleRange | null): (SampleRange & { integer: boolean }) | null {
  const colour = colourChannels(channels);
  const skip = asStored(data, nodata ?? NaN);
  const exLow = asStored(data, exclude?.low ?? NaN);
  const exHigh = asStored(data, exclude?.high ?? NaN);
  // Integer typed arrays hold whole numbers; float arrays are checked sample by sample.
  let integer = true;
  let check = !ArrayBuffer.isView(data) || data instanceof Float32Array || data instanceof Float64Array;
  let low = Infinity;
  let high = -Infinity;
  for (let i = 0; i < data.length; i += channels) {
    for (let k = 0; k < colour; k++) {
      const v = data[i + k]!;
      if (v === skip || (v >= exLow && v <= exHigh)) continue;
      if (v < low) low = v;
      if (v > high) high = v;
      if (check && Math.floor(v) !== v && v === v) {
        integer = false;
        check = false;
      }
    }
  }
  if (!Number.isFinite(low)) return null;
  return { low, high, integer };
}

/**
 * Smallest and largest colour sample (alpha excluded), possibly equal; 0..1 without samples.
 * Samples equal to `nodata` (a GeoTIFF's GDAL_NODATA) or within `exclude` (DICOM padding) are left out.
 */
export function sampleRangeOf(data: ArrayLike<number>, channels: number, nodata?: number | null, exclude?: SampleRange | null): SampleRange {
  const span = extent(data, channels, nodata, exclude);
  return span ? { low: span.low, high: span.high } : { low: 0, high: 1 };
}

/** The min-max window: lowest to highest colour sample (nodata left out), at least one unit wide. */
export function minMaxRange(data: ArrayLike<number>, channels: number, nodata?: number | null): SampleRange {
  const { low, high } = sampleRangeOf(data, channels, nodata);
  return { low, high: high > low ? high : low + 1 };
}

/** Which percentiles the automatic window spans, and a sample value to leave out. */
export interface PercentileOptions {
  /** Percentile mapped to black; 0.5 by default. */
  lowPct?: number;
  /** Percentile mapped to white; 99.5 by default. */
  highPct?: number;
  /** A value that marks "no data" (a GeoTIFF's GDAL_NODATA): such samples are not counted. */
  nodata?: number | null;
  /** Sample values that are not image (DICOM pixel padding, CT's outside-the-scan value): not counted. */
  exclude?: SampleRange | null;
}

/**
 * The automatic window as a sample range: the 0.5 and 99.5 percentiles of the colour samples
 * (alpha, NaN and `nodata` excluded), at ranks floor/ceil of pct * (n - 1), at least one unit
 * wide. Integer data with a range up to 65,536 values is counted exactly in a histogram; wider or
 * fractional data is binned into 65,536 equal steps over its range (a value stands for its bin's
 * lower edge, so the result is within range / 65,535 of the exact percentile).
 */
export function percentileRange(data: ArrayLike<number>, channels: number, opts: PercentileOptions = {}): SampleRange {
  const { lowPct = 0.5, highPct = 99.5, nodata, exclude } = opts;
  const span = extent(data, channels, nodata, exclude);
  if (!span) return { low: 0, high: 1 };
  const { low: min, high: max } = span;
  if (max === min) return { low: min, high: min + 1 };
  const colour = colourChannels(channels);
  const skip = asStored(data, nodata ?? NaN);
  const exLow = asStored(data, exclude?.low ?? NaN);
  const exHigh = asStored(data, exclude?.high ?? NaN);
  const bins = 65536;
  const step = span.integer && max - min < bins ? 1 : (max - min) / (bins - 1);
  const hist = new Uint32Array(bins);
  let n = 0;
  for (let i = 0; i < data.length; i += channels) {
    for (let k = 0; k < colour; k++) {
      const v = data[i + k]!;
      if (v !== v || v === skip || (v >= exLow && v <= exHigh)) continue;
      hist[Math.min(bins - 1, Math.floor((v - min) / step))]!++;
      n++;
    }
  }
  const lowRank = Math.floor((lowPct / 100) * (n - 1));
  const highRank = Math.ceil((highPct / 100) * (n - 1));
  let low = min;
  let high = max;
  let seen = 0;
  let lowFound = false;
  for (let b = 0; b < bins; b++) {
    seen += hist[b]!;
    if (!lowFound && seen > lowRank) {
      low = min + b * step;
      lowFound = true;
    }
    if (seen > highRank) {
      high = min + b * step;
      break;
    }
  }
  return { low, high: high > low ? high : low + 1 };
}

/** When the smallest sample counts as a fill value rather than image (see minimumRun). */
export interface MinimumRunOptions {
  /** Least share of the colour samples that hold the smallest value; 0.005 (0.5 %) by default. */
  minShare?: number;
  /** Least gap from it to the next smallest value, as a share of the rest's range; 0.02 by default. */
  minGap?: number;
  nodata?: number | null;
}

/**
 * A fill value at the bottom of the range: the smallest sample, when at least `minShare` of the
 * samples hold it and the next smallest value lies more than `minGap` of the remaining range
 * above it. That is how CT marks the area outside the reconstructed field of view (e.g. -2000
 * or -3024) when the file states no Pixel Padding Value; counted in an automatic window, it
 * stretches the window over a value no pixel of the scan has and washes the image out. Air
 * clamped at the bottom of the scale (e.g. -1024 HU) continues into the values above it and is
 * not such a run. Null when there is none.
 */
export function minimumRun(data: ArrayLike<number>, channels: number, opts: MinimumRunOptions = {}): number | null {
  const { minShare = 0.005, minGap = 0.02, nodata } = opts;
  const colour = colourChannels(channels);
  const skip = asStored(data, nodata ?? NaN);
  let min = Infinity;
  let next = Infinity;
  let max = -Infinity;
  let atMin = 0;
  let n = 0;
  for (let i = 0; i < data.length; i += channels) {
    for (let k = 0; k < colour; k++) {
      const v = data[i + k]!;
      if (v !== v || v === skip) continue;
      n++;
      if (v > max) max = v;
      if (v < min) {
        next = min;
        min = v;
        atMin = 1;
      } else if (v === min) atMin++;
      else if (v < next) next = v;
    }
  }
  if (n === 0 || !Number.isFinite(next) || atMin < minShare * n) return null;
  return next - min > minGap * (max - next) ? min : null;
}

/** The automatic window (see percentileRange) as a DICOM center/width window. */
export function percentileWindowOf(data: ArrayLike<number>, channels: number, opts: PercentileOptions = {}): VoiWindow {
  const { low, high } = percentileRange(data, channels, opts);
  return windowFromRange(low, high);
}

/** A window moved by a right-drag: horizontal motion changes the width, vertical the center. */
export function dragWindow(start: VoiWindow, dx: number, dy: number, unitsPerPixel: number): VoiWindow {
  return {
    center: start.center + dy * unitsPerPixel,
    width: Math.max(MIN_WIDTH, start.width + dx * unitsPerPixel),
  };
}

/** How many sample units one pixel of drag is worth: a full sweep of ~500 px covers the range. */
export function dragSensitivity(range: { low: number; high: number }): number {
  return Math.max((range.high - range.low) / 500, 0.01);
}
