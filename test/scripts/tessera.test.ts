import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { cliEntry, staleness } from '../../scripts/build-state.mjs';
import { repoRoot, sharedPath, tempDir } from '../helpers/shared';
import { makeImages } from '../helpers/images';
import { yolov8nInt8Manifest } from '../helpers/models';

const BIN = path.join(repoRoot, 'scripts', 'tessera.mjs');

describe('which CLI the tessera command runs', () => {
  /** A checkout with a source tree and, when asked, a build, every file dated `at` seconds. */
  function checkout(withBuild: boolean): string {
    const root = tempDir('tessera-entry-');
    const files = ['src-main/cli/bin.ts', 'src-main/cli/main.ts', 'src-main/db/open.ts', 'electron.vite.config.ts', ...(withBuild ? ['out/main/cli.js'] : [])];
    for (const f of files) {
      fs.mkdirSync(path.dirname(path.join(root, f)), { recursive: true });
      fs.writeFileSync(path.join(root, f), '');
    }
    const old = new Date('2026-01-01T00:00:00Z');
    for (const p of [...files, 'src-main/cli', 'src-main/db', 'src-main']) fs.utimesSync(path.join(root, p), old, old);
    return root;
  }
  const later = new Date('2026-01-01T00:00:10Z');

  it('runs the build when it is not older than anything under src-main', () => {
    const root = checkout(true);
    fs.utimesSync(path.join(root, 'out/main/cli.js'), later, later);
    expect(cliEntry(root, undefined)).toEqual({ kind: 'build', file: path.join(root, 'out/main/cli.js'), reason: null });
    // Same time as the sources counts as current.
    fs.utimesSync(path.join(root, 'src-main/db/open.ts'), later, later);
    expect(cliEntry(root, undefined).kind).toBe('build');
  });

  it('runs the source when there is no build, or a source file, a folder (file added or removed) or the build config is newer', () => {
    expect(cliEntry(checkout(false), undefined)).toMatchObject({ kind: 'source', reason: expect.stringContaining('out/main/cli.js does not exist') });
    for (const newer of ['src-main/db/open.ts', 'src-main/cli', 'electron.vite.config.ts']) {
      const root = checkout(true);
      fs.utimesSync(path.join(root, newer), later, later);
      expect(cliEntry(root, undefined)).toEqual({ kind: 'source', file: path.join(root, 'src-main/cli/bin.ts'), reason: `${newer} is newer than out/main/cli.js (npm run build updates it)` });
    }
    // A real removal: the folder's time moves on.
    const root = checkout(true);
    fs.rmSync(path.join(root, 'src-main/db/open.ts'));
    expect(cliEntry(root, undefined)).toMatchObject({ kind: 'source', reason: expect.stringMatching(/^src-main\/db is newer/) });
  });

  it('TESSERA_CLI=source or build overrides the rule; a copy without sources runs its build', () => {
    const root = checkout(true);
    fs.utimesSync(path.join(root, 'out/main/cli.js'), later, later);
    expect(cliEntry(root, 'source')).toMatchObject({ kind: 'source', reason: 'TESSERA_CLI=source' });
    fs.utimesSync(path.join(root, 'src-main/cli/main.ts'), new Date('2026-02-01'), new Date('2026-02-01'));
    expect(cliEntry(root, 'build').kind).toBe('build');
    expect(() => cliEntry(checkout(false), 'build')).toThrow(/out\/main\/cli\.js does not exist/);
    fs.rmSync(path.join(root, 'src-main'), { recursive: true });
    expect(cliEntry(root, undefined).kind).toBe('build');
  });
});

/**
 * Runs the tessera command, listing the CommonJS modules it loaded (native add-ons and their
 * packages): in all its threads, in the main thread, and in its worker threads.
 */
function traced(args: string[], env: NodeJS.ProcessEnv = {}): { code: number | null; out: string; err: string; packages: Set<string>; main: Set<string>; workers: Set<string>[] } {
  const dir = tempDir('tessera-trace-');
  const probe = path.join(dir, 'probe.cjs');
  // The preload runs in every thread (workers inherit execArgv); each writes its own list.
  fs.writeFileSync(
    probe,
    `const wt = require('node:worker_threads');\n` +
      `process.on('exit', () => require('node:fs').writeFileSync(require('node:path').join(${JSON.stringify(dir)}, 'loaded-' + (wt.isMainThread ? 'main' : 'worker-' + wt.threadId) + '.json'), JSON.stringify(Object.keys(require.cache))));\n`,
  );
  const r = spawnSync(process.execPath, ['--require', probe, BIN, ...args], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, TESSERA_CLI: '', ...env } });
  const packagesOf = (file: string): Set<string> => {
    const loaded = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as string[];
    return new Set(loaded.map((f) => /node_modules[\\/]((?:@[^\\/]+[\\/])?[^\\/]+)/.exec(f)?.[1]).filter((p): p is string => p !== undefined));
  };
  const main = packagesOf('loaded-main.json');
  const workers = fs.readdirSync(dir).filter((f) => f.startsWith('loaded-worker-')).map(packagesOf);
  return { code: r.status, out: r.stdout, err: r.stderr, packages: new Set([main, ...workers].flatMap((p) => [...p])), main, workers };
}

