import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { Page } from 'playwright-core';
import WebSocket from 'ws';
import { chromiumOrSkip, createDatasetViaUi, decodedThumbs, startApp, type App } from '../helpers/browser';
import { sharedDir } from '../helpers/shared';

/**
 * The real renderer, served in browser mode with the real services, driven through Chromium:
 * create a dataset, import a folder, browse the grid, open the viewer, and check what was
 * written to the dataset file.
 */
const imagesDir = path.join(sharedDir, 'datasets/bccd_voc/JPEGImages');
const EXPECTED_IMAGES = 28;

const prerequisites = chromiumOrSkip('ui', [{ path: imagesDir, what: 'test images' }]);

function attr(page: Page, testId: string, name: string): Promise<string | null> {
  return page.getByTestId(testId).getAttribute(name);
}

describe('renderer in browser mode', () => {
  let app: App | null = null;

  beforeAll(async () => {
    app = await startApp({ tmpPrefix: 'tessera-ui-' });
  });

  afterAll(async () => {
    await app?.close();
  });

  it.skipIf(prerequisites.skip)('creates a dataset, imports a folder, shows the grid and the viewer', async () => {
    prerequisites.assertPresent();
    const { tmp } = app!;
    const { page, pageErrors } = await app!.newPage({ viewport: { width: 1600, height: 1000 } });
    expect(new URL(page.url()).search).toBe(''); // the token was traded for the cookie

    // Start screen: a new dataset with no root, so the root is the temp folder.
    const datasetFile = path.join(tmp, 'cells.tessera');
    await createDatasetViaUi(page, datasetFile);
    await expect.poll(() => page.title()).toBe('cells — Tessera');

    // The images lie outside the root: the backend asks first, the UI offers absolute paths.
    await page.getByTestId('import-open').click();
    await page.getByTestId('import-paths').fill(imagesDir);
    await page.getByTestId('import-start').click();
    await page.getByTestId('import-confirm-outside').click();
    const summary = page.getByTestId('import-summary');
    await summary.waitFor({ timeout: 90_000 });
    expect(await summary.textContent()).toContain(`${EXPECTED_IMAGES} imported`);

    await expect
      .poll(() => page.getByTestId('image-count').textContent(), { timeout: 20_000 })
      .toMatch(new RegExp(`\\b${EXPECTED_IMAGES}\\b`));
    await expect.poll(() => decodedThumbs(page), { timeout: 60_000 }).toBe(EXPECTED_IMAGES);
    expect(await page.getByTestId('grid-cell').count()).toBe(EXPECTED_IMAGES);
    await page.screenshot({ path: path.join(os.tmpdir(), 'tessera-grid.png') });

    // Viewer.
    const firstCell = page.getByTestId('grid-cell').first();
    const firstId = await firstCell.getAttribute('data-image-id');
    await firstCell.click();
    const viewer = page.locator('[data-testid="viewer"][data-ready="true"]');
    await viewer.waitFor({ timeout: 30_000 });
    expect(await attr(page, 'viewer', 'data-image-id')).toBe(firstId);
    await expect.poll(() => page.getByTestId('status-image-index').textContent()).toContain(`image 1 of ${EXPECTED_IMAGES}`);
    await expect.poll(() => page.title()).toMatch(/^cells — Tessera — .+\.jpg$/);

    const zoomOf = async (): Promise<number> => Number(await attr(page, 'viewer', 'data-zoom'));
    const fitZoom = await zoomOf();
    expect(fitZoom).toBeGreaterThan(0);
    expect(await page.getByTestId('status-zoom').textContent()).toBe(`${Math.round(fitZoom * 100)}%`);

    await page.getByTestId('viewer-zoom-in').click();
    await expect.poll(zoomOf).toBeGreaterThan(fitZoom);
    const afterButton = await zoomOf();

    const box = (await page.getByTestId('viewer').boundingBox())!;
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.wheel(0, -120);
    await expect.poll(zoomOf).toBeGreaterThan(afterButton);
    await page.screenshot({ path: path.join(os.tmpdir(), 'tessera-viewer.png') });

    await page.getByTestId('viewer-fit').click();
    await expect.poll(zoomOf).toBeCloseTo(fitZoom, 4);
    await page.getByTestId('viewer-one-to-one').click();
    await expect.poll(zoomOf).toBe(1);

    await page.keyboard.press('ArrowRight');
    await expect.poll(() => page.getByTestId('status-image-index').textContent()).toContain(`image 2 of ${EXPECTED_IMAGES}`);
    await expect.poll(() => attr(page, 'viewer', 'data-image-id')).not.toBe(firstId);
    await viewer.waitFor({ timeout: 30_000 });

    await page.keyboard.press('Escape');
    await page.getByTestId('grid').waitFor();
    expect(pageErrors).toEqual([]);

    // What the import wrote, read straight from the dataset file.
    const db = new Database(datasetFile, { readonly: true, fileMustExist: true });
    try {
      const rows = db.prepare('SELECT path, width, height, status, content_hash FROM images').all() as {
        path: string;
        width: number;
        height: number;
        status: string;
        content_hash: string;
      }[];
      expect(rows).toHaveLength(EXPECTED_IMAGES);
      for (const r of rows) {
        expect(r).toMatchObject({ width: 640, height: 480, status: 'new' });
        expect(r.path).toMatch(/\.jpg$/i);
      }
      expect(new Set(rows.map((r) => r.content_hash)).size).toBe(EXPECTED_IMAGES);
    } finally {
      db.close();
    }
  });

  it('refuses requests and sockets without the token', async () => {
    const srv = app!.server;
    const origin = `http://127.0.0.1:${srv.port}`;
    expect((await fetch(`${origin}/`)).status).toBe(403);
    expect((await fetch(`${origin}/?token=not-the-token`)).status).toBe(403);

    const tryConnect = (headers: Record<string, string>): Promise<{ opened: boolean; status?: number }> =>
      new Promise((resolve) => {
        const ws = new WebSocket(`ws://127.0.0.1:${srv.port}/ws`, { headers, origin });
        ws.once('open', () => {
          ws.close();
          resolve({ opened: true });
        });
        ws.once('unexpected-response', (_req, res) => {
          resolve({ opened: false, status: res.statusCode });
          ws.terminate();
        });
        ws.once('error', () => resolve({ opened: false }));
      });

    expect(await tryConnect({})).toEqual({ opened: false, status: 403 });

    // The same socket with the cookie the token URL hands out is accepted, so the refusal above
    // is about the missing cookie and not something else.
    const login = await fetch(`${origin}/?token=${encodeURIComponent(srv.token)}`, { redirect: 'manual' });
    expect(login.status).toBe(302);
    const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0]!;
    expect(cookie).toMatch(/=/);
    expect(await tryConnect({ cookie })).toEqual({ opened: true });
  });
});
