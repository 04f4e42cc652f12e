import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import type { FormatProblem, InterchangeDataset, InterchangeImage } from '../../../common/formats/types';
import { keyBaseName, safeRelativeKey } from '../../../common/formats/paths';
import {
  labelmeMaskCrop,
  labelmeMaskPayloads,
  labelmeMaskTooLarge,
  readLabelmeDocument,
  writeLabelmeDocument,
  type LabelmeBitmap,
  type LabelmeMaskPayload,
} from '../../../common/formats/labelme';
import { headerSize } from '../../probe';
import type { FormatReader, FormatWriter } from '../types';
import { claimImage, folderOrParent, isDir, isFile, listFiles, openInput, readTextFile, relKey, sniff } from './shared';

/** A labelme file embeds the image, so it may be large; beyond this it is refused. */
const MAX_JSON_BYTES = 512 * 1024 * 1024;
/**
 * Mask PNGs one file may decode, in pixels all together: each is bounded by the image, but
 * many image-sized masks add up (eight 16383 x 16383 masks took 15 s and 2.2 GB).
 */
export const MAX_MASK_PIXELS_PER_FILE = 2 ** 28;

function looksLikeLabelme(doc: unknown): boolean {
  const r = doc as Record<string, unknown> | null;
  return !!r && typeof r === 'object' && Array.isArray(r['shapes']) && 'imagePath' in r;
}

async function parseJson(abs: string, file: string): Promise<{ doc: unknown } | { problem: FormatProblem }> {
  const r = await readTextFile(abs, file, MAX_JSON_BYTES);
  if ('problem' in r) return r;
  try {
    return { doc: JSON.parse(r.text) as unknown };
  } catch (e) {
    return { problem: { file, severity: 'error', message: `malformed JSON: ${(e as Error).message}` } };
  }
}

/**
 * Pixels of a mask shape's base64 PNG, first channel, nonzero = set; or why not. The size its
 * header declares is checked against the shape and the image before anything is decoded.
 */
async function decodePng(payload: LabelmeMaskPayload, budget: { left: number }): Promise<LabelmeBitmap | string> {
  try {
    const buf = Buffer.from(payload.base64, 'base64');
    if (buf.length === 0) return 'the "mask" PNG is empty';
    const declared = headerSize(buf) ?? (await sharp(buf).metadata());
    if (!declared.width || !declared.height) return 'the "mask" PNG states no size';
    const refused = labelmeMaskTooLarge(payload, { width: declared.width, height: declared.height });
    if (refused) return refused;
    const pixels = declared.width * declared.height;
    if (pixels > budget.left) {
      return `the file's mask PNGs add up to more than ${MAX_MASK_PIXELS_PER_FILE.toLocaleString('en')} pixels; this ${declared.width}x${declared.height} one is not decoded`;
    }
    budget.left -= pixels;
    const { data, info } = await sharp(buf, { limitInputPixels: declared.width * declared.height })
      .extractChannel(0)
      .raw()
      .toBuffer({ resolveWithObject: true });
    // One byte a pixel, in place; two for a 16-bit PNG.
    const n = info.width * info.height;
    const step = Math.max(1, Math.round(data.length / n));
    const out = step === 1 ? data : new Uint8Array(n);
    for (let i = 0, j = 0; i < n; i++, j += step) {
      let v = 0;
      for (let k = 0; k < step; k++) v |= data[j + k]!;
      out[i] = v ? 1 : 0;
    }
    return { width: info.width, height: info.height, data: out };
  } catch (e) {
    return `the "mask" PNG cannot be decoded (${(e as Error).message})`;
  }
}

/**
 * The real size of the image a labelme file annotates, as displayed (EXIF orientation applied):
 * from the image file's header, or from the embedded imageData when the file is missing; null
 * when neither can be read.
 */
