import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import sharp from 'sharp';
import type { Page } from 'playwright-core';
import { rleBBox, type Rle } from '../../src-main/common/geometry/rle';
import { chromiumOrSkip, createDatasetViaUi, startApp, toPage, type App, annotationCount } from '../helpers/browser';
import { sharedDir } from '../helpers/shared';
import { ok } from '../helpers/workspace';

/**
 * The model panel's segmentation section in the real renderer (browser mode, real services,
 * Chromium): a custom SAM pair inspected and added through it, and a shipped-style manifest
 * downloaded from a local HTTP server with progress, Cancel and errors. The contract pair of
 * ../shared/models/sam_contract answers a click with a disk of radius 64 (1024 frame) around it,
 * so a mask's bounds say the model the panel set up is the one the segment tool runs.
 */
const CONTRACT = path.join(sharedDir, 'models', 'sam_contract');
const ENCODER = path.join(CONTRACT, 'sam_contract_encoder.onnx');
const DECODER = path.join(CONTRACT, 'sam_contract_decoder.onnx');
const DETECTOR = path.join(sharedDir, 'models', 'yolov8n_int8.onnx');

const prerequisites = chromiumOrSkip('samModelPanel', [
  { path: ENCODER, what: 'the SAM contract encoder' },
  { path: DECODER, what: 'the SAM contract decoder' },
  { path: DETECTOR, what: 'the YOLOv8n detector' },
]);

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

interface Box {
  x0: number;
  x1: number;
  y0: number;
  y1: number;
}

/** The segment tool's mask preview on the overlay, as pixel bounds (inclusive), or null. */
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

function near(got: Box | null, want: Box): boolean {
  return got !== null && Math.abs(got.x0 - want.x0) <= 1 && Math.abs(got.x1 - want.x1) <= 1 && Math.abs(got.y0 - want.y0) <= 1 && Math.abs(got.y1 - want.y1) <= 1;
}

async function clickAt(page: Page, x: number, y: number): Promise<void> {
  const p = await toPage(page, x, y);
  await page.mouse.move(p.x, p.y);
  await page.mouse.down();
  await page.mouse.up();
}

const row = (page: Page, id: string) => page.locator(`[data-testid="sam-model-row"][data-model-id="${id}"]`);

/**
 * Serves the contract pair's bytes. While `slow` is set it sends 64 bytes every 150 ms (about
 * ten seconds a file), so the progress and Cancel can be seen; otherwise all at once.
 */
class PairServer {
  slow = true;
  readonly bodies: Record<string, Buffer> = {};
  private server: http.Server | null = null;
  base = '';

