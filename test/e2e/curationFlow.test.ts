import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src-main/db/open';
import { chromiumOrSkip, createDatasetViaUi, startApp, type App } from '../helpers/browser';
import { mobilenetEmbedManifest } from '../helpers/models';
import { lassoRightOfWidestGap, mapPointsOnPage } from '../helpers/embeddingMap';
import { sharedDir } from '../helpers/shared';

/**
 * Curation end to end with the real MobileNetV2 embedding in the real renderer, as one flow:
 * six coco_tinycoco photos and a mirrored copy of one (made here with sharp) imported from the
 * start screen; before any vector, "More like this", the queue and the classifier each say to
 * compute embeddings first; embeddings computed from the Curate view; "More like this" from the viewer on the
 * original ranks the mirrored copy first with its cosine shown; the uniqueness queue puts that
 * pair last with 1 - that cosine; a lasso on the map around the points right of its widest gap
 * filters the grid to exactly those images.
 */
const IMAGES_DIR = path.join(sharedDir, 'datasets', 'coco_tinycoco', 'images', 'train2017');
const MODEL = path.join(sharedDir, 'models', 'mobilenetv2-12-int8-with-embedding.onnx');
const ORIGINAL = '000000087038.jpg';
const PHOTOS = [ORIGINAL, '000000058636.jpg', '000000303818.jpg', '000000037777.jpg', '000000006818.jpg', '000000017627.jpg'];
const MIRRORED = 'mirrored.jpg';
const prerequisites = chromiumOrSkip('curationFlow (MobileNetV2)', [
  ...PHOTOS.map((n) => ({ path: path.join(IMAGES_DIR, n), what: 'the coco_tinycoco images' })),
  { path: MODEL, what: 'the mobilenetv2-12-int8-with-embedding test model' },
]);

const gridIds = async (page: Page): Promise<number[]> =>
  page.getByTestId('grid-cell').evaluateAll((cells) => cells.map((c) => Number(c.getAttribute('data-image-id'))));
const viewerOn = (page: Page, id: number) => page.locator(`[data-testid="viewer"][data-image-id="${id}"][data-ready="true"]`).waitFor({ timeout: 30_000 });

