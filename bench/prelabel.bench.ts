/**
 * Pre-labeling benchmark (`npm run bench:prelabel`). On the 32 coco_tinycoco images, per model:
 *   (a) raw `session.run` throughput on one fixed preprocessed tensor, in this thread: the ceiling
 *   (b) end-to-end throughput of runPrelabel, from image file to stored annotations, through the
 *       inference worker the app uses
 *   (a) and (b) alternate pass by pass, so load from elsewhere on the machine falls on both
 *   (c) b / a
 *   and p50/p95 of "pre-label this image" (runPrelabel with one image id, as `prelabel:run` does),
 *   from request to stored result.
 * Both sides use the same session options (onnxruntime's default intra-op threads unless
 * --threads N). Targets: b/a >= 0.85 for yolov8n_int8, single-image p95 < 150 ms for both.
 * The classifier (mobilenetv2-12-int8, top-5 stored as image tags) runs on the same images; the
 * nuclei U-Net (unet2d_nuclei_broad, 16-bit stardist image, z-scored) runs on its one image, once
 * storing the foreground mask and once its instances split by the watershed, 4 x --rounds times.
 * Options: --rounds N (passes over the 32 images, default 7 = 224 inferences), --threads N,
 * --json
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { parseManifest } from '../src-main/common/inference/manifest';
import type { DetectTimings, ModelManifest } from '../src-main/common/inference/types';
import { float32Tensor, getSession, preprocess, releaseSessions } from '../src-main/inference/index';
import { detect } from '../src-main/inference/pool';
import { Dataset } from '../src-main/services/dataset';
import { importImages } from '../src-main/services/importer';
import { closeInferenceBackend, detectInput, runPrelabel, type Detector } from '../src-main/services/prelabel';
import { listImages } from '../src-main/db/images';
import { median, pct } from './stats';
import { mobilenetManifest, yolov8nInt8Manifest } from '../test/helpers/models';
import { unetManifest } from '../test/helpers/semanticModels';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '7' },
    threads: { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});
const ROUNDS = Number(values.rounds);
const THREADS = values.threads ? Number(values.threads) : undefined;

const root = path.resolve(import.meta.dirname, '..', '..', 'shared');
const imagesDir = path.join(root, 'datasets', 'coco_tinycoco', 'images', 'train2017');
const nucleiDir = path.join(root, 'datasets', 'tiff16_stardist_dsb2018');
const modelsDir = path.join(root, 'models');

function log(msg: string): void {
  if (!values.json) process.stderr.write(`${msg}\n`);
}

function yolov8nInt8(): BenchModel {
  const file = path.join(modelsDir, 'yolov8n_int8.onnx');
  const manifest = yolov8nInt8Manifest(file);
  return { manifest, file, size: [320, 320] };
}

function yoloxNano(): BenchModel {
  const json = path.resolve(import.meta.dirname, '..', 'models', 'yolox-nano.json');
  const file = path.join(modelsDir, 'yolox_nano.onnx');
  return { manifest: { ...parseManifest(JSON.parse(fs.readFileSync(json, 'utf8')), json), file }, file, size: [416, 416] };
}

function mobilenet(): BenchModel {
  const file = path.join(modelsDir, 'mobilenetv2-12-int8.onnx');
  return { manifest: mobilenetManifest(file, path.join(modelsDir, 'imagenet_labels.json')), file, size: [224, 224] };
}

function unet(instances: boolean): BenchModel {
  const file = path.join(modelsDir, 'unet2d_nuclei_broad.onnx');
  const m = unetManifest(file, instances ? { split: 'watershed', minArea: 10, fillHoles: true } : undefined);
  return { manifest: instances ? { ...m, id: `${m.id}-instances` } : m, file, size: [512, 512], images: { dir: nucleiDir, files: ['img2d.tif'] }, passes: 4, label: `unet2d_nuclei_broad${instances ? ' + watershed instances' : ' (foreground mask)'}` };
}

/**
 * The detector inferenceBackend builds (the worker pool's detect), written out here so that the
 * worker's own stage timings can be kept and --threads can reach its session key.
 */
