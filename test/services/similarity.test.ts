import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mulberry32 } from '../../src-main/common/random';
import { imageRows } from '../helpers/images';
import { insertAnnotations } from '../../src-main/db/annotations';
import { insertClass } from '../../src-main/db/classes';
import { ensureEmbeddingModel, putEmbeddings, type EmbeddingModelRecord } from '../../src-main/db/embeddings';
import { setSplits } from '../../src-main/db/export';
import { insertImages } from '../../src-main/db/images';
import { Dataset } from '../../src-main/services/dataset';
import { findNearDuplicates, findNearDuplicatesInWorker, removeImages, resolveDuplicate } from '../../src-main/services/duplicates';
import { findSimilar } from '../../src-main/services/similarity';
import { MAX_DUPLICATE_PAIRS } from '../../src-main/common/similarity';
import { injectFault } from '../helpers/faults';
import { tempDir } from '../helpers/shared';
import { fails, newWorkspace, ok } from '../helpers/workspace';

/**
 * Synthetic vectors through the real SQLite store (float16 blobs): answers are checked against a
 * brute-force cosine over the vectors as read back from the store.
 */
const DIM = 64;
const N = 300;

function unit(v: Float32Array): Float32Array {
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
}
function cos(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s / Math.hypot(...a) / Math.hypot(...b);
}

let dir: string;
let file: string;
let ds: Dataset;
let model: EmbeddingModelRecord;
let ids: number[];
const vectors = new Map<number, Float32Array>();

const fakeImages = (n: number, from = 0) => imageRows(n, { from, size: 8, pathOf: (i) => `img${String(i).padStart(4, '0')}.jpg` });

beforeAll(async () => {
  dir = tempDir();
  file = path.join(dir, 'sim.tessera');
  ds = await Dataset.create(file, dir);
  ids = await insertImages(ds.db, fakeImages(N));
  model = await ensureEmbeddingModel(ds.db, { key: 'synthetic', name: 'Synthetic', dim: DIM, dtype: 'f16', normalized: true });
  const rnd = mulberry32(7);
  const rows = ids.map((imageId, i) => {
    let v = unit(Float32Array.from({ length: DIM }, () => rnd() - 0.5));
    // Image 11 is a near copy of image 10, 21 of 20 (and 22 of 21): near-duplicates.
    if (i === 11 || i === 21) v = unit(Float32Array.from(vectors.get(ids[i - 1]!)!, (x) => x + (rnd() - 0.5) * 0.02));
    if (i === 22) v = unit(Float32Array.from(vectors.get(ids[21]!)!, (x) => x + (rnd() - 0.5) * 0.02));
    vectors.set(imageId, v);
    return { imageId, contentHash: `h${i}`, vector: v };
  });
  await putEmbeddings(ds.db, model, rows);
  // Read back what the store keeps (float16), for the brute-force answers.
  for (const r of await ds.db.prepare('SELECT image_id, vector FROM embeddings').all() as { image_id: number; vector: Buffer }[]) {
    const h = new Uint16Array(r.vector.buffer.slice(r.vector.byteOffset, r.vector.byteOffset + r.vector.byteLength));
    vectors.set(r.image_id, Float32Array.from(h, (x) => halfToFloat(x)));
  }
});
afterAll(async () => await ds.close());

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

function bruteForce(query: Float32Array, exclude: number[], k: number): { imageId: number; score: number }[] {
  return [...vectors.entries()]
    .filter(([id]) => !exclude.includes(id) && ids.includes(id))
    .map(([imageId, v]) => ({ imageId, score: cos(query, v) }))
    .sort((a, b) => b.score - a.score)
    .slice(0, k);
}

