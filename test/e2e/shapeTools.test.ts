import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import sharp from 'sharp';
import type { Page } from 'playwright-core';
import type { Geometry } from '../../src-main/common/model';
import { chromiumOrSkip, createDatasetViaUi, startApp, type App, toPage, mouseTo, clickAt, dragImage, zoomOf, annotationCount, settled } from '../helpers/browser';

/**
 * The rotated box, polyline and ellipse tools in the real renderer (browser mode, real services,
 * Chromium): draw a rotated box, resize it by a handle, rotate it by its knob with Shift (15
 * degree snapping), draw a polyline and an ellipse, export YOLO-OBB from the Export panel and
 * compare the corners written with corners computed here; then undo every step.
 */
const W = 400;
const H = 300;
const DEG = Math.PI / 180;

const prerequisites = chromiumOrSkip('shapeTools');

type Obb = Extract<Geometry, { kind: 'obb' }>;

function rows(file: string): { kind: string; class_id: number | null; g: Geometry }[] {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    const all = db.prepare('SELECT kind, class_id, geometry FROM annotations ORDER BY id').all() as { kind: string; class_id: number | null; geometry: string }[];
    return all.map((r) => ({ kind: r.kind, class_id: r.class_id, g: JSON.parse(r.geometry) as Geometry }));
  } finally {
    db.close();
  }
}

const obbRow = (file: string): Obb | null => (rows(file).find((r) => r.kind === 'obb')?.g as Obb | undefined) ?? null;

/** The corners of a rotated box, from its centre, sizes and angle (y down: a positive angle turns clockwise on screen). */
function corners(cx: number, cy: number, w: number, h: number, angle: number): [number, number][] {
  const c = Math.cos(angle);
  const s = Math.sin(angle);
  return [
    [-w / 2, -h / 2],
    [w / 2, -h / 2],
    [w / 2, h / 2],
    [-w / 2, h / 2],
  ].map(([u, v]) => [cx + u! * c - v! * s, cy + u! * s + v! * c]);
}

