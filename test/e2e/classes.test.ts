import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import Database from 'better-sqlite3';
import sharp from 'sharp';
import type { Page } from 'playwright-core';
import { runCli } from '../../src-main/cli/main';
import { chromiumOrSkip, startApp, toPage, type App } from '../helpers/browser';
import { sharedDir } from '../helpers/shared';

/**
 * Many classes in the real renderer: the 80 COCO categories imported from the Import dialog (the
 * unused ones only when asked, as the dry run counts them), found by typing in the class search,
 * picked with Enter (the selected shape is relabelled), a key of its own given to a class, the
 * class name drawn on the shape (read back from the canvas pixels), and compact rows remembered.
 */
const COCO = path.join(sharedDir, 'datasets', 'coco_tinycoco');
const JSON_FILE = path.join(COCO, 'annotations', 'instances_train2017.json');
/** One annotation: a train whose box is (162, 173) 105 x 114. */
const TRAIN_IMAGE = '000000184321.jpg';
const TRAIN_CORNER = { x: 162.5, y: 173.5 };

const prerequisites = chromiumOrSkip('classes', [{ path: JSON_FILE, what: 'the coco_tinycoco annotations' }]);

async function cli(...argv: string[]): Promise<void> {
  const err: string[] = [];
  const code = await runCli(argv, { out: () => {}, err: (s) => err.push(s), tty: false });
  if (code !== 0) throw new Error(`tessera ${argv.join(' ')} failed (${code}): ${err.join('\n')}`);
}

function query<T>(file: string, sql: string, ...params: unknown[]): T[] {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return db.prepare(sql).all(...params) as T[];
  } finally {
    db.close();
  }
}

/** RGB pixels of a 24 x 8 CSS-pixel patch just inside the image point's lower right, where a shape's label tab is drawn. */
async function tabPatch(page: Page, at: { x: number; y: number }): Promise<Buffer> {
  const p = await toPage(page, at.x, at.y);
  const png = await page.screenshot({ clip: { x: Math.round(p.x) + 3, y: Math.round(p.y) + 3, width: 24, height: 8 } });
  return sharp(png).removeAlpha().raw().toBuffer();
}

/** Share of the patch's pixels within `within` (RGB distance) of a #rrggbb colour. */
function shareNear(raw: Buffer, hex: string, within = 40): number {
  const c = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  let near = 0;
  for (let i = 0; i < raw.length; i += 3) if (Math.hypot(raw[i]! - c[0]!, raw[i + 1]! - c[1]!, raw[i + 2]! - c[2]!) < within) near++;
  return near / (raw.length / 3);
}

function meanDifference(a: Buffer, b: Buffer): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i]! - b[i]!);
  return sum / a.length;
}

async function openDataset(page: Page, file: string): Promise<void> {
  await page.getByTestId('open-dataset-path').fill(file);
  await page.getByTestId('open-dataset').click();
  await page.getByTestId('import-open').waitFor({ timeout: 30_000 });
}

async function openImage(page: Page, id: number): Promise<void> {
  await page.locator(`[data-testid="grid-cell"][data-image-id="${id}"]`).click();
  await page.locator(`[data-testid="viewer"][data-ready="true"][data-image-id="${id}"]`).waitFor({ timeout: 30_000 });
}

const shownNames = (page: Page) => page.getByTestId('class-row').locator('.name').allTextContents();
/** The test id of the element holding the keyboard (the page's document, reached through globalThis: tests compile without the DOM types). */
const focused = (page: Page) =>
  page.evaluate(() => (globalThis as unknown as { document: { activeElement: { getAttribute(n: string): string | null } | null } }).document.activeElement?.getAttribute('data-testid') ?? null);

