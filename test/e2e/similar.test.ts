import path from 'node:path';
import Database from 'better-sqlite3';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureEmbeddingModel, putEmbeddings } from '../../src-main/db/embeddings';
import { Dataset } from '../../src-main/services/dataset';
import { chromiumOrSkip, startApp, type App } from '../helpers/browser';
import { makeImages } from '../helpers/images';
import { newWorkspace, ok } from '../helpers/workspace';

/**
 * "More like this" and near-duplicates in the real renderer. The eight test images get vectors
 * stored through the embedding store at angles in one plane, out of id order, so that the ranking
 * from the first image is known (the cosine of the angle) and differs from the grid's import
 * order; the images at 0° and 2° are the only near-duplicates, and are put in train and val.
 */
const prerequisites = chromiumOrSkip('similar');
const ANGLES = [0, 180, 30, 150, 2, 120, 60, 90];
const cosOf = (deg: number): number => Math.cos((deg * Math.PI) / 180);

const viewerOn = (page: Page, id: number) => page.locator(`[data-testid="viewer"][data-image-id="${id}"][data-ready="true"]`).waitFor({ timeout: 30_000 });
const gridIds = async (page: Page): Promise<number[]> => (await page.getByTestId('grid-cell').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-image-id')))));

function splitOf(file: string, id: number): string | null | undefined {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return (db.prepare('SELECT split FROM images WHERE id = ?').get(id) as { split: string | null } | undefined)?.split;
  } finally {
    db.close();
  }
}

