import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import type { ExportImage, InterchangeDataset } from '../../../src-main/common/formats/types';
import { decodeMask } from '../../../src-main/common/geometry';
import { labelmeEmbeddedImage, labelmeReader, labelmeWriter } from '../../../src-main/services/interchange/formats/labelme';
import { expectContainedRead } from '../../helpers/interchange';
import { tempDir } from '../../helpers/shared';

async function png(width: number, height: number, pixels: number[]): Promise<Buffer> {
  return sharp(Buffer.from(pixels), { raw: { width, height, channels: 1 } }).png().toBuffer();
}

const shape = (shape_type: string, label: string, points: (number | null)[][], extra: Record<string, unknown> = {}) => ({ label, points, group_id: null, description: '', shape_type, flags: {}, mask: null, ...extra });

/** A labelme folder as the app saves it: a.jpg + a.json, and an annotation in a subfolder whose image is only embedded. */
async function fixture(): Promise<{ dir: string; embedded: Buffer }> {
  const dir = tempDir('tessera-labelme-');
  await sharp({ create: { width: 40, height: 30, channels: 3, background: '#808080' } }).jpeg().toFile(path.join(dir, 'a.jpg'));
  // A mask over x 10..13, y 5..7: an L shape.
  const maskPng = await png(4, 3, [255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255]);
  const a = {
    version: '5.5.0',
    flags: { reviewed: true, blurry: false },
    shapes: [
      shape('rectangle', 'car', [[2, 3], [12.5, 9]], { flags: { occluded: true } }),
      shape('polygon', 'road', [[0, 20], [39, 20], [39, 29], [0, 29]], { description: 'wet' }),
      shape('polygon', 'road', [[20, 0], [25, 0], [25, 5]], { group_id: 7 }),
      shape('polygon', 'road', [[30, 0], [35, 0], [35, 5]], { group_id: 7 }),
      shape('circle', 'wheel', [[20, 15], [23, 19]]),
      shape('point', 'nose', [[5.25, 6.75]]),
      shape('linestrip', 'lane', [[0, 0], [10, 10], [20, 0]]),
      shape('mask', 'stain', [[10, 5], [13, 7]], { mask: maskPng.toString('base64') }),
    ],
    imagePath: 'a.jpg',
    imageData: null,
    imageHeight: 30,
    imageWidth: 40,
  };
  fs.writeFileSync(path.join(dir, 'a.json'), JSON.stringify(a));
  const embedded = await sharp({ create: { width: 8, height: 6, channels: 3, background: '#ff0000' } }).png().toBuffer();
  fs.mkdirSync(path.join(dir, 'more'));
  fs.writeFileSync(
    path.join(dir, 'more', 'b.json'),
    JSON.stringify({ version: '4.5.6', flags: {}, shapes: [shape('point', 'nose', [[1, 1]])], imagePath: '..\\pics\\b.png', imageData: embedded.toString('base64'), imageHeight: 6, imageWidth: 8 }),
  );
  return { dir, embedded };
}

function toExport(ds: InterchangeDataset): ExportImage[] {
  let id = 0;
  return ds.images.map((img, i) => ({
    id: i + 1,
    file: labelmeWriter.imagePath(img.file.split('/').pop()!, null),
    source: img.file,
    width: img.width!,
    height: img.height!,
    split: null,
    tags: img.tags,
    annotations: img.annotations.map((a) => ({ ...a, id: ++id, classIndex: ds.classes.indexOf(a.label) })),
  }));
}

async function* stream<T>(items: T[]): AsyncIterable<T> {
  for (const x of items) yield x;
}

