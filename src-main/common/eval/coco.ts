import { rleArea, rleBBox, rleIntersectionArea, type Rle } from '../geometry/rle';
import type { ConfidenceCurve, DetectionCounts, IouType } from './types';

/**
 * COCO detection evaluation as the reference COCO API defines it (pycocotools' COCOeval:
 * evaluate, accumulate, summarize), plus the operating-point measures a labeler picks a
 * threshold with: precision, recall and F1 at one score and IoU threshold, a confidence sweep, a
 * confusion matrix and the lists of errors. Pure functions over plain objects; no I/O.
 */

/** [x, y, width, height] in image pixels. */
export type Bbox = [number, number, number, number];

export interface CocoGroundTruth {
  /** Unique among the ground truths. */
  id: number;
  imageId: number;
  categoryId: number;
  bbox: Bbox;
  /** COCO's `area`: what the area ranges (small, medium, large) are judged on. */
  area: number;
  /** Crowd regions are matched without penalty and never count as missed. */
  iscrowd: boolean;
  /** The shape as a mask, for segmentation IoU. */
  rle?: Rle;
}

export interface CocoDetection {
  /** Unique among the detections. */
  id: number;
  imageId: number;
  categoryId: number;
  bbox: Bbox;
  /** What area ranges judge an unmatched detection by; COCO's loadRes gives results their box's width x height. */
  area: number;
  score: number;
  rle?: Rle;
}

export interface CocoParams {
  iouType: IouType;
  /**
   * Evaluated images, in the order that breaks score ties between images (a detection of an
   * earlier image ranks first). COCOeval uses ascending image ids.
   */
  imageIds: number[];
  /** Evaluated categories, ascending. */
  categoryIds: number[];
  iouThrs: number[];
  recThrs: number[];
  /** Ascending; the last is the number of detections per image kept at all. */
  maxDets: number[];
  areaRng: [number, number][];
  areaRngLbl: string[];
}

/** numpy.linspace: start + i * step, the last point exactly `stop` (the float values matter for ties). */
export function linspace(start: number, stop: number, num: number): number[] {
  const step = (stop - start) / (num - 1);
  const out = Array.from({ length: num }, (_, i) => i * step + start);
  if (num > 1) out[num - 1] = stop;
  return out;
}

/**
 * COCOeval's default parameters for detection (Params.setDetParams). Images keep the order given
 * (duplicates dropped): pass ascending ids for COCOeval's tie order.
 */
export function defaultParams(iouType: IouType, imageIds: readonly number[], categoryIds: readonly number[]): CocoParams {
  return {
    iouType,
    imageIds: [...new Set(imageIds)],
    categoryIds: uniqueSorted(categoryIds),
    iouThrs: linspace(0.5, 0.95, Math.round((0.95 - 0.5) / 0.05) + 1),
    recThrs: linspace(0.0, 1.0, Math.round((1.0 - 0.0) / 0.01) + 1),
    maxDets: [1, 10, 100],
    areaRng: [
      [0, 1e5 ** 2],
      [0, 32 ** 2],
      [32 ** 2, 96 ** 2],
      [96 ** 2, 1e5 ** 2],
    ],
    areaRngLbl: ['all', 'small', 'medium', 'large'],
  };
}

function uniqueSorted(ids: readonly number[]): number[] {
  return [...new Set(ids)].sort((a, b) => a - b);
}

/** Indices of `items` by descending score; equal scores keep their input order (numpy's stable mergesort on -score). */
function byScore(scores: readonly number[]): number[] {
  return scores.map((_, i) => i).sort((a, b) => scores[b]! - scores[a]! || a - b);
}

// ---------------------------------------------------------------------------------------------
// IoU

/**
 * Box IoU as pycocotools' bbIou: a crowd ground truth divides the intersection by the
 * detection's area only, so a detection inside a crowd region scores 1 whatever the region's size.
 */
