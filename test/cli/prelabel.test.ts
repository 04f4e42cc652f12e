import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../../src-main/cli/main';
import { COCO_STAT_NAMES, type EvalResult } from '../../src-main/common/eval/types';
import { polygonToRle, rleToString } from '../../src-main/common/geometry';
import type { PrelabelSummary } from '../../src-main/common/prelabel';
import { PROVIDERS } from '../../src-main/common/inference/types';
import { repoRoot, sharedPath, tempDir } from '../helpers/shared';
import { withStore } from '../helpers/storeRead';
import { yolov8nInt8Manifest } from '../helpers/models';
import { physicalCores, SPIN_MIN_CORES } from '../../src-main/inference/threads';

const BIN = path.join(repoRoot, 'scripts', 'tessera.mjs');
const model = sharedPath('models/yolov8n_int8.onnx');
const images = sharedPath('datasets/coco_tinycoco/images/train2017');
const NAMES = ['000000397133.jpg', '000000037777.jpg', '000000006818.jpg'];

function tessera(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function newDataset(): { dir: string; db: string } {
  const dir = tempDir();
  const db = path.join(dir, 'd.tessera');
  expect(tessera('init', db, '--root', images!).code).toBe(0);
  expect(tessera('import', db, ...NAMES.map((n) => path.join(images!, n)), '--json').code).toBe(0);
  return { dir, db };
}

describe.runIf(model && images)('tessera prelabel and predictions import', () => {
  it('pre-labels coco_tinycoco images with yolov8n_int8 from a manifest and prints the run summary', async () => {
    const { dir, db } = newDataset();
    const manifest = path.join(dir, 'yolov8n.json');
    fs.writeFileSync(
      manifest,
      JSON.stringify(yolov8nInt8Manifest(model!)),
    );
    const r = tessera('prelabel', db, '--model', manifest, '--conf', '0.3', '--provider', 'cpu', '--json');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const s = JSON.parse(r.out) as PrelabelSummary;
    expect(s).toMatchObject({ images: 3, done: 3, skipped: 0, failed: 0, pending: 0, provider: 'cpu', model: 'yolov8n-int8', cancelled: false });
    expect(s.detections).toBeGreaterThan(3);
    expect(s.msPerImage).toBeGreaterThan(0);

    await withStore(db, async (raw) => {
      const run = await raw.prepare('SELECT * FROM model_runs WHERE id = ?').get(s.runId) as { model: string; provider: string; status: string; parameters: string };
      expect(run).toMatchObject({ model: 'yolov8n-int8', provider: 'cpu', status: 'done' });
      // A command-line run has the machine to itself: one thread per physical core, spinning.
      expect(JSON.parse(run.parameters)).toMatchObject({ conf: 0.3, iou: 0.45, size: [320, 320], providers: ['cpu'], threads: physicalCores(), spinning: physicalCores() >= SPIN_MIN_CORES });
      const rows = await raw.prepare('SELECT source, model_run_id AS run, score, kind FROM annotations').all() as { source: string; run: number; score: number; kind: string }[];
      expect(rows).toHaveLength(s.detections);
      expect(rows.every((x) => x.source === 'model' && x.run === s.runId && x.score >= 0.3 && x.kind === 'box')).toBe(true);
      expect(await raw.prepare("SELECT count(*) FROM model_run_images WHERE run_id = ? AND state = 'done'").pluck().get(s.runId)).toBe(3);
    });

    const text = tessera('prelabel', db, '--model', model!, '--images', 'unlabeled');
    expect(text.code).toBe(0);
    expect(text.out).toMatch(/^run 2: 3 of 3 images pre-labeled \(0 skipped, 0 failed\), \d+ detections, [\d.]+ ms per image, provider cpu/);
  });

  it('runs with the thread settings of --threads and --spin, records them, and refuses bad values naming the flag', async () => {
    const { db } = newDataset();
    const r = tessera('prelabel', db, '--model', model!, '--threads', '1', '--spin', 'off');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/provider cpu \(1 thread, spinning off\)$/m);
    await withStore(db, async (raw) => {
      const params = await raw.prepare('SELECT parameters FROM model_runs ORDER BY id DESC LIMIT 1').pluck().get() as string;
      expect(JSON.parse(params)).toMatchObject({ threads: 1, spinning: false });
    });
    for (const [flag, value, message] of [
      ['--threads', '0', '--threads must be a whole number from 1 to 256, got "0"'],
      ['--threads', '2.5', '--threads must be a whole number from 1 to 256, got "2.5"'],
      ['--threads', 'many', '--threads must be a whole number from 1 to 256, got "many"'],
      ['--spin', 'yes', '--spin must be on or off, got "yes"'],
      ['--images', 'some', '--images must be one of all, unlabeled'],
      ['--provider', 'tpu', `--provider must be one of ${PROVIDERS.join(', ')}`],
    ] as const) {
      const bad = tessera('prelabel', db, '--model', model!, flag, value);
      expect(bad.code).toBe(2);
      expect(bad.err).toBe(`tessera: INVALID_ARGUMENT: ${message}\n`);
    }
  });

  it('imports COCO results as a model run, matching images by file name', async () => {
    const { dir, db } = newDataset();
    const results = path.join(dir, 'detections_results.json');
    fs.writeFileSync(
      results,
      JSON.stringify([
        { image_id: 397133, category_id: 1, bbox: [389, 70, 109, 278], score: 0.91 },
        { image_id: 397133, category_id: 51, bbox: [31, 344, 68, 41], score: 0.7, segmentation: [[31, 344, 99, 344, 99, 385, 31, 385]] },
        { image_id: 42, category_id: 1, bbox: [1, 1, 5, 5], score: 0.5 },
      ]),
    );
    // The dataset was not imported from COCO: its classes have no category ids to match.
    const refused = tessera('predictions', 'import', db, results, '--name', 'external', '--json');
    expect(refused.code).toBe(2);
    expect(refused.err).toMatch(/detections_results\.json: category ids 1, 51 match nothing in the COCO category ids this dataset remembers .*--allow-new-classes.*Nothing was imported/);
    const r = tessera('predictions', 'import', db, results, '--name', 'external', '--allow-new-classes', '--json');
    expect(r.err).toBe('warning: 2 results of 2 category ids no class matched were imported as new classes: "category 1", "category 51"\n');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ runId: 1, predictions: 2, images: 1, unmatchedImageIds: [42], unmatchedResults: 1, invalid: 0, newCategoryIds: [1, 51], newCategoryResults: 2 });
    await withStore(db, async (raw) => {
      expect(await raw.prepare('SELECT name, status FROM model_runs').all()).toEqual([{ name: 'external', status: 'done' }]);
      const rows = await raw.prepare('SELECT a.kind, a.score, a.source, c.name, i.path FROM annotations a JOIN classes c ON c.id = a.class_id JOIN images i ON i.id = a.image_id ORDER BY a.id').all();
      expect(rows).toEqual([
        { kind: 'box', score: 0.91, source: 'model', name: 'category 1', path: NAMES[0] },
        { kind: 'polygon', score: 0.7, source: 'model', name: 'category 51', path: NAMES[0] },
      ]);
    });
    expect(tessera('predictions', 'import', db, results).code).toBe(2);
  });

  it('with --instances, refuses categories whose names no class has and imports them under those names when allowed', () => {
    const { dir, db } = newDataset();
    const results = path.join(dir, 'results.json');
    const instances = path.join(dir, 'instances.json');
    fs.writeFileSync(results, JSON.stringify([{ image_id: 5, category_id: 1, bbox: [389, 70, 109, 278], score: 0.91 }, { image_id: 5, category_id: 51, bbox: [31, 344, 68, 41], score: 0.7 }]));
    fs.writeFileSync(instances, JSON.stringify({ images: [{ id: 5, file_name: NAMES[0] }], categories: [{ id: 1, name: 'person' }, { id: 51, name: 'bowl' }] }));
    const refused = tessera('predictions', 'import', db, results, '--name', 'external', '--instances', instances);
    expect(refused.code).toBe(2);
    expect(refused.err).toContain(`category ids 1 (person), 51 (bowl) match no class of the dataset by name in ${instances}; pass --allow-new-classes`);
    const r = tessera('predictions', 'import', db, results, '--name', 'external', '--instances', instances, '--allow-new-classes');
    expect(r.err).toBe('warning: 2 results of 2 category ids no class matched were imported as new classes: "person", "bowl"\n');
    expect(r.code).toBe(0);
  });
});

