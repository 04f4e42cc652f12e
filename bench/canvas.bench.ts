/**
 * Annotation canvas benchmark (`npm run bench:canvas`): the real renderer in headless Chromium
 * (software rendering, --disable-gpu), served by the browser-mode server over a generated dataset
 * with one 4000x3000 image. Prints one table:
 *   - frame times (requestAnimationFrame intervals in the page) while Playwright pans by mouse
 *     drag and zooms by wheel, with 5,000 polygons of 30 vertices plus a full-size mask, beside
 *     the same script on the same image with no shapes (baseline)
 *   - selecting and dragging one polygon, and how many shapes that repaints
 *   - time to open the image with its shapes; the same and the pan for 20,000 boxes
 *   - the object list beside the canvas with those 5,001 shapes: frames while scrolling it by
 *     wheel, selecting shapes by clicking rows and by Tab, beside the canvas alone in the same run
 *     (the pan at fit zoom, and selecting shapes by clicking them with the select tool)
 * Annotations are stored in the dataset and opened through the app (the editor loads them over
 * the contract); the drag uses the editor's select tool with real pointer events.
 * Options: --shots (screenshots to the temp folder), --json
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Page } from 'playwright-core';
import sharp from 'sharp';
import type { ClassRecord, Geometry } from '../src-main/common/model';
import { insertAnnotations } from '../src-main/db/annotations';
import { insertModelRun } from '../src-main/db/modelRuns';
import type { Overlay, SceneShape } from '../src-renderer/editor/scene';
import { mulberry32 } from '../src-main/common/random';
import { CHROMIUM, startApp, staticDir } from '../test/helpers/browser';
import { repoRoot } from '../test/helpers/shared';
import { blobPolygons, columnSpanRle } from '../test/helpers/scenes';
import { pan, zoom, type Viewport } from './gestures';
import { openBenchPage } from './page';
import { loadNote, reportPageErrors, runBench } from './report';
import { printTable } from './table';

const { values } = parseArgs({ options: { shots: { type: 'boolean', default: false }, json: { type: 'boolean', default: false } } });
const W = 4000;
const H = 3000;
const VIEWPORT = { width: 1600, height: 1000 };
const PALETTE = ['#e6194b', '#3cb44b', '#4363d8', '#f58231', '#911eb4', '#42d4f4', '#f032e6', '#bfef45'];

function log(msg: string): void {
  if (!values.json) process.stderr.write(`${msg}\n`);
}

function pct(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

function polygonScene(n: number): SceneShape[] {
  return blobPolygons(n, 11, W, H).map((geometry, i) => ({
    id: i + 2,
    geometry,
    color: PALETTE[i % PALETTE.length]!,
    prediction: i % 10 === 3,
    flagged: i % 50 === 7,
  }));
}

function boxScene(n: number): SceneShape[] {
  const r = mulberry32(5);
  const shapes: SceneShape[] = [];
  for (let i = 0; i < n; i++) {
    const w = 8 + r() * 40;
    const h = 8 + r() * 40;
    const x = Math.round(r() * (W - w));
    const y = Math.round(r() * (H - h));
    shapes.push({ id: i + 1, geometry: { kind: 'box', x, y, w: Math.round(w), h: Math.round(h) }, color: PALETTE[i % PALETTE.length]!, prediction: i % 10 === 3, flagged: false });
  }
  return shapes;
}

/** A full-size mask: two overlapping ellipses, run-length encoded by column (COCO order). */
function maskShape(id: number): SceneShape {
  const rle = columnSpanRle(W, H, (x) => {
    let y0 = H;
    let y1 = H;
    for (const [cx, cy, rx, ry] of [
      [1300, 1400, 1100, 1200],
      [2800, 1700, 900, 1000],
    ] as const) {
      const dx = (x + 0.5 - cx) / rx;
      if (dx * dx >= 1) continue;
      const half = ry * Math.sqrt(1 - dx * dx);
      y0 = Math.min(y0, Math.max(0, Math.round(cy - half)));
      y1 = y1 === H ? Math.min(H, Math.round(cy + half)) : Math.max(y1, Math.min(H, Math.round(cy + half)));
    }
    return y0 >= H ? null : [y0, y1];
  });
  const geometry: Geometry = { kind: 'mask', rle };
  return { id, geometry, color: '#4363d8', prediction: false, flagged: false };
}

