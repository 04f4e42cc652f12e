import type { AttributeValue, Geometry } from '../model';
import { encodeMask, decodeMask, polygonToRle, rleBBox, rleMerge, type Rle } from '../geometry';
import type { FormatProblem, InterchangeAnnotation } from './types';

/**
 * labelme (wkentaro/labelme) JSON, one file per image, as a parsed object and back.
 *
 * Shapes: rectangle → box; polygon → polygon; circle → polygon (see circleToRing) with the
 * attribute `labelme_shape: "circle"`, written back as a circle while its vertices still are
 * that approximation; point → point (and the multi-point `points` → one point each); mask → a
 * mask over the whole image; linestrip (and line, its two-point case) → polyline, written back as
 * linestrip.
 *
 * Shapes sharing a `group_id` and a label are one instance in labelme: polygons, rectangles and
 * circles join as parts of one polygon; if a mask is among them, everything is rasterised and
 * merged into one mask (counted). The group id is kept as the attribute `group_id`.
 *
 * Mask shapes: `points` are the first and last pixel of the mask's box, inclusive (labelme
 * pastes the PNG into mask[y1:y2+1, x1:x2+1]); `mask` is a base64 PNG of that box, any nonzero
 * pixel set. PNG decoding is the caller's (this module has no codecs): it hands in the pixels.
 *
 * Attributes: shape `flags` are boolean attributes, a non-empty `description` the attribute
 * `description`, and other attribute values live in a shape key `attributes` (X-AnyLabeling's
 * key for them; labelme itself keeps unknown shape keys as extra data when it saves). Image
 * `flags` set to true are the image's tags; false flags are not kept.
 */

/** Decoded pixels of a mask shape's PNG (row-major, nonzero = set). */
export interface LabelmeBitmap {
  width: number;
  height: number;
  data: Uint8Array;
}

export const LABELME_CIRCLE_ATTRIBUTE = 'labelme_shape';
/**
 * Masks are assembled in a full-image byte buffer; beyond this many pixels (a 16k x 16k image)
 * a file's stated size is refused for masks rather than allowed to exhaust memory.
 */
export const MAX_MASK_IMAGE_PIXELS = 2 ** 28;
/** The largest distance between a circle and its polygon, in pixels. */
export const CIRCLE_TOLERANCE = 0.25;

/**
 * Vertices of a circle's polygon: enough that no point of the circle is more than
 * CIRCLE_TOLERANCE from it (a chord over angle a strays r(1 - cos(a/2))), a multiple of 4
 * between 12 and 360, so opposite vertices exist and the centre can be found again.
 */
export function circleVertexCount(r: number): number {
  const n = r <= CIRCLE_TOLERANCE ? 12 : Math.ceil(Math.PI / Math.acos(1 - CIRCLE_TOLERANCE / r));
  return Math.min(360, Math.max(12, Math.ceil(n / 4) * 4));
}

/** The circle through (px, py) around (cx, cy) as a ring starting exactly at (px, py). */
export function circleToRing(cx: number, cy: number, px: number, py: number): number[] {
  const r = Math.hypot(px - cx, py - cy);
  const n = circleVertexCount(r);
  const a0 = Math.atan2(py - cy, px - cx);
  const ring: number[] = [px, py];
  for (let k = 1; k < n; k++) {
    const a = a0 + (2 * Math.PI * k) / n;
    ring.push(cx + r * Math.cos(a), cy + r * Math.sin(a));
  }
  return ring;
}

/** The labelme circle a ring was made from, or null when the ring is not (any longer) such an approximation. */
export function ringToCircle(ring: readonly number[]): [[number, number], [number, number]] | null {
  const n = ring.length / 2;
  if (n < 12 || n % 4 !== 0) return null;
  const px = ring[0]!;
  const py = ring[1]!;
  const cx = (px + ring[n]!) / 2;
  const cy = (py + ring[n + 1]!) / 2;
  const again = circleToRing(cx, cy, px, py);
  if (again.length !== ring.length) return null;
  const tol = 1e-6 * Math.max(1, Math.hypot(px - cx, py - cy));
  for (let i = 0; i < ring.length; i++) if (Math.abs(again[i]! - ring[i]!) > tol) return null;
  return [
    [cx, cy],
    [px, py],
  ];
}

