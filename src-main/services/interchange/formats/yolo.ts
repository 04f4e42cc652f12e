import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import type { Split } from '../../../common/model';
import type { ExportFormat, FormatProblem, InterchangeDataset, InterchangeImage } from '../../../common/formats/types';
import { keyBaseName, safeRelativeKey } from '../../../common/formats/paths';
import { inferYoloTask, parseYoloLabels, serialiseYoloLabels, type YoloTask, type YoloUnsupportedTask } from '../../../common/formats/yolo';
import { maxPixelsSetting } from '../../importer';
import { IMAGE_EXTENSIONS, probeImage } from '../../probe';
import type { FormatReader, FormatWriter } from '../types';

/*
 * Three layouts are read, all ending in the same pairing of images with label files:
 *  - Ultralytics: a data.yaml (or another top-level *.yaml with `names`) whose `train`/`val`/`test`
 *    are image folders, list files of image paths, or lists of either, relative to `path`;
 *  - darknet (and CVAT's export of it): obj.data naming obj.names and train.txt/valid.txt/test.txt;
 *  - loose folders: images and label .txt files anywhere below, classes from classes.txt/obj.names.
 * Every path a file states is turned into a key relative to the imported folder and refused when
 * it would leave it (safeRelativeKey), so a list file cannot lead the importer elsewhere.
 */

const SPLIT_KEYS: readonly [Split, string[]][] = [
  ['train', ['train']],
  ['val', ['val', 'valid', 'validation']],
  ['test', ['test']],
];
const SPLIT_SEGMENTS: Record<string, Split> = { train: 'train', val: 'val', valid: 'val', validation: 'val', test: 'test', testing: 'test' };
const NAMES_FILES = ['obj.names', 'classes.txt', 'classes.names', 'coco.names'];
/** Label files that lie under these folders and match no image are reported; other stray .txt files (READMEs, lists) are not labels. */
const LABEL_DIR = /^(labels|annotations|obj_\w+_data)$/i;
/** Probes run side by side: the file reads overlap while hashing keeps one core busy. */
const PROBE_CONCURRENCY = 8;

function isImageKey(key: string): boolean {
  return IMAGE_EXTENSIONS.has(path.posix.extname(key).toLowerCase());
}

function toPosix(p: string): string {
  return p.split(path.sep).join('/');
}

function dirKey(key: string): string {
  const i = key.lastIndexOf('/');
  return i < 0 ? '' : key.slice(0, i);
}

function stripExt(key: string): string {
  const ext = path.posix.extname(key);
  return ext ? key.slice(0, -ext.length) : key;
}

/** Everything below the imported folder, as keys: files, and every folder on the way to one. */
interface Tree {
  files: Set<string>;
  dirs: Set<string>;
  /** Keys in walk order, sorted, for stable output. */
  sorted: string[];
}

async function walk(base: string): Promise<Tree> {
  const files = new Set<string>();
  const dirs = new Set<string>(['']);
  const entries = await fs.promises.readdir(base, { recursive: true, withFileTypes: true });
  let realBase: string | null = null;
  for (const e of entries) {
    const abs = path.join(e.parentPath, e.name);
    const rel = toPosix(path.relative(base, abs));
    if (e.isDirectory()) dirs.add(rel);
    else if (e.isFile()) files.add(rel);
    else if (e.isSymbolicLink()) {
      // An export made with "link images" holds symlinks; they are followed only to files inside
      // the imported folder, like every other path Tessera reads from a dataset.
      try {
        realBase ??= await fs.promises.realpath(base);
        const target = await fs.promises.realpath(abs);
        const inside = path.relative(realBase, target);
        if (!inside.startsWith('..') && !path.isAbsolute(inside) && (await fs.promises.stat(target)).isFile()) files.add(rel);
      } catch {
        // A dangling link is not a file.
      }
    }
  }
  for (const f of files) for (let d = dirKey(f); d !== '' && !dirs.has(d); d = dirKey(d)) dirs.add(d);
  return { files, dirs, sorted: [...files].sort() };
}

