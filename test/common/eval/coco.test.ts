import { describe, expect, it } from 'vitest';
import {
  classAp,
  classCountsAt,
  classPrCurve,
  confidenceSweep,
  confusionAt,
  defaultParams,
  evaluateCoco,
  iouOf,
  linspace,
  matchAtIou,
  type Bbox,
  type CocoDetection,
  type CocoGroundTruth,
} from '../../../src-main/common/eval/coco';
import { encodeMask, type Rle } from '../../../src-main/common/geometry/rle';
import type { IouType } from '../../../src-main/common/eval/types';

/** Stats vector indices, in COCO_STAT_NAMES order. */
const AP = 0;
const AP50 = 1;
const AP75 = 2;
const APS = 3;
const APM = 4;
const APL = 5;
const AR1 = 6;
const AR10 = 7;
const AR100 = 8;
const ARS = 9;
const ARM = 10;
const ARL = 11;

let nextId = 1;
function gt(imageId: number, categoryId: number, bbox: Bbox, more: Partial<CocoGroundTruth> = {}): CocoGroundTruth {
  return { id: nextId++, imageId, categoryId, bbox, area: bbox[2] * bbox[3], iscrowd: false, ...more };
}
function dt(imageId: number, categoryId: number, bbox: Bbox, score: number, more: Partial<CocoDetection> = {}): CocoDetection {
  return { id: nextId++, imageId, categoryId, bbox, area: bbox[2] * bbox[3], score, ...more };
}

function evaluate(gts: CocoGroundTruth[], dts: CocoDetection[], opts: { iouType?: IouType; images?: number[]; cats?: number[] } = {}) {
  const images = opts.images ?? [...new Set([...gts, ...dts].map((x) => x.imageId))].sort((a, b) => a - b);
  const cats = opts.cats ?? [...new Set([...gts, ...dts].map((x) => x.categoryId))];
  return evaluateCoco(gts, dts, defaultParams(opts.iouType ?? 'bbox', images, cats));
}

/**
 * COCO divides by tp + fp + machine epsilon, so a perfect precision is 1 - 2.2e-16; the reference
 * API reports the same.
 */
function expectStats(actual: number[], expected: number[]): void {
  expect(actual).toHaveLength(expected.length);
  actual.forEach((v, i) => expect(v, `stats[${i}]`).toBeCloseTo(expected[i]!, 12));
}

/** Number of COCO's 101 recall points (0, 0.01, ..., 1) at or below a recall. */
const pointsUpTo = (recall: number) => linspace(0, 1, 101).filter((r) => r <= recall).length;

describe('COCO parameters', () => {
  it('uses numpy linspace values: IoU 0.50..0.95 in 10 steps, 101 recall points, last point exact', () => {
    const p = defaultParams('bbox', [3, 1, 3], [2, 1]);
    expect(p.iouThrs).toHaveLength(10);
    expect(p.iouThrs[0]).toBe(0.5);
    expect(p.iouThrs[5]).toBe(0.75);
    expect(p.iouThrs[9]).toBe(0.95);
    // numpy: 0.5 + 2 * 0.049999999999999996
    expect(p.iouThrs[2]).toBe(2 * ((0.95 - 0.5) / 9) + 0.5);
    expect(p.recThrs).toHaveLength(101);
    expect(p.recThrs[100]).toBe(1);
    expect(p.recThrs[7]).toBe(7 * 0.01);
    expect(p.maxDets).toEqual([1, 10, 100]);
    expect(p.imageIds).toEqual([3, 1]);
    expect(p.categoryIds).toEqual([1, 2]);
  });
});

