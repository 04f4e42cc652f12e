import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../../src-main/cli/main';
import type { ExportReport, InterchangeReport } from '../../src-main/common/formats/types';
import type { ImportReport } from '../../src-main/common/model';
import { makeImages } from '../helpers/images';
import { repoRoot, sharedPath, tempDir } from '../helpers/shared';
import { withStore } from '../helpers/storeRead';

/** The CLI in this process (fast), with its output captured. */
async function cli(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, { out: (s) => out.push(s), err: (s) => err.push(s), tty: false });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

async function rowCounts(db: string): Promise<Record<string, number>> {
  return await withStore(db, async (raw) => {
    const counts: Record<string, number> = {};
    for (const t of ['images', 'classes', 'annotations', 'model_runs']) counts[t] = (await raw.prepare(`SELECT count(*) FROM ${t}`).pluck().get()) as number;
    return counts;
  });
}

describe('tessera import/export of annotated datasets', () => {
  it('dry run, import, re-import and a split YOLO export of the BCCD VOC set', async () => {
    const voc = sharedPath('datasets/bccd_voc');
    if (!voc) return;
    const dir = tempDir();
    const db = path.join(dir, 'bccd.tessera');
    expect((await cli('init', db, '--root', voc)).code).toBe(0);

    const dry = await cli('import', db, voc, '--dry-run', '--json');
    expect(dry.code, dry.err).toBe(0);
    const planned = JSON.parse(dry.out) as InterchangeReport;
    expect(planned).toMatchObject({ format: 'voc', dryRun: true, images: { total: 28, added: 28, matched: 0, missing: 0 } });
    expect(await rowCounts(db)).toEqual({ images: 0, classes: 0, annotations: 0, model_runs: 0 });

    const imp = await cli('import', db, voc, '--json');
    expect(imp.code, imp.err).toBe(0);
    const done = JSON.parse(imp.out) as InterchangeReport;
    expect(done.dryRun).toBe(false);
    expect(done.annotations.total).toBe(planned.annotations.total);
    expect(await rowCounts(db)).toEqual({ images: 28, classes: 3, annotations: done.annotations.total, model_runs: 0 });

    // Text output names the counts; a second import adds nothing.
    const again = await cli('import', db, voc, '--format', 'voc');
    expect(again.code).toBe(0);
    expect(again.out).toMatch(/imported voc from .*bccd_voc/);
    expect(again.out).toMatch(/annotations 0\b/);
    expect(again.out).toContain(`duplicateAnnotations ${done.annotations.total}`);
    expect((await rowCounts(db)).annotations).toBe(done.annotations.total);

    const out = path.join(dir, 'yolo-out');
    const exp = await cli('export', db, out, '--format', 'yolo', '--split', '0.8,0.1,0.1', '--seed', '7', '--images', 'none', '--json');
    expect(exp.code, exp.err).toBe(0);
    const report = JSON.parse(exp.out) as ExportReport & { splits: Record<'train' | 'val' | 'test' | 'none', number> };
    expect(report.format).toBe('yolo');
    expect(report.images).toBe(28);
    expect(report.annotations).toBe(done.annotations.total);
    expect(report.splits.train + report.splits.val + report.splits.test + report.splits.none).toBe(28);
    expect(report.splits.train).toBeGreaterThan(report.splits.val);
    expect(report.bySplit).toEqual(report.splits);
    expect(fs.existsSync(path.join(out, 'data.yaml'))).toBe(true);
    // Splits are stored: the dataset now says which image went where.
    expect(await withStore(db, async (raw) => await raw.prepare("SELECT count(*) FROM images WHERE split = 'train'").pluck().get())).toBe(report.splits.train);
  });

  it('auto falls back to the image import for a folder without annotations', async () => {
    const dir = tempDir();
    await makeImages(path.join(dir, 'imgs'));
    const db = path.join(dir, 'd.tessera');
    expect((await cli('init', db)).code).toBe(0);
    const dry = await cli('import', db, path.join(dir, 'imgs'), '--dry-run');
    expect(dry.code).toBe(2);
    expect(dry.err).toMatch(/^tessera: INVALID_ARGUMENT: --dry-run applies to annotation imports/);
    const r = await cli('import', db, path.join(dir, 'imgs'), '--json');
    expect(r.code, r.err).toBe(0);
    expect((JSON.parse(r.out) as ImportReport).imported).toBe(8);
    // An explicit annotation format on the same folder finds nothing to import: a failure naming
    // the folder and why, with nothing written.
    const coco = await cli('import', db, path.join(dir, 'imgs'), '--format', 'coco', '--json');
    expect(coco.code).toBe(1);
    expect(coco.err).toMatch(/imgs: no image to import: .*holds no COCO instances json.*nothing was written/);
    const dryCoco = await cli('import', db, path.join(dir, 'imgs'), '--format', 'coco', '--dry-run', '--json');
    expect(dryCoco.code).toBe(1);
    expect((JSON.parse(dryCoco.out) as InterchangeReport).refused).toMatch(/holds no COCO instances json/);
    expect(await rowCounts(db)).toEqual({ images: 8, classes: 0, annotations: 0, model_runs: 0 });
  });

  it('exits non-zero and writes nothing for an unreadable or unusable annotation file', async () => {
    const dir = tempDir();
    await makeImages(path.join(dir, 'imgs'));
    const db = path.join(dir, 'd.tessera');
    expect((await cli('init', db)).code).toBe(0);
    const empty = { images: 0, classes: 0, annotations: 0, model_runs: 0 };
    const categories = Array.from({ length: 80 }, (_, i) => ({ id: i + 1, name: `class ${i + 1}` }));
    const write = (name: string, doc: unknown) => {
      const f = path.join(dir, name);
      fs.writeFileSync(f, typeof doc === 'string' ? doc : JSON.stringify(doc));
      return f;
    };
    const good = { images: [{ id: 1, file_name: 'imgs/b.png', width: 40, height: 30 }], annotations: [{ id: 1, image_id: 1, category_id: 1, bbox: [1, 1, 5, 5] }], categories };

    // Cut short: not valid JSON, whether the format is named or detected.
    const broken = write('broken.json', JSON.stringify(good).slice(0, 120));
    for (const format of [['--format', 'coco'], []]) {
      const r = await cli('import', db, broken, ...format);
      expect(r.code, r.out).toBe(1);
      expect(r.err.split('\n')).toHaveLength(1);
      expect(r.err).toMatch(/broken\.json: .*is not valid JSON/);
      expect(await rowCounts(db)).toEqual(empty);
    }
    // `images` is not a list: its 80 categories are not created either.
    const notList = write('not-a-list.json', { ...good, images: { id: 1, file_name: 'imgs/b.png' } });
    const nl = await cli('import', db, notList, '--format', 'coco');
    expect(nl.code).toBe(1);
    expect(nl.err).toMatch(/not-a-list\.json: .*images.*must be an array/);
    expect(await rowCounts(db)).toEqual(empty);
    // Every image missing: 0 usable images.
    const missing = write('missing.json', { ...good, images: [{ id: 1, file_name: 'imgs/nope.png', width: 40, height: 30 }] });
    const mi = await cli('import', db, missing, '--format', 'coco');
    expect(mi.code).toBe(1);
    expect(mi.err).toMatch(/missing\.json: its one image cannot be used: .*nope\.png not found/);
    expect(await rowCounts(db)).toEqual(empty);
    // The dry run prints the whole report and fails the same way.
    const dry = await cli('import', db, notList, '--format', 'coco', '--dry-run', '--keep-empty-classes', '--json');
    expect(dry.code).toBe(1);
    const report = JSON.parse(dry.out) as InterchangeReport;
    expect(report.refused).toMatch(/no image to import/);
    expect(report.classes).toHaveLength(80);
    expect(dry.err).toMatch(/refused: .*not-a-list\.json/);
    // An image import of nothing but a broken file fails too.
    fs.writeFileSync(path.join(dir, 'imgs', 'cut.png'), fs.readFileSync(path.join(dir, 'imgs', 'b.png')).subarray(0, 40));
    const img = await cli('import', db, path.join(dir, 'imgs', 'cut.png'));
    expect(img.code).toBe(1);
    expect(img.err).toMatch(/nothing imported: .*cut\.png: truncated PNG/);
    expect(await rowCounts(db)).toEqual(empty);
    // The good file still imports, with exit 0.
    const ok = await cli('import', db, write('good.json', good), '--format', 'coco');
    expect(ok.code, ok.err).toBe(0);
    // The one category with an annotation; the 79 others are counted, not created.
    expect(ok.out).toContain('79 categories with no annotations not created');
    expect(await rowCounts(db)).toEqual({ images: 1, classes: 1, annotations: 1, model_runs: 0 });
  });

  it('imports several annotation files one by one, printing every report and every refusal by file', async () => {
    const dir = tempDir();
    await makeImages(path.join(dir, 'imgs'));
    const db = path.join(dir, 'd.tessera');
    expect((await cli('init', db)).code).toBe(0);
    const write = (name: string, doc: unknown) => {
      const f = path.join(dir, name);
      fs.writeFileSync(f, JSON.stringify(doc));
      return f;
    };
    const categories = [{ id: 1, name: 'cell' }];
    const a = write('a.json', { images: [{ id: 1, file_name: 'imgs/b.png', width: 40, height: 30 }], annotations: [{ id: 1, image_id: 1, category_id: 1, bbox: [1, 1, 5, 5] }], categories });
    const b = write('b.json', { images: [{ id: 1, file_name: 'imgs/nope.png', width: 40, height: 30 }], annotations: [], categories });
    const r = await cli('import', db, a, b, '--format', 'coco');
    expect(r.code).toBe(1);
    // a.json is committed: its report is printed, and the refusal names b.json.
    expect(r.out).toMatch(/imported coco from .*a\.json/);
    expect(r.err).toMatch(/FILE_MISSING: .*b\.json: its one image cannot be used: .*nope\.png not found/);
    expect(r.err).toMatch(/1 of 2 paths imported/);
    expect(await rowCounts(db)).toMatchObject({ images: 1, annotations: 1 });
    // Refused first, the other path is still imported and reported, in JSON as a list.
    const c = write('c.json', { images: [{ id: 1, file_name: 'imgs/a.jpg', width: 64, height: 48 }], annotations: [{ id: 1, image_id: 1, category_id: 1, bbox: [2, 2, 5, 5] }], categories });
    const j = await cli('import', db, b, c, '--format', 'coco', '--json');
    expect(j.code).toBe(1);
    const reports = JSON.parse(j.out) as InterchangeReport[];
    expect(reports.map((x) => path.basename(x.source))).toEqual(['c.json']);
    expect(j.err).toMatch(/b\.json: its one image cannot be used/);
    expect(await rowCounts(db)).toMatchObject({ images: 2, annotations: 2 });
  });

  it('refuses bad arguments with exit 2 and one line', async () => {
    const dir = tempDir();
    const db = path.join(dir, 'd.tessera');
    expect((await cli('init', db)).code).toBe(0);
    for (const [args, pattern] of [
      [['import', db, dir, '--format', 'kitti'], /--format must be one of auto, images, coco/],
      [['export', db, path.join(dir, 'o')], /export needs --format/],
      [['export', db, path.join(dir, 'o'), '--format', 'tfrecord'], /--format must be one of coco, yolo/],
      [['export', db, path.join(dir, 'o'), '--format', 'coco', '--split', '0.8,0.2'], /--split takes three non-negative ratios/],
      [['export', db, path.join(dir, 'o'), '--format', 'coco', '--seed', '3'], /--seed applies to --split/],
      [['export', db, path.join(dir, 'o'), '--format', 'coco', '--only', 'some'], /--only must be one of all, done, reviewed/],
    ] as const) {
      const r = await cli(...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.err.split('\n'), args.join(' ')).toHaveLength(1);
      expect(r.err).toMatch(pattern);
    }
    expect(await rowCounts(db)).toEqual({ images: 0, classes: 0, annotations: 0, model_runs: 0 });
  });

  it('the installed command imports a COCO file and exits non-zero naming a broken one', async () => {
    const coco = sharedPath('datasets/coco_tinycoco');
    if (!coco) return;
    const dir = tempDir();
    const db = path.join(dir, 'c.tessera');
    const bin = (...args: string[]) => spawnSync(process.execPath, [path.join(repoRoot, 'scripts', 'tessera.mjs'), ...args], { encoding: 'utf8', timeout: 60_000 });
    expect(bin('init', db, '--root', coco).status).toBe(0);
    const r = bin('import', db, path.join(coco, 'annotations', 'instances_train2017.json'), '--json');
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ format: 'coco', images: { added: 32 }, annotations: { total: 288 }, counters: { emptyClassesLeftOut: 39 } });
    expect((await rowCounts(db)).classes).toBe(41);
    const missing = bin('import', db, path.join(dir, 'nope.json'), '--format', 'coco');
    expect(missing.status).toBe(1);
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);
    expect(missing.stderr).toMatch(/FILE_NOT_FOUND: .*nope\.json/);
  });
});

