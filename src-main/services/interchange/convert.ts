import {
  boxFromGeometry,
  geometryBBox,
  obbCorners,
  polygonToMaskGeometry,
  rleArea,
  rleBBox,
  traceMask,
} from '../../common/geometry';
import type { Geometry } from '../../common/model';

/** A shape kind an export target may hold (tags are image-level and never converted). */
export type ShapeKind = Exclude<Geometry['kind'], 'tag'>;
type Of<K extends Geometry['kind']> = Extract<Geometry, { kind: K }>;

/**
 * What each source kind becomes when the target cannot hold it, best first: exact conversions
 * (box and rotated box to polygon corners) before rasterising, rasterising before bounding boxes,
 * and axis-aligned bounding boxes last, since they lose the most.
 */
const PREFERENCE: Record<ShapeKind, readonly ShapeKind[]> = {
  box: ['box', 'polygon', 'obb', 'mask'],
  obb: ['obb', 'polygon', 'box', 'mask'],
  polygon: ['polygon', 'mask', 'box', 'obb'],
  mask: ['mask', 'polygon', 'box', 'obb'],
  point: ['point'],
  // An open line and a skeleton have no faithful substitute: a target without them drops them, counted.
  polyline: ['polyline'],
  keypoints: ['keypoints'],
};

/** Why each conversion is or is not exact, for the export report. */
const NOTES: Record<string, string> = {
  'box→polygon': 'boxes written as 4-corner polygons (exact)',
  'box→obb': 'boxes written as rotated boxes with angle 0 (exact)',
  'box→mask': 'boxes rasterised to masks',
  'obb→polygon': 'rotated boxes written as 4-corner polygons (exact)',
  'obb→box': 'rotated boxes replaced by the axis-aligned box around their corners',
  'obb→mask': 'rotated boxes rasterised to masks',
  'polygon→mask': 'polygons rasterised to masks',
  'polygon→box': 'polygons replaced by the axis-aligned box around their vertices',
  'polygon→obb': 'polygons replaced by their axis-aligned bounding box as a rotated box with angle 0',
  'mask→polygon': 'masks traced to polygons along pixel edges; holes are lost',
  'mask→box': 'masks replaced by the bounding box of their pixels',
  'mask→obb': 'masks replaced by their bounding box as a rotated box with angle 0',
};

export interface Converted {
  /** The geometry in a kind the target holds, or null when it cannot be written at all. */
  geometry: Geometry | null;
  /** e.g. "mask→box", or "unsupported:point" for a shape the target has no place for; null when unchanged. */
  conversion: string | null;
}

export function conversionMessage(conversion: string): string {
  if (conversion.startsWith('unsupported:')) return `${conversion.slice(12)} annotations dropped: the format cannot hold them`;
  return NOTES[conversion] ?? conversion;
}

export function boxToPolygon(g: Of<'box'>): Of<'polygon'> {
  const r = geometryBBox(g);
  return { kind: 'polygon', parts: [[r.x, r.y, r.x + r.w, r.y, r.x + r.w, r.y + r.h, r.x, r.y + r.h]] };
}

export function obbToPolygon(g: Of<'obb'>): Of<'polygon'> {
  return { kind: 'polygon', parts: [obbCorners(g)] };
}

/** Box around a polygon's vertices, a rotated box's corners or a mask's pixels; null for an empty mask. */
export function toBox(g: Of<'polygon' | 'obb' | 'mask'>): Of<'box'> | null {
  if (g.kind === 'mask' && rleArea(g.rle) === 0) return null;
  return boxFromGeometry(g);
}

/** An axis-aligned rotated box (angle 0) around the shape; exact for a box. */
export function toObb(g: Of<'box' | 'polygon' | 'mask'>): Of<'obb'> | null {
  const b = g.kind === 'box' ? geometryBBox(g) : toBox(g);
  if (!b) return null;
  return { kind: 'obb', cx: b.x + b.w / 2, cy: b.y + b.h / 2, w: b.w, h: b.h, angle: 0 };
}

/** Rasterised like the COCO API (polygonToRle); null when no pixel centre falls inside. */
export function toMask(g: Of<'box' | 'polygon' | 'obb'>, width: number, height: number): Of<'mask'> | null {
  const m = polygonToMaskGeometry(g, width, height);
  return rleArea(m.rle) === 0 ? null : m;
}

/**
 * Exact pixel-edge outline of each 8-connected component (no simplification); holes are filled.
 * Traced within the mask's bounding box: decoding and walking the whole image for every small
 * object would cost milliseconds each, minutes over an export of many masks.
 */
export function maskToPolygon(g: Of<'mask'>): Of<'polygon'> | null {
  if (rleArea(g.rle) === 0) return null;
  const b = rleBBox(g.rle);
  const crop = new Uint8Array(b.w * b.h);
  const h = g.rle.size[0];
  let p = 0;
  g.rle.counts.forEach((c, i) => {
    if (i & 1) {
      for (let k = p; k < p + c; k++) {
        const x = Math.floor(k / h);
        crop[(k - x * h - b.y) * b.w + (x - b.x)] = 1;
      }
    }
    p += c;
  });
  const parts = traceMask(crop, b.w, b.h, 0).map((ring) => ring.map((v, i) => v + (i & 1 ? b.y : b.x)));
  return { kind: 'polygon', parts };
}

function convertTo(g: Geometry, to: ShapeKind, width: number, height: number): Geometry | null {
  switch (to) {
    case 'box':
      return g.kind === 'polygon' || g.kind === 'obb' || g.kind === 'mask' ? toBox(g) : null;
    case 'polygon':
      return g.kind === 'box' ? boxToPolygon(g) : g.kind === 'obb' ? obbToPolygon(g) : g.kind === 'mask' ? maskToPolygon(g) : null;
    case 'obb':
      return g.kind === 'box' || g.kind === 'polygon' || g.kind === 'mask' ? toObb(g) : null;
    case 'mask':
      return g.kind === 'box' || g.kind === 'polygon' || g.kind === 'obb' ? toMask(g, width, height) : null;
    case 'point':
    case 'polyline':
    case 'keypoints':
      return null;
  }
}

/**
 * A geometry in a kind among `allowed`, converted by the first of its preferences the target
 * holds. Points have no substitute and are dropped where the target has no points.
 * `width`/`height` are the image's (masks are the size of their image).
 */
export function convertGeometry(g: Geometry, allowed: readonly Geometry['kind'][], width: number, height: number): Converted {
  if (allowed.includes(g.kind)) return { geometry: g, conversion: null };
  if (g.kind === 'tag') return { geometry: null, conversion: 'unsupported:tag' };
  const to = PREFERENCE[g.kind].find((k) => allowed.includes(k));
  if (!to) return { geometry: null, conversion: `unsupported:${g.kind}` };
  return { geometry: convertTo(g, to, width, height), conversion: `${g.kind}→${to}` };
}
