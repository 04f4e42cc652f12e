import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import type { ExportImage } from '../../../src-main/common/formats/types';
import { encodeMask } from '../../../src-main/common/geometry';
import type { Geometry } from '../../../src-main/common/model';
import { insertAnnotations, type NewAnnotation } from '../../../src-main/db/annotations';
import { insertClass, setClassOrder } from '../../../src-main/db/classes';
import { insertImages, listImages, setStatus } from '../../../src-main/db/images';
import { insertModelRun } from '../../../src-main/db/modelRuns';
import { Dataset } from '../../../src-main/services/dataset';
import { importImages } from '../../../src-main/services/importer';
import { exportDataset, type ExportOptions, type WriterLookup } from '../../../src-main/services/interchange/exportDataset';
import type { FormatWriter } from '../../../src-main/services/interchange/types';
import { tempDir } from '../../helpers/shared';

const open: Dataset[] = [];
afterEach(async () => {
  for (const ds of open.splice(0)) await ds.close();
});

interface Fixture {
  dir: string;
  ds: Dataset;
  /** Image ids by file name. */
  ids: Record<string, number>;
  classes: Record<string, number>;
}

/**
 * A real dataset: PNG files in two folders (one name used twice), a JPEG stored rotated with
 * EXIF orientation 6, classes cell / nucleus / debris / blurry.
 */
async function fixture(): Promise<Fixture> {
  const dir = tempDir('tessera-export-');
  const root = path.join(dir, 'imgs');
  fs.mkdirSync(path.join(root, 'a'), { recursive: true });
  fs.mkdirSync(path.join(root, 'b'), { recursive: true });
  const png = (w: number, h: number, seed: number, file: string) =>
    sharp({ create: { width: w, height: h, channels: 3, background: { r: seed * 20, g: 100, b: 200 - seed * 10 } } }).png().toFile(path.join(root, file));
  await png(40, 30, 1, 'a/one.png');
  await png(40, 30, 2, 'a/two.png');
  await png(40, 30, 3, 'b/one.png');
  await png(20, 10, 4, 'a/three.png');
  // Raw pixels 30 wide and 20 high, displayed rotated (orientation 6): 20 wide and 30 high.
  await sharp({ create: { width: 30, height: 20, channels: 3, background: { r: 250, g: 10, b: 10 } } })
    .withMetadata({ orientation: 6 })
    .jpeg()
    .toFile(path.join(root, 'a', 'rotated.jpg'));
  const ds = await Dataset.create(path.join(dir, 'd.tessera'), root);
  open.push(ds);
  const rep = await importImages(ds, { paths: [root] });
  expect(rep.imported).toBe(5);
  const ids: Record<string, number> = {};
  for (const im of await listImages(ds.db, {}, 0, 100)) ids[im.path] = im.id;
  const classes: Record<string, number> = {};
  for (const name of ['cell', 'nucleus', 'debris', 'blurry']) classes[name] = (await insertClass(ds.db, { name, color: '#112233' })).id;
  return { dir, ds, ids, classes };
}

function opts(outDir: string, extra: Partial<ExportOptions> = {}): ExportOptions {
  return {
    outDir,
    format: 'voc',
    only: 'all',
    withPredictions: false,
    images: 'none',
    strict: false,
    cocoSegmentation: 'polygon',
    ...extra,
  };
}

/** A writer of the format's capabilities that keeps what the exporter hands it and writes one file per image. */
function recorder(format: FormatWriter['format']): { lookup: WriterLookup; seen: ExportImage[] } {
  const seen: ExportImage[] = [];
  const writer: FormatWriter = {
    format,
    imagePath: (name, split) => `images/${split ?? 'all'}/${name}`,
    async write(outDir, _classes, images) {
      let files = 0;
      for await (const im of images) {
        seen.push(im);
        fs.writeFileSync(path.join(outDir, `${im.id}.json`), JSON.stringify(im.annotations));
        files++;
      }
      return { files, emptyLabelFiles: 0 };
    },
  };
  return { lookup: async () => writer, seen };
}

