import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { startWebServer, type WebServer } from '../../src-main/web/server';
import { repoRoot, sharedDir } from './shared';

/**
 * What the end-to-end tests and the canvas benchmark share: the real renderer served in browser
 * mode by the real services, driven through Chromium. No vitest import here, so the benchmark
 * (run by tsx) can use it too.
 */

// An environment override, so a machine with Chromium elsewhere can still run the bench.
export const CHROMIUM = process.env['CHROMIUM'] ?? '/usr/bin/chromium';
export const staticDir = path.join(repoRoot, 'out', 'renderer');

/** Headless and software-rendered: the same on a CI box as on a laptop. */
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'];

export interface Prerequisites {
  /** Why the browser test cannot run (everything missing, joined), or null when it can. */
  reason: string | null;
  /** Skip the browser test: only outside CI, where a missing prerequisite is not a failure. */
  skip: boolean;
  /** Call first in the browser test: under CI a missing prerequisite must fail, not skip. */
  assertPresent(): void;
}

/**
 * Checks for Chromium and any data the test needs (`needs`: a path that must exist and what it is
 * called in the message). Outside CI a missing prerequisite skips and says why, once, under the
 * test's `label`.
 */
export function chromiumOrSkip(label: string, needs: readonly { path: string; what: string }[] = []): Prerequisites {
  const missing = needs.filter((n) => !fs.existsSync(n.path)).map((n) => `${n.what} not found at ${n.path}`);
  if (!fs.existsSync(CHROMIUM)) missing.push(`Chromium not found at ${CHROMIUM}`);
  const reason = missing.length > 0 ? missing.join('; ') : null;
  const skip = reason !== null && !process.env['CI'];
  if (skip) console.log(`[e2e/${label}] skipping the browser test: ${reason}`);
  return {
    reason,
    skip,
    assertPresent() {
      if (reason) throw new Error(`prerequisite missing under CI: ${reason}`);
    },
  };
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}

/**
 * Opens the app: a fresh one-time URL first (its token is traded for the session cookie), then
 * `?hooks=1` if asked.
 */
export async function openApp(page: Page, server: WebServer, opts: { hooks?: boolean } = {}): Promise<void> {
  await page.goto(server.newUrl());
  // `?hooks=1` hands the viewer to page.evaluate; the token is already in the cookie.
  if (opts.hooks) await page.goto(`http://127.0.0.1:${server.port}/?hooks=1`);
}

/** Every uncaught page error and console error, so a test can require there were none. */
export function collectPageErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`${m.text()} (${m.location().url})`);
  });
  return errors;
}

export interface App {
  /** A fresh temporary folder (the server's config lives in `config/` under it); close() removes it. */
  tmp: string;
  /**
   * The app's settings folder: a workspace preparing data for the test over this folder is the
   * same user, so folders outside a dataset's root it imports from are allowed in the app too.
   */
  configDir: string;
  server: WebServer;
  /** Chromium, launched on first call; close() closes it. */
  browser(): Promise<Browser>;
  /** A page in a fresh context with the app open and its errors collected. */
  newPage(opts: { viewport: { width: number; height: number }; hooks?: boolean }): Promise<{ page: Page; pageErrors: string[] }>;
  close(): Promise<void>;
}

/** Throws unless the renderer is built: the e2e tests serve `out/renderer`, they do not build it. */
export function requireRenderer(): void {
  if (!fs.existsSync(path.join(staticDir, 'index.html'))) {
    throw new Error(`${staticDir}/index.html is missing: run \`npm run build\` before the e2e tests`);
  }
}

/**
 * The built renderer served with the real services, over a config folder of its own. Paths are
 * confined to the temporary folder, ../shared and any further `roots`.
 */
export async function startApp(opts: { tmpPrefix: string; version?: string; roots?: readonly string[] }): Promise<App> {
  requireRenderer();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), opts.tmpPrefix));
  let server: WebServer;
  try {
    server = await startWebServer({
      staticDir,
      configDir: path.join(tmp, 'config'),
      version: opts.version ?? '0.0.0-test',
      roots: [tmp, sharedDir, ...(opts.roots ?? [])],
    });
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  let browser: Browser | null = null;
  const app: App = {
    tmp,
    configDir: path.join(tmp, 'config'),
    server,
    async browser() {
      browser ??= await launchChromium();
      return browser;
    },
    async newPage({ viewport, hooks }) {
      const page = await (await (await app.browser()).newContext({ viewport })).newPage();
      const pageErrors = collectPageErrors(page);
      await openApp(page, server, { hooks: hooks ?? false });
      return { page, pageErrors };
    },
    async close() {
      await browser?.close();
      await server.close();
      fs.rmSync(tmp, { recursive: true, force: true });
    },
  };
  return app;
}

/** Creates a dataset from the start screen; resolves once the dataset is open. */
export async function createDatasetViaUi(page: Page, file: string): Promise<void> {
  await page.getByTestId('new-dataset-path').fill(file);
  await page.getByTestId('create-dataset').click();
  await page.getByTestId('import-open').waitFor();
}

/** Page coordinates of an image pixel, through the viewer's own transform (exposed with ?hooks=1). */
export async function toPage(page: Page, x: number, y: number): Promise<{ x: number; y: number }> {
  const stage = await page.evaluate(
    ([px, py]) => {
      const viewer = (globalThis as unknown as { __tesseraCanvas: { imageToStage(p: { x: number; y: number }): { x: number; y: number } } })
        .__tesseraCanvas;
      return viewer.imageToStage({ x: px!, y: py! });
    },
    [x, y],
  );
  const box = (await page.locator('[data-testid="viewer"] .stage').boundingBox())!;
  return { x: box.x + stage.x, y: box.y + stage.y };
}

/** Moves the mouse to an image pixel (through the viewer's transform), in `steps` moves. */
export async function mouseTo(page: Page, x: number, y: number, steps = 1): Promise<void> {
  const p = await toPage(page, x, y);
  await page.mouse.move(p.x, p.y, { steps });
}

/** A left click at an image pixel. */
export async function clickAt(page: Page, x: number, y: number): Promise<void> {
  await mouseTo(page, x, y);
  await page.mouse.down();
  await page.mouse.up();
}

/** A left drag between two image pixels, in `steps` moves. */
export async function dragImage(page: Page, from: [number, number], to: [number, number], steps = 8): Promise<void> {
  await mouseTo(page, from[0], from[1]);
  await page.mouse.down();
  await mouseTo(page, to[0], to[1], steps);
  await page.mouse.up();
}

/** The viewer's zoom (image pixels to CSS pixels), as it publishes it. */
export const zoomOf = async (page: Page): Promise<number> => Number(await page.getByTestId('viewer').getAttribute('data-zoom'));

/** Waits until the viewer has every edit answered and applied (its shapes and handles are the stored ones). */
export async function settled(page: Page): Promise<void> {
  await page.locator('[data-testid="viewer"][data-saving="false"]').waitFor({ timeout: 15_000 });
}

/** How many annotations the viewer shows, as it publishes it. */
export const annotationCount = async (page: Page): Promise<number> => Number(await page.getByTestId('viewer').getAttribute('data-annotations'));

/**
 * Grid thumbnails really decoded, not just an <img> put there. (A function, not a string: the
 * page's CSP forbids eval, which string predicates need.)
 */
export const decodedThumbs = (page: Page): Promise<number> =>
  page.locator('[data-testid="grid-cell"] img').evaluateAll(
    (imgs) =>
      imgs.filter((el) => {
        const img = el as unknown as { complete: boolean; naturalWidth: number };
        return img.complete && img.naturalWidth > 0;
      }).length,
  );

