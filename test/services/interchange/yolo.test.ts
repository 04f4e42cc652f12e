import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import YAML from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';
import type { Geometry, Split } from '../../../src-main/common/model';
import { obbCorners } from '../../../src-main/common/geometry';
import type { ExportClass, ExportImage, InterchangeDataset } from '../../../src-main/common/formats/types';
import { keyBaseName } from '../../../src-main/common/formats/paths';
import { labelCandidates, yoloReader, yoloWriters } from '../../../src-main/services/interchange/formats/yolo';
import type { WriteContext } from '../../../src-main/services/interchange/types';
import { sharedPath, tempDir } from '../../helpers/shared';

const temps: string[] = [];
function temp(): string {
  const d = tempDir('tessera-yolo-');
  temps.push(d);
  return d;
}
afterAll(() => {
  for (const d of temps) fs.rmSync(d, { recursive: true, force: true });
});

function put(dir: string, rel: string, text: string): void {
  const p = path.join(dir, rel);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  fs.writeFileSync(p, text);
}

async function png(dir: string, rel: string, width: number, height: number): Promise<void> {
  const p = path.join(dir, rel);
  fs.mkdirSync(path.dirname(p), { recursive: true });
  await sharp({ create: { width, height, channels: 3, background: { r: 10, g: 20, b: 30 } } }).png().toFile(p);
}

function closeTo(a: number, b: number, rel = 1e-6): boolean {
  return Math.abs(a - b) <= rel * Math.max(1, Math.abs(a), Math.abs(b));
}

function sameGeometry(a: Geometry, b: Geometry): boolean {
  if (a.kind !== b.kind) return false;
  if (a.kind === 'polygon' && b.kind === 'polygon') {
    return a.parts.length === b.parts.length && a.parts.every((p, i) => p.length === b.parts[i]!.length && p.every((v, j) => closeTo(v, b.parts[i]![j]!)));
  }
  const ka = a as unknown as Record<string, number>;
  const kb = b as unknown as Record<string, number>;
  return Object.keys(ka).every((k) => k === 'kind' || closeTo(ka[k]!, kb[k]!));
}

/** Corners of a rotated box equal the file's (in pixels), from the same first corner, either direction. */
function cornersMatch(got: number[], want: number[]): boolean {
  return [false, true].some((rev) =>
    [0, 1, 2, 3].every((k) => {
      const j = rev ? (4 - k) % 4 : k;
      return closeTo(got[2 * k]!, want[2 * j]!) && closeTo(got[2 * k + 1]!, want[2 * j + 1]!);
    }),
  );
}

const errors = (ds: InterchangeDataset) => ds.problems.filter((p) => p.severity === 'error');

/**
 * What an exporter does: images in the writer's layout (copied into the temp output, never into
 * the repository), annotations with their class index, then the writer.
 */
async function exportAndReread(src: string, ds: InterchangeDataset, format: keyof typeof yoloWriters) {
  const out = temp();
  const writer = yoloWriters[format];
  const classes: ExportClass[] = ds.classes.map((name, index) => ({ index, name, color: '#ff0000' }));
  const warnings: Record<string, number> = {};
  const ctx: WriteContext = { warn: (kind) => void (warnings[kind] = (warnings[kind] ?? 0) + 1) };
  const exported: ExportImage[] = [];
  let id = 0;
  for (const img of ds.images) {
    const source = path.join(src, img.file);
    const meta = await sharp(source).metadata();
    const file = writer.imagePath(keyBaseName(img.file), img.split ?? null);
    fs.mkdirSync(path.dirname(path.join(out, file)), { recursive: true });
    fs.copyFileSync(source, path.join(out, file));
    exported.push({
      id: ++id,
      file,
      source,
      width: meta.width!,
      height: meta.height!,
      split: img.split ?? null,
      tags: img.tags,
      annotations: img.annotations.map((a, i) => ({ ...a, id: i + 1, classIndex: ds.classes.indexOf(a.label) })),
    });
  }
  async function* stream() {
    yield* exported;
  }
  const result = await writer.write(out, classes, stream(), ctx);
  const again = await yoloReader.read(out);
  return { out, result, again, warnings };
}

