import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import sharp from 'sharp';
import type { Page } from 'playwright-core';
import type { ClassRecord, Geometry } from '../../src-main/common/model';
import { insertAnnotations } from '../../src-main/db/annotations';
import { insertModelRun } from '../../src-main/db/modelRuns';
import { chromiumOrSkip, startApp, toPage, type App } from '../helpers/browser';

/**
 * The object list beside the canvas, in the real renderer (browser mode, real services,
 * Chromium): picking a shape that lies under a larger one, bringing it into view, hiding a class
 * (read back from the canvas pixels), locking a shape so a drag cannot move it (read back from
 * the dataset file), Tab through the list, Delete and undo from the list, sorting by area, and
 * only a screenful of rows in the DOM for 5,000 shapes.
 */
const W = 400;
const H = 300;
const MANY = 5000;

const prerequisites = chromiumOrSkip('object list');

interface HookedViewer {
  overlayState: { selected: readonly number[] };
  visibleRegion(): { x: number; y: number; w: number; h: number } | null;
  zoomTo(r: { x: number; y: number; w: number; h: number }): void;
}

const viewer = (page: Page) => ({
  selected: () => page.evaluate(() => [...(globalThis as unknown as { __tesseraCanvas: HookedViewer }).__tesseraCanvas.overlayState.selected]),
  region: () => page.evaluate(() => (globalThis as unknown as { __tesseraCanvas: HookedViewer }).__tesseraCanvas.visibleRegion()),
  zoomTo: (r: { x: number; y: number; w: number; h: number }) =>
    page.evaluate((rect) => (globalThis as unknown as { __tesseraCanvas: HookedViewer }).__tesseraCanvas.zoomTo(rect), r),
});

function storedGeometry(file: string, id: number): Geometry | null {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const r = db.prepare('SELECT geometry FROM annotations WHERE id = ?').get(id) as { geometry: string } | undefined;
    return r ? (JSON.parse(r.geometry) as Geometry) : null;
  } finally {
    db.close();
  }
}

const rowIds = (page: Page): Promise<number[]> =>
  page.locator('[data-testid="object-row"]').evaluateAll((els) =>
    els
      .map((e) => ({ id: Number(e.getAttribute('data-id')), i: Number(e.getAttribute('data-index')) }))
      .sort((a, b) => a.i - b.i)
      .map((r) => r.id),
  );
const total = async (page: Page): Promise<number> => Number(await page.getByTestId('object-rows').getAttribute('data-total'));
const row = (page: Page, id: number) => page.locator(`[data-testid="object-row"][data-id="${id}"]`);