const tiny = sharedPath('datasets/coco_tinycoco');

describe.runIf(tiny)('predictions import keeps RLE masks for segm evaluation', () => {
  /** The CLI in this process, output captured. */
  async function cli(...argv: string[]) {
    const out: string[] = [];
    const err: string[] = [];
    const code = await runCli(argv, { out: (s) => out.push(s), err: (s) => err.push(s), tty: false });
    return { code, out: out.join('\n'), err: err.join('\n') };
  }

  it('scores the ground truth\'s own masks, imported as RLE results, at AP 1 (tessera eval --iou-type segm)', async () => {
    const instances = path.join(tiny!, 'annotations', 'instances_train2017.json');
    const doc = JSON.parse(fs.readFileSync(instances, 'utf8')) as {
      images: { id: number; width: number; height: number }[];
      annotations: { image_id: number; category_id: number; bbox: number[]; iscrowd: number; segmentation: number[][] | { size: [number, number]; counts: number[] } }[];
    };
    const imageOf = new Map(doc.images.map((im) => [im.id, im]));
    // Polygons rasterised and written as compressed RLE strings; crowd regions, already RLE in
    // the file, as their uncompressed counts lists.
    const results = doc.annotations.map((a) => {
      const im = imageOf.get(a.image_id)!;
      const segmentation = Array.isArray(a.segmentation)
        ? ((rle) => ({ size: rle.size, counts: rleToString(rle) }))(polygonToRle(a.segmentation, im.height, im.width))
        : a.segmentation;
      return { image_id: a.image_id, category_id: a.category_id, bbox: a.bbox, score: 1, segmentation };
    });
    expect(results.filter((r) => typeof r.segmentation.counts === 'string')).toHaveLength(284);
    expect(results.filter((r) => Array.isArray(r.segmentation.counts))).toHaveLength(4);

    const dir = tempDir();
    const db = path.join(dir, 'tiny.tessera');
    const file = path.join(dir, 'gt_as_results.json');
    fs.writeFileSync(file, JSON.stringify(results));
    expect((await cli('init', db, '--root', tiny!)).code).toBe(0);
    const imp = await cli('import', db, instances, '--json');
    expect(imp.code, imp.err).toBe(0);
    const pred = await cli('predictions', 'import', db, file, '--name', 'own masks', '--instances', instances, '--json');
    expect(pred.code, pred.err).toBe(0);
    expect(JSON.parse(pred.out)).toMatchObject({ predictions: 288, images: new Set(results.map((x) => x.image_id)).size, unmatchedResults: 0, invalid: 0 });
    await withStore(db, async (raw) => {
      expect(await raw.prepare("SELECT kind, count(*) AS n FROM annotations WHERE source = 'model' GROUP BY kind").all()).toEqual([{ kind: 'mask', n: 288 }]);
    });

    const r = await cli('eval', db, '--run', 'own masks', '--iou-type', 'segm', '--json');
    expect(r.code, r.err).toBe(0);
    const result = JSON.parse(r.out) as EvalResult;
    expect(result).toMatchObject({ iouType: 'segm', images: 32, detections: 288 });
    // COCO's precision carries an epsilon: a perfect AP comes out as 0.9999999999999998.
    const stat = (name: (typeof COCO_STAT_NAMES)[number]) => result.stats[COCO_STAT_NAMES.indexOf(name)]!;
    for (const name of ['AP', 'AP50', 'AP75', 'AR100'] as const) expect(Math.abs(stat(name) - 1), name).toBeLessThan(1e-12);
    for (const name of ['APs', 'APm', 'APl', 'ARs', 'ARm', 'ARl'] as const) expect([1, -1].some((v) => Math.abs(stat(name) - v) < 1e-12), `${name} = ${stat(name)}`).toBe(true);
    const scored = result.perClass.filter((c) => c.ap !== -1);
    expect(scored.length).toBeGreaterThan(10);
    for (const c of scored) expect(Math.abs(c.ap - 1), c.name).toBeLessThan(1e-12);
    console.log(`segm AP of the ground truth's own masks on coco_tinycoco: ${stat('AP')}`);
  }, 120_000);
});
