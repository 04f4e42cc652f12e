import { afterAll, describe, expect, it } from 'vitest';
import { mulberry32 } from '../../src-main/common/random';
import { listAnnotations } from '../../src-main/db/annotations';
import { setStatus } from '../../src-main/db/images';
import { buildQueue, kCenterGreedy, normalizeRows, uncertaintyOf, uniquenessScores } from '../../src-main/services/activeLearning';
import type { Dataset } from '../../src-main/services/dataset';
import { predictTags, trainClassifier } from '../../src-main/services/linearClassifier';
import { computeEmbeddingMap } from '../../src-main/services/embeddingMap';
import { gaussian, vectorDataset } from '../helpers/curation';

const open: Dataset[] = [];
afterAll(async () => {
  for (const d of open) await d.close();
});

function randomUnit(n: number, dim: number, seed: number): Float32Array {
  const rng = mulberry32(seed);
  return normalizeRows(Float32Array.from({ length: n * dim }, () => gaussian(rng)), dim);
}

/** Cosine distance in double precision, the brute-force reference. */
function cosDist(data: Float32Array, dim: number, a: number, b: number): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let j = 0; j < dim; j++) {
    dot += data[a * dim + j]! * data[b * dim + j]!;
    na += data[a * dim + j]! ** 2;
    nb += data[b * dim + j]! ** 2;
  }
  return 1 - dot / Math.sqrt(na * nb);
}

describe('k-centre greedy', () => {
  it.each([
    [8, 3],
    [64, 0],
  ])('each pick is the candidate farthest from all centres and earlier picks (brute force, dim %i, %i centres)', (dim, nCentres) => {
    const n = 60;
    const data = randomUnit(n, dim, dim + nCentres);
    const centres = Array.from({ length: nCentres }, (_, i) => i);
    const candidates = Array.from({ length: n - nCentres }, (_, i) => i + nCentres);
    const { order, values } = kCenterGreedy(data, dim, centres, candidates, 20);
    expect(order).toHaveLength(20);
    expect(new Set(order).size).toBe(20);
    const chosen = [...centres];
    order.forEach((pick, step) => {
      if (step === 0 && nCentres === 0) {
        chosen.push(candidates[pick]!);
        return;
      }
      // Distance of every remaining candidate to its nearest chosen point, computed from scratch.
      const remaining = candidates.map((c, i) => ({ c, i })).filter(({ i }) => !order.slice(0, step).includes(i));
      const dist = remaining.map(({ c }) => Math.min(...chosen.map((s) => cosDist(data, dim, c, s))));
      const max = Math.max(...dist);
      const mine = Math.min(...chosen.map((s) => cosDist(data, dim, candidates[pick]!, s)));
      expect(mine).toBeCloseTo(max, 5);
      expect(values[step]).toBeCloseTo(max, 5);
      chosen.push(candidates[pick]!);
    });
    // The farthest-point property: the picks' values never increase.
    for (let s = 2; s < values.length; s++) expect(values[s]!).toBeLessThanOrEqual(values[s - 1]! + 1e-6);
  });

  it('weights scale the distance each pick maximises', () => {
    const dim = 8;
    const data = randomUnit(30, dim, 42);
    const candidates = Array.from({ length: 27 }, (_, i) => i + 3);
    const weights = Float64Array.from(candidates, (_, i) => (i % 3 === 0 ? 1 : 0.01));
    const { order } = kCenterGreedy(data, dim, [0, 1, 2], candidates, 5, weights);
    // Nine candidates weigh 1: the first picks come from them.
    for (const i of order) expect(i % 3).toBe(0);
  });
});

describe('uniqueness', () => {
  it('is the cosine distance to the nearest other image: 0 for duplicates, as a brute-force scan finds', () => {
    const dim = 16;
    const data = randomUnit(40, dim, 7);
    data.set(data.subarray(0, dim), 5 * dim);
    const u = uniquenessScores(data, dim);
    expect(u[0]).toBeCloseTo(0, 5);
    expect(u[5]).toBeCloseTo(0, 5);
    for (let i = 1; i < 40; i++) {
      if (i === 5) continue;
      const ref = Math.min(...Array.from({ length: 40 }, (_, j) => (j === i ? Infinity : cosDist(data, dim, i, j))));
      expect(u[i]).toBeCloseTo(ref, 4);
    }
  });
});