function detectorFor(stages: DetectTimings[]): Detector {
  return {
    async detect(req) {
      const r = await detect({ file: req.modelFile, providers: req.providers, ...(THREADS ? { intraOpThreads: THREADS } : {}) }, detectInput(req), req.manifest, { score: req.conf, iou: req.iou });
      stages.push(r.timings);
      return { detections: r.detections, provider: r.provider, ms: r.timings.preMs + r.timings.runMs + r.timings.postMs, warnings: r.warnings, ...(r.semantic ? { semantic: r.semantic } : {}) };
    },
  };
}

interface Row {
  model: string;
  rawPerS: number;
  rawMedianMs: number;
  e2ePerS: number;
  ratio: number;
  singleP50: number;
  singleP95: number;
  /** Median per-image stage times inside the worker during (b). */
  stages: DetectTimings;
}

/** A model as the benchmark runs it: every test model has a fixed input size. */
interface BenchModel {
  manifest: ModelManifest;
  file: string;
  size: [number, number];
  /** Images other than the coco_tinycoco ones. */
  images?: { dir: string; files: string[] };
  /** Passes over the images per round (default 1). */
  passes?: number;
  /** Name in the table (default: the file's). */
  label?: string;
}

async function benchModel({ manifest: m, file, size, images, passes = 1, label }: BenchModel, files: string[], ds: Dataset, ids: number[]): Promise<Row> {
  const n = files.length * ROUNDS * passes;
  // (a) raw session.run on one preprocessed tensor, in this thread.
  const { session } = await getSession(file, THREADS ? { intraOpThreads: THREADS } : {});
  const inputName = m.input ?? session.inputNames[0]!;
  const meta = session.inputMetadata.find((x) => x.name === inputName);
  const dims = (meta?.isTensor ? meta.shape : []).map((d) => (typeof d === 'number' ? d : 1));
  let feeds: Record<string, ReturnType<typeof float32Tensor>>;
  if (m.task === 'semantic') {
    // What the model is fed does not change its run time: the input is made once, z-scored noise.
    const count = dims.reduce((a, b) => a * b, 1);
    const noise = new Float32Array(count);
    for (let i = 0; i < count; i++) noise[i] = Math.random() * 2 - 1;
    feeds = { [inputName]: float32Tensor(noise, dims) };
  } else {
    const pre = await preprocess(path.join(images?.dir ?? imagesDir, files[0]!), m, size);
    feeds = { [inputName]: float32Tensor(pre.tensor, [1, 3, size[0], size[1]]) };
  }
  for (let i = 0; i < 10; i++) for (const t of Object.values(await session.run(feeds))) t.dispose();
  // (b) runPrelabel over all images through the worker; the first call loads its session.
  const stages: DetectTimings[] = [];
  const detector = detectorFor(stages);
  await runPrelabel(ds, detector, { manifest: m, modelFile: file, imageIds: ids.slice(0, 4), skipLabeled: false });
  stages.length = 0;
  // (a) and (b) alternate, one pass over the images each per round, so that whatever else the
  // machine is doing meanwhile weighs on both sides alike.
  const runs: number[] = [];
  let rawMs = 0;
  let e2eMs = 0;
  for (let r = 0; r < ROUNDS * passes; r++) {
    const a0 = performance.now();
    for (let i = 0; i < files.length; i++) {
      const t = performance.now();
      const out = await session.run(feeds);
      runs.push(performance.now() - t);
      for (const o of Object.values(out)) o.dispose();
    }
    rawMs += performance.now() - a0;
    const b0 = performance.now();
    await runPrelabel(ds, detector, { manifest: m, modelFile: file, imageIds: ids, skipLabeled: false });
    e2eMs += performance.now() - b0;
  }
  const rawPerS = n / (rawMs / 1000);
  const e2ePerS = n / (e2eMs / 1000);
  await releaseSessions();
  const profile = { preMs: median(stages.map((s) => s.preMs)), runMs: median(stages.map((s) => s.runMs)), postMs: median(stages.map((s) => s.postMs)) };

  // Single image, request to stored result, as `prelabel:run` with scope {imageIds: [id]}.
  const single: number[] = [];
  for (let r = 0; r < Math.max(2, Math.ceil(16 / ids.length)); r++) {
    for (const id of ids) {
      const t = performance.now();
      await runPrelabel(ds, detector, { manifest: m, modelFile: file, imageIds: [id], skipLabeled: false });
      single.push(performance.now() - t);
    }
  }
  return {
    model: label ?? path.basename(file, '.onnx'),
    rawPerS,
    rawMedianMs: median(runs),
    e2ePerS,
    ratio: e2ePerS / rawPerS,
    singleP50: median(single),
    singleP95: pct(single, 95),
    stages: profile,
  };
}