describe('COCO box evaluation', () => {
  it('scores a perfect small detection 1 and leaves the empty area ranges at -1', () => {
    const ev = evaluate([gt(1, 1, [0, 0, 10, 10])], [dt(1, 1, [0, 0, 10, 10], 0.9)]);
    expectStats(ev.stats, [1, 1, 1, 1, -1, -1, 1, 1, 1, 1, -1, -1]);
  });

  it('ranks detections by score: a false positive above the true one halves precision', () => {
    const g = [gt(1, 1, [0, 0, 10, 10])];
    // FP first: precisions [0, 1/2], made monotone from the right -> 1/2 at every recall point.
    expect(evaluate(g, [dt(1, 1, [50, 50, 10, 10], 0.9), dt(1, 1, [0, 0, 10, 10], 0.8)]).stats[AP]).toBeCloseTo(0.5, 12);
    // TP first: precision 1 reaches recall 1.
    expect(evaluate(g, [dt(1, 1, [50, 50, 10, 10], 0.8), dt(1, 1, [0, 0, 10, 10], 0.9)]).stats[AP]).toBeCloseTo(1, 12);
  });

  it('breaks ties in score by input order within an image and by image order across images', () => {
    const g = [gt(1, 1, [0, 0, 10, 10])];
    const fp = dt(1, 1, [50, 50, 10, 10], 0.5);
    const tp = dt(1, 1, [0, 0, 10, 10], 0.5);
    expect(evaluate(g, [fp, tp]).stats[AP]).toBeCloseTo(0.5, 12);
    expect(evaluate(g, [tp, fp]).stats[AP]).toBeCloseTo(1, 12);
    // Across images: the image listed first ranks first.
    const g2 = [gt(1, 1, [0, 0, 10, 10])];
    const fpOther = dt(2, 1, [0, 0, 10, 10], 0.5);
    const tpHere = dt(1, 1, [0, 0, 10, 10], 0.5);
    expect(evaluate(g2, [fpOther, tpHere], { images: [1, 2] }).stats[AP]).toBeCloseTo(1, 12);
    expect(evaluate(g2, [fpOther, tpHere], { images: [2, 1] }).stats[AP]).toBeCloseTo(0.5, 12);
  });

  it('matches at each IoU threshold: IoU 2/3 counts at 0.50-0.65 only (4 of 10 thresholds)', () => {
    // 10x10 box against one shifted by 2: intersection 80, union 120.
    const ev = evaluate([gt(1, 1, [0, 0, 10, 10])], [dt(1, 1, [2, 0, 10, 10], 0.9)]);
    expect(iouOf({ bbox: [2, 0, 10, 10] }, { bbox: [0, 0, 10, 10] }, 'bbox')).toBeCloseTo(2 / 3, 12);
    expect(ev.stats[AP]).toBeCloseTo(0.4, 12);
    expect(ev.stats[AP50]).toBeCloseTo(1, 12);
    expect(ev.stats[AP75]).toBe(0);
    expect(ev.stats[AR100]).toBeCloseTo(0.4, 12);
  });

  it('matches detections inside crowd regions without penalty, however many, and never counts the crowd as missed', () => {
    const crowd = gt(1, 1, [0, 0, 100, 100], { iscrowd: true });
    const person = gt(1, 1, [200, 200, 10, 10]);
    const inCrowd1 = dt(1, 1, [10, 10, 20, 20], 0.95);
    const inCrowd2 = dt(1, 1, [40, 40, 20, 20], 0.9);
    const tp = dt(1, 1, [200, 200, 10, 10], 0.8);
    // Crowd IoU is intersection over the detection's area: 1 inside, whatever the region's size.
    expect(iouOf(inCrowd1, crowd, 'bbox', true)).toBe(1);
    expect(iouOf(inCrowd1, crowd, 'bbox', false)).toBeCloseTo(400 / 10000, 12);
    const ev = evaluate([crowd, person], [inCrowd1, inCrowd2, tp]);
    expect(ev.stats[AP]).toBeCloseTo(1, 12);
    expect(ev.stats[AR100]).toBeCloseTo(1, 12);
    // Half inside (IoU 100/400 = 0.25 with the crowd) is an ordinary false positive, ranked first.
    const straddling = dt(1, 1, [90, 90, 20, 20], 0.99);
    expect(evaluate([crowd, person], [straddling, inCrowd1, tp]).stats[AP]).toBeCloseTo(0.5, 12);
    // A crowd region alone: no ground truth to find, so the category is undefined (-1).
    expect(evaluate([crowd], [inCrowd1]).stats[AP]).toBe(-1);
  });

  it('prefers a real ground truth to a crowd region, even at a lower IoU', () => {
    const crowd = gt(1, 1, [0, 0, 100, 100], { iscrowd: true });
    const person = gt(1, 1, [10, 10, 20, 20]);
    // IoU 1 with the crowd (inside it), 400/484 with the person: matched to the person, a TP.
    const d = dt(1, 1, [10, 10, 22, 22], 0.9);
    const ev = evaluate([crowd, person], [d]);
    expect(ev.stats[AP50]).toBeCloseTo(1, 12);
  });

  it('splits by ground-truth area (32² and 96² both ends inclusive) and ignores unmatched detections outside the range', () => {
    const small = gt(1, 1, [0, 0, 10, 10]); // 100
    const medium = gt(1, 1, [100, 0, 40, 40]); // 1600
    const large = gt(1, 1, [200, 0, 100, 100]); // 10000
    const dts = [
      dt(1, 1, [400, 400, 100, 100], 0.95), // large false positive
      dt(1, 1, [0, 0, 10, 10], 0.9),
      dt(1, 1, [200, 0, 100, 100], 0.8),
    ];
    const ev = evaluate([small, medium, large], dts);
    // all: precisions [0, 1/2, 2/3] -> 2/3 up to recall 2/3.
    expect(ev.stats[AP]).toBeCloseTo(((2 / 3) * pointsUpTo(2 / 3)) / 101, 12);
    expect(pointsUpTo(2 / 3)).toBe(67);
    // small: the large false positive is outside the range and ignored.
    expect(ev.stats[APS]).toBeCloseTo(1, 12);
    // medium: found nothing; the other detections are outside it.
    expect(ev.stats[APM]).toBe(0);
    expect(ev.stats[APL]).toBeCloseTo(0.5, 12);
    expect(ev.stats[ARS]).toBeCloseTo(1, 12);
    expect(ev.stats[ARM]).toBe(0);
    expect(ev.stats[ARL]).toBeCloseTo(1, 12);
    expect(ev.stats[AR100]).toBeCloseTo(2 / 3, 12);

    // Exactly 32² belongs to small and to medium.
    const edge = evaluate([gt(1, 1, [0, 0, 32, 32])], [dt(1, 1, [0, 0, 32, 32], 0.9)]);
    expect(edge.stats[APS]).toBeCloseTo(1, 12);
    expect(edge.stats[APM]).toBeCloseTo(1, 12);
    expect(edge.stats[APL]).toBe(-1);
  });

  it('judges areas on the ground truth `area`, not its box', () => {
    // A 40x40 box whose area says small (a thin diagonal object, say).
    const ev = evaluate([gt(1, 1, [0, 0, 40, 40], { area: 500 })], [dt(1, 1, [0, 0, 40, 40], 0.9)]);
    expect(ev.stats[APS]).toBeCloseTo(1, 12);
    expect(ev.stats[APM]).toBe(-1);
  });

  it('keeps only the top maxDets detections of each image', () => {
    const g = [gt(1, 1, [0, 0, 10, 10])];
    const dts = [dt(1, 1, [50, 0, 10, 10], 0.9), dt(1, 1, [70, 0, 10, 10], 0.8), dt(1, 1, [0, 0, 10, 10], 0.7)];
    const ev = evaluate(g, dts);
    expect(ev.stats[AR1]).toBe(0);
    expect(ev.stats[AR10]).toBeCloseTo(1, 12);
    expect(ev.stats[AR100]).toBeCloseTo(1, 12);
    expect(ev.stats[AP]).toBeCloseTo(1 / 3, 12);
    // 101 detections in one image: the true one, scored lowest, is cut at 100.
    const many = Array.from({ length: 100 }, (_, i) => dt(1, 1, [100 + 20 * i, 0, 10, 10], 0.9 - i * 0.001));
    const cut = evaluate(g, [...many, dt(1, 1, [0, 0, 10, 10], 0.1)]);
    expect(cut.stats[AR100]).toBe(0);
    expect(cut.stats[AP]).toBe(0);
  });

  it('gives -1 to categories without ground truth and leaves them out of the means', () => {
    const ev = evaluate([gt(1, 1, [0, 0, 10, 10])], [dt(1, 1, [0, 0, 10, 10], 0.9), dt(1, 2, [50, 50, 10, 10], 0.9)], { cats: [1, 2, 3] });
    expect(classAp(ev, 0)).toBeCloseTo(1, 12);
    expect(classAp(ev, 1)).toBe(-1);
    expect(classAp(ev, 2)).toBe(-1);
    expect(ev.stats[AP]).toBeCloseTo(1, 12);
    expect(classPrCurve(ev, 1).precision.every((p) => p === -1)).toBe(true);
    // Nothing at all: every number is undefined.
    expect(evaluate([], [], { images: [1], cats: [1] }).stats).toEqual(new Array(12).fill(-1));
  });

  it('counts the ground truth of images without detections as missed', () => {
    const ev = evaluate([gt(1, 1, [0, 0, 10, 10]), gt(2, 1, [0, 0, 10, 10])], [dt(1, 1, [0, 0, 10, 10], 0.9)], { images: [1, 2] });
    expect(ev.stats[AR100]).toBe(0.5);
    expect(ev.stats[AP]).toBeCloseTo(pointsUpTo(0.5) / 101, 12);
    expect(pointsUpTo(0.5)).toBe(51);
    // The PR curve: precision 1 up to recall 0.5, then 0; the score of the detection where reached.
    const pr = classPrCurve(ev, 0, 0.5);
    for (const p of pr.precision.slice(0, 51)) expect(p).toBeCloseTo(1, 12);
    expect(pr.precision.slice(51).every((p) => p === 0)).toBe(true);
    expect(pr.scores[50]).toBe(0.9);
    expect(pr.scores[51]).toBe(-1);
  });
});