function expectSameDataset(a: InterchangeDataset, b: InterchangeDataset): void {
  expect(b.classes).toEqual(a.classes);
  expect(errors(b)).toEqual([]);
  const byName = new Map(b.images.map((i) => [keyBaseName(i.file), i]));
  expect(b.images).toHaveLength(a.images.length);
  let compared = 0;
  for (const img of a.images) {
    const other = byName.get(keyBaseName(img.file));
    expect(other, img.file).toBeDefined();
    expect(other!.split ?? 'train').toBe(img.split ?? 'train');
    expect(other!.annotations.map((x) => x.label)).toEqual(img.annotations.map((x) => x.label));
    img.annotations.forEach((ann, i) => {
      const g = other!.annotations[i]!.geometry;
      expect(sameGeometry(g, ann.geometry), `${img.file} #${i}: ${JSON.stringify(g)} vs ${JSON.stringify(ann.geometry)}`).toBe(true);
      compared++;
    });
  }
  expect(compared).toBeGreaterThan(0);
}

describe('yoloReader on agri_crop_weed_obb (Roboflow OBB export)', () => {
  const dir = sharedPath('datasets/agri_crop_weed_obb');
  it.skipIf(!dir)('reads every rotated box, with corners that reproduce the label files', async () => {
    expect(await yoloReader.detect(dir!)).toBeGreaterThan(0.5);
    const ds = await yoloReader.read(dir!);
    expect(ds.classes).toEqual(['crop', 'weed']);
    expect(ds.images).toHaveLength(30);
    expect(errors(ds)).toEqual([]);
    // data.yaml names the exporting machine's folders; that is said, and the images are found anyway.
    expect(ds.problems.some((p) => p.file === 'data.yaml' && p.where === 'path')).toBe(true);
    const anns = ds.images.flatMap((i) => i.annotations);
    expect(anns).toHaveLength(79);
    expect(anns.every((a) => a.geometry.kind === 'obb')).toBe(true);
    for (const img of ds.images.slice(0, 10)) {
      const text = fs.readFileSync(path.join(dir!, labelCandidates(img.file)[0]!), 'utf8');
      const lines = text.split('\n').filter((l) => l.trim());
      expect(img.annotations).toHaveLength(lines.length);
      lines.forEach((line, i) => {
        const v = line.trim().split(/\s+/).slice(1).map(Number).map((n, j) => n * 512);
        const g = img.annotations[i]!.geometry as Extract<Geometry, { kind: 'obb' }>;
        expect(g.w).toBeGreaterThan(0);
        expect(g.h).toBeGreaterThan(0);
        expect(cornersMatch(obbCorners(g), v), line).toBe(true);
      });
    }
  });

  it.skipIf(!dir)('round trips through yolo-obb', async () => {
    const ds = await yoloReader.read(dir!);
    const { result, again, out } = await exportAndReread(dir!, ds, 'yolo-obb');
    expect(result.files).toBe(30);
    expect(result.emptyLabelFiles).toBe(ds.images.filter((i) => i.annotations.length === 0).length);
    expectSameDataset(ds, again);
    expect(again.problems).toEqual([]);
    expect(fs.existsSync(path.join(out, 'labels/train', keyBaseName(ds.images[0]!.file).replace(/\.jpg$/, '.txt')))).toBe(true);
  });
});

