import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import sharp from 'sharp';
import type { ClassRecord, Geometry } from '../../src-main/common/model';
import { insertAnnotations } from '../../src-main/db/annotations';
import { insertModelRun } from '../../src-main/db/modelRuns';
import type { EditorPointerEvent, Overlay, SceneShape } from '../../src-renderer/editor/scene';
import { chromiumOrSkip, startApp, type App } from '../helpers/browser';
import { blobPolygons, columnSpanRle } from '../helpers/scenes';

/**
 * The annotation canvas in the real renderer (browser mode, Chromium): 5,000 polygons and a
 * full-size mask stored in a dataset with a 4000x3000 image, opened through the app (the editor
 * loads them over the contract). Proves from the canvas's own counters that every shape is
 * painted once, that panning and zooming blit cached bitmaps instead of painting the shapes
 * again, that editing, hiding or recolouring one shape repaints one chunk, that the shapes really
 * reach the screen, that handles keep their screen size, and that pointer events arrive in image
 * pixels at two zoom levels and are routed by button (editor, or pan). The `?hooks=1` page handle
 * drives the canvas directly where the editor's own gestures would make the counts depend on it.
 */
const W = 4000;
const H = 3000;
const N_POLYGONS = 5000;

const prerequisites = chromiumOrSkip('canvas');

const PALETTE = ['#e6194b', '#3cb44b', '#4363d8', '#f58231', '#42d4f4'];

/** A full-size mask holding an ellipse. */
function ellipseMask(cx: number, cy: number, rx: number, ry: number): Geometry {
  const rle = columnSpanRle(W, H, (x) => {
    const dx = (x + 0.5 - cx) / rx;
    if (dx * dx >= 1) return null;
    const half = ry * Math.sqrt(1 - dx * dx);
    return [Math.max(0, Math.round(cy - half)), Math.min(H, Math.round(cy + half))];
  });
  return { kind: 'mask', rle };
}

/** A smooth gradient: shapes painted over it are easy to tell from the image in a screenshot. */
async function makeImage(file: string): Promise<void> {
  const px = Buffer.alloc(W * H * 3);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const o = (y * W + x) * 3;
      px[o] = 40 + ((x * 60) / W) | 0;
      px[o + 1] = 60 + ((y * 60) / H) | 0;
      px[o + 2] = 70;
    }
  }
  await sharp(px, { raw: { width: W, height: H, channels: 3 } }).png({ compressionLevel: 1 }).toFile(file);
}

interface Counters {
  staticDraws: number;
  shapesDrawn: number;
  shapeCount: number;
  chunkCount: number;
}

/** Page-side view of what the hook exposes; the root tsconfig has no DOM types. */
interface HookedWindow {
  __tesseraCanvas?: {
    setShapes(s: readonly SceneShape[]): void;
    updateShapes(c: readonly SceneShape[], r: readonly number[]): void;
    setHidden(ids: ReadonlySet<number>): void;
    setLeftButtonPans(pans: boolean): void;
    onPointer(h: (type: string, e: EditorPointerEvent) => void): () => void;
    setOverlay(o: Overlay): void;
    imageToStage(p: { x: number; y: number }): { x: number; y: number };
    load(url: string): Promise<boolean>;
    annotationLayer: { visible(): boolean };
  };
  __pointerLog?: { type: string; e: EditorPointerEvent }[];
  __scene?: SceneShape[];
}

