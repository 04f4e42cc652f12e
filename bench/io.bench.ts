/**
 * Dataset interchange benchmark (`npm run bench:io`). Builds a synthetic dataset once per run
 * (20,000 image rows by default, half PNG and half JPEG, 200,000 annotations: 60 % boxes, 35 %
 * 20-vertex polygons, 5 % masks, through the db functions), then measures, each in its own child
 * process so that its peak RSS is its own:
 *   - COCO export (images 'none'): wall time and peak RSS of the process, --runs times, median
 *     reported, each run followed by its baseline: one JSON.stringify of the same content (the
 *     exported files, parsed first, only the stringify timed; median, and the median of the
 *     runs' ratios); and once the naive exporter, one COCO object per split built in memory
 *     and written with one JSON.stringify, at full scale or, if that fails, at 1/10 scale
 *   - YOLO-seg export (images 'none'): wall time
 *   - COCO import: importDataset of the exported COCO files into a new dataset, which reads and
 *     checks the JSON, probes and hashes every image file, matches classes and writes everything
 *     in one transaction; --runs times, median reported. The image files are distinct 640x480
 *     PNGs and JPEGs made once in the temp folder (one encoded image plus a per-file text chunk
 *     or comment, so every hash differs) and reached through links named like the exported
 *     images/<split>/ folders.
 *     baselines on the same files: JSON.parse of each file, and pycocotools' COCO() load of each
 *     when `python3 -c "import pycocotools"` works (otherwise the column says why it is empty)
 * Options: --images N, --annotations N, --runs N, --json, --keep (leave the work folder)
 */
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import zlib from 'node:zlib';
import sharp from 'sharp';
import { encodeMask, rleArea } from '../src-main/common/geometry';
import type { Geometry, Split } from '../src-main/common/model';
import { insertAnnotations, type NewAnnotation } from '../src-main/db/annotations';
import { insertClass, listClasses } from '../src-main/db/classes';
import { insertImages, type NewImage } from '../src-main/db/images';
import { Dataset } from '../src-main/services/dataset';
import { exportDataset, type ExportOptions } from '../src-main/services/interchange/exportDataset';
import { importDataset } from '../src-main/services/interchange/importDataset';
import { assignSplits } from '../src-main/services/interchange/splits';

const { values } = parseArgs({
  options: {
    images: { type: 'string', default: '20000' },
    annotations: { type: 'string', default: '200000' },
    runs: { type: 'string', default: '3' },
    json: { type: 'boolean', default: false },
    phase: { type: 'string' },
    db: { type: 'string' },
    out: { type: 'string' },
    scale: { type: 'string', default: '1' },
    keep: { type: 'boolean', default: false },
  },
});
const N_IMAGES = Number(values.images);
const N_ANN = Number(values.annotations);
const W = 640;
const H = 480;

function log(msg: string): void {
  if (!values.json) process.stderr.write(`${msg}\n`);
}

function peakRssMiB(): number {
  return process.resourceUsage().maxRSS / 1024;
}

const imageName = (i: number) => `im_${String(i).padStart(6, '0')}.${i % 2 ? 'jpg' : 'png'}`;

/**
 * Distinct 640x480 images, even numbers PNG and odd numbers JPEG: one encoded image of each,
 * every copy with its own PNG tEXt chunk before IEND or JPEG comment after SOI.
 */
async function pngFolder(n: number): Promise<string> {
  const dir = path.join(os.tmpdir(), `tessera-bench-io-pngjpg-${W}x${H}-${n}`);
  const done = path.join(dir, '.complete');
  if (fs.existsSync(done)) return dir;
  log(`generating ${n} PNGs in ${dir} (once)...`);
  fs.mkdirSync(dir, { recursive: true });
  const base = await sharp({ create: { width: W, height: H, channels: 3, background: { r: 90, g: 120, b: 60 } } }).png().toBuffer();
  const iend = base.length - 12;
  const jpg = await sharp({ create: { width: W, height: H, channels: 3, background: { r: 90, g: 120, b: 60 } } }).jpeg().toBuffer();
  for (let i = 0; i < n; i++) {
    if (i % 2) {
      const text = Buffer.from(`tessera bench ${i}`, 'latin1');
      const com = Buffer.alloc(4 + text.length);
      com.writeUInt16BE(0xfffe, 0);
      com.writeUInt16BE(2 + text.length, 2);
      text.copy(com, 4);
      fs.writeFileSync(path.join(dir, imageName(i)), Buffer.concat([jpg.subarray(0, 2), com, jpg.subarray(2)]));
      continue;
    }
    const data = Buffer.from(`Comment\0tessera bench ${i}`, 'latin1');
    const chunk = Buffer.alloc(12 + data.length);
    chunk.writeUInt32BE(data.length, 0);
    chunk.write('tEXt', 4, 'latin1');
    data.copy(chunk, 8);
    chunk.writeUInt32BE(zlib.crc32(chunk.subarray(4, 8 + data.length)), 8 + data.length);
    fs.writeFileSync(path.join(dir, imageName(i)), Buffer.concat([base.subarray(0, iend), chunk, base.subarray(iend)]));
  }
  fs.writeFileSync(done, '');
  return dir;
}

