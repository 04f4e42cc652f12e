import type { AttributeValue, Geometry } from '../model';
import { geometryArea, geometryBBox, obbCorners } from '../geometry/shapes';
import type { Bbox } from './coco';

/**
 * The area and box COCO evaluation judges a ground truth on. COCO's evaluation reads `area` and
 * `bbox` from the ground-truth file rather than from the shape: area ranges are decided on
 * `area`, box IoU on `bbox`. For ordinary shapes COCO's files give what the shape gives (a
 * polygon's shoelace area and vertex extent; measured on coco_tinycoco, all 284 polygons agree
 * to rounding), so evaluation computes them. Crowd regions differ: stored as RLE, their file box
 * is the extent of pixel indices (one pixel narrower and shorter than the mask's extent, in
 * COCO's own files and in Datumaro's) and their area was measured before encoding (1340 for a
 * mask of 1004 pixels). Box IoU with a crowd region divides by the detection's area only, so its
 * box decides which detections fall inside it and are ignored rather than counted as false
 * positives. So an import keeps a crowd region's file values where they differ from the mask's,
 * with a fingerprint of the geometry they describe, and evaluation uses them only while the
 * shape is the imported one: an edited shape is judged on its new geometry.
 */

/** The annotation attribute that holds the file's values: JSON `{"area", "bbox", "geometry"}`. */
export const COCO_REFERENCE_ATTRIBUTE = 'coco_reference';

/** The area COCO files give a shape: box w x h, polygon shoelace area, mask pixel count. */
export function cocoArea(g: Geometry): number {
  if (g.kind === 'obb') return Math.abs(g.w * g.h);
  return geometryArea(g);
}

/** The box COCO files give a shape: its vertex extent, or a mask's whole-pixel extent (toBbox). */
export function cocoBBox(g: Geometry): Bbox {
  const r = g.kind === 'obb' ? geometryBBox({ kind: 'polygon', parts: [obbCorners(g)] }) : geometryBBox(g);
  return [r.x, r.y, r.w, r.h];
}

/**
 * FNV-1a of the geometry's values joined with commas: the same shape gives the same text whatever
 * its object's key order. The text is hashed piece by piece, so a mask of millions of RLE counts
 * is neither spread into an argument list nor joined into one string.
 */
export function geometryFingerprint(g: Geometry): string {
  let h = 0x811c9dc5;
  let length = 0;
  const add = (v: string | number): void => {
    const s = length === 0 ? String(v) : `,${v}`;
    for (let i = 0; i < s.length; i++) {
      h ^= s.charCodeAt(i);
      h = Math.imul(h, 0x01000193) >>> 0;
    }
    length += s.length;
  };
  const addAll = (vs: ArrayLike<number>): void => {
    for (let i = 0; i < vs.length; i++) add(vs[i]!);
  };
  add(g.kind);
  switch (g.kind) {
    case 'box':
      addAll([g.x, g.y, g.w, g.h]);
      break;
    case 'obb':
      addAll([g.cx, g.cy, g.w, g.h, g.angle]);
      break;
    case 'point':
      addAll([g.x, g.y]);
      break;
    case 'polygon':
      for (const p of g.parts) {
        add(p.length);
        addAll(p);
      }
      break;
    case 'mask':
      addAll([g.rle.size[0], g.rle.size[1], g.rle.counts.length]);
      addAll(g.rle.counts);
      break;
    case 'tag':
      break;
  }
  return `${g.kind}:${length}:${h.toString(16).padStart(8, '0')}`;
}

/**
 * Equal but for rounding: files write widths to a few decimals where the extent's subtraction
 * leaves 38.99000000000001, and sum polygon areas in another order. Such differences are not kept.
 */
function same(a: number, b: number): boolean {
  return Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b));
}

/**
 * The attribute value to keep for a crowd region read from a COCO file, or null when the file's
 * `area` and `bbox` are what evaluation would compute anyway (or are missing).
 */
export function cocoReference(g: Geometry, area: unknown, bbox: unknown): string | null {
  const ref: { area?: number; bbox?: Bbox; geometry: string } = { geometry: '' };
  if (typeof area === 'number' && Number.isFinite(area) && area >= 0 && !same(area, cocoArea(g))) ref.area = area;
  if (Array.isArray(bbox) && bbox.length === 4 && bbox.every((v) => typeof v === 'number' && Number.isFinite(v)) && bbox[2] >= 0 && bbox[3] >= 0) {
    const own = cocoBBox(g);
    if (own.some((v, i) => !same(v, bbox[i] as number))) ref.bbox = bbox as Bbox;
  }
  if (ref.area === undefined && ref.bbox === undefined) return null;
  ref.geometry = geometryFingerprint(g);
  return JSON.stringify(ref);
}

/** The file's area and box kept with a ground truth, when its geometry is still the one they describe. */
export function readCocoReference(attributes: Record<string, AttributeValue>, g: Geometry): { area?: number; bbox?: Bbox } {
  const raw = attributes[COCO_REFERENCE_ATTRIBUTE];
  if (typeof raw !== 'string') return {};
  let ref: unknown;
  try {
    ref = JSON.parse(raw);
  } catch {
    return {};
  }
  const r = ref as { area?: unknown; bbox?: unknown; geometry?: unknown } | null;
  if (typeof r !== 'object' || r === null || r.geometry !== geometryFingerprint(g)) return {};
  const out: { area?: number; bbox?: Bbox } = {};
  if (typeof r.area === 'number' && Number.isFinite(r.area)) out.area = r.area;
  if (Array.isArray(r.bbox) && r.bbox.length === 4 && r.bbox.every((v) => typeof v === 'number' && Number.isFinite(v))) out.bbox = r.bbox as Bbox;
  return out;
}
