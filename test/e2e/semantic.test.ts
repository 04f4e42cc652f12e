import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { chromiumOrSkip, createDatasetViaUi, startApp, type App } from '../helpers/browser';
import { sharedDir } from '../helpers/shared';

/**
 * A semantic segmenter in the real renderer: the nuclei U-Net, registered as a custom model with
 * instances split by the watershed, pre-labels the 16-bit stardist image from the Model panel;
 * its instance masks are stored as predictions and drawn.
 */
const IMAGE = path.join(sharedDir, 'datasets', 'tiff16_stardist_dsb2018', 'img2d.tif');
const MODEL = path.join(sharedDir, 'models', 'unet2d_nuclei_broad.onnx');

const prerequisites = chromiumOrSkip('semantic', [
  { path: IMAGE, what: 'the stardist nuclei image' },
  { path: MODEL, what: 'the unet2d_nuclei_broad test model' },
]);

interface HookedWindow {
  __tesseraCanvas?: { stats(): { shapesDrawn: number } };
}

function maskRows(file: string): { class_id: number; score: number; geometry: string }[] {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return db.prepare("SELECT class_id, score, geometry FROM annotations WHERE source = 'model' ORDER BY id").all() as { class_id: number; score: number; geometry: string }[];
  } finally {
    db.close();
  }
}

describe('semantic segmentation with instances in the browser', () => {
  let app: App | null = null;

  beforeAll(async () => {
    app = await startApp({ tmpPrefix: 'tessera-semantic-e2e-' });
    const imgs = path.join(app.tmp, 'imgs');
    fs.mkdirSync(imgs, { recursive: true });
    if (fs.existsSync(IMAGE)) fs.copyFileSync(IMAGE, path.join(imgs, 'img2d.tif'));
    // The U-Net as a custom model the user added earlier (remembered in the settings folder).
    fs.mkdirSync(app.configDir, { recursive: true });
    fs.writeFileSync(
      path.join(app.configDir, 'custom-models.json'),
      JSON.stringify([
        {
          id: 'unet2d-nuclei',
          name: 'UNet2D nuclei',
          task: 'semantic',
          size: [512, 512],
          colour: 'rgb',
          scale: 1,
          letterbox: 'stretch',
          normalize: 'zscore',
          highBitDepth: 'minmax',
          classes: ['nucleus'],
          instances: { split: 'watershed', minArea: 10, fillHoles: true },
          thresholds: { score: 0, iou: 0.5, maxDetections: 1000 },
          file: MODEL,
        },
      ]),
    );
  });

  afterAll(async () => {
    await app?.close();
  });

  it.skipIf(prerequisites.skip)('runs the nuclei U-Net on the open 16-bit image and shows one mask per nucleus', { timeout: 180_000 }, async () => {
    prerequisites.assertPresent();
    const { tmp } = app!;
    const { page, pageErrors } = await app!.newPage({ viewport: { width: 1400, height: 900 }, hooks: true });
    const datasetFile = path.join(tmp, 'nuclei.tessera');
    await createDatasetViaUi(page, datasetFile);
    await page.getByTestId('import-open').click();
    await page.getByTestId('import-paths').fill(path.join(tmp, 'imgs'));
    await page.getByTestId('import-start').click();
    await expect.poll(() => page.getByTestId('import-summary').textContent(), { timeout: 30_000 }).toContain('1 imported');
    await page.locator('[data-testid="grid-cell"]').first().click();
    await page.locator('[data-testid="viewer"][data-ready="true"]').waitFor({ timeout: 30_000 });

    await page.getByTestId('class-new-name').fill('nucleus');
    await page.getByTestId('class-add').click();
    await expect.poll(() => page.getByTestId('class-row').count()).toBe(1);
    const classId = Number(await page.getByTestId('class-row').first().getAttribute('data-class-id'));

    await page.getByTestId('model-select').selectOption('unet2d-nuclei');
    await page.getByTestId('classmap').locator('summary').click();
    await page.locator('[data-testid="classmap-row"][data-model-class="nucleus"] select').selectOption(String(classId));

    const drawnBefore = await page.evaluate(() => (globalThis as unknown as HookedWindow).__tesseraCanvas!.stats().shapesDrawn);
    await page.getByTestId('tool-select').focus();
    await page.keyboard.press('Shift+A');
    await expect.poll(async () => Number(await page.getByTestId('prediction-count').getAttribute('data-count')), { timeout: 90_000 }).toBeGreaterThan(1);

    const stored = maskRows(datasetFile);
    const shown = Number(await page.getByTestId('prediction-count').getAttribute('data-count'));
    console.log(`U-Net instances stored: ${stored.length}, shown: ${shown}`);
    // The watershed splits the nuclei into many instances (the image holds 125).
    expect(stored.length).toBeGreaterThan(50);
    expect(shown).toBe(stored.length);
    for (const r of stored) {
      expect(r.class_id).toBe(classId);
      expect(r.score).toBeGreaterThan(0.5);
      const g = JSON.parse(r.geometry) as { kind: string; rle?: { size: number[] } };
      expect(g.kind).toBe('mask');
      expect(g.rle!.size).toEqual([512, 512]);
    }
    // The viewer painted them.
    await expect
      .poll(() => page.evaluate(() => (globalThis as unknown as HookedWindow).__tesseraCanvas!.stats().shapesDrawn), { timeout: 30_000 })
      .toBeGreaterThanOrEqual(drawnBefore + stored.length);
    expect(pageErrors).toEqual([]);
  });
});
