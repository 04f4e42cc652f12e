import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import type { ExportClass, ExportImage, InterchangeDataset } from '../../../src-main/common/formats/types';
import { vocReader, vocWriter } from '../../../src-main/services/interchange/formats/voc';
import { expectContainedRead } from '../../helpers/interchange';
import { sharedPath, tempDir } from '../../helpers/shared';

function toExport(ds: InterchangeDataset, writer: { imagePath(name: string, split: ExportImage['split']): string }, base: string): { classes: ExportClass[]; images: ExportImage[] } {
  const classes = ds.classes.map((name, index) => ({ index, name, color: '#ff0000' }));
  let id = 0;
  const images = ds.images.map((img, i) => ({
    id: i + 1,
    file: writer.imagePath(img.file.split('/').pop()!, img.split ?? null),
    source: path.join(base, img.file),
    width: img.width ?? 0,
    height: img.height ?? 0,
    split: img.split ?? null,
    tags: img.tags,
    annotations: img.annotations.map((a) => ({ ...a, id: ++id, classIndex: ds.classes.indexOf(a.label) })),
  }));
  return { classes, images };
}

async function* stream<T>(items: T[]): AsyncIterable<T> {
  for (const x of items) yield x;
}

const warnings = (): { list: string[]; ctx: { warn(kind: string, message: string): void } } => {
  const list: string[] = [];
  return { list, ctx: { warn: (kind) => void list.push(kind) } };
};

describe('Pascal VOC reader on BCCD', () => {
  const bccd = sharedPath('datasets/bccd_voc');

  it.skipIf(!bccd)('reads 28 images of RBC/WBC/Platelets with 1-based inclusive boxes reaching both image borders', async () => {
    expect(await vocReader.detect(bccd!)).toBeGreaterThan(0.9);
    const ds = await vocReader.read(bccd!);
    expect(ds.problems).toEqual([]);
    expect(ds.images).toHaveLength(28);
    expect([...ds.classes].sort()).toEqual(['Platelets', 'RBC', 'WBC']);
    const anns = ds.images.flatMap((i) => i.annotations);
    expect(anns).toHaveLength(514);
    expect(anns.filter((a) => a.attributes['truncated'] === true)).toHaveLength(133);
    for (const img of ds.images) {
      expect(img.file).toMatch(/^JPEGImages\/BloodImage_\d{5}\.jpg$/);
      expect(fs.existsSync(path.join(bccd!, img.file))).toBe(true);
      expect([img.width, img.height]).toEqual([640, 480]);
    }
    // BloodImage_00000: xmin 1..xmax 87 touches the left border, 555..640 the right one.
    const first = ds.images.find((i) => i.file.endsWith('00000.jpg'))!;
    expect(first.annotations[0]).toEqual({ label: 'WBC', geometry: { kind: 'box', x: 259, y: 176, w: 232, h: 200 }, attributes: { pose: 'Unspecified', truncated: false, difficult: false } });
    const boxes = anns.map((a) => a.geometry as { x: number; y: number; w: number; h: number });
    expect(Math.min(...boxes.map((b) => b.x))).toBe(0);
    expect(Math.min(...boxes.map((b) => b.y))).toBe(0);
    expect(Math.max(...boxes.map((b) => b.x + b.w))).toBe(640);
    expect(Math.max(...boxes.map((b) => b.y + b.h))).toBe(480);
  });

  it.skipIf(!bccd)('writes Annotations/, split lists and reads back the same boxes and attributes', async () => {
    const ds = await vocReader.read(bccd!);
    ds.images.forEach((img, i) => (img.split = i % 3 === 0 ? 'val' : 'train'));
    const { classes, images } = toExport(ds, vocWriter, bccd!);
    const out = tempDir();
    const w = warnings();
    const res = await vocWriter.write(out, classes, stream(images), w.ctx);
    expect(res).toEqual({ files: 28, emptyLabelFiles: 0 });
    expect(w.list).toEqual([]);
    expect(fs.readFileSync(path.join(out, 'ImageSets/Main/val.txt'), 'utf8').trim().split('\n')).toHaveLength(10);
    const xml = fs.readFileSync(path.join(out, 'Annotations/BloodImage_00000.xml'), 'utf8');
    expect(xml).toContain('<xmin>260</xmin>');
    expect(xml).toContain('<xmax>491</xmax>');
    expect(xml).toContain('<depth>3</depth>');
    const again = await vocReader.read(out);
    expect(again.problems).toEqual([]);
    expect(again.images.map((i) => [i.file, i.split, i.annotations])).toEqual(ds.images.map((i) => [i.file, i.split, i.annotations]));
  });
});

