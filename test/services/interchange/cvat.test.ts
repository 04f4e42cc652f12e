import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import type { ExportImage, InterchangeDataset } from '../../../src-main/common/formats/types';
import { encodeMask } from '../../../src-main/common/geometry';
import { cvatReader, cvatWriter } from '../../../src-main/services/interchange/formats/cvat';
import { vocReader } from '../../../src-main/services/interchange/formats/voc';
import { expectContainedRead } from '../../helpers/interchange';
import { sharedPath, tempDir } from '../../helpers/shared';

function toExport(ds: InterchangeDataset): ExportImage[] {
  let id = 0;
  return ds.images.map((img, i) => ({
    id: i + 1,
    file: cvatWriter.imagePath(img.file.replace(/^images\//, ''), img.split ?? null),
    source: img.file,
    width: img.width!,
    height: img.height!,
    split: img.split ?? null,
    tags: img.tags,
    annotations: img.annotations.map((a) => ({ ...a, id: ++id, classIndex: ds.classes.indexOf(a.label) })),
  }));
}

async function* stream<T>(items: T[]): AsyncIterable<T> {
  for (const x of items) yield x;
}

async function roundTrip(ds: InterchangeDataset): Promise<{ again: InterchangeDataset; out: string; warned: string[] }> {
  const out = tempDir('tessera-cvat-out-');
  const warned: string[] = [];
  const res = await cvatWriter.write(out, ds.classes.map((name, index) => ({ index, name, color: '#123456' })), stream(toExport(ds)), { warn: (k) => void warned.push(k) });
  expect(res).toEqual({ files: 1, emptyLabelFiles: 0 });
  expect(fs.readdirSync(out)).toEqual(['annotations.xml']);
  return { again: await cvatReader.read(out), out, warned };
}

describe('CVAT reader on the Datumaro fixtures', () => {
  const project = sharedPath('datasets/datumaro_assets/cvat_dataset/for_images/export_project');
  const task = sharedPath('datasets/datumaro_assets/cvat_dataset/for_images/export_task');

  it.skipIf(!project)('reads a project export: subsets as splits and folders, typed attributes, points, polylines', async () => {
    expect(await cvatReader.detect(project!)).toBeGreaterThan(0.9);
    expect(await vocReader.detect(project!)).toBe(0);
    const ds = await cvatReader.read(project!);
    expect(ds.classes).toEqual(['label1', 'label2']);
    expect(ds.images.map((i) => [i.file, i.split, i.width, i.height, i.annotations.length])).toEqual([
      ['images/Test/img0.jpg', 'test', 8, 8, 2],
      ['images/Test/img1.jpg', 'test', 10, 10, 4],
      ['images/Train/img0.jpg', 'train', 8, 8, 2],
      ['images/Train/img1.jpg', 'train', 10, 10, 4],
      ['images/Validation/img0.jpg', 'val', 8, 8, 2],
      ['images/Validation/img1.jpg', 'val', 10, 10, 4],
    ]);
    for (const img of ds.images) expect(fs.existsSync(path.join(project!, img.file))).toBe(true);
    expect(ds.images[0]!.annotations[0]).toEqual({
      label: 'label1',
      geometry: { kind: 'box', x: 0, y: 2, w: 4, h: 2 },
      attributes: { occluded: true, z_order: 1, a1: true, a2: 'v3', a3: '0003', a4: 2.4 },
    });
    expect(ds.images[1]!.annotations.map((a) => [a.label, a.geometry])).toEqual([
      ['label1', { kind: 'polygon', parts: [[1, 2, 3, 4, 6, 5]] }],
      ['label2', { kind: 'point', x: 1, y: 2 }],
      ['label2', { kind: 'point', x: 3, y: 4 }],
      ['label2', { kind: 'point', x: 5, y: 6 }],
    ]);
    expect(ds.images[0]!.annotations[1]).toEqual({ label: 'label2', geometry: { kind: 'polyline', points: [1, 2, 3, 4, 5, 6, 7, 8] }, attributes: {} });
    expect(ds.counters['unsupportedShapes']).toBeUndefined();
    expect(ds.problems.every((p) => p.severity === 'warning' && p.file === 'annotations.xml')).toBe(true);
  });

  it.skipIf(!task)('reads a Datumaro task file named after its subset, reporting shapes without a label', async () => {
    const ds = await cvatReader.read(path.join(task!, 'train.xml'));
    expect(ds.images.map((i) => [i.file, i.split])).toEqual([
      ['images/img0.jpg', 'train'],
      ['images/img1.jpg', 'train'],
    ]);
    expect(ds.problems.filter((p) => p.severity === 'error').map((p) => p.where)).toEqual(['image[name=img0.jpg]/polyline[1]', 'image[name=img1.jpg]/polygon[1]']);
    expect(ds.problems.filter((p) => p.severity === 'error')[0]!.file).toBe('train.xml');
  });

  it.skipIf(!project)('round-trips the project export: same files, splits, labels, attributes and geometry', async () => {
    const ds = await cvatReader.read(project!);
    const { again, warned } = await roundTrip(ds);
    expect(warned).toEqual([]);
    expect(again.problems).toEqual([]);
    expect(again.classes).toEqual(ds.classes);
    expect(again.images.map((i) => [i.split, i.width, i.height, i.annotations])).toEqual(ds.images.map((i) => [i.split, i.width, i.height, i.annotations]));
  });
});

describe('CVAT round trip of masks, groups, tags and fractional boxes', () => {
  it('gives back equal masks, joined polygons and exact box corners', async () => {
    const m = new Uint8Array(30 * 20);
    for (let y = 3; y < 9; y++) for (let x = 5; x < 5 + y; x++) m[y * 30 + x] = 1;
    const ds: InterchangeDataset = {
      format: 'cvat',
      classes: ['cell', 'debris'],
      problems: [],
      counters: {},
      images: [
        {
          file: 'images/a.png',
          width: 30,
          height: 20,
          split: 'train',
          tags: ['stained'],
          annotations: [
            { label: 'cell', geometry: { kind: 'mask', rle: encodeMask(m, 30, 20) }, attributes: { occluded: false, z_order: 0 } },
            { label: 'cell', geometry: { kind: 'polygon', parts: [[0, 0, 4, 0, 4, 4], [10, 10, 14, 10, 14, 14, 10, 14]] }, attributes: { grade: 2, note: 'two\nlines' } },
            { label: 'debris', geometry: { kind: 'box', x: 0.1, y: 1 / 3, w: 7.7, h: 2.2 }, attributes: { checked: true } },
          ],
        },
        { file: 'images/empty.png', width: 5, height: 5, split: 'val', tags: [], annotations: [] },
      ],
    };
    const { again, out } = await roundTrip(ds);
    expect(again.problems).toEqual([]);
    expect(again.classes).toEqual(['cell', 'debris', 'stained']);
    const a = again.images[0]!;
    expect(a.tags).toEqual(['stained']);
    expect(a.annotations[0]).toEqual(ds.images[0]!.annotations[0]);
    expect(a.annotations[1]).toEqual({ ...ds.images[0]!.annotations[1]!, attributes: { grade: 2, note: 'two\nlines', group_id: 1 } });
    expect(a.annotations[2]).toEqual(ds.images[0]!.annotations[2]);
    expect(again.images[1]).toMatchObject({ file: 'images/empty.png', split: 'val', annotations: [] });
    const xml = fs.readFileSync(path.join(out, 'annotations.xml'), 'utf8');
    expect(xml).toMatch(/^<\?xml version="1.0" encoding="utf-8"\?>\n<annotations>\n  <version>1.1<\/version>/);
    expect(xml.trimEnd().endsWith('</annotations>')).toBe(true);
  });
});

describe('CVAT problems', () => {
  const write = (xml: string): string => {
    const dir = tempDir('tessera-cvat-bad-');
    fs.writeFileSync(path.join(dir, 'annotations.xml'), xml);
    return dir;
  };

  it('names the file and line of malformed XML', async () => {
    const ds = await cvatReader.read(write('<annotations><version>1.1</version>\n<image name="a.jpg" width="2" height="2"><box></image></annotations>'));
    expect(ds.images).toEqual([]);
    expect(ds.problems).toEqual([expect.objectContaining({ file: 'annotations.xml', where: 'line 2', severity: 'error', message: expect.stringMatching(/malformed XML/) })]);
  });

  it('refuses image names leaving the folder and reads the rest', async () => {
    const ds = await cvatReader.read(
      write(
        '<annotations><version>1.1</version>' +
          '<image id="0" name="../../etc/passwd" width="4" height="4"><box label="x" xtl="0" ytl="0" xbr="1" ybr="1"/></image>' +
          '<image id="1" name="/abs/b.jpg" width="4" height="4"/>' +
          '<image id="2" name="ok.jpg" width="4" height="4"><box label="x" xtl="NaN" ytl="0" xbr="1" ybr="1"/><box label="x" xtl="2" ytl="2" xbr="2" ybr="3"/></image>' +
          '<image id="3" name="ok.jpg" width="4" height="4"/>' +
          '</annotations>',
      ),
    );
    expect(ds.images.map((i) => [i.file, i.annotations.length])).toEqual([['images/ok.jpg', 0]]);
    expect(ds.problems.map((p) => [p.where, p.severity])).toEqual([
      ['image[name=../../etc/passwd]', 'error'],
      ['image[name=/abs/b.jpg]', 'error'],
      ['image[name=ok.jpg]/box[1]', 'error'],
      ['image[name=ok.jpg]/box[2]', 'warning'],
      ['image[name=ok.jpg]', 'error'],
    ]);
    expect(ds.problems[0]!.message).toMatch(/outside the dataset folder/);
  });

  it('reports a folder without CVAT XML and a file with another root', async () => {
    const empty = tempDir('tessera-cvat-empty-');
    expect((await cvatReader.read(empty)).problems[0]).toMatchObject({ severity: 'error', message: expect.stringMatching(/no annotations.xml/) });
    const voc = await cvatReader.read(write('<annotation><filename>a.jpg</filename></annotation>'));
    expect(voc.problems[0]).toMatchObject({ file: 'annotations.xml', severity: 'error', message: expect.stringMatching(/no <annotations> root/) });
    expect(await cvatReader.detect(path.join(empty, 'missing.xml'))).toBe(0);
  });
});

describe('CVAT fuzz', () => {
  it('never throws on mutated files, never yields a key outside the folder, and names the file in every problem', async () => {
    let seed = 9;
    const rnd = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % n);
    const base =
      '<?xml version="1.0" encoding="utf-8"?><annotations><version>1.1</version><meta><task><labels><label><name>a</name><attributes><attribute><name>n</name><input_type>number</input_type></attribute></attributes></label></labels></task></meta>' +
      '<image id="0" name="img.jpg" width="40" height="30" subset="Train">' +
      '<box label="a" xtl="1.5" ytl="2" xbr="30" ybr="20" occluded="0" z_order="1"><attribute name="n">2</attribute></box>' +
      '<polygon label="a" points="1,2;10,2;10,20" group_id="1"/><polygon label="a" points="20,2;30,2;30,20" group_id="1"/>' +
      '<points label="a" points="1,1;2,2"/><mask label="a" rle="1, 3, 2" left="3" top="4" width="3" height="2"/><tag label="t"/>' +
      '</image></annotations>';
    const numbers = ['NaN', '-1', '1e400', '', '99999999999', '-0', 'abc', '1;5', '0x1F', '1,2;3', '4294967296'];
    const names = ['../../etc/passwd', '/etc/passwd', 'C:\\x.jpg', '', 'a/../../b.jpg', '..'];
    const dir = tempDir('tessera-cvat-fuzz-');
    const file = path.join(dir, 'annotations.xml');
    for (let i = 0; i < 300; i++) {
      let text = base;
      const kind = rnd(4);
      if (kind === 0) text = text.slice(0, rnd(text.length));
      else if (kind === 1) {
        const attrs = [...text.matchAll(/ (\w+)="([^"]*)"/g)];
        for (let k = 0; k < 1 + rnd(3); k++) {
          const t = attrs[rnd(attrs.length)]!;
          const start = t.index! + t[1]!.length + 3;
          text = text.slice(0, start) + numbers[rnd(numbers.length)] + text.slice(start + t[2]!.length);
          break;
        }
      } else if (kind === 2) text = text.replace('img.jpg', names[rnd(names.length)]!);
      else {
        const a = rnd(text.length);
        text = text.slice(0, a) + text.slice(a + rnd(30));
      }
      fs.writeFileSync(file, text);
      const ds = await cvatReader.read(file);
      expectContainedRead(ds, 'annotations.xml');
    }
  });
});