describe('object list', () => {
  let app: App | null = null;

  beforeAll(async () => {
    if (prerequisites.skip) return;
    app = await startApp({ tmpPrefix: 'tessera-objects-' });
  });

  afterAll(async () => {
    await app?.close();
  });

  it.skipIf(prerequisites.skip)('picks, reveals, hides, locks, cycles, deletes and sorts shapes; 5,000 shapes keep a screenful of rows', async () => {
    prerequisites.assertPresent();
    const { server: srv, tmp } = app!;
    const h = srv.workspace.handlers;
    const imagesDir = path.join(tmp, 'images');
    fs.mkdirSync(imagesDir);
    for (const [i, name] of ['a.png', 'b.png'].entries()) {
      await sharp({ create: { width: W, height: H, channels: 3, background: { r: 60 + i * 20, g: 70, b: 80 } } })
        .png()
        .toFile(path.join(imagesDir, name));
    }
    const datasetFile = path.join(tmp, 'objects.tessera');
    await h['dataset:create']({ path: datasetFile, root: tmp });
    await h['images:import']({ jobId: 'objects', paths: [imagesDir], recursive: true, allowOutsideRoot: false });
    const items = (await h['images:list']({ filter: {}, offset: 0, limit: 10 })).items.sort((a, b) => a.path.localeCompare(b.path));
    const [imageA, imageB] = [items[0]!.id, items[1]!.id];
    const classes: ClassRecord[] = [];
    for (const [name, color] of [
      ['large', '#e6194b'],
      ['small', '#3cb44b'],
      ['other', '#4363d8'],
    ] as const)
      classes.push(await h['classes:create']({ name, color }));
    const [large, small, other] = classes.map((c) => c.id) as [number, number, number];
    const db = srv.workspace.current!.db;
    const run = await insertModelRun(db, { model: 'test-model' });
    // A small box under a large one (the large one stacked on top), a medium box of the same class
    // as the small one, and a prediction.
    const [bigId, smallId, mediumId, predId] = await insertAnnotations(db, [
      { imageId: imageA, classId: large, geometry: { kind: 'box', x: 10, y: 10, w: 250, h: 200 }, source: 'human', z: 5 },
      { imageId: imageA, classId: small, geometry: { kind: 'box', x: 40, y: 150, w: 16, h: 12 }, source: 'human', z: 1 },
      { imageId: imageA, classId: small, geometry: { kind: 'box', x: 290, y: 40, w: 60, h: 50 }, source: 'human', z: 4 },
      { imageId: imageA, classId: other, geometry: { kind: 'box', x: 300, y: 220, w: 80, h: 60 }, source: 'model', modelRunId: run, score: 0.7, z: 2 },
    ]) as [number, number, number, number];
    const many = Array.from({ length: MANY }, (_, i) => ({
      imageId: imageB,
      classId: classes[i % 3]!.id,
      geometry: { kind: 'box' as const, x: (i % 100) * 4, y: Math.floor(i / 100) * 6, w: 3, h: 4 },
      source: 'human' as const,
    }));
    await insertAnnotations(db, many);

    const { page, pageErrors } = await app!.newPage({ viewport: { width: 1400, height: 1000 }, hooks: true });
    await page.getByTestId('grid-cell').first().click();
    await page.locator('[data-testid="viewer"][data-ready="true"]').waitFor({ timeout: 30_000 });
    expect(Number(await page.getByTestId('viewer').getAttribute('data-image-id'))).toBe(imageA);
    await expect.poll(() => total(page)).toBe(4);
    // Default order: stacking order (z, then id).
    expect(await rowIds(page)).toEqual([smallId, predId, mediumId, bigId]);

    // Pick the small box from the list while the view shows another part of the image: it is
    // selected (not the large box over it) and the view pans to it, keeping the zoom.
    const v = viewer(page);
    await v.zoomTo({ x: 300, y: 220, w: 80, h: 60 });
    const zoomBefore = Number(await page.getByTestId('viewer').getAttribute('data-zoom'));
    const r0 = (await v.region())!;
    expect(r0.x).toBeGreaterThan(56); // the small box is off screen
    await row(page, smallId).click();
    await expect.poll(() => v.selected()).toEqual([smallId]);
    await expect.poll(() => row(page, smallId).getAttribute('aria-selected')).toBe('true');
    const r1 = (await v.region())!;
    expect(r1.x).toBeLessThanOrEqual(40);
    expect(r1.x + r1.w).toBeGreaterThanOrEqual(56);
    expect(r1.y).toBeLessThanOrEqual(150);
    expect(r1.y + r1.h).toBeGreaterThanOrEqual(162);
    expect(Number(await page.getByTestId('viewer').getAttribute('data-zoom'))).toBeCloseTo(zoomBefore, 6);
    await page.getByTestId('viewer-fit').click();

    // Ctrl adds to the selection, Shift selects the range in list order.
    await row(page, predId).click({ modifiers: ['Control'] });
    await expect.poll(() => v.selected()).toEqual([smallId, predId]);
    await row(page, smallId).click();
    await row(page, mediumId).click({ modifiers: ['Shift'] });
    await expect.poll(async () => [...(await v.selected())].sort((a, b) => a - b)).toEqual([smallId, mediumId, predId].sort((a, b) => a - b));

    // Sort by area: the smallest first.
    await page.getByTestId('object-sort').selectOption('area');
    await expect.poll(() => rowIds(page)).toEqual([smallId, mediumId, predId, bigId]);
    await page.getByTestId('object-sort').selectOption('score');
    await expect.poll(async () => (await rowIds(page))[0]).toBe(predId);
    await page.getByTestId('object-sort').selectOption('area');

    // Tab and Shift+Tab step through the list in its order, round it.
    await row(page, smallId).click();
    await page.keyboard.press('Tab');
    await expect.poll(() => v.selected()).toEqual([mediumId]);
    await page.keyboard.press('Tab');
    await expect.poll(() => v.selected()).toEqual([predId]);
    await page.keyboard.press('Tab');
    await page.keyboard.press('Tab');
    await expect.poll(() => v.selected()).toEqual([smallId]);
    await page.keyboard.press('Shift+Tab');
    await expect.poll(() => v.selected()).toEqual([bigId]);

    // Delete with the focus in the list deletes the picked shape from the dataset; undo restores it.
    await row(page, mediumId).click();
    await expect
      .poll(() => page.evaluate(() => (globalThis as unknown as { document: { activeElement: { getAttribute(n: string): string | null } | null } }).document.activeElement?.getAttribute('data-testid')))
      .toBe('object-rows');
    await page.keyboard.press('Delete');
    await expect.poll(() => total(page)).toBe(3);
    expect(storedGeometry(datasetFile, mediumId)).toBeNull();
    await page.keyboard.press('Control+z');
    await expect.poll(() => total(page)).toBe(4);
    const restored = (await rowIds(page)).find((id) => ![smallId, predId, bigId].includes(id))!;
    expect(storedGeometry(datasetFile, restored)).toEqual({ kind: 'box', x: 290, y: 40, w: 60, h: 50 });

    // Hide the class "small" from the list: its shapes leave the canvas (pixels read back), the
    // others stay; showing it again brings them back.
    await expect.poll(() => v.selected()).toEqual([]);
    const stage = page.locator('[data-testid="viewer"] .stage');
    const shot = async (): Promise<{ data: Buffer; width: number }> => {
      await page.waitForTimeout(300);
      const png = await stage.screenshot();
      const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
      return { data, width: info.width };
    };
    const region = async (x: number, y: number, w: number, hh: number) => {
      const a = await toPage(page, x, y);
      const b = await toPage(page, x + w, y + hh);
      const box = (await stage.boundingBox())!;
      return { x0: Math.round(a.x - box.x), y0: Math.round(a.y - box.y), x1: Math.round(b.x - box.x), y1: Math.round(b.y - box.y) };
    };
    const changed = (p: { data: Buffer; width: number }, q: { data: Buffer; width: number }, r: { x0: number; y0: number; x1: number; y1: number }) => {
      let n = 0;
      for (let y = r.y0; y <= r.y1; y++)
        for (let x = r.x0; x <= r.x1; x++) {
          const o = (y * p.width + x) * 3;
          if (Math.abs(p.data[o]! - q.data[o]!) + Math.abs(p.data[o + 1]! - q.data[o + 1]!) + Math.abs(p.data[o + 2]! - q.data[o + 2]!) > 12) n++;
        }
      return n;
    };
    const mediumArea = await region(290, 40, 60, 50);
    const predArea = await region(300, 220, 80, 60);
    const shown = await shot();
    await page.locator(`[data-testid="object-class"][data-object-class="${small}"] [data-testid="object-class-hide"]`).click();
    const hiddenShot = await shot();
    expect(changed(shown, hiddenShot, mediumArea)).toBeGreaterThan(100);
    expect(changed(shown, hiddenShot, predArea)).toBe(0);
    // The rows stay, marked hidden, so the class can be shown again from here.
    expect(await row(page, smallId).getAttribute('class')).toContain('hidden');
    await page.locator(`[data-testid="object-class"][data-object-class="${small}"] [data-testid="object-class-hide"]`).click();
    expect(changed(shown, await shot(), mediumArea)).toBe(0);

    // Lock the medium box from its row: a drag on it with the select tool moves nothing.
    await page.keyboard.press('v');
    const mediumNow = restored;
    await row(page, mediumNow).locator('[data-testid="object-lock"]').click();
    await expect.poll(() => row(page, mediumNow).getAttribute('class')).toContain('locked');
    const drag = async (): Promise<void> => {
      const from = await toPage(page, 320, 65);
      const to = await toPage(page, 340, 100);
      await page.mouse.move(from.x, from.y);
      await page.mouse.down();
      await page.mouse.move(to.x, to.y, { steps: 8 });
      await page.mouse.up();
      await page.waitForTimeout(500);
    };
    await drag();
    expect(storedGeometry(datasetFile, mediumNow)).toEqual({ kind: 'box', x: 290, y: 40, w: 60, h: 50 });
    // Unlocked, the same drag moves it: the lock was what held it.
    await row(page, mediumNow).locator('[data-testid="object-lock"]').click();
    await drag();
    await expect.poll(() => storedGeometry(datasetFile, mediumNow)).toEqual({ kind: 'box', x: 310, y: 75, w: 60, h: 50 });

    // 5,000 shapes: the list knows them all but holds a screenful of rows; scrolled to the end
    // it shows the last ones, still a screenful.
    await page.keyboard.press('d');
    await expect.poll(() => page.getByTestId('viewer').getAttribute('data-image-id')).toBe(String(imageB));
    await expect.poll(() => total(page), { timeout: 30_000 }).toBe(MANY);
    const inDom = await page.locator('[data-testid="object-row"]').count();
    expect(inDom).toBeGreaterThan(5);
    expect(inDom).toBeLessThan(40);
    await page.getByTestId('object-rows').evaluate((el) => (el.scrollTop = el.scrollHeight));
    await expect.poll(async () => Math.max(...(await page.locator('[data-testid="object-row"]').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-index'))))))).toBe(MANY - 1);
    expect(await page.locator('[data-testid="object-row"]').count()).toBeLessThan(40);

    // The class filter outlives the viewer: closed and opened again, the dropdown still names the
    // class the list is filtered by.
    await page.getByTestId('object-class-filter').selectOption(String(small));
    await expect.poll(() => total(page)).toBe(Math.ceil((MANY - 1) / 3));
    await page.getByTestId('viewer-back').click();
    await page.getByTestId('grid-cell').first().click();
    await page.locator(`[data-testid="viewer"][data-image-id="${imageA}"][data-ready="true"]`).waitFor({ timeout: 30_000 });
    await expect.poll(() => total(page)).toBe(2);
    expect(await page.getByTestId('object-class-filter').inputValue()).toBe(String(small));
    await page.getByTestId('object-class-filter').selectOption('all');
    await expect.poll(() => total(page)).toBe(4);

    expect(pageErrors).toEqual([]);
  });
});