export function bboxIou(d: Bbox, g: Bbox, crowd: boolean): number {
  const w = Math.min(d[2] + d[0], g[2] + g[0]) - Math.max(d[0], g[0]);
  if (w <= 0) return 0;
  const h = Math.min(d[3] + d[1], g[3] + g[1]) - Math.max(d[1], g[1]);
  if (h <= 0) return 0;
  const i = w * h;
  const da = d[2] * d[3];
  const u = crowd ? da : da + g[2] * g[3] - i;
  return i / u;
}

/** The pieces of a shape that IoU needs, computed once. */
interface IouShape {
  bbox: Bbox;
  rle?: Rle;
  /** Mask pixel count and whole-pixel extent (segmentation only). */
  pixels: number;
  extent: Bbox;
}

function iouShape(s: { bbox: Bbox; rle?: Rle }, iouType: IouType): IouShape {
  if (iouType === 'bbox') return { bbox: s.bbox, pixels: 0, extent: s.bbox };
  if (!s.rle) throw new RangeError('segmentation evaluation needs a mask (rle) for every shape');
  const r = rleBBox(s.rle);
  return { bbox: s.bbox, rle: s.rle, pixels: rleArea(s.rle), extent: [r.x, r.y, r.w, r.h] };
}

/**
 * Mask IoU as pycocotools' rleIou: pixel counts, the union replaced by the detection's area for a
 * crowd ground truth; masks whose extents do not overlap score 0 without being compared.
 */
function shapeIou(d: IouShape, g: IouShape, crowd: boolean, iouType: IouType): number {
  if (iouType === 'bbox') return bboxIou(d.bbox, g.bbox, crowd);
  if (bboxIou(d.extent, g.extent, false) <= 0) return 0;
  const inter = rleIntersectionArea(d.rle!, g.rle!);
  const u = crowd ? d.pixels : d.pixels + g.pixels - inter;
  return u > 0 ? inter / u : 0;
}

/** IoU of two shapes of one image, for callers outside the evaluation (e.g. to show on an error). */
export function iouOf(d: { bbox: Bbox; rle?: Rle }, g: { bbox: Bbox; rle?: Rle }, iouType: IouType, crowd = false): number {
  return shapeIou(iouShape(d, iouType), iouShape(g, iouType), crowd, iouType);
}

// ---------------------------------------------------------------------------------------------
// COCOeval

/** COCOeval.evaluateImg's record for one image, category and area range (maxDets[-1] detections). */
interface ImageEval {
  /** Scores of the kept detections, descending. */
  dtScores: number[];
  /** [T][D]: whether the detection matched a ground truth at that IoU threshold. */
  dtMatched: Uint8Array;
  /** [T][D]: matched to an ignored ground truth, or unmatched and outside the area range. */
  dtIgnore: Uint8Array;
  gtIgnore: Uint8Array;
}

export interface CocoEvaluation {
  params: CocoParams;
  /** [T][R][K][A][M] flattened, -1 where a category has no ground truth. */
  precision: Float64Array;
  /** [T][R][K][A][M]: score of the detection at each recall point (0 where none reaches it). */
  scores: Float64Array;
  /** [T][K][A][M]. */
  recall: Float64Array;
  /** COCOeval.summarize's 12 numbers (see COCO_STAT_NAMES). */
  stats: number[];
}

/** Offsets into CocoEvaluation's flattened arrays. */
export function precisionIndex(p: CocoParams, t: number, r: number, k: number, a: number, m: number): number {
  const R = p.recThrs.length;
  const K = p.categoryIds.length;
  const A = p.areaRng.length;
  const M = p.maxDets.length;
  return (((t * R + r) * K + k) * A + a) * M + m;
}

export function recallIndex(p: CocoParams, t: number, k: number, a: number, m: number): number {
  const K = p.categoryIds.length;
  const A = p.areaRng.length;
  const M = p.maxDets.length;
  return ((t * K + k) * A + a) * M + m;
}

