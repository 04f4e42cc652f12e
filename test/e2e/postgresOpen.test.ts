import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumOrSkip, decodedThumbs, startApp, type App } from '../helpers/browser';
import { makeImages } from '../helpers/images';
import startPostgres, { freshPgDataset, pgUrl, type PgDataset } from '../helpers/postgres';

/**
 * The start screen opens a dataset kept in PostgreSQL: its URL typed where a file path goes, the
 * grid then shows its images, and the recent list keeps the URL without its password.
 */
const prerequisites = chromiumOrSkip('postgres-open');

describe('opening a PostgreSQL dataset from the start screen', () => {
  let app: App | null = null;
  let stopPostgres: (() => Promise<void>) | undefined;
  let target: PgDataset | null = null;

  beforeAll(async () => {
    // The e2e project has no cluster of its own: this file starts one (or uses TESSERA_TEST_PG_URL).
    stopPostgres = await startPostgres();
    app = await startApp({ tmpPrefix: 'tessera-pg-open-' });
  }, 120_000);

  afterAll(async () => {
    await app?.close();
    await target?.drop();
    await stopPostgres?.();
  });

  it.skipIf(prerequisites.skip)('opens it by URL and shows its images', async (ctx) => {
    prerequisites.assertPresent();
    if (!pgUrl()) {
      // Outside CI a machine without PostgreSQL skips (startPostgres said why); under CI it failed already.
      ctx.skip();
      return;
    }
    const { server, tmp } = app!;
    const h = server.workspace.handlers;
    await makeImages(path.join(tmp, 'imgs'));
    target = await freshPgDataset('e2e');
    const url = target.url.replace('tessera@', 'tessera:hunter2@');
    await h['dataset:create']({ path: url, root: path.join(tmp, 'imgs') });
    const imported = await h['images:import']({ jobId: 'e2e', paths: [path.join(tmp, 'imgs')], recursive: true, allowOutsideRoot: false });
    expect(imported.imported).toBe(8);
    await h['dataset:close']({});

    const { page, pageErrors } = await app!.newPage({ viewport: { width: 1400, height: 900 } });
    await page.getByTestId('open-dataset-path').fill(url);
    await page.getByTestId('open-dataset').click();
    await expect.poll(() => page.getByTestId('image-count').textContent(), { timeout: 30_000 }).toMatch(/\b8\b/);
    await expect.poll(() => decodedThumbs(page), { timeout: 60_000 }).toBe(8);
    await expect.poll(() => page.title()).toBe(`${target!.schema} — Tessera`);

    // Back on the start screen the URL is listed, without the password, and opens again.
    await h['dataset:close']({});
    await page.reload();
    const recent = page.getByTestId('recent-item');
    await recent.first().waitFor();
    const text = (await recent.first().textContent()) ?? '';
    expect(text).toContain(`schema=${target.schema}`);
    expect(text).not.toContain('hunter2');
    await recent.first().click();
    await expect.poll(() => decodedThumbs(page), { timeout: 60_000 }).toBe(8);
    expect(pageErrors).toEqual([]);
  });
});
