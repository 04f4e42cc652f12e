import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import type { AppError } from '../../../src-main/common/errors';
import type { InterchangeDataset, InterchangeReport } from '../../../src-main/common/formats/types';
import type { JobProgress } from '../../../src-main/common/model';
import { Dataset } from '../../../src-main/services/dataset';
import { dispatch } from '../../../src-main/services/dispatch';
import { Workspace } from '../../../src-main/services/workspace';
import { detectFormat, rankFormats, resolveReader } from '../../../src-main/services/interchange/detect';
import { importDataset, inspectDataset } from '../../../src-main/services/interchange/importDataset';
import type { FormatReader } from '../../../src-main/services/interchange/types';
import { resolveStoredPath } from '../../../src-main/services/paths';
import { injectFault } from '../../helpers/faults';
import { makeImages } from '../../helpers/images';
import { sharedPath, tempDir } from '../../helpers/shared';

const open: Dataset[] = [];
afterEach(async () => {
  for (const ds of open.splice(0)) await ds.close();
});

async function dataset(root: string): Promise<Dataset> {
  const ds = await Dataset.create(path.join(tempDir(), 'set.tessera'), root);
  open.push(ds);
  return ds;
}

const TABLES = ['images', 'classes', 'annotations', 'model_runs', 'edit_journal', 'meta'] as const;

async function tableCounts(ds: Dataset): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const t of TABLES) counts[t] = await ds.db.prepare(`SELECT count(*) FROM ${t}`).pluck().get() as number;
  return counts;
}

async function perClassInDb(ds: Dataset): Promise<Record<string, number>> {
  const rows = await ds.db
    .prepare('SELECT c.name AS name, count(a.id) AS n FROM classes c LEFT JOIN annotations a ON a.class_id = c.id GROUP BY c.id')
    .all() as { name: string; n: number }[];
  return Object.fromEntries(rows.filter((r) => r.n > 0).map((r) => [r.name, r.n]));
}

function perClassInReport(r: InterchangeReport): Record<string, number> {
  return Object.fromEntries(r.classes.filter((c) => c.annotations > 0).map((c) => [c.name, c.annotations]));
}

/** Imports, checks the rows written equal the report, then imports again and checks nothing is added. */
async function importTwice(ds: Dataset, input: string, format: 'auto' | 'coco' | 'voc' | 'yolo' | 'labelme' | 'cvat' = 'auto') {
  const before = await tableCounts(ds);
  const first = await importDataset(ds, { path: input, format });
  const after = await tableCounts(ds);
  expect(first.dryRun).toBe(false);
  expect(after['images']! - before['images']!).toBe(first.images.added);
  expect(after['annotations']! - before['annotations']!).toBe(first.annotations.total);
  expect(after['classes']! - before['classes']!).toBe(first.classes.filter((c) => c.isNew).length);
  const second = await importDataset(ds, { path: input, format });
  expect(await tableCounts(ds)).toEqual(after);
  expect(second.images.added).toBe(0);
  expect(second.images.matched).toBe(first.images.added + first.images.matched);
  expect(second.annotations.total).toBe(0);
  expect(second.counters['duplicateAnnotations']).toBe(first.annotations.total);
  expect(second.classes.every((c) => !c.isNew)).toBe(true);
  return first;
}

