/**
 * Display adjustments of an image on screen (brightness, contrast, gamma, invert, channels):
 * applied to the 8-bit RGB pixels the viewer draws (after the display window of a high-bit-depth
 * image) through one lookup table per channel, so the result is exact and the same on every tile.
 * Annotations, exports and models never see them.
 */
export interface DisplaySettings {
  /** Added to the value, in percent of the full range: -100..100. */
  brightness: number;
  /** Slope around mid-grey, 2^(contrast / 50): -100 gives ¼, 0 leaves it, 100 gives 4. */
  contrast: number;
  /** Output = input^(1 / gamma): above 1 brightens the mid-tones. 0.1..10. */
  gamma: number;
  invert: boolean;
  /** Whether red, green and blue (the first three bands) are shown; a hidden one is drawn 0. */
  channels: [boolean, boolean, boolean];
}

export const DEFAULT_DISPLAY: DisplaySettings = Object.freeze({
  brightness: 0,
  contrast: 0,
  gamma: 1,
  invert: false,
  channels: Object.freeze([true, true, true]) as unknown as [boolean, boolean, boolean],
}) as DisplaySettings;

/** Where the settings an image is shown with come from: its own, the dataset's default, none. */
export type DisplaySource = 'image' | 'dataset' | 'default';

export interface DisplayInfo {
  imageId: number;
  settings: DisplaySettings;
  source: DisplaySource;
}

export function isIdentityDisplay(s: DisplaySettings): boolean {
  return s.brightness === 0 && s.contrast === 0 && s.gamma === 1 && !s.invert && s.channels.every(Boolean);
}

/** The output of one 8-bit value (0..255) for one channel, before hiding. */
export function displayValue(s: DisplaySettings, v: number): number {
  let x = v / 255;
  x = (x - 0.5) * Math.pow(2, s.contrast / 50) + 0.5 + s.brightness / 100;
  x = Math.min(1, Math.max(0, x));
  if (s.gamma !== 1) x = Math.pow(x, 1 / s.gamma);
  if (s.invert) x = 1 - x;
  return Math.round(x * 255);
}

/** One 256-entry table per channel (R, G, B): a hidden channel maps everything to 0. */
export function displayLuts(s: DisplaySettings): [Uint8Array, Uint8Array, Uint8Array] {
  const base = new Uint8Array(256);
  for (let v = 0; v < 256; v++) base[v] = displayValue(s, v);
  const zero = new Uint8Array(256);
  return [s.channels[0] ? base : zero, s.channels[1] ? base : zero, s.channels[2] ? base.slice() : zero];
}

/** Applies the tables to RGBA pixels (canvas ImageData) in place; alpha is kept. */
export function applyDisplayLuts(rgba: Uint8ClampedArray | Uint8Array, luts: readonly [Uint8Array, Uint8Array, Uint8Array]): void {
  const [r, g, b] = luts;
  for (let i = 0; i + 3 < rgba.length; i += 4) {
    rgba[i] = r[rgba[i]!]!;
    rgba[i + 1] = g[rgba[i + 1]!]!;
    rgba[i + 2] = b[rgba[i + 2]!]!;
  }
}

/**
 * Histograms of RGBA pixels, 256 bins per channel, over pixels that are not transparent
 * (nodata). `grey` is true when every such pixel has R = G = B: one histogram says it all.
 */
export function rgbaHistogram(rgba: Uint8ClampedArray | Uint8Array): { bins: [Uint32Array, Uint32Array, Uint32Array]; grey: boolean; pixels: number } {
  const r = new Uint32Array(256), g = new Uint32Array(256), b = new Uint32Array(256);
  let grey = true;
  let pixels = 0;
  for (let i = 0; i + 3 < rgba.length; i += 4) {
    if (rgba[i + 3] === 0) continue;
    const R = rgba[i]!, G = rgba[i + 1]!, B = rgba[i + 2]!;
    r[R]!++;
    g[G]!++;
    b[B]!++;
    if (R !== G || G !== B) grey = false;
    pixels++;
  }
  return { bins: [r, g, b], grey, pixels };
}
