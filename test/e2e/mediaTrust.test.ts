import fs from 'node:fs';
import path from 'node:path';
import type { Locator, Page } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumOrSkip, startApp, type App } from '../helpers/browser';
import { newWorkspace, ok } from '../helpers/workspace';

/**
 * The pixels on screen are always the current dataset's and the file's as it is now: dataset B
 * opened after A never shows A's image under B's names, also after a reload, and a file replaced
 * on disk by another picture of the same size is shown as changed, not as the old pixels.
 */
const prerequisites = chromiumOrSkip('media-trust');

type Rgb = [number, number, number];

/** An uncompressed PNG, so two pictures of one size have the same byte size. */
function flatPng(file: string, [r, g, b]: Rgb): Promise<unknown> {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  return sharp({ create: { width: 64, height: 64, channels: 3, background: { r, g, b } } })
    .png({ compressionLevel: 0, adaptiveFiltering: false })
    .toFile(file);
}

/** The colour at the middle of an element as drawn on screen, rounded to tens. */
async function colourAt(el: Locator): Promise<number[]> {
  const shot = await el.screenshot();
  const { data, info } = await sharp(shot).raw().toBuffer({ resolveWithObject: true });
  const i = (Math.floor(info.height / 2) * info.width + Math.floor(info.width / 2)) * info.channels;
  return Array.from(data.subarray(i, i + 3), (v) => Math.round(v / 10) * 10);
}

const RED: Rgb = [240, 0, 0];
const BLUE: Rgb = [0, 0, 240];
const GREEN: Rgb = [0, 240, 0];

async function openDataset(page: Page, file: string): Promise<void> {
  await page.getByTestId('open-dataset-path').fill(file);
  await page.getByTestId('open-dataset').click();
  await page.getByTestId('grid-cell').first().waitFor();
}

const thumb = (page: Page) => page.locator('[data-testid="grid-cell"] .thumb').first();
const stage = (page: Page) => page.locator('[data-testid="viewer"] .stage');

