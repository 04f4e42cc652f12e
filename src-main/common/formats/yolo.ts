import type { Geometry } from '../model';
import { obbCorners, ringSignedArea, validateGeometry } from '../geometry';
import type { InterchangeAnnotation } from './types';

/**
 * Ultralytics YOLO label files, one object per line, coordinates normalised by the image's width
 * and height (x / width, y / height, so 0..1 spans the image edge to edge):
 *
 *   detect   `cls cx cy w h [conf]`
 *   segment  `cls x1 y1 ... xn yn [conf]` (n >= 3)
 *   obb      `cls x1 y1 x2 y2 x3 y3 x4 y4 [conf]` (four corners)
 *
 * A line does not say which task it belongs to: nine values are a four-point polygon in a
 * segmentation dataset and a rotated box in an OBB dataset. The task comes from the dataset
 * (data.yaml `task`, or inferYoloTask over all its lines) and is passed in.
 */

export type YoloTask = 'detect' | 'segment' | 'obb';
/** Tasks Ultralytics has that Tessera does not import (keypoints, whole-image classes). */
export type YoloUnsupportedTask = 'pose' | 'classify';

export interface YoloLineProblem {
  /** "line N", 1-based. */
  where: string;
  severity: 'error' | 'warning';
  message: string;
}

export interface YoloParseResult {
  annotations: InterchangeAnnotation[];
  problems: YoloLineProblem[];
  /** Values slightly outside [0, 1] that were pulled back onto the image edge. */
  clamped: number;
  /** OBB corners slightly outside the image, kept as they are (see parseYoloLabels). */
  obbCornersOutside: number;
}

export interface YoloParseOptions {
  width: number;
  height: number;
  classes: readonly string[];
  task: YoloTask;
}

/**
 * Values this far outside [0, 1] are not rounding noise or a box edge drawn a little past the
 * border but a file in another unit (pixels) or corrupt: the line is refused instead of clamped.
 */
export const YOLO_FAR_LOW = -0.5;
export const YOLO_FAR_HIGH = 1.5;

/** Corners further than this (relative to the box diagonal) from a rectangle are reported as fitted. */
const RECTANGLE_TOLERANCE = 1e-3;

/** Splits label text into lines of values; CRLF, blank lines and a missing final newline are all fine. */
function splitLines(text: string): { line: number; fields: string[] }[] {
  const out: { line: number; fields: string[] }[] = [];
  const lines = text.split(/\r\n|\r|\n/);
  for (let i = 0; i < lines.length; i++) {
    const t = lines[i]!.trim();
    if (t === '') continue;
    out.push({ line: i + 1, fields: t.split(/\s+/) });
  }
  return out;
}

/** Strict decimal number: `Number('')` is 0 and `parseFloat('1abc')` is 1, neither is acceptable here. */
function parseNumber(s: string): number {
  return /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(s) ? Number(s) : NaN;
}

/**
 * Decides the task from the value counts of every line in a dataset when data.yaml does not
 * state it. Nine-value lines are read as OBB only when every longer-than-detection line has nine
 * values and corners forming a rectangle in pixels (hence each file's image size): a segmentation
 * dataset whose polygons all happen to have four vertices is no reason to make them rotated boxes.
 */
export function inferYoloTask(files: Iterable<{ text: string; width: number; height: number }>): YoloTask {
  let det = 0;
  let rect = 0;
  let seg = 0;
  for (const f of files) {
    for (const { fields } of splitLines(f.text)) {
      const n = fields.length;
      if (n === 5 || n === 6) det++;
      else if (n === 9) {
        const v = fields.slice(1).map(parseNumber);
        const px = v.map((x, i) => x * (i & 1 ? f.height : f.width));
        if (px.every(Number.isFinite) && rectangleError(px) <= RECTANGLE_TOLERANCE) rect++;
        else seg++;
      } else if (n >= 7) seg++;
      // Fewer than five values fit no task; the parser reports those lines whatever is chosen.
    }
  }
  // The majority decides, so a few malformed lines are reported as such instead of turning a
  // whole detection dataset into refused polygon lines.
  if (det > rect + seg || rect + seg === 0) return 'detect';
  return seg === 0 ? 'obb' : 'segment';
}