describe('tessera import --keep-empty-classes', () => {
  it('COCO categories with no annotations are counted and not created, unless --keep-empty-classes', async () => {
    const coco = sharedPath('datasets/coco_tinycoco');
    if (!coco) return;
    const json = path.join(coco, 'annotations', 'instances_train2017.json');
    const dir = tempDir();
    const db = path.join(dir, 'c.tessera');
    expect((await cli('init', db, '--root', coco)).code).toBe(0);
    const dry = await cli('import', db, json, '--dry-run');
    expect(dry.code, dry.err).toBe(0);
    expect(dry.out).toContain('39 categories with no annotations not created (--keep-empty-classes creates them)');
    const imp = await cli('import', db, json);
    expect(imp.code, imp.err).toBe(0);
    expect(imp.out).toContain('39 categories with no annotations not created');
    expect(await rowCounts(db)).toMatchObject({ images: 32, classes: 41, annotations: 288 });

    const db2 = path.join(dir, 'all.tessera');
    expect((await cli('init', db2, '--root', coco)).code).toBe(0);
    const keep = await cli('import', db2, json, '--keep-empty-classes', '--json');
    expect(keep.code, keep.err).toBe(0);
    expect((JSON.parse(keep.out) as InterchangeReport).counters['emptyClassesLeftOut']).toBeUndefined();
    expect(await rowCounts(db2)).toMatchObject({ images: 32, classes: 80, annotations: 288 });
  });
});

