import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import sharp from 'sharp';
import type { Page } from 'playwright-core';
import type { Geometry } from '../../src-main/common/model';
import { pyramidLevels, totalTiles } from '../../src-main/common/pyramid';
import { chromiumOrSkip, createDatasetViaUi, startApp, type App, toPage } from '../helpers/browser';

/**
 * A large image in the real renderer (browser mode, Chromium): opening it builds its tile pyramid
 * with progress, the viewer then fetches only tiles (never the full image), and a box drawn deep
 * in the image at high zoom lands at the right full-resolution pixels in the dataset file. The
 * pyramid threshold is lowered so a 24-megapixel image stands in for a gigapixel one.
 */
const W = 6000;
const H = 4000;
/** A red block on a smooth gradient, far from the origin and from tile borders' multiples. */
const MARK = { x: 4321, y: 3107, w: 37, h: 23 };

const prerequisites = chromiumOrSkip('large');

async function makeLargeImage(file: string): Promise<void> {
  const px = Buffer.alloc(W * H * 3);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const o = (y * W + x) * 3;
      const inMark = x >= MARK.x && x < MARK.x + MARK.w && y >= MARK.y && y < MARK.y + MARK.h;
      px[o] = inMark ? 230 : 20 + ((x * 40) / W) | 0;
      px[o + 1] = inMark ? 20 : 60 + ((y * 60) / H) | 0;
      px[o + 2] = inMark ? 20 : 120;
    }
  }
  await sharp(px, { raw: { width: W, height: H, channels: 3 } }).jpeg({ quality: 92, chromaSubsampling: '4:4:4' }).toFile(file);
}

function boxes(file: string): Extract<Geometry, { kind: 'box' }>[] {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const all = db.prepare("SELECT geometry FROM annotations WHERE kind = 'box' ORDER BY id").all() as { geometry: string }[];
    return all.map((r) => JSON.parse(r.geometry) as Extract<Geometry, { kind: 'box' }>);
  } finally {
    db.close();
  }
}

/** Page-side globals the test reaches; the root tsconfig has no DOM types. */
interface PageGlobals {
  __progressShown?: boolean;
  __tesseraCanvas?: {
    load(url: string): Promise<boolean>;
    loadTiled(key: string, source: { width: number; height: number; tileSize: number; levels: number; url(l: number, c: number, r: number): string }): Promise<boolean>;
    annotationLayer: { visible(): boolean };
  };
  document: { body: object; querySelector(selector: string): object | null };
  MutationObserver: new (callback: () => void) => { observe(target: object, options: { childList: boolean; subtree: boolean }): void; disconnect(): void };
}

const viewerAttr = async (page: Page, name: string): Promise<number> => Number(await page.getByTestId('viewer').locator('.stage').getAttribute(name));

/** The screenshot's colour at an image pixel, through the viewer's transform. */
async function colourAt(page: Page, x: number, y: number): Promise<[number, number, number]> {
  const p = await toPage(page, x, y);
  const shot = await page.screenshot({ clip: { x: Math.round(p.x), y: Math.round(p.y), width: 1, height: 1 } });
  const { data } = await sharp(shot).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return [data[0]!, data[1]!, data[2]!];
}

