import { describe, expect, it } from 'vitest';
import { mulberry32 } from '../../src-main/common/random';
import { ensureEmbeddingModel, getProjection, mapPointInfo, putEmbeddings } from '../../src-main/db/embeddings';
import { insertImages } from '../../src-main/db/images';
import { openDatabase } from '../../src-main/db/open';
import { imageRows } from '../helpers/images';
import { computeEmbeddingMap, embeddingMapState, projectionParameters } from '../../src-main/services/embeddingMap';

const DIM = 48;

/** A dataset of `n` images with a vector each in three clusters, over real SQLite. */
async function dataset(n: number) {
  const db = openDatabase(':memory:', { create: true });
  const ids = await insertImages(
    db,
    imageRows(n, { size: 8, pathOf: (i) => `i${i}.png` }),
  );
  const model = await ensureEmbeddingModel(db, { key: 'synthetic', name: 'Synthetic', dim: DIM, dtype: 'f16', normalized: false });
  const rand = mulberry32(4);
  await putEmbeddings(
    db,
    model,
    ids.map((id, i) => ({ imageId: id, contentHash: `h${i}`, vector: Array.from({ length: DIM }, (_, t) => (t === (i % 3) * 5 ? 4 : 0) + rand() - 0.5) })),
  );
  return { db, ids, model };
}

describe('embedding map over real SQLite and a worker thread', () => {
  it('computes a PCA map in a worker, opens it from the cache while the vectors are unchanged, and computes again after one changes', async () => {
    const { db, ids, model } = await dataset(60);
    expect(await embeddingMapState(db, 'pca')).toMatchObject({ modelId: model.id, map: null });

    const progress: number[] = [];
    const first = await computeEmbeddingMap(db, model.id, 'pca', { onProgress: (d) => progress.push(d) });
    expect(first.cached).toBe(false);
    expect(progress.length).toBeGreaterThan(0);
    expect(first.imageIds).toEqual(ids);
    expect(first.coords).toHaveLength(120);
    expect((await getProjection(db, model.id, 'pca', projectionParameters('pca')))!.imageIds.length).toBe(60);

    const again = await computeEmbeddingMap(db, model.id, 'pca');
    expect(again.cached).toBe(true);
    expect(again.coords).toEqual(first.coords);
    expect((await embeddingMapState(db, 'pca')).map).toMatchObject({ cached: true, coords: first.coords });

    // One vector changes: the cached map no longer matches and is computed again.
    await putEmbeddings(db, model, [{ imageId: ids[5]!, contentHash: 'h5', vector: Array.from({ length: DIM }, () => 9) }]);
    expect((await embeddingMapState(db, 'pca')).map).toBeNull();
    const changed = await computeEmbeddingMap(db, model.id, 'pca');
    expect(changed.cached).toBe(false);
    expect(changed.coords).not.toEqual(first.coords);
    expect((await computeEmbeddingMap(db, model.id, 'pca')).cached).toBe(true);
    // An image whose file changed drops out of the map (its vector is stale).
    await db.prepare("UPDATE images SET content_hash = 'other' WHERE id = ?").run(ids[0]);
    const fewer = await computeEmbeddingMap(db, model.id, 'pca');
    expect(fewer.cached).toBe(false);
    expect(fewer.imageIds).toEqual(ids.slice(1));
    // Asked to, it computes even when the cache is current.
    expect((await computeEmbeddingMap(db, model.id, 'pca', { recompute: true })).cached).toBe(false);
  });

  it('computes a seeded UMAP map in the worker (the same twice), cached apart from PCA', async () => {
    const { db, model } = await dataset(90);
    const a = await computeEmbeddingMap(db, model.id, 'umap');
    const b = await computeEmbeddingMap(db, model.id, 'umap', { recompute: true });
    expect(b.coords).toEqual(a.coords);
    expect((await embeddingMapState(db, 'umap')).map?.cached).toBe(true);
    expect((await embeddingMapState(db, 'pca')).map).toBeNull();
  }, 60_000);

  it('cancels a running computation and caches nothing', async () => {
    const { db, model } = await dataset(400);
    let cancelled = false;
    const run = computeEmbeddingMap(db, model.id, 'umap', {
      isCancelled: () => cancelled,
      onProgress: () => {
        cancelled = true;
      },
    });
    await expect(run).rejects.toMatchObject({ code: 'CANCELLED' });
    expect(await getProjection(db, model.id, 'umap', projectionParameters('umap'))).toBeNull();
  }, 60_000);

  it('reports per image the most frequent human class, split, status and the best score of the last run', async () => {
    const { db, ids } = await dataset(4);
    const cls = async (name: string) => Number((await db.prepare("INSERT INTO classes (name, color, sort_order, created_at) VALUES (?, '#000000', 0, 0)").run(name)).lastInsertRowid);
    const a = await cls('a');
    const b = await cls('b');
    const ann = db.prepare(
      "INSERT INTO annotations (image_id, class_id, kind, geometry, source, model_run_id, score, created_at, updated_at) VALUES (?, ?, 'box', '{}', ?, ?, ?, 0, 0)",
    );
    const run = async (name: string) => Number((await db.prepare("INSERT INTO model_runs (model, name, started_at) VALUES (?, ?, 0)").run(name, name)).lastInsertRowid);
    await ann.run(ids[0], a, 'human', null, null);
    await ann.run(ids[0], b, 'human', null, null);
    await ann.run(ids[0], b, 'human', null, null);
    const r1 = await run('first');
    const r2 = await run('second');
    await ann.run(ids[1], a, 'model', r1, 0.9);
    await ann.run(ids[1], a, 'model', r2, 0.4);
    await ann.run(ids[1], b, 'model', r2, 0.6);
    await db.prepare("UPDATE images SET split = 'val', status = 'done' WHERE id = ?").run(ids[2]);
    const info = await mapPointInfo(db);
    expect(info.ids).toEqual(ids);
    expect(info.classId).toEqual([b, 0, 0, 0]);
    expect(info.score).toEqual([null, 0.6, null, null]);
    expect(info.split).toEqual([-1, -1, 1, -1]);
    expect(info.status).toEqual([0, 0, 2, 0]);
  });
});
