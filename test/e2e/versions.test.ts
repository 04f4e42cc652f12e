import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { chromiumOrSkip, startApp, type App } from '../helpers/browser';
import { makeImages } from '../helpers/images';
import { newWorkspace, ok } from '../helpers/workspace';

/**
 * Versions in the real renderer: a dataset of small images with one box on each of three images;
 * version 1 is created from the Versions view, the dataset is edited (a box added, a box moved, an
 * image deleted, an image moved to val), version 2 is created, the comparison shows exactly those
 * changes per class, and version 1 opens in the viewer read-only: its annotations, the badge, and
 * an edit refused with the dataset left as it was.
 */
const prerequisites = chromiumOrSkip('versions');

function query<T>(file: string, sql: string, ...params: unknown[]): T[] {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return db.prepare(sql).all(...params) as T[];
  } finally {
    db.close();
  }
}

function write(file: string, sql: string, ...params: unknown[]): void {
  const db = new Database(file, { fileMustExist: true });
  try {
    db.pragma('foreign_keys = ON');
    db.prepare(sql).run(...params);
  } finally {
    db.close();
  }
}

const cell = (page: Page, cls: string, col: number) => page.locator(`[data-testid="version-diff-class"][data-class="${cls}"] td`).nth(col).textContent();

describe('dataset versions in the browser', () => {
  let app: App | null = null;
  beforeAll(async () => {
    app = await startApp({ tmpPrefix: 'tessera-versions-e2e-' });
  });
  afterAll(async () => {
    await app?.close();
  });

  it.skipIf(prerequisites.skip)('creates two versions, compares them per class, and opens v1 read-only in the viewer', { timeout: 180_000 }, async () => {
    prerequisites.assertPresent();
    const { tmp } = app!;
    await makeImages(path.join(tmp, 'imgs'));
    const file = path.join(tmp, 'versions.tessera');
    const ws = newWorkspace(path.join(tmp, 'prep'));
    await ok(ws, 'dataset:create', { path: file, root: tmp });
    await ok(ws, 'images:import', { jobId: 'imp', paths: [path.join(tmp, 'imgs')] });
    const { items } = await ok(ws, 'images:list', {});
    const cls = (await ok(ws, 'classes:create', { name: 'cell' })).id;
    const [a, b, c] = items;
    const boxOf: Record<number, number> = {};
    for (const im of [a!, b!, c!]) {
      const r = await ok(ws, 'annotations:edit', { imageId: im.id, label: 'box', ops: [{ op: 'create', draft: { classId: cls, geometry: { kind: 'box', x: 1, y: 1, w: 8, h: 6 } } }] });
      boxOf[im.id] = r.created[0]!;
    }
    await ws.close();

    const { page, pageErrors } = await app!.newPage({ viewport: { width: 1500, height: 900 } });
    await page.getByTestId('open-dataset-path').fill(file);
    await page.getByTestId('open-dataset').click();
    await page.getByTestId('versions-open').click();
    await page.getByTestId('version-empty').waitFor();
    await page.getByTestId('version-name').fill('first');
    await page.getByTestId('version-note').fill('three boxes');
    await page.getByTestId('version-create').click();
    await expect.poll(() => page.getByTestId('version-row').count()).toBe(1);
    expect(await page.locator('[data-testid="version-row"][data-number="1"] [data-testid="version-annotations"]').textContent()).toBe('3');

    // Edits between the versions: a box added on a, b's box moved and b moved to val, c deleted.
    const ws2 = newWorkspace(path.join(tmp, 'prep2'));
    await ok(ws2, 'dataset:open', { path: file });
    await ok(ws2, 'annotations:edit', { imageId: a!.id, label: 'box', ops: [{ op: 'create', draft: { classId: cls, geometry: { kind: 'box', x: 10, y: 10, w: 5, h: 5 } } }] });
    await ok(ws2, 'annotations:edit', { imageId: b!.id, label: 'move', ops: [{ op: 'update', id: boxOf[b!.id]!, patch: { geometry: { kind: 'box', x: 3, y: 2, w: 8, h: 6 } } }] });
    await ws2.close();
    write(file, "UPDATE images SET split = 'val' WHERE id = ?", b!.id);
    write(file, 'DELETE FROM images WHERE id = ?', c!.id);

    await page.getByTestId('version-name').fill('second');
    await page.getByTestId('version-create').click();
    await expect.poll(() => page.getByTestId('version-row').count()).toBe(2);
    expect(await page.getByTestId('version-diff-a').inputValue()).toBe('1');
    expect(await page.getByTestId('version-diff-b').inputValue()).toBe('2');
    await page.getByTestId('version-diff-run').click();
    await page.getByTestId('version-diff').waitFor();
    expect(await page.getByTestId('version-diff-images-removed').textContent()).toBe(`1 image removed: ${c!.path}`);
    expect(await page.getByTestId('version-diff-images-added').textContent()).toBe('0 images added');
    expect((await page.getByTestId('version-diff-split-moves').textContent())!.trim()).toBe(`1 image moved to another split: ${b!.path} none → val`);
    expect(await page.getByTestId('version-diff-class').count()).toBe(1);
    expect([await cell(page, 'cell', 1), await cell(page, 'cell', 2), await cell(page, 'cell', 3)]).toEqual(['1', '1', '1']);

    // Version 1 exported from its row: three boxes on three images, whatever the dataset holds now.
    await page.locator('[data-testid="version-row"][data-number="1"] [data-testid="version-export"]').click();
    await page.getByTestId('version-export-format').selectOption('yolo');
    const out = path.join(tmp, 'v1-yolo');
    await page.getByTestId('version-export-dir').fill(out);
    await page.getByTestId('version-export-start').click();
    await expect.poll(() => page.getByTestId('version-export-result').count()).toBe(1);
    expect(await page.getByTestId('version-export-result').textContent()).toMatch(/^Exported version 1: \d+ images and 3 annotations to /);
    const vf = JSON.parse(fs.readFileSync(path.join(out, 'tessera-version.json'), 'utf8')) as { version: { number: number }; format: string; files: Record<string, string> };
    expect(vf.version.number).toBe(1);
    expect(vf.format).toBe('yolo');
    // The image deleted since is in it, with its file.
    expect(Object.keys(vf.files).some((f) => f.startsWith('images/') && f.endsWith(`/${path.basename(c!.path)}`))).toBe(true);

    // The class is renamed in the dataset after both versions.
    write(file, "UPDATE classes SET name = 'nucleus' WHERE id = ?", cls);

    // Version 1 in the viewer: its single box on a (the dataset has two now), read-only, under the
    // class name it froze; the dataset's classes cannot be changed from there.
    await page.locator('[data-testid="version-row"][data-number="1"] [data-testid="version-view"]').click();
    await page.locator(`[data-testid="viewer"][data-image-id="${a!.id}"][data-ready="true"]`).waitFor({ timeout: 30_000 });
    expect(await page.getByTestId('version-badge').textContent()).toBe('Version 1 (read-only)');
    await expect.poll(async () => page.getByTestId('viewer').getAttribute('data-annotations')).toBe('1');
    await expect.poll(() => page.getByTestId('class-row').allTextContents()).toEqual([expect.stringContaining('cell')]);
    await page.getByTestId('class-new-name').fill('mitosis');
    await page.getByTestId('class-add').click();
    await expect.poll(() => page.getByTestId('status-line').locator('.message').textContent()).toMatch(/version 1 \(first\) is read-only/);
    expect(query<{ n: number }>(file, "SELECT count(*) AS n FROM classes WHERE name = 'mitosis'")[0]!.n).toBe(0);
    await page.getByTestId('viewer').click({ position: { x: 5, y: 5 } });
    await page.keyboard.press('Control+a');
    await page.keyboard.press('Delete');
    await expect.poll(() => page.getByTestId('status-line').locator('.message').textContent()).toMatch(/refused: version 1 \(first\) is read-only/);
    expect(query<{ n: number }>(file, 'SELECT count(*) AS n FROM annotations WHERE image_id = ?', a!.id)[0]!.n).toBe(2);
    expect(await page.getByTestId('viewer').getAttribute('data-annotations')).toBe('1');

    // Back: the Versions view again, and the dataset's own annotations editable in the viewer.
    await page.getByTestId('viewer-back').click();
    await page.getByTestId('versions').waitFor();
    expect(await page.getByTestId('version-badge').count()).toBe(0);
    await page.getByTestId('versions-close').click();
    await page.getByTestId('grid-cell').first().click();
    await page.locator(`[data-testid="viewer"][data-image-id="${a!.id}"][data-ready="true"]`).waitFor({ timeout: 30_000 });
    await expect.poll(async () => page.getByTestId('viewer').getAttribute('data-annotations')).toBe('2');
    expect(await page.getByTestId('version-badge').count()).toBe(0);
    await expect.poll(() => page.getByTestId('class-row').allTextContents()).toEqual([expect.stringContaining('nucleus')]);
    expect(pageErrors).toEqual([]);
  });
});

