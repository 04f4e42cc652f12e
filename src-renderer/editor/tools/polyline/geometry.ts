import type { Geometry } from '../../../../src-main/common/model';
import { distinctVertexCount } from '../../../../src-main/common/geometry/shapes';
import type { Overlay } from '../../scene';
import { distanceToSegment, q } from '../../shapes';

/** Vertex editing of open polylines (flat x, y pairs): like a polygon's, without the closing edge. */
export type Polyline = Extract<Geometry, { kind: 'polyline' }>;

export function nearestPolylineVertex(g: Polyline, x: number, y: number, tol: number): number | null {
  let best: number | null = null;
  let bestD = tol;
  for (let i = 0; i < g.points.length >> 1; i++) {
    const d = Math.hypot(g.points[2 * i]! - x, g.points[2 * i + 1]! - y);
    if (d <= bestD) {
      bestD = d;
      best = i;
    }
  }
  return best;
}

/** The segment nearest to (x, y) within `tol`: `index` is its first vertex, (x, y) the nearest point on it. */
export function nearestPolylineSegment(g: Polyline, x: number, y: number, tol: number): { index: number; x: number; y: number } | null {
  let best: { index: number; x: number; y: number } | null = null;
  let bestD = tol;
  const p = g.points;
  for (let i = 0; i + 1 < p.length >> 1; i++) {
    const ax = p[2 * i]!;
    const ay = p[2 * i + 1]!;
    const bx = p[2 * i + 2]!;
    const by = p[2 * i + 3]!;
    const { d, t } = distanceToSegment(x, y, ax, ay, bx, by);
    if (d <= bestD) {
      bestD = d;
      best = { index: i, x: q(ax + t * (bx - ax)), y: q(ay + t * (by - ay)) };
    }
  }
  return best;
}

export function withPolylineVertex(g: Polyline, index: number, x: number, y: number): Polyline {
  return { kind: 'polyline', points: g.points.map((c, i) => (i === 2 * index ? q(x) : i === 2 * index + 1 ? q(y) : c)) };
}

export function insertPolylineVertex(g: Polyline, afterIndex: number, x: number, y: number): Polyline {
  return { kind: 'polyline', points: [...g.points.slice(0, 2 * afterIndex + 2), q(x), q(y), ...g.points.slice(2 * afterIndex + 2)] };
}

/** The polyline without one vertex; null when fewer than two distinct points would be left. */
export function withoutPolylineVertex(g: Polyline, index: number): Polyline | null {
  const points = [...g.points.slice(0, 2 * index), ...g.points.slice(2 * index + 2)];
  return distinctVertexCount(points) >= 2 ? { kind: 'polyline', points } : null;
}

/** Vertex handles, and each segment's midpoint as an insertion hint. */
export function polylineHandles(g: Polyline): Overlay['handles'] {
  const out: { x: number; y: number; kind: 'vertex' | 'edge' }[] = [];
  const p = g.points;
  const n = p.length >> 1;
  for (let i = 0; i < n; i++) {
    out.push({ x: p[2 * i]!, y: p[2 * i + 1]!, kind: 'vertex' });
    if (i + 1 < n) out.push({ x: (p[2 * i]! + p[2 * i + 2]!) / 2, y: (p[2 * i + 1]! + p[2 * i + 3]!) / 2, kind: 'edge' });
  }
  return out;
}
