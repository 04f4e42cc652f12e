import path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { AppError } from '../common/errors';
import { PROVIDERS, type Provider } from '../common/inference/types';
import type { CliIo } from './main';

/**
 * `tessera worker` and `tessera queue`: the machines that run queued pre-label and embedding runs
 * of a PostgreSQL dataset, and queueing and watching those runs without the app.
 */

function parse(args: string[], options: NonNullable<ParseArgsConfig['options']>) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new AppError('INVALID_ARGUMENT', (e as Error).message);
  }
}

function positiveInt(name: string, v: unknown, max: number): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!/^\d+$/.test(String(v)) || n < 1 || n > max) throw new AppError('INVALID_ARGUMENT', `--${name} must be a whole number from 1 to ${max}, got "${String(v)}"`);
  return n;
}

function unit(name: string, v: unknown): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0 || n > 1) throw new AppError('INVALID_ARGUMENT', `--${name} must be a number from 0 to 1`);
  return n;
}

function needsUrl(what: string, positionals: string[]): string {
  if (positionals.length !== 1 || !/^postgres(ql)?:\/\//i.test(positionals[0]!)) {
    throw new AppError('INVALID_ARGUMENT', `${what} takes one PostgreSQL dataset, postgres://user@host:port/database?schema=name`);
  }
  return positionals[0]!;
}

/** `tessera worker <postgres://…> [--provider P] [--concurrency N] [--name NAME]`: runs parts until SIGINT or SIGTERM. */
export async function cmdWorker(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(args, {
    provider: { type: 'string' },
    concurrency: { type: 'string' },
    name: { type: 'string' },
    heartbeat: { type: 'string' },
    stale: { type: 'string' },
    threads: { type: 'string' },
  });
  const url = needsUrl('worker', positionals);
  const threadCount = positiveInt('threads', values['threads'], 256);
  const provider = values['provider'] as string | undefined;
  if (provider !== undefined && !(PROVIDERS as readonly string[]).includes(provider)) throw new AppError('INVALID_ARGUMENT', `--provider must be one of ${PROVIDERS.join(', ')}`);
  const concurrency = positiveInt('concurrency', values['concurrency'], 64);
  const heartbeatMs = positiveInt('heartbeat', values['heartbeat'], 3_600_000);
  const staleMs = positiveInt('stale', values['stale'], 86_400_000);
  const stop = new AbortController();
  const onSignal = (sig: string): void => {
    if (stop.signal.aborted) return;
    io.err(`${sig}: stopping`);
    stop.abort();
  };
  const onInt = (): void => onSignal('SIGINT');
  const onTerm = (): void => onSignal('SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  try {
    const { runWorker } = await import('../team/worker');
    const s = await runWorker({
      url,
      ...(provider ? { provider: provider as Provider } : {}),
      ...(concurrency ? { concurrency } : {}),
      ...(values['name'] ? { name: values['name'] as string } : {}),
      ...(heartbeatMs ? { heartbeatMs } : {}),
      ...(staleMs ? { staleMs } : {}),
      ...(threadCount ? { threads: (await import('../inference/threads')).threadSettings('batch', { threads: threadCount }) } : {}),
      signal: stop.signal,
      log: (line) => io.out(`${new Date().toISOString()} ${line}`),
    });
    io.out(`worker ${s.name} stopped: ${s.partsDone} parts done (${s.images} images), ${s.partsFailed} failed`);
    return 0;
  } finally {
    process.removeListener('SIGINT', onInt);
    process.removeListener('SIGTERM', onTerm);
    const { closeInstancesWorker } = await import('../services/prelabel');
    await closeInstancesWorker();
  }
}

/** `tessera queue prelabel|embed|status <postgres://…> …` */
export async function cmdQueue(args: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args;
  switch (sub) {
    case 'prelabel':
    case 'embed':
      return await queueRun(sub, rest, io);
    case 'status':
      return await queueStatus(rest, io);
    default:
      throw new AppError('INVALID_ARGUMENT', 'queue takes prelabel, embed or status');
  }
}