/** A small blob mask, made once per offset and reused (the RLE is what is exported). */
const maskCache = new Map<number, Geometry>();
function maskAt(k: number): Geometry {
  const key = k % 50;
  let g = maskCache.get(key);
  if (!g) {
    const m = new Uint8Array(W * H);
    const cx = 100 + key * 9;
    const cy = 120 + key * 5;
    for (let y = cy - 30; y < cy + 30; y++) for (let x = cx - 40; x < cx + 40; x++) if (((x - cx) / 40) ** 2 + ((y - cy) / 30) ** 2 < 1) m[y * W + x] = 1;
    const rle = encodeMask(m, W, H);
    if (rleArea(rle) === 0) throw new Error('empty bench mask');
    g = { kind: 'mask', rle };
    maskCache.set(key, g);
  }
  return g;
}

function geometryFor(i: number): Geometry {
  const r = i % 20;
  if (r === 0) return maskAt(i);
  if (r < 8) {
    const pts: number[] = [];
    const cx = 60 + ((i * 37) % (W - 120));
    const cy = 60 + ((i * 53) % (H - 120));
    for (let k = 0; k < 20; k++) {
      const a = (k / 20) * Math.PI * 2;
      pts.push(Math.round((cx + Math.cos(a) * 41.3) * 10) / 10, Math.round((cy + Math.sin(a) * 27.7) * 10) / 10);
    }
    return { kind: 'polygon', parts: [pts] };
  }
  return { kind: 'box', x: (i * 7) % (W - 60), y: (i * 3) % (H - 40), w: 50.5, h: 32.25 };
}

async function build(file: string): Promise<void> {
  const ds = await Dataset.create(file);
  const db = ds.db;
  const classes: number[] = [];
  for (let k = 0; k < 20; k++) classes.push((await insertClass(db, { name: `class_${k}`, color: '#336699' })).id);
  const rows: NewImage[] = Array.from({ length: N_IMAGES }, (_, i) => ({
    path: `images/${imageName(i)}`,
    external: false,
    contentHash: `fake${i}`,
    fileSize: 1,
    fileMtimeMs: 0,
    width: W,
    height: H,
    channels: 3,
    bitDepth: 8,
    format: i % 2 ? 'jpeg' : 'png',
    frames: 1,
    orientation: 1,
  }));
  const ids = await insertImages(db, rows);
  const BATCH = 50_000;
  for (let made = 0; made < N_ANN; ) {
    const batch: NewAnnotation[] = [];
    for (let k = 0; k < BATCH && made < N_ANN; k++, made++) {
      const imageId = ids[Math.floor((made * ids.length) / N_ANN)]!;
      batch.push({ imageId, classId: classes[(made * 7919) % classes.length]!, geometry: geometryFor(made), source: 'human' });
    }
    await insertAnnotations(db, batch);
  }
  await assignSplits(ds, { ratios: [0.8, 0.1, 0.1], seed: 1, stratify: true, only: 'all' });
  await ds.close();
}

function exportOpts(outDir: string, format: ExportOptions['format']): ExportOptions {
  return { outDir, format, only: 'all', withPredictions: false, images: 'none', strict: false, cocoSegmentation: 'polygon' };
}

/**
 * The naive exporter: everything in memory, one JSON.stringify per split. Annotations are read
 * with .all() per split, the usual first version of an exporter.
 */
