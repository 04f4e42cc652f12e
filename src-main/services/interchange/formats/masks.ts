import fs from 'node:fs';
import path from 'node:path';
import sharp, { type Sharp } from 'sharp';
import type { ExportClass, ExportImage } from '../../../common/formats/types';
import { paintRle } from '../../../common/geometry';
import type { Split } from '../../../common/model';
import { toMask } from '../convert';
import type { FormatWriter, WriteContext } from '../types';

/** PNGs encoded at once: encoding runs on libvips threads, so a few in flight keep them busy. */
const IN_FLIGHT = 4;

/** A one-channel PNG of 8 or 16 bits per pixel, as the array's element size says. */
function labelPng(data: Uint8Array | Uint16Array, width: number, height: number): Sharp {
  const img = sharp(data, { raw: { width, height, channels: 1 } });
  return data instanceof Uint16Array ? img.toColourspace('grey16').png() : img.toColourspace('b-w').png();
}

function stemOf(file: string): string {
  const base = file.slice(file.lastIndexOf('/') + 1);
  const dot = base.lastIndexOf('.');
  return dot > 0 ? base.slice(0, dot) : base;
}

/**
 * Semantic and instance mask PNGs, laid out like Pascal VOC segmentation:
 * `SegmentationClass/<stem>.png` holds class index + 1 per pixel (0 background), 16-bit when
 * there are more than 255 classes; `SegmentationObject/<stem>.png` holds the instance number
 * 1..n of the image, 16-bit when the image has more than 255 instances. Shapes arrive in drawing
 * order (z, then id), so a later shape covers an earlier one where they overlap. `labels.txt`
 * lists "index name colour", and `ImageSets/Segmentation/<split>.txt` the stems of each split.
 */
export const masksWriter: FormatWriter = {
  format: 'masks',

  imagePath(name: string): string {
    return `JPEGImages/${name}`;
  },

  async write(outDir: string, classes: ExportClass[], images: AsyncIterable<ExportImage>, ctx: WriteContext) {
    const classDir = path.join(outDir, 'SegmentationClass');
    const objectDir = path.join(outDir, 'SegmentationObject');
    fs.mkdirSync(classDir, { recursive: true });
    fs.mkdirSync(objectDir, { recursive: true });
    const lines = ['0 background #000000', ...classes.map((c) => `${c.index + 1} ${c.name} ${c.color}`)];
    fs.writeFileSync(path.join(outDir, 'labels.txt'), `${lines.join('\n')}\n`);
    let files = 1;
    let emptyLabelFiles = 0;
    const wideClasses = classes.length > 255;
    const bySplit = new Map<Split, string[]>();
    const pending = new Set<Promise<void>>();
    let failure: unknown = null;

    try {
      for await (const im of images) {
        const n = im.width * im.height;
        const cls = wideClasses ? new Uint16Array(n) : new Uint8Array(n);
        const obj = im.annotations.length > 255 ? new Uint16Array(n) : new Uint8Array(n);
        let instance = 0;
        for (const a of im.annotations) {
          const g = a.geometry;
          const mask = g.kind === 'mask' ? g : g.kind === 'box' || g.kind === 'polygon' || g.kind === 'obb' ? toMask(g, im.width, im.height) : null;
          if (!mask) {
            ctx.warn(`unsupported:${g.kind}`, `${g.kind} annotations have no pixels and are left out of the mask PNGs`);
            continue;
          }
          if (mask.rle.size[0] !== im.height || mask.rle.size[1] !== im.width) {
            ctx.warn('mask-size', 'masks of another size than their image were left out');
            continue;
          }
          instance++;
          paintRle(cls, im.width, mask.rle, a.classIndex + 1);
          paintRle(obj, im.width, mask.rle, instance);
        }
        const stem = stemOf(im.file);
        if (instance === 0) emptyLabelFiles += 2;
        files += 2;
        if (im.split) {
          const list = bySplit.get(im.split);
          if (list) list.push(stem);
          else bySplit.set(im.split, [stem]);
        }
        const job: Promise<void> = Promise.all([
          labelPng(cls, im.width, im.height).toFile(path.join(classDir, `${stem}.png`)),
          labelPng(obj, im.width, im.height).toFile(path.join(objectDir, `${stem}.png`)),
        ])
          .then(
            () => {},
            (e: unknown) => {
              failure ??= e;
            },
          )
          .finally(() => pending.delete(job));
        pending.add(job);
        if (pending.size >= IN_FLIGHT) await Promise.race(pending);
        if (failure) throw failure;
      }
    } finally {
      // Never return, even with an error, while PNGs are still being written: the caller removes
      // the folder on failure, and a write landing during that removal would leave it behind.
      await Promise.allSettled(pending);
    }
    if (failure) throw failure;

    if (bySplit.size > 0) {
      const sets = path.join(outDir, 'ImageSets', 'Segmentation');
      fs.mkdirSync(sets, { recursive: true });
      for (const [split, stems] of bySplit) {
        fs.writeFileSync(path.join(sets, `${split}.txt`), `${stems.join('\n')}\n`);
        files++;
      }
    }
    return { files, emptyLabelFiles };
  },
};