async function realImageSize(doc: unknown, file: string, base: string): Promise<{ width: number; height: number; from: string } | null> {
  const root = doc as Record<string, unknown>;
  const imagePath = root['imagePath'];
  let source: string | Buffer | null = null;
  let from = 'the embedded image (imageData)';
  if (typeof imagePath === 'string' && imagePath !== '') {
    const jsonDir = path.posix.dirname(file);
    const key = safeRelativeKey(jsonDir === '.' ? imagePath : `${jsonDir}/${imagePath}`);
    const abs = key === null ? null : path.join(base, ...key.split('/'));
    if (abs !== null && isFile(abs)) {
      source = abs;
      from = `the image file ${key}`;
    }
  }
  if (source === null && typeof root['imageData'] === 'string' && root['imageData'] !== '') source = Buffer.from(root['imageData'], 'base64');
  if (source === null) return null;
  try {
    // Only the header is read; no pixels are decoded.
    const m = await sharp(source).metadata();
    if (!m.width || !m.height) return null;
    return (m.orientation ?? 1) >= 5 ? { width: m.height, height: m.width, from } : { width: m.width, height: m.height, from };
  } catch {
    return null;
  }
}

/**
 * The image embedded in a labelme file (`imageData`, base64 of the original file's bytes), for
 * an importer that finds the image file itself missing; null when the file embeds none.
 */
export async function labelmeEmbeddedImage(jsonFile: string): Promise<Buffer | null> {
  const r = await parseJson(jsonFile, jsonFile);
  if ('problem' in r) return null;
  const data = (r.doc as Record<string, unknown> | null)?.['imageData'];
  if (typeof data !== 'string' || data === '') return null;
  const buf = Buffer.from(data, 'base64');
  return buf.length ? buf : null;
}

export const labelmeReader: FormatReader = {
  name: 'labelme',

  detect(input) {
    return sniff(async () => {
      const files = isDir(input) ? (await listFiles(input, '.json')).slice(0, 3) : input.toLowerCase().endsWith('.json') ? [input] : [];
      for (const f of files) {
        const r = await parseJson(f, f);
        if ('doc' in r && looksLikeLabelme(r.doc)) return 0.9;
      }
      return 0;
    });
  },

  baseDir: folderOrParent,

  embeddedImage(input, embeddedIn) {
    const key = safeRelativeKey(embeddedIn);
    return key === null ? Promise.resolve(null) : labelmeEmbeddedImage(path.join(folderOrParent(input), ...key.split('/')));
  },

  async read(input) {
    const { dir, base } = await openInput(input);
    const jsonFiles = dir ? await listFiles(input, '.json') : [input];
    const problems: FormatProblem[] = [];
    const counters: Record<string, number> = {};
    const classes: string[] = [];
    const seen = new Set<string>();
    const images: InterchangeImage[] = [];
    const byKey = new Map<string, string>();

    const readOne = async (abs: string, file: string): Promise<void> => {
      const parsed = await parseJson(abs, file);
      if ('problem' in parsed) {
        problems.push(parsed.problem);
        return;
      }
      // Other JSON in the folder (a COCO file, settings) is not an error in a labelme folder.
      if (dir && !looksLikeLabelme(parsed.doc)) {
        counters['otherJsonFiles'] = (counters['otherJsonFiles'] ?? 0) + 1;
        return;
      }
      const masks = new Map<number, LabelmeBitmap | string>();
      const payloads = labelmeMaskPayloads(parsed.doc);
      // The file's own imageWidth/imageHeight bound the masks only once the image agrees with
      // them: a file may state any size, and masks of that size decode to that many bytes.
      const real = payloads.length ? await realImageSize(parsed.doc, file, base) : null;
      const budget = { left: MAX_MASK_PIXELS_PER_FILE };
      for (const m of payloads) {
        if (real && m.image && (m.image.width !== real.width || m.image.height !== real.height)) {
          masks.set(m.index, `the file states a ${m.image.width}x${m.image.height} image (imageWidth x imageHeight) but ${real.from} is ${real.width}x${real.height}; the PNG is not decoded`);
        } else masks.set(m.index, await decodePng(m, budget));
      }
      const res = readLabelmeDocument(parsed.doc, file, masks);
      for (const p of res.problems) problems.push(p);
      for (const [k, v] of Object.entries(res.counters)) counters[k] = (counters[k] ?? 0) + v;
      if (res.problems.some((p) => p.severity === 'error' && p.where === undefined)) return;
      if (res.imagePath === null) {
        problems.push({ file, where: 'imagePath', severity: 'error', message: 'no imagePath; the annotations cannot be tied to an image and are skipped' });
        return;
      }
      const jsonDir = path.posix.dirname(file);
      const key = safeRelativeKey(jsonDir === '.' ? res.imagePath : `${jsonDir}/${res.imagePath}`);
      if (key === null) {
        problems.push({ file, where: 'imagePath', severity: 'error', message: `imagePath ${JSON.stringify(res.imagePath)} points outside the dataset folder; the image is skipped` });
        return;
      }
      if (!claimImage(byKey, key, file, 'imagePath', problems)) return;
      if (!isFile(path.join(base, ...key.split('/')))) {
        if (res.hasImageData) {
          counters['embeddedImages'] = (counters['embeddedImages'] ?? 0) + 1;
          problems.push({ file, where: 'imageData', severity: 'warning', message: `the image file ${key} is missing; the image embedded in this file (imageData) is used instead` });
        }
      }
      const img: InterchangeImage = { file: key, tags: res.tags, annotations: res.annotations };
      if (res.hasImageData && !isFile(path.join(base, ...key.split('/')))) img.embeddedIn = file;
      if (res.width !== undefined && res.height !== undefined) {
        img.width = res.width;
        img.height = res.height;
      }
      for (const a of img.annotations) {
        if (!seen.has(a.label)) {
          seen.add(a.label);
          classes.push(a.label);
        }
      }
      images.push(img);
    };

    for (const abs of jsonFiles) {
      const file = relKey(base, abs);
      try {
        await readOne(abs, file);
      } catch (e) {
        // Whatever one damaged file provokes, it is reported and the others are read.
        problems.push({ file, severity: 'error', message: `cannot be read: ${(e as Error).message ?? String(e)}; the file is skipped` });
      }
    }
    const out: InterchangeDataset = { format: 'labelme', classes, images, problems, counters };
    return out;
  },
};

