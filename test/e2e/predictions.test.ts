import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { runCli } from '../../src-main/cli/main';
import type { Geometry } from '../../src-main/common/model';
import { insertAnnotations } from '../../src-main/db/annotations';
import { insertClass } from '../../src-main/db/classes';
import { finishModelRun, insertModelRun } from '../../src-main/db/modelRuns';
import { addRunImages } from '../../src-main/db/prelabel';
import { Dataset } from '../../src-main/services/dataset';
import { chromiumOrSkip, startApp, type App } from '../helpers/browser';
import { yolov8nInt8Manifest } from '../helpers/models';
import { sharedDir } from '../helpers/shared';

/**
 * Reviewing predictions of several runs in the real renderer: Shift+Y over the predictions of two
 * runs adds each object once and is one undo step; a resumed run's outcome is worded for what it
 * did; and another dataset opened next shows none of it.
 */
const IMAGES_DIR = path.join(sharedDir, 'datasets', 'coco_tinycoco', 'images', 'train2017');
const MODEL = path.join(sharedDir, 'models', 'yolov8n_int8.onnx');
const KITCHEN = '000000397133.jpg';
const OTHER = '000000184791.jpg';

const prerequisites = chromiumOrSkip('predictions', [
  { path: path.join(IMAGES_DIR, KITCHEN), what: 'the coco_tinycoco images' },
  { path: MODEL, what: 'the yolov8n_int8 test model' },
]);

async function cli(...argv: string[]): Promise<void> {
  const err: string[] = [];
  const code = await runCli(argv, { out: () => {}, err: (s) => err.push(s), tty: false });
  if (code !== 0) throw new Error(`tessera ${argv.join(' ')} failed (${code}): ${err.join('\n')}`);
}

interface Row {
  id: number;
  source: string;
  class_id: number | null;
  geometry: string;
}

function rowsOf(file: string, imageId: number): Row[] {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return db.prepare('SELECT id, source, class_id, geometry FROM annotations WHERE image_id = ? ORDER BY id').all(imageId) as Row[];
  } finally {
    db.close();
  }
}

const box = (x: number, y: number, w: number, h: number): Geometry => ({ kind: 'box', x, y, w, h });

