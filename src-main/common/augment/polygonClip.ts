/**
 * Cutting geometry to an axis-aligned rectangle of the output image: polygons by
 * Sutherland-Hodgman (exact for the convex rectangle; a concave ring cut in two keeps a zero-width
 * bridge along the edge, which adds no area), polylines by Liang-Barsky per segment, and the
 * smallest rectangle around a point set (rotating the frame onto each convex-hull edge).
 */

/** A rectangle in image pixels, from (x0, y0) to (x1, y1). */
export interface Frame {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

type Inside = (x: number, y: number) => boolean;
type Cross = (ax: number, ay: number, bx: number, by: number) => [number, number];

function clipEdge(ring: number[], inside: Inside, cross: Cross): number[] {
  const out: number[] = [];
  const n = ring.length / 2;
  for (let i = 0; i < n; i++) {
    const ax = ring[(2 * (i + n - 1)) % ring.length]!;
    const ay = ring[((2 * (i + n - 1)) % ring.length) + 1]!;
    const bx = ring[2 * i]!;
    const by = ring[2 * i + 1]!;
    const ain = inside(ax, ay);
    const bin = inside(bx, by);
    if (bin) {
      if (!ain) out.push(...cross(ax, ay, bx, by));
      out.push(bx, by);
    } else if (ain) out.push(...cross(ax, ay, bx, by));
  }
  return out;
}

function atX(x: number): Cross {
  return (ax, ay, bx, by) => [x, ay + ((by - ay) * (x - ax)) / (bx - ax)];
}
function atY(y: number): Cross {
  return (ax, ay, bx, by) => [ax + ((bx - ax) * (y - ay)) / (by - ay), y];
}

/** Drops consecutive repeated vertices (the ring is closed, so the last is compared with the first too). */
function dedupe(ring: number[]): number[] {
  const out: number[] = [];
  for (let i = 0; i + 1 < ring.length; i += 2) {
    const n = out.length;
    if (n >= 2 && out[n - 2] === ring[i] && out[n - 1] === ring[i + 1]) continue;
    out.push(ring[i]!, ring[i + 1]!);
  }
  while (out.length >= 4 && out[0] === out[out.length - 2] && out[1] === out[out.length - 1]) out.splice(out.length - 2, 2);
  return out;
}

/** A ring (flat [x0, y0, ...]) cut to the frame; empty when nothing is inside. */
export function clipPolygonToRect(ring: readonly number[], f: Frame): number[] {
  let r = ring.slice();
  r = clipEdge(r, (x) => x >= f.x0, atX(f.x0));
  if (r.length) r = clipEdge(r, (x) => x <= f.x1, atX(f.x1));
  if (r.length) r = clipEdge(r, (_x, y) => y >= f.y0, atY(f.y0));
  if (r.length) r = clipEdge(r, (_x, y) => y <= f.y1, atY(f.y1));
  return dedupe(r);
}

/** The inside pieces of a line (flat [x0, y0, ...]), with its length before and after the cut. */
export function clipPolylineToRect(points: readonly number[], f: Frame): { pieces: number[][]; lengthBefore: number; lengthAfter: number } {
  const pieces: number[][] = [];
  let cur: number[] | null = null;
  let lengthBefore = 0;
  let lengthAfter = 0;
  for (let i = 0; i + 3 < points.length; i += 2) {
    const x0 = points[i]!;
    const y0 = points[i + 1]!;
    const dx = points[i + 2]! - x0;
    const dy = points[i + 3]! - y0;
    lengthBefore += Math.hypot(dx, dy);
    // Liang-Barsky: the parameter interval [t0, t1] of the segment inside the frame.
    let t0 = 0;
    let t1 = 1;
    let empty = false;
    for (const [p, q] of [
      [-dx, x0 - f.x0],
      [dx, f.x1 - x0],
      [-dy, y0 - f.y0],
      [dy, f.y1 - y0],
    ] as const) {
      if (p === 0) {
        if (q < 0) empty = true;
      } else {
        const t = q / p;
        if (p < 0) t0 = Math.max(t0, t);
        else t1 = Math.min(t1, t);
      }
    }
    if (empty || t0 >= t1) {
      cur = null;
      continue;
    }
    const ax = x0 + t0 * dx;
    const ay = y0 + t0 * dy;
    const bx = x0 + t1 * dx;
    const by = y0 + t1 * dy;
    lengthAfter += Math.hypot(bx - ax, by - ay);
    if (cur && t0 === 0) cur.push(bx, by);
    else {
      cur = [ax, ay, bx, by];
      pieces.push(cur);
    }
    if (t1 < 1) cur = null;
  }
  return { pieces: pieces.filter((p) => p.some((v, i) => v !== p[i & 1])), lengthBefore, lengthAfter };
}

function convexHull(flat: readonly number[]): [number, number][] {
  const pts: [number, number][] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) pts.push([flat[i]!, flat[i + 1]!]);
  pts.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  if (pts.length < 3) return pts;
  const cross = (o: [number, number], a: [number, number], b: [number, number]) => (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]);
  const lower: [number, number][] = [];
  for (const p of pts) {
    while (lower.length >= 2 && cross(lower[lower.length - 2]!, lower[lower.length - 1]!, p) <= 0) lower.pop();
    lower.push(p);
  }
  const upper: [number, number][] = [];
  for (let i = pts.length - 1; i >= 0; i--) {
    const p = pts[i]!;
    while (upper.length >= 2 && cross(upper[upper.length - 2]!, upper[upper.length - 1]!, p) <= 0) upper.pop();
    upper.push(p);
  }
  return lower.slice(0, -1).concat(upper.slice(0, -1));
}

/** The smallest-area rectangle around the points, as an oriented box (angle in radians, see obbCorners). */
export function minAreaRect(flat: readonly number[]): { cx: number; cy: number; w: number; h: number; angle: number } {
  const hull = convexHull(flat);
  let best = { cx: 0, cy: 0, w: 0, h: 0, angle: 0 };
  let bestArea = Infinity;
  for (let i = 0; i < hull.length; i++) {
    const a = hull[i]!;
    const b = hull[(i + 1) % hull.length]!;
    const len = Math.hypot(b[0] - a[0], b[1] - a[1]);
    if (len === 0) continue;
    const ux = (b[0] - a[0]) / len;
    const uy = (b[1] - a[1]) / len;
    let u0 = Infinity;
    let u1 = -Infinity;
    let v0 = Infinity;
    let v1 = -Infinity;
    for (const [x, y] of hull) {
      const u = x * ux + y * uy;
      const v = -x * uy + y * ux;
      u0 = Math.min(u0, u);
      u1 = Math.max(u1, u);
      v0 = Math.min(v0, v);
      v1 = Math.max(v1, v);
    }
    const area = (u1 - u0) * (v1 - v0);
    if (area < bestArea - 1e-12) {
      bestArea = area;
      const um = (u0 + u1) / 2;
      const vm = (v0 + v1) / 2;
      best = { cx: um * ux - vm * uy, cy: um * uy + vm * ux, w: u1 - u0, h: v1 - v0, angle: Math.atan2(uy, ux) };
    }
  }
  return best;
}
