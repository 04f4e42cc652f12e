import { geometryBBox } from '../geometry/shapes';
import { COCO_PERSON_KEYPOINTS } from '../keypoints';
import type { KeypointSchema } from '../model';
import { fmtDims, modelMismatch } from './decode';
import { inputBoxToImage, type LetterboxGeometry } from './letterbox';
import { makeCandidates, MAX_NMS_INPUT, nms, pushCandidate } from './nms';
import type { Detection, ModelManifest, OutputTensor } from './types';

/**
 * Ultralytics oriented-box (task `obb`) and pose (task `pose`) heads.
 *
 * OBB output [1, 4+nc+1, N], channels first: cx, cy, w, h in input pixels, nc class scores, and
 * the angle in radians as the last row (the head gives it in [-π/4, 3π/4)). The angle turns the
 * box's w side from the x axis towards the y axis (down, on screen): the corners are
 * centre ± (w/2)(cos θ, sin θ) ± (h/2)(−sin θ, cos θ), as Ultralytics' xywhr2xyxyxyxy and
 * Tessera's obbCorners both compute them, so a decoded box is stored as an `obb` geometry as is.
 *
 * A rotated box has several names: (w, h, θ) is the same box as (w, h, θ + π) and as
 * (h, w, θ + π/2). Boxes are regularised as Ultralytics' regularize_rboxes does: angle in
 * [0, π/2), w and h swapped when θ mod π lies in [π/2, π).
 *
 * Rotated NMS uses Ultralytics' probabilistic IoU (probiou: each box as a 2-D Gaussian, one minus
 * the Hellinger distance of the two) with its "fast NMS" rule: a candidate is dropped when any
 * candidate of its class with a higher score overlaps it at the threshold or more. That is what
 * `yolo predict` does, so a model gives the boxes it gives there; an exact polygon IoU would keep
 * or drop other boxes near the threshold. probiou depends on the box only through its Gaussian,
 * which the angle's wrap-around and the w/h swap leave unchanged.
 *
 * Pose output [1, 4+nc+K*3, N]: cx, cy, w, h, nc class scores, then for each of the K keypoints
 * x, y (input pixels) and a visibility score in 0..1 (already a sigmoid in the export); a head
 * exported with K*2 rows (no score) is read too, every keypoint then scored 1. K comes from the
 * manifest's `keypoints` (COCO's 17 person keypoints when omitted). Boxes go through the usual
 * class-aware NMS; keypoints are mapped back through the letterbox and clipped to the image, as
 * Ultralytics' scale_coords does.
 */

export interface RotatedBox {
  cx: number;
  cy: number;
  w: number;
  h: number;
  angle: number;
}

const HALF_PI = Math.PI / 2;

/** x modulo m in [0, m), for negative x too (Python's %). */
function modulo(x: number, m: number): number {
  const r = x % m;
  const p = r < 0 ? r + m : r;
  // -1e-17 + m rounds to m.
  return p >= m ? 0 : p;
}

/** The same box named with its angle in [0, π/2): Ultralytics' regularize_rboxes. */
export function regularizeRotated(b: RotatedBox): RotatedBox {
  const swap = modulo(b.angle, Math.PI) >= HALF_PI;
  return { cx: b.cx, cy: b.cy, w: swap ? b.h : b.w, h: swap ? b.w : b.h, angle: modulo(b.angle, HALF_PI) };
}

/** The covariance (a, b, c) of a box's Gaussian: variances w²/12 and h²/12 turned by the angle. */
function covariance(w: number, h: number, angle: number): [number, number, number] {
  const a = (w * w) / 12;
  const b = (h * h) / 12;
  const cos = Math.cos(angle);
  const sin = Math.sin(angle);
  return [a * cos * cos + b * sin * sin, a * sin * sin + b * cos * cos, (a - b) * cos * sin];
}

/**
 * Probabilistic IoU of two rotated boxes (Llerena et al., arXiv 2106.06072), as Ultralytics'
 * batch_probiou computes it: 1 for the same box (within 5e-4), 0 for far-apart boxes.
 */
export function probiou(p: RotatedBox, q: RotatedBox, eps = 1e-7): number {
  const [a1, b1, c1] = covariance(p.w, p.h, p.angle);
  const [a2, b2, c2] = covariance(q.w, q.h, q.angle);
  const A = a1 + a2;
  const B = b1 + b2;
  const C = c1 + c2;
  const det = A * B - C * C;
  const dx = p.cx - q.cx;
  const dy = p.cy - q.cy;
  const t1 = ((A * dy * dy + B * dx * dx) / (det + eps)) * 0.25;
  const t2 = ((C * -dx * dy) / (det + eps)) * 0.5;
  const t3 = Math.log(det / (4 * Math.sqrt(Math.max(0, a1 * b1 - c1 * c1) * Math.max(0, a2 * b2 - c2 * c2)) + eps) + eps) * 0.5;
  const bd = Math.min(100, Math.max(eps, t1 + t2 + t3));
  const hd = Math.sqrt(1 - Math.exp(-bd) + eps);
  return 1 - hd;
}