describe('shape tools in the browser', () => {
  let app: App | null = null;

  beforeAll(async () => {
    app = await startApp({ tmpPrefix: 'tessera-shapes-e2e-' });
    fs.mkdirSync(path.join(app.tmp, 'imgs'));
    await sharp({ create: { width: W, height: H, channels: 3, background: { r: 60, g: 90, b: 110 } } })
      .png()
      .toFile(path.join(app.tmp, 'imgs', 'scene.png'));
  });

  afterAll(async () => {
    await app?.close();
  });

  it.skipIf(prerequisites.skip)('draws, resizes and rotates a rotated box, draws and bends a polyline, draws an ellipse, exports YOLO-OBB with the expected corners, and undoes each step', async () => {
    prerequisites.assertPresent();
    const { tmp } = app!;
    const { page, pageErrors } = await app!.newPage({ viewport: { width: 1400, height: 900 }, hooks: true });
    const file = path.join(tmp, 'shapes.tessera');
    await createDatasetViaUi(page, file);
    await page.getByTestId('import-open').click();
    await page.getByTestId('import-paths').fill(path.join(tmp, 'imgs'));
    await page.getByTestId('import-start').click();
    await expect.poll(() => page.getByTestId('import-summary').textContent(), { timeout: 30_000 }).toContain('1 imported');
    const openImage = async (): Promise<void> => {
      await page.getByTestId('grid-cell').first().click();
      await page.locator('[data-testid="viewer"][data-ready="true"]').waitFor({ timeout: 30_000 });
    };
    await openImage();
    for (const [i, name] of ['car', 'lane'].entries()) {
      await page.getByTestId('class-new-name').fill(name);
      await page.getByTestId('class-add').click();
      await expect.poll(() => page.getByTestId('class-row').count()).toBe(i + 1);
    }
    await page.getByTestId('tool-select').focus();
    const classIds = (await page.getByTestId('class-row').evaluateAll((els) => els.map((e) => Number(e.getAttribute('data-class-id'))))) as number[];
    await page.keyboard.press('1');

    // Draw: a drag from corner to corner gives a box at angle 0.
    await page.keyboard.press('r');
    await expect.poll(() => page.getByTestId('viewer').getAttribute('data-tool')).toBe('obb');
    await dragImage(page, [100, 80], [260, 160]);
    await expect.poll(() => annotationCount(page)).toBe(1);
    const drawn = obbRow(file)!;
    expect(rows(file)[0]!.class_id).toBe(classIds[0]);
    for (const [got, want] of [
      [drawn.cx, 180],
      [drawn.cy, 120],
      [drawn.w, 160],
      [drawn.h, 80],
    ] as const)
      expect(Math.abs(got - want)).toBeLessThanOrEqual(1);
    expect(drawn.angle).toBe(0);

    // Resize: the east handle 40 px to the right; the west side stays where it was.
    await dragImage(page, [drawn.cx + drawn.w / 2, drawn.cy], [drawn.cx + drawn.w / 2 + 40, drawn.cy + 3]);
    await expect.poll(() => obbRow(file)!.w).not.toBe(drawn.w);
    const resized = obbRow(file)!;
    expect(Math.abs(resized.w - (drawn.w + 40))).toBeLessThanOrEqual(1);
    expect(resized.cx - resized.w / 2).toBeCloseTo(drawn.cx - drawn.w / 2, 1);
    expect([resized.cy, resized.h, resized.angle]).toEqual([drawn.cy, drawn.h, 0]);
    // The stored row can be written before the viewer has the answer; the knob is where the answer puts it.
    await settled(page);

    // Rotate: the knob sits 24 screen px above the top side; dragged with Shift to 32 degrees, it snaps to 30.
    const zoom = await zoomOf(page);
    const knob: [number, number] = [resized.cx, resized.cy - resized.h / 2 - 24 / zoom];
    const reach = resized.h / 2 + 24 / zoom;
    await page.keyboard.down('Shift');
    await dragImage(page, knob, [resized.cx + reach * Math.sin(32 * DEG), resized.cy - reach * Math.cos(32 * DEG)]);
    await page.keyboard.up('Shift');
    await expect.poll(() => obbRow(file)!.angle).not.toBe(0);
    const rotated = obbRow(file)!;
    const degrees = rotated.angle / DEG;
    expect(Math.abs(degrees / 15 - Math.round(degrees / 15))).toBeLessThan(1e-9);
    expect(degrees).toBeCloseTo(30, 9);
    expect([rotated.cx, rotated.cy, rotated.w, rotated.h]).toEqual([resized.cx, resized.cy, resized.w, resized.h]);

    // A polyline (class 2): click points, Enter ends it.
    await page.keyboard.press('Escape');
    await page.keyboard.press('2');
    await page.keyboard.press('l');
    await expect.poll(() => page.getByTestId('viewer').getAttribute('data-tool')).toBe('polyline');
    const linePts = [
      [30, 250],
      [120, 230],
      [200, 280],
    ] as const;
    for (const [x, y] of linePts) await clickAt(page, x, y);
    await page.keyboard.press('Enter');
    await expect.poll(() => annotationCount(page)).toBe(2);
    const line = rows(file).find((r) => r.kind === 'polyline')!;
    expect(line.class_id).toBe(classIds[1]);
    const pts = (line.g as Extract<Geometry, { kind: 'polyline' }>).points;
    expect(pts).toHaveLength(6);
    pts.forEach((c, i) => expect(Math.abs(c - linePts[i >> 1]![i & 1]!)).toBeLessThanOrEqual(1));

    // The select tool drags its middle point; the others stay.
    const linePoints = () => (rows(file).find((r) => r.kind === 'polyline')!.g as Extract<Geometry, { kind: 'polyline' }>).points;
    await page.keyboard.press('v');
    await dragImage(page, [pts[2]!, pts[3]!], [pts[2]! + 10, pts[3]! - 15]);
    await expect.poll(() => linePoints()[2]).not.toBe(pts[2]);
    const bent = linePoints();
    expect(Math.abs(bent[2]! - (pts[2]! + 10))).toBeLessThanOrEqual(1);
    expect(Math.abs(bent[3]! - (pts[3]! - 15))).toBeLessThanOrEqual(1);
    expect([...bent.slice(0, 2), ...bent.slice(4)]).toEqual([...pts.slice(0, 2), ...pts.slice(4)]);

    // An ellipse (class 2): a polygon of the ellipse's area within 1 %.
    await page.keyboard.press('c');
    await expect.poll(() => page.getByTestId('viewer').getAttribute('data-tool')).toBe('ellipse');
    await dragImage(page, [280, 190], [380, 250]);
    await expect.poll(() => annotationCount(page)).toBe(3);
    const ellipse = rows(file).find((r) => r.kind === 'polygon')!.g as Extract<Geometry, { kind: 'polygon' }>;
    const ring = ellipse.parts[0]!;
    let area = 0;
    for (let i = 0; i < ring.length; i += 2) {
      const j = (i + 2) % ring.length;
      area += ring[i]! * ring[j + 1]! - ring[j]! * ring[i + 1]!;
    }
    const xs = ring.filter((_, i) => i % 2 === 0);
    const ys = ring.filter((_, i) => i % 2 === 1);
    // The ellipse's own semi-axes, from its vertices (the drag is only known to within a pixel).
    const a = (Math.max(...xs) - Math.min(...xs)) / 2;
    const b = (Math.max(...ys) - Math.min(...ys)) / 2;
    expect(Math.abs(a - 50)).toBeLessThanOrEqual(1.5);
    expect(Math.abs(b - 30)).toBeLessThanOrEqual(1.5);
    expect(Math.abs(Math.abs(area / 2) - Math.PI * a * b) / (Math.PI * a * b)).toBeLessThan(0.01);

    // The three shapes as drawn (the polyline open, unfilled), with the rotated box selected and its handles.
    await page.keyboard.press('v');
    await clickAt(page, rotated.cx, rotated.cy);
    await page.screenshot({ path: path.join(os.tmpdir(), 'tessera-shape-tools.png') });

    // Export YOLO-OBB from the Export panel.
    await page.keyboard.press('Escape');
    await page.keyboard.press('Escape');
    await page.getByTestId('grid').waitFor();
    await page.getByTestId('export-open').click();
    const outDir = path.join(tmp, 'obb-out');
    await page.getByTestId('export-format').selectOption('yolo-obb');
    await page.getByTestId('export-outdir').fill(outDir);
    await page.getByTestId('export-start').click();
    const summary = page.getByTestId('export-summary');
    await summary.waitFor({ timeout: 60_000 });
    const warnings = Object.fromEntries(
      await summary.getByTestId('export-warning').evaluateAll((trs) => trs.map((tr) => [tr.querySelector('.kind')!.textContent!.trim(), Number(tr.querySelector('.num')!.textContent!.replace(/,/g, ''))])),
    ) as Record<string, number>;
    // The polyline has no place in YOLO-OBB; the ellipse's polygon becomes its bounding box.
    expect(warnings).toEqual({ 'unsupported:polyline': 1, 'polygon→obb': 1 });

    const names = fs.readFileSync(path.join(outDir, 'data.yaml'), 'utf8');
    expect(names).toMatch(/^\s*[01]:\s*"?car"?\s*$/m);
    const lines = fs
      .readFileSync(path.join(outDir, 'labels', 'train', 'scene.txt'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => l.trim().split(/\s+/).map(Number));
    expect(lines).toHaveLength(2);
    const carIndex = /^\s*0:\s*"?car"?\s*$/m.test(names) ? 0 : 1;
    const car = lines.find((l) => l[0] === carIndex)!;
    expect(car).toHaveLength(9);
    const written = [0, 1, 2, 3].map((k) => [car[1 + 2 * k]!, car[2 + 2 * k]!] as const);
    // Expected from the gestures alone: the drawn box (100..260, 80..160), its east side 40 px out, turned 30 degrees.
    const fromGestures = corners(200, 120, 200, 80, 30 * DEG).map(([x, y]) => [x / W, y / H] as const);
    // And exactly, from the stored centre, sizes and angle.
    const fromStored = corners(rotated.cx, rotated.cy, rotated.w, rotated.h, rotated.angle).map(([x, y]) => [x / W, y / H] as const);
    for (let k = 0; k < 4; k++) {
      expect(Math.abs(written[k]![0] - fromGestures[k]![0])).toBeLessThanOrEqual(1.5 / W);
      expect(Math.abs(written[k]![1] - fromGestures[k]![1])).toBeLessThanOrEqual(1.5 / H);
      expect(written[k]![0]).toBeCloseTo(fromStored[k]![0], 6);
      expect(written[k]![1]).toBeCloseTo(fromStored[k]![1], 6);
    }

    // Back in the image, undo takes back each step in turn.
    await page.keyboard.press('Escape');
    await openImage();
    await expect.poll(() => annotationCount(page)).toBe(3);
    await page.getByTestId('tool-select').focus();
    await page.keyboard.press('Control+z');
    await expect.poll(() => rows(file).some((r) => r.kind === 'polygon')).toBe(false);
    await page.keyboard.press('Control+z');
    await expect.poll(() => linePoints()).toEqual(pts);
    await page.keyboard.press('Control+z');
    await expect.poll(() => rows(file).some((r) => r.kind === 'polyline')).toBe(false);
    await page.keyboard.press('Control+z');
    await expect.poll(() => obbRow(file)).toEqual(resized);
    await page.keyboard.press('Control+z');
    await expect.poll(() => obbRow(file)).toEqual(drawn);
    await page.keyboard.press('Control+z');
    await expect.poll(() => rows(file)).toEqual([]);
    await expect.poll(() => annotationCount(page)).toBe(0);
    expect(pageErrors).toEqual([]);
  });
});
