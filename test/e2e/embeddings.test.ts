import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { chromiumOrSkip, createDatasetViaUi, startApp, type App } from '../helpers/browser';
import { mobilenetEmbedManifest } from '../helpers/models';
import { sharedDir } from '../helpers/shared';

/**
 * Embeddings in the real renderer: the Curate view lists an embed model (MobileNetV2 with its
 * pooled-feature output, added as a custom model), computes the vectors of the imported images
 * with progress, and shows how many each model holds; a second run of "new" finds none to do.
 */
const IMAGES_DIR = path.join(sharedDir, 'datasets', 'coco_tinycoco', 'images', 'train2017');
const MODEL = path.join(sharedDir, 'models', 'mobilenetv2-12-int8-with-embedding.onnx');
const IMAGES = ['000000087038.jpg', '000000058636.jpg', '000000303818.jpg'];

const prerequisites = chromiumOrSkip('embeddings', [
  ...IMAGES.map((n) => ({ path: path.join(IMAGES_DIR, n), what: 'the coco_tinycoco images' })),
  { path: MODEL, what: 'the mobilenetv2-12-int8-with-embedding test model' },
]);

function storedVectors(file: string): { images: number; dims: number[] } {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const images = db.prepare('SELECT COUNT(*) FROM embeddings WHERE annotation_id IS NULL').pluck().get() as number;
    const dims = db.prepare('SELECT dim FROM embedding_models').pluck().all() as number[];
    return { images, dims };
  } finally {
    db.close();
  }
}

describe('embeddings in the browser', () => {
  let app: App | null = null;

  beforeAll(async () => {
    app = await startApp({ tmpPrefix: 'tessera-embed-e2e-' });
    const imgs = path.join(app.tmp, 'imgs');
    fs.mkdirSync(imgs, { recursive: true });
    for (const n of IMAGES) if (fs.existsSync(path.join(IMAGES_DIR, n))) fs.copyFileSync(path.join(IMAGES_DIR, n), path.join(imgs, n));
    // The encoder as a custom model of this user, as models:add stores it.
    fs.mkdirSync(app.configDir, { recursive: true });
    fs.writeFileSync(path.join(app.configDir, 'custom-models.json'), JSON.stringify([mobilenetEmbedManifest(MODEL)]));
  });

  afterAll(async () => {
    await app?.close();
  });

  it.skipIf(prerequisites.skip)('opens Curate, computes the embeddings of the imported images and shows the count', { timeout: 180_000 }, async () => {
    prerequisites.assertPresent();
    const { tmp } = app!;
    const { page, pageErrors } = await app!.newPage({ viewport: { width: 1400, height: 900 }, hooks: true });
    const datasetFile = path.join(tmp, 'embed.tessera');
    await createDatasetViaUi(page, datasetFile);
    await page.getByTestId('import-open').click();
    await page.getByTestId('import-paths').fill(path.join(tmp, 'imgs'));
    await page.getByTestId('import-start').click();
    await expect.poll(() => page.getByTestId('import-summary').textContent(), { timeout: 30_000 }).toContain('3 imported');

    await page.getByTestId('curate-open').click();
    await page.getByTestId('embed-section').waitFor();
    await page.getByTestId('embed-none-stored').waitFor();
    // The shipped encoders are offered too, to download; the custom one is on disk.
    const options = await page.getByTestId('embed-model').locator('option').allTextContents();
    expect(options).toEqual(expect.arrayContaining(['MobileNetV2 embedding', 'DINOv2 ViT-S/14 (image embedding) (not downloaded)']));
    await page.getByTestId('embed-model').selectOption('mobilenetv2-embed');
    await page.getByTestId('embed-scope-new').check();
    expect(storedVectors(datasetFile).images).toBe(0);
    await page.getByTestId('embed-start').click();
    await expect.poll(() => page.getByTestId('embed-summary').textContent(), { timeout: 90_000 }).toContain('3 images computed');
    await expect.poll(() => page.getByTestId('embed-stored-images').first().textContent()).toBe('3 / 3');
    expect(storedVectors(datasetFile)).toEqual({ images: 3, dims: [1280] });

    // Nothing new: a second run computes none and says they are current.
    await page.getByTestId('embed-start').click();
    await expect.poll(() => page.getByTestId('embed-summary').textContent(), { timeout: 60_000 }).toContain('0 images computed, 3 already current');
    // Closed and opened again, the section shows the stored count.
    await page.getByTestId('curate-close').click();
    await page.getByTestId('curate-open').click();
    await expect.poll(() => page.getByTestId('embed-stored-row').getAttribute('data-images')).toBe('3');
    expect(pageErrors).toEqual([]);
  });

});

describe('cancelling embeddings in the browser', () => {
  let app: App | null = null;

  beforeAll(async () => {
    app = await startApp({ tmpPrefix: 'tessera-embed-cancel-e2e-' });
    fs.mkdirSync(app.configDir, { recursive: true });
    fs.writeFileSync(path.join(app.configDir, 'custom-models.json'), JSON.stringify([mobilenetEmbedManifest(MODEL)]));
  });

  afterAll(async () => {
    await app?.close();
  });

  it.skipIf(prerequisites.skip)('shows progress, and Cancel keeps the batches done; "new" then computes the rest', { timeout: 240_000 }, async () => {
    prerequisites.assertPresent();
    const { tmp } = app!;
    const all = path.join(tmp, 'all');
    fs.mkdirSync(all, { recursive: true });
    for (const n of fs.readdirSync(IMAGES_DIR).filter((f) => f.endsWith('.jpg'))) fs.copyFileSync(path.join(IMAGES_DIR, n), path.join(all, n));
    const count = fs.readdirSync(all).length;
    expect(count).toBeGreaterThan(16); // more than one batch
    const { page, pageErrors } = await app!.newPage({ viewport: { width: 1400, height: 900 }, hooks: true });
    const datasetFile = path.join(tmp, 'all.tessera');
    await createDatasetViaUi(page, datasetFile);
    await page.getByTestId('import-open').click();
    await page.getByTestId('import-paths').fill(all);
    await page.getByTestId('import-start').click();
    await expect.poll(() => page.getByTestId('import-summary').textContent(), { timeout: 60_000 }).toContain(`${count} imported`);
    await page.getByTestId('curate-open').click();
    await page.getByTestId('embed-model').selectOption('mobilenetv2-embed');
    await page.getByTestId('embed-scope-all').check();
    await page.getByTestId('embed-start').click();
    await page.getByTestId('embed-progress').waitFor({ timeout: 60_000 });
    await page.getByTestId('embed-cancel').click();
    await expect.poll(() => page.getByTestId('embed-summary').textContent(), { timeout: 90_000 }).toMatch(/^Cancelled: /);
    const kept = storedVectors(datasetFile).images;
    expect(kept).toBeGreaterThanOrEqual(0);
    expect(kept).toBeLessThan(count);
    await expect.poll(() => page.getByTestId('embed-stored-row').getAttribute('data-images').catch(() => '0')).toBe(String(kept));
    await page.getByTestId('embed-scope-new').check();
    await page.getByTestId('embed-start').click();
    await expect.poll(() => page.getByTestId('embed-summary').textContent(), { timeout: 120_000 }).toContain(`${count - kept} images computed`);
    expect(storedVectors(datasetFile).images).toBe(count);
    expect(pageErrors).toEqual([]);
  });
});
