import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import type { Split } from '../../../common/model';
import type { FormatProblem, InterchangeDataset, InterchangeImage } from '../../../common/formats/types';
import { keyBaseName, safeRelativeKey } from '../../../common/formats/paths';
import { parseVocImageSet, readVocDocument, writeVocXml } from '../../../common/formats/voc';
import type { FormatReader, FormatWriter } from '../types';
import { claimImage, head, isDir, isFile, listFiles, readTextFile, readXmlFile, relKey, rootElementName, sniff } from './shared';

const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp', '.JPG', '.JPEG', '.PNG'];

const VOC_ARRAYS: ReadonlySet<string> = new Set(['object', 'part', 'attribute']);
const SPLIT_FILES: readonly Split[] = ['train', 'val', 'test'];

/** The dataset root image keys are relative to, and the folder of annotation XML when it is the devkit's Annotations/. */
function vocRoot(input: string): { base: string; annotations: string | null } {
  if (isDir(input)) {
    const ann = path.join(input, 'Annotations');
    if (isDir(ann)) return { base: input, annotations: ann };
    // The Annotations folder itself was picked: its images are beside it, in ../JPEGImages.
    if (path.basename(input) === 'Annotations') return { base: path.dirname(input), annotations: input };
    return { base: input, annotations: null };
  }
  const dir = path.dirname(input);
  return { base: path.basename(dir) === 'Annotations' ? path.dirname(dir) : dir, annotations: null };
}

export const vocReader: FormatReader = {
  name: 'voc',

  /**
   * MIT LabelMe XML shares the <annotation> root and the Annotations/ folder, so a file counts
   * as VOC by its <bndbox>, and one with LabelMe's <pt>/<imagesize> rules the folder out; files
   * without objects leave it undecided.
   */
  detect(input) {
    return sniff(async () => {
      const dir = isDir(input);
      if (!dir && !input.toLowerCase().endsWith('.xml')) return 0;
      const ann = path.join(input, 'Annotations');
      const files = dir ? (await listFiles(isDir(ann) ? ann : input, '.xml', isDir(ann))).slice(0, 5) : [input];
      let undecided = false;
      for (const f of files) {
        const text = await head(f, 65536);
        if (rootElementName(text) !== 'annotation') continue;
        if (/<(pt|imagesize)>/.test(text)) return 0;
        if (/<bndbox>/.test(text)) return dir && !isDir(ann) ? 0.6 : 0.95;
        undecided = true;
      }
      return undecided ? 0.5 : 0;
    });
  },

  baseDir(input) {
    return vocRoot(input).base;
  },

  async read(input) {
    const { base, annotations } = vocRoot(input);
    const xmlFiles = isDir(input) ? await listFiles(annotations ?? input, '.xml', annotations !== null) : [input];
    if (!isDir(input)) await fs.promises.access(input, fs.constants.R_OK);
    const problems: FormatProblem[] = [];
    const counters: Record<string, number> = {};
    const classes: string[] = [];
    const seenClass = new Set<string>();
    const images: InterchangeImage[] = [];
    const byKey = new Map<string, string>();
    const byId = new Map<string, InterchangeImage>();

    const splitOf = new Map<string, Split>();
    const setsDir = path.join(base, 'ImageSets', 'Main');
    for (const split of SPLIT_FILES) {
      const list = path.join(setsDir, `${split}.txt`);
      if (!isFile(list)) continue;
      const r = await readTextFile(list, relKey(base, list));
      if ('problem' in r) {
        problems.push(r.problem);
        continue;
      }
      for (const id of parseVocImageSet(r.text)) {
        const had = splitOf.get(id);
        if (had && had !== split) {
          counters['splitConflicts'] = (counters['splitConflicts'] ?? 0) + 1;
          problems.push({ file: relKey(base, list), where: id, severity: 'warning', message: `"${id}" is listed in both ${had}.txt and ${split}.txt; ${split} is kept` });
        }
        splitOf.set(id, split);
      }
    }

    const jpegDir = path.join(base, 'JPEGImages');
    const hasJpegDir = isDir(jpegDir);
    // <folder> is often the dataset's name ("VOC2007") rather than a folder, and BCCD's is
    // "JPEGImages": the first candidate that exists wins; with none on disk, the layout decides.
    const flat = annotations === null;
    const resolveKey = (filename: string, folder: string | null, xmlDir: string): string | null => {
      const inXmlDir = flat && xmlDir ? `${xmlDir}/${filename}` : filename;
      const candidates = [hasJpegDir ? `JPEGImages/${filename}` : null, folder ? `${folder}/${filename}` : null, inXmlDir, filename]
        .map((c) => (c === null ? null : safeRelativeKey(c)))
        .filter((c): c is string => c !== null);
      for (const c of candidates) if (isFile(path.join(base, ...c.split('/')))) return c;
      return safeRelativeKey(hasJpegDir || folder === 'JPEGImages' ? `JPEGImages/${filename}` : inXmlDir);
    };
    const findById = (id: string): string | null => {
      for (const ext of IMAGE_EXTENSIONS) {
        const key = safeRelativeKey(`JPEGImages/${id}${ext}`);
        if (key && isFile(path.join(base, ...key.split('/')))) return key;
      }
      return null;
    };

    for (const abs of xmlFiles) {
      const file = relKey(base, abs);
      const parsed = await readXmlFile(abs, file, VOC_ARRAYS);
      if ('problem' in parsed) {
        problems.push(parsed.problem);
        continue;
      }
      const res = readVocDocument(parsed.doc, file);
      problems.push(...res.problems);
      for (const [k, v] of Object.entries(res.counters)) counters[k] = (counters[k] ?? 0) + v;
      if (!res.file) continue;
      const id = path.basename(abs, path.extname(abs));
      const xmlDir = path.posix.dirname(file) === '.' ? '' : path.posix.dirname(file);
      let key: string | null;
      if (res.file.filename !== null) {
        if (safeRelativeKey(res.file.filename) === null) {
          problems.push({ file, where: 'filename', severity: 'error', message: `<filename> ${JSON.stringify(res.file.filename)} points outside the dataset folder; the image is skipped` });
          continue;
        }
        const folder = res.file.folder !== null && safeRelativeKey(res.file.folder) !== null ? res.file.folder : null;
        key = resolveKey(res.file.filename, folder, xmlDir);
      } else {
        key = findById(id);
        problems.push({ file, where: 'filename', severity: key ? 'warning' : 'error', message: key ? `no <filename>; using ${key}, found by the annotation's name` : 'no <filename>, and no image named after the annotation file; skipped' });
      }
      if (key === null) {
        if (res.file.filename !== null) problems.push({ file, where: 'filename', severity: 'error', message: `<filename> ${JSON.stringify(res.file.filename)} is not a usable path; the image is skipped` });
        continue;
      }
      if (!claimImage(byKey, key, file, 'filename', problems)) continue;
      const img: InterchangeImage = { file: key, tags: [], annotations: res.file.annotations };
      if (res.file.width !== undefined) img.width = res.file.width;
      if (res.file.height !== undefined) img.height = res.file.height;
      const split = splitOf.get(id);
      if (split) img.split = split;
      for (const a of img.annotations) {
        if (!seenClass.has(a.label)) {
          seenClass.add(a.label);
          classes.push(a.label);
        }
      }
      images.push(img);
      byId.set(id, img);
    }

    // Listed in a split but never annotated: an image with no objects, as the devkit treats it.
    // Reading one annotation file reads only that file's image.
    for (const [id, split] of isDir(input) ? splitOf : []) {
      if (byId.has(id)) continue;
      const key = findById(id);
      if (key === null || byKey.has(key)) {
        if (key === null) problems.push({ file: `ImageSets/Main/${split}.txt`, where: id, severity: 'warning', message: `"${id}" has neither an annotation file nor an image in JPEGImages; ignored` });
        continue;
      }
      byKey.set(key, `ImageSets/Main/${split}.txt`);
      images.push({ file: key, split, tags: [], annotations: [] });
    }

    const out: InterchangeDataset = { format: 'voc', classes, images, problems, counters };
    return out;
  },
};