export interface LabelmeReadResult {
  /** `imagePath` as written, relative to the JSON file's folder; null when absent. */
  imagePath: string | null;
  width?: number;
  height?: number;
  /** Whether the file embeds the image (`imageData`). */
  hasImageData: boolean;
  tags: string[];
  annotations: InterchangeAnnotation[];
  problems: FormatProblem[];
  counters: Record<string, number>;
}

/** A mask shape's PNG for the caller to decode, with the sizes it must fit (see labelmeMaskTooLarge). */
export interface LabelmeMaskPayload {
  index: number;
  base64: string;
  /** The box its two points span, as readLabelmeDocument places it; null when the points are unusable. */
  box: { width: number; height: number } | null;
  /** imageWidth x imageHeight; null when not both positive whole numbers. */
  image: { width: number; height: number } | null;
}

/** Indices of the mask shapes whose PNG the caller must decode, with the base64 text. */
export function labelmeMaskPayloads(doc: unknown): LabelmeMaskPayload[] {
  const root = doc as { shapes?: unknown; imageWidth?: unknown; imageHeight?: unknown } | null;
  const shapes = root?.shapes;
  if (!Array.isArray(shapes)) return [];
  const w = positiveInt(root?.imageWidth);
  const h = positiveInt(root?.imageHeight);
  const image = w !== undefined && h !== undefined ? { width: w, height: h } : null;
  const out: LabelmeMaskPayload[] = [];
  shapes.forEach((s, index) => {
    const r = s as Record<string, unknown> | null;
    if (r && typeof r === 'object' && r['shape_type'] === 'mask' && typeof r['mask'] === 'string') out.push({ index, base64: r['mask'], box: maskBox(r['points']), image });
  });
  return out;
}

/** The inclusive pixel box of a mask shape's two points (labelme's [x1, y1], [x2, y2]), or null. */
function maskBox(pts: unknown): { width: number; height: number } | null {
  if (!Array.isArray(pts) || pts.length !== 2) return null;
  const [a, b] = pts as unknown[];
  const finite = (p: unknown): p is [number, number] => Array.isArray(p) && p.length >= 2 && Number.isFinite(p[0]) && Number.isFinite(p[1]);
  if (!finite(a) || !finite(b)) return null;
  return {
    width: Math.abs(Math.trunc(Math.max(a[0], b[0])) - Math.trunc(Math.min(a[0], b[0]))) + 1,
    height: Math.abs(Math.trunc(Math.max(a[1], b[1])) - Math.trunc(Math.min(a[1], b[1]))) + 1,
  };
}

/**
 * Why a mask PNG of the `declared` size (from its header) must not be decoded, or null. Decoding
 * takes a byte per pixel at least, and a PNG of billions of zeros compresses to kilobytes: eight
 * 16383 x 16383 masks in an 11 MB file took 4.4 GB. The PNG may not be larger than the image, nor
 * than its shape's box (one pixel of slack for writers that round the points the other way);
 * without a usable image size the shape is refused anyway, so nothing is decoded either.
 */
export function labelmeMaskTooLarge(payload: LabelmeMaskPayload, declared: { width: number; height: number }): string | null {
  const { image, box } = payload;
  const size = `${declared.width}x${declared.height}`;
  if (!image || image.width * image.height > MAX_MASK_IMAGE_PIXELS) return 'the mask cannot be placed on this image; its PNG is not decoded';
  if (declared.width > image.width || declared.height > image.height) {
    return `the PNG declares ${size} pixels, more than the ${image.width}x${image.height} image; not decoded`;
  }
  if (box && (declared.width > box.width + 1 || declared.height > box.height + 1)) {
    return `the PNG declares ${size} pixels, more than the ${box.width}x${box.height} box of its points; not decoded`;
  }
  return null;
}

/**
 * A value from a file, quoted for a message: short, and never by serialising it whole (String
 * and JSON.stringify recurse, and a damaged file can nest lists 100,000 deep).
 */
function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? `${v.slice(0, 60)}…` : v);
  if (v === null || v === undefined || typeof v === 'number' || typeof v === 'boolean') return String(v);
  return Array.isArray(v) ? 'a list' : `a ${typeof v}`;
}

function isPrimitive(v: unknown): v is AttributeValue {
  return v === null || typeof v === 'string' || typeof v === 'boolean' || (typeof v === 'number' && Number.isFinite(v));
}