async function queueRun(kind: 'prelabel' | 'embed', args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(args, {
    model: { type: 'string' },
    'part-size': { type: 'string' },
    conf: { type: 'string' },
    iou: { type: 'string' },
    images: { type: 'string' },
    by: { type: 'string' },
    'config-dir': { type: 'string' },
    json: { type: 'boolean', default: false },
  });
  const url = needsUrl(`queue ${kind}`, positionals);
  const modelArg = values['model'] as string | undefined;
  if (!modelArg) throw new AppError('INVALID_ARGUMENT', `queue ${kind} needs --model <manifest.json|model id>`);
  const partSize = positiveInt('part-size', values['part-size'], 10_000);
  const images = (values['images'] as string | undefined) ?? (kind === 'prelabel' ? 'all' : 'new');
  const allowed = kind === 'prelabel' ? ['all', 'unlabeled'] : ['all', 'new'];
  if (!allowed.includes(images)) throw new AppError('INVALID_ARGUMENT', `--images must be one of ${allowed.join(', ')}`);
  const { readManifestFile } = await import('../services/models');
  let models: import('../team/queue').ModelLookup | undefined;
  let modelId = modelArg;
  if (modelArg.toLowerCase().endsWith('.json')) {
    const file = path.resolve(modelArg);
    const manifest = readManifestFile(file);
    if (!manifest.file) throw new AppError('INVALID_ARGUMENT', `${file}: the manifest names no model file; workers need its path`, { path: file });
    const weights = path.resolve(path.dirname(file), manifest.file);
    modelId = manifest.id;
    models = (id) => {
      if (id !== manifest.id) throw new AppError('NOT_FOUND', `model "${id}" is not in the registry`, { id });
      return { manifest, path: weights };
    };
  }
  const { Dataset } = await import('../services/dataset');
  const { openQueue } = await import('../team/queue');
  const ds = await Dataset.open(url);
  try {
    const queue = await openQueue(ds, { ...(models ? { models } : {}), ...(values['config-dir'] ? { configDir: values['config-dir'] as string } : {}) });
    try {
      const by = (values['by'] as string | undefined) ?? process.env['USER'] ?? 'cli';
      const q =
        kind === 'prelabel'
          ? await queue.queuePrelabel(
              ds,
              {
                modelId,
                scope: { filter: {}, unlabeledOnly: images === 'unlabeled' },
                skipLabeled: images === 'unlabeled',
                partSize: partSize ?? 16,
                ...(unit('conf', values['conf']) !== undefined ? { conf: unit('conf', values['conf'])! } : {}),
                ...(unit('iou', values['iou']) !== undefined ? { iou: unit('iou', values['iou'])! } : {}),
              },
              by,
            )
          : await queue.queueEmbeddings(ds, { modelId, images: images as 'all' | 'new', partSize: partSize ?? 64 }, by);
      if (values['json']) io.out(JSON.stringify(q));
      else io.out(`run ${q.runId}: ${q.images} images queued in ${q.parts} parts`);
    } finally {
      await queue.close();
    }
  } finally {
    await ds.close();
  }
  return 0;
}

async function queueStatus(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(args, { run: { type: 'string' }, json: { type: 'boolean', default: false }, stale: { type: 'string' } });
  const url = needsUrl('queue status', positionals);
  const runId = positiveInt('run', values['run'], Number.MAX_SAFE_INTEGER);
  const staleMs = positiveInt('stale', values['stale'], 86_400_000);
  const { Dataset } = await import('../services/dataset');
  const { listWorkers, queuedRuns, runParts } = await import('../team/queue');
  const ds = await Dataset.open(url);
  try {
    const workers = await listWorkers(ds, staleMs);
    const runs = await queuedRuns(ds);
    const parts = runId !== undefined ? await runParts(ds, runId) : null;
    if (runId !== undefined && !runs.some((r) => r.runId === runId)) throw new AppError('NOT_FOUND', `run ${runId} is not a queued run of ${ds.file}`, { runId });
    if (values['json']) {
      io.out(JSON.stringify({ workers, runs, ...(parts ? { parts } : {}) }, null, 2));
      return 0;
    }
    const lines: string[] = ['workers:'];
    for (const w of workers) lines.push(`  ${w.name}  ${w.alive ? 'alive' : 'gone '}  ${w.provider}  pid ${w.pid} on ${w.host}, last seen ${new Date(w.lastSeen).toISOString()}`);
    if (workers.length === 0) lines.push('  none');
    lines.push('runs:');
    for (const r of runs) lines.push(`  run ${r.runId} ${r.kind} ${r.model} ${r.status}: ${r.parts.done} done, ${r.parts.running} running, ${r.parts.queued} queued, ${r.parts.failed} failed`);
    if (runs.length === 0) lines.push('  none');
    if (parts) {
      lines.push(`parts of run ${runId}:`);
      for (const p of parts) {
        const secs = p.startedAt !== null && p.finishedAt !== null ? ` in ${((p.finishedAt - p.startedAt) / 1000).toFixed(1)} s` : '';
        lines.push(`  part ${p.part}: ${p.state}, ${p.images} images, worker ${p.worker ?? '-'}, provider ${p.provider ?? '-'}, attempts ${p.attempts}${secs}${p.error ? `, last error: ${p.error}` : ''}`);
      }
    }
    io.out(lines.join('\n'));
  } finally {
    await ds.close();
  }
  return 0;
}
