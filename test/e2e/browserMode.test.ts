import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumOrSkip, startApp, type App } from '../helpers/browser';
import { makeImages } from '../helpers/images';
import { tempDir } from '../helpers/shared';

/**
 * Browser mode as a token holder meets it: a link works once, the owner mints another, and the
 * export panel can write only inside the folders the server was given.
 */
const prerequisites = chromiumOrSkip('browser-mode');

describe('browser mode access', () => {
  let app: App | null = null;

  beforeAll(async () => {
    app = await startApp({ tmpPrefix: 'tessera-browser-mode-' });
  });

  afterAll(async () => {
    await app?.close();
  });

  it.skipIf(prerequisites.skip)('a link opens the app once; a minted link opens it in another browser', async () => {
    prerequisites.assertPresent();
    const browser = await app!.browser();
    const first = await (await browser.newContext()).newPage();
    await first.goto(app!.server.url);
    await first.getByTestId('new-dataset-path').waitFor();
    expect(new URL(first.url()).search).toBe('');
    // The same link in a browser without the session: refused.
    const second = await (await browser.newContext()).newPage();
    const refused = await second.goto(app!.server.url);
    expect(refused?.status()).toBe(403);
    expect(await second.textContent('body')).toContain('already used');
    // A freshly minted link works there, once.
    const fresh = app!.server.newUrl();
    await second.goto(fresh);
    await second.getByTestId('new-dataset-path').waitFor();
    const third = await (await browser.newContext()).newPage();
    expect((await third.goto(fresh))?.status()).toBe(403);
  });

  it.skipIf(prerequisites.skip)('the export panel refuses a folder outside the allowed ones and exports into an allowed one', async () => {
    prerequisites.assertPresent();
    const { server, tmp } = app!;
    const h = server.workspace.handlers;
    await makeImages(path.join(tmp, 'imgs'));
    await h['dataset:create']({ path: path.join(tmp, 'd.tessera') });
    expect((await h['images:import']({ jobId: 'e2e', paths: [path.join(tmp, 'imgs')], recursive: true, allowOutsideRoot: false })).imported).toBe(8);

    const { page, pageErrors } = await app!.newPage({ viewport: { width: 1400, height: 900 } });
    await page.getByTestId('export-open').click();
    await page.getByTestId('export-format').selectOption('yolo');
    const outside = tempDir('tessera-not-allowed-');
    await page.getByTestId('export-outdir').fill(path.join(outside, 'out'));
    await page.getByTestId('export-start').click();
    const error = page.getByTestId('export-error');
    await error.waitFor({ timeout: 30_000 });
    expect(await error.textContent()).toContain(`${path.join(outside, 'out')}: outside the folders`);
    expect(fs.readdirSync(outside)).toEqual([]);

    const inside = path.join(tmp, 'yolo-out');
    await page.getByTestId('export-outdir').fill(inside);
    await page.getByTestId('export-start').click();
    await page.getByTestId('export-summary').waitFor({ timeout: 60_000 });
    expect(fs.existsSync(path.join(inside, 'data.yaml'))).toBe(true);
    expect(pageErrors).toEqual([]);
  });
});