async function makeImage(file: string, variant: number): Promise<void> {
  const px = Buffer.alloc(W * H * 3);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const o = (y * W + x) * 3;
      const cell = ((x >> 7) ^ (y >> 7)) & 1;
      px[o] = 40 + ((x * 80) / W) | 0;
      px[o + 1] = 60 + ((y * 80) / H) | 0;
      px[o + 2] = cell ? 90 : 60;
    }
  }
  px[0] = variant; // distinct content, so the import does not take the copies for duplicates
  await sharp(px, { raw: { width: W, height: H, channels: 3 } }).png({ compressionLevel: 1 }).toFile(file);
}

/** What the page exposes with `?hooks=1`, typed here because the bench compiles without DOM types. */
interface PageGlobals {
  __tesseraCanvas?: {
    setShapes(s: readonly SceneShape[]): void;
    updateShapes(c: readonly SceneShape[], r: readonly number[]): void;
    setHidden(ids: ReadonlySet<number>): void;
    setOverlay(o: Overlay): void;
    stats(): { staticDraws: number; shapesDrawn: number; lastStaticDrawMs: number; layerDraws: number };
    imageToStage(p: { x: number; y: number }): { x: number; y: number };
  };
  document: { querySelector(sel: string): { getAttribute(name: string): string | null } | null };
  __frames?: number[];
  __staticMs?: number[];
  __recording?: boolean;
  __scene?: SceneShape[];
  requestAnimationFrame(cb: (t: number) => void): number;
  performance: { now(): number };
}

interface Frames {
  /** requestAnimationFrame intervals, ms. */
  gaps: number[];
  /** Time the static (annotation) layer took in each frame that drew it, ms. */
  staticMs: number[];
}

async function recordFrames(page: Page, drive: () => Promise<void>): Promise<Frames> {
  await page.evaluate(() => {
    const g = globalThis as unknown as PageGlobals;
    g.__frames = [];
    g.__staticMs = [];
    g.__recording = true;
    // The viewer may not exist yet (recording an open from the grid) or be replaced by a new one.
    let viewer = g.__tesseraCanvas;
    let seen = viewer?.stats().layerDraws ?? 0;
    const tick = (t: number): void => {
      if (!g.__recording) return;
      g.__frames!.push(t);
      if (g.__tesseraCanvas !== viewer) {
        viewer = g.__tesseraCanvas;
        seen = 0;
      }
      const s = viewer?.stats();
      if (s && s.layerDraws !== seen) g.__staticMs!.push(s.lastStaticDrawMs);
      seen = s?.layerDraws ?? 0;
      g.requestAnimationFrame(tick);
    };
    g.requestAnimationFrame(tick);
  });
  await drive();
  const { stamps, staticMs } = await page.evaluate(() => {
    const g = globalThis as unknown as PageGlobals;
    g.__recording = false;
    return { stamps: g.__frames!, staticMs: g.__staticMs! };
  });
  const gaps: number[] = [];
  for (let i = 1; i < stamps.length; i++) gaps.push(stamps[i]! - stamps[i - 1]!);
  return { gaps, staticMs };
}

interface ScriptResult {
  panFit: Frames;
  zoomIn: Frames;
  panDeep: Frames;
  zoomOut: Frames;
  deepZoom: number;
}

const ZOOM_NOTCHES = 18;
/** Where the wheel zooms, as fractions of the viewer's width and height. */
const ZOOM_AT = { x: 0.4, y: 0.45 };

async function quiet(page: Page): Promise<void> {
  await page.waitForTimeout(500);
}

/** The same gestures for every scene: pan at fit, zoom in to about 400 %, pan there, zoom out. */
async function script(page: Page, box: Viewport): Promise<ScriptResult> {
  await page.getByTestId('viewer-fit').click();
  await quiet(page);
  const panFit = await recordFrames(page, () => pan(page, box, 120));
  await page.getByTestId('viewer-fit').click();
  await quiet(page);
  const zoomIn = await recordFrames(page, () => zoom(page, box, ZOOM_NOTCHES, ZOOM_AT));
  await quiet(page);
  const deepZoom = Number(await page.getByTestId('viewer').getAttribute('data-zoom'));
  const panDeep = await recordFrames(page, () => pan(page, box, 80));
  await quiet(page);
  const zoomOut = await recordFrames(page, () => zoom(page, box, -ZOOM_NOTCHES, ZOOM_AT));
  await page.getByTestId('viewer-fit').click();
  await quiet(page);
  return { panFit, zoomIn, panDeep, zoomOut, deepZoom };
}