interface Cell {
  gts: CocoGroundTruth[];
  dts: CocoDetection[];
}

function cellsOf(gts: readonly CocoGroundTruth[], dts: readonly CocoDetection[], p: CocoParams): Map<string, Cell> {
  const images = new Set(p.imageIds);
  const cats = new Set(p.categoryIds);
  const cells = new Map<string, Cell>();
  const cell = (imageId: number, categoryId: number): Cell => {
    const key = `${imageId}:${categoryId}`;
    let c = cells.get(key);
    if (!c) cells.set(key, (c = { gts: [], dts: [] }));
    return c;
  };
  for (const g of gts) if (images.has(g.imageId) && cats.has(g.categoryId)) cell(g.imageId, g.categoryId).gts.push(g);
  for (const d of dts) if (images.has(d.imageId) && cats.has(d.categoryId)) cell(d.imageId, d.categoryId).dts.push(d);
  return cells;
}

/**
 * COCOeval.computeIoU for one image and category: detections by descending score (stable), at
 * most maxDets[-1] of them, against the ground truths in input order; ious[d][g].
 */
function cellIous(c: Cell, p: CocoParams): { dts: CocoDetection[]; ious: Float64Array } {
  const maxDet = p.maxDets[p.maxDets.length - 1]!;
  const dts = byScore(c.dts.map((d) => d.score))
    .slice(0, maxDet)
    .map((i) => c.dts[i]!);
  const G = c.gts.length;
  const ious = new Float64Array(dts.length * G);
  if (G === 0 || dts.length === 0) return { dts, ious };
  const gShapes = c.gts.map((g) => iouShape(g, p.iouType));
  dts.forEach((d, di) => {
    const ds = iouShape(d, p.iouType);
    for (let gi = 0; gi < G; gi++) ious[di * G + gi] = shapeIou(ds, gShapes[gi]!, c.gts[gi]!.iscrowd, p.iouType);
  });
  return { dts, ious };
}

/** COCOeval.evaluateImg: greedy matching at each IoU threshold for one area range. */
function evaluateCell(c: Cell, dts: CocoDetection[], ious: Float64Array, p: CocoParams, aRng: [number, number]): ImageEval | null {
  const G0 = c.gts.length;
  if (G0 === 0 && dts.length === 0) return null;
  const ignoreOf = (g: CocoGroundTruth) => (g.iscrowd || g.area < aRng[0] || g.area > aRng[1] ? 1 : 0);
  // Ground truths not ignored first, each group in input order (numpy's stable argsort).
  const order = c.gts.map((_, i) => i).sort((a, b) => ignoreOf(c.gts[a]!) - ignoreOf(c.gts[b]!) || a - b);
  const gt = order.map((i) => c.gts[i]!);
  const gtIg = Uint8Array.from(gt, ignoreOf);
  const crowd = gt.map((g) => g.iscrowd);
  const T = p.iouThrs.length;
  const D = dts.length;
  const G = gt.length;
  const dtMatched = new Uint8Array(T * D);
  const dtIgnore = new Uint8Array(T * D);
  if (G > 0 && D > 0) {
    for (let t = 0; t < T; t++) {
      const gtm = new Uint8Array(G);
      for (let d = 0; d < D; d++) {
        let iou = Math.min(p.iouThrs[t]!, 1 - 1e-10);
        let m = -1;
        for (let gi = 0; gi < G; gi++) {
          // A ground truth already matched is taken, unless it is a crowd region.
          if (gtm[gi] && !crowd[gi]) continue;
          // Once matched to a real ground truth, the ignored ones after it cannot take over.
          if (m > -1 && gtIg[m] === 0 && gtIg[gi] === 1) break;
          const v = ious[d * G0 + order[gi]!]!;
          if (v < iou) continue;
          iou = v;
          m = gi;
        }
        if (m === -1) continue;
        dtIgnore[t * D + d] = gtIg[m]!;
        dtMatched[t * D + d] = 1;
        gtm[m] = 1;
      }
    }
  }
  // Unmatched detections outside the area range do not count against it.
  for (let d = 0; d < D; d++) {
    const a = dts[d]!.area;
    if (a < aRng[0] || a > aRng[1]) for (let t = 0; t < T; t++) if (!dtMatched[t * D + d]) dtIgnore[t * D + d] = 1;
  }
  return { dtScores: dts.map((d) => d.score), dtMatched, dtIgnore, gtIgnore: gtIg };
}

