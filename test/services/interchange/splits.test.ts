import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Split } from '../../../src-main/common/model';
import { insertAnnotations, type NewAnnotation } from '../../../src-main/db/annotations';
import { insertClass } from '../../../src-main/db/classes';
import { insertImages, setStatus } from '../../../src-main/db/images';
import { imageRows } from '../../helpers/images';
import { Dataset } from '../../../src-main/services/dataset';
import { allocate, assignSplits } from '../../../src-main/services/interchange/splits';
import { mulberry32 } from '../../../src-main/common/random';
import { tempDir } from '../../helpers/shared';

const open: Dataset[] = [];
afterEach(async () => {
  for (const ds of open.splice(0)) await ds.close();
});

/**
 * A dataset of rows only (no files are read by splitting): `labels[i]` are the class numbers
 * present on image i, as human boxes (and one tag, which counts as presence too).
 */
async function dataset(labels: number[][], nClasses: number): Promise<{ ds: Dataset; imageIds: number[]; classIds: number[] }> {
  const dir = tempDir('tessera-splits-');
  const ds = await Dataset.create(path.join(dir, 'd.tessera'));
  open.push(ds);
  const imageIds = await insertImages(ds.db, imageRows(labels.length));
  const classIds: number[] = [];
  for (let k = 0; k < nClasses; k++) classIds.push((await insertClass(ds.db, { name: `c${k}`, color: '#000000' })).id);
  const anns: NewAnnotation[] = [];
  labels.forEach((ls, i) =>
    ls.forEach((k, j) =>
      anns.push({
        imageId: imageIds[i]!,
        classId: classIds[k]!,
        geometry: j === 0 && k === nClasses - 1 ? { kind: 'tag' } : { kind: 'box', x: 1, y: 1, w: 2, h: 2 },
        source: 'human',
      }),
    ),
  );
  await insertAnnotations(ds.db, anns);
  return { ds, imageIds, classIds };
}

async function splitsOf(ds: Dataset): Promise<Map<number, Split | null>> {
  const rows = await ds.db.prepare('SELECT id, split FROM images ORDER BY id').all() as { id: number; split: Split | null }[];
  return new Map(rows.map((r) => [r.id, r.split]));
}

/** Multi-label images: class k on an image with probability 0.6 / (k + 1), some images unlabelled. */
function randomLabels(n: number, nClasses: number, seed: number): number[][] {
  const rand = mulberry32(seed);
  return Array.from({ length: n }, () => {
    const ls: number[] = [];
    for (let k = 0; k < nClasses; k++) if (rand() < 0.6 / (k + 1)) ls.push(k);
    return ls;
  });
}

describe('allocate', () => {
  it('gives each split floor or ceil of its share, summing to n', () => {
    const rand = mulberry32(7);
    for (let t = 0; t < 500; t++) {
      const n = Math.floor(rand() * 200) + 1;
      const raw = [rand(), rand(), rand() * 0.2];
      const sum = raw[0]! + raw[1]! + raw[2]!;
      const r = raw.map((x) => x / sum);
      const c = allocate(n, r, [0, 0, 0]);
      expect(c.reduce((a, b) => a + b, 0)).toBe(n);
      // Where every share is at least one image, the minimum-one rule never applies.
      if (r.every((x) => x * n >= 1)) c.forEach((k, s) => expect(Math.abs(k - r[s]! * n)).toBeLessThan(1));
    }
  });

  it('gives every split in use one image of a group that has enough, and none to a split at ratio 0', () => {
    expect(allocate(3, [0.8, 0.1, 0.1], [0, 0, 0])).toEqual([1, 1, 1]);
    expect(allocate(10, [0.5, 0.5, 0], [0, 0, 0])).toEqual([5, 5, 0]);
    expect(allocate(2, [0.8, 0.1, 0.1], [0, 0, 0])[0]).toBe(2);
  });

  it('breaks ties towards the split furthest behind its share', () => {
    expect(allocate(1, [0.5, 0.5, 0], [0, 0.4, 0])).toEqual([0, 1, 0]);
    expect(allocate(1, [0.5, 0.5, 0], [0.4, 0, 0])).toEqual([1, 0, 0]);
  });
});

