import { decodeMask, rleMerge, type Rle } from './rle';
import type { Rect } from './shapes';

/** Coordinates beyond this (in pixels) would overflow the C code's 32-bit upsampled integers. */
const MAX_COORDINATE = 2 ** 28;
/** Upsampled outline points walked per ring, bounding memory (two 4-byte integers each). */
const MAX_WALK = 2 ** 24;

/**
 * One polygon ring rasterised as pycocotools' rleFrPoly does, so that areas and IoUs agree with
 * the COCO API to the pixel: vertices are scaled by 5 and rounded, every edge is walked one
 * upsampled step at a time, and each pixel column (sampled at its centre) toggles at the rows
 * whose centres lie at or below the boundary. The same truncating casts as the C code are used.
 * Throws a RangeError for non-finite or absurdly large coordinates, which would make the walk
 * unbounded.
 */
function ringToCounts(xy: readonly number[], h: number, w: number): number[] {
  const k = xy.length >> 1;
  const scale = 5;
  const X = new Int32Array(k + 1);
  const Y = new Int32Array(k + 1);
  for (let j = 0; j < 2 * k; j++) {
    const c = xy[j]!;
    if (!Number.isFinite(c) || Math.abs(c) > MAX_COORDINATE) throw new RangeError(`polygon coordinate ${c} is not a finite number within ±${MAX_COORDINATE}`);
  }
  for (let j = 0; j < k; j++) {
    X[j] = Math.trunc(scale * xy[2 * j]! + 0.5);
    Y[j] = Math.trunc(scale * xy[2 * j + 1]! + 0.5);
  }
  X[k] = X[0]!;
  Y[k] = Y[0]!;

  let m = 0;
  for (let j = 0; j < k; j++) m += Math.max(Math.abs(X[j]! - X[j + 1]!), Math.abs(Y[j]! - Y[j + 1]!)) + 1;
  if (m > MAX_WALK) throw new RangeError(`polygon outline is too long to rasterise (${m} steps of 1/${scale} pixel)`);
  const u = new Int32Array(m);
  const v = new Int32Array(m);
  m = 0;
  for (let j = 0; j < k; j++) {
    let xs = X[j]!;
    let xe = X[j + 1]!;
    let ys = Y[j]!;
    let ye = Y[j + 1]!;
    const dx = Math.abs(xe - xs);
    const dy = Math.abs(ys - ye);
    const flip = (dx >= dy && xs > xe) || (dx < dy && ys > ye);
    if (flip) {
      [xs, xe] = [xe, xs];
      [ys, ye] = [ye, ys];
    }
    // A repeated vertex gives 0/0 here (stored as 0); its single point shares its column with
    // both neighbours, so the downsampling below never reads it.
    const s = dx >= dy ? (ye - ys) / dx : (xe - xs) / dy;
    if (dx >= dy) {
      for (let d = 0; d <= dx; d++) {
        const t = flip ? dx - d : d;
        u[m] = t + xs;
        v[m++] = Math.trunc(ys + s * t + 0.5);
      }
    } else {
      for (let d = 0; d <= dy; d++) {
        const t = flip ? dy - d : d;
        v[m] = t + ys;
        u[m++] = Math.trunc(xs + s * t + 0.5);
      }
    }
  }

  const toggles: number[] = [];
  for (let j = 1; j < u.length; j++) {
    if (u[j] === u[j - 1]) continue;
    let xd = u[j]! < u[j - 1]! ? u[j]! : u[j]! - 1;
    xd = (xd + 0.5) / scale - 0.5;
    if (Math.floor(xd) !== xd || xd < 0 || xd > w - 1) continue;
    let yd = v[j]! < v[j - 1]! ? v[j]! : v[j - 1]!;
    yd = (yd + 0.5) / scale - 0.5;
    if (yd < 0) yd = 0;
    else if (yd > h) yd = h;
    yd = Math.ceil(yd);
    toggles.push(xd * h + yd);
  }
  toggles.push(h * w);

  const a = Float64Array.from(toggles).sort();
  let prev = 0;
  for (let j = 0; j < a.length; j++) {
    const t = a[j]!;
    a[j] = t - prev;
    prev = t;
  }
  // Two toggles at one position cancel: drop the empty run and fold the next into the last.
  const counts: number[] = [a[0]!];
  for (let j = 1; j < a.length; ) {
    if (a[j]! > 0) counts.push(a[j++]!);
    else {
      j++;
      if (j < a.length) counts[counts.length - 1] = counts[counts.length - 1]! + a[j++]!;
    }
  }
  return counts;
}

/**
 * COCO RLE of a polygon given as parts of flat [x0, y0, x1, y1, ...] rings in image pixels:
 * the union of the parts, each rasterised like pycocotools (annToRLE: frPyObjects then merge).
 * Note the argument order (height, width) is COCO's. No parts give an empty mask.
 */
export function polygonToRle(parts: readonly (readonly number[])[], height: number, width: number): Rle {
  if (parts.length === 0) return { size: [height, width], counts: [height * width] };
  return rleMerge(parts.map((p) => ({ size: [height, width], counts: ringToCounts(p, height, width) })));
}

/** Row-major 0/1 mask of a polygon, the same pixels as polygonToRle. */
export function rasterizePolygon(parts: readonly (readonly number[])[], width: number, height: number): Uint8Array {
  return decodeMask(polygonToRle(parts, height, width));
}

