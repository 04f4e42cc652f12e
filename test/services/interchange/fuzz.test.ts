import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAppError } from '../../../src-main/common/errors';
import type { FormatName, InterchangeReport } from '../../../src-main/common/formats/types';
import { Dataset } from '../../../src-main/services/dataset';
import { detectFormat } from '../../../src-main/services/interchange/detect';
import { importDataset } from '../../../src-main/services/interchange/importDataset';
import { resolveStoredPath } from '../../../src-main/services/paths';
import { tempDir } from '../../helpers/shared';
import { mulberry32 } from '../../../src-main/common/random';

/**
 * Mutated annotation files of every format go through the real readers and the real import.
 * Whatever the damage, each case ends in one of two ways: an import whose written rows are what
 * its report says, or an AppError naming the file with nothing written. No case may hang, and no
 * stored image path may lead outside the dataset root.
 */

const CASES_PER_FORMAT = 220;
const CASE_TIMEOUT_MS = 5_000;
const SEED = 20261127;

type Rand = () => number;
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;

const EVIL_PATHS = ['../../etc/passwd', '/etc/passwd', 'C:\\Windows\\win.ini', '..\\..\\x.png', 'a/../../b.png', '', '.', 'file:///etc/passwd', 'a.png\0.txt', 'x'.repeat(5000)];
const EVIL_NUMBERS = ['NaN', 'Infinity', '-Infinity', '-1', '-1e308', '1e308', '1e400', '0', '99999', '-0.5', '1.5', '2147483648', '1e-320'];
const EVIL_VALUES: unknown[] = [null, 'text', 12345, -3, 1e308, [], {}, true, [[1, 2], 3], { kind: 'box' }, '../../etc/passwd'];

/** A random path to a value inside a JSON document, and a way to replace or delete it. */
function slots(v: unknown, at: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
  if (out.length > 5000) return out;
  if (Array.isArray(v)) v.forEach((x, i) => (out.push([...at, i]), slots(x, [...at, i], out)));
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) out.push([...at, k]), slots(x, [...at, k], out);
  return out;
}

function parentOf(doc: unknown, p: (string | number)[]): Record<string | number, unknown> {
  let cur = doc as Record<string | number, unknown>;
  for (const k of p.slice(0, -1)) cur = cur[k] as Record<string | number, unknown>;
  return cur;
}

const NEST_MARK = '"__NEST__"';
const NUMBER_MARK = '"__NUMBER__"';

function mutateJson(text: string, r: Rand): string {
  const op = Math.floor(r() * 9);
  if (op === 0) return text.slice(0, Math.floor(r() * text.length));
  if (op === 1) return garbage(text, r);
  const doc = JSON.parse(text) as unknown;
  const all = slots(doc);
  const target = pick(r, all);
  const parent = parentOf(doc, target);
  const key = target[target.length - 1]!;
  let raw: string | null = null;
  switch (op) {
    case 2:
      if (Array.isArray(parent)) parent.splice(key as number, 1);
      else delete parent[key];
      break;
    case 3:
      parent[key] = structuredClone(pick(r, EVIL_VALUES));
      break;
    case 4: {
      const nums = all.filter((p) => typeof parentOf(doc, p)[p[p.length - 1]!] === 'number');
      if (nums.length === 0) break;
      const p = pick(r, nums);
      parentOf(doc, p)[p[p.length - 1]!] = '__NUMBER__';
      raw = pick(r, EVIL_NUMBERS);
      break;
    }
    case 5: {
      const names = all.filter((p) => ['file_name', 'imagePath', 'path', 'name'].includes(String(p[p.length - 1])));
      if (names.length === 0) break;
      const p = pick(r, names);
      parentOf(doc, p)[p[p.length - 1]!] = pick(r, EVIL_PATHS);
      break;
    }
    case 6: {
      const ids = all.filter((p) => ['category_id', 'image_id', 'id', 'group_id'].includes(String(p[p.length - 1])));
      if (ids.length === 0) break;
      const p = pick(r, ids);
      parentOf(doc, p)[p[p.length - 1]!] = pick(r, [999, -1, 0, 1.5, '1', null]);
      break;
    }
    case 7:
      parent[key] = '__NEST__';
      break;
    default: {
      // Multiply an array: many annotations or vertices of the same kind.
      const arrays = all.filter((p) => Array.isArray(parentOf(doc, p)[p[p.length - 1]!]));
      if (arrays.length === 0) break;
      const p = pick(r, arrays);
      const arr = parentOf(doc, p)[p[p.length - 1]!] as unknown[];
      parentOf(doc, p)[p[p.length - 1]!] = Array.from({ length: 1 + Math.floor(r() * 50) }, () => structuredClone(arr)).flat();
    }
  }
  let out = JSON.stringify(doc);
  if (raw !== null) out = out.replace(NUMBER_MARK, raw);
  const depth = 100 + Math.floor(r() * 20000);
  return out.replace(NEST_MARK, `${'['.repeat(depth)}${']'.repeat(depth)}`);
}