async function encodePng(bitmap: LabelmeBitmap): Promise<string> {
  const px = Buffer.alloc(bitmap.width * bitmap.height);
  for (let i = 0; i < px.length; i++) px[i] = bitmap.data[i] ? 255 : 0;
  const png = await sharp(px, { raw: { width: bitmap.width, height: bitmap.height, channels: 1 } }).png().toBuffer();
  return png.toString('base64');
}

export const labelmeWriter: FormatWriter = {
  format: 'labelme',

  imagePath(name) {
    return name;
  },

  async write(outDir, _classes, images, ctx) {
    let files = 0;
    let emptyLabelFiles = 0;
    const used = new Set<string>();
    for await (const img of images) {
      const name = keyBaseName(img.file);
      const dirKey = img.file.slice(0, img.file.length - name.length);
      const stem = name.includes('.') ? name.slice(0, name.lastIndexOf('.')) : name;
      let jsonKey = `${dirKey}${stem}.json`;
      if (used.has(jsonKey)) {
        ctx.warn('labelme:renamed', 'two images share a file stem; the later annotation file is named after the whole image name');
        jsonKey = `${dirKey}${name}.json`;
      }
      used.add(jsonKey);
      const pngs = new Map<number, { x: number; y: number; width: number; height: number; base64: string }>();
      for (const [i, a] of img.annotations.entries()) {
        if (a.geometry.kind !== 'mask') continue;
        const crop = labelmeMaskCrop(a.geometry.rle);
        if (crop) pngs.set(i, { x: crop.x, y: crop.y, width: crop.bitmap.width, height: crop.bitmap.height, base64: await encodePng(crop.bitmap) });
      }
      const doc = writeLabelmeDocument({ imagePath: name, width: img.width, height: img.height, tags: img.tags }, img.annotations, (i) => pngs.get(i) ?? null, (k, m) => ctx.warn(k, m));
      const abs = path.join(outDir, ...jsonKey.split('/'));
      await fs.promises.mkdir(path.dirname(abs), { recursive: true });
      await fs.promises.writeFile(abs, JSON.stringify(doc, null, 2) + '\n');
      files++;
      if (doc.shapes.length === 0) emptyLabelFiles++;
    }
    return { files, emptyLabelFiles };
  },
};
