import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ExportClass, ExportImage, InterchangeDataset, InterchangeImage } from '../../../src-main/common/formats/types';
import { polygonToRle, rleArea, rleBBox, rleFromString } from '../../../src-main/common/geometry';
import { cocoReader, cocoWriter, cocoWriterWith } from '../../../src-main/services/interchange/formats/coco';
import type { FormatWriter } from '../../../src-main/services/interchange/types';
import { sharedPath, tempDir } from '../../helpers/shared';

const TINY = sharedPath('datasets/coco_tinycoco');
const DATUMARO = sharedPath('datasets/datumaro_assets/coco_dataset');

function annotationsOf(ds: InterchangeDataset) {
  return ds.images.flatMap((i) => i.annotations);
}

/** What the exporter hands a writer: Tessera ids, class positions, output-relative image paths. */
function asExport(ds: InterchangeDataset, writer: FormatWriter): { classes: ExportClass[]; images: ExportImage[] } {
  const classes = ds.classes.map((name, index) => ({ index, name, color: '#ff0000' }));
  let annId = 1000;
  const images = ds.images.map((im, i) => ({
    id: i + 1,
    file: writer.imagePath(path.posix.basename(im.file), im.split ?? null),
    source: im.file,
    width: im.width!,
    height: im.height!,
    split: im.split ?? null,
    tags: im.tags,
    annotations: im.annotations.map((a) => ({ ...a, id: annId++, classIndex: ds.classes.indexOf(a.label) })),
  }));
  return { classes, images };
}

async function* stream<T>(items: Iterable<T>): AsyncIterable<T> {
  for (const x of items) yield x;
}

function noWarnings() {
  const warnings: string[] = [];
  return { warnings, ctx: { warn: (kind: string, message: string) => warnings.push(`${kind}: ${message}`) } };
}

/** Images keyed by file name, annotations reduced to what a round trip must keep. */
function comparable(ds: InterchangeDataset) {
  return new Map(
    ds.images.map((im: InterchangeImage) => [
      path.posix.basename(im.file),
      { width: im.width, height: im.height, split: im.split, annotations: im.annotations.map((a) => ({ label: a.label, geometry: a.geometry, crowd: a.crowd ?? false, attributes: a.attributes, score: a.score })) },
    ]),
  );
}

async function roundTrip(ds: InterchangeDataset, writer: FormatWriter) {
  const out = tempDir('tessera-coco-');
  const { classes, images } = asExport(ds, writer);
  const { warnings, ctx } = noWarnings();
  const written = await writer.write(out, classes, stream(images), ctx);
  const again = await cocoReader.read(out);
  return { out, written, warnings, again };
}

function writeJson(dir: string, rel: string, value: unknown): string {
  const f = path.join(dir, rel);
  fs.mkdirSync(path.dirname(f), { recursive: true });
  fs.writeFileSync(f, typeof value === 'string' ? value : JSON.stringify(value));
  return f;
}