const drawnAtLeast = (page: Page, n: number) =>
  page.waitForFunction(
    (want) => {
      const el = (globalThis as unknown as PageGlobals).document.querySelector('[data-testid="viewer"] [data-shapes-drawn]');
      return Number(el?.getAttribute('data-shapes-drawn') ?? 0) >= want;
    },
    n,
    { polling: 'raf', timeout: 120_000 },
  );

/**
 * Opens an image from the grid the way a user does and returns the milliseconds from the click
 * until the image is shown and every shape has been painted: fetching the annotations over the
 * contract, the editor building its scene, decoding the image and painting.
 */
async function openImage(page: Page, imageId: number, shapes: number): Promise<{ ms: number; paintMs: number }> {
  if (await page.getByTestId('viewer-back').isVisible()) await page.getByTestId('viewer-back').click();
  const cell = page.locator(`[data-testid="grid-cell"][data-image-id="${imageId}"]`);
  await cell.waitFor();
  await quiet(page);
  let ms = 0;
  const frames = await recordFrames(page, async () => {
    const t0 = performance.now();
    await cell.click();
    await page.locator(`[data-testid="viewer"][data-ready="true"][data-image-id="${imageId}"]`).waitFor({ timeout: 120_000 });
    if (shapes > 0) await drawnAtLeast(page, shapes);
    ms = performance.now() - t0;
  });
  await quiet(page);
  // The longest static layer draw of the open is the one that painted every chunk.
  return { ms, paintMs: Math.max(0, ...frames.staticMs) };
}

interface DragResult {
  pickUpShapes: number;
  dragShapes: number;
  dropShapes: number;
  frames: Frames;
  pickUpMs: number;
  dropMs: number;
  totalMs: number;
}

/** The drag in screen pixels: past the tool's threshold first, then to the drop point in 60 steps. */
const DRAG = { start: { x: 4, y: 2 }, x: 184, y: 92 };

type Counters = { staticDraws: number; shapesDrawn: number };

/**
 * Selects one polygon with the editor's select tool and drags it by 60 steps of 3 screen pixels
 * (pointer events through the canvas, as a user does), then waits for the edit to be stored and
 * the shape painted back on the static layer.
 */
async function dragOne(page: Page, box: Viewport, shape: SceneShape): Promise<DragResult> {
  const counters = (): Promise<Counters> => page.evaluate(() => (globalThis as unknown as PageGlobals).__tesseraCanvas!.stats());
  const ring = (shape.geometry as Extract<Geometry, { kind: 'polygon' }>).parts[0]!;
  let cx = 0;
  let cy = 0;
  for (let i = 0; i < ring.length; i += 2) {
    cx += ring[i]! / (ring.length / 2);
    cy += ring[i + 1]! / (ring.length / 2);
  }
  const at = await page.evaluate((p) => (globalThis as unknown as PageGlobals).__tesseraCanvas!.imageToStage(p), { x: cx, y: cy });
  const x0 = box.x + at.x;
  const y0 = box.y + at.y;
  const c0 = await counters();
  const t0 = performance.now();
  await page.mouse.move(x0, y0);
  await page.mouse.down();
  // The drag starts past the tool's threshold; the shape then leaves the static layer for the
  // overlay, which repaints its chunk.
  await page.mouse.move(x0 + DRAG.start.x, y0 + DRAG.start.y, { steps: 2 });
  await page.waitForFunction((n) => (globalThis as unknown as PageGlobals).__tesseraCanvas!.stats().staticDraws > n, c0.staticDraws, {
    polling: 'raf',
    timeout: 10_000,
  });
  const pickUpMs = performance.now() - t0;
  await page.waitForTimeout(50);
  const c1 = await counters();
  const frames = await recordFrames(page, async () => {
    for (let i = 1; i <= 60; i++) {
      await page.mouse.move(x0 + DRAG.start.x + (i * (DRAG.x - DRAG.start.x)) / 60, y0 + DRAG.start.y + (i * (DRAG.y - DRAG.start.y)) / 60);
      await page.waitForTimeout(8);
    }
  });
  const c2 = await counters();
  const t1 = performance.now();
  await page.mouse.up();
  await page.waitForFunction((n) => (globalThis as unknown as PageGlobals).__tesseraCanvas!.stats().staticDraws > n, c2.staticDraws, { polling: 'raf' });
  const dropMs = performance.now() - t1;
  const totalMs = performance.now() - t0;
  await quiet(page);
  const c3 = await counters();
  return {
    pickUpShapes: c1.shapesDrawn - c0.shapesDrawn,
    dragShapes: c2.shapesDrawn - c1.shapesDrawn,
    dropShapes: c3.shapesDrawn - c2.shapesDrawn,
    frames,
    pickUpMs,
    dropMs,
    totalMs,
  };
}

