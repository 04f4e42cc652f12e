import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { runCli } from '../../src-main/cli/main';
import type { PrelabelSummary } from '../../src-main/common/prelabel';
import { rleBBox, type Rle } from '../../src-main/common/geometry/rle';
import { chromiumOrSkip, startApp, toPage, type App } from '../helpers/browser';
import { yolov8nInt8Manifest } from '../helpers/models';
import { sharedDir } from '../helpers/shared';
import { ok } from '../helpers/workspace';

/**
 * Detector boxes to masks in the real renderer (browser mode, real services, Chromium): a yolov8n
 * pre-label run's boxes through the contract encoder/decoder pair of ../shared/models/sam_contract
 * (whose mask for a box prompt is the box), from the model panel with progress, Cancel and the
 * outcome, and from a box selected in the editor with Shift+S.
 */
const IMAGES_DIR = path.join(sharedDir, 'datasets', 'coco_tinycoco', 'images', 'train2017');
const DETECTOR = path.join(sharedDir, 'models', 'yolov8n_int8.onnx');
const CONTRACT = path.join(sharedDir, 'models', 'sam_contract');
const ENCODER = path.join(CONTRACT, 'sam_contract_encoder.onnx');
const DECODER = path.join(CONTRACT, 'sam_contract_decoder.onnx');

const prerequisites = chromiumOrSkip('boxes to masks', [
  { path: IMAGES_DIR, what: 'the coco_tinycoco images' },
  { path: DETECTOR, what: 'the yolov8n_int8 test model' },
  { path: ENCODER, what: 'the SAM contract encoder' },
  { path: DECODER, what: 'the SAM contract decoder' },
]);

async function cli(...argv: string[]): Promise<string> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, { out: (s) => out.push(s), err: (s) => err.push(s), tty: false });
  if (code !== 0) throw new Error(`tessera ${argv.join(' ')} failed (${code}): ${err.join('\n')}`);
  return out.join('\n');
}

/** The shapes the static layer holds: id, kind, and whether it is drawn as a prediction. */
async function drawn(page: Page): Promise<{ id: number; kind: string; prediction: boolean; rle?: Rle }[]> {
  return page.evaluate(() => {
    const viewer = (globalThis as unknown as { __tesseraCanvas: { scene: { entries: Map<number, { shape: { id: number; prediction: boolean; geometry: { kind: string; rle?: unknown } } }> } } }).__tesseraCanvas;
    return [...viewer.scene.entries.values()].map((e) => ({ id: e.shape.id, kind: e.shape.geometry.kind, prediction: e.shape.prediction, ...(e.shape.geometry.kind === 'mask' ? { rle: e.shape.geometry.rle as Rle } : {}) }));
  });
}

