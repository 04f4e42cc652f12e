import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { XMLParser } from 'fast-xml-parser';
import { parse as parseYaml } from 'yaml';
import type { Page } from 'playwright-core';
import { chromiumOrSkip, createDatasetViaUi, startApp, type App } from '../helpers/browser';
import { sharedDir } from '../helpers/shared';

/**
 * Dataset interchange through the real renderer in browser mode: a Pascal VOC dataset is checked
 * (dry run) and imported from the Import dialog, split from the Export dialog, and exported as
 * YOLO; what lands on disk is compared with the VOC files it came from.
 */
const vocDir = path.join(sharedDir, 'datasets/bccd_voc');
const EXPECTED_IMAGES = 28;
const SPLIT_NAMES = ['train', 'val', 'test'] as const;

const prerequisites = chromiumOrSkip('interchange', [{ path: path.join(vocDir, 'Annotations'), what: 'VOC dataset' }]);

interface VocImage {
  /** File name without extension, which is also the YOLO label file's. */
  stem: string;
  /** Class name of every object, in file order. */
  labels: string[];
}

/** The ground truth, read independently of the app's own VOC reader. */
function readVoc(dir: string): VocImage[] {
  const parser = new XMLParser({ isArray: (name) => name === 'object' });
  const annDir = path.join(dir, 'Annotations');
  return fs
    .readdirSync(annDir)
    .filter((f) => f.endsWith('.xml'))
    .sort()
    .map((f) => {
      const doc = parser.parse(fs.readFileSync(path.join(annDir, f), 'utf8')) as {
        annotation: { filename: string; object?: { name: string }[] };
      };
      return {
        stem: path.parse(String(doc.annotation.filename)).name,
        labels: (doc.annotation.object ?? []).map((o) => String(o.name)),
      };
    });
}

function counts<T>(items: readonly T[]): Map<T, number> {
  const m = new Map<T, number>();
  for (const x of items) m.set(x, (m.get(x) ?? 0) + 1);
  return m;
}

/** The images given to each split, as the splits result shows them. */
async function splitCounts(page: Page): Promise<Record<(typeof SPLIT_NAMES)[number], number>> {
  const result = page.getByTestId('splits-result');
  const out = { train: -1, val: -1, test: -1 };
  for (const s of SPLIT_NAMES) out[s] = Number(await result.locator(`[data-split="${s}"]`).getAttribute('data-count'));
  return out;
}

