import { AppError } from '../../common/errors';
import { SPLITS, type Split } from '../../common/model';
import { countScopeImages, imageClassPairs, setSplits, type ExportScope } from '../../db/export';
import type { Dataset } from '../dataset';
import { mulberry32 } from '../../common/random';

export interface SplitOptions {
  /** train, val, test; normalised, so [8, 1, 1] and [0.8, 0.1, 0.1] are the same. */
  ratios: [number, number, number];
  seed: number;
  /** Keep each class's images spread over the splits in the ratios (see assignSplits). */
  stratify: boolean;
  only: ExportScope;
}

/**
 * How many of `n` images each split gets: the floors of n x ratio, then the images left over to
 * the largest remainders (ties to the split furthest behind its share over all groups so far,
 * so many small groups do not all round towards train). A group with at least one image per
 * split in use gives each such split one, taken from the largest: otherwise a class with three
 * images and ratios 0.8/0.1/0.1 would never reach val or test.
 */
export function allocate(n: number, ratios: readonly number[], behind: readonly number[]): number[] {
  const exact = ratios.map((r) => r * n);
  const counts = exact.map(Math.floor);
  let left = n - counts.reduce((a, b) => a + b, 0);
  const order = ratios
    .map((_, i) => i)
    .sort((a, b) => exact[b]! - counts[b]! - (exact[a]! - counts[a]!) || behind[b]! - behind[a]! || a - b);
  for (const i of order) {
    if (left === 0) break;
    if (ratios[i]! > 0) {
      counts[i]!++;
      left--;
    }
  }
  const used = ratios.filter((r) => r > 0).length;
  if (n >= used) {
    for (let i = 0; i < ratios.length; i++) {
      if (ratios[i]! > 0 && counts[i] === 0) {
        const from = counts.indexOf(Math.max(...counts));
        counts[from]!--;
        counts[i] = 1;
      }
    }
  }
  return counts;
}

/**
 * Assigns train/val/test to the images in scope (`only`) and stores it in one transaction.
 *
 * Stratified, images are grouped by their rarest class (the class present on the fewest images
 * in scope; images without annotations form one more group) and every group is shuffled and
 * divided in the ratios. Grouping by the rarest class puts the scarce classes, the ones a split
 * could miss, in every split; common classes appear in so many groups that they spread anyway.
 * Unstratified, all images are one group. The same dataset, options and seed always give the
 * same assignment.
 *
 * Returns the images given to each split, and as `none` the images outside the scope, whose
 * split is left as it was.
 */
export async function assignSplits(ds: Dataset, opts: SplitOptions): Promise<Record<Split | 'none', number>> {
  const ratios = normalise(opts.ratios);
  const images = await imageClassPairs(ds.db, opts.only);
  const groups = opts.stratify ? groupByRarestClass(images) : [images.map((i) => i.imageId)];
  const rand = mulberry32(opts.seed);
  const assigned: [number, Split][] = [];
  const got = [0, 0, 0];
  const due = [0, 0, 0];
  for (const ids of groups) {
    for (let i = ids.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [ids[i], ids[j]] = [ids[j]!, ids[i]!];
    }
    const counts = allocate(
      ids.length,
      ratios,
      due.map((d, s) => d - got[s]!),
    );
    let k = 0;
    counts.forEach((c, s) => {
      for (let m = 0; m < c; m++) assigned.push([ids[k++]!, SPLITS[s]!]);
      got[s]! += c;
      due[s]! += ratios[s]! * ids.length;
    });
  }
  await setSplits(ds.db, assigned);
  const total = await countScopeImages(ds.db, 'all');
  return { train: got[0]!, val: got[1]!, test: got[2]!, none: total - assigned.length };
}

function normalise(r: readonly number[]): number[] {
  if (r.length !== 3 || r.some((x) => !Number.isFinite(x) || x < 0)) {
    throw new AppError('INVALID_ARGUMENT', `split ratios must be three non-negative numbers, got ${r.join(',')}`);
  }
  const sum = r[0]! + r[1]! + r[2]!;
  if (sum <= 0) throw new AppError('INVALID_ARGUMENT', 'split ratios must not all be zero');
  return r.map((x) => x / sum);
}

/** Image ids grouped by rarest class (ties to the lower class id), rarest groups first, unannotated last. */
function groupByRarestClass(images: readonly { imageId: number; classes: number[] }[]): number[][] {
  const freq = new Map<number, number>();
  for (const im of images) for (const c of im.classes) freq.set(c, (freq.get(c) ?? 0) + 1);
  const groups = new Map<number, number[]>();
  const none: number[] = [];
  for (const im of images) {
    let best: number | null = null;
    for (const c of im.classes) {
      if (best === null || freq.get(c)! < freq.get(best)! || (freq.get(c) === freq.get(best) && c < best)) best = c;
    }
    if (best === null) none.push(im.imageId);
    else {
      const g = groups.get(best);
      if (g) g.push(im.imageId);
      else groups.set(best, [im.imageId]);
    }
  }
  const keys = [...groups.keys()].sort((a, b) => freq.get(a)! - freq.get(b)! || a - b);
  return [...keys.map((k) => groups.get(k)!), ...(none.length ? [none] : [])];
}
