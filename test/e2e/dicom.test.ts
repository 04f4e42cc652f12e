import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { getRememberedWindow } from '../../src-main/db/imaging';
import { openDatabase } from '../../src-main/db/open';
import { chromiumOrSkip, startApp, toPage, type App } from '../helpers/browser';
import { enhancedDicom, storedPixels } from '../helpers/enhancedDicom';
import { sharedPath } from '../helpers/shared';
import { newWorkspace, ok } from '../helpers/workspace';

/**
 * Window/level in the real renderer on a real CT slice: the panel shows the automatic window, a
 * CT preset re-renders the view and is remembered, a right-drag changes width (horizontal) and
 * center (vertical) with the values shown live and remembered when released, and a selected box
 * shows its area in mm² from the file's pixel spacing.
 */
const dicomDir = sharedPath('datasets/dicom_pydicom');
const prerequisites = chromiumOrSkip('dicom', dicomDir ? [] : [{ path: '../shared/datasets/dicom_pydicom', what: 'DICOM samples' }]);

const values = async (page: Page) => {
  const el = page.getByTestId('window-values');
  return { center: Number(await el.getAttribute('data-center')), width: Number(await el.getAttribute('data-width')) };
};

/** Share of the pixels of the bitmap the viewer shows that are white (255, all channels); -1 before it has loaded. */
const whiteShare = (page: Page) =>
  page.evaluate(`(() => {
    const image = globalThis.__tesseraCanvas.image;
    if (!image || !image.complete || image.naturalWidth === 0) return -1;
    const canvas = document.createElement('canvas');
    canvas.width = image.naturalWidth;
    canvas.height = image.naturalHeight;
    const ctx = canvas.getContext('2d');
    ctx.drawImage(image, 0, 0);
    const { data } = ctx.getImageData(0, 0, canvas.width, canvas.height);
    let white = 0;
    for (let i = 0; i < data.length; i += 4) if (data[i] === 255 && data[i + 1] === 255 && data[i + 2] === 255) white++;
    return white / (data.length / 4);
  })()`) as Promise<number>;

/** The URL of the bitmap the viewer shows. */
const shownUrl = (page: Page) =>
  page.evaluate(() => (globalThis as unknown as { __tesseraCanvas: { image: { src: string } | null } }).__tesseraCanvas.image?.src ?? '');

