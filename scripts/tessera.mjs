#!/usr/bin/env node
// The `tessera` command: runs the CLI built with the app (out/main/cli.js) when that build is
// current, else the TypeScript source (src-main/cli) through tsx; scripts/build-state.mjs holds the
// rule. Either way it works straight after `npm install`.
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { cliEntry } from './build-state.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
let entry;
try {
  entry = cliEntry(root);
} catch (e) {
  process.stderr.write(`tessera: ${e.message}\n`);
  process.exit(2);
}
if (entry.kind === 'source') {
  if (process.stderr.isTTY && process.env.TESSERA_CLI !== 'source') process.stderr.write(`tessera: running from source, slower to start: ${entry.reason}\n`);
  const { register } = await import('tsx/esm/api');
  register();
}
await import(pathToFileURL(entry.file).href);
