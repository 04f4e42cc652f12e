import type { Geometry } from '../../src-main/common/model';
import { obbCorners } from '../../src-main/common/geometry/shapes';
import type { SceneShape } from '../editor/scene';

/**
 * Stroking and filling of annotation geometry on a plain 2D context whose transform maps image
 * pixels to device pixels. Sizes are given in CSS pixels and converted with `px` (image pixels per
 * CSS pixel), so lines and markers keep their on-screen size at every zoom.
 */

export const LINE_PX = 1.5;
export const HALO_PX = 5;
export const POINT_RADIUS_PX = 4;
export const WARN_COLOR = '#ffb000';
const POINT_RIM = '#101114';
const FILL_ALPHA = 0.2;
const PREDICTION_FILL_ALPHA = 0.08;
/** How far (CSS pixels) ink may reach outside a shape's geometric bounds. */
export const INK_MARGIN_PX = HALO_PX / 2 + POINT_RADIUS_PX + 2;

/** Adds the outline of `g` as subpaths of the current path; masks and tags add nothing. */
export function tracePath(ctx: CanvasRenderingContext2D, g: Geometry, px: number, closed = true): void {
  switch (g.kind) {
    case 'box':
      ctx.rect(g.x, g.y, g.w, g.h);
      return;
    case 'polygon':
      for (const ring of g.parts) traceRing(ctx, ring, closed);
      return;
    case 'obb':
      traceRing(ctx, obbCorners(g), closed);
      return;
    case 'point': {
      const r = POINT_RADIUS_PX * px;
      ctx.moveTo(g.x + r, g.y);
      ctx.arc(g.x, g.y, r, 0, Math.PI * 2);
      return;
    }
    case 'mask':
    case 'tag':
      return;
  }
}

function traceRing(ctx: CanvasRenderingContext2D, ring: readonly number[], closed: boolean): void {
  if (ring.length < 2) return;
  ctx.moveTo(ring[0]!, ring[1]!);
  for (let i = 2; i + 1 < ring.length; i += 2) ctx.lineTo(ring[i]!, ring[i + 1]!);
  if (closed) ctx.closePath();
}

/** Shapes that share colour and flags are painted with one path: one fill and one stroke call. */
export function styleKey(s: SceneShape): string {
  return `${s.color}|${s.prediction ? 'p' : 'h'}|${s.flagged ? 'f' : ''}`;
}

/** Paints shapes that share one style (see styleKey) as a single path. */
export function paintGroup(ctx: CanvasRenderingContext2D, shapes: readonly SceneShape[], px: number): void {
  const first = shapes[0];
  if (!first) return;
  let points = 0;
  ctx.beginPath();
  for (const s of shapes) {
    if (s.geometry.kind === 'point') points++;
    else tracePath(ctx, s.geometry, px);
  }
  ctx.lineJoin = 'bevel';
  if (first.flagged) {
    ctx.setLineDash([]);
    ctx.strokeStyle = WARN_COLOR;
    ctx.lineWidth = HALO_PX * px;
    ctx.stroke();
  }
  ctx.fillStyle = first.color;
  ctx.globalAlpha = first.prediction ? PREDICTION_FILL_ALPHA : FILL_ALPHA;
  ctx.fill();
  ctx.globalAlpha = 1;
  ctx.strokeStyle = first.color;
  ctx.lineWidth = LINE_PX * px;
  ctx.setLineDash(first.prediction ? [6 * px, 4 * px] : []);
  ctx.stroke();
  ctx.setLineDash([]);
  if (points > 0) paintPoints(ctx, shapes, first, px);
}

/** Points have no area to tint, so they are solid discs with a dark rim to stand out on any image. */
function paintPoints(ctx: CanvasRenderingContext2D, shapes: readonly SceneShape[], style: SceneShape, px: number): void {
  ctx.beginPath();
  for (const s of shapes) if (s.geometry.kind === 'point') tracePath(ctx, s.geometry, px);
  if (style.flagged) {
    ctx.strokeStyle = WARN_COLOR;
    ctx.lineWidth = HALO_PX * px;
    ctx.stroke();
  }
  ctx.fillStyle = style.color;
  ctx.globalAlpha = style.prediction ? 0.6 : 1;
  ctx.fill();
  ctx.globalAlpha = 1;
  ctx.strokeStyle = POINT_RIM;
  ctx.lineWidth = px;
  ctx.stroke();
}

/** Image pixels per CSS pixel for a context whose transform is image → device pixels. */
export function pxOf(ctx: CanvasRenderingContext2D, dpr: number): number {
  const m = ctx.getTransform();
  return dpr / Math.hypot(m.a, m.b);
}
