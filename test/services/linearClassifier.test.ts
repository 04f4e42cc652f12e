import { afterAll, describe, expect, it } from 'vitest';
import { mulberry32 } from '../../src-main/common/random';
import { listAnnotations } from '../../src-main/db/annotations';
import { getModelRun, runImageCounts } from '../../src-main/db/prelabel';
import type { Dataset } from '../../src-main/services/dataset';
import { predictTags, stratifiedSplit, trainClassifier } from '../../src-main/services/linearClassifier';
import { gaussian, vectorDataset } from '../helpers/curation';
import type { JobProgress } from '../../src-main/common/model';
import { Workspace } from '../../src-main/services/workspace';
import { tempDir } from '../helpers/shared';
import { fails, ok } from '../helpers/workspace';

const open: Dataset[] = [];
afterAll(async () => {
  for (const d of open) await d.close();
});

/** `perClass` vectors around each of `k` random centres in `dim` dimensions, with noise `sigma`. */
function clusters(k: number, perClass: number, dim: number, sigma: number, seed: number): { vectors: Float32Array[]; cls: number[] } {
  const rng = mulberry32(seed);
  const centres = Array.from({ length: k }, () => Float32Array.from({ length: dim }, () => gaussian(rng)));
  const vectors: Float32Array[] = [];
  const cls: number[] = [];
  for (let i = 0; i < k * perClass; i++) {
    const c = i % k;
    vectors.push(Float32Array.from(centres[c]!, (v) => v + sigma * gaussian(rng)));
    cls.push(c);
  }
  return { vectors, cls };
}

describe('stratified split', () => {
  it('holds out about the fraction of every class, the same for the same seed, and keeps one of each class to train', () => {
    const strata = [...Array(50).fill('a'), ...Array(10).fill('b'), 'c'] as string[];
    const s = stratifiedSplit(strata, 0.2, 7);
    expect(s.test.filter((i) => strata[i] === 'a')).toHaveLength(10);
    expect(s.test.filter((i) => strata[i] === 'b')).toHaveLength(2);
    expect(s.test.filter((i) => strata[i] === 'c')).toHaveLength(0);
    expect([...s.train, ...s.test].sort((a, b) => a - b)).toEqual(strata.map((_, i) => i));
    expect(stratifiedSplit(strata, 0.2, 7)).toEqual(s);
    expect(stratifiedSplit(strata, 0.2, 8).test).not.toEqual(s.test);
  });
});