describe('the queue of what to label next', () => {
  it('diversity starts from the labeled images and leaves them out; uniqueness ranks the odd image first', async () => {
    const dim = 16;
    const rng = mulberry32(4);
    // Two tight clusters; the labeled images are all in the first, so the second is new ground.
    const vectors: Float32Array[] = [];
    for (let i = 0; i < 30; i++) vectors.push(Float32Array.from({ length: dim }, (_, j) => (j === (i < 20 ? 0 : 1) ? 5 : 0) + 0.3 * gaussian(rng)));
    vectors.push(Float32Array.from({ length: dim }, (_, j) => (j === 0 ? -5 : 0)));
    const tags = vectors.map((_, i) => (i < 10 ? [0] : []));
    const f = await vectorDataset(vectors, tags, 1);
    open.push(f.ds);
    const q = await buildQueue(f.ds.db, { strategy: 'diversity', limit: 5 });
    expect(q.candidates).toBe(21);
    expect(q.ids).toHaveLength(5);
    for (const id of q.ids) expect(f.imageIds.indexOf(id)).toBeGreaterThanOrEqual(10);
    // The lone image (30) and one of the second cluster (20..29) come before the first cluster's rest.
    expect(q.ids[0]).toBe(f.imageIds[30]);
    expect(f.imageIds.indexOf(q.ids[1]!)).toBeGreaterThanOrEqual(20);
    expect(q.scores[0]).toBeGreaterThan(q.scores[2]!);
    const u = await buildQueue(f.ds.db, { strategy: 'uniqueness' });
    expect(u.ids[0]).toBe(f.imageIds[30]);
    expect(u.ids).toHaveLength(21);
    // not_done: images marked done leave the pool.
    await setStatus(f.ds.db, [f.imageIds[30]!], 'done');
    expect((await buildQueue(f.ds.db, { strategy: 'diversity', pool: 'not_done', limit: 3 })).ids).not.toContain(f.imageIds[30]);
  });

  it('uncertainty orders the pool by the margin (or confidence) of the last run’s predictions, as stored', async () => {
    const dim = 8;
    const rng = mulberry32(6);
    const vectors: Float32Array[] = [];
    const tags: number[][] = [];
    // 40 tagged images in two clusters, then 12 untagged ones spread from one cluster to the other.
    for (let i = 0; i < 40; i++) {
      vectors.push(Float32Array.from({ length: dim }, (_, j) => (j === 0 ? (i % 2 ? 2 : -2) : 0) + 0.3 * gaussian(rng)));
      tags.push([i % 2]);
    }
    for (let i = 0; i < 12; i++) {
      vectors.push(Float32Array.from({ length: dim }, (_, j) => (j === 0 ? -2 + (4 * i) / 11 : 0.3 * gaussian(rng))));
      tags.push([]);
    }
    const f = await vectorDataset(vectors, tags, 2);
    open.push(f.ds);
    await expect(async () => buildQueue(f.ds.db, { strategy: 'uncertainty' })).rejects.toThrow(/no prediction run/);
    const run = await predictTags(f.ds.db, await trainClassifier(f.ds.db), { minScore: 0 });
    const q = await buildQueue(f.ds.db, { strategy: 'uncertainty', measure: 'margin' });
    expect(q.runId).toBe(run.runId);
    expect(q.ids).toHaveLength(12);
    // The reference: margins read back from the stored predictions.
    const margin = new Map<number, number>();
    for (const id of f.imageIds.slice(40)) {
      const s = (await listAnnotations(f.ds.db, id))
        .filter((a) => a.modelRunId === run.runId)
        .map((a) => a.score!)
        .sort((a, b) => b - a);
      margin.set(id, 1 - (s[0]! - (s[1] ?? 0)));
    }
    const expected = [...margin.keys()].sort((a, b) => margin.get(b)! - margin.get(a)! || a - b);
    expect(q.ids).toEqual(expected);
    q.ids.forEach((id, i) => expect(q.scores[i]).toBeCloseTo(margin.get(id)!, 10));
    // The middle of the line (images 45, 46) is where the classifier hesitates most.
    expect([f.imageIds[45], f.imageIds[46]]).toContain(q.ids[0]);
    const lc = await buildQueue(f.ds.db, { strategy: 'uncertainty', measure: 'least-confidence' });
    expect(lc.ids[0]).toBe(q.ids[0]);
    expect(uncertaintyOf([0.7, 0.2], 'least-confidence')).toBeCloseTo(0.3);
    expect(uncertaintyOf([0.7, 0.2], 'margin')).toBeCloseTo(0.5);
    expect(uncertaintyOf([], 'margin')).toBe(1);
    // Hybrid: only images the run scored, picked by uncertainty x distance.
    const h = await buildQueue(f.ds.db, { strategy: 'hybrid', limit: 4 });
    expect(h.ids).toHaveLength(4);
    expect(h.runId).toBe(run.runId);
    for (const id of h.ids) expect(f.imageIds.indexOf(id)).toBeGreaterThanOrEqual(40);
  });

  it('says when embeddings are missing', async () => {
    const f = await vectorDataset([new Float32Array([1, 0])], [[]], 1);
    open.push(f.ds);
    await f.ds.db.prepare('DELETE FROM embeddings').run();
    await expect(async () => buildQueue(f.ds.db, { strategy: 'diversity' })).rejects.toThrow(/no embeddings are stored/);
    await expect(async () => buildQueue(f.ds.db, { strategy: 'diversity', embeddingModelId: 99 })).rejects.toThrow(/embedding model 99 does not exist/);
  });
});

describe('vectors that are all out of date', () => {
  it('the queue, the classifier and the map say to compute embeddings again instead of answering with nothing', async () => {
    const rng = mulberry32(12);
    const vectors = Array.from({ length: 12 }, (_, i) => Float32Array.from({ length: 8 }, (_, j) => (j === i % 2 ? 3 : 0) + 0.3 * gaussian(rng)));
    const tags = vectors.map((_, i) => (i < 8 ? [i % 2] : []));
    const f = await vectorDataset(vectors, tags, 2);
    open.push(f.ds);
    expect((await buildQueue(f.ds.db, { strategy: 'uniqueness' })).ids).toHaveLength(4);
    // Every image's content changes: the stored vectors no longer describe them.
    await f.ds.db.prepare("UPDATE images SET content_hash = 'changed-' || id").run();
    for (const strategy of ['uniqueness', 'diversity'] as const) {
      await expect(async () => buildQueue(f.ds.db, { strategy }), strategy).rejects.toThrow(/out of date.*compute embeddings again/);
    }
    await expect(trainClassifier(f.ds.db, {})).rejects.toThrow(/compute embeddings/);
    const modelId = await f.ds.db.prepare('SELECT id FROM embedding_models').pluck().get() as number;
    await expect(computeEmbeddingMap(f.ds.db, modelId, 'pca')).rejects.toThrow(/out of date.*compute embeddings again/);
  });
});
