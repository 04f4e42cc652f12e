import { rleMerge, type Rle } from '../geometry/rle';
import { obbCorners } from '../geometry/shapes';
import { probiou } from './obbPose';
import type { Detection } from './types';

/**
 * Tiled (sliced) inference: the image is cut into overlapping tiles that each go through the
 * model at its input size, so small objects are not shrunk away; the detections of all tiles are
 * mapped back to image pixels and merged so that an object cut by a tile border is one detection.
 *
 * Merging rule (class-aware, greedy, best first):
 * - A detection is *cut* when one of its sides lies within `edgeTolerance` pixels of an edge of
 *   its tile that is inside the image (not the image border): the object probably goes on in the
 *   neighbouring tile. Detections of the optional full-image pass are never cut.
 * - Complete detections are considered before cut ones, each group by score, so a partial box at
 *   a tile edge never wins over the complete box of the same object from an overlapping tile.
 * - Two detections of one class match when their boxes' IoU exceeds `iou`; when either is cut
 *   and they come from different tiles, the boxes are compared only inside the region the two
 *   tiles share (both tiles saw that part of the object whole), so a partial box matches the
 *   complete one, and the two halves of an object larger than the overlap match each other.
 * - A detection matching a kept complete one is dropped (plain NMS). A cut detection matching a
 *   kept cut one is fused into it: the boxes' union, the higher score, the masks' union. That
 *   rebuilds objects larger than the overlap that no single tile saw whole.
 * - Rotated boxes match by probiou (as the obb decoder's NMS) when neither is cut, else by the
 *   axis-aligned boxes around them; keypoints by their boxes. A group keeps the rotated box and
 *   keypoints of its first (best complete, else best cut) detection; a fused group's rotated box
 *   is the first piece's orientation stretched over every piece's corners (see fuseRotated), and
 *   its keypoints are taken one by one from the piece whose tile holds the point farthest from an
 *   inner tile edge (see fuseKeypoints; a tile's keypoints outside it come unscored).
 */

/** Image-pixel rectangle, x/y of the top-left corner, integer pixels. */
export interface Tile {
  x: number;
  y: number;
  w: number;
  h: number;
}

export interface TilingOptions {
  /** Tile side in image pixels. */
  size: number;
  /** Overlap between neighbouring tiles: a fraction of `size` when below 1, else pixels. */
  overlap: number;
  /** Also run the model once on the whole (downscaled) image and merge its detections. */
  fullPass?: boolean;
}

/** Pixels two neighbouring tiles share, from a fraction or a pixel count; always below `size`. */
export function overlapPixels(size: number, overlap: number): number {
  if (!(size >= 1) || !(overlap >= 0)) throw new RangeError(`invalid tiling: size ${size}, overlap ${overlap}`);
  const px = overlap < 1 ? Math.round(overlap * size) : Math.round(overlap);
  if (px >= size) throw new RangeError(`tile overlap ${px} px must be smaller than the tile size ${size} px`);
  return px;
}

/** Start positions along one axis: the first at 0, the last ending at `length`, evenly spread. */
function starts(length: number, size: number, overlap: number): number[] {
  if (length <= size) return [0];
  const stride = size - overlap;
  const n = Math.ceil((length - size) / stride) + 1;
  // Spreading the slack evenly keeps every overlap at least the requested one.
  return Array.from({ length: n }, (_, i) => Math.round((i * (length - size)) / (n - 1)));
}

/**
 * The tiles covering a `width` x `height` image, row by row. Tiles are `size` square except when
 * the image is smaller than a tile in that direction (then the tile is the image's extent).
 */
export function tileGrid(width: number, height: number, opts: TilingOptions): Tile[] {
  const size = Math.round(opts.size);
  const ov = overlapPixels(size, opts.overlap);
  const xs = starts(width, size, ov);
  const ys = starts(height, size, ov);
  const tiles: Tile[] = [];
  for (const y of ys) for (const x of xs) tiles.push({ x, y, w: Math.min(size, width - x), h: Math.min(size, height - y) });
  return tiles;
}

