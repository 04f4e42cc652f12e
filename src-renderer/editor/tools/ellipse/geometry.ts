import type { Geometry } from '../../../../src-main/common/model';
import { circleVertexCount } from '../../../../src-main/common/formats/labelme';
import { q } from '../../shapes';

/**
 * Ellipses and circles are stored as polygons, which every export format holds. The vertex count
 * keeps the outline within 0.25 px of the true ellipse (as labelme circles are read: see
 * circleVertexCount, at least 12, at most 360), and the vertices sit slightly outside the
 * ellipse, scaled so the polygon's area equals pi * a * b: an inscribed polygon would be short
 * of it, by 4.5 % with 12 vertices.
 */
export function ellipseRing(cx: number, cy: number, rx: number, ry: number): number[] {
  const n = circleVertexCount(Math.max(rx, ry));
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