describe('dataset interchange in the UI', () => {
  let app: App | null = null;

  beforeAll(async () => {
    app = await startApp({ tmpPrefix: 'tessera-interchange-' });
  });

  afterAll(async () => {
    await app?.close();
  });

  it.skipIf(prerequisites.skip)('checks and imports Pascal VOC, assigns splits and exports YOLO', async () => {
    prerequisites.assertPresent();
    const { tmp } = app!;
    const voc = readVoc(vocDir);
    expect(voc).toHaveLength(EXPECTED_IMAGES);
    const perClass = counts(voc.flatMap((v) => v.labels));
    expect([...perClass.keys()].sort()).toEqual(['Platelets', 'RBC', 'WBC']);

    const { page, pageErrors } = await app!.newPage({ viewport: { width: 1600, height: 1000 } });
    const datasetFile = path.join(tmp, 'blood.tessera');
    await createDatasetViaUi(page, datasetFile);

    // Dry run: the report names the classes (all new here) with their counts, and the images.
    await page.getByTestId('import-open').click();
    await page.getByTestId('import-format').selectOption('voc');
    await page.getByTestId('import-paths').fill(vocDir);
    await page.getByTestId('import-check').click();
    // The images lie outside the dataset root: already the check asks before reading them from
    // there, and that answer stands for the import of the same path.
    const confirm = page.getByTestId('import-confirm-outside');
    await confirm.waitFor({ timeout: 60_000 });
    expect(await confirm.textContent()).toContain('Check with absolute paths');
    await confirm.click();
    const dryRun = page.getByTestId('import-dryrun-report');
    await dryRun.waitFor({ timeout: 60_000 });
    const classRows = dryRun.getByTestId('report-class');
    await expect.poll(() => classRows.count()).toBe(3);
    for (const [name, n] of perClass) {
      const row = dryRun.locator(`[data-testid="report-class"][data-class="${name}"]`);
      expect(await row.textContent()).toMatch(new RegExp(`^${name}\\s*new\\s*${n}$`));
    }
    expect(await dryRun.getByTestId('report-images').textContent()).toBe(`${EXPECTED_IMAGES} images`);
    expect(await dryRun.getByTestId('report-annotations').textContent()).toBe(`${voc.flatMap((v) => v.labels).length} annotations`);
    // Nothing is written by a check.
    expect(await page.getByTestId('image-count').textContent()).toMatch(/^0 images$/);
    await page.screenshot({ path: path.join(os.tmpdir(), 'tessera-import-dryrun.png') });

    await page.getByTestId('import-start').click();
    const summary = page.getByTestId('import-summary');
    await summary.waitFor({ timeout: 90_000 });
    expect(await summary.getByTestId('report-images').textContent()).toBe(`${EXPECTED_IMAGES} images`);
    await page.locator('section[aria-label="Import"]').getByRole('button', { name: 'Close', exact: true }).click();

    await expect
      .poll(() => page.getByTestId('image-count').textContent(), { timeout: 20_000 })
      .toBe(`${EXPECTED_IMAGES} images`);
    await expect.poll(() => page.getByTestId('grid-cell').count()).toBe(EXPECTED_IMAGES);

    // The class filter lists the imported classes and filters by them.
    const withPlatelets = voc.filter((v) => v.labels.includes('Platelets')).length;
    expect(withPlatelets).toBeLessThan(EXPECTED_IMAGES);
    await page.getByTestId('filter-class').selectOption({ label: 'Platelets' });
    await expect.poll(() => page.getByTestId('image-count').textContent()).toBe(`${withPlatelets} images`);
    await expect.poll(() => page.getByTestId('grid-cell').count()).toBe(withPlatelets);
    await page.getByTestId('filter-class').selectOption({ label: 'All' });
    await expect.poll(() => page.getByTestId('image-count').textContent()).toBe(`${EXPECTED_IMAGES} images`);

    // Splits, assigned from the export dialog, show on the grid and in the split filter.
    await page.getByTestId('export-open').click();
    await page.getByTestId('splits-ratios').fill('0.8/0.1/0.1');
    await page.getByTestId('splits-seed').fill('1');
    await page.getByTestId('splits-assign').click();
    await page.getByTestId('splits-result').waitFor({ timeout: 30_000 });
    const assigned = await splitCounts(page);
    expect(assigned.train + assigned.val + assigned.test).toBe(EXPECTED_IMAGES);
    for (const s of SPLIT_NAMES) expect(assigned[s]).toBeGreaterThan(0);
    expect(assigned.train).toBeGreaterThan(assigned.val + assigned.test);
    await expect.poll(() => page.getByTestId('grid-split').count(), { timeout: 20_000 }).toBe(await page.getByTestId('grid-cell').count());
    const badges = await page.getByTestId('grid-split').allTextContents();
    expect(badges.length).toBeGreaterThan(0);
    for (const b of badges) expect(SPLIT_NAMES).toContain(b);
    await page.getByTestId('filter-split').selectOption('val');
    await expect.poll(() => page.getByTestId('image-count').textContent()).toMatch(new RegExp(`^${assigned.val} images?$`));
    await page.getByTestId('filter-split').selectOption('');
    await expect.poll(() => page.getByTestId('image-count').textContent()).toBe(`${EXPECTED_IMAGES} images`);

    // YOLO export.
    const outDir = path.join(tmp, 'yolo-out');
    await page.getByTestId('export-format').selectOption('yolo');
    await page.getByTestId('export-outdir').fill(outDir);
    await page.getByTestId('export-start').click();
    const exported = page.getByTestId('export-summary');
    await exported.waitFor({ timeout: 90_000 });
    expect(await exported.getByTestId('export-summary-images').textContent()).toBe(`${EXPECTED_IMAGES} images`);
    expect(await exported.getByTestId('export-summary-warnings').textContent()).toBe('0 warnings');
    expect(await exported.getByTestId('export-warning').count()).toBe(0);
    expect(await exported.getByTestId('export-summary-outdir').inputValue()).toBe(outDir);
    await page.screenshot({ path: path.join(os.tmpdir(), 'tessera-export-summary.png') });

    // On disk: data.yaml names the classes; one label file per image, in its split's folder,
    // holding one line per VOC object with the right class.
    const data = parseYaml(fs.readFileSync(path.join(outDir, 'data.yaml'), 'utf8')) as { names: string[] | Record<string, string> };
    const names = Array.isArray(data.names)
      ? data.names
      : Object.entries(data.names)
          .sort((a, b) => Number(a[0]) - Number(b[0]))
          .map(([, n]) => n);
    expect([...names].sort()).toEqual(['Platelets', 'RBC', 'WBC']);

    const perSplit = { train: 0, val: 0, test: 0 };
    for (const v of voc) {
      const found = SPLIT_NAMES.filter((s) => fs.existsSync(path.join(outDir, 'labels', s, `${v.stem}.txt`)));
      expect(found, v.stem).toHaveLength(1);
      const split = found[0]!;
      perSplit[split]++;
      const lines = fs
        .readFileSync(path.join(outDir, 'labels', split, `${v.stem}.txt`), 'utf8')
        .split('\n')
        .filter((l) => l.trim().length > 0);
      expect(lines, v.stem).toHaveLength(v.labels.length);
      const classes: string[] = [];
      for (const line of lines) {
        const f = line.trim().split(/\s+/).map(Number);
        expect(f, `${v.stem}: ${line}`).toHaveLength(5);
        const [cls, cx, cy, w, h] = f as [number, number, number, number, number];
        expect(Number.isInteger(cls) && cls >= 0 && cls < names.length).toBe(true);
        classes.push(names[cls]!);
        for (const c of [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]) {
          expect(c).toBeGreaterThanOrEqual(-1e-6);
          expect(c).toBeLessThanOrEqual(1 + 1e-6);
        }
      }
      expect(counts(classes), v.stem).toEqual(counts(v.labels));
      expect(fs.existsSync(path.join(outDir, 'images', split, `${v.stem}.jpg`)), `${v.stem}.jpg copied`).toBe(true);
    }
    expect(perSplit).toEqual(assigned);

    // Auto-detect on a folder of plain images is the image import: these two are already in the
    // dataset, so they come back as duplicates rather than as an error about formats.
    const plain = path.join(tmp, 'plain');
    fs.mkdirSync(plain);
    for (const v of voc.slice(0, 2)) fs.copyFileSync(path.join(vocDir, 'JPEGImages', `${v.stem}.jpg`), path.join(plain, `${v.stem}.jpg`));
    await page.getByTestId('import-open').click();
    await page.getByTestId('import-format').selectOption('auto');
    await page.getByTestId('import-paths').fill(plain);
    await page.getByTestId('import-start').click();
    const plainSummary = page.getByTestId('import-summary');
    await plainSummary.waitFor({ timeout: 30_000 });
    expect(await plainSummary.textContent()).toMatch(/0 imported.*2 duplicates/);
    expect(await page.getByTestId('image-count').textContent()).toBe(`${EXPECTED_IMAGES} images`);
    expect(pageErrors).toEqual([]);
  });
});