describe('assignSplits', () => {
  it('normalises ratios and hits them exactly when they divide the count', async () => {
    const { ds } = await dataset(Array.from({ length: 1000 }, () => []), 1);
    expect(await assignSplits(ds, { ratios: [7, 2, 1], seed: 1, stratify: false, only: 'all' })).toEqual({ train: 700, val: 200, test: 100, none: 0 });
    const stored = [...(await splitsOf(ds)).values()];
    expect(stored.filter((s) => s === 'val')).toHaveLength(200);
    expect(stored.includes(null)).toBe(false);
  });

  it('is deterministic for a seed and differs between seeds', async () => {
    const labels = randomLabels(300, 6, 3);
    const a = await dataset(labels, 6);
    const b = await dataset(labels, 6);
    await assignSplits(a.ds, { ratios: [0.8, 0.1, 0.1], seed: 42, stratify: true, only: 'all' });
    await assignSplits(b.ds, { ratios: [0.8, 0.1, 0.1], seed: 42, stratify: true, only: 'all' });
    expect([...(await splitsOf(a.ds)).values()]).toEqual([...(await splitsOf(b.ds)).values()]);
    await assignSplits(b.ds, { ratios: [0.8, 0.1, 0.1], seed: 43, stratify: true, only: 'all' });
    expect([...(await splitsOf(a.ds)).values()]).not.toEqual([...(await splitsOf(b.ds)).values()]);
  });

  it('stratified: every rarest-class group within ±1 of the ratios, every class of 3+ images in every split', async () => {
    const nClasses = 8;
    const labels = randomLabels(400, nClasses, 11);
    // Three scarce classes with 3, 4 and 5 images.
    for (const [k, n] of [
      [nClasses, 3],
      [nClasses + 1, 4],
      [nClasses + 2, 5],
    ] as const) {
      for (let i = 0; i < n; i++) labels.push([0, k]);
    }
    const { ds, imageIds } = await dataset(labels, nClasses + 3);
    const ratios = [0.7, 0.2, 0.1];
    const r = await assignSplits(ds, { ratios: [0.7, 0.2, 0.1], seed: 5, stratify: true, only: 'all' });
    expect(r.train + r.val + r.test).toBe(labels.length);
    const split = await splitsOf(ds);

    const freq = new Map<number, number>();
    for (const ls of labels) for (const k of new Set(ls)) freq.set(k, (freq.get(k) ?? 0) + 1);
    const groups = new Map<number, number[]>();
    labels.forEach((ls, i) => {
      const rarest = ls.length ? [...ls].sort((a, b) => freq.get(a)! - freq.get(b)! || a - b)[0]! : -1;
      groups.set(rarest, [...(groups.get(rarest) ?? []), imageIds[i]!]);
    });
    for (const ids of groups.values()) {
      if (!ratios.every((x) => x * ids.length >= 1)) continue;
      (['train', 'val', 'test'] as const).forEach((s, j) => {
        const got = ids.filter((id) => split.get(id) === s).length;
        expect(Math.abs(got - ratios[j]! * ids.length)).toBeLessThan(1);
      });
    }
    for (const [k, n] of freq) {
      if (n < 3) continue;
      for (const s of ['train', 'val', 'test'] as const) {
        expect(labels.some((ls, i) => ls.includes(k) && split.get(imageIds[i]!) === s), `class ${k} (${n} images) in ${s}`).toBe(true);
      }
    }
  });

  it('without stratification a scarce class can miss a split that stratification fills', async () => {
    const labels: number[][] = [...Array.from({ length: 97 }, () => [0]), [1], [1], [1]];
    let missed = 0;
    for (let seed = 0; seed < 20; seed++) {
      const { ds, imageIds } = await dataset(labels, 2);
      await assignSplits(ds, { ratios: [0.8, 0.1, 0.1], seed, stratify: false, only: 'all' });
      const split = await splitsOf(ds);
      const rare = new Set(imageIds.slice(97).map((id) => split.get(id)));
      if (rare.size < 3) missed++;
      await assignSplits(ds, { ratios: [0.8, 0.1, 0.1], seed, stratify: true, only: 'all' });
      const strat = await splitsOf(ds);
      expect(new Set(imageIds.slice(97).map((id) => strat.get(id)))).toEqual(new Set(['train', 'val', 'test']));
      await ds.close();
    }
    expect(missed).toBeGreaterThan(10);
  });

  it('splits only the images in scope and leaves the others as they were', async () => {
    const { ds, imageIds } = await dataset(Array.from({ length: 20 }, () => [0]), 1);
    await ds.db.prepare("UPDATE images SET split = 'test' WHERE id = ?").run(imageIds[0]);
    await setStatus(ds.db, imageIds.slice(5, 15), 'done');
    await setStatus(ds.db, imageIds.slice(15), 'reviewed');
    const r = await assignSplits(ds, { ratios: [0.5, 0.5, 0], seed: 9, stratify: true, only: 'done' });
    expect(r).toEqual({ train: 8, val: 7, test: 0, none: 5 });
    const split = await splitsOf(ds);
    expect(split.get(imageIds[0]!)).toBe('test');
    for (const id of imageIds.slice(1, 5)) expect(split.get(id)).toBeNull();
    for (const id of imageIds.slice(5)) expect(['train', 'val']).toContain(split.get(id));

    const only = await assignSplits(ds, { ratios: [0, 0, 1], seed: 9, stratify: false, only: 'reviewed' });
    expect(only).toEqual({ train: 0, val: 0, test: 5, none: 15 });
    for (const id of imageIds.slice(15)) expect((await splitsOf(ds)).get(id)).toBe('test');
  });

  it('refuses ratios that are negative, not numbers or all zero', async () => {
    const { ds } = await dataset([[0]], 1);
    for (const ratios of [
      [-1, 1, 1],
      [0, 0, 0],
      [Number.NaN, 1, 1],
    ] as [number, number, number][]) {
      await expect(async () => assignSplits(ds, { ratios, seed: 1, stratify: true, only: 'all' })).rejects.toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    }
  });
});
