import fs from 'node:fs';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Role } from '../../src-main/common/team';
import { Workspace } from '../../src-main/services/workspace';
import { addUser, ensureAccounts, setRole } from '../../src-main/team/accounts';
import { startTeamServer, type TeamServer } from '../../src-main/team/server';
import { annotationCount, chromiumOrSkip, collectPageErrors, dragImage, launchChromium, requireRenderer, settled, startApp, staticDir } from '../helpers/browser';
import startPostgres, { freshPgDataset, pgUrl, type PgDataset } from '../helpers/postgres';
import { tempDir } from '../helpers/shared';
import { yolov8nInt8Manifest } from '../helpers/models';
import { openQueue } from '../../src-main/team/queue';
import { ModelRegistry, defaultManifestDir } from '../../src-main/services/models';

/**
 * Team mode in real Chromium against the real team server (`tessera serve`, PostgreSQL): people
 * logged in as different users edit at once, a reviewer sees their work, an image open for
 * editing is view only for the others until it is closed or its lease lapses, and changes reach
 * whoever is looking at the image.
 */
const prerequisites = chromiumOrSkip('team');
const PASSWORD = 'correct horse battery';
/** Short, so a lease left behind lapses within the test. */
const LEASE_SECONDS = 6;

interface Session {
  context: BrowserContext;
  page: Page;
  errors: string[];
}

