import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import type { ModelManifest } from '../../src-main/common/inference/types';
import type { Geometry } from '../../src-main/common/model';
import { Dataset } from '../../src-main/services/dataset';
import { importImages } from '../../src-main/services/importer';
import { ModelRegistry, defaultManifestDir } from '../../src-main/services/models';
import { closeInferenceBackend, inferenceBackend, runPrelabel, runPrelabelPart } from '../../src-main/services/prelabel';
import { QUEUE_SCHEMA, openQueue, partJobId, queueName, runParts, sendParts, type ModelLookup } from '../../src-main/team/queue';
import { mobilenetEmbedManifest, yolov8nInt8Manifest } from '../helpers/models';
import { unfinishedRuns } from '../../src-main/db/prelabel';
import { listEvalRuns } from '../../src-main/db/evaluation';
import { runWorker } from '../../src-main/team/worker';
import { listWorkers } from '../../src-main/team/queue';
import { adminQuery, freshPgDataset, pgSkipReason, type PgDataset } from '../helpers/postgres';
import { repoRoot, sharedPath, tempDir } from '../helpers/shared';

const BIN = path.join(repoRoot, 'scripts', 'tessera.mjs');
const skip = pgSkipReason();
const model = sharedPath('models/yolov8n_int8.onnx');
const coco = sharedPath('datasets/coco_tinycoco/images/train2017');
const embedModel = sharedPath('models/mobilenetv2-12-int8-with-embedding.onnx');
const manifest: ModelManifest = yolov8nInt8Manifest(model ?? 'absent.onnx');

