/**
 * Pre-labeling start-up, part of `npm run bench:cli` (bench/cli.bench.ts):
 *   - `tessera prelabel` on a dataset of one coco_tinycoco image with yolov8n_int8, as installed
 *     (the build), from spawn to exit: with the .onnx file (inspected, then run) and with a
 *     manifest; and the same through the TypeScript source (tsx)
 *   - in this process, with the inference worker built beside the CLI: time to the first
 *     detection of a first job (worker start and model load included), of a second job and of a
 *     try of the same model on the same worker, as the app runs them (it fails if the worker
 *     loaded the model more than once)
 *   - with --baseline, another checkout's `tessera prelabel` (its own build) beside this one's
 *   - the bare `session.run` of the model on one preprocessed image, in this thread
 * Cases alternate round by round, so that the machine's load falls on all of them alike.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { float32Tensor, getSession, preprocess, releaseSessions } from '../src-main/inference/index';
import { Dataset } from '../src-main/services/dataset';
import { importImages } from '../src-main/services/importer';
import { createInferenceBackend } from '../src-main/services/inference';
import { runPrelabel, tryModel } from '../src-main/services/prelabel';
import { listImages } from '../src-main/db/images';
import { yolov8nInt8Manifest } from '../test/helpers/models';
import { median } from './stats';

export interface StartupRow {
  case: string;
  medianMs: number;
  /** Median ÷ the bare session.run median. */
  vsRun: number;
}

/**
 * The rows, or why there are none (the shared model or images are absent). `baseline`, another
 * checkout's scripts/tessera.mjs with its own build, adds its `tessera prelabel` beside this one's.
 */
export async function prelabelStartup(root: string, bin: string, dir: string, runs: number, log: (s: string) => void, baseline?: string): Promise<StartupRow[] | string> {
  const shared = path.resolve(root, '..', 'shared');
  const model = path.join(shared, 'models', 'yolov8n_int8.onnx');
  const imagesDir = path.join(shared, 'datasets', 'coco_tinycoco', 'images', 'train2017');
  if (!fs.existsSync(model) || !fs.existsSync(imagesDir)) return `${model} or ${imagesDir} is absent`;
  const image = path.join(imagesDir, fs.readdirSync(imagesDir).filter((f) => /\.jpe?g$/i.test(f)).sort()[0]!);
  const manifestFile = path.join(dir, 'yolov8n_int8.json');
  const manifest = yolov8nInt8Manifest(model);
  fs.writeFileSync(manifestFile, JSON.stringify(manifest));
  const db = path.join(dir, 'one.tessera');
  const ds = await Dataset.create(db, imagesDir);
  await importImages(ds, { paths: [image] });
  const ids = (await listImages(ds.db, {}, 0, 10)).map((i) => i.id);
  await ds.close();
  const workerEntry = pathToFileURL(path.join(root, 'out', 'main', 'inferenceWorker.js'));

  const spawn = (args: string[], env: NodeJS.ProcessEnv, command = bin): number => {
    const t0 = performance.now();
    const r = spawnSync(process.execPath, [command, ...args], { cwd: root, env: { ...process.env, ...env }, encoding: 'utf8' });
    const ms = performance.now() - t0;
    if (r.status !== 0) throw new Error(`tessera ${args.join(' ')} exited with ${r.status}: ${r.stderr}`);
    return ms;
  };
  const cli = (modelArg: string, env: NodeJS.ProcessEnv, command = bin) => () => spawn(['prelabel', db, '--model', modelArg, '--json'], env, command);

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

  /**
   * As the app runs them, on a fresh backend over the built worker: a first job (worker start,
   * model load), a second job and a try of the same model, each timed to its first detection.
   */
  const jobs = async (): Promise<number[]> => {
    const backend = createInferenceBackend({ size: 1, entry: workerEntry });
    const ds = await Dataset.open(db);
    try {
      const job = async (): Promise<number> => {
        const t0 = performance.now();
        let first = 0;
        await runPrelabel(ds, backend.detector, { manifest, modelFile: model, imageIds: ids, skipLabeled: false }, { onProgress: (p) => void (p.done > 0 && first === 0 && (first = performance.now() - t0)) });
        return first;
      };
      const tryIt = async (): Promise<number> => {
        const t0 = performance.now();
        await tryModel(ds, backend.detector, { manifest, modelFile: model, imageId: ids[0]! });
        return performance.now() - t0;
      };
      const times = [await job(), await job(), await tryIt()];
      const stats = await backend.stats();
      if (stats.loads !== 1) throw new Error(`the model was loaded ${stats.loads} times in one worker`);
      return times;
    } finally {
      await ds.close();
      await backend.close();
    }
  };

  type Case = { names: string[]; run: () => number | Promise<number> | Promise<number[]> };
  const cases: Case[] = [
    ...(baseline ? [{ names: ['baseline checkout: tessera prelabel, 1 image, model.onnx (build)'], run: cli(model, { TESSERA_CLI: 'build' }, baseline) }] : []),
    { names: ['tessera prelabel, 1 image, model.onnx (build)'], run: cli(model, { TESSERA_CLI: 'build' }) },
    ...(baseline ? [{ names: ['baseline checkout: tessera prelabel, 1 image, manifest.json (build)'], run: cli(manifestFile, { TESSERA_CLI: 'build' }, baseline) }] : []),
    { names: ['tessera prelabel, 1 image, manifest.json (build)'], run: cli(manifestFile, { TESSERA_CLI: 'build' }) },
    { names: ['tessera prelabel, 1 image, model.onnx (source, tsx)'], run: cli(model, { TESSERA_CLI: 'source' }) },
    {
      names: ['in process: first job, first detection (worker start + load)', 'in process: second job, same worker, first detection', 'in process: try (one image) after them, same worker'],
      run: jobs,
    },
    { names: ['bare session.run (this thread)'], run: bareRun },
  ];
  const names = cases.flatMap((c) => c.names);
  const times = names.map(() => [] as number[]);
  // One untimed round warms the file cache and tsx's compile cache.
  for (const c of cases) await c.run();
  for (let r = 0; r < runs; r++) {
    log(`prelabel start-up round ${r + 1}/${runs}`);
    for (const c of cases) {
      const v = await c.run();
      (Array.isArray(v) ? v : [v]).forEach((ms, k) => times[names.indexOf(c.names[k]!)]!.push(ms));
    }
  }
  await releaseSessions();
  const run = median(times.at(-1)!);
  return names.map((name, i) => ({ case: name, medianMs: median(times[i]!), vsRun: median(times[i]!) / run }));
}
