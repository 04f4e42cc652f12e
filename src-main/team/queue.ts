import crypto from 'node:crypto';
import type { Dataset } from '../services/dataset';
import type { ParsedArgs } from '../common/contract';
import type { QueuedRun, RunPart, WorkerInfo } from '../common/team';
import type { ModelManifest } from '../common/inference/types';
import { AppError } from '../common/errors';
import { queueExecutor, startQueueStore, type PgBoss } from '../db/queue';
import { insertModelRun } from '../db/modelRuns';
import { addRunImages } from '../db/prelabel';
import { prelabelParameters, scopeImageIds } from '../services/prelabel';
import { defaultManifestDir, ModelRegistry } from '../services/models';

/**
 * Pre-label and embedding runs done by `tessera worker` processes: a run is split into parts,
 * each part a job of a PostgreSQL-backed queue that workers claim, heartbeat and retry.
 *
 * The queue is pg-boss, in a schema of its own (`tessera_queue`) of the dataset's database, with
 * one queue per dataset named by the dataset's uuid. The run itself lives in the dataset: a
 * `model_runs` row (its parameters say `queued: true`), its `model_run_images` rows, and one
 * `run_parts` row per part, all written in one transaction before the parts' jobs are sent. A
 * part's job has an id derived from the dataset, run and part, so a part is never queued twice.
 */

/** The PostgreSQL schema pg-boss keeps its tables in, beside the datasets' schemas. */
export const QUEUE_SCHEMA = 'tessera_queue';

/** How often a part is tried (a worker dying, a model failing to load) before it is failed for good. */
export const PART_RETRY_LIMIT = 5;
/** Seconds a part may stay claimed before pg-boss itself gives it to another worker (the last resort behind heartbeats). */
export const PART_EXPIRE_SECONDS = 30 * 60;

/** A model the queue may run: its manifest and the absolute path of its weights, which workers read at the same path. */
export type ModelLookup = (id: string) => { manifest: ModelManifest; path: string };

export interface QueueOptions {
  /** Where model ids are looked up; the shipped and custom models of `configDir` (or the default registry) when omitted. */
  models?: ModelLookup;
  configDir?: string;
}

/** The queue as the team server uses it (one per server process). */
export interface TeamQueue {
  queuePrelabel(ds: Dataset, args: ParsedArgs<'team:queuePrelabel'>, by: string): Promise<QueuedRun>;
  queueEmbeddings(ds: Dataset, args: ParsedArgs<'team:queueEmbeddings'>, by: string): Promise<QueuedRun>;
  close(): Promise<void>;
}

/** The job a part is: which run and part. */
export interface PartJob {
  runId: number;
  part: number;
}

/** The pg-boss queue of a dataset. */
export function queueName(ds: Dataset): string {
  return `tessera-${ds.uuid}`;
}

/** The id of a part's job: the same for the same dataset, run and part, so sending it twice queues it once. */
export function partJobId(ds: Dataset, runId: number, part: number): string {
  const h = crypto.createHash('sha1').update(`${ds.uuid}\u0000${runId}\u0000${part}`).digest();
  h[6] = (h[6]! & 0x0f) | 0x50;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}

/**
 * Starts pg-boss for the dataset's database and makes sure the dataset's queue exists.
 * `supervise` runs pg-boss's maintenance here (expiring parts claimed too long); workers do, the
 * server need not.
 */
export async function startBoss(ds: Dataset, opts: { supervise?: boolean; onError?: (e: Error) => void } = {}): Promise<PgBoss> {
  if (ds.db.engine !== 'postgres') {
    throw new AppError('UNSUPPORTED', `${ds.file}: workers need a PostgreSQL dataset (postgres://…); a dataset file is used by one process at a time`, { file: ds.file });
  }
  return await startQueueStore(ds.db, { ...opts, schema: QUEUE_SCHEMA, queue: queueName(ds), retryLimit: PART_RETRY_LIMIT, expireInSeconds: PART_EXPIRE_SECONDS });
}

