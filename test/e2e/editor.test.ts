import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import sharp from 'sharp';
import type { Page } from 'playwright-core';
import { rleArea } from '../../src-main/common/geometry/rle';
import type { Geometry } from '../../src-main/common/model';
import { chromiumOrSkip, createDatasetViaUi, startApp, type App, toPage, mouseTo, clickAt, dragImage, zoomOf, annotationCount } from '../helpers/browser';

/**
 * The annotation editor in the real renderer (browser mode, real services, Chromium): draw with
 * the mouse at several zooms and after panning, reload, and check the rows in the dataset file.
 */
const IMAGE_W = 400;
const IMAGE_H = 300;

const prerequisites = chromiumOrSkip('editor');

/** A few images with visible structure (cells on a gradient), so screenshots show something. */
async function makeCellImages(dir: string): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  for (const [i, hue] of [200, 30].entries()) {
    const circles = [
      [90, 80, 40],
      [260, 110, 55],
      [170, 220, 35],
      [330, 240, 30],
    ]
      .map(([x, y, r]) => `<circle cx="${x! + i * 7}" cy="${y}" r="${r}" fill="hsl(${hue + 120},55%,62%)" stroke="hsl(${hue},40%,30%)" stroke-width="4"/>`)
      .join('');
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${IMAGE_W}" height="${IMAGE_H}">
      <defs><linearGradient id="g" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="hsl(${hue},35%,22%)"/><stop offset="1" stop-color="hsl(${hue},35%,40%)"/></linearGradient></defs>
      <rect width="100%" height="100%" fill="url(#g)"/>${circles}</svg>`;
    await sharp(Buffer.from(svg)).png().toFile(path.join(dir, `cells-${i + 1}.png`));
  }
}

interface Row {
  id: number;
  image_id: number;
  kind: string;
  class_id: number | null;
  geometry: string;
}

function rows(file: string): (Row & { g: Geometry })[] {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const all = db.prepare('SELECT id, image_id, kind, class_id, geometry FROM annotations ORDER BY id').all() as Row[];
    return all.map((r) => ({ ...r, g: JSON.parse(r.geometry) as Geometry }));
  } finally {
    db.close();
  }
}

function attributesOf(file: string, kind: string): unknown {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const r = db.prepare('SELECT attributes FROM annotations WHERE kind = ? ORDER BY id LIMIT 1').get(kind) as { attributes: string } | undefined;
    return r ? JSON.parse(r.attributes) : undefined;
  } finally {
    db.close();
  }
}

describe('annotation editor in the browser', () => {
  let app: App | null = null;

  beforeAll(async () => {
    app = await startApp({ tmpPrefix: 'tessera-editor-e2e-' });
    await makeCellImages(path.join(app.tmp, 'imgs'));
  });

  afterAll(async () => {
    await app?.close();
  });

  it.skipIf(prerequisites.skip)('draws boxes, polygons and masks with the mouse and keys; the rows hold image pixels', async () => {
    prerequisites.assertPresent();
    const { tmp } = app!;
    const { page, pageErrors } = await app!.newPage({ viewport: { width: 1400, height: 900 }, hooks: true });
    const datasetFile = path.join(tmp, 'cells.tessera');
    await createDatasetViaUi(page, datasetFile);
    await page.getByTestId('import-open').click();
    await page.getByTestId('import-paths').fill(path.join(tmp, 'imgs'));
    await page.getByTestId('import-start').click();
    await expect.poll(() => page.getByTestId('import-summary').textContent(), { timeout: 30_000 }).toContain('2 imported');

    const openFirst = async (): Promise<void> => {
      await page.getByTestId('grid-cell').first().click();
      await page.locator('[data-testid="viewer"][data-ready="true"]').waitFor({ timeout: 30_000 });
    };
    await openFirst();
    const imageId = Number(await page.getByTestId('viewer').getAttribute('data-image-id'));

    // Classes from the class panel; hotkeys follow their order.
    for (const name of ['cell', 'nucleus']) {
      await page.getByTestId('class-new-name').fill(name);
      await page.getByTestId('class-add').click();
      await expect.poll(() => page.getByTestId('class-row').count()).toBe(name === 'cell' ? 1 : 2);
    }
    await page.getByTestId('tool-select').focus();
    const classIds = (await page.getByTestId('class-row').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-class-id'))))) as number[];
    await page.keyboard.press('1');
    await expect.poll(() => page.locator('[data-testid="class-row"].active').getAttribute('data-class-id')).toBe(String(classIds[0]));

    // A box at the fitted zoom.
    await page.keyboard.press('b');
    await expect.poll(() => page.getByTestId('viewer').getAttribute('data-tool')).toBe('box');
    const fit = await zoomOf(page);
    await dragImage(page, [50, 40], [150, 120]);
    await expect.poll(() => annotationCount(page)).toBe(1);

    // Zoom in twice, pan with the right button, then a polygon of the second class.
    await page.getByTestId('viewer-zoom-in').click();
    await page.getByTestId('viewer-zoom-in').click();
    await expect.poll(() => zoomOf(page)).toBeGreaterThan(fit * 1.5);
    const before = await toPage(page, 0, 0);
    const centre = await toPage(page, 200, 150);
    await page.mouse.move(centre.x, centre.y);
    await page.mouse.down({ button: 'right' });
    await page.mouse.move(centre.x - 120, centre.y - 60, { steps: 6 });
    await page.mouse.up({ button: 'right' });
    const after = await toPage(page, 0, 0);
    expect(after.x - before.x).toBeCloseTo(-120, 0);
    await page.keyboard.press('Escape'); // deselect the box, so the digit picks the class to draw with
    await page.keyboard.press('2');
    await page.keyboard.press('p');
    await expect.poll(() => page.getByTestId('viewer').getAttribute('data-tool')).toBe('polygon');
    for (const [x, y] of [
      [220, 70],
      [300, 80],
      [280, 160],
      [210, 150],
    ] as const)
      await clickAt(page, x, y);
    await page.keyboard.press('Enter');
    await expect.poll(() => annotationCount(page)).toBe(2);

    // Reload: back on the same image (a reload returns to the image open), the shapes from the dataset.
    await page.reload();
    await page.locator(`[data-testid="viewer"][data-image-id="${imageId}"][data-ready="true"]`).waitFor({ timeout: 30_000 });
    await expect.poll(() => annotationCount(page)).toBe(2);
    const stored = rows(datasetFile);
    expect(stored.map((r) => [r.image_id, r.kind, r.class_id])).toEqual([
      [imageId, 'box', classIds[0]],
      [imageId, 'polygon', classIds[1]],
    ]);
    const box = stored[0]!.g as Extract<Geometry, { kind: 'box' }>;
    for (const [got, want] of [
      [box.x, 50],
      [box.y, 40],
      [box.w, 100],
      [box.h, 80],
    ] as const)
      expect(Math.abs(got - want)).toBeLessThanOrEqual(1);
    const poly = stored[1]!.g as Extract<Geometry, { kind: 'polygon' }>;
    expect(poly.parts).toHaveLength(1);
    const want = [220, 70, 300, 80, 280, 160, 210, 150];
    expect(poly.parts[0]!).toHaveLength(want.length);
    poly.parts[0]!.forEach((c, i) => expect(Math.abs(c - want[i]!)).toBeLessThanOrEqual(1));

    // A mask stroke: its area follows the brush model pi r^2 + 2 r L. Nothing is selected after
    // the reload, so '2' picks the class and the stroke starts a new mask of it.
    await page.keyboard.press('2');
    await expect.poll(() => page.locator('[data-testid="class-row"].active').getAttribute('data-class-id')).toBe(String(classIds[1]));
    await page.keyboard.press('m');
    await page.getByTestId('brush-radius').waitFor();
    for (let i = 0; i < 3; i++) await page.keyboard.press(']');
    const radius = Number((await page.getByTestId('brush-radius').textContent())!.match(/(\d+)/)![1]);
    expect(radius).toBeGreaterThan(8);
    await page.getByTestId('viewer-fit').click();
    await mouseTo(page, 60, 230);
    await page.mouse.down();
    await mouseTo(page, 260, 230, 25);
    await page.mouse.up();
    await expect.poll(() => annotationCount(page)).toBe(3);
    const mask = rows(datasetFile).find((r) => r.kind === 'mask')!;
    expect(mask.class_id).toBe(classIds[1]);
    const area = rleArea((mask.g as Extract<Geometry, { kind: 'mask' }>).rle);
    const model = Math.PI * radius * radius + 2 * radius * 200;
    expect(Math.abs(area - model) / model).toBeLessThan(0.05);

    // Undo through the keyboard removes the stroke from the file; the shortcuts list comes from the registry.
    await page.keyboard.press('Control+z');
    await expect.poll(() => annotationCount(page)).toBe(2);
    expect(rows(datasetFile).some((r) => r.kind === 'mask')).toBe(false);
    await page.keyboard.press('v');
    await expect.poll(() => page.getByTestId('viewer').getAttribute('data-tool')).toBe('select');
    await page.keyboard.press('?');
    await page.getByTestId('shortcuts').waitFor();
    expect(await page.getByTestId('shortcuts').textContent()).toContain('Shift+Ctrl+Z');
    await page.keyboard.press('Escape');
    await expect.poll(() => page.getByTestId('shortcuts').count()).toBe(0);

    // Select the box and show the editor as a labeller sees it.
    await clickAt(page, 100, 80);
    await page.getByTestId('attribute-panel').getByText('box #').waitFor();
    await page.keyboard.press('Control+Enter');
    await expect.poll(() => page.getByTestId('image-status').textContent()).toBe('Done');

    // 'N' goes to the next image without annotations; 'A' comes back (the viewer's keys are registry actions too).
    await page.keyboard.press('n');
    await expect.poll(() => page.getByTestId('status-image-index').textContent()).toContain('image 2 of 2');
    await expect.poll(() => annotationCount(page)).toBe(0);
    await page.keyboard.press('a');
    await expect.poll(() => page.getByTestId('status-image-index').textContent()).toContain('image 1 of 2');
    await expect.poll(() => annotationCount(page)).toBe(2);

    // The right-click menu offers the registry's selection actions.
    await clickAt(page, 100, 80);
    const at = await toPage(page, 100, 80);
    await page.mouse.click(at.x, at.y, { button: 'right' });
    await page.getByTestId('context-menu').getByRole('menuitem', { name: /Duplicate/ }).click();
    await expect.poll(() => annotationCount(page)).toBe(3);
    await expect.poll(() => page.getByTestId('context-menu').count()).toBe(0);
    await page.keyboard.press('Control+z');
    await expect.poll(() => annotationCount(page)).toBe(2);

    // Panels: an attribute defined for the box's class and set on it, and an image tag.
    await clickAt(page, 100, 80);
    const attrs = page.getByTestId('attribute-panel');
    await attrs.getByLabel('Attribute name').fill('occluded');
    await attrs.getByRole('button', { name: 'Define' }).click();
    await attrs.getByRole('checkbox').check();
    await expect.poll(() => attributesOf(datasetFile, 'box')).toEqual({ occluded: true });
    await page.getByTestId('tags-panel').getByLabel('nucleus').check();
    await expect.poll(() => rows(datasetFile).filter((r) => r.kind === 'tag').map((r) => r.class_id)).toEqual([classIds[1]]);

    // Class panel: reorder (hotkeys follow), rename, and delete moving the annotations.
    await page.locator(`[data-class-id="${classIds[0]}"]`).getByRole('button', { name: 'Move down' }).click();
    await expect
      .poll(() => page.getByTestId('class-row').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-class-id')))))
      .toEqual([classIds[1], classIds[0]]);
    await page.locator(`[data-class-id="${classIds[1]}"]`).getByRole('button', { name: 'Rename' }).click();
    await page.getByLabel('Class name', { exact: true }).fill('nucleus core');
    await page.getByLabel('Class name', { exact: true }).press('Enter');
    await expect.poll(() => page.locator(`[data-class-id="${classIds[1]}"]`).textContent()).toContain('nucleus core');
    await page.locator(`[data-class-id="${classIds[0]}"]`).getByRole('button', { name: 'Delete cell' }).click();
    await page.getByTestId('class-delete').getByRole('combobox').selectOption(String(classIds[1]));
    await page.getByTestId('class-delete-confirm').click();
    await expect.poll(() => page.getByTestId('class-row').count()).toBe(1);
    await expect.poll(() => rows(datasetFile).filter((r) => r.kind !== 'tag').map((r) => r.class_id)).toEqual([classIds[1], classIds[1]]);

    // Back to the grid: Escape first drops the selection, then leaves; the grid is fetched again.
    await page.getByTestId('tool-select').focus();
    await page.keyboard.press('Escape');
    await page.keyboard.press('Escape');
    await page.getByTestId('grid').waitFor();
    await expect.poll(() => page.getByTestId('grid-cell').count()).toBe(2);
    // Box, polygon and the tag: the counts come from the refetched list, not the one before editing.
    await expect.poll(() => page.locator(`[data-testid="grid-cell"][data-image-id="${imageId}"] .count`).textContent()).toMatch(/^\s*3\s*$/);
    expect(pageErrors).toEqual([]);
  });
});
