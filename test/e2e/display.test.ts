import fs from 'node:fs';
import path from 'node:path';
import dicomParser from 'dicom-parser';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { getDisplay } from '../../src-main/db/display';
import { openDatabase } from '../../src-main/db/open';
import { chromiumOrSkip, startApp, toPage, type App } from '../helpers/browser';
import { fromFile } from 'geotiff';
import { sharedPath } from '../helpers/shared';
import { newWorkspace, ok } from '../helpers/workspace';

/**
 * Display controls, the pixel readout and the ruler in the real renderer: contrast changes the
 * pixels drawn on the canvas (read back from it) and is remembered for the image; the value
 * under the pointer on a CT slice is its stored value × slope + intercept in HU, as read from the
 * file by dicom-parser; a ruler on it measures mm with the file's pixel spacing.
 */
const ctFile = sharedPath('datasets/dicom_pydicom/CT_small.dcm');
const geoDir = sharedPath('datasets/geotiff_rasterio');
const prerequisites = chromiumOrSkip('display', ctFile ? [] : [{ path: '../shared/datasets/dicom_pydicom/CT_small.dcm', what: 'DICOM CT sample' }]);

/** The RGB drawn on the viewer's image layer at the centre of image pixel (x, y). */
const drawnPixel = (page: Page, x: number, y: number) =>
  page.evaluate(
    ([px, py]) => {
      // The root tsconfig has no DOM types: the little of the canvas used here.
      type Canvas = {
        width: number;
        getBoundingClientRect(): { width: number };
        getContext(id: '2d'): { getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray } } | null;
      };
      type Layer = { getCanvas(): { _canvas: Canvas } };
      const viewer = (globalThis as unknown as { __tesseraCanvas: { imageLayer: Layer; imageToStage(p: { x: number; y: number }): { x: number; y: number } } }).__tesseraCanvas;
      const canvas = viewer.imageLayer.getCanvas()._canvas;
      const s = viewer.imageToStage({ x: px! + 0.5, y: py! + 0.5 });
      const ratio = canvas.width / canvas.getBoundingClientRect().width;
      const d = canvas.getContext('2d')!.getImageData(Math.floor(s.x * ratio), Math.floor(s.y * ratio), 1, 1).data;
      return [d[0]!, d[1]!, d[2]!] as [number, number, number];
    },
    [x, y],
  );

async function openImage(page: Page, id: number): Promise<void> {
  await page.locator(`[data-testid="grid-cell"][data-image-id="${id}"]`).click();
  await page.locator(`[data-testid="viewer"][data-image-id="${id}"][data-ready="true"]`).waitFor({ timeout: 30_000 });
}