describe('importing the shared datasets', () => {
  it('COCO tinycoco: 32 images, 288 annotations, counts per class as in the file, crowd kept', async () => {
    const dir = sharedPath('datasets/coco_tinycoco');
    if (!dir) return;
    const json = path.join(dir, 'annotations', 'instances_train2017.json');
    const coco = JSON.parse(fs.readFileSync(json, 'utf8')) as {
      categories: { id: number; name: string }[];
      annotations: { category_id: number; iscrowd: number }[];
    };
    const expected: Record<string, number> = {};
    for (const a of coco.annotations) {
      const name = coco.categories.find((c) => c.id === a.category_id)!.name;
      expected[name] = (expected[name] ?? 0) + 1;
    }
    const ds = await dataset(dir);
    expect((await detectFormat(json))?.reader.name).toBe('coco');
    const r = await importTwice(ds, json);
    expect(r.format).toBe('coco');
    expect(r.images).toEqual({ total: 32, matched: 0, added: 32, missing: 0 });
    expect(r.annotations.total).toBe(288);
    expect(r.problems.filter((p) => p.severity === 'error')).toEqual([]);
    expect(perClassInReport(r)).toEqual(expected);
    expect(await perClassInDb(ds)).toEqual(expected);
    // Every category with annotations becomes a class, in the file's order; the 39 unused are counted.
    expect(await ds.db.prepare('SELECT name FROM classes ORDER BY sort_order').pluck().all()).toEqual(coco.categories.map((c) => c.name).filter((n) => expected[n]));
    expect(r.counters['emptyClassesLeftOut']).toBe(coco.categories.length - Object.keys(expected).length);
    expect(r.counters['emptyClassesLeftOut']).toBe(39);
    const attributes = await ds.db.prepare('SELECT attributes FROM annotations').pluck().all() as string[];
    const crowd = attributes.filter((a) => (JSON.parse(a) as { iscrowd?: unknown }).iscrowd === true).length;
    expect(crowd).toBe(coco.annotations.filter((a) => a.iscrowd).length);
    expect(await ds.db.prepare("SELECT count(*) FROM annotations WHERE source <> 'human'").pluck().get()).toBe(0);
    // Stored paths are relative to the root and resolve inside it.
    for (const p of await ds.db.prepare('SELECT path FROM images').pluck().all() as string[]) {
      expect(p.startsWith('images/train2017/')).toBe(true);
      expect(() => resolveStoredPath(ds.root, p, false)).not.toThrow();
    }
  });

  it('Pascal VOC BCCD: boxes per class as the XML files list them', async () => {
    const dir = sharedPath('datasets/bccd_voc');
    if (!dir) return;
    const expected: Record<string, number> = {};
    const annDir = path.join(dir, 'Annotations');
    for (const f of fs.readdirSync(annDir)) {
      for (const m of fs.readFileSync(path.join(annDir, f), 'utf8').matchAll(/<object>\s*<name>([^<]+)<\/name>/g)) {
        expected[m[1]!.trim()] = (expected[m[1]!.trim()] ?? 0) + 1;
      }
    }
    const ds = await dataset(dir);
    const r = await importTwice(ds, dir);
    expect(r.format).toBe('voc');
    expect(r.images.added).toBe(28);
    // Boxes the reader refuses (zero area) are reported as problems, never silently lost.
    const refused = r.problems.filter((p) => p.severity === 'error').length;
    const sum = (o: Record<string, number>) => Object.values(o).reduce((a, b) => a + b, 0);
    expect(sum(await perClassInDb(ds))).toBe(sum(expected) - refused);
    expect(await perClassInDb(ds)).toEqual(perClassInReport(r));
    if (refused === 0) expect(await perClassInDb(ds)).toEqual(expected);
    expect(r.annotations.byKind).toEqual({ box: sum(expected) - refused });
  });

  it('YOLO OBB crop/weed: rotated boxes per class index as the label files list them', async () => {
    const dir = sharedPath('datasets/agri_crop_weed_obb');
    if (!dir) return;
    const names = ['crop', 'weed'];
    const expected: Record<string, number> = {};
    for (const f of fs.readdirSync(path.join(dir, 'labels'))) {
      for (const line of fs.readFileSync(path.join(dir, 'labels', f), 'utf8').split('\n')) {
        if (line.trim()) expected[names[Number(line.trim().split(/\s+/)[0])]!] = (expected[names[Number(line.trim().split(/\s+/)[0])]!] ?? 0) + 1;
      }
    }
    const ds = await dataset(dir);
    const r = await importTwice(ds, dir);
    expect(r.format).toBe('yolo');
    expect(r.images.added).toBe(30);
    expect(await perClassInDb(ds)).toEqual(expected);
    expect(perClassInReport(r)).toEqual(expected);
    expect(Object.keys(r.annotations.byKind)).toEqual(['obb']);
  });

  it('datumaro fixtures the readers recognise import, and import again adds nothing', async () => {
    const fixtures = [
      'datumaro_assets/coco_dataset/coco_instances',
      'datumaro_assets/cvat_dataset/for_images/export_task/train.xml',
      'datumaro_assets/cvat_dataset/for_images/export_project/annotations.xml',
      'datumaro_assets/voc_dataset/voc_dataset1',
      'datumaro_assets/yolo_dataset/strict',
      'datumaro_cvat_fork_yolov8/yolo_dataset/yolov8_detection',
      'datumaro_cvat_fork_yolov8/yolo_dataset/yolov8_segmentation',
      'datumaro_cvat_fork_yolov8/yolo_dataset/yolov8_oriented_boxes',
      'datumaro_cvat_fork_yolov8/yolo_dataset/yolo',
    ];
    if (!sharedPath('datasets/datumaro_assets')) return;
    let imported = 0;
    for (const rel of fixtures) {
      const input = sharedPath(`datasets/${rel}`);
      if (!input) continue;
      if (!(await detectFormat(input))) continue;
      const ds = await dataset(fs.statSync(input).isDirectory() ? input : path.dirname(input));
      const r = await importTwice(ds, input);
      expect(await perClassInDb(ds), rel).toEqual(perClassInReport(r));
      if (r.annotations.total > 0) imported++;
    }
    expect(imported).toBeGreaterThanOrEqual(3);
  });
});