function positiveInt(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : undefined;
}

/** A shape on its way to becoming an annotation; those with the same non-null groupKey are one instance. */
export interface GroupMember {
  label: string;
  attributes: Record<string, AttributeValue>;
  geometry: Geometry;
  groupKey: string | null;
}

function boxRing(g: { x: number; y: number; w: number; h: number }): number[] {
  return [g.x, g.y, g.x + g.w, g.y, g.x + g.w, g.y + g.h, g.x, g.y + g.h];
}

/**
 * One labelme document into annotations. `masks` holds the decoded PNG of each mask shape by
 * shape index (a string says why decoding failed).
 */
export function readLabelmeDocument(doc: unknown, file: string, masks: ReadonlyMap<number, LabelmeBitmap | string>): LabelmeReadResult {
  const problems: FormatProblem[] = [];
  const counters: Record<string, number> = {};
  const bump = (k: string): void => void (counters[k] = (counters[k] ?? 0) + 1);
  const result: LabelmeReadResult = { imagePath: null, hasImageData: false, tags: [], annotations: [], problems, counters };
  const root = doc && typeof doc === 'object' && !Array.isArray(doc) ? (doc as Record<string, unknown>) : null;
  if (!root || !Array.isArray(root['shapes'])) {
    problems.push({ file, severity: 'error', message: 'not a labelme file: there is no "shapes" list' });
    return result;
  }
  if (typeof root['imagePath'] === 'string' && root['imagePath'] !== '') result.imagePath = root['imagePath'];
  result.hasImageData = typeof root['imageData'] === 'string' && root['imageData'].length > 0;
  const width = positiveInt(root['imageWidth']);
  const height = positiveInt(root['imageHeight']);
  if (width !== undefined && height !== undefined) {
    result.width = width;
    result.height = height;
  } else if (root['imageWidth'] !== undefined || root['imageHeight'] !== undefined) {
    problems.push({ file, where: 'imageWidth', severity: 'warning', message: `imageWidth/imageHeight (${describe(root['imageWidth'])} x ${describe(root['imageHeight'])}) are not positive whole numbers; the size is taken from the image file` });
  }
  const flags = root['flags'];
  if (flags && typeof flags === 'object' && !Array.isArray(flags)) {
    for (const [k, v] of Object.entries(flags)) if (v === true) result.tags.push(k);
  }

  const members: GroupMember[] = [];
  (root['shapes'] as unknown[]).forEach((raw, i) => {
    const where = `shapes[${i}]`;
    const s = raw && typeof raw === 'object' && !Array.isArray(raw) ? (raw as Record<string, unknown>) : null;
    if (!s) {
      problems.push({ file, where, severity: 'error', message: 'a shape that is not an object; skipped' });
      return;
    }
    const label = typeof s['label'] === 'string' ? s['label'].trim() : '';
    if (!label) {
      problems.push({ file, where, severity: 'error', message: 'a shape without a label; skipped' });
      return;
    }
    const rawType = s['shape_type'];
    const type = rawType === undefined || rawType === null ? 'polygon' : typeof rawType === 'string' ? rawType.slice(0, 60) : describe(rawType);
    const pts = s['points'];
    const points: [number, number][] = [];
    if (!Array.isArray(pts) || !pts.every((p) => Array.isArray(p) && p.length >= 2 && typeof p[0] === 'number' && typeof p[1] === 'number' && Number.isFinite(p[0]) && Number.isFinite(p[1]))) {
      problems.push({ file, where, severity: 'error', message: `${type} "${label}" has points that are not pairs of finite numbers; skipped` });
      return;
    }
    for (const p of pts as number[][]) points.push([p[0]!, p[1]!]);

    const attributes: Record<string, AttributeValue> = {};
    const extra = s['attributes'];
    if (extra && typeof extra === 'object' && !Array.isArray(extra)) {
      for (const [k, v] of Object.entries(extra)) if (isPrimitive(v)) attributes[k] = v;
    }
    const sf = s['flags'];
    if (sf && typeof sf === 'object' && !Array.isArray(sf)) {
      for (const [k, v] of Object.entries(sf)) if (typeof v === 'boolean') attributes[k] = v;
    }
    if (typeof s['description'] === 'string' && s['description'] !== '') attributes['description'] = s['description'];
    const gid = s['group_id'];
    let groupKey: string | null = null;
    if (typeof gid === 'number' && Number.isFinite(gid)) {
      attributes['group_id'] = gid;
      groupKey = `${label}\u0000${gid}`;
    } else if (gid !== null && gid !== undefined) {
      problems.push({ file, where: `${where}.group_id`, severity: 'warning', message: `group_id ${describe(gid)} is not a number; ignored` });
    }
    const need = (n: number, exact: boolean): boolean => {
      if (exact ? points.length === n : points.length >= n) return true;
      problems.push({ file, where, severity: 'error', message: `${type} "${label}" needs ${exact ? '' : 'at least '}${n} point${n > 1 ? 's' : ''}, not ${points.length}; skipped` });
      return false;
    };
    const add = (geometry: Geometry, area: boolean): void => void members.push({ label, attributes: { ...attributes }, geometry, groupKey: area ? groupKey : null });

    switch (type) {
      case 'rectangle': {
        if (!need(2, true)) return;
        const [[x1, y1], [x2, y2]] = points as [[number, number], [number, number]];
        const g = { kind: 'box' as const, x: Math.min(x1, x2), y: Math.min(y1, y2), w: Math.abs(x2 - x1), h: Math.abs(y2 - y1) };
        if (g.w === 0 || g.h === 0) {
          problems.push({ file, where, severity: 'warning', message: `rectangle "${label}" has zero area; skipped` });
          bump('zeroAreaShapes');
          return;
        }
        add(g, true);
        return;
      }
      case 'polygon': {
        if (!need(3, false)) return;
        add({ kind: 'polygon', parts: [points.flat()] }, true);
        return;
      }
      case 'circle': {
        if (!need(2, true)) return;
        const [[cx, cy], [px, py]] = points as [[number, number], [number, number]];
        if (cx === px && cy === py) {
          problems.push({ file, where, severity: 'warning', message: `circle "${label}" has radius 0; skipped` });
          bump('zeroAreaShapes');
          return;
        }
        attributes[LABELME_CIRCLE_ATTRIBUTE] = 'circle';
        add({ kind: 'polygon', parts: [circleToRing(cx, cy, px, py)] }, true);
        bump('circlesAsPolygons');
        return;
      }
      case 'point': {
        if (!need(1, true)) return;
        add({ kind: 'point', x: points[0]![0], y: points[0]![1] }, false);
        return;
      }
      case 'points': {
        if (!need(1, false)) return;
        for (const [x, y] of points) add({ kind: 'point', x, y }, false);
        return;
      }
      case 'mask': {
        if (!need(2, true)) return;
        if (width === undefined || height === undefined) {
          problems.push({ file, where, severity: 'error', message: `mask "${label}" cannot be placed without imageWidth and imageHeight; skipped` });
          return;
        }
        if (width * height > MAX_MASK_IMAGE_PIXELS) {
          problems.push({ file, where, severity: 'error', message: `mask "${label}": masks on images over ${MAX_MASK_IMAGE_PIXELS} pixels (${width}x${height}) are not supported; skipped` });
          return;
        }
        const bmp = masks.get(i);
        if (bmp === undefined || typeof bmp === 'string') {
          problems.push({ file, where, severity: 'error', message: `mask "${label}": ${bmp ?? 'no base64 PNG in "mask"'}; skipped` });
          return;
        }
        const x0 = Math.trunc(Math.min(points[0]![0], points[1]![0]));
        const y0 = Math.trunc(Math.min(points[0]![1], points[1]![1]));
        const bw = Math.trunc(Math.max(points[0]![0], points[1]![0])) - x0 + 1;
        const bh = Math.trunc(Math.max(points[0]![1], points[1]![1])) - y0 + 1;
        if (bw !== bmp.width || bh !== bmp.height) {
          problems.push({ file, where, severity: 'warning', message: `mask "${label}": the PNG is ${bmp.width}x${bmp.height} but its points span ${bw}x${bh}; the PNG's size is used` });
        }
        const full = new Uint8Array(width * height);
        let set = 0;
        let clipped = 0;
        for (let y = 0; y < bmp.height; y++) {
          for (let x = 0; x < bmp.width; x++) {
            if (!bmp.data[y * bmp.width + x]) continue;
            const X = x0 + x;
            const Y = y0 + y;
            if (X < 0 || Y < 0 || X >= width || Y >= height) clipped++;
            else {
              full[Y * width + X] = 1;
              set++;
            }
          }
        }
        if (clipped) problems.push({ file, where, severity: 'warning', message: `mask "${label}": ${clipped} pixels outside the image were dropped` });
        if (set === 0) {
          problems.push({ file, where, severity: 'warning', message: `mask "${label}" is empty; skipped` });
          bump('emptyMasks');
          return;
        }
        add({ kind: 'mask', rle: encodeMask(full, width, height) }, true);
        return;
      }
      case 'line':
      case 'linestrip': {
        if (!need(2, type === 'line')) return;
        if (new Set(points.map(([x, y]) => `${x},${y}`)).size < 2) {
          problems.push({ file, where, severity: 'warning', message: `${type} "${label}" has fewer than 2 distinct points; skipped` });
          bump('zeroLengthLines');
          return;
        }
        add({ kind: 'polyline', points: points.flat() }, false);
        return;
      }
      default:
        problems.push({ file, where, severity: 'warning', message: `unsupported shape type ${type} ("${label}"); skipped` });
        bump('unsupportedShapes');
    }
  });

  result.annotations = joinGroups(members, width, height, bump);
  return result;
}