async function imageDepth(source: string): Promise<number> {
  try {
    const m = await sharp(source).metadata();
    return m.channels ?? 3;
  } catch {
    // The writer may run without the source (link or no-copy exports of moved files).
    return 3;
  }
}

export const vocWriter: FormatWriter = {
  format: 'voc',

  imagePath(name) {
    return `JPEGImages/${name}`;
  },

  async write(outDir, _classes, images, ctx) {
    const annDir = path.join(outDir, 'Annotations');
    await fs.promises.mkdir(annDir, { recursive: true });
    const usedIds = new Set<string>();
    const lists: Record<Split, string[]> = { train: [], val: [], test: [] };
    let files = 0;
    let emptyLabelFiles = 0;
    for await (const img of images) {
      const name = keyBaseName(img.file);
      let id = name.includes('.') ? name.slice(0, name.lastIndexOf('.')) : name;
      if (usedIds.has(id)) {
        ctx.warn('voc:renamed', 'two images share a file stem; the later annotation file gets the image id appended');
        id = `${id}_${img.id}`;
      }
      usedIds.add(id);
      const inJpeg = img.file.startsWith('JPEGImages/');
      const xml = writeVocXml(
        { filename: inJpeg ? img.file.slice('JPEGImages/'.length) : img.file, folder: inJpeg ? 'JPEGImages' : null, width: img.width, height: img.height, depth: await imageDepth(img.source) },
        img.annotations,
        (kind, message) => ctx.warn(kind, message),
      );
      await fs.promises.writeFile(path.join(annDir, `${id}.xml`), xml);
      files++;
      if (img.annotations.length === 0) emptyLabelFiles++;
      if (img.split) lists[img.split].push(id);
    }
    if (SPLIT_FILES.some((s) => lists[s].length > 0)) {
      const setsDir = path.join(outDir, 'ImageSets', 'Main');
      await fs.promises.mkdir(setsDir, { recursive: true });
      for (const s of SPLIT_FILES) if (lists[s].length) await fs.promises.writeFile(path.join(setsDir, `${s}.txt`), lists[s].join('\n') + '\n');
    }
    return { files, emptyLabelFiles };
  },
};
