import type { Rect } from './shapes';

/**
 * A binary mask run-length encoded the way COCO stores it: pixels in column-major order
 * (down the first column, then the next), `counts` alternating runs of zeros and ones and
 * starting with zeros (so a mask whose first pixel is set starts with a 0). `size` is
 * [height, width].
 */
export interface Rle {
  size: [number, number];
  counts: number[];
}

/** Throws unless the runs are non-negative integers covering exactly height x width pixels. */
export function assertRle(rle: Rle): void {
  const [h, w] = rle.size;
  if (!Number.isInteger(h) || !Number.isInteger(w) || h < 0 || w < 0) throw new RangeError(`RLE size ${h}x${w} is not a pair of non-negative integers`);
  let total = 0;
  for (const c of rle.counts) {
    if (!Number.isInteger(c) || c < 0) throw new RangeError(`RLE run ${c} is not a non-negative integer`);
    total += c;
  }
  if (total !== h * w) throw new RangeError(`RLE runs cover ${total} pixels, not ${h * w} (${h}x${w})`);
}

/**
 * Encodes a row-major mask (any nonzero byte is set) as column-major COCO RLE, with the same
 * runs pycocotools' encode produces.
 */
export function encodeMask(mask: Uint8Array, width: number, height: number): Rle {
  const n = width * height;
  if (mask.length !== n) throw new RangeError(`mask has ${mask.length} pixels, not ${width}x${height}`);
  const counts: number[] = [];
  let prev = 0;
  let run = 0;
  // Walking down columns of a row-major buffer strides by `width`, but one column's cache lines
  // are reused by the next, so this stays within a few tens of ms for 12 megapixels.
  for (let x = 0; x < width; x++) {
    for (let i = x; i < n; i += width) {
      const v = mask[i]! === 0 ? 0 : 1;
      if (v !== prev) {
        counts.push(run);
        run = 0;
        prev = v;
      }
      run++;
    }
  }
  counts.push(run);
  return { size: [height, width], counts };
}

/** Decodes COCO RLE into a row-major mask of 0 and 1, `width * height` bytes. */
export function decodeMask(rle: Rle): Uint8Array {
  assertRle(rle);
  const [h, w] = rle.size;
  const out = new Uint8Array(h * w);
  paintRle(out, w, rle, 1);
  return out;
}

/**
 * Paints the set pixels of a column-major RLE into a row-major image `width` wide, run by run,
 * without decoding the mask into a buffer of its own (so label images take many masks cheaply).
 */
export function paintRle(out: Uint8Array | Uint16Array, width: number, rle: Rle, value: number): void {
  const h = rle.size[0];
  const counts = rle.counts;
  let p = 0;
  for (let i = 0; i < counts.length; i++) {
    const c = counts[i]!;
    if (i & 1 && c > 0) {
      let x = Math.floor(p / h);
      let y = p - x * h;
      let left = c;
      while (left > 0) {
        const take = Math.min(left, h - y);
        for (let k = y * width + x, end = k + take * width; k < end; k += width) out[k] = value;
        left -= take;
        x++;
        y = 0;
      }
    }
    p += c;
  }
}

/** Number of set pixels. */
export function rleArea(rle: Rle): number {
  let a = 0;
  for (let i = 1; i < rle.counts.length; i += 2) a += rle.counts[i]!;
  return a;
}

/**
 * COCO's compressed RLE string (pycocotools' `counts` as bytes): each count is written as
 * little-endian 5-bit groups, one character each (value + 48, bit 0x20 = more groups follow,
 * bit 0x10 of the last group = negative), and every count from the fourth on is stored as the
 * difference to the count two places before, which keeps runs of similar length short.
 */
export function rleToString(rle: Rle): string {
  const codes: number[] = [];
  const counts = rle.counts;
  for (let i = 0; i < counts.length; i++) {
    let x = counts[i]!;
    if (i > 2) x -= counts[i - 2]!;
    for (;;) {
      // Floor division and modulo reproduce C's arithmetic shift of a two's complement long
      // without JavaScript's 32-bit limit on bitwise operators.
      let c = ((x % 32) + 32) % 32;
      x = Math.floor(x / 32);
      const more = c & 0x10 ? x !== -1 : x !== 0;
      if (more) c |= 0x20;
      codes.push(c + 48);
      if (!more) break;
    }
  }
  let s = '';
  for (let i = 0; i < codes.length; i += 8192) s += String.fromCharCode(...codes.slice(i, i + 8192));
  return s;
}

