import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import sharp from 'sharp';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumOrSkip, startApp, toPage, type App } from '../helpers/browser';
import { sharedPath } from '../helpers/shared';
import { newWorkspace, ok } from '../helpers/workspace';

/**
 * Frames of multi-frame images in the real renderer: a 2-frame DICOM (the second frame is the
 * negative of the first) and a 3-page TIFF. `.` and `,` step frames and the status line says
 * which; each frame shows its own pixels; a box drawn on frame 2 is stored on it and is not shown
 * on frame 1; the frame last viewed is remembered in the dataset (a new page, after leaving the
 * image, opens it there); the slider and Alt+wheel step frames too; a display window dragged on
 * a later frame of a 15-frame RT dose re-renders that frame.
 */
const dicomDir = sharedPath('datasets/dicom_pydicom');
const prerequisites = chromiumOrSkip('frames', dicomDir ? [] : [{ path: '../shared/datasets/dicom_pydicom', what: 'DICOM samples' }]);

const PAGE_GREYS = [30, 220, 120];

/** RGB of one pixel of the bitmap the viewer shows (decoded by the browser, read back from a canvas). */
const pixel = (page: Page, x: number, y: number): Promise<number[]> =>
  page.evaluate(
    ([px, py]) => {
      // The test code is compiled without the DOM library: the page's objects are typed here.
      type Img = { naturalWidth: number; naturalHeight: number };
      type Ctx = { drawImage(i: Img, x: number, y: number): void; getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray } };
      type Canvas = { width: number; height: number; getContext(kind: '2d'): Ctx | null };
      const g = globalThis as unknown as { __tesseraCanvas: { image: Img | null }; document: { createElement(tag: 'canvas'): Canvas } };
      const img = g.__tesseraCanvas.image;
      if (!img) return [];
      const c = g.document.createElement('canvas');
      c.width = img.naturalWidth;
      c.height = img.naturalHeight;
      const ctx = c.getContext('2d')!;
      ctx.drawImage(img, 0, 0);
      return Array.from(ctx.getImageData(px!, py!, 1, 1).data.slice(0, 3));
    },
    [x, y],
  );

const attr = (page: Page, name: string) => page.getByTestId('viewer').getAttribute(name);
const statusFrame = (page: Page) => page.getByTestId('status-frame').textContent({ timeout: 2_000 }).catch(() => null);

function query<T>(file: string, sql: string): T[] {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return db.prepare(sql).all() as T[];
  } finally {
    db.close();
  }
}

