/**
 * Gigapixel image benchmark (`npm run bench:large`): one 30,000 x 30,000 RGB JPEG (900 MP),
 * generated once into the temp folder and reused. Prints one table:
 *   - building its tile pyramid: wall time and the builder process's peak RSS
 *   - in headless Chromium (browser mode, the real renderer): opening the image from the grid
 *     to its first view and to a complete view, frame times while panning and zooming across every
 *     level, and the renderer's memory (JS heap and the renderer process's RSS)
 * beside the same image opened the non-tiled way (the viewer's ordinary one-bitmap path, which
 * the app keeps for small images), or what stops that from opening at all.
 * Options: --json, --runs N (opens measured, default 3), --rounds N (pan/zoom rounds, default 3),
 *   --baseline-timeout S (default 180)
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Browser, Page } from 'playwright-core';
import sharp from 'sharp';
import { Dataset } from '../src-main/services/dataset';
import { Media } from '../src-main/services/media';
import { Pyramids } from '../src-main/services/pyramid';
import { CHROMIUM, startApp, staticDir } from '../test/helpers/browser';
import { repoRoot } from '../test/helpers/shared';
import { pan, zoom, type Viewport } from './gestures';
import { median, pct } from './stats';
import { openBenchPage } from './page';
import { loadNote, reportPageErrors, runBench } from './report';
import { printTable } from './table';

const SIDE = 30_000;
const VIEWPORT = { width: 1600, height: 1000 };
const IMAGE_DIR = path.join(os.tmpdir(), 'tessera-bench-large');
const IMAGE = path.join(IMAGE_DIR, `field-${SIDE}.jpg`);

const { values } = parseArgs({
  options: {
    json: { type: 'boolean', default: false },
    runs: { type: 'string', default: '3' },
    'baseline-timeout': { type: 'string', default: '180' },
    rounds: { type: 'string', default: '3' },
    'child-build': { type: 'string' },
    'image-id': { type: 'string' },
  },
});

function log(msg: string): void {
  if (!values.json) process.stderr.write(`${msg}\n`);
}

/**
 * A field-like pattern: a 3000 px block of gradients, rows and blobs, mirrored out to the full
 * size by libvips, so it is generated in seconds with bounded memory yet compresses like a photo.
 */
async function makeImage(): Promise<void> {
  const B = 3000;
  const px = Buffer.alloc(B * B * 3);
  for (let y = 0; y < B; y++) {
    for (let x = 0; x < B; x++) {
      const o = (y * B + x) * 3;
      const row = Math.sin(y / 9) > 0.6 ? 40 : 0;
      const blob = Math.sin(x / 37) * Math.cos(y / 41) > 0.7 ? 60 : 0;
      const grain = ((x * 7919 + y * 104729) % 23) - 11;
      px[o] = Math.max(0, Math.min(255, 70 + ((x * 60) / B) + blob + grain));
      px[o + 1] = Math.max(0, Math.min(255, 90 + row + ((y * 50) / B) + grain));
      px[o + 2] = Math.max(0, Math.min(255, 50 + blob / 2 + grain));
    }
  }
  fs.mkdirSync(IMAGE_DIR, { recursive: true });
  const tmp = `${IMAGE}.${process.pid}.tmp`;
  await sharp(px, { raw: { width: B, height: B, channels: 3 } })
    .extend({ right: SIDE - B, bottom: SIDE - B, extendWith: 'mirror' })
    .jpeg({ quality: 88 })
    .toFile(tmp);
  fs.renameSync(tmp, IMAGE);
}

/** The child process: builds the pyramid alone, so its peak RSS is the builder's own. */
async function childBuild(datasetFile: string, imageId: number): Promise<void> {
  const ds = await Dataset.open(datasetFile);
  const media = new Media(ds, 2_500_000_000);
  const pyramids = new Pyramids(ds, media, { thresholdPixels: 1, limitInputPixels: 2_500_000_000 });
  const t0 = performance.now();
  const info = await pyramids.ensure(imageId);
  const ms = performance.now() - t0;
  await ds.close();
  process.stdout.write(JSON.stringify({ ms, maxRssMb: process.resourceUsage().maxRSS / 1024, levels: info.levels }));
}

async function buildInChild(datasetFile: string, imageId: number): Promise<{ ms: number; maxRssMb: number; levels: number }> {
  const self = fileURLToPath(import.meta.url);
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [...process.execArgv, self, '--child-build', datasetFile, '--image-id', String(imageId)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.on('error', reject);
    p.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as { ms: number; maxRssMb: number; levels: number }) : reject(new Error(`pyramid build exited with ${code}`))));
  });
}

