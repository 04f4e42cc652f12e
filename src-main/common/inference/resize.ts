/**
 * Bilinear resize of interleaved pixels as OpenCV's `cv2.resize(img, (dw, dh),
 * interpolation=cv2.INTER_LINEAR)` computes it, the resize of the Ultralytics and YOLOX reference
 * preprocessing: each output pixel samples the source at (d + 0.5) * (src / dst) - 0.5 from its
 * two nearest pixels per axis, clamped at the borders, with no antialiasing when shrinking.
 *
 * 8-bit pixels follow OpenCV's fixed-point arithmetic (11-bit weights, the horizontal pass in
 * integers, the vertical pass rounded as its SIMD code does), and an exact 2x reduction is the
 * rounded mean of 2x2 blocks, as OpenCV switches to INTER_AREA there: on the test images the
 * result equals OpenCV 4.6's (x86) bit for bit. 16-bit pixels are interpolated in floating point
 * and rounded, as OpenCV does for them.
 */

const COEF_BITS = 11;
const COEF_SCALE = 1 << COEF_BITS;

/** Round half to even, as the x86 conversion OpenCV's cvRound uses. */
function rint(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d !== 0.5) return d < 0.5 ? f : f + 1;
  return f % 2 === 0 ? f : f + 1;
}

interface Taps {
  /** Source index (pixels) of the first and second tap of each output position. */
  i0: Int32Array;
  i1: Int32Array;
  /** Weight of the second tap, 0..1, as OpenCV's single-precision value. */
  f: Float32Array;
}

/**
 * Sample positions along one axis. Columns beyond the borders take the border pixel alone (weight
 * 0); rows keep their weight and read the border row twice, as OpenCV does.
 */
function taps(srcSize: number, dstSize: number, isRow: boolean): Taps {
  const scale = 1 / (dstSize / srcSize);
  const i0 = new Int32Array(dstSize);
  const i1 = new Int32Array(dstSize);
  const f = new Float32Array(dstSize);
  for (let d = 0; d < dstSize; d++) {
    let p = Math.fround((d + 0.5) * scale - 0.5);
    let s = Math.floor(p);
    p = Math.fround(p - s);
    if (isRow) {
      i0[d] = Math.min(srcSize - 1, Math.max(0, s));
      i1[d] = Math.min(srcSize - 1, Math.max(0, s + 1));
    } else {
      if (s < 0) (s = 0), (p = 0);
      if (s >= srcSize - 1) (s = srcSize - 1), (p = 0);
      i0[d] = s;
      i1[d] = Math.min(srcSize - 1, s + 1);
    }
    f[d] = p;
  }
  return { i0, i1, f };
}

const fixed = (f: Float32Array): { w0: Int32Array; w1: Int32Array } => {
  const w0 = new Int32Array(f.length);
  const w1 = new Int32Array(f.length);
  for (let i = 0; i < f.length; i++) {
    w0[i] = rint(Math.fround(1 - f[i]!) * COEF_SCALE);
    w1[i] = rint(f[i]! * COEF_SCALE);
  }
  return { w0, w1 };
};

function checkArgs(len: number, sw: number, sh: number, cn: number, dw: number, dh: number): void {
  if (!(sw >= 1 && sh >= 1 && dw >= 1 && dh >= 1 && cn >= 1) || len < sw * sh * cn) {
    throw new RangeError(`cannot resize ${sw}x${sh}x${cn} (${len} samples) to ${dw}x${dh}`);
  }
}

/** OpenCV's INTER_AREA for an exact 2x reduction: the rounded mean of each 2x2 block. */
function halve<T extends Uint8Array | Uint16Array>(src: T, sw: number, cn: number, dw: number, dh: number, out: T): T {
  const rowIn = sw * cn;
  const rowOut = dw * cn;
  for (let y = 0; y < dh; y++) {
    const a = 2 * y * rowIn;
    const b = a + rowIn;
    let o = y * rowOut;
    for (let x = 0; x < dw; x++) {
      const i = 2 * x * cn;
      for (let c = 0; c < cn; c++, o++) out[o] = (src[a + i + c]! + src[a + i + cn + c]! + src[b + i + c]! + src[b + i + cn + c]! + 2) >> 2;
    }
  }
  return out;
}