describe('Pascal VOC reader on the Datumaro fixtures', () => {
  const voc = sharedPath('datasets/datumaro_assets/voc_dataset');

  it.skipIf(!voc)('keeps splits, images listed without annotations, actions and fractional coordinates', async () => {
    const ds = await vocReader.read(path.join(voc!, 'voc_dataset1'));
    expect(ds.images.map((i) => [i.file, i.split, i.annotations.length])).toEqual([
      ['JPEGImages/2007_000001.jpg', 'train', 2],
      ['JPEGImages/2007_000002.jpg', 'test', 0],
    ]);
    const [cat, person] = ds.images[0]!.annotations;
    expect(cat).toEqual({ label: 'cat', geometry: { kind: 'box', x: 0, y: 1, w: 3, h: 3 }, attributes: { pose: 'Unspecified', truncated: true, difficult: false } });
    expect(person!.attributes['action:jumping']).toBe(false);
    expect(person!.attributes['action:phoning']).toBe(true);
    expect(ds.counters['vocPartsIgnored']).toBe(1);
    expect([ds.images[0]!.width, ds.images[0]!.height]).toEqual([20, 10]);
  });

  it.skipIf(!voc)('reads files without <size> and without objects, warning once per missing size', async () => {
    const ds = await vocReader.read(path.join(voc!, 'voc_dataset2'));
    expect(ds.images.map((i) => i.file)).toEqual(['@.jpg', 'a.jpg', 'b.jpg', 'c.jpg', 'd.jpg']);
    expect(ds.images[0]!.annotations).toEqual([]);
    expect(ds.images[1]!.annotations[0]).toEqual({ label: 'background', geometry: { kind: 'box', x: 0, y: 1, w: 4, h: 5 }, attributes: { truncated: false, occluded: true, difficult: false } });
    expect(ds.problems.filter((p) => p.where === 'size')).toHaveLength(5);
    expect(ds.problems.every((p) => p.severity === 'warning' && /Annotations\/.+\.xml$/.test(p.file))).toBe(true);
    // trainval.txt is not one of the three splits.
    expect(ds.images.every((i) => i.split === undefined)).toBe(true);
  });

  it.skipIf(!voc)('detects a single annotation file and resolves its image from the dataset root', async () => {
    const file = path.join(voc!, 'voc_dataset3/Annotations/2007_000001.xml');
    expect(await vocReader.detect(file)).toBeGreaterThan(0.5);
    expect(vocReader.baseDir(file)).toBe(path.join(voc!, 'voc_dataset3'));
    const ds = await vocReader.read(file);
    expect(ds.images.map((i) => [i.file, i.split])).toEqual([['JPEGImages/2007_000001.jpg', 'train']]);
    const whole = await vocReader.read(path.join(voc!, 'voc_dataset3'));
    expect([whole.images.length, whole.problems]).toEqual([1, []]);
    // Only that file's image, not the others listed in ImageSets.
    const one = await vocReader.read(path.join(voc!, 'voc_dataset1/Annotations/2007_000001.xml'));
    expect(one.images.map((i) => i.file)).toEqual(['JPEGImages/2007_000001.jpg']);
    // The Annotations folder picked on its own still finds the images beside it.
    const ann = path.join(voc!, 'voc_dataset1/Annotations');
    expect(vocReader.baseDir(ann)).toBe(path.join(voc!, 'voc_dataset1'));
    expect((await vocReader.read(ann)).images.map((i) => i.file)).toEqual(['JPEGImages/2007_000001.jpg', 'JPEGImages/2007_000002.jpg']);
  });

  it.skipIf(!voc)('does not claim CVAT XML or MIT LabelMe XML, which shares the <annotation> root', async () => {
    const cvat = sharedPath('datasets/datumaro_assets/cvat_dataset/for_images/export_project/annotations.xml');
    if (cvat) expect(await vocReader.detect(cvat)).toBe(0);
    const mit = sharedPath('datasets/datumaro_assets/labelme_dataset');
    if (mit) expect(await vocReader.detect(mit)).toBe(0);
    // Only object-less files: undecided rather than certain.
    expect(await vocReader.detect(path.join(voc!, 'voc_dataset2'))).toBeGreaterThanOrEqual(0.5);
    expect(await vocReader.detect(path.join(voc!, 'voc_dataset1'))).toBeGreaterThan(0.9);
  });

  it.skipIf(!voc)('round-trips voc_dataset1: splits, actions and the image without annotations', async () => {
    const src = path.join(voc!, 'voc_dataset1');
    const ds = await vocReader.read(src);
    const { classes, images } = toExport(ds, vocWriter, src);
    // The exporter knows every image's size; 2007_000002 has no annotation file to state it.
    for (const img of images) if (!img.width) Object.assign(img, await sharp(img.source).metadata().then((m) => ({ width: m.width, height: m.height })));
    const out = tempDir();
    fs.mkdirSync(path.join(out, 'JPEGImages'));
    for (const img of ds.images) fs.copyFileSync(path.join(src, img.file), path.join(out, img.file));
    expect(await vocWriter.write(out, classes, stream(images), warnings().ctx)).toEqual({ files: 2, emptyLabelFiles: 1 });
    const again = await vocReader.read(out);
    expect(again.problems).toEqual([]);
    // The writer always states truncated and difficult (the devkit's evaluation and tools built on
    // it read them), so the person object, which has neither, comes back with both false.
    const person = ds.images[0]!.annotations[1]!;
    person.attributes = { truncated: false, difficult: false, ...person.attributes };
    expect(again.images.map(({ file, split, tags, annotations }) => ({ file, split, tags, annotations }))).toEqual(ds.images.map(({ file, split, tags, annotations }) => ({ file, split, tags, annotations })));
    expect(again.images[1]!.width).toBeGreaterThan(0);
  });
});