/**
 * Class-aware rotated NMS (see above): indices into `boxes`, best first, at most `maxDetections`.
 * A candidate is kept when no higher-scored candidate of its class, kept or not, reaches `iou`
 * with it. Ties keep the earlier candidate.
 */
export function rotatedNms(boxes: readonly RotatedBox[], scores: ArrayLike<number>, classes: ArrayLike<number>, iou: number, maxDetections: number): number[] {
  const order = Array.from({ length: boxes.length }, (_, i) => i).sort((a, b) => scores[b]! - scores[a]! || a - b);
  if (order.length > MAX_NMS_INPUT) order.length = MAX_NMS_INPUT;
  const kept: number[] = [];
  for (let k = 0; k < order.length && kept.length < maxDetections; k++) {
    const i = order[k]!;
    let suppressed = false;
    for (let j = 0; j < k && !suppressed; j++) {
      const e = order[j]!;
      if (classes[e] === classes[i] && probiou(boxes[e]!, boxes[i]!) >= iou) suppressed = true;
    }
    if (!suppressed) kept.push(i);
  }
  return kept;
}

/**
 * A rotated box in network-input pixels back to image pixels, regularised. A letterbox scales
 * both axes alike, so only the centre moves and the sides shrink. A stretched input scales them
 * differently, which turns a rotated rectangle into a parallelogram: the result keeps the w side's
 * direction and length and the parallelogram's area.
 */
export function inputRotatedToImage(g: LetterboxGeometry, b: RotatedBox): RotatedBox {
  const cx = (b.cx - g.padLeft) / g.scaleX;
  const cy = (b.cy - g.padTop) / g.scaleY;
  if (g.scaleX === g.scaleY) return regularizeRotated({ cx, cy, w: b.w / g.scaleX, h: b.h / g.scaleY, angle: b.angle });
  const cos = Math.cos(b.angle);
  const sin = Math.sin(b.angle);
  const ux = (b.w * cos) / g.scaleX, uy = (b.w * sin) / g.scaleY;
  const vx = (-b.h * sin) / g.scaleX, vy = (b.h * cos) / g.scaleY;
  const w = Math.hypot(ux, uy);
  const h = w > 0 ? Math.abs(ux * vy - uy * vx) / w : 0;
  return regularizeRotated({ cx, cy, w, h, angle: Math.atan2(uy, ux) });
}

export interface Thresholds {
  score: number;
  iou: number;
  maxDetections: number;
  /** The input is one tile of a larger image (see DetectOverrides.tile). */
  tile?: boolean;
}

function prediction(outputs: readonly OutputTensor[], file: string): OutputTensor {
  const p = outputs.find((o) => o.dims.length === 3 && o.dims[0] === 1);
  if (!p) throw modelMismatch(file, 'no output holds predictions', 'an output [1, a, b]', outputs.map((o) => `${o.name} ${fmtDims(o.dims)}`).join(', '));
  return p;
}

/** Ultralytics OBB output to detections in image pixels: decode, regularise, rotated NMS, undo the letterbox. */
export function postprocessObb(outputs: readonly OutputTensor[], m: ModelManifest, g: LetterboxGeometry, file: string, t: Thresholds): Detection[] {
  const pred = prediction(outputs, file);
  const nc = m.classes.length;
  const [ch, n] = [pred.dims[1]!, pred.dims[2]!];
  if (ch !== 4 + nc + 1) {
    const hint =
      ch === 4 + nc ? 'no angle row: a detect model?' : ch > 5 && ch < n ? `the output holds ${ch - 5} classes and an angle, the manifest lists ${nc} classes` : n < ch ? 'rows of a yolov5-style layout, not channels first' : undefined;
    throw modelMismatch(file, `output "${pred.name}" does not fit an ultralytics obb head with ${nc} classes (cx, cy, w, h, class scores, angle)`, `[1, ${4 + nc + 1}, N]`, fmtDims(pred.dims), hint);
  }
  const d = pred.data;
  const boxes: RotatedBox[] = [];
  const scores: number[] = [];
  const classes: number[] = [];
  for (let j = 0; j < n; j++) {
    let best = -Infinity;
    let cls = 0;
    for (let k = 0, p = 4 * n + j; k < nc; k++, p += n) {
      if (d[p]! > best) {
        best = d[p]!;
        cls = k;
      }
    }
    if (best < t.score) continue;
    boxes.push({ cx: d[j]!, cy: d[n + j]!, w: d[2 * n + j]!, h: d[3 * n + j]!, angle: d[(4 + nc) * n + j]! });
    scores.push(best);
    classes.push(cls);
  }
  const out: Detection[] = [];
  for (const i of rotatedNms(boxes, scores, classes, t.iou, t.maxDetections)) {
    const obb = inputRotatedToImage(g, boxes[i]!);
    if (!(obb.w > 0 && obb.h > 0)) continue;
    out.push({ classIndex: classes[i]!, score: scores[i]!, box: geometryBBox({ kind: 'obb', ...obb }), obb });
  }
  return out;
}

