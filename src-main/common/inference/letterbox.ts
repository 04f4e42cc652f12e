import type { LetterboxAlign } from './types';

/**
 * How an image of `srcW` x `srcH` (oriented pixels) maps into a network input of `dstW` x `dstH`:
 * input = image * scale + pad. A letterbox keeps the aspect ratio (scaleX === scaleY); a stretch
 * does not and has no padding.
 */
export interface LetterboxGeometry {
  srcW: number;
  srcH: number;
  dstW: number;
  dstH: number;
  /** Size of the resized image inside the input. */
  newW: number;
  newH: number;
  scaleX: number;
  scaleY: number;
  padLeft: number;
  padTop: number;
}

export function letterboxGeometry(
  srcW: number,
  srcH: number,
  dstW: number,
  dstH: number,
  mode: 'letterbox' | 'stretch' = 'letterbox',
  align: LetterboxAlign = 'center',
): LetterboxGeometry {
  if (!(srcW > 0 && srcH > 0 && dstW > 0 && dstH > 0)) throw new RangeError(`cannot letterbox ${srcW}x${srcH} into ${dstW}x${dstH}`);
  if (mode === 'stretch') {
    return { srcW, srcH, dstW, dstH, newW: dstW, newH: dstH, scaleX: dstW / srcW, scaleY: dstH / srcH, padLeft: 0, padTop: 0 };
  }
  const r = Math.min(dstW / srcW, dstH / srcH);
  // The resized size as each reference computes it: Ultralytics' LetterBox (centred) rounds with
  // Python's round(), half to even (212.5 -> 212); YOLOX's preproc (top-left) truncates with int().
  const size = align === 'topleft' ? Math.floor : roundHalfEven;
  const newW = Math.max(1, Math.min(dstW, size(srcW * r)));
  const newH = Math.max(1, Math.min(dstH, size(srcH * r)));
  // Ultralytics splits odd padding as round(d/2 - 0.1) before and the rest after; matching it
  // keeps boxes identical to the reference pipeline to the pixel.
  // `|| 0` turns round(-0.1) = -0 into 0.
  const padLeft = align === 'center' ? Math.round((dstW - newW) / 2 - 0.1) || 0 : 0;
  const padTop = align === 'center' ? Math.round((dstH - newH) / 2 - 0.1) || 0 : 0;
  // The effective scale is the one actually applied after rounding the resized size.
  return { srcW, srcH, dstW, dstH, newW, newH, scaleX: newW / srcW, scaleY: newH / srcH, padLeft, padTop };
}

/** Python's round() of a float: to the nearest integer, a tie to the even one. */
export function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d !== 0.5) return d < 0.5 ? f : f + 1;
  return f % 2 === 0 ? f : f + 1;
}

/** An x1,y1,x2,y2 box in input pixels back to image pixels, clipped to the image. */
export function inputBoxToImage(g: LetterboxGeometry, x1: number, y1: number, x2: number, y2: number): { x1: number; y1: number; x2: number; y2: number } {
  const clip = (v: number, max: number): number => (v < 0 ? 0 : v > max ? max : v);
  return {
    x1: clip((x1 - g.padLeft) / g.scaleX, g.srcW),
    y1: clip((y1 - g.padTop) / g.scaleY, g.srcH),
    x2: clip((x2 - g.padLeft) / g.scaleX, g.srcW),
    y2: clip((y2 - g.padTop) / g.scaleY, g.srcH),
  };
}