function vocFolder(files: Record<string, string>): string {
  const dir = tempDir('tessera-voc-');
  for (const [rel, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), text);
  }
  return dir;
}

const obj = (name: string, box: string): string => `<object><name>${name}</name><bndbox>${box}</bndbox></object>`;
const doc = (filename: string, body: string, size = '<size><width>100</width><height>80</height><depth>3</depth></size>'): string =>
  `<annotation><filename>${filename}</filename>${size}${body}</annotation>`;

describe('Pascal VOC problems', () => {
  it('names the file of malformed XML, refuses escaping filenames, reports NaN and zero-area boxes', async () => {
    const dir = vocFolder({
      'Annotations/broken.xml': '<annotation><filename>x.jpg</filename><object></annotation>',
      'Annotations/evil.xml': doc('../../etc/passwd', obj('cat', '<xmin>1</xmin><ymin>1</ymin><xmax>5</xmax><ymax>5</ymax>')),
      'Annotations/nan.xml': doc('n.jpg', obj('cat', '<xmin>NaN</xmin><ymin>1</ymin><xmax>5</xmax><ymax>5</ymax>') + obj('dog', '<xmin>1</xmin><ymin>1</ymin><xmax>5</xmax><ymax>5</ymax>')),
      'Annotations/zero.xml': doc('z.jpg', obj('cat', '<xmin>7</xmin><ymin>1</ymin><xmax>7</xmax><ymax>5</ymax>')),
      'Annotations/nosize.xml': doc('s.jpg', '', ''),
      'Annotations/root.xml': '<annotations><image/></annotations>',
      'Annotations/nofile.xml': '<annotation><size><width>4</width><height>4</height></size></annotation>',
    });
    const ds = await vocReader.read(dir);
    const by = (f: string) => ds.problems.filter((p) => p.file === `Annotations/${f}.xml`);
    expect(by('broken')).toEqual([expect.objectContaining({ severity: 'error', where: 'line 1', message: expect.stringMatching(/malformed XML/) })]);
    expect(by('evil')).toEqual([expect.objectContaining({ severity: 'error', where: 'filename', message: expect.stringMatching(/outside the dataset folder/) })]);
    expect(by('nan')).toEqual([expect.objectContaining({ severity: 'error', where: 'object[1]', message: expect.stringContaining('"NaN"') })]);
    expect(by('zero')).toEqual([expect.objectContaining({ severity: 'warning', where: 'object[1]', message: expect.stringMatching(/zero-area/) })]);
    expect(by('nosize')).toEqual([expect.objectContaining({ severity: 'warning', where: 'size' })]);
    expect(by('root')).toEqual([expect.objectContaining({ severity: 'error', message: expect.stringMatching(/no <annotation> root/) })]);
    expect(by('nofile')).toEqual([expect.objectContaining({ severity: 'error', where: 'filename', message: expect.stringMatching(/no <filename>/) })]);
    expect(ds.counters['zeroAreaBoxes']).toBe(1);
    expect(ds.images.map((i) => [i.file, i.annotations.map((a) => a.label)])).toEqual([
      ['n.jpg', ['dog']],
      ['s.jpg', []],
      ['z.jpg', []],
    ]);
    expect(ds.images.some((i) => i.file.includes('passwd'))).toBe(false);
  });

  it('finds the image of a file without <filename> by the name of the annotation file', async () => {
    const dir = vocFolder({ 'Annotations/cell_7.xml': doc('', obj('cell', '<xmin>1</xmin><ymin>1</ymin><xmax>5</xmax><ymax>5</ymax>')).replace('<filename></filename>', ''), 'JPEGImages/cell_7.png': 'x' });
    const ds = await vocReader.read(dir);
    expect(ds.images.map((i) => [i.file, i.annotations.length])).toEqual([['JPEGImages/cell_7.png', 1]]);
    expect(ds.problems).toEqual([expect.objectContaining({ file: 'Annotations/cell_7.xml', severity: 'warning', where: 'filename' })]);
  });

  it('keeps fractional coordinates and free attributes exact through a write and a read', async () => {
    const dir = vocFolder({
      'Annotations/f.xml': doc(
        'f.jpg',
        `<object><name>a &amp; b</name><pose>Left</pose><truncated>1</truncated><difficult>0</difficult><occluded>0</occluded>` +
          `<bndbox><xmin>0.1</xmin><ymin>10.25</ymin><xmax>33.3</xmax><ymax>79.99</ymax></bndbox>` +
          `<attributes><attribute><name>score</name><value>0.75</value></attribute><attribute><name>code</name><value>0003</value></attribute></attributes></object>`,
      ),
    });
    const ds = await vocReader.read(dir);
    const a = ds.images[0]!.annotations[0]!;
    expect(a.label).toBe('a & b');
    expect(a.geometry).toEqual({ kind: 'box', x: 0.1 - 1, y: 9.25, w: 33.3 - (0.1 - 1), h: 79.99 - 9.25 });
    expect(a.attributes).toEqual({ pose: 'Left', truncated: true, difficult: false, occluded: false, score: 0.75, code: '0003' });
    const { classes, images } = toExport(ds, vocWriter, dir);
    const out = tempDir();
    await vocWriter.write(out, classes, stream(images), warnings().ctx);
    const xml = fs.readFileSync(path.join(out, 'Annotations/f.xml'), 'utf8');
    expect(xml).toContain('<xmin>0.1</xmin>');
    expect(xml).toContain('<xmax>33.3</xmax>');
    expect(xml).toContain('<name>a &amp; b</name>');
    const again = await vocReader.read(out);
    expect(again.images[0]!.annotations).toEqual(ds.images[0]!.annotations);
    expect(fs.existsSync(path.join(out, 'ImageSets'))).toBe(false);
  });

  it('counts what VOC cannot hold and writes an empty annotation for an image without objects', async () => {
    const out = tempDir();
    const w = warnings();
    const res = await vocWriter.write(
      out,
      [{ index: 0, name: 'cell', color: '#00ff00' }],
      stream<ExportImage>([
        { id: 1, file: 'JPEGImages/a.png', source: '/nonexistent/a.png', width: 10, height: 10, split: null, tags: [], annotations: [{ id: 1, classIndex: 0, label: 'cell', geometry: { kind: 'polygon', parts: [[0, 0, 5, 0, 5, 5]] }, attributes: {} }] },
        { id: 2, file: 'JPEGImages/sub/a.jpg', source: '/nonexistent/a.jpg', width: 10, height: 10, split: 'test', tags: [], annotations: [] },
      ]),
      w.ctx,
    );
    expect(res).toEqual({ files: 2, emptyLabelFiles: 1 });
    expect(w.list).toEqual(['unsupported:polygon', 'voc:renamed']);
    expect(fs.readFileSync(path.join(out, 'Annotations/a.xml'), 'utf8')).not.toContain('<object>');
    expect(fs.readFileSync(path.join(out, 'Annotations/a_2.xml'), 'utf8')).toContain('<filename>sub/a.jpg</filename>');
    expect(fs.readFileSync(path.join(out, 'ImageSets/Main/test.txt'), 'utf8')).toBe('a_2\n');
  });
});