describe('curation flow with MobileNetV2 in the browser', () => {
  let app: App | null = null;
  beforeAll(async () => {
    app = await startApp({ tmpPrefix: 'tessera-curation-flow-' });
  });
  afterAll(async () => {
    await app?.close();
  });

  it.skipIf(prerequisites.skip)('embeds from Curate, ranks the mirrored copy first from the viewer, shows uniqueness, and a lasso on the map filters the grid', { timeout: 240_000 }, async () => {
    prerequisites.assertPresent();
    const { tmp } = app!;
    const imgs = path.join(tmp, 'photos');
    fs.mkdirSync(imgs, { recursive: true });
    for (const n of PHOTOS) fs.copyFileSync(path.join(IMAGES_DIR, n), path.join(imgs, n));
    await sharp(path.join(IMAGES_DIR, ORIGINAL)).flop().jpeg({ quality: 92 }).toFile(path.join(imgs, MIRRORED));
    fs.mkdirSync(app!.configDir, { recursive: true });
    fs.writeFileSync(path.join(app!.configDir, 'custom-models.json'), JSON.stringify([mobilenetEmbedManifest(MODEL)]));
    const total = PHOTOS.length + 1;

    const { page, pageErrors } = await app!.newPage({ viewport: { width: 1400, height: 1000 } });
    const file = path.join(tmp, 'flow.tessera');
    await createDatasetViaUi(page, file);
    await page.getByTestId('import-open').click();
    await page.getByTestId('import-paths').fill(imgs);
    await page.getByTestId('import-start').click();
    await expect.poll(() => page.getByTestId('import-summary').textContent(), { timeout: 30_000 }).toContain(`${total} imported`);
    const check = openDatabase(file);
    const idOf = new Map((await check.prepare('SELECT id, path FROM images').all() as { id: number; path: string }[]).map((r) => [path.basename(r.path), r.id]));
    await check.close();
    const original = idOf.get(ORIGINAL)!;
    const mirrored = idOf.get(MIRRORED)!;

    // Before any embedding each tool says what to do first, rather than showing an empty answer.
    await page.locator(`[data-testid="grid-cell"][data-image-id="${original}"]`).click();
    await viewerOn(page, original);
    await page.getByTestId('more-like-this').click();
    await expect.poll(() => page.locator('.message.error').textContent()).toMatch(/no image embeddings .*compute them first/);
    await page.getByTestId('viewer-back').click();
    await page.getByTestId('curate-open').click();
    await page.getByTestId('map-empty').waitFor();
    await page.getByTestId('next-strategy').selectOption('uniqueness');
    await page.getByTestId('next-build').click();
    await expect.poll(() => page.getByTestId('next-problem').textContent()).toMatch(/compute embeddings first/);
    await page.getByTestId('clf-train').click();
    await expect.poll(() => page.getByTestId('clf-problem').textContent()).toMatch(/compute embeddings first/);

    // Embeddings computed from the Curate view with the real model.
    await page.getByTestId('embed-model').selectOption('mobilenetv2-embed');
    await page.getByTestId('embed-start').click();
    await expect.poll(() => page.getByTestId('embed-summary').textContent(), { timeout: 120_000 }).toContain(`${total} images computed`);
    await page.locator(`[data-testid="map"][data-method="pca"][data-points="${total}"]`).waitFor({ timeout: 60_000 });
    // With vectors but no tagged image, the classifier says what it lacks.
    await page.getByTestId('clf-train').click();
    await expect.poll(() => page.getByTestId('clf-problem').textContent()).toMatch(/no image has a human image tag/);
    await page.getByTestId('curate-close').click();

    // "More like this" from the viewer on the original: its mirrored copy first, with its score.
    await expect.poll(() => page.getByTestId('grid-cell').count()).toBe(total);
    await page.locator(`[data-testid="grid-cell"][data-image-id="${original}"]`).click();
    await viewerOn(page, original);
    await page.getByTestId('more-like-this').click();
    await expect.poll(() => page.getByTestId('ranked-label').textContent()).toBe(`Like ${ORIGINAL}`);
    await expect.poll(async () => (await gridIds(page)).length).toBe(total - 1);
    const ranked = await gridIds(page);
    expect(ranked[0]).toBe(mirrored);
    expect(ranked).not.toContain(original);
    const scores = (await page.getByTestId('grid-score').allTextContents()).map(Number);
    expect(scores).toHaveLength(total - 1);
    console.log(`More like ${ORIGINAL}: ${ranked.map((id, i) => `${id}:${scores[i]!.toFixed(3)}`).join(' ')} (mirrored copy is ${mirrored})`);
    for (let i = 1; i < scores.length; i++) expect(scores[i]!).toBeLessThanOrEqual(scores[i - 1]!);
    expect(scores[0]!).toBeGreaterThan(scores[1]!);
    await page.getByTestId('ranked-clear').click();

    // Uniqueness, seen in the grid: the original and its copy are each other's nearest image,
    // so they come last, each with 1 - the cosine "More like this" showed.
    await page.getByTestId('curate-open').click();
    await page.getByTestId('next-strategy').selectOption('uniqueness');
    await page.getByTestId('next-build').click();
    await expect.poll(() => page.getByTestId('next-size').getAttribute('data-count')).toBe(String(total));
    await page.getByTestId('next-show').click();
    await expect.poll(() => page.getByTestId('ranked-label').textContent()).toContain('uniqueness');
    await expect.poll(async () => (await gridIds(page)).length).toBe(total);
    const byUniqueness = await gridIds(page);
    const uniq = (await page.getByTestId('grid-score').allTextContents()).map(Number);
    console.log(`uniqueness: ${byUniqueness.map((id, i) => `${id}:${uniq[i]!.toFixed(3)}`).join(' ')}`);
    expect(new Set(byUniqueness.slice(-2))).toEqual(new Set([original, mirrored]));
    expect(uniq[total - 1]!).toBeCloseTo(1 - scores[0]!, 2);
    expect(uniq[total - 2]!).toBeCloseTo(1 - scores[0]!, 2);
    await page.getByTestId('ranked-clear').click();

    // The map: a lasso around the points right of its widest gap filters the grid to exactly them.
    await page.getByTestId('curate-open').click();
    await page.locator(`[data-testid="map"][data-points="${total}"][data-cached="true"]`).waitFor({ timeout: 60_000 });
    const expected = await lassoRightOfWidestGap(page, await mapPointsOnPage(page, file));
    expect(expected.length).toBeGreaterThan(0);
    expect(expected.length).toBeLessThan(total);
    await expect.poll(() => page.getByTestId('filter-ids').textContent()).toContain(`${expected.length} picked image`);
    await expect.poll(async () => (await gridIds(page)).sort((p, q) => p - q)).toEqual(expected);
    console.log(`lasso picked ${expected.length} of ${total}: ${expected.join(' ')}`);
    expect(pageErrors).toEqual([]);
  });
});