/** numpy's float64 machine epsilon (np.spacing(1)), which COCOeval adds to precision's denominator. */
const EPS = 2.220446049250313e-16;

/**
 * Evaluates detections against ground truth exactly as COCOeval.evaluate + accumulate +
 * summarize with the given parameters.
 */
export function evaluateCoco(gts: readonly CocoGroundTruth[], dts: readonly CocoDetection[], p: CocoParams): CocoEvaluation {
  const T = p.iouThrs.length;
  const R = p.recThrs.length;
  const K = p.categoryIds.length;
  const A = p.areaRng.length;
  const M = p.maxDets.length;
  const I = p.imageIds.length;
  const cells = cellsOf(gts, dts, p);

  // evalImgs[k][a][i], as COCOeval lays them out.
  const evalImgs: (ImageEval | null)[] = new Array(K * A * I).fill(null);
  p.categoryIds.forEach((catId, k) => {
    p.imageIds.forEach((imgId, i) => {
      const c = cells.get(`${imgId}:${catId}`);
      if (!c) return;
      const { dts: sorted, ious } = cellIous(c, p);
      p.areaRng.forEach((aRng, a) => {
        evalImgs[(k * A + a) * I + i] = evaluateCell(c, sorted, ious, p, aRng);
      });
    });
  });

  const precision = new Float64Array(T * R * K * A * M).fill(-1);
  const scores = new Float64Array(T * R * K * A * M).fill(-1);
  const recall = new Float64Array(T * K * A * M).fill(-1);
  for (let k = 0; k < K; k++) {
    for (let a = 0; a < A; a++) {
      for (let m = 0; m < M; m++) {
        const maxDet = p.maxDets[m]!;
        const E: ImageEval[] = [];
        for (let i = 0; i < I; i++) {
          const e = evalImgs[(k * A + a) * I + i];
          if (e) E.push(e);
        }
        if (E.length === 0) continue;
        // Detections of all images, images in order, each cut to maxDet, then by descending score (stable).
        const allScores: number[] = [];
        const fromImage: number[] = [];
        const fromIndex: number[] = [];
        E.forEach((e, ei) => {
          const n = Math.min(maxDet, e.dtScores.length);
          for (let d = 0; d < n; d++) {
            allScores.push(e.dtScores[d]!);
            fromImage.push(ei);
            fromIndex.push(d);
          }
        });
        let npig = 0;
        for (const e of E) for (const v of e.gtIgnore) if (v === 0) npig++;
        if (npig === 0) continue;
        const inds = byScore(allScores);
        const nd = inds.length;
        const sortedScores = new Float64Array(nd);
        const sortedImage: ImageEval[] = new Array(nd);
        const sortedIndex = new Int32Array(nd);
        for (let j = 0; j < nd; j++) {
          const i = inds[j]!;
          sortedScores[j] = allScores[i]!;
          sortedImage[j] = E[fromImage[i]!]!;
          sortedIndex[j] = fromIndex[i]!;
        }
        const rc = new Float64Array(nd);
        const pr = new Float64Array(nd);
        for (let t = 0; t < T; t++) {
          let tp = 0;
          let fp = 0;
          for (let j = 0; j < nd; j++) {
            const e = sortedImage[j]!;
            const at = t * e.dtScores.length + sortedIndex[j]!;
            if (!e.dtIgnore[at]) {
              if (e.dtMatched[at]) tp++;
              else fp++;
            }
            rc[j] = tp / npig;
            pr[j] = tp / (fp + tp + EPS);
          }
          recall[recallIndex(p, t, k, a, m)] = nd ? rc[nd - 1]! : 0;
          // Precision made monotone from the right (the interpolated precision envelope).
          for (let j = nd - 1; j > 0; j--) if (pr[j]! > pr[j - 1]!) pr[j - 1] = pr[j]!;
          // Each recall point takes the first detection whose recall reaches it (searchsorted 'left').
          let j = 0;
          for (let r = 0; r < R; r++) {
            const thr = p.recThrs[r]!;
            while (j < nd && rc[j]! < thr) j++;
            const at = precisionIndex(p, t, r, k, a, m);
            if (j < nd) {
              precision[at] = pr[j]!;
              scores[at] = sortedScores[j]!;
            } else {
              precision[at] = 0;
              scores[at] = 0;
            }
          }
        }
      }
    }
  }
  const ev: CocoEvaluation = { params: p, precision, scores, recall, stats: [] };
  ev.stats = summarize(ev);
  return ev;
}