/** cv2.resize INTER_LINEAR of 8-bit interleaved pixels (`cn` samples per pixel, rows packed). */
export function resizeLinear8(src: Uint8Array, sw: number, sh: number, cn: number, dw: number, dh: number): Uint8Array {
  checkArgs(src.length, sw, sh, cn, dw, dh);
  if (sw === dw && sh === dh) return src.slice(0, sw * sh * cn);
  const out = new Uint8Array(dw * dh * cn);
  if (sw === 2 * dw && sh === 2 * dh) return halve(src, sw, cn, dw, dh, out);
  const xs = taps(sw, dw, false);
  const ys = taps(sh, dh, true);
  const xw = fixed(xs.f);
  const yw = fixed(ys.f);
  const W = dw * cn;
  // Per output pixel: the offsets of its two taps within a source row.
  const o0 = new Int32Array(dw);
  const o1 = new Int32Array(dw);
  for (let x = 0; x < dw; x++) {
    o0[x] = xs.i0[x]! * cn;
    o1[x] = xs.i1[x]! * cn;
  }
  const a0 = xw.w0;
  const a1 = xw.w1;
  if (cn === 3) {
    // The common case in one pass: both source rows resized horizontally and blended per sample.
    const rowIn = sw * 3;
    for (let y = 0; y < dh; y++) {
      const r0 = ys.i0[y]! * rowIn;
      const r1 = ys.i1[y]! * rowIn;
      const b0 = yw.w0[y]!;
      const b1 = yw.w1[y]!;
      for (let x = 0, o = y * W; x < dw; x++, o += 3) {
        const p = o0[x]!;
        const q = o1[x]!;
        const w0 = a0[x]!;
        const w1 = a1[x]!;
        // The three samples written out: a loop over them is measurably slower in V8.
        const ap = r0 + p, aq = r0 + q, bp = r1 + p, bq = r1 + q;
        const v0 = ((((((src[ap]! * w0 + src[aq]! * w1) >> 4) * b0) >> 16) + ((((src[bp]! * w0 + src[bq]! * w1) >> 4) * b1) >> 16) + 2) >> 2);
        const v1 = ((((((src[ap + 1]! * w0 + src[aq + 1]! * w1) >> 4) * b0) >> 16) + ((((src[bp + 1]! * w0 + src[bq + 1]! * w1) >> 4) * b1) >> 16) + 2) >> 2);
        const v2 = ((((((src[ap + 2]! * w0 + src[aq + 2]! * w1) >> 4) * b0) >> 16) + ((((src[bp + 2]! * w0 + src[bq + 2]! * w1) >> 4) * b1) >> 16) + 2) >> 2);
        out[o] = v0 > 255 ? 255 : v0;
        out[o + 1] = v1 > 255 ? 255 : v1;
        out[o + 2] = v2 > 255 ? 255 : v2;
      }
    }
    return out;
  }
  // The two horizontally resized source rows the current output row blends; consecutive output
  // rows often share them.
  let rowA = new Int32Array(W);
  let rowB = new Int32Array(W);
  let syA = -1;
  let syB = -1;
  const hresize = (sy: number, row: Int32Array): void => {
    const base = sy * sw * cn;
    for (let x = 0, k = 0; x < dw; x++) {
      const p = base + o0[x]!;
      const q = base + o1[x]!;
      for (let c = 0; c < cn; c++, k++) row[k] = src[p + c]! * a0[x]! + src[q + c]! * a1[x]!;
    }
  };
  for (let y = 0; y < dh; y++) {
    const s0 = ys.i0[y]!;
    const s1 = ys.i1[y]!;
    if (s0 !== syA) {
      if (s0 === syB) {
        const t = rowA;
        rowA = rowB;
        rowB = t;
        syA = s0;
        syB = -1;
      } else {
        hresize(s0, rowA);
        syA = s0;
      }
    }
    if (s1 !== syB) {
      if (s1 === syA) rowB.set(rowA);
      else hresize(s1, rowB);
      syB = s1;
    }
    const b0 = yw.w0[y]!;
    const b1 = yw.w1[y]!;
    // OpenCV's vector code: each row scaled down by 16 before the high half of a 16-bit
    // product, then (sum + 2) >> 2; it differs from exact rounding by at most 1.
    for (let x = 0, o = y * W; x < W; x++, o++) {
      const v = ((((rowA[x]! >> 4) * b0) >> 16) + (((rowB[x]! >> 4) * b1) >> 16) + 2) >> 2;
      out[o] = v > 255 ? 255 : v;
    }
  }
  return out;
}