describe('import guarantees', () => {
  it('a dry run reports what the import then does, and writes nothing', async () => {
    const dir = sharedPath('datasets/coco_tinycoco');
    if (!dir) return;
    const json = path.join(dir, 'annotations', 'instances_train2017.json');
    const ds = await dataset(dir);
    const before = await tableCounts(ds);
    // Opening the images as the import does (probe): the report is then the import's own.
    const dry = await inspectDataset(ds, { path: json, format: 'auto', probe: true });
    expect(await tableCounts(ds)).toEqual(before);
    expect(dry.dryRun).toBe(true);
    expect(dry.annotations.total).toBe(288);
    expect(dry.classes.every((c) => c.isNew)).toBe(true);
    const real = await importDataset(ds, { path: json, format: 'coco' });
    const strip = (r: InterchangeReport) => ({ ...r, dryRun: null, elapsedMs: null });
    expect(strip(real)).toEqual(strip(dry));
  });

  it('COCO categories without annotations: left out and counted by default, the dry run says the same, created when asked', async () => {
    const dir = sharedPath('datasets/coco_tinycoco');
    if (!dir) return;
    const json = path.join(dir, 'annotations', 'instances_train2017.json');
    const coco = JSON.parse(fs.readFileSync(json, 'utf8')) as { categories: { id: number; name: string }[]; annotations: { category_id: number }[] };
    const used = new Set(coco.annotations.map((a) => a.category_id));
    const usedNames = coco.categories.filter((c) => used.has(c.id)).map((c) => c.name);
    const names = async (ds: Dataset) => await ds.db.prepare('SELECT name FROM classes ORDER BY sort_order').pluck().all();

    const ds = await dataset(dir);
    const dry = await inspectDataset(ds, { path: json, format: 'coco' });
    expect(dry.counters['emptyClassesLeftOut']).toBe(coco.categories.length - usedNames.length);
    expect(dry.classes.map((c) => c.name)).toEqual(usedNames);
    const real = await importDataset(ds, { path: json, format: 'coco' });
    expect(real.counters['emptyClassesLeftOut']).toBe(dry.counters['emptyClassesLeftOut']);
    expect(await names(ds)).toEqual(usedNames);
    const unused = coco.categories.find((c) => !used.has(c.id))!.name;
    expect(await names(ds)).not.toContain(unused);

    const kept = await dataset(dir);
    const dryKept = await inspectDataset(kept, { path: json, format: 'coco', keepEmptyClasses: true });
    expect(dryKept.counters['emptyClassesLeftOut']).toBeUndefined();
    expect(dryKept.classes).toHaveLength(80);
    const all = await importDataset(kept, { path: json, format: 'coco', keepEmptyClasses: true });
    expect(all.counters['emptyClassesLeftOut']).toBeUndefined();
    expect(await names(kept)).toEqual(coco.categories.map((c) => c.name));
    // Every class gets its own colour.
    expect(new Set(await kept.db.prepare('SELECT lower(color) FROM classes').pluck().all()).size).toBe(80);

    // A class already in the dataset is never left out: importing into `ds` again with the empty
    // ones asked for creates exactly those.
    const again = await importDataset(ds, { path: json, format: 'coco', keepEmptyClasses: true });
    expect(again.classes.filter((c) => c.isNew)).toHaveLength(coco.categories.length - usedNames.length);
    expect(await names(ds)).toHaveLength(80);
  });

  it('an import that fails while writing writes nothing at all', async () => {
    const dir = sharedPath('datasets/coco_tinycoco');
    if (!dir) return;
    const ds = await dataset(dir);
    await injectFault(ds.db, { name: 'fail_nth', table: 'annotations', on: 'INSERT', when: '(SELECT count(*) FROM annotations) >= 200', message: 'disk full (simulated)' });
    const before = await tableCounts(ds);
    await expect(importDataset(ds, { path: path.join(dir, 'annotations', 'instances_train2017.json'), format: 'coco' })).rejects.toThrow(/disk full/);
    expect(await tableCounts(ds)).toEqual(before);
  });

  it('a cancelled import writes nothing and says so', async () => {
    const dir = sharedPath('datasets/bccd_voc');
    if (!dir) return;
    const ds = await dataset(dir);
    let probed = 0;
    const before = await tableCounts(ds);
    await expect(
      importDataset(ds, {
        path: dir,
        format: 'voc',
        concurrency: 1,
        progressIntervalMs: 0,
        isCancelled: () => probed >= 5,
        onProgress: (p) => {
          if (p.phase === 'probing') probed = p.done;
        },
      }),
    ).rejects.toMatchObject({ code: 'CANCELLED' } satisfies Partial<AppError>);
    expect(await tableCounts(ds)).toEqual(before);
  });

  it('refuses a dataset outside the root unless allowed, then stores absolute paths', async () => {
    const dir = sharedPath('datasets/bccd_voc');
    if (!dir) return;
    const ds = await dataset(tempDir());
    const before = await tableCounts(ds);
    await expect(importDataset(ds, { path: dir, format: 'voc' })).rejects.toMatchObject({ code: 'PATH_OUTSIDE_ROOT' } satisfies Partial<AppError>);
    await expect(inspectDataset(ds, { path: dir, format: 'voc' })).rejects.toMatchObject({ code: 'PATH_OUTSIDE_ROOT' } satisfies Partial<AppError>);
    expect(await tableCounts(ds)).toEqual(before);
    const r = await importDataset(ds, { path: dir, format: 'voc', allowOutsideRoot: true });
    expect(r.images.added).toBe(28);
    const rows = await ds.db.prepare('SELECT path, external FROM images').all() as { path: string; external: number }[];
    expect(rows.every((x) => x.external === 1 && path.isAbsolute(x.path) && x.path.startsWith(dir))).toBe(true);
  });

  it('names no format for a folder of plain images', async () => {
    const root = tempDir();
    await makeImages(path.join(root, 'imgs'));
    const ds = await dataset(root);
    await expect(importDataset(ds, { path: path.join(root, 'imgs'), format: 'auto' })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringContaining(`no known annotation format found in ${path.join(root, 'imgs')}`),
    });
  });
});

describe('format detection', () => {
  const reader = (name: 'coco' | 'voc' | 'yolo', detect: () => Promise<number>): FormatReader => ({
    name,
    detect,
    baseDir: (p) => p,
    read: async () => ({ format: name, classes: [], images: [], problems: [], counters: {} }),
  });

  it('takes the most confident reader at 0.5 or more; a reader that throws counts as 0', async () => {
    const throws = reader('coco', async () => {
      throw new Error('confused by a YAML file');
    });
    const unsure = reader('voc', async () => 0.4);
    const sure = reader('yolo', async () => 0.8);
    expect((await rankFormats('/x', [throws, unsure, sure])).map((d) => [d.reader.name, d.confidence])).toEqual([
      ['yolo', 0.8],
      ['voc', 0.4],
      ['coco', 0],
    ]);
    expect((await detectFormat('/x', [throws, unsure, sure]))?.reader.name).toBe('yolo');
    expect(await detectFormat('/x', [throws, unsure])).toBeNull();
    await expect(resolveReader('/data/x', 'auto', [throws, unsure])).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: 'no known annotation format found in /data/x',
    });
    // An explicit format is taken at its word, whatever detection says.
    expect((await resolveReader('/data/x', 'voc', [throws, unsure])).name).toBe('voc');
  });
});

/** A reader handing the pipeline a fixed neutral dataset: the pipeline's rules, without a parser in between. */
function fixedReader(base: string, data: Omit<InterchangeDataset, 'format'>): FormatReader {
  return {
    name: 'coco',
    detect: async () => 1,
    baseDir: () => base,
    read: async () => structuredClone({ format: 'coco', ...data }),
  };
}

