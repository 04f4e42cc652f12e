import { runCli } from './main';

/**
 * The `tessera` process: runs the command line over this process's stdout and stderr. Built to
 * out/main/cli.js with the app; scripts/tessera.mjs runs that build, or this file through tsx.
 */
const code = await runCli(process.argv.slice(2), {
  out: (s) => process.stdout.write(`${s}\n`),
  err: (s) => process.stderr.write(`${s}\n`),
  tty: Boolean(process.stderr.isTTY),
});
process.exitCode = code;