/**
 * Joins the members of each group into one annotation, placed where its first member was:
 * boxes and polygons become the parts of one polygon; when a mask is among them everything is
 * rasterised (as COCO would) and merged into one mask, counted as groupShapesRasterized. A mask
 * member implies the image size is known. The first member's attributes win.
 */
export function joinGroups(members: readonly GroupMember[], width: number | undefined, height: number | undefined, bump: (counter: string) => void): InterchangeAnnotation[] {
  const groups = new Map<string, GroupMember[]>();
  const firsts: GroupMember[] = [];
  for (const m of members) {
    const g = m.groupKey === null ? undefined : groups.get(m.groupKey);
    if (g) g.push(m);
    else {
      if (m.groupKey !== null) groups.set(m.groupKey, [m]);
      firsts.push(m);
    }
  }
  const ringsOf = (g: Geometry): number[][] => (g.kind === 'box' ? [boxRing(g)] : g.kind === 'polygon' ? g.parts : []);
  const out: InterchangeAnnotation[] = [];
  for (const m of firsts) {
    const g = m.groupKey === null ? undefined : groups.get(m.groupKey);
    if (!g || g.length === 1) {
      out.push({ label: m.label, geometry: m.geometry, attributes: m.attributes });
      continue;
    }
    const attributes = Object.assign({}, ...g.map((x) => x.attributes).reverse()) as Record<string, AttributeValue>;
    delete attributes[LABELME_CIRCLE_ATTRIBUTE];
    try {
      if (g.some((x) => x.geometry.kind === 'mask') && width !== undefined && height !== undefined) {
        const rles: Rle[] = g.map((x) => (x.geometry.kind === 'mask' ? x.geometry.rle : polygonToRle(ringsOf(x.geometry), height, width)));
        out.push({ label: m.label, geometry: { kind: 'mask', rle: rleMerge(rles) }, attributes });
        if (g.some((x) => x.geometry.kind !== 'mask')) bump('groupShapesRasterized');
      } else {
        out.push({ label: m.label, geometry: { kind: 'polygon', parts: g.flatMap((x) => ringsOf(x.geometry)) }, attributes });
      }
      bump('groupsJoined');
    } catch {
      // A polygon too wild to rasterise (coordinates far outside any image): keep the members apart.
      bump('groupsNotJoined');
      for (const x of g) out.push({ label: x.label, geometry: x.geometry, attributes: x.attributes });
    }
  }
  return out;
}

