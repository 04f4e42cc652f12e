import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { recipeSchema } from '../../src-main/common/augment/recipe';
import { insertAnnotations } from '../../src-main/db/annotations';
import { insertClass } from '../../src-main/db/classes';
import { setSplits } from '../../src-main/db/export';
import { Dataset } from '../../src-main/services/dataset';
import { importImages } from '../../src-main/services/importer';
import { chromiumOrSkip, startApp, type App } from '../helpers/browser';
import { sharedDir } from '../helpers/shared';

/**
 * Augmentation at export through the real renderer in browser mode: in the export panel a flip
 * and a rotation are enabled, the preview shows augmented samples of the train images with their
 * objects outlined, and the export writes the augmented copies.
 */
const IMAGES_DIR = path.join(sharedDir, 'datasets/bccd_voc/JPEGImages');
const prerequisites = chromiumOrSkip('augment', [{ path: IMAGES_DIR, what: 'BCCD images' }]);

describe('augmentation in the export panel', () => {
  let app: App | null = null;

  beforeAll(async () => {
    app = await startApp({ tmpPrefix: 'tessera-augment-e2e-' });
  });

  afterAll(async () => {
    await app?.close();
  });

  it.skipIf(prerequisites.skip)('enable a flip and a rotation, preview samples with outlines, export', { timeout: 240_000 }, async () => {
    prerequisites.assertPresent();
    const { tmp } = app!;
    const imgs = path.join(tmp, 'imgs');
    fs.mkdirSync(imgs, { recursive: true });
    const names = fs.readdirSync(IMAGES_DIR).filter((n) => n.endsWith('.jpg')).sort().slice(0, 4);
    for (const n of names) fs.copyFileSync(path.join(IMAGES_DIR, n), path.join(imgs, n));
    const file = path.join(tmp, 'aug.tessera');
    const ds = await Dataset.create(file, tmp);
    try {
      await importImages(ds, { paths: [imgs] });
      const cls = (await insertClass(ds.db, { name: 'cell', color: '#00c0ff' })).id;
      const ids = await ds.db.prepare('SELECT id FROM images ORDER BY id').pluck().all() as number[];
      for (const id of ids) {
        await insertAnnotations(ds.db, [
          { imageId: id, classId: cls, geometry: { kind: 'box', x: 100, y: 80, w: 120, h: 90 }, source: 'human' },
          { imageId: id, classId: cls, geometry: { kind: 'polygon', parts: [[300, 200, 420, 220, 380, 330]] }, source: 'human' },
        ]);
      }
      // Three train images and one val image.
      await setSplits(ds.db, ids.map((id, i) => [id, i < 3 ? 'train' : 'val'] as const));
    } finally {
      await ds.close();
    }

    const { page, pageErrors } = await app!.newPage({ viewport: { width: 1500, height: 1000 } });
    await page.getByTestId('open-dataset-path').fill(file);
    await page.getByTestId('open-dataset').click();
    await page.getByTestId('export-open').click();

    await page.getByTestId('augment-enabled').check();
    await page.getByTestId('augment-outputs').fill('3');
    await page.getByTestId('augment-seed').fill('5');
    await page.getByTestId('augment-step-flip-enabled').check();
    await page.getByTestId('augment-step-flip-horizontal').fill('1');
    await page.getByTestId('augment-step-rotate-enabled').check();
    await page.getByTestId('augment-step-rotate-p').fill('1');
    await page.getByTestId('augment-step-rotate-degrees-min').fill('-20');
    await page.getByTestId('augment-step-rotate-degrees-max').fill('20');

    await page.getByTestId('augment-preview').click();
    const samples = page.getByTestId('augment-sample');
    // Three train images, each as it is and with four augmented samples.
    await expect.poll(() => samples.count(), { timeout: 60_000 }).toBe(15);
    expect(await page.getByTestId('augment-preview-error').count()).toBe(0);
    const augmented = page.locator('[data-testid="augment-sample"]:not([data-index="0"])');
    expect(await augmented.count()).toBe(12);
    // Every sample shows its two objects outlined; the augmented ones say what was applied.
    for (let i = 0; i < 15; i++) expect(await samples.nth(i).getByTestId('augment-outline').count()).toBe(2);
    const caption = await augmented.first().locator('figcaption').textContent();
    expect(caption).toMatch(/flip/i);
    expect(caption).toMatch(/rotate/i);
    // The sample is an image with an outline drawn over it.
    const img = augmented.first().locator('img');
    expect(await img.evaluate((el) => (el as unknown as { naturalWidth: number }).naturalWidth)).toBeGreaterThan(0);
    await page.getByTestId('augment-preview-grid').screenshot({ path: path.join(os.tmpdir(), 'tessera-augment-preview.png') });
    const d = await augmented.first().getByTestId('augment-outline').first().getAttribute('d');
    expect(d).toMatch(/^M[\d.-]+ [\d.-]+L/);

    // Save recipe: the panel's settings as a recipe file, which the schema reads back.
    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('augment-save').click()]);
    const saved = recipeSchema.parse(JSON.parse(fs.readFileSync((await download.path())!, 'utf8')));
    expect(saved.augment?.outputs).toBe(3);
    expect(saved.augment?.seed).toBe(5);
    expect(saved.augment?.steps).toEqual([
      { op: 'flip', horizontal: 1, vertical: 0 },
      { op: 'rotate', p: 1, degrees: [-20, 20], fill: 0 },
    ]);
    // Load recipe: a bad one is refused naming the file and the JSON path.
    const bad = path.join(tmp, 'bad-recipe.json');
    fs.writeFileSync(bad, JSON.stringify({ recipe: 1, format: 'yolo', augment: { outputs: 2, seed: 1, steps: [{ op: 'rotate', p: 3, degrees: [0, 5] }] } }));
    await page.getByTestId('augment-load-file').setInputFiles(bad);
    await expect.poll(() => page.getByTestId('augment-recipe-error').textContent()).toMatch(/bad-recipe\.json: invalid recipe: augment\.steps\[0\]\.p:/);
    // The settings are kept.
    expect(await page.getByTestId('augment-outputs').inputValue()).toBe('3');

    const outDir = path.join(tmp, 'yolo-aug');
    await page.getByTestId('export-format').selectOption('yolo');
    await page.getByTestId('export-outdir').fill(outDir);
    await page.getByTestId('export-start').click();
    const exported = page.getByTestId('export-summary');
    await exported.waitFor({ timeout: 120_000 });
    expect(await exported.getByTestId('export-summary-images').textContent()).toBe('13 images');
    const train = fs.readdirSync(path.join(outDir, 'images/train')).sort();
    expect(train).toHaveLength(12);
    expect(train.filter((f) => /_aug[123]\.jpg$/.test(f))).toHaveLength(9);
    expect(fs.readdirSync(path.join(outDir, 'images/val'))).toHaveLength(1);
    expect(pageErrors).toEqual([]);
  });
});
