import os from 'node:os';
import type { PgBoss } from '../db/queue';
import { AppError, type ErrorCode } from '../common/errors';
import type { Provider, ThreadSettings } from '../common/inference/types';
import type { ModelManifest } from '../common/inference/types';
import { Dataset } from '../services/dataset';
import { markRunImage } from '../db/prelabel';
import { createInferenceBackend, providerOrder, runPrelabelPart, type InferenceBackend } from '../services/prelabel';
import { computeEmbeddings } from '../services/embeddings';
import { threadSettings } from '../inference/threads';
import { DEFAULT_STALE_MS, queueName, startBoss, type PartJob } from './queue';

/**
 * A `tessera worker` process: claims parts of queued runs from the dataset's queue, runs their
 * model here and writes the results in the dataset, one transaction per image.
 *
 * - It registers in `worker_nodes` (name `host-pid` unless given) and heartbeats every
 *   `heartbeatMs`. Its sweep, at each heartbeat, gives back to the queue (pg-boss `fail`, which
 *   retries the job) every part left running by a worker whose heartbeat is older than `staleMs`;
 *   pg-boss's own expiry of a job claimed too long is the last resort.
 * - A part is marked running with the worker, the provider (the one the inference layer actually
 *   used once the first image has run, e.g. 'cpu' after a CUDA fallback) and attempts + 1; it is
 *   marked done only by the attempt that holds it, and the run is finished once every part is done.
 * - Each image's predictions replace what the run wrote for that image before (see
 *   clearRunImage), so a part run again never duplicates; an image that fails (a corrupt file)
 *   records its error and the part goes on.
 * - On `signal` (SIGINT/SIGTERM in the CLI) it stops claiming, lets the parts it holds finish
 *   (those still running after `stopTimeoutMs` are given back), and removes nothing.
 */
export interface WorkerOptions {
  /** The dataset, postgres://…?schema=… */
  url: string;
  /** First execution provider to try; the CPU is the fallback. */
  provider?: Provider;
  /** Parts worked on at once (default 1). */
  concurrency?: number;
  name?: string;
  heartbeatMs?: number;
  staleMs?: number;
  /** How long a stop waits for the parts in hand before giving them back (default 60 s). */
  stopTimeoutMs?: number;
  threads?: ThreadSettings;
  signal?: AbortSignal;
  /** One line per event (parts claimed and done, with timings; fallbacks; sweeps). */
  log?: (line: string) => void;
}

/** Errors that say the model or the run's request is wrong: trying the part again elsewhere would fail the same way. */
const WRONG_MODEL = new Set<ErrorCode>(['INVALID_ARGUMENT', 'UNSUPPORTED', 'UNSUPPORTED_FORMAT']);

export interface WorkerSummary {
  name: string;
  partsDone: number;
  partsFailed: number;
  images: number;
}

interface PartRow {
  run_id: number;
  part: number;
  kind: 'prelabel' | 'embed';
  image_ids: string;
  state: string;
  worker: string | null;
  attempts: number;
  job_id: string | null;
}

