/**
 * Run as a child process (tsx): places the export in argv[2] into argv[3] (overwrite or merge,
 * argv[4]) and kills itself with SIGKILL at the placement step argv[5], leaving what a process
 * killed there leaves.
 */
import fs from 'node:fs';
import path from 'node:path';
import { EXPORT_MARKER, placeExport, placementSteps, type IfExists } from '../../src-main/services/interchange/exportPlace';

const [tmp, outDir, ifExists, at] = process.argv.slice(2) as [string, string, IfExists, string];
fs.writeFileSync(path.join(tmp, EXPORT_MARKER), `${process.pid}\n`);
placementSteps.step = (name) => {
  if (name === at) process.kill(process.pid, 'SIGKILL');
};
await placeExport(tmp, outDir, ifExists, { inDataset: async () => true });
process.stdout.write('placed\n');