describe('yoloReader on the datumaro (CVAT fork) YOLOv8 fixtures', () => {
  const root = sharedPath('datasets/datumaro_cvat_fork_yolov8/yolo_dataset');
  // The fixture image is 15 x 10; its labels are written with six decimals.
  const boxes: Geometry[] = [
    { kind: 'box', x: (0.133333 - 0.266667 / 2) * 15, y: (0.3 - 0.1) * 10, w: 0.266667 * 15, h: 2 },
    { kind: 'box', x: (0.266667 - 0.133333 / 2) * 15, y: (0.45 - 0.15) * 10, w: 0.133333 * 15, h: 3 },
  ];

  for (const variant of ['yolov8_detection', 'yolov8_detection_with_list_of_names', 'yolov8_detection_with_list_of_imgs', 'yolov8_detection_with_subset_txt', 'yolo']) {
    it.skipIf(!root)(`${variant}: two boxes of label_2 and label_4 in train`, async () => {
      const ds = await yoloReader.read(path.join(root!, variant));
      expect(ds.problems).toEqual([]);
      expect(ds.classes).toEqual(Array.from({ length: 10 }, (_, i) => `label_${i}`));
      expect(ds.images).toHaveLength(1);
      expect(ds.images[0]!.split).toBe('train');
      expect(ds.images[0]!.annotations.map((a) => a.label)).toEqual(['label_2', 'label_4']);
      ds.images[0]!.annotations.forEach((a, i) => expect(sameGeometry(a.geometry, boxes[i]!), JSON.stringify(a.geometry)).toBe(true));
    });
  }

  it.skipIf(!root)('segmentation: polygons in pixels', async () => {
    const ds = await yoloReader.read(path.join(root!, 'yolov8_segmentation'));
    expect(ds.problems).toEqual([]);
    expect(ds.images[0]!.annotations.map((a) => a.geometry)).toEqual([
      { kind: 'polygon', parts: [[1.5, 1, 6, 1, 6, 5]] },
      { kind: 'polygon', parts: [[3, 1.5, 6, 1.5, 6, 7.5, 4.5, 7.5, 3.75, 3]] },
    ]);
  });

  it.skipIf(!root)('oriented boxes: nine values are OBB here, the slightly negative corner is kept and counted', async () => {
    const ds = await yoloReader.read(path.join(root!, 'yolov8_oriented_boxes'));
    expect(ds.problems).toEqual([]);
    expect(ds.counters['obbCornersOutsideImage']).toBe(1);
    const [a, b] = ds.images[0]!.annotations.map((x) => x.geometry as Extract<Geometry, { kind: 'obb' }>);
    expect(a!.kind).toBe('obb');
    expect(cornersMatch(obbCorners(b!), [0.557735, 0.090192, 0.357735, 0.609808, 0.242265, 0.509808, 0.442265, -0.009808].map((v, i) => v * (i & 1 ? 10 : 15)))).toBe(true);
    expect(obbCorners(b!)[7]).toBeLessThan(0);
  });

  for (const variant of ['yolov8_pose', 'yolov8_pose_two_values_per_point']) {
    it.skipIf(!root)(`${variant}: an "unsupported YOLO task" problem for the label file, the image kept`, async () => {
      const ds = await yoloReader.read(path.join(root!, variant));
      expect(ds.problems).toEqual([expect.objectContaining({ file: 'labels/train/1.txt', severity: 'error', message: expect.stringContaining('unsupported YOLO task "pose"') })]);
      expect(ds.images.map((i) => i.annotations.length)).toEqual([0]);
    });
  }

  it.skipIf(!root)('classification: one "unsupported YOLO task" problem per image', async () => {
    const ds = await yoloReader.read(path.join(root!, 'yolov8_classification'));
    expect(ds.images).toEqual([]);
    expect(ds.problems.map((p) => p.file).sort()).toEqual(['train/label_0/1.jpg', 'train/label_0/2.jpg', 'train/label_1/3.jpg']);
    expect(ds.problems.every((p) => /unsupported YOLO task "classify"/.test(p.message))).toBe(true);
  });

  for (const [variant, format] of [
    ['yolov8_detection', 'yolo'],
    ['yolov8_segmentation', 'yolo-seg'],
    ['yolov8_oriented_boxes', 'yolo-obb'],
  ] as const) {
    it.skipIf(!root)(`${variant} round trips through ${format}`, async () => {
      const src = path.join(root!, variant);
      const ds = await yoloReader.read(src);
      const { again, result, out } = await exportAndReread(src, ds, format);
      expect(result).toEqual({ files: 1, emptyLabelFiles: 0 });
      expectSameDataset(ds, again);
      const yaml = YAML.parse(fs.readFileSync(path.join(out, 'data.yaml'), 'utf8'));
      expect(yaml).toMatchObject({ path: '.', train: 'images/train' });
      expect(yaml.names[4]).toBe('label_4');
    });
  }
});