/** Mean of the entries above -1, or -1 when there are none (COCOeval's _summarize). */
function meanDefined(values: Iterable<number>): number {
  let sum = 0;
  let n = 0;
  for (const v of values) {
    if (v > -1) {
      sum += v;
      n++;
    }
  }
  return n === 0 ? -1 : sum / n;
}

/** Average precision or recall over categories (all when `k` is omitted) for one area range and maxDets. */
export function summaryValue(
  ev: CocoEvaluation,
  q: { ap: boolean; iouThr?: number; areaRng?: string; maxDets?: number; k?: number },
): number {
  const p = ev.params;
  const a = p.areaRngLbl.indexOf(q.areaRng ?? 'all');
  const m = p.maxDets.indexOf(q.maxDets ?? p.maxDets[p.maxDets.length - 1]!);
  if (a < 0 || m < 0) return -1;
  const ts = q.iouThr === undefined ? p.iouThrs.map((_, t) => t) : p.iouThrs.flatMap((v, t) => (v === q.iouThr ? [t] : []));
  const ks = q.k === undefined ? p.categoryIds.map((_, k) => k) : [q.k];
  const values: number[] = [];
  for (const t of ts) {
    for (const k of ks) {
      if (q.ap) for (let r = 0; r < p.recThrs.length; r++) values.push(ev.precision[precisionIndex(p, t, r, k, a, m)]!);
      else values.push(ev.recall[recallIndex(p, t, k, a, m)]!);
    }
  }
  return meanDefined(values);
}

/** COCOeval.summarize for detection: the 12-number stats vector in COCO_STAT_NAMES order. */
export function summarize(ev: CocoEvaluation): number[] {
  const last = ev.params.maxDets[ev.params.maxDets.length - 1]!;
  const md = ev.params.maxDets;
  return [
    summaryValue(ev, { ap: true }),
    summaryValue(ev, { ap: true, iouThr: 0.5, maxDets: last }),
    summaryValue(ev, { ap: true, iouThr: 0.75, maxDets: last }),
    summaryValue(ev, { ap: true, areaRng: 'small', maxDets: last }),
    summaryValue(ev, { ap: true, areaRng: 'medium', maxDets: last }),
    summaryValue(ev, { ap: true, areaRng: 'large', maxDets: last }),
    summaryValue(ev, { ap: false, maxDets: md[0] }),
    summaryValue(ev, { ap: false, maxDets: md[1] }),
    summaryValue(ev, { ap: false, maxDets: md[2] }),
    summaryValue(ev, { ap: false, areaRng: 'small', maxDets: last }),
    summaryValue(ev, { ap: false, areaRng: 'medium', maxDets: last }),
    summaryValue(ev, { ap: false, areaRng: 'large', maxDets: last }),
  ];
}