/**
 * How far four corners are from a rectangle, relative to its diagonal: the two diagonals of a
 * rectangle share their midpoint and have the same length.
 */
function rectangleError(c: readonly number[]): number {
  const [x0, y0, x1, y1, x2, y2, x3, y3] = c as [number, number, number, number, number, number, number, number];
  const d1 = Math.hypot(x2 - x0, y2 - y0);
  const d2 = Math.hypot(x3 - x1, y3 - y1);
  const scale = Math.max(d1, d2);
  if (!(scale > 0)) return Infinity;
  const mid = Math.hypot((x0 + x2 - x1 - x3) / 2, (y0 + y2 - y1 - y3) / 2);
  return Math.max(mid, Math.abs(d1 - d2)) / scale;
}

/**
 * A rotated box from four corners in pixels, in the file's order.
 *
 * obbCorners(g) returns the corners starting at the box's local (-w/2, -h/2) and turning
 * clockwise on screen (y points down). For corners given clockwise the result reproduces them in
 * the same order, starting at the same corner: angle is the direction of the edge corner 1 ->
 * corner 2, w its length, h the length of corner 1 -> corner 4. Corners given counter-clockwise
 * (Roboflow exports such as agri_crop_weed_obb do, and so does Ultralytics' xywhr2xyxyxyxy) are a
 * mirror image of that order, which no rotation reproduces with positive sizes: they are read
 * starting at the same corner walking the other way (corner 1 -> corner 4 is the w edge), so
 * obbCorners(g) gives the same four points, first corner first, in the reverse direction.
 * Keeping w and h positive matters more than the winding: the rest of Tessera (editor handles,
 * areas) expects them positive, and no format gives the winding a meaning.
 *
 * Corners that are not a rectangle are fitted (centre = mean, sizes = mean of opposite edges) and
 * `fitted` is true so the caller can say so.
 */
export function obbFromCorners(c: readonly number[]): { geometry: Extract<Geometry, { kind: 'obb' }>; fitted: boolean } {
  const p = c.slice(0, 8) as [number, number, number, number, number, number, number, number];
  // Reverse the walk (keeping the first corner) when the corners run counter-clockwise on screen.
  const q = ringSignedArea(p) < 0 ? [p[0], p[1], p[6], p[7], p[4], p[5], p[2], p[3]] : p;
  const [x0, y0, x1, y1, x2, y2, x3, y3] = q as [number, number, number, number, number, number, number, number];
  const cx = (x0 + x1 + x2 + x3) / 4;
  const cy = (y0 + y1 + y2 + y3) / 4;
  // Edge 0->1 and edge 3->2 are both the w direction; summing them averages away fitting noise.
  const ux = x1 - x0 + (x2 - x3);
  const uy = y1 - y0 + (y2 - y3);
  const angle = Math.atan2(uy, ux);
  const w = (Math.hypot(x1 - x0, y1 - y0) + Math.hypot(x2 - x3, y2 - y3)) / 2;
  const h = (Math.hypot(x3 - x0, y3 - y0) + Math.hypot(x2 - x1, y2 - y1)) / 2;
  return { geometry: { kind: 'obb', cx, cy, w, h, angle }, fitted: rectangleError(q) > RECTANGLE_TOLERANCE };
}

/**
 * Parses one label file. Bad lines are reported and skipped; the rest are kept. Values in
 * [-0.5, 0) or (1, 1.5] are clamped to the edge and counted, except OBB corners: a rotated box
 * along the image border legitimately has a corner outside it, and moving one corner would
 * make it not a rectangle, so those are kept and counted separately.
 */