/** The registry's model with its weights' absolute path, or an error naming the model. */
function defaultLookup(configDir: string | undefined): ModelLookup {
  return (id) => {
    const registry = new ModelRegistry({ manifestDir: defaultManifestDir(), configDir: configDir ?? defaultConfigDir() });
    return registry.requireFile(id);
  };
}

function defaultConfigDir(): string {
  return process.env['TESSERA_CONFIG_DIR'] ?? `${process.env['HOME'] ?? '.'}/.config/tessera`;
}

/** Splits ids into parts of `size`, in order. */
export function splitParts(ids: readonly number[], size: number): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < ids.length; i += size) out.push(ids.slice(i, i + size));
  return out;
}

/** Opens the queue in the dataset's PostgreSQL database (creating its tables on first use). */
export async function openQueue(ds: Dataset, opts: QueueOptions = {}): Promise<TeamQueue> {
  const models = opts.models ?? defaultLookup(opts.configDir);
  const boss = await startBoss(ds);
  const resolve = (id: string): { manifest: ModelManifest; path: string } => {
    const m = models(id);
    // Workers read the weights at this path: the manifest they get names it.
    return { manifest: { ...m.manifest, file: m.path }, path: m.path };
  };
  return {
    async queuePrelabel(on, args, by) {
      const { manifest, path } = resolve(args.modelId);
      if (manifest.task === 'embed') throw new AppError('INVALID_ARGUMENT', `model "${manifest.id}" is an embed model; queue it as an embedding run`, { id: manifest.id });
      if (on.uuid !== ds.uuid) throw new AppError('INVALID_ARGUMENT', `${on.file}: this queue is for ${ds.file}`);
      const imageIds = await scopeImageIds(on, args.scope);
      const parameters = {
        ...prelabelParameters({ manifest, modelFile: path, imageIds, conf: args.conf, iou: args.iou, skipLabeled: args.skipLabeled }),
        queued: true,
        queuedBy: by,
        partSize: args.partSize,
      };
      return await enqueue(on, boss, { kind: 'prelabel', model: manifest.id, name: manifest.name, parameters, imageIds, partSize: args.partSize });
    },
    async queueEmbeddings(on, args, by) {
      const { manifest, path } = resolve(args.modelId);
      if (manifest.task !== 'embed') throw new AppError('INVALID_ARGUMENT', `model "${manifest.id}" is a ${manifest.task} model, not an embed model`, { id: manifest.id });
      if (on.uuid !== ds.uuid) throw new AppError('INVALID_ARGUMENT', `${on.file}: this queue is for ${ds.file}`);
      const imageIds = await scopeImageIds(on, { filter: typeof args.images === 'object' ? args.images.filter : {}, unlabeledOnly: false });
      const parameters = { kind: 'embed', manifest, modelFile: path, images: args.images, queued: true, queuedBy: by, partSize: args.partSize };
      return await enqueue(on, boss, { kind: 'embed', model: manifest.id, name: manifest.name, parameters, imageIds, partSize: args.partSize });
    },
    async close() {
      await boss.stop({ graceful: false, wait: true });
    },
  };
}

/** Writes the run, its images, its parts and one job per part, all in one transaction. */
async function enqueue(
  ds: Dataset,
  boss: PgBoss,
  run: { kind: 'prelabel' | 'embed'; model: string; name: string; parameters: Record<string, unknown>; imageIds: number[]; partSize: number },
): Promise<QueuedRun> {
  if (run.imageIds.length === 0) throw new AppError('INVALID_ARGUMENT', 'no images to run: the scope matches none', {});
  const parts = splitParts(run.imageIds, run.partSize);
  const db = ds.db;
  const runId = await db.transaction(async () => {
    const id = await insertModelRun(db, { model: run.model, name: run.name, parameters: run.parameters });
    await addRunImages(db, id, run.imageIds);
    const stmt = db.prepare('INSERT INTO run_parts (run_id, part, kind, image_ids, job_id) VALUES (?, ?, ?, ?, ?)');
    for (let p = 0; p < parts.length; p++) await stmt.run(id, p, run.kind, JSON.stringify(parts[p]), partJobId(ds, id, p));
    // The jobs are written by this transaction too: a run is queued with all its jobs, or not at all.
    await sendParts(ds, boss, id, parts.length, queueExecutor(db));
    return id;
  })();
  return { runId, parts: parts.length, images: run.imageIds.length };
}

