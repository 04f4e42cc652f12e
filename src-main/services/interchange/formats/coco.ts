import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { once } from 'node:events';
import {
  COCO_BETWEEN,
  cocoAnnotationJson,
  cocoCategoryId,
  cocoFooter,
  cocoHeader,
  cocoImageEntry,
  ChunkedJsonReader,
  cocoToInterchange,
  JsonSyntaxError,
  type CocoSegmentationMode,
} from '../../../common/formats/coco';
import type { FormatProblem, InterchangeDataset } from '../../../common/formats/types';
import type { KeypointSchema, Split } from '../../../common/model';
import type { FormatReader, FormatWriter, WriteContext } from '../types';
import { head } from './shared';

/*
 * Layouts read (the common ones in the wild):
 *   <root>/annotations/instances_<subset>.json with images in <root>/images/<subset>/, in
 *     <root>/images/, in <root>/<subset>/ (mmdetection) or in <root>/ itself;
 *   a json beside its images (Roboflow's <split>/_annotations.coco.json, hand-made files);
 *   COCO results lists (detections with scores) in a folder beside their instances file: they
 *     are read as scored annotations of that file's images (see resultsIn). A results list
 *     alone names no image files, so it is refused with that reason.
 * Image keys are relative to the layout root: <root> for a file inside annotations/, else the
 * json's own folder; for a folder input, the folder. Each file's `file_name` values are relative
 * to its image folder: of the candidates above, the one where most of a sample of the listed
 * files are; when the images are not there at all, the first existing candidate other than
 * <root>, else images/<subset>. `file_name` may not leave that image folder.
 *
 * Layout written: annotations/instances_<split>.json per split present (instances_default.json
 * for images without a split), images under images/<split>/ (images/ without a split); this is
 * the first candidate the reader tries, so an export reads back as it was written.
 */

const SNIFF_BYTES = 64 * 1024;
/** COCO has a json per split; a folder holding more is a per-image format. */
const MAX_SNIFFED = 16;
/** Files listed in the json whose existence is checked to settle where its images are. */
const PROBE_IMAGES = 20;

function toPosix(p: string): string {
  return p.split(path.sep).join('/');
}

function splitOf(name: string): Split | undefined {
  const s = name.toLowerCase();
  if (s.startsWith('train')) return 'train';
  if (s.startsWith('val')) return 'val';
  if (s.startsWith('test')) return 'test';
  return undefined;
}

/** "instances_val2017" (or "person_keypoints_val2017") -> "val2017"; "_annotations.coco" (Roboflow) -> its folder's name. */
function subsetOf(jsonFile: string): string | undefined {
  // person_keypoints_<subset>: the task's own name holds an underscore.
  const stem = path.basename(jsonFile).replace(/\.json$/i, '').replace(/^person_(?=keypoints_)/i, '');
  const i = stem.indexOf('_');
  // "default" is what Datumaro and Tessera's writer call the images of no split.
  if (i > 0 && i < stem.length - 1) return stem.slice(i + 1) === 'default' ? undefined : stem.slice(i + 1);
  const dir = path.basename(path.dirname(jsonFile));
  return dir === 'annotations' ? undefined : dir;
}

