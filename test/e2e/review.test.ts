import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { Page } from 'playwright-core';
import { chromiumOrSkip, startApp, type App } from '../helpers/browser';
import { makeImages } from '../helpers/images';
import { newWorkspace, ok } from '../helpers/workspace';

/**
 * Review and dataset health in the real renderer: a dataset of eight small images, three of them
 * labeled and done, is prepared through the services; in Chromium the review mode accepts one
 * image with its key, rejects the next with a comment, and the grid's status counts follow; the
 * health dashboard's class bar opens the grid filtered to that class.
 */
const prerequisites = chromiumOrSkip('review');

function statuses(file: string): Map<number, { status: string; comment: string | null }> {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const rows = db.prepare('SELECT id, status, review_comment AS comment FROM images').all() as { id: number; status: string; comment: string | null }[];
    return new Map(rows.map((r) => [r.id, { status: r.status, comment: r.comment }]));
  } finally {
    db.close();
  }
}

const count = (page: Page, status: string) => page.getByTestId(`status-count-${status}`).getAttribute('data-count');
const viewerOn = (page: Page, id: number) => page.locator(`[data-testid="viewer"][data-image-id="${id}"][data-ready="true"]`).waitFor({ timeout: 30_000 });

describe('review and dataset health in the browser', () => {
  let app: App | null = null;

  beforeAll(async () => {
    app = await startApp({ tmpPrefix: 'tessera-review-e2e-' });
  });

  afterAll(async () => {
    await app?.close();
  });

  it.skipIf(prerequisites.skip)('reviews done images with keys and comments, and filters the grid from the health dashboard', { timeout: 120_000 }, async () => {
    prerequisites.assertPresent();
    const { tmp } = app!;
    await makeImages(path.join(tmp, 'imgs'));
    const file = path.join(tmp, 'review.tessera');
    const ws = newWorkspace(path.join(tmp, 'prep'));
    await ok(ws, 'dataset:create', { path: file, root: tmp });
    await ok(ws, 'images:import', { jobId: 'imp', paths: [path.join(tmp, 'imgs')] });
    const { items } = await ok(ws, 'images:list', {});
    const cell = (await ok(ws, 'classes:create', { name: 'cell' })).id;
    const debris = (await ok(ws, 'classes:create', { name: 'debris' })).id;
    const [a, b, c, d] = items;
    for (const [im, classId] of [[a!, cell], [b!, cell], [c!, cell], [d!, debris]] as const) {
      await ok(ws, 'annotations:edit', { imageId: im.id, label: 'box', ops: [{ op: 'create', draft: { classId, geometry: { kind: 'box', x: 1, y: 1, w: 4, h: 3 } } }] });
    }
    const done = [a!.id, b!.id, c!.id];
    await ok(ws, 'images:setStatus', { ids: done, status: 'done' });
    await ws.close();

    const { page, pageErrors } = await app!.newPage({ viewport: { width: 1500, height: 900 } });
    await page.getByTestId('open-dataset-path').fill(file);
    await page.getByTestId('open-dataset').click();
    await expect.poll(() => count(page, 'done')).toBe('3');
    expect(await count(page, 'in_progress')).toBe('1');
    expect(await page.getByTestId('filter-status').locator('option[value="done"]').textContent()).toBe('Done (3)');

    // Review mode opens the first done image.
    await page.getByTestId('review-start').click();
    await viewerOn(page, done[0]!);
    await expect.poll(() => page.getByTestId('review-remaining').textContent()).toBe('3 done left');

    // Accept with the registry's key; the next done image comes up.
    // The key goes to the window, not to the button that started the review.
    await page.getByTestId('review-start').blur();
    await page.keyboard.press('Alt+Enter');
    await viewerOn(page, done[1]!);
    await expect.poll(() => page.getByTestId('review-remaining').textContent()).toBe('2 done left');

    // Reject with the registry's key opens the comment box; a box left open while another image
    // comes up is discarded, so its comment can never land on that image.
    await page.keyboard.press('Alt+Backspace');
    const box = page.getByTestId('review-comment-input');
    await box.waitFor();
    await box.fill('meant for the previous image');
    await page.getByRole('button', { name: 'Next ›' }).click();
    await viewerOn(page, done[2]!);
    await box.waitFor({ state: 'detached' });
    await page.getByRole('button', { name: '‹ Prev' }).click();
    await viewerOn(page, done[1]!);
    expect(await box.count()).toBe(0);

    // Reject with a comment typed into the box; Enter sends it.
    await page.getByRole('button', { name: '‹ Prev' }).blur();
    await page.keyboard.press('Alt+Backspace');
    await box.waitFor();
    expect(await box.inputValue()).toBe('');
    await box.fill('the box misses half the cell');
    await box.press('Enter');
    await viewerOn(page, done[2]!);
    await expect.poll(() => page.getByTestId('review-remaining').textContent()).toBe('1 done left');

    const stored = statuses(file);
    expect(stored.get(done[0]!)).toEqual({ status: 'reviewed', comment: null });
    expect(stored.get(done[1]!)).toEqual({ status: 'rejected', comment: 'the box misses half the cell' });
    expect(stored.get(done[2]!)).toEqual({ status: 'done', comment: null });

    // Back in the grid the counts follow; the rejected image shows its comment in the viewer.
    await page.getByTestId('review-exit').click();
    await page.getByTestId('viewer-back').click();
    await expect.poll(() => count(page, 'done')).toBe('1');
    expect(await count(page, 'reviewed')).toBe('1');
    expect(await count(page, 'rejected')).toBe('1');
    await page.getByTestId('status-count-rejected').click();
    await expect.poll(() => page.getByTestId('image-count').textContent()).toBe('1 image');
    await page.getByTestId('grid-cell').first().click();
    await viewerOn(page, done[1]!);
    await expect.poll(() => page.getByTestId('review-comment').textContent()).toBe('Reviewer: the box misses half the cell');
    await page.getByTestId('viewer-back').click();
    await page.getByTestId('status-count-rejected').click();
    await expect.poll(() => page.getByTestId('image-count').textContent()).toBe('8 images');

    // The health dashboard: a class bar opens the grid filtered to that class.
    await page.getByTestId('health-open').click();
    const cellBar = page.getByTestId(`health-class-${cell}`);
    await expect.poll(() => cellBar.getAttribute('data-value')).toBe('3');
    expect(await page.getByTestId(`health-class-${debris}`).getAttribute('data-value')).toBe('1');
    expect(await page.getByTestId('health-unlabeled').textContent()).toContain('4 images');
    await cellBar.click();
    await expect.poll(() => page.getByTestId('image-count').textContent()).toBe('3 images');
    expect(await page.getByTestId('filter-class').inputValue()).toBe(String(cell));
    await expect.poll(() => page.getByTestId('grid-cell').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-image-id'))))).toEqual(done);

    // "Images without labels" opens the grid on exactly those.
    await page.getByTestId('health-open').click();
    await page.getByTestId('health-unlabeled').click();
    await expect.poll(() => page.getByTestId('image-count').textContent()).toBe('4 images');
    expect(await page.getByTestId('filter-labeled').inputValue()).toBe('no');

    // Every box is 4 x 3 (12 px², tiny); the tiny-shapes count picks their images, and the chip drops them.
    await page.getByTestId('health-open').click();
    expect(await page.getByTestId('health-size-0').getAttribute('data-value')).toBe('4');
    // A figure's link replaces the filter (here: drops "without labels") rather than narrowing it.
    await page.getByTestId('health-tiny').click();
    await expect.poll(() => page.getByTestId('image-count').textContent()).toBe('4 images');
    expect(await page.getByTestId('filter-labeled').inputValue()).toBe('');
    expect(await page.getByTestId('filter-ids').textContent()).toContain('4 picked images');
    await page.getByTestId('filter-ids').click();
    await expect.poll(() => page.getByTestId('image-count').textContent()).toBe('8 images');
    expect(pageErrors).toEqual([]);
  });
});
