import fs from 'node:fs';
import path from 'node:path';
import { finished } from 'node:stream/promises';
import type { Split } from '../../../common/model';
import type { FormatProblem, InterchangeDataset, InterchangeImage } from '../../../common/formats/types';
import { safeRelativeKey } from '../../../common/formats/paths';
import { CVAT_ARRAYS, CVAT_DOCUMENT_END, cvatSubsetToSplit, readCvatImage, readCvatMeta, writeCvatImage, writeCvatMeta, type CvatAttributeKinds } from '../../../common/formats/cvat';
import { asArray, asRecord } from '../../../common/formats/voc';
import type { FormatReader, FormatWriter } from '../types';
import { folderOrParent, head, isDir, isFile, listFiles, openInput, readXmlFile, relKey, rootElementName, sniff, xmlOrder } from './shared';

/** The CVAT XML files of a folder: annotations.xml, or else every top-level XML whose root is <annotations> (Datumaro's <subset>.xml). */
async function cvatFiles(dir: string): Promise<string[]> {
  const main = path.join(dir, 'annotations.xml');
  if (isFile(main)) return [main];
  const out: string[] = [];
  for (const f of await listFiles(dir, '.xml', false)) if (rootElementName(await head(f)) === 'annotations') out.push(f);
  return out;
}

export const cvatReader: FormatReader = {
  name: 'cvat',

  detect(input) {
    return sniff(async () => {
      const files = isDir(input) ? await cvatFiles(input) : input.toLowerCase().endsWith('.xml') ? [input] : [];
      for (const f of files.slice(0, 1)) {
        const text = await head(f);
        if (rootElementName(text) === 'annotations') return /<version>\s*1\.1\s*<\/version>/.test(text) ? 0.95 : 0.7;
      }
      return 0;
    });
  },

  baseDir: folderOrParent,

  async read(input) {
    const { dir, base } = await openInput(input);
    const files = dir ? await cvatFiles(input) : [input];
    const problems: FormatProblem[] = [];
    const counters: Record<string, number> = {};
    const classes: string[] = [];
    const seenClass = new Set<string>();
    const addClass = (c: string): void => {
      if (seenClass.has(c)) return;
      seenClass.add(c);
      classes.push(c);
    };
    const images: InterchangeImage[] = [];
    const byKey = new Map<string, string>();
    if (files.length === 0) problems.push({ file: '.', severity: 'error', message: 'no annotations.xml (or other CVAT XML) in this folder' });

    for (const abs of files) {
      const file = relKey(base, abs);
      const parsed = await readXmlFile(abs, file, CVAT_ARRAYS, true);
      if ('problem' in parsed) {
        problems.push(parsed.problem);
        continue;
      }
      const root = asRecord(asRecord(parsed.doc)?.['annotations']);
      if (!root) {
        problems.push({ file, severity: 'error', message: 'not a CVAT XML file: there is no <annotations> root element' });
        continue;
      }
      const meta = readCvatMeta(root);
      for (const l of meta.labels) addClass(l);
      const tracks = asArray(root['track']).length;
      if (tracks) {
        counters['unsupportedTracks'] = (counters['unsupportedTracks'] ?? 0) + tracks;
        problems.push({ file, where: 'track', severity: 'warning', message: `${tracks} <track> element${tracks > 1 ? 's' : ''} (CVAT for video) skipped: only CVAT for images is read` });
      }
      // Datumaro writes one <subset>.xml per subset; its name is the subset of images that name none.
      const fileStem = path.basename(abs, path.extname(abs));
      const fileSplit = fileStem === 'annotations' ? undefined : cvatSubsetToSplit(fileStem);

      asArray(root['image']).forEach((node, i) => {
        const res = readCvatImage(node, file, meta, i, xmlOrder);
        problems.push(...res.problems);
        for (const [k, v] of Object.entries(res.counters)) counters[k] = (counters[k] ?? 0) + v;
        if (res.name === null) return;
        const nameKey = safeRelativeKey(res.name);
        if (nameKey === null) {
          problems.push({ file, where: `image[name=${res.name}]`, severity: 'error', message: `image name ${JSON.stringify(res.name)} points outside the dataset folder; the image is skipped` });
          return;
        }
        const subsetKey = res.subset !== undefined ? safeRelativeKey(`images/${res.subset}/${nameKey}`) : null;
        const candidates = [subsetKey, `images/${nameKey}`, nameKey].filter((c): c is string => c !== null);
        let key = candidates.find((c) => isFile(path.join(base, ...c.split('/'))));
        if (!key) key = subsetKey !== null && isDir(path.join(base, 'images', res.subset!)) ? subsetKey : `images/${nameKey}`;
        const dup = byKey.get(key);
        if (dup) {
          problems.push({ file, where: `image[name=${res.name}]`, severity: 'error', message: `${key} is described twice (also in ${dup}); the later one is skipped` });
          return;
        }
        byKey.set(key, file);
        const img: InterchangeImage = { file: key, tags: res.tags, annotations: res.annotations };
        if (res.width !== undefined && res.height !== undefined) {
          img.width = res.width;
          img.height = res.height;
        }
        const split: Split | undefined = res.subset !== undefined ? cvatSubsetToSplit(res.subset) : fileSplit;
        if (split) img.split = split;
        else if (res.subset !== undefined) counters['unknownSubsets'] = (counters['unknownSubsets'] ?? 0) + 1;
        for (const t of img.tags) addClass(t);
        for (const a of img.annotations) addClass(a.label);
        images.push(img);
      });
    }
    const out: InterchangeDataset = { format: 'cvat', classes, images, problems, counters };
    return out;
  },
};