describe.skipIf(!TINY)('coco_tinycoco', () => {
  it('reads what the dataset README states: 32 images, 288 annotations, 4 crowd RLE, 2 without annotations', async () => {
    expect(await cocoReader.detect(TINY!)).toBeGreaterThan(0.5);
    const json = path.join(TINY!, 'annotations/instances_train2017.json');
    expect(await cocoReader.detect(json)).toBeGreaterThan(0.5);
    const ds = await cocoReader.read(TINY!);
    expect(ds.problems).toEqual([]);
    expect(ds.images).toHaveLength(32);
    const anns = annotationsOf(ds);
    expect(anns).toHaveLength(288);
    const crowd = anns.filter((a) => a.crowd);
    expect(crowd).toHaveLength(4);
    expect(crowd.every((a) => a.geometry.kind === 'mask')).toBe(true);
    expect(anns.filter((a) => a.geometry.kind === 'polygon' && a.geometry.parts.length > 1).length).toBe(17);
    expect(ds.images.filter((i) => i.annotations.length === 0)).toHaveLength(2);
    expect(ds.classes).toHaveLength(80);
    expect(ds.classes.slice(0, 3)).toEqual(['person', 'bicycle', 'car']);
    expect(ds.images.every((i) => i.split === 'train')).toBe(true);
    // Keys resolve to the real files from the reader's base folder, for a folder and a file input.
    expect(cocoReader.baseDir(TINY!)).toBe(TINY);
    for (const im of ds.images) expect(fs.existsSync(path.join(TINY!, im.file)), im.file).toBe(true);
    const fromFile = await cocoReader.read(json);
    expect(cocoReader.baseDir(json)).toBe(TINY);
    expect(fromFile.images.map((i) => i.file)).toEqual(ds.images.map((i) => i.file));
    expect(ds.images[0]!.file).toBe('images/train2017/000000397133.jpg');
    const annDir = path.join(TINY!, 'annotations');
    expect(cocoReader.baseDir(annDir)).toBe(TINY);
    const fromAnnDir = await cocoReader.read(annDir);
    expect(fromAnnDir.problems).toEqual([]);
    expect(fromAnnDir.images.map((i) => i.file)).toEqual(ds.images.map((i) => i.file));
  });

  it('round trips through the writer: same images, labels, crowd flags and exact geometry', async () => {
    const ds = await cocoReader.read(TINY!);
    const { out, written, warnings, again } = await roundTrip(ds, cocoWriter);
    expect(warnings).toEqual([]);
    expect(written).toEqual({ files: 1, emptyLabelFiles: 0 });
    expect(fs.readdirSync(path.join(out, 'annotations'))).toEqual(['instances_train.json']);
    expect(again.problems).toEqual([]);
    expect(again.classes).toEqual(ds.classes);
    expect(comparable(again)).toEqual(comparable(ds));
    expect(again.images.map((i) => i.file)).toEqual(ds.images.map((i) => `images/train/${path.posix.basename(i.file)}`));

    // What pycocotools would read from the file: ids as given, areas and boxes consistent with the geometry.
    const json = JSON.parse(fs.readFileSync(path.join(out, 'annotations/instances_train.json'), 'utf8'));
    expect(json.images.map((i: { id: number }) => i.id)).toEqual(ds.images.map((_, i) => i + 1));
    expect(json.annotations[0].id).toBe(1000);
    expect(json.categories.map((c: { id: number }) => c.id)).toEqual(ds.classes.map((_, i) => i + 1));
    const sizes = new Map<number, { width: number; height: number }>(json.images.map((i: { id: number; width: number; height: number }) => [i.id, i]));
    for (const a of json.annotations) {
      const im = sizes.get(a.image_id)!;
      if (Array.isArray(a.segmentation)) expect(a.area).toBe(rleArea(polygonToRle(a.segmentation, im.height, im.width)));
      else {
        expect(a.iscrowd).toBe(1);
        expect(Array.isArray(a.segmentation.counts)).toBe(true);
        expect(a.area).toBe(rleArea(a.segmentation));
        const b = rleBBox(a.segmentation);
        expect(a.bbox).toEqual([b.x, b.y, b.w, b.h]);
      }
    }
  });

  it('writes polygons as RLE when asked, each the pycocotools rasterisation of the polygon', async () => {
    const ds = await cocoReader.read(TINY!);
    const { again } = await roundTrip(ds, cocoWriterWith({ segmentation: 'rle' }));
    expect(again.problems).toEqual([]);
    const before = annotationsOf(ds);
    const after = annotationsOf(again);
    expect(after).toHaveLength(288);
    for (let i = 0; i < before.length; i++) {
      const g = before[i]!.geometry;
      const size = ds.images.find((im) => im.annotations.includes(before[i]!))!;
      const want = g.kind === 'polygon' ? { kind: 'mask', rle: polygonToRle(g.parts, size.height!, size.width!) } : g;
      expect(after[i]!.geometry).toEqual(want);
      expect(after[i]!.crowd).toBe(before[i]!.crowd);
    }
  });
});