describe('yoloReader on datumaro_assets/yolo_dataset', () => {
  const root = sharedPath('datasets/datumaro_assets/yolo_dataset');
  it.skipIf(!root)('darknet layout (obj.data with data/ prefixed paths, train.txt, obj_train_data/)', async () => {
    const dir = path.join(root!, 'strict');
    expect(await yoloReader.detect(dir)).toBeGreaterThan(0.5);
    expect(await yoloReader.detect(path.join(dir, 'obj.data'))).toBeGreaterThan(0.5);
    const ds = await yoloReader.read(path.join(dir, 'obj.data'));
    expect(ds.problems).toEqual([]);
    expect(ds.classes).toHaveLength(10);
    expect(ds.images.map((i) => [i.file, i.split, i.annotations.map((a) => a.label)])).toEqual([['obj_train_data/1.jpg', 'train', ['label_2', 'label_4']]]);
  });

  it.skipIf(!root)('loose layouts: images/<split> + labels/<split> with obj.names, and Images/ + Annotations/', async () => {
    const a = await yoloReader.read(path.join(root!, 'labels'));
    expect(a.problems).toEqual([]); // README.txt is not taken for a label file
    expect(a.images.map((i) => [i.file, i.split, i.annotations.length])).toEqual([
      ['images/train/1.jpg', 'train', 2],
      ['images/val/1.jpg', 'val', 2],
    ]);
    const b = await yoloReader.read(path.join(root!, 'annotations'));
    expect(b.problems).toEqual([]);
    expect(b.images.map((i) => [i.file, i.annotations.length])).toEqual([['Images/1.jpg', 2]]);
  });

  it.skipIf(!root)('darknet round trips through the Ultralytics layout', async () => {
    const src = path.join(root!, 'strict');
    const ds = await yoloReader.read(src);
    const { again } = await exportAndReread(src, ds, 'yolo');
    expectSameDataset(ds, again);
  });
});

