import type { Geometry } from '../../src-main/common/model';
import {
  boxFromGeometry,
  maskToPolygonGeometry,
  obbCorners,
  polygonToMaskGeometry,
  translateGeometry as translate,
} from '../../src-main/common/geometry/shapes';
import { decodeMask, encodeMask, rleArea } from '../../src-main/common/geometry/rle';
import { fillHoles } from '../../src-main/common/geometry/raster';
import { q, type Mask } from './shapes';

export type ConvertTarget = 'polygon' | 'mask' | 'box';

/** A mask being painted: row-major bytes at image resolution, as raster.paintStroke expects. */
export interface MaskCanvas {
  width: number;
  height: number;
  data: Uint8Array;
}

export function emptyCanvas(width: number, height: number): MaskCanvas {
  return { width, height, data: new Uint8Array(width * height) };
}

export function canvasOf(m: Mask): MaskCanvas {
  const [height, width] = m.rle.size;
  return { width, height, data: decodeMask(m.rle) };
}

export function maskOf(c: MaskCanvas): Mask {
  return { kind: 'mask', rle: encodeMask(c.data, c.width, c.height) };
}

export function maskArea(m: Mask): number {
  return rleArea(m.rle);
}

/**
 * The geometry moved by (dx, dy) image pixels (masks by whole pixels), with coordinates kept to
 * the editor's 1/100 px so repeated moves do not accumulate float noise.
 */
export function translateGeometry(g: Geometry, dx: number, dy: number): Geometry {
  const t = translate(g, dx, dy);
  switch (t.kind) {
    case 'box':
    case 'point':
      return { ...t, x: q(t.x), y: q(t.y) };
    case 'obb':
      return { ...t, cx: q(t.cx), cy: q(t.cy) };
    case 'polygon':
      return { kind: 'polygon', parts: t.parts.map((ring) => ring.map(q)) };
    case 'polyline':
      return { kind: 'polyline', points: t.points.map(q) };
    default:
      return t;
  }
}

/**
 * Another kind of geometry for the same region, or why there is none. Polygons (and boxes) become
 * masks rasterised as COCO does; masks become polygons traced along pixel edges and simplified
 * by `tolerance` image pixels; anything with an extent gives its bounding box.
 */
export function convertGeometry(g: Geometry, target: ConvertTarget, image: { width: number; height: number }, tolerance: number): Geometry | string {
  if (g.kind === target) return `it is already a ${target}`;
  if (target === 'box') {
    const b = boxFromGeometry(g);
    return { kind: 'box', x: q(b.x), y: q(b.y), w: q(b.w), h: q(b.h) };
  }
  if (target === 'mask') {
    if (g.kind !== 'polygon' && g.kind !== 'box' && g.kind !== 'obb') return `a ${g.kind} has no area to fill`;
    return polygonToMaskGeometry(g, image.width, image.height);
  }
  if (g.kind === 'mask') return maskToPolygonGeometry(g, tolerance) ?? 'the mask is empty';
  if (g.kind === 'box' || g.kind === 'obb') {
    const ring = g.kind === 'box' ? [g.x, g.y, g.x + g.w, g.y, g.x + g.w, g.y + g.h, g.x, g.y + g.h] : obbCorners(g);
    return { kind: 'polygon', parts: [ring.map(q)] };
  }
  return `a ${g.kind} has no outline`;
}

/** The mask with its holes filled, or null when it has none. */
export function fillMaskHoles(m: Mask): Mask | null {
  const c = canvasOf(m);
  const filled = fillHoles(c.data, c.width, c.height);
  let changed = false;
  for (let i = 0; i < filled.length; i++) {
    if (filled[i] !== c.data[i]) {
      changed = true;
      break;
    }
  }
  return changed ? maskOf({ ...c, data: filled }) : null;
}
