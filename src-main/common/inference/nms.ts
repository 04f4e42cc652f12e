/**
 * Candidates after decoding, before suppression: boxes x1,y1,x2,y2 in network-input pixels,
 * stored as parallel typed arrays so a few thousand of them cost no allocations per box.
 * `row` is the candidate's index in the model output, kept to find its mask coefficients.
 */
export interface Candidates {
  count: number;
  boxes: Float32Array;
  scores: Float32Array;
  classes: Int32Array;
  rows: Int32Array;
}

export function makeCandidates(capacity: number): Candidates {
  return { count: 0, boxes: new Float32Array(capacity * 4), scores: new Float32Array(capacity), classes: new Int32Array(capacity), rows: new Int32Array(capacity) };
}

export function pushCandidate(c: Candidates, x1: number, y1: number, x2: number, y2: number, score: number, cls: number, row: number): void {
  if (c.count === c.scores.length) {
    const grown = makeCandidates(Math.max(16, c.count * 2));
    grown.boxes.set(c.boxes);
    grown.scores.set(c.scores);
    grown.classes.set(c.classes);
    grown.rows.set(c.rows);
    c.boxes = grown.boxes;
    c.scores = grown.scores;
    c.classes = grown.classes;
    c.rows = grown.rows;
  }
  const i = c.count++;
  c.boxes[i * 4] = x1;
  c.boxes[i * 4 + 1] = y1;
  c.boxes[i * 4 + 2] = x2;
  c.boxes[i * 4 + 3] = y2;
  c.scores[i] = score;
  c.classes[i] = cls;
  c.rows[i] = row;
}

export function boxIou(a: ArrayLike<number>, ai: number, b: ArrayLike<number>, bi: number): number {
  const ax1 = a[ai]!, ay1 = a[ai + 1]!, ax2 = a[ai + 2]!, ay2 = a[ai + 3]!;
  const bx1 = b[bi]!, by1 = b[bi + 1]!, bx2 = b[bi + 2]!, by2 = b[bi + 3]!;
  const iw = Math.min(ax2, bx2) - Math.max(ax1, bx1);
  const ih = Math.min(ay2, by2) - Math.max(ay1, by1);
  if (iw <= 0 || ih <= 0) return 0;
  const inter = iw * ih;
  const union = (ax2 - ax1) * (ay2 - ay1) + (bx2 - bx1) * (by2 - by1) - inter;
  return union > 0 ? inter / union : 0;
}

/** Ultralytics caps the boxes entering NMS so a flood of low scores cannot make it quadratic. */
export const MAX_NMS_INPUT = 30_000;

/**
 * Class-aware greedy non-maximum suppression: a box is dropped when it overlaps a higher-scoring
 * kept box of the same class by more than `iou`. Returns indices into `c`, best first, at most
 * `maxDetections`. Ties keep the earlier candidate, so the result does not depend on sort
 * stability.
 */
export function nms(c: Candidates, iou: number, maxDetections: number): number[] {
  const order = Array.from({ length: c.count }, (_, i) => i).sort((a, b) => c.scores[b]! - c.scores[a]! || a - b);
  if (order.length > MAX_NMS_INPUT) order.length = MAX_NMS_INPUT;
  const kept: number[] = [];
  for (const i of order) {
    if (kept.length >= maxDetections) break;
    let suppressed = false;
    for (const k of kept) {
      if (c.classes[k] === c.classes[i] && boxIou(c.boxes, k * 4, c.boxes, i * 4) > iou) {
        suppressed = true;
        break;
      }
    }
    if (!suppressed) kept.push(i);
  }
  return kept;
}

/** Families whose output is already final keep the best `maxDetections` and nothing else. */
export function topK(c: Candidates, maxDetections: number): number[] {
  return Array.from({ length: c.count }, (_, i) => i)
    .sort((a, b) => c.scores[b]! - c.scores[a]! || a - b)
    .slice(0, maxDetections);
}