describe('yoloReader on hand-written files', () => {
  it('reports line problems with file and line, clamps and counts, keeps images without labels', async () => {
    const dir = temp();
    put(dir, 'data.yaml', 'path: .\ntrain: images/train\nval: images/val\nnames: [crop, weed]\n');
    await png(dir, 'images/train/a.png', 100, 50);
    await png(dir, 'images/train/b.png', 100, 50);
    await png(dir, 'images/val/c.png', 100, 50);
    put(dir, 'labels/train/a.txt', ['0 0.5 0.5 0.2 0.2', '5 0.5 0.5 0.2 0.2', '1 NaN 0.5 0.2 0.2', '1 0.5 0.5 0.2', '1 1.01 -0.002 0.2 0.2'].join('\n')); // no final newline
    put(dir, 'labels/val/c.txt', '\n\n');
    put(dir, 'labels/val/orphan.txt', '0 0.5 0.5 0.1 0.1\n');
    const ds = await yoloReader.read(dir);
    expect(ds.images.map((i) => [i.file, i.split, i.annotations.length])).toEqual([
      ['images/train/a.png', 'train', 2],
      ['images/train/b.png', 'train', 0],
      ['images/val/c.png', 'val', 0],
    ]);
    const a = ds.images[0]!.annotations;
    expect(a[0]!.geometry).toEqual({ kind: 'box', x: 40, y: 20, w: 20, h: 10 });
    expect(a[1]!.geometry).toEqual({ kind: 'box', x: 90, y: -5, w: 20, h: 10 });
    expect(ds.counters).toMatchObject({ clampedCoordinates: 2, imagesWithoutLabels: 1, emptyLabelFiles: 1, labelFilesWithoutImage: 1 });
    expect(ds.problems.map((p) => [p.file, p.where, p.severity])).toEqual([
      ['labels/train/a.txt', 'line 2', 'error'],
      ['labels/train/a.txt', 'line 3', 'error'],
      ['labels/train/a.txt', 'line 4', 'error'],
      ['labels/val/orphan.txt', undefined, 'warning'],
    ]);
    expect(ds.problems[0]!.message).toMatch(/unknown class index 5/);
  });

  it('names classes by index when no names file exists, and says so', async () => {
    const dir = temp();
    await png(dir, 'images/a.png', 10, 10);
    put(dir, 'labels/a.txt', '2 0.5 0.5 0.2 0.2\n0 0.5 0.5 0.2 0.2\n');
    const ds = await yoloReader.read(dir);
    expect(ds.classes).toEqual(['0', '1', '2']);
    expect(ds.images[0]!.annotations.map((a) => a.label)).toEqual(['2', '0']);
    expect(ds.problems).toEqual([expect.objectContaining({ severity: 'warning', message: expect.stringMatching(/named by their index/) })]);
  });

  it('uses the EXIF-oriented size to convert', async () => {
    const dir = temp();
    fs.mkdirSync(path.join(dir, 'images'), { recursive: true });
    // Stored 60 x 20 with orientation 6: shown (and annotated) 20 wide, 60 tall.
    await sharp({ create: { width: 60, height: 20, channels: 3, background: { r: 0, g: 0, b: 0 } } })
      .jpeg()
      .withMetadata({ orientation: 6 })
      .toFile(path.join(dir, 'images/r.jpg'));
    put(dir, 'labels/r.txt', '0 0.5 0.5 1 1\n');
    put(dir, 'classes.txt', 'cell\r\n');
    const ds = await yoloReader.read(dir);
    expect(ds.classes).toEqual(['cell']);
    expect(ds.images[0]!.annotations[0]!.geometry).toEqual({ kind: 'box', x: 0, y: 0, w: 20, h: 60 });
  });

  it('refuses list entries that leave the dataset folder, and reads the rest', async () => {
    const dir = temp();
    const outside = temp();
    await png(outside, 'x.png', 10, 10);
    await png(dir, 'images/a.png', 10, 10);
    put(dir, 'labels/a.txt', '0 0.5 0.5 0.5 0.5\n');
    put(dir, 'data.yaml', 'names:\n  0: thing\ntrain: train.txt\n');
    const rel = path.relative(dir, path.join(outside, 'x.png')).split(path.sep).join('/');
    put(dir, 'train.txt', ['./images/a.png', '../../x.png', rel, path.join(outside, 'x.png'), 'images/missing.png'].join('\n'));
    const ds = await yoloReader.read(dir);
    expect(ds.images.map((i) => i.file)).toEqual(['images/a.png']);
    expect(ds.images[0]!.annotations).toHaveLength(1);
    const listProblems = ds.problems.filter((p) => p.file === 'train.txt');
    expect(listProblems.map((p) => p.where)).toEqual(['line 2', 'line 3', 'line 4', 'line 5']);
    expect(listProblems.slice(0, 3).every((p) => /outside the dataset folder/.test(p.message))).toBe(true);
    expect(listProblems[3]!.message).toMatch(/not found/);
  });

  it('takes the task from data.yaml: nine values are a four-point polygon in a segment dataset', async () => {
    const dir = temp();
    await png(dir, 'images/train/a.png', 10, 10);
    put(dir, 'labels/train/a.txt', '0 0.1 0.1 0.5 0.1 0.5 0.5 0.1 0.5\n');
    put(dir, 'data.yaml', 'task: segment\ntrain: images/train\nval: images/train\nnames: {0: leaf}\n');
    const ds = await yoloReader.read(dir);
    expect(ds.images[0]!.annotations[0]!.geometry).toEqual({ kind: 'polygon', parts: [[1, 1, 5, 1, 5, 5, 1, 5]] });
    // The same image listed by train and val is read once, in the first split.
    expect(ds.images.map((i) => i.split)).toEqual(['train']);
  });

  it('fills gaps in a names map and says so; reports an unreadable image instead of throwing', async () => {
    const dir = temp();
    put(dir, 'data.yaml', 'names:\n  0: a\n  2: c\n');
    put(dir, 'images/broken.png', 'not a png');
    put(dir, 'labels/broken.txt', '2 0.5 0.5 0.1 0.1\n');
    const ds = await yoloReader.read(dir);
    expect(ds.classes).toEqual(['a', '1', 'c']);
    expect(ds.problems.some((p) => p.where === 'names' && /index 1/.test(p.message))).toBe(true);
    expect(ds.problems.some((p) => p.file === 'labels/broken.txt' && p.severity === 'error' && /cannot be read/.test(p.message))).toBe(true);
  });
});

