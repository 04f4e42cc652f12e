import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addUser, ensureAccounts, setRole } from '../../src-main/team/accounts';
import { startTeamServer, type TeamServer } from '../../src-main/team/server';
import { Workspace } from '../../src-main/services/workspace';
import { chromiumOrSkip, collectPageErrors, decodedThumbs, launchChromium, requireRenderer, staticDir } from '../helpers/browser';
import { makeImages } from '../helpers/images';
import startPostgres, { freshPgDataset, pgUrl, type PgDataset } from '../helpers/postgres';

/**
 * The team server in a real browser: the app is out of reach until the login form is filled in,
 * then the real renderer shows the served dataset with its thumbnails (the media need the
 * session too), and logging out sends the browser back to the form.
 */
const prerequisites = chromiumOrSkip('team-login');

describe('logging in to a team server', () => {
  let stopPostgres: (() => Promise<void>) | undefined;
  let target: PgDataset | null = null;
  let server: TeamServer | null = null;
  let browser: Browser | null = null;
  let tmp = '';

  beforeAll(async () => {
    stopPostgres = await startPostgres();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
    await target?.drop();
    await stopPostgres?.();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it.skipIf(prerequisites.skip)('shows the login form first, then the dataset; logout ends it', async (ctx) => {
    prerequisites.assertPresent();
    if (!pgUrl()) {
      ctx.skip();
      return;
    }
    requireRenderer();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-team-login-'));
    const imgs = path.join(tmp, 'imgs');
    await makeImages(imgs);
    target = await freshPgDataset('e2e_team');
    const ws = new Workspace({ configDir: path.join(tmp, 'prep'), mode: 'web', version: 'test', emit: () => {} });
    await ws.handlers['dataset:create']({ path: target.url, root: imgs });
    await ws.handlers['images:import']({ jobId: 'prep', paths: [imgs], recursive: true, allowOutsideRoot: false });
    const ds = ws.current!;
    await ensureAccounts(ds.db);
    await addUser(ds.db, `sam-${target.schema}`.slice(0, 64), 'sam password');
    await setRole(ds.db, ds.uuid, `sam-${target.schema}`.slice(0, 64), 'annotator');
    await ws.dispose();

    server = await startTeamServer({ url: target.url, host: '127.0.0.1', port: 0, staticDir, configDir: path.join(tmp, 'config'), version: 'test' });
    browser = await launchChromium();
    const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    const page = await context.newPage();
    const pageErrors = collectPageErrors(page);

    await page.goto(server.url);
    expect(new URL(page.url()).pathname).toBe('/login');
    await page.locator('input[name="user"]').fill(`sam-${target.schema}`.slice(0, 64));
    await page.locator('input[name="password"]').fill('wrong password');
    await page.locator('button[type="submit"]').click();
    await expect.poll(() => page.locator('p.error').textContent()).toContain('Wrong user name or password');

    await page.locator('input[name="password"]').fill('sam password');
    await page.locator('button[type="submit"]').click();
    await expect.poll(() => page.getByTestId('image-count').textContent(), { timeout: 30_000 }).toMatch(/\b8\b/);
    await expect.poll(() => decodedThumbs(page), { timeout: 60_000 }).toBe(8);
    const cookie = (await context.cookies()).find((c) => c.name === 'tessera_team')!;
    expect(cookie.httpOnly).toBe(true);
    expect(cookie.sameSite).toBe('Strict');

    const status = await page.evaluate(async () => (await fetch('/logout', { method: 'POST' })).url);
    expect(new URL(status).pathname).toBe('/login');
    await page.goto(server.url);
    expect(new URL(page.url()).pathname).toBe('/login');
    // The one 401 is the wrong password's answer, which Chromium logs.
    expect(pageErrors.filter((e) => !/status of 401 .*\/login\)$/.test(e))).toEqual([]);
    expect(pageErrors).toHaveLength(1);
  });
});
