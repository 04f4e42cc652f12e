import type { Geometry } from '../../src-main/common/model';
import { rleBBox } from '../../src-main/common/geometry/rle';
import type { Rect } from '../../src-main/common/geometry/shapes';

type MaskGeometry = Extract<Geometry, { kind: 'mask' }>;

/** A mask painted once into a canvas the size of its set pixels' bounds, placed at `rect` in image pixels. */
export interface MaskRaster {
  canvas: HTMLCanvasElement;
  rect: Rect;
}

export const MASK_ALPHA = 0.4;
const PREDICTION_MASK_ALPHA = 0.25;

/**
 * Paints a column-major RLE mask (COCO order) straight into RGBA pixels of the class colour,
 * cropped to the set pixels' bounds. The runs are walked here rather than through decodeMask:
 * its full-size row-major intermediate (12 MB for 4000x3000) would only be read once more to
 * colour it. Returns null for an empty mask.
 */
export function rasterizeMask(g: MaskGeometry, color: string, prediction: boolean): MaskRaster | null {
  const [h] = g.rle.size;
  const counts = g.rle.counts;
  const box = rleBBox(g.rle);
  if (box.w === 0 || box.h === 0) return null;
  const x0 = box.x;
  const y0 = box.y;
  const bw = box.w;
  const bh = box.h;
  const canvas = document.createElement('canvas');
  canvas.width = bw;
  canvas.height = bh;
  const ctx = canvas.getContext('2d');
  if (!ctx) return null;
  const img = ctx.createImageData(bw, bh);
  const px = new Uint32Array(img.data.buffer);
  const value = packRgba(color, prediction ? PREDICTION_MASK_ALPHA : MASK_ALPHA);
  let pos = 0;
  for (let i = 0; i < counts.length; i++) {
    const run = counts[i]!;
    if (i & 1) {
      // A run walks down one column, wrapping to the top of the next.
      let x = Math.floor(pos / h);
      let y = pos - x * h;
      for (let left = run; left > 0; ) {
        const n = Math.min(left, h - y);
        let at = (y - y0) * bw + (x - x0);
        for (let k = 0; k < n; k++, at += bw) px[at] = value;
        left -= n;
        x++;
        y = 0;
      }
    }
    pos += run;
  }
  ctx.putImageData(img, 0, 0);
  return { canvas, rect: box };
}

/** #rrggbb and an alpha as one little-endian RGBA word, premultiplication left to the canvas. */
function packRgba(color: string, alpha: number): number {
  const m = /^#?([0-9a-f]{6})$/i.exec(color);
  const rgb = m ? parseInt(m[1]!, 16) : 0x888888;
  const r = (rgb >> 16) & 255;
  const g = (rgb >> 8) & 255;
  const b = rgb & 255;
  const a = Math.round(alpha * 255);
  return ((a << 24) | (b << 16) | (g << 8) | r) >>> 0;
}
