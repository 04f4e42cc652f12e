import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXPORT_MANIFEST, filesUnder } from '../../src-main/services/interchange/exportPlace';
import { chromiumOrSkip, startApp, toPage, type App } from '../helpers/browser';
import { makeImages } from '../helpers/images';
import { newWorkspace, ok } from '../helpers/workspace';

/**
 * Comments, reload and export into a used folder in the real renderer (Chromium, browser mode):
 * a comment pinned with Shift+C on a selected shape and one at a clicked point, their markers,
 * the grid's badge and filter, the review bar's list, resolving, the overview across images; a
 * reload on frame 3 of a multi-page TIFF comes back to it, and to the grid with a message when
 * the image is gone; the export dialog asks before overwriting or merging into a folder.
 */
const prerequisites = chromiumOrSkip('comments');

function rows<T>(file: string, sql: string, ...params: unknown[]): T[] {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return db.prepare(sql).all(...params) as T[];
  } finally {
    db.close();
  }
}

const viewerOn = (page: Page, id: number, extra = '') =>
  page.locator(`[data-testid="viewer"][data-image-id="${id}"][data-ready="true"]${extra}`).waitFor({ timeout: 30_000 });
const pins = (page: Page) => page.locator('[data-testid="viewer"] .stage').getAttribute('data-comment-pins');

async function prepare(tmp: string, name: string) {
  const imgs = path.join(tmp, `${name}-imgs`);
  await makeImages(imgs);
  const file = path.join(tmp, `${name}.tessera`);
  const ws = newWorkspace(path.join(tmp, `${name}-prep`));
  await ok(ws, 'dataset:create', { path: file, root: tmp });
  await ok(ws, 'images:import', { jobId: 'imp', paths: [imgs] });
  const { items } = await ok(ws, 'images:list', {});
  const byName = (n: string) => items.find((i) => path.basename(i.path) === n)!;
  const cls = (await ok(ws, 'classes:create', { name: 'cell' })).id;
  const a = byName('a.jpg');
  const edit = await ok(ws, 'annotations:edit', { imageId: a.id, label: 'box', ops: [{ op: 'create', draft: { classId: cls, geometry: { kind: 'box', x: 10, y: 10, w: 30, h: 20 } } }] });
  await ok(ws, 'images:setStatus', { ids: [a.id], status: 'done' });
  await ws.close();
  return { file, a, shape: edit.created[0]!, pages: byName('f-pages.tif'), b: byName('b.png') };
}

async function openDataset(page: Page, file: string): Promise<void> {
  await page.getByTestId('open-dataset-path').fill(file);
  await page.getByTestId('open-dataset').click();
  await page.getByTestId('import-open').waitFor();
}