interface ObjectListResult {
  scroll: Frames;
  rowClicks: Frames;
  tab: Frames;
  canvasClicks: Frames;
  /** Rows the list's DOM holds after the scroll, and how many shapes it lists. */
  domRows: number;
  total: number;
}

const PICKS = 30;

/**
 * The object list with the 5,001 shapes open: scrolls it by wheel, clicks rows (each selects its
 * shape), steps with Tab; then, for the canvas alone, selects shapes by clicking them on the
 * canvas with the select tool. Each click waits a few frames, as a person would.
 */
async function objectList(page: Page, box: Viewport, shapes: readonly SceneShape[]): Promise<ObjectListResult> {
  const list = page.getByTestId('object-rows');
  await page.getByTestId('viewer-fit').click();
  await page.keyboard.press('v');
  await page.waitForFunction(
    (n) => Number((globalThis as unknown as PageGlobals).document.querySelector('[data-testid="object-rows"]')?.getAttribute('data-total') ?? 0) === n,
    shapes.length,
  );
  await quiet(page);
  const lb = (await list.boundingBox())!;
  const scroll = await recordFrames(page, async () => {
    await page.mouse.move(lb.x + lb.width / 2, lb.y + lb.height / 2);
    for (let i = 0; i < 80; i++) {
      await page.mouse.wheel(0, i < 60 ? 120 : -240);
      await page.waitForTimeout(16);
    }
  });
  await quiet(page);
  const domRows = await page.locator('[data-testid="object-row"]').count();
  const rowClicks = await recordFrames(page, async () => {
    for (let i = 0; i < PICKS; i++) {
      await page.mouse.click(lb.x + lb.width / 3, lb.y + 12 + (i % 10) * 24);
      await page.waitForTimeout(40);
    }
  });
  await quiet(page);
  const tab = await recordFrames(page, async () => {
    for (let i = 0; i < PICKS; i++) {
      await page.keyboard.press('Tab');
      await page.waitForTimeout(40);
    }
  });
  await quiet(page);
  const targets: { x: number; y: number }[] = [];
  for (let i = 0; i < PICKS; i++) {
    const ring = (shapes[100 + i * 150]!.geometry as Extract<Geometry, { kind: 'polygon' }>).parts[0]!;
    let cx = 0;
    let cy = 0;
    for (let k = 0; k < ring.length; k += 2) {
      cx += ring[k]! / (ring.length / 2);
      cy += ring[k + 1]! / (ring.length / 2);
    }
    const at = await page.evaluate((p) => (globalThis as unknown as PageGlobals).__tesseraCanvas!.imageToStage(p), { x: cx, y: cy });
    targets.push({ x: box.x + at.x, y: box.y + at.y });
  }
  const canvasClicks = await recordFrames(page, async () => {
    for (const t of targets) {
      await page.mouse.click(t.x, t.y);
      await page.waitForTimeout(40);
    }
  });
  await quiet(page);
  return { scroll, rowClicks, tab, canvasClicks, domRows, total: shapes.length };
}