async function naiveCocoExport(dbFile: string, outDir: string, scale: number): Promise<{ images: number; annotations: number }> {
  const ds = await Dataset.open(dbFile);
  const db = ds.db;
  fs.mkdirSync(path.join(outDir, 'annotations'), { recursive: true });
  const classes = await listClasses(db);
  const catId = new Map(classes.map((c, i) => [c.id, i + 1]));
  const maxId = Math.ceil(N_IMAGES * scale);
  let nImages = 0;
  let nAnn = 0;
  for (const split of ['train', 'val', 'test'] as Split[]) {
    const images = await db.prepare('SELECT id, path, width, height FROM images WHERE split = ? AND id <= ? ORDER BY id').all(split, maxId) as {
      id: number;
      path: string;
      width: number;
      height: number;
    }[];
    const anns = await db
      .prepare('SELECT a.id, a.image_id, a.class_id, a.geometry, a.attributes FROM annotations a JOIN images i ON i.id = a.image_id WHERE i.split = ? AND i.id <= ? ORDER BY a.id')
      .all(split, maxId) as { id: number; image_id: number; class_id: number; geometry: string; attributes: string }[];
    const doc = {
      images: images.map((im) => ({ id: im.id, file_name: path.basename(im.path), width: im.width, height: im.height })),
      categories: classes.map((c, i) => ({ id: i + 1, name: c.name })),
      annotations: anns.map((a) => {
        const g = JSON.parse(a.geometry) as Geometry;
        let bbox = [0, 0, 0, 0];
        let segmentation: unknown = [];
        if (g.kind === 'box') bbox = [g.x, g.y, g.w, g.h];
        else if (g.kind === 'polygon') {
          const xs = g.parts[0]!.filter((_, k) => k % 2 === 0);
          const ys = g.parts[0]!.filter((_, k) => k % 2 === 1);
          bbox = [Math.min(...xs), Math.min(...ys), Math.max(...xs) - Math.min(...xs), Math.max(...ys) - Math.min(...ys)];
          segmentation = g.parts;
        } else if (g.kind === 'mask') segmentation = g.rle;
        return { id: a.id, image_id: a.image_id, category_id: catId.get(a.class_id), bbox, segmentation, iscrowd: 0, attributes: JSON.parse(a.attributes) };
      }),
    };
    fs.writeFileSync(path.join(outDir, 'annotations', `instances_${split}.json`), JSON.stringify(doc));
    nImages += images.length;
    nAnn += anns.length;
  }
  await ds.close();
  return { images: nImages, annotations: nAnn };
}

/** Runs one measurement in this process and prints its JSON (child side). */
async function phase(name: string): Promise<void> {
  const dbFile = values.db!;
  const out = values.out!;
  // The writers are loaded before the clock starts, as the app has them loaded (bundled): their
  // TypeScript compiled by tsx on first use is not export time.
  if (name === 'coco-export') await import('../src-main/services/interchange/formats/coco');
  if (name === 'yolo-seg-export') await import('../src-main/services/interchange/formats/index');
  const t = performance.now();
  let extra: Record<string, unknown> = {};
  if (name === 'coco-export' || name === 'yolo-seg-export') {
    const ds = await Dataset.open(dbFile);
    const r = await exportDataset(ds, exportOpts(out, name === 'coco-export' ? 'coco' : 'yolo-seg'));
    extra = { images: r.images, annotations: r.annotations, warnings: r.warnings.map((w) => `${w.kind} ${w.count}`) };
    await ds.close();
  } else if (name === 'naive-coco-export') {
    extra = await naiveCocoExport(dbFile, out, Number(values.scale));
  } else if (name === 'json-parse' || name === 'json-stringify') {
    // The exported files: parsed (timed for json-parse), then, for json-stringify, one
    // JSON.stringify of the same content, timed alone.
    const files = cocoFiles(out);
    let chars = 0;
    const docs = files.map((f) => JSON.parse(fs.readFileSync(f, 'utf8')) as unknown);
    if (name === 'json-stringify') {
      const t1 = performance.now();
      for (const d of docs) chars += JSON.stringify(d).length;
      process.stdout.write(JSON.stringify({ ms: performance.now() - t1, rssMiB: peakRssMiB(), chars }));
      return;
    }
  } else if (name === 'coco-import') {
    const ds = await Dataset.create(path.join(path.dirname(out), `import-${Date.now()}.tessera`), out);
    const r = await importDataset(ds, { path: out, format: 'coco', allowOutsideRoot: true });
    extra = { images: r.images, annotations: r.annotations.total, problems: r.problems.length };
    await ds.close();
  } else throw new Error(`unknown phase ${name}`);
  const ms = performance.now() - t;
  process.stdout.write(JSON.stringify({ ms, rssMiB: peakRssMiB(), ...extra }));
}

function cocoFiles(out: string): string[] {
  const dir = path.join(out, 'annotations');
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => path.join(dir, f));
}

