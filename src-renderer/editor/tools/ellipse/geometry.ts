import type { Geometry } from '../../../../src-main/common/model';
import { q } from '../../shapes';

/** The largest distance between an ellipse and its polygon, in pixels. */
export const ELLIPSE_TOLERANCE = 0.25;

/**
 * Vertices of the polygon of an ellipse whose larger semi-axis is r: enough that a chord strays at
 * most ELLIPSE_TOLERANCE from it (a chord over angle t strays r (1 - cos(t / 2)), and the ellipse is
 * the circle of radius r squeezed along one axis, which only brings chords closer), a multiple of 4
 * between 12 and 360, as labelme circles are read (formats/labelme circleVertexCount).
 */
export function ellipseVertexCount(r: number): number {
  const n = r <= ELLIPSE_TOLERANCE ? 12 : Math.ceil(Math.PI / Math.acos(1 - ELLIPSE_TOLERANCE / r));
  return Math.min(360, Math.max(12, Math.ceil(n / 4) * 4));
}

/**
 * Ellipses and circles are stored as polygons, which every export format holds (see
 * ellipseVertexCount). The vertices sit slightly outside the ellipse, scaled so the polygon's area
 * equals pi * a * b: an inscribed polygon would be short of it, by 4.5 % with 12 vertices; the
 * scaled polygon strays less than the inscribed one, on both sides.
 */
export function ellipseRing(cx: number, cy: number, rx: number, ry: number): number[] {
  const n = ellipseVertexCount(Math.max(rx, ry));
  // An inscribed n-gon has (n / 2) sin(2 pi / n) of the pi a b; scaling by k multiplies that by k^2.
  const k = Math.sqrt((2 * Math.PI) / (n * Math.sin((2 * Math.PI) / n)));
  const ring: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = (2 * Math.PI * i) / n;
    ring.push(q(cx + k * rx * Math.cos(t)), q(cy + k * ry * Math.sin(t)));
  }
  return ring;
}

/**
 * The ellipse inscribed in the rectangle between two corners; with `circle` the rectangle is made
 * a square first, its side the larger of the two, keeping the first corner and the direction of
 * the drag.
 */
export function ellipseFromCorners(x0: number, y0: number, x1: number, y1: number, circle: boolean): Extract<Geometry, { kind: 'polygon' }> {
  let dx = x1 - x0;
  let dy = y1 - y0;
  if (circle) {
    const s = Math.max(Math.abs(dx), Math.abs(dy));
    dx = Math.sign(dx || 1) * s;
    dy = Math.sign(dy || 1) * s;
  }
  return { kind: 'polygon', parts: [ellipseRing(x0 + dx / 2, y0 + dy / 2, Math.abs(dx) / 2, Math.abs(dy) / 2)] };
}
