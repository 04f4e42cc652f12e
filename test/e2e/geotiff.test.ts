import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumOrSkip, createDatasetViaUi, startApp, toPage, type App } from '../helpers/browser';
import { sharedDir } from '../helpers/shared';

/**
 * A GeoTIFF in the real renderer: the status line shows the CRS and the coordinates under the
 * pointer in it; the Model panel's Tiled option shows its settings.
 */
const FILE = path.join(sharedDir, 'datasets', 'geotiff_rasterio', 'RGB.byte.tif');
const prerequisites = chromiumOrSkip('geotiff', [{ path: FILE, what: 'the rasterio GeoTIFFs' }]);

/** RGB.byte.tif's geotransform (see test/services/geotiff.test.ts for where it comes from). */
const crsOf = (px: number, py: number): [number, number] => [101985 + px * 300.0379266750948, 2826915 - py * 300.041782729805];

describe('GeoTIFF in the browser', () => {
  let app: App | null = null;
  beforeAll(async () => {
    app = await startApp({ tmpPrefix: 'tessera-geotiff-e2e-' });
    fs.mkdirSync(path.join(app.tmp, 'imgs'));
    if (fs.existsSync(FILE)) fs.copyFileSync(FILE, path.join(app.tmp, 'imgs', 'RGB.byte.tif'));
  });
  afterAll(async () => {
    await app?.close();
  });

  it.skipIf(prerequisites.skip)('shows the coordinates under the pointer in EPSG:32618 and the Tiled settings', { timeout: 120_000 }, async () => {
    prerequisites.assertPresent();
    const { page, pageErrors } = await app!.newPage({ viewport: { width: 1400, height: 900 }, hooks: true });
    const file = path.join(app!.tmp, 'geo.tessera');
    await createDatasetViaUi(page, file);
    await page.getByTestId('import-open').click();
    await page.getByTestId('import-paths').fill(path.join(app!.tmp, 'imgs'));
    await page.getByTestId('import-start').click();
    await expect.poll(() => page.getByTestId('import-summary').textContent(), { timeout: 30_000 }).toContain('1 imported');
    const db = new Database(file, { readonly: true });
    const id = (db.prepare('SELECT id FROM images').pluck().get() as number);
    db.close();
    await page.locator(`[data-testid="grid-cell"][data-image-id="${id}"]`).click();
    await page.locator(`[data-testid="viewer"][data-ready="true"][data-image-id="${id}"]`).waitFor({ timeout: 30_000 });

    for (const [px, py] of [
      [100, 200],
      [600, 50],
    ] as const) {
      const p = await toPage(page, px, py);
      await page.mouse.move(p.x, p.y);
      const [ex, ey] = crsOf(px, py);
      // Polled on the parsed coordinates, so text left from the previous position cannot pass.
      // Within a pixel (300 m): the pointer lands on a screen pixel, not exactly on the image pixel.
      const error = async (): Promise<number> => {
        const text = (await page.getByTestId('status-crs').textContent()) ?? '';
        if (!text.startsWith('EPSG:32618 ')) return Infinity;
        const [x, y] = text.replace('EPSG:32618', '').split('·')[0]!.split(',').map((s) => Number(s.trim()));
        return Math.max(Math.abs(x! - ex), Math.abs(y! - ey));
      };
      await expect.poll(error).toBeLessThan(300);
      expect(await page.getByTestId('status-crs').textContent()).toContain('nodata 0');
    }

    await page.getByTestId('prelabel-tiled').check();
    await expect.poll(() => page.getByTestId('prelabel-tile-size').inputValue()).toBe('640');
    await expect.poll(() => page.getByTestId('prelabel-tile-overlap').inputValue()).toBe('0.2');
    expect(pageErrors).toEqual([]);
  });
});
