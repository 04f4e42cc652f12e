import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { Page } from 'playwright-core';
import type { Geometry } from '../../src-main/common/model';
import { chromiumOrSkip, createDatasetViaUi, startApp, type App, toPage } from '../helpers/browser';
import { sharedDir } from '../helpers/shared';

/**
 * Model-assisted labeling in the real renderer: add a real ONNX model through the custom-model
 * dialog, pre-label a COCO image, review its predictions with the keys (accept, reject, edit then
 * accept), and check the rows.
 */
const IMAGES_DIR = path.join(sharedDir, 'datasets', 'coco_tinycoco', 'images', 'train2017');
const MODEL = path.join(sharedDir, 'models', 'yolov8n_int8.onnx');
const KITCHEN = '000000397133.jpg';
const OTHER = '000000184791.jpg'; // bowls and oranges, both mapped below

const prerequisites = chromiumOrSkip('prelabel', [
  { path: path.join(IMAGES_DIR, KITCHEN), what: 'the coco_tinycoco images' },
  { path: MODEL, what: 'the yolov8n_int8 test model' },
]);

interface Row {
  id: number;
  image_id: number;
  class_id: number | null;
  source: string;
  score: number | null;
  model_run_id: number | null;
  geometry: string;
  version: number;
}

function rows(file: string): Row[] {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return db.prepare('SELECT id, image_id, class_id, source, score, model_run_id, geometry, version FROM annotations ORDER BY id').all() as Row[];
  } finally {
    db.close();
  }
}

function imageIdOf(file: string, name: string): number {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return (db.prepare('SELECT id FROM images WHERE path LIKE ?').get(`%${name}`) as { id: number }).id;
  } finally {
    db.close();
  }
}


async function clickAt(page: Page, x: number, y: number): Promise<void> {
  const p = await toPage(page, x, y);
  await page.mouse.move(p.x, p.y);
  await page.mouse.down();
  await page.mouse.up();
}

async function dragImage(page: Page, from: [number, number], to: [number, number]): Promise<void> {
  const a = await toPage(page, from[0], from[1]);
  const b = await toPage(page, to[0], to[1]);
  await page.mouse.move(a.x, a.y);
  await page.mouse.down();
  await page.mouse.move(b.x, b.y, { steps: 8 });
  await page.mouse.up();
}

type Box = { x: number; y: number; w: number; h: number };

function boxOf(g: Geometry): Box | null {
  return g.kind === 'box' ? g : null;
}

const inside = (b: Box, x: number, y: number): boolean => x >= b.x - 8 && x <= b.x + b.w + 8 && y >= b.y - 8 && y <= b.y + b.h + 8;

/** A point in `target` clear of every other shape (with a margin for edge hits), so a click selects it alone. */
function clearPoint(target: Box, others: Box[]): { x: number; y: number } | null {
  for (let fy = 0.5; fy < 1; fy += 0.1) {
    for (const fx of [0.5, 0.3, 0.7, 0.15, 0.85]) {
      for (const sy of [fy, 1 - fy]) {
        const x = target.x + target.w * fx;
        const y = target.y + target.h * sy;
        if (!others.some((o) => inside(o, x, y))) return { x, y };
      }
    }
  }
  return null;
}

/** Picks a prediction that can be clicked on its own and clicks it; the panel must show its score. */
async function selectPrediction(page: Page, all: Row[], exclude: Set<number>): Promise<Row> {
  const shapes = all.map((r) => ({ r, b: boxOf(JSON.parse(r.geometry) as Geometry) }));
  const candidates = shapes.filter((s) => s.r.source === 'model' && s.b && !exclude.has(s.r.id)).sort((a, b) => b.r.score! - a.r.score!);
  for (const c of candidates) {
    const p = clearPoint(
      c.b!,
      shapes.filter((s) => s.r.id !== c.r.id && s.b).map((s) => s.b!),
    );
    if (!p) continue;
    await clickAt(page, p.x, p.y);
    await expect.poll(() => page.getByTestId('prediction-score').getAttribute('data-score')).toBe(String(c.r.score));
    return c.r;
  }
  throw new Error(`no prediction can be clicked alone among ${candidates.length}`);
}