describe('a version with a recipe in the browser', () => {
  let app: App | null = null;
  beforeAll(async () => {
    app = await startApp({ tmpPrefix: 'tessera-versions-recipe-e2e-' });
  });
  afterAll(async () => {
    await app?.close();
  });

  it.skipIf(prerequisites.skip)('creates a version with a recipe file and exports it with that recipe', { timeout: 180_000 }, async () => {
    prerequisites.assertPresent();
    const { tmp } = app!;
    const imgs = path.join(tmp, 'imgs-recipe');
    await makeImages(imgs);
    const file = path.join(tmp, 'recipe.tessera');
    const ws = newWorkspace(path.join(tmp, 'prep-recipe'));
    await ok(ws, 'dataset:create', { path: file, root: tmp });
    await ok(ws, 'images:import', { jobId: 'imp', paths: [imgs] });
    const { items } = await ok(ws, 'images:list', {});
    const cls = (await ok(ws, 'classes:create', { name: 'cell' })).id;
    for (const im of items.slice(0, 2)) {
      await ok(ws, 'annotations:edit', { imageId: im.id, label: 'box', ops: [{ op: 'create', draft: { classId: cls, geometry: { kind: 'box', x: 1, y: 1, w: 8, h: 6 } } }] });
    }
    await ws.close();
    write(file, "UPDATE images SET split = 'train'");
    const recipe = { recipe: 1, format: 'coco', augment: { outputs: 2, seed: 4, steps: [{ op: 'flip', horizontal: 1 }] } };
    const recipeFile = path.join(tmp, 'saved-recipe.json');
    fs.writeFileSync(recipeFile, JSON.stringify(recipe));

    const { page, pageErrors } = await app!.newPage({ viewport: { width: 1500, height: 900 } });
    await page.getByTestId('open-dataset-path').fill(file);
    await page.getByTestId('open-dataset').click();
    await page.getByTestId('versions-open').click();
    await page.getByTestId('version-empty').waitFor();
    // A bad recipe file is refused with its name and the JSON path.
    const bad = path.join(tmp, 'bad-recipe.json');
    fs.writeFileSync(bad, JSON.stringify({ recipe: 1, format: 'coco', augment: { outputs: 0, seed: 1, steps: [{ op: 'flip' }] } }));
    await page.getByTestId('version-recipe-file').setInputFiles(bad);
    await expect.poll(() => page.getByTestId('version-recipe-error').textContent()).toMatch(/bad-recipe\.json: invalid recipe: augment\.outputs/);
    await page.getByTestId('version-recipe-file').setInputFiles(recipeFile);
    await expect.poll(() => page.getByTestId('version-recipe').textContent()).toBe('saved-recipe.json: coco, 2 augmented outputs per train image');
    await page.getByTestId('version-name').fill('with recipe');
    await page.getByTestId('version-create').click();
    await expect.poll(() => page.getByTestId('version-row').count()).toBe(1);
    expect(query<{ recipe: string }>(file, 'SELECT recipe FROM versions WHERE number = 1')[0]!.recipe).toContain('"outputs":2');

    await page.locator('[data-testid="version-row"][data-number="1"] [data-testid="version-export"]').click();
    await page.getByTestId('version-export-recipe').waitFor();
    expect(await page.getByTestId('version-export-format').count()).toBe(0);
    const out = path.join(tmp, 'v1-recipe');
    await page.getByTestId('version-export-dir').fill(out);
    await page.getByTestId('version-export-start').click();
    await expect.poll(() => page.getByTestId('version-export-result').count()).toBe(1);
    expect(await page.getByTestId('version-export-result').textContent()).toMatch(/^Exported version 1 with its recipe: /);
    const vf = JSON.parse(fs.readFileSync(path.join(out, 'tessera-version.json'), 'utf8')) as { format: string; recipe: { augment: { outputs: number; seed: number } }; files: Record<string, string> };
    expect(vf.format).toBe('coco');
    expect(vf.recipe.augment).toMatchObject({ outputs: 2, seed: 4 });
    expect(Object.keys(vf.files).filter((f) => f.includes('_aug')).length).toBe(2 * items.length);
    expect(pageErrors).toEqual([]);
  });
});