/** AP of one category (index into params.categoryIds): all areas, the most detections; at one IoU threshold or averaged over all. */
export function classAp(ev: CocoEvaluation, k: number, iouThr?: number): number {
  return summaryValue(ev, { ap: true, k, ...(iouThr === undefined ? {} : { iouThr }) });
}

/** The precision-recall curve of one category at one IoU threshold (all areas, the most detections). */
export function classPrCurve(ev: CocoEvaluation, k: number, iouThr = 0.5): { recall: number[]; precision: number[]; scores: number[] } {
  const p = ev.params;
  const t = p.iouThrs.indexOf(iouThr);
  const a = p.areaRngLbl.indexOf('all');
  const m = p.maxDets.length - 1;
  const precision: number[] = [];
  const scores: number[] = [];
  for (let r = 0; r < p.recThrs.length; r++) {
    if (t < 0) {
      precision.push(-1);
      scores.push(-1);
      continue;
    }
    const at = precisionIndex(p, t, r, k, a, m);
    precision.push(ev.precision[at]!);
    // A recall point is reached when the final recall is at least it; COCO gives the others precision 0.
    scores.push(ev.recall[recallIndex(p, t, k, a, m)]! >= p.recThrs[r]! ? ev.scores[at]! : -1);
  }
  return { recall: [...p.recThrs], precision, scores };
}

// ---------------------------------------------------------------------------------------------
// Operating point: one score threshold, one IoU threshold

export interface PointMatch {
  /** Per detection (input order): the matched ground truth's index, or -1. */
  dtMatch: Int32Array;
  /** Per detection: matched to a crowd region, so neither right nor wrong. */
  dtIgnored: Uint8Array;
  /** Per ground truth: the matching detection's index, or -1. */
  gtMatch: Int32Array;
  /** Per detection: the best IoU with a ground truth of its class (0 when none). */
  dtBestIou: Float64Array;
}

function groupByImage<T extends { imageId: number }>(items: readonly T[]): Map<number, number[]> {
  const out = new Map<number, number[]>();
  items.forEach((x, i) => {
    let l = out.get(x.imageId);
    if (!l) out.set(x.imageId, (l = []));
    l.push(i);
  });
  return out;
}

/**
 * Same-class matching at one IoU threshold, every detection considered (no score threshold, no
 * detection limit): per image and category, detections by descending score (ties in input
 * order) each take the unmatched ground truth with the highest IoU at or above the threshold,
 * real ground truth before crowd regions; one matching only a crowd region is ignored. Because
 * a detection's match depends only on the detections scored above it, cutting this list at
 * any score gives the matching of the detections above that score.
 */
export function matchAtIou(gts: readonly CocoGroundTruth[], dts: readonly CocoDetection[], iouType: IouType, iouThreshold: number): PointMatch {
  const dtMatch = new Int32Array(dts.length).fill(-1);
  const dtIgnored = new Uint8Array(dts.length);
  const gtMatch = new Int32Array(gts.length).fill(-1);
  const dtBestIou = new Float64Array(dts.length);
  const gtByImage = groupByImage(gts);
  const dtByImage = groupByImage(dts);
  const thr = Math.min(iouThreshold, 1 - 1e-10);
  for (const [imageId, dIdx] of dtByImage) {
    const gIdx = gtByImage.get(imageId) ?? [];
    const gShapes = new Map(gIdx.map((g) => [g, iouShape(gts[g]!, iouType)]));
    const ordered = byScore(dIdx.map((i) => dts[i]!.score)).map((j) => dIdx[j]!);
    for (const di of ordered) {
      const d = dts[di]!;
      const ds = iouShape(d, iouType);
      // Real ground truth first; a crowd region only when no real one is left to match.
      let best = -1;
      let bestIou = thr;
      let onCrowd = false;
      for (const gi of gIdx) {
        const g = gts[gi]!;
        if (g.categoryId !== d.categoryId) continue;
        const v = shapeIou(ds, gShapes.get(gi)!, g.iscrowd, iouType);
        if (g.iscrowd) {
          if (v >= thr) onCrowd = true;
          continue;
        }
        if (v > dtBestIou[di]!) dtBestIou[di] = v;
        if (gtMatch[gi] !== -1 || v < bestIou) continue;
        // Equal IoUs go to the later ground truth, as in COCOeval.
        best = gi;
        bestIou = v;
      }
      if (best !== -1) {
        dtMatch[di] = best;
        gtMatch[best] = di;
      } else if (onCrowd) dtIgnored[di] = 1;
    }
  }
  return { dtMatch, dtIgnored, gtMatch, dtBestIou };
}