describe('what the pipeline checks', () => {
  it('refuses traversal keys and links out of the root, missing files and wrong sizes, and keeps the rest', async () => {
    const root = tempDir();
    const files = await makeImages(path.join(root, 'set', 'imgs'));
    const outside = tempDir();
    fs.copyFileSync(files['b.png']!, path.join(outside, 'secret.png'));
    fs.symlinkSync(path.join(outside, 'secret.png'), path.join(root, 'set', 'imgs', 'link.png'));
    const box = { label: 'cell', geometry: { kind: 'box', x: 1, y: 1, w: 5, h: 5 }, attributes: {} } as const;
    const reader = fixedReader(path.join(root, 'set'), {
      classes: ['cell'],
      images: [
        { file: '../../etc/passwd', tags: [], annotations: [box] },
        { file: '/etc/passwd', tags: [], annotations: [box] },
        { file: 'imgs/../../../x.png', tags: [], annotations: [box] },
        { file: 'imgs/link.png', tags: [], annotations: [box] },
        { file: 'imgs/gone.png', tags: [], annotations: [box, box] },
        { file: 'imgs/a.jpg', width: 63, height: 48, tags: [], annotations: [box] },
        { file: 'imgs/b.png', width: 40, height: 30, tags: [], annotations: [box] },
        // Oriented size counts: stored 60x20, displayed 20x60.
        { file: 'imgs/g-rot.jpg', width: 20, height: 60, tags: [], annotations: [box] },
      ],
      problems: [],
      counters: {},
    });
    const ds = await dataset(root);
    const r = await importDataset(ds, { path: path.join(root, 'set'), format: 'coco', readers: [reader] });
    expect(r.images).toEqual({ total: 8, matched: 0, added: 2, missing: 1 });
    expect(r.annotations.total).toBe(2);
    const errors = r.problems.filter((p) => p.severity === 'error').map((p) => p.message);
    expect(errors).toHaveLength(6);
    expect(errors.filter((m) => /absolute or leaves/.test(m))).toHaveLength(3);
    expect(errors.some((m) => /link leading outside the dataset root/.test(m))).toBe(true);
    expect(errors.some((m) => /gone\.png not found/.test(m))).toBe(true);
    expect(errors.some((m) => /states 63x48 but the image is 64x48/.test(m))).toBe(true);
    expect(r.counters['skippedAnnotations']).toBe(7);
    expect((await ds.db.prepare('SELECT path FROM images ORDER BY path').pluck().all() as string[])).toEqual(['set/imgs/b.png', 'set/imgs/g-rot.jpg']);
  });

  it('validates geometry against the image, matches classes without case, stores tags, predictions, crowd and splits', async () => {
    const root = tempDir();
    await makeImages(path.join(root, 'imgs'));
    const ds = await dataset(root);
    await ds.db.prepare("INSERT INTO classes (name, color, sort_order, created_at) VALUES ('Cell', '#000000', 0, 0)").run();
    const reader = fixedReader(root, {
      classes: ['cell', 'Nucleus', '', 'nucleus'],
      images: [
        {
          file: 'imgs/b.png',
          split: 'val',
          tags: ['blurry'],
          annotations: [
            { label: 'CELL', geometry: { kind: 'box', x: 1, y: 1, w: 5, h: 5 }, attributes: { occluded: true, bad: Number.NaN }, crowd: true },
            { label: 'nucleus', geometry: { kind: 'polygon', parts: [[0, 0, 10, 0, 10, 10]] }, attributes: {}, score: 0.75 },
            { label: 'nucleus', geometry: { kind: 'box', x: 1, y: 1, w: 0, h: 5 }, attributes: {} },
            { label: 'nucleus', geometry: { kind: 'point', x: Number.POSITIVE_INFINITY, y: 1 }, attributes: {} },
            { label: 'nucleus', geometry: { kind: 'mask', rle: { size: [3, 3], counts: [4, 5] } }, attributes: {} },
            { label: 'nucleus', geometry: { kind: 'box', x: 1, y: 1, w: 5, h: 5 }, attributes: {}, score: 7 },
            { label: '   ', geometry: { kind: 'point', x: 1, y: 1 }, attributes: {} },
          ],
        },
      ],
      problems: [{ file: 'x.json', severity: 'warning', message: 'from the reader' }],
      counters: { clampedCoordinates: 2 },
    });
    const r = await importDataset(ds, { path: root, format: 'coco', readers: [reader] });
    expect(r.classes).toEqual([
      { name: 'Cell', annotations: 1, isNew: false },
      { name: 'Nucleus', annotations: 1, isNew: true },
      { name: 'blurry', annotations: 1, isNew: true },
    ]);
    expect(r.annotations).toEqual({ total: 3, byKind: { box: 1, polygon: 1, tag: 1 } });
    expect(r.counters).toMatchObject({ clampedCoordinates: 2, skippedAnnotations: 5, droppedAttributes: 1 });
    expect(r.problems[0]).toEqual({ file: 'x.json', severity: 'warning', message: 'from the reader' });
    const rows = await ds.db
      .prepare('SELECT c.name, a.kind, a.source, a.score, a.attributes, a.model_run_id AS run FROM annotations a JOIN classes c ON c.id = a.class_id ORDER BY a.id')
      .all() as { name: string; kind: string; source: string; score: number | null; attributes: string; run: number | null }[];
    expect(rows.map((x) => [x.name, x.kind, x.source, x.score, JSON.parse(x.attributes)])).toEqual([
      ['Cell', 'box', 'human', null, { occluded: true, iscrowd: true }],
      ['Nucleus', 'polygon', 'model', 0.75, {}],
      ['blurry', 'tag', 'human', null, {}],
    ]);
    const run = await ds.db.prepare('SELECT model, parameters, status FROM model_runs').get() as { model: string; parameters: string; status: string };
    // The parameters are a JSON document (PostgreSQL keeps it as jsonb, in its own spelling).
    expect({ ...run, parameters: JSON.parse(run.parameters) as unknown }).toEqual({ model: `import ${path.basename(root)}`, parameters: { format: 'coco', source: root }, status: 'done' });
    expect(await ds.db.prepare('SELECT split FROM images').pluck().get()).toBe('val');
    // The same file again: nothing new, not even a second model run.
    const again = await importDataset(ds, { path: root, format: 'coco', readers: [reader] });
    expect(again.annotations.total).toBe(0);
    expect(again.counters['duplicateAnnotations']).toBe(3);
    expect(await ds.db.prepare('SELECT count(*) FROM model_runs').pluck().get()).toBe(1);
  });
});