/** The box of a mask's set pixels and their row-major 0/1 pixels inside it; null when empty. */
export function labelmeMaskCrop(rle: Rle): { x: number; y: number; bitmap: LabelmeBitmap } | null {
  const bb = rleBBox(rle);
  if (bb.w === 0 || bb.h === 0) return null;
  const w = rle.size[1];
  const full = decodeMask(rle);
  const data = new Uint8Array(bb.w * bb.h);
  for (let y = 0; y < bb.h; y++) {
    const row = (bb.y + y) * w + bb.x;
    data.set(full.subarray(row, row + bb.w), y * bb.w);
  }
  return { x: bb.x, y: bb.y, bitmap: { width: bb.w, height: bb.h, data } };
}

export interface LabelmeShape {
  label: string;
  points: number[][];
  group_id: number | null;
  description: string;
  shape_type: string;
  flags: Record<string, boolean>;
  mask: string | null;
  attributes?: Record<string, AttributeValue>;
}

export interface LabelmeDocument {
  version: string;
  flags: Record<string, boolean>;
  shapes: LabelmeShape[];
  imagePath: string;
  imageData: null;
  imageHeight: number;
  imageWidth: number;
}

export const LABELME_VERSION = '5.5.0';

/**
 * One image's labelme document. `maskPng(i)` gives the base64 PNG of annotation i's cropped
 * mask (see labelmeMaskCrop), or null when it is empty. Kinds labelme cannot hold are passed to
 * `skip`.
 */