export async function runWorker(opts: WorkerOptions): Promise<WorkerSummary> {
  const name = opts.name ?? `${os.hostname()}-${process.pid}`;
  const heartbeatMs = opts.heartbeatMs ?? 5000;
  const staleMs = opts.staleMs ?? DEFAULT_STALE_MS;
  const concurrency = Math.max(1, opts.concurrency ?? 1);
  const log = opts.log ?? (() => undefined);
  const providers = providerOrder(opts.provider);
  const wanted: string = opts.provider ?? 'cpu';
  const threads = opts.threads ?? threadSettings('batch');
  const summary: WorkerSummary = { name, partsDone: 0, partsFailed: 0, images: 0 };
  if (opts.signal?.aborted) return summary;

  const ds = await Dataset.open(opts.url);
  if (ds.db.engine !== 'postgres') {
    await ds.close();
    throw new AppError('UNSUPPORTED', `${opts.url}: workers need a PostgreSQL dataset (postgres://…)`);
  }
  const db = ds.db;
  let backend: InferenceBackend | null = null;
  let boss: PgBoss | null = null;
  let timer: NodeJS.Timeout | null = null;
  let stopping = false;
  try {
    const now = Date.now();
    await db
      .prepare(
        `INSERT INTO worker_nodes (name, host, pid, provider, started_at, last_seen) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (name) DO UPDATE SET host = excluded.host, pid = excluded.pid, provider = excluded.provider, started_at = excluded.started_at, last_seen = excluded.last_seen`,
      )
      .run(name, os.hostname(), process.pid, wanted, now, now);
    backend = createInferenceBackend({ size: Math.min(2, concurrency) });
    boss = await startBoss(ds, { supervise: true, onError: (e) => log(`queue error: ${e.message}`) });
    const queue = queueName(ds);
    const b = boss;

    /**
     * Gives a running part back to the queue (pg-boss retries its job), if it is still held by that
     * attempt: another worker's sweep may have done it already.
     */
    const giveBack = async (p: Pick<PartRow, 'run_id' | 'part' | 'worker' | 'attempts' | 'job_id'>, why: string): Promise<void> => {
      const changed = await db
        .prepare("UPDATE run_parts SET state = 'queued', error = ? WHERE run_id = ? AND part = ? AND state = 'running' AND worker IS ? AND attempts = ?")
        .run(why, p.run_id, p.part, p.worker, p.attempts);
      if (changed.changes === 0 || !p.job_id) return;
      await b.fail(queue, p.job_id, { message: why });
      log(`run ${p.run_id} part ${p.part}: ${why}; back in the queue`);
      await settleFailed(p.run_id, p.part, p.job_id);
    };

    /** A part whose job has no retries left is failed for good, and its run with it once no part is left to run. */
    const settleFailed = async (runId: number, part: number, jobId: string): Promise<void> => {
      const job = await b.getJobById(queue, jobId);
      if (job?.state !== 'failed') return;
      await db.prepare("UPDATE run_parts SET state = 'failed', finished_at = ? WHERE run_id = ? AND part = ? AND state <> 'done'").run(Date.now(), runId, part);
      log(`run ${runId} part ${part}: no tries left (${job.retryCount + 1} of ${job.retryLimit + 1}); the part failed`);
      await settleRun(runId);
    };

    /** Finishes the run once no part is queued or running: done when all are done, else failed. */
    const settleRun = async (runId: number): Promise<void> => {
      const open = await db.prepare("SELECT count(*) FILTER (WHERE state IN ('queued', 'running')) AS open, count(*) FILTER (WHERE state = 'failed') AS failed FROM run_parts WHERE run_id = ?").get(runId) as { open: number; failed: number };
      if (Number(open.open) > 0) return;
      const status = Number(open.failed) > 0 ? 'failed' : 'done';
      // Once: the worker that ends the last part and one ending another at the same moment may both get here.
      const r = await db.prepare("UPDATE model_runs SET status = ?, finished_at = ? WHERE id = ? AND status = 'running'").run(status, Date.now(), runId);
      if (r.changes > 0) log(`run ${runId}: every part ended, run ${status}`);
    };

    const heartbeat = async (): Promise<void> => {
      await db.prepare('UPDATE worker_nodes SET last_seen = ? WHERE name = ?').run(Date.now(), name);
      const stale = await db
        .prepare(
          `SELECT p.run_id, p.part, p.worker, p.attempts, p.job_id FROM run_parts p LEFT JOIN worker_nodes w ON w.name = p.worker
            WHERE p.state = 'running' AND (w.name IS NULL OR w.last_seen < ?)`,
        )
        .all(Date.now() - staleMs) as PartRow[];
      for (const p of stale) await giveBack(p, `worker ${p.worker ?? '?'} stopped answering`);
    };
    // Parts this name held before (a worker restarted under the same name) are not being worked on.
    const mine = await db.prepare("SELECT run_id, part, worker, attempts, job_id FROM run_parts WHERE state = 'running' AND worker = ?").all(name) as PartRow[];
    for (const p of mine) await giveBack(p, `worker ${name} restarted`);
    await heartbeat();
    const beat = (): void => {
      timer = setTimeout(() => {
        heartbeat()
          .catch((e: Error) => log(`heartbeat failed: ${e.message}`))
          .finally(() => {
            if (!stopping) beat();
          });
      }, heartbeatMs);
    };
    beat();

    const runPart = async (job: PgBoss.JobWithMetadata<PartJob>): Promise<void> => {
      const { runId, part } = job.data;
      const row = await db.prepare('SELECT * FROM run_parts WHERE run_id = ? AND part = ?').get(runId, part) as PartRow | undefined;
      // The run was deleted since, or another attempt finished the part.
      if (!row || row.state === 'done') return;
      const claimed = await db
        .prepare("UPDATE run_parts SET state = 'running', worker = ?, provider = ?, attempts = attempts + 1, started_at = ?, finished_at = NULL, error = NULL, job_id = ? WHERE run_id = ? AND part = ? AND state <> 'done' RETURNING attempts")
        .pluck()
        .get(name, wanted, Date.now(), job.id, runId, part) as number | undefined;
      if (claimed === undefined) return;
      const attempt = Number(claimed);
      const imageIds = JSON.parse(row.image_ids) as number[];
      const started = performance.now();
      log(`run ${runId} part ${part}: claimed (${imageIds.length} images, attempt ${attempt})`);
      const held = { run_id: runId, part, worker: name as string | null, attempts: attempt, job_id: job.id };
      // The provider the model ran on, once it has run; a part whose images all failed to read ran
      // nothing and records none (not the one asked for).
      let provider: string | null = null;
      const setProvider = async (p: string | null): Promise<void> => {
        if (!p || p === provider) return;
        provider = p;
        if (p !== wanted) log(`provider ${wanted} is not available here: running on ${p}`);
        await db.prepare('UPDATE run_parts SET provider = ? WHERE run_id = ? AND part = ? AND worker = ? AND attempts = ?').run(p, runId, part, name, attempt);
        await db.prepare('UPDATE worker_nodes SET provider = ? WHERE name = ?').run(p, name);
      };
      try {
        let images = 0;
        if (row.kind === 'prelabel') {
          let last: Promise<void> = Promise.resolve();
          const s = await runPrelabelPart(ds, backend!.detector, runId, { imageIds, ...(providers ? { providers } : {}), threads }, {
            onProgress: (p) => {
              if (p.provider && p.provider !== provider) last = last.then(() => setProvider(p.provider));
            },
          });
          await last;
          await setProvider(s.provider);
          for (const w of s.warnings) log(`run ${runId} part ${part}: warning: ${w}`);
          images = imageIds.length;
        } else {
          const run = await db.prepare('SELECT parameters FROM model_runs WHERE id = ?').pluck().get(runId) as string | undefined;
          if (run === undefined) return;
          const params = JSON.parse(run) as { manifest: ModelManifest; modelFile: string };
          let used: string | null = null;
          const embedder = backend!.embedder;
          const s = await computeEmbeddings(ds, {
            model: { manifest: params.manifest, file: params.modelFile },
            images: { ids: imageIds },
            // The provider each batch actually ran on (the CPU after a fallback).
            embedder: { embed: async (req) => {
              const r = await embedder.embed(req);
              used = r.provider;
              return r;
            } },
            ...(providers ? { providers } : {}),
            threads,
          });
          await setProvider(used);
          for (const w of s.problems) log(`run ${runId} part ${part}: ${w}`);
          // An image is done when its vector is stored; one that has none failed, with the reason.
          const stored = new Set(
            s.model
              ? ((await db
                  .prepare('SELECT image_id FROM embeddings WHERE model_id = ? AND annotation_id IS NULL AND image_id IN (SELECT value FROM json_each(?))')
                  .pluck()
                  .all(s.model.id, JSON.stringify(imageIds))) as number[])
              : [],
          );
          const paths = new Map(
            ((await db.prepare('SELECT id, path FROM images WHERE id IN (SELECT value FROM json_each(?))').all(JSON.stringify(imageIds))) as { id: number; path: string }[]).map((r) => [r.id, r.path]),
          );
          await db.transaction(async () => {
            for (const id of imageIds) {
              if (stored.has(id)) {
                await markRunImage(db, runId, id, 'done');
                continue;
              }
              const file = paths.get(id);
              const why = (file !== undefined && s.problems.find((line) => line.includes(file))) || `no vector was stored for image ${id}${file ? ` (${file})` : ''}`;
              await markRunImage(db, runId, id, 'failed', { error: why });
            }
          })();
          images = imageIds.length;
        }
        const done = await db
          .prepare("UPDATE run_parts SET state = 'done', finished_at = ?, provider = ?, error = NULL WHERE run_id = ? AND part = ? AND worker = ? AND attempts = ?")
          .run(Date.now(), provider, runId, part, name, attempt);
        const secs = (performance.now() - started) / 1000;
        if (done.changes === 0) log(`run ${runId} part ${part}: finished after it was given to another worker (${secs.toFixed(1)} s)`);
        else log(`run ${runId} part ${part}: done, ${images} images in ${secs.toFixed(1)} s (${(images / Math.max(secs, 1e-3)).toFixed(2)} images/s) ${provider ? `on ${provider}` : 'without running the model (no image could be read)'}`);
        summary.partsDone++;
        summary.images += images;
        await settleRun(runId);
        // Completed here rather than after the handler returns, so a stop closes nothing under it.
        await b.complete(queue, job.id);
      } catch (e) {
        const message = e instanceof Error ? e.message : String(e);
        summary.partsFailed++;
        if (WRONG_MODEL.has((e as { code?: ErrorCode }).code!)) {
          // The model does not fit its manifest (or the task): no worker would do better, so the
          // part fails now rather than after every try, and the run with it once no part is left.
          const r = await db
            .prepare("UPDATE run_parts SET state = 'failed', error = ?, finished_at = ? WHERE run_id = ? AND part = ? AND state = 'running' AND worker = ? AND attempts = ?")
            .run(message, Date.now(), runId, part, name, attempt);
          log(`run ${runId} part ${part}: failed for good: ${message}`);
          if (r.changes > 0) {
            await b.cancel(queue, job.id);
            await settleRun(runId);
          }
          return;
        }
        log(`run ${runId} part ${part}: failed: ${message}`);
        await giveBack(held, `failed on ${name}: ${message}`);
      }
    };

    for (let i = 0; i < concurrency; i++) {
      let id: string | undefined;
      id = await b.work<PartJob>(queue, { batchSize: 1, pollingIntervalSeconds: 1, includeMetadata: true }, async (jobs) => {
        for (const job of jobs) await runPart(job);
        // A part was there: look for the next at once rather than after the polling interval.
        if (id !== undefined && !stopping) b.notifyWorker(id);
      });
    }
    log(`worker ${name} on ${db.location}: waiting for parts (${concurrency} at once, provider ${wanted})`);

    await new Promise<void>((resolve) => {
      if (opts.signal?.aborted) resolve();
      opts.signal?.addEventListener('abort', () => resolve(), { once: true });
    });
    stopping = true;
    log(`worker ${name}: stopping, finishing the parts in hand`);
    await b.stop({ graceful: true, wait: true, timeout: opts.stopTimeoutMs ?? 60_000 });
    boss = null;
    // pg-boss completes a handler's job without waiting; the job is settled already (see runPart).
    await new Promise((r) => setTimeout(r, 300));
    return summary;
  } finally {
    stopping = true;
    if (timer) clearTimeout(timer);
    if (boss) await boss.stop({ graceful: false, wait: true }).catch(() => undefined);
    await backend?.close().catch(() => undefined);
    await ds.close();
  }
}