describe('similarity search', () => {
  it('returns the k nearest images by cosine, best first, equal to a brute-force scan, the query left out', async () => {
    for (const q of [0, 10, 137, 299]) {
      const r = await findSimilar(ds, { imageIds: [ids[q]!], k: 15 });
      const want = bruteForce(vectors.get(ids[q]!)!, [ids[q]!], 15);
      expect(r.hits.map((h) => h.imageId)).toEqual(want.map((w) => w.imageId));
      r.hits.forEach((h, i) => expect(h.score).toBeCloseTo(want[i]!.score, 5));
      for (let i = 1; i < r.hits.length; i++) expect(r.hits[i]!.score).toBeLessThanOrEqual(r.hits[i - 1]!.score);
      expect(r.hits.some((h) => h.imageId === ids[q])).toBe(false);
      expect(r.searched).toBe(N);
      expect(r.model.key).toBe('synthetic');
    }
    expect((await findSimilar(ds, { imageIds: [ids[10]!], k: 1 })).hits[0]!.imageId).toBe(ids[11]);
  });

  it('searches from several images with their normalised mean, leaving all of them out', async () => {
    const q = [ids[3]!, ids[50]!, ids[200]!];
    const mean = unit(q.map((id) => unit(vectors.get(id)!)).reduce((a, b) => a.map((x, i) => x + b[i]!)));
    const r = await findSimilar(ds, { imageIds: q, k: 20 });
    const want = bruteForce(mean, q, 20);
    expect(r.hits.map((h) => h.imageId)).toEqual(want.map((w) => w.imageId));
    expect(r.query.imageIds.sort()).toEqual([...q].sort());
  });

  it('searches from an object crop vector, and says when crops are not computed', async () => {
    const cls = await insertClass(ds.db, { name: 'thing', color: '#ff0000', hotkey: null });
    const [ann] = await insertAnnotations(ds.db, [{ imageId: ids[5]!, classId: cls.id, source: 'human', geometry: { kind: 'box', x: 0, y: 0, w: 4, h: 4 } }]);
    await expect(async () => findSimilar(ds, { annotationId: ann!, k: 5 })).rejects.toThrow(/object crops are not computed/);
    // The crop looks like image 40.
    await putEmbeddings(ds.db, model, [{ imageId: ids[5]!, annotationId: ann!, contentHash: 'h5', vector: vectors.get(ids[40]!)! }]);
    const r = await findSimilar(ds, { annotationId: ann!, k: 3 });
    expect(r.hits[0]!.imageId).toBe(ids[40]);
    expect(r.hits[0]!.score).toBeCloseTo(1, 3);
    expect(r.hits.some((h) => h.imageId === ids[5])).toBe(false);
    expect(r.query).toEqual({ imageIds: [ids[5]], annotationId: ann });
  });

  it('drops stale vectors and sees new ones (the cached matrix follows writes)', async () => {
    expect((await findSimilar(ds, { imageIds: [ids[20]!], k: 1 })).hits[0]!.imageId).toBe(ids[21]);
    // Image 21's file changed: its vector no longer counts.
    await ds.db.prepare("UPDATE images SET content_hash = 'changed' WHERE id = ?").run(ids[21]);
    await putEmbeddings(ds.db, model, [{ imageId: ids[299]!, contentHash: 'h299', vector: vectors.get(ids[299]!)! }]);
    const r = await findSimilar(ds, { imageIds: [ids[20]!], k: 5 });
    expect(r.hits.some((h) => h.imageId === ids[21])).toBe(false);
    expect(r.searched).toBe(N - 1);
    await expect(async () => findSimilar(ds, { imageIds: [ids[21]!] })).rejects.toThrow(/no current embedding/);
    // A new vector for image 42 equal to image 20's: found first at once.
    await putEmbeddings(ds.db, model, [{ imageId: ids[42]!, contentHash: 'h42', vector: vectors.get(ids[20]!)! }]);
    expect((await findSimilar(ds, { imageIds: [ids[20]!], k: 1 })).hits[0]).toMatchObject({ imageId: ids[42] });
    // Put back as it was for the tests below.
    await ds.db.prepare("UPDATE images SET content_hash = 'h21' WHERE id = ?").run(ids[21]);
    await putEmbeddings(ds.db, model, [{ imageId: ids[42]!, contentHash: 'h42', vector: vectors.get(ids[42]!)! }]);
  });
});

