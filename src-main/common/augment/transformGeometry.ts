import type { Geometry } from '../model';
import { distinctVertexCount, obbCorners, ringSignedArea } from '../geometry/shapes';
import { applyAffine, determinant, isSimilarity, mapPoints, mirrors, type Affine } from './affine';
import { clipPolygonToRect, clipPolylineToRect, minAreaRect, type Frame } from './polygonClip';

/**
 * Vector geometry moved by an affine map and cut to a frame (a rectangle of the output image, in
 * its pixel coordinates). Masks are not handled here: they move with the image's pixels (see
 * services/augment/pipeline.ts).
 */

export type { Frame };

/** What happened to one object: its geometries after the map (several for a polyline cut in pieces, none when dropped). */
export interface GeometryResult {
  geometries: Geometry[];
  clipped: boolean;
  dropped: boolean;
}

const EPS = 1e-9;

function kept(geometries: Geometry[], clipped: boolean): GeometryResult {
  return { geometries, clipped, dropped: false };
}
const DROPPED: GeometryResult = { geometries: [], clipped: false, dropped: true };

/** Whether a ring encloses area (three distinct vertices and a nonzero area). */
export function ringHasArea(ring: readonly number[]): boolean {
  return distinctVertexCount(ring) >= 3 && Math.abs(ringSignedArea(ring)) > EPS;
}

function bounds(flat: readonly number[]): { x0: number; y0: number; x1: number; y1: number } {
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
  return { x0, y0, x1, y1 };
}

/**
 * Rings mapped and clipped to the frame; the visible fraction is the clipped area over the mapped
 * area before clipping. Null when nothing with area is left or too little is visible.
 */
function mapRings(rings: readonly (readonly number[])[], m: Affine, frame: Frame, minVisible: number): { rings: number[][]; clipped: boolean } | null {
  let before = 0;
  let after = 0;
  const out: number[][] = [];
  for (const ring of rings) {
    const mapped = mapPoints(m, ring);
    before += Math.abs(ringSignedArea(mapped));
    const cut = clipPolygonToRect(mapped, frame);
    if (cut.length >= 6 && ringHasArea(cut)) {
      after += Math.abs(ringSignedArea(cut));
      out.push(cut);
    }
  }
  if (out.length === 0 || before <= EPS || after <= EPS) return null;
  if (after / before < minVisible) return null;
  return { rings: out, clipped: after < before * (1 - 1e-9) };
}

/**
 * The same rectangle described with its angle closest to `target` (width and height swap with
 * each quarter turn), so a refitted box keeps the orientation its width had.
 */
function nearestOrientation(r: { cx: number; cy: number; w: number; h: number; angle: number }, target: number): { cx: number; cy: number; w: number; h: number; angle: number } {
  let best = r;
  let bestDiff = Infinity;
  for (let k = 0; k < 4; k++) {
    const angle = r.angle + (k * Math.PI) / 2;
    const diff = Math.abs(Math.atan2(Math.sin(angle - target), Math.cos(angle - target)));
    if (diff < bestDiff - 1e-12) {
      bestDiff = diff;
      best = { cx: r.cx, cy: r.cy, w: k % 2 ? r.h : r.w, h: k % 2 ? r.w : r.h, angle: Math.atan2(Math.sin(angle), Math.cos(angle)) };
    }
  }
  return best;
}

/**
 * One geometry moved by `m` and cut to `frame`, dropped when less than `minVisible` of its area
 * (measured on the moved geometry before the cut) is inside. Boxes move as their outline and are
 * boxed again around what is left; rotated boxes stay rectangles under turns, mirrors and
 * uniform scales, and otherwise (shear, unequal scale, a cut) become the smallest rectangle
 * around the moved, cut outline. Keypoints leaving the frame become unlabelled (0, 0, 0) and
 * swap left/right by `flipPairs` when the map mirrors. Lines are cut into their inside pieces.
 */
