#!/usr/bin/env node
// The `tessera` command: runs the TypeScript CLI (src-main/cli) through tsx, so it works straight
// after `npm install` with no build step.
import { register } from 'tsx/esm/api';

register();
const { runCli } = await import('../src-main/cli/main.ts');
const code = await runCli(process.argv.slice(2), {
  out: (s) => process.stdout.write(`${s}\n`),
  err: (s) => process.stderr.write(`${s}\n`),
  tty: Boolean(process.stderr.isTTY),
});
process.exitCode = code;
