import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { Page } from 'playwright-core';
import { physicalCores } from '../../src-main/inference/threads';
import { chromiumOrSkip, startApp, type App } from '../helpers/browser';
import { sharedDir } from '../helpers/shared';
import { newWorkspace, ok } from '../helpers/workspace';
import { yolov8nInt8Manifest } from '../helpers/models';

/**
 * onnxruntime's thread settings in the Model panel: no spinning by default, threads and spinning
 * set under Execution providers reach the run record, and are remembered on this computer.
 */
const IMAGES_DIR = path.join(sharedDir, 'datasets', 'coco_tinycoco', 'images', 'train2017');
const MODEL = path.join(sharedDir, 'models', 'yolov8n_int8.onnx');
const KITCHEN = '000000397133.jpg';

const prerequisites = chromiumOrSkip('threads', [
  { path: path.join(IMAGES_DIR, KITCHEN), what: 'the coco_tinycoco images' },
  { path: MODEL, what: 'the yolov8n_int8 test model' },
]);

function runParameters(file: string): Record<string, unknown>[] {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return (db.prepare('SELECT parameters FROM model_runs ORDER BY id').pluck().all() as string[]).map((p) => JSON.parse(p) as Record<string, unknown>);
  } finally {
    db.close();
  }
}

/** Opens the dataset (unless a reload kept it open) and its one image. */
async function openImage(page: Page, datasetFile: string | null): Promise<void> {
  if (datasetFile) {
    await page.getByTestId('open-dataset-path').fill(datasetFile);
    await page.getByTestId('open-dataset').click();
  }
  await page.getByTestId('grid').waitFor();
  await page.getByTestId('grid-cell').first().click();
  await page.locator('[data-testid="viewer"][data-ready="true"]').waitFor({ timeout: 30_000 });
  await expect.poll(() => page.getByTestId('model-select').inputValue(), { timeout: 30_000 }).not.toBe('');
}

describe('thread settings in the browser', () => {
  let app: App | null = null;

  beforeAll(async () => {
    app = await startApp({ tmpPrefix: 'tessera-threads-e2e-' });
  });

  afterAll(async () => {
    await app?.close();
  });

  it.skipIf(prerequisites.skip)('runs without spinning by default, records the threads and spinning set in the panel, and remembers them', { timeout: 180_000 }, async () => {
    prerequisites.assertPresent();
    const datasetFile = path.join(app!.tmp, 'kitchen.tessera');
    // The dataset and the model, prepared by the same user over the app's settings folder.
    const ws = newWorkspace(app!.configDir);
    await ok(ws, 'dataset:create', { path: datasetFile, root: IMAGES_DIR });
    await ok(ws, 'images:import', { jobId: 'imp', paths: [path.join(IMAGES_DIR, KITCHEN)] });
    const { file: _f, ...manifest } = yolov8nInt8Manifest(MODEL);
    await ok(ws, 'models:add', { file: MODEL, manifest: manifest as Record<string, unknown> });
    await ws.close();

    const { page, pageErrors } = await app!.newPage({ viewport: { width: 1500, height: 950 } });
    await openImage(page, datasetFile);
    await page.getByTestId('provider-settings').locator('summary').click();
    expect(await page.getByTestId('thread-count').inputValue()).toBe('');
    expect(await page.getByTestId('thread-spinning').isChecked()).toBe(false);

    await page.getByTestId('prelabel-image').click();
    await expect.poll(() => runParameters(datasetFile).length, { timeout: 60_000 }).toBe(1);
    await page.getByTestId('model-provider').waitFor({ timeout: 60_000 });
    expect(runParameters(datasetFile)[0]).toMatchObject({ threads: physicalCores(), spinning: false });

    await page.getByTestId('thread-count').fill('1');
    await page.getByTestId('thread-count').press('Enter');
    await page.getByTestId('thread-spinning').check();
    await expect.poll(() => page.getByTestId('prelabel-image').isEnabled(), { timeout: 30_000 }).toBe(true);
    await page.getByTestId('prelabel-image').click();
    await expect.poll(() => runParameters(datasetFile).length, { timeout: 60_000 }).toBe(2);
    await expect.poll(() => runParameters(datasetFile)[1], { timeout: 60_000 }).toMatchObject({ threads: 1, spinning: true });

    // Remembered on this computer: a reload (back on the image that was open) shows them again.
    await page.reload();
    await page.locator('[data-testid="viewer"][data-ready="true"]').waitFor({ timeout: 30_000 });
    await expect.poll(() => page.getByTestId('model-select').inputValue(), { timeout: 30_000 }).not.toBe('');
    await page.getByTestId('provider-settings').locator('summary').click();
    expect(await page.getByTestId('thread-count').inputValue()).toBe('1');
    expect(await page.getByTestId('thread-spinning').isChecked()).toBe(true);
    expect(pageErrors).toEqual([]);
  });
});