describe('tessera import --dry-run --probe', () => {
  it('opens the images only with --probe: an unreadable image is reported then, not in a plain dry run', async () => {
    const dir = tempDir();
    const files = await makeImages(path.join(dir, 'imgs'));
    const jpg = fs.readFileSync(files['a.jpg']!);
    fs.writeFileSync(path.join(dir, 'imgs', 'cut.jpg'), jpg.subarray(0, jpg.length - 30));
    const db = path.join(dir, 'd.tessera');
    expect((await cli('init', db, '--root', dir)).code).toBe(0);
    const doc = {
      images: [
        { id: 1, file_name: 'imgs/a.jpg', width: 64, height: 48 },
        { id: 2, file_name: 'imgs/cut.jpg', width: 64, height: 48 },
      ],
      annotations: [1, 2].map((k) => ({ id: k, image_id: k, category_id: 1, bbox: [1, 1, 5, 5] })),
      categories: [{ id: 1, name: 'thing' }],
    };
    const json = path.join(dir, 'ann.json');
    fs.writeFileSync(json, JSON.stringify(doc));

    const plain = await cli('import', db, json, '--dry-run');
    expect(plain.code, plain.err).toBe(0);
    expect(plain.out).toMatch(/2 new, 0 missing/);
    expect(plain.out).toMatch(/imagesNotProbed 2/);
    expect(plain.out).not.toMatch(/cut\.jpg/);

    const probed = await cli('import', db, json, '--dry-run', '--probe', '--json');
    expect(probed.code, probed.err).toBe(0);
    const report = JSON.parse(probed.out) as InterchangeReport;
    expect(report.images).toMatchObject({ added: 1, missing: 0 });
    expect(report.problems).toEqual([expect.objectContaining({ severity: 'error', message: expect.stringMatching(/cut\.jpg: truncated JPEG/) })]);
    expect(await rowCounts(db)).toEqual({ images: 0, classes: 0, annotations: 0, model_runs: 0 });
  });
});
