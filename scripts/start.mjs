#!/usr/bin/env node
// `npm start`: makes sure the Electron binary and an Electron build of better-sqlite3 exist
// (both fetched once, which needs the internet), builds the app and launches it.
// `npm run dev` does the same with hot reload.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureElectronBinding } from './electron-native.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dev = process.argv.includes('--dev');
const electronDir = path.join(root, 'node_modules', 'electron');

function electronInstalled() {
  const pathFile = path.join(electronDir, 'path.txt');
  return fs.existsSync(pathFile) && fs.existsSync(path.join(electronDir, 'dist', fs.readFileSync(pathFile, 'utf8')));
}

try {
  if (!electronInstalled()) {
    console.log('Downloading the Electron runtime (one time)...');
    const r = spawnSync(process.execPath, [path.join(electronDir, 'install.js')], { stdio: 'inherit' });
    if (r.status !== 0 || !electronInstalled()) {
      throw new Error('the Electron runtime could not be downloaded. Without internet, use the browser mode: npm run web');
    }
  }
  const binding = ensureElectronBinding();
  const cli = path.join(root, 'node_modules', 'electron-vite', 'bin', 'electron-vite.js');
  const child = spawn(process.execPath, [cli, dev ? 'dev' : 'preview'], {
    cwd: root,
    stdio: 'inherit',
    env: { ...process.env, TESSERA_SQLITE_BINDING: binding },
  });
  child.on('exit', (code) => process.exit(code ?? 0));
} catch (e) {
  console.error(`tessera: ${e.message}`);
  process.exit(1);
}