const lookup: ModelLookup = (id) => {
  if (id !== manifest.id) throw new Error(`model "${id}" is not in the registry`);
  return { manifest, path: model! };
};

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** What the test prints when a wait times out (the workers' output). */
let onTimeout: (() => string) | null = null;

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined | null | false>): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${onTimeout ? `\n${onTimeout()}` : ''}`);
    await sleep(50);
  }
}

/** 64 small images: the 32 tinycoco pictures at 320 px, and each mirrored. One more file is cut short after import. */
async function makeImages(dir: string): Promise<string[]> {
  const names = fs.readdirSync(coco!).filter((f) => f.endsWith('.jpg')).sort().slice(0, 32);
  const out: string[] = [];
  for (const [i, n] of names.entries()) {
    const src = sharp(path.join(coco!, n)).resize({ width: 320, height: 320, fit: 'inside' });
    const a = path.join(dir, `a_${String(i).padStart(2, '0')}.jpg`);
    const b = path.join(dir, `b_${String(i).padStart(2, '0')}.jpg`);
    await src.clone().jpeg({ quality: 85 }).toFile(a);
    await src.clone().flop().jpeg({ quality: 85 }).toFile(b);
    out.push(a, b);
  }
  return out;
}

/** Queues a pre-label run of every image, in parts of 4, as the server would; its id. */
async function queueAllInParts(ds: Dataset, models: ModelLookup, modelId: string): Promise<number> {
  const queue = await openQueue(ds, { models });
  try {
    return (await queue.queuePrelabel(ds, { modelId, scope: { filter: {}, unlabeledOnly: false }, skipLabeled: false, partSize: 4 }, 'lead')).runId;
  } finally {
    await queue.close();
  }
}

interface Pred {
  cls: string;
  geometry: Geometry;
  score: number;
}

async function predictionsByPath(ds: Dataset, runId: number): Promise<Map<string, Pred[]>> {
  const rows = (await ds.db
    .prepare(
      `SELECT i.path AS path, c.name AS cls, a.geometry AS geometry, a.score AS score FROM annotations a JOIN images i ON i.id = a.image_id JOIN classes c ON c.id = a.class_id
        WHERE a.model_run_id = ? ORDER BY i.path, a.score DESC`,
    )
    .all(runId)) as { path: string; cls: string; geometry: string; score: number }[];
  const out = new Map<string, Pred[]>();
  for (const r of rows) {
    const list = out.get(r.path) ?? [];
    list.push({ cls: r.cls, geometry: JSON.parse(r.geometry) as Geometry, score: r.score });
    out.set(r.path, list);
  }
  return out;
}

describe.skipIf(skip !== null)('the work queue', () => {
  let pg: PgDataset;
  let ds: Dataset;
  let dir: string;
  beforeAll(async () => {
    dir = tempDir();
    for (let i = 0; i < 5; i++) await sharp({ create: { width: 40, height: 30, channels: 3, background: { r: i * 40, g: 20, b: 90 } } }).png().toFile(path.join(dir, `q${i}.png`));
    pg = await freshPgDataset('queue');
    ds = await Dataset.create(pg.url, dir);
    await importImages(ds, { paths: [dir] });
  });
  afterAll(async () => {
    await ds?.close();
    await pg?.drop();
  });

  it('writes the run, its images and its parts in one go and sends one job per part, never twice', async () => {
    const file = path.join(dir, 'weights.onnx');
    fs.writeFileSync(file, 'not read when queueing');
    const q = await openQueue(ds, { models: (id) => ({ manifest: { ...manifest, id, file: undefined }, path: file }) });
    try {
      const r = await q.queuePrelabel(ds, { modelId: 'm1', scope: { filter: {}, unlabeledOnly: false }, skipLabeled: true, partSize: 2, conf: 0.4 }, 'lead');
      expect(r).toEqual({ runId: r.runId, parts: 3, images: 5 });
      const run = (await ds.db.prepare('SELECT model, status, parameters FROM model_runs WHERE id = ?').get(r.runId)) as { model: string; status: string; parameters: string };
      const params = JSON.parse(run.parameters) as Record<string, unknown> & { manifest: ModelManifest };
      expect(run).toMatchObject({ model: 'm1', status: 'running' });
      expect(params).toMatchObject({ queued: true, queuedBy: 'lead', partSize: 2, conf: 0.4, modelFile: file, skipLabeled: true });
      // Workers read the weights at the server's path: the recorded manifest names it.
      expect(params.manifest.file).toBe(file);
      expect(await ds.db.prepare("SELECT count(*) FROM model_run_images WHERE run_id = ? AND state = 'pending'").pluck().get(r.runId)).toBe(5);
      // Not offered to resume in the app: the workers finish it.
      expect((await unfinishedRuns(ds.db)).map((u) => u.runId)).not.toContain(r.runId);
      const parts = (await ds.db.prepare('SELECT part, kind, image_ids, state, job_id, attempts FROM run_parts WHERE run_id = ? ORDER BY part').all(r.runId)) as {
        part: number;
        kind: string;
        image_ids: string;
        state: string;
        job_id: string;
        attempts: number;
      }[];
      expect(parts.map((p) => (JSON.parse(p.image_ids) as number[]).length)).toEqual([2, 2, 1]);
      expect(parts.flatMap((p) => JSON.parse(p.image_ids) as number[]).sort((a, b) => a - b)).toEqual(
        ((await ds.db.prepare('SELECT id FROM images ORDER BY id').pluck().all()) as number[]),
      );
      for (const p of parts) expect(p).toMatchObject({ kind: 'prelabel', state: 'queued', attempts: 0, job_id: partJobId(ds, r.runId, p.part) });
      const jobs = async (): Promise<{ id: string; data: { runId: number; part: number }; retry_limit: number }[]> =>
        (await adminQuery(`SELECT id::text AS id, data, retry_limit FROM ${QUEUE_SCHEMA}.job WHERE name = $1 AND (data->>'runId')::int = $2 ORDER BY (data->>'part')::int`, [queueName(ds), r.runId])).rows;
      const sent = await jobs();
      expect(sent.map((j) => j.data)).toEqual([0, 1, 2].map((part) => ({ runId: r.runId, part })));
      expect(sent.map((j) => j.id)).toEqual(parts.map((p) => p.job_id));
      expect(sent.every((j) => j.retry_limit >= 2)).toBe(true);
      // Sending the parts again (a server retrying after a lost answer) queues nothing more.
      const boss = (await import('../../src-main/team/queue')).startBoss(ds);
      const b = await boss;
      await sendParts(ds, b, r.runId, 3);
      await b.stop({ graceful: false });
      expect(await jobs()).toHaveLength(3);
      expect((await runParts(ds, r.runId)).map((p) => [p.part, p.images, p.state, p.worker])).toEqual([
        [0, 2, 'queued', null],
        [1, 2, 'queued', null],
        [2, 1, 'queued', null],
      ]);
      // A run deleted before any worker came: its parts go with it, and a worker finds nothing to do for their jobs.
      await ds.db.prepare('DELETE FROM model_runs WHERE id = ?').run(r.runId);
      expect(await runParts(ds, r.runId)).toEqual([]);
    } finally {
      await q.close();
    }
  });

  it('writes no run when its jobs cannot be sent: the run and its jobs are one transaction', async () => {
    const file = path.join(dir, 'weights.onnx');
    fs.writeFileSync(file, 'not read when queueing');
    const q = await openQueue(ds, { models: (id) => ({ manifest: { ...manifest, id, file: undefined }, path: file }) });
    const runsBefore = await ds.db.prepare('SELECT count(*) FROM model_runs').pluck().get();
    const partsBefore = await ds.db.prepare('SELECT count(*) FROM run_parts').pluck().get();
    // The job table refuses this dataset's jobs (as a full disk or a lost connection would fail the send).
    const fn = `${QUEUE_SCHEMA}.refuse_parts`;
    await adminQuery(`CREATE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'job refused'; END $$`);
    await adminQuery(`CREATE TRIGGER refuse_parts BEFORE INSERT ON ${QUEUE_SCHEMA}.job FOR EACH ROW WHEN (NEW.name = '${queueName(ds)}') EXECUTE FUNCTION ${fn}()`);
    try {
      await expect(q.queuePrelabel(ds, { modelId: 'm1', scope: { filter: {}, unlabeledOnly: false }, skipLabeled: true, partSize: 2 }, 'lead')).rejects.toThrow(/job refused/);
    } finally {
      await adminQuery(`DROP TRIGGER IF EXISTS refuse_parts ON ${QUEUE_SCHEMA}.job`);
      await adminQuery(`DROP FUNCTION IF EXISTS ${fn}()`);
      await q.close();
    }
    expect(await ds.db.prepare('SELECT count(*) FROM model_runs').pluck().get()).toBe(runsBefore);
    expect(await ds.db.prepare('SELECT count(*) FROM run_parts').pluck().get()).toBe(partsBefore);
  });

  it('writes nothing for a model the registry does not have, and says which', async () => {
    const before = await ds.db.prepare('SELECT count(*) FROM model_runs').pluck().get();
    const partsBefore = await ds.db.prepare('SELECT count(*) FROM run_parts').pluck().get();
    const q = await openQueue(ds, { configDir: tempDir() });
    try {
      await expect(q.queuePrelabel(ds, { modelId: 'no-such-model', scope: { filter: {}, unlabeledOnly: false }, skipLabeled: true, partSize: 2 }, 'lead')).rejects.toThrow(
        /model "no-such-model" is not in the registry/,
      );
      await expect(q.queueEmbeddings(ds, { modelId: 'no-such-embedder', images: 'new', partSize: 2 }, 'lead')).rejects.toThrow(/model "no-such-embedder"/);
      // A detector queued as an embedding run is refused by name too.
      if (model) {
        const configDir = tempDir();
        new ModelRegistry({ manifestDir: defaultManifestDir(), configDir }).add(model, { ...manifest, id: 'my-yolo' });
        const q2 = await openQueue(ds, { configDir });
        try {
          await expect(q2.queueEmbeddings(ds, { modelId: 'my-yolo', images: 'new', partSize: 2 }, 'lead')).rejects.toThrow(/model "my-yolo" is a detect model, not an embed model/);
        } finally {
          await q2.close();
        }
      }
    } finally {
      await q.close();
    }
    expect(await ds.db.prepare('SELECT count(*) FROM model_runs').pluck().get()).toBe(before);
    expect(await ds.db.prepare('SELECT count(*) FROM run_parts').pluck().get()).toBe(partsBefore);
  });

  it.runIf(embedModel)('runs an embedding run in a worker: a vector per readable image, the unreadable one failed with its reason, every part done by it, the run done', async () => {
    const m = mobilenetEmbedManifest(embedModel!);
    const q = await openQueue(ds, { models: (id) => ({ manifest: { ...m, id }, path: embedModel! }) });
    let runId: number;
    try {
      ({ runId } = await q.queueEmbeddings(ds, { modelId: m.id, images: 'new', partSize: 2 }, 'lead'));
    } finally {
      await q.close();
    }
    // One file is damaged after it was queued.
    const damaged = path.join(dir, 'q4.png');
    const intact = fs.readFileSync(damaged);
    fs.writeFileSync(damaged, intact.subarray(0, 40));
    onTestFinished(() => fs.writeFileSync(damaged, intact));
    const stop = new AbortController();
    const lines: string[] = [];
    // Asked for CUDA: where it cannot load, the worker says so and records the CPU it ran on.
    const worker = runWorker({ url: pg.url, name: 'embedder', provider: 'cuda', heartbeatMs: 300, signal: stop.signal, log: (l) => lines.push(l) });
    await until('the embedding run to finish', 60_000, async () => (await ds.db.prepare('SELECT status FROM model_runs WHERE id = ?').pluck().get(runId)) === 'done');
    const workers = await listWorkers(ds);
    const used = workers.find((w) => w.name === 'embedder')!.provider;
    expect(workers.find((w) => w.name === 'embedder')).toMatchObject({ alive: true, pid: process.pid });
    stop.abort();
    expect(await worker).toMatchObject({ name: 'embedder', partsDone: 3, partsFailed: 0, images: 5 });
    // The last part held only the damaged file: the model never ran there, so it names no provider.
    expect((await runParts(ds, runId)).map((p) => [p.state, p.worker, p.provider, p.attempts])).toEqual([
      ['done', 'embedder', used, 1],
      ['done', 'embedder', used, 1],
      ['done', 'embedder', null, 1],
    ]);
    if (used === 'cpu') expect(lines.join('\n')).toMatch(/provider cuda is not available here: running on cpu/);
    else expect(used).toBe('cuda');
    expect(await ds.db.prepare('SELECT count(*) FROM embeddings WHERE annotation_id IS NULL').pluck().get()).toBe(4);
    expect(await ds.db.prepare("SELECT count(*) FROM model_run_images WHERE run_id = ? AND state = 'done'").pluck().get(runId)).toBe(4);
    const failed = (await ds.db.prepare("SELECT i.path AS path, r.error AS error FROM model_run_images r JOIN images i ON i.id = r.image_id WHERE r.run_id = ? AND r.state = 'failed'").all(runId)) as { path: string; error: string }[];
    expect(failed).toHaveLength(1);
    expect(failed[0]!.path).toBe('q4.png');
    expect(failed[0]!.error).toContain('q4.png');
    expect(lines.join('\n')).toMatch(/run \d+ part 2: done, 1 images/);
    // Not a run to evaluate: it predicted nothing.
    expect((await listEvalRuns(ds.db)).map((r) => r.id)).not.toContain(runId);
  });

  it('refuses a dataset file: workers need PostgreSQL', async () => {
    const d = tempDir();
    const file = await Dataset.create(path.join(d, 'x.tessera'), d);
    try {
      await expect(openQueue(file, { models: lookup })).rejects.toThrow(/workers need a PostgreSQL dataset/);
    } finally {
      await file.close();
    }
  });
});

describe.skipIf(skip !== null || !model || !coco)('a part run twice at once', () => {
  let pg: PgDataset;
  let ds: Dataset;
  afterAll(async () => {
    await closeInferenceBackend();
    await ds?.close();
    await pg?.drop();
  });

  it('leaves one set of the run\'s predictions per image (a worker given up on that was still running)', async () => {
    const dir = tempDir();
    const names = fs.readdirSync(coco!).filter((f) => f.endsWith('.jpg')).sort().slice(0, 4);
    for (const n of names) await sharp(path.join(coco!, n)).resize({ width: 320, height: 320, fit: 'inside' }).jpeg().toFile(path.join(dir, n));
    pg = await freshPgDataset('twice');
    ds = await Dataset.create(pg.url, dir);
    await importImages(ds, { paths: [dir] });
    const runId = await queueAllInParts(ds, lookup, manifest.id);
    const imageIds = (await ds.db.prepare('SELECT id FROM images ORDER BY id').pluck().all()) as number[];
    const { detector } = await inferenceBackend();
    // Both attempts see every image pending, and write each one: the later write replaces the earlier.
    const [one, two] = await Promise.all([
      runPrelabelPart(ds, detector, runId, { imageIds }),
      runPrelabelPart(ds, detector, runId, { imageIds }),
    ]);
    expect(one.detections).toBeGreaterThan(0);
    expect(two.detections).toBe(one.detections);
    const rows = (await ds.db
      .prepare('SELECT r.image_id AS id, r.detections AS detections, (SELECT count(*) FROM annotations a WHERE a.model_run_id = r.run_id AND a.image_id = r.image_id) AS n FROM model_run_images r WHERE r.run_id = ? ORDER BY r.image_id')
      .all(runId)) as { id: number; detections: number; n: number }[];
    expect(rows).toHaveLength(4);
    for (const r of rows) expect(Number(r.n)).toBe(r.detections);
    expect(rows.reduce((a, r) => a + Number(r.n), 0)).toBe(one.detections);
    // A part does not finish the run: the queue does, once every part is done.
    expect(await ds.db.prepare('SELECT status FROM model_runs WHERE id = ?').pluck().get(runId)).toBe('running');
  });

  it('fails a part at once, naming the model file, when the model does not fit its manifest; the run fails', async () => {
    const wrong: ModelManifest = { ...manifest, id: 'two-classes', classes: ['a', 'b'] };
    const runId = await queueAllInParts(ds, () => ({ manifest: wrong, path: model! }), wrong.id);
    const stop = new AbortController();
    const worker = runWorker({ url: pg.url, name: 'misfit', heartbeatMs: 300, signal: stop.signal });
    await until('the run to fail', 60_000, async () => (await ds.db.prepare('SELECT status FROM model_runs WHERE id = ?').pluck().get(runId)) === 'failed');
    stop.abort();
    await worker;
    const [p] = await runParts(ds, runId);
    expect(p).toMatchObject({ state: 'failed', attempts: 1, worker: 'misfit' });
    expect(p!.error).toContain('yolov8n_int8.onnx');
    expect(p!.error).toMatch(/2 classes/);
    // Nothing written for its images.
    expect(await ds.db.prepare('SELECT count(*) FROM annotations WHERE model_run_id = ?').pluck().get(runId)).toBe(0);
  });

  it('a worker told to stop in the middle of a part finishes it first, and removes nothing', async () => {
    const runId = await queueAllInParts(ds, lookup, manifest.id);
    const stop = new AbortController();
    const lines: string[] = [];
    const worker = runWorker({ url: pg.url, name: 'stopper', heartbeatMs: 300, signal: stop.signal, log: (l) => lines.push(l) });
    await until('the part to be running', 60_000, async () => (await ds.db.prepare('SELECT state FROM run_parts WHERE run_id = ?').pluck().get(runId)) === 'running');
    stop.abort();
    // (It may have run the part the test before left queued too.)
    expect(await worker).toMatchObject({ partsFailed: 0 });
    expect(await runParts(ds, runId)).toMatchObject([{ state: 'done', worker: 'stopper', attempts: 1 }]);
    expect(await ds.db.prepare('SELECT status FROM model_runs WHERE id = ?').pluck().get(runId)).toBe('done');
    expect((await listWorkers(ds)).map((w) => w.name)).toContain('stopper');
    expect(lines.join('\n')).toMatch(/stopping, finishing the parts in hand[\s\S]*part 0: done/);
  });
});

describe.skipIf(skip !== null || !model || !coco)('tessera worker processes', () => {
  let pg: PgDataset;
  let ds: Dataset;
  let ref: Dataset;
  let dir: string;
  const children: ChildProcess[] = [];
  const logs = new Map<string, string[]>();

  function startWorker(name: string): ChildProcess {
    const lines: string[] = [];
    logs.set(name, lines);
    const child = spawn(process.execPath, [BIN, 'worker', pg.url, '--name', name, '--heartbeat', '500', '--stale', '3000', '--threads', '1'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env },
    });
    child.stdout!.setEncoding('utf8').on('data', (d: string) => lines.push(...d.split('\n').filter(Boolean)));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => lines.push(...d.split('\n').filter(Boolean)));
    children.push(child);
    return child;
  }

  const exited = (c: ChildProcess): Promise<number | null> =>
    c.exitCode !== null || c.signalCode !== null ? Promise.resolve(c.exitCode) : new Promise((r) => c.once('exit', (code) => r(code)));

  beforeAll(async () => {
    onTimeout = () => [...logs].map(([n, l]) => `${n}:\n  ${l.slice(-40).join('\n  ')}`).join('\n');
    dir = tempDir();
    const files = await makeImages(dir);
    pg = await freshPgDataset('workers');
    ds = await Dataset.create(pg.url, dir);
    expect((await importImages(ds, { paths: [dir] })).imported).toBe(64);
    const refDir = tempDir();
    ref = await Dataset.create(path.join(refDir, 'ref.tessera'), dir);
    await importImages(ref, { paths: [dir] });
    // A file damaged after import: its image fails in both runs, and the part it is in goes on.
    fs.writeFileSync(files[17]!, fs.readFileSync(files[17]!).subarray(0, 300));
  }, 120_000);

  afterAll(async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await closeInferenceBackend();
    await ds?.close();
    await ref?.close();
    await pg?.drop();
  });

  it(
    'two workers, one killed mid-part: every image ends with exactly one set of predictions, equal to a single-process run, and the run completes',
    async () => {
      // Queued from the command line, with a manifest file naming the weights.
      const manifestFile = path.join(tempDir(), 'yolo.json');
      fs.writeFileSync(manifestFile, JSON.stringify(manifest));
      const started = Date.now();
      const queued = spawnSync(process.execPath, [BIN, 'queue', 'prelabel', pg.url, '--model', manifestFile, '--part-size', '4', '--json'], { encoding: 'utf8', timeout: 60_000 });
      expect(queued.status, queued.stderr).toBe(0);
      const { runId, parts: partCount, images: imageCount } = JSON.parse(queued.stdout) as { runId: number; parts: number; images: number };
      expect([partCount, imageCount]).toEqual([16, 64]);
      const a = startWorker('worker-a');
      const b = startWorker('worker-b');
      type Row = { part: number; state: string; worker: string | null; attempts: number };
      const parts = async (): Promise<Row[]> => (await ds.db.prepare('SELECT part, state, worker, attempts FROM run_parts WHERE run_id = ? ORDER BY part').all(runId)) as Row[];
      // Worker A has finished a part and is in the middle of another: kill -9.
      await until('worker-a to be in its second part', 90_000, async () => {
        const p = await parts();
        return p.some((x) => x.worker === 'worker-a' && x.state === 'done') && p.some((x) => x.worker === 'worker-a' && x.state === 'running');
      });
      a.kill('SIGKILL');
      await exited(a);
      const killedAt = Date.now();
      const held = (await parts()).filter((x) => x.worker === 'worker-a' && x.state === 'running');
      expect(held.length).toBeGreaterThan(0);

      const done = await until('the run to finish', 120_000, async () => {
        const s = (await ds.db.prepare('SELECT status FROM model_runs WHERE id = ?').pluck().get(runId)) as string;
        return s !== 'running' ? s : undefined;
      });
      const elapsed = (Date.now() - started) / 1000;
      const span = (await ds.db.prepare('SELECT min(started_at) AS a, max(finished_at) AS b FROM run_parts WHERE run_id = ?').get(runId)) as { a: number; b: number };
      const partsSecs = (Number(span.b) - Number(span.a)) / 1000;
      expect(done).toBe('done');
      // The survivor exits 0 on SIGTERM.
      b.kill('SIGTERM');
      expect(await exited(b)).toBe(0);
      const log = logs.get('worker-b')!.join('\n');
      expect(log).toMatch(/stopped answering; back in the queue/);
      expect(log).toMatch(/part \d+: done, 4 images in [\d.]+ s/);

      // Every part done once, with its worker and provider; the killed worker's part was run again by the other.
      const final = await runParts(ds, runId);
      expect(final).toHaveLength(16);
      for (const p of final) {
        expect(p).toMatchObject({ state: 'done', provider: 'cpu' });
        expect(['worker-a', 'worker-b']).toContain(p.worker);
        expect(p.finishedAt).toBeGreaterThanOrEqual(p.startedAt!);
      }
      for (const h of held) expect(final[h.part]).toMatchObject({ worker: 'worker-b', attempts: h.attempts + 1 });
      expect(final.some((p) => p.worker === 'worker-a')).toBe(true);

      // Per image: exactly one set of the run's predictions, as many as the image's row says.
      const images = (await ds.db.prepare('SELECT r.image_id AS id, i.path AS path, r.state AS state, r.detections AS detections, r.error AS error FROM model_run_images r JOIN images i ON i.id = r.image_id WHERE r.run_id = ? ORDER BY i.path').all(runId)) as {
        id: number;
        path: string;
        state: string;
        detections: number | null;
        error: string | null;
      }[];
      expect(images).toHaveLength(64);
      const failed = images.filter((i) => i.state !== 'done');
      expect(failed.map((i) => [i.path, i.state])).toEqual([['b_08.jpg', 'failed']]);
      expect(failed[0]!.error).toBeTruthy();
      const counts = new Map(
        ((await ds.db.prepare('SELECT image_id AS id, count(*) AS n FROM annotations WHERE model_run_id = ? GROUP BY image_id').all(runId)) as { id: number; n: number }[]).map((r) => [r.id, Number(r.n)]),
      );
      for (const i of images) expect([i.path, counts.get(i.id) ?? 0]).toEqual([i.path, i.detections ?? 0]);
      const dup = await ds.db
        .prepare('SELECT image_id, class_id, geometry, count(*) AS n FROM annotations WHERE model_run_id = ? GROUP BY image_id, class_id, geometry HAVING count(*) > 1')
        .all(runId);
      expect(dup).toEqual([]);
      const total = [...counts.values()].reduce((x, y) => x + y, 0);
      expect(total).toBeGreaterThan(64);

      // The same model run in one process on the same images finds the same objects.
      const t0 = Date.now();
      const single = await runPrelabel(ref, (await inferenceBackend()).detector, {
        manifest,
        modelFile: model!,
        imageIds: (await ref.db.prepare('SELECT id FROM images ORDER BY id').pluck().all()) as number[],
        skipLabeled: false,
      });
      const singleSecs = (Date.now() - t0) / 1000;
      expect(single).toMatchObject({ done: 63, failed: 1 });
      const mine = await predictionsByPath(ds, runId);
      const theirs = await predictionsByPath(ref, single.runId);
      expect([...mine.keys()]).toEqual([...theirs.keys()]);
      for (const [p, list] of theirs) {
        const got = mine.get(p)!;
        expect([p, got.length]).toEqual([p, list.length]);
        for (const [k, want] of list.entries()) {
          const g = got[k]!;
          expect(g.cls).toBe(want.cls);
          expect(g.score).toBeCloseTo(want.score, 3);
          const gb = g.geometry as Extract<Geometry, { kind: 'box' }>, wb = want.geometry as Extract<Geometry, { kind: 'box' }>;
          for (const key of ['x', 'y', 'w', 'h'] as const) expect(Math.abs(gb[key] - wb[key])).toBeLessThan(0.5);
        }
      }
      // The status command shows the workers and, per part, who ran it on which provider.
      const st = spawnSync(process.execPath, [BIN, 'queue', 'status', pg.url, '--run', String(runId), '--stale', '3000'], { encoding: 'utf8', timeout: 60_000 });
      expect(st.status, st.stderr).toBe(0);
      expect(st.stdout).toMatch(/worker-a +gone/);
      expect(st.stdout).toMatch(/part 0: done, 4 images, worker worker-[ab], provider cpu, attempts \d/);
      console.log(
        `[workers] 64 images in parts of 4 with 2 workers (one killed after ${((killedAt - started) / 1000).toFixed(1)} s): run done ${elapsed.toFixed(1)} s after queueing ` +
          `(worker start-up included), ${partsSecs.toFixed(1)} s from the first part claimed to the last done (${(64 / partsSecs).toFixed(1)} images/s, the wait for the dead worker's heartbeat to go stale included); one process: ${singleSecs.toFixed(1)} s (${(64 / singleSecs).toFixed(1)} images/s)`,
      );
    },
    300_000,
  );
});