describe('annotation canvas in the renderer', () => {
  let app: App | null = null;

  beforeAll(async () => {
    if (prerequisites.skip) return;
    app = await startApp({ tmpPrefix: 'tessera-canvas-' });
  });

  afterAll(async () => {
    await app?.close();
  });

  it.skipIf(prerequisites.skip)('paints 5,000 polygons once, blits on pan and zoom, repaints one chunk per edit, reports image pixels', async () => {
    prerequisites.assertPresent();
    const { server: srv, tmp } = app!;
    const h = srv.workspace.handlers;
    const imagesDir = path.join(tmp, 'images');
    fs.mkdirSync(imagesDir);
    await makeImage(path.join(imagesDir, 'field.png'));
    await h['dataset:create']({ path: path.join(tmp, 'canvas.tessera'), root: tmp });
    const report = await h['images:import']({ jobId: 'canvas', paths: [imagesDir], recursive: true, allowOutsideRoot: false });
    expect(report.imported).toBe(1);
    const imageId = (await h['images:list']({ filter: {}, offset: 0, limit: 10 })).items[0]!.id;

    const classes: ClassRecord[] = [];
    for (const [i, color] of PALETTE.entries()) classes.push(await h['classes:create']({ name: `class ${i}`, color }));
    // The mask first, in the first class's colour; every tenth polygon a model prediction.
    const geoms = [ellipseMask(1200, 1500, 900, 1200), ...blobPolygons(N_POLYGONS, 7, W, H)];
    const db = srv.workspace.current!.db;
    const run = await insertModelRun(db, { model: 'test-model' });
    const records = geoms.map((geometry, i) => ({
      imageId,
      classId: classes[i % classes.length]!.id,
      geometry,
      ...(i % 10 === 3 ? { source: 'model' as const, modelRunId: run, score: 0.8 } : { source: 'human' as const }),
    }));
    const ids = await insertAnnotations(db, records);
    const shapes: SceneShape[] = geoms.map((geometry, i) => ({
      id: ids[i]!,
      geometry,
      color: PALETTE[i % PALETTE.length]!,
      prediction: records[i]!.source === 'model',
      flagged: false,
    }));

    const { page, pageErrors } = await app!.newPage({ viewport: { width: 1400, height: 900 }, hooks: true });
    await page.getByTestId('grid-cell').first().click();
    await page.locator('[data-testid="viewer"][data-ready="true"]').waitFor({ timeout: 60_000 });

    const stage = page.locator('[data-testid="viewer"] [data-static-draws]');
    const counters = async (): Promise<Counters> => {
      const get = async (name: string) => Number(await stage.getAttribute(name));
      return {
        staticDraws: await get('data-static-draws'),
        shapesDrawn: await get('data-shapes-drawn'),
        shapeCount: await get('data-shape-count'),
        chunkCount: await get('data-chunk-count'),
      };
    };
    // Quiet means: nothing painted for a while, so the zoom has settled and no refresh is pending.
    const quiet = async (): Promise<Counters> => {
      let last = await counters();
      for (;;) {
        await page.waitForTimeout(400);
        const now = await counters();
        if (now.staticDraws === last.staticDraws && now.shapesDrawn === last.shapesDrawn) return now;
        last = now;
      }
    };
    const zoomOf = async (): Promise<number> => Number(await page.getByTestId('viewer').getAttribute('data-zoom'));
    const shot = async (): Promise<{ data: Buffer; width: number }> => {
      const png = await page.screenshot({ clip: (await stage.boundingBox())! });
      const { data, info } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
      return { data, width: info.width };
    };

    // The app loads the image's annotations through the editor and paints each shape once, into
    // its chunk's bitmap, at fit zoom where all of them are on screen.
    await expect.poll(async () => (await counters()).shapeCount, { timeout: 60_000 }).toBe(N_POLYGONS + 1);
    const c1 = await quiet();
    expect(c1.shapesDrawn).toBe(N_POLYGONS + 1);
    expect(c1.chunkCount).toBeGreaterThanOrEqual(10);
    expect(c1.staticDraws).toBe(c1.chunkCount);

    // The shapes reached the screen: compared with the same view with every shape hidden, the
    // mask tints its ellipse and the polygons much of the rest.
    const after = await shot();
    await page.evaluate((all) => (globalThis as unknown as HookedWindow).__tesseraCanvas!.setHidden(new Set(all)), ids);
    await quiet();
    const before = await shot();
    await page.evaluate(() => (globalThis as unknown as HookedWindow).__tesseraCanvas!.setHidden(new Set()));
    const c0 = await quiet();
    // Hiding everything paints nothing; showing it again repaints each polygon once, and the
    // mask's raster, made once for its geometry, is reused.
    expect(c0.shapesDrawn - c1.shapesDrawn).toBe(N_POLYGONS);
    expect(c0.staticDraws - c1.staticDraws).toBe(c1.chunkCount - 1);
    const box = (await stage.boundingBox())!;
    const fit = await zoomOf();
    const origin = { x: (box.width - W * fit) / 2, y: (box.height - H * fit) / 2 };
    const at = (img: { data: Buffer; width: number }, ix: number, iy: number) => {
      const o = (Math.round(origin.y + iy * fit) * img.width + Math.round(origin.x + ix * fit)) * 3;
      return [img.data[o]!, img.data[o + 1]!, img.data[o + 2]!] as const;
    };
    // Mask colour #e6194b at 40 %: red well up, and up against green. A polygon may lie over the
    // sampled point, which only adds its translucent fill.
    const [r0, g0] = at(before, 1200, 1500);
    const [r1, g1] = at(after, 1200, 1500);
    expect(r1 - r0).toBeGreaterThan(30);
    expect(r1 - g1).toBeGreaterThan(r0 - g0 + 40);
    let changed = 0;
    for (let i = 0; i < after.data.length; i += 3) {
      if (Math.abs(after.data[i]! - before.data[i]!) + Math.abs(after.data[i + 1]! - before.data[i + 1]!) + Math.abs(after.data[i + 2]! - before.data[i + 2]!) > 12) changed++;
    }
    const imagePixels = W * fit * H * fit;
    expect(changed / imagePixels).toBeGreaterThan(0.4);
    const c1b = c0;

    // A pan at the same zoom only blits: not one shape painted again.
    const cx = box.x + box.width / 2;
    const cy = box.y + box.height / 2;
    await page.mouse.move(cx, cy);
    await page.mouse.down({ button: 'middle' });
    for (let i = 1; i <= 10; i++) await page.mouse.move(cx + i * 15, cy + i * 8);
    await page.mouse.up({ button: 'middle' });
    const c2 = await quiet();
    expect(c2.staticDraws).toBe(c1b.staticDraws);
    expect(c2.shapesDrawn).toBe(c1b.shapesDrawn);

    // A zoom step blits the old bitmaps until the zoom settles, then repaints each visible chunk
    // once; panning afterwards paints nothing. Without the cache, every frame would paint them all.
    await page.mouse.wheel(0, -100);
    await expect.poll(zoomOf).toBeGreaterThan(fit);
    await page.waitForTimeout(400);
    await page.mouse.down({ button: 'right' });
    for (let i = 1; i <= 10; i++) await page.mouse.move(cx + 150 - i * 20, cy + 80 - i * 10);
    await page.mouse.up({ button: 'right' });
    const c3 = await quiet();
    expect(c3.staticDraws - c2.staticDraws).toBeGreaterThan(0);
    expect(c3.staticDraws - c2.staticDraws).toBeLessThanOrEqual(c1.chunkCount);
    expect(c3.shapesDrawn - c2.shapesDrawn).toBeLessThanOrEqual(N_POLYGONS + 1);

    await page.getByTestId('viewer-fit').click();
    const c4 = await quiet();

    // Moving one polygon repaints the one chunk that holds it.
    const target = shapes[1234]!;
    const ring = (target.geometry as Extract<Geometry, { kind: 'polygon' }>).parts[0]!;
    const moved: SceneShape = { ...target, geometry: { kind: 'polygon', parts: [ring.map((v, i) => v + (i % 2 === 0 ? 3 : -2))] } };
    await page.evaluate((s) => (globalThis as unknown as HookedWindow).__tesseraCanvas!.updateShapes([s], []), moved);
    const c5 = await quiet();
    expect(c5.staticDraws - c4.staticDraws).toBe(1);
    expect(c5.shapesDrawn - c4.shapesDrawn).toBeGreaterThan(0);
    expect(c5.shapesDrawn - c4.shapesDrawn).toBeLessThanOrEqual(400);

    // Hiding it (as the editor does while the shape is dragged on the overlay) repaints that chunk
    // alone as well; removing another shape repaints its chunk.
    await page.evaluate((id) => (globalThis as unknown as HookedWindow).__tesseraCanvas!.setHidden(new Set([id])), target.id);
    const c6 = await quiet();
    expect(c6.staticDraws - c5.staticDraws).toBe(1);
    await page.evaluate((id) => (globalThis as unknown as HookedWindow).__tesseraCanvas!.updateShapes([], [id]), shapes[4000]!.id);
    const c7 = await quiet();
    expect(c7.staticDraws - c6.staticDraws).toBe(1);
    expect(c7.shapeCount).toBe(N_POLYGONS);

    // A scene of new values replaces everything; the same scene sent again with one colour
    // changed (as the editor does when a class is recoloured) repaints only that shape's chunk.
    const rest = shapes.filter((x) => x.id !== shapes[4000]!.id);
    await page.evaluate((all) => {
      const w = globalThis as unknown as HookedWindow;
      w.__scene = all;
      w.__tesseraCanvas!.setShapes(all);
    }, rest);
    const c8 = await quiet();
    expect(c8.shapesDrawn - c7.shapesDrawn).toBe(N_POLYGONS - 1); // the hidden one is not painted
    await page.evaluate(() => {
      const w = globalThis as unknown as HookedWindow;
      w.__tesseraCanvas!.setShapes(w.__scene!.map((x, i) => (i === 77 ? { ...x, color: '#ffffff' } : { ...x })));
    });
    const c9 = await quiet();
    expect(c9.staticDraws - c8.staticDraws).toBe(1);
    expect(c9.shapeCount).toBe(N_POLYGONS);

    // Pointer events in image pixels. The test's own handler records them.
    await page.evaluate(() => {
      const w = globalThis as unknown as HookedWindow;
      w.__pointerLog = [];
      w.__tesseraCanvas!.setLeftButtonPans(false);
      w.__tesseraCanvas!.onPointer((type, e) => w.__pointerLog!.push({ type, e }));
    });
    const takeLog = () =>
      page.evaluate(() => {
        const w = globalThis as unknown as HookedWindow;
        const log = w.__pointerLog!;
        w.__pointerLog = [];
        return log;
      });
    // At fit zoom the image is centred: screen offset and zoom give the expected image point.
    const sx = 300;
    const sy = 250;
    await page.mouse.move(box.x + sx, box.y + sy);
    let log = await takeLog();
    expect(log.at(-1)!.type).toBe('move');
    // data-zoom is rounded to 4 decimals, too coarse for sub-pixel checks across 4000 pixels.
    const fitExact = log.at(-1)!.e.zoom;
    expect(fitExact).toBeCloseTo(fit, 4);
    const o = { x: (box.width - W * fitExact) / 2, y: (box.height - H * fitExact) / 2 };
    expect(log.at(-1)!.e.x).toBeCloseTo((sx - o.x) / fitExact, 1);
    expect(log.at(-1)!.e.y).toBeCloseTo((sy - o.y) / fitExact, 1);
    const q = { x: log.at(-1)!.e.x, y: log.at(-1)!.e.y };

    // Zooming towards the cursor keeps the image point under it; a move of d screen pixels is
    // then d / zoom image pixels.
    for (let i = 0; i < 4; i++) await page.mouse.wheel(0, -100);
    await expect.poll(zoomOf).toBeCloseTo(fit * 1.15 ** 4, 3);
    const z2 = fitExact * 1.15 ** 4;
    await page.mouse.move(box.x + sx + 40, box.y + sy - 30);
    log = await takeLog();
    expect(log.at(-1)!.e.x).toBeCloseTo(q.x + 40 / z2, 1);
    expect(log.at(-1)!.e.y).toBeCloseTo(q.y - 30 / z2, 1);
    expect(log.at(-1)!.e.zoom).toBeCloseTo(z2, 3);

    // The primary button goes to the editor: down and up where it was pressed and released.
    await page.mouse.down();
    await page.mouse.move(box.x + sx + 50, box.y + sy - 30);
    await page.mouse.up();
    log = await takeLog();
    expect(log.map((l) => l.type)).toEqual(['down', 'move', 'up']);
    expect(log[0]!.e.button).toBe(0);
    expect(log[0]!.e.x).toBeCloseTo(q.x + 40 / z2, 1);
    expect(log[2]!.e.x).toBeCloseTo(q.x + 50 / z2, 1);

    // Middle drag, Space + left drag and (when asked) a plain left drag pan instead, and tell the
    // editor nothing; the image moves by the drag.
    const panBy = async (press: () => Promise<void>, release: () => Promise<void>) => {
      await page.mouse.move(box.x + sx, box.y + sy);
      await takeLog();
      await press();
      await page.mouse.move(box.x + sx + 30, box.y + sy + 20, { steps: 3 });
      await release();
      const during = await takeLog();
      await page.mouse.move(box.x + sx + 30, box.y + sy + 20);
      const hover = (await takeLog()).at(-1)!.e;
      return { during, hover };
    };
    const expectPanned = (r: { during: { type: string }[]; hover: EditorPointerEvent }, p: { x: number; y: number }) => {
      expect(r.during).toEqual([]);
      // The image point that was under the cursor followed it.
      expect(r.hover.x).toBeCloseTo(p.x, 1);
      expect(r.hover.y).toBeCloseTo(p.y, 1);
    };
    await page.mouse.move(box.x + sx, box.y + sy);
    const p0 = (await takeLog()).at(-1)!.e;
    expectPanned(await panBy(() => page.mouse.down({ button: 'middle' }), () => page.mouse.up({ button: 'middle' })), p0);
    await page.mouse.move(box.x + sx, box.y + sy);
    const p1 = (await takeLog()).at(-1)!.e;
    expectPanned(
      await panBy(
        async () => {
          await page.keyboard.down('Space');
          await page.mouse.down();
        },
        async () => {
          await page.mouse.up();
          await page.keyboard.up('Space');
        },
      ),
      p1,
    );
    await page.evaluate(() => (globalThis as unknown as HookedWindow).__tesseraCanvas!.setLeftButtonPans(true));
    await page.mouse.move(box.x + sx, box.y + sy);
    const p2 = (await takeLog()).at(-1)!.e;
    expectPanned(await panBy(() => page.mouse.down(), () => page.mouse.up()), p2);


    // A handle keeps its screen size at any zoom: count its white pixels at fit and zoomed in.
    const handleAt = { x: 2000, y: 1500 };
    const handlePixels = async (): Promise<number> => {
      await page.evaluate((p) => {
        (globalThis as unknown as HookedWindow).__tesseraCanvas!.setOverlay({
          selected: [],
          live: [],
          preview: null,
          handles: [{ ...p, kind: 'resize' }],
          marquee: null,
          brush: null,
        });
      }, handleAt);
      await page.waitForTimeout(200);
      const s = await page.evaluate((p) => (globalThis as unknown as HookedWindow).__tesseraCanvas!.imageToStage(p), handleAt);
      const png = await page.screenshot({ clip: { x: box.x + s.x - 15, y: box.y + s.y - 15, width: 30, height: 30 } });
      const { data } = await sharp(png).removeAlpha().raw().toBuffer({ resolveWithObject: true });
      let white = 0;
      for (let i = 0; i < data.length; i += 3) if (data[i]! > 235 && data[i + 1]! > 235 && data[i + 2]! > 235) white++;
      return white;
    };
    await page.getByTestId('viewer-fit').click();
    const atFit = await handlePixels();
    for (let i = 0; i < 4; i++) await page.getByTestId('viewer-zoom-in').click();
    await expect.poll(zoomOf).toBeGreaterThan(fit * 2);
    const zoomedIn = await handlePixels();
    expect(atFit).toBeGreaterThanOrEqual(30);
    expect(Math.abs(zoomedIn - atFit)).toBeLessThanOrEqual(atFit * 0.15);
    expect(pageErrors).toEqual([]);
  });

  it.skipIf(prerequisites.skip)('shows the annotations again after going to another image and back before it was drawn', async () => {
    prerequisites.assertPresent();
    const { server: srv, tmp } = app!;
    const h = srv.workspace.handlers;
    const dir = path.join(tmp, 'two');
    fs.mkdirSync(dir);
    for (const [name, r] of [['a.png', 200], ['b.png', 40]] as const) {
      await sharp({ create: { width: 800, height: 600, channels: 3, background: { r, g: 90, b: 90 } } }).png().toFile(path.join(dir, name));
    }
    await h['dataset:create']({ path: path.join(tmp, 'two.tessera'), root: tmp });
    expect((await h['images:import']({ jobId: 'two', paths: [dir], recursive: true, allowOutsideRoot: false })).imported).toBe(2);
    const [a, b] = (await h['images:list']({ filter: {}, offset: 0, limit: 10 })).items;
    const cls = await h['classes:create']({ name: 'thing', color: '#ffffff' });
    for (const im of [a!, b!]) {
      await h['annotations:edit']({ imageId: im.id, label: 'box', ops: [{ op: 'create', draft: { classId: cls.id, geometry: { kind: 'box', x: 100, y: 100, w: 600, h: 400 } } }] });
    }

    const { page, pageErrors } = await app!.newPage({ viewport: { width: 1000, height: 700 }, hooks: true });
    await page.getByTestId('grid-cell').first().click();
    await page.locator(`[data-testid="viewer"][data-image-id="${a!.id}"][data-ready="true"]`).waitFor({ timeout: 30_000 });
    await expect.poll(() => page.locator('[data-testid="viewer"] [data-shape-count]').getAttribute('data-shape-count')).toBe('1');

    // A -> B -> A in one task: B's pixels cannot be decoded before A is asked for again, so the
    // load of B gives up and the second request for A, the image still on screen, must show the
    // annotations B's load hid.
    const outcome = await page.evaluate(
      async ([ua, ub]) => {
        const v = (globalThis as unknown as HookedWindow).__tesseraCanvas!;
        const toB = v.load(ub);
        const backToA = v.load(ua);
        return { toB: await toB, backToA: await backToA, annotationsShown: v.annotationLayer.visible() };
      },
      [`/media/view/${a!.media}`, `/media/view/${b!.media}`] as const,
    );
    expect(outcome).toEqual({ toB: false, backToA: true, annotationsShown: true });

    // Through the app: to the next image and back; the annotations come back with it.
    await page.getByRole('button', { name: 'Next ›' }).click();
    await page.locator(`[data-testid="viewer"][data-image-id="${b!.id}"]`).waitFor();
    await page.getByRole('button', { name: '‹ Prev' }).click();
    await page.locator(`[data-testid="viewer"][data-image-id="${a!.id}"][data-ready="true"]`).waitFor({ timeout: 30_000 });
    await expect.poll(() => page.evaluate(() => (globalThis as unknown as HookedWindow).__tesseraCanvas!.annotationLayer.visible())).toBe(true);
    expect(pageErrors).toEqual([]);
  });
});
