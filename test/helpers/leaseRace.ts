/**
 * Run as a child process (`node --import tsx`): one of several processes taking the leases of the
 * same images at the same moment. argv[2] is a JSON `LeaseRaceTask`. It opens the dataset, prints
 * `ready`, waits for a line on stdin (the parent sends it to every process once all are ready),
 * then takes every image's lease at once and prints the answers as one JSON line.
 */
import readline from 'node:readline';
import { Dataset } from '../../src-main/services/dataset';
import { takeLease } from '../../src-main/team/work';

export interface LeaseRaceTask {
  dataset: string;
  imageIds: number[];
  user: string;
  session: string;
  ttlMs: number;
}

async function main(): Promise<void> {
  const task = JSON.parse(process.argv[2]!) as LeaseRaceTask;
  const ds = await Dataset.open(task.dataset);
  try {
    const lines = readline.createInterface({ input: process.stdin });
    const go = new Promise<void>((resolve) => lines.once('line', () => resolve()));
    process.stdout.write('ready\n');
    await go;
    lines.close();
    const results = await Promise.all(task.imageIds.map((id) => takeLease(ds, id, task.user, task.session, task.ttlMs)));
    process.stdout.write(`${JSON.stringify(results)}\n`);
  } finally {
    await ds.close();
  }
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
