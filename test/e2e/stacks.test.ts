import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumOrSkip, startApp, toPage, type App } from '../helpers/browser';
import { writeCtSeries } from '../helpers/dicomSeries';
import { sharedPath } from '../helpers/shared';
import { newWorkspace, ok } from '../helpers/workspace';

/**
 * Stacks in the real renderer: five CT slices written as separate files (names out of position
 * order) are one grid tile with its slice count; `.` and `,` and the slider step slices in
 * position order, each with its own picture and shapes; a window chosen on one slice stays on the
 * next; a box interpolated from the UI between slices 1 and 5 lands on slice 3 as the exact
 * linear interpolation, and a box copied to the next 2 slices lands on them; copying waits for a
 * change not yet saved; a comment on a slice counts on the stack's tile; a reload comes back to
 * the slice shown; rtdose.dcm's 15 frames step with `.`, each with its own picture.
 */
const ct = sharedPath('datasets/dicom_pydicom/CT_small.dcm');
const rtdose = sharedPath('datasets/dicom_pydicom/rtdose.dcm');
const prerequisites = chromiumOrSkip('stacks', ct && rtdose ? [] : [{ path: '../shared/datasets/dicom_pydicom', what: 'DICOM samples' }]);

/** Slices 0..4 in position order; by name they sort c, a, e, b, d. */
const NAMES = ['s-c.dcm', 's-a.dcm', 's-e.dcm', 's-b.dcm', 's-d.dcm'];

/** RGB of one pixel of the bitmap the viewer shows, and the sum of all its red values. */
const shown = (page: Page, x: number, y: number): Promise<{ px: number[]; sum: number }> =>
  page.evaluate(
    ([px, py]) => {
      type Img = { naturalWidth: number; naturalHeight: number };
      type Ctx = { drawImage(i: Img, x: number, y: number): void; getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray } };
      type Canvas = { width: number; height: number; getContext(kind: '2d'): Ctx | null };
      const g = globalThis as unknown as { __tesseraCanvas: { image: Img | null }; document: { createElement(tag: 'canvas'): Canvas } };
      const img = g.__tesseraCanvas.image;
      if (!img) return { px: [], sum: -1 };
      const c = g.document.createElement('canvas');
      c.width = img.naturalWidth;
      c.height = img.naturalHeight;
      const ctx = c.getContext('2d')!;
      ctx.drawImage(img, 0, 0);
      const all = ctx.getImageData(0, 0, c.width, c.height).data;
      let sum = 0;
      for (let i = 0; i < all.length; i += 4) sum += all[i]!;
      return { px: Array.from(ctx.getImageData(px!, py!, 1, 1).data.slice(0, 3)), sum };
    },
    [x, y],
  );

const attr = (page: Page, name: string) => page.getByTestId('viewer').getAttribute(name);
const text = (page: Page, id: string) => page.getByTestId(id).textContent({ timeout: 2_000 }).catch(() => null);
const windowValues = async (page: Page) => {
  const el = page.getByTestId('window-values');
  return { center: Number(await el.getAttribute('data-center')), width: Number(await el.getAttribute('data-width')) };
};

function boxesOn(file: string, imageId: number): { x: number; y: number; w: number; h: number; interpolated: boolean }[] {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return (db.prepare("SELECT geometry, attributes FROM annotations WHERE image_id = ? AND kind = 'box' ORDER BY id").all(imageId) as { geometry: string; attributes: string }[]).map((r) => {
      const g = JSON.parse(r.geometry) as { x: number; y: number; w: number; h: number };
      return { x: g.x, y: g.y, w: g.w, h: g.h, interpolated: typeof (JSON.parse(r.attributes) as Record<string, unknown>)['interpolated'] === 'string' };
    });
  } finally {
    db.close();
  }
}

async function drawBox(page: Page, x0: number, y0: number, x1: number, y1: number): Promise<void> {
  await page.keyboard.press('b');
  const from = await toPage(page, x0, y0);
  const to = await toPage(page, x1, y1);
  await page.mouse.move(from.x, from.y);
  await page.mouse.down();
  await page.mouse.move(to.x, to.y, { steps: 8 });
  await page.mouse.up();
}