export function parseYoloLabels(text: string, opts: YoloParseOptions): YoloParseResult {
  const { width: W, height: H, classes, task } = opts;
  const res: YoloParseResult = { annotations: [], problems: [], clamped: 0, obbCornersOutside: 0 };
  const fail = (line: number, message: string) => res.problems.push({ where: `line ${line}`, severity: 'error', message });

  for (const { line, fields } of splitLines(text)) {
    const n = fields.length;
    const cls = fields[0]!;
    if (!/^\d+$/.test(cls)) {
      fail(line, `class index "${cls.slice(0, 40)}" is not a non-negative whole number`);
      continue;
    }
    const ci = Number(cls);
    if (ci >= classes.length) {
      fail(line, `unknown class index ${ci} (the dataset names ${classes.length} class${classes.length === 1 ? '' : 'es'})`);
      continue;
    }

    let coordCount: number;
    if (task === 'detect') {
      if (n !== 5 && n !== 6) {
        fail(line, `a detection line has 5 values (class cx cy w h) or 6 with a confidence, not ${n}`);
        continue;
      }
      coordCount = 4;
    } else if (task === 'obb') {
      if (n !== 9 && n !== 10) {
        fail(line, `an oriented-box line has 9 values (class and four x y corners) or 10 with a confidence, not ${n}`);
        continue;
      }
      coordCount = 8;
    } else {
      // Segment lines hold x y pairs, so an odd count is a polygon and an even one carries a
      // trailing confidence (Ultralytics `save_conf`).
      if (n < 7) {
        fail(line, `a segmentation line needs a class and at least 3 x y points (7 values), not ${n}`);
        continue;
      }
      coordCount = n % 2 === 1 ? n - 1 : n - 2;
    }

    const values = fields.slice(1).map(parseNumber);
    const bad = values.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) {
      fail(line, `value ${bad + 2} ("${fields[bad + 1]!.slice(0, 40)}") is not a number`);
      continue;
    }
    const coords = values.slice(0, coordCount);
    const far = coords.find((v) => v < YOLO_FAR_LOW || v > YOLO_FAR_HIGH);
    if (far !== undefined) {
      fail(line, `coordinate ${far} is far outside [0, 1]: YOLO coordinates are fractions of the image size (pixel values?)`);
      continue;
    }
    const score = coordCount < values.length ? values[coordCount]! : undefined;
    if (score !== undefined && (score < 0 || score > 1)) {
      fail(line, `confidence ${score} is outside [0, 1]`);
      continue;
    }
    if (task === 'detect' && (coords[2]! <= 0 || coords[3]! <= 0)) {
      fail(line, `a box with zero or negative size (${coords[2]} x ${coords[3]}) cannot be stored`);
      continue;
    }

    let outside = 0;
    for (const v of coords) if (v < 0 || v > 1) outside++;
    let geometry: Geometry;
    if (task === 'obb') {
      res.obbCornersOutside += outside;
      const px = coords.map((v, i) => v * (i & 1 ? H : W));
      const { geometry: g, fitted } = obbFromCorners(px);
      if (!(g.w > 0 && g.h > 0)) {
        fail(line, 'the four corners do not enclose an area');
        continue;
      }
      if (fitted) res.problems.push({ where: `line ${line}`, severity: 'warning', message: 'the four corners are not a rectangle; the closest rotated box was fitted' });
      geometry = g;
    } else {
      res.clamped += outside;
      const c = coords.map((v) => Math.min(1, Math.max(0, v)));
      if (task === 'detect') {
        const [cx, cy, w, h] = c as [number, number, number, number];
        if (w <= 0 || h <= 0) {
          fail(line, 'the box has no area inside the image');
          continue;
        }
        geometry = { kind: 'box', x: (cx - w / 2) * W, y: (cy - h / 2) * H, w: w * W, h: h * H };
      } else {
        geometry = { kind: 'polygon', parts: [c.map((v, i) => v * (i & 1 ? H : W))] };
      }
    }
    // The same rules as every other way into the dataset (zero areas, too few distinct vertices).
    const invalid = validateGeometry(geometry, { width: W, height: H });
    if (invalid) {
      fail(line, invalid);
      continue;
    }
    const a: InterchangeAnnotation = { label: classes[ci]!, geometry, attributes: {} };
    if (score !== undefined) a.score = score;
    res.annotations.push(a);
  }
  return res;
}

/**
 * A number for a label file. Six decimals (what most tools write) move a coordinate by up to
 * half a millionth of the image, which is visible after a round trip; ten significant digits
 * re-read within 1e-9 relative. Trailing zeros are trimmed and exponent notation avoided, since
 * some YOLO loaders split on spaces and parse with plain decimal readers.
 */