describe('pre-labeling and review in the browser', () => {
  let app: App | null = null;

  beforeAll(async () => {
    app = await startApp({ tmpPrefix: 'tessera-prelabel-e2e-' });
    const imgs = path.join(app.tmp, 'imgs');
    fs.mkdirSync(imgs, { recursive: true });
    for (const f of [KITCHEN, OTHER]) if (fs.existsSync(path.join(IMAGES_DIR, f))) fs.copyFileSync(path.join(IMAGES_DIR, f), path.join(imgs, f));
  });

  afterAll(async () => {
    await app?.close();
  });

  it.skipIf(prerequisites.skip)('adds a custom model, pre-labels an image, accepts one prediction, rejects one, edits one and accepts it', { timeout: 180_000 }, async () => {
    prerequisites.assertPresent();
    const { tmp } = app!;
    const { page, pageErrors } = await app!.newPage({ viewport: { width: 1500, height: 950 }, hooks: true });
    const datasetFile = path.join(tmp, 'kitchen.tessera');
    await createDatasetViaUi(page, datasetFile);
    await page.getByTestId('import-open').click();
    await page.getByTestId('import-paths').fill(path.join(tmp, 'imgs'));
    await page.getByTestId('import-start').click();
    await expect.poll(() => page.getByTestId('import-summary').textContent(), { timeout: 30_000 }).toContain('2 imported');

    const kitchenId = imageIdOf(datasetFile, KITCHEN);
    await page.locator(`[data-testid="grid-cell"][data-image-id="${kitchenId}"]`).click();
    await page.locator(`[data-testid="viewer"][data-ready="true"][data-image-id="${kitchenId}"]`).waitFor({ timeout: 30_000 });

    for (const [i, name] of ['person', 'bowl', 'kitchen'].entries()) {
      await page.getByTestId('class-new-name').fill(name);
      await page.getByTestId('class-add').click();
      await expect.poll(() => page.getByTestId('class-row').count()).toBe(i + 1);
    }
    const classIds = (await page.getByTestId('class-row').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-class-id'))))) as number[];

    // One human box in a corner, which pre-labeling and review must leave alone.
    await page.getByTestId('tool-select').focus();
    await page.keyboard.press('b');
    await dragImage(page, [4, 4], [24, 20]);
    await expect.poll(() => rows(datasetFile).length).toBe(1);
    const human = rows(datasetFile)[0]!;
    expect(human.source).toBe('human');
    await page.keyboard.press('v');

    // The custom-model dialog: inspect, try on this image, then add.
    await page.getByTestId('model-add-open').click();
    // A file that is no model is refused in words, not with an empty result.
    await page.getByTestId('model-file').fill(path.join(tmp, 'imgs', KITCHEN));
    await page.getByTestId('model-inspect').click();
    await expect.poll(async () => (await page.getByTestId('model-error').textContent())?.length ?? 0, { timeout: 30_000 }).toBeGreaterThan(0);
    expect(await page.getByTestId('model-report').count()).toBe(0);
    await page.getByTestId('model-file').fill(MODEL);
    await page.getByTestId('model-inspect').click();
    await page.getByTestId('model-report').waitFor({ timeout: 60_000 });
    expect(await page.getByTestId('model-report').textContent()).toContain('output0');
    expect(await page.getByTestId('model-family').textContent()).toContain('ultralytics');
    // Nothing is saved before the model has been tried on this image.
    expect(await page.getByTestId('model-add').isDisabled()).toBe(true);
    await page.getByTestId('model-try').click();
    await expect.poll(async () => Number(await page.getByTestId('model-try-result').getAttribute('data-count')), { timeout: 60_000 }).toBeGreaterThan(0);
    expect(rows(datasetFile)).toHaveLength(1); // trying stores nothing
    expect(await page.getByTestId('model-select').inputValue()).toBe(''); // nor registers the model
    await page.getByTestId('model-add').click();
    await page.getByTestId('model-added').waitFor({ timeout: 30_000 });
    await page.getByTestId('model-dialog-close').click();
    expect(await page.getByTestId('model-select').inputValue()).not.toBe('');

    // Map model classes to the dataset's classes; every other class (e.g. a COCO 'chair') is ignored.
    await page.getByTestId('classmap').locator('summary').click();
    await page.locator('[data-testid="classmap-row"][data-model-class="person"] select').selectOption(String(classIds[0]));
    await page.locator('[data-testid="classmap-row"][data-model-class="bowl"] select').selectOption(String(classIds[1]));
    // Several model classes may go to one dataset class.
    for (const cls of ['bottle', 'cup', 'knife', 'spoon', 'oven', 'sink', 'dining table', 'broccoli', 'carrot', 'orange', 'refrigerator']) {
      await page.locator(`[data-testid="classmap-row"][data-model-class="${cls}"] select`).selectOption(String(classIds[2]));
    }

    // Pre-label this image with the shortcut.
    await page.getByTestId('tool-select').focus();
    await page.keyboard.press('Shift+A');
    await expect.poll(async () => Number(await page.getByTestId('prediction-count').getAttribute('data-count')), { timeout: 60_000 }).toBeGreaterThan(1);
    await page.getByTestId('model-provider').waitFor();
    const predicted = rows(datasetFile).filter((r) => r.source === 'model');
    expect(predicted.length).toBeGreaterThan(1);
    for (const p of predicted) {
      expect(p.image_id).toBe(kitchenId);
      expect(p.score).toBeGreaterThan(0);
      expect(p.model_run_id).not.toBeNull();
      expect(classIds).toContain(p.class_id);
    }
    expect(predicted.some((p) => p.class_id === classIds[0])).toBe(true);
    expect(Number(await page.getByTestId('viewer').getAttribute('data-annotations'))).toBe(predicted.length + 1);

    // The slider hides predictions below it, live, and brings them back.
    const slider = page.getByTestId('prediction-threshold');
    const setSlider = (v: number): Promise<void> => slider.fill(String(v));
    const maxScore = Math.max(...predicted.map((p) => p.score!));
    await setSlider(Math.min(1, maxScore + 0.01));
    await expect.poll(async () => Number(await page.getByTestId('prediction-count').getAttribute('data-count'))).toBe(0);
    await setSlider(0);
    await expect.poll(async () => Number(await page.getByTestId('prediction-count').getAttribute('data-count'))).toBe(predicted.length);

    // Accept one with Y: it becomes a human annotation, geometry untouched.
    const before = rows(datasetFile);
    const accepted = await selectPrediction(page, before, new Set());
    await page.keyboard.press('y');
    await expect.poll(() => rows(datasetFile).find((r) => r.id === accepted.id)?.source).toBe('human');

    // Reject another with X: it is gone.
    const rejected = await selectPrediction(page, rows(datasetFile), new Set([accepted.id]));
    await page.keyboard.press('x');
    await expect.poll(() => rows(datasetFile).some((r) => r.id === rejected.id)).toBe(false);

    // Edit to accept: move a prediction (it stays a prediction), then accept it with its new geometry.
    const edited = await selectPrediction(page, rows(datasetFile), new Set([accepted.id]));
    const eb = boxOf(JSON.parse(edited.geometry) as Geometry)!;
    const grab = clearPoint(eb, rows(datasetFile).filter((r) => r.id !== edited.id).map((r) => boxOf(JSON.parse(r.geometry) as Geometry)).filter((b): b is Box => b !== null))!;
    await dragImage(page, [grab.x, grab.y], [grab.x + 12, grab.y + 8]);
    await expect.poll(() => rows(datasetFile).find((r) => r.id === edited.id)?.version).toBe(edited.version + 1);
    const moved = rows(datasetFile).find((r) => r.id === edited.id)!;
    expect(moved.source).toBe('model');
    const mb = boxOf(JSON.parse(moved.geometry) as Geometry)!;
    expect(mb.x).toBeCloseTo(eb.x + 12, 0);
    expect(mb.y).toBeCloseTo(eb.y + 8, 0);
    await page.keyboard.press('y');
    await expect.poll(() => rows(datasetFile).find((r) => r.id === edited.id)?.source).toBe('human');
    expect(JSON.parse(rows(datasetFile).find((r) => r.id === edited.id)!.geometry)).toEqual(JSON.parse(moved.geometry));

    const after = rows(datasetFile);
    const acceptedRow = after.find((r) => r.id === accepted.id)!;
    expect(JSON.parse(acceptedRow.geometry)).toEqual(JSON.parse(accepted.geometry));
    expect(acceptedRow.class_id).toBe(accepted.class_id);
    const reviewed = new Set([accepted.id, rejected.id, edited.id]);
    const still = after.filter((r) => !reviewed.has(r.id) && r.id !== human.id);
    expect(still.map((r) => r.id).sort()).toEqual(predicted.filter((p) => !reviewed.has(p.id)).map((p) => p.id).sort());
    for (const r of still) {
      expect(r.source).toBe('model');
      expect(r.score).toBeGreaterThan(0);
    }
    const humanAfter = after.find((r) => r.id === human.id)!;
    expect(humanAfter).toEqual(human);
    await expect.poll(async () => Number(await page.getByTestId('prediction-count').getAttribute('data-count'))).toBe(still.length);

    // Accept the rest above the slider for this image; those below it stay predictions.
    expect(still.length).toBeGreaterThanOrEqual(2);
    {
      const scores = still.map((r) => r.score!).sort((x, y) => x - y);
      // On the slider's 0.01 steps, at or under the best score and above the worst.
      const cut = Math.floor(scores.at(-1)! * 100) / 100;
      expect(cut).toBeGreaterThan(scores[0]!);
      await setSlider(cut);
      await page.getByTestId('action-prediction.acceptAbove').click();
      await expect.poll(() => rows(datasetFile).filter((r) => r.source === 'model').length).toBe(still.filter((r) => r.score! < cut).length);
      const now = new Map(rows(datasetFile).map((r) => [r.id, r]));
      for (const r of still) expect(now.get(r.id)?.source).toBe(r.score! >= cut ? 'human' : 'model');
    }
    expect(rows(datasetFile).find((r) => r.id === human.id)).toEqual(human);

    // A background run over all images skips this one (it now has human labels) and labels the other.
    const kitchenRows = rows(datasetFile);
    await page.getByTestId('prelabel-scope').selectOption('all');
    await page.getByTestId('prelabel-run').click();
    await expect.poll(() => page.getByTestId('prelabel-summary').textContent(), { timeout: 60_000 }).toMatch(/1 skipped/);
    expect(await page.getByTestId('model-provider').getAttribute('data-provider')).toBe('cpu');
    const otherId = imageIdOf(datasetFile, OTHER);
    const final = rows(datasetFile);
    expect(final.filter((r) => r.image_id === kitchenId)).toEqual(kitchenRows);
    const otherRows = final.filter((r) => r.image_id === otherId);
    expect(otherRows.length).toBeGreaterThan(0);
    expect(otherRows.every((r) => r.source === 'model' && r.score! > 0)).toBe(true);

    // Accepting the whole run at the slider reaches the image not on screen.
    const runId = otherRows[0]!.model_run_id!;
    await setSlider(0);
    await expect.poll(() => page.getByTestId('prediction-accept-run').textContent()).toContain(`#${runId}`);
    await page.getByTestId('prediction-accept-run').click();
    await expect.poll(() => rows(datasetFile).filter((r) => r.image_id === otherId && r.source === 'human').length).toBe(otherRows.length);
    expect(rows(datasetFile).filter((r) => r.image_id === kitchenId)).toEqual(kitchenRows);
    expect(pageErrors).toEqual([]);
  });
});
