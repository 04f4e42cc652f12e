import { encodeMask, type Rle } from '../geometry';
import type { CoefficientReader } from './decode';
import type { LetterboxGeometry } from './letterbox';
import type { OutputTensor } from './types';

/**
 * Instance masks the way Ultralytics' process_mask builds them (coefficients x prototypes,
 * sigmoid, crop to the box, bilinear upsample, threshold 0.5), but sampled directly at each image
 * pixel inside the box: the full-resolution mask is never built, and only prototype cells under
 * the box are computed.
 */
export class MaskAssembler {
  private readonly buffer: Uint8Array;
  private readonly nm: number;
  private readonly ph: number;
  private readonly pw: number;

  constructor(
    private readonly protos: OutputTensor,
    private readonly g: LetterboxGeometry,
  ) {
    if (protos.dims.length !== 4) throw new RangeError(`prototypes must be [1, nm, h, w], got [${protos.dims.join(', ')}]`);
    this.nm = protos.dims[1]!;
    this.ph = protos.dims[2]!;
    this.pw = protos.dims[3]!;
    this.buffer = new Uint8Array(g.srcW * g.srcH);
  }

  /** Mask of candidate `row`, cropped to the image-pixel box x1,y1,x2,y2, as COCO RLE. */
  mask(row: number, coefficient: CoefficientReader, box: { x1: number; y1: number; x2: number; y2: number }): Rle {
    const { g, nm, ph, pw } = this;
    const W = g.srcW, H = g.srcH;
    // Pixel x is inside when x1 <= x < x2 (Ultralytics' crop_mask compares pixel indices).
    const xs = Math.max(0, Math.ceil(box.x1)), xe = Math.min(W, Math.ceil(box.x2));
    const ys = Math.max(0, Math.ceil(box.y1)), ye = Math.min(H, Math.ceil(box.y2));
    if (xe <= xs || ye <= ys) return { size: [H, W], counts: [W * H] };
    // Prototype coordinates of an image pixel centre (half-pixel convention of align_corners=false).
    const kx = pw / g.dstW, ky = ph / g.dstH;
    const toPx = (x: number): number => ((x + 0.5) * g.scaleX + g.padLeft) * kx - 0.5;
    const toPy = (y: number): number => ((y + 0.5) * g.scaleY + g.padTop) * ky - 0.5;
    const px0 = Math.max(0, Math.floor(toPx(xs))), px1 = Math.min(pw - 1, Math.ceil(toPx(xe - 1)) + 1);
    const py0 = Math.max(0, Math.floor(toPy(ys))), py1 = Math.min(ph - 1, Math.ceil(toPy(ye - 1)) + 1);
    const rw = px1 - px0 + 1, rh = py1 - py0 + 1;
    const prob = new Float32Array(rw * rh);
    const coeffs = new Float32Array(nm);
    for (let k = 0; k < nm; k++) coeffs[k] = coefficient(row, k);
    const P = this.protos.data;
    const plane = ph * pw;
    for (let y = 0; y < rh; y++) {
      for (let x = 0; x < rw; x++) {
        const at = (py0 + y) * pw + px0 + x;
        let s = 0;
        for (let k = 0; k < nm; k++) s += coeffs[k]! * P[k * plane + at]!;
        prob[y * rw + x] = 1 / (1 + Math.exp(-s));
      }
    }
    const buf = this.buffer;
    for (let y = ys; y < ye; y++) {
      let fy = toPy(y);
      fy = fy < 0 ? 0 : fy > ph - 1 ? ph - 1 : fy;
      const y0 = Math.min(Math.floor(fy), py1) - py0;
      const y1 = Math.min(y0 + 1, rh - 1);
      const wy = fy - (y0 + py0);
      for (let x = xs; x < xe; x++) {
        let fx = toPx(x);
        fx = fx < 0 ? 0 : fx > pw - 1 ? pw - 1 : fx;
        const x0 = Math.min(Math.floor(fx), px1) - px0;
        const x1 = Math.min(x0 + 1, rw - 1);
        const wx = fx - (x0 + px0);
        const top = prob[y0 * rw + x0]! * (1 - wx) + prob[y0 * rw + x1]! * wx;
        const bottom = prob[y1 * rw + x0]! * (1 - wx) + prob[y1 * rw + x1]! * wx;
        buf[y * W + x] = top * (1 - wy) + bottom * wy > 0.5 ? 1 : 0;
      }
    }
    const rle = encodeMask(buf, W, H);
    for (let y = ys; y < ye; y++) buf.fill(0, y * W + xs, y * W + xe);
    return rle;
  }
}