export interface ClassCounts extends DetectionCounts {
  categoryId: number;
}

function prf(tp: number, fp: number, fn: number): { precision: number; recall: number; f1: number } {
  const precision = tp + fp > 0 ? tp / (tp + fp) : 0;
  const recall = tp + fn > 0 ? tp / (tp + fn) : 0;
  const f1 = precision + recall > 0 ? (2 * precision * recall) / (precision + recall) : 0;
  return { precision, recall, f1 };
}

/**
 * Precision, recall and F1 per category at a score threshold (detections scoring at least it)
 * on a matching from matchAtIou. Crowd regions are never missed; detections on them are not
 * counted. Precision is 0 without detections, recall 0 without ground truth.
 */
export function classCountsAt(
  gts: readonly CocoGroundTruth[],
  dts: readonly CocoDetection[],
  match: PointMatch,
  scoreThreshold: number,
  categoryIds: readonly number[],
): ClassCounts[] {
  const acc = new Map(categoryIds.map((c) => [c, { tp: 0, fp: 0, fn: 0 }]));
  dts.forEach((d, i) => {
    const c = acc.get(d.categoryId);
    if (!c || d.score < scoreThreshold || match.dtIgnored[i]) return;
    if (match.dtMatch[i]! >= 0) c.tp++;
    else c.fp++;
  });
  gts.forEach((g, i) => {
    const c = acc.get(g.categoryId);
    if (!c || g.iscrowd) return;
    const m = match.gtMatch[i]!;
    if (m < 0 || dts[m]!.score < scoreThreshold) c.fn++;
  });
  return categoryIds.map((categoryId) => {
    const c = acc.get(categoryId)!;
    return { categoryId, ...c, ...prf(c.tp, c.fp, c.fn) };
  });
}

/** The overall P/R/F1 sweep: the same shape the evaluation result carries. */
export type ConfidenceSweep = ConfidenceCurve;

/**
 * Precision, recall and F1 of all categories together at each threshold (default 0, 0.01, ...,
 * 1), from one matching; the best F1 is the highest, at the highest threshold that reaches it.
 */
export function confidenceSweep(
  gts: readonly CocoGroundTruth[],
  dts: readonly CocoDetection[],
  match: PointMatch,
  thresholds: readonly number[] = linspace(0, 1, 101),
): ConfidenceSweep {
  const positives = gts.filter((g) => !g.iscrowd).length;
  const counted = dts.flatMap((d, i) => (match.dtIgnored[i] ? [] : [{ score: d.score, tp: match.dtMatch[i]! >= 0 }]));
  counted.sort((a, b) => b.score - a.score);
  const out: ConfidenceSweep = { thresholds: [...thresholds], precision: [], recall: [], f1: [], best: null };
  for (const thr of thresholds) {
    let tp = 0;
    let n = 0;
    for (const c of counted) {
      if (c.score < thr) break;
      n++;
      if (c.tp) tp++;
    }
    const r = prf(tp, n - tp, positives - tp);
    out.precision.push(r.precision);
    out.recall.push(r.recall);
    out.f1.push(r.f1);
    if (n > 0 && (out.best === null || r.f1 >= out.best.f1)) out.best = { threshold: thr, f1: r.f1 };
  }
  return out;
}

