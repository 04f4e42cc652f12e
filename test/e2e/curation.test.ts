import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { mulberry32 } from '../../src-main/common/random';
import { insertAnnotations } from '../../src-main/db/annotations';
import { insertClass } from '../../src-main/db/classes';
import { ensureEmbeddingModel, putEmbeddings } from '../../src-main/db/embeddings';
import { listImages } from '../../src-main/db/images';
import { buildQueue } from '../../src-main/services/activeLearning';
import { Dataset } from '../../src-main/services/dataset';
import { chromiumOrSkip, createDatasetViaUi, startApp, type App } from '../helpers/browser';
import { gaussian } from '../helpers/curation';

/**
 * Curation in the real renderer: the classifier trained from Curate shows its held-out accuracy
 * and confusion matrix and tags the rest as a run; the queue of what to label next is built from
 * that run, "Next in queue" (button and Alt+N) walks it in the viewer until it is exhausted, and
 * "Show in grid" lists it in its order.
 * The vectors are synthetic (two clusters), stored beside the app through the dataset's own store.
 */
const prerequisites = chromiumOrSkip('curation');

/** The class names of an image's human tags, read from the dataset file. */
async function humanTags(file: string, imageId: number): Promise<string[]> {
  const ds = await Dataset.open(file);
  try {
    return await ds.db
      .prepare("SELECT c.name FROM annotations a JOIN classes c ON c.id = a.class_id WHERE a.image_id = ? AND a.kind = 'tag' AND a.source = 'human' ORDER BY c.name")
      .pluck()
      .all(imageId) as string[];
  } finally {
    await ds.close();
  }
}
const N = 30;