/** A mask of an image `w` x `h` with the rectangle [x, x+rw) x [y, y+rh) set. */
function rectMask(w: number, h: number, x: number, y: number, rw: number, rh: number): Rle {
  const m = new Uint8Array(w * h);
  for (let yy = y; yy < y + rh; yy++) for (let xx = x; xx < x + rw; xx++) m[yy * w + xx] = 1;
  return encodeMask(m, w, h);
}

describe('COCO mask evaluation', () => {
  const W = 40;
  const H = 30;
  const segGt = (imageId: number, rle: Rle, bbox: Bbox, more: Partial<CocoGroundTruth> = {}) => gt(imageId, 1, bbox, { rle, area: bbox[2] * bbox[3], ...more });
  const segDt = (imageId: number, rle: Rle, bbox: Bbox, score: number) => dt(imageId, 1, bbox, score, { rle });

  it('scores masks equal to their ground truth 1.0', () => {
    const a = rectMask(W, H, 2, 3, 10, 8);
    const b = rectMask(W, H, 20, 10, 15, 15);
    const ev = evaluate([segGt(1, a, [2, 3, 10, 8]), segGt(1, b, [20, 10, 15, 15])], [segDt(1, a, [2, 3, 10, 8], 0.9), segDt(1, b, [20, 10, 15, 15], 0.8)], { iouType: 'segm' });
    expect(ev.stats[AP]).toBeCloseTo(1, 12);
    expect(ev.stats[AR100]).toBeCloseTo(1, 12);
  });

  it('computes mask IoU from pixels: an L-shaped overlap by hand', () => {
    // Ground truth 10x10 at (0,0); the detection 10x10 at (4,6): overlap 6x4 = 24 px, union 200 - 24 = 176.
    const g = rectMask(W, H, 0, 0, 10, 10);
    const d = rectMask(W, H, 4, 6, 10, 10);
    expect(iouOf({ bbox: [4, 6, 10, 10], rle: d }, { bbox: [0, 0, 10, 10], rle: g }, 'segm')).toBeCloseTo(24 / 176, 12);
    // Shifted by 2 columns: 80 / 120 = 2/3, matched at 4 of 10 thresholds.
    const d2 = rectMask(W, H, 2, 0, 10, 10);
    expect(iouOf({ bbox: [2, 0, 10, 10], rle: d2 }, { bbox: [0, 0, 10, 10], rle: g }, 'segm')).toBeCloseTo(2 / 3, 12);
    const ev = evaluate([segGt(1, g, [0, 0, 10, 10])], [segDt(1, d2, [2, 0, 10, 10], 0.9)], { iouType: 'segm' });
    expect(ev.stats[AP]).toBeCloseTo(0.4, 12);
    expect(ev.stats[AP50]).toBeCloseTo(1, 12);
    expect(ev.stats[AP75]).toBe(0);
    // The box the caller passes does not enter mask IoU: only pixels do.
    const ev2 = evaluate([segGt(1, g, [0, 0, 99, 99])], [segDt(1, d2, [0, 0, 10, 10], 0.9)], { iouType: 'segm' });
    expect(ev2.stats[AP]).toBeCloseTo(0.4, 12);
  });

  it('divides by the detection area inside a crowd mask', () => {
    // Crowd region 20x20 at (0,0); detection 10x10 at (15,5): 5x10 = 50 px inside, IoU 50/100.
    const crowd = rectMask(W, H, 0, 0, 20, 20);
    const d = rectMask(W, H, 15, 5, 10, 10);
    expect(iouOf({ bbox: [15, 5, 10, 10], rle: d }, { bbox: [0, 0, 20, 20], rle: crowd }, 'segm', true)).toBe(0.5);
    // At IoU 0.5 it falls in the crowd and is ignored: the real ground truth's detection ranks first.
    const real = rectMask(W, H, 30, 20, 5, 5);
    const ev = evaluate(
      [segGt(1, crowd, [0, 0, 20, 20], { iscrowd: true }), segGt(1, real, [30, 20, 5, 5])],
      [segDt(1, d, [15, 5, 10, 10], 0.9), segDt(1, real, [30, 20, 5, 5], 0.8)],
      { iouType: 'segm' },
    );
    expect(ev.stats[AP50]).toBeCloseTo(1, 12);
    // From 0.55 up it is a false positive ranked first: precision 1/2.
    expect(ev.stats[AP]).toBeCloseTo((1 + 9 * 0.5) / 10, 12);
  });
});