describe('team mode in the browser', () => {
  let stopPostgres: (() => Promise<void>) | undefined;
  let pgds: PgDataset | null = null;
  let server: TeamServer | null = null;
  let browser: Browser | null = null;
  let root = '';
  /** The server's own settings folder: its model registry. */
  let serverConfig = '';
  /** Image ids by file name. */
  const ids: Record<string, number> = {};
  const sessions: Session[] = [];
  /** The account names, made unique to this run in beforeAll. */
  const U = { ann1: 'ann1', ann2: 'ann2', rita: 'rita', mona: 'mona' };

  beforeAll(async () => {
    if (prerequisites.skip) return;
    requireRenderer();
    // The e2e project has no cluster of its own: this file starts one (or uses TESSERA_TEST_PG_URL).
    stopPostgres = await startPostgres();
    if (!pgUrl()) return;
    root = tempDir('tessera-team-e2e-');
    for (const [i, name] of ['a.png', 'b.png', 'c.png', 'd.png'].entries()) {
      await sharp({ create: { width: 200, height: 150, channels: 3, background: { r: 40 * i, g: 90, b: 160 - 30 * i } } })
        .png()
        .toFile(path.join(root, name));
    }
    pgds = await freshPgDataset('team_e2e');
    // The dataset is made and filled as its owner would, with the services the server runs.
    const owner = new Workspace({ configDir: tempDir(), mode: 'web', version: 'test', emit: () => {} });
    await owner.handlers['dataset:create']({ path: pgds.url, root });
    await owner.handlers['images:import']({ jobId: 'team-e2e', paths: [root], recursive: true, allowOutsideRoot: false });
    await owner.handlers['classes:create']({ name: 'cell' });
    const { items } = await owner.handlers['images:list']({ filter: {}, offset: 0, limit: 10 });
    for (const it of items) ids[path.basename(it.path)] = it.id;
    await owner.handlers['dataset:close']({});
    await owner.dispose();

    server = await startTeamServer({
      url: pgds.url,
      host: '127.0.0.1',
      port: 0,
      staticDir,
      configDir: (serverConfig = tempDir()),
      version: 'test',
      roots: [root],
      leaseSeconds: LEASE_SECONDS,
    });
    const ds = server.dataset;
    await ensureAccounts(ds.db);
    // Accounts belong to the database, not the dataset: names of their own for this run.
    for (const [who, role] of [['ann1', 'annotator'], ['ann2', 'annotator'], ['rita', 'reviewer'], ['mona', 'manager']] as const satisfies readonly (readonly [keyof typeof U, Role])[]) {
      U[who] = `${who}-${pgds.schema.split('_').pop()!}`;
      await addUser(ds.db, U[who], PASSWORD);
      await setRole(ds.db, ds.uuid, U[who], role);
    }
    browser = await launchChromium();
  }, 180_000);

  afterAll(async () => {
    for (const s of sessions) await s.context.close().catch(() => {});
    await browser?.close();
    await server?.close();
    await pgds?.drop();
    await stopPostgres?.();
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  /** The server's origin (its URL without the trailing slash). */
  const base = (): string => server!.url.replace(/\/$/, '');

  /** A browser context of its own (its own cookie), logged in through the server's login page. */
  async function login(user: string): Promise<Session> {
    const context = await browser!.newContext({ viewport: { width: 1400, height: 900 } });
    const page = await context.newPage();
    const errors = collectPageErrors(page);
    await page.goto(`${base()}/login`);
    await page.locator('input[name="user"]').fill(user);
    await page.locator('input[name="password"]').fill(PASSWORD);
    await Promise.all([page.waitForURL(`${base()}/`), page.locator('form button[type="submit"]').click()]);
    // `?hooks=1` hands the viewer to the tests (page coordinates of image pixels).
    await page.goto(`${base()}/?hooks=1`);
    await expect.poll(() => page.getByTestId('team-bar').getAttribute('data-user')).toBe(user);
    const s = { context, page, errors };
    sessions.push(s);
    return s;
  }

  /** Opens an image from the grid and waits until it is drawn. */
  async function openImage(page: Page, name: string): Promise<void> {
    await page.locator(`[data-testid="grid-cell"][data-image-id="${ids[name]}"]`).click();
    await page.locator(`[data-testid="viewer"][data-image-id="${ids[name]}"][data-ready="true"]`).waitFor();
  }

  /** Waits until the image is editable here (its lease is ours), then draws a box. */
  async function drawBox(page: Page, from: [number, number], to: [number, number]): Promise<void> {
    await page.locator('[data-testid="viewer"][data-read-only="false"]').waitFor();
    await page.keyboard.press('b');
    await expect.poll(() => page.getByTestId('viewer').getAttribute('data-tool')).toBe('box');
    await dragImage(page, from, to);
    await settled(page);
  }

  async function back(page: Page): Promise<void> {
    await page.getByTestId('viewer-back').click();
    await page.getByTestId('grid-cell').first().waitFor();
  }

  it.skipIf(prerequisites.skip)('two annotators edit different images at once; a reviewer sees both results', async (ctx) => {
    prerequisites.assertPresent();
    if (!pgUrl()) return ctx.skip();
    const [ann1, ann2] = await Promise.all([login(U.ann1), login(U.ann2)]);
    await expect.poll(() => ann1.page.getByTestId('team-role').textContent()).toBe('annotator');
    await Promise.all([openImage(ann1.page, 'a.png'), openImage(ann2.page, 'b.png')]);
    await Promise.all([drawBox(ann1.page, [20, 20], [90, 80]), drawBox(ann2.page, [100, 40], [180, 120])]);
    expect(await annotationCount(ann1.page)).toBe(1);
    expect(await annotationCount(ann2.page)).toBe(1);
    // Nothing an annotator may not do was asked for on their behalf (the server would have said so).
    for (const s of [ann1, ann2]) expect(await s.page.locator('[data-testid="status-line"] .message.error').allTextContents()).toEqual([]);
    await Promise.all([back(ann1.page), back(ann2.page)]);

    const rita = await login(U.rita);
    for (const name of ['a.png', 'b.png']) {
      await openImage(rita.page, name);
      await expect.poll(() => annotationCount(rita.page)).toBe(1);
      // The reviewer's history of the image names who drew it.
      await expect.poll(() => rita.page.locator('[data-testid="audit-entry"][data-action="annotations:edit"]').first().getAttribute('data-user')).toBe(name === 'a.png' ? U.ann1 : U.ann2);
      await back(rita.page);
    }
    // The login page is served before there is a session: the browser's own favicon request is refused there.
    for (const s of [ann1, ann2, rita]) expect(s.errors.filter((e) => !e.includes('/favicon.ico'))).toEqual([]);
  });

  it.skipIf(prerequisites.skip)('an image open for editing is view only for a second annotator until the first closes it', async (ctx) => {
    prerequisites.assertPresent();
    if (!pgUrl()) return ctx.skip();
    const [first, second] = await Promise.all([login(U.ann1), login(U.ann2)]);
    await openImage(first.page, 'c.png');
    await first.page.locator('[data-testid="viewer"][data-read-only="false"]').waitFor();
    await openImage(second.page, 'c.png');

    const banner = second.page.getByTestId('lease-banner');
    await expect.poll(() => banner.getAttribute('data-holder')).toBe(U.ann1);
    expect(await banner.textContent()).toContain(`Being edited by ${U.ann1} — view only`);
    expect(await second.page.getByTestId('viewer').getAttribute('data-read-only')).toBe('true');
    // No drawing tool, no edit by mouse or key, no "done".
    await second.page.keyboard.press('b');
    expect(await second.page.getByTestId('viewer').getAttribute('data-tool')).not.toBe('box');
    expect(await second.page.getByTestId('tool-box').isDisabled()).toBe(true);
    await dragImage(second.page, [30, 30], [120, 110]);
    await second.page.keyboard.press('Control+Enter');
    expect(await second.page.getByTestId('action-markDone').isDisabled()).toBe(true);
    expect(await annotationCount(second.page)).toBe(0);

    // The first leaves the image: the second gets it for editing without reopening it.
    await back(first.page);
    await banner.waitFor({ state: 'detached' });
    await drawBox(second.page, [30, 30], [120, 110]);
    expect(await annotationCount(second.page)).toBe(1);
    await back(second.page);
  });

  it.skipIf(prerequisites.skip)('a lease its page stops renewing lapses, and the image opens for editing for the next one', async (ctx) => {
    prerequisites.assertPresent();
    if (!pgUrl()) return ctx.skip();
    const [gone, next] = await Promise.all([login(U.ann1), login(U.ann2)]);
    await openImage(gone.page, 'd.png');
    await gone.page.locator('[data-testid="viewer"][data-read-only="false"]').waitFor();
    // The page stops talking, as a frozen tab or a network dropping packets without closing the
    // connection would: its renewals no longer reach the server. (A page closed outright closes
    // its socket, which gives the lease back at once.)
    await gone.page.evaluate(() => {
      WebSocket.prototype.send = () => {};
    });
    await openImage(next.page, 'd.png');
    const opened = Date.now();
    const banner = next.page.getByTestId('lease-banner');
    await expect.poll(() => banner.getAttribute('data-holder')).toBe(U.ann1);
    await next.page.locator('[data-testid="viewer"][data-read-only="false"]').waitFor({ timeout: (LEASE_SECONDS + 10) * 1000 });
    expect(await banner.count()).toBe(0);
    // Not before the lease could lapse (it was renewed at most LEASE_SECONDS / 3 before the page went).
    expect(Date.now() - opened).toBeGreaterThan(((LEASE_SECONDS * 2) / 3) * 1000 - 500);
    await drawBox(next.page, [20, 20], [60, 60]);
    expect(await annotationCount(next.page)).toBe(1);
    await back(next.page);
  });

  it.skipIf(prerequisites.skip)('an edit reaches someone viewing the same image, and their view stays where it was', async (ctx) => {
    prerequisites.assertPresent();
    if (!pgUrl()) return ctx.skip();
    const editor = await login(U.ann1);
    const viewer = await login(U.rita);
    await openImage(editor.page, 'a.png');
    await editor.page.locator('[data-testid="viewer"][data-read-only="false"]').waitFor();
    await openImage(viewer.page, 'a.png');
    await expect.poll(() => annotationCount(viewer.page)).toBe(1);
    await viewer.page.getByTestId('viewer-zoom-in').click();
    const zoom = await viewer.page.getByTestId('viewer').getAttribute('data-zoom');

    await drawBox(editor.page, [120, 20], [190, 70]);
    await expect.poll(() => annotationCount(viewer.page)).toBe(2);
    expect(await viewer.page.getByTestId('viewer').getAttribute('data-zoom')).toBe(zoom);

    // On the grid, the image's count follows the edits made elsewhere.
    await back(viewer.page);
    const count = viewer.page.locator(`[data-testid="grid-cell"][data-image-id="${ids['a.png']}"] .count`);
    await expect.poll(async () => (await count.textContent())?.trim()).toBe('2');
    await drawBox(editor.page, [10, 100], [60, 140]);
    await expect.poll(async () => (await count.textContent())?.trim()).toBe('3');
    await back(editor.page);
  });

  it.skipIf(prerequisites.skip)('a manager splits the images into jobs from the dashboard; each annotator starts on their own job', async (ctx) => {
    prerequisites.assertPresent();
    if (!pgUrl()) return ctx.skip();
    const mona = await login(U.mona);
    await mona.page.getByTestId('team-open').click();
    await mona.page.getByTestId('team-dashboard').waitFor();
    await expect.poll(() => mona.page.getByTestId('team-member').count()).toBe(4);
    for (const user of [U.ann1, U.ann2]) await mona.page.locator(`[data-testid="create-jobs-assignee"][value="${user}"]`).check();
    await mona.page.getByTestId('create-jobs-per-job').fill('2');
    await mona.page.getByTestId('create-jobs-reviewer').selectOption(U.rita);
    await mona.page.getByTestId('create-jobs-submit').click();
    await expect.poll(() => mona.page.getByTestId('dash-job').count()).toBe(2);
    expect(await mona.page.locator('[data-testid="dash-job"]').evaluateAll((rows) => rows.map((r) => `${r.getAttribute('data-assignee')}:${r.getAttribute('data-images')}`).sort())).toEqual([`${U.ann1}:2`, `${U.ann2}:2`].sort());

    // An annotator's grid opens on their job: its two images only.
    const ann2 = await login(U.ann2);
    await expect.poll(() => ann2.page.getByTestId('my-job').count()).toBe(1);
    expect(await ann2.page.getByTestId('my-job').getAttribute('data-images')).toBe('2');
    await expect.poll(() => ann2.page.getByTestId('grid-cell').count()).toBe(2);
    // Marking an image of the job done moves its progress, for the annotator and on the dashboard.
    const first = ann2.page.getByTestId('grid-cell').first();
    const doneId = Number(await first.getAttribute('data-image-id'));
    await first.click();
    await ann2.page.locator(`[data-testid="viewer"][data-image-id="${doneId}"][data-read-only="false"]`).waitFor();
    await ann2.page.getByTestId('action-markDone').click();
    await expect.poll(() => ann2.page.getByTestId('image-status').textContent()).toBe('Done');
    await back(ann2.page);
    await ann2.page.getByTestId('my-jobs-refresh').click();
    await expect.poll(() => ann2.page.getByTestId('my-job').getAttribute('data-done')).toBe('1');
    await mona.page.getByTestId('team-dashboard-refresh').click();
    await expect.poll(() => mona.page.locator(`[data-testid="dash-job"][data-assignee="${U.ann2}"]`).getAttribute('data-done')).toBe('1');
    await expect.poll(() => mona.page.locator(`[data-testid="dash-user"][data-user="${U.ann2}"]`).getAttribute('data-done')).toBe('1');
    await ann2.page.getByTestId('my-job-all').click();
    await expect.poll(() => ann2.page.getByTestId('grid-cell').count()).toBe(4);

    // The reviewer sees both jobs among theirs; an annotator has no dashboard.
    const rita = await login(U.rita);
    await expect.poll(() => rita.page.getByTestId('my-job').count()).toBe(2);
    expect(await ann2.page.getByTestId('team-open').count()).toBe(0);
    expect(await rita.page.getByTestId('team-open').count()).toBe(0);
    expect(await ann2.page.getByTestId('import-open').count()).toBe(0);
    expect(await mona.page.getByTestId('import-open').count()).toBe(1);

    // Log out: back to the login page, and the app is not reachable without logging in again.
    await Promise.all([ann2.page.waitForURL(`${base()}/login`), ann2.page.getByTestId('team-logout').click()]);
    await ann2.page.goto(`${base()}/`);
    expect(new URL(ann2.page.url()).pathname).toBe('/login');
  });

  it.skipIf(prerequisites.skip)('the single-user app shows no team controls, and its Start screen goes to a team server\'s login page', async (ctx) => {
    prerequisites.assertPresent();
    if (!pgUrl()) return ctx.skip();
    const local = await startApp({ tmpPrefix: 'tessera-team-start-' });
    try {
      const { page, pageErrors } = await local.newPage({ viewport: { width: 1400, height: 900 } });
      await page.getByTestId('team-server-url').waitFor();
      expect(await page.getByTestId('team-bar').count()).toBe(0);
      await page.getByTestId('team-server-url').fill('file:///etc/passwd');
      await page.getByTestId('team-connect-submit').click();
      await expect.poll(() => page.getByTestId('team-connect-error').textContent()).toMatch(/http:\/\/ or https:\/\//);
      expect(new URL(page.url()).origin).toBe(`http://127.0.0.1:${local.server.port}`);
      await page.getByTestId('team-server-url').fill(`${base()}/anything`);
      await Promise.all([page.waitForURL(`${base()}/login`), page.getByTestId('team-connect-submit').click()]);
      expect(await page.locator('input[name="user"]').count()).toBe(1);
      expect(pageErrors.filter((e) => !e.includes('/favicon.ico'))).toEqual([]);
    } finally {
      await local.close();
    }
  });

  it.skipIf(prerequisites.skip)('the parts of a run queued for the workers show in the model panel, with their state and worker', async (ctx) => {
    prerequisites.assertPresent();
    if (!pgUrl()) return ctx.skip();
    // Queued as the server queues a manager's run; no worker is running, so every part waits.
    const weights = path.join(root, 'weights.onnx');
    fs.writeFileSync(weights, 'not read when queueing');
    const manifest = yolov8nInt8Manifest(weights);
    const queue = await openQueue(server!.dataset, { models: () => ({ manifest, path: weights }) });
    let runId: number;
    try {
      ({ runId } = await queue.queuePrelabel(server!.dataset, { modelId: manifest.id, scope: { filter: {}, unlabeledOnly: false }, skipLabeled: false, partSize: 3 }, U.mona));
    } finally {
      await queue.close();
    }
    const mona = await login(U.mona);
    await openImage(mona.page, 'a.png');
    await mona.page.getByTestId('run-parts-id').fill(String(runId));
    await mona.page.getByTestId('run-parts-show').click();
    const parts = mona.page.locator(`[data-testid="run-parts"][data-run-id="${runId}"] [data-testid="run-part"]`);
    await expect.poll(() => parts.count()).toBe(2);
    expect(await parts.evaluateAll((rows) => rows.map((r) => `${r.getAttribute('data-part')}:${r.getAttribute('data-state')}:${r.getAttribute('data-worker')}`))).toEqual(['0:queued:', '1:queued:']);
    expect(await mona.page.locator(`[data-testid="run-parts"][data-run-id="${runId}"]`).getAttribute('data-finished')).toBe('false');
  });

  it.skipIf(prerequisites.skip)('a manager queues a pre-labeling on the workers from the model panel, with a model the server has', async (ctx) => {
    prerequisites.assertPresent();
    if (!pgUrl()) return ctx.skip();
    // A model in the server's registry (queueing reads only its manifest; workers read the weights).
    const weights = path.join(root, 'registered.onnx');
    fs.writeFileSync(weights, 'not read when queueing');
    new ModelRegistry({ manifestDir: defaultManifestDir(), configDir: serverConfig }).add(weights, { ...yolov8nInt8Manifest(weights), id: 'e2e-yolo', name: 'E2E YOLO' });
    const mona = await login(U.mona);
    await openImage(mona.page, 'a.png');
    await mona.page.getByTestId('model-select').selectOption('e2e-yolo');
    await mona.page.getByTestId('prelabel-scope').selectOption('all');
    await mona.page.getByTestId('prelabel-queue').click();
    const run = mona.page.locator('[data-testid="worker-runs"] [data-testid="run-parts"]').first();
    await run.waitFor();
    const runId = Number(await run.getAttribute('data-run-id'));
    const stored = (await server!.dataset.db.prepare('SELECT model, parameters FROM model_runs WHERE id = ?').get(runId)) as { model: string; parameters: string };
    expect(stored.model).toBe('e2e-yolo');
    expect(JSON.parse(stored.parameters)).toMatchObject({ queued: true, queuedBy: U.mona, modelFile: weights });
    const parts = run.locator('[data-testid="run-part"]');
    await expect.poll(() => parts.count()).toBe(1);
    expect(await parts.evaluateAll((rows) => rows.map((r) => `${r.getAttribute('data-part')}:${r.getAttribute('data-state')}`))).toEqual(['0:queued']);
    expect(mona.errors).toEqual([]);
  });
});
