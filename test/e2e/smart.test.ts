import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import sharp from 'sharp';
import type { Page } from 'playwright-core';
import { rleArea } from '../../src-main/common/geometry/rle';
import type { Geometry } from '../../src-main/common/model';
import { chromiumOrSkip, createDatasetViaUi, startApp, type App, toPage, mouseTo, clickAt, annotationCount } from '../helpers/browser';

/**
 * The smart tools in the real renderer (browser mode, real services with OpenCV in its worker,
 * Chromium): magic wand clicks, a GrabCut box, intelligent scissors and "Split nuclei" on
 * synthetic images whose regions have known areas; undo takes each commit back in one step.
 */
const W = 400;
const H = 300;
// A 100x60 ochre rectangle (6000 px) on a dark grey field, and a blue disc of radius 30.
const RECT = { x: 50, y: 40, w: 100, h: 60 };
const DISC = { cx: 280, cy: 180, r: 30 };

const prerequisites = chromiumOrSkip('smart tools');

async function makeImages(dir: string): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  const shapes = Buffer.alloc(W * H * 3);
  const nuclei = Buffer.alloc(W * H * 3);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const i = (y * W + x) * 3;
      let c = [60, 60, 60];
      if (x >= RECT.x && x < RECT.x + RECT.w && y >= RECT.y && y < RECT.y + RECT.h) c = [200, 170, 60];
      else if ((x - DISC.cx) ** 2 + (y - DISC.cy) ** 2 <= DISC.r ** 2) c = [40, 60, 210];
      shapes.set(c, i);
      // Fluorescence-like: two touching bright nuclei and a third on its own, on black.
      const inside = [[120, 150, 30], [170, 150, 30], [300, 150, 25]].some(([cx, cy, r]) => (x - cx!) ** 2 + (y - cy!) ** 2 <= r! ** 2);
      nuclei.fill(inside ? 220 : 15, i, i + 3);
    }
  }
  await sharp(shapes, { raw: { width: W, height: H, channels: 3 } }).png().toFile(path.join(dir, 'a-shapes.png'));
  await sharp(nuclei, { raw: { width: W, height: H, channels: 3 } }).png().toFile(path.join(dir, 'b-nuclei.png'));
}

interface Row {
  image_id: number;
  kind: string;
  geometry: string;
}

function rows(file: string): (Row & { g: Geometry })[] {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const all = db.prepare('SELECT image_id, kind, geometry FROM annotations ORDER BY id').all() as Row[];
    return all.map((r) => ({ ...r, g: JSON.parse(r.geometry) as Geometry }));
  } finally {
    db.close();
  }
}

const status = async (page: Page): Promise<string> => (await page.getByTestId('status-line').textContent()) ?? '';