/** pycocotools' COCO() load of each file, in one Python process; or why it cannot run. */
function pycocotools(out: string): PhaseResult | { error: string } {
  const probe = spawnSync('python3', ['-c', 'import pycocotools'], { encoding: 'utf8' });
  if (probe.error) return { error: `python3 not runnable (${probe.error.message})` };
  if (probe.status !== 0) return { error: `python3 -c "import pycocotools" fails: ${probe.stderr.trim().split('\n').pop()}` };
  const script = [
    'import json, resource, sys, time',
    'from pycocotools.coco import COCO',
    't = time.perf_counter()',
    'for f in sys.argv[1:]: COCO(f)',
    'ms = (time.perf_counter() - t) * 1000',
    'print(json.dumps({"ms": ms, "rssMiB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))',
  ].join('\n');
  const r = spawnSync('python3', ['-c', script, ...cocoFiles(out)], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) return { error: `pycocotools load failed: ${r.stderr.trim().split('\n').pop()}` };
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as PhaseResult;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

interface PhaseResult {
  ms: number;
  rssMiB: number;
  [k: string]: unknown;
}

function child(name: string, db: string, out: string, scale = 1): PhaseResult | { error: string } {
  try {
    const stdout = execFileSync(
      process.execPath,
      [...process.execArgv, process.argv[1]!, '--phase', name, '--db', db, '--out', out, '--scale', String(scale), '--images', String(N_IMAGES), '--annotations', String(N_ANN)],
      { encoding: 'utf8', maxBuffer: 1 << 20, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    return JSON.parse(stdout) as PhaseResult;
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    return { error: (err.stderr ?? err.message).split('\n').filter((l) => /Error|heap|memory/i.test(l))[0] ?? err.message.slice(0, 200) };
  }
}

async function main(): Promise<void> {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-bench-io-'));
  const dbFile = path.join(work, 'bench.tessera');
  const pngs = await pngFolder(N_IMAGES);
  log(`building ${N_IMAGES} images, ${N_ANN} annotations...`);
  let t = performance.now();
  await build(dbFile);
  log(`  built in ${((performance.now() - t) / 1000).toFixed(1)} s`);

  // The export and its JSON.stringify baseline, alternately, --runs times: medians of each, and
  // the ratio of each pair, measured moments apart on a shared machine.
  const cocoOut = path.join(work, 'coco');
  const runs = Math.max(1, Number(values.runs));
  const exports: PhaseResult[] = [];
  const stringifies: PhaseResult[] = [];
  const ratios: number[] = [];
  for (let k = 0; k < runs; k++) {
    log(`COCO export, run ${k + 1}...`);
    fs.rmSync(cocoOut, { recursive: true, force: true });
    const one = child('coco-export', dbFile, cocoOut);
    if ('error' in one) throw new Error(`COCO export failed: ${one.error}`);
    exports.push(one);
    const base = child('json-stringify', dbFile, cocoOut);
    if ('error' in base) {
      log(`  JSON.stringify baseline failed: ${base.error}`);
      continue;
    }
    stringifies.push(base);
    ratios.push(one.ms / base.ms);
    log(`  export ${(one.ms / 1000).toFixed(2)} s, JSON.stringify ${(base.ms / 1000).toFixed(2)} s: ${(one.ms / base.ms).toFixed(2)} ×`);
  }
  const coco: PhaseResult = { ...exports[0]!, ms: median(exports.map((r) => r.ms)), rssMiB: median(exports.map((r) => r.rssMiB)) };
  const stringify: PhaseResult | { error: string } = stringifies.length
    ? { ms: median(stringifies.map((r) => r.ms)), rssMiB: median(stringifies.map((r) => r.rssMiB)) }
    : { error: 'every run failed' };
  const jsonBytes = fs.readdirSync(path.join(cocoOut, 'annotations')).reduce((n, f) => n + fs.statSync(path.join(cocoOut, 'annotations', f)).size, 0);

  log('naive COCO export...');
  let naiveScale = 1;
  let naive = child('naive-coco-export', dbFile, path.join(work, 'naive'));
  if ('error' in naive) {
    log(`  full scale failed (${naive.error}); at 1/10 scale`);
    naiveScale = 0.1;
    fs.rmSync(path.join(work, 'naive'), { recursive: true, force: true });
    naive = child('naive-coco-export', dbFile, path.join(work, 'naive'), naiveScale);
  }
  fs.rmSync(path.join(work, 'naive'), { recursive: true, force: true });

  log('YOLO-seg export...');
  const yolo = child('yolo-seg-export', dbFile, path.join(work, 'yolo-seg'));
  if ('error' in yolo) throw new Error(`YOLO-seg export failed: ${yolo.error}`);
  fs.rmSync(path.join(work, 'yolo-seg'), { recursive: true, force: true });

  log('COCO import...');
  // The exported files name images/<split>/<name>; each split folder links to the PNG folder.
  fs.mkdirSync(path.join(cocoOut, 'images'), { recursive: true });
  for (const s of ['train', 'val', 'test']) fs.symlinkSync(pngs, path.join(cocoOut, 'images', s), 'dir');
  const imports: PhaseResult[] = [];
  const parses: PhaseResult[] = [];
  for (let k = 0; k < runs; k++) {
    const one = child('coco-import', dbFile, cocoOut);
    if ('error' in one) throw new Error(`COCO import failed: ${one.error}`);
    imports.push(one);
    const parsed = child('json-parse', dbFile, cocoOut);
    if ('error' in parsed) throw new Error(`JSON.parse baseline failed: ${parsed.error}`);
    parses.push(parsed);
    log(`  run ${k + 1}: import ${(one.ms / 1000).toFixed(2)} s, ${Math.round(one.rssMiB)} MiB; JSON.parse ${(parsed.ms / 1000).toFixed(2)} s`);
  }
  const imp: PhaseResult = { ...imports[0]!, ms: median(imports.map((r) => r.ms)), rssMiB: median(imports.map((r) => r.rssMiB)) };
  const parse: PhaseResult = { ms: median(parses.map((r) => r.ms)), rssMiB: median(parses.map((r) => r.rssMiB)) };
  const py = pycocotools(cocoOut);

  const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
  const mib = (m: number) => `${Math.round(m)} MiB`;
  const stringifyCell = 'error' in stringify ? `failed: ${stringify.error}` : `${s(stringify.ms)} (one JSON.stringify of the same content), median of ${stringifies.length}`;
  const pyCell = 'error' in py ? `empty: ${py.error}` : `${s(py.ms)}, ${mib(py.rssMiB)} RSS (pycocotools COCO())`;
  const importTarget = 'error' in py ? '≤ 1.5 × pycocotools, < 1 GB' : `≤ ${s(py.ms * 1.5)}, < 1 GB: ${imp.ms <= py.ms * 1.5 && imp.rssMiB < 1024 ? 'met' : 'missed'}`;
  const exportTarget = 'error' in stringify ? '≤ JSON.stringify' : `≤ ${s(stringify.ms)}: ${coco.ms <= stringify.ms ? 'met' : 'missed'} (${median(ratios).toFixed(2)} ×, median of the runs' ratios)`;
  const naiveCell = 'error' in naive ? `failed: ${naive.error}` : `${s(naive.ms)}, ${mib(naive.rssMiB)} RSS${naiveScale < 1 ? ' (1/10 scale)' : ''}`;
  const rows = [
    ['metric', 'Tessera', 'baseline', 'target'],
    ['---', '---', '---', '---'],
    [
      `COCO export (${N_IMAGES.toLocaleString('en')} images, ${N_ANN.toLocaleString('en')} annotations, ${(jsonBytes / 2 ** 20).toFixed(0)} MiB JSON)`,
      `${s(coco.ms)}, ${mib(coco.rssMiB)} RSS, median of ${runs}`,
      stringifyCell,
      exportTarget,
    ],
    ['naive exporter (same dataset)', '', `${naiveCell} (objects built in memory, one JSON.stringify per split)`, ''],
    ['YOLO-seg export (same dataset)', s(yolo.ms), '', ''],
    [
      `COCO import of that export (read + probe ${N_IMAGES.toLocaleString('en')} PNG/JPEG files + one write), median of ${runs}`,
      `${s(imp.ms)}, ${mib(imp.rssMiB)} RSS`,
      pyCell,
      importTarget,
    ],
    ['JSON.parse of the same files, median of ' + runs, '', `${s(parse.ms)}, ${mib(parse.rssMiB)} RSS`, ''],
  ];
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ coco, exports, naive: { ...naive, scale: naiveScale }, stringify, stringifies, ratios, yolo, import: imp, imports, parse, parses, pycocotools: py, jsonBytes }, null, 1)}\n`);
  } else {
    process.stdout.write(`${rows.map((r) => `| ${r.join(' | ')} |`).join('\n')}\n`);
    log(`checks: COCO export ${JSON.stringify({ images: coco['images'], annotations: coco['annotations'] })}, import ${JSON.stringify({ images: imp['images'], annotations: imp['annotations'], problems: imp['problems'] })}`);
  }
  if (values.keep) log(`work folder kept: ${work}`);
  else fs.rmSync(work, { recursive: true, force: true });
}

if (values.phase) {
  phase(values.phase).catch((e: unknown) => {
    process.stderr.write(`Error: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  });
} else {
  main().catch((e: unknown) => {
    process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  });
}
