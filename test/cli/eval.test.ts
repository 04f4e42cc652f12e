import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src-main/cli/main';
import { COCO_STAT_NAMES, type EvalResult } from '../../src-main/common/eval/types';
import { repoRoot, sharedPath, tempDir } from '../helpers/shared';

/**
 * The reference: YOLOX-Nano's detections on coco_tinycoco and what pycocotools' COCOeval (bbox,
 * default parameters) reports for them. Every number must come out within 1e-4.
 */
const tiny = sharedPath('datasets/coco_tinycoco');
const oracleDir = sharedPath('oracles/coco_eval');
const BIN = path.join(repoRoot, 'scripts', 'tessera.mjs');

interface Oracle {
  stats: Record<(typeof COCO_STAT_NAMES)[number], number>;
  per_class_AP: Record<string, number>;
}

/** The CLI in this process, output captured. */
async function cli(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, { out: (s) => out.push(s), err: (s) => err.push(s), tty: false });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

/** The CLI as users run it, in its own process. */
function tessera(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 180_000, maxBuffer: 64 * 1024 * 1024 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe.runIf(tiny && oracleDir)('tessera eval against the pycocotools reference', () => {
  let db = '';
  let tmp = '';
  let oracle: Oracle;
  const instances = () => path.join(tiny!, 'annotations', 'instances_train2017.json');

  beforeAll(async () => {
    oracle = JSON.parse(fs.readFileSync(path.join(oracleDir!, 'pycocotools_bbox_stats.json'), 'utf8')) as Oracle;
    tmp = tempDir('tessera-eval-');
    db = path.join(tmp, 'tiny.tessera');
    expect((await cli('init', db, '--root', tiny!)).code).toBe(0);
    // COCO's evaluation runs over every category of the ground truth file, empty ones included.
    const imp = await cli('import', db, instances(), '--keep-empty-classes', '--json');
    expect(imp.code, imp.err).toBe(0);
    const pred = await cli('predictions', 'import', db, path.join(oracleDir!, 'yolox_nano_train2017_detections.json'), '--name', 'yolox-nano', '--instances', instances(), '--json');
    expect(pred.code, pred.err).toBe(0);
    expect(JSON.parse(pred.out)).toMatchObject({ runId: 1, images: 32, unmatchedResults: 0, invalid: 0 });
  }, 120_000);

  afterAll(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('reproduces every stats number and every per-class AP within 1e-4 (tessera eval --json)', () => {
    const r = tessera('eval', db, '--run', 'yolox-nano', '--json');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const result = JSON.parse(r.out) as EvalResult;
    expect(result).toMatchObject({ runId: 1, runName: 'yolox-nano', iouType: 'bbox', images: 32, detections: 1584 });
    let maxDiff = 0;
    COCO_STAT_NAMES.forEach((name, i) => {
      const diff = Math.abs(result.stats[i]! - oracle.stats[name]);
      maxDiff = Math.max(maxDiff, diff);
      expect(result.stats[i], name).toBeGreaterThanOrEqual(oracle.stats[name] - 1e-4);
      expect(result.stats[i], name).toBeLessThanOrEqual(oracle.stats[name] + 1e-4);
    });
    const names = Object.keys(oracle.per_class_AP);
    expect(names).toHaveLength(80);
    for (const name of names) {
      // A class the dataset never saw (no ground truth, no detection) has no AP: -1.
      const ap = result.perClass.find((c) => c.name === name)?.ap ?? -1;
      const want = oracle.per_class_AP[name]!;
      maxDiff = Math.max(maxDiff, Math.abs(ap - want));
      expect(Math.abs(ap - want), `AP of ${name}: ${ap} vs ${want}`).toBeLessThanOrEqual(1e-4);
    }
    console.log(`tessera eval vs pycocotools on coco_tinycoco: max abs difference ${maxDiff.toExponential(2)} (the reference is rounded to 6 decimals)`);
  });

  it('prints the stats with their names, per-class AP and P/R/F1 at the chosen thresholds', async () => {
    const r = await cli('eval', db, '--run', '1', '--conf', '0.4', '--iou', '0.6');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toContain('run 1 "yolox-nano", bbox: 32 images');
    expect(r.out).toMatch(/^AP {5}Average Precision {2}\(AP\) @\[ IoU=0\.50:0\.95 \| area= {3}all \| maxDets=100 \] = 0\.278$/m);
    expect(r.out).toMatch(/^ARl {4}Average Recall {5}\(AR\) @\[ IoU=0\.50:0\.95 \| area= large \| maxDets=100 \] = 0\.651$/m);
    expect(r.out).toContain('P/R/F1 at score >= 0.4 and IoU >= 0.6');
    const person = r.out.split('\n').find((l) => l.startsWith('person '));
    expect(person).toMatch(/^person\s+0\.292\s+/);
    expect(r.out).toMatch(/^all classes: precision 0\.\d{3}, recall 0\.\d{3}, F1 0\.\d{3}/m);
    expect(r.out).toMatch(/^best F1 0\.\d{3} at score >= 0\.\d\d$/m);
  });

  it('evaluates masks, a split with no images, and refuses unknown runs and options', async () => {
    const segm = await cli('eval', db, '--run', 'yolox-nano', '--iou-type', 'segm', '--json');
    expect(segm.code, segm.err).toBe(0);
    const s = JSON.parse(segm.out) as EvalResult;
    expect(s.iouType).toBe('segm');
    // Boxes against polygon masks: lower than the box AP, but the same detections and images.
    expect(s.stats[0]).toBeGreaterThan(0);
    expect(s.stats[0]).toBeLessThan(0.278);
    expect(s.images).toBe(32);

    const none = await cli('eval', db, '--run', 'yolox-nano', '--split', 'val', '--json');
    expect(none.code, none.err).toBe(0);
    const n = JSON.parse(none.out) as EvalResult;
    expect(n.images).toBe(0);
    expect(n.stats).toEqual(new Array(12).fill(-1));

    const missing = await cli('eval', db, '--run', 'nope');
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/NOT_FOUND: .*no model run has the id or name "nope"/);
    expect((await cli('eval', db, '--run', '1', '--iou-type', 'keypoints')).code).toBe(2);
    expect((await cli('eval', db, '--run', '1', '--conf', '2')).code).toBe(2);
    expect((await cli('eval', db)).code).toBe(2);
  });
});

describe.runIf(tiny && oracleDir)('COCO ids remembered by a COCO import', () => {
  let tmp = '';
  afterAll(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('predictions import without --instances maps results through them, and eval reproduces the reference AP', async () => {
    const oracle = JSON.parse(fs.readFileSync(path.join(oracleDir!, 'pycocotools_bbox_stats.json'), 'utf8')) as Oracle;
    const instances = path.join(tiny!, 'annotations', 'instances_train2017.json');
    tmp = tempDir('tessera-cocoids-');
    const db = path.join(tmp, 'tiny.tessera');
    expect((await cli('init', db, '--root', tiny!)).code).toBe(0);
    // Without its empty categories the results of those categories have nowhere to go, and the
    // refusal says which and why.
    const lean = path.join(tmp, 'lean.tessera');
    expect((await cli('init', lean, '--root', tiny!)).code).toBe(0);
    expect((await cli('import', lean, instances, '--format', 'coco', '--json')).code).toBe(0);
    const leanPred = await cli('predictions', 'import', lean, path.join(oracleDir!, 'yolox_nano_train2017_detections.json'), '--name', 'yolox-nano', '--json');
    expect(leanPred.code).not.toBe(0);
    expect(leanPred.err).toMatch(/category ids 11,/);
    expect(leanPred.err).toMatch(/unless imported with --keep-empty-classes/);
    const imp = await cli('import', db, instances, '--format', 'coco', '--keep-empty-classes', '--json');
    expect(imp.code, imp.err).toBe(0);
    const pred = await cli('predictions', 'import', db, path.join(oracleDir!, 'yolox_nano_train2017_detections.json'), '--name', 'yolox-nano', '--json');
    expect(pred.code, pred.err).toBe(0);
    expect(pred.err).toBe('');
    expect(JSON.parse(pred.out)).toMatchObject({ runId: 1, images: 32, unmatchedResults: 0, invalid: 0, newCategoryIds: [] });
    // No class was made up for a category id.
    const info = await cli('info', db, '--json');
    expect(info.out).not.toMatch(/category \d+/);

    const r = await cli('eval', db, '--run', 'yolox-nano', '--json');
    expect(r.code, r.err).toBe(0);
    const result = JSON.parse(r.out) as EvalResult;
    expect(result).toMatchObject({ images: 32, detections: 1584 });
    COCO_STAT_NAMES.forEach((name, i) => expect(Math.abs(result.stats[i]! - oracle.stats[name]), name).toBeLessThanOrEqual(1e-4));

    // A results id that matches no category is refused with the ids named, and stores nothing.
    const stray = path.join(tmp, 'stray_results.json');
    fs.writeFileSync(stray, JSON.stringify([{ image_id: 397133, category_id: 1, bbox: [1, 1, 5, 5], score: 0.5 }, { image_id: 397133, category_id: 4242, bbox: [1, 1, 5, 5], score: 0.5 }]));
    const refused = await cli('predictions', 'import', db, stray, '--name', 'stray');
    expect(refused.code).toBe(2);
    expect(refused.err).toMatch(/stray_results\.json: category id 4242 matches nothing in the COCO category ids this dataset remembers/);
    expect(JSON.parse((await cli('eval', db, '--run', 'yolox-nano', '--json')).out)).toMatchObject({ runId: 1 });
    expect((await cli('eval', db, '--run', 'stray')).code).toBe(1);
  }, 180_000);

  it('a COCO export writes the source image and category ids again', async () => {
    const instances = path.join(tiny!, 'annotations', 'instances_train2017.json');
    const source = JSON.parse(fs.readFileSync(instances, 'utf8')) as { images: { id: number; file_name: string }[]; categories: { id: number; name: string }[]; annotations: { image_id: number; category_id: number }[] };
    const dir = tempDir('tessera-cocoids-export-');
    try {
      const db = path.join(dir, 'tiny.tessera');
      expect((await cli('init', db, '--root', tiny!)).code).toBe(0);
      expect((await cli('import', db, instances, '--format', 'coco')).code).toBe(0);
      const out = path.join(dir, 'out');
      const ex = await cli('export', db, out, '--format', 'coco', '--images', 'none');
      expect(ex.code, ex.err).toBe(0);
      const files = fs.readdirSync(path.join(out, 'annotations')).filter((f) => f.endsWith('.json'));
      const written = files.map((f) => JSON.parse(fs.readFileSync(path.join(out, 'annotations', f), 'utf8')) as typeof source);
      const idOf = new Map(written.flatMap((w) => w.images.map((im) => [path.basename(im.file_name), im.id] as const)));
      for (const im of source.images) expect(idOf.get(im.file_name), im.file_name).toBe(im.id);
      const used = new Set(source.annotations.map((a) => a.category_id));
      const catOf = new Map(written[0]!.categories.map((c) => [c.name, c.id]));
      for (const c of source.categories) if (used.has(c.id)) expect(catOf.get(c.name), c.name).toBe(c.id);
      const pairs = (doc: typeof source) => {
        const name = new Map(doc.categories.map((c) => [c.id, c.name]));
        return doc.annotations.map((a) => `${a.image_id}:${name.get(a.category_id)}`).sort();
      };
      expect(written.flatMap((w) => pairs(w)).sort()).toEqual(pairs(source));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);
});