/**
 * A key for `raw` as a file states it, relative to the folder `fromDir` (a key). Absolute paths
 * are accepted only when they lie inside the imported folder.
 */
function joinKey(base: string, fromDir: string, raw: string): string | null {
  const s = raw.trim().replace(/\\/g, '/');
  if (s === '') return null;
  if (s.startsWith('/') || /^[a-zA-Z]:\//.test(s)) {
    const rel = toPosix(path.relative(base, path.resolve(s)));
    return rel === '' ? '' : safeRelativeKey(rel);
  }
  if (s === '.' || s === './') return fromDir;
  return safeRelativeKey(fromDir ? `${fromDir}/${s}` : s);
}

/**
 * Resolves a path from a yaml, .data or list file against the folders it may be relative to.
 * CVAT and darknet write `data/...` meaning the export's own folder, so that prefix is also
 * tried without. Returns the first existing key, or why none was found.
 */
function resolveStated(base: string, tree: Tree, dirs: readonly string[], raw: string): { key: string } | { refused: boolean } {
  let refused = false;
  const variants = [raw.trim()];
  const noDot = raw.trim().replace(/^\.\//, '');
  if (noDot.startsWith('data/')) variants.push(noDot.slice(5));
  for (const d of dirs) {
    for (const v of variants) {
      const k = joinKey(base, d, v);
      if (k === null) {
        refused = true;
        continue;
      }
      if (tree.files.has(k) || tree.dirs.has(k)) return { key: k };
    }
  }
  return { refused };
}

/** Image ↔ label pairing: Ultralytics' rule first (last `/images/` → `/labels/`), then the other conventions seen in the wild. */
export function labelCandidates(imageKey: string): string[] {
  const stem = stripExt(imageKey);
  const out: string[] = [];
  const segs = stem.split('/');
  for (let i = segs.length - 2; i >= 0; i--) {
    if (segs[i]!.toLowerCase() !== 'images') continue;
    for (const name of ['labels', 'Labels', 'annotations', 'Annotations']) out.push([...segs.slice(0, i), name, ...segs.slice(i + 1)].join('/') + '.txt');
    break;
  }
  out.push(`${stem}.txt`);
  return out;
}

/** The label file a writer puts next to `imageKey` (Ultralytics' rule), or null without an images/ folder. */
function labelKeyForImage(imageKey: string): string | null {
  const i = `/${imageKey}`.lastIndexOf('/images/');
  if (i < 0) return null;
  const withSlash = `/${imageKey}`;
  return stripExt(`${withSlash.slice(0, i)}/labels/${withSlash.slice(i + '/images/'.length)}`).slice(1) + '.txt';
}

function splitFromKey(key: string): Split | undefined {
  const segs = key.split('/').slice(0, -1);
  for (let i = segs.length - 1; i >= 0; i--) {
    const s = SPLIT_SEGMENTS[segs[i]!.toLowerCase()];
    if (s) return s;
  }
  return undefined;
}

function namesFromText(text: string): string[] {
  return text
    .split(/\r\n|\r|\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '');
}

/**
 * YAML.parse with its duplicate-key check done in one pass. The library compares each new map key
 * with every earlier one, so a data.yaml whose `names` map has 100,000 entries took a minute;
 * here each map's scalar keys go into a Set, with the library's notion of equal keys (same
 * scalar value) and its message for the first repeat.
 */
export function parseYaml(text: string): unknown {
  const lineCounter = new YAML.LineCounter();
  const doc = YAML.parseDocument(text, { uniqueKeys: false, lineCounter });
  if (doc.errors.length > 0) throw doc.errors[0];
  let repeated: number | null = null;
  YAML.visit(doc, {
    Map(_, map) {
      const seen = new Set<unknown>();
      for (const pair of map.items) {
        if (!YAML.isScalar(pair.key)) continue;
        const v = pair.key.value;
        if (seen.has(v) && !(typeof v === 'number' && Number.isNaN(v))) {
          repeated = pair.key.range?.[0] ?? 0;
          return YAML.visit.BREAK;
        }
        seen.add(v);
      }
      return undefined;
    },
  });
  if (repeated !== null) {
    const { line, col } = lineCounter.linePos(repeated);
    throw new Error(`Map keys must be unique at line ${line}, column ${col}:`);
  }
  return doc.toJS({ maxAliasCount: 100 });
}

/** Class names from data.yaml `names` (a list, or a map index → name) or `nc`; gaps get their index as name. */
function namesFromYaml(doc: Record<string, unknown>, file: string, problems: FormatProblem[]): string[] | null {
  const names = doc['names'];
  if (Array.isArray(names)) return names.map((n) => String(n));
  if (names && typeof names === 'object') {
    const out: string[] = [];
    for (const [k, v] of Object.entries(names as Record<string, unknown>)) {
      if (!/^\d+$/.test(k) || Number(k) > 100_000) {
        problems.push({ file, where: 'names', severity: 'error', message: `class key "${k}" is not an index; it is ignored` });
        continue;
      }
      out[Number(k)] = String(v);
    }
    for (let i = 0; i < out.length; i++) {
      if (out[i] === undefined) {
        out[i] = String(i);
        problems.push({ file, where: 'names', severity: 'warning', message: `class index ${i} has no name; it is called "${i}"` });
      }
    }
    return out;
  }
  const nc = doc['nc'];
  if (typeof nc === 'number' && Number.isInteger(nc) && nc >= 0 && nc <= 100_000) {
    problems.push({ file, where: 'names', severity: 'warning', message: `no class names, only nc: ${nc}; classes are called by their index` });
    return Array.from({ length: nc }, (_, i) => String(i));
  }
  return null;
}

async function readText(abs: string): Promise<string | null> {
  try {
    return await fs.promises.readFile(abs, 'utf8');
  } catch {
    return null;
  }
}

async function isFile(p: string): Promise<boolean> {
  try {
    return (await fs.promises.stat(p)).isFile();
  } catch {
    return false;
  }
}

/** Top-level yaml files in a folder that look like a dataset description (they name classes). */
async function findYaml(dir: string): Promise<string | null> {
  for (const n of ['data.yaml', 'data.yml', 'dataset.yaml']) if (await isFile(path.join(dir, n))) return path.join(dir, n);
  let names: string[];
  try {
    names = (await fs.promises.readdir(dir)).filter((n) => /\.ya?ml$/i.test(n)).sort();
  } catch {
    return null;
  }
  for (const n of names) {
    const text = await readText(path.join(dir, n));
    if (text && /^names\s*:/m.test(text)) return path.join(dir, n);
  }
  return null;
}

async function findDarknetData(dir: string): Promise<string | null> {
  if (await isFile(path.join(dir, 'obj.data'))) return path.join(dir, 'obj.data');
  try {
    const n = (await fs.promises.readdir(dir)).filter((f) => f.endsWith('.data')).sort()[0];
    return n ? path.join(dir, n) : null;
  } catch {
    return null;
  }
}

/** What each layout hands to the common part: which images, in which split, and the classes. */
interface Layout {
  images: Map<string, Split | undefined>;
  classes: string[];
  task: YoloTask | YoloUnsupportedTask | undefined;
  /** Images a classification dataset holds, reported rather than read. */
  classifyImages?: string[];
  /** No names anywhere: classes are named by index, as many as the labels use. */
  namesMissing?: boolean;
}

class YoloReader implements FormatReader {
  readonly name = 'yolo' as const;

  baseDir(input: string): string {
    try {
      if (fs.statSync(input).isFile()) return path.dirname(input);
    } catch {
      // A path that does not exist is its own folder; read() reports it.
    }
    return input;
  }

  async detect(input: string): Promise<number> {
    let stat: fs.Stats;
    try {
      stat = await fs.promises.stat(input);
    } catch {
      return 0;
    }
    if (stat.isFile()) {
      if (/\.ya?ml$/i.test(input)) return /^names\s*:/m.test((await readText(input)) ?? '') ? 0.9 : 0;
      if (/\.data$/i.test(input)) return /^\s*names\s*=/m.test((await readText(input)) ?? '') ? 0.9 : 0;
      return 0;
    }
    if (await findYaml(input)) return 0.95;
    if (await findDarknetData(input)) return 0.9;
    let top: string[];
    try {
      top = await fs.promises.readdir(input);
    } catch {
      return 0;
    }
    const hasNames = top.some((n) => NAMES_FILES.includes(n) || n.endsWith('.names'));
    const hasLabels = top.some((n) => n.toLowerCase() === 'labels');
    const hasImages = top.some((n) => n.toLowerCase() === 'images');
    if (hasNames && (hasLabels || hasImages)) return 0.8;
    if (hasNames) return 0.6;
    if (hasLabels && hasImages) return 0.5;
    return 0;
  }

  async read(input: string): Promise<InterchangeDataset> {
    const base = this.baseDir(input);
    const tree = await walk(base); // throws when the folder cannot be read at all, as the contract says
    const problems: FormatProblem[] = [];
    const counters: Record<string, number> = {};
    const count = (k: string, n = 1) => {
      if (n) counters[k] = (counters[k] ?? 0) + n;
    };

    const inputIsFile = base !== input;
    const yamlFile = inputIsFile ? (/\.ya?ml$/i.test(input) ? input : null) : await findYaml(base);
    const dataFile = inputIsFile ? (/\.data$/i.test(input) ? input : null) : yamlFile ? null : await findDarknetData(base);

    let layout: Layout | null = null;
    if (yamlFile) layout = await this.yamlLayout(base, tree, yamlFile, problems);
    else if (dataFile) layout = await this.darknetLayout(base, tree, dataFile, problems);
    if (!layout) layout = await this.looseLayout(base, tree, problems);

    const images: InterchangeImage[] = [];
    if (layout.classifyImages) {
      for (const k of layout.classifyImages) {
        problems.push({ file: k, severity: 'error', message: `unsupported YOLO task "classify" (a folder per class): only detect, segment and obb datasets are imported` });
      }
    }

    // Pair images with label files.
    const claimed = new Set<string>();
    const pending: { image: InterchangeImage; label: string; text: string; width?: number; height?: number }[] = [];
    for (const [key, split] of layout.images) {
      const image: InterchangeImage = { file: key, tags: [], annotations: [] };
      if (split) image.split = split;
      images.push(image);
      const label = labelCandidates(key).find((c) => tree.files.has(c));
      if (!label) {
        count('imagesWithoutLabels');
        continue;
      }
      claimed.add(label);
      const text = await readText(path.join(base, label));
      if (text === null) {
        problems.push({ file: label, severity: 'error', message: 'cannot read the label file' });
        continue;
      }
      if (text.trim() === '') {
        count('emptyLabelFiles');
        continue;
      }
      if (layout.task === 'pose' || layout.task === 'classify') {
        problems.push({ file: label, severity: 'error', message: `unsupported YOLO task "${layout.task}": only detect, segment and obb labels are imported; this file's labels are skipped` });
        continue;
      }
      pending.push({ image, label, text });
    }

    // Normalised coordinates need each image's size, from its header (EXIF-oriented like the rest of Tessera).
    const maxPixels = maxPixelsSetting();
    let next = 0;
    const probeOne = async () => {
      while (next < pending.length) {
        const p = pending[next++]!;
        const r = await probeImage(path.join(base, p.image.file), { maxPixels });
        if (r.ok) {
          p.width = r.value.width;
          p.height = r.value.height;
        } else {
          problems.push({ file: p.label, severity: 'error', message: `the image ${p.image.file} cannot be read (${r.problem.reason}); its labels are skipped` });
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(PROBE_CONCURRENCY, pending.length) }, probeOne));
    const sized = pending.filter((p): p is typeof p & { width: number; height: number } => p.width !== undefined && p.height !== undefined);

    if (layout.namesMissing) {
      let max = -1;
      for (const p of sized) for (const m of p.text.matchAll(/^\s*(\d{1,6})\s/gm)) max = Math.max(max, Number(m[1]));
      // Bounded so one corrupt index cannot invent a million classes; larger ones stay unknown.
      layout.classes = Array.from({ length: Math.min(max + 1, 10_000) }, (_, i) => String(i));
    }
    const task: YoloTask = layout.task === 'detect' || layout.task === 'segment' || layout.task === 'obb' ? layout.task : inferYoloTask(sized.map((p) => ({ text: p.text, width: p.width, height: p.height })));
    for (const p of sized) {
      const r = parseYoloLabels(p.text, { width: p.width, height: p.height, classes: layout.classes, task });
      p.image.annotations = r.annotations;
      for (const lp of r.problems) problems.push({ file: p.label, ...lp });
      count('clampedCoordinates', r.clamped);
      count('obbCornersOutsideImage', r.obbCornersOutside);
    }

    // Label files nobody claimed: under a labels-like folder they are labels whose image is missing.
    for (const k of tree.sorted) {
      if (claimed.has(k) || !k.toLowerCase().endsWith('.txt')) continue;
      const segs = k.split('/').slice(0, -1);
      if (!segs.some((s) => LABEL_DIR.test(s))) continue;
      if (NAMES_FILES.includes(keyBaseName(k)) || /^(train|val|valid|test)\.txt$/.test(keyBaseName(k))) continue;
      const listedElsewhere = [...IMAGE_EXTENSIONS].some((ext) => {
        const stem = stripExt(k);
        return tree.files.has(stem.replace(/(^|\/)labels\//i, '$1images/') + ext) || tree.files.has(stem + ext);
      });
      problems.push({
        file: k,
        severity: 'warning',
        message: listedElsewhere ? 'label file whose image is not part of any split the dataset lists; it is not read' : 'label file without an image; it is not read',
      });
      count('labelFilesWithoutImage');
    }

    return { format: 'yolo', classes: layout.classes, images, problems, counters };
  }

  /** Classes from a names file anywhere in the usual places, for layouts without data.yaml. */
  private async namesFile(base: string, tree: Tree, near: string[]): Promise<{ classes: string[]; key: string } | null> {
    for (const d of near) {
      for (const n of NAMES_FILES) {
        const k = d ? `${d}/${n}` : n;
        if (tree.files.has(k)) {
          const text = await readText(path.join(base, k));
          if (text !== null) return { classes: namesFromText(text), key: k };
        }
      }
    }
    const any = tree.sorted.find((k) => !k.includes('/') && k.endsWith('.names'));
    if (any) {
      const text = await readText(path.join(base, any));
      if (text !== null) return { classes: namesFromText(text), key: any };
    }
    return null;
  }

  private addImagesUnder(tree: Tree, dir: string, split: Split | undefined, out: Map<string, Split | undefined>): number {
    const prefix = dir ? `${dir}/` : '';
    let n = 0;
    for (const k of tree.sorted) {
      if (k.startsWith(prefix) && isImageKey(k) && !out.has(k)) {
        out.set(k, split ?? splitFromKey(k.slice(prefix.length)));
        n++;
      }
    }
    return n;
  }

  /** A list file: one image path per line, relative to the list's folder or the dataset root. */
  private async addListed(base: string, tree: Tree, listKey: string, roots: string[], split: Split | undefined, out: Map<string, Split | undefined>, problems: FormatProblem[]): Promise<number> {
    const text = await readText(path.join(base, listKey));
    if (text === null) {
      problems.push({ file: listKey, severity: 'error', message: 'cannot read the list file' });
      return 0;
    }
    let n = 0;
    const lines = text.split(/\r\n|\r|\n/);
    for (let i = 0; i < lines.length; i++) {
      const raw = lines[i]!.trim();
      if (raw === '' || raw.startsWith('#')) continue;
      const r = resolveStated(base, tree, [dirKey(listKey), ...roots], raw);
      if ('key' in r && isImageKey(r.key)) {
        if (!out.has(r.key)) out.set(r.key, split);
        n++;
      } else {
        problems.push({
          file: listKey,
          where: `line ${i + 1}`,
          severity: 'error',
          message: 'refused' in r && r.refused ? `"${raw.slice(0, 200)}" points outside the dataset folder; refused` : `image "${raw.slice(0, 200)}" not found`,
        });
      }
    }
    return n;
  }

  private async yamlLayout(base: string, tree: Tree, yamlFile: string, problems: FormatProblem[]): Promise<Layout | null> {
    const yamlKey = toPosix(path.relative(base, yamlFile));
    const text = await readText(yamlFile);
    let doc: unknown;
    try {
      doc = text === null ? null : parseYaml(text);
    } catch (e) {
      problems.push({ file: yamlKey, severity: 'error', message: `not valid YAML (${(e as Error).message.split('\n')[0]})` });
      return null;
    }
    if (!doc || typeof doc !== 'object' || Array.isArray(doc)) {
      problems.push({ file: yamlKey, severity: 'error', message: 'not a dataset description (expected keys such as names, train, val)' });
      return null;
    }
    const d = doc as Record<string, unknown>;
    const yamlDir = dirKey(yamlKey);

    let classes = namesFromYaml(d, yamlKey, problems);
    if (!classes) {
      const nf = await this.namesFile(base, tree, [yamlDir]);
      if (nf) classes = nf.classes;
      else problems.push({ file: yamlKey, where: 'names', severity: 'warning', message: 'no class names (names, nc, or a classes.txt / obj.names file): classes are named by their index' });
    }

    // `path` is the dataset root the split entries are relative to. Exports often carry the
    // exporting machine's path (Roboflow writes ../datasets/...); when it is not inside the
    // imported folder, the yaml's own folder is the root.
    let root = yamlDir;
    if (typeof d['path'] === 'string' && d['path'].trim() !== '') {
      const k = joinKey(base, yamlDir, d['path']);
      if (k !== null && tree.dirs.has(k)) root = k;
      else problems.push({ file: yamlKey, where: 'path', severity: 'warning', message: `dataset path "${d['path']}" is not a folder inside the imported one; paths are read relative to ${yamlDir || 'the imported folder'}` });
    }

    let task: Layout['task'];
    const t = d['task'];
    if (t === 'detect' || t === 'segment' || t === 'obb' || t === 'pose' || t === 'classify') task = t;
    else if (d['kpt_shape'] !== undefined) task = 'pose';

    const images = new Map<string, Split | undefined>();
    let found = 0;
    let stated = 0;
    for (const [split, keys] of SPLIT_KEYS) {
      const key = keys.find((k) => d[k] !== undefined && d[k] !== null);
      if (!key) continue;
      const v = d[key];
      const entries = (Array.isArray(v) ? v : [v]).filter((e): e is string => typeof e === 'string');
      for (const entry of entries) {
        stated++;
        const r = resolveStated(base, tree, [root], entry);
        if (!('key' in r)) {
          problems.push({ file: yamlKey, where: key, severity: r.refused ? 'error' : 'warning', message: r.refused ? `"${entry}" points outside the dataset folder; refused` : `"${entry}" not found` });
          continue;
        }
        if (tree.dirs.has(r.key)) found += this.addImagesUnder(tree, r.key, split, images);
        else if (isImageKey(r.key)) {
          if (!images.has(r.key)) images.set(r.key, split);
          found++;
        } else found += await this.addListed(base, tree, r.key, [root], split, images, problems);
      }
    }
    if (found === 0) {
      if (stated > 0) problems.push({ file: yamlKey, severity: 'warning', message: 'none of the split entries names images here; every image below the folder is read, with its split taken from folder names' });
      this.addImagesUnder(tree, root, undefined, images);
    }
    return { images, classes: classes ?? [], task, namesMissing: !classes };
  }

  private async darknetLayout(base: string, tree: Tree, dataFile: string, problems: FormatProblem[]): Promise<Layout | null> {
    const dataKey = toPosix(path.relative(base, dataFile));
    const text = await readText(dataFile);
    if (text === null) {
      problems.push({ file: dataKey, severity: 'error', message: 'cannot read the file' });
      return null;
    }
    const kv = new Map<string, string>();
    for (const line of text.split(/\r\n|\r|\n/)) {
      const m = /^\s*([A-Za-z_]+)\s*=\s*(.*?)\s*$/.exec(line);
      if (m) kv.set(m[1]!.toLowerCase(), m[2]!);
    }
    const dir = dirKey(dataKey);
    let classes: string[] | null = null;
    const namesRaw = kv.get('names');
    if (namesRaw) {
      const r = resolveStated(base, tree, [dir], namesRaw);
      if ('key' in r && tree.files.has(r.key)) {
        const t = await readText(path.join(base, r.key));
        if (t !== null) classes = namesFromText(t);
      }
    }
    if (!classes) {
      const nf = await this.namesFile(base, tree, [dir]);
      if (nf) classes = nf.classes;
      else problems.push({ file: dataKey, where: 'names', severity: 'warning', message: 'no class names file found: classes are named by their index' });
    }
    const images = new Map<string, Split | undefined>();
    let found = 0;
    for (const [split, keys] of SPLIT_KEYS) {
      for (const key of keys) {
        const raw = kv.get(key);
        if (!raw) continue;
        const r = resolveStated(base, tree, [dir], raw);
        if ('key' in r && tree.files.has(r.key)) found += await this.addListed(base, tree, r.key, [dir], split, images, problems);
        else if ('key' in r && tree.dirs.has(r.key)) found += this.addImagesUnder(tree, r.key, split, images);
        else problems.push({ file: dataKey, where: key, severity: 'error', message: 'refused' in r && r.refused ? `"${raw}" points outside the dataset folder; refused` : `"${raw}" not found` });
      }
    }
    if (found === 0) this.addImagesUnder(tree, dir, undefined, images);
    return { images, classes: classes ?? [], task: 'detect', namesMissing: !classes };
  }

  private async looseLayout(base: string, tree: Tree, problems: FormatProblem[]): Promise<Layout> {
    const nf = await this.namesFile(base, tree, ['']);
    const images = new Map<string, Split | undefined>();
    this.addImagesUnder(tree, '', undefined, images);
    const hasTxtLabels = tree.sorted.some((k) => k.endsWith('.txt') && !NAMES_FILES.includes(keyBaseName(k)));
    // Ultralytics classification: split folders holding one folder of images per class, no labels.
    if (!nf && !hasTxtLabels && images.size > 0) {
      const classify = [...images.keys()].filter((k) => {
        const segs = k.split('/');
        return segs.length >= 3 && SPLIT_SEGMENTS[segs[segs.length - 3]!.toLowerCase()] !== undefined;
      });
      if (classify.length === images.size) return { images: new Map(), classes: [], task: 'classify', classifyImages: classify };
    }
    if (!nf) problems.push({ file: '.', severity: 'warning', message: 'no data.yaml, obj.data or class names file (classes.txt, obj.names): classes are named by their index' });
    return { images, classes: nf?.classes ?? [], task: undefined, namesMissing: !nf };
  }
}

export const yoloReader: FormatReader = new YoloReader();

const WRITER_TASK: Record<'yolo' | 'yolo-seg' | 'yolo-obb', YoloTask> = { yolo: 'detect', 'yolo-seg': 'segment', 'yolo-obb': 'obb' };
const SPLIT_ORDER: readonly Split[] = ['train', 'val', 'test'];

/**
 * Writers for the three Ultralytics tasks. `files` counts label files (data.yaml comes on top);
 * every image gets one, empty only when nothing of it could be written (see serialiseYoloLabels
 * for what is clamped, joined or skipped, each reported through ctx.warn).
 */
function makeWriter(format: 'yolo' | 'yolo-seg' | 'yolo-obb'): FormatWriter {
  const task = WRITER_TASK[format];
  return {
    format: format satisfies ExportFormat,
    imagePath(name: string, split: Split | null): string {
      return `images/${split ?? 'train'}/${name}`;
    },
    async write(outDir, classes, images, ctx) {
      let files = 0;
      let emptyLabelFiles = 0;
      const splits = new Set<Split>();
      const made = new Set<string>();
      const written = new Set<string>();
      // A bounded window of writes in flight: fast on many small files without holding them all.
      let inFlight: Promise<void>[] = [];
      let failure: unknown = null;
      for await (const img of images) {
        const split = img.split ?? 'train';
        const labelKey = safeRelativeKey(labelKeyForImage(img.file) ?? `labels/${split}/${stripExt(keyBaseName(img.file))}.txt`);
        if (!labelKey) {
          ctx.warn('unsafe-path', `image path "${img.file}" leaves the output folder; its labels are not written`);
          continue;
        }
        if (written.has(labelKey)) {
          ctx.warn('duplicate-label-file', `two images share the label file ${labelKey}; only the first one's labels are written`);
          continue;
        }
        written.add(labelKey);
        splits.add(split);
        const r = serialiseYoloLabels(img.annotations, task, img.width, img.height);
        for (const [kind, n] of Object.entries(r.notes.wrongKind)) {
          for (let i = 0; i < n; i++) ctx.warn(`unsupported:${kind}`, `${kind} annotations cannot be written to ${format} and were skipped`);
        }
        for (let i = 0; i < r.notes.clamped; i++) ctx.warn('clamped', 'coordinates outside the image were clamped to its edge (Ultralytics refuses label files with values outside [0, 1])');
        for (let i = 0; i < r.notes.joinedParts; i++) ctx.warn('polygon-parts-joined', 'multi-part polygons were written as one polygon line, their parts joined by zero-width bridges');
        const abs = path.join(outDir, ...labelKey.split('/'));
        const dir = path.dirname(abs);
        if (!made.has(dir)) {
          await fs.promises.mkdir(dir, { recursive: true });
          made.add(dir);
        }
        // Caught at once so a failed write is not an unhandled rejection while the loop goes on.
        // The callback form: fs.promises.writeFile's file handles cost more than the write of a small file.
        inFlight.push(new Promise<void>((resolve) => fs.writeFile(abs, r.text, (e) => resolve(void (e && (failure ??= e))))));
        if (inFlight.length >= 32) {
          await Promise.all(inFlight);
      if (failure) throw failure;
          inFlight = [];
        }
        if (failure) throw failure;
        files++;
        if (r.lines === 0) emptyLabelFiles++;
      }
      await Promise.all(inFlight);
      await fs.promises.mkdir(outDir, { recursive: true });
      await fs.promises.writeFile(path.join(outDir, 'data.yaml'), dataYaml(classes, splits));
      return { files, emptyLabelFiles };
    },
  };
}

/**
 * data.yaml for the written splits. Ultralytics refuses a data.yaml without both `train` and
 * `val`, so a missing one points at a split that exists (said in a comment); the reader keeps each
 * image in the first split that lists it. Names are quoted: PyYAML reads `yes`, `no`, `on` or
 * `null` unquoted as booleans and null.
 */
function dataYaml(classes: readonly { index: number; name: string }[], splits: ReadonlySet<Split>): string {
  const present = SPLIT_ORDER.filter((s) => splits.has(s));
  const lines = ['# Written by Tessera. Ultralytics YOLO layout: images/<split>/ and labels/<split>/.', 'path: .'];
  const fallback = present[0] ?? 'train';
  for (const s of ['train', 'val'] as const) {
    if (splits.has(s)) lines.push(`${s}: images/${s}`);
    else lines.push(`${s}: images/${fallback}  # no ${s} images in this export; Ultralytics requires the key`);
  }
  if (splits.has('test')) lines.push('test: images/test');
  lines.push('', 'names:');
  for (const c of [...classes].sort((a, b) => a.index - b.index)) lines.push(`  ${c.index}: ${JSON.stringify(c.name)}`);
  return lines.join('\n') + '\n';
}

export const yoloWriters: Record<'yolo' | 'yolo-seg' | 'yolo-obb', FormatWriter> = {
  yolo: makeWriter('yolo'),
  'yolo-seg': makeWriter('yolo-seg'),
  'yolo-obb': makeWriter('yolo-obb'),
};