const box = (x: number, y: number, w: number, h: number): Geometry => ({ kind: 'box', x, y, w, h });
const poly = (...xy: number[]): Geometry => ({ kind: 'polygon', parts: [xy] });
function maskRect(w: number, h: number, x0: number, y0: number, x1: number, y1: number): Geometry {
  const m = new Uint8Array(w * h);
  for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) m[y * w + x] = 1;
  return { kind: 'mask', rle: encodeMask(m, w, h) };
}

function siblings(outDir: string): string[] {
  return fs.readdirSync(path.dirname(outDir)).filter((n) => n.includes(path.basename(outDir)));
}

describe('exportDataset', () => {
  it('refuses a folder that is not empty and leaves it as it was; accepts an empty one', async () => {
    const f = await fixture();
    const out = path.join(f.dir, 'out');
    fs.mkdirSync(out);
    fs.writeFileSync(path.join(out, 'keep.txt'), 'x');
    await expect(exportDataset(f.ds, opts(out))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(fs.readdirSync(out)).toEqual(['keep.txt']);

    const empty = path.join(f.dir, 'empty');
    fs.mkdirSync(empty);
    const rep = await exportDataset(f.ds, opts(empty));
    expect(rep.images).toBe(5);
    expect(fs.readdirSync(empty).length).toBeGreaterThan(0);
    expect(siblings(empty)).toEqual(['empty']);
  });

  it('hands images in id order with classes in panel order, tags apart, crowd from iscrowd, predictions only when asked', async () => {
    const f = await fixture();
    const { cell, nucleus, debris, blurry } = f.classes;
    await setClassOrder(f.ds.db, [debris!, cell!, nucleus!, blurry!]);
    const run = await insertModelRun(f.ds.db, { model: 'm' });
    const one = f.ids['a/one.png']!;
    const anns: NewAnnotation[] = [
      { imageId: one, classId: cell!, geometry: box(1, 2, 3, 4), source: 'human', z: 2 },
      { imageId: one, classId: nucleus!, geometry: box(5, 5, 2, 2), source: 'human', attributes: { iscrowd: true, note: 'n' }, z: 1 },
      { imageId: one, classId: blurry!, geometry: { kind: 'tag' }, source: 'human' },
      { imageId: one, classId: debris!, geometry: box(0, 0, 9, 9), source: 'model', modelRunId: run, score: 0.75 },
    ];
    await insertAnnotations(f.ds.db, anns);

    const a = recorder('coco');
    const rep = await exportDataset(f.ds, opts(path.join(f.dir, 'o1'), { format: 'coco' }), a.lookup);
    expect(a.seen.map((i) => i.id)).toEqual(Object.values(f.ids).sort((x, y) => x - y));
    const im = a.seen.find((i) => i.id === one)!;
    expect(im.tags).toEqual(['blurry']);
    // z order: the nucleus (z 1) before the cell (z 2).
    expect(im.annotations.map((x) => [x.label, x.classIndex])).toEqual([
      ['nucleus', 2],
      ['cell', 1],
    ]);
    expect(im.annotations[0]!.crowd).toBe(true);
    expect(im.annotations[0]!.attributes).toEqual({ note: 'n' });
    expect(im.annotations[1]!.crowd).toBeUndefined();
    expect(rep.annotations).toBe(2);
    expect(rep.warnings).toEqual([]);

    const b = recorder('coco');
    await exportDataset(f.ds, opts(path.join(f.dir, 'o2'), { format: 'coco', withPredictions: true }), b.lookup);
    const withPred = b.seen.find((i) => i.id === one)!;
    expect(withPred.annotations.map((x) => x.label)).toEqual(['debris', 'nucleus', 'cell']);
    expect(withPred.annotations[0]!.score).toBe(0.75);
  });

  it('exports only done and reviewed images, or only reviewed ones', async () => {
    const f = await fixture();
    await setStatus(f.ds.db, [f.ids['a/one.png']!], 'done');
    await setStatus(f.ds.db, [f.ids['a/two.png']!], 'reviewed');
    await setStatus(f.ds.db, [f.ids['b/one.png']!], 'in_progress');
    const done = recorder('voc');
    const r1 = await exportDataset(f.ds, opts(path.join(f.dir, 'd'), { only: 'done' }), done.lookup);
    expect(done.seen.map((i) => i.id)).toEqual([f.ids['a/one.png'], f.ids['a/two.png']]);
    expect(r1.images).toBe(2);
    const reviewed = recorder('voc');
    await exportDataset(f.ds, opts(path.join(f.dir, 'r'), { only: 'reviewed' }), reviewed.lookup);
    expect(reviewed.seen.map((i) => i.id)).toEqual([f.ids['a/two.png']]);
  });

  it('exports a dataset that remembers 130,000 COCO image ids, unremembered images numbered past the largest', async () => {
    const f = await fixture();
    const n = 130_000;
    // Image rows for the remembered ids, marked new, so an export of done images leaves them out.
    await f.ds.db
      .prepare(
        `WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < ?)
         INSERT INTO images (path, content_hash, file_size, file_mtime_ms, width, height, channels, bit_depth, format, created_at, updated_at)
         SELECT 'far/' || i || '.png', 'hash' || i, 1, 0, 10, 10, 3, 8, 'png', 0, 0 FROM k`,
      )
      .run(n);
    await f.ds.db.prepare("INSERT INTO coco_image_ids (image_id, coco_id) SELECT id, 1000 + id FROM images WHERE path LIKE 'far/%'").run();
    const largest = await f.ds.db.prepare('SELECT max(coco_id) FROM coco_image_ids').pluck().get() as number;
    expect(await f.ds.db.prepare('SELECT count(*) FROM coco_image_ids').pluck().get()).toBe(n);
    const one = f.ids['a/one.png']!;
    await setStatus(f.ds.db, [one], 'done');
    const a = recorder('coco');
    const rep = await exportDataset(f.ds, opts(path.join(f.dir, 'big'), { format: 'coco', only: 'done' }), a.lookup);
    expect(rep.images).toBe(1);
    expect(a.seen.map((i) => [i.id, i.cocoId])).toEqual([[one, largest + one]]);
  });

  it('converts what the format cannot hold and counts every conversion (real VOC writer)', async () => {
    const f = await fixture();
    const { cell, nucleus } = f.classes;
    const one = f.ids['a/one.png']!;
    const two = f.ids['a/two.png']!;
    await insertAnnotations(f.ds.db, [
      { imageId: one, classId: cell!, geometry: poly(1, 1, 9, 2, 4, 8), source: 'human' },
      { imageId: one, classId: cell!, geometry: poly(10, 10, 20, 10, 20, 20), source: 'human' },
      { imageId: two, classId: nucleus!, geometry: maskRect(40, 30, 3, 4, 8, 10), source: 'human' },
      { imageId: two, classId: nucleus!, geometry: box(1, 1, 5, 5), source: 'human' },
    ]);
    const out = path.join(f.dir, 'voc');
    const rep = await exportDataset(f.ds, opts(out));
    const byKind = Object.fromEntries(rep.warnings.map((w) => [w.kind, w.count]));
    expect(byKind).toEqual({ 'polygon→box': 2, 'mask→box': 1 });
    expect(rep.annotations).toBe(4);
    const xml = fs
      .readdirSync(out, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile() && e.name.endsWith('.xml'))
      .map((e) => fs.readFileSync(path.join(e.parentPath, e.name), 'utf8'))
      .join('\n');
    expect(xml.match(/<object>/g)).toHaveLength(4);
    // The mask's bounding box: pixels 3..7 and 4..9, i.e. 3,4 to 8,10 in pixel-edge coordinates,
    // which VOC's 1-based inclusive corners write as 4,5 to 8,10.
    expect(xml).toMatch(/<xmin>4(\.0+)?<\/xmin>\s*<ymin>5(\.0+)?<\/ymin>\s*<xmax>8(\.0+)?<\/xmax>\s*<ymax>10(\.0+)?<\/ymax>/);
  });

  it('strict refuses any needed conversion before writing, naming the first image and the total', async () => {
    const f = await fixture();
    const first = f.ids['a/one.png']!;
    const later = f.ids['b/one.png']!;
    expect(first).toBeLessThan(later);
    await insertAnnotations(f.ds.db, [
      { imageId: first, classId: f.classes['cell']!, geometry: box(1, 1, 5, 5), source: 'human' },
      { imageId: later, classId: f.classes['cell']!, geometry: poly(1, 1, 9, 2, 4, 8), source: 'human' },
      { imageId: first, classId: f.classes['cell']!, geometry: { kind: 'point', x: 3, y: 3 }, source: 'human' },
    ]);
    const out = path.join(f.dir, 'strict');
    const err = await exportDataset(f.ds, opts(out, { strict: true, format: 'voc', images: 'copy' })).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect((err as Error).message).toContain('a/one.png');
    expect((err as Error).message).toContain('point');
    expect((err as Error).message).toMatch(/\b2 annotation/);
    expect(fs.existsSync(out)).toBe(false);
    expect(siblings(out)).toEqual([]);
    // The same dataset passes strict where no conversion is needed.
    const labelme = await exportDataset(f.ds, opts(path.join(f.dir, 'lm'), { strict: true, format: 'labelme' }));
    expect(labelme.warnings).toEqual([]);
  });

  it('warns when an image loses all its annotations in conversion instead of writing a silently empty label', async () => {
    const f = await fixture();
    const one = f.ids['a/one.png']!;
    await insertAnnotations(f.ds.db, [
      { imageId: one, classId: f.classes['cell']!, geometry: { kind: 'point', x: 3, y: 3 }, source: 'human' },
      { imageId: one, classId: f.classes['cell']!, geometry: { kind: 'point', x: 5, y: 3 }, source: 'human' },
    ]);
    const rep = await exportDataset(f.ds, opts(path.join(f.dir, 'v')));
    const byKind = Object.fromEntries(rep.warnings.map((w) => [w.kind, w.count]));
    expect(byKind).toEqual({ 'unsupported:point': 2, 'dropped-all': 1 });
    expect(rep.annotations).toBe(0);
  });

  it('copies images (rotated ones written oriented), links them, and keeps names unique', async () => {
    const f = await fixture();
    const out = path.join(f.dir, 'copy');
    const rep = await exportDataset(f.ds, opts(out, { images: 'copy', format: 'masks' }));
    const files = fs.readdirSync(path.join(out, 'JPEGImages')).sort();
    expect(files).toEqual([`one.png`, `one_${f.ids['b/one.png']}.png`, 'rotated.jpg', 'three.png', 'two.png']);
    expect(fs.readFileSync(path.join(out, 'JPEGImages', 'two.png'))).toEqual(fs.readFileSync(path.join(f.ds.root, 'a', 'two.png')));
    const meta = await sharp(path.join(out, 'JPEGImages', 'rotated.jpg')).metadata();
    expect([meta.width, meta.height, meta.orientation ?? 1]).toEqual([20, 30, 1]);
    expect(rep.bySplit).toEqual({ train: 0, val: 0, test: 0, none: 5 });

    const linked = path.join(f.dir, 'link');
    await exportDataset(f.ds, opts(linked, { images: 'link', format: 'masks' }));
    const src = fs.statSync(path.join(f.ds.root, 'a', 'two.png'));
    const dst = fs.statSync(path.join(linked, 'JPEGImages', 'two.png'));
    expect(dst.ino).toBe(src.ino);
    const rot = fs.statSync(path.join(linked, 'JPEGImages', 'rotated.jpg'));
    expect(rot.ino).not.toBe(fs.statSync(path.join(f.ds.root, 'a', 'rotated.jpg')).ino);
  });

  it('a cancelled export leaves nothing on disk and reports progress until then', async () => {
    const f = await fixture();
    const out = path.join(f.dir, 'cancel');
    const seen: number[] = [];
    let calls = 0;
    const err = await exportDataset(f.ds, {
      ...opts(out, { images: 'copy', format: 'masks' }),
      isCancelled: () => ++calls > 3,
      onProgress: (p) => seen.push(p.done),
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'CANCELLED' });
    expect(fs.existsSync(out)).toBe(false);
    expect(siblings(out)).toEqual([]);

    const progress: { done: number; total: number }[] = [];
    await exportDataset(f.ds, { ...opts(path.join(f.dir, 'full')), onProgress: (p) => progress.push(p) });
    expect(progress[progress.length - 1]).toEqual({ done: 5, total: 5 });
  });

  it('never copies a file that a link inside the root leads to outside it', async () => {
    const f = await fixture();
    const secret = path.join(f.dir, 'secret.png');
    fs.copyFileSync(path.join(f.ds.root, 'a', 'two.png'), secret);
    fs.symlinkSync(secret, path.join(f.ds.root, 'a', 'link.png'));
    await insertImages(f.ds.db, [
      { path: 'a/link.png', external: false, contentHash: 'x', fileSize: 1, fileMtimeMs: 0, width: 40, height: 30, channels: 3, bitDepth: 8, format: 'png', frames: 1, orientation: 1 },
    ]);
    const out = path.join(f.dir, 'o');
    const rep = await exportDataset(f.ds, opts(out, { images: 'copy', format: 'masks' }));
    expect(rep.warnings).toEqual([expect.objectContaining({ kind: 'image-outside-root', count: 1 })]);
    expect(fs.existsSync(path.join(out, 'JPEGImages', 'link.png'))).toBe(false);
    expect(fs.existsSync(path.join(out, 'JPEGImages', 'two.png'))).toBe(true);
  });
});

describe('temporary folders of killed exports', () => {
  it('are removed by the next export into the same folder; live, foreign and look-alike folders are kept', async () => {
    const f = await fixture();
    const parent = path.join(f.dir, 'exports');
    fs.mkdirSync(parent);
    // The pid of a process that has ended, as after kill -9 of an exporting process.
    const deadPid = spawnSync(process.execPath, ['-e', '0']).pid!;
    const temp = (name: string, pid: number, marker: boolean, file?: string): string => {
      const dir = path.join(parent, `.${name}.export-${pid}-0badc0de`);
      fs.mkdirSync(dir);
      if (marker) fs.writeFileSync(path.join(dir, '.tessera-export.pid'), `${pid}\n`);
      if (file) fs.writeFileSync(path.join(dir, file), 'partial');
      return dir;
    };
    const killed = temp('first', deadPid, true, 'labels.xml');
    const killedEarly = temp('second', deadPid, false); // killed before the marker was written
    const earlierSamePid = temp('third', process.pid, true, 'a.xml'); // an earlier process with this pid
    const live = temp('running', process.ppid, true, 'b.xml'); // another process, still exporting
    const lookAlike = temp('mine', deadPid, false, 'notes.txt'); // a user's folder, no marker

    const out = path.join(parent, 'voc');
    const rep = await exportDataset(f.ds, opts(out));
    expect(rep.images).toBe(5);
    for (const gone of [killed, killedEarly, earlierSamePid]) expect(fs.existsSync(gone), gone).toBe(false);
    for (const kept of [live, lookAlike]) expect(fs.existsSync(kept), kept).toBe(true);
    expect(fs.readdirSync(out)).not.toContain('.tessera-export.pid');
    expect(fs.readdirSync(parent).sort()).toEqual([path.basename(live), path.basename(lookAlike), 'voc'].sort());
  });
});
