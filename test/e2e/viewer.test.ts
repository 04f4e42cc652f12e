import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import sharp from 'sharp';
import type { Page } from 'playwright-core';
import { repoRoot } from '../helpers/shared';
import { chromiumOrSkip, createDatasetViaUi, startApp, toPage, type App, mouseTo, zoomOf, annotationCount } from '../helpers/browser';

/**
 * The viewer's chrome around the editor, in the real renderer (browser mode, real services,
 * Chromium): the context menu and Escape, the status line, the toolbar and headers with long
 * names, and the Model panel's download error.
 */
const prerequisites = chromiumOrSkip('viewer');

// Underscores, as scanners and cameras write them: unlike hyphens they offer no place to break a line.
const LONG_NAME = `${'a_very_long_microscopy_file_name_from_the_scanner_'.repeat(3)}slide_0001.png`;
/** A shipped-model manifest whose weights cannot be fetched: nothing listens on the discard port. */
const OFFLINE_URL = 'http://127.0.0.1:9/offline-test-model.onnx';

interface Row {
  id: number;
  class_id: number | null;
  kind: string;
}

function rows(file: string): Row[] {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return db.prepare("SELECT id, class_id, kind FROM annotations WHERE kind != 'tag' ORDER BY id").all() as Row[];
  } finally {
    db.close();
  }
}

async function dragImage(page: Page, from: [number, number], to: [number, number]): Promise<void> {
  await mouseTo(page, from[0], from[1]);
  await page.mouse.down();
  await mouseTo(page, to[0], to[1], 8);
  await page.mouse.up();
}

async function clickAt(page: Page, x: number, y: number, button: 'left' | 'right' = 'left'): Promise<void> {
  const p = await toPage(page, x, y);
  await page.mouse.click(p.x, p.y, { button });
}

const statusText = async (page: Page): Promise<string> => (await page.getByTestId('status-line').textContent()) ?? '';
/** What the attribute panel says about the selection: 'box #12 · cell', or its hint when not one shape is selected. */
const selectedText = async (page: Page): Promise<string> => (await page.getByTestId('attribute-panel').textContent()) ?? '';
const NONE_SELECTED = 'Select one shape';
/** The right edge of an element, CSS pixels from the left of the page. */
const rightEdge = async (page: Page, testId: string): Promise<number> => {
  const b = (await page.getByTestId(testId).boundingBox())!;
  return b.x + b.width;
};