describe('frames of multi-frame images in the browser', () => {
  let app: App | null = null;

  beforeAll(async () => {
    if (!prerequisites.skip) app = await startApp({ tmpPrefix: 'tessera-frames-e2e-' });
  });

  afterAll(async () => {
    await app?.close();
  });

  it.skipIf(prerequisites.skip || !dicomDir)('steps frames with keys, slider and Alt+wheel; boxes belong to their frame; the frame is remembered', { timeout: 180_000 }, async () => {
    prerequisites.assertPresent();
    const { tmp } = app!;
    const imgs = path.join(tmp, 'imgs');
    fs.mkdirSync(imgs);
    const pages = await Promise.all(
      PAGE_GREYS.map((v) => sharp({ create: { width: 120, height: 90, channels: 3, background: { r: v, g: v, b: v } } }).png().toBuffer()),
    );
    await sharp(pages, { join: { animated: true } }).tiff().toFile(path.join(imgs, 'stack.tif'));
    const file = path.join(tmp, 'frames.tessera');
    const ws = newWorkspace(app!.configDir);
    await ok(ws, 'dataset:create', { path: file, root: tmp });
    await ok(ws, 'images:import', { jobId: 'imp', paths: [path.join(dicomDir!, 'SC_rgb_rle_2frame.dcm'), path.join(dicomDir!, 'rtdose.dcm'), imgs], allowOutsideRoot: true });
    const { items } = await ok(ws, 'images:list', {});
    const dcm = items.find((i) => i.path.endsWith('SC_rgb_rle_2frame.dcm'))!;
    const tif = items.find((i) => i.path.endsWith('stack.tif'))!;
    const dose = items.find((i) => i.path.endsWith('rtdose.dcm'))!;
    expect([dcm.frames, tif.frames, dose.frames]).toEqual([2, 3, 15]);
    await ok(ws, 'classes:create', { name: 'cell' });
    await ws.close();

    const open = async (page: Page, id: number): Promise<void> => {
      await page.locator(`[data-testid="grid-cell"][data-image-id="${id}"]`).click();
      await page.locator(`[data-testid="viewer"][data-image-id="${id}"][data-ready="true"]`).waitFor({ timeout: 30_000 });
      await page.getByTestId('tool-select').focus();
    };
    const openPage = async () => {
      const p = await app!.newPage({ viewport: { width: 1400, height: 900 }, hooks: true });
      // The server keeps the dataset open: a later page starts in its grid.
      const start = p.page.getByTestId('open-dataset-path');
      await start.or(p.page.getByTestId('grid-cell').first()).first().waitFor();
      if (await start.isVisible()) {
        await start.fill(file);
        await p.page.getByTestId('open-dataset').click();
      }
      return p;
    };

    const { page, pageErrors } = await openPage();
    await open(page, dcm.id);

    // Frame 1 of 2: the file's first frame (red band at the top left).
    expect(await statusFrame(page)).toBe('frame 1 of 2');
    await expect.poll(() => attr(page, 'data-frame-shown')).toBe('0');
    const first = await pixel(page, 5, 5);
    expect(first).toEqual([255, 0, 0]);

    // `.`: frame 2 of 2, the negative of the first.
    await page.keyboard.press('.');
    await expect.poll(() => statusFrame(page)).toBe('frame 2 of 2');
    await expect.poll(() => attr(page, 'data-frame-shown')).toBe('1');
    expect(await pixel(page, 5, 5)).toEqual(first.map((v) => 255 - v));

    // A box drawn on frame 2 is stored with frame index 1 and is not shown on frame 1.
    await page.keyboard.press('b');
    const from = await toPage(page, 20, 20);
    const to = await toPage(page, 60, 70);
    await page.mouse.move(from.x, from.y);
    await page.mouse.down();
    await page.mouse.move(to.x, to.y, { steps: 8 });
    await page.mouse.up();
    await expect.poll(() => query<{ frame: number }>(file, 'SELECT frame FROM annotations').map((r) => r.frame)).toEqual([1]);
    await expect.poll(() => attr(page, 'data-annotations')).toBe('1');
    await page.keyboard.press(',');
    await expect.poll(() => statusFrame(page)).toBe('frame 1 of 2');
    await expect.poll(() => attr(page, 'data-frame-shown')).toBe('0');
    expect(await attr(page, 'data-annotations')).toBe('0');

    // Back to frame 2, leave the image: the frame is remembered in the dataset.
    await page.keyboard.press('.');
    await expect.poll(() => attr(page, 'data-frame-shown')).toBe('1');
    await page.getByTestId('viewer-back').click();
    await page.getByTestId('grid-cell').first().waitFor();
    await expect.poll(() => query<{ frame: number }>(file, `SELECT frame FROM image_viewed_frames WHERE image_id = ${dcm.id}`)).toEqual([{ frame: 1 }]);

    // Reopened in this page, and in a new one: on frame 2, with its box.
    await open(page, dcm.id);
    await expect.poll(() => attr(page, 'data-frame-shown')).toBe('1');
    expect(await statusFrame(page)).toBe('frame 2 of 2');
    expect(await pixel(page, 5, 5)).toEqual(first.map((v) => 255 - v));
    expect(await attr(page, 'data-annotations')).toBe('1');
    expect(pageErrors).toEqual([]);
    await page.context().close();

    const again = await openPage();
    await open(again.page, dcm.id);
    await expect.poll(() => attr(again.page, 'data-frame-shown')).toBe('1');
    expect(await statusFrame(again.page)).toBe('frame 2 of 2');
    expect(await attr(again.page, 'data-annotations')).toBe('1');

    // The TIFF's pages: Alt+wheel down steps forward (the plain wheel still zooms), the slider jumps.
    await again.page.getByTestId('viewer-back').click();
    await open(again.page, tif.id);
    expect(await statusFrame(again.page)).toBe('frame 1 of 3');
    expect((await pixel(again.page, 10, 10))[0]).toBeCloseTo(PAGE_GREYS[0]!, -1);
    const zoom = await attr(again.page, 'data-zoom');
    const mid = await toPage(again.page, 60, 45);
    await again.page.mouse.move(mid.x, mid.y);
    await again.page.keyboard.down('Alt');
    await again.page.mouse.wheel(0, 100);
    await again.page.keyboard.up('Alt');
    await expect.poll(() => statusFrame(again.page)).toBe('frame 2 of 3');
    await expect.poll(() => attr(again.page, 'data-frame-shown')).toBe('1');
    expect((await pixel(again.page, 10, 10))[0]).toBeCloseTo(PAGE_GREYS[1]!, -1);
    expect(await attr(again.page, 'data-zoom')).toBe(zoom);
    await again.page.getByTestId('frame-slider').fill('3');
    await expect.poll(() => statusFrame(again.page)).toBe('frame 3 of 3');
    await expect.poll(() => attr(again.page, 'data-frame-shown')).toBe('2');
    expect((await pixel(again.page, 10, 10))[0]).toBeCloseTo(PAGE_GREYS[2]!, -1);

    // A display window chosen on a later frame re-renders that frame, not the first.
    await again.page.getByTestId('viewer-back').click();
    await open(again.page, dose.id);
    await again.page.keyboard.press('.');
    await expect.poll(() => attr(again.page, 'data-frame-shown')).toBe('1');
    await again.page.getByTestId('window-values').waitFor();
    const start = await toPage(again.page, 5, 5);
    await again.page.mouse.move(start.x, start.y);
    await again.page.mouse.down({ button: 'right' });
    await again.page.mouse.move(start.x + 60, start.y + 30, { steps: 6 });
    await again.page.mouse.up({ button: 'right' });
    const shownUrl = () =>
      again.page.evaluate(() => (globalThis as unknown as { __tesseraCanvas: { image: { src: string } | null } }).__tesseraCanvas.image?.src ?? '');
    await expect.poll(shownUrl).toMatch(new RegExp(`/${dose.id}/[\\w-]+/1/-?[\\d.]+/[\\d.]+$`));

    // A sweep of the slider over the frames faster than they render asks for one view at a time,
    // the latest frame's next, so only a few of them and the last one; it asks for no pyramid,
    // few windows, and remembers the frame once.
    await expect.poll(() => attr(again.page, 'data-ready')).toBe('true');
    const views: string[] = [];
    again.page.on('request', (r) => {
      // /media/view/<dataset>/<image id>/<version>/<frame>[/<center>/<width>]
      const parts = new URL(r.url()).pathname.split('/');
      if (parts[2] === 'view' && parts[4] === String(dose.id)) views.push(parts[6] ?? '0');
    });
    // The calls the page sends to the backend from now on, by channel (the socket's send, wrapped).
    await again.page.evaluate(() => {
      type Sock = { prototype: { send(this: unknown, data: string): void } };
      const g = globalThis as unknown as { WebSocket: Sock; __calls: string[] };
      g.__calls = [];
      const send = g.WebSocket.prototype.send;
      g.WebSocket.prototype.send = function (data: string) {
        try {
          const m = JSON.parse(data) as { t?: string; channel?: string };
          if (m.t === 'call' && m.channel) g.__calls.push(m.channel);
        } catch {
          // not a call
        }
        send.call(this, data);
      };
    });
    await again.page.evaluate(async () => {
      type Slider = { value: string; dispatchEvent(e: unknown): boolean };
      const g = globalThis as unknown as { document: { querySelector(s: string): Slider | null }; Event: new (type: string, init: { bubbles: boolean }) => unknown };
      const slider = g.document.querySelector('[data-testid="frame-slider"]')!;
      for (let f = 3; f <= 15; f++) {
        slider.value = String(f);
        slider.dispatchEvent(new g.Event('input', { bubbles: true }));
        await new Promise((r) => setTimeout(r, 0));
      }
    });
    await expect.poll(() => attr(again.page, 'data-frame-shown')).toBe('14');
    await again.page.getByTestId('window-values').waitFor();
    await expect.poll(() => query<{ frame: number }>(file, `SELECT frame FROM image_viewed_frames WHERE image_id = ${dose.id}`)).toEqual([{ frame: 14 }]);
    const calls = await again.page.evaluate(() => (globalThis as unknown as { __calls: string[] }).__calls);
    const count = (c: string) => calls.filter((x) => x === c).length;
    expect(views).toContain('14');
    // Latest wins: fewer frames are asked for than the 13 swept (how many depends on the machine's
    // speed; test/state/latest.test.ts pins the rule down), the remembered frame is written once.
    expect(new Set(views).size).toBeLessThan(13);
    expect(count('images:setViewedFrame')).toBe(1);
    expect(count('images:pyramid')).toBe(0);
    expect(count('imaging:getWindow')).toBeLessThan(13);
    expect(again.pageErrors).toEqual([]);
  });
});