async function writeChunk(stream: fs.WriteStream, text: string): Promise<void> {
  if (!stream.write(text)) await new Promise<void>((resolve) => stream.once('drain', () => resolve()));
}

export const cvatWriter: FormatWriter = {
  format: 'cvat',

  imagePath(name) {
    return `images/${name}`;
  },

  /**
   * <meta> must come first but declares what the images turn out to hold (their attributes and
   * tags), so the images are streamed to a side file and joined after it.
   */
  async write(outDir, classes, images, ctx) {
    await fs.promises.mkdir(outDir, { recursive: true });
    const target = path.join(outDir, 'annotations.xml');
    const partPath = `${target}.part`;
    const part = fs.createWriteStream(partPath);
    const seen: CvatAttributeKinds = new Map();
    const tagLabels = new Set<string>();
    let count = 0;
    try {
      for await (const img of images) {
        const name = img.file.startsWith('images/') ? img.file.slice('images/'.length) : img.file;
        for (const t of img.tags) tagLabels.add(t);
        await writeChunk(part, writeCvatImage({ id: count, name, width: img.width, height: img.height, split: img.split, tags: img.tags }, img.annotations, (k, m) => ctx.warn(k, m), seen));
        count++;
      }
      part.end();
      await finished(part);
      const labels: { name: string; color?: string }[] = [...classes].sort((a, b) => a.index - b.index).map((c) => ({ name: c.name, color: c.color }));
      const known = new Set(labels.map((l) => l.name));
      for (const name of [...seen.keys(), ...tagLabels]) {
        if (!known.has(name)) {
          known.add(name);
          labels.push({ name });
        }
      }
      const out = fs.createWriteStream(target);
      await writeChunk(out, writeCvatMeta(labels, seen, count));
      const body = fs.createReadStream(partPath);
      for await (const chunk of body) await writeChunk(out, chunk as string);
      out.end(CVAT_DOCUMENT_END);
      await finished(out);
    } finally {
      part.destroy();
      await fs.promises.rm(partPath, { force: true });
    }
    return { files: 1, emptyLabelFiles: 0 };
  },
};