describe('curation in the browser', () => {
  let app: App | null = null;

  beforeAll(async () => {
    app = await startApp({ tmpPrefix: 'tessera-curation-e2e-' });
    const imgs = path.join(app.tmp, 'imgs');
    fs.mkdirSync(imgs, { recursive: true });
    for (let i = 0; i < N; i++) {
      await sharp({ create: { width: 24, height: 24, channels: 3, background: { r: (i * 8) % 256, g: 90, b: 200 - i * 5 } } })
        .png()
        .toFile(path.join(imgs, `img${String(i).padStart(2, '0')}.png`));
    }
  });

  afterAll(async () => {
    await app?.close();
  });

  it.skipIf(prerequisites.skip)('trains the classifier from Curate (accuracy, baseline, confusion matrix, a run of tags) and walks the queue with Next in the viewer', { timeout: 180_000 }, async () => {
    prerequisites.assertPresent();
    const { tmp } = app!;
    const { page, pageErrors } = await app!.newPage({ viewport: { width: 1500, height: 950 } });
    const file = path.join(tmp, 'c.tessera');
    await createDatasetViaUi(page, file);
    await page.getByTestId('import-open').click();
    await page.getByTestId('import-paths').fill(path.join(tmp, 'imgs'));
    await page.getByTestId('import-start').click();
    await expect.poll(() => page.getByTestId('import-summary').textContent(), { timeout: 30_000 }).toContain(`${N} imported`);

    // Tags and vectors written to the same file through the dataset's own store: images 0-23
    // tagged (even: cat, odd: dog), 24-29 untagged; vectors in two clusters by the same parity.
    const ds = await Dataset.open(file);
    const ids = (await listImages(ds.db, {}, 0, 1000)).map((i) => i.id);
    try {
      const cat = (await insertClass(ds.db, { name: 'cat', color: '#ff0000' })).id;
      const dog = (await insertClass(ds.db, { name: 'dog', color: '#00ff00' })).id;
      await insertAnnotations(ds.db, ids.slice(0, 24).map((imageId, i) => ({ imageId, classId: i % 2 ? dog : cat, geometry: { kind: 'tag' as const }, source: 'human' as const })));
      const model = await ensureEmbeddingModel(ds.db, { key: 'synthetic', name: 'Synthetic', dim: 8, dtype: 'f32', normalized: false });
      const rng = mulberry32(2);
      const hashes = await ds.db.prepare('SELECT id, content_hash FROM images').all() as { id: number; content_hash: string }[];
      const hashOf = new Map(hashes.map((h) => [h.id, h.content_hash]));
      await putEmbeddings(
        ds.db,
        model,
        ids.map((imageId, i) => ({ imageId, contentHash: hashOf.get(imageId)!, vector: Array.from({ length: 8 }, (_, j) => (j === 0 ? (i % 2 ? 2 : -2) : 0) + 0.4 * gaussian(rng)) })),
      );
    } finally {
      await ds.close();
    }
    expect(ids).toHaveLength(N);
    // The page loaded again (the dataset stays open), so the app reads the classes written beside it.
    await page.reload();
    await page.getByTestId('curate-open').waitFor();

    await page.getByTestId('curate-open').click();
    await page.getByTestId('clf-section').waitFor();
    await expect.poll(() => page.getByTestId('clf-model').locator('option').count()).toBe(1);
    await page.getByTestId('clf-train').click();
    await page.getByTestId('clf-accuracy').waitFor({ timeout: 60_000 });
    const accuracy = Number(await page.getByTestId('clf-accuracy').getAttribute('data-value'));
    const baseline = Number(await page.getByTestId('clf-baseline').getAttribute('data-value'));
    console.log(`classifier from Curate: accuracy ${accuracy} vs baseline ${baseline}`);
    expect(accuracy).toBe(1);
    expect(baseline).toBe(0.5);
    // 2 x 2 cells, their counts the held-out images (20 % of 12 per class: 2 + 2), all on the diagonal.
    const cells = page.getByTestId('clf-confusion').getByTestId('confusion-cell');
    expect(await cells.count()).toBe(4);
    const counts = await cells.evaluateAll((els) => els.map((e) => ({ row: e.getAttribute('data-row'), col: e.getAttribute('data-col'), n: Number(e.getAttribute('data-count')) })));
    expect(counts.reduce((s, c) => s + c.n, 0)).toBe(4);
    expect(counts.filter((c) => c.row !== c.col).every((c) => c.n === 0)).toBe(true);

    await page.getByTestId('clf-predict').click();
    await page.getByTestId('clf-run').waitFor({ timeout: 30_000 });
    const runId = Number(await page.getByTestId('clf-run').getAttribute('data-run-id'));
    const check = await Dataset.open(file);
    let expected: number[];
    try {
      const tagged = await check.db.prepare("SELECT DISTINCT image_id FROM annotations WHERE model_run_id = ? AND source = 'model' AND kind = 'tag'").pluck().all(runId) as number[];
      expect(tagged.sort((a, b) => a - b)).toEqual(ids.slice(24));
      expected = (await buildQueue(check.db, { strategy: 'uncertainty', limit: 3 })).ids;
    } finally {
      await check.close();
    }

    // What to label next: uncertainty of that run over the 6 untagged images, at most 3.
    await page.getByTestId('next-strategy').selectOption('uncertainty');
    await page.getByTestId('next-limit').fill('3');
    await page.getByTestId('next-build').click();
    await expect.poll(() => page.getByTestId('next-size').getAttribute('data-count')).toBe('3');

    // The viewer, on an image outside the queue: Next goes to the queue's first image, then on.
    await page.getByTestId('curate-close').click();
    await page.getByTestId('grid-cell').first().click();
    await page.locator('[data-testid="viewer"][data-ready="true"]').waitFor({ timeout: 30_000 });
    expect(await page.getByTestId('next-in-viewer').getAttribute('data-position')).toBe('0');
    await page.getByTestId('next-in-viewer').click();
    await expect.poll(() => page.getByTestId('viewer').getAttribute('data-image-id')).toBe(String(expected[0]));
    expect(await page.getByTestId('next-in-viewer').getAttribute('data-position')).toBe('1');
    // The classifier's tags are reviewed like any run's: the best is the image's class; accepting it makes it a human tag.
    await expect.poll(() => page.getByTestId('tag-prediction').count(), { timeout: 30_000 }).toBeGreaterThan(0);
    const truth = ids.indexOf(expected[0]!) % 2 ? 'dog' : 'cat';
    expect(await page.getByTestId('tag-prediction').first().getAttribute('data-class')).toBe(truth);
    await page.getByTestId('tag-prediction').first().getByTestId('tag-accept').click();
    await expect.poll(async () => await humanTags(file, expected[0]!)).toEqual([truth]);
    await page.locator('[data-testid="viewer"][data-ready="true"]').waitFor({ timeout: 30_000 });
    await page.keyboard.press('Alt+n');
    await expect.poll(() => page.getByTestId('viewer').getAttribute('data-image-id')).toBe(String(expected[1]));
    await page.keyboard.press('Alt+n');
    await expect.poll(() => page.getByTestId('viewer').getAttribute('data-image-id')).toBe(String(expected[2]));
    expect(await page.getByTestId('next-in-viewer').textContent()).toContain('3/3');
    await page.keyboard.press('Alt+n');
    await expect.poll(() => page.getByTestId('status-line').textContent()).toContain('The queue is exhausted');
    expect(await page.getByTestId('viewer').getAttribute('data-image-id')).toBe(String(expected[2]));

    // Show in grid: the queue's images, in its order.
    await page.getByTestId('viewer-back').click();
    await page.getByTestId('curate-open').click();
    await expect.poll(() => page.getByTestId('next-size').getAttribute('data-count')).toBe('3');
    await page.getByTestId('next-show').click();
    await expect.poll(() => page.getByTestId('grid-cell').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-image-id')))), { timeout: 30_000 }).toEqual(expected);
    expect(pageErrors).toEqual([]);
  });
});
