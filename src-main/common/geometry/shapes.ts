import type { Geometry } from '../model';
import { polygonToRle } from './raster';
import { decodeMask, rleArea, rleBBox, type Rle } from './rle';
import { distanceToSegment, traceMask } from './trace';

export { distanceToSegment };

/** An axis-aligned rectangle in image pixels (COCO's xywh). */
export interface Rect {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** Area of an RLE mask: the sum of its runs of ones (odd positions). */
export function rleCountsArea(counts: readonly number[]): number {
  let a = 0;
  for (let i = 1; i < counts.length; i += 2) a += counts[i]!;
  return a;
}

/** Signed area of one polygon ring given as flat [x0, y0, x1, y1, ...] (shoelace formula). */
export function ringSignedArea(ring: readonly number[]): number {
  let s = 0;
  const n = ring.length >> 1;
  for (let i = 0; i < n; i++) {
    const j = (i + 1) % n;
    s += ring[2 * i]! * ring[2 * j + 1]! - ring[2 * j]! * ring[2 * i + 1]!;
  }
  return s / 2;
}

/** Number of distinct vertices of a ring (consecutive and repeated points count once). */
export function distinctVertexCount(ring: readonly number[]): number {
  const seen = new Set<string>();
  for (let i = 0; i + 1 < ring.length; i += 2) seen.add(`${ring[i]},${ring[i + 1]}`);
  return seen.size;
}

/** Area in square image pixels; parts of a polygon are counted separately and added. */
export function geometryArea(g: Geometry): number {
  switch (g.kind) {
    case 'box':
    case 'obb':
      return Math.abs(g.w * g.h);
    case 'polygon':
      return g.parts.reduce((a, p) => a + Math.abs(ringSignedArea(p)), 0);
    case 'mask':
      return rleCountsArea(g.rle.counts);
    case 'point':
    case 'tag':
    case 'polyline':
      return 0;
    case 'keypoints': {
      // COCO gives a keypoints-only object the area of the box around its labelled points.
      const r = geometryBBox(g);
      return r.w * r.h;
    }
  }
}

/** The four corners of an oriented box (angle in radians, counter-clockwise in image axes). */
export function obbCorners(g: Extract<Geometry, { kind: 'obb' }>): number[] {
  const c = Math.cos(g.angle);
  const s = Math.sin(g.angle);
  const out: number[] = [];
  for (const [u, v] of [
    [-0.5, -0.5],
    [0.5, -0.5],
    [0.5, 0.5],
    [-0.5, 0.5],
  ] as const) {
    const dx = u * g.w;
    const dy = v * g.h;
    out.push(g.cx + dx * c - dy * s, g.cy + dx * s + dy * c);
  }
  return out;
}

function boundsOf(flat: readonly number[]): Rect {
  let x0 = Infinity;
  let y0 = Infinity;
  let x1 = -Infinity;
  let y1 = -Infinity;
  for (let i = 0; i + 1 < flat.length; i += 2) {
    x0 = Math.min(x0, flat[i]!);
    x1 = Math.max(x1, flat[i]!);
    y0 = Math.min(y0, flat[i + 1]!);
    y1 = Math.max(y1, flat[i + 1]!);
  }
  return x0 === Infinity ? { x: 0, y: 0, w: 0, h: 0 } : { x: x0, y: y0, w: x1 - x0, h: y1 - y0 };
}

/** The axis-aligned bounding box of any geometry, in image pixels. */
export function geometryBBox(g: Geometry): Rect {
  switch (g.kind) {
    case 'box':
      return { x: Math.min(g.x, g.x + g.w), y: Math.min(g.y, g.y + g.h), w: Math.abs(g.w), h: Math.abs(g.h) };
    case 'polygon':
      return boundsOf(g.parts.flat());
    case 'obb':
      return boundsOf(obbCorners(g));
    case 'mask':
      return rleBBox(g.rle);
    case 'point':
      return { x: g.x, y: g.y, w: 0, h: 0 };
    case 'tag':
      return { x: 0, y: 0, w: 0, h: 0 };
    case 'polyline':
      return boundsOf(g.points);
    case 'keypoints':
      return boundsOf(labelledKeypoints(g.points));
  }
}

/** The x, y pairs of the labelled keypoints (visibility above 0) of a flat `[x, y, v, ...]` list. */
export function labelledKeypoints(points: readonly number[]): number[] {
  const out: number[] = [];
  for (let i = 0; i + 2 < points.length; i += 3) if (points[i + 2]! > 0) out.push(points[i]!, points[i + 1]!);
  return out;
}

/** Whether every vertex of a ring lies on one line (a zero signed area alone may be a symmetric bow tie). */
function collinear(ring: readonly number[]): boolean {
  const x0 = ring[0]!;
  const y0 = ring[1]!;
  let fx = 0;
  let fy = 0;
  for (let i = 2; i + 1 < ring.length; i += 2) {
    const dx = ring[i]! - x0;
    const dy = ring[i + 1]! - y0;
    if (dx * dx + dy * dy > fx * fx + fy * fy) {
      fx = dx;
      fy = dy;
    }
  }
  for (let i = 2; i + 1 < ring.length; i += 2) if (fx * (ring[i + 1]! - y0) - fy * (ring[i]! - x0) !== 0) return false;
  return true;
}

/**
 * Why a geometry cannot be stored, or null when it can: zero-area boxes, polygon parts with fewer
 * than three distinct vertices or with every vertex on one line, empty masks, masks not the size
 * of the image or with runs that are not whole pixels, and non-finite numbers are refused. Self-intersecting polygons are allowed (see polygonSelfIntersects).
 */
export function validateGeometry(g: Geometry, image: { width: number; height: number }): string | null {
  const nums: number[] =
    g.kind === 'box'
      ? [g.x, g.y, g.w, g.h]
      : g.kind === 'obb'
        ? [g.cx, g.cy, g.w, g.h, g.angle]
        : g.kind === 'point'
          ? [g.x, g.y]
          : g.kind === 'polygon'
            ? g.parts.flat()
            : g.kind === 'polyline' || g.kind === 'keypoints'
              ? g.points
              : [];
  if (nums.some((n) => !Number.isFinite(n))) return 'coordinates must be finite numbers';
  switch (g.kind) {
    case 'box':
    case 'obb':
      if (g.w === 0 || g.h === 0) return `a ${g.kind === 'box' ? 'box' : 'rotated box'} with zero area (${g.w} x ${g.h}) cannot be stored`;
      return null;
    case 'polygon': {
      if (g.parts.length === 0) return 'a polygon needs at least one part';
      for (const [i, part] of g.parts.entries()) {
        const which = g.parts.length > 1 ? ` (part ${i + 1})` : '';
        if (part.length % 2 !== 0) return `polygon${which} has an odd number of coordinates`;
        if (distinctVertexCount(part) < 3) return `a polygon needs at least 3 distinct vertices${which}`;
        if (ringSignedArea(part) === 0 && collinear(part)) return `polygon${which} has zero area (all vertices on a line)`;
      }
      return null;
    }
    case 'mask': {
      const [h, w] = g.rle.size;
      if (h !== image.height || w !== image.width) return `mask is ${w}x${h} but the image is ${image.width}x${image.height}`;
      if (g.rle.counts.some((c) => !Number.isInteger(c) || c < 0)) return 'mask runs must be non-negative whole numbers';
      const total = g.rle.counts.reduce((a, b) => a + b, 0);
      if (total !== h * w) return `mask runs cover ${total} pixels, not ${h * w}`;
      if (rleCountsArea(g.rle.counts) === 0) return 'an empty mask cannot be stored';
      return null;
    }
    case 'point':
    case 'tag':
      return null;
    case 'polyline':
      if (g.points.length % 2 !== 0) return 'a polyline has an odd number of coordinates';
      if (distinctVertexCount(g.points) < 2) return 'a polyline needs at least 2 distinct points';
      return null;
    case 'keypoints': {
      if (g.points.length % 3 !== 0) return 'keypoints must be x, y, visibility triples';
      for (let i = 2; i < g.points.length; i += 3) {
        const v = g.points[i]!;
        if (v !== 0 && v !== 1 && v !== 2) return `keypoint ${(i - 2) / 3 + 1} has visibility ${v} (0, 1 or 2 expected)`;
      }
      if (labelledKeypoints(g.points).length === 0) return 'keypoints with none labelled cannot be stored';
      return null;
    }
  }
}

/**
 * Whether two non-adjacent edges of a ring cross properly, each passing through the other's
 * interior. Touching at a vertex, T-junctions and collinear overlaps do not count: traced masks
 * legitimately touch themselves at corners. Quadratic in the vertex count, with a bounding-box
 * test first, which is fast enough for the few thousand vertices of a traced outline.
 */
export function polygonSelfIntersects(ring: readonly number[]): boolean {
  const n = ring.length >> 1;
  if (n < 4) return false;
  const orient = (ax: number, ay: number, bx: number, by: number, cx: number, cy: number) => Math.sign((bx - ax) * (cy - ay) - (by - ay) * (cx - ax));
  for (let i = 0; i < n; i++) {
    const ax = ring[2 * i]!;
    const ay = ring[2 * i + 1]!;
    const bx = ring[(2 * i + 2) % (2 * n)]!;
    const by = ring[(2 * i + 3) % (2 * n)]!;
    // Edge n-1 is adjacent to edge 0, so the last edge is skipped when i is 0.
    for (let j = i + 2; j < (i === 0 ? n - 1 : n); j++) {
      const cx = ring[2 * j]!;
      const cy = ring[2 * j + 1]!;
      const dx = ring[(2 * j + 2) % (2 * n)]!;
      const dy = ring[(2 * j + 3) % (2 * n)]!;
      if (Math.max(ax, bx) < Math.min(cx, dx) || Math.max(cx, dx) < Math.min(ax, bx)) continue;
      if (Math.max(ay, by) < Math.min(cy, dy) || Math.max(cy, dy) < Math.min(ay, by)) continue;
      if (orient(ax, ay, bx, by, cx, cy) * orient(ax, ay, bx, by, dx, dy) < 0 && orient(cx, cy, dx, dy, ax, ay) * orient(cx, cy, dx, dy, bx, by) < 0) return true;
    }
  }
  return false;
}

/** Whether (x, y) is inside a ring by the even-odd rule (points exactly on an edge may go either way). */
export function pointInRing(x: number, y: number, ring: readonly number[]): boolean {
  const n = ring.length >> 1;
  let inside = false;
  for (let i = 0, j = n - 1; i < n; j = i++) {
    const xi = ring[2 * i]!;
    const yi = ring[2 * i + 1]!;
    const xj = ring[2 * j]!;
    const yj = ring[2 * j + 1]!;
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

/** Shifts the set pixels of a mask by whole pixels, dropping those that leave the image. */
function shiftRle(rle: Rle, dx: number, dy: number): Rle {
  const [h, w] = rle.size;
  const out: number[] = [];
  let end = 0;
  // Column-major order is kept by a shift, so the shifted pieces arrive sorted and only need
  // gluing where they meet.
  const emit = (s: number, e: number) => {
    if (s === end && out.length > 0) out[out.length - 1] = out[out.length - 1]! + e - s;
    else out.push(s - end, e - s);
    end = e;
  };
  let p = 0;
  for (let i = 0; i < rle.counts.length; i++) {
    const c = rle.counts[i]!;
    if (i & 1 && c > 0) {
      for (let s = p, e = p + c; s < e; ) {
        const x = Math.floor(s / h);
        const y0 = s - x * h;
        const y1 = Math.min(h, y0 + (e - s));
        const nx = x + dx;
        const ny0 = Math.max(0, y0 + dy);
        const ny1 = Math.min(h, y1 + dy);
        if (nx >= 0 && nx < w && ny0 < ny1) emit(nx * h + ny0, nx * h + ny1);
        s = x * h + y1;
      }
    }
    p += c;
  }
  // Canonical like encodeMask: no empty run of zeros at the end unless the mask is empty.
  if (end < h * w || out.length === 0) out.push(h * w - end);
  return { size: [h, w], counts: out };
}

/**
 * The geometry moved by (dx, dy) image pixels. Masks move by whole pixels (dx and dy rounded)
 * and stay the size of their image: pixels moved outside it are lost.
 */
export function translateGeometry(g: Geometry, dx: number, dy: number): Geometry {
  switch (g.kind) {
    case 'box':
      return { ...g, x: g.x + dx, y: g.y + dy };
    case 'obb':
      return { ...g, cx: g.cx + dx, cy: g.cy + dy };
    case 'point':
      return { ...g, x: g.x + dx, y: g.y + dy };
    case 'polygon':
      return { kind: 'polygon', parts: g.parts.map((p) => p.map((v, i) => v + (i & 1 ? dy : dx))) };
    case 'mask':
      return { kind: 'mask', rle: shiftRle(g.rle, Math.round(dx), Math.round(dy)) };
    case 'tag':
      return { kind: 'tag' };
    case 'polyline':
      return { kind: 'polyline', points: g.points.map((v, i) => v + (i & 1 ? dy : dx)) };
    case 'keypoints':
      // Unlabelled keypoints stay at (0, 0), as COCO writes them.
      return {
        kind: 'keypoints',
        points: g.points.map((v, i) => (i % 3 === 2 || g.points[i - (i % 3) + 2] === 0 ? v : v + (i % 3 === 1 ? dy : dx))),
      };
  }
}

/** The axis-aligned box around a geometry (see geometryBBox); points and tags give an empty box. */
export function boxFromGeometry(g: Geometry): Extract<Geometry, { kind: 'box' }> {
  const r = geometryBBox(g);
  return { kind: 'box', x: r.x, y: r.y, w: r.w, h: r.h };
}

function outlineRings(g: Extract<Geometry, { kind: 'polygon' | 'box' | 'obb' }>): number[][] {
  switch (g.kind) {
    case 'polygon':
      return g.parts;
    case 'box':
      return [[g.x, g.y, g.x + g.w, g.y, g.x + g.w, g.y + g.h, g.x, g.y + g.h]];
    case 'obb':
      return [obbCorners(g)];
  }
}

/**
 * A polygon (or box, or rotated box) as a mask of an image of the given size, rasterised as
 * the COCO API does (see polygonToRle), so its area is the one COCO evaluation uses.
 */
export function polygonToMaskGeometry(
  g: Extract<Geometry, { kind: 'polygon' | 'box' | 'obb' }>,
  width: number,
  height: number,
): Extract<Geometry, { kind: 'mask' }> {
  return { kind: 'mask', rle: polygonToRle(outlineRings(g), height, width) };
}

/**
 * A mask as a polygon with one part per 8-connected component (see traceMask: holes are
 * filled), simplified to `tolerance` pixels. Null for an empty mask, which has no polygon.
 */
export function maskToPolygonGeometry(g: Extract<Geometry, { kind: 'mask' }>, tolerance = 0.5): Extract<Geometry, { kind: 'polygon' }> | null {
  if (rleArea(g.rle) === 0) return null;
  const [h, w] = g.rle.size;
  return { kind: 'polygon', parts: traceMask(decodeMask(g.rle), w, h, tolerance) };
}

/** Whether a set pixel of the mask lies within `tol` of (x, y), walking the runs once. */
function maskHit(rle: Rle, x: number, y: number, tol: number): boolean {
  const [h, w] = rle.size;
  const c0 = Math.max(0, Math.floor(x - tol));
  const c1 = Math.min(w - 1, Math.floor(x + tol));
  if (c0 > c1 || h === 0) return false;
  let p = 0;
  for (let i = 0; i < rle.counts.length; i++) {
    const c = rle.counts[i]!;
    if (i & 1 && c > 0) {
      const first = Math.floor(p / h);
      if (first > c1) return false;
      const last = Math.floor((p + c - 1) / h);
      for (let col = Math.max(first, c0); col <= Math.min(last, c1); col++) {
        const y0 = col === first ? p - first * h : 0;
        const y1 = col === last ? p + c - last * h : h;
        const ex = Math.max(col - x, 0, x - (col + 1));
        const ey = Math.max(y0 - y, 0, y - y1);
        if (Math.hypot(ex, ey) <= tol) return true;
      }
    }
    p += c;
  }
  return false;
}

/**
 * Whether a click at (x, y) in image pixels selects the geometry: inside a box, polygon part,
 * rotated box or set mask pixel, or within `tolerancePx` image pixels of one (so thin shapes and
 * points can be picked; the caller converts its screen tolerance by the zoom). Tags have no place.
 */
export function hitTest(g: Geometry, x: number, y: number, tolerancePx: number): boolean {
  const tol = Math.max(0, tolerancePx);
  const nearRing = (ring: readonly number[]) => {
    if (pointInRing(x, y, ring)) return true;
    const n = ring.length >> 1;
    for (let i = 0; i < n; i++) {
      const j = (i + 1) % n;
      if (distanceToSegment(x, y, ring[2 * i]!, ring[2 * i + 1]!, ring[2 * j]!, ring[2 * j + 1]!) <= tol) return true;
    }
    return false;
  };
  switch (g.kind) {
    case 'box': {
      const r = geometryBBox(g);
      return Math.hypot(Math.max(r.x - x, 0, x - (r.x + r.w)), Math.max(r.y - y, 0, y - (r.y + r.h))) <= tol;
    }
    case 'polygon':
    case 'obb':
      return outlineRings(g).some(nearRing);
    case 'mask':
      return maskHit(g.rle, x, y, tol);
    case 'point':
      return Math.hypot(g.x - x, g.y - y) <= tol;
    case 'tag':
      return false;
    case 'polyline': {
      for (let i = 0; i + 3 < g.points.length; i += 2) {
        if (distanceToSegment(x, y, g.points[i]!, g.points[i + 1]!, g.points[i + 2]!, g.points[i + 3]!) <= tol) return true;
      }
      return false;
    }
    case 'keypoints': {
      const p = labelledKeypoints(g.points);
      for (let i = 0; i + 1 < p.length; i += 2) if (Math.hypot(p[i]! - x, p[i + 1]! - y) <= tol) return true;
      return false;
    }
  }
}
