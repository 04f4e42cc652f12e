#!/usr/bin/env node
// Builds (or downloads) better-sqlite3 for Electron's ABI into node_modules/.cache, leaving the
// Node build in node_modules/better-sqlite3 untouched for tests and the CLI. The app finds it
// through TESSERA_SQLITE_BINDING. Needs the internet once (Electron headers or a prebuilt).
// Prints the path of the binding on success.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(path.join(root, 'package.json'));

export function electronVersion() {
  return JSON.parse(fs.readFileSync(require.resolve('electron/package.json'), 'utf8')).version;
}

export function bindingPath() {
  const sqliteVersion = JSON.parse(fs.readFileSync(require.resolve('better-sqlite3/package.json'), 'utf8')).version;
  return path.join(
    root,
    'node_modules',
    '.cache',
    'tessera-electron',
    `better-sqlite3-${sqliteVersion}-electron-${electronVersion()}-${process.platform}-${process.arch}.node`,
  );
}

export function ensureElectronBinding() {
  const target = bindingPath();
  if (fs.existsSync(target)) return target;
  const version = electronVersion();
  const src = path.dirname(require.resolve('better-sqlite3/package.json'));
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-sqlite-electron-'));
  const pkgDir = path.join(work, 'better-sqlite3');
  fs.cpSync(src, pkgDir, { recursive: true, filter: (p) => !p.includes(`${path.sep}build${path.sep}`) && !p.endsWith(`${path.sep}build`) });
  const built = path.join(pkgDir, 'build', 'Release', 'better_sqlite3.node');
  const run = (cmd, args) => spawnSync(cmd, args, { cwd: pkgDir, stdio: 'inherit', env: { ...process.env, npm_config_runtime: 'electron', npm_config_target: version } });

  console.log(`Preparing better-sqlite3 for Electron ${version} (one time)...`);
  const prebuild = require.resolve('prebuild-install/bin.js', { paths: [src] });
  let r = run(process.execPath, [prebuild, '--runtime', 'electron', '--target', version, '--arch', process.arch, '--platform', process.platform]);
  if (r.status !== 0 || !fs.existsSync(built)) {
    console.log('No prebuilt binary; compiling against the Electron headers (needs a C++ toolchain)...');
    r = run('npx', ['--yes', 'node-gyp', 'rebuild', '--release', `--target=${version}`, '--runtime=electron', '--dist-url=https://electronjs.org/headers']);
  }
  if (r.status !== 0 || !fs.existsSync(built)) {
    throw new Error('could not build better-sqlite3 for Electron; check the internet connection and the C++ toolchain');
  }
  fs.mkdirSync(path.dirname(target), { recursive: true });
  fs.copyFileSync(built, target);
  fs.rmSync(work, { recursive: true, force: true });
  return target;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    console.log(ensureElectronBinding());
  } catch (e) {
    console.error(`tessera: ${e.message}`);
    process.exit(1);
  }
}