export interface ConfusionResult {
  /** Category ids in row/column order; background (null) last. */
  categoryIds: (number | null)[];
  /** Rows ground-truth categories, columns predicted ones. */
  matrix: number[][];
  /** Per detection above the threshold and not on a crowd region: the other-category ground truth it was paired with, else -1. */
  dtWrongClass: Int32Array;
  /** Per ground truth: paired with a detection of another category. */
  gtWrongClass: Uint8Array;
}

/**
 * The confusion matrix at a score and IoU threshold. Matching rule: first the same-category
 * matching of matchAtIou (the diagonal, equal to the true positives of classCountsAt); then the
 * detections left unmatched, by descending score (ties in input order), each take the
 * still-unmatched real ground truth of another category in their image with the highest IoU at or
 * above the threshold (a wrong class: row of the ground truth, column of the detection). What is
 * then left are false positives (background row) and missed ground truth (background column).
 * Crowd regions and the detections matched to them take no part.
 */
export function confusionAt(
  gts: readonly CocoGroundTruth[],
  dts: readonly CocoDetection[],
  match: PointMatch,
  iouType: IouType,
  scoreThreshold: number,
  iouThreshold: number,
  categoryIds: readonly number[],
): ConfusionResult {
  const K = categoryIds.length;
  const index = new Map(categoryIds.map((c, k) => [c, k]));
  const matrix = Array.from({ length: K + 1 }, () => new Array<number>(K + 1).fill(0));
  const dtWrongClass = new Int32Array(dts.length).fill(-1);
  const gtWrongClass = new Uint8Array(gts.length);
  const active = (i: number) => dts[i]!.score >= scoreThreshold && !match.dtIgnored[i] && index.has(dts[i]!.categoryId);
  const taken = new Uint8Array(gts.length);
  gts.forEach((_, gi) => {
    const m = match.gtMatch[gi]!;
    if (m >= 0 && active(m)) taken[gi] = 1;
  });
  const thr = Math.min(iouThreshold, 1 - 1e-10);
  const gtByImage = groupByImage(gts);
  const dtByImage = groupByImage(dts);
  for (const [imageId, dIdx] of dtByImage) {
    const gIdx = (gtByImage.get(imageId) ?? []).filter((g) => !gts[g]!.iscrowd && index.has(gts[g]!.categoryId));
    const gShapes = new Map(gIdx.map((g) => [g, iouShape(gts[g]!, iouType)]));
    const ordered = byScore(dIdx.map((i) => dts[i]!.score)).map((j) => dIdx[j]!);
    for (const di of ordered) {
      if (!active(di)) continue;
      const d = dts[di]!;
      if (match.dtMatch[di]! >= 0) {
        const k = index.get(d.categoryId)!;
        matrix[k]![k]!++;
        continue;
      }
      const ds = iouShape(d, iouType);
      let best = -1;
      let bestIou = thr;
      for (const gi of gIdx) {
        const g = gts[gi]!;
        if (taken[gi] || g.categoryId === d.categoryId) continue;
        const v = shapeIou(ds, gShapes.get(gi)!, false, iouType);
        if (v < bestIou) continue;
        best = gi;
        bestIou = v;
      }
      if (best === -1) {
        matrix[K]![index.get(d.categoryId)!]!++;
        continue;
      }
      taken[best] = 1;
      gtWrongClass[best] = 1;
      dtWrongClass[di] = best;
      matrix[index.get(gts[best]!.categoryId)!]![index.get(d.categoryId)!]!++;
    }
  }
  gts.forEach((g, gi) => {
    if (g.iscrowd || taken[gi] || !index.has(g.categoryId)) return;
    matrix[index.get(g.categoryId)!]![K]!++;
  });
  return { categoryIds: [...categoryIds, null], matrix, dtWrongClass, gtWrongClass };
}