describe('similar images and near-duplicates in the browser', () => {
  let app: App | null = null;
  beforeAll(async () => {
    app = await startApp({ tmpPrefix: 'tessera-similar-e2e-' });
  });
  afterAll(async () => {
    await app?.close();
  });

  it.skipIf(prerequisites.skip)('opens the grid ranked by similarity with scores, clears it, ranks from picked images, and resolves a leaking near-duplicate', { timeout: 180_000 }, async () => {
    prerequisites.assertPresent();
    const { tmp } = app!;
    await makeImages(path.join(tmp, 'imgs'));
    const file = path.join(tmp, 'similar.tessera');
    const ws = newWorkspace(path.join(tmp, 'prep'));
    await ok(ws, 'dataset:create', { path: file, root: tmp });
    await ok(ws, 'images:import', { jobId: 'imp', paths: [path.join(tmp, 'imgs')] });
    await ok(ws, 'dataset:close', {});
    await ws.close();
    const ds = await Dataset.open(file);
    const ids = await ds.db.prepare('SELECT id FROM images ORDER BY id').pluck().all() as number[];
    expect(ids).toHaveLength(ANGLES.length);
    const model = await ensureEmbeddingModel(ds.db, { key: 'test-plane', name: 'Plane', dim: 8, dtype: 'f32', normalized: true });
    const hash = ds.db.prepare('SELECT content_hash FROM images WHERE id = ?').pluck();
    const vectors = [];
    for (const [i, id] of ids.entries()) {
      const t = (ANGLES[i]! * Math.PI) / 180;
      vectors.push({ imageId: id, contentHash: await hash.get(id) as string, vector: [Math.cos(t), Math.sin(t), 0, 0, 0, 0, 0, 0] });
    }
    await putEmbeddings(ds.db, model, vectors);
    await ds.db.prepare("UPDATE images SET split = 'train' WHERE id = ?").run(ids[0]);
    await ds.db.prepare("UPDATE images SET split = 'val' WHERE id = ?").run(ids[4]);
    await ds.close();

    const { page, pageErrors } = await app!.newPage({ viewport: { width: 1500, height: 900 } });
    await page.getByTestId('open-dataset-path').fill(file);
    await page.getByTestId('open-dataset').click();
    await expect.poll(() => page.getByTestId('grid-cell').count()).toBe(8);
    expect(await page.getByTestId('grid-score').count()).toBe(0);

    // From the viewer: the grid ranked by cosine similarity, the image itself left out.
    await page.locator(`[data-testid="grid-cell"][data-image-id="${ids[0]}"]`).click();
    await viewerOn(page, ids[0]!);
    await page.getByTestId('more-like-this').click();
    await page.getByTestId('ranked-label').waitFor();
    expect(await page.getByTestId('ranked-label').textContent()).toBe('Like a.jpg');
    const byAngle = [4, 2, 6, 7, 5, 3, 1];
    await expect.poll(() => gridIds(page)).toEqual(byAngle.map((i) => ids[i]));
    const scores = await page.getByTestId('grid-score').allTextContents();
    expect(scores).toEqual(byAngle.map((i) => cosOf(ANGLES[i]!).toFixed(3)));
    expect(await page.getByTestId('image-count').textContent()).toBe('7 images');

    // Opening a ranked image and stepping on follows the ranking (30° then 60°), not the import order.
    await page.locator(`[data-testid="grid-cell"][data-image-id="${ids[2]}"]`).click();
    await viewerOn(page, ids[2]!);
    await page.keyboard.press('ArrowRight');
    await viewerOn(page, ids[6]!);
    await page.getByTestId('viewer-back').click();

    await page.getByTestId('ranked-clear').click();
    await expect.poll(() => page.getByTestId('ranked-label').count()).toBe(0);
    await expect.poll(() => gridIds(page)).toEqual(ids);
    expect(await page.getByTestId('grid-score').count()).toBe(0);

    // Two picked images (Ctrl-click), at 2° and 60°: ranked by their mean, at 31°.
    await page.locator(`[data-testid="grid-cell"][data-image-id="${ids[4]}"]`).click({ modifiers: ['Control'] });
    await page.locator(`[data-testid="grid-cell"][data-image-id="${ids[6]}"]`).click({ modifiers: ['Control'] });
    expect(await page.locator('[data-testid="grid-cell"][data-picked="true"]').count()).toBe(2);
    await page.getByTestId('more-like-this-picked').click();
    await expect.poll(() => page.getByTestId('ranked-label').textContent()).toBe('Like 2 picked images');
    // 30°, 0°, 90°, 120°, 150°, 180° (1°, 31°, 59°, 89°, 119°, 149° away).
    await expect.poll(() => gridIds(page)).toEqual([2, 0, 7, 5, 3, 1].map((i) => ids[i]));

    // Near-duplicates in the health dashboard: the one pair, marked as leakage; moved, then dropped.
    await page.getByTestId('health-open').click();
    await page.getByTestId('near-dup-threshold').fill('0.95');
    await page.getByTestId('near-dup-find').click();
    await page.getByTestId('near-dup-pair').waitFor();
    expect(await page.getByTestId('near-dup-pair').count()).toBe(1);
    const pair = page.getByTestId('near-dup-pair');
    expect(await pair.getAttribute('data-a')).toBe(String(ids[0]));
    expect(await pair.getAttribute('data-b')).toBe(String(ids[4]));
    expect(await pair.getAttribute('data-leakage')).toBe('true');
    expect(await page.getByTestId('near-dup-score').textContent()).toBe('0.999');
    expect(await page.getByTestId('near-dup-leakage').textContent()).toContain('train / val');
    expect(await page.getByTestId('near-dup-summary').textContent()).toContain('1 across splits');
    await page.getByTestId('near-dup-move').click();
    await expect.poll(() => pair.getAttribute('data-leakage')).toBe('false');
    expect(splitOf(file, ids[4]!)).toBe('train');
    await page.getByTestId('near-dup-drop').click();
    await expect.poll(() => page.getByTestId('near-dup-pair').count()).toBe(0);
    expect(splitOf(file, ids[4]!)).toBeUndefined();
    // A lower threshold finds the 30° neighbours too; the dropped image is gone from them.
    await page.getByTestId('near-dup-threshold').fill('0.85');
    await page.getByTestId('near-dup-find').click();
    await expect.poll(() => page.getByTestId('near-dup-summary').textContent()).toMatch(/^\s*\d+ pairs? at 0\.85/);
    const bs = await page.getByTestId('near-dup-pair').evaluateAll((els) => els.flatMap((e) => [e.getAttribute('data-a'), e.getAttribute('data-b')]));
    expect(bs).not.toContain(String(ids[4]));
    expect(bs.length).toBeGreaterThan(0);
    expect(pageErrors).toEqual([]);
  });
});
