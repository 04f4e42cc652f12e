import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import type { ExportClass, ExportImage } from '../../../src-main/common/formats/types';
import { decodeMask, encodeMask, polygonToRle } from '../../../src-main/common/geometry';
import type { Geometry } from '../../../src-main/common/model';
import { masksWriter } from '../../../src-main/services/interchange/formats/masks';
import type { WriteContext } from '../../../src-main/services/interchange/types';
import { tempDir } from '../../helpers/shared';

async function* stream(images: ExportImage[]): AsyncGenerator<ExportImage> {
  for (const im of images) yield im;
}

function ctx(): WriteContext & { warnings: string[] } {
  const warnings: string[] = [];
  return { warnings, warn: (kind) => warnings.push(kind) };
}

function classes(n: number): ExportClass[] {
  return Array.from({ length: n }, (_, index) => ({ index, name: `c${index}`, color: '#0a0b0c' }));
}

function rect(w: number, h: number, x0: number, y0: number, x1: number, y1: number): Geometry {
  const m = new Uint8Array(w * h);
  for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) m[y * w + x] = 1;
  return { kind: 'mask', rle: encodeMask(m, w, h) };
}

function image(id: number, name: string, w: number, h: number, shapes: [number, Geometry][], split: ExportImage['split'] = null): ExportImage {
  return {
    id,
    file: masksWriter.imagePath(name, split),
    source: '',
    width: w,
    height: h,
    split,
    tags: [],
    annotations: shapes.map(([classIndex, geometry], i) => ({ id: i + 1, classIndex, label: `c${classIndex}`, geometry, attributes: {} })),
  };
}

/** Pixel values of a one-channel PNG and its bit depth. */
async function readPng(file: string): Promise<{ depth: number; values: number[] }> {
  const meta = await sharp(file).metadata();
  const sixteen = meta.depth === 'ushort';
  const { data } = await sharp(file).toColourspace(sixteen ? 'grey16' : 'b-w').raw({ depth: sixteen ? 'ushort' : 'uchar' }).toBuffer({ resolveWithObject: true });
  const values = sixteen ? Array.from(new Uint16Array(data.buffer, data.byteOffset, data.byteLength / 2)) : Array.from(data);
  // One channel in the file itself, not only after conversion on reading.
  expect(meta.channels).toBe(1);
  return { depth: sixteen ? 16 : 8, values };
}

describe('masks writer', () => {
  it('writes class index + 1 and instance numbers, later shapes over earlier ones, and labels.txt', async () => {
    const out = tempDir('tessera-masks-');
    const w = 12;
    const h = 8;
    const c = ctx();
    const r = await masksWriter.write(
      out,
      classes(3),
      stream([
        image(1, 'a.jpg', w, h, [
          [2, rect(w, h, 0, 0, 6, 4)],
          [0, rect(w, h, 4, 2, 10, 8)],
        ]),
        image(2, 'b.png', w, h, []),
      ]),
      c,
    );
    expect(r).toEqual({ files: 5, emptyLabelFiles: 2 });
    const cls = await readPng(path.join(out, 'SegmentationClass', 'a.png'));
    const obj = await readPng(path.join(out, 'SegmentationObject', 'a.png'));
    expect([cls.depth, obj.depth]).toEqual([8, 8]);
    const at = (v: number[], x: number, y: number) => v[y * w + x];
    expect([at(cls.values, 1, 1), at(cls.values, 5, 3), at(cls.values, 9, 7), at(cls.values, 11, 0)]).toEqual([3, 1, 1, 0]);
    expect([at(obj.values, 1, 1), at(obj.values, 5, 3), at(obj.values, 9, 7), at(obj.values, 11, 0)]).toEqual([1, 2, 2, 0]);
    expect(cls.values.filter((v) => v === 3)).toHaveLength(24 - 4);
    const empty = await readPng(path.join(out, 'SegmentationClass', 'b.png'));
    expect(empty.values.every((v) => v === 0)).toBe(true);
    expect(fs.readFileSync(path.join(out, 'labels.txt'), 'utf8')).toBe('0 background #000000\n1 c0 #0a0b0c\n2 c1 #0a0b0c\n3 c2 #0a0b0c\n');
    expect(c.warnings).toEqual([]);
  });

  it('writes 16-bit instance PNGs past 255 instances and 16-bit class PNGs past 255 classes', async () => {
    const out = tempDir('tessera-masks16-');
    const w = 20;
    const h = 15;
    const shapes: [number, Geometry][] = [];
    for (let i = 0; i < 300; i++) shapes.push([299, rect(w, h, i % w, Math.floor(i / w), (i % w) + 1, Math.floor(i / w) + 1)]);
    await masksWriter.write(out, classes(300), stream([image(1, 'many.png', w, h, shapes)]), ctx());
    const obj = await readPng(path.join(out, 'SegmentationObject', 'many.png'));
    const cls = await readPng(path.join(out, 'SegmentationClass', 'many.png'));
    expect([obj.depth, cls.depth]).toEqual([16, 16]);
    expect(obj.values).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    expect(new Set(cls.values)).toEqual(new Set([300]));
  });

  it('rasterises polygons like the COCO API and lists images per split', async () => {
    const out = tempDir('tessera-masks-poly-');
    const parts = [[1.5, 1, 10, 2.5, 6, 9]];
    await masksWriter.write(
      out,
      classes(1),
      stream([image(1, 'p.jpg', 12, 10, [[0, { kind: 'polygon', parts }]], 'train'), image(2, 'q.jpg', 12, 10, [], 'val'), image(3, 'r.jpg', 12, 10, [], 'train')]),
      ctx(),
    );
    const cls = await readPng(path.join(out, 'SegmentationClass', 'p.png'));
    expect(cls.values).toEqual(Array.from(decodeMask(polygonToRle(parts, 10, 12))));
    expect(fs.readFileSync(path.join(out, 'ImageSets', 'Segmentation', 'train.txt'), 'utf8')).toBe('p\nr\n');
    expect(fs.readFileSync(path.join(out, 'ImageSets', 'Segmentation', 'val.txt'), 'utf8')).toBe('q\n');
    expect(masksWriter.imagePath('p.jpg', 'train')).toBe('JPEGImages/p.jpg');
  });

  it('counts shapes it cannot paint instead of dropping them silently', async () => {
    const out = tempDir('tessera-masks-pt-');
    const c = ctx();
    await masksWriter.write(out, classes(1), stream([image(1, 'p.jpg', 4, 4, [[0, { kind: 'point', x: 1, y: 1 }]])]), c);
    expect(c.warnings).toEqual(['unsupported:point']);
  });
});
