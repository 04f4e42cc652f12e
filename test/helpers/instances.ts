import { paintRle, type Rle } from '../../src-main/common/geometry';

/** Masks as a row-major label image (mask i is i + 1). */
export function labelImage(masks: readonly Rle[], width: number, height: number): Uint16Array {
  const out = new Uint16Array(width * height);
  masks.forEach((m, i) => paintRle(out, width, m, i + 1));
  return out;
}

/**
 * Instance F1 at IoU 0.5 between two label images (0 is background). Matching is one-to-one and
 * greedy by IoU; above 0.5 no instance can overlap two others by more than half, so greedy is optimal.
 */
export function instanceF1(pred: ArrayLike<number>, truth: ArrayLike<number>): { f1: number; tp: number; pred: number; truth: number } {
  const areaP = new Map<number, number>();
  const areaT = new Map<number, number>();
  const inter = new Map<string, number>();
  for (let i = 0; i < pred.length; i++) {
    const p = pred[i]!;
    const t = truth[i]!;
    if (p) areaP.set(p, (areaP.get(p) ?? 0) + 1);
    if (t) areaT.set(t, (areaT.get(t) ?? 0) + 1);
    if (p && t) inter.set(`${p}:${t}`, (inter.get(`${p}:${t}`) ?? 0) + 1);
  }
  const pairs = [...inter].map(([k, n]) => {
    const [p, t] = k.split(':').map(Number) as [number, number];
    return { p, t, iou: n / (areaP.get(p)! + areaT.get(t)! - n) };
  });
  pairs.sort((a, b) => b.iou - a.iou);
  const usedP = new Set<number>();
  const usedT = new Set<number>();
  let tp = 0;
  for (const x of pairs) {
    if (x.iou < 0.5) break;
    if (usedP.has(x.p) || usedT.has(x.t)) continue;
    usedP.add(x.p);
    usedT.add(x.t);
    tp++;
  }
  const f1 = areaP.size + areaT.size > 0 ? (2 * tp) / (areaP.size + areaT.size) : 1;
  return { f1, tp, pred: areaP.size, truth: areaT.size };
}

/** Pixel IoU of two 0/1 (or any non-zero) masks. */
export function pixelIou(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let i = 0, u = 0;
  for (let k = 0; k < a.length; k++) {
    const x = a[k] !== 0, y = b[k] !== 0;
    if (x && y) i++;
    if (x || y) u++;
  }
  return u > 0 ? i / u : 1;
}