describe('labelme reader', () => {
  it('detects a labelme folder and reads every shape kind, groups, flags and masks', async () => {
    const { dir } = await fixture();
    expect(await labelmeReader.detect(dir)).toBeGreaterThan(0.5);
    expect(await labelmeReader.detect(path.join(dir, 'a.jpg'))).toBe(0);
    const ds = await labelmeReader.read(dir);
    expect(ds.images.map((i) => i.file)).toEqual(['a.jpg', 'pics/b.png']);
    const a = ds.images[0]!;
    expect(a.tags).toEqual(['reviewed']);
    expect([a.width, a.height]).toEqual([40, 30]);
    expect(a.annotations.map((x) => [x.label, x.geometry.kind])).toEqual([
      ['car', 'box'],
      ['road', 'polygon'],
      ['road', 'polygon'],
      ['wheel', 'polygon'],
      ['nose', 'point'],
      ['lane', 'polyline'],
      ['stain', 'mask'],
    ]);
    expect(a.annotations[0]).toEqual({ label: 'car', geometry: { kind: 'box', x: 2, y: 3, w: 10.5, h: 6 }, attributes: { occluded: true } });
    expect(a.annotations[1]!.attributes).toEqual({ description: 'wet' });
    expect((a.annotations[2]!.geometry as { parts: number[][] }).parts).toHaveLength(2);
    expect(a.annotations[2]!.attributes).toEqual({ group_id: 7 });
    expect(a.annotations[3]!.attributes).toEqual({ labelme_shape: 'circle' });
    expect(a.annotations[5]!.geometry).toEqual({ kind: 'polyline', points: [0, 0, 10, 10, 20, 0] });
    const stain = decodeMask((a.annotations[6]!.geometry as { rle: { size: [number, number]; counts: number[] } }).rle);
    const set: string[] = [];
    stain.forEach((v, i) => v && set.push(`${i % 40},${Math.floor(i / 40)}`));
    expect(set).toEqual(['10,5', '10,6', '10,7', '11,7', '12,7', '13,7']);
    expect(ds.classes).toEqual(['car', 'road', 'wheel', 'nose', 'lane', 'stain']);
    expect(ds.counters).toMatchObject({ groupsJoined: 1, circlesAsPolygons: 1, embeddedImages: 1 });
    expect(ds.counters['unsupportedShapes']).toBeUndefined();
    expect(ds.problems.map((p) => [p.file, p.where, p.severity])).toEqual([['more/b.json', 'imageData', 'warning']]);
  });

  it('hands out the embedded image of a file whose image is missing', async () => {
    const { dir, embedded } = await fixture();
    expect((await labelmeEmbeddedImage(path.join(dir, 'more', 'b.json')))?.equals(embedded)).toBe(true);
    expect(await labelmeEmbeddedImage(path.join(dir, 'a.json'))).toBeNull();
  });

  it('round-trips through the writer: same labels, attributes, geometry and mask pixels', async () => {
    const { dir } = await fixture();
    const ds = await labelmeReader.read(dir);
    const out = tempDir();
    const warned: string[] = [];
    const res = await labelmeWriter.write(out, ds.classes.map((name, index) => ({ index, name, color: '#fff' })), stream(toExport(ds)), { warn: (k) => void warned.push(k) });
    expect(res).toEqual({ files: 2, emptyLabelFiles: 0 });
    expect(warned).toEqual([]);
    const written = JSON.parse(fs.readFileSync(path.join(out, 'a.json'), 'utf8'));
    expect(written).toMatchObject({ imagePath: 'a.jpg', imageData: null, imageWidth: 40, imageHeight: 30, flags: { reviewed: true } });
    expect(written.version).toMatch(/^5\./);
    expect(written.shapes.map((s: { shape_type: string }) => s.shape_type)).toEqual(['rectangle', 'polygon', 'polygon', 'polygon', 'circle', 'point', 'linestrip', 'mask']);
    expect(written.shapes[6].points).toEqual([[0, 0], [10, 10], [20, 0]]);
    const mask = written.shapes[7];
    expect(mask.points).toEqual([[10, 5], [13, 7]]);
    const { info } = await sharp(Buffer.from(mask.mask, 'base64')).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height]).toEqual([4, 3]);

    const again = await labelmeReader.read(out);
    const before = ds.images[0]!;
    const after = again.images[0]!;
    expect(after.tags).toEqual(before.tags);
    expect(after.annotations.map((a) => [a.label, a.attributes])).toEqual(before.annotations.map((a) => [a.label, a.attributes]));
    for (const [i, a] of after.annotations.entries()) {
      const b = before.annotations[i]!;
      if (b.attributes['labelme_shape'] === 'circle') {
        const pa = (a.geometry as { parts: number[][] }).parts[0]!;
        const pb = (b.geometry as { parts: number[][] }).parts[0]!;
        expect(pa).toHaveLength(pb.length);
        pa.forEach((v, k) => expect(Math.abs(v - pb[k]!)).toBeLessThan(1e-9));
      } else expect(a.geometry).toEqual(b.geometry);
    }
  });
});