/**
 * Places a tile's mask (COCO RLE, column-major, of the tile's size) at (`x`, `y`) in an empty
 * `imageH` x `imageW` mask, working on runs so the image-size bitmap is never built.
 */
export function placeMask(rle: Rle, x: number, y: number, imageH: number, imageW: number): Rle {
  const [th, tw] = rle.size;
  if (x < 0 || y < 0 || x + tw > imageW || y + th > imageH) throw new RangeError(`a ${tw}x${th} mask at ${x},${y} does not fit a ${imageW}x${imageH} image`);
  const counts: number[] = [];
  let last = 0; // end of the last set run in image indices
  let pos = 0;
  const emit = (start: number, end: number): void => {
    if (counts.length > 0 && start === last) {
      counts[counts.length - 1]! += end - start;
    } else {
      counts.push(start - last, end - start);
    }
    last = end;
  };
  for (let i = 0; i < rle.counts.length; i++) {
    const run = rle.counts[i]!;
    if (i & 1 && run > 0) {
      // A run may span several tile columns: split it per column.
      let s = pos;
      const e = pos + run;
      while (s < e) {
        const col = Math.floor(s / th);
        const colEnd = Math.min(e, (col + 1) * th);
        const base = (x + col) * imageH + y - col * th;
        emit(base + s, base + colEnd);
        s = colEnd;
      }
    }
    pos += run;
  }
  const total = imageW * imageH;
  if (counts.length === 0) return { size: [imageH, imageW], counts: [total] };
  counts.push(total - last);
  return { size: [imageH, imageW], counts };
}

/** A detection in image pixels and the tile it was found in (the whole image for a full pass). */
export interface TileDetection {
  detection: Detection;
  tile: Tile;
}

export interface MergeOptions {
  width: number;
  height: number;
  /** IoU above which two detections of a class are one object. */
  iou: number;
  /** How close (pixels) a box side must be to an inner tile edge to count as cut there. */
  edgeTolerance?: number;
  /** The most detections kept, best first. */
  maxDetections?: number;
}

export interface CutSides {
  left: boolean;
  top: boolean;
  right: boolean;
  bottom: boolean;
}

/** Which sides of a box lie on an edge of its tile that is inside the image. */
export function cutSides(box: Detection['box'], tile: Tile, width: number, height: number, tolerance = 3): CutSides {
  return {
    left: tile.x > 0 && box.x - tile.x <= tolerance,
    top: tile.y > 0 && box.y - tile.y <= tolerance,
    right: tile.x + tile.w < width && tile.x + tile.w - (box.x + box.w) <= tolerance,
    bottom: tile.y + tile.h < height && tile.y + tile.h - (box.y + box.h) <= tolerance,
  };
}

const isCut = (c: CutSides): boolean => c.left || c.top || c.right || c.bottom;

type Box = Detection['box'];

function intersect(a: Box | Tile, b: Box | Tile): Box | null {
  const x1 = Math.max(a.x, b.x), y1 = Math.max(a.y, b.y);
  const x2 = Math.min(a.x + a.w, b.x + b.w), y2 = Math.min(a.y + a.h, b.y + b.h);
  return x2 > x1 && y2 > y1 ? { x: x1, y: y1, w: x2 - x1, h: y2 - y1 } : null;
}

export function iouOf(a: Box, b: Box): number {
  const i = intersect(a, b);
  if (!i) return 0;
  const inter = i.w * i.h;
  const union = a.w * a.h + b.w * b.h - inter;
  return union > 0 ? inter / union : 0;
}

const sameTile = (a: Tile, b: Tile): boolean => a.x === b.x && a.y === b.y && a.w === b.w && a.h === b.h;

export interface Member {
  box: Box;
  tile: Tile;
  cut: boolean;
  /** The rotated box of an obb model's detection. */
  obb?: Detection['obb'];
  /** A pose model's keypoints `[x, y, score, ...]` in image pixels. */
  keypoints?: Detection['keypoints'];
}