interface PageGlobals {
  __tesseraCanvas?: { load(url: string): Promise<boolean> };
  __frames?: number[];
  __recording?: boolean;
  requestAnimationFrame(cb: (t: number) => void): number;
}

async function recordFrames(page: Page, drive: () => Promise<void>): Promise<number[]> {
  await page.evaluate(() => {
    const g = globalThis as unknown as PageGlobals;
    // Each recording has its own array, so the loop of a previous one (still waiting for its last
    // frame) cannot add its timestamps here.
    const frames: number[] = [];
    g.__frames = frames;
    g.__recording = true;
    const tick = (t: number): void => {
      if (!g.__recording || g.__frames !== frames) return;
      frames.push(t);
      g.requestAnimationFrame(tick);
    };
    g.requestAnimationFrame(tick);
  });
  await drive();
  const stamps = await page.evaluate(() => {
    const g = globalThis as unknown as PageGlobals;
    g.__recording = false;
    return g.__frames!;
  });
  const gaps: number[] = [];
  for (let i = 1; i < stamps.length; i++) gaps.push(stamps[i]! - stamps[i - 1]!);
  return gaps;
}

/** Fit is about 5 %; 28 wheel notches of 1.15 take it past 100 %, through every pyramid level. */
const NOTCHES = 28;
/** Where the wheel zooms, as fractions of the viewer's width and height. */
const ZOOM_AT = { x: 0.45, y: 0.5 };

interface Gestures {
  panFit: number[];
  zoomIn: number[];
  panDeep: number[];
  zoomOut: number[];
  deepZoom: number;
}

async function gestures(page: Page, box: Viewport, steps: number): Promise<Gestures> {
  await page.getByTestId('viewer-fit').click();
  await page.waitForTimeout(300);
  const panFit = await recordFrames(page, () => pan(page, box, steps));
  await page.getByTestId('viewer-fit').click();
  await page.waitForTimeout(300);
  const zoomIn = await recordFrames(page, () => zoom(page, box, NOTCHES, ZOOM_AT));
  const deepZoom = Number(await page.getByTestId('viewer').getAttribute('data-zoom'));
  const panDeep = await recordFrames(page, () => pan(page, box, steps));
  const zoomOut = await recordFrames(page, () => zoom(page, box, -NOTCHES, ZOOM_AT));
  return { panFit, zoomIn, panDeep, zoomOut, deepZoom };
}

interface Memory {
  heapMb: number;
  rendererRssMb: number | null;
}

