import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import fs from 'node:fs';
import type { Page } from 'playwright-core';
import { chromiumOrSkip, createDatasetViaUi, startApp, type App } from '../helpers/browser';
import { mobilenetEmbedManifest } from '../helpers/models';
import { lassoRightOfWidestGap, mapPointsOnPage } from '../helpers/embeddingMap';
import { sharedDir } from '../helpers/shared';
import { makeImages } from '../helpers/images';
import { newWorkspace, ok } from '../helpers/workspace';
import { mulberry32 } from '../../src-main/common/random';
import { ensureEmbeddingModel, getProjection, putEmbeddings } from '../../src-main/db/embeddings';
import { openDatabase } from '../../src-main/db/open';
import { projectionParameters } from '../../src-main/services/embeddingMap';

/**
 * The embedding map in the real renderer: a dataset of eight small images whose stored vectors
 * (synthetic, 32 values) fall in two clusters is opened; the Curate view computes and draws the
 * PCA map in a worker; a freehand lasso drawn with the mouse around one cluster opens the grid on
 * exactly those images ("picked images"), and back on the map the others are dimmed. Then with
 * real vectors: six coco_tinycoco photos embedded by MobileNetV2 from the Curate view, the map
 * follows by itself, and a lasso over part of it filters the grid to the images inside.
 */
const prerequisites = chromiumOrSkip('embeddingMap');
const DIM = 32;
const IMAGES_DIR = path.join(sharedDir, 'datasets', 'coco_tinycoco', 'images', 'train2017');
const MODEL = path.join(sharedDir, 'models', 'mobilenetv2-12-int8-with-embedding.onnx');
const PHOTOS = ['000000087038.jpg', '000000058636.jpg', '000000303818.jpg', '000000037777.jpg', '000000006818.jpg', '000000017627.jpg'];
const realPrerequisites = chromiumOrSkip('embeddingMap (MobileNetV2)', [
  ...PHOTOS.map((n) => ({ path: path.join(IMAGES_DIR, n), what: 'the coco_tinycoco images' })),
  { path: MODEL, what: 'the mobilenetv2-12-int8-with-embedding test model' },
]);

const gridIds = async (page: Page): Promise<number[]> =>
  (await page.getByTestId('grid-cell').evaluateAll((cells) => cells.map((c) => Number(c.getAttribute('data-image-id'))))).sort((p, q) => p - q);

describe('embedding map in the browser', () => {
  let app: App | null = null;

  beforeAll(async () => {
    app = await startApp({ tmpPrefix: 'tessera-map-e2e-' });
  });

  afterAll(async () => {
    await app?.close();
  });

  it.skipIf(prerequisites.skip)('computes the map, lassoes a cluster and shows exactly its images in the grid', { timeout: 120_000 }, async () => {
    prerequisites.assertPresent();
    const { tmp } = app!;
    await makeImages(path.join(tmp, 'imgs'));
    const file = path.join(tmp, 'map.tessera');
    const ws = newWorkspace(path.join(tmp, 'prep'));
    await ok(ws, 'dataset:create', { path: file, root: tmp });
    await ok(ws, 'images:import', { jobId: 'imp', paths: [path.join(tmp, 'imgs')] });
    const { items } = await ok(ws, 'images:list', {});
    await ws.close();
    const ids = items.filter((i) => !i.stack).map((i) => i.id);
    expect(ids.length).toBeGreaterThanOrEqual(6);
    const half = Math.floor(ids.length / 2);
    const clusterA = ids.slice(0, half);

    // Two clusters of vectors, stored as the embedding step stores them.
    const db = openDatabase(file);
    const model = await ensureEmbeddingModel(db, { key: 'synthetic', name: 'Synthetic', dim: DIM, dtype: 'f16', normalized: false });
    const rand = mulberry32(9);
    const hashes = new Map((await db.prepare('SELECT id, content_hash FROM images').all() as { id: number; content_hash: string }[]).map((r) => [r.id, r.content_hash]));
    await putEmbeddings(
      db,
      model,
      ids.map((id, i) => ({
        imageId: id,
        contentHash: hashes.get(id)!,
        vector: Array.from({ length: DIM }, (_, t) => (t === (i < half ? 0 : 1) ? 5 : 0) + (rand() - 0.5) * 0.4),
      })),
    );
    await db.close();

    const { page, pageErrors } = await app!.newPage({ viewport: { width: 1400, height: 1000 } });
    await page.getByTestId('open-dataset-path').fill(file);
    await page.getByTestId('open-dataset').click();
    await page.getByTestId('curate-open').click();
    // The PCA map is computed at once (nothing cached yet) and drawn.
    const mapSection = page.locator(`[data-testid="map"][data-method="pca"][data-points="${ids.length}"]`);
    await mapSection.waitFor({ timeout: 60_000 });
    expect(await mapSection.getAttribute('data-cached')).toBe('false');

    // Where the map put each image, from its cache, and where that is on the canvas.
    const check = openDatabase(file);
    const stored = (await getProjection(check, model.id, 'pca', projectionParameters('pca')))!;
    await check.close();
    expect([...stored.imageIds]).toEqual(ids);
    const canvas = page.getByTestId('map-canvas');
    const box = (await canvas.boundingBox())!;
    const [scale, tx, ty] = (await canvas.getAttribute('data-view'))!.split(',').map(Number) as [number, number, number];
    const screen = ids.map((_, i) => ({ x: box.x + stored.coords[2 * i]! * scale + tx, y: box.y + stored.coords[2 * i + 1]! * scale + ty }));
    const a = screen.slice(0, half);
    const b = screen.slice(half);
    const cx = a.reduce((s, p) => s + p.x, 0) / a.length;
    const cy = a.reduce((s, p) => s + p.y, 0) / a.length;
    const r = Math.max(...a.map((p) => Math.hypot(p.x - cx, p.y - cy))) + 20;
    // The clusters lie far apart on the map: the lasso around one leaves the other out.
    expect(Math.min(...b.map((p) => Math.hypot(p.x - cx, p.y - cy)))).toBeGreaterThan(r + 20);

    // A freehand lasso around cluster A.
    await page.mouse.move(cx + r, cy);
    await page.mouse.down();
    for (let k = 1; k <= 32; k++) await page.mouse.move(cx + r * Math.cos((k / 32) * 2 * Math.PI), cy + r * Math.sin((k / 32) * 2 * Math.PI));
    await page.mouse.up();

    // The grid opens on exactly the picked images, and its filter bar says so.
    await expect.poll(() => page.getByTestId('filter-ids').textContent()).toContain(`${clusterA.length} picked images`);
    await expect
      .poll(async () => (await page.getByTestId('grid-cell').evaluateAll((cells) => cells.map((c) => Number(c.getAttribute('data-image-id'))))).sort((p, q) => p - q))
      .toEqual([...clusterA].sort((p, q) => p - q));

    // Back on the map: it opens from the cache and dims the images outside the grid's filter.
    await page.getByTestId('curate-open').click();
    await page.locator('[data-testid="map"][data-cached="true"]').waitFor({ timeout: 30_000 });
    await expect.poll(() => page.getByTestId('map-summary').textContent()).toContain(`${ids.length - half} outside the filter dimmed`);
    expect(pageErrors).toEqual([]);
  });

});