describe('media of the current dataset only', () => {
  let app: App | null = null;

  beforeAll(async () => {
    if (!prerequisites.skip) app = await startApp({ tmpPrefix: 'tessera-media-e2e-' });
  });
  afterAll(async () => {
    await app?.close();
  });

  it.skipIf(prerequisites.skip)('shows B after A, never A, and a replaced file as changed', async () => {
    prerequisites.assertPresent();
    const { tmp } = app!;
    const made: Record<string, string> = {};
    for (const [name, colour] of [['a', RED], ['b', BLUE]] as const) {
      const dir = path.join(tmp, name);
      await flatPng(path.join(dir, 'imgs', 'one.png'), colour);
      const ws = newWorkspace(path.join(tmp, `prep-${name}`));
      made[name] = path.join(dir, `${name}.tessera`);
      await ok(ws, 'dataset:create', { path: made[name]!, root: dir });
      await ok(ws, 'images:import', { jobId: 'i', paths: [path.join(dir, 'imgs')] });
      await ws.close();
    }

    const { page, pageErrors } = await app!.newPage({ viewport: { width: 1000, height: 700 } });
    await openDataset(page, made['a']!);
    await expect.poll(() => colourAt(thumb(page))).toEqual(RED);
    await page.getByTestId('grid-cell').first().click();
    await page.locator('[data-testid="viewer"][data-ready="true"]').waitFor({ timeout: 30_000 });
    expect(await colourAt(stage(page))).toEqual(RED);
    await page.getByTestId('viewer-back').click();
    await page.getByTestId('close-dataset').click();

    // Dataset B, whose only image has the same id as A's.
    await openDataset(page, made['b']!);
    await expect.poll(() => colourAt(thumb(page))).toEqual(BLUE);
    await page.getByTestId('grid-cell').first().click();
    await page.locator('[data-testid="viewer"][data-ready="true"]').waitFor({ timeout: 30_000 });
    expect(await colourAt(stage(page))).toEqual(BLUE);
    // A reload comes back to the image that was open; its thumbnail is one step back.
    await page.reload();
    await page.locator('[data-testid="viewer"][data-ready="true"]').waitFor({ timeout: 30_000 });
    expect(await colourAt(stage(page))).toEqual(BLUE);
    await page.getByTestId('viewer-back').click();
    await expect.poll(() => colourAt(thumb(page))).toEqual(BLUE);

    // B's picture replaced by another of the same byte size.
    const file = path.join(tmp, 'b', 'imgs', 'one.png');
    const before = fs.statSync(file);
    await flatPng(path.join(tmp, 'b', 'new.png'), GREEN);
    fs.renameSync(path.join(tmp, 'b', 'new.png'), file);
    fs.utimesSync(file, before.atime, new Date(before.mtimeMs + 5000));
    expect(fs.statSync(file).size).toBe(before.size);

    await page.getByTestId('grid-cell').first().click();
    await expect.poll(() => page.locator('[data-testid="viewer"] .problem h2').textContent(), { timeout: 30_000 }).toBe('File changed');
    expect(await colourAt(stage(page))).not.toEqual(BLUE);
    await page.getByTestId('viewer-back').click();
    await expect.poll(() => thumb(page).textContent()).toBe('File changed');
    await page.reload();
    await expect.poll(() => thumb(page).textContent(), { timeout: 30_000 }).toBe('File changed');
    expect(pageErrors.filter((e) => !/409/.test(e))).toEqual([]);
  });

  it.skipIf(prerequisites.skip)('reads images outside the dataset folder only after their folder is allowed', async () => {
    prerequisites.assertPresent();
    const { tmp } = app!;
    const outside = path.join(tmp, 'elsewhere');
    await flatPng(path.join(outside, 'far.png'), GREEN);
    const root = path.join(tmp, 'received');
    fs.mkdirSync(root);
    const file = path.join(root, 'received.tessera');
    // Made by someone else (another settings folder): nothing is allowed for this user yet.
    const ws = newWorkspace(path.join(tmp, 'someone-else'));
    await ok(ws, 'dataset:create', { path: file, root });
    await ok(ws, 'images:import', { jobId: 'i', paths: [path.join(outside, 'far.png')], allowOutsideRoot: true });
    await ws.close();

    await app!.server.workspace.handlers['dataset:close']({});
    const { page, pageErrors } = await app!.newPage({ viewport: { width: 1000, height: 700 } });
    await openDataset(page, file);
    const notice = page.getByTestId('blocked-folders');
    await expect.poll(() => notice.textContent()).toContain(outside);
    await expect.poll(() => thumb(page).textContent()).toBe('Folder not allowed');
    await page.getByTestId('grid-cell').first().click();
    await expect.poll(() => page.locator('[data-testid="viewer"] .problem h2').textContent(), { timeout: 30_000 }).toBe('Folder not allowed');
    await page.getByTestId('viewer-back').click();

    await page.getByTestId('allow-folders').click();
    await expect.poll(() => notice.count()).toBe(0);
    await expect.poll(() => colourAt(thumb(page))).toEqual(GREEN);
    await page.getByTestId('grid-cell').first().click();
    await page.locator('[data-testid="viewer"][data-ready="true"]').waitFor({ timeout: 30_000 });
    expect(await colourAt(stage(page))).toEqual(GREEN);
    expect(pageErrors.filter((e) => !/403/.test(e))).toEqual([]);
  });

  it.skipIf(prerequisites.skip)('shows the thumbnail of a file only touched on disk, not an error', async () => {
    prerequisites.assertPresent();
    const { tmp } = app!;
    const dir = path.join(tmp, 'many');
    // Enough images (each its own, or they would be duplicates) that the last ones are off screen,
    // so their thumbnails are asked for later.
    for (let i = 0; i < 60; i++) await flatPng(path.join(dir, 'imgs', `p${String(i).padStart(2, '0')}.png`), i === 59 ? GREEN : [0, 0, 100 + i]);
    const file = path.join(dir, 'many.tessera');
    const ws = newWorkspace(app!.configDir);
    await ok(ws, 'dataset:create', { path: file, root: dir });
    await ok(ws, 'images:import', { jobId: 'i', paths: [path.join(dir, 'imgs')] });
    await ws.close();
    await app!.server.workspace.handlers['dataset:close']({});

    const { page, pageErrors } = await app!.newPage({ viewport: { width: 700, height: 450 } });
    await openDataset(page, file);
    const last = page.locator('[data-testid="grid-cell"][data-index="59"]');
    expect(await last.count()).toBe(0);
    // Touched: a new modification time, the same bytes.
    const touched = path.join(dir, 'imgs', 'p59.png');
    const st = fs.statSync(touched);
    fs.utimesSync(touched, st.atime, new Date(st.mtimeMs + 60_000));
    await page.getByTestId('grid').evaluate((el) => el.scrollTo(0, el.scrollHeight));
    await last.waitFor();
    await expect.poll(() => colourAt(last.locator('.thumb')), { timeout: 30_000 }).toEqual(GREEN);
    expect(await last.locator('.placeholder').count()).toBe(0);
    expect(pageErrors.filter((e) => !/409/.test(e))).toEqual([]);
  });
});
