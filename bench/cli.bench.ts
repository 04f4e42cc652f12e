/**
 * Command-line start-up benchmark (`npm run bench:cli`). Times whole processes, from spawn to
 * exit, interleaved round by round so that the machine's load falls on every case alike:
 *   - baseline: `node -e 0`, the floor any Node command pays
 *   - `tessera --help` and `tessera info <dataset>` as installed (scripts/tessera.mjs), which
 *     runs the build out/main/cli.js (built first when missing or older than src-main)
 *   - the same two through the TypeScript source (TESSERA_CLI=source: tsx), the development
 *     fallback
 * The dataset is a new one with 3 small PNGs and a class. Target: the built `--help` and `info`
 * under 300 ms median.
 * Then pre-labeling start-up (bench/prelabelStartup.ts): `tessera prelabel` on one image with
 * yolov8n_int8 from spawn to exit, and the first detection of a first and a second job in one
 * process, beside the bare session.run of the model.
 * Options: --runs N (default 21), --prelabel-runs N (default 7, 0 leaves that part out),
 * --baseline DIR (another checkout, built, whose `tessera prelabel` runs beside this one's), --json
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { cliEntry } from '../scripts/build-state.mjs';
import { runBench } from './report';
import { median, pct } from './stats';
import { printTable } from './table';
import { prelabelStartup } from './prelabelStartup';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: { runs: { type: 'string', default: '21' }, 'prelabel-runs': { type: 'string', default: '7' }, baseline: { type: 'string' }, json: { type: 'boolean', default: false } } });
const RUNS = Number(values.runs);
const PRELABEL_RUNS = Number(values['prelabel-runs']);
const BIN = path.join(root, 'scripts', 'tessera.mjs');
const TARGET_MS = 300;

function run(args: string[], env: NodeJS.ProcessEnv = {}): number {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, args, { cwd: root, env: { ...process.env, ...env }, encoding: 'utf8' });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`node ${args.join(' ')} exited with ${r.status}: ${r.stderr}`);
  return ms;
}

async function main(): Promise<void> {
  if (cliEntry(root).kind !== 'build') {
    process.stderr.write('building (the CLI build is missing or older than src-main)...\n');
    const b = spawnSync(process.execPath, [path.join(root, 'node_modules', 'electron-vite', 'bin', 'electron-vite.js'), 'build'], { cwd: root, stdio: 'ignore' });
    if (b.status !== 0 || cliEntry(root).kind !== 'build') throw new Error('electron-vite build failed');
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-bench-cli-'));
  try {
    const db = path.join(dir, 'small.tessera');
    for (let i = 0; i < 3; i++) {
      await sharp({ create: { width: 64, height: 48, channels: 3, background: { r: 40 * i, g: 90, b: 200 } } }).png().toFile(path.join(dir, `img${i}.png`));
    }
    run([BIN, 'init', db, '--root', dir]);
    run([BIN, 'import', db, dir]);

    const cases: { name: string; args: string[]; env?: NodeJS.ProcessEnv }[] = [
      { name: 'node -e 0 (baseline)', args: ['-e', '0'] },
      { name: 'tessera --help (build)', args: [BIN, '--help'], env: { TESSERA_CLI: '' } },
      { name: 'tessera info (build)', args: [BIN, 'info', db], env: { TESSERA_CLI: '' } },
      { name: 'tessera --help (source, tsx)', args: [BIN, '--help'], env: { TESSERA_CLI: 'source' } },
      { name: 'tessera info (source, tsx)', args: [BIN, 'info', db], env: { TESSERA_CLI: 'source' } },
    ];
    // One untimed round warms the file cache and tsx's compile cache.
    for (const c of cases) run(c.args, c.env);
    const times = cases.map(() => [] as number[]);
    for (let r = 0; r < RUNS; r++) cases.forEach((c, i) => times[i]!.push(run(c.args, c.env)));

    const base = median(times[0]!);
    const results = cases.map((c, i) => ({ case: c.name, medianMs: median(times[i]!), p90Ms: pct(times[i]!, 90), vsBaseline: median(times[i]!) / base }));
    const prelabel = PRELABEL_RUNS > 0 ? await prelabelStartup(root, BIN, dir, PRELABEL_RUNS, (s) => values.json || process.stderr.write(`${s}\n`), values.baseline ? path.resolve(values.baseline, 'scripts', 'tessera.mjs') : undefined) : 'left out (--prelabel-runs 0)';
    if (values.json) {
      console.log(JSON.stringify({ runs: RUNS, targetMs: TARGET_MS, results, prelabel: { runs: PRELABEL_RUNS, rows: prelabel } }, null, 2));
    } else {
      console.log(`\ntessera start-up, ${RUNS} runs each, wall time per process (${os.cpus().length} cores, load ${os.loadavg()[0]!.toFixed(1)})`);
      printTable(
        ['case', 'median ms', 'p90 ms', 'x node -e 0', `target < ${TARGET_MS} ms`],
        results.map((r, i) => [r.case, r.medianMs.toFixed(0), r.p90Ms.toFixed(0), r.vsBaseline.toFixed(1), i === 1 || i === 2 ? (r.medianMs < TARGET_MS ? 'ok' : 'MISSED') : '']),
      );
      const [, help, info, srcHelp, srcInfo] = results;
      console.log(`build vs source: --help ${(srcHelp!.medianMs / help!.medianMs).toFixed(1)}x faster, info ${(srcInfo!.medianMs / info!.medianMs).toFixed(1)}x faster`);
      if (typeof prelabel === 'string') console.log(`\npre-labeling start-up: ${prelabel}`);
      else {
        console.log(`\npre-labeling start-up, yolov8n_int8 on 1 coco_tinycoco image, ${PRELABEL_RUNS} runs each (load ${os.loadavg()[0]!.toFixed(1)})`);
        printTable(['case', 'median ms', '÷ bare session.run'], prelabel.map((r) => [r.case, r.medianMs.toFixed(1), r.vsRun.toFixed(1)]));
      }
    }
    if (results[1]!.medianMs >= TARGET_MS || results[2]!.medianMs >= TARGET_MS) process.exitCode = 1;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

runBench(main);