describe('the classifier trained on stored embeddings', () => {
  it('separates separable classes (~100 % held out, far above the majority baseline), with a diagonal confusion matrix', async () => {
    // Unbalanced: 3 classes, 90 / 60 / 30 images, so the majority baseline is 50 %.
    const { vectors, cls } = clusters(3, 60, 32, 0.3, 1);
    const keep = vectors.map((_, i) => i).filter((i) => cls[i] === 0 || (cls[i] === 1 && i % 2 === 0) || (cls[i] === 2 && i % 4 === 0) || i < 30);
    const tags = keep.map((i) => [cls[i]!]);
    const f = await vectorDataset(keep.map((i) => vectors[i]!), tags, 3);
    open.push(f.ds);
    const progress: number[] = [];
    const t = await trainClassifier(f.ds.db, {}, { onProgress: (d) => progress.push(d) });
    const r = t.report;
    console.log(`separable: accuracy ${r.accuracy.toFixed(3)} vs baseline ${r.baseline.toFixed(3)} on ${r.heldOutImages} held-out images (${r.trainImages} trained, ${r.iterations} iterations, ${r.ms} ms)`);
    expect(r.mode).toBe('softmax');
    expect(r.classNames).toEqual(['c0', 'c1', 'c2']);
    expect(r.accuracy).toBeGreaterThanOrEqual(0.97);
    expect(r.baseline).toBeLessThan(0.7);
    expect(r.heldOutImages + r.trainImages).toBe(keep.length);
    expect(r.heldOutImages).toBeGreaterThanOrEqual(Math.floor(keep.length * 0.2) - 2);
    const m = r.confusion!;
    expect(m.flat().reduce((a, b) => a + b, 0)).toBe(r.heldOutImages);
    const diagonal = m.reduce((s, row, i) => s + row[i]!, 0);
    expect(diagonal / r.heldOutImages).toBeCloseTo(r.accuracy, 10);
    expect(progress.length).toBeGreaterThan(0);
  });

  it('stays near chance on random labels', async () => {
    const rng = mulberry32(3);
    const n = 400;
    const vectors = Array.from({ length: n }, () => Float32Array.from({ length: 32 }, () => gaussian(rng)));
    const tags = vectors.map(() => [rng() < 0.5 ? 0 : 1]);
    const f = await vectorDataset(vectors, tags, 2);
    open.push(f.ds);
    const { report: r } = await trainClassifier(f.ds.db);
    console.log(`random labels: accuracy ${r.accuracy.toFixed(3)} vs baseline ${r.baseline.toFixed(3)} on ${r.heldOutImages} held-out images`);
    expect(r.heldOutImages).toBe(80);
    expect(r.accuracy).toBeGreaterThan(0.3);
    expect(r.accuracy).toBeLessThan(0.7);
  });

  it('trains one-vs-rest when images have several tags', async () => {
    // Two independent binary attributes, each a direction in the vector: tags {0}, {1}, {0, 1} or none... all tagged here.
    const rng = mulberry32(5);
    const vectors: Float32Array[] = [];
    const tags: number[][] = [];
    for (let i = 0; i < 200; i++) {
      const a = i % 3 !== 1;
      const b = i % 3 !== 0;
      const v = Float32Array.from({ length: 16 }, () => 0.2 * gaussian(rng));
      v[0]! += a ? 2 : -2;
      v[1]! += b ? 2 : -2;
      vectors.push(v);
      tags.push([...(a ? [0] : []), ...(b ? [1] : [])]);
    }
    const f = await vectorDataset(vectors, tags, 2);
    open.push(f.ds);
    const { report: r } = await trainClassifier(f.ds.db);
    console.log(`one-vs-rest: accuracy ${r.accuracy.toFixed(3)} vs baseline ${r.baseline.toFixed(3)}`);
    expect(r.mode).toBe('one-vs-rest');
    expect(r.confusion).toBeNull();
    expect(r.accuracy).toBeGreaterThanOrEqual(0.95);
    expect(r.baseline).toBeLessThan(0.5);
  });

  it('predicts tags for the untagged images as one finished model run with scores', async () => {
    const { vectors, cls } = clusters(2, 50, 16, 0.3, 9);
    // Every fifth image stays untagged.
    const tags = cls.map((c, i) => (i % 5 === 0 ? [] : [c]));
    const f = await vectorDataset(vectors, tags, 2);
    open.push(f.ds);
    const trained = await trainClassifier(f.ds.db);
    expect(trained.report.untagged).toBe(20);
    const pred = await predictTags(f.ds.db, trained);
    expect(pred.images).toBe(20);
    const run = (await getModelRun(f.ds.db, pred.runId))!;
    expect(run.status).toBe('done');
    expect(run.model).toBe('linear-classifier:synthetic');
    expect((await runImageCounts(f.ds.db, pred.runId)).done).toBe(20);
    let right = 0;
    let tagsSeen = 0;
    for (const [i, c] of cls.entries()) {
      const model = (await listAnnotations(f.ds.db, f.imageIds[i]!)).filter((a) => a.source === 'model');
      if (i % 5 !== 0) {
        expect(model).toEqual([]);
        continue;
      }
      expect(model.length).toBeGreaterThanOrEqual(1);
      tagsSeen += model.length;
      for (const a of model) {
        expect(a.kind).toBe('tag');
        expect(a.modelRunId).toBe(pred.runId);
        expect(a.score).toBeGreaterThan(0);
        expect(a.score).toBeLessThanOrEqual(1);
      }
      const best = model.reduce((x, y) => (y.score! > x.score! ? y : x));
      if (best.classId === f.classIds[c]) right++;
    }
    expect(tagsSeen).toBe(pred.tags);
    expect(right).toBe(20);
  });

  it('says what is missing: no tags, one class, too few to hold out; and stops when cancelled', async () => {
    const { vectors, cls } = clusters(2, 20, 8, 0.3, 11);
    const none = await vectorDataset(vectors, vectors.map(() => []), 2);
    open.push(none.ds);
    await expect(trainClassifier(none.ds.db)).rejects.toThrow(/no image has a human image tag/);
    const one = await vectorDataset(vectors, vectors.map(() => [0]), 2);
    open.push(one.ds);
    await expect(trainClassifier(one.ds.db)).rejects.toThrow(/only one class/);
    const few = await vectorDataset(vectors, vectors.map((_, i) => (i < 2 ? [i] : [])), 2);
    open.push(few.ds);
    await expect(trainClassifier(few.ds.db)).rejects.toThrow(/none to hold out/);
    const ok = await vectorDataset(vectors, cls.map((c) => [c]), 2);
    open.push(ok.ds);
    await expect(trainClassifier(ok.ds.db, { maxIterations: 1_000_000, l2: 0 }, { cancelled: () => true })).rejects.toThrow(/cancelled/);
  });
});

describe('the classifier channels', () => {
  it('train as a job with train-classifier progress, predict with the id it returned, and refuse bad arguments', async () => {
    const { vectors, cls } = clusters(2, 30, 8, 0.3, 13);
    const f = await vectorDataset(vectors, cls.map((c, i) => (i < 10 ? [] : [c])), 2);
    const file = f.ds.file;
    await f.ds.close();
    const events: JobProgress[] = [];
    const ws = new Workspace({ configDir: tempDir(), mode: 'web', version: 'test', emit: (_e, p) => events.push(p as JobProgress) });
    await ok(ws, 'dataset:open', { path: file });
    const report = await ok(ws, 'classifier:train', { jobId: 'clf-1' });
    expect(report.accuracy).toBe(1);
    expect(report.untagged).toBe(10);
    expect(events.length).toBeGreaterThan(1);
    expect(events.every((e) => e.kind === 'train-classifier' && e.jobId === 'clf-1')).toBe(true);
    expect(events.at(-1)!.phase).toBe('done');
    expect((await fails(ws, 'classifier:predict', { classifierId: 'clf-other' })).message).toContain('not the one last trained');
    const run = await ok(ws, 'classifier:predict', { classifierId: report.classifierId });
    expect(run.images).toBe(10);
    expect((await fails(ws, 'classifier:train', { jobId: 'clf-2', holdout: 0.9 })).code).toBe('INVALID_ARGUMENT');
    expect((await fails(ws, 'curation:queue', { strategy: 'diversity', limit: 0 })).code).toBe('INVALID_ARGUMENT');
    const q = await ok(ws, 'curation:queue', { strategy: 'uncertainty' });
    expect(q.runId).toBe(run.runId);
    expect(q.ids).toHaveLength(10);
    await ws.dispose();
  });
});