async function main(): Promise<void> {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM} (set CHROMIUM=...)`);
  if (!fs.existsSync(path.join(staticDir, 'index.html'))) {
    log('building the renderer (out/renderer is missing)...');
    execFileSync('npx', ['electron-vite', 'build'], { cwd: repoRoot, stdio: 'inherit' });
  }
  // Other work on the machine shows up as dropped frames in both columns; the load is printed.
  const loadAtStart = os.loadavg()[0]!;
  const app = await startApp({ tmpPrefix: 'tessera-canvas-bench-', version: 'bench' });
  const { tmp, server } = app;
  try {
    const browser = await app.browser();
    log('generating three 4000x3000 images and the dataset...');
    fs.mkdirSync(path.join(tmp, 'images'));
    const names = ['a-baseline', 'b-polygons', 'c-boxes'];
    for (const [i, n] of names.entries()) await makeImage(path.join(tmp, 'images', `${n}.png`), i);
    const h = server.workspace.handlers;
    await h['dataset:create']({ path: path.join(tmp, 'bench.tessera'), root: tmp });
    await h['images:import']({ jobId: 'bench', paths: [path.join(tmp, 'images')], recursive: true, allowOutsideRoot: false });
    const items = (await h['images:list']({ filter: {}, offset: 0, limit: 10 })).items;
    const idOf = (name: string) => items.find((it) => it.path.includes(name))!.id;
    const classes: ClassRecord[] = [];
    for (const [i, color] of PALETTE.entries()) classes.push(await h['classes:create']({ name: `class ${i}`, color }));
    const db = server.workspace.current!.db;
    const run = await insertModelRun(db, { model: 'bench' });
    const store = async (imageId: number, scene: SceneShape[]) =>
      await insertAnnotations(
        db,
        scene.map((s, i) => ({
          imageId,
          classId: classes[i % classes.length]!.id,
          geometry: s.geometry,
          ...(s.prediction ? { source: 'model' as const, modelRunId: run, score: 0.7 } : { source: 'human' as const }),
        })),
      );
    const polys = [maskShape(1), ...polygonScene(5000)];
    const polyIds = await store(idOf('b-polygons'), polys);
    await store(idOf('c-boxes'), boxScene(20_000));

    const { page, errors } = await openBenchPage(browser, server, VIEWPORT);

    log('baseline: the image without shapes...');
    const imageOpen = await openImage(page, idOf('a-baseline'), 0);
    const box = (await page.locator('[data-testid="viewer"] [data-static-draws]').boundingBox())!;
    const base = await script(page, box);

    log('5,000 polygons + full-size mask...');
    const polyOpen = await openImage(page, idOf('b-polygons'), polys.length);
    if (values.shots) await page.screenshot({ path: path.join(os.tmpdir(), 'tessera-bench-fit.png') });
    const withShapes = await script(page, box);
    const dragged = { ...polys[2500]!, id: polyIds[2500]! };
    const drag = await dragOne(page, box, dragged);
    if (values.shots) {
      // Zoomed on the dragged polygon where it was dropped, still selected, with its handles.
      const ring = (dragged.geometry as Extract<Geometry, { kind: 'polygon' }>).parts[0]!;
      const fit = Number(await page.getByTestId('viewer').getAttribute('data-zoom'));
      const at = await page.evaluate((p) => (globalThis as unknown as PageGlobals).__tesseraCanvas!.imageToStage(p), {
        x: ring[0]! + DRAG.x / fit,
        y: ring[1]! + DRAG.y / fit,
      });
      await page.mouse.move(box.x + at.x, box.y + at.y);
      for (let i = 0; i < 17; i++) await page.mouse.wheel(0, -100);
      await quiet(page);
      await page.screenshot({ path: path.join(os.tmpdir(), 'tessera-bench-zoomed.png') });
    }

    log('the object list with 5,001 shapes...');
    const objects = await objectList(page, box, polys);

    log('20,000 boxes...');
    const boxOpen = await openImage(page, idOf('c-boxes'), 20_000);
    const boxPan = await recordFrames(page, () => pan(page, box, 120));
    if (values.shots) await page.screenshot({ path: path.join(os.tmpdir(), 'tessera-bench-boxes.png') });

    const ms = (xs: number[]) => (xs.length === 0 ? 'not drawn' : `${pct(xs, 50).toFixed(1)} / ${pct(xs, 95).toFixed(1)}`);
    // rAF intervals, then in brackets the static layer's own draw time in the frames that drew it.
    const f = (fr: Frames) => `${ms(fr.gaps)} ms (${ms(fr.staticMs)})`;
    const join = (...fs: Frames[]): Frames => ({ gaps: fs.flatMap((x) => x.gaps), staticMs: fs.flatMap((x) => x.staticMs) });
    const all = (r: ScriptResult) => join(r.panFit, r.zoomIn, r.panDeep, r.zoomOut);
    const deep = `${Math.round(withShapes.deepZoom * 100)} %`;
    const rows: [string, string, string, string][] = [
      ['pan at fit zoom, frame p50 / p95 (static layer)', f(withShapes.panFit), f(base.panFit), 'p95 ≤ 33 ms'],
      [`zoom in by wheel (fit → ${deep})`, f(withShapes.zoomIn), f(base.zoomIn), 'p95 ≤ 33 ms'],
      [`pan at ${deep}`, f(withShapes.panDeep), f(base.panDeep), 'p95 ≤ 33 ms'],
      ['zoom out by wheel', f(withShapes.zoomOut), f(base.zoomOut), 'p95 ≤ 33 ms'],
      ['all pan and zoom frames', f(all(withShapes)), f(all(base)), 'p95 ≤ 33 ms'],
      ['open the image from the grid (click → all shapes painted)', `${polyOpen.ms.toFixed(0)} ms`, `${imageOpen.ms.toFixed(0)} ms`, ''],
      ['  of which painting every chunk (one static layer draw)', `${polyOpen.paintMs.toFixed(0)} ms`, '', ''],
      ['select + drag one polygon: pick up / drop (→ painted)', `${drag.pickUpMs.toFixed(0)} / ${drag.dropMs.toFixed(0)} ms`, '', ''],
      ['select + drag one polygon: frames while dragging', f(drag.frames), '', 'p95 ≤ 33 ms'],
      ['shapes repainted: pick up / 60 drag steps / drop', `${drag.pickUpShapes} / ${drag.dragShapes} / ${drag.dropShapes} of ${polys.length}`, '', 'one chunk'],
      ['20,000 boxes: open the image (click → all shapes painted)', `${boxOpen.ms.toFixed(0)} ms`, `${imageOpen.ms.toFixed(0)} ms`, ''],
      ['  of which painting every chunk (one static layer draw)', `${boxOpen.paintMs.toFixed(0)} ms`, '', ''],
      ['20,000 boxes: pan at fit zoom', f(boxPan), f(base.panFit), 'p95 ≤ 33 ms'],
    ];
    const ratio = (a: Frames, b: Frames) => `${(pct(a.gaps, 50) / pct(b.gaps, 50)).toFixed(2)} / ${(pct(a.gaps, 95) / pct(b.gaps, 95)).toFixed(2)}`;
    const listRows: [string, string, string, string][] = [
      ['scroll the list by wheel / pan the canvas at fit zoom', f(objects.scroll), f(withShapes.panFit), ratio(objects.scroll, withShapes.panFit)],
      [`select ${PICKS} shapes: click list rows / click shapes on the canvas`, f(objects.rowClicks), f(objects.canvasClicks), ratio(objects.rowClicks, objects.canvasClicks)],
      [`select ${PICKS} shapes: Tab / click shapes on the canvas`, f(objects.tab), f(objects.canvasClicks), ratio(objects.tab, objects.canvasClicks)],
      ['rows in the list\'s DOM after the scroll', `${objects.domRows} of ${objects.total}`, '', ''],
    ];
    if (values.json) {
      process.stdout.write(`${JSON.stringify({ rows, objectList: listRows, errors }, null, 2)}\n`);
    } else {
      printTable(['metric', '5,000 polygons + mask', 'baseline (no shapes)', 'target'], rows);
      console.log('');
      printTable(['object list (5,001 shapes), frame p50 / p95 (static layer)', 'object list', 'canvas alone', 'ratio p50 / p95'], listRows);
      console.log(
        `\nChromium ${browser.version()} headless, --disable-gpu (software raster), viewport ${VIEWPORT.width}x${VIEWPORT.height}. ` +
          `Frames: requestAnimationFrame intervals in the page during each gesture, p50 / p95; in brackets the static ` +
          `layer's own draw time (blits and repaints) in the frames that drew it. Open and drag times: wall clock ` +
          `from the Playwright input to the first animation frame that shows the result. ` +
          loadNote(loadAtStart),
      );
    }
    reportPageErrors(errors);
  } finally {
    await app.close();
  }
}

runBench(main);
