import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import type { Page } from 'playwright-core';
import { rleBBox, type Rle } from '../../src-main/common/geometry/rle';
import { geometryBBox } from '../../src-main/common/geometry/shapes';
import { chromiumOrSkip, createDatasetViaUi, startApp, toPage, type App, annotationCount } from '../helpers/browser';
import { sharedDir, sharedPath } from '../helpers/shared';
import { ok } from '../helpers/workspace';

/**
 * The segment tool in the real renderer (browser mode, real services, Chromium) with the
 * contract encoder/decoder pair of ../shared/models/sam_contract: its masks are disks of radius 64
 * (in the 1024 frame) around foreground points, cut by background points, or the box, so the
 * preview's bounding box says whether the prompt reached the decoder in image pixels.
 */
const CONTRACT = path.join(sharedDir, 'models', 'sam_contract');
const ENCODER = path.join(CONTRACT, 'sam_contract_encoder.onnx');
const DECODER = path.join(CONTRACT, 'sam_contract_decoder.onnx');

const prerequisites = chromiumOrSkip('sam', [
  { path: ENCODER, what: 'the SAM contract encoder' },
  { path: DECODER, what: 'the SAM contract decoder' },
]);

/** Blobs on a gradient: something to look at; the contract pair ignores the pixels. */
async function makeImage(file: string, width: number, height: number): Promise<void> {
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
    <rect width="100%" height="100%" fill="#2b3a4a"/>
    <circle cx="${width * 0.62}" cy="${height * 0.47}" r="${Math.min(width, height) * 0.1}" fill="#d9a441"/>
    <rect x="100" y="100" width="100" height="50" fill="#5fb36b"/></svg>`;
  await sharp(Buffer.from(svg)).png().toFile(file);
}

interface Box {
  x0: number;
  x1: number;
  y0: number;
  y1: number;
}

/** The tool's mask preview on the overlay, as pixel bounds (inclusive), or null when none is shown. */
async function previewBounds(page: Page): Promise<Box | null> {
  const rle = await page.evaluate(() => {
    const viewer = (globalThis as unknown as { __tesseraCanvas: { overlayState: { preview: { geometry: { kind: string; rle?: unknown } } | null } } }).__tesseraCanvas;
    const g = viewer.overlayState.preview?.geometry;
    return g && g.kind === 'mask' ? (g.rle as Rle) : null;
  });
  if (!rle) return null;
  const b = rleBBox(rle);
  return { x0: b.x, x1: b.x + b.w - 1, y0: b.y, y1: b.y + b.h - 1 };
}

/** The prompt points drawn on the overlay: foreground and background. */
async function promptPoints(page: Page): Promise<{ fg: number; bg: number }> {
  const kinds = await page.evaluate(() => {
    const viewer = (globalThis as unknown as { __tesseraCanvas: { overlayState: { handles: readonly { kind: string }[] } } }).__tesseraCanvas;
    return viewer.overlayState.handles.map((h) => h.kind);
  });
  return { fg: kinds.filter((k) => k === 'positive').length, bg: kinds.filter((k) => k === 'negative').length };
}

function near(got: Box | null, want: Box): boolean {
  return got !== null && Math.abs(got.x0 - want.x0) <= 1 && Math.abs(got.x1 - want.x1) <= 1 && Math.abs(got.y0 - want.y0) <= 1 && Math.abs(got.y1 - want.y1) <= 1;
}

async function clickAt(page: Page, x: number, y: number, opts: { button?: 'left' | 'right'; alt?: boolean } = {}): Promise<void> {
  const p = await toPage(page, x, y);
  await page.mouse.move(p.x, p.y);
  if (opts.alt) await page.keyboard.down('Alt');
  await page.mouse.down({ button: opts.button ?? 'left' });
  await page.mouse.up({ button: opts.button ?? 'left' });
  if (opts.alt) await page.keyboard.up('Alt');
}

async function dragImage(page: Page, from: [number, number], to: [number, number]): Promise<void> {
  const a = await toPage(page, from[0], from[1]);
  const b = await toPage(page, to[0], to[1]);
  await page.mouse.move(a.x, a.y);
  await page.mouse.down();
  await page.mouse.move(b.x, b.y, { steps: 8 });
  await page.mouse.up();
}

/** Embedding files in a dataset's cache folder. */
function embeddings(cacheDir: string): number {
  const dir = path.join(cacheDir, 'sam');
  if (!fs.existsSync(dir)) return 0;
  return fs.readdirSync(dir, { recursive: true }).filter((f) => String(f).endsWith('.emb')).length;
}

describe('segment tool in the browser', () => {
  let app: App | null = null;

  beforeAll(async () => {
    app = await startApp({ tmpPrefix: 'tessera-sam-e2e-' });
    const dir = path.join(app.tmp, 'imgs');
    fs.mkdirSync(dir, { recursive: true });
    await makeImage(path.join(dir, 'a-landscape.png'), 640, 427);
    await makeImage(path.join(dir, 'b-portrait.png'), 427, 640);
  });

  afterAll(async () => {
    await app?.close();
  });

  it.skipIf(prerequisites.skip)('click, background click and box prompts give the contract masks; a polygon is committed, undone, redone and kept', async () => {
    prerequisites.assertPresent();
    const { tmp, server } = app!;
    const { page, pageErrors } = await app!.newPage({ viewport: { width: 1400, height: 900 }, hooks: true });
    await createDatasetViaUi(page, path.join(tmp, 'sam.tessera'));
    await page.getByTestId('import-open').click();
    await page.getByTestId('import-paths').fill(path.join(tmp, 'imgs'));
    await page.getByTestId('import-start').click();
    await expect.poll(() => page.getByTestId('import-summary').textContent(), { timeout: 30_000 }).toContain('2 imported');
    const viewer = page.getByTestId('viewer');
    const openFirst = async (): Promise<void> => {
      await page.getByTestId('grid-cell').first().click();
      await page.locator('[data-testid="viewer"][data-ready="true"]').waitFor({ timeout: 30_000 });
    };
    await openFirst();
    const imageId = Number(await viewer.getAttribute('data-image-id'));
    await page.getByTestId('class-new-name').fill('object');
    await page.getByTestId('class-add').click();
    await expect.poll(() => page.getByTestId('class-row').count()).toBe(1);
    await page.getByTestId('tool-select').focus();

    // Only the shipped models, none downloaded: the tool says so in the status line and its toolbar.
    await page.keyboard.press('s');
    await expect.poll(() => viewer.getAttribute('data-tool')).toBe('sam');
    await expect.poll(() => page.getByTestId('sam-encode').textContent()).toContain('is not downloaded');
    await expect.poll(() => page.getByTestId('status-line').textContent()).toContain('is not downloaded');
    await clickAt(page, 400, 200);
    await expect.poll(() => page.getByTestId('status-line').textContent()).toContain('Segmentation failed');

    // The contract pair as a custom model, added the way the model panel adds one, then chosen.
    const entry = await ok(server.workspace, 'segment:add', { encoder: ENCODER, decoder: DECODER });
    await page.keyboard.press('Escape');
    await page.keyboard.press('v');
    await page.keyboard.press('s');
    await expect.poll(() => page.locator(`[data-testid="sam-model"] option[value="${entry.manifest.id}"]`).count()).toBe(1);
    await page.getByTestId('sam-model').selectOption(entry.manifest.id);
    await page.getByTestId('tool-select').focus();
    await page.locator('[data-testid="sam-encode"][data-state="ready"]').waitFor({ timeout: 30_000 });
    // The next image of the grid is encoded ahead: both embeddings land in the dataset's cache.
    await expect.poll(() => embeddings(path.join(tmp, 'sam.tessera-cache')), { timeout: 30_000 }).toBe(2);

    // The README's three cases on the 640x427 image (the hover preview off: each mask comes from a click).
    await page.getByTestId('sam-hover').uncheck();
    await page.getByTestId('tool-select').focus();
    await clickAt(page, 400, 200);
    await expect.poll(() => previewBounds(page), { timeout: 10_000 }).toSatisfy((b: Box | null) => near(b, { x0: 360, x1: 439, y0: 160, y1: 239 }));
    expect(await promptPoints(page)).toEqual({ fg: 1, bg: 0 });
    await expect.poll(() => page.getByTestId('sam-info').textContent()).toMatch(/mask 1\/1 · IoU \d\.\d\d · \d+ vertices/);
    await clickAt(page, 430, 200, { button: 'right' });
    await expect.poll(() => previewBounds(page), { timeout: 10_000 }).toSatisfy((b: Box | null) => near(b, { x0: 360, x1: 413, y0: 160, y1: 239 }));
    // The right click was a background point, not the context menu.
    expect(await promptPoints(page)).toEqual({ fg: 1, bg: 1 });
    expect(await page.getByTestId('context-menu').count()).toBe(0);
    await page.keyboard.press('Escape');
    await expect.poll(() => previewBounds(page)).toBeNull();
    await dragImage(page, [100, 100], [200, 150]);
    await expect.poll(() => previewBounds(page), { timeout: 10_000 }).toSatisfy((b: Box | null) => near(b, { x0: 100, x1: 199, y0: 100, y1: 149 }));
    await page.keyboard.press('Escape');
    await expect.poll(() => previewBounds(page)).toBeNull();
    expect(await annotationCount(page)).toBe(0);

    // With the hover preview the mask follows the pointer before any click.
    await page.getByTestId('sam-hover').check();
    await page.getByTestId('tool-select').focus();
    const hoverAt = await toPage(page, 200, 300);
    await page.mouse.move(hoverAt.x, hoverAt.y);
    await expect.poll(() => previewBounds(page), { timeout: 10_000 }).toSatisfy((b: Box | null) => near(b, { x0: 160, x1: 239, y0: 260, y1: 339 }));
    expect(await promptPoints(page)).toEqual({ fg: 0, bg: 0 });

    // Click an object, Alt+click a background point, Enter stores a traced polygon of the class.
    await clickAt(page, 400, 200);
    await expect.poll(() => previewBounds(page), { timeout: 10_000 }).toSatisfy((b: Box | null) => near(b, { x0: 360, x1: 439, y0: 160, y1: 239 }));
    await clickAt(page, 430, 200, { alt: true });
    await expect.poll(() => previewBounds(page), { timeout: 10_000 }).toSatisfy((b: Box | null) => near(b, { x0: 360, x1: 413, y0: 160, y1: 239 }));
    expect(await promptPoints(page)).toEqual({ fg: 1, bg: 1 });
    const vertices = Number((await page.getByTestId('sam-info').textContent())!.match(/(\d+) vertices/)![1]);
    await page.keyboard.press('Enter');
    await expect.poll(() => annotationCount(page)).toBe(1);
    await expect.poll(() => previewBounds(page)).toBeNull();
    const stored = async () => (await ok(server.workspace, 'annotations:list', { imageId })).filter((a) => a.kind !== 'tag');
    const [poly] = await stored();
    expect(poly!.geometry.kind).toBe('polygon');
    const classId = Number(await page.locator('[data-testid="class-row"]').first().getAttribute('data-class-id'));
    expect(poly!.classId).toBe(classId);
    const parts = (poly!.geometry as { parts: number[][] }).parts;
    expect(parts.reduce((s, r) => s + r.length / 2, 0)).toBe(vertices);
    // Traced along pixel edges: the outline's bounds are the mask's pixels' outer corners.
    const bb = geometryBBox(poly!.geometry);
    expect(Math.abs(bb.x - 360)).toBeLessThanOrEqual(1);
    expect(Math.abs(bb.x + bb.w - 414)).toBeLessThanOrEqual(1);
    expect(Math.abs(bb.y - 160)).toBeLessThanOrEqual(1);
    expect(Math.abs(bb.y + bb.h - 240)).toBeLessThanOrEqual(1);

    // One undo step per committed shape, and redo brings it back (each key once the history says it can).
    await expect.poll(() => page.getByTestId('action-undo').isEnabled()).toBe(true);
    await page.keyboard.press('Control+z');
    await expect.poll(() => annotationCount(page)).toBe(0);
    expect(await stored()).toEqual([]);
    await expect.poll(() => page.getByTestId('action-redo').isEnabled()).toBe(true);
    await page.keyboard.press('Control+Shift+z');
    await expect.poll(() => annotationCount(page)).toBe(1);
    expect((await stored()).map((a) => a.geometry)).toEqual([poly!.geometry]);

    // Reload: back on the same image (a reload returns to the image open), the polygon from the dataset.
    await page.reload();
    await page.locator(`[data-testid="viewer"][data-image-id="${imageId}"][data-ready="true"]`).waitFor({ timeout: 30_000 });
    await expect.poll(() => annotationCount(page)).toBe(1);
    expect((await stored()).map((a) => a.geometry)).toEqual([poly!.geometry]);

    // The tool and the model are remembered; a portrait image: 427x640 has the same scale (1024 / 640).
    await page.getByTestId('tool-select').focus();
    await page.keyboard.press('s');
    await expect.poll(() => page.getByTestId('sam-model').inputValue()).toBe(entry.manifest.id);
    await page.keyboard.press('d');
    await expect.poll(() => page.getByTestId('status-image-index').textContent()).toContain('image 2 of 2');
    await page.locator('[data-testid="viewer"][data-ready="true"]').waitFor({ timeout: 30_000 });
    await page.locator('[data-testid="sam-encode"][data-state="ready"]').waitFor({ timeout: 30_000 });
    await clickAt(page, 200, 400);
    await expect.poll(() => previewBounds(page), { timeout: 10_000 }).toSatisfy((b: Box | null) => near(b, { x0: 160, x1: 239, y0: 360, y1: 439 }));
    await page.keyboard.press('Escape');

    // The key is in the shortcuts list.
    await page.keyboard.press('?');
    await page.getByTestId('shortcuts').waitFor();
    expect(await page.getByTestId('shortcuts').textContent()).toMatch(/S\s*Segment/);
    await page.keyboard.press('Escape');
    expect(pageErrors).toEqual([]);
  });
});

describe('segment tool on an image shown from its tile pyramid', () => {
  let app: App | null = null;
  const saved = process.env['TESSERA_PYRAMID_PIXELS'];
  const W = 6000;
  const H = 4000;

  beforeAll(async () => {
    // The server runs in this process and reads the threshold when an image is opened.
    process.env['TESSERA_PYRAMID_PIXELS'] = String(10_000_000);
    app = await startApp({ tmpPrefix: 'tessera-sam-pyramid-e2e-' });
    fs.mkdirSync(path.join(app.tmp, 'imgs'));
    await sharp({ create: { width: W, height: H, channels: 3, background: { r: 40, g: 70, b: 60 } } })
      .jpeg({ quality: 80 })
      .toFile(path.join(app.tmp, 'imgs', 'field.jpg'));
  });

  afterAll(async () => {
    await app?.close();
    if (saved === undefined) delete process.env['TESSERA_PYRAMID_PIXELS'];
    else process.env['TESSERA_PYRAMID_PIXELS'] = saved;
  });

  it.skipIf(prerequisites.skip)('encodes the part on screen and gives the mask in image pixels', async () => {
    prerequisites.assertPresent();
    const { tmp, server } = app!;
    const { page, pageErrors } = await app!.newPage({ viewport: { width: 1200, height: 800 }, hooks: true });
    await createDatasetViaUi(page, path.join(tmp, 'field.tessera'));
    await page.getByTestId('import-open').click();
    await page.getByTestId('import-paths').fill(path.join(tmp, 'imgs'));
    await page.getByTestId('import-start').click();
    await expect.poll(() => page.getByTestId('import-summary').textContent(), { timeout: 30_000 }).toContain('1 imported');
    const entry = await ok(server.workspace, 'segment:add', { encoder: ENCODER, decoder: DECODER });
    await page.getByTestId('grid-cell').first().click();
    await page.locator('[data-testid="viewer"][data-ready="true"]').waitFor({ timeout: 120_000 });
    expect(await page.evaluate(() => (globalThis as unknown as { __tesseraCanvas: { tiled: boolean } }).__tesseraCanvas.tiled)).toBe(true);
    await page.getByTestId('viewer-one-to-one').click();
    await page.getByTestId('tool-select').focus();
    await page.keyboard.press('s');
    await page.getByTestId('sam-model').selectOption(entry.manifest.id);
    await page.getByTestId('sam-hover').uncheck();
    await page.getByTestId('tool-select').focus();
    await page.locator('[data-testid="sam-encode"][data-state="ready"]').waitFor({ timeout: 60_000 });

    const region = await page.evaluate(() =>
      (globalThis as unknown as { __tesseraCanvas: { visibleRegion(): { x: number; y: number; w: number; h: number } } }).__tesseraCanvas.visibleRegion(),
    );
    // At 1:1 the view shows about its own size of the image, far less than the whole.
    expect(region.w).toBeLessThan(W / 3);
    const [px, py] = [3000, 2000];
    await clickAt(page, px, py);
    // The contract's disk has radius 64 in the encoder's 1024 frame, which here is the region's.
    const r = (64 * Math.max(region.w, region.h)) / 1024;
    const want = { x0: Math.ceil(px - r - 0.5), x1: Math.floor(px + r - 0.5), y0: Math.ceil(py - r - 0.5), y1: Math.floor(py + r - 0.5) };
    await expect.poll(() => previewBounds(page), { timeout: 60_000 }).toSatisfy((b: Box | null) => near(b, want));
    await page.keyboard.press('Enter');
    await expect.poll(() => annotationCount(page)).toBe(1);
    const imageId = Number(await page.getByTestId('viewer').getAttribute('data-image-id'));
    const [poly] = await ok(server.workspace, 'annotations:list', { imageId });
    const bb = geometryBBox(poly!.geometry);
    expect(Math.abs(bb.x - want.x0)).toBeLessThanOrEqual(1);
    expect(Math.abs(bb.x + bb.w - (want.x1 + 1))).toBeLessThanOrEqual(1);
    expect(pageErrors).toEqual([]);
  });
});

describe('segment tool on a frame of a multi-frame DICOM', () => {
  const dicomDir = sharedPath('datasets/dicom_pydicom');
  let app: App | null = null;

  beforeAll(async () => {
    app = await startApp({ tmpPrefix: 'tessera-sam-dicom-e2e-' });
  });

  afterAll(async () => {
    await app?.close();
  });

  it.skipIf(prerequisites.skip || !dicomDir)('encodes the frame shown and stores the shape on it', async () => {
    prerequisites.assertPresent();
    const { tmp, server } = app!;
    const file = path.join(tmp, 'frames.tessera');
    await ok(server.workspace, 'dataset:create', { path: file, root: tmp });
    await ok(server.workspace, 'images:import', { jobId: 'imp', paths: [path.join(dicomDir!, 'SC_rgb_rle_2frame.dcm')], allowOutsideRoot: true });
    const [item] = (await ok(server.workspace, 'images:list', {})).items;
    expect(item!.frames).toBe(2);
    await ok(server.workspace, 'classes:create', { name: 'region' });
    const entry = await ok(server.workspace, 'segment:add', { encoder: ENCODER, decoder: DECODER });
    const { page, pageErrors } = await app!.newPage({ viewport: { width: 1400, height: 900 }, hooks: true });
    const start = page.getByTestId('open-dataset-path');
    await start.or(page.getByTestId('grid-cell').first()).first().waitFor();
    if (await start.isVisible()) {
      await start.fill(file);
      await page.getByTestId('open-dataset').click();
    }
    await page.locator(`[data-testid="grid-cell"][data-image-id="${item!.id}"]`).click();
    await page.locator('[data-testid="viewer"][data-ready="true"]').waitFor({ timeout: 30_000 });
    await page.getByTestId('tool-select').focus();
    await page.keyboard.press('s');
    await page.getByTestId('sam-model').selectOption(entry.manifest.id);
    await page.getByTestId('sam-hover').uncheck();
    await page.getByTestId('tool-select').focus();
    await page.locator('[data-testid="sam-encode"][data-state="ready"]').waitFor({ timeout: 30_000 });
    const cache = `${file}-cache`;
    await expect.poll(() => embeddings(cache), { timeout: 30_000 }).toBe(1);

    // Frame 2: its own embedding (the display of that frame), asked for as the frame is shown.
    await page.keyboard.press('.');
    await expect.poll(() => page.getByTestId('viewer').getAttribute('data-frame-shown')).toBe('1');
    await expect.poll(() => embeddings(cache), { timeout: 30_000 }).toBe(2);
    const [cx, cy] = [Math.floor(item!.width / 2), Math.floor(item!.height / 2)];
    await clickAt(page, cx, cy);
    const r = (64 * Math.max(item!.width, item!.height)) / 1024;
    const want = { x0: Math.ceil(cx - r - 0.5), x1: Math.floor(cx + r - 0.5), y0: Math.ceil(cy - r - 0.5), y1: Math.floor(cy + r - 0.5) };
    await expect.poll(() => previewBounds(page), { timeout: 30_000 }).toSatisfy((b: Box | null) => near(b, { x0: Math.max(0, want.x0), x1: Math.min(item!.width - 1, want.x1), y0: Math.max(0, want.y0), y1: Math.min(item!.height - 1, want.y1) }));
    await page.keyboard.press('Enter');
    await expect.poll(() => annotationCount(page)).toBe(1);
    const shapes = await ok(server.workspace, 'annotations:list', { imageId: item!.id });
    expect(shapes.map((a) => [a.kind, a.frame])).toEqual([['polygon', 1]]);
    expect(pageErrors).toEqual([]);
  });
});
