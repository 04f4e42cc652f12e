import { decodeMask, rleArea, rleMerge, type Rle } from './rle';
import type { Rect } from './shapes';

/** Coordinates beyond this (in pixels) would overflow the C code's 32-bit upsampled integers. */
const MAX_COORDINATE = 2 ** 28;
/** Upsampled outline points walked per ring, bounding memory (two 4-byte integers each). */
const MAX_WALK = 2 ** 24;

/** Toggles of the ring last walked (see ringToggles): reused, so a rasterisation allocates nothing per ring. */
let toggles = new Float64Array(1024);

/** Appends one toggle position, growing the buffer when full (one slot stays free for h * w). */
function pushToggle(n: number, p: number): number {
  if (n + 1 >= toggles.length) {
    const grown = new Float64Array(toggles.length * 2);
    grown.set(toggles);
    toggles = grown;
  }
  toggles[n] = p;
  return n + 1;
}

/**
 * The toggle of a step of the upsampled outline from (pu, pv) to (cu, cv), u changing: the
 * pixel column whose centre the step crosses, toggled at the first row at or below the
 * boundary; -1 when the step crosses no column centre inside the image.
 */
function stepToggle(pu: number, pv: number, cu: number, cv: number, h: number, w: number): number {
  let xd = cu < pu ? cu : cu - 1;
  xd = (xd + 0.5) / 5 - 0.5;
  if (Math.floor(xd) !== xd || xd < 0 || xd > w - 1) return -1;
  let yd = cv < pv ? cv : pv;
  yd = (yd + 0.5) / 5 - 0.5;
  if (yd < 0) yd = 0;
  else if (yd > h) yd = h;
  return xd * h + Math.ceil(yd);
}

let bucketStart = new Int32Array(1024);
let bucketFill = new Int32Array(1024);
let sorted = new Float64Array(1024);

/**
 * The first `n` toggles in ascending order, in `sorted`. A ring's toggles are a few per pixel
 * column, so they are bucketed by column (position / h) and each small bucket is
 * insertion-sorted: linear, where a general sort of the few hundred toggles of a typical ring
 * would cost more than walking it.
 */
function sortToggles(n: number, h: number): Float64Array {
  if (sorted.length < n) sorted = new Float64Array(Math.max(n, sorted.length * 2));
  const from = toggles;
  const to = sorted;
  // The last toggle is h * w, after every other: it stays last.
  n--;
  to[n] = from[n]!;
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < n; i++) {
    const b = Math.floor(from[i]! / h);
    if (b < lo) lo = b;
    if (b > hi) hi = b;
  }
  const buckets = hi - lo + 1;
  if (n < 2 || !(h > 0) || buckets > 4 * n + 1024) {
    // Nothing to order, an image of no rows, or a ring spread thinly over very many columns.
    to.set(from.subarray(0, n));
    to.subarray(0, n).sort();
    return to;
  }
  if (bucketStart.length < buckets + 1) {
    bucketStart = new Int32Array(Math.max(buckets + 1, bucketStart.length * 2));
    bucketFill = new Int32Array(bucketStart.length);
  }
  const start = bucketStart;
  const fill = bucketFill;
  start.fill(0, 0, buckets + 1);
  for (let i = 0; i < n; i++) start[Math.floor(from[i]! / h) - lo + 1]!++;
  for (let b = 1; b <= buckets; b++) start[b] = start[b]! + start[b - 1]!;
  fill.set(start.subarray(0, buckets));
  for (let i = 0; i < n; i++) {
    const p = from[i]!;
    const b = Math.floor(p / h) - lo;
    const base = start[b]!;
    let k = fill[b]!++;
    // Insertion into the bucket's filled part keeps it sorted.
    while (k > base && to[k - 1]! > p) {
      to[k] = to[k - 1]!;
      k--;
    }
    to[k] = p;
  }
  return to;
}

