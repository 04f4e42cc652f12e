import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { Page } from 'playwright-core';
import { runCli } from '../../src-main/cli/main';
import { COCO_STAT_NAMES, type EvalResult } from '../../src-main/common/eval/types';
import { chromiumOrSkip, startApp, toPage, type App } from '../helpers/browser';
import { sharedDir } from '../helpers/shared';

/**
 * Model evaluation in the real renderer: COCO ground truth and YOLOX-Nano detections of
 * coco_tinycoco are imported with the CLI, then the Evaluation view runs the evaluation, shows
 * the stats, the PR curves and the confusion matrix, saves numbers and a plot, opens a false
 * positive from the error browser in the viewer zoomed on it, and fixes it with one click.
 */
const COCO = path.join(sharedDir, 'datasets', 'coco_tinycoco');
const IMAGES = path.join(COCO, 'images', 'train2017');
const INSTANCES = path.join(COCO, 'annotations', 'instances_train2017.json');
const DETECTIONS = path.join(sharedDir, 'oracles', 'coco_eval', 'yolox_nano_train2017_detections.json');
const REFERENCE = path.join(sharedDir, 'oracles', 'coco_eval', 'pycocotools_bbox_stats.json');
/** Below the model panel's default Min. score (0.25), so some errors are predictions it would hide. */
const SCORE_THRESHOLD = 0.2;

const prerequisites = chromiumOrSkip('evaluation', [
  { path: INSTANCES, what: 'the coco_tinycoco annotations' },
  { path: DETECTIONS, what: 'the YOLOX-Nano oracle detections' },
  { path: REFERENCE, what: 'the pycocotools reference stats' },
]);

async function cli(...argv: string[]): Promise<string> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, { out: (s) => out.push(s), err: (s) => err.push(s), tty: false });
  if (code !== 0) throw new Error(`tessera ${argv.join(' ')} failed (${code}): ${err.join('\n')}`);
  return out.join('\n');
}

interface Row {
  source: string;
  class: string | null;
}

/** An annotation as stored, with its class name; undefined once it is deleted. */
function annotation(file: string, id: number): Row | undefined {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return db
      .prepare('SELECT a.source, c.name AS class FROM annotations a LEFT JOIN classes c ON c.id = a.class_id WHERE a.id = ?')
      .get(id) as Row | undefined;
  } finally {
    db.close();
  }
}

const annotationExists = (file: string, id: number): boolean => annotation(file, id) !== undefined;

/** Saves through a button and returns the downloaded file's bytes and name. */
async function saved(page: Page, testid: string): Promise<{ name: string; bytes: Buffer }> {
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId(testid).click()]);
  const file = await download.path();
  return { name: download.suggestedFilename(), bytes: fs.readFileSync(file) };
}