describe('embedding map of MobileNetV2 vectors in the browser', () => {
  let app: App | null = null;

  beforeAll(async () => {
    app = await startApp({ tmpPrefix: 'tessera-map-real-e2e-' });
  });

  afterAll(async () => {
    await app?.close();
  });

  it.skipIf(realPrerequisites.skip)('computes MobileNetV2 embeddings in Curate, maps them, and a lasso filters the grid to the images inside it', { timeout: 180_000 }, async () => {
    realPrerequisites.assertPresent();
    const { tmp } = app!;
    const imgs = path.join(tmp, 'photos');
    fs.mkdirSync(imgs, { recursive: true });
    for (const n of PHOTOS) fs.copyFileSync(path.join(IMAGES_DIR, n), path.join(imgs, n));
    fs.mkdirSync(app!.configDir, { recursive: true });
    fs.writeFileSync(path.join(app!.configDir, 'custom-models.json'), JSON.stringify([mobilenetEmbedManifest(MODEL)]));

    const { page, pageErrors } = await app!.newPage({ viewport: { width: 1400, height: 1000 } });
    const file = path.join(tmp, 'photos.tessera');
    await createDatasetViaUi(page, file);
    await page.getByTestId('import-open').click();
    await page.getByTestId('import-paths').fill(imgs);
    await page.getByTestId('import-start').click();
    await expect.poll(() => page.getByTestId('import-summary').textContent(), { timeout: 30_000 }).toContain(`${PHOTOS.length} imported`);

    await page.getByTestId('curate-open').click();
    await page.getByTestId('map-empty').waitFor();
    await page.getByTestId('embed-model').selectOption('mobilenetv2-embed');
    await page.getByTestId('embed-start').click();
    await expect.poll(() => page.getByTestId('embed-summary').textContent(), { timeout: 90_000 }).toContain(`${PHOTOS.length} images computed`);
    // The map is computed from the new vectors without being asked.
    await page.locator(`[data-testid="map"][data-method="pca"][data-points="${PHOTOS.length}"]`).waitFor({ timeout: 60_000 });

    // A lasso over the right part of the map, split at the widest gap between points.
    const points = await mapPointsOnPage(page, file);
    const expected = await lassoRightOfWidestGap(page, points);
    expect(expected.length).toBeGreaterThan(0);
    expect(expected.length).toBeLessThan(points.ids.length);

    await expect.poll(() => page.getByTestId('filter-ids').textContent()).toContain(`${expected.length} picked image`);
    await expect.poll(() => gridIds(page)).toEqual(expected);
    expect(pageErrors).toEqual([]);
  });
});