describe('display controls, readout and ruler in the browser', () => {
  let app: App | null = null;

  beforeAll(async () => {
    if (!prerequisites.skip) app = await startApp({ tmpPrefix: 'tessera-display-e2e-' });
  });

  afterAll(async () => {
    await app?.close();
  });

  it.skipIf(prerequisites.skip)('contrast changes the drawn pixels and is remembered for the image', { timeout: 120_000 }, async () => {
    const { tmp } = app!;
    const imgs = path.join(tmp, 'imgs');
    fs.mkdirSync(imgs);
    // Flat halves, so smoothing at any zoom draws the stored grey inside each half.
    const half = (v: number) => sharp({ create: { width: 32, height: 64, channels: 3, background: { r: v, g: v, b: v } } }).png().toBuffer();
    await sharp({ create: { width: 64, height: 64, channels: 3, background: { r: 0, g: 0, b: 0 } } })
      .composite([
        { input: await half(100), left: 0, top: 0 },
        { input: await half(180), left: 32, top: 0 },
      ])
      .png()
      .toFile(path.join(imgs, 'a.png'));
    await sharp({ create: { width: 48, height: 48, channels: 3, background: { r: 60, g: 120, b: 200 } } }).png().toFile(path.join(imgs, 'b.png'));
    const file = path.join(tmp, 'd.tessera');
    const ws = newWorkspace(app!.configDir);
    await ok(ws, 'dataset:create', { path: file, root: tmp });
    await ok(ws, 'images:import', { jobId: 'imp', paths: [imgs] });
    const { items } = await ok(ws, 'images:list', {});
    const a = items.find((i) => i.path.endsWith('a.png'))!.id;
    const b = items.find((i) => i.path.endsWith('b.png'))!.id;
    await ws.close();

    const { page, pageErrors } = await app!.newPage({ viewport: { width: 1400, height: 900 }, hooks: true });
    await page.getByTestId('open-dataset-path').fill(file);
    await page.getByTestId('open-dataset').click();
    await openImage(page, a);
    await expect.poll(() => drawnPixel(page, 10, 30)).toEqual([100, 100, 100]);
    expect(await drawnPixel(page, 50, 30)).toEqual([180, 180, 180]);
    // The histogram of a grey image: one channel, every pixel counted.
    await expect.poll(() => page.getByTestId('display-histogram').getAttribute('data-grey')).toBe('true');
    expect(Number(await page.getByTestId('display-histogram').getAttribute('data-pixels'))).toBe(64 * 64);

    // Contrast 50: slope 2 around mid-grey (127.5): 100 → 72.5, 180 → 232.5.
    await page.getByTestId('display-contrast').fill('50');
    await expect.poll(async () => (await drawnPixel(page, 10, 30))[0]).toBeLessThan(80);
    const low = await drawnPixel(page, 10, 30);
    const high = await drawnPixel(page, 50, 30);
    for (const v of low) expect(Math.abs(v - 72.5)).toBeLessThanOrEqual(0.5);
    for (const v of high) expect(Math.abs(v - 232.5)).toBeLessThanOrEqual(0.5);
    await expect.poll(() => page.getByTestId('display-settings').getAttribute('data-source')).toBe('image');

    // The other image opens with the dataset's default; its own colour channels can be hidden.
    await page.getByTestId('viewer-back').click();
    await openImage(page, b);
    await expect.poll(() => page.getByTestId('display-settings').getAttribute('data-source')).toBe('dataset');
    expect(await page.getByTestId('display-settings').getAttribute('data-contrast')).toBe('50');
    await expect.poll(() => page.getByTestId('display-histogram').getAttribute('data-grey')).toBe('false');
    // Reset: this image as stored, and no default for others; the first image keeps its own.
    await page.getByTestId('display-reset').click();
    await expect.poll(() => page.getByTestId('display-settings').getAttribute('data-source')).toBe('default');
    await expect.poll(() => drawnPixel(page, 20, 20)).toEqual([60, 120, 200]);
    await page.getByTestId('display-channel-G').uncheck();
    await expect.poll(() => drawnPixel(page, 20, 20)).toEqual([60, 0, 200]);
    await page.getByTestId('display-reset').click();
    await expect.poll(() => drawnPixel(page, 20, 20)).toEqual([60, 120, 200]);

    // Back on the first image: its contrast is remembered, on screen and in the dataset.
    await page.getByTestId('viewer-back').click();
    await openImage(page, a);
    await expect.poll(() => page.getByTestId('display-settings').getAttribute('data-contrast')).toBe('50');
    await expect.poll(async () => (await drawnPixel(page, 10, 30))[0]).toBeLessThan(80);
    const db = openDatabase(file);
    try {
      expect(await getDisplay(db, a)).toMatchObject({ source: 'image', settings: { contrast: 50 } });
      expect((await getDisplay(db, b)).source).toBe('default');
    } finally {
      await db.close();
    }
    expect(pageErrors).toEqual([]);
  });

  it.skipIf(prerequisites.skip)('adjusts an image shown from its tile pyramid, and reads its original values', { timeout: 180_000 }, async () => {
    const saved = process.env['TESSERA_PYRAMID_PIXELS'];
    // The server runs in this process and reads the threshold when an image is opened.
    process.env['TESSERA_PYRAMID_PIXELS'] = String(100_000);
    const tiledApp = await startApp({ tmpPrefix: 'tessera-display-tiled-e2e-' });
    try {
      const { tmp } = tiledApp;
      const imgs = path.join(tmp, 'imgs');
      fs.mkdirSync(imgs);
      const half = (v: number) => sharp({ create: { width: 300, height: 400, channels: 3, background: { r: v, g: v, b: v } } }).png().toBuffer();
      await sharp({ create: { width: 600, height: 400, channels: 3, background: { r: 0, g: 0, b: 0 } } })
        .composite([
          { input: await half(100), left: 0, top: 0 },
          { input: await half(180), left: 300, top: 0 },
        ])
        .removeAlpha()
        .png()
        .toFile(path.join(imgs, 'big.png'));
      const file = path.join(tmp, 'd.tessera');
      const ws = newWorkspace(tiledApp.configDir);
      await ok(ws, 'dataset:create', { path: file, root: tmp });
      await ok(ws, 'images:import', { jobId: 'imp', paths: [imgs] });
      const id = (await ok(ws, 'images:list', {})).items[0]!.id;
      await ws.close();
      const { page, pageErrors } = await tiledApp.newPage({ viewport: { width: 1400, height: 900 }, hooks: true });
      await page.getByTestId('open-dataset-path').fill(file);
      await page.getByTestId('open-dataset').click();
      await openImage(page, id);
      expect(await page.evaluate(() => (globalThis as unknown as { __tesseraCanvas: { tiled: boolean } }).__tesseraCanvas.tiled)).toBe(true);
      await expect.poll(async () => (await drawnPixel(page, 100, 200))[0]).toBeGreaterThan(95);
      // Contrast 50: 100 → 72.5 and 180 → 232.5 on the tiles drawn (JPEG tiles: within a few levels of the stored grey).
      await page.getByTestId('display-contrast').fill('50');
      await expect.poll(async () => (await drawnPixel(page, 100, 200))[0]).toBeLessThan(80);
      expect(Math.abs((await drawnPixel(page, 100, 200))[1] - 72.5)).toBeLessThanOrEqual(4.5);
      expect(Math.abs((await drawnPixel(page, 500, 200))[1] - 232.5)).toBeLessThanOrEqual(4.5);
      // The histogram comes from the pyramid's overview; the readout from the original file.
      await expect.poll(() => page.getByTestId('display-histogram').getAttribute('data-grey')).toBe('true');
      const at = await toPage(page, 450.5, 123.5);
      await page.mouse.move(at.x, at.y);
      const readout = page.getByTestId('pixel-readout');
      await expect.poll(() => readout.getAttribute('data-values')).toBe('180,180,180');
      expect(await readout.getAttribute('data-x')).toBe('450');
      expect(pageErrors).toEqual([]);
    } finally {
      await tiledApp.close();
      if (saved === undefined) delete process.env['TESSERA_PYRAMID_PIXELS'];
      else process.env['TESSERA_PYRAMID_PIXELS'] = saved;
    }
  });

  it.skipIf(prerequisites.skip || !geoDir)('measures a ruler in metres on a projected and on a geographic GeoTIFF', { timeout: 120_000 }, async () => {
    const geoApp = await startApp({ tmpPrefix: 'tessera-display-geo-e2e-' });
    try {
      const file = path.join(geoApp.tmp, 'geo.tessera');
      const ws = newWorkspace(geoApp.configDir);
      await ok(ws, 'dataset:create', { path: file, root: geoApp.tmp });
      const names = ['RGB.byte.tif', 'world.byte.tif'];
      await ok(ws, 'images:import', { jobId: 'imp', paths: names.map((n) => path.join(geoDir!, n)), allowOutsideRoot: true });
      const { items } = await ok(ws, 'images:list', {});
      await ws.close();
      const { page, pageErrors } = await geoApp.newPage({ viewport: { width: 1400, height: 900 }, hooks: true });
      await page.getByTestId('open-dataset-path').fill(file);
      await page.getByTestId('open-dataset').click();
      const measure = async (from: [number, number], to: [number, number]) => {
        await page.getByTestId('tool-select').focus();
        await page.keyboard.press('u');
        const p0 = await toPage(page, from[0], from[1]);
        const p1 = await toPage(page, to[0], to[1]);
        await page.mouse.move(p0.x, p0.y);
        await page.mouse.down();
        await page.mouse.move(p1.x, p1.y, { steps: 4 });
        await page.mouse.up();
        const ruler = page.getByTestId('ruler-length');
        await expect.poll(() => ruler.getAttribute('data-m')).not.toBeNull();
        const line = (await ruler.getAttribute('data-line'))!.split(',').map(Number) as [number, number, number, number];
        return { line, metres: Number(await ruler.getAttribute('data-m')), text: (await ruler.textContent()) ?? '' };
      };

      // UTM zone 18N (metres): the pixel size from the file, read here with geotiff.js.
      const utm = await (await fromFile(path.join(geoDir!, 'RGB.byte.tif'))).getImage();
      const [sx, sy] = utm.getResolution();
      await openImage(page, items.find((i) => i.path.endsWith('RGB.byte.tif'))!.id);
      const a = await measure([100, 100], [400, 500]);
      expect(a.metres).toBeCloseTo(Math.hypot((a.line[2] - a.line[0]) * sx!, (a.line[3] - a.line[1]) * sy!), 3);
      expect(a.metres).toBeGreaterThan(140_000);
      expect(a.text).toContain('km');
      await page.keyboard.press('Escape');

      // WGS 84 longitude/latitude, 0.125° pixels from (-180, 75): 80 pixels east along 25°N is 10°.
      await page.getByTestId('viewer-back').click();
      await openImage(page, items.find((i) => i.path.endsWith('world.byte.tif'))!.id);
      const b = await measure([1440, 400], [1520, 400]);
      const lat = 75 - 0.125 * ((b.line[1] + b.line[3]) / 2);
      const dLon = 0.125 * (b.line[2] - b.line[0]);
      // The sphere's great circle (mean radius) is within 0.5 % of the ellipsoid's geodesic here.
      const rad = Math.PI / 180;
      const sphere = 2 * 6371008.8 * Math.asin(Math.cos(lat * rad) * Math.sin((dLon * rad) / 2));
      expect(Math.abs(b.metres / sphere - 1)).toBeLessThan(0.005);
      expect(b.text).toContain('geodesic');
      expect(pageErrors).toEqual([]);
    } finally {
      await geoApp.close();
    }
  });

  it.skipIf(prerequisites.skip || !ctFile)('shows the HU under the pointer and measures a ruler in mm on CT_small.dcm', { timeout: 120_000 }, async () => {
    prerequisites.assertPresent();
    // An app of its own: the first test's app reopens that test's dataset.
    const ctApp = await startApp({ tmpPrefix: 'tessera-display-ct-e2e-' });
    try {
      await huAndRuler(ctApp);
    } finally {
      await ctApp.close();
    }
  });
});