describe('yoloWriters', () => {
  it('writes the Ultralytics layout, data.yaml with quoted names, empty label files only for images without annotations', async () => {
    const out = temp();
    const warned: string[] = [];
    const ctx: WriteContext = { warn: (kind) => void warned.push(kind) };
    const classes: ExportClass[] = [
      { index: 0, name: 'yes', color: '#000' },
      { index: 1, name: 'a: b', color: '#000' },
    ];
    const img = (id: number, name: string, split: Split | null, annotations: ExportImage['annotations']): ExportImage => ({
      id,
      file: yoloWriters.yolo.imagePath(name, split),
      source: `/nowhere/${name}`,
      width: 200,
      height: 100,
      split,
      tags: [],
      annotations,
    });
    const ann = (classIndex: number, geometry: Geometry) => ({ id: 1, label: classes[classIndex]!.name, classIndex, geometry, attributes: {} });
    async function* images() {
      yield img(1, 'a.jpg', null, [ann(1, { kind: 'box', x: 20, y: 10, w: 40, h: 20 })]);
      yield img(2, 'b.jpg', 'test', []);
      yield img(3, 'c.jpg', 'test', [ann(0, { kind: 'point', x: 1, y: 1 })]);
    }
    const r = await yoloWriters.yolo.write(out, classes, images(), ctx);
    expect(r).toEqual({ files: 3, emptyLabelFiles: 2 });
    expect(warned).toEqual(['unsupported:point']);
    expect(fs.readFileSync(path.join(out, 'labels/train/a.txt'), 'utf8')).toBe('1 0.2 0.2 0.2 0.2\n');
    expect(fs.readFileSync(path.join(out, 'labels/test/b.txt'), 'utf8')).toBe('');
    const text = fs.readFileSync(path.join(out, 'data.yaml'), 'utf8');
    expect(text).toContain('0: "yes"');
    const yaml = YAML.parse(text);
    // No val images: Ultralytics still needs the key, so it points at train.
    expect(yaml).toEqual({ path: '.', train: 'images/train', val: 'images/train', test: 'images/test', names: { 0: 'yes', 1: 'a: b' } });
  });

  it('puts images in images/<split>/ and labels next to them by the Ultralytics rule', () => {
    expect(yoloWriters['yolo-seg'].imagePath('x.png', 'val')).toBe('images/val/x.png');
    expect(yoloWriters['yolo-obb'].imagePath('x.png', null)).toBe('images/train/x.png');
    expect(labelCandidates('images/val/x.png')[0]).toBe('labels/val/x.txt');
    expect(labelCandidates('a/images/b/images/c.v1.jpg')[0]).toBe('a/images/b/labels/c.v1.txt');
  });
});