/** cv2.resize INTER_LINEAR of 16-bit interleaved pixels: interpolated in floating point, rounded. */
export function resizeLinear16(src: Uint16Array, sw: number, sh: number, cn: number, dw: number, dh: number): Uint16Array {
  checkArgs(src.length, sw, sh, cn, dw, dh);
  if (sw === dw && sh === dh) return src.slice(0, sw * sh * cn);
  const out = new Uint16Array(dw * dh * cn);
  if (sw === 2 * dw && sh === 2 * dh) return halve(src, sw, cn, dw, dh, out);
  const xs = taps(sw, dw, false);
  const ys = taps(sh, dh, true);
  const W = dw * cn;
  const rowA = new Float64Array(W);
  const rowB = new Float64Array(W);
  const hresize = (sy: number, row: Float64Array): void => {
    const base = sy * sw * cn;
    for (let x = 0, k = 0; x < dw; x++) {
      const f = xs.f[x]!;
      const i0 = base + xs.i0[x]! * cn;
      const i1 = base + xs.i1[x]! * cn;
      for (let c = 0; c < cn; c++, k++) row[k] = src[i0 + c]! * (1 - f) + src[i1 + c]! * f;
    }
  };
  for (let y = 0; y < dh; y++) {
    hresize(ys.i0[y]!, rowA);
    hresize(ys.i1[y]!, rowB);
    const f = ys.f[y]!;
    let o = y * W;
    for (let x = 0; x < W; x++, o++) out[o] = Math.min(65535, Math.round(rowA[x]! * (1 - f) + rowB[x]! * f));
  }
  return out;
}

/**
 * Area averaging along the axes shrunk by more than `minFactor`: output pixel i of such an axis is
 * the mean of source pixels floor(i * s / d) to floor((i + 1) * s / d) - 1, so every source pixel
 * counts (no aliasing of fine detail, as a photo shrunk 20x to a classifier's input would have);
 * the other axes keep their size. 8-bit and 16-bit means are rounded.
 */
export function shrinkArea<T extends Uint8Array | Uint16Array>(src: T, sw: number, sh: number, cn: number, dw: number, dh: number, minFactor = 2): { data: T; width: number; height: number } {
  const W = sw / dw > minFactor ? dw : sw;
  const H = sh / dh > minFactor ? dh : sh;
  if (W === sw && H === sh) return { data: src, width: sw, height: sh };
  const edges = (s: number, d: number): Int32Array => Int32Array.from({ length: d + 1 }, (_, i) => Math.floor((i * s) / d));
  const ex = edges(sw, W), ey = edges(sh, H);
  const sums = new Float64Array(W * cn);
  const out = (src instanceof Uint16Array ? new Uint16Array(W * H * cn) : new Uint8Array(W * H * cn)) as T;
  for (let y = 0; y < H; y++) {
    sums.fill(0);
    for (let r = ey[y]!; r < ey[y + 1]!; r++) {
      const row = r * sw * cn;
      for (let x = 0; x < W; x++) {
        for (let c = ex[x]!; c < ex[x + 1]!; c++) for (let k = 0; k < cn; k++) sums[x * cn + k]! += src[row + c * cn + k]!;
      }
    }
    const rows = ey[y + 1]! - ey[y]!;
    for (let x = 0; x < W; x++) {
      const n = rows * (ex[x + 1]! - ex[x]!);
      for (let k = 0; k < cn; k++) out[(y * W + x) * cn + k] = Math.round(sums[x * cn + k]! / n);
    }
  }
  return { data: out, width: W, height: H };
}

/**
 * Whether a model whose manifest names no `resize` has the axes its input shrinks more than 2x
 * area-averaged before the cv2 linear resize: classifiers and semantic models, which see a whole
 * photo at a few hundred pixels. Detectors keep the plain cv2 resize their reference validates.
 */
export function antialiasedByDefault(task: string | undefined): boolean {
  return task === 'classify' || task === 'semantic' || task === 'embed';
}