describe('labelme problems', () => {
  it('names malformed JSON, refuses image paths outside the folder and skips other JSON', async () => {
    const dir = tempDir('tessera-labelme-bad-');
    fs.writeFileSync(path.join(dir, 'broken.json'), '{"shapes": [');
    fs.writeFileSync(path.join(dir, 'evil.json'), JSON.stringify({ shapes: [shape('point', 'x', [[1, 1]])], imagePath: '../../etc/passwd', imageHeight: 5, imageWidth: 5 }));
    fs.writeFileSync(path.join(dir, 'abs.json'), JSON.stringify({ shapes: [], imagePath: '/etc/passwd' }));
    fs.writeFileSync(path.join(dir, 'nan.json'), JSON.stringify({ shapes: [shape('rectangle', 'x', [[1, 1], [null, 3]])], imagePath: 'n.png' }));
    fs.writeFileSync(path.join(dir, 'coco.json'), JSON.stringify({ images: [], annotations: [] }));
    const ds = await labelmeReader.read(dir);
    expect(ds.problems.map((p) => [p.file, p.where ?? null, p.severity])).toEqual([
      ['abs.json', 'imagePath', 'error'],
      ['broken.json', null, 'error'],
      ['evil.json', 'imagePath', 'error'],
      ['nan.json', 'shapes[0]', 'error'],
    ]);
    expect(ds.problems[1]!.message).toMatch(/malformed JSON/);
    expect(ds.problems[2]!.message).toMatch(/outside the dataset folder/);
    expect(ds.images.map((i) => [i.file, i.annotations.length])).toEqual([['n.png', 0]]);
    expect(ds.counters['otherJsonFiles']).toBe(1);
  });

  it('reports an undecodable mask PNG and keeps the other shapes', async () => {
    const dir = tempDir('tessera-labelme-png-');
    fs.writeFileSync(
      path.join(dir, 'm.json'),
      JSON.stringify({ shapes: [shape('mask', 'm', [[0, 0], [1, 1]], { mask: Buffer.from('not a png').toString('base64') }), shape('point', 'p', [[1, 1]])], imagePath: 'm.png', imageHeight: 4, imageWidth: 4 }),
    );
    const ds = await labelmeReader.read(path.join(dir, 'm.json'));
    expect(ds.problems).toEqual([expect.objectContaining({ file: 'm.json', where: 'shapes[0]', severity: 'error', message: expect.stringMatching(/cannot be decoded/) })]);
    expect(ds.images[0]!.annotations.map((a) => a.label)).toEqual(['p']);
  });
});

/**
 * A 1-bit greyscale PNG of width x height zeros, built by hand: a 16383 x 16383 one is 33 MB of
 * rows that deflate to about 33 KB, while decoding it takes 268 MB a copy.
 */