describe('DICOM window/level in the browser', () => {
  let app: App | null = null;

  beforeAll(async () => {
    if (!prerequisites.skip) app = await startApp({ tmpPrefix: 'tessera-dicom-e2e-' });
  });

  afterAll(async () => {
    await app?.close();
  });

  it.skipIf(prerequisites.skip || !dicomDir)('adjusts, presets and remembers the window; shows areas in mm²', { timeout: 120_000 }, async () => {
    prerequisites.assertPresent();
    const { tmp } = app!;
    const file = path.join(tmp, 'ct.tessera');
    const ws = newWorkspace(app!.configDir);
    await ok(ws, 'dataset:create', { path: file, root: tmp });
    await ok(ws, 'images:import', { jobId: 'imp', paths: [path.join(dicomDir!, 'CT_small.dcm')], allowOutsideRoot: true });
    const { items } = await ok(ws, 'images:list', {});
    const ct = items[0]!.id;
    const cls = (await ok(ws, 'classes:create', { name: 'lesion' })).id;
    await ok(ws, 'annotations:edit', { imageId: ct, label: 'box', ops: [{ op: 'create', draft: { classId: cls, geometry: { kind: 'box', x: 40, y: 50, w: 20, h: 10 } } }] });
    const auto = (await ok(ws, 'imaging:getWindow', { imageId: ct })).window!;
    await ws.close();

    const { page, pageErrors } = await app!.newPage({ viewport: { width: 1400, height: 900 }, hooks: true });
    await page.getByTestId('open-dataset-path').fill(file);
    await page.getByTestId('open-dataset').click();
    await page.locator(`[data-testid="grid-cell"][data-image-id="${ct}"]`).click();
    await page.locator(`[data-testid="viewer"][data-image-id="${ct}"][data-ready="true"]`).waitFor({ timeout: 30_000 });

    // The automatic window, with the CT presets offered.
    await expect.poll(() => values(page)).toEqual(auto);
    expect(await page.getByTestId('window-source').textContent()).toContain('automatic');
    expect(await page.getByTestId('window-preset').allTextContents()).toEqual(['Lung', 'Mediastinum', 'Bone', 'Brain', 'Abdomen']);

    // A preset re-renders the view through that window and is remembered for the image.
    await page.getByTestId('window-preset').filter({ hasText: 'Lung' }).click();
    await expect.poll(() => values(page)).toEqual({ center: -600, width: 1500 });
    await expect.poll(() => shownUrl(page)).toMatch(new RegExp(`/${ct}/[\\w-]+/0/-600/1500$`));
    expect(await page.getByTestId('window-source').textContent()).toContain('remembered for image');

    // Right-drag: 100 px right widens, 50 px down raises the center; sensitivity is range / 500.
    const zoomBefore = await page.getByTestId('viewer').getAttribute('data-zoom');
    const start = await toPage(page, 64, 64);
    await page.mouse.move(start.x, start.y);
    await page.mouse.down({ button: 'right' });
    await page.mouse.move(start.x + 50, start.y + 25, { steps: 4 });
    await page.mouse.move(start.x + 100, start.y + 50, { steps: 4 });
    const live = await values(page);
    expect(live.width).toBeGreaterThan(1500);
    await page.mouse.up({ button: 'right' });
    const step = (1167 - -896) / 500;
    await expect.poll(async () => (await values(page)).width).toBeCloseTo(1500 + 100 * step, 6);
    expect((await values(page)).center).toBeCloseTo(-600 + 50 * step, 6);
    // The drag adjusted the window, not the view, and opened no menu.
    expect(await page.getByTestId('viewer').getAttribute('data-zoom')).toBe(zoomBefore);
    expect(await page.getByTestId('context-menu').count()).toBe(0);
    await expect.poll(async () => {
      const db = openDatabase(file);
      try {
        return (await getRememberedWindow(db, ct))?.window.width ?? null;
      } finally {
        await db.close();
      }
    }).toBeCloseTo(1500 + 100 * step, 3);

    // A right click that jitters a few pixels opens the menu and leaves the window as it was,
    // on screen and remembered.
    const settled = await values(page);
    await page.mouse.move(start.x, start.y);
    await page.mouse.down({ button: 'right' });
    await page.mouse.move(start.x + 3, start.y + 2, { steps: 2 });
    await page.mouse.up({ button: 'right' });
    await page.getByTestId('context-menu').waitFor();
    await expect.poll(() => values(page)).toEqual(settled);
    await expect.poll(() => shownUrl(page)).toMatch(new RegExp(`/${ct}/[\\w-]+/0/${Math.round(settled.center * 100) / 100}/${Math.round(settled.width * 100) / 100}$`));
    const db = openDatabase(file);
    try {
      expect((await getRememberedWindow(db, ct))?.window.width).toBeCloseTo(1500 + 100 * step, 3);
      expect((await getRememberedWindow(db, ct))?.window.center).toBeCloseTo(-600 + 50 * step, 3);
    } finally {
      await db.close();
    }

    // Select the box: its area in mm² from the pixel spacing (0.661468 mm both ways).
    await page.getByTestId('tool-select').focus();
    await page.keyboard.press('v');
    const inBox = await toPage(page, 50, 55);
    await page.mouse.click(inBox.x, inBox.y);
    await expect.poll(() => page.getByTestId('selection-area-mm2').textContent()).toContain(`${(200 * 0.661468 * 0.661468).toFixed(1)} mm²`);

    // Reset goes back to the automatic window.
    await page.getByTestId('window-reset').click();
    await expect.poll(() => values(page)).toEqual(auto);
    expect(pageErrors).toEqual([]);
  });
});

