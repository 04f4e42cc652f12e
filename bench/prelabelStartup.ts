/**
 * Pre-labeling start-up, part of `npm run bench:cli` (bench/cli.bench.ts):
 *   - `tessera prelabel` on a dataset of one coco_tinycoco image with yolov8n_int8, as installed
 *     (the build), from spawn to exit: with the .onnx file (inspected, then run) and with a
 *     manifest; and the same through the TypeScript source (tsx)
 *   - in this process, with the inference worker built beside the CLI: time to the first
 *     detection of a first job (worker start and model load included) and of a second job on the
 *     same worker, as the app runs them
 *   - the bare `session.run` of the model on one preprocessed image, in this thread
 * Cases alternate round by round, so that the machine's load falls on all of them alike.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { float32Tensor, getSession, preprocess, releaseSessions } from '../src-main/inference/index';
import { InferencePool } from '../src-main/inference/pool';
import { Dataset } from '../src-main/services/dataset';
import { importImages } from '../src-main/services/importer';
import { detectInput, runPrelabel, type Detector } from '../src-main/services/prelabel';
import { listImages } from '../src-main/db/images';
import { yolov8nInt8Manifest } from '../test/helpers/models';
import { median } from './stats';

export interface StartupRow {
  case: string;
  medianMs: number;
  /** Median ÷ the bare session.run median. */
  vsRun: number;
}

function detectorOf(pool: InferencePool): Detector {
  return {
    async detect(req) {
      const r = await pool.detect({ file: req.modelFile, providers: req.providers }, detectInput(req), req.manifest, { score: req.conf, iou: req.iou });
      return { detections: r.detections, provider: r.provider, ms: r.timings.preMs + r.timings.runMs + r.timings.postMs, warnings: r.warnings };
    },
  };
}

/** Null with a reason when the shared model or images are absent. */
export async function prelabelStartup(root: string, bin: string, dir: string, runs: number, log: (s: string) => void): Promise<StartupRow[] | string> {
  const shared = path.resolve(root, '..', 'shared');
  const model = path.join(shared, 'models', 'yolov8n_int8.onnx');
  const imagesDir = path.join(shared, 'datasets', 'coco_tinycoco', 'images', 'train2017');
  if (!fs.existsSync(model) || !fs.existsSync(imagesDir)) return `${model} or ${imagesDir} is absent`;
  const image = path.join(imagesDir, fs.readdirSync(imagesDir).filter((f) => /\.jpe?g$/i.test(f)).sort()[0]!);
  const manifestFile = path.join(dir, 'yolov8n_int8.json');
  const manifest = yolov8nInt8Manifest(model);
  fs.writeFileSync(manifestFile, JSON.stringify(manifest));
  const db = path.join(dir, 'one.tessera');
  const ds = Dataset.create(db, imagesDir);
  await importImages(ds, { paths: [image] });
  const ids = listImages(ds.db, {}, 0, 10).map((i) => i.id);
  ds.close();
  const workerEntry = pathToFileURL(path.join(root, 'out', 'main', 'inferenceWorker.js'));

  const spawn = (args: string[], env: NodeJS.ProcessEnv): number => {
    const t0 = performance.now();
    const r = spawnSync(process.execPath, [bin, ...args], { cwd: root, env: { ...process.env, ...env }, encoding: 'utf8' });
    const ms = performance.now() - t0;
    if (r.status !== 0) throw new Error(`tessera ${args.join(' ')} exited with ${r.status}: ${r.stderr}`);
    return ms;
  };
  const cli = (modelArg: string, env: NodeJS.ProcessEnv) => () => spawn(['prelabel', db, '--model', modelArg, '--json'], env);

  // Bare session.run in this thread, on one preprocessed image.
  const { session } = await getSession(model);
  const inputName = session.inputNames[0]!;
  const pre = await preprocess(image, manifest, [320, 320]);
  const feeds = { [inputName]: float32Tensor(pre.tensor, [1, 3, 320, 320]) };
  const bareRun = async (): Promise<number> => {
    const t = performance.now();
    const out = await session.run(feeds);
    const ms = performance.now() - t;
    for (const o of Object.values(out)) o.dispose();
    return ms;
  };
  for (let i = 0; i < 5; i++) await bareRun();

  /** A first and a second one-image job on a fresh worker: time to each job's first detection. */
  const twoJobs = async (): Promise<[number, number]> => {
    const pool = new InferencePool({ size: 1, entry: workerEntry });
    const detector = detectorOf(pool);
    const ds = Dataset.open(db);
    try {
      const job = async (): Promise<number> => {
        const t0 = performance.now();
        let first = 0;
        await runPrelabel(ds, detector, { manifest, modelFile: model, imageIds: ids, skipLabeled: false }, { onProgress: (p) => void (p.done > 0 && first === 0 && (first = performance.now() - t0)) });
        return first;
      };
      return [await job(), await job()];
    } finally {
      ds.close();
      await pool.close();
    }
  };

  const cases: { name: string; run: () => number | Promise<number> | Promise<[number, number]> }[] = [
    { name: 'tessera prelabel, 1 image, model.onnx (build)', run: cli(model, { TESSERA_CLI: 'build' }) },
    { name: 'tessera prelabel, 1 image, manifest.json (build)', run: cli(manifestFile, { TESSERA_CLI: 'build' }) },
    { name: 'tessera prelabel, 1 image, model.onnx (source, tsx)', run: cli(model, { TESSERA_CLI: 'source' }) },
    { name: 'in process: first job, first detection (worker start + load)', run: twoJobs },
    { name: 'bare session.run (this thread)', run: bareRun },
  ];
  const names = [...cases.map((c) => c.name)];
  names.splice(4, 0, 'in process: second job on the same worker, first detection');
  const times = names.map(() => [] as number[]);
  // One untimed round warms the file cache and tsx's compile cache.
  for (const c of cases) await c.run();
  for (let r = 0; r < runs; r++) {
    log(`prelabel start-up round ${r + 1}/${runs}`);
    for (const [i, c] of cases.entries()) {
      const v = await c.run();
      if (Array.isArray(v)) {
        times[3]!.push(v[0]);
        times[4]!.push(v[1]);
      } else times[i < 3 ? i : 5]!.push(v);
    }
  }
  await releaseSessions();
  const run = median(times[5]!);
  return names.map((name, i) => ({ case: name, medianMs: median(times[i]!), vsRun: median(times[i]!) / run }));
}