/** Parses COCO's compressed RLE string (see rleToString); throws on characters it cannot hold. */
export function rleFromString(s: string, size: [number, number]): Rle {
  const counts: number[] = [];
  let p = 0;
  while (p < s.length) {
    let x = 0;
    let k = 0;
    for (;;) {
      if (p >= s.length) throw new RangeError('RLE string ends inside a count');
      const c = s.charCodeAt(p) - 48;
      if (c < 0 || c > 63) throw new RangeError(`RLE string has an invalid character ${JSON.stringify(s[p])} at ${p}`);
      if (k >= 10) throw new RangeError(`RLE string has a count too long to represent at ${p}`);
      x += (c & 0x1f) * 2 ** (5 * k);
      p++;
      k++;
      if (!(c & 0x20)) {
        if (c & 0x10) x -= 2 ** (5 * k);
        break;
      }
    }
    if (counts.length > 2) x += counts[counts.length - 2]!;
    if (x < 0) throw new RangeError(`RLE string decodes to a negative run (${x}) at count ${counts.length}`);
    counts.push(x);
  }
  return { size: [size[0], size[1]], counts };
}

/** Walks two RLEs of equal size run by run, calling `emit(step, valueA, valueB)` for each stretch. */
function sweep(a: readonly number[], b: readonly number[], emit: (step: number, va: number, vb: number) => void): void {
  let ia = 0;
  let ib = 0;
  let ra = a[0] ?? 0;
  let rb = b[0] ?? 0;
  let va = 0;
  let vb = 0;
  for (;;) {
    while (ra === 0 && ia + 1 < a.length) {
      ra = a[++ia]!;
      va ^= 1;
    }
    while (rb === 0 && ib + 1 < b.length) {
      rb = b[++ib]!;
      vb ^= 1;
    }
    if (ra === 0 || rb === 0) return;
    const step = Math.min(ra, rb);
    emit(step, va, vb);
    ra -= step;
    rb -= step;
  }
}

function sameSize(rles: readonly Rle[]): void {
  const [h, w] = rles[0]!.size;
  for (const r of rles) {
    if (r.size[0] !== h || r.size[1] !== w) throw new RangeError(`cannot combine a ${r.size[1]}x${r.size[0]} mask with a ${w}x${h} one`);
    assertRle(r);
  }
}

/**
 * Union (or intersection) of masks of one size, like pycocotools' merge: runs come out
 * canonical (no empty runs but a leading one), except that a single mask is returned as given.
 * No masks give an empty 0x0 RLE, as in COCO.
 */
export function rleMerge(rles: readonly Rle[], intersect = false): Rle {
  if (rles.length === 0) return { size: [0, 0], counts: [] };
  sameSize(rles);
  const first = rles[0]!;
  let counts = first.counts.slice();
  for (let i = 1; i < rles.length; i++) {
    const out: number[] = [];
    let cur = 0;
    let run = 0;
    sweep(counts, rles[i]!.counts, (step, va, vb) => {
      const v = intersect ? va & vb : va | vb;
      if (v !== cur) {
        out.push(run);
        run = 0;
        cur = v;
      }
      run += step;
    });
    out.push(run);
    counts = out;
  }
  return { size: [first.size[0], first.size[1]], counts };
}

/** Number of pixels set in both masks, without building the intersection. */
export function rleIntersectionArea(a: Rle, b: Rle): number {
  sameSize([a, b]);
  let n = 0;
  sweep(a.counts, b.counts, (step, va, vb) => {
    if (va & vb) n += step;
  });
  return n;
}

/**
 * Intersection over union as COCO evaluates segmentations. When `a` is crowd ground truth,
 * the detection `b` is not penalised for the rest of the crowd region: the score is the
 * intersection over the area of `b`. An empty denominator scores 0.
 */
export function rleIou(a: Rle, b: Rle, aIsCrowd = false): number {
  const inter = rleIntersectionArea(a, b);
  const denom = aIsCrowd ? rleArea(b) : rleArea(a) + rleArea(b) - inter;
  return denom > 0 ? inter / denom : 0;
}

/**
 * The smallest rectangle holding every set pixel, in whole pixels (COCO's toBbox): a run that
 * spans two columns covers the full height. An empty mask gives 0,0,0,0. Empty runs in the
 * middle of `counts`, which COCO's encoders never write, are skipped rather than read as pixels.
 */
export function rleBBox(rle: Rle): Rect {
  const h = rle.size[0];
  const counts = rle.counts;
  let pos = 0;
  let xMin = Infinity;
  let xMax = -Infinity;
  let yMin = Infinity;
  let yMax = -Infinity;
  for (let i = 0; i < counts.length; i++) {
    const run = counts[i]!;
    if (i & 1 && run > 0) {
      const end = pos + run - 1;
      const xs = Math.floor(pos / h);
      const xe = Math.floor(end / h);
      if (xs < xMin) xMin = xs;
      if (xe > xMax) xMax = xe;
      if (xs === xe) {
        yMin = Math.min(yMin, pos - xs * h);
        yMax = Math.max(yMax, end - xe * h);
      } else {
        yMin = 0;
        yMax = h - 1;
      }
    }
    pos += run;
  }
  return xMin === Infinity ? { x: 0, y: 0, w: 0, h: 0 } : { x: xMin, y: yMin, w: xMax - xMin + 1, h: yMax - yMin + 1 };
}