/**
 * Enhanced (multi-frame) CT, built in the test with dcmjs from CT_small's pixels, with the
 * rescale only in the Shared Functional Groups: shown in HU when its Rescale Type says HU, and
 * never called HU when its Rescale Type is US (a derived perfusion map).
 */
describe('enhanced DICOM values in the browser', () => {
  let app: App | null = null;

  beforeAll(async () => {
    if (!prerequisites.skip) app = await startApp({ tmpPrefix: 'tessera-dicom-enhanced-e2e-' });
  });

  afterAll(async () => {
    await app?.close();
  });

  it.skipIf(prerequisites.skip || !dicomDir)(
    'enhanced CT: HU from the shared functional groups and a Brain preset that is not white; a US perfusion map is never called HU',
    { timeout: 120_000 },
    async () => {
      prerequisites.assertPresent();
      const { tmp } = app!;
      // Two-frame enhanced CT objects from CT_small's pixels, rescale only in the functional groups.
      const { samples, rows, columns } = storedPixels(path.join(dicomDir!, 'CT_small.dcm'));
      const frames = [samples, Int16Array.from(samples).reverse()];
      const ctFile = path.join(tmp, 'a-enhanced-ct.dcm');
      const mapFile = path.join(tmp, 'b-perfusion-map.dcm');
      fs.writeFileSync(ctFile, enhancedDicom({ rows, columns, frames, shared: { rescale: { intercept: -1024, slope: 1, type: 'HU' } } }));
      fs.writeFileSync(mapFile, enhancedDicom({ rows, columns, frames, shared: { rescale: { intercept: 0, slope: 0.1, type: 'US' } } }));
      const file = path.join(tmp, 'enhanced.tessera');
      const ws = newWorkspace(app!.configDir);
      await ok(ws, 'dataset:create', { path: file, root: tmp });
      await ok(ws, 'images:import', { jobId: 'imp', paths: [ctFile, mapFile] });
      const { items } = await ok(ws, 'images:list', {});
      const ct = items.find((i) => i.path.endsWith('a-enhanced-ct.dcm'))!.id;
      const map = items.find((i) => i.path.endsWith('b-perfusion-map.dcm'))!.id;
      await ws.close();

      const { page, pageErrors } = await app!.newPage({ viewport: { width: 1400, height: 900 }, hooks: true });
      await page.getByTestId('open-dataset-path').fill(file);
      await page.getByTestId('open-dataset').click();
      await page.locator(`[data-testid="grid-cell"][data-image-id="${ct}"]`).click();
      await page.locator(`[data-testid="viewer"][data-image-id="${ct}"][data-ready="true"]`).waitFor({ timeout: 30_000 });

      // In HU, with the CT presets; Brain (40/80 HU) shows soft tissue grey, not a white square.
      await expect.poll(() => page.getByTestId('window-unit').textContent()).toBe('HU');
      expect(await page.getByTestId('window-preset').allTextContents()).toEqual(['Lung', 'Mediastinum', 'Bone', 'Brain', 'Abdomen']);
      await page.getByTestId('window-preset').filter({ hasText: 'Brain' }).click();
      await expect.poll(() => values(page)).toEqual({ center: 40, width: 80 });
      await expect.poll(() => shownUrl(page)).toMatch(new RegExp(`/${ct}/[\\w-]+/0/40/80$`));
      await expect.poll(() => whiteShare(page)).toBeGreaterThanOrEqual(0);
      const white = await whiteShare(page);
      expect(white).toBeLessThan(0.5);

      // The perfusion map: no unit claimed, no HU presets, HU nowhere in the panel.
      await page.keyboard.press('ArrowRight');
      await page.locator(`[data-testid="viewer"][data-image-id="${map}"][data-ready="true"]`).waitFor({ timeout: 30_000 });
      await expect.poll(() => page.getByTestId('window-unit').textContent()).toBe('unspecified unit');
      expect(await page.getByTestId('window-source').textContent()).toContain('automatic');
      expect(await page.getByTestId('window-preset').count()).toBe(0);
      expect(await page.getByTestId('window-panel').textContent()).not.toMatch(/\bHU\b/);
      expect(pageErrors).toEqual([]);
    },
  );
});