function garbage(text: string, r: Rand): string {
  const buf = Buffer.from(text, 'utf8');
  const n = 1 + Math.floor(r() * 16);
  for (let i = 0; i < n && buf.length > 0; i++) buf[Math.floor(r() * buf.length)] = Math.floor(r() * 256);
  return buf.toString('latin1');
}

/** Text formats (XML, YOLO lines, YAML): token-level damage. */
function mutateText(text: string, r: Rand, kind: 'xml' | 'lines' | 'yaml'): string {
  const op = Math.floor(r() * 8);
  if (op === 0) return text.slice(0, Math.floor(r() * text.length));
  if (op === 1) return garbage(text, r);
  if (op === 2) {
    const nums = [...text.matchAll(/-?\d+(\.\d+)?(e[-+]?\d+)?/gi)];
    if (nums.length === 0) return text;
    const m = pick(r, nums);
    return text.slice(0, m.index) + pick(r, EVIL_NUMBERS) + text.slice(m.index + m[0].length);
  }
  if (op === 3) {
    if (kind === 'xml') {
      const els = [...text.matchAll(/<(\w+)[^>]*>[^<]*<\/\1>|<\w+[^>]*\/>/g)];
      if (els.length === 0) return text;
      const m = pick(r, els);
      return text.slice(0, m.index) + text.slice(m.index + m[0].length);
    }
    const lines = text.split('\n');
    lines.splice(Math.floor(r() * lines.length), 1);
    return lines.join('\n');
  }
  if (op === 4) {
    const evil = pick(r, EVIL_PATHS).replace(/[<&"]/g, '');
    if (kind === 'xml') return text.replace(/(<filename>|name=")[^<"]*/, `$1${evil}`);
    if (kind === 'yaml') return text.replace(/^(train|path):.*$/m, `$1: ${evil}`);
    return `${text}\n${evil}`;
  }
  if (op === 5) {
    const depth = 100 + Math.floor(r() * 5000);
    if (kind === 'xml') return text.replace(/<\/(object|image|annotation)>/, `${'<a>'.repeat(depth)}${'</a>'.repeat(depth)}</$1>`);
    if (kind === 'yaml') return `${text}\nnames: ${'['.repeat(depth)}${']'.repeat(depth)}\n`;
    return `${text}\n${'0 '.repeat(depth)}`;
  }
  if (op === 6) {
    // Words where numbers belong, extra and missing columns, unknown classes.
    if (kind === 'lines') return text.replace(/^\d+/m, pick(r, ['99', '-1', 'x', '1.5', ''])).replace(/ [\d.]+$/m, pick(r, ['', ' 0.5 0.5', ' nope']));
    if (kind === 'xml') return text.replace(/<name>[^<]*<\/name>|label="[^"]*"/, pick(r, ['<name></name>', 'label=""', `<name>${'n'.repeat(300)}</name>`]));
    return text.replace(/names:[\s\S]*$/, pick(r, ['names: 5', 'names: {a: b}', 'names: [a, a]', 'names:\n  -1: x', '']));
  }
  return text.repeat(1 + Math.floor(r() * 5));
}

interface Fixture {
  format: FormatName;
  /** What is imported: the annotation file or the folder. */
  input: string;
  /** The annotation files the cases mutate, with their pristine content. */
  files: { file: string; text: string; kind: 'json' | 'xml' | 'lines' | 'yaml' }[];
}

const A = { w: 32, h: 24 };
const B = { w: 20, h: 20 };

async function png(file: string, w: number, h: number, seed: number): Promise<void> {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  await sharp({ create: { width: w, height: h, channels: 3, background: { r: seed, g: 255 - seed, b: (seed * 7) % 256 } } })
    .png()
    .toFile(file);
}

function write(file: string, text: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
}

/** One small, valid dataset per format, with the quirks each format has. */
async function fixtures(root: string): Promise<Fixture[]> {
  const out: Fixture[] = [];

  const coco = path.join(root, 'coco');
  await png(path.join(coco, 'a.png'), A.w, A.h, 10);
  await png(path.join(coco, 'b.png'), B.w, B.h, 20);
  const rle = [0, 4, 20, 4, 20, 4, 20, 4, A.w * A.h - 76];
  const cocoJson = JSON.stringify({
    images: [
      { id: 1, file_name: 'a.png', width: A.w, height: A.h },
      { id: 2, file_name: 'b.png', width: B.w, height: B.h },
    ],
    categories: [
      { id: 1, name: 'cell' },
      { id: 3, name: 'nucleus' },
    ],
    annotations: [
      { id: 1, image_id: 1, category_id: 1, bbox: [1, 2, 10, 8], area: 80, iscrowd: 0, segmentation: [[1, 2, 11, 2, 11, 10, 1, 10]] },
      { id: 2, image_id: 2, category_id: 3, bbox: [2, 2, 5, 5], area: 25, iscrowd: 0, segmentation: [] },
      { id: 3, image_id: 1, category_id: 3, bbox: [0, 0, 4, 4], area: 16, iscrowd: 1, segmentation: { size: [A.h, A.w], counts: rle } },
    ],
  });
  write(path.join(coco, 'coco.json'), cocoJson);
  out.push({ format: 'coco', input: path.join(coco, 'coco.json'), files: [{ file: path.join(coco, 'coco.json'), text: cocoJson, kind: 'json' }] });

  const lm = path.join(root, 'labelme');
  await png(path.join(lm, 'a.png'), A.w, A.h, 30);
  await png(path.join(lm, 'b.png'), B.w, B.h, 40);
  const lmA = JSON.stringify({
    version: '5.2.1',
    flags: { blurry: true, sharp: false },
    shapes: [
      { label: 'cell', points: [[1, 2], [11, 10]], group_id: null, shape_type: 'rectangle', flags: {} },
      { label: 'nucleus', points: [[1, 1], [8, 1], [8, 8]], group_id: 1, shape_type: 'polygon', flags: {} },
      { label: 'nucleus', points: [[12, 12], [18, 12], [18, 18]], group_id: 1, shape_type: 'polygon', flags: {} },
      { label: 'dot', points: [[3, 3]], group_id: null, shape_type: 'point', flags: {} },
      { label: 'ring', points: [[16, 12], [20, 12]], group_id: null, shape_type: 'circle', flags: {} },
    ],
    imagePath: 'a.png',
    imageData: null,
    imageHeight: A.h,
    imageWidth: A.w,
  });
  const lmB = JSON.stringify({ version: '5.2.1', flags: {}, shapes: [{ label: 'cell', points: [[0, 0], [5, 5]], shape_type: 'rectangle', flags: {} }], imagePath: 'b.png', imageData: null, imageHeight: B.h, imageWidth: B.w });
  write(path.join(lm, 'a.json'), lmA);
  write(path.join(lm, 'b.json'), lmB);
  out.push({
    format: 'labelme',
    input: lm,
    files: [
      { file: path.join(lm, 'a.json'), text: lmA, kind: 'json' },
      { file: path.join(lm, 'b.json'), text: lmB, kind: 'json' },
    ],
  });

  const voc = path.join(root, 'voc');
  await png(path.join(voc, 'JPEGImages', 'a.png'), A.w, A.h, 50);
  await png(path.join(voc, 'JPEGImages', 'b.png'), B.w, B.h, 60);
  const vocXml = (name: string, s: { w: number; h: number }, objects: string) =>
    `<annotation><folder>JPEGImages</folder><filename>${name}</filename><size><width>${s.w}</width><height>${s.h}</height><depth>3</depth></size>${objects}</annotation>`;
  const obj = (label: string, b: number[], extra = '') =>
    `<object><name>${label}</name><truncated>0</truncated><difficult>0</difficult>${extra}<bndbox><xmin>${b[0]}</xmin><ymin>${b[1]}</ymin><xmax>${b[2]}</xmax><ymax>${b[3]}</ymax></bndbox></object>`;
  const vocA = vocXml('a.png', A, obj('cell', [1, 2, 11, 10]) + obj('nucleus', [2.5, 3.5, 8.25, 9], '<occluded>1</occluded>') + obj('cell', [31, 23, 32, 24]));
  const vocB = vocXml('b.png', B, obj('nucleus', [0, 0, 20, 20]));
  write(path.join(voc, 'Annotations', 'a.xml'), vocA);
  write(path.join(voc, 'Annotations', 'b.xml'), vocB);
  out.push({
    format: 'voc',
    input: voc,
    files: [
      { file: path.join(voc, 'Annotations', 'a.xml'), text: vocA, kind: 'xml' },
      { file: path.join(voc, 'Annotations', 'b.xml'), text: vocB, kind: 'xml' },
    ],
  });

  const cvat = path.join(root, 'cvat');
  await png(path.join(cvat, 'images', 'a.png'), A.w, A.h, 70);
  await png(path.join(cvat, 'images', 'b.png'), B.w, B.h, 80);
  const cvatXml = `<?xml version="1.0" encoding="utf-8"?>
<annotations>
  <version>1.1</version>
  <meta><task><labels><label><name>cell</name></label><label><name>nucleus</name></label></labels></task></meta>
  <image id="0" name="a.png" width="${A.w}" height="${A.h}">
    <box label="cell" occluded="0" xtl="1" ytl="2" xbr="11" ybr="10" z_order="0"><attribute name="kind">round</attribute></box>
    <polygon label="nucleus" occluded="0" points="1,1;8,1;8,8" z_order="0"></polygon>
    <polyline label="nucleus" occluded="0" points="12,12;18,12;18,18"></polyline>
    <points label="cell" occluded="0" points="3,3"></points>
  </image>
  <image id="1" name="b.png" width="${B.w}" height="${B.h}">
    <box label="nucleus" occluded="1" xtl="0" ytl="0" xbr="20" ybr="20" z_order="0"></box>
  </image>
</annotations>
`;
  write(path.join(cvat, 'annotations.xml'), cvatXml);
  out.push({ format: 'cvat', input: path.join(cvat, 'annotations.xml'), files: [{ file: path.join(cvat, 'annotations.xml'), text: cvatXml, kind: 'xml' }] });

  const yolo = path.join(root, 'yolo');
  await png(path.join(yolo, 'images', 'train', 'a.png'), A.w, A.h, 90);
  await png(path.join(yolo, 'images', 'val', 'b.png'), B.w, B.h, 100);
  const yaml = 'path: .\ntrain: images/train\nval: images/val\nnames:\n  0: cell\n  1: nucleus\n';
  // No trailing newline, float noise and a box slightly wider than the image, as found in the wild;
  // b.txt holds predictions (a sixth column with the confidence).
  const labelsA = '0 0.5 0.5 0.25 0.3333333333333333\n1 0.2 0.25 0.2 0.3\n1 0.5 0.5 1.0000001 0.2';
  const labelsB = '1 0.5 0.5 0.5 0.5 0.9\n';
  write(path.join(yolo, 'data.yaml'), yaml);
  write(path.join(yolo, 'labels', 'train', 'a.txt'), labelsA);
  write(path.join(yolo, 'labels', 'val', 'b.txt'), labelsB);
  out.push({
    format: 'yolo',
    input: yolo,
    files: [
      { file: path.join(yolo, 'data.yaml'), text: yaml, kind: 'yaml' },
      { file: path.join(yolo, 'labels', 'train', 'a.txt'), text: labelsA, kind: 'lines' },
      { file: path.join(yolo, 'labels', 'val', 'b.txt'), text: labelsB, kind: 'lines' },
    ],
  });
  return out;
}

type Counts = { images: number; classes: number; annotations: number; model_runs: number };
async function counts(ds: Dataset): Promise<Counts> {
  return await ds.db
    .prepare(
      `SELECT (SELECT count(*) FROM images) AS images, (SELECT count(*) FROM classes) AS classes,
              (SELECT count(*) FROM annotations) AS annotations, (SELECT count(*) FROM model_runs) AS model_runs`,
    )
    .get() as Counts;
}

function bounded<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer within ${CASE_TIMEOUT_MS} ms`)), CASE_TIMEOUT_MS);
    }),
  ]);
}

let root: string;
let all: Fixture[];
const datasets: Dataset[] = [];

beforeAll(async () => {
  root = tempDir('tessera-fuzz-');
  all = await fixtures(root);
});
afterAll(async () => {
  for (const ds of datasets) await ds.close();
});

describe('fuzzed annotation files', () => {
  it('the pristine fixtures import cleanly with every format', async () => {
    for (const f of all) {
      const ds = await Dataset.create(path.join(tempDir(), 'clean.tessera'), root);
      datasets.push(ds);
      const r = await importDataset(ds, { path: f.input, format: f.format });
      expect(r.problems.filter((p) => p.severity === 'error'), f.format).toEqual([]);
      expect(r.images.added, f.format).toBe(2);
      expect(r.annotations.total, f.format).toBeGreaterThanOrEqual(2);
      expect((await detectFormat(f.input))?.reader.name, f.format).toBe(f.format);
    }
  });

  it(`${CASES_PER_FORMAT} mutations per format: a consistent import or a typed error naming the file, never a partial write`, async () => {
    const r = mulberry32(SEED);
    const outcomes = { imported: 0, refused: 0, withErrors: 0, predictions: 0 };
    const codes = new Map<string, number>();
    const examples: string[] = [];
    for (const f of all) {
      const ds = await Dataset.create(path.join(tempDir(), `${f.format}.tessera`), root);
      datasets.push(ds);
      for (let i = 0; i < CASES_PER_FORMAT; i++) {
        // Most cases damage one file; some damage all of them.
        const damaged = r() < 0.8 ? [pick(r, f.files)] : f.files;
        for (const x of f.files) fs.writeFileSync(x.file, x.text);
        const applied: string[] = [];
        for (const x of damaged) {
          const text = x.kind === 'json' ? mutateJson(x.text, r) : mutateText(x.text, r, x.kind);
          fs.writeFileSync(x.file, text);
          applied.push(x.file);
        }
        const label = `${f.format} case ${i} (${applied.map((a) => path.relative(root, a)).join(', ')})`;
        const before = await counts(ds);
        let report: InterchangeReport | null = null;
        try {
          await bounded(detectFormat(f.input), `${label}: detect`);
          report = await bounded(importDataset(ds, { path: f.input, format: f.format, concurrency: 2 }), label);
        } catch (e) {
          if (!isAppError(e) || e.code === 'INTERNAL') throw new Error(`${label}: not a typed error: ${(e as Error).stack ?? String(e)}`);
          const named = [f.input, ...applied.map((a) => path.basename(a))].some((n) => e.message.includes(n));
          expect(named, `${label}: "${e.message}" names no file`).toBe(true);
          expect(await counts(ds), `${label}: failed but wrote`).toEqual(before);
          codes.set(e.code, (codes.get(e.code) ?? 0) + 1);
          if (examples.length < 12) examples.push(`${label}: ${e.code}: ${e.message.slice(0, 300)}`);
          outcomes.refused++;
        }
        if (report) {
          const after = await counts(ds);
          expect(after.images - before.images, label).toBe(report.images.added);
          expect(after.annotations - before.annotations, label).toBe(report.annotations.total);
          expect(after.classes - before.classes, label).toBe(report.classes.filter((c) => c.isNew).length);
          expect(after.model_runs - before.model_runs, label).toBeLessThanOrEqual(report.annotations.total > 0 ? 1 : 0);
          for (const p of report.problems) expect(typeof p.file === 'string' && p.file.length > 0 && typeof p.message === 'string', label).toBe(true);
          outcomes.imported++;
          if (report.problems.some((p) => p.severity === 'error')) outcomes.withErrors++;
          if (after.model_runs > before.model_runs) outcomes.predictions++;
        }
      }
      for (const x of f.files) fs.writeFileSync(x.file, x.text);
      // Every stored image path stays inside the dataset root, whatever the files said.
      for (const row of await ds.db.prepare('SELECT path, external FROM images').all() as { path: string; external: number }[]) {
        expect(row.external, row.path).toBe(0);
        expect(() => resolveStoredPath(root, row.path, false), row.path).not.toThrow();
      }
    }
    expect(outcomes.imported + outcomes.refused).toBe(CASES_PER_FORMAT * all.length);
    // Both outcomes occur: the cases are neither all harmless nor all fatal.
    expect(outcomes.imported).toBeGreaterThan(100);
    console.log(`fuzz: ${outcomes.imported} imported (${outcomes.withErrors} with errors reported, ${outcomes.predictions} with predictions), ${outcomes.refused} refused (${[...codes].map(([c, n]) => `${c} ${n}`).join(', ')})\n${examples.join('\n')}`);
  }, 120_000);
});
