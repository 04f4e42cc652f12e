import { beforeAll, describe, expect, it } from 'vitest';
import { decodeF16, encodeF16, fromHalf, toHalf } from '../../src-main/common/float16';
import { insertImages } from '../../src-main/db/images';
import { openDatabase } from '../../src-main/db/open';
import { imageRows } from '../helpers/images';
import { ensureEmbeddingModel, imageEmbedding, imagesWithoutEmbedding, listEmbeddingModels, loadImageEmbeddings, putEmbeddings } from '../../src-main/db/embeddings';

describe('float16', () => {
  it('round-trips exactly representable values and rounds to nearest even', () => {
    for (const v of [0, 1, -1, 0.5, 2048, 65504, -65504, 2 ** -24, 2 ** -14, 0.0999755859375]) expect(fromHalf(toHalf(v))).toBeCloseTo(v, 12);
    expect(fromHalf(toHalf(1e6))).toBe(Infinity);
    expect(Number.isNaN(fromHalf(toHalf(NaN)))).toBe(true);
    // 1 + 2^-11 lies halfway between 1 and 1 + 2^-10: ties go to the even mantissa (1).
    expect(fromHalf(toHalf(1 + 2 ** -11))).toBe(1);
    expect(fromHalf(toHalf(1 + 3 * 2 ** -11))).toBe(1 + 2 ** -9);
  });

  it('keeps values of a unit vector to within 1e-3 relative', () => {
    const v = Float32Array.from({ length: 1280 }, (_, i) => Math.sin(i * 0.37) / 25);
    const back = decodeF16(encodeF16(v));
    for (let i = 0; i < v.length; i++) expect(Math.abs(back[i]! - v[i]!)).toBeLessThanOrEqual(Math.abs(v[i]!) * 1e-3 + 1e-7);
  });
});

describe('embedding store over real SQLite', () => {
  const db = openDatabase(':memory:', { create: true });
  let ids: number[] = [];
  beforeAll(async () => {
    ids = await insertImages(db, imageRows(3, { size: 8, pathOf: (i) => `i${i}.png` }));
  });

  it('stores vectors per image, replaces them, and reports images without a current one', async () => {
    const m = await ensureEmbeddingModel(db, { key: 'test-f16', name: 'Test', dim: 4, dtype: 'f16', normalized: true });
    expect(await imagesWithoutEmbedding(db, m.id)).toEqual(ids);
    await putEmbeddings(db, m, [
      { imageId: ids[0]!, contentHash: 'h0', vector: [1, 0, 0, 0] },
      { imageId: ids[1]!, contentHash: 'h1', vector: [0, 1, 0, 0] },
    ]);
    await putEmbeddings(db, m, [{ imageId: ids[1]!, contentHash: 'h1', vector: [0, 0, 1, 0] }]);
    expect(await imagesWithoutEmbedding(db, m.id)).toEqual([ids[2]]);
    const mat = await loadImageEmbeddings(db, m);
    expect([...mat.imageIds]).toEqual([ids[0], ids[1]]);
    expect([...mat.data]).toEqual([1, 0, 0, 0, 0, 0, 1, 0]);
    expect((await listEmbeddingModels(db)).find((x) => x.key === 'test-f16')!.imageCount).toBe(2);
    // The file behind image 0 changes: its vector is stale, not returned, and it is to be embedded again.
    await db.prepare("UPDATE images SET content_hash = 'h0-new' WHERE id = ?").run(ids[0]);
    expect(await imageEmbedding(db, m, ids[0]!)).toBeNull();
    expect(await imagesWithoutEmbedding(db, m.id)).toEqual([ids[0], ids[2]]);
  });

  it('refuses a second vector size under one key and a vector of the wrong size', async () => {
    const m = await ensureEmbeddingModel(db, { key: 'test-f32', name: 'Test', dim: 3, dtype: 'f32', normalized: false });
    await expect(async () => ensureEmbeddingModel(db, { key: 'test-f32', name: 'Test', dim: 5, dtype: 'f32', normalized: false })).rejects.toThrow(/3 values per vector, not 5/);
    await expect(async () => putEmbeddings(db, m, [{ imageId: ids[2]!, contentHash: 'h2', vector: [1, 2] }])).rejects.toThrow(/2 values, the model 3/);
    await putEmbeddings(db, m, [{ imageId: ids[2]!, contentHash: 'h2', vector: [0.1, 0.2, 0.3] }]);
    expect([...(await imageEmbedding(db, m, ids[2]!))!]).toEqual([...Float32Array.from([0.1, 0.2, 0.3])]);
  });
});