describe('operating point: P/R/F1, confidence sweep, confusion matrix', () => {
  // Classes A = 1, B = 2. Ground truth: A at a, B at b, A at c. Detections: A on a (0.9, right),
  // B on c (0.8, wrong class), A on empty ground (0.7, false positive), B on b (0.3, below 0.5).
  const a = gt(1, 1, [0, 0, 10, 10]);
  const b = gt(1, 2, [50, 50, 10, 10]);
  const c = gt(1, 1, [100, 100, 10, 10]);
  const gts = [a, b, c];
  const dts = [dt(1, 1, [0, 0, 10, 10], 0.9), dt(1, 2, [100, 100, 10, 10], 0.8), dt(1, 1, [200, 200, 10, 10], 0.7), dt(1, 2, [50, 50, 10, 10], 0.3)];
  const match = matchAtIou(gts, dts, 'bbox', 0.5);

  it('counts TP/FP/FN per class at a score threshold', () => {
    const [ca, cb] = classCountsAt(gts, dts, match, 0.5, [1, 2]);
    expect(ca).toEqual({ categoryId: 1, tp: 1, fp: 1, fn: 1, precision: 0.5, recall: 0.5, f1: 0.5 });
    expect(cb).toEqual({ categoryId: 2, tp: 0, fp: 1, fn: 1, precision: 0, recall: 0, f1: 0 });
    // At 0.3 the B detection finds b.
    const [, low] = classCountsAt(gts, dts, match, 0.3, [1, 2]);
    expect(low).toMatchObject({ tp: 1, fp: 1, fn: 0, precision: 0.5, recall: 1 });
  });

  it('sweeps the threshold: P, R and F1 of all classes, best F1 at the highest threshold reaching it', () => {
    const s = confidenceSweep(gts, dts, match, [0, 0.3, 0.5, 0.8, 0.9, 0.95]);
    expect(s.precision).toEqual([0.5, 0.5, 1 / 3, 0.5, 1, 0]);
    expect(s.recall).toEqual([2 / 3, 2 / 3, 1 / 3, 1 / 3, 1 / 3, 0]);
    expect(s.f1[0]).toBeCloseTo(4 / 7, 12);
    expect(s.f1[2]).toBeCloseTo(1 / 3, 12);
    expect(s.f1[3]).toBeCloseTo(0.4, 12);
    expect(s.f1[4]).toBeCloseTo(0.5, 12);
    expect(s.best).toEqual({ threshold: 0.3, f1: s.f1[1] });
    expect(confidenceSweep(gts, [], matchAtIou(gts, [], 'bbox', 0.5)).best).toBeNull();
  });

  it('builds the confusion matrix with a background row and column', () => {
    const cm = confusionAt(gts, dts, match, 'bbox', 0.5, 0.5, [1, 2]);
    expect(cm.categoryIds).toEqual([1, 2, null]);
    expect(cm.matrix).toEqual([
      [1, 1, 0], // A: found once, taken for B once
      [0, 0, 1], // B: missed (its detection is below the threshold)
      [1, 0, 0], // background: the false A
    ]);
    expect([...cm.dtWrongClass]).toEqual([-1, 2, -1, -1]);
    expect([...cm.gtWrongClass]).toEqual([0, 0, 1]);
    // Rows add up to the ground truth of each class, columns to the detections above the threshold.
    expect(cm.matrix[0]!.reduce((x, y) => x + y)).toBe(2);
    expect(cm.matrix.reduce((x, r) => x + r[1]!, 0)).toBe(1);
  });

  it('leaves detections on crowd regions out of every count', () => {
    const crowd = gt(2, 1, [0, 0, 100, 100], { iscrowd: true });
    const d = dt(2, 1, [10, 10, 10, 10], 0.9);
    const m = matchAtIou([crowd], [d], 'bbox', 0.5);
    expect(m.dtIgnored[0]).toBe(1);
    expect(classCountsAt([crowd], [d], m, 0.5, [1])[0]).toMatchObject({ tp: 0, fp: 0, fn: 0 });
    expect(confusionAt([crowd], [d], m, 'bbox', 0.5, 0.5, [1]).matrix).toEqual([
      [0, 0],
      [0, 0],
    ]);
  });
});