export function writeLabelmeDocument(
  image: { imagePath: string; width: number; height: number; tags: readonly string[] },
  annotations: readonly InterchangeAnnotation[],
  maskPng: (index: number) => { x: number; y: number; width: number; height: number; base64: string } | null,
  skip: (kind: string, message: string) => void,
): LabelmeDocument {
  const shapes: LabelmeShape[] = [];
  let nextGroup = 1;
  for (const a of annotations) {
    const g = a.attributes['group_id'];
    if (typeof g === 'number' && Number.isFinite(g) && g >= nextGroup) nextGroup = Math.floor(g) + 1;
  }
  annotations.forEach((a, i) => {
    const flags: Record<string, boolean> = {};
    const attributes: Record<string, AttributeValue> = {};
    let description = '';
    let groupId: number | null = null;
    for (const [k, v] of Object.entries(a.attributes)) {
      if (k === 'group_id' && typeof v === 'number' && Number.isFinite(v)) groupId = v;
      else if (k === LABELME_CIRCLE_ATTRIBUTE && v === 'circle') continue;
      else if (k === 'description' && typeof v === 'string') description = v;
      else if (typeof v === 'boolean') flags[k] = v;
      else attributes[k] = v;
    }
    const shape = (shape_type: string, points: number[][], group: number | null, mask: string | null = null): LabelmeShape => {
      const s: LabelmeShape = { label: a.label, points, group_id: group, description, shape_type, flags, mask };
      if (Object.keys(attributes).length) s.attributes = attributes;
      return s;
    };
    const geo = a.geometry;
    switch (geo.kind) {
      case 'box':
        shapes.push(shape('rectangle', [[geo.x, geo.y], [geo.x + geo.w, geo.y + geo.h]], groupId));
        return;
      case 'point':
        shapes.push(shape('point', [[geo.x, geo.y]], groupId));
        return;
      case 'polyline': {
        const pts: number[][] = [];
        for (let j = 0; j + 1 < geo.points.length; j += 2) pts.push([geo.points[j]!, geo.points[j + 1]!]);
        shapes.push(shape('linestrip', pts, groupId));
        return;
      }
      case 'polygon': {
        if (geo.parts.length > 1 && groupId === null) groupId = nextGroup++;
        const circle = a.attributes[LABELME_CIRCLE_ATTRIBUTE] === 'circle' && geo.parts.length === 1 ? ringToCircle(geo.parts[0]!) : null;
        if (circle) {
          shapes.push(shape('circle', circle, groupId));
          return;
        }
        for (const ring of geo.parts) {
          const pts: number[][] = [];
          for (let j = 0; j + 1 < ring.length; j += 2) pts.push([ring[j]!, ring[j + 1]!]);
          shapes.push(shape('polygon', pts, groupId));
        }
        return;
      }
      case 'mask': {
        const png = maskPng(i);
        if (!png) {
          skip('empty-mask', 'an empty mask was left out');
          return;
        }
        shapes.push(shape('mask', [[png.x, png.y], [png.x + png.width - 1, png.y + png.height - 1]], groupId, png.base64));
        return;
      }
      default:
        skip(`unsupported:${geo.kind}`, `labelme cannot hold a ${geo.kind} annotation; it was left out`);
    }
  });
  const flags: Record<string, boolean> = {};
  for (const t of image.tags) flags[t] = true;
  return { version: LABELME_VERSION, flags, shapes, imagePath: image.imagePath, imageData: null, imageHeight: image.height, imageWidth: image.width };
}