/** The keypoint schema a pose manifest's model gives its class: its own, else COCO's person. */
export function manifestKeypoints(m: ModelManifest): KeypointSchema {
  return m.keypoints ?? COCO_PERSON_KEYPOINTS;
}

/** Ultralytics pose output to detections in image pixels, each with its keypoints `[x, y, score, ...]`. */
export function postprocessPose(outputs: readonly OutputTensor[], m: ModelManifest, g: LetterboxGeometry, file: string, t: Thresholds): Detection[] {
  const pred = prediction(outputs, file);
  const nc = m.classes.length;
  const kp = manifestKeypoints(m).names.length;
  const [ch, n] = [pred.dims[1]!, pred.dims[2]!];
  const dim = (ch - 4 - nc) / kp;
  if (dim !== 3 && dim !== 2) {
    const rest = ch - 4 - nc;
    const hint = rest > 0 && rest % 3 === 0 && ch < n ? `the output holds ${rest / 3} keypoints of x, y, score, the manifest names ${kp}` : n < ch ? 'rows of a yolov5-style layout, not channels first' : undefined;
    throw modelMismatch(file, `output "${pred.name}" does not fit an ultralytics pose head with ${nc} classes and ${kp} keypoints (cx, cy, w, h, class scores, x, y, score per keypoint)`, `[1, ${4 + nc + kp * 3}, N]`, fmtDims(pred.dims), hint);
  }
  const d = pred.data;
  const c = makeCandidates(64);
  for (let j = 0; j < n; j++) {
    let best = -Infinity;
    let cls = 0;
    for (let k = 0, p = 4 * n + j; k < nc; k++, p += n) {
      if (d[p]! > best) {
        best = d[p]!;
        cls = k;
      }
    }
    if (best < t.score) continue;
    const cx = d[j]!, cy = d[n + j]!, w = d[2 * n + j]!, h = d[3 * n + j]!;
    pushCandidate(c, cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, best, cls, j);
  }
  const clip = (v: number, max: number): number => (v < 0 ? 0 : v > max ? max : v);
  const out: Detection[] = [];
  for (const i of nms(c, t.iou, t.maxDetections)) {
    const b = inputBoxToImage(g, c.boxes[i * 4]!, c.boxes[i * 4 + 1]!, c.boxes[i * 4 + 2]!, c.boxes[i * 4 + 3]!);
    if (b.x2 <= b.x1 || b.y2 <= b.y1) continue;
    const row = c.rows[i]!;
    const keypoints: number[] = [];
    for (let k = 0; k < kp; k++) {
      const base = (4 + nc + k * dim) * n + row;
      const x = (d[base]! - g.padLeft) / g.scaleX, y = (d[base + n]! - g.padTop) / g.scaleY;
      // A tile's keypoints stay where the model put them: one outside the tile is the merge's to judge (see tiling.ts toImage).
      keypoints.push(t.tile ? x : clip(x, g.srcW), t.tile ? y : clip(y, g.srcH), dim === 3 ? d[base + 2 * n]! : 1);
    }
    out.push({ classIndex: c.classes[i]!, score: c.scores[i]!, box: { x: b.x1, y: b.y1, w: b.x2 - b.x1, h: b.y2 - b.y1 }, keypoints });
  }
  return out;
}

/** Keypoint score at or above which a predicted keypoint is stored as visible (v = 2). */
export const KEYPOINT_VISIBLE_SCORE = 0.5;
/** Keypoint score at or above which (and below the visible one) it is stored as labelled but not visible (v = 1). */
export const KEYPOINT_LABELLED_SCORE = 0.25;

/**
 * A pose detection's `[x, y, score, ...]` as stored keypoints `[x, y, v, ...]` (COCO's
 * visibility): v = 2 at a score of 0.5 or more (Ultralytics draws only those), v = 1 from 0.25
 * (the model's guess where it is unsure, e.g. an occluded joint, for the reviewer to check),
 * else v = 0 with x = y = 0 (not labelled).
 */
export function keypointsFromScores(points: readonly number[]): number[] {
  const out: number[] = [];
  for (let i = 0; i + 2 < points.length; i += 3) {
    const s = points[i + 2]!;
    const v = s >= KEYPOINT_VISIBLE_SCORE ? 2 : s >= KEYPOINT_LABELLED_SCORE ? 1 : 0;
    out.push(v === 0 ? 0 : points[i]!, v === 0 ? 0 : points[i + 1]!, v);
  }
  return out;
}