/** The IoU of two detections, inside the tiles' shared region when either is cut (see above). */
export function tiledIou(a: Member, b: Member): number {
  // Whole rotated boxes compare as the decoder's NMS does: thin boxes crossing share their bounding box.
  if (a.obb && b.obb && ((!a.cut && !b.cut) || sameTile(a.tile, b.tile))) return probiou(a.obb, b.obb);
  if (!(a.cut || b.cut) || sameTile(a.tile, b.tile)) return iouOf(a.box, b.box);
  const shared = intersect(a.tile, b.tile);
  if (!shared) return 0;
  const ca = intersect(a.box, shared), cb = intersect(b.box, shared);
  return ca && cb ? iouOf(ca, cb) : 0;
}

interface Group {
  classIndex: number;
  score: number;
  box: Box;
  cut: boolean;
  members: Member[];
  masks: Rle[];
  /** The rotated box and keypoints of the group's first (best) detection. */
  obb?: Detection['obb'];
  keypoints?: Detection['keypoints'];
}

function union(a: Box, b: Box): Box {
  const x1 = Math.min(a.x, b.x), y1 = Math.min(a.y, b.y);
  const x2 = Math.max(a.x + a.w, b.x + b.w), y2 = Math.max(a.y + a.h, b.y + b.h);
  return { x: x1, y: y1, w: x2 - x1, h: y2 - y1 };
}

/** Merges the detections of all tiles (and the full pass) into one list for the image, best first. */
export function mergeTiled(items: readonly TileDetection[], opts: MergeOptions): Detection[] {
  const tol = opts.edgeTolerance ?? 3;
  const entries = items.map((it) => ({ it, cut: isCut(cutSides(it.detection.box, it.tile, opts.width, opts.height, tol)) }));
  // Complete before cut, then by score; ties keep input order.
  const order = entries.map((_, i) => i).sort((a, b) => Number(entries[a]!.cut) - Number(entries[b]!.cut) || entries[b]!.it.detection.score - entries[a]!.it.detection.score || a - b);
  const groups: Group[] = [];
  for (const i of order) {
    const { it, cut } = entries[i]!;
    const d = it.detection;
    const me: Member = { box: d.box, tile: it.tile, cut, ...(d.obb ? { obb: d.obb } : {}), ...(d.keypoints ? { keypoints: d.keypoints } : {}) };
    let matched: Group | null = null;
    for (const g of groups) {
      if (g.classIndex !== d.classIndex) continue;
      if (g.members.some((m) => tiledIou(m, me) > opts.iou)) {
        matched = g;
        break;
      }
    }
    if (!matched) {
      groups.push({ classIndex: d.classIndex, score: d.score, box: d.box, cut, members: [me], masks: d.mask ? [d.mask] : [], ...(d.obb ? { obb: d.obb } : {}), ...(d.keypoints ? { keypoints: d.keypoints } : {}) });
      continue;
    }
    // Complete keepers suppress; cut keepers absorb other cut pieces of their object.
    if (!matched.cut || !cut) continue;
    matched.members.push(me);
    matched.box = union(matched.box, d.box);
    matched.score = Math.max(matched.score, d.score);
    if (d.mask) matched.masks.push(d.mask);
  }
  groups.sort((a, b) => b.score - a.score);
  const kept = opts.maxDetections !== undefined ? groups.slice(0, opts.maxDetections) : groups;
  return kept.map((g) => {
    const det: Detection = { classIndex: g.classIndex, score: g.score, box: g.box };
    if (g.masks.length > 0) det.mask = g.masks.length === 1 ? g.masks[0]! : (rleMerge(g.masks) as Detection['mask'] & Rle);
    if (g.obb) det.obb = g.members.length > 1 ? fuseRotated(g.members, g.obb) : g.obb;
    if (g.keypoints) det.keypoints = g.members.length > 1 ? fuseKeypoints(g.members, g.keypoints, opts.width, opts.height) : g.keypoints;
    return det;
  });
}

type Rotated = NonNullable<Detection['obb']>;

/**
 * The rotated box of pieces of one object cut by tile edges: the first piece's orientation, its
 * extent along both of its axes the span of every piece's corners, so a long object crossing
 * several tiles is stored whole rather than as the first tile's piece.
 */