  async start(): Promise<void> {
    this.bodies['/enc.onnx'] = fs.readFileSync(ENCODER);
    this.bodies['/dec.onnx'] = fs.readFileSync(DECODER);
    this.server = http.createServer((req, res) => {
      const body = this.bodies[req.url ?? ''];
      if (!body) {
        res.writeHead(404).end();
        return;
      }
      res.on('error', () => undefined);
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(body.length) });
      if (!this.slow) {
        res.end(body);
        return;
      }
      let at = 0;
      const next = (): void => {
        if (res.destroyed) return;
        if (at >= body.length) return void res.end();
        const part = body.subarray(at, at + (this.slow ? 64 : body.length));
        at += part.length;
        res.write(part, () => setTimeout(next, this.slow ? 150 : 0));
      };
      next();
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  close(): Promise<void> {
    this.server?.closeAllConnections();
    return new Promise((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}

/** A port nothing listens on: one the system gave out and took back. */
async function closedPort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('segmentation models in the model panel', () => {
  let app: App | null = null;
  const pair = new PairServer();
  const savedModelsDir = process.env['TESSERA_MODELS_DIR'];
  let offlineUrl = '';
  let wrongSha = '';
  let page: Page;
  let pageErrors: string[];

  beforeAll(async () => {
    if (prerequisites.skip) return;
    app = await startApp({ tmpPrefix: 'tessera-sam-models-e2e-' });
    await pair.start();
    // Manifests as the shipped ones are written, but pointing at this test's server. The server
    // runs in this process and reads TESSERA_MODELS_DIR whenever it lists the models.
    const interactive = path.join(app.tmp, 'models', 'interactive');
    fs.mkdirSync(interactive, { recursive: true });
    const manifest = (id: string, name: string, encoder: Record<string, string>, decoder: Record<string, string>) => ({
      id,
      name,
      task: 'interactive',
      family: 'sam',
      encoder,
      decoder,
      inputSize: 1024,
      mean: [123.675, 116.28, 103.53],
      std: [58.395, 57.12, 57.375],
      licence: 'MIT (test pair)',
    });
    const enc = pair.bodies['/enc.onnx']!;
    const dec = pair.bodies['/dec.onnx']!;
    wrongSha = sha(Buffer.from('not the decoder'));
    offlineUrl = `http://127.0.0.1:${await closedPort()}/enc.onnx`;
    const write = (m: { id: string }) => fs.writeFileSync(path.join(interactive, `${m.id}.json`), JSON.stringify(m));
    write(manifest('local-sam', 'Local SAM', { url: `${pair.base}/enc.onnx`, sha256: sha(enc) }, { url: `${pair.base}/dec.onnx`, sha256: sha(dec) }));
    write(manifest('mismatch-sam', 'Mismatched SAM', { url: `${pair.base}/enc.onnx`, sha256: sha(enc) }, { url: `${pair.base}/dec.onnx`, sha256: wrongSha }));
    write(manifest('offline-sam', 'Offline SAM', { url: offlineUrl }, { url: `${pair.base}/dec.onnx` }));
    process.env['TESSERA_MODELS_DIR'] = path.join(app.tmp, 'models');

    const imgs = path.join(app.tmp, 'imgs');
    fs.mkdirSync(imgs);
    await sharp({ create: { width: 640, height: 427, channels: 3, background: { r: 60, g: 90, b: 120 } } })
      .png()
      .toFile(path.join(imgs, 'a.png'));
  });

  afterAll(async () => {
    if (savedModelsDir === undefined) delete process.env['TESSERA_MODELS_DIR'];
    else process.env['TESSERA_MODELS_DIR'] = savedModelsDir;
    await pair.close();
    await app?.close();
  });

  /** The app on the dataset's only image, with one class; made by the first test that runs. */
  let opened: Promise<void> | null = null;
  function ready(): Promise<void> {
    opened ??= (async () => {
      ({ page, pageErrors } = await app!.newPage({ viewport: { width: 1400, height: 900 }, hooks: true }));
      await createDatasetViaUi(page, path.join(app!.tmp, 'models.tessera'));
      await page.getByTestId('import-open').click();
      await page.getByTestId('import-paths').fill(path.join(app!.tmp, 'imgs'));
      await page.getByTestId('import-start').click();
      await expect.poll(() => page.getByTestId('import-summary').textContent(), { timeout: 30_000 }).toContain('1 imported');
      await page.getByTestId('grid-cell').first().click();
      await page.locator('[data-testid="viewer"][data-ready="true"]').waitFor({ timeout: 30_000 });
      await page.getByTestId('class-new-name').fill('object');
      await page.getByTestId('class-add').click();
      await expect.poll(() => page.getByTestId('class-row').count()).toBe(1);
    })();
    return opened;
  }

  /** With the segment tool on `modelId` and the hover preview off, one click gives the contract's disk. */
  async function segmentOnce(modelId: string): Promise<void> {
    await page.getByTestId('tool-select').focus();
    await page.keyboard.press('s');
    await expect.poll(() => page.getByTestId('viewer').getAttribute('data-tool')).toBe('sam');
    await expect.poll(() => page.getByTestId('sam-model').inputValue()).toBe(modelId);
    await page.getByTestId('sam-hover').uncheck();
    await page.getByTestId('tool-select').focus();
    await page.locator('[data-testid="sam-encode"][data-state="ready"]').waitFor({ timeout: 30_000 });
    const before = await annotationCount(page);
    await clickAt(page, 400, 200);
    await expect.poll(() => previewBounds(page), { timeout: 10_000 }).toSatisfy((b: Box | null) => near(b, { x0: 360, x1: 439, y0: 160, y1: 239 }));
    await page.keyboard.press('Enter');
    await expect.poll(() => annotationCount(page)).toBe(before + 1);
    await page.keyboard.press('v');
  }

  it.skipIf(prerequisites.skip)('adds the contract pair through the panel: inspection proposes family sam at 1024, a swapped pair is refused, the tool segments with it', async () => {
    prerequisites.assertPresent();
    await ready();
    // The shipped-style models are listed, none on disk, each with its Download button.
    await expect.poll(() => page.getByTestId('sam-model-row').count()).toBe(3);
    expect(await row(page, 'local-sam').getAttribute('data-on-disk')).toBe('false');
    expect(await row(page, 'local-sam').textContent()).toContain('MIT (test pair)');
    expect(await row(page, 'local-sam').getByTestId('sam-download').count()).toBe(1);

    await page.getByTestId('sam-add-open').click();
    const dialog = page.getByTestId('sam-add-dialog');
    // Swapped: the "encoder" takes the prompts. Every problem is listed and Add stays off.
    await dialog.getByTestId('sam-add-encoder').fill(DECODER);
    await dialog.getByTestId('sam-add-decoder').fill(ENCODER);
    await dialog.getByTestId('sam-add-inspect').click();
    await dialog.getByTestId('sam-add-problems').waitFor({ timeout: 30_000 });
    const problems = await dialog.getByTestId('sam-add-problems').locator('li').allTextContents();
    expect(problems.some((p) => p.includes('encoder and decoder are swapped') && p.includes(DECODER))).toBe(true);
    expect(await dialog.getByTestId('sam-add-family').count()).toBe(0);
    expect(await dialog.getByTestId('sam-add').isDisabled()).toBe(true);

    // A detector as the decoder misses most of the contract: every problem the service finds is listed.
    await dialog.getByTestId('sam-add-encoder').fill(ENCODER);
    await dialog.getByTestId('sam-add-decoder').fill(DETECTOR);
    await dialog.getByTestId('sam-add-inspect').click();
    const wrong = await ok(app!.server.workspace, 'segment:inspect', { encoder: ENCODER, decoder: DETECTOR });
    expect(wrong.problems.length).toBeGreaterThan(1);
    expect(wrong.problems).toContain('decoder: no input "point_labels"');
    await expect.poll(() => dialog.getByTestId('sam-add-problems').locator('li').allTextContents(), { timeout: 30_000 }).toEqual(wrong.problems);
    expect(await dialog.getByTestId('sam-add').isDisabled()).toBe(true);

    // A file that is not there is named, with its part.
    const absent = path.join(app!.tmp, 'absent.onnx');
    await dialog.getByTestId('sam-add-encoder').fill(absent);
    await dialog.getByTestId('sam-add-inspect').click();
    await expect.poll(() => dialog.getByTestId('sam-add-error').textContent(), { timeout: 30_000 }).toContain(`${absent}: does not exist (the encoder)`);
    expect(await dialog.getByTestId('sam-add').count()).toBe(0);

    // Typed the right way round: family sam, input 1024, and Add stores it.
    await dialog.getByTestId('sam-add-encoder').fill(ENCODER);
    await dialog.getByTestId('sam-add-decoder').fill(DECODER);
    // Editing a path drops the old inspection: nothing to add until the pair is inspected.
    expect(await dialog.getByTestId('sam-add').count()).toBe(0);
    await dialog.getByTestId('sam-add-inspect').click();
    const family = dialog.getByTestId('sam-add-family');
    await family.waitFor({ timeout: 30_000 });
    expect(await family.getAttribute('data-family')).toBe('sam');
    expect(await family.getAttribute('data-input-size')).toBe('1024');
    const id = (await family.getAttribute('data-id'))!;
    expect(await dialog.getByTestId('sam-add-problems').count()).toBe(0);
    await dialog.getByTestId('sam-add').click();
    await dialog.getByTestId('sam-added').waitFor({ timeout: 30_000 });
    expect(await dialog.getByTestId('sam-add').isDisabled()).toBe(true);
    await dialog.getByTestId('sam-add-close').click();

    // In the panel's list, on disk, and stored by the service with the proposed manifest.
    await expect.poll(() => row(page, id).getAttribute('data-on-disk')).toBe('true');
    expect(await row(page, id).getAttribute('data-origin')).toBe('custom');
    expect(await row(page, id).getAttribute('data-chosen')).toBe('true');
    const stored = (await ok(app!.server.workspace, 'segment:models', {})).find((m) => m.manifest.id === id)!;
    expect(stored).toMatchObject({ origin: 'custom', encoderPath: ENCODER, decoderPath: DECODER, manifest: { family: 'sam', inputSize: 1024 } });

    // The segment tool's selector has it, chosen, and one click gives its mask.
    await segmentOnce(id);
    expect(pageErrors).toEqual([]);
  });

  it.skipIf(prerequisites.skip)('downloads a pair with progress over both files; Cancel keeps nothing, errors are shown, a second Download makes it usable', async () => {
    prerequisites.assertPresent();
    await ready();
    const cacheDir = path.join(app!.configDir, 'models', 'interactive');
    const onDisk = (): string[] => (fs.existsSync(cacheDir) ? fs.readdirSync(cacheDir).filter((f) => f.endsWith('.onnx')) : []);

    // An unreachable URL and a checksum mismatch are said under their model, in full.
    await row(page, 'offline-sam').getByTestId('sam-download').click();
    const offlineError = row(page, 'offline-sam').getByTestId('sam-download-error');
    await offlineError.waitFor({ timeout: 30_000 });
    expect(await offlineError.textContent()).toContain(`cannot reach ${offlineUrl}`);
    pair.slow = false;
    await row(page, 'mismatch-sam').getByTestId('sam-download').click();
    const mismatch = row(page, 'mismatch-sam').getByTestId('sam-download-error');
    await mismatch.waitFor({ timeout: 30_000 });
    const mismatchText = (await mismatch.textContent()) ?? '';
    expect(mismatchText).toContain(wrongSha);
    expect(mismatchText).toContain(sha(pair.bodies['/dec.onnx']!));
    expect(await row(page, 'mismatch-sam').getAttribute('data-on-disk')).toBe('false');
    expect(onDisk()).toEqual([]);

    // A slow download: the bar counts the bytes of both files, then Cancel.
    pair.slow = true;
    const local = row(page, 'local-sam');
    await local.getByTestId('sam-download').click();
    const progress = local.getByTestId('sam-download-progress');
    await progress.waitFor({ timeout: 30_000 });
    const total = pair.bodies['/enc.onnx']!.length + pair.bodies['/dec.onnx']!.length;
    const bar = progress.getByRole('progressbar');
    await expect.poll(() => bar.getAttribute('aria-valuemax'), { timeout: 10_000 }).toBe(String(total));
    await expect.poll(async () => Number(await bar.getAttribute('aria-valuenow')), { timeout: 10_000 }).toBeGreaterThan(0);
    expect(await progress.getByTestId('sam-download-bytes').textContent()).toContain(`/ ${(total / 1024).toFixed(1)} KiB`);
    expect(Number(await bar.getAttribute('aria-valuenow'))).toBeLessThan(total);
    await progress.getByTestId('sam-download-cancel').click();
    await expect.poll(() => progress.count(), { timeout: 10_000 }).toBe(0);
    await expect.poll(() => page.getByTestId('status-line').textContent()).toContain('Download cancelled');
    expect(await local.getAttribute('data-on-disk')).toBe('false');
    expect(await local.getByTestId('sam-download-error').count()).toBe(0);
    expect(onDisk()).toEqual([]);
    expect((await ok(app!.server.workspace, 'segment:models', {})).find((m) => m.manifest.id === 'local-sam')).toMatchObject({ encoderPath: null, decoderPath: null });

    // Download again: both files arrive, the model is on disk, chosen in the tool, and segments.
    pair.slow = false;
    await local.getByTestId('sam-download').click();
    await expect.poll(() => local.getAttribute('data-on-disk'), { timeout: 30_000 }).toBe('true');
    expect(onDisk().sort()).toEqual(['local-sam.decoder.onnx', 'local-sam.encoder.onnx']);
    expect(await local.getAttribute('data-chosen')).toBe('true');
    await expect.poll(() => page.getByTestId('status-line').textContent()).toContain('Downloaded Local SAM');
    await segmentOnce('local-sam');
    // The failed downloads are the only errors the page saw (their resources failed to load).
    expect(pageErrors.filter((e) => !/Failed to load resource/.test(e))).toEqual([]);
  });
});