function isDir(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** The folder keys are relative to for one json file (see the layout note above). */
function rootOf(jsonFile: string): string {
  const dir = path.dirname(jsonFile);
  return path.basename(dir) === 'annotations' ? path.dirname(dir) : dir;
}

/** Folders the json's `file_name` values may be relative to, most likely first. */
function imageFolderCandidates(jsonFile: string): string[] {
  const dir = path.dirname(jsonFile);
  if (path.basename(dir) !== 'annotations') return [dir];
  const root = path.dirname(dir);
  const subset = subsetOf(jsonFile);
  const out = subset ? [path.join(root, 'images', subset), path.join(root, 'images'), path.join(root, subset), root] : [path.join(root, 'images'), root];
  return out;
}

/**
 * How much the start of a json file looks like COCO instances. The three top-level keys may be
 * far apart (a large `images` array first), so `images` alone is enough for a middling score; the
 * other COCO tasks (captions, keypoints, panoptic) share the keys and are scored low.
 */
function sniffScore(head: string, name: string): number {
  const t = head.replace(/^\uFEFF/, '').trimStart();
  if (!t.startsWith('{')) return 0;
  const has = (k: string) => new RegExp(`"${k}"\\s*:`).test(t);
  const keys = ['images', 'annotations', 'categories'].filter(has).length;
  // Other JSON formats have `annotations` too (Segment Anything, VGG); COCO always has `images`.
  if (!has('images') && keys < 2) return 0;
  if (has('segments_info') || has('caption') || /^(captions|panoptic|image_info|stuff|labels)_/i.test(name)) return 0.2;
  let s = 0.5 + 0.1 * keys;
  // Person keypoints files are instances with keypoints (read as keypoints objects and their outlines).
  if (has('segmentation') || has('bbox') || has('keypoints') || /^(instances|person_keypoints)_/i.test(name)) s += 0.15;
  return Math.min(s, 0.95);
}

async function isCocoJson(file: string): Promise<number> {
  try {
    return sniffScore(await head(file, SNIFF_BYTES), path.basename(file));
  } catch {
    return 0;
  }
}

/**
 * The instance files of a folder: annotations/instances_*.json when there are any; otherwise
 * json files in annotations/, in the folder itself and Roboflow's <split>/_annotations.coco.json
 * that look like COCO instances. A folder of more than MAX_SNIFFED json files holds one file per
 * image (labelme and the like), not COCO, and is not sniffed file by file.
 */
async function cocoFilesIn(folder: string): Promise<string[]> {
  const list = async (dir: string) => {
    try {
      return (await fsp.readdir(dir, { withFileTypes: true })).filter((e) => e.isFile() && /\.json$/i.test(e.name)).map((e) => path.join(dir, e.name));
    } catch {
      return [];
    }
  };
  const annDir = path.join(folder, 'annotations');
  const inAnn = await list(annDir);
  const instances = inAnn.filter((f) => /^instances_/i.test(path.basename(f)));
  if (instances.length > 0) return instances.sort();
  const few = (files: string[]) => (files.length > MAX_SNIFFED ? [] : files);
  const candidates = [...few(inAnn), ...few(await list(folder))];
  try {
    for (const e of await fsp.readdir(folder, { withFileTypes: true })) {
      if (e.isDirectory() && e.name !== 'annotations') {
        const f = path.join(folder, e.name, '_annotations.coco.json');
        if (fs.existsSync(f)) candidates.push(f);
      }
    }
  } catch {
    // An unreadable folder simply has no candidates; read() reports that.
  }
  const out: string[] = [];
  for (const f of candidates) if ((await isCocoJson(f)) >= 0.5) out.push(f);
  return out.sort();
}

/**
 * Picks the image folder whose contents match the json best: the candidate holding most of a
 * sample of the listed files (the earlier on a tie). When none holds any (images not copied
 * along), the first existing folder of the standard layout, else the standard layout's folder.
 */
function chooseImageFolder(jsonFile: string, doc: unknown): string {
  const candidates = imageFolderCandidates(jsonFile);
  const images = typeof doc === 'object' && doc !== null && Array.isArray((doc as { images?: unknown }).images) ? (doc as { images: unknown[] }).images : [];
  const names: string[] = [];
  for (const im of images) {
    const n = (im as { file_name?: unknown } | null)?.file_name;
    if (typeof n === 'string' && !path.isAbsolute(n) && !n.includes('..')) names.push(n);
    if (names.length >= PROBE_IMAGES) break;
  }
  let best: string | null = null;
  let bestHits = 0;
  for (const c of candidates) {
    if (names.length === 0 || !isDir(c)) continue;
    const hits = names.filter((n) => fs.existsSync(path.join(c, n))).length;
    if (hits > bestHits) {
      best = c;
      bestHits = hits;
    }
  }
  if (best) return best;
  const layout = candidates.length > 1 ? candidates.slice(0, -1) : candidates;
  return layout.find(isDir) ?? candidates[0]!;
}

/**
 * A parsed json, or the problem that stops it being read. Streamed through ChunkedJsonReader, so
 * the file's text is never held whole. Throws only when the file cannot be read.
 */
async function parseJson(file: string): Promise<{ doc: unknown } | { problem: string }> {
  const reader = new ChunkedJsonReader();
  try {
    for await (const chunk of fs.createReadStream(file, { highWaterMark: 1 << 20 })) reader.push(chunk as Buffer);
    return { doc: reader.end() };
  } catch (e) {
    if (e instanceof JsonSyntaxError) return { problem: e.message };
    throw e;
  }
}

interface JsonFile {
  file: string;
  /** As problems name it: relative to the folder read. */
  label: string;
}

/** Reads and converts one instances json with the results files that belong to it. */
async function readOne(gt: JsonFile, base: string, results: JsonFile[] = []): Promise<InterchangeDataset> {
  const parsed = await parseJson(gt.file);
  if ('problem' in parsed) return { format: 'coco', classes: [], images: [], counters: {}, problems: [{ file: gt.label, severity: 'error', message: parsed.problem }] };
  const resultDocs: { doc: unknown; file: string }[] = [];
  const resultProblems: FormatProblem[] = [];
  for (const r of results) {
    try {
      const p = await parseJson(r.file);
      if ('problem' in p) resultProblems.push({ file: r.label, severity: 'error', message: p.problem });
      else resultDocs.push({ doc: p.doc, file: r.label });
    } catch (e) {
      resultProblems.push({ file: r.label, severity: 'error', message: `cannot be read: ${(e as Error).message}` });
    }
  }
  const imageFolder = chooseImageFolder(gt.file, parsed.doc);
  const prefix = toPosix(path.relative(base, imageFolder));
  const subset = subsetOf(gt.file);
  const split = subset ? splitOf(subset) : undefined;
  const ds = cocoToInterchange(parsed.doc, {
    file: gt.label,
    ...(split ? { split } : {}),
    ...(prefix && !prefix.startsWith('..') ? { keyPrefix: prefix } : {}),
    results: resultDocs,
  });
  for (const p of resultProblems) ds.problems.push(p);
  return ds;
}

/**
 * COCO results files in a folder (json arrays, in the folder or annotations/), each paired with
 * the instances file it belongs to: the only one, or the one whose subset its name contains.
 */
async function resultsIn(folder: string, instances: string[]): Promise<{ paired: Map<string, string[]>; unpaired: string[] }> {
  const paired = new Map<string, string[]>();
  const unpaired: string[] = [];
  for (const dir of [folder, path.join(folder, 'annotations')]) {
    let names: string[];
    try {
      names = (await fsp.readdir(dir, { withFileTypes: true })).filter((e) => e.isFile() && /\.json$/i.test(e.name)).map((e) => e.name);
    } catch {
      continue;
    }
    for (const name of names.sort()) {
      const f = path.join(dir, name);
      if (instances.includes(f)) continue;
      let start: string;
      try {
        start = await head(f, 256);
      } catch {
        continue;
      }
      if (!start.replace(/^\uFEFF/, '').trimStart().startsWith('[')) continue;
      const owners = instances.length === 1 ? instances : instances.filter((gt) => {
        const sub = subsetOf(gt);
        return sub !== undefined && name.toLowerCase().includes(sub.toLowerCase());
      });
      if (owners.length === 1) paired.set(owners[0]!, [...(paired.get(owners[0]!) ?? []), f]);
      else unpaired.push(f);
    }
  }
  return { paired, unpaired };
}

/** Several files (splits) as one dataset: classes in first-seen order, an image key listed twice is reported and kept once. */
function merge(parts: { label: string; data: InterchangeDataset }[]): InterchangeDataset {
  const out: InterchangeDataset = { format: 'coco', classes: [], images: [], problems: [], counters: {} };
  const classes = new Set<string>();
  const keys = new Set<string>();
  const cocoCategoryIds: Record<string, number> = {};
  const classKeypoints: Record<string, KeypointSchema> = {};
  for (const { label, data } of parts) {
    for (const c of data.classes) classes.add(c);
    // The first file to give a class keypoints decides them; the import checks each object against them.
    for (const [name, k] of Object.entries(data.classKeypoints ?? {})) if (!Object.hasOwn(classKeypoints, name)) classKeypoints[name] = k;
    for (const [name, id] of Object.entries(data.cocoCategoryIds ?? {})) if (!(name in cocoCategoryIds)) cocoCategoryIds[name] = id;
    // A loop, not push(...): a broken file can have more problems than a call has arguments.
    for (const p of data.problems) out.problems.push(p);
    for (const [k, v] of Object.entries(data.counters)) out.counters[k] = (out.counters[k] ?? 0) + v;
    for (const im of data.images) {
      if (keys.has(im.file)) {
        const problem: FormatProblem = { file: label, severity: 'error', message: `image ${im.file} is also listed in an earlier file; this listing and its ${im.annotations.length} annotations are skipped` };
        out.problems.push(problem);
        continue;
      }
      keys.add(im.file);
      out.images.push(im);
    }
  }
  out.classes = [...classes];
  out.cocoCategoryIds = cocoCategoryIds;
  if (Object.keys(classKeypoints).length > 0) out.classKeypoints = classKeypoints;
  return out;
}

export const cocoReader: FormatReader = {
  name: 'coco',

  async detect(input: string): Promise<number> {
    let stat: fs.Stats;
    try {
      stat = await fsp.stat(input);
    } catch {
      return 0;
    }
    if (stat.isFile()) return /\.json$/i.test(input) ? isCocoJson(input) : 0;
    if (!stat.isDirectory()) return 0;
    let best = 0;
    for (const f of await cocoFilesIn(input)) best = Math.max(best, await isCocoJson(f));
    return best;
  },

  baseDir(input: string): string {
    // A chosen annotations/ folder stands for its dataset: the images are beside it, not in it.
    if (isDir(input)) return path.basename(input) === 'annotations' ? path.dirname(input) : input;
    return rootOf(input);
  },

  async read(input: string): Promise<InterchangeDataset> {
    const stat = await fsp.stat(input);
    if (stat.isFile()) {
      const base = rootOf(input);
      return readOne({ file: input, label: toPosix(path.relative(base, input)) }, base);
    }
    const files = await cocoFilesIn(input);
    if (files.length === 0) {
      return { format: 'coco', classes: [], images: [], counters: {}, problems: [{ file: '.', severity: 'error', message: 'holds no COCO instances json (annotations/instances_*.json or a json with images, annotations and categories)' }] };
    }
    const { paired, unpaired } = await resultsIn(input, files);
    const base = cocoReader.baseDir(input);
    const label = (f: string) => toPosix(path.relative(base, f));
    const parts: { label: string; data: InterchangeDataset }[] = [];
    for (const f of files) {
      try {
        const results = (paired.get(f) ?? []).map((r) => ({ file: r, label: label(r) }));
        parts.push({ label: label(f), data: await readOne({ file: f, label: label(f) }, base, results) });
      } catch (e) {
        parts.push({ label: label(f), data: { format: 'coco', classes: [], images: [], counters: {}, problems: [{ file: label(f), severity: 'error', message: `cannot be read: ${(e as Error).message}` }] } });
      }
    }
    for (const f of unpaired) {
      const problem: FormatProblem = { file: label(f), severity: 'error', message: 'is a COCO results list, and which instances file it belongs to is unclear (name it after one of their subsets, e.g. detections_val2017_results.json)' };
      parts.push({ label: label(f), data: { format: 'coco', classes: [], images: [], counters: {}, problems: [problem] } });
    }
    return merge(parts);
  },
};

/**
 * A write stream fed strings: small pieces are gathered into large writes, and a full stream's
 * buffer is waited out ('drain') so memory stays bounded whatever the export's size.
 */
class Sink {
  private readonly stream: fs.WriteStream;
  private pending: string[] = [];
  private pendingChars = 0;
  private failure: Error | null = null;

  constructor(readonly file: string) {
    // A deep buffer lets the file system write while the next entries are built; waiting for
    // each small write to drain would leave the export idle between them.
    this.stream = fs.createWriteStream(file, { highWaterMark: 1 << 22 });
    this.stream.on('error', (e) => {
      this.failure = e;
    });
  }

  async write(s: string): Promise<void> {
    if (this.add(s)) await this.flush();
  }

  /**
   * Gathers `s` without waiting; true when enough is gathered that the caller should flush().
   * Flushed often: pieces kept longer survive into the old generation and slow collection.
   */
  add(s: string): boolean {
    this.pending.push(s);
    this.pendingChars += s.length;
    return this.pendingChars >= 1 << 16;
  }

  async flush(): Promise<void> {
    if (this.failure) throw this.failure;
    if (this.pending.length === 0) return;
    const chunk = this.pending.join('');
    this.pending = [];
    this.pendingChars = 0;
    if (!this.stream.write(chunk)) await this.drained();
  }

  async writeBuffer(b: Buffer): Promise<void> {
    await this.flush();
    if (!this.stream.write(b)) await this.drained();
  }

  private drained(): Promise<void> {
    // Listeners are removed whichever fires, or thousands of waits would pile them up.
    return new Promise((resolve, reject) => {
      const onDrain = () => {
        this.stream.off('error', onError);
        resolve();
      };
      const onError = (e: Error) => {
        this.stream.off('drain', onDrain);
        reject(e);
      };
      this.stream.once('drain', onDrain);
      this.stream.once('error', onError);
    });
  }

  async close(): Promise<void> {
    await this.flush();
    if (this.failure) throw this.failure;
    const finished = once(this.stream, 'finish');
    this.stream.end();
    await finished;
    if (this.failure) throw this.failure;
  }

  /** Stops writing and waits until the file is closed: a stream still opening would otherwise create its file after a cleanup removed it. */
  async dispose(): Promise<void> {
    if (this.stream.closed) return;
    const closed = once(this.stream, 'close').catch(() => undefined);
    this.stream.destroy();
    await closed;
  }
}

interface SplitFile {
  name: string;
  final: Sink;
  /** The split's annotations, written while its images stream into `final`, appended at the end. */
  temp: Sink;
  images: number;
  annotations: number;
}

/**
 * A COCO writer. Images are written into each split's file as they arrive; annotations go to a
 * temporary file beside it (COCO puts them after all images) and are copied in at the end, so
 * memory does not grow with the export.
 */
export function cocoWriterWith(opts: { segmentation: CocoSegmentationMode }): FormatWriter {
  return {
    format: 'coco',

    imagePath(name: string, split: Split | null): string {
      return split ? `images/${split}/${name}` : `images/${name}`;
    },

    async write(outDir, classes, images, ctx: WriteContext) {
      const annDir = path.join(outDir, 'annotations');
      await fsp.mkdir(annDir, { recursive: true });
      const header = cocoHeader();
      const files = new Map<string, SplitFile>();
      // Category ids a COCO import remembered are written again (see exportDataset.ts).
      const categoryId = new Map(classes.map((c) => [c.index, c.cocoId ?? cocoCategoryId(c.index)]));
      const open = async (split: string): Promise<SplitFile> => {
        let f = files.get(split);
        if (!f) {
          const name = `instances_${split}.json`;
          f = { name, final: new Sink(path.join(annDir, name)), temp: new Sink(path.join(annDir, `.${name}.annotations.tmp`)), images: 0, annotations: 0 };
          files.set(split, f);
          await f.final.write(header);
        }
        return f;
      };
      let ok = false;
      try {
        for await (const image of images) {
          const f = await open(image.split ?? 'default');
          const base = image.split ? `images/${image.split}/` : 'images/';
          let fileName = image.file.startsWith(base) ? image.file.slice(base.length) : path.posix.relative(base, image.file);
          if (fileName.startsWith('../')) {
            ctx.warn('coco:image-outside-folder', `an image path outside ${base} was written relative to it with ".."; COCO readers may not find it`);
          }
          if (fileName === '') fileName = image.file;
          await f.final.write((f.images++ ? ',' : '') + JSON.stringify(cocoImageEntry(image, fileName)));
          let full = false;
          for (const ann of image.annotations) {
            const r = cocoAnnotationJson(ann, image, opts.segmentation, categoryId.get(ann.classIndex) ?? cocoCategoryId(ann.classIndex));
            if ('skip' in r) {
              ctx.warn(r.skip.kind, r.skip.message);
              continue;
            }
            if (f.annotations++) full = f.temp.add(',') || full;
            full = f.temp.add(r.json) || full;
          }
          if (full) await f.temp.flush();
        }
        if (files.size === 0) await open('default');
        for (const f of files.values()) {
          await f.temp.close();
          await f.final.write(COCO_BETWEEN);
          for await (const chunk of fs.createReadStream(f.temp.file, { highWaterMark: 1 << 20 })) await f.final.writeBuffer(chunk as Buffer);
          await f.final.write(cocoFooter(classes));
          await f.final.close();
        }
        ok = true;
        return { files: files.size, emptyLabelFiles: 0 };
      } finally {
        for (const f of files.values()) {
          await f.temp.dispose();
          await fsp.rm(f.temp.file, { force: true });
          if (!ok) {
            await f.final.dispose();
            await fsp.rm(f.final.file, { force: true });
          }
        }
      }
    },
  };
}

export const cocoWriter: FormatWriter = cocoWriterWith({ segmentation: 'polygon' });