/**
 * One polygon ring rasterised as pycocotools' rleFrPoly does, so that areas and IoUs agree with
 * the COCO API to the pixel: vertices are scaled by 5 and rounded, every edge is walked one
 * upsampled step at a time, and each pixel column (sampled at its centre) toggles at the rows
 * whose centres lie at or below the boundary. The same truncating casts as the C code are used
 * (`| 0` stores like its int arrays, NaN of a repeated vertex included). Leaves the toggle
 * positions (column-major pixel index, unsorted) in `toggles` followed by h * w, and returns
 * how many there are with it.
 *
 * The C code stores every outline point and then looks at each step; only steps that cross a
 * column centre (one upsampled column in five) give a toggle, so those are computed directly:
 * along a flat edge u advances by one per step, and along a steep one u is monotone in the step
 * and moves by at most one, so the step where it crosses a column is found from its estimate
 * and settled with the same arithmetic. An export computing the area of every polygon then
 * spends a microsecond or two on each. Throws a RangeError for non-finite or absurdly large
 * coordinates, which would make the walk unbounded.
 */
function ringToggles(xy: readonly number[], h: number, w: number): number {
  const k = xy.length >> 1;
  const scale = 5;
  for (let j = 0; j < 2 * k; j++) {
    const c = xy[j]!;
    if (!Number.isFinite(c) || Math.abs(c) > MAX_COORDINATE) throw new RangeError(`polygon coordinate ${c} is not a finite number within ±${MAX_COORDINATE}`);
  }
  let m = 0;
  for (let j = 0; j < k; j++) {
    const jn = j + 1 < k ? j + 1 : 0;
    const dx = Math.abs(((scale * xy[2 * j]! + 0.5) | 0) - ((scale * xy[2 * jn]! + 0.5) | 0));
    const dy = Math.abs(((scale * xy[2 * j + 1]! + 0.5) | 0) - ((scale * xy[2 * jn + 1]! + 0.5) | 0));
    m += Math.max(dx, dy) + 1;
  }
  if (m > MAX_WALK) throw new RangeError(`polygon outline is too long to rasterise (${m} steps of 1/${scale} pixel)`);

  let n = 0;
  let started = false;
  let pu = 0;
  let pv = 0;
  for (let j = 0; j < k; j++) {
    const jn = j + 1 < k ? j + 1 : 0;
    const ax = (scale * xy[2 * j]! + 0.5) | 0;
    const ay = (scale * xy[2 * j + 1]! + 0.5) | 0;
    const bx = (scale * xy[2 * jn]! + 0.5) | 0;
    const by = (scale * xy[2 * jn + 1]! + 0.5) | 0;
    const dx = Math.abs(bx - ax);
    const dy = Math.abs(ay - by);
    if (dx >= dy) {
      // Flat edge: u = t + xs, v = (ys + s * t + 0.5) | 0, walked from the original start.
      const flip = ax > bx;
      const xs = flip ? bx : ax;
      const ys = flip ? by : ay;
      const ye = flip ? ay : by;
      // A repeated vertex gives 0/0 here; its single point stores v as 0, like the C code's cast.
      const s = (ye - ys) / dx;
      const t0 = flip ? dx : 0;
      const fu = t0 + xs;
      const fv = (ys + s * t0 + 0.5) | 0;
      if (started && fu !== pu) {
        const p = stepToggle(pu, pv, fu, fv, h, w);
        if (p >= 0) n = pushToggle(n, p);
      }
      // Steps inside the edge, between points t - 1 and t: u moves by one, so the toggle does
      // not depend on the direction; u(t - 1) crosses a column centre when it is 2 modulo 5.
      for (let t = 1 + ((((2 - xs) % 5) + 5) % 5); t <= dx; t += 5) {
        const c = t - 1 + xs;
        const va = (ys + s * (t - 1) + 0.5) | 0;
        const vb = (ys + s * t + 0.5) | 0;
        const p = stepToggle(c, va, c + 1, vb, h, w);
        if (p >= 0) n = pushToggle(n, p);
      }
      const t1 = flip ? 0 : dx;
      pu = t1 + xs;
      pv = (ys + s * t1 + 0.5) | 0;
    } else {
      // Steep edge: v = t + ys, u = (xs + s * t + 0.5) | 0.
      const flip = ay > by;
      const xs = flip ? bx : ax;
      const ys = flip ? by : ay;
      const xe = flip ? ax : bx;
      const s = (xe - xs) / dy;
      const t0 = flip ? dy : 0;
      const fu = (xs + s * t0 + 0.5) | 0;
      const fv = t0 + ys;
      if (started && fu !== pu) {
        const p = stepToggle(pu, pv, fu, fv, h, w);
        if (p >= 0) n = pushToggle(n, p);
      }
      const u0 = (xs + 0.5) | 0;
      const u1 = (xs + s * dy + 0.5) | 0;
      if (dy <= 1 << 20) {
        // |s| < 1 and the rounding of s * t stays far below one for walks this short, so u moves
        // by at most one per step, monotonically, from u(0) to u(dy): the step where it passes
        // each column centre is found from its estimate and settled with the same arithmetic.
        const lo = u0 < u1 ? u0 : u1;
        const hi = u0 < u1 ? u1 : u0;
        for (let c = lo + ((((2 - lo) % 5) + 5) % 5); c < hi; c += 5) {
          let t = Math.min(dy, Math.max(1, Math.ceil((c + 0.5 - xs) / s)));
          if (s > 0) {
            // The first t where u has reached c + 1.
            while (t > 1 && ((xs + s * (t - 1) + 0.5) | 0) >= c + 1) t--;
            while (t < dy && ((xs + s * t + 0.5) | 0) < c + 1) t++;
          } else {
            // The first t where u has come down to c.
            while (t > 1 && ((xs + s * (t - 1) + 0.5) | 0) <= c) t--;
            while (t < dy && ((xs + s * t + 0.5) | 0) > c) t++;
          }
          const p = stepToggle((xs + s * (t - 1) + 0.5) | 0, t - 1 + ys, (xs + s * t + 0.5) | 0, t + ys, h, w);
          if (p >= 0) n = pushToggle(n, p);
        }
      } else {
        for (let t = 1; t <= dy; t++) {
          const la = (xs + s * (t - 1) + 0.5) | 0;
          const lb = (xs + s * t + 0.5) | 0;
          if (la === lb) continue;
          const p = stepToggle(la, t - 1 + ys, lb, t + ys, h, w);
          if (p >= 0) n = pushToggle(n, p);
        }
      }
      const t1 = flip ? 0 : dy;
      pu = (xs + s * t1 + 0.5) | 0;
      pv = t1 + ys;
    }
    started = true;
  }
  return pushToggle(n, h * w);
}