async function huAndRuler(app: App): Promise<void> {
  {
    const { tmp } = app;
    const file = path.join(tmp, 'ct.tessera');
    const ws = newWorkspace(app.configDir);
    await ok(ws, 'dataset:create', { path: file, root: tmp });
    await ok(ws, 'images:import', { jobId: 'imp', paths: [ctFile!], allowOutsideRoot: true });
    const ct = (await ok(ws, 'images:list', {})).items[0]!.id;
    await ws.close();

    // The expected values straight from the file.
    const bytes = fs.readFileSync(ctFile!);
    const d = dicomParser.parseDicom(bytes);
    const cols = d.uint16('x00280011')!;
    const signed = d.uint16('x00280103') === 1;
    const slope = d.floatString('x00281053') ?? 1;
    const intercept = d.floatString('x00281052') ?? 0;
    const [rowSpacing, colSpacing] = [d.floatString('x00280030', 0)!, d.floatString('x00280030', 1)!];
    const px = d.elements['x7fe00010']!;
    const view = new DataView(bytes.buffer, bytes.byteOffset + px.dataOffset, px.length);
    const storedAt = (x: number, y: number) => (signed ? view.getInt16((y * cols + x) * 2, true) : view.getUint16((y * cols + x) * 2, true));

    const { page, pageErrors } = await app.newPage({ viewport: { width: 1400, height: 900 }, hooks: true });
    await page.getByTestId('open-dataset-path').fill(file);
    await page.getByTestId('open-dataset').click();
    await openImage(page, ct);

    // The histogram follows the display window: the lung window brightens the soft tissue.
    const hist = page.getByTestId('display-histogram');
    await expect.poll(() => hist.getAttribute('data-mean')).not.toBeNull();
    const meanBefore = Number(await hist.getAttribute('data-mean'));
    await page.getByTestId('window-preset').filter({ hasText: 'Lung' }).click();
    await expect.poll(async () => Number(await hist.getAttribute('data-mean'))).toBeGreaterThan(meanBefore + 10);

    const readout = page.getByTestId('pixel-readout');
    for (const [x, y] of [[40, 50], [64, 64], [10, 100]] as const) {
      const at = await toPage(page, x + 0.5, y + 0.5);
      await page.mouse.move(at.x, at.y);
      await expect.poll(async () => [await readout.getAttribute('data-x'), await readout.getAttribute('data-y')]).toEqual([String(x), String(y)]);
      const hu = page.getByTestId('pixel-modality');
      await expect.poll(() => hu.getAttribute('data-value')).toBe(String(storedAt(x, y) * slope + intercept));
      expect(await readout.getAttribute('data-stored')).toBe(String(storedAt(x, y)));
      expect(await hu.getAttribute('data-unit')).toBe('HU');
      expect(await hu.textContent()).toContain('HU');
    }

    // Ruler: U, drag from (10, 20) to (70, 100); the length in pixels and mm.
    await page.getByTestId('tool-select').focus();
    await page.keyboard.press('u');
    await expect.poll(() => page.getByTestId('viewer').getAttribute('data-tool')).toBe('ruler');
    const p0 = await toPage(page, 10, 20);
    const p1 = await toPage(page, 70, 100);
    await page.mouse.move(p0.x, p0.y);
    await page.mouse.down();
    await page.mouse.move((p0.x + p1.x) / 2, (p0.y + p1.y) / 2, { steps: 3 });
    await page.mouse.move(p1.x, p1.y, { steps: 3 });
    await page.mouse.up();
    const ruler = page.getByTestId('ruler-length');
    await ruler.waitFor();
    // The line as the viewer took it from the mouse (within a screen pixel of the target).
    const [x0, y0, x1, y1] = (await ruler.getAttribute('data-line'))!.split(',').map(Number) as [number, number, number, number];
    for (const [got, want] of [[x0, 10], [y0, 20], [x1, 70], [y1, 100]] as const) expect(Math.abs(got - want)).toBeLessThan(1);
    expect(Number(await ruler.getAttribute('data-px'))).toBeCloseTo(Math.hypot(x1 - x0, y1 - y0), 9);
    expect(Number(await ruler.getAttribute('data-mm'))).toBeCloseTo(Math.hypot((x1 - x0) * colSpacing, (y1 - y0) * rowSpacing), 9);
    expect(Number(await ruler.getAttribute('data-mm'))).toBeCloseTo(100 * 0.661468, 0);
    expect(await ruler.textContent()).toContain('mm');
    // Nothing was stored, and Esc clears the measurement.
    expect(await page.getByTestId('viewer').getAttribute('data-annotations')).toBe('0');
    await page.keyboard.press('Escape');
    await expect.poll(() => ruler.count()).toBe(0);
    expect(pageErrors).toEqual([]);
  }
}