describe('polygon checks', () => {
  it('accepts plain polygons and refuses each kind of bad one with its reason', async () => {
    const root = tempDir();
    await makeImages(path.join(root, 'imgs'));
    const ds = await dataset(root);
    const poly = (...parts: number[][]) => ({ label: 'cell', geometry: { kind: 'polygon' as const, parts }, attributes: {} });
    const reader = fixedReader(root, {
      classes: ['cell'],
      images: [
        {
          file: 'imgs/b.png',
          tags: [],
          annotations: [
            poly([0, 0, 10, 0, 10, 10]),
            poly([0, 0, 10, 0, 10, 10], [20, 20, 30, 20, 30, 25]),
            poly([0, 0, 5, 5, 10, 10]),
            poly([0, 0, 10, 0, 0, 0, 10, 0]),
            poly([0, 0, 10, 0, 10]),
            poly([0, 0, 2e7, 0, 10, 10]),
            poly([0, 0, Number.NaN, 0, 10, 10]),
            poly(),
          ],
        },
      ],
      problems: [],
      counters: {},
    });
    const r = await importDataset(ds, { path: root, format: 'coco', readers: [reader] });
    expect(r.annotations.total).toBe(2);
    expect(r.problems.map((p) => p.message)).toEqual([
      'polygon has zero area (all vertices on a line); annotation skipped',
      'a polygon needs at least 3 distinct vertices; annotation skipped',
      'polygon has an odd number of coordinates; annotation skipped',
      'coordinates beyond ±10000000 pixels; annotation skipped',
      'coordinates must be finite numbers; annotation skipped',
      'a polygon needs at least one part; annotation skipped',
    ]);
  });
});