async function main(): Promise<void> {
  if (!fs.existsSync(imagesDir) || !fs.existsSync(modelsDir)) {
    console.log(`skipped: ${imagesDir} or ${modelsDir} is absent`);
    return;
  }
  const files = fs.readdirSync(imagesDir).filter((f) => /\.jpe?g$/i.test(f)).sort();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-bench-prelabel-'));
  const rows: Row[] = [];
  try {
    const only = process.env['BENCH_MODELS']?.split(',');
    const models = [yolov8nInt8(), yoloxNano(), mobilenet(), ...(fs.existsSync(nucleiDir) ? [unet(false), unet(true)] : [])].filter((m) => !only || only.includes(m.manifest.id));
    for (const m of models) {
      // A fresh dataset per model, so stored predictions of one do not slow the other's writes.
      const dir = m.images?.dir ?? imagesDir;
      const ds = await Dataset.create(path.join(work, `${m.manifest.id}.tessera`), dir);
      await importImages(ds, { paths: m.images ? m.images.files.map((f) => path.join(dir, f)) : [imagesDir] });
      const ids = (await listImages(ds.db, {}, 0, 1000)).map((i) => i.id);
      log(`${m.manifest.id}: ${ids.length} images x ${ROUNDS * (m.passes ?? 1)} rounds, intra-op threads ${THREADS ?? 'default'}, ${os.availableParallelism()} cores`);
      rows.push(await benchModel(m, m.images?.files ?? files, ds, ids));
      await ds.close();
    }
  } finally {
    await closeInferenceBackend();
    fs.rmSync(work, { recursive: true, force: true });
  }
  if (values.json) {
    console.log(JSON.stringify({ threads: THREADS ?? null, rounds: ROUNDS, rows }, null, 2));
    return;
  }
  const f = (x: number, d = 1) => x.toFixed(d);
  console.log('| model | (a) raw session.run img/s (median ms) | (b) Tessera file→stored img/s | worker pre (incl. waiting on the run before it) / run / post ms | (c) b/a | single image p50 / p95 ms | targets |');
  console.log('|---|---|---|---|---|---|---|');
  for (const r of rows) {
    const detector = r.model === 'yolov8n_int8' || r.model === 'yolox_nano';
    const target = detector ? `${r.model === 'yolov8n_int8' ? `b/a ≥ 0.85 ${r.ratio >= 0.85 ? 'met' : 'MISSED'}; ` : ''}p95 < 150 ${r.singleP95 < 150 ? 'met' : 'MISSED'}` : '—';
    console.log(`| ${r.model} | ${f(r.rawPerS)} (${f(r.rawMedianMs)}) | ${f(r.e2ePerS)} | ${f(r.stages.preMs)} / ${f(r.stages.runMs)} / ${f(r.stages.postMs)} | ${f(r.ratio, 2)} | ${f(r.singleP50)} / ${f(r.singleP95)} | ${target} |`);
  }
}

await main();