describe('the built tessera command', () => {
  beforeAll(() => {
    // npm test builds first; alone, this file builds when the CLI build is missing or stale.
    if (staleness(repoRoot, 'out/main/cli.js', ['src-main'])) {
      const r = spawnSync(process.execPath, [path.join(repoRoot, 'node_modules', 'electron-vite', 'bin', 'electron-vite.js'), 'build'], { cwd: repoRoot, stdio: 'ignore', timeout: 300_000 });
      expect(r.status).toBe(0);
    }
    expect(cliEntry(repoRoot, undefined).kind).toBe('build');
  }, 320_000);

  it('runs out/main/cli.js without compiling TypeScript, and --help and info load neither sharp nor onnxruntime-node', async () => {
    const help = traced(['--help']);
    expect(help.code).toBe(0);
    expect(help.out).toMatch(/^usage:\n {2}tessera init/);
    const dir = tempDir();
    const db = path.join(dir, 'd.tessera');
    expect(traced(['init', db]).code).toBe(0);
    const info = traced(['info', db]);
    expect(info.code).toBe(0);
    expect(info.out).toMatch(/^dataset {4}.*d\.tessera$/m);
    for (const r of [help, info]) {
      expect(r.packages.has('esbuild')).toBe(false);
      expect(r.packages.has('sharp')).toBe(false);
      expect(r.packages.has('onnxruntime-node')).toBe(false);
    }
    // The trace does see what a command loads: an image import needs sharp, and the source path compiles.
    await makeImages(path.join(dir, 'imgs'));
    const imp = traced(['import', db, path.join(dir, 'imgs')]);
    expect(imp.code).toBe(0);
    expect(imp.packages.has('sharp')).toBe(true);
    expect(traced(['--help'], { TESSERA_CLI: 'source' }).packages.has('esbuild')).toBe(true);
  });

  const model = sharedPath('models/yolov8n_int8.onnx');
  const image = sharedPath('datasets/coco_tinycoco/images/train2017/000000397133.jpg');
  it.runIf(model && image)('pre-labels through the inference worker built beside it', () => {
    const dir = tempDir();
    const db = path.join(dir, 'd.tessera');
    const manifest = path.join(dir, 'yolov8n.json');
    fs.writeFileSync(manifest, JSON.stringify(yolov8nInt8Manifest(model!)));
    expect(traced(['init', db, '--root', path.dirname(image!)]).code).toBe(0);
    expect(traced(['import', db, image!]).code).toBe(0);
    const r = traced(['prelabel', db, '--model', manifest, '--provider', 'cpu', '--json']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ images: 1, done: 1, failed: 0, provider: 'cpu' });
    expect(JSON.parse(r.out).detections).toBeGreaterThan(0);
    expect(r.packages.has('esbuild')).toBe(false);
    // One worker ran the model; the main thread never loads onnxruntime.
    expect(r.workers).toHaveLength(1);
    expect(r.workers[0]!.has('onnxruntime-node')).toBe(true);
    expect(r.main.has('onnxruntime-node')).toBe(false);
  });

  it.runIf(model && image)('inspects a model file given as .onnx in the inference worker, which then runs it: the main thread loads no onnxruntime', () => {
    const dir = tempDir();
    const db = path.join(dir, 'd.tessera');
    expect(traced(['init', db, '--root', path.dirname(image!)]).code).toBe(0);
    expect(traced(['import', db, image!]).code).toBe(0);
    const r = traced(['prelabel', db, '--model', model!, '--json']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ images: 1, done: 1, failed: 0, provider: 'cpu' });
    expect(r.main.has('onnxruntime-node')).toBe(false);
    expect(r.workers).toHaveLength(1);
    expect(r.workers[0]!.has('onnxruntime-node')).toBe(true);
    expect(r.workers[0]!.has('esbuild')).toBe(false);
    // The trace does see a worker started through tsx: the source path compiles in the worker too.
    const src = traced(['prelabel', db, '--model', model!, '--json'], { TESSERA_CLI: 'source' });
    expect(src.code).toBe(0);
    expect(src.workers[0]!.has('esbuild')).toBe(true);
  });
});