describe('large imports', () => {
  /** Two images with 25,000 boxes each: more rows than one write batch holds. */
  function manyBoxes(root: string): FormatReader {
    const boxes = (n: number) =>
      Array.from({ length: n }, (_, i) => ({ label: i % 2 ? 'cell' : 'nucleus', geometry: { kind: 'box' as const, x: i % 30, y: i % 20, w: 5, h: 5 }, attributes: {} }));
    return fixedReader(root, {
      classes: ['cell', 'nucleus'],
      images: [
        { file: 'imgs/a.jpg', split: 'train', tags: [], annotations: boxes(25_000) },
        { file: 'imgs/b.png', split: 'val', tags: [], annotations: boxes(25_000) },
      ],
      problems: [],
      counters: {},
    });
  }

  it('writes annotations spread over several write batches, every one of them', async () => {
    const root = tempDir();
    await makeImages(path.join(root, 'imgs'));
    const ds = await dataset(root);
    const r = await importDataset(ds, { path: root, format: 'coco', readers: [manyBoxes(root)] });
    expect(r.annotations.total).toBe(50_000);
    expect(await perClassInDb(ds)).toEqual({ cell: 25_000, nucleus: 25_000 });
    expect(await ds.db.prepare('SELECT split FROM images ORDER BY path').pluck().all()).toEqual(['train', 'val']);
  });

  /*
   * Class creation used to look up the end of the class list with a table scan per new class,
   * and the YAML duplicate-key check compared each key with every earlier one: 50,080 COCO
   * categories took 112 s and a data.yaml of 100,000 names 68 s. Both are linear now (a few
   * seconds here); the bound is generous for a busy machine and still far below the old times.
   */
  const GENEROUS_MS = 20_000;

  async function classNamesInOrder(ds: Dataset): Promise<string[]> {
    return await ds.db.prepare('SELECT name FROM classes ORDER BY sort_order, id').pluck().all() as string[];
  }

  it('creates the 50,080 categories of a COCO file in seconds, in the file\'s order', { timeout: 120_000 }, async () => {
    const root = tempDir();
    await makeImages(path.join(root, 'imgs'));
    const n = 50_080;
    // Listed in reverse id order: classes follow category ids, as before.
    const categories = Array.from({ length: n }, (_, i) => ({ id: n - i, name: `category ${n - i}` }));
    const file = path.join(root, 'instances.json');
    fs.writeFileSync(
      file,
      JSON.stringify({ images: [{ id: 1, file_name: 'imgs/b.png', width: 40, height: 30 }], annotations: [{ id: 1, image_id: 1, category_id: n, bbox: [1, 1, 5, 5] }], categories }),
    );
    const ds = await dataset(root);
    const t0 = Date.now();
    const r = await importDataset(ds, { path: file, format: 'coco', keepEmptyClasses: true });
    const ms = Date.now() - t0;
    expect(ms).toBeLessThan(GENEROUS_MS);
    expect(r.classes).toHaveLength(n);
    const names = await classNamesInOrder(ds);
    expect(names).toHaveLength(n);
    expect(names.slice(0, 3)).toEqual(['category 1', 'category 2', 'category 3']);
    expect(names.at(-1)).toBe(`category ${n}`);
    expect(new Set(await ds.db.prepare('SELECT sort_order FROM classes').pluck().all()).size).toBe(n);
    expect(await perClassInDb(ds)).toEqual({ [`category ${n}`]: 1 });
  });

  it('reads a data.yaml of 100,000 names in seconds: classes in index order, a repeated key still refused', { timeout: 240_000 }, async () => {
    const root = tempDir();
    await makeImages(path.join(root, 'images', 'train'));
    fs.mkdirSync(path.join(root, 'labels', 'train'), { recursive: true });
    fs.writeFileSync(path.join(root, 'labels', 'train', 'b.txt'), '99999 0.5 0.5 0.2 0.2\n0 0.5 0.5 0.1 0.1\n');
    const n = 100_000;
    const names = Array.from({ length: n }, (_, i) => `  ${i}: name ${i}`);
    const yaml = (entries: string[]) => `train: images/train\nval: images/train\nnames:\n${entries.join('\n')}\n`;

    // The key of the first entry again at the end: found, with its line, without the quadratic scan.
    fs.writeFileSync(path.join(root, 'data.yaml'), yaml([...names, '  0: again']));
    const ds = await dataset(root);
    let t0 = Date.now();
    const dup = await inspectDataset(ds, { path: root, format: 'yolo' });
    expect(Date.now() - t0).toBeLessThan(GENEROUS_MS);
    expect(dup.problems).toContainEqual(expect.objectContaining({ file: 'data.yaml', severity: 'error', message: expect.stringMatching(/^not valid YAML \(Map keys must be unique at line 100004, column 3/) }));

    fs.writeFileSync(path.join(root, 'data.yaml'), yaml(names));
    t0 = Date.now();
    const r = await importDataset(ds, { path: root, format: 'yolo' });
    expect(Date.now() - t0).toBeLessThan(GENEROUS_MS);
    expect(r.classes).toHaveLength(n);
    const stored = await classNamesInOrder(ds);
    expect(stored).toHaveLength(n);
    expect(stored.slice(0, 2)).toEqual(['name 0', 'name 1']);
    expect(stored.at(-1)).toBe('name 99999');
    expect(await perClassInDb(ds)).toEqual({ 'name 0': 1, 'name 99999': 1 });
  });

  it('rolls back every written batch when a later step fails', async () => {
    const root = tempDir();
    await makeImages(path.join(root, 'imgs'));
    const ds = await dataset(root);
    // Splits are set after all annotation batches: failing there must undo them all.
    await injectFault(ds.db, { name: 'fail_split', table: 'images', on: 'UPDATE OF split', message: 'disk full (simulated)' });
    const before = await tableCounts(ds);
    await expect(importDataset(ds, { path: root, format: 'coco', readers: [manyBoxes(root)] })).rejects.toThrow(/disk full/);
    expect(await tableCounts(ds)).toEqual(before);
  });
});

describe('the contract handlers', () => {
  it('inspect, import with progress, cancel, split and export through the contract', async () => {
    const voc = sharedPath('datasets/bccd_voc');
    if (!voc) return;
    const events: JobProgress[] = [];
    const ws = new Workspace({ configDir: tempDir(), mode: 'web', version: 't', emit: (_e, p) => events.push(p as JobProgress) });
    const dir = tempDir();
    try {
      expect(await dispatch(ws.handlers, 'dataset:create', { path: path.join(dir, 'w.tessera'), root: voc })).toMatchObject({ ok: true });
      const inspected = await dispatch(ws.handlers, 'interchange:inspect', { path: voc });
      expect(inspected).toMatchObject({ ok: true, value: { format: 'voc', dryRun: true, images: { added: 28 } } });

      // Cancelled before it reaches the write: an error with a code, and nothing written.
      const cancelled = dispatch(ws.handlers, 'interchange:import', { jobId: 'imp1', path: voc });
      expect(await dispatch(ws.handlers, 'jobs:cancel', { jobId: 'imp1' })).toEqual({ ok: true, value: true });
      expect(await cancelled).toMatchObject({ ok: false, error: { code: 'CANCELLED' } });
      expect((await ws.current!.info()).images.total).toBe(0);

      const imported = await dispatch(ws.handlers, 'interchange:import', { jobId: 'imp2', path: voc, format: 'voc' });
      expect(imported).toMatchObject({ ok: true, value: { dryRun: false, images: { added: 28 } } });
      const mine = events.filter((e) => e.jobId === 'imp2');
      expect(mine.every((e) => e.kind === 'interchange-import')).toBe(true);
      expect(mine.map((e) => e.phase)).toEqual(expect.arrayContaining(['scanning', 'probing', 'writing', 'done']));
      expect(mine.at(-1)).toMatchObject({ phase: 'done', imported: 28 });

      const splits = await dispatch(ws.handlers, 'splits:assign', { ratios: [0.5, 0.25, 0.25], seed: 1 });
      expect(splits.ok).toBe(true);
      const bySplit = (splits as { value: Record<'train' | 'val' | 'test' | 'none', number> }).value;
      expect(bySplit.train + bySplit.val + bySplit.test + bySplit.none).toBe(28);
      expect(bySplit.train).toBeGreaterThan(bySplit.test);

      const out = path.join(dir, 'coco-out');
      const exported = await dispatch(ws.handlers, 'interchange:export', { jobId: 'exp1', outDir: out, format: 'coco', images: 'none' });
      expect(exported).toMatchObject({ ok: true, value: { format: 'coco', images: 28 } });
      const exportEvents = events.filter((e) => e.jobId === 'exp1');
      expect(exportEvents.length).toBeGreaterThan(0);
      expect(exportEvents.every((e) => e.kind === 'export')).toBe(true);
      expect(exportEvents.at(-1)).toMatchObject({ phase: 'done', done: 28, total: 28 });
    } finally {
      await ws.close();
    }
  });
});

describe('labelme images found only embedded in their JSON', () => {
  it('are used from imageData: a dry run writes nothing under the root, the import stores them in embedded-images/', async () => {
    const root = tempDir();
    const files = await makeImages(path.join(tempDir(), 'src'));
    const bytes = fs.readFileSync(files['b.png']!); // 40 x 30
    fs.mkdirSync(path.join(root, 'ann'));
    fs.writeFileSync(
      path.join(root, 'ann', 'cells.json'),
      JSON.stringify({
        version: '5.4.1',
        flags: {},
        shapes: [{ label: 'cell', points: [[2, 3], [12, 13]], shape_type: 'rectangle', group_id: null, flags: {} }],
        imagePath: 'cells.png',
        imageData: bytes.toString('base64'),
        imageHeight: 30,
        imageWidth: 40,
      }),
    );
    const ds = await dataset(root);
    const dry = await inspectDataset(ds, { path: path.join(root, 'ann'), format: 'labelme' });
    expect(dry.images).toMatchObject({ total: 1, added: 1, missing: 0 });
    expect(dry.counters['embeddedImagesUsed']).toBe(1);
    expect(fs.existsSync(path.join(root, 'embedded-images'))).toBe(false);
    expect((await tableCounts(ds))['images']).toBe(0);

    const done = await importDataset(ds, { path: path.join(root, 'ann'), format: 'labelme' });
    expect(done.images.added).toBe(1);
    const row = await ds.db.prepare('SELECT path, width, height, external FROM images').get() as { path: string; width: number; height: number; external: number };
    expect(row).toEqual({ path: 'embedded-images/cells.png', width: 40, height: 30, external: 0 });
    expect(fs.readFileSync(path.join(root, 'embedded-images', 'cells.png')).equals(bytes)).toBe(true);
    const box = await ds.db.prepare('SELECT geometry FROM annotations').pluck().get() as string;
    expect(JSON.parse(box)).toMatchObject({ kind: 'box', w: 10, h: 10 });

    // Importing again matches the stored image by content and writes nothing new.
    const again = await importDataset(ds, { path: path.join(root, 'ann'), format: 'labelme' });
    expect(again.images).toMatchObject({ added: 0, matched: 1 });
    expect((await tableCounts(ds))['images']).toBe(1);
  });
});

describe('inputs refused as a whole', () => {
  it('an unreadable file, one whose images are not a list, or one with no usable image writes nothing, not even its classes', async () => {
    const root = tempDir();
    await makeImages(path.join(root, 'imgs'));
    const ds = await dataset(root);
    const categories = Array.from({ length: 80 }, (_, i) => ({ id: i + 1, name: `class ${i + 1}` }));
    const good = { images: [{ id: 1, file_name: 'imgs/b.png', width: 40, height: 30 }], annotations: [{ id: 1, image_id: 1, category_id: 3, bbox: [1, 1, 5, 5] }], categories };
    const cases: [string, string, AppError['code'], RegExp][] = [
      ['cut.json', JSON.stringify(good).slice(0, 100), 'UNSUPPORTED_FORMAT', /cut\.json: no image to import: cut\.json: is not valid JSON/],
      ['not-a-list.json', JSON.stringify({ ...good, images: { id: 1 } }), 'UNSUPPORTED_FORMAT', /not-a-list\.json: no image to import: .*\(images\): must be an array/],
      ['gone.json', JSON.stringify({ ...good, images: [{ id: 1, file_name: 'imgs/gone.png', width: 40, height: 30 }] }), 'FILE_MISSING', /gone\.json: its one image cannot be used: .*gone\.png not found/],
    ];
    const before = await tableCounts(ds);
    for (const [name, text, code, message] of cases) {
      const file = path.join(root, name);
      fs.writeFileSync(file, text);
      const dry = await inspectDataset(ds, { path: file, format: 'coco' });
      expect(dry.refused, name).toBeTruthy();
      const e = (await importDataset(ds, { path: file, format: 'coco' }).catch((x: unknown) => x)) as AppError;
      expect(e.code, name).toBe(code);
      expect(e.message).toMatch(message);
      expect(e.message).toMatch(/nothing was written$/);
      expect(await tableCounts(ds), name).toEqual(before);
    }
    // The same file with its image present imports, all 80 classes included when asked.
    const file = path.join(root, 'good.json');
    fs.writeFileSync(file, JSON.stringify(good));
    const done = await importDataset(ds, { path: file, format: 'coco', keepEmptyClasses: true });
    expect(done.refused).toBeUndefined();
    expect(await tableCounts(ds)).toMatchObject({ images: 1, classes: 80, annotations: 1 });
  });
});

describe('a labelme folder with one hostile file', () => {
  it('a file of lists nested 100,000 deep is reported by name and the rest of the folder imports', async () => {
    const root = tempDir();
    await makeImages(path.join(root, 'imgs'));
    const doc = (image: string, over: Record<string, unknown> = {}, shape: Record<string, unknown> = {}) => ({
      version: '5.5.0',
      flags: {},
      imagePath: image,
      imageData: null,
      imageWidth: 40,
      imageHeight: 30,
      shapes: [{ label: 'cell', shape_type: 'rectangle', points: [[1, 1], [5, 5]], group_id: null, flags: {}, ...shape }],
      ...over,
    });
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    const mark = '"__DEEP__"';
    // Each of the fields whose value ended up in a message used to throw "Maximum call stack size exceeded".
    const hostile: [string, string][] = [
      ['w.json', JSON.stringify(doc('b.png', { imageWidth: '__DEEP__' }))],
      ['t.json', JSON.stringify(doc('c.webp', { imageWidth: 32, imageHeight: 32 }, { shape_type: '__DEEP__' }))],
      ['g.json', JSON.stringify(doc('d16.png', { imageWidth: 50, imageHeight: 20 }, { group_id: '__DEEP__' }))],
    ];
    fs.writeFileSync(path.join(root, 'imgs', 'a.json'), JSON.stringify(doc('a.jpg', { imageWidth: 64, imageHeight: 48 })));
    for (const [name, text] of hostile) fs.writeFileSync(path.join(root, 'imgs', name), text.replace(mark, deep));
    const ds = await dataset(root);
    const r = await importDataset(ds, { path: path.join(root, 'imgs'), format: 'labelme' });
    expect(r.images.added).toBe(4);
    expect(r.problems.map((p) => [p.file, p.where, p.severity])).toEqual([
      ['g.json', 'shapes[0].group_id', 'warning'],
      ['t.json', 'shapes[0]', 'warning'],
      ['w.json', 'imageWidth', 'warning'],
    ]);
    expect(r.problems.every((p) => p.message.length < 300)).toBe(true);
    // The rectangle of every file but the one whose shape type is unreadable.
    expect(await perClassInDb(ds)).toEqual({ cell: 3 });
  });

  it('follows links to annotation files but not to folders, and names a dangling link or a loop instead of dropping it', async () => {
    const root = tempDir();
    const ann = path.join(root, 'ann');
    await makeImages(ann);
    const doc = (image: string, w: number, h: number) => ({ version: '5.5.0', flags: {}, imagePath: image, imageData: null, imageWidth: w, imageHeight: h, shapes: [{ label: 'cell', shape_type: 'rectangle', points: [[1, 1], [5, 5]], group_id: null, flags: {} }] });
    const kept = path.join(root, 'kept');
    fs.mkdirSync(path.join(kept, 'more'), { recursive: true });
    fs.writeFileSync(path.join(ann, 'a.json'), JSON.stringify(doc('a.jpg', 64, 48)));
    fs.writeFileSync(path.join(kept, 'b.json'), JSON.stringify(doc('b.png', 40, 30)));
    fs.mkdirSync(path.join(ann, 'sub'));
    fs.writeFileSync(path.join(ann, 'sub', 'c.json'), JSON.stringify(doc('../c.webp', 32, 32)));
    fs.symlinkSync(path.join(kept, 'b.json'), path.join(ann, 'b.json')); // a link to a file
    fs.symlinkSync(path.join(ann, 'sub'), path.join(ann, 'again')); // a folder reached twice
    fs.symlinkSync(ann, path.join(ann, 'sub', 'up')); // a loop of folders
    fs.symlinkSync(path.join(root, 'gone.json'), path.join(ann, 'gone.json')); // dangling
    fs.symlinkSync(path.join(ann, 'self.json'), path.join(ann, 'self.json')); // a link to itself
    // A hidden folder is not walked, and neither is a link to it.
    fs.mkdirSync(path.join(ann, '.hidden'));
    await sharp({ create: { width: 20, height: 10, channels: 3, background: '#808080' } }).png().toFile(path.join(ann, 'd.png'));
    fs.writeFileSync(path.join(ann, '.hidden', 'd.json'), JSON.stringify(doc('../d.png', 20, 10)));
    fs.symlinkSync(path.join(ann, '.hidden'), path.join(ann, 'visible'));
    const ds = await dataset(root);
    const r = await importDataset(ds, { path: ann, format: 'labelme' });
    expect(r.images.added).toBe(3);
    expect(await perClassInDb(ds)).toEqual({ cell: 3 });
    expect(r.problems.filter((p) => p.severity === 'error').map((p) => p.file).sort()).toEqual(['gone.json', 'self.json']);
    expect(r.problems.every((p) => /cannot be read/.test(p.message))).toBe(true);
  });

  it('names annotation files by their own folder, not by a link to it, so relative image paths resolve', async () => {
    const root = tempDir();
    const data = path.join(root, 'data');
    fs.mkdirSync(path.join(data, 'images'), { recursive: true });
    fs.mkdirSync(path.join(data, 'labels'));
    fs.mkdirSync(path.join(data, 'aa'));
    await sharp({ create: { width: 40, height: 30, channels: 3, background: '#808080' } }).png().toFile(path.join(data, 'images', 'x.png'));
    const doc = { version: '5.5.0', flags: {}, imagePath: '../images/x.png', imageData: null, imageWidth: 40, imageHeight: 30, shapes: [{ label: 'cell', shape_type: 'rectangle', points: [[1, 1], [5, 5]], group_id: null, flags: {} }] };
    fs.writeFileSync(path.join(data, 'labels', 'x.json'), JSON.stringify(doc));
    // Sorted before labels/, this link used to be walked first and name the file aa/shortcut/x.json.
    fs.symlinkSync('../labels', path.join(data, 'aa', 'shortcut'));
    const ds = await dataset(root);
    const r = await importDataset(ds, { path: data, format: 'labelme' });
    expect(r.problems.filter((p) => p.severity === 'error')).toEqual([]);
    expect(r.images.added).toBe(1);
    expect(await perClassInDb(ds)).toEqual({ cell: 1 });
    const rows = await ds.db.prepare('SELECT path FROM images').all() as { path: string }[];
    expect(rows.map((x) => x.path)).toEqual(['data/images/x.png']);
  });
});

describe('a dry run without --probe', () => {
  it('does not open the image files: a damaged image is reported only when probing is asked for, and by the import', async () => {
    const root = tempDir();
    const files = await makeImages(path.join(root, 'imgs'));
    // Cut short: its header still reads, its end is gone.
    const png = fs.readFileSync(files['b.png']!);
    fs.writeFileSync(path.join(root, 'imgs', 'cut.png'), png.subarray(0, png.length - 20));
    const categories = [{ id: 1, name: 'cell' }];
    const doc = {
      images: [
        { id: 1, file_name: 'imgs/b.png', width: 40, height: 30 },
        { id: 2, file_name: 'imgs/cut.png', width: 40, height: 30 },
        { id: 3, file_name: 'imgs/gone.png', width: 40, height: 30 },
      ],
      annotations: [1, 2, 3].map((k) => ({ id: k, image_id: k, category_id: 1, bbox: [1, 1, 5, 5] })),
      categories,
    };
    const json = path.join(root, 'ann.json');
    fs.writeFileSync(json, JSON.stringify(doc));
    const ds = await dataset(root);

    const quick = await inspectDataset(ds, { path: json, format: 'coco' });
    expect(quick.images).toEqual({ total: 3, matched: 0, added: 2, missing: 1 });
    expect(quick.annotations.total).toBe(2);
    expect(quick.counters['imagesNotProbed']).toBe(2);
    expect(quick.problems.map((p) => p.message)).toEqual([expect.stringMatching(/gone\.png not found/)]);

    const probed = await inspectDataset(ds, { path: json, format: 'coco', probe: true });
    expect(probed.images).toEqual({ total: 3, matched: 0, added: 1, missing: 1 });
    expect(probed.annotations.total).toBe(1);
    expect(probed.counters['imagesNotProbed']).toBeUndefined();
    expect(probed.problems.map((p) => p.message)).toEqual([expect.stringMatching(/gone\.png not found/), expect.stringMatching(/cut\.png: truncated PNG/)]);

    const done = await importDataset(ds, { path: json, format: 'coco' });
    expect({ ...done, dryRun: null, elapsedMs: null }).toEqual({ ...probed, dryRun: null, elapsedMs: null });
    expect(await tableCounts(ds)).toMatchObject({ images: 1, annotations: 1 });

    // Images already stored are matched by path without opening them, and their annotations
    // recognised as duplicates; a stated size the dataset contradicts is still refused.
    const again = await inspectDataset(ds, { path: json, format: 'coco' });
    expect(again.images).toMatchObject({ matched: 1, added: 1 });
    expect(again.counters['duplicateAnnotations']).toBe(1);
    fs.writeFileSync(json, JSON.stringify({ ...doc, images: [{ id: 1, file_name: 'imgs/b.png', width: 41, height: 30 }], annotations: doc.annotations.slice(0, 1) }));
    const wrong = await inspectDataset(ds, { path: json, format: 'coco' });
    expect(wrong.problems.map((p) => p.message)).toContainEqual(expect.stringMatching(/states 41x30 but the dataset has it as 40x30/));
    expect(wrong.images).toMatchObject({ matched: 0, added: 0 });
  });
});