export function fuseRotated(members: readonly Member[], first: Rotated): Rotated {
  const c = Math.cos(first.angle), s = Math.sin(first.angle);
  let u0 = Infinity, u1 = -Infinity, v0 = Infinity, v1 = -Infinity;
  for (const m of members) {
    // A piece without a rotated box contributes its axis-aligned box.
    const pts = m.obb ? obbCorners({ kind: 'obb', ...m.obb }) : [m.box.x, m.box.y, m.box.x + m.box.w, m.box.y, m.box.x + m.box.w, m.box.y + m.box.h, m.box.x, m.box.y + m.box.h];
    for (let i = 0; i < pts.length; i += 2) {
      const dx = pts[i]! - first.cx, dy = pts[i + 1]! - first.cy;
      const u = dx * c + dy * s, v = -dx * s + dy * c;
      u0 = Math.min(u0, u);
      u1 = Math.max(u1, u);
      v0 = Math.min(v0, v);
      v1 = Math.max(v1, v);
    }
  }
  const um = (u0 + u1) / 2, vm = (v0 + v1) / 2;
  return { cx: first.cx + um * c - vm * s, cy: first.cy + um * s + vm * c, w: u1 - u0, h: v1 - v0, angle: first.angle };
}

/** How far a point lies inside its tile from the nearest tile edge inside the image (Infinity when none). */
function innerEdgeDistance(x: number, y: number, t: Tile, width: number, height: number): number {
  return Math.min(t.x > 0 ? x - t.x : Infinity, t.y > 0 ? y - t.y : Infinity, t.x + t.w < width ? t.x + t.w - x : Infinity, t.y + t.h < height ? t.y + t.h - y : Infinity);
}

/**
 * The keypoints of pieces of one object cut by tile edges, index by index: of the pieces that
 * scored the keypoint (a tile's keypoints outside it are unscored), the one whose tile holds it
 * farthest from an inner tile edge, where the model saw most around it; unscored in every piece,
 * the first piece's.
 */
export function fuseKeypoints(members: readonly Member[], first: readonly number[], width: number, height: number): number[] {
  const out = [...first];
  for (let i = 0; i + 2 < out.length; i += 3) {
    let best = -Infinity;
    for (const m of members) {
      const k = m.keypoints;
      if (!k || k.length !== out.length || !(k[i + 2]! > 0)) continue;
      const d = innerEdgeDistance(k[i]!, k[i + 1]!, m.tile, width, height);
      if (d > best) {
        best = d;
        out[i] = k[i]!;
        out[i + 1] = k[i + 1]!;
        out[i + 2] = k[i + 2]!;
      }
    }
  }
  return out;
}

/** A tile detection (in tile pixels) moved into image pixels, its mask placed in an image-size RLE. */
export function toImage(d: Detection, tile: Tile, width: number, height: number): Detection {
  const out: Detection = { classIndex: d.classIndex, score: d.score, box: { x: d.box.x + tile.x, y: d.box.y + tile.y, w: d.box.w, h: d.box.h } };
  if (d.mask) out.mask = placeMask(d.mask, tile.x, tile.y, height, width);
  if (d.obb) out.obb = { ...d.obb, cx: d.obb.cx + tile.x, cy: d.obb.cy + tile.y };
  if (d.keypoints) {
    // A keypoint beyond an inner edge of its tile (decoded unclamped, see DetectOverrides.tile) lies
    // in another tile, which scores it: here it is unscored. Beyond the image border it is clamped.
    const k = d.keypoints;
    const kp: number[] = [];
    const clamp = (v: number, max: number): number => (v < 0 ? 0 : v > max ? max : v);
    for (let i = 0; i + 2 < k.length; i += 3) {
      const x = k[i]!, y = k[i + 1]!;
      const outside = (tile.x > 0 && x < 0) || (tile.y > 0 && y < 0) || (tile.x + tile.w < width && x > tile.w) || (tile.y + tile.h < height && y > tile.h);
      kp.push(clamp(x + tile.x, width), clamp(y + tile.y, height), outside ? 0 : k[i + 2]!);
    }
    out.keypoints = kp;
  }
  return out;
}