describe('many classes in the UI', () => {
  let app: App | null = null;

  beforeAll(async () => {
    app = await startApp({ tmpPrefix: 'tessera-classes-' });
  });

  afterAll(async () => {
    await app?.close();
  });

  it.skipIf(prerequisites.skip)('imports 80 COCO classes when asked, "tra" + Enter picks traffic light and relabels the selection, names drawn on the canvas', { timeout: 240_000 }, async () => {
    prerequisites.assertPresent();
    const file = path.join(app!.tmp, 'coco.tessera');
    await cli('init', file, '--root', COCO);
    const { page, pageErrors } = await app!.newPage({ viewport: { width: 1600, height: 1000 }, hooks: true });
    await openDataset(page, file);

    // The dry run counts the 39 categories no annotation uses; they are created only when asked.
    await page.getByTestId('import-open').click();
    await page.getByTestId('import-format').selectOption('coco');
    await page.getByTestId('import-paths').fill(JSON_FILE);
    await page.getByTestId('import-check').click();
    const dry = page.getByTestId('import-dryrun-report');
    await dry.waitFor({ timeout: 60_000 });
    expect(await dry.getByTestId('report-empty-classes').textContent()).toContain('39 categories with no annotations will not be created');
    expect(await dry.getByTestId('report-class').count()).toBe(41);
    await page.getByTestId('import-keep-empty').check();
    await page.getByTestId('import-check').click();
    await expect.poll(() => page.getByTestId('import-dryrun-report').getByTestId('report-class').count(), { timeout: 60_000 }).toBe(80);
    expect(await page.getByTestId('report-empty-classes').count()).toBe(0);
    await page.getByTestId('import-start').click();
    await page.getByTestId('import-summary').waitFor({ timeout: 90_000 });
    await page.locator('section[aria-label="Import"]').getByRole('button', { name: 'Close', exact: true }).click();
    expect(query<{ n: number }>(file, 'SELECT count(*) AS n FROM classes')[0]!.n).toBe(80);
    // Each of the 80 has a colour of its own.
    expect(query<{ n: number }>(file, 'SELECT count(DISTINCT lower(color)) AS n FROM classes')[0]!.n).toBe(80);

    const imageId = query<{ id: number }>(file, 'SELECT id FROM images WHERE path LIKE ?', `%${TRAIN_IMAGE}`)[0]!.id;
    const cls = (name: string) => query<{ id: number; color: string; hotkey: string | null }>(file, 'SELECT id, color, hotkey FROM classes WHERE name = ?', name)[0]!;
    const trafficLight = cls('traffic light');
    const train = cls('train');
    const classOfShapes = () => query<{ class_id: number }>(file, 'SELECT class_id FROM annotations WHERE image_id = ?', imageId).map((r) => r.class_id);
    expect(classOfShapes()).toEqual([train.id]);
    await openImage(page, imageId);
    await expect.poll(() => page.getByTestId('class-row').count()).toBe(80);

    // Select the train, then `/` puts the keyboard in the search box.
    await page.keyboard.press('Control+a');
    await page.keyboard.press('/');
    await expect.poll(() => focused(page)).toBe('class-search');
    await page.keyboard.type('tra');
    expect(await page.getByTestId('class-search').inputValue()).toBe('tra');
    await expect.poll(() => shownNames(page)).toEqual(['traffic light', 'train']);
    const highlighted = () => page.locator('[data-testid="class-row"][data-highlighted="true"] .name').textContent();
    expect(await highlighted()).toBe('traffic light');
    await page.keyboard.press('ArrowDown');
    expect(await highlighted()).toBe('train');
    await page.keyboard.press('ArrowUp');
    expect(await highlighted()).toBe('traffic light');
    await page.keyboard.press('Enter');

    // Traffic light is the active class, the selected train is relabelled, and the box is left.
    await expect.poll(() => classOfShapes(), { timeout: 20_000 }).toEqual([trafficLight.id]);
    await expect.poll(() => page.locator('[data-testid="class-row"].active .name').textContent()).toBe('traffic light');
    expect(await page.getByTestId('class-search').inputValue()).toBe('');
    expect(await focused(page)).not.toBe('class-search');
    expect(await page.getByTestId('status-line').textContent()).toMatch(/relabelled to traffic light/);
    await expect.poll(() => page.getByTestId('class-row').count()).toBe(80);

    // Esc in the search box leaves it without picking anything.
    await page.keyboard.press('/');
    await page.keyboard.type('zeb');
    await expect.poll(() => shownNames(page)).toEqual(['zebra']);
    await page.keyboard.press('Escape');
    expect(await focused(page)).not.toBe('class-search');
    await expect.poll(() => page.getByTestId('class-row').count()).toBe(80);
    expect(await page.locator('[data-testid="class-row"].active .name').textContent()).toBe('traffic light');

    // A key of its own: B is the box tool and is refused; G is free and picks zebra from then on.
    const zebraKey = page.locator('[data-testid="class-row"]', { has: page.getByText('zebra', { exact: true }) }).getByTestId('class-key');
    await zebraKey.click();
    await page.keyboard.press('b');
    await expect.poll(() => page.getByTestId('status-line').textContent()).toMatch(/B is already "Box"; choose another key/);
    expect(cls('zebra').hotkey).toBeNull();
    await zebraKey.click();
    await page.keyboard.press('g');
    await expect.poll(() => cls('zebra').hotkey).toBe('g');
    await expect.poll(() => zebraKey.textContent()).toBe('G');
    await page.mouse.move(5, 500);
    await page.keyboard.press('Escape'); // deselects the train, so the key only picks the class
    await page.keyboard.press('g');
    await expect.poll(() => page.locator('[data-testid="class-row"].active .name').textContent()).toBe('zebra');
    expect(classOfShapes()).toEqual([trafficLight.id]);

    // The class name on the canvas: a tab of the class colour in the shape's corner with "name",
    // nothing there with "none", and nothing for a human shape with "score".
    // Nothing is selected (no handles over the corner) and the pointer is off the canvas.
    await page.mouse.move(5, 500);
    await page.getByTestId('label-mode').selectOption('none');
    await page.waitForTimeout(300);
    const none = await tabPatch(page, TRAIN_CORNER);
    await page.getByTestId('label-mode').selectOption('name');
    await expect.poll(async () => meanDifference(await tabPatch(page, TRAIN_CORNER), none), { timeout: 10_000 }).toBeGreaterThan(20);
    const named = await tabPatch(page, TRAIN_CORNER);
    // The tab is the class colour at 85 % over the image; glyphs take the rest of the patch.
    expect(shareNear(named, trafficLight.color)).toBeGreaterThan(0.35);
    expect(shareNear(none, trafficLight.color)).toBeLessThan(0.1);
    await page.getByTestId('label-mode').selectOption('score');
    await expect.poll(async () => meanDifference(await tabPatch(page, TRAIN_CORNER), none), { timeout: 10_000 }).toBeLessThan(1);
    await page.getByTestId('label-mode').selectOption('none');

    // Compact rows: shorter, and remembered with the label choice after a reload.
    const rowHeight = async () => (await page.getByTestId('class-row').first().boundingBox())!.height;
    const full = await rowHeight();
    await page.getByTestId('class-compact').click();
    await expect.poll(rowHeight).toBeLessThan(full);
    const compact = await rowHeight();
    await page.reload();
    // A reload comes back to the image that was open.
    await page.locator(`[data-testid="viewer"][data-ready="true"][data-image-id="${imageId}"]`).waitFor({ timeout: 30_000 });
    expect(await page.getByTestId('class-compact').getAttribute('aria-pressed')).toBe('true');
    expect(await page.getByTestId('label-mode').inputValue()).toBe('none');
    expect(await rowHeight()).toBe(compact);

    expect(pageErrors).toEqual([]);
  });
});
