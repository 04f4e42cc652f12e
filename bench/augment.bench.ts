/**
 * Augmentation benchmark (`npm run bench:augment`): images written per second by an export that
 * augments the train split (3 outputs per train image: flip, rotation, scale/crop, brightness and
 * contrast, noise), beside a plain export of the same images (copies), on the 32 coco_tinycoco
 * images (COCO polygons and RLE masks) imported into a temporary dataset, every image in train.
 * YOLO segment output. Medians over --runs (default 3) exports of each, alternating, after one
 * warm-up each. Options: --runs N, --json
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { recipeSchema } from '../src-main/common/augment/recipe';
import { Dataset } from '../src-main/services/dataset';
import { exportDataset, type ExportOptions } from '../src-main/services/interchange/exportDataset';
import { importDataset } from '../src-main/services/interchange/importDataset';
import { assignSplits } from '../src-main/services/interchange/splits';
import { loadNote, runBench } from './report';
import { median } from './stats';
import { printTable } from './table';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' }, json: { type: 'boolean', default: false } } });
const RUNS = Math.max(1, Number(values.runs));

const recipe = recipeSchema.parse({
  recipe: 1,
  format: 'yolo-seg',
  augment: {
    outputs: 3,
    seed: 42,
    steps: [
      { op: 'flip', horizontal: 0.5 },
      { op: 'rotate', p: 0.5, degrees: [-15, 15] },
      { op: 'scaleCrop', p: 0.5, scale: [0.8, 1.2] },
      { op: 'brightness', p: 0.5, factor: [0.8, 1.2] },
      { op: 'contrast', p: 0.5, factor: [0.8, 1.2] },
      { op: 'noise', p: 0.3, sigma: [2, 8] },
    ],
  },
});

runBench(async () => {
  const load0 = os.loadavg()[0]!;
  const tiny = path.resolve(import.meta.dirname, '..', '..', 'shared', 'datasets', 'coco_tinycoco');
  if (!fs.existsSync(tiny)) {
    console.log(`skipped: ${tiny} is not present`);
    return;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-bench-augment-'));
  const ds = await Dataset.create(path.join(dir, 'd.tessera'), dir);
  try {
    await importDataset(ds, { path: tiny, format: 'coco', allowOutsideRoot: true });
    await assignSplits(ds, { ratios: [1, 0, 0], seed: 1, stratify: false, only: 'all' });
    const base: ExportOptions = { outDir: '', format: 'yolo-seg', only: 'all', withPredictions: false, images: 'copy', strict: false, cocoSegmentation: 'polygon' };
    const kinds = {
      plain: base,
      augmented: { ...base, recipe: { preprocess: recipe.preprocess, augment: recipe.augment } },
    } as const;
    const rates: Record<keyof typeof kinds, number[]> = { plain: [], augmented: [] };
    /** Augmented copies alone (images written less the originals) per second. */
    const copies: number[] = [];
    const written: Record<keyof typeof kinds, number> = { plain: 0, augmented: 0 };
    let n = 0;
    for (let i = 0; i < RUNS + 1; i++) {
      for (const k of ['plain', 'augmented'] as const) {
        const outDir = path.join(dir, `out${n++}`);
        const t0 = performance.now();
        const r = await exportDataset(ds, { ...kinds[k], outDir });
        const s = (performance.now() - t0) / 1000;
        fs.rmSync(outDir, { recursive: true, force: true });
        written[k] = r.images;
        if (i > 0) rates[k].push(r.images / s);
        if (i > 0 && k === 'augmented') copies.push((r.images - written.plain) / s);
      }
    }
    const plain = median(rates.plain);
    const aug = median(rates.augmented);
    const copiesPerSec = median(copies);
    const rows = { plainImagesPerSec: plain, augmentedImagesPerSec: aug, augmentedCopiesPerSec: copiesPerSec, ratio: aug / plain, plainImages: written.plain, augmentedImages: written.augmented, runs: RUNS };
    if (values.json) {
      console.log(JSON.stringify(rows));
      return;
    }
    console.log(`coco_tinycoco, every image in train, yolo-seg; medians of ${RUNS} export(s) each after one warm-up`);
    printTable(
      ['export', 'images written', 'images / s (median)', 'ratio'],
      [
        ['plain (copies)', String(written.plain), plain.toFixed(1), '1.00'],
        ['augmented, 3 outputs per train image', String(written.augmented), aug.toFixed(1), (aug / plain).toFixed(2)],
      ],
    );
    console.log(`augmented copies alone (${written.augmented - written.plain} per export): ${copiesPerSec.toFixed(1)} / s`);
    console.log(loadNote(load0));
  } finally {
    await ds.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
