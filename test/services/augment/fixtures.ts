import fs from 'node:fs';
import path from 'node:path';
import { cocoToInterchange } from '../../../src-main/common/formats/coco';
import { readVocDocument } from '../../../src-main/common/formats/voc';
import { parseYoloLabels } from '../../../src-main/common/formats/yolo';
import { geometryBBox, obbCorners } from '../../../src-main/common/geometry/shapes';
import { decodeMask } from '../../../src-main/common/geometry/rle';
import { rasterizePolygon } from '../../../src-main/common/geometry/raster';
import type { Geometry } from '../../../src-main/common/model';
import { parseXml } from '../../../src-main/services/interchange/formats/shared';
import { loadRawImage } from '../../../src-main/services/augment/pipeline';
import type { AugAnnotation, RawImage, Sample } from '../../../src-main/services/augment/types';
import { sharedPath } from '../../helpers/shared';

/** Real annotated images from ../shared/datasets as pipeline samples, and the mask-based checks of the tests. */

export interface Ann extends AugAnnotation {
  label: string;
}

export async function bccdSamples(n: number): Promise<Sample<Ann>[] | null> {
  const dir = sharedPath('datasets/bccd_voc');
  if (!dir) return null;
  const files = fs.readdirSync(path.join(dir, 'Annotations')).filter((f) => f.endsWith('.xml')).sort().slice(0, n);
  const out: Sample<Ann>[] = [];
  for (const f of files) {
    const parsed = parseXml(fs.readFileSync(path.join(dir, 'Annotations', f), 'utf8'), f, new Set(['object']));
    if (!('doc' in parsed)) throw new Error(`${f}: ${parsed.problem.message}`);
    const r = readVocDocument(parsed.doc, f);
    if (!r.file) throw new Error(`${f}: not read`);
    const image = await loadRawImage(path.join(dir, 'JPEGImages', f.replace(/\.xml$/, '.jpg')));
    out.push({ image, annotations: r.file.annotations.map((a) => ({ label: a.label, geometry: a.geometry })) });
  }
  return out;
}

/** COCO images with polygons; `crowd` first gives the images holding a crowd RLE mask first. */
export async function cocoSamples(n: number, crowdFirst = false): Promise<Sample<Ann>[] | null> {
  const dir = sharedPath('datasets/coco_tinycoco');
  if (!dir) return null;
  const doc = JSON.parse(fs.readFileSync(path.join(dir, 'annotations/instances_train2017.json'), 'utf8')) as unknown;
  const ds = cocoToInterchange(doc, { file: 'instances_train2017.json' });
  let images = ds.images.filter((im) => (im.annotations ?? []).length > 0);
  if (crowdFirst) images = [...images.filter((im) => im.annotations!.some((a) => a.crowd)), ...images.filter((im) => !im.annotations!.some((a) => a.crowd))];
  const out: Sample<Ann>[] = [];
  for (const im of images.slice(0, n)) {
    const image = await loadRawImage(path.join(dir, 'images/train2017', im.file));
    out.push({ image, annotations: im.annotations!.map((a) => ({ label: a.label, geometry: a.geometry })) });
  }
  return out;
}

export async function obbSamples(n: number): Promise<Sample<Ann>[] | null> {
  const dir = sharedPath('datasets/agri_crop_weed_obb');
  if (!dir) return null;
  const classes = fs.readFileSync(path.join(dir, 'classes.txt'), 'utf8').split(/\r?\n/).filter(Boolean);
  const files = fs.readdirSync(path.join(dir, 'images')).sort();
  const out: Sample<Ann>[] = [];
  for (const f of files) {
    if (out.length >= n) break;
    const labelFile = path.join(dir, 'labels', f.replace(/\.jpg$/, '.txt'));
    if (!fs.existsSync(labelFile)) continue;
    const image = await loadRawImage(path.join(dir, 'images', f));
    const r = parseYoloLabels(fs.readFileSync(labelFile, 'utf8'), { width: image.width, height: image.height, classes, task: 'obb' });
    if (r.annotations.length === 0) continue;
    out.push({ image, annotations: r.annotations.map((a) => ({ label: a.label, geometry: a.geometry })) });
  }
  return out;
}

/** The project's raster of an annotation as a one-band 0/255 image of the given size. */
export function rasterOf(g: Geometry, width: number, height: number): RawImage {
  let bits: Uint8Array;
  switch (g.kind) {
    case 'box':
      bits = rasterizePolygon([[g.x, g.y, g.x + g.w, g.y, g.x + g.w, g.y + g.h, g.x, g.y + g.h]], width, height);
      break;
    case 'polygon':
      bits = rasterizePolygon(g.parts, width, height);
      break;
    case 'obb':
      bits = rasterizePolygon([obbCorners(g)], width, height);
      break;
    case 'mask':
      bits = decodeMask(g.rle);
      break;
    default:
      throw new Error(`no raster for ${g.kind}`);
  }
  const data = Buffer.alloc(width * height);
  for (let i = 0; i < bits.length; i++) data[i] = bits[i] ? 255 : 0;
  return { data, width, height, channels: 1 };
}

/** Set pixels (at least half grey) of the first band. */
export function bitsOf(img: RawImage): Uint8Array {
  const out = new Uint8Array(img.width * img.height);
  for (let i = 0; i < out.length; i++) out[i] = img.data[i * img.channels]! >= 128 ? 1 : 0;
  return out;
}

export interface Rect {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

/** The pixel-edge box around the set pixels, null when none. */
export function bitsBox(bits: Uint8Array, width: number): Rect | null {
  let x0 = Infinity;
  let y0 = Infinity;
  let x1 = -Infinity;
  let y1 = -Infinity;
  for (let i = 0; i < bits.length; i++) {
    if (!bits[i]) continue;
    const x = i % width;
    const y = (i - x) / width;
    x0 = Math.min(x0, x);
    y0 = Math.min(y0, y);
    x1 = Math.max(x1, x + 1);
    y1 = Math.max(y1, y + 1);
  }
  return x0 === Infinity ? null : { x0, y0, x1, y1 };
}

export function geometryRect(g: Geometry): Rect {
  const r = geometryBBox(g);
  return { x0: r.x, y0: r.y, x1: r.x + r.w, y1: r.y + r.h };
}

export function boxIou(a: Rect, b: Rect): number {
  const iw = Math.max(0, Math.min(a.x1, b.x1) - Math.max(a.x0, b.x0));
  const ih = Math.max(0, Math.min(a.y1, b.y1) - Math.max(a.y0, b.y0));
  const i = iw * ih;
  const u = (a.x1 - a.x0) * (a.y1 - a.y0) + (b.x1 - b.x0) * (b.y1 - b.y0) - i;
  return u > 0 ? i / u : 0;
}

export function maskIou(a: Uint8Array, b: Uint8Array): number {
  let i = 0;
  let u = 0;
  for (let k = 0; k < a.length; k++) {
    if (a[k] && b[k]) i++;
    if (a[k] || b[k]) u++;
  }
  return u > 0 ? i / u : 0;
}