export function formatYoloNumber(v: number): string {
  if (v === 0 || Math.abs(v) < 1e-15) return '0';
  let s = v.toPrecision(10);
  // Character tests rather than regular expressions: label files hold millions of numbers.
  if (s.indexOf('e') >= 0) s = v.toFixed(20);
  if (s.indexOf('.') >= 0) {
    let end = s.length;
    while (s.charCodeAt(end - 1) === 48) end--;
    if (s.charCodeAt(end - 1) === 46) end--;
    s = s.slice(0, end);
  }
  return s === '-0' ? '0' : s;
}

/** Joins the parts of a multi-part polygon into one ring with zero-width bridges, the way Ultralytics' own COCO converter does. */
export function joinPolygonParts(parts: readonly (readonly number[])[]): number[] {
  if (parts.length === 0) return [];
  const first = parts[0]!;
  if (parts.length === 1) return [...first];
  // Every other part hangs off the first part's first vertex: walk out to the part's nearest
  // vertex, around the part back to that vertex, and back along the same segment. The bridge is
  // traversed twice in opposite directions, so it encloses no area.
  const ax = first[0]!;
  const ay = first[1]!;
  const out = [...first, ax, ay];
  for (const part of parts.slice(1)) {
    const n = part.length >> 1;
    let best = 0;
    let bestD = Infinity;
    for (let i = 0; i < n; i++) {
      const d = (part[2 * i]! - ax) ** 2 + (part[2 * i + 1]! - ay) ** 2;
      if (d < bestD) {
        bestD = d;
        best = i;
      }
    }
    for (let k = 0; k <= n; k++) {
      const i = (best + k) % n;
      out.push(part[2 * i]!, part[2 * i + 1]!);
    }
    out.push(ax, ay);
  }
  return out;
}

export interface YoloSerialiseItem {
  classIndex: number;
  geometry: Geometry;
}

export interface YoloSerialiseResult {
  text: string;
  lines: number;
  /** Counted departures from the input (see serialiseYoloLabels); wrongKind by geometry kind. */
  notes: { wrongKind: Partial<Record<Geometry['kind'], number>>; clamped: number; joinedParts: number };
}

/**
 * Label text for one image. Each task writes only its own kind (the exporter converts the rest
 * before calling); anything else is skipped and counted by kind in `notes.wrongKind`. Box and polygon
 * values are clamped to [0, 1] (counted) because Ultralytics discards an image's whole label file
 * when a value is out of range; OBB corners are written as they are (see parseYoloLabels).
 * Confidences are not written: a sixth value makes the file unusable as training labels.
 * Multi-part polygons become one line (joinPolygonParts) so one object stays one line.
 */
export function serialiseYoloLabels(items: Iterable<YoloSerialiseItem>, task: YoloTask, width: number, height: number): YoloSerialiseResult {
  const notes: YoloSerialiseResult['notes'] = { wrongKind: {}, clamped: 0, joinedParts: 0 };
  const lines: string[] = [];
  const norm = (v: number, axis: number, clamp: boolean) => {
    const r = v / (axis & 1 ? height : width);
    if (!clamp) return r;
    if (r < 0 || r > 1) notes.clamped++;
    return Math.min(1, Math.max(0, r));
  };
  for (const { classIndex, geometry: g } of items) {
    let values: number[];
    if (task === 'detect' && g.kind === 'box') {
      const x0 = Math.min(g.x, g.x + g.w);
      const y0 = Math.min(g.y, g.y + g.h);
      const w = Math.abs(g.w);
      const h = Math.abs(g.h);
      values = [norm(x0 + w / 2, 0, true), norm(y0 + h / 2, 1, true), norm(w, 0, true), norm(h, 1, true)];
    } else if (task === 'segment' && g.kind === 'polygon' && g.parts.length > 0) {
      if (g.parts.length > 1) notes.joinedParts++;
      values = joinPolygonParts(g.parts).map((v, i) => norm(v, i, true));
    } else if (task === 'obb' && g.kind === 'obb') {
      values = obbCorners(g).map((v, i) => norm(v, i, false));
    } else {
      notes.wrongKind[g.kind] = (notes.wrongKind[g.kind] ?? 0) + 1;
      continue;
    }
    lines.push([String(classIndex), ...values.map(formatYoloNumber)].join(' '));
  }
  return { text: lines.length ? lines.join('\n') + '\n' : '', lines: lines.length, notes };
}