describe('gigapixel images in the browser', () => {
  let app: App | null = null;
  const saved = process.env['TESSERA_PYRAMID_PIXELS'];

  beforeAll(async () => {
    // The server runs in this process and reads the threshold when an image is opened.
    process.env['TESSERA_PYRAMID_PIXELS'] = String(10_000_000);
    app = await startApp({ tmpPrefix: 'tessera-large-e2e-' });
    fs.mkdirSync(path.join(app.tmp, 'imgs'));
    await makeLargeImage(path.join(app.tmp, 'imgs', 'field.jpg'));
  });

  afterAll(async () => {
    await app?.close();
    if (saved === undefined) delete process.env['TESSERA_PYRAMID_PIXELS'];
    else process.env['TESSERA_PYRAMID_PIXELS'] = saved;
  });

  it.skipIf(prerequisites.skip)('builds the pyramid on first open, shows only tiles, and a box drawn at high zoom has full-resolution coordinates', async () => {
    prerequisites.assertPresent();
    const { tmp } = app!;
    const { page, pageErrors } = await app!.newPage({ viewport: { width: 1200, height: 800 }, hooks: true });
    const media: string[] = [];
    page.on('request', (r) => {
      const u = new URL(r.url());
      if (u.pathname.startsWith('/media/')) media.push(u.pathname);
    });
    const datasetFile = path.join(tmp, 'field.tessera');
    await createDatasetViaUi(page, datasetFile);
    await page.getByTestId('import-open').click();
    await page.getByTestId('import-paths').fill(path.join(tmp, 'imgs'));
    await page.getByTestId('import-start').click();
    await expect.poll(() => page.getByTestId('import-summary').textContent(), { timeout: 30_000 }).toContain('1 imported');

    // The build's progress may come and go between two polls: an observer installed before the
    // click records whether it was ever shown.
    await page.evaluate(() => {
      const g = globalThis as unknown as PageGlobals;
      g.__progressShown = false;
      const observer = new g.MutationObserver(() => {
        if (g.document.querySelector('[data-testid="pyramid-progress"]') === null) return;
        g.__progressShown = true;
        observer.disconnect();
      });
      observer.observe(g.document.body, { childList: true, subtree: true });
    });
    await page.getByTestId('grid-cell').first().click();
    // The build shows its progress, then the viewer opens from tiles.
    await page.locator('[data-testid="viewer"][data-ready="true"]').waitFor({ timeout: 60_000 });
    expect(await page.evaluate(() => (globalThis as unknown as PageGlobals).__progressShown)).toBe(true);
    const levels = pyramidLevels(W, H, 256);
    expect(await viewerAttr(page, 'data-tile-level')).toBeLessThan(levels - 1);

    // Asked for the same pyramid again while its overview is still loading (or after another
    // image's load started), the viewer waits for it and shows the annotation layer again.
    const imageId = Number(await page.getByTestId('viewer').getAttribute('data-image-id'));
    const key = await app!.server.workspace.mediaKey(imageId);
    const again = await page.evaluate(
      async ([id, geometry]) => {
        const v = (globalThis as unknown as PageGlobals).__tesseraCanvas!;
        const source = { ...geometry, url: (l: number, c: number, r: number) => `/media/tile/${id}/${l}/${c}/${r}` };
        const first = v.loadTiled('again', source);
        const second = v.loadTiled('again', source);
        const sameKey = { first: await first, second: await second, shown: v.annotationLayer.visible() };
        const other = v.load(`/media/thumb/${id}`);
        const back = await v.loadTiled('again', source);
        return { sameKey, other: await other, back, shown: v.annotationLayer.visible() };
      },
      [key, { width: W, height: H, tileSize: 256, levels }] as const,
    );
    expect(again).toEqual({ sameKey: { first: false, second: true, shown: true }, other: false, back: true, shown: true });

    // Classes first, so the box has one.
    await page.getByTestId('class-new-name').fill('plant');
    await page.getByTestId('class-add').click();
    await expect.poll(() => page.getByTestId('class-row').count()).toBe(1);

    // Zoom with the wheel towards the mark until image pixels are several screen pixels wide.
    const centre = { x: MARK.x + MARK.w / 2, y: MARK.y + MARK.h / 2 };
    for (let i = 0; i < 40; i++) {
      if (Number(await page.getByTestId('viewer').getAttribute('data-zoom')) >= 6) break;
      const p = await toPage(page, centre.x, centre.y);
      await page.mouse.move(p.x, p.y);
      await page.mouse.wheel(0, -100);
    }
    expect(Number(await page.getByTestId('viewer').getAttribute('data-zoom'))).toBeGreaterThanOrEqual(6);
    await expect.poll(() => viewerAttr(page, 'data-tile-level')).toBe(levels - 1);
    await expect.poll(() => viewerAttr(page, 'data-tiles-pending'), { timeout: 30_000 }).toBe(0);

    // The full-resolution tiles are where they belong: the mark's edges are on the right pixels.
    const inside = await colourAt(page, MARK.x + 2, MARK.y + 2);
    const outside = await colourAt(page, MARK.x - 2, MARK.y + 2);
    expect(inside[0]).toBeGreaterThan(180);
    expect(inside[1]).toBeLessThan(80);
    expect(outside[0]).toBeLessThan(80);

    // A box over the mark, drawn with the mouse.
    await page.getByTestId('tool-select').focus();
    await page.keyboard.press('b');
    await expect.poll(() => page.getByTestId('viewer').getAttribute('data-tool')).toBe('box');
    const a = await toPage(page, MARK.x, MARK.y);
    const b = await toPage(page, MARK.x + MARK.w, MARK.y + MARK.h);
    await page.mouse.move(a.x, a.y);
    await page.mouse.down();
    await page.mouse.move(b.x, b.y, { steps: 6 });
    await page.mouse.up();
    await expect.poll(() => page.getByTestId('viewer').getAttribute('data-annotations')).toBe('1');
    await expect.poll(() => boxes(datasetFile).length).toBe(1);
    const box = boxes(datasetFile)[0]!;
    for (const [got, want] of [
      [box.x, MARK.x],
      [box.y, MARK.y],
      [box.w, MARK.w],
      [box.h, MARK.h],
    ] as const)
      expect(Math.abs(got - want)).toBeLessThanOrEqual(1);

    // Only tiles (and the grid's thumbnail) were fetched; never the full image, and far from all tiles.
    const tiles = media.filter((p) => p.startsWith('/media/tile/'));
    expect(media.filter((p) => p.startsWith('/media/view/'))).toEqual([]);
    expect(media.every((p) => p.startsWith('/media/tile/') || p.startsWith('/media/thumb/'))).toBe(true);
    expect(tiles.length).toBeGreaterThan(0);
    expect(tiles.length).toBeLessThan(totalTiles({ width: W, height: H, tileSize: 256, levels }) / 2);
    expect(pageErrors).toEqual([]);
  });
});