describe.skipIf(!DATUMARO)('datumaro COCO fixtures', () => {
  it('reads the instances layout with splits, attributes, a crowd RLE list and category id gaps, and round trips it', async () => {
    const root = path.join(DATUMARO!, 'coco_instances');
    const ds = await cocoReader.read(root);
    expect(ds.problems).toEqual([]);
    expect(ds.classes).toEqual(['a', 'b', 'c']);
    expect(ds.images.map((i) => [i.file, i.split, i.width, i.height])).toEqual([
      ['images/train/a.jpg', 'train', 10, 5],
      ['images/val/b.jpg', 'val', 5, 10],
    ]);
    for (const im of ds.images) expect(fs.existsSync(path.join(root, im.file))).toBe(true);
    const [a, b] = ds.images;
    expect(a!.annotations).toEqual([{ label: 'b', geometry: { kind: 'box', x: 2, y: 2, w: 3, h: 1 }, attributes: {}, crowd: false }]);
    expect(b!.annotations).toEqual([
      { label: 'a', geometry: { kind: 'polygon', parts: [[0, 0, 1, 0, 1, 2, 0, 2]] }, attributes: { x: 1, y: 'hello' }, crowd: false },
      // The crowd region's file box (pixel-index extent) is kept for evaluation; its area is the mask's.
      { label: 'b', geometry: { kind: 'mask', rle: { size: [10, 5], counts: [0, 20, 30] } }, attributes: { coco_reference: expect.stringMatching(/^\{"geometry":"mask:[^"]+","bbox":\[0,0,1,9\]\}$/) }, crowd: true },
    ]);

    const { out, written, again } = await roundTrip(ds, cocoWriter);
    expect(written.files).toBe(2);
    expect(fs.readdirSync(path.join(out, 'annotations')).sort()).toEqual(['instances_train.json', 'instances_val.json']);
    expect(again.problems).toEqual([]);
    expect(again.classes).toEqual(ds.classes);
    expect(comparable(again)).toEqual(comparable(ds));
  });

  it('finds images in the mmdetection and Roboflow layouts', async () => {
    const mm = await cocoReader.read(path.join(DATUMARO!, 'mmdet_coco'));
    expect(mm.problems).toEqual([]);
    expect(mm.images.map((i) => i.file)).toEqual(['train/a.jpg', 'val/b.jpg']);
    const rf = path.join(DATUMARO!, 'coco_roboflow');
    const ds = await cocoReader.read(rf);
    expect(ds.problems).toEqual([]);
    expect(ds.images.map((i) => [i.file, i.split])).toEqual([
      ['train/a.jpg', 'train'],
      ['val/b.jpg', 'val'],
    ]);
    const one = path.join(rf, 'val/_annotations.coco.json');
    expect(cocoReader.baseDir(one)).toBe(path.join(rf, 'val'));
    expect((await cocoReader.read(one)).images.map((i) => i.file)).toEqual(['b.jpg']);
  });

  it('reads only instance files from a folder with every COCO task, and rates the other tasks low', async () => {
    const root = path.join(DATUMARO!, 'coco');
    const ds = await cocoReader.read(root);
    expect(ds.problems).toEqual([]);
    expect(annotationsOf(ds)).toHaveLength(3);
    for (const task of ['captions_train', 'panoptic_val']) {
      expect(await cocoReader.detect(path.join(root, `annotations/${task}.json`)), task).toBeLessThan(0.5);
    }
    expect(await cocoReader.detect(path.join(root, 'annotations/instances_val.json'))).toBeGreaterThan(0.5);
    // Person keypoints files are instances with keypoints, read when picked (or alone in a folder).
    expect(await cocoReader.detect(path.join(root, 'annotations/person_keypoints_train.json'))).toBeGreaterThan(0.5);
  });

  it('does not take other JSON formats or folders for COCO', async () => {
    const assets = path.dirname(DATUMARO!);
    expect(await cocoReader.detect(path.join(assets, 'segment_anything_dataset/a.json'))).toBe(0);
    expect(await cocoReader.detect(path.join(assets, 'vott_json_dataset/dataset/train-export.json'))).toBe(0);
    expect(await cocoReader.detect(path.join(assets, 'voc_dataset'))).toBe(0);
    expect(await cocoReader.detect(path.join(assets, 'does-not-exist'))).toBe(0);
  });
});

describe('COCO reader on hand-written files', () => {
  const good = {
    images: [
      { id: 1, file_name: 'a.jpg', width: 4, height: 4 },
      { id: 2, file_name: '../../etc/passwd', width: 4, height: 4 },
    ],
    annotations: [
      { id: 1, image_id: 1, category_id: 1, bbox: [0, 0, 2, 2] },
      { id: 2, image_id: 2, category_id: 1, bbox: [0, 0, 2, 2] },
    ],
    categories: [{ id: 1, name: 'x' }],
  };

  it('refuses a file_name leading outside the image folder, naming the file and the path', async () => {
    const dir = tempDir('tessera-coco-');
    const f = writeJson(dir, 'annotations/instances_val.json', good);
    fs.mkdirSync(path.join(dir, 'images/val'), { recursive: true });
    const ds = await cocoReader.read(dir);
    expect(ds.images.map((i) => i.file)).toEqual(['images/val/a.jpg']);
    expect(ds.problems).toHaveLength(1);
    expect(ds.problems[0]).toMatchObject({ file: 'annotations/instances_val.json', where: 'images[1].file_name', severity: 'error' });
    expect(ds.problems[0]!.message).toContain('../../etc/passwd');
    expect((await cocoReader.read(f)).problems[0]!.file).toBe('annotations/instances_val.json');
  });

  it('reports unparseable JSON as one error with the position, and reads the other files', async () => {
    const dir = tempDir('tessera-coco-');
    writeJson(dir, 'annotations/instances_train.json', good);
    const text = JSON.stringify(good, null, 1);
    const at = text.indexOf('"id":') + 4;
    const bad = `${text.slice(0, at)}=${text.slice(at + 1)}`;
    const broken = writeJson(dir, 'annotations/instances_val.json', bad);
    const ds = await cocoReader.read(dir);
    expect(ds.images.map((i) => i.file)).toEqual(['images/train/a.jpg']);
    const errors = ds.problems.filter((p) => p.file === 'annotations/instances_val.json');
    expect(errors).toHaveLength(1);
    expect(errors[0]!.message).toBe(`is not valid JSON: unexpected ${JSON.stringify(bad.slice(at, at + 12))} at line 4, column 8 (offset ${at})`);
    const alone = await cocoReader.read(broken);
    expect(alone.problems).toHaveLength(1);
    expect(alone.images).toEqual([]);
    const truncated = writeJson(dir, 'cut.json', text.slice(0, 100));
    expect((await cocoReader.read(truncated)).problems[0]!.message).toContain('unexpected end of file');
  });

  it('reports an image listed in two split files once, keeping the first', async () => {
    const dir = tempDir('tessera-coco-');
    const one = { images: [{ id: 1, file_name: 'a.jpg', width: 4, height: 4 }], annotations: [], categories: [] };
    writeJson(dir, 'annotations/instances_train.json', one);
    writeJson(dir, 'annotations/instances_val.json', one);
    const ds = await cocoReader.read(dir);
    // Without image folders on disk each file falls back to images/<subset>, so the keys differ.
    expect(ds.images.map((i) => i.file)).toEqual(['images/train/a.jpg', 'images/val/a.jpg']);
    fs.mkdirSync(path.join(dir, 'images'));
    fs.writeFileSync(path.join(dir, 'images/a.jpg'), '');
    const shared = await cocoReader.read(dir);
    expect(shared.images.map((i) => [i.file, i.split])).toEqual([['images/a.jpg', 'train']]);
    expect(shared.problems).toMatchObject([{ file: 'annotations/instances_val.json', severity: 'error' }]);
  });

  it('attaches a results list to the instances file it belongs to, and refuses one it cannot place', async () => {
    const dir = tempDir('tessera-coco-');
    const gt = { images: [{ id: 1, file_name: 'a.jpg', width: 4, height: 4 }], annotations: [], categories: [{ id: 3, name: 'x' }] };
    writeJson(dir, 'annotations/instances_val.json', gt);
    writeJson(dir, 'detections_val_results.json', [{ image_id: 1, category_id: 3, bbox: [0.5, 0.5, 2, 1], score: 0.75 }]);
    const ds = await cocoReader.read(dir);
    expect(ds.problems).toEqual([]);
    expect(ds.images[0]!.annotations).toEqual([{ label: 'x', geometry: { kind: 'box', x: 0.5, y: 0.5, w: 2, h: 1 }, attributes: {}, crowd: false, score: 0.75 }]);

    writeJson(dir, 'annotations/instances_train.json', { ...gt, images: [{ id: 1, file_name: 'b.jpg', width: 4, height: 4 }] });
    writeJson(dir, 'results.json', '[{"image_id": 1, "category_id": 3, "bbox": [0, 0, 1, 1], "score": 1}]');
    const two = await cocoReader.read(dir);
    expect(annotationsOf(two).map((a) => a.score)).toEqual([0.75]);
    expect(two.problems).toMatchObject([{ file: 'results.json', severity: 'error' }]);
    const alone = await cocoReader.read(path.join(dir, 'results.json'));
    expect(alone.problems).toMatchObject([{ file: 'results.json', where: '$', severity: 'error' }]);
  });

  it('survives a file with more problems than a call has arguments', async () => {
    const dir = tempDir('tessera-coco-');
    const n = 150_000;
    const anns = Array.from({ length: n }, (_, i) => `{"id":${i},"image_id":1,"category_id":99,"bbox":[0,0,1,1]}`);
    writeJson(dir, 'annotations/instances_train.json', `{"images":[{"id":1,"file_name":"a.jpg","width":4,"height":4}],"categories":[],"annotations":[${anns.join(',')}]}`);
    const ds = await cocoReader.read(dir);
    expect(ds.images).toHaveLength(1);
    expect(ds.problems).toHaveLength(n);
    expect(ds.problems[n - 1]).toMatchObject({ file: 'annotations/instances_train.json', where: `annotations[${n - 1}].category_id` });
  });

  it('does not sniff a folder of per-image json files', async () => {
    const dir = tempDir('tessera-coco-');
    for (let i = 0; i < 17; i++) writeJson(dir, `img${i}.json`, { images: [], annotations: [], categories: [] });
    expect(await cocoReader.detect(dir)).toBe(0);
    writeJson(dir, 'annotations/instances_default.json', { images: [], annotations: [], categories: [] });
    expect(await cocoReader.detect(dir)).toBeGreaterThan(0.5);
  });

  it('reports an empty folder and throws only for a missing input', async () => {
    const dir = tempDir('tessera-coco-');
    const ds = await cocoReader.read(dir);
    expect(ds.images).toEqual([]);
    expect(ds.problems).toHaveLength(1);
    await expect(cocoReader.read(path.join(dir, 'nope.json'))).rejects.toThrow();
  });
});

describe('COCO writer', () => {
  const classes: ExportClass[] = [
    { index: 0, name: 'cell', color: '#f00' },
    { index: 1, name: 'debris', color: '#0f0' },
  ];
  function image(id: number, split: ExportImage['split']): ExportImage {
    return {
      id,
      file: cocoWriter.imagePath(`img${id}.png`, split),
      source: `/data/img${id}.png`,
      width: 64,
      height: 48,
      split,
      tags: id % 2 ? ['blurry'] : [],
      annotations: [
        { id: id * 10, classIndex: 0, label: 'cell', geometry: { kind: 'box', x: id % 50, y: 1.5, w: 3.25, h: 4 }, attributes: { occluded: id % 3 === 0 }, crowd: false },
        { id: id * 10 + 1, classIndex: 1, label: 'debris', geometry: { kind: 'polygon', parts: [[1, 1, 20.5, 2, 10, 30]] }, attributes: {}, score: 0.25 },
        { id: id * 10 + 2, classIndex: 1, label: 'debris', geometry: { kind: 'point', x: 1, y: 1 }, attributes: {} },
      ],
    };
  }

  it('streams many images into one file per split with Tessera ids, warning about what it cannot hold', async () => {
    const out = tempDir('tessera-coco-');
    const n = 3000;
    const splits: ExportImage['split'][] = ['train', 'val', null, 'test'];
    const { warnings, ctx } = noWarnings();
    const result = await cocoWriter.write(out, classes, (async function* () {
      for (let i = 1; i <= n; i++) yield image(i, splits[i % 4]!);
    })(), ctx);
    expect(result).toEqual({ files: 4, emptyLabelFiles: 0 });
    expect(warnings).toHaveLength(n);
    expect(warnings[0]).toMatch(/^unsupported:point: /);
    expect(fs.readdirSync(path.join(out, 'annotations')).sort()).toEqual(['instances_default.json', 'instances_test.json', 'instances_train.json', 'instances_val.json']);
    const val = JSON.parse(fs.readFileSync(path.join(out, 'annotations/instances_val.json'), 'utf8'));
    expect(val.images).toHaveLength(n / 4);
    expect(val.images[0]).toEqual({ id: 1, file_name: 'img1.png', width: 64, height: 48, tags: ['blurry'] });
    expect(val.annotations).toHaveLength(n / 2);
    expect(val.annotations.slice(0, 2)).toEqual([
      { id: 10, image_id: 1, category_id: 1, segmentation: [], area: 13, bbox: [1, 1.5, 3.25, 4], iscrowd: 0, occluded: false },
      { id: 11, image_id: 1, category_id: 2, segmentation: [[1, 1, 20.5, 2, 10, 30]], area: val.annotations[1].area, bbox: [1, 1, 19.5, 29], iscrowd: 0, score: 0.25 },
    ]);
    expect(val.annotations[1].area).toBe(rleArea(polygonToRle([[1, 1, 20.5, 2, 10, 30]], 48, 64)));

    const back = await cocoReader.read(out);
    expect(back.problems).toEqual([]);
    expect(back.images).toHaveLength(n);
    const byFile = new Map(back.images.map((i) => [i.file, i]));
    expect(byFile.get('images/img2.png')?.split).toBeUndefined();
    expect(byFile.get('images/img2.png')?.tags).toEqual([]);
    expect(byFile.get('images/val/img1.png')?.tags).toEqual(['blurry']);
    expect(byFile.get('images/train/img4.png')?.annotations[1]).toEqual({ label: 'debris', geometry: { kind: 'polygon', parts: [[1, 1, 20.5, 2, 10, 30]] }, attributes: {}, crowd: false, score: 0.25 });
    expect(byFile.get('images/test/img3.png')?.annotations[0]?.attributes).toEqual({ occluded: true });
  });

  it('writes files a detector recognises even with thousands of classes', async () => {
    const out = tempDir('tessera-coco-');
    const many = Array.from({ length: 3000 }, (_, index) => ({ index, name: `class number ${index}`, color: '#000' }));
    const { ctx } = noWarnings();
    await cocoWriter.write(out, many, stream([image(1, 'train')]), ctx);
    expect(fs.statSync(path.join(out, 'annotations/instances_train.json')).size).toBeGreaterThan(100_000);
    expect(await cocoReader.detect(out)).toBeGreaterThan(0.5);
    expect(await cocoReader.detect(path.join(out, 'annotations/instances_train.json'))).toBeGreaterThan(0.5);
    expect((await cocoReader.read(out)).classes).toHaveLength(3000);
  });

  it('writes an empty file when there is nothing to export', async () => {
    const out = tempDir('tessera-coco-');
    const { ctx } = noWarnings();
    expect(await cocoWriter.write(out, classes, stream([]), ctx)).toEqual({ files: 1, emptyLabelFiles: 0 });
    const json = JSON.parse(fs.readFileSync(path.join(out, 'annotations/instances_default.json'), 'utf8'));
    expect(json).toMatchObject({ images: [], annotations: [], categories: [{ id: 1, name: 'cell' }, { id: 2, name: 'debris' }] });
  });

  it('leaves no partial or temporary files when the image stream fails', async () => {
    const out = tempDir('tessera-coco-');
    const { ctx } = noWarnings();
    const failing = (async function* () {
      for (let i = 1; i <= 50; i++) yield image(i, i % 2 ? 'train' : 'val');
      throw new Error('database went away');
    })();
    await expect(cocoWriter.write(out, classes, failing, ctx)).rejects.toThrow('database went away');
    expect(fs.readdirSync(path.join(out, 'annotations'))).toEqual([]);
  });

  it('keeps compressed masks exact through a round trip', async () => {
    const out = tempDir('tessera-coco-');
    const rle = polygonToRle([[3, 3, 40, 5, 30, 40, 2, 30]], 48, 64);
    const im: ExportImage = { ...image(1, null), annotations: [{ id: 5, classIndex: 0, label: 'cell', geometry: { kind: 'mask', rle }, attributes: {} }] };
    const { warnings, ctx } = noWarnings();
    await cocoWriter.write(out, classes, stream([im]), ctx);
    expect(warnings).toEqual([]);
    const json = JSON.parse(fs.readFileSync(path.join(out, 'annotations/instances_default.json'), 'utf8'));
    expect(typeof json.annotations[0].segmentation.counts).toBe('string');
    expect(rleFromString(json.annotations[0].segmentation.counts, [48, 64])).toEqual(rle);
    const back = await cocoReader.read(out);
    expect(back.images[0]!.annotations[0]!.geometry).toEqual({ kind: 'mask', rle });
  });
});
