#!/usr/bin/env node
// Browser mode: builds the renderer if needed and serves it with the real services on
// 127.0.0.1, printing a URL that carries a one-time random token (Enter prints a fresh one).
// Paths the app may use are confined to the --root folders (default: the home folder).
//   npm run web [-- --port 5199] [--no-build] [--root <folder>]...
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { register } from 'tsx/esm/api';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    'no-build': { type: 'boolean', default: false },
    'config-dir': { type: 'string' },
    root: { type: 'string', multiple: true },
  },
});

const staticDir = path.join(root, 'out', 'renderer');
if (!values['no-build'] || !fs.existsSync(path.join(staticDir, 'index.html'))) {
  const r = spawnSync(process.execPath, [path.join(root, 'node_modules', 'electron-vite', 'bin', 'electron-vite.js'), 'build'], {
    cwd: root,
    stdio: 'inherit',
  });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

register();
const { startWebServer } = await import('../src-main/web/server.ts');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
const server = await startWebServer({
  staticDir,
  configDir: values['config-dir'] ?? path.join(os.homedir(), '.config', 'tessera-web'),
  version: pkg.version,
  port: Number(values.port),
  roots: values.root ?? [os.homedir()],
});
console.log(`Tessera (browser mode) at ${server.url}`);
console.log(`Datasets, imports, exports and models are limited to: ${server.roots.join(', ')} (--root DIR, once per folder, sets them).`);
console.log('Only this machine can connect; the link works once. Enter prints a new link; Ctrl+C stops.');
if (process.stdin.isTTY) {
  process.stdin.on('data', () => console.log(`New one-time link: ${server.newUrl()}`));
}
const stop = async () => {
  await server.close();
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
