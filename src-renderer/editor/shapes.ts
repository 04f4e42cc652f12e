import type { Geometry } from '../../src-main/common/model';

/**
 * Small geometric helpers the tools need for interaction (hit tests, handles, box resizing).
 * Everything is in image pixels; tolerances arrive already divided by the zoom.
 */

export type Box = Extract<Geometry, { kind: 'box' }>;
export type Polygon = Extract<Geometry, { kind: 'polygon' }>;
export type Mask = Extract<Geometry, { kind: 'mask' }>;

/**
 * Stored coordinates are kept to 1/100 px: pointer positions carry float noise from the view
 * transform that means nothing at image resolution and would only bloat the rows.
 */
export function q(n: number): number {
  return Math.round(n * 100) / 100;
}

export function boxFromCorners(x0: number, y0: number, x1: number, y1: number): Box {
  const ax = q(x0);
  const ay = q(y0);
  const bx = q(x1);
  const by = q(y1);
  return { kind: 'box', x: Math.min(ax, bx), y: Math.min(ay, by), w: q(Math.abs(bx - ax)), h: q(Math.abs(by - ay)) };
}

export type HandleId = 'nw' | 'n' | 'ne' | 'e' | 'se' | 's' | 'sw' | 'w';

const HANDLE_POS: Record<HandleId, [number, number]> = {
  nw: [0, 0],
  n: [0.5, 0],
  ne: [1, 0],
  e: [1, 0.5],
  se: [1, 1],
  s: [0.5, 1],
  sw: [0, 1],
  w: [0, 0.5],
};

export const HANDLE_IDS = Object.keys(HANDLE_POS) as HandleId[];

export function boxHandles(b: Box): { id: HandleId; x: number; y: number }[] {
  return HANDLE_IDS.map((id) => ({ id, x: b.x + HANDLE_POS[id][0] * b.w, y: b.y + HANDLE_POS[id][1] * b.h }));
}

/** The box with the edges that `handle` controls moved to (x, y); dragging past the opposite edge flips it. */
export function resizeBox(b: Box, handle: HandleId, x: number, y: number): Box {
  let x0 = b.x;
  let y0 = b.y;
  let x1 = b.x + b.w;
  let y1 = b.y + b.h;
  if (handle.includes('w')) x0 = x;
  if (handle.includes('e')) x1 = x;
  if (handle.includes('n')) y0 = y;
  if (handle.includes('s')) y1 = y;
  return boxFromCorners(x0, y0, x1, y1);
}

export function distanceToSegment(px: number, py: number, ax: number, ay: number, bx: number, by: number): { d: number; t: number } {
  const dx = bx - ax;
  const dy = by - ay;
  const len2 = dx * dx + dy * dy;
  const t = len2 === 0 ? 0 : Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / len2));
  return { d: Math.hypot(px - (ax + t * dx), py - (ay + t * dy)), t };
}

/** Whether the shape lies wholly inside the rectangle (marquee selection). */
export function insideRect(bbox: { x: number; y: number; w: number; h: number }, r: { x: number; y: number; w: number; h: number }): boolean {
  return bbox.x >= r.x && bbox.y >= r.y && bbox.x + bbox.w <= r.x + r.w && bbox.y + bbox.h <= r.y + r.h;
}

export interface VertexRef {
  part: number;
  index: number;
}

export function nearestVertex(g: Polygon, x: number, y: number, tol: number): VertexRef | null {
  let best: VertexRef | null = null;
  let bestD = tol;
  g.parts.forEach((ring, part) => {
    for (let index = 0; index < ring.length >> 1; index++) {
      const d = Math.hypot(ring[2 * index]! - x, ring[2 * index + 1]! - y);
      if (d <= bestD) {
        bestD = d;
        best = { part, index };
      }
    }
  });
  return best;
}

/** The edge nearest to (x, y) within `tol`; `index` is the edge's first vertex. */
export function nearestEdge(g: Polygon, x: number, y: number, tol: number): (VertexRef & { x: number; y: number }) | null {
  let best: (VertexRef & { x: number; y: number }) | null = null;
  let bestD = tol;
  g.parts.forEach((ring, part) => {
    const n = ring.length >> 1;
    for (let index = 0; index < n; index++) {
      const j = (index + 1) % n;
      const ax = ring[2 * index]!;
      const ay = ring[2 * index + 1]!;
      const bx = ring[2 * j]!;
      const by = ring[2 * j + 1]!;
      const { d, t } = distanceToSegment(x, y, ax, ay, bx, by);
      if (d <= bestD) {
        bestD = d;
        best = { part, index, x: q(ax + t * (bx - ax)), y: q(ay + t * (by - ay)) };
      }
    }
  });
  return best;
}

export function withVertex(g: Polygon, v: VertexRef, x: number, y: number): Polygon {
  return {
    kind: 'polygon',
    parts: g.parts.map((ring, p) => (p === v.part ? ring.map((c, i) => (i === 2 * v.index ? q(x) : i === 2 * v.index + 1 ? q(y) : c)) : ring)),
  };
}

/** Inserts a vertex after vertex `afterIndex` of `part`. */
export function insertVertex(g: Polygon, part: number, afterIndex: number, x: number, y: number): Polygon {
  return {
    kind: 'polygon',
    parts: g.parts.map((ring, p) => (p === part ? [...ring.slice(0, 2 * afterIndex + 2), q(x), q(y), ...ring.slice(2 * afterIndex + 2)] : ring)),
  };
}

/** Removes a vertex; a part left with fewer than three vertices goes, and the polygon with it when it was the last. */
export function withoutVertex(g: Polygon, v: VertexRef): Polygon | null {
  const parts = g.parts
    .map((ring, p) => (p === v.part ? [...ring.slice(0, 2 * v.index), ...ring.slice(2 * v.index + 2)] : ring))
    .filter((ring) => ring.length >= 6);
  return parts.length ? { kind: 'polygon', parts } : null;
}

/** The polygon's vertices as handles, and each edge's midpoint as an insertion hint. */
export function polygonHandles(g: Polygon): { x: number; y: number; kind: 'vertex' | 'edge' }[] {
  const out: { x: number; y: number; kind: 'vertex' | 'edge' }[] = [];
  for (const ring of g.parts) {
    const n = ring.length >> 1;
    for (let i = 0; i < n; i++) {
      const j = (i + 1) % n;
      out.push({ x: ring[2 * i]!, y: ring[2 * i + 1]!, kind: 'vertex' });
      out.push({ x: (ring[2 * i]! + ring[2 * j]!) / 2, y: (ring[2 * i + 1]! + ring[2 * j + 1]!) / 2, kind: 'edge' });
    }
  }
  return out;
}
