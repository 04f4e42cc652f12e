/**
 * Embedding throughput: images per second of computeEmbeddings (the whole job: read, decode,
 * resize, run in the inference worker in batches of 16, pool, normalise, store in SQLite) over
 * the coco_tinycoco images with the shared MobileNetV2 (output "embedding", 1,280 values), beside
 * bare `session.run` on the same images already preprocessed (4 per run as the job runs them on
 * the CPU, and 16 and 1 per run), with the ratio. Medians over EMBED_BENCH_RUNS runs (default 5), interleaved, after one warm-up of each; both
 * use the same thread settings.
 * Run alone: npx tsx -e "import('./bench/embed/throughput.ts').then(m=>m.run())"
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runCli } from '../../src-main/cli/main';
import type { ModelManifest } from '../../src-main/common/inference/types';
import { CPU_RUN_BATCH, embedModelInput } from '../../src-main/inference/embed';
import { float32Tensor, getSession, releaseSessions } from '../../src-main/inference/sessions';
import { threadSettings } from '../../src-main/inference/threads';
import { Dataset } from '../../src-main/services/dataset';
import { computeEmbeddings } from '../../src-main/services/embeddings';
import { closeInferenceBackend, inferenceBackend } from '../../src-main/services/inference';
import { median } from '../stats';
import { printTable } from '../table';
import { mobilenetEmbedManifest } from '../../test/helpers/models';

const RUNS = Number(process.env['EMBED_BENCH_RUNS'] ?? 5);
const BATCH = 16;

export async function run(): Promise<void> {
  const shared = path.resolve(import.meta.dirname, '..', '..', '..', 'shared');
  const model = path.join(shared, 'models', 'mobilenetv2-12-int8-with-embedding.onnx');
  const images = path.join(shared, 'datasets', 'coco_tinycoco', 'images', 'train2017');
  if (!fs.existsSync(model) || !fs.existsSync(images)) {
    console.log(`embed throughput: skipped (${model} or ${images} is not present)`);
    return;
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-bench-embed-'));
  const quiet = { out: () => {}, err: (s: string) => console.error(s), tty: false };
  const db = path.join(dir, 'd.tessera');
  if ((await runCli(['init', db, '--root', images], quiet)) !== 0 || (await runCli(['import', db, images], quiet)) !== 0) throw new Error('could not make the benchmark dataset');
  const m = mobilenetEmbedManifest(model);
  const threads = threadSettings('batch');
  const ds = await Dataset.open(db);
  const n = await ds.db.prepare('SELECT COUNT(*) FROM images').pluck().get() as number;
  try {
    const { embedder } = await inferenceBackend();
    const job = async (): Promise<number> => {
      const s = await computeEmbeddings(ds, { model: { manifest: m, file: model }, images: 'all', batchSize: BATCH, embedder, threads });
      if (s.computed !== n) throw new Error(`computed ${s.computed} of ${n} images`);
      return n / (s.ms / 1000);
    };
    // The same images preprocessed once, then only session.run, in this thread.
    const paths = (await ds.db.prepare('SELECT path FROM images ORDER BY id').pluck().all() as string[]).map((p) => path.join(images, p));
    const tensors = await Promise.all(paths.map((p) => embedModelInput(p, m, [224, 224])));
    const { session } = await getSession(model, { intraOpThreads: threads.threads, spinning: threads.spinning });
    const plane = 3 * 224 * 224;
    const bare = async (batch: number): Promise<number> => {
      const t0 = performance.now();
      for (let s = 0; s < n; s += batch) {
        const part = tensors.slice(s, s + batch);
        const feed = new Float32Array(part.length * plane);
        part.forEach((t, i) => feed.set(t, i * plane));
        const r = await session.run({ input: float32Tensor(feed, [part.length, 3, 224, 224]) }, ['embedding']);
        for (const t of Object.values(r)) t.dispose();
      }
      return n / ((performance.now() - t0) / 1000);
    };
    // One warm-up of each, then the three interleaved run by run, so that load from elsewhere
    // on the machine falls on all of them alike.
    await job();
    await bare(BATCH);
    const jobRuns: number[] = [];
    const batched: number[] = [];
    const single: number[] = [];
    const four: number[] = [];
    if (CPU_RUN_BATCH !== 4) throw new Error('the baseline below runs 4 images per session.run, as the job does');
    for (let i = 0; i < RUNS; i++) {
      jobRuns.push(await job());
      batched.push(await bare(BATCH));
      four.push(await bare(4));
      single.push(await bare(1));
    }
    const jobMedian = median(jobRuns);
    // The job runs CPU_RUN_BATCH images per session.run on the CPU: its baseline is the same.
    const base = median(four);
    console.log(`embedding throughput: ${n} coco_tinycoco images, MobileNetV2 int8 (1,280 values), ${threads.threads} threads, spinning ${threads.spinning ? 'on' : 'off'}, median of ${RUNS} runs`);
    printTable(
      ['what', 'images/s', 'ratio to bare session.run, 4 per run'],
      [
        [`computeEmbeddings (decode, resize, run ${CPU_RUN_BATCH} per run, store), ${BATCH} images per request`, jobMedian.toFixed(1), (jobMedian / base).toFixed(2)],
        ['bare session.run, 4 per run (preprocessed)', base.toFixed(1), '1.00'],
        ['bare session.run, 16 per run (preprocessed)', median(batched).toFixed(1), (median(batched) / base).toFixed(2)],
        ['bare session.run, 1 per run (preprocessed)', median(single).toFixed(1), (median(single) / base).toFixed(2)],
      ],
    );
  } finally {
    await ds.close();
    await releaseSessions();
    await closeInferenceBackend();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === `file://${path.resolve(process.argv[1])}`) await run();