describe('near-duplicates', () => {
  it('finds exactly the pairs at or above the threshold (brute force), grouped, with split leakage', async () => {
    await setSplits(ds.db, [
      [ids[10]!, 'train'],
      [ids[11]!, 'val'],
      [ids[20]!, 'train'],
      [ids[21]!, 'train'],
    ]);
    for (const method of ['exact', 'index'] as const) {
      const r = await findNearDuplicates(ds, { threshold: 0.95, method });
      const want: string[] = [];
      for (let a = 0; a < ids.length; a++)
        for (let b = a + 1; b < ids.length; b++) if (cos(vectors.get(ids[a]!)!, vectors.get(ids[b]!)!) >= 0.95) want.push(`${ids[a]}-${ids[b]}`);
      expect(r.pairs.map((p) => `${p.a.imageId}-${p.b.imageId}`).sort()).toEqual(want.sort());
      expect(want.length).toBeGreaterThanOrEqual(3);
      for (const p of r.pairs) expect(p.score).toBeCloseTo(cos(vectors.get(p.a.imageId)!, vectors.get(p.b.imageId)!), 5);
      expect(r.groups).toContainEqual([ids[20], ids[21], ids[22]]);
      expect(r.groups).toContainEqual([ids[10], ids[11]]);
      const leak = r.pairs.find((p) => p.a.imageId === ids[10])!;
      expect(leak.leakage).toBe(true);
      expect(r.pairs.find((p) => p.a.imageId === ids[20] && p.b.imageId === ids[21])!.leakage).toBe(false);
      // 22 has no split: not leakage.
      expect(r.pairs.filter((p) => p.b.imageId === ids[22]).every((p) => !p.leakage)).toBe(true);
      expect(r.leakage).toBe(1);
    }
    // The app's path, in a worker thread: the same answer.
    for (const method of ['exact', 'index'] as const) {
      const inWorker = await findNearDuplicatesInWorker(ds, { threshold: 0.95, method });
      expect(inWorker.pairs).toEqual((await findNearDuplicates(ds, { threshold: 0.95, method })).pairs);
    }
    // A lower threshold finds more pairs; 1.0 none of these.
    expect((await findNearDuplicates(ds, { threshold: 0.2 })).pairs.length).toBeGreaterThan(3);
    await expect(async () => findNearDuplicates(ds, { threshold: 2 })).rejects.toThrow(/from -1 to 1/);
  });

  it('lists at most the best pairs when a low threshold matches most of them, counting them all', async () => {
    // Random directions: about half of all pairs have a positive cosine.
    const all: number[] = [];
    const live = await ds.db.prepare('SELECT image_id FROM embeddings WHERE annotation_id IS NULL ORDER BY image_id').pluck().all() as number[];
    for (let i = 0; i < live.length; i++) for (let j = i + 1; j < live.length; j++) {
      const c = cos(vectors.get(live[i]!)!, vectors.get(live[j]!)!);
      if (c >= 0) all.push(c);
    }
    all.sort((a, b) => b - a);
    expect(all.length).toBeGreaterThan(MAX_DUPLICATE_PAIRS);
    const r = await findNearDuplicates(ds, { threshold: 0, method: 'exact' });
    expect(r.found).toBe(all.length);
    expect(r.pairs).toHaveLength(MAX_DUPLICATE_PAIRS);
    // The listed ones are the best: none left out scores above the last listed.
    expect(r.pairs.at(-1)!.score).toBeGreaterThanOrEqual(all[MAX_DUPLICATE_PAIRS]! - 1e-6);
    expect(r.pairs[0]!.score).toBeCloseTo(all[0]!, 5);
    const few = await findNearDuplicates(ds, { threshold: 0, method: 'exact', maxPairs: 5 });
    expect(few.pairs.map((p) => p.score)).toEqual(r.pairs.slice(0, 5).map((p) => p.score));
    expect(few.found).toBe(r.found);
    expect(few.groups).toEqual(r.groups);
  });

  it('moves the second image into the first one\'s split, or drops it with its annotations (file kept), each in one transaction', async () => {
    expect(await resolveDuplicate(ds, { action: 'move', imageId: ids[11]!, keepId: ids[10]! })).toEqual({ action: 'move', imageId: ids[11], split: 'train' });
    expect((await findNearDuplicates(ds)).leakage).toBe(0);
    const cls = await insertClass(ds.db, { name: 'dup', color: '#00ff00', hotkey: null });
    await insertAnnotations(ds.db, [{ imageId: ids[22]!, classId: cls.id, source: 'human', geometry: { kind: 'box', x: 0, y: 0, w: 2, h: 2 } }]);
    expect((await resolveDuplicate(ds, { action: 'drop', imageId: ids[22]!, keepId: ids[21]! })).action).toBe('drop');
    expect(await ds.db.prepare('SELECT count(*) FROM images WHERE id = ?').pluck().get(ids[22])).toBe(0);
    expect(await ds.db.prepare('SELECT count(*) FROM annotations WHERE image_id = ?').pluck().get(ids[22])).toBe(0);
    expect(await ds.db.prepare('SELECT count(*) FROM embeddings WHERE image_id = ?').pluck().get(ids[22])).toBe(0);
    expect((await findNearDuplicates(ds)).groups).toContainEqual([ids[20], ids[21]]);
    expect((await findSimilar(ds, { imageIds: [ids[21]!], k: 300 })).hits.some((h) => h.imageId === ids[22])).toBe(false);
    // A failing removal leaves everything: the second delete of the transaction throws, the first is undone.
    const heal = await injectFault(ds.db, { name: 'refuse', table: 'images', on: 'DELETE', when: `old.id = ${ids[31]!}`, message: 'refused' });
    await expect(async () => removeImages(ds.db, [ids[30]!, ids[31]!])).rejects.toThrow(/refused/);
    await heal();
    expect(await ds.db.prepare('SELECT count(*) FROM images WHERE id IN (?, ?)').pluck().get(ids[30], ids[31])).toBe(2);
    await expect(async () => resolveDuplicate(ds, { action: 'drop', imageId: ids[22]!, keepId: ids[21]! })).rejects.toThrow(/not in the dataset/);
  });
});