function zeroPng(width: number, height: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const out = Buffer.alloc(12 + data.length);
    out.writeUInt32BE(data.length, 0);
    out.write(type, 4, 'ascii');
    data.copy(out, 8);
    out.writeUInt32BE(zlib.crc32(out.subarray(4, 8 + data.length)) >>> 0, 8 + data.length);
    return out;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 1; // bit depth
  ihdr[9] = 0; // greyscale
  const raw = Buffer.alloc((1 + Math.ceil(width / 8)) * height);
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', zlib.deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

describe('labelme mask sizes', () => {
  it('refuses, without decoding, mask PNGs declaring more pixels than their box or the image, naming file and shape', async () => {
    const dir = tempDir('tessera-labelme-bomb-');
    await sharp({ create: { width: 40, height: 30, channels: 3, background: '#808080' } }).png().toFile(path.join(dir, 'img.png'));
    const huge = zeroPng(16383, 16383).toString('base64');
    const small = (await png(4, 3, [255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255])).toString('base64');
    // 12 x 10 fits the 40 x 30 image but not its 4 x 3 box.
    const wide = (await png(12, 10, new Array(120).fill(255))).toString('base64');
    const doc = {
      version: '5.5.0',
      flags: {},
      shapes: [
        shape('mask', 'bomb', [[1, 1], [4, 3]], { mask: huge }),
        shape('mask', 'bomb', [[0, 0], [39, 29]], { mask: huge }),
        shape('mask', 'ok', [[10, 5], [13, 7]], { mask: small }),
        shape('mask', 'wide', [[10, 5], [13, 7]], { mask: wide }),
        shape('rectangle', 'box', [[1, 1], [5, 5]]),
      ],
      imagePath: 'img.png',
      imageData: null,
      imageHeight: 30,
      imageWidth: 40,
    };
    const file = path.join(dir, 'img.json');
    fs.writeFileSync(file, JSON.stringify(doc));
    const t0 = Date.now();
    const ds = await labelmeReader.read(dir);
    // Decoding one of them took seconds and half a gigabyte.
    expect(Date.now() - t0).toBeLessThan(3_000);
    expect(ds.problems).toEqual([
      expect.objectContaining({ file: 'img.json', where: 'shapes[0]', severity: 'error', message: expect.stringMatching(/^mask "bomb": the PNG declares 16383x16383 pixels, more than the 40x30 image; not decoded/) }),
      expect.objectContaining({ file: 'img.json', where: 'shapes[1]', severity: 'error', message: expect.stringMatching(/16383x16383 pixels, more than the 40x30 image/) }),
      expect.objectContaining({ file: 'img.json', where: 'shapes[3]', severity: 'error', message: expect.stringMatching(/^mask "wide": the PNG declares 12x10 pixels, more than the 4x3 box of its points; not decoded/) }),
    ]);
    expect(ds.images[0]!.annotations.map((a) => [a.label, a.geometry.kind])).toEqual([
      ['ok', 'mask'],
      ['box', 'box'],
    ]);
    const ok = ds.images[0]!.annotations[0]!.geometry;
    if (ok.kind !== 'mask') throw new Error('not a mask');
    expect(Array.from(decodeMask(ok.rle)).reduce((a, b) => a + b, 0)).toBe(6);
  });
});

describe('labelme mask sizes against the real image', () => {
  const bombDoc = (extra: Record<string, unknown>) => ({
    version: '5.5.0',
    flags: {},
    shapes: Array.from({ length: 8 }, () => shape('mask', 'bomb', [[0, 0], [16382, 16382]], { mask: zeroPng(16383, 16383).toString('base64') })),
    imagePath: 'img.png',
    imageData: null,
    imageHeight: 16383,
    imageWidth: 16383,
    ...extra,
  });

  it('refuses masks sized by an imageWidth/imageHeight the image file does not have, quickly, naming file and shape', async () => {
    const dir = tempDir('tessera-labelme-statedsize-');
    await sharp({ create: { width: 40, height: 30, channels: 3, background: '#808080' } }).png().toFile(path.join(dir, 'img.png'));
    fs.writeFileSync(path.join(dir, 'img.json'), JSON.stringify(bombDoc({})));
    const t0 = Date.now();
    const ds = await labelmeReader.read(dir);
    // Decoding them took 15 s and 2.2 GB.
    expect(Date.now() - t0).toBeLessThan(3_000);
    expect(ds.problems).toHaveLength(8);
    ds.problems.forEach((p, i) =>
      expect(p).toEqual(
        expect.objectContaining({
          file: 'img.json',
          where: `shapes[${i}]`,
          severity: 'error',
          message: expect.stringMatching(/^mask "bomb": the file states a 16383x16383 image \(imageWidth x imageHeight\) but the image file img\.png is 40x30; the PNG is not decoded/),
        }),
      ),
    );
    expect(ds.images[0]!.annotations).toEqual([]);
  });

  it('takes the real size from the embedded image when the image file is missing', async () => {
    const dir = tempDir('tessera-labelme-statedsize-embedded-');
    const embedded = await sharp({ create: { width: 40, height: 30, channels: 3, background: '#808080' } }).png().toBuffer();
    fs.writeFileSync(path.join(dir, 'img.json'), JSON.stringify(bombDoc({ imageData: embedded.toString('base64') })));
    const t0 = Date.now();
    const ds = await labelmeReader.read(dir);
    expect(Date.now() - t0).toBeLessThan(3_000);
    const errors = ds.problems.filter((p) => p.severity === 'error');
    expect(errors).toHaveLength(8);
    expect(errors[7]).toEqual(expect.objectContaining({ file: 'img.json', where: 'shapes[7]', message: expect.stringMatching(/but the embedded image \(imageData\) is 40x30/) }));
  });

  it('applies EXIF orientation to the real size: a rotated JPEG with its turned size stated is accepted', async () => {
    const dir = tempDir('tessera-labelme-oriented-');
    // Stored 40 x 30, shown 30 x 40 (orientation 6: rotate 90 degrees).
    await sharp({ create: { width: 40, height: 30, channels: 3, background: '#808080' } }).withMetadata({ orientation: 6 }).jpeg().toFile(path.join(dir, 'img.jpg'));
    const small = (await png(4, 3, [255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255])).toString('base64');
    const doc = { version: '5.5.0', flags: {}, shapes: [shape('mask', 'ok', [[10, 5], [13, 7]], { mask: small })], imagePath: 'img.jpg', imageData: null, imageHeight: 40, imageWidth: 30 };
    fs.writeFileSync(path.join(dir, 'img.json'), JSON.stringify(doc));
    const ds = await labelmeReader.read(dir);
    expect(ds.problems).toEqual([]);
    expect(ds.images[0]!.annotations.map((a) => a.geometry.kind)).toEqual(['mask']);
  });

  it('refuses masks once the decoded mask pixels of a file add up past the budget', async () => {
    const dir = tempDir('tessera-labelme-budget-');
    // A real 12000 x 12000 image (a PNG of zeros, kilobytes) with two image-sized masks: 288 megapixels.
    fs.writeFileSync(path.join(dir, 'img.png'), zeroPng(12000, 12000));
    const mask = zeroPng(12000, 12000).toString('base64');
    const doc = {
      version: '5.5.0',
      flags: {},
      shapes: [shape('mask', 'first', [[0, 0], [11999, 11999]], { mask }), shape('mask', 'second', [[0, 0], [11999, 11999]], { mask })],
      imagePath: 'img.png',
      imageData: null,
      imageHeight: 12000,
      imageWidth: 12000,
    };
    fs.writeFileSync(path.join(dir, 'img.json'), JSON.stringify(doc));
    const ds = await labelmeReader.read(dir);
    const errors = ds.problems.filter((p) => p.severity === 'error');
    expect(errors).toEqual([
      expect.objectContaining({ file: 'img.json', where: 'shapes[1]', message: expect.stringMatching(/^mask "second": the file's mask PNGs add up to more than 268,435,456 pixels; this 12000x12000 one is not decoded/) }),
    ]);
  }, 30_000);
});

describe('labelme fuzz', () => {
  it('never throws on mutated files, never yields a key outside the folder, and names the file in every problem', async () => {
    let seed = 5;
    const rnd = (n: number): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % n);
    const maskPng = (await png(2, 2, [255, 0, 255, 255])).toString('base64');
    const base = {
      version: '5.5.0',
      flags: { a: true },
      shapes: [
        shape('rectangle', 'r', [[1, 2], [10, 20]], { flags: { x: true } }),
        shape('polygon', 'p', [[1, 2], [10, 2], [10, 20]], { group_id: 1 }),
        shape('polygon', 'p', [[11, 2], [20, 2], [20, 20]], { group_id: 1 }),
        shape('circle', 'c', [[5, 5], [8, 9]]),
        shape('mask', 'm', [[3, 3], [4, 4]], { mask: maskPng, group_id: 2 }),
        shape('polygon', 'm', [[1, 1], [3, 1], [3, 3]], { group_id: 2 }),
        shape('point', 'pt', [[1, 1]]),
      ],
      imagePath: 'img.jpg',
      imageData: null,
      imageHeight: 30,
      imageWidth: 40,
    };
    const values: unknown[] = [null, 'x', -1, 1e308, -1e308, [], {}, true, '../../etc/passwd', [[1]], [[1, 2, 3]], 0, 1e9, '/abs.png', 'AAAA'];
    const dir = tempDir('tessera-labelme-fuzz-');
    const file = path.join(dir, 'f.json');
    const paths = (node: unknown, at: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] => {
      if (node && typeof node === 'object') for (const [k, v] of Object.entries(node)) {
        const p = [...at, Array.isArray(node) ? Number(k) : k];
        out.push(p);
        paths(v, p, out);
      }
      return out;
    };
    for (let i = 0; i < 250; i++) {
      const d = JSON.parse(JSON.stringify(base)) as Record<string, unknown>;
      const all = paths(d);
      for (let k = 0; k < 1 + rnd(3); k++) {
        const p = all[rnd(all.length)]!;
        // An earlier mutation in this case may have replaced a node on the path.
        let parent: unknown = d;
        for (const seg of p.slice(0, -1)) parent = parent && typeof parent === 'object' ? (parent as Record<string | number, unknown>)[seg] : undefined;
        if (!parent || typeof parent !== 'object') continue;
        const node = parent as Record<string | number, unknown>;
        if (rnd(5) === 0 && !Array.isArray(parent)) delete node[p[p.length - 1]!];
        else node[p[p.length - 1]!] = values[rnd(values.length)];
      }
      const text = JSON.stringify(d);
      fs.writeFileSync(file, rnd(10) === 0 ? text.slice(0, rnd(text.length)) : text);
      const ds = await labelmeReader.read(file);
      expectContainedRead(ds, 'f.json');
    }
  });
});