/** The JS heap (CDP Performance) and the RSS of the page's renderer process (Linux /proc). */
async function memory(browser: Browser, page: Page): Promise<Memory> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send('HeapProfiler.collectGarbage');
  await cdp.send('Performance.enable');
  const { metrics } = await cdp.send('Performance.getMetrics');
  const heap = metrics.find((m) => m.name === 'JSHeapUsedSize')?.value ?? 0;
  await cdp.detach();
  let rss: number | null = null;
  try {
    const bcdp = await browser.newBrowserCDPSession();
    const info = (await bcdp.send('SystemInfo.getProcessInfo')) as { processInfo: { type: string; id: number }[] };
    await bcdp.detach();
    for (const p of info.processInfo.filter((q) => q.type === 'renderer')) {
      const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${p.id}/status`, 'utf8'));
      if (m) rss = Math.max(rss ?? 0, Number(m[1]) / 1024);
    }
  } catch {
    rss = null;
  }
  return { heapMb: heap / 2 ** 20, rendererRssMb: rss };
}

const stageAttr = async (page: Page, name: string): Promise<number> => Number(await page.locator('[data-testid="viewer"] .stage').getAttribute(name));

async function main(): Promise<void> {
  if (values['child-build']) return childBuild(values['child-build'], Number(values['image-id']));
  if (!fs.existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM} (set CHROMIUM=...)`);
  if (!fs.existsSync(path.join(staticDir, 'index.html'))) {
    log('building the renderer (out/renderer is missing)...');
    execFileSync('npx', ['electron-vite', 'build'], { cwd: repoRoot, stdio: 'inherit' });
  }
  const runs = Math.max(1, Number(values.runs));
  const loadAtStart = os.loadavg()[0]!;
  if (!fs.existsSync(IMAGE)) {
    log(`generating ${IMAGE} (${SIDE}x${SIDE}, once)...`);
    const t = performance.now();
    await makeImage();
    log(`  ${((performance.now() - t) / 1000).toFixed(1)} s`);
  }
  const fileMb = fs.statSync(IMAGE).size / 2 ** 20;

  const app = await startApp({ tmpPrefix: 'tessera-large-bench-', version: 'bench' });
  const { tmp, server } = app;
  try {
    const h = server.workspace.handlers;
    const datasetFile = path.join(tmp, 'large.tessera');
    await h['dataset:create']({ path: datasetFile, root: IMAGE_DIR });
    await h['images:import']({ jobId: 'bench', paths: [IMAGE], recursive: false, allowOutsideRoot: false });
    const imageId = (await h['images:list']({ filter: {}, offset: 0, limit: 10 })).items[0]!.id;

    log('building the tile pyramid (separate process)...');
    const build = await buildInChild(datasetFile, imageId);
    log(`  ${(build.ms / 1000).toFixed(1)} s, peak RSS ${build.maxRssMb.toFixed(0)} MB`);

    const browser = await app.browser();
    const newPage = (): Promise<{ page: Page; errors: string[] }> => openBenchPage(browser, server, VIEWPORT);
    const openFromGrid = async (page: Page): Promise<{ firstMs: number; completeMs: number }> => {
      const cell = page.locator(`[data-testid="grid-cell"][data-image-id="${imageId}"]`);
      await cell.waitFor({ timeout: 90_000 });
      await page.waitForTimeout(300);
      const t0 = performance.now();
      await cell.click();
      await page.locator(`[data-testid="viewer"][data-ready="true"][data-image-id="${imageId}"]`).waitFor({ timeout: 60_000 });
      const firstMs = performance.now() - t0;
      await page.waitForFunction(() => (globalThis as unknown as { document: { querySelector(s: string): { getAttribute(n: string): string | null } | null } }).document.querySelector('[data-testid="viewer"] .stage')?.getAttribute('data-tiles-pending') === '0', null, { polling: 'raf', timeout: 60_000 });
      return { firstMs, completeMs: performance.now() - t0 };
    };

    // Tiled: each open in a fresh browser context, so no tile comes from the HTTP cache.
    const opens: { firstMs: number; completeMs: number }[] = [];
    const tiledFrames: Gestures[] = [];
    const tiledMem: Memory[] = [];
    let tileStats = { cached: 0, bytesMb: 0, requested: 0 };
    const errors: string[] = [];
    for (let r = 0; r < runs; r++) {
      log(`tiled: open ${r + 1}/${runs}...`);
      const { page, errors: e } = await newPage();
      opens.push(await openFromGrid(page));
      if (r === 0) {
        const box = (await page.locator('[data-testid="viewer"] .stage').boundingBox())!;
        tiledMem.push(await memory(browser, page));
        log('tiled: pan and zoom across every level...');
        tiledFrames.push(await gestures(page, box, 120));
        await page.waitForTimeout(500);
        tiledMem.push(await memory(browser, page));
        // Again: memory that is bounded levels off, however far one pans and zooms.
        for (let i = 1; i < Math.max(2, Number(values.rounds)); i++) {
          await gestures(page, box, 120);
          await page.waitForTimeout(500);
          tiledMem.push(await memory(browser, page));
        }
        tileStats = { cached: await stageAttr(page, 'data-tiles-cached'), bytesMb: (await stageAttr(page, 'data-tile-bytes')) / 2 ** 20, requested: await stageAttr(page, 'data-tiles-requested') };
      }
      errors.push(...e);
      await page.context().close();
    }

    // Baseline: the same image through the viewer's one-bitmap path (what small images use).
    log('baseline: the same image as one bitmap (may fail or take long)...');
    const limitMs = Number(values['baseline-timeout']) * 1000;
    let baseline: { openMs: number; frames: Gestures | null; mem: Memory | null; failure: string | null } = { openMs: NaN, frames: null, mem: null, failure: null };
    {
      const { page } = await newPage();
      await openFromGrid(page);
      const t0 = performance.now();
      const outcome = await Promise.race([
        page
          .evaluate((url) => (globalThis as unknown as PageGlobals).__tesseraCanvas!.load(url).then(() => 'ok', (e: Error) => `failed: ${e.message}`), `/media/view/${imageId}`)
          .catch((e: Error) => `page failed: ${e.message.split('\n')[0]}`),
        new Promise<string>((r) => setTimeout(() => r(`not open after ${limitMs / 1000} s`), limitMs)),
      ]);
      const openMs = performance.now() - t0;
      if (outcome === 'ok') {
        const mem = await memory(browser, page);
        log('baseline: pan and zoom (shorter gestures)...');
        const box = (await page.locator('[data-testid="viewer"] .stage').boundingBox())!;
        const frames = await Promise.race([gestures(page, box, 30), new Promise<null>((r) => setTimeout(() => r(null), limitMs))]);
        baseline = { openMs, frames, mem, failure: frames ? null : `gestures did not finish within ${limitMs / 1000} s` };
      } else {
        baseline = { openMs, frames: null, mem: null, failure: outcome };
      }
      await page.context().close().catch(() => {});
    }

    const all = (g: Gestures) => [...g.panFit, ...g.zoomIn, ...g.panDeep, ...g.zoomOut];
    const fr = (xs: number[] | undefined) => (!xs || xs.length === 0 ? 'n/a' : `${pct(xs, 50).toFixed(1)} / ${pct(xs, 95).toFixed(1)} ms`);
    const mb = (v: number | null | undefined) => (v === null || v === undefined ? 'n/a' : `${v.toFixed(0)} MB`);
    const t = tiledFrames[0]!;
    const b = baseline.frames;
    const ratio = (x: number, y: number) => (Number.isFinite(x) && Number.isFinite(y) && x > 0 ? `${(y / x).toFixed(1)}x` : '');
    const firstMed = median(opens.map((o) => o.firstMs));
    const completeMed = median(opens.map((o) => o.completeMs));
    const baseCell = (s: string) => (baseline.failure && !b ? '—' : s);
    const rows: [string, string, string, string, string][] = [
      ['pyramid build (900 MP JPEG → 256 px JPEG tiles)', `${(build.ms / 1000).toFixed(1)} s`, 'none needed', '', 'background job'],
      ['  builder peak RSS', `${build.maxRssMb.toFixed(0)} MB`, '', '', 'bounded'],
      [`open from the grid → first view, median of ${runs}`, `${firstMed.toFixed(0)} ms`, baseline.failure && !b ? `cannot open: ${baseline.failure} (after ${(baseline.openMs / 1000).toFixed(1)} s)` : `${baseline.openMs.toFixed(0)} ms`, baseline.failure ? '' : ratio(firstMed, baseline.openMs), '≤ 1 s'],
      [`  → every visible tile at the right level, median`, `${completeMed.toFixed(0)} ms`, '', '', ''],
      ['pan at fit, frame p50 / p95', fr(t.panFit), baseCell(fr(b?.panFit)), '', 'p95 ≤ 33 ms'],
      [`zoom in by wheel (fit → ${Math.round(t.deepZoom * 100)} %)`, fr(t.zoomIn), baseCell(fr(b?.zoomIn)), '', 'p95 ≤ 33 ms'],
      [`pan at ${Math.round(t.deepZoom * 100)} %`, fr(t.panDeep), baseCell(fr(b?.panDeep)), '', 'p95 ≤ 33 ms'],
      ['zoom out by wheel', fr(t.zoomOut), baseCell(fr(b?.zoomOut)), '', 'p95 ≤ 33 ms'],
      ['all pan and zoom frames', fr(all(t)), baseCell(fr(b ? all(b) : undefined)), b ? ratio(pct(all(t), 95), pct(all(b), 95)) : '', 'p95 ≤ 33 ms'],
      [`renderer JS heap after open / after each of ${tiledMem.length - 1} gesture rounds`, tiledMem.map((m) => mb(m.heapMb)).join(' / '), baseCell(mb(baseline.mem?.heapMb)), '', 'bounded'],
      [`renderer process RSS after open / after each gesture round`, tiledMem.map((m) => mb(m.rendererRssMb)).join(' / '), baseCell(mb(baseline.mem?.rendererRssMb)), baseline.mem?.rendererRssMb && tiledMem[1]?.rendererRssMb ? ratio(tiledMem[1].rendererRssMb, baseline.mem.rendererRssMb) : '', 'bounded'],
      ['decoded tiles held after gestures', `${tileStats.cached} (${tileStats.bytesMb.toFixed(0)} MB), ${tileStats.requested} fetched`, baseCell('one 900 MP bitmap'), '', ''],
    ];
    if (values.json) {
      process.stdout.write(`${JSON.stringify({ rows, build, opens, tiledFrames, tiledMem, baseline, errors }, null, 2)}\n`);
    } else {
      printTable(['metric', 'tiled (project)', 'one bitmap (baseline)', 'ratio', 'target'], rows);
      console.log(
        `\n${SIDE}x${SIDE} RGB JPEG, ${fileMb.toFixed(0)} MB, at ${IMAGE}. Chromium ${browser.version()} headless, --disable-gpu ` +
          `(software raster), viewport ${VIEWPORT.width}x${VIEWPORT.height}. Frames: requestAnimationFrame intervals during ` +
          `each gesture (Playwright mouse drag and wheel), p50 / p95. Open: click in the grid → viewer ready (first view) ` +
          `and → no tile pending; each open in a fresh browser context (no HTTP cache). Ratio: baseline / project. ` +
          loadNote(loadAtStart),
      );
    }
    reportPageErrors(errors);
  } finally {
    await app.close();
  }
}

runBench(main);