describe('the grid ranked, and the contract', () => {
  it('lists a ranking in its order with scores, counts it, locates in it, and keeps other filters', async () => {
    const ws = newWorkspace(tempDir());
    await ok(ws, 'dataset:open', { path: file });
    const sim = await ok(ws, 'similar:find', { imageIds: [ids[100]!], k: 12 });
    expect(sim.hits).toHaveLength(12);
    const ranked = { ids: sim.hits.map((h) => h.imageId), scores: sim.hits.map((h) => h.score), label: `Like ${sim.query.imageIds[0]}` };
    const page1 = await ok(ws, 'images:list', { filter: { ranked }, offset: 0, limit: 5 });
    const page2 = await ok(ws, 'images:list', { filter: { ranked }, offset: 5, limit: 100 });
    expect([...page1.items, ...page2.items].map((i) => i.id)).toEqual(ranked.ids);
    expect([...page1.items, ...page2.items].map((i) => i.score)).toEqual(ranked.scores);
    expect(await ok(ws, 'images:count', { filter: { ranked } })).toBe(12);
    expect(await ok(ws, 'images:locate', { filter: { ranked }, id: ranked.ids[7]! })).toBe(7);
    expect(await ok(ws, 'images:locate', { filter: { ranked }, id: ids[100]! })).toBeNull();
    const next = await ok(ws, 'images:findNext', { filter: { ranked }, afterId: ranked.ids[2]!, want: 'not_done' });
    expect(next).toEqual({ id: ranked.ids[3], index: 3 });
    // With a split filter: the ranking's images in that split, still in ranked order.
    await setSplits(ds.db, [[ranked.ids[4]!, 'test'], [ranked.ids[1]!, 'test']]);
    const inTest = await ok(ws, 'images:list', { filter: { ranked, split: 'test' }, offset: 0, limit: 50 });
    expect(inTest.items.map((i) => i.id)).toEqual([ranked.ids[1], ranked.ids[4]]);
    // Slices of a stack are shown one by one under a ranking (it ranks images, not stacks).
    const stack = await ds.db.prepare("INSERT INTO stacks (kind, key, name, slice_order) VALUES ('sequence', 'k', 'seq', 'name') RETURNING id").pluck().get() as number;
    for (const [position, imageId] of ranked.ids.slice(0, 3).entries()) await ds.db.prepare('INSERT INTO stack_members (stack_id, image_id, position) VALUES (?, ?, ?)').run(stack, imageId, position);
    const withStack = await ok(ws, 'images:list', { filter: { ranked }, offset: 0, limit: 50 });
    expect(withStack.items.map((i) => i.id)).toEqual(ranked.ids);
    expect(withStack.items.every((i) => i.stack === undefined)).toBe(true);
    expect(await ok(ws, 'images:count', { filter: { ranked } })).toBe(12);
    expect(await ok(ws, 'images:locate', { filter: { ranked }, id: ranked.ids[2]! })).toBe(2);
    // Without the ranking the stack is one tile again.
    expect(await ok(ws, 'images:count', {})).toBe(N - 2 - 1);
    await ds.db.prepare('DELETE FROM stacks WHERE id = ?').run(stack);
    expect((await fails(ws, 'images:list', { filter: { ranked: { ids: [1, 2], scores: [0.5], label: 'x' } } })).code).toBe('INVALID_ARGUMENT');
    expect((await fails(ws, 'similar:find', {})).code).toBe('INVALID_ARGUMENT');
    const dup = await ok(ws, 'duplicates:find', { threshold: 0.95 });
    expect(dup.pairs.length).toBeGreaterThan(0);
    expect((await fails(ws, 'duplicates:find', { threshold: 1.5 })).code).toBe('INVALID_ARGUMENT');
    expect((await fails(ws, 'duplicates:resolve', { action: 'move', imageId: 999999, keepId: ids[1]! })).code).toBe('NOT_FOUND');
    await ok(ws, 'dataset:close', {});
  });

  it('refuses out-of-range arguments on the curation channels before touching the dataset', async () => {
    const ws = newWorkspace(tempDir());
    const refused: [Parameters<typeof fails>[1], unknown][] = [
      ['duplicates:find', { threshold: -0.5 }],
      ['duplicates:find', { threshold: 1.01 }],
      ['duplicates:find', { model: 'x'.repeat(201) }],
      ['duplicates:resolve', { action: 'drop', imageId: 0, keepId: 1 }],
      ['duplicates:resolve', { action: 'delete', imageId: 2, keepId: 1 }],
      ['similar:find', { imageIds: [1], k: 0 }],
      ['similar:find', { imageIds: [1], k: 10_001 }],
      ['similar:find', { imageIds: [-3] }],
      ['similar:find', { imageIds: [1], annotationId: 2 }],
      ['curation:queue', { strategy: 'diversity', limit: 20_001 }],
      ['curation:queue', { strategy: 'uniqueness', embeddingModelId: 1.5 }],
      ['classifier:train', { jobId: 't', holdout: 0.9 }],
      ['classifier:predict', { classifierId: '../../x' }],
      ['classifier:predict', { classifierId: 'clf-a', minScore: 2 }],
      ['map:compute', { jobId: 'm', modelId: -1 }],
      ['embeddings:compute', { jobId: 'e', modelId: '../evil' }],
    ];
    for (const [channel, args] of refused) {
      const e = await fails(ws, channel, args as never);
      expect(e.code, `${channel} ${JSON.stringify(args)}`).toBe('INVALID_ARGUMENT');
    }
  });

  it('says to compute embeddings first when there are none', async () => {
    const d2 = tempDir();
    const f2 = path.join(d2, 'empty.tessera');
    const e = await Dataset.create(f2, d2);
    await insertImages(e.db, fakeImages(2));
    await e.close();
    const ws = newWorkspace(tempDir());
    await ok(ws, 'dataset:open', { path: f2 });
    const err = await fails(ws, 'similar:find', { imageIds: [1] });
    expect(err.code).toBe('NOT_FOUND');
    expect(err.message).toMatch(/no image embeddings.*tessera embed/);
    expect((await fails(ws, 'duplicates:find', {})).message).toMatch(/tessera embed/);
    await ok(ws, 'dataset:close', {});
  });
});