export function transformGeometry(
  g: Geometry,
  m: Affine,
  frame: Frame,
  minVisible: number,
  flipPairs?: readonly (readonly [number, number])[],
): GeometryResult {
  switch (g.kind) {
    case 'tag':
      return kept([g], false);
    case 'mask':
      throw new Error('masks move with the image pixels, not as vectors');
    case 'box': {
      const r = mapRings([[g.x, g.y, g.x + g.w, g.y, g.x + g.w, g.y + g.h, g.x, g.y + g.h]], m, frame, minVisible);
      if (!r) return DROPPED;
      const b = bounds(r.rings[0]!);
      if (b.x1 - b.x0 <= EPS || b.y1 - b.y0 <= EPS) return DROPPED;
      return kept([{ kind: 'box', x: b.x0, y: b.y0, w: b.x1 - b.x0, h: b.y1 - b.y0 }], r.clipped);
    }
    case 'polygon': {
      const r = mapRings(g.parts, m, frame, minVisible);
      if (!r) return DROPPED;
      return kept([{ kind: 'polygon', parts: r.rings }], r.clipped);
    }
    case 'obb': {
      const r = mapRings([obbCorners(g)], m, frame, minVisible);
      if (!r) return DROPPED;
      // The direction the box's width axis is turned to.
      const ux = m[0] * Math.cos(g.angle) + m[1] * Math.sin(g.angle);
      const uy = m[2] * Math.cos(g.angle) + m[3] * Math.sin(g.angle);
      const turned = Math.atan2(uy, ux);
      if (!r.clipped && isSimilarity(m)) {
        const [cx, cy] = applyAffine(m, g.cx, g.cy);
        const s = Math.sqrt(Math.abs(determinant(m)));
        return kept([{ kind: 'obb', cx, cy, w: g.w * s, h: g.h * s, angle: turned }], false);
      }
      const rect = nearestOrientation(minAreaRect(r.rings[0]!), turned);
      if (rect.w <= EPS || rect.h <= EPS) return DROPPED;
      return kept([{ kind: 'obb', ...rect }], r.clipped);
    }
    case 'point': {
      const [x, y] = applyAffine(m, g.x, g.y);
      if (x < frame.x0 || x > frame.x1 || y < frame.y0 || y > frame.y1) return DROPPED;
      return kept([{ kind: 'point', x, y }], false);
    }
    case 'polyline': {
      const mapped = mapPoints(m, g.points);
      const { pieces, lengthBefore, lengthAfter } = clipPolylineToRect(mapped, frame);
      if (pieces.length === 0 || lengthBefore <= EPS || lengthAfter / lengthBefore < minVisible) return DROPPED;
      return kept(
        pieces.map((points) => ({ kind: 'polyline', points })),
        lengthAfter < lengthBefore * (1 - 1e-9),
      );
    }
    case 'keypoints': {
      const pts = g.points.slice();
      let labelled = 0;
      let left = 0;
      for (let i = 0; i + 2 < pts.length; i += 3) {
        if (pts[i + 2]! <= 0) continue;
        labelled++;
        const [x, y] = applyAffine(m, pts[i]!, pts[i + 1]!);
        if (x < frame.x0 || x > frame.x1 || y < frame.y0 || y > frame.y1) {
          pts[i] = 0;
          pts[i + 1] = 0;
          pts[i + 2] = 0;
        } else {
          pts[i] = x;
          pts[i + 1] = y;
          left++;
        }
      }
      if (labelled > 0 && left === 0) return DROPPED;
      if (flipPairs && mirrors(m)) {
        for (const [a, b] of flipPairs) {
          if (3 * a + 2 >= pts.length || 3 * b + 2 >= pts.length) continue;
          for (let k = 0; k < 3; k++) {
            const t = pts[3 * a + k]!;
            pts[3 * a + k] = pts[3 * b + k]!;
            pts[3 * b + k] = t;
          }
        }
      }
      return kept([{ kind: 'keypoints', points: pts }], left < labelled);
    }
  }
}
