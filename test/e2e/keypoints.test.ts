import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import sharp from 'sharp';
import type { Page } from 'playwright-core';
import { chromiumOrSkip, createDatasetViaUi, startApp, type App, toPage } from '../helpers/browser';

/**
 * Keypoints in the real renderer (browser mode, real services, Chromium): a three-point skeleton
 * defined in the class panel, keypoints placed with the tool (one not visible), the stored
 * object in image pixels, undo, the skeleton on the canvas, and a COCO export with the flags.
 */
const W = 320;
const H = 240;

const prerequisites = chromiumOrSkip('keypoints');

function keypointRows(file: string): { class_id: number; points: number[] }[] {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const all = db.prepare("SELECT class_id, geometry FROM annotations WHERE kind = 'keypoints' ORDER BY id").all() as { class_id: number; geometry: string }[];
    return all.map((r) => ({ class_id: r.class_id, points: (JSON.parse(r.geometry) as { points: number[] }).points }));
  } finally {
    db.close();
  }
}

async function clickAt(page: Page, x: number, y: number, button: 'left' | 'right' = 'left'): Promise<void> {
  const p = await toPage(page, x, y);
  await page.mouse.move(p.x, p.y);
  await page.mouse.down({ button });
  await page.mouse.up({ button });
}

/** The canvas pixel under an image pixel, read back from the rendered page. */
async function pixelAt(page: Page, x: number, y: number): Promise<[number, number, number]> {
  const p = await toPage(page, x, y);
  const shot = await page.screenshot({ clip: { x: Math.round(p.x), y: Math.round(p.y), width: 1, height: 1 } });
  const { data } = await sharp(shot).raw().toBuffer({ resolveWithObject: true });
  return [data[0]!, data[1]!, data[2]!];
}

describe('keypoints in the browser', () => {
  let app: App | null = null;

  beforeAll(async () => {
    app = await startApp({ tmpPrefix: 'tessera-keypoints-e2e-' });
    fs.mkdirSync(path.join(app.tmp, 'imgs'));
    await sharp({ create: { width: W, height: H, channels: 3, background: { r: 30, g: 30, b: 30 } } })
      .png()
      .toFile(path.join(app.tmp, 'imgs', 'pose.png'));
  });

  afterAll(async () => {
    await app?.close();
  });

  it.skipIf(prerequisites.skip)('defines a skeleton, places keypoints (one not visible), undoes, and exports them to COCO with their flags', async () => {
    prerequisites.assertPresent();
    const { tmp } = app!;
    const { page, pageErrors } = await app!.newPage({ viewport: { width: 1400, height: 900 }, hooks: true });
    const datasetFile = path.join(tmp, 'pose.tessera');
    await createDatasetViaUi(page, datasetFile);
    await page.getByTestId('import-open').click();
    await page.getByTestId('import-paths').fill(path.join(tmp, 'imgs'));
    await page.getByTestId('import-start').click();
    await expect.poll(() => page.getByTestId('import-summary').textContent(), { timeout: 30_000 }).toContain('1 imported');
    await page.getByTestId('grid-cell').first().click();
    await page.locator('[data-testid="viewer"][data-ready="true"]').waitFor({ timeout: 30_000 });

    await page.getByTestId('class-new-name').fill('animal');
    await page.getByTestId('class-add').click();
    await expect.poll(() => page.getByTestId('class-row').count()).toBe(1);

    // Without a schema the tool says why.
    await page.getByTestId('tool-select').focus();
    await page.keyboard.press('k');
    await expect.poll(() => page.getByTestId('viewer').getAttribute('data-tool')).toBe('keypoints');
    await expect.poll(() => page.getByTestId('keypoints-prompt').textContent()).toContain('has no keypoints');

    // A three-point skeleton from the class panel: names one per line, edges by name and by number.
    await page.getByTestId('class-keypoints').click();
    await page.getByTestId('keypoint-names').fill('head\nneck\ntail');
    await page.getByTestId('keypoint-edges').fill('head-neck\n2-3');
    await page.getByTestId('keypoint-save').click();
    await page.getByTestId('keypoint-editor').waitFor({ state: 'detached' });
    await expect.poll(() => page.getByTestId('keypoints-prompt').textContent()).toContain('head (1/3)');

    // head visible, neck not visible (right click), tail visible: the last one stores the object.
    await clickAt(page, 60.5, 50.25);
    await expect.poll(() => page.getByTestId('keypoints-prompt').textContent()).toContain('neck (2/3)');
    await clickAt(page, 150, 120, 'right');
    await clickAt(page, 250, 200);
    await expect.poll(() => keypointRows(datasetFile).length, { timeout: 10_000 }).toBe(1);
    const [row] = keypointRows(datasetFile);
    // Clicks land on the image pixels asked for, to the quantisation of the editor (1/100 px).
    const expected = [60.5, 50.25, 2, 150, 120, 1, 250, 200, 2];
    row!.points.forEach((v, i) => expect(Math.abs(v - expected[i]!), `value ${i}`).toBeLessThanOrEqual(i % 3 === 2 ? 0 : 0.02));

    // The skeleton is drawn: the middle of the head-neck edge is no longer the dark background.
    await page.keyboard.press('v');
    await page.mouse.move(5, 5);
    await expect.poll(async () => (await pixelAt(page, 105.25, 85.125)).some((c) => c > 80)).toBe(true);
    // ...while a place off the points and edges stays background.
    expect((await pixelAt(page, 200, 80)).every((c) => c < 60)).toBe(true);
    await page.screenshot({ path: path.join(os.tmpdir(), 'tessera-keypoints.png') });

    // Undo removes the object; redo brings it back for the export.
    await page.keyboard.press('Control+z');
    await expect.poll(() => keypointRows(datasetFile).length).toBe(0);
    await page.keyboard.press('Control+Shift+z');
    await expect.poll(() => keypointRows(datasetFile).length).toBe(1);

    // COCO export from the grid.
    await page.getByTestId('viewer-back').click();
    await page.getByTestId('export-open').click();
    const outDir = path.join(tmp, 'coco-out');
    await page.getByTestId('export-format').selectOption('coco');
    await page.getByTestId('export-outdir').fill(outDir);
    await page.getByTestId('export-start').click();
    await page.getByTestId('export-summary').waitFor({ timeout: 60_000 });
    const coco = JSON.parse(fs.readFileSync(path.join(outDir, 'annotations', 'instances_default.json'), 'utf8')) as {
      categories: { name: string; keypoints: string[]; skeleton: number[][] }[];
      annotations: { keypoints: number[]; num_keypoints: number; bbox: number[] }[];
    };
    expect(coco.categories).toEqual([{ id: 1, name: 'animal', supercategory: '', keypoints: ['head', 'neck', 'tail'], skeleton: [[1, 2], [2, 3]] }]);
    expect(coco.annotations).toHaveLength(1);
    expect(coco.annotations[0]!.keypoints).toEqual(keypointRows(datasetFile)[0]!.points);
    expect(coco.annotations[0]!.keypoints.filter((_, i) => i % 3 === 2)).toEqual([2, 1, 2]);
    expect(coco.annotations[0]!.num_keypoints).toBe(3);
    expect(pageErrors).toEqual([]);
  }, 180_000);
});