/** One ring's COCO runs (see ringToggles). */
function ringToCounts(xy: readonly number[], h: number, w: number): number[] {
  const n = ringToggles(xy, h, w);
  const a = sortToggles(n, h).slice(0, n);
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

let pairCount = new Int32Array(1024);
let pairFirst = new Float64Array(1024);

/**
 * The pixel count of polygonToRle(parts, height, width), what COCO calls a polygon's area,
 * without building the runs of a one-part polygon. In sorted order the pixels between each
 * toggle and the next are set and unset in turn (equal toggles cancel, adding nothing). A ring
 * usually crosses each pixel column twice: then each column adds the rows between its two
 * toggles, with no sorting at all; other rings take the sorted way.
 */
export function polygonArea(parts: readonly (readonly number[])[], height: number, width: number): number {
  if (parts.length === 0) return 0;
  if (parts.length > 1) return rleArea(polygonToRle(parts, height, width));
  const n = ringToggles(parts[0]!, height, width);
  // The last toggle, h * w, comes after all others at an even place when the rest pair up.
  const m = n - 1;
  const from = toggles;
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < m; i++) {
    const b = Math.floor(from[i]! / height);
    if (b < lo) lo = b;
    if (b > hi) hi = b;
  }
  const columns = hi - lo + 1;
  if (m > 0 && height > 0 && columns <= 4 * m + 1024) {
    if (pairCount.length < columns) {
      pairCount = new Int32Array(Math.max(columns, pairCount.length * 2));
      pairFirst = new Float64Array(pairCount.length);
    }
    const count = pairCount;
    const first = pairFirst;
    count.fill(0, 0, columns);
    let area = 0;
    let paired = true;
    for (let i = 0; i < m && paired; i++) {
      const p = from[i]!;
      const b = Math.floor(p / height) - lo;
      const c = ++count[b]!;
      if (c === 1) first[b] = p;
      else if (c === 2) area += p > first[b]! ? p - first[b]! : first[b]! - p;
      else paired = false;
    }
    for (let b = 0; b < columns && paired; b++) if (count[b] === 1) paired = false;
    if (paired) return area;
  }
  const a = sortToggles(n, height);
  let area = 0;
  for (let j = 1; j < n; j += 2) area += a[j]! - a[j - 1]!;
  return area;
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