describe('viewer chrome in the browser', () => {
  let app: App | null = null;
  let page: Page;
  let pageErrors: string[];
  let datasetFile = '';
  const savedModelsDir = process.env['TESSERA_MODELS_DIR'];

  beforeAll(async () => {
    if (prerequisites.skip) return;
    app = await startApp({ tmpPrefix: 'tessera-viewer-e2e-' });
    const modelsDir = path.join(app.tmp, 'models');
    fs.mkdirSync(modelsDir);
    const shipped = JSON.parse(fs.readFileSync(path.join(repoRoot, 'models', 'yolov8n.json'), 'utf8')) as Record<string, unknown>;
    fs.writeFileSync(
      path.join(modelsDir, 'offline-test.json'),
      JSON.stringify({ ...shipped, id: 'offline-test', name: 'Offline test model', file: 'offline-test.onnx', url: OFFLINE_URL }),
    );
    process.env['TESSERA_MODELS_DIR'] = modelsDir;

    const imgs = path.join(app.tmp, 'imgs');
    fs.mkdirSync(imgs);
    for (const [i, name] of ['cells-1.png', 'cells-2.png', LONG_NAME].entries()) {
      await sharp({ create: { width: 400, height: 300, channels: 3, background: { r: 60 + 40 * i, g: 90, b: 120 } } })
        .png()
        .toFile(path.join(imgs, name));
    }
  });

  afterAll(async () => {
    if (savedModelsDir === undefined) delete process.env['TESSERA_MODELS_DIR'];
    else process.env['TESSERA_MODELS_DIR'] = savedModelsDir;
    await app?.close();
  });

  /** The app with the dataset open on its first image and three classes; made by the first test that runs. */
  let opened: Promise<void> | null = null;
  function ready(): Promise<void> {
    opened ??= (async () => {
      ({ page, pageErrors } = await app!.newPage({ viewport: { width: 1280, height: 720 }, hooks: true }));
      // A long dataset name too: the dataset header shows it.
      datasetFile = path.join(app!.tmp, `${'annotation_project_with_a_long_descriptive_name_'.repeat(3)}v2.tessera`);
      await createDatasetViaUi(page, datasetFile);
      await page.getByTestId('import-open').click();
      await page.getByTestId('import-paths').fill(path.join(app!.tmp, 'imgs'));
      await page.getByTestId('import-start').click();
      await expect.poll(() => page.getByTestId('import-summary').textContent(), { timeout: 30_000 }).toContain('3 imported');
      await page.getByTestId('grid-cell').first().click();
      await page.locator('[data-testid="viewer"][data-ready="true"]').waitFor({ timeout: 30_000 });
      for (const [i, name] of ['cell', 'nucleus', 'debris'].entries()) {
        await page.getByTestId('class-new-name').fill(name);
        await page.getByTestId('class-add').click();
        await expect.poll(() => page.getByTestId('class-row').count()).toBe(i + 1);
      }
      await page.getByTestId('tool-select').focus();
    })();
    return opened;
  }

  /** The open image without shapes, the select tool on, nothing selected. */
  async function firstImageEmpty(): Promise<void> {
    await ready();
    await page.keyboard.press('v');
    if ((await annotationCount(page)) > 0) {
      await page.keyboard.press('Control+a');
      await page.keyboard.press('Delete');
      await expect.poll(() => annotationCount(page)).toBe(0);
    }
  }

  it.skipIf(prerequisites.skip)('a class key after drawing sets the next class without relabelling the box just drawn; a selected box is relabelled and the status line says so', async () => {
    prerequisites.assertPresent();
    await firstImageEmpty();
    const classIds = (await page.getByTestId('class-row').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-class-id'))))) as number[];
    await page.keyboard.press('1');
    await page.keyboard.press('b');
    await dragImage(page, [40, 40], [140, 120]);
    await expect.poll(() => annotationCount(page)).toBe(1);
    await page.keyboard.press('3');
    await expect.poll(() => page.locator('[data-testid="class-row"].active').getAttribute('data-class-id')).toBe(String(classIds[2]));
    await expect.poll(() => statusText(page)).toContain('Drawing class: debris');
    await dragImage(page, [200, 60], [300, 160]);
    await expect.poll(() => annotationCount(page)).toBe(2);
    expect(rows(datasetFile).map((r) => r.class_id)).toEqual([classIds[0], classIds[2]]);

    // Selected with the select tool, the first box is relabelled by '2', and the status line says so.
    const first = rows(datasetFile)[0]!;
    await page.keyboard.press('v');
    await clickAt(page, 60, 60);
    await expect.poll(() => selectedText(page)).toContain(`box #${first.id}`);
    await page.keyboard.press('2');
    await expect.poll(() => rows(datasetFile).map((r) => r.class_id)).toEqual([classIds[1], classIds[2]]);
    await expect.poll(() => statusText(page)).toContain(`Box #${first.id} relabelled to nucleus`);
  });

  it.skipIf(prerequisites.skip)('a right click selects the shape under the pointer for the menu; Escape closes the menu without leaving the image', async () => {
    await firstImageEmpty();
    // A small box under a large one drawn after it (as a whole-image prediction would lie).
    await page.keyboard.press('b');
    await dragImage(page, [100, 100], [140, 140]);
    await dragImage(page, [10, 10], [390, 290]);
    await expect.poll(() => annotationCount(page)).toBe(2);
    const [small, large] = rows(datasetFile);
    await page.keyboard.press('v');
    await page.keyboard.press('Escape'); // drops the selection of the box just drawn
    await expect.poll(() => selectedText(page)).toContain(NONE_SELECTED);

    await clickAt(page, 120, 120, 'right');
    await page.getByTestId('context-menu').waitFor();
    await expect.poll(() => selectedText(page)).toContain(`box #${small!.id}`);
    await page.getByTestId('context-menu').getByRole('menuitem', { name: /^Delete/ }).click();
    await expect.poll(() => rows(datasetFile).map((r) => r.id)).toEqual([large!.id]);

    // On empty canvas with nothing selected: Escape closes the menu, the viewer stays open.
    await expect.poll(() => selectedText(page)).toContain(NONE_SELECTED);
    await clickAt(page, 396, 296, 'right');
    await page.getByTestId('context-menu').waitFor();
    await page.keyboard.press('Escape');
    await expect.poll(() => page.getByTestId('context-menu').count()).toBe(0);
    await page.waitForTimeout(300);
    expect(await page.getByTestId('viewer').count()).toBe(1);
    expect(await page.getByTestId('grid').count()).toBe(0);

    // A click inside the small box's place picks the smallest shape; again, the next one.
    await page.keyboard.press('b');
    await dragImage(page, [100, 100], [140, 140]);
    await expect.poll(() => annotationCount(page)).toBe(2);
    const smallAgain = rows(datasetFile).at(-1)!;
    await page.keyboard.press('v');
    await page.keyboard.press('Escape');
    await clickAt(page, 120, 120);
    await expect.poll(() => selectedText(page)).toContain(`box #${smallAgain.id}`);
    await clickAt(page, 120, 120);
    await expect.poll(() => selectedText(page)).toContain(`box #${large!.id}`);
  });

  it.skipIf(prerequisites.skip)('choosing the brush or selecting a mask neither wraps the toolbar nor changes the zoom', async () => {
    await firstImageEmpty();
    // Make the window (the toolbar spans it) just wide enough for the toolbar as it is now, so anything added would wrap it.
    const needed = await page.locator('.edit-toolbar').evaluate((el) => {
      const style = (e: unknown) => (globalThis as unknown as { getComputedStyle(e: unknown): Record<string, string> }).getComputedStyle(e);
      const px = (v: string | undefined) => parseFloat(v ?? '') || 0;
      const kids = [...el.children];
      const cs = style(el);
      const widths = kids.map((k) => k.getBoundingClientRect().width + px(style(k)['marginLeft']) + px(style(k)['marginRight']));
      return widths.reduce((a, b) => a + b, 0) + px(cs['columnGap']) * (kids.length - 1) + px(cs['paddingLeft']) + px(cs['paddingRight']);
    });
    // Low enough that the fitted zoom follows the canvas height, which a wrapped toolbar would take from.
    await page.setViewportSize({ width: Math.ceil(needed + 12), height: 600 });
    await page.getByTestId('viewer-fit').click();
    await page.waitForTimeout(300);
    const toolbarHeight = (await page.locator('.edit-toolbar').boundingBox())!.height;
    const zoom = await zoomOf(page);

    await page.keyboard.press('m');
    await page.getByTestId('brush-radius').waitFor();
    await page.waitForTimeout(300);
    expect((await page.locator('.edit-toolbar').boundingBox())!.height).toBe(toolbarHeight);
    expect(await zoomOf(page)).toBe(zoom);

    // A stroke makes a mask, selected as drawn; then picked with the select tool.
    await mouseTo(page, 100, 150);
    await page.mouse.down();
    await mouseTo(page, 250, 150, 12);
    await page.mouse.up();
    await expect.poll(() => annotationCount(page)).toBe(1);
    await page.keyboard.press('v');
    await clickAt(page, 180, 150);
    await page.getByTestId('trace-tolerance').waitFor();
    await page.waitForTimeout(300);
    expect((await page.locator('.edit-toolbar').boundingBox())!.height).toBe(toolbarHeight);
    expect(await zoomOf(page)).toBe(zoom);
    await page.setViewportSize({ width: 1280, height: 720 });
  });

  it.skipIf(prerequisites.skip)('long file and dataset names are cut with an ellipsis; the header buttons stay on screen', async () => {
    await ready();
    await page.setViewportSize({ width: 1100, height: 720 });
    // The long-named image sorts first: it is the one open.
    await expect.poll(() => page.getByTestId('status-image-index').textContent()).toContain('image 1 of 3');
    await page.locator('[data-testid="viewer"][data-ready="true"]').waitFor({ timeout: 30_000 });
    const width = page.viewportSize()!.width;
    expect(await rightEdge(page, 'close-dataset')).toBeLessThanOrEqual(width);
    expect(await rightEdge(page, 'action-nextNotDone')).toBeLessThanOrEqual(width);
    expect(await rightEdge(page, 'status-zoom')).toBeLessThanOrEqual(width);
    const fileCut = await page.locator('.viewer-pane .file').evaluate((el) => el.scrollWidth > el.clientWidth);
    expect(fileCut).toBe(true);
    expect(await page.locator('.viewer-pane .file').getAttribute('title')).toContain(LONG_NAME);
    await page.setViewportSize({ width: 1280, height: 720 });
  });

  it.skipIf(prerequisites.skip)('status messages are dropped when another image opens, and expire', async () => {
    await ready();
    await page.keyboard.press(']');
    await expect.poll(() => statusText(page)).toMatch(/Brush radius \d+ px/);
    await page.keyboard.press('d');
    await expect.poll(() => page.getByTestId('status-image-index').textContent()).toContain('image 2 of 3');
    await expect.poll(() => statusText(page)).not.toContain('Brush radius');

    await page.keyboard.press(']');
    await expect.poll(() => statusText(page)).toMatch(/Brush radius \d+ px/);
    await expect.poll(() => statusText(page), { timeout: 15_000, interval: 500 }).not.toContain('Brush radius');
  });

  it.skipIf(prerequisites.skip)('a failed model download is shown in full in the Model panel, next to its Download button', async () => {
    await ready();
    const row = page.locator('[data-testid="model-download-row"][data-model-id="offline-test"]');
    await row.getByTestId('model-download').click();
    const error = page.getByTestId('model-download-error');
    await error.waitFor({ timeout: 30_000 });
    const text = (await error.textContent()) ?? '';
    expect(text).toContain(`cannot reach ${OFFLINE_URL}`);
    // Shown whole: wrapped inside the panel, not cut off.
    const cut = await error.evaluate(
      (el) =>
        el.scrollWidth > el.clientWidth + 1 ||
        (globalThis as unknown as { getComputedStyle(e: unknown): Record<string, string> }).getComputedStyle(el)['textOverflow'] === 'ellipsis',
    );
    expect(cut).toBe(false);
    const panel = (await page.locator('aside.side').boundingBox())!;
    const box = (await error.boundingBox())!;
    expect(box.x + box.width).toBeLessThanOrEqual(panel.x + panel.width + 1);
    expect(pageErrors.filter((e) => !/Failed to load resource/.test(e))).toEqual([]);
  });
});