describe('reviewing predictions of several runs in the browser', () => {
  let app: App | null = null;

  beforeAll(async () => {
    app = await startApp({ tmpPrefix: 'tessera-predictions-e2e-' });
  });

  afterAll(async () => {
    await app?.close();
  });

  it.skipIf(prerequisites.skip)('Shift+Y over two runs adds each object once in one undo step; the run outcome stays with its dataset', { timeout: 180_000 }, async () => {
    prerequisites.assertPresent();
    const { tmp } = app!;
    const imgs = path.join(tmp, 'imgs');
    fs.mkdirSync(imgs, { recursive: true });
    for (const f of [KITCHEN, OTHER]) fs.copyFileSync(path.join(IMAGES_DIR, f), path.join(imgs, f));
    const fileA = path.join(tmp, 'a.tessera');
    const fileB = path.join(tmp, 'b.tessera');
    for (const f of [fileA, fileB]) {
      await cli('init', f, '--root', imgs);
      await cli('import', f, imgs);
    }

    // Dataset A: on OTHER a human box, and two runs that both found it (a pixel off) and one new
    // object (identically); on KITCHEN a cancelled pre-labeling run waiting to be resumed.
    const ds = await Dataset.open(fileA);
    let other = 0;
    let resumable = 0;
    try {
      const db = ds.db;
      const idOf = async (name: string) => await db.prepare('SELECT id FROM images WHERE path LIKE ?').pluck().get(`%${name}`) as number;
      other = await idOf(OTHER);
      const person = (await insertClass(db, { name: 'person', color: '#e6194b' })).id;
      await insertAnnotations(db, [{ imageId: other, classId: person, geometry: box(100, 100, 80, 80), source: 'human' }]);
      for (const name of ['first', 'second']) {
        const run = await insertModelRun(db, { model: 'seeded', name });
        await insertAnnotations(db, [
          { imageId: other, classId: person, geometry: box(101, 100, 80, 80), source: 'model', modelRunId: run, score: 0.9 },
          { imageId: other, classId: person, geometry: box(300, 100, 60, 60), source: 'model', modelRunId: run, score: 0.8 },
        ]);
        await finishModelRun(db, run, 'done');
      }
      const manifest = yolov8nInt8Manifest(MODEL);
      resumable = await insertModelRun(db, {
        model: manifest.id,
        name: manifest.name,
        parameters: { manifest, modelFile: MODEL, conf: 0.25, iou: 0.45, size: manifest.size, skipLabeled: false, providers: null, classes: {}, tiling: null },
      });
      await addRunImages(db, resumable, [await idOf(KITCHEN)]);
      await finishModelRun(db, resumable, 'cancelled');
    } finally {
      await ds.close();
    }

    const { page, pageErrors } = await app!.newPage({ viewport: { width: 1500, height: 950 }, hooks: true });
    await page.getByTestId('open-dataset-path').fill(fileA);
    await page.getByTestId('open-dataset').click();
    await page.locator(`[data-testid="grid-cell"][data-image-id="${other}"]`).click();
    await page.locator(`[data-testid="viewer"][data-ready="true"][data-image-id="${other}"]`).waitFor({ timeout: 30_000 });
    await expect.poll(async () => Number(await page.getByTestId('prediction-count').getAttribute('data-count'))).toBe(4);

    // Accept everything shown: the human box stays alone, the new object is added once.
    await page.getByTestId('tool-select').focus();
    await page.keyboard.press('Shift+Y');
    await expect.poll(() => rowsOf(fileA, other).filter((r) => r.source === 'model').length).toBe(0);
    const humans = rowsOf(fileA, other).filter((r) => r.source === 'human');
    expect(humans.map((r) => JSON.parse(r.geometry) as Geometry)).toEqual([box(100, 100, 80, 80), box(300, 100, 60, 60)]);
    expect(new Set(humans.map((r) => `${r.class_id} ${r.geometry}`)).size).toBe(humans.length);

    // One undo takes the whole accept back: both runs' predictions, none left accepted.
    await expect.poll(() => page.getByTestId('action-undo').getAttribute('title')).toMatch(/^Undo Accept 4 predictions/);
    await page.getByTestId('tool-select').focus();
    await page.keyboard.press('Control+z');
    await expect.poll(() => rowsOf(fileA, other).filter((r) => r.source === 'model').length).toBe(4);
    expect(rowsOf(fileA, other).filter((r) => r.source === 'human')).toHaveLength(1);
    await expect.poll(async () => Number(await page.getByTestId('prediction-count').getAttribute('data-count'))).toBe(4);

    // Resume the cancelled run: its summary says what it did, in the singular for one image.
    await page.locator(`[data-testid="prelabel-unfinished-row"][data-run-id="${resumable}"] [data-testid="prelabel-resume"]`).click();
    await expect.poll(() => page.getByTestId('prelabel-summary').textContent(), { timeout: 90_000 }).toMatch(/^Pre-labeled 1 image: \d+ predictions?(;|$)/);
    expect(await page.getByTestId('prelabel-summary').textContent()).not.toContain('1 images');
    await expect.poll(() => page.getByTestId('prediction-accept-run').textContent()).toContain(`#${resumable}`);

    // Another dataset has no runs: none of A's is offered there.
    await page.getByTestId('close-dataset').click();
    await page.getByTestId('open-dataset-path').fill(fileB);
    await page.getByTestId('open-dataset').click();
    await page.getByTestId('grid-cell').first().click();
    await page.locator('[data-testid="viewer"][data-ready="true"]').waitFor({ timeout: 30_000 });
    await page.getByTestId('prediction-count').waitFor();
    expect(await page.getByTestId('prediction-accept-run').count()).toBe(0);
    expect(await page.getByTestId('prelabel-summary').count()).toBe(0);
    expect(await page.getByTestId('prelabel-unfinished-row').count()).toBe(0);
    expect(pageErrors).toEqual([]);
  });
});
