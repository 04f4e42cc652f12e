import path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { AppError, toErrorData } from '../common/errors';
import type { ImportReport, JobProgress } from '../common/model';
import { Dataset } from '../services/dataset';
import { importImages, maxPixelsSetting } from '../services/importer';

/**
 * `tessera`: the headless command line over the same services as the app.
 * Returns the exit code; errors print one line on stderr.
 */
export interface CliIo {
  out: (s: string) => void;
  err: (s: string) => void;
  /** Whether stderr is a terminal (progress is drawn only then). */
  tty: boolean;
}

const USAGE = `usage:
  tessera init <db> [--root DIR]
  tessera import <db> <path...> [--json] [--no-recursive] [--max-pixels N]
  tessera info <db> [--json]`;

export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'init':
        return cmdInit(rest, io);
      case 'import':
        return await cmdImport(rest, io);
      case 'info':
        return cmdInfo(rest, io);
      case undefined:
      case '-h':
      case '--help':
      case 'help':
        io.out(USAGE);
        return command === undefined ? 2 : 0;
      default:
        throw new AppError('INVALID_ARGUMENT', `unknown command "${command}"\n${USAGE}`);
    }
  } catch (e) {
    const d = toErrorData(e);
    io.err(`tessera: ${d.code === 'INTERNAL' ? 'error' : d.code}: ${d.message.split('\n')[0]}`);
    return d.code === 'INVALID_ARGUMENT' ? 2 : 1;
  }
}

function parse(args: string[], options: NonNullable<ParseArgsConfig['options']>) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new AppError('INVALID_ARGUMENT', (e as Error).message);
  }
}

function cmdInit(args: string[], io: CliIo): number {
  const { values, positionals } = parse(args, { root: { type: 'string' } });
  if (positionals.length !== 1) throw new AppError('INVALID_ARGUMENT', 'init takes one dataset path');
  const ds = Dataset.create(positionals[0]!, values['root'] as string | undefined);
  try {
    io.out(`created ${ds.file} (image root ${ds.root})`);
  } finally {
    ds.close();
  }
  return 0;
}

async function cmdImport(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(args, {
    json: { type: 'boolean', default: false },
    'no-recursive': { type: 'boolean', default: false },
    'max-pixels': { type: 'string' },
  });
  if (positionals.length < 2) throw new AppError('INVALID_ARGUMENT', 'import takes a dataset path and at least one file or folder');
  const maxPixels = values['max-pixels'] !== undefined ? Number(values['max-pixels']) : maxPixelsSetting();
  if (!Number.isFinite(maxPixels) || maxPixels <= 0) throw new AppError('INVALID_ARGUMENT', '--max-pixels must be a positive number');
  const ds = Dataset.open(positionals[0]!);
  let cancelled = false;
  const onSigint = (): void => {
    cancelled = true;
  };
  process.once('SIGINT', onSigint);
  try {
    const report = await importImages(ds, {
      paths: positionals.slice(1).map((p) => path.resolve(p)),
      recursive: !values['no-recursive'],
      // Paths typed on the command line are the user's choice: outside the root they are
      // stored as absolute paths, and the report counts them.
      allowOutsideRoot: true,
      maxPixels,
      isCancelled: () => cancelled,
      onProgress: io.tty && !values['json'] ? drawProgress : undefined,
    });
    if (io.tty && !values['json']) io.err('');
    io.out(values['json'] ? JSON.stringify(report, null, 2) : formatReport(report));
    return report.cancelled ? 130 : 0;
  } finally {
    process.removeListener('SIGINT', onSigint);
    ds.close();
  }
}

function cmdInfo(args: string[], io: CliIo): number {
  const { values, positionals } = parse(args, { json: { type: 'boolean', default: false } });
  if (positionals.length !== 1) throw new AppError('INVALID_ARGUMENT', 'info takes one dataset path');
  const ds = Dataset.open(positionals[0]!);
  try {
    const info = ds.info();
    if (values['json']) {
      io.out(JSON.stringify(info, null, 2));
    } else {
      const nonzero = (r: Record<string, number>): string =>
        Object.entries(r)
          .filter(([, n]) => n > 0)
          .map(([k, n]) => `${k} ${n}`)
          .join(', ') || 'none';
      io.out(
        [
          `dataset    ${info.path}`,
          `root       ${info.root}`,
          `schema     ${info.schemaVersion}`,
          `images     ${info.images.total} (${nonzero(info.images.byStatus)})`,
          `classes    ${info.classes.length ? info.classes.map((c) => `${c.name} ${c.annotations}`).join(', ') : 'none'}`,
          `annotations ${info.annotations.total} (${nonzero(info.annotations.byKind)}; ${nonzero(info.annotations.bySource)})`,
        ].join('\n'),
      );
    }
  } finally {
    ds.close();
  }
  return 0;
}

/** One self-overwriting line on the terminal's stderr. */
function drawProgress(p: Omit<JobProgress, 'jobId' | 'kind'>): void {
  const pct = p.total ? Math.floor((100 * p.done) / p.total) : 0;
  const eta = p.etaMs !== null ? ` eta ${Math.ceil(p.etaMs / 1000)}s` : '';
  process.stderr.write(`\r${p.phase} ${p.done}/${p.total} (${pct}%)${eta}   `);
}

function formatReport(r: ImportReport): string {
  const lines = [
    `${r.cancelled ? 'cancelled: nothing was written' : `imported ${r.imported} image(s)`} in ${(r.elapsedMs / 1000).toFixed(1)} s` +
      ` (scanned ${r.scanned}, duplicates ${r.duplicates.length}, problems ${r.problems.length}, other files ignored ${r.ignored})`,
  ];
  if (r.external) lines.push(`${r.external} image(s) lie outside the dataset root and are stored by absolute path`);
  for (const d of r.duplicates) lines.push(`duplicate  ${d.file} (same content as ${d.duplicateOf})`);
  for (const p of r.problems) lines.push(`skipped    ${p.file}: ${p.reason}`);
  return lines.join('\n');
}