describe('Pascal VOC fuzz', () => {
  it('never throws on mutated files, never yields a key outside the folder, and names the file in every problem', async () => {
    let seed = 42;
    const rnd = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % n);
    const base = doc(
      'img.jpg',
      obj('cat', '<xmin>1.5</xmin><ymin>2</ymin><xmax>30</xmax><ymax>40.25</ymax>') +
        `<object><name>dog</name><pose>Left</pose><truncated>1</truncated><difficult>0</difficult><bndbox><xmin>5</xmin><ymin>6</ymin><xmax>70</xmax><ymax>60</ymax></bndbox><attributes><attribute><name>a</name><value>1</value></attribute></attributes></object>`,
    );
    const numbers = ['NaN', '-1', '1e400', '', '99999999999', '-0', 'abc', '1,5', '0x1F', 'Infinity'];
    const names = ['../../etc/passwd', '/etc/passwd', 'C:\\x.jpg', '', 'a/../../b.jpg', '..', 'a\u0000b.jpg'];
    const dir = tempDir('tessera-voc-fuzz-');
    fs.mkdirSync(path.join(dir, 'Annotations'));
    const file = path.join(dir, 'Annotations', 'f.xml');
    for (let i = 0; i < 300; i++) {
      let text = base;
      const kind = rnd(5);
      if (kind === 0) text = text.slice(0, rnd(text.length));
      else if (kind === 1) {
        const tokens = [...text.matchAll(/>([-\d.]+)</g)];
        const t = tokens[rnd(tokens.length)]!;
        text = text.slice(0, t.index! + 1) + numbers[rnd(numbers.length)] + text.slice(t.index! + 1 + t[1]!.length);
      } else if (kind === 2) text = text.replace('img.jpg', names[rnd(names.length)]!);
      else if (kind === 3) {
        const tag = ['size', 'bndbox', 'name', 'width', 'xmin', 'object', 'filename'][rnd(7)]!;
        text = text.replace(new RegExp(`<${tag}>[^]*?</${tag}>`), '');
      } else {
        const a = rnd(text.length);
        text = text.slice(0, a) + text.slice(a, a + rnd(40)) + text.slice(a);
      }
      fs.writeFileSync(file, text);
      const ds = await vocReader.read(file);
      expectContainedRead(ds, 'Annotations/f.xml');
    }
  });
});