describe('smart tools in the browser', () => {
  let app: App | null = null;

  beforeAll(async () => {
    app = await startApp({ tmpPrefix: 'tessera-smart-e2e-' });
    await makeImages(path.join(app.tmp, 'imgs'));
  });

  afterAll(async () => {
    await app?.close();
  });

  it.skipIf(prerequisites.skip)('wand click commits a mask of the region, undo removes it; GrabCut box; scissors outline; Split nuclei in one undo step', async () => {
    prerequisites.assertPresent();
    const { tmp } = app!;
    const { page, pageErrors } = await app!.newPage({ viewport: { width: 1400, height: 900 }, hooks: true });
    const datasetFile = path.join(tmp, 'smart.tessera');
    await createDatasetViaUi(page, datasetFile);
    await page.getByTestId('import-open').click();
    await page.getByTestId('import-paths').fill(path.join(tmp, 'imgs'));
    await page.getByTestId('import-start').click();
    await expect.poll(() => page.getByTestId('import-summary').textContent(), { timeout: 30_000 }).toContain('2 imported');
    await page.getByTestId('grid-cell').first().click();
    await page.locator('[data-testid="viewer"][data-ready="true"]').waitFor({ timeout: 30_000 });
    const imageId = Number(await page.getByTestId('viewer').getAttribute('data-image-id'));

    // W picks the wand; a click previews the region, Enter stores it as a mask of its exact area.
    await page.getByTestId('tool-select').focus();
    await page.keyboard.press('w');
    await expect.poll(() => page.getByTestId('viewer').getAttribute('data-tool')).toBe('wand');
    await page.getByTestId('wand-tolerance').waitFor();
    await clickAt(page, RECT.x + 20, RECT.y + 20);
    await expect.poll(() => status(page), { timeout: 20_000 }).toContain('Magic wand: 6000 px');
    expect(await annotationCount(page)).toBe(0);
    await page.keyboard.press('Enter');
    await expect.poll(() => annotationCount(page)).toBe(1);
    let stored = rows(datasetFile);
    expect(stored).toHaveLength(1);
    expect(stored[0]!.image_id).toBe(imageId);
    expect(stored[0]!.kind).toBe('mask');
    const mask = stored[0]!.g as Extract<Geometry, { kind: 'mask' }>;
    expect(mask.rle.size).toEqual([H, W]);
    expect(rleArea(mask.rle)).toBe(RECT.w * RECT.h);

    // Undo takes it back, in the file too.
    await page.keyboard.press('Control+z');
    await expect.poll(() => annotationCount(page)).toBe(0);
    expect(rows(datasetFile)).toHaveLength(0);

    // Esc drops a preview without storing anything.
    await clickAt(page, DISC.cx, DISC.cy);
    await expect.poll(() => status(page), { timeout: 20_000 }).toMatch(/Magic wand: \d+ px/);
    await page.keyboard.press('Escape');
    await page.keyboard.press('Enter');
    expect(await annotationCount(page)).toBe(0);

    // As a polygon: the disc, traced.
    await page.getByTestId('smart-commit-as').selectOption('polygon');
    await clickAt(page, DISC.cx, DISC.cy);
    await expect.poll(() => status(page), { timeout: 20_000 }).toMatch(/Magic wand: \d+ px/);
    await page.keyboard.press('Enter');
    await expect.poll(() => annotationCount(page)).toBe(1);
    stored = rows(datasetFile);
    expect(stored.map((r) => r.kind)).toEqual(['polygon']);
    const poly = stored[0]!.g as Extract<Geometry, { kind: 'polygon' }>;
    const xs = poly.parts[0]!.filter((_, i) => i % 2 === 0);
    expect(Math.min(...xs)).toBeCloseTo(DISC.cx - DISC.r, -0.5);
    expect(Math.max(...xs)).toBeCloseTo(DISC.cx + DISC.r + 1, -0.5);
    await page.getByTestId('smart-commit-as').selectOption('mask');

    // A drag is a GrabCut box: the rectangle comes out of the box around it.
    await mouseTo(page, RECT.x - 12, RECT.y - 12);
    await page.mouse.down();
    await mouseTo(page, RECT.x + RECT.w + 12, RECT.y + RECT.h + 12, 8);
    await page.mouse.up();
    await expect.poll(() => status(page), { timeout: 20_000 }).toMatch(/GrabCut: \d+ px/);
    await page.keyboard.press('Enter');
    await expect.poll(() => annotationCount(page)).toBe(2);
    const cut = rows(datasetFile).at(-1)!.g as Extract<Geometry, { kind: 'mask' }>;
    expect(Math.abs(rleArea(cut.rle) - RECT.w * RECT.h)).toBeLessThan(0.03 * RECT.w * RECT.h);

    // Intelligent scissors: anchors on three sides of the rectangle, closed along the fourth.
    await page.keyboard.press('i');
    await expect.poll(() => page.getByTestId('viewer').getAttribute('data-tool')).toBe('scissors');
    for (const [x, y] of [
      [RECT.x + 1, RECT.y + 5],
      [RECT.x + 50, RECT.y + RECT.h - 1],
      [RECT.x + RECT.w - 2, RECT.y + 10],
    ] as const)
      await clickAt(page, x, y);
    await page.keyboard.press('Enter');
    await expect.poll(() => annotationCount(page), { timeout: 20_000 }).toBe(3);
    const outline = rows(datasetFile).at(-1)!;
    expect(outline.kind).toBe('polygon');
    const ring = (outline.g as Extract<Geometry, { kind: 'polygon' }>).parts[0]!;
    let twice = 0;
    for (let i = 0; i < ring.length; i += 2) {
      const j = (i + 2) % ring.length;
      twice += ring[i]! * ring[j + 1]! - ring[j]! * ring[i + 1]!;
    }
    const area = Math.abs(twice) / 2;
    expect(area).toBeGreaterThan((RECT.w - 3) * (RECT.h - 3));
    expect(area).toBeLessThan((RECT.w + 3) * (RECT.h + 3));

    // Split nuclei on the second image: three instances (two of them touching), one undo step.
    await page.keyboard.press('d');
    await expect.poll(async () => Number(await page.getByTestId('viewer').getAttribute('data-image-id'))).not.toBe(imageId);
    await page.locator('[data-testid="viewer"][data-ready="true"]').waitFor({ timeout: 30_000 });
    await page.keyboard.press('Shift+W');
    await expect.poll(() => annotationCount(page), { timeout: 20_000 }).toBe(3);
    const nuclei = rows(datasetFile).filter((r) => r.image_id !== imageId);
    expect(nuclei.map((r) => r.kind)).toEqual(['mask', 'mask', 'mask']);
    const areas = nuclei.map((r) => rleArea((r.g as Extract<Geometry, { kind: 'mask' }>).rle)).sort((a, b) => a - b);
    // The lone nucleus is a disc of radius 25; the touching pair (radius 30, centres 50 apart) is
    // split at its waist, each half its disc less half the lens they share.
    const lens = 2 * 30 * 30 * Math.acos(50 / 60) - 25 * Math.sqrt(4 * 30 * 30 - 50 * 50);
    const half = Math.PI * 30 * 30 - lens / 2;
    expect(Math.abs(areas[0]! - Math.PI * 25 * 25)).toBeLessThan(0.05 * Math.PI * 25 * 25);
    for (const a of areas.slice(1)) expect(Math.abs(a - half)).toBeLessThan(0.05 * half);
    await page.keyboard.press('Control+z');
    await expect.poll(() => annotationCount(page)).toBe(0);
    expect(rows(datasetFile).filter((r) => r.image_id !== imageId)).toHaveLength(0);
    expect(pageErrors).toEqual([]);
  }, 120_000);
});