/**
 * A multi-page TIFF large enough to be shown from its tile pyramid, which is built from its first
 * page only: it opens on that page even when a later one was viewed last, with no frame bar, no
 * frame in the status line, and `.` does nothing (no error).
 */
describe('a multi-frame image shown from its tile pyramid', () => {
  let app: App | null = null;
  const saved = process.env['TESSERA_PYRAMID_PIXELS'];

  beforeAll(async () => {
    // The server runs in this process and reads the threshold when an image is opened.
    process.env['TESSERA_PYRAMID_PIXELS'] = String(20_000);
    if (!prerequisites.skip) app = await startApp({ tmpPrefix: 'tessera-frames-tiled-e2e-' });
  });

  afterAll(async () => {
    await app?.close();
    if (saved === undefined) delete process.env['TESSERA_PYRAMID_PIXELS'];
    else process.env['TESSERA_PYRAMID_PIXELS'] = saved;
  });

  it.skipIf(prerequisites.skip)('opens on the first frame with no frame bar, even when a later frame was viewed last', { timeout: 120_000 }, async () => {
    prerequisites.assertPresent();
    const { tmp } = app!;
    const imgs = path.join(tmp, 'imgs');
    fs.mkdirSync(imgs);
    const pages = await Promise.all(
      PAGE_GREYS.map((v) => sharp({ create: { width: 300, height: 200, channels: 3, background: { r: v, g: v, b: v } } }).png().toBuffer()),
    );
    await sharp(pages, { join: { animated: true } }).tiff().toFile(path.join(imgs, 'big.tif'));
    const file = path.join(tmp, 'tiled.tessera');
    const ws = newWorkspace(app!.configDir);
    await ok(ws, 'dataset:create', { path: file, root: tmp });
    await ok(ws, 'images:import', { jobId: 'imp', paths: [imgs] });
    const { items } = await ok(ws, 'images:list', {});
    const tif = items[0]!;
    expect(tif.frames).toBe(3);
    await ok(ws, 'images:setViewedFrame', { id: tif.id, frame: 2 });
    await ws.close();

    const { page, pageErrors } = await app!.newPage({ viewport: { width: 1200, height: 800 }, hooks: true });
    const start = page.getByTestId('open-dataset-path');
    await start.or(page.getByTestId('grid-cell').first()).first().waitFor();
    if (await start.isVisible()) {
      await start.fill(file);
      await page.getByTestId('open-dataset').click();
    }
    await page.locator(`[data-testid="grid-cell"][data-image-id="${tif.id}"]`).click();
    await page.locator(`[data-testid="viewer"][data-image-id="${tif.id}"][data-ready="true"]`).waitFor({ timeout: 60_000 });
    // Shown from tiles, not as one bitmap.
    expect(await page.getByTestId('viewer').locator('.stage').getAttribute('data-tile-level')).not.toBeNull();
    expect(await attr(page, 'data-frame')).toBe('0');
    expect(await page.getByTestId('frame-bar').count()).toBe(0);
    expect(await page.getByTestId('status-frame').count()).toBe(0);
    expect(await page.locator('[data-testid="viewer"] [role="alert"]').count()).toBe(0);
    await page.getByTestId('tool-select').focus();
    await page.keyboard.press('.');
    await page.waitForTimeout(500);
    expect(await attr(page, 'data-frame')).toBe('0');
    expect(await attr(page, 'data-ready')).toBe('true');
    expect(await page.locator('[data-testid="viewer"] [role="alert"]').count()).toBe(0);
    expect(pageErrors).toEqual([]);
  });
});