describe('masks from detector boxes in the browser', () => {
  let app: App | null = null;

  beforeAll(async () => {
    app = await startApp({ tmpPrefix: 'tessera-b2m-e2e-' });
  });

  afterAll(async () => {
    await app?.close();
  });

  it.skipIf(prerequisites.skip)('a selected box and a whole pre-label run become mask predictions, with progress, Cancel and the outcome', { timeout: 240_000 }, async () => {
    prerequisites.assertPresent();
    const { tmp, server } = app!;
    const imgs = path.join(tmp, 'imgs');
    fs.mkdirSync(imgs, { recursive: true });
    // Enough images that the job is still running when Cancel is pressed.
    const names = fs.readdirSync(IMAGES_DIR).filter((n) => n.endsWith('.jpg')).sort();
    for (const n of names) fs.copyFileSync(path.join(IMAGES_DIR, n), path.join(imgs, n));
    const file = path.join(tmp, 'b2m.tessera');
    await cli('init', file, '--root', imgs);
    await cli('import', file, imgs);
    const manifest = path.join(tmp, 'yolov8n.json');
    fs.writeFileSync(manifest, JSON.stringify(yolov8nInt8Manifest(DETECTOR)));
    const pre = JSON.parse(await cli('prelabel', file, '--model', manifest, '--json')) as PrelabelSummary;
    expect(pre.detections).toBeGreaterThan(10);

    const { page, pageErrors } = await app!.newPage({ viewport: { width: 1500, height: 950 }, hooks: true });
    await page.getByTestId('open-dataset-path').fill(file);
    await page.getByTestId('open-dataset').click();
    await page.getByTestId('grid-cell').first().click();
    const viewer = page.getByTestId('viewer');
    await page.locator('[data-testid="viewer"][data-ready="true"]').waitFor({ timeout: 30_000 });
    const imageId = Number(await viewer.getAttribute('data-image-id'));
    const list = async () => (await ok(server.workspace, 'annotations:list', { imageId })).filter((a) => a.kind !== 'tag');
    const boxesHere = (await list()).filter((a) => a.source === 'model' && a.kind === 'box').length;
    const shown = async () => Number(await page.getByTestId('prediction-count').getAttribute('data-count'));
    await page.getByTestId('prediction-threshold').fill('0');
    await expect.poll(shown).toBe(boxesHere);

    // (b) Draw a box, then Shift+S: with no segmentation model on disk the status line says so.
    await page.getByTestId('tool-select').focus();
    await page.keyboard.press('b');
    const a = await toPage(page, 50, 60);
    const b = await toPage(page, 250, 200);
    await page.mouse.move(a.x, a.y);
    await page.mouse.down();
    await page.mouse.move(b.x, b.y, { steps: 8 });
    await page.mouse.up();
    await expect.poll(async () => (await list()).filter((x) => x.source === 'human').length).toBe(1);
    const human = (await list()).find((x) => x.source === 'human')!;
    await expect.poll(() => page.getByTestId('action-masksFromBoxes').isEnabled()).toBe(true);
    await page.keyboard.press('Shift+S');
    await expect.poll(() => page.getByTestId('status-line').textContent()).toMatch(/Masks from boxes failed: .*(is not downloaded|No segmentation model)/);

    // The contract pair, added the way the model panel adds one: the same box now gives its mask.
    const entry = await ok(server.workspace, 'segment:add', { encoder: ENCODER, decoder: DECODER });
    const undoBefore = await page.getByTestId('action-undo').getAttribute('title');
    await page.keyboard.press('Shift+S');
    await expect.poll(() => page.getByTestId('status-line').textContent(), { timeout: 30_000 }).toMatch(/Masks from 1 box selected: 1 mask in run #\d+/);
    const oneRun = Number(/run #(\d+)/.exec((await page.getByTestId('status-line').textContent())!)![1]);
    const fromBox = (await list()).filter((x) => x.modelRunId === oneRun);
    expect(fromBox).toHaveLength(1);
    expect(fromBox[0]).toMatchObject({ kind: 'mask', source: 'model', classId: human.classId });
    const bb = rleBBox((fromBox[0]!.geometry as { rle: Rle }).rle);
    const hb = human.geometry as { x: number; y: number; w: number; h: number };
    for (const [got, want] of [[bb.x, hb.x], [bb.y, hb.y], [bb.x + bb.w, hb.x + hb.w], [bb.y + bb.h, hb.y + hb.h]] as const) expect(Math.abs(got - want)).toBeLessThanOrEqual(1);
    // The image's predictions are read again: the mask is drawn as a prediction. It is a
    // prediction to accept or reject, not an edit: the undo history is as it was.
    await expect.poll(shown).toBe(boxesHere + 1);
    await expect.poll(async () => (await drawn(page)).some((s) => s.id === fromBox[0]!.id && s.kind === 'mask' && s.prediction)).toBe(true);
    expect(await page.getByTestId('action-undo').getAttribute('title')).toBe(undoBefore);
    await expect.poll(() => page.getByTestId('prediction-accept-run').textContent()).toContain(`#${oneRun}`);

    // (a) The pre-label run from the model panel, with the pair chosen, as masks.
    await expect.poll(() => page.locator(`[data-testid="b2m-run"] option[value="${pre.runId}"]`).count()).toBe(1);
    // The run of masks just made is listed but not offered as the source: the boxes' run stays chosen.
    await expect.poll(() => page.locator(`[data-testid="b2m-run"] option[value="${oneRun}"]`).count()).toBe(1);
    expect(await page.getByTestId('b2m-run').inputValue()).toBe(String(pre.runId));
    await page.getByTestId('b2m-run').selectOption(String(pre.runId));
    await expect.poll(() => page.locator(`[data-testid="b2m-model"] option[value="${entry.manifest.id}"]`).count()).toBe(1);
    await page.getByTestId('b2m-model').selectOption(entry.manifest.id);
    await page.getByTestId('b2m-as').selectOption('mask');
    // Started and cancelled while its progress bar runs: the outcome says so, and what was made.
    await page.getByTestId('b2m-start').click();
    await page.getByTestId('b2m-progress').waitFor({ timeout: 30_000 });
    await page.getByTestId('b2m-cancel').click();
    expect(await page.getByTestId('b2m-counts').textContent()).toMatch(/^\d+ \/ \d+ images, \d+ made$/);
    await expect.poll(() => page.getByTestId('b2m-summary').textContent(), { timeout: 60_000 }).toMatch(new RegExp(`^Masks from ${pre.detections} boxes of run #${pre.runId}: \\d+ masks? in run #\\d+.*; cancelled`));
    await expect.poll(() => page.getByTestId('b2m-progress').count()).toBe(0);

    // Started again and left to finish: every box has its mask (the contract fills each box).
    await page.getByTestId('b2m-start').click();
    await expect.poll(() => page.getByTestId('b2m-summary').textContent(), { timeout: 120_000 }).not.toContain('cancelled');
    const text = (await page.getByTestId('b2m-summary').textContent())!;
    const m = new RegExp(`^Masks from ${pre.detections} boxes of run #${pre.runId}: (\\d+) masks in run #(\\d+)(?: \\((\\d+) empty, not stored\\))?$`).exec(text);
    expect(m, text).not.toBeNull();
    const created = Number(m![1]);
    const runId = Number(m![2]);
    expect(created + Number(m![3] ?? 0)).toBe(pre.detections);
    const runInfo = (await ok(server.workspace, 'eval:runs', {})).find((r) => r.id === runId)!;
    expect(runInfo).toMatchObject({ status: 'done', detections: created });
    expect(created).toBeGreaterThan(pre.detections - 3);
    // The new run is listed, and the panel reviews it; its masks are drawn on the image.
    await expect.poll(() => page.locator(`[data-testid="b2m-run"] option[value="${runId}"]`).count()).toBe(1);
    await expect.poll(() => page.getByTestId('prediction-accept-run').textContent()).toContain(`#${runId}`);
    const masksHere = (await list()).filter((x) => x.modelRunId === runId);
    expect(masksHere.length).toBeGreaterThan(0);
    expect(masksHere.every((x) => x.kind === 'mask')).toBe(true);
    await expect.poll(async () => {
      const ids = new Set((await drawn(page)).filter((s) => s.kind === 'mask' && s.prediction).map((s) => s.id));
      return masksHere.every((x) => ids.has(x.id));
    }).toBe(true);

    // An image whose file went away fails alone: the others get their masks and the outcome names it.
    const { items } = await ok(server.workspace, 'images:list', { limit: 1000 });
    let gone: (typeof items)[number] | undefined;
    for (const im of items) {
      if (im.id === imageId) continue;
      const anns = await ok(server.workspace, 'annotations:list', { imageId: im.id });
      if (anns.some((x) => x.modelRunId === pre.runId && x.kind === 'box')) {
        gone = im;
        break;
      }
    }
    expect(gone).toBeDefined();
    fs.rmSync(path.join(imgs, path.basename(gone!.path)));
    // Its embedding must be computed again: the disk cache is emptied, and the worker keeps only
    // the last few images' embeddings in memory (this one was among the first encoded).
    fs.rmSync(path.join(server.workspace.current!.cacheDir, 'sam'), { recursive: true, force: true });
    await page.getByTestId('b2m-run').selectOption(String(pre.runId));
    await page.getByTestId('b2m-start').click();
    await expect.poll(() => page.getByTestId('b2m-summary').textContent(), { timeout: 120_000 }).toContain('1 image failed');
    const failedText = (await page.getByTestId('b2m-summary').textContent())!;
    const goneName = gone!.path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    expect(failedText).toMatch(new RegExp(`^Masks from ${pre.detections} boxes of run #${pre.runId}: \\d+ masks in run #\\d+.*; 1 image failed: ${goneName}: `));
    const failedRun = Number(/masks in run #(\d+)/.exec(failedText)![1]);
    expect((await ok(server.workspace, 'eval:runs', {})).find((r) => r.id === failedRun)).toMatchObject({ status: 'done' });
    expect(pageErrors).toEqual([]);
  });
});