describe('model evaluation in the browser', () => {
  let app: App | null = null;

  beforeAll(async () => {
    app = await startApp({ tmpPrefix: 'tessera-evaluation-e2e-' });
  });

  afterAll(async () => {
    await app?.close();
  });

  it.skipIf(prerequisites.skip)('evaluates a run, shows its plots, opens a false positive zoomed and fixes errors from the list', { timeout: 180_000 }, async () => {
    prerequisites.assertPresent();
    const { tmp } = app!;
    const datasetFile = path.join(tmp, 'tinycoco.tessera');
    await cli('init', datasetFile, '--root', IMAGES);
    // COCO's evaluation runs over every category of the ground truth file, empty ones included.
    await cli('import', datasetFile, INSTANCES, '--keep-empty-classes', '--json');
    const imported = JSON.parse(await cli('predictions', 'import', datasetFile, DETECTIONS, '--name', 'yolox nano', '--instances', INSTANCES, '--json')) as {
      predictions: number;
    };
    expect(imported.predictions).toBeGreaterThan(100);
    const reference = JSON.parse(fs.readFileSync(REFERENCE, 'utf8')) as { stats: Record<string, number> };
    // An older pre-labeling run that was cancelled before it stored anything.
    const cancelledAt = new Date(2026, 0, 2, 3, 4).getTime();
    {
      const raw = new Database(datasetFile);
      try {
        raw.prepare("INSERT INTO model_runs (model, name, parameters, status, started_at, finished_at) VALUES ('yolov8n-int8', 'interrupted', '{}', 'cancelled', ?, ?)").run(cancelledAt, cancelledAt);
      } finally {
        raw.close();
      }
    }

    const { page, pageErrors } = await app!.newPage({ viewport: { width: 1500, height: 950 }, hooks: true });
    await page.getByTestId('open-dataset-path').fill(datasetFile);
    await page.getByTestId('open-dataset').click();
    await page.getByTestId('eval-open').click();
    await expect.poll(() => page.getByTestId('eval-run-option').count()).toBe(2);
    // The newest run is chosen, whatever its id: the cancelled one started earlier.
    expect(await page.getByTestId('eval-run-select').inputValue()).toBe('1');
    // Each run with its number, start date and how it ended.
    const optionText = (id: number) => page.locator(`[data-testid="eval-run-option"][data-run-id="${id}"]`).textContent();
    expect(await optionText(1)).toMatch(/^#1 yolox nano · \d{4}-\d\d-\d\d \d\d:\d\d · import yolox_nano_train2017_detections\.json · 32 images, 1,584 detections$/);
    expect(await optionText(2)).toBe('#2 interrupted · 2026-01-02 03:04 · yolov8n-int8 · 0 images, 0 detections · cancelled');

    // Enter in the threshold field runs with the value just typed (see scoreThreshold below).
    await page.getByTestId('eval-score').fill(String(SCORE_THRESHOLD));
    await page.getByTestId('eval-score').press('Enter');
    await page.getByTestId('eval-stats').waitFor({ timeout: 60_000 });

    // The 12 COCO stats with their names; the box AP is the reference COCO API's.
    const stats = page.getByTestId('eval-stat');
    expect(await stats.count()).toBe(12);
    expect(await stats.evaluateAll((els) => els.map((e) => e.getAttribute('data-stat')))).toEqual([...COCO_STAT_NAMES]);
    for (const name of ['AP', 'AP50', 'AR100'] as const) {
      const shown = Number(await page.locator(`[data-testid="eval-stat"][data-stat="${name}"]`).getAttribute('data-value'));
      expect(Math.abs(shown - reference.stats[name]!)).toBeLessThan(1e-4);
    }
    expect(await page.locator('[data-testid="eval-stat"][data-stat="AP"] .stat-value').textContent()).toBe(reference.stats['AP']!.toFixed(3));
    const classRows = page.getByTestId('eval-class-row');
    expect(await classRows.count()).toBeGreaterThan(10);
    expect(Number(await page.locator('[data-testid="eval-class-row"][data-class="person"]').getAttribute('data-ap'))).toBeGreaterThan(0);
    // Detections at every score (what AP ranks) and at the threshold (what P and R count), each labelled.
    const headers = await page.locator('[data-testid="eval-classes"] thead th').allTextContents();
    expect(headers).toEqual(expect.arrayContaining([expect.stringMatching(/^Det\. \(all\)/), expect.stringMatching(new RegExp(`^Det\\. ≥ ${SCORE_THRESHOLD}`))]));
    const person = page.locator('[data-testid="eval-class-row"][data-class="person"]');
    const all = Number(await person.getByTestId('eval-class-detections').textContent());
    const above = Number(await person.getByTestId('eval-class-detections-above').textContent());
    expect(above).toBeGreaterThan(0);
    expect(above).toBeLessThan(all);

    // PR curves: one drawn path per class with ground truth, each with many points.
    const curves = page.locator('[data-testid="pr-plot"] svg path.curve');
    expect(await curves.count()).toBeGreaterThan(5);
    const d = (await curves.first().getAttribute('d')) ?? '';
    expect(d.split('L').length).toBeGreaterThan(10);
    // One class alone.
    await page.getByTestId('pr-class').selectOption({ label: 'person' });
    await expect.poll(() => curves.count()).toBe(1);
    expect(await curves.first().getAttribute('data-class')).toBe('person');

    // F1 against confidence with the best threshold marked.
    expect(await page.locator('[data-testid="confidence-plot"] path.curve').count()).toBe(3);
    await page.locator('[data-testid="confidence-plot"] [data-testid="best-threshold"]').waitFor();

    // The confusion matrix: a square of cells with the background row and column; its background
    // row holds the detections that matched nothing, which the error list calls false positives.
    const cells = page.getByTestId('confusion-cell');
    const n = Number(await page.locator('[data-testid="confusion-plot"] svg').getAttribute('data-size'));
    expect(n).toBeGreaterThan(2);
    expect(await cells.count()).toBe(n * n);
    expect(Number(await page.locator('[data-testid="confusion-cell"][data-row="person"][data-col="person"]').getAttribute('data-count'))).toBeGreaterThan(0);
    const backgroundRow = await page
      .locator('[data-testid="confusion-cell"][data-row="background"]')
      .evaluateAll((els) => els.reduce((s, e) => s + Number(e.getAttribute('data-count')), 0));

    // The numbers as JSON, the PR plot as PNG and SVG.
    const json = await saved(page, 'eval-save-json');
    expect(json.name).toMatch(/\.json$/);
    const result = JSON.parse(json.bytes.toString('utf8')) as EvalResult;
    expect(result.stats[0]).toBeCloseTo(reference.stats['AP']!, 4);
    expect(result.scoreThreshold).toBe(SCORE_THRESHOLD);
    const falsePositives = result.errors.filter((e) => e.kind === 'false_positive');
    expect(falsePositives.length).toBe(backgroundRow);
    const csv = await saved(page, 'eval-save-csv-classes');
    expect(csv.bytes.toString('utf8').split('\r\n')[0]).toContain('ap50');
    const png = await saved(page, 'pr-plot-png');
    expect(png.bytes.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))).toBe(true);
    expect(png.bytes.length).toBeGreaterThan(2000);
    const svg = await saved(page, 'pr-plot-svg');
    expect(svg.bytes.toString('utf8')).toMatch(/<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"[\s\S]*<path/);

    // The error browser: false positives only, largest first.
    await page.getByTestId('eval-tab-errors').click();
    await page.getByTestId('error-kind-false_negative').uncheck();
    await page.getByTestId('error-kind-wrong_class').uncheck();
    await page.getByTestId('error-sort-area').click();
    const rows = page.getByTestId('error-row');
    await expect.poll(() => rows.count()).toBe(Math.min(falsePositives.length, 300));
    expect(new Set(await rows.evaluateAll((els) => els.map((e) => e.getAttribute('data-kind'))))).toEqual(new Set(['false_positive']));
    const areas = await rows.evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-area'))));
    expect(areas).toEqual([...areas].sort((a, b) => b - a));

    // A mid-sized one, so that zooming on it is more than fitting the image, and scoring below
    // the model panel's slider, which must come down to show it.
    const target = falsePositives.filter((e) => e.area > 400 && e.area < 20_000 && e.score! < 0.25).sort((a, b) => b.score! - a.score!)[0]!;
    expect(target).toBeDefined();
    const row = page.locator(`[data-testid="error-row"][data-annotation-id="${target.annotationId}"]`);
    // Opened from the keyboard: the row's button takes Enter.
    await row.getByTestId('error-open').press('Enter');
    const viewer = page.locator(`[data-testid="viewer"][data-ready="true"][data-image-id="${target.imageId}"]`);
    await viewer.waitFor({ timeout: 30_000 });
    const fileName = path.basename(target.image);
    await expect.poll(() => page.title()).toContain(fileName);
    expect(await page.locator('.viewer-pane .toolbar').textContent()).toContain(fileName);
    // Zoomed on the error: the box's centre is mid-stage, at more than the fitted zoom.
    await expect.poll(() => page.locator('[data-testid="viewer"]').getAttribute('data-zoom').then(Number)).toBeGreaterThan(0);
    const zoomed = Number(await viewer.getAttribute('data-zoom'));
    const [bx, by, bw, bh] = target.bbox;
    const centre = await toPage(page, bx + bw / 2, by + bh / 2);
    const stage = (await page.locator('[data-testid="viewer"] .stage').boundingBox())!;
    expect(Math.abs(centre.x - (stage.x + stage.width / 2))).toBeLessThan(3);
    expect(Math.abs(centre.y - (stage.y + stage.height / 2))).toBeLessThan(3);
    // The prediction is shown and selected, so the model panel shows its score.
    expect(Number(await page.getByTestId('prediction-threshold').inputValue())).toBeLessThanOrEqual(target.score!);
    await expect.poll(() => page.getByTestId('prediction-score').getAttribute('data-score')).toBe(String(target.score));
    await page.getByTestId('viewer-fit').click();
    const fitted = Number(await viewer.getAttribute('data-zoom'));
    expect(zoomed).toBeGreaterThan(fitted * 1.5);

    // Back to the evaluation: the same list, the row still marked; reject the prediction there.
    await page.getByTestId('viewer-back').click();
    await row.waitFor();
    expect(await rows.count()).toBe(Math.min(falsePositives.length, 300));
    expect(await row.getAttribute('class')).toContain('selected');
    expect(annotationExists(datasetFile, target.annotationId)).toBe(true);
    await row.getByTestId('error-delete').click();
    await expect.poll(() => row.getByTestId('error-fixed').textContent()).toContain('Rejected');
    expect(annotationExists(datasetFile, target.annotationId)).toBe(false);
    await page.getByTestId('eval-outdated').waitFor();

    // Run again: that false positive is gone and the list has one fewer.
    await page.getByTestId('eval-run').click();
    await expect.poll(() => page.locator(`[data-testid="error-row"][data-annotation-id="${target.annotationId}"]`).count(), { timeout: 60_000 }).toBe(0);
    await expect.poll(() => rows.count()).toBe(Math.min(falsePositives.length - 1, 300));
    await page.getByTestId('eval-tab-metrics').click();
    const rerun = JSON.parse((await saved(page, 'eval-save-json')).bytes.toString('utf8')) as EvalResult;
    expect(rerun.errors.some((e) => e.annotationId === target.annotationId)).toBe(false);
    await page.getByTestId('eval-tab-errors').click();

    // The other fixes, one click each: accept a false positive as another class, relabel the
    // ground truth of a wrong-class match, delete a false negative's ground truth.
    const second = page.getByTestId('error-row').first();
    const secondId = Number(await second.getAttribute('data-annotation-id'));
    expect(annotation(datasetFile, secondId)?.source).toBe('model');
    await second.getByTestId('error-set-class').selectOption({ label: 'dog' });
    await expect.poll(() => second.getByTestId('error-fixed').textContent()).toContain('Accepted as dog');
    expect(annotation(datasetFile, secondId)).toEqual({ source: 'human', class: 'dog' });

    await page.getByTestId('error-kind-false_positive').uncheck();
    await page.getByTestId('error-kind-wrong_class').check();
    const wrong = page.getByTestId('error-row').first();
    const wrongId = Number(await wrong.getAttribute('data-annotation-id'));
    const wrongInfo = rerun.errors.find((e) => e.annotationId === wrongId && e.kind === 'wrong_class')!;
    expect(wrongInfo.otherAnnotationId).not.toBeNull();
    await wrong.getByTestId('error-relabel-gt').click();
    await expect.poll(() => wrong.getByTestId('error-fixed').textContent()).toContain(`Ground truth set to ${wrongInfo.className}`);
    expect(annotation(datasetFile, wrongInfo.otherAnnotationId!)).toEqual({ source: 'human', class: wrongInfo.className });

    await page.getByTestId('error-kind-wrong_class').uncheck();
    await page.getByTestId('error-kind-false_negative').check();
    const missed = page.getByTestId('error-row').first();
    const missedId = Number(await missed.getAttribute('data-annotation-id'));
    expect(annotation(datasetFile, missedId)?.source).toBe('human');
    await missed.getByTestId('error-delete').click();
    await expect.poll(() => missed.getByTestId('error-fixed').textContent()).toContain('Deleted');
    expect(annotationExists(datasetFile, missedId)).toBe(false);

    expect(pageErrors).toEqual([]);
  });
});
