import type { Geometry } from '../../../../src-main/common/model';
import { obbCorners } from '../../../../src-main/common/geometry/shapes';
import { ROTATE_HANDLE_PX, type Overlay } from '../../scene';
import { q, type HandleId } from '../../shapes';

/**
 * The handle math of rotated boxes (kind `obb`: centre cx, cy, sizes w, h, angle in radians).
 * The box's own frame has u along (cos a, sin a) and v along (-sin a, cos a), as obbCorners
 * places the corners: with the y axis pointing down, a positive angle turns the box clockwise on
 * screen, the way CVAT's `rotation` and the YOLO-OBB corners read it. The "top" of the box (the
 * side where the rotation handle sits) is the side at v = -h/2.
 */
export type Obb = Extract<Geometry, { kind: 'obb' }>;
export type ObbHandleId = HandleId | 'rotate';

/** The step rotation snaps to while Shift is held. */
export const ROTATION_SNAP = Math.PI / 12;

/** Where each resize handle sits in the box's frame, as fractions of w and h from the centre. */
const HANDLE_UV: Record<HandleId, [number, number]> = {
  nw: [-0.5, -0.5],
  n: [0, -0.5],
  ne: [0.5, -0.5],
  e: [0.5, 0],
  se: [0.5, 0.5],
  s: [0, 0.5],
  sw: [-0.5, 0.5],
  w: [-0.5, 0],
};

export const OBB_HANDLE_IDS = Object.keys(HANDLE_UV) as HandleId[];

/** Image coordinates of the point (u, v) of the box's frame. */
export function obbToImage(g: Obb, u: number, v: number): { x: number; y: number } {
  const c = Math.cos(g.angle);
  const s = Math.sin(g.angle);
  return { x: g.cx + u * c - v * s, y: g.cy + u * s + v * c };
}

/** The box-frame coordinates of the image point (x, y). */
export function obbToLocal(g: Obb, x: number, y: number): { u: number; v: number } {
  const c = Math.cos(g.angle);
  const s = Math.sin(g.angle);
  const dx = x - g.cx;
  const dy = y - g.cy;
  return { u: dx * c + dy * s, v: -dx * s + dy * c };
}

/** The eight resize handles: corners and side midpoints, turned with the box. */
export function obbResizeHandles(g: Obb): { id: HandleId; x: number; y: number }[] {
  return OBB_HANDLE_IDS.map((id) => ({ id, ...obbToImage(g, HANDLE_UV[id][0] * g.w, HANDLE_UV[id][1] * g.h) }));
}

/**
 * The rotation handle: from the middle of the top side, `ROTATE_HANDLE_PX` screen pixels out
 * along `dir` (so it keeps its distance at every zoom). `base` is the middle of the top side.
 */
export function obbRotateHandle(g: Obb, zoom: number): { x: number; y: number; base: { x: number; y: number }; dir: { x: number; y: number } } {
  const base = obbToImage(g, 0, -Math.abs(g.h) / 2);
  const dir = { x: Math.sin(g.angle), y: -Math.cos(g.angle) };
  const d = ROTATE_HANDLE_PX / zoom;
  return { x: base.x + dir.x * d, y: base.y + dir.y * d, base, dir };
}

/** The handles as the overlay draws them: resize squares, and the rotation knob on its stem. */
export function obbOverlayHandles(g: Obb): Overlay['handles'] {
  const r = obbRotateHandle(g, 1);
  return [
    ...obbResizeHandles(g).map((h) => ({ x: h.x, y: h.y, kind: 'resize' as const })),
    { x: r.base.x, y: r.base.y, kind: 'rotate' as const, dx: r.dir.x, dy: r.dir.y },
  ];
}

/** The handle within `tol` image pixels of (x, y), the rotation handle first; null when none. */
export function obbHandleAt(g: Obb, x: number, y: number, tol: number, zoom: number): ObbHandleId | null {
  const r = obbRotateHandle(g, zoom);
  if (Math.hypot(r.x - x, r.y - y) <= tol) return 'rotate';
  let best: HandleId | null = null;
  let bestD = tol;
  for (const h of obbResizeHandles(g)) {
    const d = Math.hypot(h.x - x, h.y - y);
    if (d <= bestD) {
      bestD = d;
      best = h.id;
    }
  }
  return best;
}

/**
 * The box with the sides `handle` controls moved to (x, y), measured in the box's own frame: the
 * opposite side (or corner) stays where it is and the angle is kept; a side handle changes one
 * size only. Dragging past the opposite side flips the box over it, sizes staying positive.
 */
export function resizeObb(g: Obb, handle: HandleId, x: number, y: number): Obb {
  const p = obbToLocal(g, x, y);
  const [fu, fv] = HANDLE_UV[handle];
  const w = Math.abs(g.w);
  const h = Math.abs(g.h);
  let u0 = -w / 2;
  let u1 = w / 2;
  let v0 = -h / 2;
  let v1 = h / 2;
  if (fu < 0) u0 = p.u;
  else if (fu > 0) u1 = p.u;
  if (fv < 0) v0 = p.v;
  else if (fv > 0) v1 = p.v;
  const c = obbToImage(g, (u0 + u1) / 2, (v0 + v1) / 2);
  return { kind: 'obb', cx: q(c.x), cy: q(c.y), w: q(Math.abs(u1 - u0)), h: q(Math.abs(v1 - v0)), angle: g.angle };
}

/** An angle in (-pi, pi]. */
export function normalizeAngle(a: number): number {
  let r = a % (2 * Math.PI);
  if (r <= -Math.PI) r += 2 * Math.PI;
  else if (r > Math.PI) r -= 2 * Math.PI;
  return r;
}

/** The angle rounded to the nearest multiple of `step` (15 degrees by default). */
export function snapAngle(a: number, step = ROTATION_SNAP): number {
  return normalizeAngle(Math.round(a / step) * step);
}

/**
 * The box turned about its centre by the angle the pointer swept around it, from `from` (where
 * the rotation handle was grabbed) to `to`; with `snap` the resulting angle is a multiple of 15
 * degrees. Grabbing the knob slightly off its centre does not make the box jump.
 */
export function rotateObb(g: Obb, from: { x: number; y: number }, to: { x: number; y: number }, snap: boolean): Obb {
  const a0 = Math.atan2(from.y - g.cy, from.x - g.cx);
  const a1 = Math.atan2(to.y - g.cy, to.x - g.cx);
  const turned = normalizeAngle(g.angle + (a1 - a0));
  return { ...g, angle: snap ? snapAngle(turned) : turned };
}

/** The axis-aligned rotated box (angle 0) between two corners. */
export function obbFromCorners(x0: number, y0: number, x1: number, y1: number): Obb {
  const ax = q(x0);
  const ay = q(y0);
  const bx = q(x1);
  const by = q(y1);
  return { kind: 'obb', cx: q((ax + bx) / 2), cy: q((ay + by) / 2), w: q(Math.abs(bx - ax)), h: q(Math.abs(by - ay)), angle: 0 };
}

export { obbCorners };
