/**
 * Spinning benchmark (`npm run bench:threads`): onnxruntime's idle intra-op threads spinning or
 * sleeping, on an idle machine and beside a busy neighbour (another process burning one core, as
 * the app's UI or a second job would). yolov8n_int8 runs one fixed preprocessed image in this
 * thread with one session per setting, both with the same intra-op threads (one per physical core
 * unless --threads N); the settings alternate run by run, so load from elsewhere falls on both.
 * Prints the median run time of each, and off ÷ on (below 1: sleeping threads are faster).
 * Bounded: --runs N per setting and phase (default 40), stops a phase after --seconds S (default 30).
 * Options: --runs N, --seconds S, --threads N, --json
 */
import { spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { float32Tensor, getSession, preprocess, releaseSessions } from '../src-main/inference/index';
import { physicalCores } from '../src-main/inference/threads';
import { median } from './stats';
import { printTable } from './table';
import { yolov8nInt8Manifest } from '../test/helpers/models';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '40' },
    seconds: { type: 'string', default: '30' },
    threads: { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});
const RUNS = Number(values.runs);
const SECONDS = Number(values.seconds);
const THREADS = values.threads ? Number(values.threads) : physicalCores();

const root = path.resolve(import.meta.dirname, '..', '..', 'shared');
const file = path.join(root, 'models', 'yolov8n_int8.onnx');
const image = path.join(root, 'datasets', 'coco_tinycoco', 'images', 'train2017', '000000397133.jpg');

/** A process that keeps one core busy until killed. */
function neighbour(): ChildProcess {
  return spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' });
}

async function phase(name: string, busy: boolean): Promise<{ phase: string; runs: number; onMs: number; offMs: number }> {
  const manifest = yolov8nInt8Manifest(file);
  const pre = await preprocess(image, manifest, [320, 320]);
  const feeds = { images: float32Tensor(pre.tensor, [1, 3, 320, 320]) };
  const sessions = {
    on: (await getSession(file, { intraOpThreads: THREADS, spinning: true })).session,
    off: (await getSession(file, { intraOpThreads: THREADS, spinning: false })).session,
  };
  // Warm both up before timing.
  for (const s of Object.values(sessions)) for (let i = 0; i < 3; i++) await s.run(feeds);
  const child = busy ? neighbour() : null;
  const times = { on: [] as number[], off: [] as number[] };
  try {
    if (child) await new Promise((r) => setTimeout(r, 300));
    const end = performance.now() + SECONDS * 1000;
    for (let i = 0; i < RUNS && performance.now() < end; i++) {
      for (const k of i % 2 === 0 ? (['on', 'off'] as const) : (['off', 'on'] as const)) {
        const t0 = performance.now();
        const out = await sessions[k].run(feeds);
        times[k].push(performance.now() - t0);
        for (const t of Object.values(out)) t.dispose();
      }
    }
  } finally {
    child?.kill();
  }
  return { phase: name, runs: times.on.length, onMs: median(times.on), offMs: median(times.off) };
}

const rows = [await phase('no neighbour started', false), await phase('one core busy beside it', true)];
await releaseSessions();
if (values.json) console.log(JSON.stringify({ threads: THREADS, cores: os.availableParallelism(), rows }, null, 2));
else {
  const load = os.loadavg().map((l) => l.toFixed(1)).join(' ');
  console.log(`yolov8n_int8 (320), ${THREADS} intra-op threads, ${os.availableParallelism()} logical cores, load average ${load}; median session.run`);
  printTable(
    ['phase', 'runs each', 'spinning on', 'spinning off', 'off ÷ on'],
    rows.map((r) => [r.phase, String(r.runs), `${r.onMs.toFixed(1)} ms`, `${r.offMs.toFixed(1)} ms`, (r.offMs / r.onMs).toFixed(2)]),
  );
}