/**
 * Sends the jobs of a run's parts (with `db`, inside the caller's transaction); a part already
 * sent is not sent again.
 */
export async function sendParts(ds: Dataset, boss: PgBoss, runId: number, count: number, db?: ReturnType<typeof queueExecutor>): Promise<void> {
  const name = queueName(ds);
  for (let p = 0; p < count; p++) {
    const data: PartJob = { runId, part: p };
    await boss.send(name, data, {
      id: partJobId(ds, runId, p),
      singletonKey: `${runId}:${p}`,
      retryLimit: PART_RETRY_LIMIT,
      retryDelay: 1,
      expireInSeconds: PART_EXPIRE_SECONDS,
      ...(db ? { db } : {}),
    });
  }
}

interface WorkerRow {
  name: string;
  host: string;
  pid: number;
  provider: string;
  started_at: number;
  last_seen: number;
}

/** Heartbeats older than this (milliseconds) mean the worker is gone. */
export const DEFAULT_STALE_MS = 30_000;

export async function listWorkers(ds: Dataset, staleMs = DEFAULT_STALE_MS, now = Date.now()): Promise<WorkerInfo[]> {
  const rows = await ds.db.prepare('SELECT name, host, pid, provider, started_at, last_seen FROM worker_nodes ORDER BY last_seen DESC, name').all() as WorkerRow[];
  return rows.map((r) => ({ name: r.name, host: r.host, pid: r.pid, provider: r.provider, startedAt: r.started_at, lastSeen: r.last_seen, alive: now - r.last_seen < staleMs }));
}

interface PartRow {
  run_id: number;
  part: number;
  image_ids: string;
  state: RunPart['state'];
  worker: string | null;
  provider: string | null;
  attempts: number;
  started_at: number | null;
  finished_at: number | null;
  error: string | null;
}

export async function runParts(ds: Dataset, runId: number): Promise<RunPart[]> {
  const rows = await ds.db.prepare('SELECT * FROM run_parts WHERE run_id = ? ORDER BY part').all(runId) as PartRow[];
  return rows.map((r) => ({
    runId: r.run_id,
    part: r.part,
    images: (JSON.parse(r.image_ids) as number[]).length,
    state: r.state,
    worker: r.worker,
    provider: r.provider,
    attempts: r.attempts,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    error: r.error,
  }));
}

/** Queued runs, newest first: id, model, status, and their parts by state. */
export async function queuedRuns(ds: Dataset): Promise<{ runId: number; model: string; status: string; kind: string; parts: Record<RunPart['state'], number> }[]> {
  const rows = await ds.db
    .prepare(
      `SELECT r.id AS runId, r.model AS model, r.status AS status, p.kind AS kind, p.state AS state, count(*) AS n
         FROM model_runs r JOIN run_parts p ON p.run_id = r.id GROUP BY r.id, r.model, r.status, p.kind, p.state ORDER BY r.id DESC`,
    )
    .all() as { runId: number; model: string; status: string; kind: string; state: RunPart['state']; n: number }[];
  const out = new Map<number, { runId: number; model: string; status: string; kind: string; parts: Record<RunPart['state'], number> }>();
  for (const r of rows) {
    const e = out.get(r.runId) ?? { runId: r.runId, model: r.model, status: r.status, kind: r.kind, parts: { queued: 0, running: 0, done: 0, failed: 0 } };
    e.parts[r.state] += Number(r.n);
    out.set(r.runId, e);
  }
  return [...out.values()];
}