describe('stacks in the browser', () => {
  let app: App | null = null;

  beforeAll(async () => {
    if (!prerequisites.skip) app = await startApp({ tmpPrefix: 'tessera-stacks-e2e-' });
  });

  afterAll(async () => {
    await app?.close();
  });

  it.skipIf(prerequisites.skip)('a CT series is one tile; slices step in position order with shared window; interpolate and propagate from the UI; rtdose frames step', { timeout: 240_000 }, async () => {
    prerequisites.assertPresent();
    const { tmp } = app!;
    writeCtSeries(ct!, path.join(tmp, 'ct'), NAMES);
    fs.mkdirSync(path.join(tmp, 'rt'));
    fs.copyFileSync(rtdose!, path.join(tmp, 'rt', 'rtdose.dcm'));
    const file = path.join(tmp, 'stacks.tessera');
    const ws = newWorkspace(app!.configDir);
    await ok(ws, 'dataset:create', { path: file, root: tmp });
    await ok(ws, 'images:import', { jobId: 'imp', paths: [path.join(tmp, 'ct'), path.join(tmp, 'rt')] });
    const { items } = await ok(ws, 'images:list', {});
    const tile = items.find((i) => i.stack)!;
    const dose = items.find((i) => i.path.endsWith('rtdose.dcm'))!;
    const ids = (await ok(ws, 'stacks:get', { id: tile.stack!.id })).members.map((m) => m.id);
    await ok(ws, 'classes:create', { name: 'lesion' });
    await ok(ws, 'comments:add', { imageId: ids[1]!, body: 'check the margin', x: 5, y: 5, author: 'Ana' });
    await ws.close();

    const { page, pageErrors } = await app!.newPage({ viewport: { width: 1400, height: 900 }, hooks: true });
    await page.getByTestId('open-dataset-path').fill(file);
    await page.getByTestId('open-dataset').click();

    // Two tiles: the stack of five (shown by its middle slice) and the RT dose.
    await page.getByTestId('grid-cell').first().waitFor();
    expect(await page.getByTestId('grid-cell').count()).toBe(2);
    expect((await page.getByTestId('grid-stack').textContent())?.trim()).toBe('▤ 5');
    // The count says what the tiles hold: six images (five slices and the RT dose) in two tiles.
    await expect.poll(() => page.getByTestId('image-count').textContent()).toBe('6 images in 2 tiles');
    // The stack's tile counts the open comment of slice 2.
    expect(await page.getByTestId('grid-open-comments').textContent()).toContain('1');

    // Opening the tile shows slice 1 of 5: the first file along the normal, s-c.dcm.
    await page.locator(`[data-testid="grid-cell"][data-image-id="${ids[2]}"]`).click();
    await page.locator(`[data-testid="viewer"][data-image-id="${ids[0]}"][data-ready="true"]`).waitFor({ timeout: 30_000 });
    await page.getByTestId('tool-select').focus();
    expect(await text(page, 'status-slice')).toBe('slice 1 of 5');
    // Each slice has its bright square at x = 8 + 20k: slice 1's at 14, not yet at 34.
    await expect.poll(async () => (await shown(page, 14, 14)).px[0]).toBe(255);
    expect((await shown(page, 34, 14)).px[0]).toBeLessThan(200);

    // A comment on slice 1 counts on the stack's tile, which already counted slice 2's.
    const badge = page.locator(`[data-testid="grid-cell"][data-image-id="${ids[2]}"] [data-testid="grid-open-comments"]`);
    await page.keyboard.press('Shift+C');
    await page.getByTestId('comment-placing').waitFor();
    const spot = await toPage(page, 120, 8);
    await page.mouse.click(spot.x, spot.y);
    if (await page.getByTestId('comment-author').isVisible()) await page.getByTestId('comment-author').fill('Ana');
    await page.getByTestId('comment-text').fill('slice 1 too');
    await page.getByTestId('comment-save').click();
    await expect.poll(() => page.getByTestId('comments-open-count').getAttribute('data-count')).toBe('1');
    await page.getByTestId('viewer-back').click();
    await expect.poll(() => badge.textContent()).toContain('2');
    await page.locator(`[data-testid="grid-cell"][data-image-id="${ids[2]}"]`).click();
    await page.locator(`[data-testid="viewer"][data-image-id="${ids[0]}"][data-ready="true"]`).waitFor({ timeout: 30_000 });
    await page.getByTestId('tool-select').focus();

    // `.`: slice 2 of 5, s-a.dcm, with its own picture.
    await page.keyboard.press('.');
    await expect.poll(() => text(page, 'status-slice')).toBe('slice 2 of 5');
    await page.locator(`[data-testid="viewer"][data-image-id="${ids[1]}"][data-ready="true"]`).waitFor();
    await expect.poll(async () => (await shown(page, 34, 14)).px[0]).toBe(255);
    expect((await shown(page, 14, 14)).px[0]).toBeLessThan(200);

    // A window chosen on slice 2 stays on slice 3.
    await page.getByTestId('window-preset').filter({ hasText: 'Lung' }).click();
    await expect.poll(() => windowValues(page)).toEqual({ center: -600, width: 1500 });
    await page.keyboard.press('.');
    await expect.poll(() => text(page, 'status-slice')).toBe('slice 3 of 5');
    await page.locator(`[data-testid="viewer"][data-image-id="${ids[2]}"][data-ready="true"]`).waitFor();
    await expect.poll(() => windowValues(page)).toEqual({ center: -600, width: 1500 });
    await expect
      .poll(() => page.evaluate(() => (globalThis as unknown as { __tesseraCanvas: { image: { src: string } | null } }).__tesseraCanvas.image?.src ?? ''))
      .toMatch(new RegExp(`/${ids[2]}/[\\w-]+/0/-600/1500$`));
    // `,` goes back.
    await page.keyboard.press(',');
    await expect.poll(() => text(page, 'status-slice')).toBe('slice 2 of 5');

    // Interpolation: a box on slice 1 and one on slice 5, then Shift+I with the slice-5 box selected.
    await page.getByTestId('slice-slider').fill('1');
    await page.locator(`[data-testid="viewer"][data-image-id="${ids[0]}"][data-ready="true"]`).waitFor();
    await page.getByTestId('tool-select').focus();
    await drawBox(page, 20, 30, 50, 70);
    await expect.poll(() => boxesOn(file, ids[0]!).length).toBe(1);
    await page.getByTestId('slice-slider').fill('5');
    await page.locator(`[data-testid="viewer"][data-image-id="${ids[4]}"][data-ready="true"]`).waitFor();
    expect(await attr(page, 'data-annotations')).toBe('0');
    await page.getByTestId('tool-select').focus();
    await drawBox(page, 60, 50, 110, 80);
    await expect.poll(() => boxesOn(file, ids[4]!).length).toBe(1);
    // (Select all once the editor holds the saved box: a shape still being saved is not in it yet.)
    await expect.poll(() => attr(page, 'data-annotations')).toBe('1');
    await page.keyboard.press('Control+a');
    await expect.poll(() => page.locator('[data-testid="object-row"][aria-selected="true"]').count()).toBe(1);
    await page.keyboard.press('Shift+KeyI');
    await expect.poll(() => boxesOn(file, ids[2]!).length).toBe(1);
    await expect.poll(() => text(page, 'status-line')).toContain('Interpolated on 3 slices between slices 1 and 5');
    const [a] = boxesOn(file, ids[0]!);
    const [b] = boxesOn(file, ids[4]!);
    const mid = boxesOn(file, ids[2]!)[0]!;
    expect(mid).toEqual({ x: (a!.x + b!.x) / 2, y: (a!.y + b!.y) / 2, w: (a!.w + b!.w) / 2, h: (a!.h + b!.h) / 2, interpolated: true });
    expect(boxesOn(file, ids[1]!)[0]).toEqual({ x: a!.x + (b!.x - a!.x) / 4, y: a!.y + (b!.y - a!.y) / 4, w: a!.w + (b!.w - a!.w) / 4, h: a!.h + (b!.h - a!.h) / 4, interpolated: true });
    // Slice 3 shows its interpolated box.
    await page.keyboard.press(',');
    await page.keyboard.press(',');
    await expect.poll(() => text(page, 'status-slice')).toBe('slice 3 of 5');
    await page.locator(`[data-testid="viewer"][data-image-id="${ids[2]}"][data-ready="true"]`).waitFor();
    await expect.poll(() => attr(page, 'data-annotations')).toBe('1');

    // Propagation: slice 1's box to the next 2 slices, count asked (default 1).
    await page.getByTestId('slice-slider').fill('1');
    await page.locator(`[data-testid="viewer"][data-image-id="${ids[0]}"][data-ready="true"]`).waitFor();
    await page.getByTestId('tool-select').focus();
    await expect.poll(() => attr(page, 'data-annotations')).toBe('1');
    await page.keyboard.press('Control+a');
    await page.keyboard.press('>');
    await page.getByTestId('propagate-box').waitFor();
    expect(await page.getByTestId('propagate-count').inputValue()).toBe('1');
    await page.getByTestId('propagate-count').fill('2');
    await page.getByTestId('propagate-count').press('Enter');
    await expect.poll(() => text(page, 'status-line')).toContain('1 shape copied to the next 2 slices');
    const copy = { ...a!, interpolated: false };
    expect(boxesOn(file, ids[1]!)).toContainEqual(copy);
    expect(boxesOn(file, ids[2]!)).toContainEqual(copy);
    expect(boxesOn(file, ids[3]!)).not.toContainEqual(copy);
    await page.keyboard.press('.');
    await page.locator(`[data-testid="viewer"][data-image-id="${ids[1]}"][data-ready="true"]`).waitFor();
    await expect.poll(() => attr(page, 'data-annotations')).toBe('2');

    // A change that could not be saved (the dataset locked by another program) waits for Retry or
    // Discard; copying to the next slices meanwhile is refused, and nothing is written.
    const onThird = boxesOn(file, ids[2]!).length;
    const viewed = () => {
      const db = new Database(file, { readonly: true, fileMustExist: true });
      try {
        return db.prepare('SELECT viewed_image_id FROM stacks').pluck().get();
      } finally {
        db.close();
      }
    };
    // (The slice shown is written once stepping pauses; the lock below would hold that back.)
    await expect.poll(viewed).toBe(ids[1]);
    const locker = new Database(file);
    locker.exec('BEGIN EXCLUSIVE');
    await page.getByTestId('tool-select').focus();
    await page.keyboard.press('Control+a');
    await page.keyboard.press('Control+]');
    try {
      await page.getByTestId('pending').waitFor({ timeout: 30_000 });
    } finally {
      locker.exec('ROLLBACK');
      locker.close();
    }
    await page.keyboard.press('>');
    await page.getByTestId('propagate-count').fill('1');
    await page.getByTestId('propagate-count').press('Enter');
    await expect.poll(() => text(page, 'status-line')).toContain('is waiting to be saved');
    expect(boxesOn(file, ids[2]!)).toHaveLength(onThird);
    await page.getByTestId('pending').getByRole('button', { name: 'Discard' }).click();
    await expect.poll(() => page.getByTestId('pending').count()).toBe(0);

    // The slice last viewed is remembered: back in the grid and into the tile again, slice 2.
    await page.getByTestId('viewer-back').click();
    await page.getByTestId('grid-cell').first().waitFor();
    await page.locator(`[data-testid="grid-cell"][data-image-id="${ids[2]}"]`).click();
    await page.locator(`[data-testid="viewer"][data-image-id="${ids[1]}"][data-ready="true"]`).waitFor({ timeout: 30_000 });
    expect(await text(page, 'status-slice')).toBe('slice 2 of 5');

    // A reload comes back to the slice shown (slice 3), not to the slice the stack was opened on.
    await page.keyboard.press('.');
    await expect.poll(() => text(page, 'status-slice')).toBe('slice 3 of 5');
    await page.locator(`[data-testid="viewer"][data-image-id="${ids[2]}"][data-ready="true"]`).waitFor();
    await expect.poll(() => new URL(page.url()).hash, { timeout: 5_000 }).toBe(`#image=${ids[2]}`);
    await page.reload();
    await page.locator(`[data-testid="viewer"][data-image-id="${ids[2]}"][data-ready="true"]`).waitFor({ timeout: 30_000 });
    expect(await text(page, 'status-slice')).toBe('slice 3 of 5');

    // rtdose.dcm: 15 frames, stepped with `.`, each with its own picture.
    await page.getByTestId('viewer-back').click();
    await page.locator(`[data-testid="grid-cell"][data-image-id="${dose.id}"]`).click();
    await page.locator(`[data-testid="viewer"][data-image-id="${dose.id}"][data-ready="true"]`).waitFor({ timeout: 30_000 });
    await page.getByTestId('tool-select').focus();
    expect(await text(page, 'status-frame')).toBe('frame 1 of 15');
    expect(await page.getByTestId('status-slice').count()).toBe(0);
    const sums = [(await shown(page, 0, 0)).sum];
    for (let f = 2; f <= 15; f++) {
      await page.keyboard.press('.');
      await expect.poll(() => text(page, 'status-frame')).toBe(`frame ${f} of 15`);
      await expect.poll(() => attr(page, 'data-frame-shown')).toBe(String(f - 1));
      sums.push((await shown(page, 0, 0)).sum);
    }
    await page.keyboard.press('.');
    expect(await text(page, 'status-frame')).toBe('frame 15 of 15');
    // The dose differs frame to frame: most frames' pictures differ from the previous one.
    const changed = sums.slice(1).filter((s, i) => s !== sums[i]).length;
    expect(changed).toBeGreaterThan(10);
    expect(pageErrors).toEqual([]);
  });
});