describe('comments, reload and export into a used folder in the browser', () => {
  let app: App | null = null;

  beforeAll(async () => {
    app = await startApp({ tmpPrefix: 'tessera-comments-e2e-' });
  });

  afterAll(async () => {
    await app?.close();
  });

  it.skipIf(prerequisites.skip)('pins comments on a shape and a point, counts them in the grid, lists them in review and resolves them', { timeout: 180_000 }, async () => {
    prerequisites.assertPresent();
    const { file, a, shape } = await prepare(app!.tmp, 'c');
    const { page, pageErrors } = await app!.newPage({ viewport: { width: 1500, height: 900 }, hooks: true });
    await openDataset(page, file);
    await page.locator(`[data-testid="grid-cell"][data-image-id="${a.id}"]`).click();
    await viewerOn(page, a.id);

    // Select the box, Shift+C, type, Enter: a comment on the shape.
    const centre = await toPage(page, 25, 20);
    await page.mouse.click(centre.x, centre.y);
    await page.keyboard.press('Shift+C');
    await page.getByTestId('comment-author').fill('Ana');
    await page.getByTestId('comment-text').fill('boundary too loose');
    await page.getByTestId('comment-text').press('Enter');
    await expect.poll(() => page.getByTestId('comments-open-count').getAttribute('data-count')).toBe('1');
    await expect.poll(() => pins(page)).toBe('1');
    const stored = () =>
      rows<{ id: number; annotation_id: number | null; x: number; y: number; resolved_at: number | null; body: string; author: string }>(file, 'SELECT * FROM comments ORDER BY id');
    expect(stored()).toEqual([expect.objectContaining({ annotation_id: shape, x: 40, y: 10, body: 'boundary too loose', resolved_at: null, author: 'Ana' })]);

    // Nothing selected: Shift+C waits for a click, which places the comment and draws nothing else.
    await page.keyboard.press('Escape');
    await page.keyboard.press('Shift+C');
    await page.getByTestId('comment-placing').waitFor();
    // Esc gives up placing, and only that: the image stays open.
    await page.keyboard.press('Escape');
    await expect.poll(() => page.getByTestId('comment-placing').count()).toBe(0);
    await viewerOn(page, a.id);
    await page.keyboard.press('Shift+C');
    await page.getByTestId('comment-placing').waitFor();
    const spot = await toPage(page, 55, 40);
    await page.mouse.click(spot.x, spot.y);
    await page.getByTestId('comment-text').fill('missed cell here');
    await page.getByTestId('comment-save').click();
    await expect.poll(() => page.getByTestId('comments-open-count').getAttribute('data-count')).toBe('2');
    await expect.poll(() => pins(page)).toBe('2');
    const point = stored()[1]!;
    expect(point.annotation_id).toBeNull();
    expect(point.author).toBe('Ana'); // the name is remembered
    expect(Math.abs(point.x - 55)).toBeLessThan(1.5);
    expect(Math.abs(point.y - 40)).toBeLessThan(1.5);
    expect(Number(await page.getByTestId('viewer').getAttribute('data-annotations'))).toBe(1);

    // The grid counts open comments and filters on them.
    await page.getByTestId('viewer-back').click();
    const badge = page.locator(`[data-testid="grid-cell"][data-image-id="${a.id}"] [data-testid="grid-open-comments"]`);
    await expect.poll(() => badge.textContent()).toContain('2');
    expect(await page.getByTestId('grid-open-comments').count()).toBe(1);
    await page.getByTestId('filter-comments').selectOption('yes');
    await expect.poll(() => page.getByTestId('grid-cell').count()).toBe(1);
    await page.getByTestId('filter-comments').selectOption('');

    // Review: the done image comes up with its open comments listed; resolving one updates the list and the store.
    await page.getByTestId('review-start').click();
    await viewerOn(page, a.id);
    await expect.poll(() => page.getByTestId('review-open-comments').getAttribute('data-count')).toBe('2');
    await page.getByTestId('review-comment').first().click();
    await page.locator('[data-testid="comment"][data-state="open"] [data-testid="comment-resolve"]').first().click();
    await expect.poll(() => page.getByTestId('review-open-comments').getAttribute('data-count')).toBe('1');
    await expect.poll(() => stored().filter((c) => c.resolved_at !== null).map((c) => c.body)).toEqual(['boundary too loose']);
    await page.getByTestId('review-exit').click();
    await page.getByTestId('viewer-back').click();
    await expect.poll(() => badge.textContent()).toContain('1');

    // The overview lists the open comments of the dataset and opens the image of one.
    await page.getByTestId('comments-overview-open').click();
    await expect.poll(() => page.getByTestId('comments-overview-item').count()).toBe(1);
    await page.getByTestId('comments-overview-item').click();
    await viewerOn(page, a.id);
    await expect.poll(() => page.locator('[data-testid="comment"][data-state="open"]').count()).toBe(1);

    // The right-click menu pins a comment where it was opened when no shape is there.
    const empty = await toPage(page, 50, 35);
    await page.mouse.click(empty.x, empty.y, { button: 'right' });
    await page.getByRole('menuitem', { name: /^Comment on/ }).click();
    await page.getByTestId('comment-text').fill('and here');
    await page.getByTestId('comment-text').press('Enter');
    await expect.poll(() => page.getByTestId('comments-open-count').getAttribute('data-count')).toBe('2');
    const fromMenu = stored().find((c) => c.body === 'and here')!;
    expect(fromMenu.annotation_id).toBeNull();
    expect(Math.abs(fromMenu.x - 50)).toBeLessThan(1);
    expect(Math.abs(fromMenu.y - 35)).toBeLessThan(1);
    expect(pageErrors).toEqual([]);
  });

  it.skipIf(prerequisites.skip)('a reload comes back to the image and frame that were open, or to the grid with a message when the image is gone', { timeout: 120_000 }, async () => {
    prerequisites.assertPresent();
    const { file, pages, b } = await prepare(app!.tmp, 'r');
    await app!.server.workspace.handlers['dataset:close']({});
    const { page, pageErrors } = await app!.newPage({ viewport: { width: 1300, height: 800 } });
    await openDataset(page, file);
    await page.locator(`[data-testid="grid-cell"][data-image-id="${pages.id}"]`).click();
    await viewerOn(page, pages.id);
    await page.keyboard.press('.');
    await page.keyboard.press('.');
    await viewerOn(page, pages.id, '[data-frame-shown="2"]');
    await expect.poll(() => rows<{ frame: number }>(file, 'SELECT frame FROM image_viewed_frames WHERE image_id = ?', pages.id)[0]?.frame).toBe(2);

    await page.reload();
    await viewerOn(page, pages.id, '[data-frame-shown="2"]');
    expect(await page.getByTestId('status-frame').textContent()).toBe('frame 3 of 3');

    // Another image, then removed behind the app's back: the reload lands on the grid, saying so.
    await page.getByTestId('viewer-back').click();
    await page.locator(`[data-testid="grid-cell"][data-image-id="${b.id}"]`).click();
    await viewerOn(page, b.id);
    const db = new Database(file);
    db.pragma('foreign_keys = ON');
    db.prepare('DELETE FROM images WHERE id = ?').run(b.id);
    db.close();
    await page.reload();
    await page.getByTestId('grid').waitFor();
    await expect.poll(() => page.getByTestId('status-line').textContent()).toContain('no longer in the dataset');
    expect(await page.getByTestId('viewer').count()).toBe(0);
    expect(pageErrors.filter((e) => !/404|409/.test(e))).toEqual([]);
  });

  it.skipIf(prerequisites.skip)('export into a used folder asks, then overwrites or merges', { timeout: 120_000 }, async () => {
    prerequisites.assertPresent();
    const { file } = await prepare(app!.tmp, 'x');
    await app!.server.workspace.handlers['dataset:close']({});
    const { page, pageErrors } = await app!.newPage({ viewport: { width: 1300, height: 800 } });
    await openDataset(page, file);
    const out = path.join(app!.tmp, 'x-out');
    const exportOnce = async (images: 'copy' | 'none') => {
      await page.getByTestId('export-format').selectOption('yolo');
      await page.getByTestId('export-images').selectOption(images);
      await page.getByTestId('export-outdir').fill(out);
      await page.getByTestId('export-start').click();
    };
    await page.getByTestId('export-open').click();
    await exportOnce('copy');
    await page.getByTestId('export-summary').waitFor();
    const first = filesUnder(out, [EXPORT_MANIFEST]);
    expect(first.some((f) => f.startsWith('images/'))).toBe(true);

    // Again into the same folder: asked; Cancel exports nothing.
    await page.getByRole('button', { name: 'Export again' }).click();
    await exportOnce('none');
    await page.getByTestId('export-existing').waitFor();
    await page.getByTestId('export-existing-cancel').click();
    expect(await page.getByTestId('export-existing').count()).toBe(0);
    expect(filesUnder(out, [EXPORT_MANIFEST])).toEqual(first);

    // Overwrite: the images the first export copied are gone with it.
    await page.getByTestId('export-start').click();
    await page.getByTestId('export-overwrite').click();
    await page.getByTestId('export-summary').waitFor();
    const overwritten = filesUnder(out, [EXPORT_MANIFEST]);
    expect(overwritten.some((f) => f.startsWith('images/'))).toBe(false);
    expect(overwritten.some((f) => f.startsWith('labels/'))).toBe(true);

    // Merge: a file of the user's stays; the export's own files are written over.
    fs.writeFileSync(path.join(out, 'notes.txt'), 'mine');
    fs.writeFileSync(path.join(out, 'data.yaml'), 'stale');
    await page.getByRole('button', { name: 'Export again' }).click();
    await exportOnce('none');
    await page.getByTestId('export-merge').click();
    await page.getByTestId('export-summary').waitFor();
    expect(fs.readFileSync(path.join(out, 'notes.txt'), 'utf8')).toBe('mine');
    expect(fs.readFileSync(path.join(out, 'data.yaml'), 'utf8')).not.toBe('stale');
    expect(filesUnder(out, [EXPORT_MANIFEST])).toEqual([...overwritten, 'notes.txt'].sort());

    // Another format: the dialog says Merge does not mix them; Merge is refused with the reason
    // and the question stays; Overwrite then replaces the earlier export.
    fs.rmSync(path.join(out, 'notes.txt'));
    const before = filesUnder(out);
    await page.getByRole('button', { name: 'Export again' }).click();
    await page.getByTestId('export-format').selectOption('voc');
    await page.getByTestId('export-images').selectOption('none');
    await page.getByTestId('export-outdir').fill(out);
    await page.getByTestId('export-start').click();
    await expect.poll(() => page.getByTestId('export-existing').textContent()).toMatch(/refused when the\s+format or the classes changed/);
    await page.getByTestId('export-merge').click();
    await expect.poll(async () => (await page.getByTestId('export-merge-refused').count()) > 0 ? page.getByTestId('export-merge-refused').textContent() : '').toMatch(/earlier export there is yolo, this one is voc.*Overwrite/);
    expect(filesUnder(out)).toEqual(before);
    await page.getByTestId('export-overwrite').click();
    await page.getByTestId('export-summary').waitFor();
    const voc = filesUnder(out, [EXPORT_MANIFEST]);
    expect(voc.some((f) => f.startsWith('Annotations/'))).toBe(true);
    expect(voc).not.toContain('data.yaml');
    expect(pageErrors).toEqual([]);
  });
});