/** [lo, hi] of x where lo <= k*x + m <= hi, intersected with `range`; null when empty. */
function clipLinear(range: [number, number], k: number, m: number, lo: number, hi: number): [number, number] | null {
  if (k === 0) return m >= lo && m <= hi ? range : null;
  let a = (lo - m) / k;
  let b = (hi - m) / k;
  if (a > b) [a, b] = [b, a];
  const r0 = Math.max(range[0], a);
  const r1 = Math.min(range[1], b);
  return r0 <= r1 ? [r0, r1] : null;
}

/**
 * Paints a brush stroke: every pixel whose centre lies within `radius` of the segment from
 * (x0, y0) to (x1, y1) is set to `value`. Each row's covered span is computed, so only
 * the stroke's own pixels (and one or two per row end) are visited, whatever the image size.
 * Returns the rectangle of pixels the stroke covers inside the image, null when it covers none.
 */
export function paintStroke(
  mask: Uint8Array,
  width: number,
  height: number,
  x0: number,
  y0: number,
  x1: number,
  y1: number,
  radius: number,
  value: 0 | 1,
): Rect | null {
  if (mask.length !== width * height) throw new RangeError(`mask has ${mask.length} pixels, not ${width}x${height}`);
  if (!(radius >= 0) || ![x0, y0, x1, y1, radius].every(Number.isFinite)) return null;
  const r2 = radius * radius;
  const dx = x1 - x0;
  const dy = y1 - y0;
  const len = Math.hypot(dx, dy);
  const len2 = dx * dx + dy * dy;
  const rowStart = Math.max(0, Math.floor(Math.min(y0, y1) - radius - 0.5));
  const rowEnd = Math.min(height - 1, Math.ceil(Math.max(y0, y1) + radius - 0.5));
  let minX = Infinity;
  let maxX = -Infinity;
  let minY = Infinity;
  let maxY = -Infinity;
  for (let py = rowStart; py <= rowEnd; py++) {
    const cy = py + 0.5;
    // The stroke is a capsule (convex), so each row meets it in one interval: the union of the
    // row's chords through the two end discs and through the band along the segment.
    let lo = Infinity;
    let hi = -Infinity;
    for (const [ex, ey] of [
      [x0, y0],
      [x1, y1],
    ] as const) {
      const d = cy - ey;
      if (d * d <= r2) {
        const half = Math.sqrt(r2 - d * d);
        lo = Math.min(lo, ex - half);
        hi = Math.max(hi, ex + half);
      }
    }
    if (len > 0) {
      const ux = dx / len;
      const uy = dy / len;
      // Along the segment: 0 <= (x - x0)*ux + (cy - y0)*uy <= len; across it: |(cy - y0)*ux - (x - x0)*uy| <= radius.
      let band = clipLinear([-Infinity, Infinity], ux, -x0 * ux + (cy - y0) * uy, 0, len);
      if (band) band = clipLinear(band, -uy, x0 * uy + (cy - y0) * ux, -radius, radius);
      if (band) {
        lo = Math.min(lo, band[0]);
        hi = Math.max(hi, band[1]);
      }
    }
    if (lo > hi) continue;
    let left = Math.max(0, Math.floor(lo - 0.5));
    let right = Math.min(width - 1, Math.ceil(hi - 0.5));
    // The analytic ends can be off by rounding; settle them with the exact distance test. The
    // row's covered pixels are contiguous, so everything between the settled ends is covered.
    const inside = (px: number) => {
      const cx = px + 0.5;
      let t = len2 > 0 ? ((cx - x0) * dx + (cy - y0) * dy) / len2 : 0;
      t = t < 0 ? 0 : t > 1 ? 1 : t;
      const ex = cx - (x0 + t * dx);
      const ey = cy - (y0 + t * dy);
      return ex * ex + ey * ey <= r2;
    };
    while (left <= right && !inside(left)) left++;
    while (right > left && !inside(right)) right--;
    if (left > right) continue;
    mask.fill(value, py * width + left, py * width + right + 1);
    if (left < minX) minX = left;
    if (right > maxX) maxX = right;
    if (py < minY) minY = py;
    maxY = py;
  }
  return minX === Infinity ? null : { x: minX, y: minY, w: maxX - minX + 1, h: maxY - minY + 1 };
}

/**
 * A copy of the mask with its holes filled: every unset pixel that cannot reach the image border
 * through unset 4-neighbours becomes set. This is what a mask looks like after a round trip
 * through polygons, whose parts are unioned and so cannot describe holes.
 */
export function fillHoles(mask: Uint8Array, width: number, height: number): Uint8Array {
  const n = width * height;
  if (mask.length !== n) throw new RangeError(`mask has ${mask.length} pixels, not ${width}x${height}`);
  // 0 = unset and not (yet) reached from the border, 1 = set, 2 = unset and outside.
  const state = new Uint8Array(n);
  for (let i = 0; i < n; i++) state[i] = mask[i] ? 1 : 0;
  const stack = new Int32Array(n);
  let top = 0;
  const seed = (i: number) => {
    if (state[i] === 0) {
      state[i] = 2;
      stack[top++] = i;
    }
  };
  for (let x = 0; x < width; x++) {
    seed(x);
    seed((height - 1) * width + x);
  }
  for (let y = 0; y < height; y++) {
    seed(y * width);
    seed(y * width + width - 1);
  }
  while (top > 0) {
    const i = stack[--top]!;
    const x = i % width;
    if (x > 0) seed(i - 1);
    if (x < width - 1) seed(i + 1);
    if (i >= width) seed(i - width);
    if (i + width < n) seed(i + width);
  }
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = state[i] === 2 ? 0 : 1;
  return out;
}
