import { applyDisplayLuts } from '../../src-main/common/imaging/display';

export type DisplayLuts = readonly [Uint8Array, Uint8Array, Uint8Array];

/**
 * Puts the pixels of a drawn layer canvas through the display lookup tables, in place. The
 * layer holds only the image (plain or tiles), so what is read back from it is what is shown.
 */
export function applyDisplayToLayer(canvas: HTMLCanvasElement, luts: DisplayLuts): void {
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  if (!ctx || canvas.width === 0 || canvas.height === 0) return;
  const data = ctx.getImageData(0, 0, canvas.width, canvas.height);
  applyDisplayLuts(data.data, luts);
  ctx.putImageData(data, 0, 0);
}

/** The pixels of an image (or the image at a URL), reduced to fit `maxSide`. */
export async function sourcePixels(src: HTMLImageElement | string, maxSide: number): Promise<ImageData | null> {
  let img: HTMLImageElement;
  if (typeof src === 'string') {
    img = new Image();
    img.src = src;
    try {
      await img.decode();
    } catch {
      return null;
    }
  } else img = src;
  const w0 = img.naturalWidth, h0 = img.naturalHeight;
  if (!w0 || !h0) return null;
  const s = Math.min(1, maxSide / Math.max(w0, h0));
  const w = Math.max(1, Math.round(w0 * s)), h = Math.max(1, Math.round(h0 * s));
  const canvas = document.createElement('canvas');
  canvas.width = w;
  canvas.height = h;
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  if (!ctx) return null;
  ctx.drawImage(img, 0, 0, w, h);
  return ctx.getImageData(0, 0, w, h);
}

/** A canvas holding the image put through the tables; null when a canvas cannot be had. */
export function adjustedCopy(img: HTMLImageElement, luts: DisplayLuts): HTMLCanvasElement | null {
  const canvas = document.createElement('canvas');
  canvas.width = img.naturalWidth;
  canvas.height = img.naturalHeight;
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  if (!ctx || canvas.width === 0 || canvas.height === 0) return null;
  ctx.drawImage(img, 0, 0);
  const data = ctx.getImageData(0, 0, canvas.width, canvas.height);
  applyDisplayLuts(data.data, luts);
  ctx.putImageData(data, 0, 0);
  return canvas;
}
