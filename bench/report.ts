import os from 'node:os';

/** The closing sentence of a browser benchmark's notes: the machine's load when it started and ended. */
export function loadNote(loadAtStart: number): string {
  return `Load average (1 min) at start / end: ${loadAtStart.toFixed(1)} / ${os.loadavg()[0]!.toFixed(1)} on ${os.cpus().length} cores.`;
}

/** Prints the page's uncaught errors (the first three distinct) and marks the run failed when there were any. */
export function reportPageErrors(errors: readonly string[]): void {
  if (errors.length === 0) return;
  console.error(`page errors (${errors.length}): ${[...new Set(errors)].slice(0, 3).join('; ')}`);
  process.exitCode = 1;
}

/** Runs a benchmark's main function, exiting with status 1 on an error. */
export function runBench(main: () => Promise<void>): void {
  main().catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
}
