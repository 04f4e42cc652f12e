import path from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { AppError, isAppError, toErrorData } from '../common/errors';
import { EXPORT_FORMATS, FORMATS, type ExportFormat, type ExportReport, type FormatName, type InterchangeReport } from '../common/formats/types';
import type { ImportReport, JobProgress } from '../common/model';
import { Dataset } from '../services/dataset';
import { MAX_THREADS, PROVIDERS, type ModelManifest, type ModelTask, type Provider, type ThreadSettings } from '../common/inference/types';

/** What `prelabel --task` may say a model file is. */
const PRELABEL_TASKS = ['classify', 'semantic', 'detect', 'segment', 'obb', 'pose'] as const satisfies readonly ModelTask[];

/** " (7 tag)" style counts of predictions by kind, for the one-line summaries. */
function kindList(byKind: Record<string, number>): string {
  const kinds = Object.entries(byKind).filter(([, n]) => n > 0);
  // A detector's boxes go without saying, as before per-kind counts.
  return kinds.length === 0 || (kinds.length === 1 && kinds[0]![0] === 'box') ? '' : ` (${kinds.map(([k, n]) => `${n} ${k}`).join(', ')})`;
}
import type { InferenceBackend } from '../services/inference';
import type { TilingOptions } from '../common/inference/tiling';
import { COCO_STAT_NAMES, IOU_TYPES, type EvalResult, type IouType } from '../common/eval/types';
import { IMAGE_STATUSES, SPLITS, type ImageFilter } from '../common/model';
import type { VersionDiff } from '../common/versions';
// Each command imports the services it needs when it runs, so that `--help` and `info` start
// without loading the imaging, interchange and inference modules (sharp, onnxruntime-node).

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
  tessera copy <from> <to> [--json]
  tessera import <db> <path...> [--format auto|images|${FORMATS.join('|')}] [--dry-run [--probe]] [--keep-empty-classes] [--json]
                 [--no-recursive] [--max-pixels N]
  tessera export <db> <outdir> --format ${EXPORT_FORMATS.join('|')}
                 [--split 0.8,0.1,0.1 [--seed N]] [--only all|done|reviewed] [--with-predictions]
                 [--images copy|link|none] [--strict] [--coco-segmentation polygon|rle] [--json]
                 [--overwrite | --merge] [--version N]
                 [--augment recipe.json | --recipe recipe.json]
  tessera version create <db> --name NAME [--note TEXT] [--with-predictions] [--recipe recipe.json] [--json]
  tessera version list <db> [--json]
  tessera version diff <db> A B|current [--json]
  tessera info <db> [--json]
  tessera prelabel <db> --model <manifest.json|model.onnx> [--images all|unlabeled] [--conf 0.25]
                 [--iou 0.45] [--provider ${PROVIDERS.join('|')}] [--json]
                 [--labels <labels.json|txt>] [--task ${PRELABEL_TASKS.join('|')}] (with a model.onnx)
                 [--tile 640 [--overlap 0.2] [--full-pass]] [--threads N] [--spin on|off]
  tessera embed <db> --model <manifest.json|model.onnx> [--output NAME] (with a model.onnx) [--images all|new]
                 [--crops] [--provider ${PROVIDERS.join('|')}] [--threads N] [--spin on|off] [--json]
  tessera worker <postgres://…> [--provider ${PROVIDERS.join('|')}] [--concurrency N] [--name NAME] [--threads N]
                 [--heartbeat MS] [--stale MS]
  tessera queue prelabel <postgres://…> --model <manifest.json|model id> [--part-size 16] [--conf X] [--iou X]
                 [--images all|unlabeled] [--json]
  tessera queue embed <postgres://…> --model <manifest.json|model id> [--part-size 64] [--images all|new] [--json]
  tessera queue status <postgres://…> [--run ID] [--json]
  tessera predictions import <db> <coco-results.json> --name <run> [--instances <instances.json>] [--allow-new-classes]
                 [--json]
  tessera predictions list <db> [--run <id|name>] [--image <id|file name>] [--all] [--json]
  tessera eval <db> --run <id|name> [--iou-type bbox|segm] [--split train|val|test|none]
                 [--status STATUS] [--conf 0.5] [--iou 0.5] [--json]
  tessera segment <db> --image <id|file name> (--encoder <enc.onnx> --decoder <dec.onnx> | --model <manifest.json>)
                 [--point x,y[,label]]... [--box x0,y0,x1,y1] [--frame N] [--as mask|polygon] [--tolerance 1]
                 [--save --class NAME] [--provider ${PROVIDERS.join('|')}] [--json]
  tessera segment <db> --from-run <runId> (--encoder <enc.onnx> --decoder <dec.onnx> | --model <manifest.json>)
                 [--as mask|polygon] [--tolerance 1] [--provider ${PROVIDERS.join('|')}] [--json]
  tessera similar <db> --image <id|file name> [--k 10] [--model KEY] [--json]
  tessera duplicates <db> [--threshold 0.95] [--model KEY] [--json]
  tessera audit <db> [--image <id|file name>] [--user NAME] [--limit 200] [--json]
  tessera serve <postgres://…> --listen HOST:PORT [--root DIR]... [--tls-cert FILE --tls-key FILE]
                 [--lease-seconds 60] [--session-hours 12] [--allow-host NAME]... [--static DIR]
  tessera user add|passwd|disable|enable|role|list <postgres://…> [NAME] [ROLE] [--role ROLE] [--json]

import --format auto (the default) imports annotations when every path is recognised as an
annotated dataset (COCO, YOLO, VOC, labelme, CVAT), and image files only when none is; each
annotated path is imported in its own transaction. --dry-run checks that the images exist without
opening them; --probe also opens each one, as the import does (hash, size, damaged files).
COCO categories that no annotation uses are not created as classes unless --keep-empty-classes
is given; the report counts them.

export refuses an output folder that is not empty unless told what to do with it: --overwrite
replaces an earlier export there (only when every file in it is listed in the .tessera-export.json
an export leaves; anything else is refused, never deleted), --merge updates an earlier export of
the same dataset, format and classes: writes this export's files over those of the same path, removes
the earlier export's files this one no longer writes (an image moved to another split or renamed
leaves no copy) and keeps your own files and those of images this export leaves out; annotation
files holding many images (COCO, split lists) are replaced whole. A merge that does not fit the
earlier export is refused: use --overwrite.

version create freezes the dataset's images (with their content hashes), classes, splits, tags
and human annotations (accepted predictions included; pending predictions too with
--with-predictions) as version N; export --version N writes that version, byte for byte the same
files whenever it runs, and refuses when an image file changed on disk since. version diff lists
what changed from version A to version B, or to the dataset now (current). Every export folder
gets a tessera-version.json: dataset, version, settings, tool version and the sha256 of each file.
export --recipe recipe.json takes the whole export from a recipe (format, scope, preprocessing and
augmentation); --augment recipe.json takes only its preprocessing (resize, grayscale, tiles) and its
augmentation of the train split (N seeded outputs per image), the rest from the command line.
version create --recipe recipe.json saves the recipe with the version; export --version N without
--recipe or --augment then exports with it (format and scope included), the same files every time.

prelabel with a model.onnx and no manifest proposes one from the model's shapes (a [1, C] output is
a classifier), reading class names from --labels or a labels file beside the model; --task says
what the model is where the shapes do not, and a model that does not fit it fails.

prelabel runs onnxruntime with one intra-op thread per physical core (--threads); idle threads
spin only on machines of 4 or more physical cores (--spin on|off overrides).

segment prompts a SAM-family encoder/decoder pair (Segment Anything / MobileSAM / SlimSAM,
EfficientViT-SAM, SAM 2; two files are inspected for their family) on one image: points and boxes
in image pixels, labels 1 (foreground, the default) or 0 (background); it prints the best mask
(area, bbox, predicted IoU) and, with --save, stores it as an annotation of class NAME.
With --from-run it prompts the pair with every box prediction of that run instead and stores the
masks (or polygons) as predictions of a new run, to review like a pre-label run; Ctrl+C stops it,
keeping the images done.

embed stores an embedding vector per image (and with --crops per object: its box with a margin)
of an embed model: a manifest with task "embed", or a model.onnx whose output is read as the
vector (--output, else the one named like an embedding, else the first; a feature map is averaged,
tokens give their first token; ImageNet preprocessing assumed). --images new (the default) computes
only images without a current vector, so a run stopped with Ctrl+C continues where it stopped.

similar lists the images nearest to one image by cosine similarity of their stored embeddings
(best first, with the score); duplicates lists the pairs of images at or above the threshold,
grouped, and marks pairs split across train/val/test as leakage. Both use the vectors of the
embedding model with the most images unless --model names its key, and need embeddings computed
first (tessera embed).

A <db> is a .tessera file or a PostgreSQL dataset, postgres://user[:password]@host[:port]/database
[?schema=name] (one dataset per schema; init needs --root for one, the folder its images are under).

copy copies a whole dataset, every table with its ids and history, into a new .tessera file or an
empty (or missing) PostgreSQL schema, in one transaction; it then compares every table of both
(row counts and a hash of the rows) and says verified, or removes the copy and fails naming the
table that differs.

serve is the team server: one PostgreSQL dataset for many people, who log in with accounts made by
user add (password from TESSERA_PASSWORD or a line of standard input, never the command line)
and are given a role on the dataset: annotator, reviewer or manager (see the README, Team mode).

worker claims parts of the pre-label and embedding runs queued on a PostgreSQL dataset (queue
prelabel/embed, or the team server) and runs them on this machine, which must see the images and
the model files at the same paths; it heartbeats, gives back the parts of workers that stopped
answering, and on SIGINT or SIGTERM finishes the parts it holds and exits. queue status lists the
workers, the queued runs and, with --run, which worker ran each part on which provider.

predictions list prints the predictions still pending review; with --all also those accepted
(human annotations now, with the score the model gave) and those a newer run of the model
superseded or that were found where a shape already was, each with its status. Rejected
predictions are deleted and not listed.`;

export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'init':
        return await cmdInit(rest, io);
      case 'import':
        return await cmdImport(rest, io);
      case 'copy':
        return await cmdCopy(rest, io);
      case 'export':
        return await cmdExport(rest, io);
      case 'info':
        return await cmdInfo(rest, io);
      case 'version':
        return await cmdVersion(rest, io);
      case 'prelabel':
        return await cmdPrelabel(rest, io);
      case 'predictions':
        return await cmdPredictions(rest, io);
      case 'embed':
        return await cmdEmbed(rest, io);
      case 'eval':
        return await cmdEval(rest, io);
      case 'segment':
        return await cmdSegment(rest, io);
      case 'similar':
        return await cmdSimilar(rest, io);
      case 'duplicates':
        return await cmdDuplicates(rest, io);
      case 'audit':
        return await (await import('./audit')).cmdAudit(rest, io);
      case 'serve':
        return await (await import('./team')).cmdServe(rest, io);
      case 'user':
        return await (await import('./team')).cmdUser(rest, io);
      case 'worker':
        return await (await import('./worker')).cmdWorker(rest, io);
      case 'queue':
        return await (await import('./worker')).cmdQueue(rest, io);
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
    return d.code === 'INVALID_ARGUMENT' ? 2 : d.code === 'CANCELLED' ? 130 : 1;
  }
}

function parse(args: string[], options: NonNullable<ParseArgsConfig['options']>) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new AppError('INVALID_ARGUMENT', (e as Error).message);
  }
}

async function cmdInit(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(args, { root: { type: 'string' } });
  if (positionals.length !== 1) throw new AppError('INVALID_ARGUMENT', 'init takes one dataset path');
  const ds = await Dataset.create(positionals[0]!, values['root'] as string | undefined);
  try {
    io.out(`created ${ds.file} (image root ${ds.root})`);
  } finally {
    await ds.close();
  }
  return 0;
}

async function cmdCopy(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(args, { json: { type: 'boolean', default: false } });
  if (positionals.length !== 2) throw new AppError('INVALID_ARGUMENT', 'copy takes the dataset to copy and the new dataset to copy it to');
  const { copyDataset } = await import('../services/copy');
  const report = await copyDataset(positionals[0]!, positionals[1]!, {
    onTable: io.tty ? (table, rows) => io.err(`copied ${table} (${rows} rows)`) : undefined,
  });
  if (values['json']) {
    io.out(JSON.stringify(report, null, 2));
    return 0;
  }
  const width = Math.max(5, ...report.tables.map((t) => t.table.length));
  const lines = [`${'table'.padEnd(width)}  rows`];
  for (const t of report.tables) lines.push(`${t.table.padEnd(width)}  ${t.rows}`);
  lines.push(`copied ${report.rows} rows in ${report.tables.length} tables from ${report.from} to ${report.to} (image root ${report.root}); verified`);
  io.out(lines.join('\n'));
  return 0;
}

const IMPORT_FORMATS = ['auto', 'images', ...FORMATS] as const;

/** Ctrl-C cancels the running job: the import or export then writes nothing. */
async function withSigint<T>(run: (cancelled: () => boolean) => Promise<T>): Promise<T> {
  let cancelled = false;
  const onSigint = (): void => {
    cancelled = true;
  };
  process.once('SIGINT', onSigint);
  try {
    return await run(() => cancelled);
  } finally {
    process.removeListener('SIGINT', onSigint);
  }
}

async function cmdImport(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(args, {
    json: { type: 'boolean', default: false },
    'no-recursive': { type: 'boolean', default: false },
    'max-pixels': { type: 'string' },
    format: { type: 'string', default: 'auto' },
    'dry-run': { type: 'boolean', default: false },
    probe: { type: 'boolean', default: false },
    'keep-empty-classes': { type: 'boolean', default: false },
  });
  if (positionals.length < 2) throw new AppError('INVALID_ARGUMENT', 'import takes a dataset path and at least one file or folder');
  const { maxPixelsSetting } = await import('../services/importer');
  const { detectFormat } = await import('../services/interchange/detect');
  const { importDataset, inspectDataset } = await import('../services/interchange/importDataset');
  const maxPixels = values['max-pixels'] !== undefined ? Number(values['max-pixels']) : maxPixelsSetting();
  if (!Number.isFinite(maxPixels) || maxPixels <= 0) throw new AppError('INVALID_ARGUMENT', '--max-pixels must be a positive number');
  const format = values['format'] as string;
  if (!(IMPORT_FORMATS as readonly string[]).includes(format)) {
    throw new AppError('INVALID_ARGUMENT', `--format must be one of ${IMPORT_FORMATS.join(', ')}`);
  }
  const dryRun = values['dry-run'] as boolean;
  const json = values['json'] as boolean;
  const ds = await Dataset.open(positionals[0]!);
  try {
    const paths = positionals.slice(1).map((p) => path.resolve(p));
    let formats: FormatName[] | null = null;
    if (format === 'auto') {
      const found = await Promise.all(paths.map((p) => detectFormat(p)));
      const known = found.filter((f) => f !== null);
      if (known.length === paths.length) formats = known.map((f) => f.reader.name);
      else if (known.length > 0) {
        const odd = paths[found.findIndex((f) => f === null)]!;
        throw new AppError('INVALID_ARGUMENT', `${odd}: no annotation format found, while other paths hold annotations; import them separately or pass --format`);
      }
    } else if (format !== 'images') formats = paths.map(() => format as FormatName);

    if (formats === null) {
      if (dryRun) throw new AppError('INVALID_ARGUMENT', `--dry-run applies to annotation imports, and no annotation format was found in ${paths.join(', ')}`);
      return await importImageFiles(ds, paths, { recursive: !values['no-recursive'], maxPixels, json }, io);
    }
    const reports: InterchangeReport[] = [];
    // Each path is its own transaction: one refused leaves those before it imported, so every
    // report is still printed, then every refusal.
    const failures: { path: string; error: unknown }[] = [];
    await withSigint(async (cancelled) => {
      for (const [i, p] of paths.entries()) {
        // Paths typed on the command line are the user's choice, as for image imports.
        const opts = { path: p, format: formats[i]!, allowOutsideRoot: true, maxPixels, isCancelled: cancelled, probe: values['probe'] as boolean, keepEmptyClasses: values['keep-empty-classes'] as boolean };
        try {
          reports.push(dryRun ? await inspectDataset(ds, opts) : await importDataset(ds, opts));
        } catch (e) {
          failures.push({ path: p, error: e });
          if (toErrorData(e).code === 'CANCELLED') break;
        }
      }
    });
    if (reports.length === 0 && failures.length === 1) throw failures[0]!.error;
    if (reports.length > 0) {
      if (json) io.out(JSON.stringify(reports.length === 1 && paths.length === 1 ? reports[0] : reports, null, 2));
      else io.out(reports.map(formatInterchangeReport).join('\n\n'));
    }
    // A dry run reports a refused input in full, and fails as its import would.
    const refused = reports.filter((r) => r.refused);
    for (const r of refused) io.err(`tessera: refused: ${r.source}: ${r.refused}`);
    for (const f of failures) {
      const d = toErrorData(f.error);
      const message = d.message.split('\n')[0]!;
      io.err(`tessera: ${d.code === 'INTERNAL' ? 'error' : d.code}: ${message.includes(f.path) ? message : `${f.path}: ${message}`}`);
    }
    if (failures.length > 0 && reports.length > 0 && !dryRun) {
      io.err(`tessera: ${reports.length} of ${paths.length} paths imported (reported above); nothing was written from the ${failures.length === 1 ? 'one' : failures.length} that failed`);
    }
    if (failures.some((f) => toErrorData(f.error).code === 'CANCELLED')) return 130;
    return refused.length > 0 || failures.length > 0 ? 1 : 0;
  } finally {
    await ds.close();
  }
}

async function importImageFiles(ds: Dataset, paths: string[], o: { recursive: boolean; maxPixels: number; json: boolean }, io: CliIo): Promise<number> {
  const { importImages } = await import('../services/importer');
  const report = await withSigint((cancelled) =>
    importImages(ds, {
      paths,
      recursive: o.recursive,
      // Paths typed on the command line are the user's choice: outside the root they are
      // stored as absolute paths, and the report counts them.
      allowOutsideRoot: true,
      maxPixels: o.maxPixels,
      isCancelled: cancelled,
      onProgress: io.tty && !o.json ? drawProgress : undefined,
    }),
  );
  if (io.tty && !o.json) io.err('');
  io.out(o.json ? JSON.stringify(report, null, 2) : formatReport(report));
  if (report.cancelled) return 130;
  // Nothing usable among the files named: a failure, not an empty success.
  if (report.imported === 0 && report.duplicates.length === 0 && report.problems.length > 0) {
    io.err(`tessera: nothing imported: ${report.problems[0]!.file}: ${report.problems[0]!.reason}${report.problems.length > 1 ? ` (${report.problems.length} problems in all)` : ''}`);
    return 1;
  }
  return 0;
}

function parseRatios(s: string): [number, number, number] {
  const parts = s.split(',').map((x) => Number(x.trim()));
  if (parts.length !== 3 || parts.some((x) => !Number.isFinite(x) || x < 0) || parts[0]! + parts[1]! + parts[2]! <= 0) {
    throw new AppError('INVALID_ARGUMENT', `--split takes three non-negative ratios for train, val and test, e.g. 0.8,0.1,0.1 (got "${s}")`);
  }
  return parts as [number, number, number];
}

function oneOf<T extends string>(name: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) throw new AppError('INVALID_ARGUMENT', `--${name} must be one of ${allowed.join(', ')}`);
  return value as T;
}

async function cmdExport(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(args, {
    format: { type: 'string' },
    split: { type: 'string' },
    seed: { type: 'string' },
    only: { type: 'string', default: 'all' },
    'with-predictions': { type: 'boolean', default: false },
    images: { type: 'string', default: 'copy' },
    strict: { type: 'boolean', default: false },
    'coco-segmentation': { type: 'string', default: 'polygon' },
    overwrite: { type: 'boolean', default: false },
    merge: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    version: { type: 'string' },
    augment: { type: 'string' },
    recipe: { type: 'string' },
  });
  if (positionals.length !== 2) throw new AppError('INVALID_ARGUMENT', 'export takes a dataset path and an output folder');
  const version = values['version'] !== undefined ? versionNumber(values['version'] as string, '--version') : undefined;
  if (version !== undefined && values['split'] !== undefined) throw new AppError('INVALID_ARGUMENT', '--split changes the dataset, not a version: a version keeps the splits it froze');
  // --recipe: the whole export (format, scope, preprocessing, augmentation) from the file;
  // --augment: only its preprocessing and augmentation, the rest from the command line.
  if (values['augment'] !== undefined && values['recipe'] !== undefined) throw new AppError('INVALID_ARGUMENT', '--augment and --recipe exclude each other');
  const { readRecipeFile } = await import('../services/interchange/recipeExport');
  const recipeFile = (values['recipe'] ?? values['augment']) as string | undefined;
  let recipe = recipeFile !== undefined ? readRecipeFile(path.resolve(recipeFile)) : null;
  // A version exported without a recipe file takes the recipe saved with it, when it has one.
  let saved: number | null = null;
  if (!recipe && version !== undefined) {
    const { requireVersion } = await import('../services/versions');
    const { parseRecipe } = await import('../common/augment/parseRecipe');
    const probe = await Dataset.open(positionals[0]!);
    try {
      const v = await requireVersion(probe, version);
      if (v.recipe !== null && v.recipe !== undefined) {
        recipe = parseRecipe(v.recipe, `version ${version}'s saved recipe`);
        saved = version;
      }
    } finally {
      await probe.close();
    }
  }
  if (recipe && (values['recipe'] !== undefined || saved !== null)) {
    for (const k of ['format', 'only', 'with-predictions', 'coco-segmentation'] as const) {
      if (args.some((a) => a === `--${k}` || a.startsWith(`--${k}=`))) {
        throw new AppError(
          'INVALID_ARGUMENT',
          saved !== null
            ? `--${k} is given by the recipe saved with version ${saved}; pass --recipe FILE to export it with another recipe, or --augment FILE to take only a file's preprocessing and augmentation`
            : `--${k} is given by the recipe ${recipeFile}; use --augment to take only its preprocessing and augmentation`,
        );
      }
    }
    values['format'] = recipe.format;
    values['only'] = recipe.only;
    values['with-predictions'] = recipe.withPredictions;
    values['coco-segmentation'] = recipe.cocoSegmentation;
  }
  if (values['overwrite'] && values['merge']) throw new AppError('INVALID_ARGUMENT', '--overwrite and --merge exclude each other');
  const ifExists = values['overwrite'] ? 'overwrite' : values['merge'] ? 'merge' : 'refuse';
  if (values['format'] === undefined) throw new AppError('INVALID_ARGUMENT', `export needs --format ${EXPORT_FORMATS.join('|')}`);
  const format = oneOf<ExportFormat>('format', values['format'] as string, EXPORT_FORMATS);
  const only = oneOf('only', values['only'] as string, ['all', 'done', 'reviewed'] as const);
  const images = oneOf('images', values['images'] as string, ['copy', 'link', 'none'] as const);
  const cocoSegmentation = oneOf('coco-segmentation', values['coco-segmentation'] as string, ['polygon', 'rle'] as const);
  const ratios = values['split'] !== undefined ? parseRatios(values['split'] as string) : null;
  if (values['seed'] !== undefined && !ratios) throw new AppError('INVALID_ARGUMENT', '--seed applies to --split');
  const seed = values['seed'] !== undefined ? Number(values['seed']) : 0;
  if (!Number.isSafeInteger(seed)) throw new AppError('INVALID_ARGUMENT', '--seed must be a whole number');
  const json = values['json'] as boolean;
  const { assignSplits } = await import('../services/interchange/splits');
  const { exportDataset, checkNotSources } = await import('../services/interchange/exportDataset');
  const { checkOutDir } = await import('../services/interchange/exportPlace');
  const outDir = path.resolve(positionals[1]!);
  // Before the splits are assigned: a refused folder changes nothing.
  try {
    checkOutDir(outDir, ifExists);
  } catch (e) {
    if (isAppError(e) && e.detail?.['notEmpty']) {
      throw new AppError('INVALID_ARGUMENT', `${outDir}: folder is not empty; pass --overwrite to replace an earlier export there, or --merge to add this export's files to it`, e.detail);
    }
    throw e;
  }
  const ds = await Dataset.open(positionals[0]!);
  try {
    // Merge conflicts and the dataset's own image folders are refused before the splits change too.
    const { listClasses } = await import('../db/classes');
    if (version === undefined) {
      await checkNotSources(ds, outDir);
      checkOutDir(outDir, ifExists, { format, classes: (await listClasses(ds.db)).map((c) => c.name), dataset: ds.uuid });
    }
    const splits = ratios ? await assignSplits(ds, { ratios, seed, stratify: true, only }) : null;
    const report = await withSigint((cancelled) =>
      exportDataset(ds, {
        outDir,
        format,
        ifExists,
        only,
        withPredictions: values['with-predictions'] as boolean,
        images,
        strict: values['strict'] as boolean,
        cocoSegmentation,
        ...(version !== undefined ? { version } : {}),
        ...(recipe ? { recipe: { preprocess: recipe.preprocess, augment: recipe.augment } } : {}),
        isCancelled: cancelled,
        onProgress: io.tty && !json ? ({ done, total }) => process.stderr.write(`\rexporting ${done}/${total}   `) : undefined,
      }),
    );
    if (io.tty && !json) io.err('');
    if (saved !== null && !json) io.out(`exported with the recipe saved with version ${saved}`);
    io.out(json ? JSON.stringify(splits ? { ...report, splits } : report, null, 2) : formatExportReport(report, splits));
    return 0;
  } finally {
    await ds.close();
  }
}

/** A version number as the command line gives it. */
function versionNumber(text: string, what: string): number {
  const n = Number(text.replace(/^v/i, ''));
  if (!Number.isSafeInteger(n) || n < 1) throw new AppError('INVALID_ARGUMENT', `${what} must be a version number (1, 2, ...), not "${text}"`);
  return n;
}

async function cmdVersion(args: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args;
  const { values, positionals } = parse(rest, {
    name: { type: 'string' },
    note: { type: 'string' },
    'with-predictions': { type: 'boolean', default: false },
    recipe: { type: 'string' },
    json: { type: 'boolean', default: false },
  });
  const json = values['json'] as boolean;
  const versions = await import('../services/versions');
  const need = (n: number, usage: string) => {
    if (positionals.length !== n) throw new AppError('INVALID_ARGUMENT', `usage: tessera version ${usage}`);
  };
  if (sub === 'create') {
    need(1, 'create <db> --name NAME [--note TEXT] [--with-predictions] [--recipe recipe.json] [--json]');
    if (values['name'] === undefined) throw new AppError('INVALID_ARGUMENT', 'version create needs --name NAME');
  } else if (sub === 'list') need(1, 'list <db> [--json]');
  else if (sub === 'diff') need(3, 'diff <db> A B|current [--json]');
  else throw new AppError('INVALID_ARGUMENT', `unknown version command "${sub ?? ''}": create, list or diff`);
  if (sub !== 'create' && (values['name'] !== undefined || values['note'] !== undefined || values['with-predictions'] || values['recipe'] !== undefined)) {
    throw new AppError('INVALID_ARGUMENT', '--name, --note, --with-predictions and --recipe apply to version create');
  }
  let recipe: unknown;
  if (values['recipe'] !== undefined) {
    const { readRecipeFile } = await import('../services/interchange/recipeExport');
    recipe = readRecipeFile(path.resolve(values['recipe'] as string));
  }
  const ds = await Dataset.open(positionals[0]!);
  try {
    if (sub === 'create') {
      const v = await versions.createVersion(ds, {
        name: values['name'] as string,
        ...(values['note'] !== undefined ? { note: values['note'] as string } : {}),
        withPredictions: values['with-predictions'] as boolean,
        ...(recipe !== undefined ? { recipe } : {}),
      });
      io.out(
        json
          ? JSON.stringify(v, null, 2)
          : `created version ${v.number} "${v.name}": ${v.images} image(s), ${v.classes} class(es), ${v.annotations} annotation(s)${v.recipe ? ', with its recipe' : ''}`,
      );
    } else if (sub === 'list') {
      const list = await versions.listVersions(ds);
      if (json) io.out(JSON.stringify(list, null, 2));
      else if (list.length === 0) io.out('no versions');
      else {
        for (const v of list) {
          io.out(
            `${String(v.number).padStart(3)}  ${v.name}  ${new Date(v.createdAt).toISOString()}  ${v.images} image(s), ${v.classes} class(es), ${v.annotations} annotation(s)` +
              `${v.withPredictions ? ', with predictions' : ''}${v.recipe ? ', with a recipe' : ''}${v.note ? `  ${v.note}` : ''}`,
          );
        }
      }
    } else {
      const a = versionNumber(positionals[1]!, 'A');
      const b = positionals[2]!.toLowerCase() === 'current' ? 'current' : versionNumber(positionals[2]!, 'B');
      const d = await versions.diffVersions(ds, a, b);
      io.out(json ? JSON.stringify(d, null, 2) : formatDiff(d));
    }
    return 0;
  } finally {
    await ds.close();
  }
}

function formatDiff(d: VersionDiff): string {
  const side = (v: { number: number; name: string } | null) => (v ? `version ${v.number} (${v.name})` : 'the dataset now');
  const list = (items: { path: string }[]) => (items.length ? `: ${items.slice(0, 5).map((i) => i.path).join(', ')}${items.length > 5 ? ', …' : ''}` : '');
  const lines = [
    `from ${side(d.from)} to ${side(d.to)}`,
    `images      ${d.images.added.length} added${list(d.images.added)}`,
    `            ${d.images.removed.length} removed${list(d.images.removed)}`,
    `            ${d.images.replaced.length} with another file${list(d.images.replaced)}`,
    `            ${d.images.splitMoves.length} moved to another split${d.images.splitMoves.length ? `: ${d.images.splitMoves.slice(0, 5).map((m) => `${m.path} ${m.from ?? 'none'} -> ${m.to ?? 'none'}`).join(', ')}` : ''}`,
    `annotations ${d.annotations.added} added, ${d.annotations.changed} changed, ${d.annotations.removed} removed`,
  ];
  for (const c of d.annotations.byClass) lines.push(`  ${c.name.padEnd(20)} +${c.added} ~${c.changed} -${c.removed}`);
  const cls = d.classes;
  if (cls.added.length + cls.removed.length + cls.changed.length === 0) lines.push('classes     unchanged');
  else {
    if (cls.added.length) lines.push(`classes     added ${cls.added.map((c) => c.name).join(', ')}`);
    if (cls.removed.length) lines.push(`classes     removed ${cls.removed.map((c) => c.name).join(', ')}`);
    for (const c of cls.changed) lines.push(`classes     ${c.was}${c.was !== c.name ? ` -> ${c.name}` : ''}: ${c.fields.join(', ')} changed`);
  }
  return lines.join('\n');
}

async function cmdInfo(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(args, { json: { type: 'boolean', default: false } });
  if (positionals.length !== 1) throw new AppError('INVALID_ARGUMENT', 'info takes one dataset path');
  const ds = await Dataset.open(positionals[0]!);
  try {
    const info = await ds.info();
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
    await ds.close();
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

function formatInterchangeReport(r: InterchangeReport): string {
  const kinds = Object.entries(r.annotations.byKind)
    .filter(([, n]) => (n ?? 0) > 0)
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
  const lines = [
    `${r.dryRun ? 'dry run, nothing written: would import' : 'imported'} ${r.format} from ${r.source}` +
      (r.dryRun ? '' : ` in ${(r.elapsedMs / 1000).toFixed(1)} s`),
    `images      ${r.images.total} listed: ${r.images.matched} already in the dataset, ${r.images.added} new, ${r.images.missing} missing`,
    `annotations ${r.annotations.total}${kinds ? ` (${kinds})` : ''}`,
    `classes     ${r.classes.map((c) => `${c.name} ${c.annotations}${c.isNew ? ' (new)' : ''}`).join(', ') || 'none'}`,
  ];
  const empty = r.counters['emptyClassesLeftOut'] ?? 0;
  if (empty > 0) lines.push(`            ${empty} ${empty === 1 ? 'category' : 'categories'} with no annotations not created (--keep-empty-classes creates them)`);
  const counters = Object.entries(r.counters).filter(([, n]) => n > 0);
  if (counters.length) lines.push(`counters    ${counters.map(([k, n]) => `${k} ${n}`).join(', ')}`);
  for (const p of r.problems) lines.push(`${p.severity.padEnd(11)} ${p.file}${p.where ? ` (${p.where})` : ''}: ${p.message}`);
  return lines.join('\n');
}

function formatExportReport(r: ExportReport, splits: Record<string, number> | null): string {
  const bySplit = Object.entries(r.bySplit)
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
  const lines = [
    `exported ${r.images} image(s) and ${r.annotations} annotation(s) as ${r.format} to ${r.outDir} in ${(r.elapsedMs / 1000).toFixed(1)} s`,
    `splits      ${bySplit}${splits ? ' (assigned now)' : ''}`,
    `files       ${r.files} annotation file(s), ${r.emptyLabelFiles} empty label file(s) for images without annotations`,
  ];
  for (const w of r.warnings) lines.push(`warning     ${w.kind} x${w.count}: ${w.message}`);
  return lines.join('\n');
}

/**
 * A manifest file, or an .onnx file whose inspected manifest is used as proposed. The model is
 * inspected, or for a manifest its session loaded for `providers`, in the inference worker the run
 * then uses, with the run's thread settings, so the file is loaded once. (Inspection loads on the
 * CPU: a run on another provider loads its own session.)
 */
async function modelFromArg(
  arg: string,
  backend: InferenceBackend,
  providers: Provider[] | undefined,
  threads: ThreadSettings,
  given: { labels?: string; task?: ModelTask } = {},
): Promise<{ manifest: ModelManifest; file: string }> {
  const abs = path.resolve(arg);
  if (abs.toLowerCase().endsWith('.json')) {
    if (given.labels || given.task) throw new AppError('INVALID_ARGUMENT', `--labels and --task are for a model file without a manifest; ${abs} says them itself`, { path: abs });
    const { readManifestFile } = await import('../services/models');
    const manifest = readManifestFile(abs);
    if (!manifest.file) {
      throw new AppError('INVALID_ARGUMENT', `${abs}: the manifest names no local file; download the model in the app first, or pass the .onnx file`, { path: abs });
    }
    // Loads while this thread opens the dataset; a failure is the run's to report.
    backend.prepare(manifest.file, providers, threads).catch(() => undefined);
    return { manifest, file: manifest.file };
  }
  const { inspectWithLabels } = await import('../services/models');
  const inspection = await inspectWithLabels((f) => backend.inspect(f, threads), abs, given);
  if (!inspection.proposed) {
    throw new AppError('UNSUPPORTED_FORMAT', `${abs}: ${inspection.problems.join('; ') || 'no decoder family fits its outputs'}`, { path: abs });
  }
  return { manifest: inspection.proposed, file: abs };
}

function unitArg(name: string, v: unknown): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0 || n > 1) throw new AppError('INVALID_ARGUMENT', `--${name} must be a number from 0 to 1`);
  return n;
}

/** --threads N: onnxruntime's intra-op threads, a whole number from 1 to MAX_THREADS. */
function threadsArg(v: unknown): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!/^\d+$/.test(String(v)) || n < 1 || n > MAX_THREADS) throw new AppError('INVALID_ARGUMENT', `--threads must be a whole number from 1 to ${MAX_THREADS}, got "${String(v)}"`);
  return n;
}

/** --spin on|off: whether onnxruntime's idle intra-op threads spin. */
function spinArg(v: unknown): boolean | undefined {
  if (v === undefined) return undefined;
  if (v === 'on' || v === 'off') return v === 'on';
  throw new AppError('INVALID_ARGUMENT', `--spin must be on or off, got "${String(v)}"`);
}

/** --tile N [--overlap F|PX] [--full-pass]: tiled inference, validated like the app's options. */
async function tilingArg(tile: unknown, overlap: unknown, fullPass: boolean): Promise<TilingOptions | undefined> {
  if (tile === undefined) {
    if (overlap !== undefined || fullPass) throw new AppError('INVALID_ARGUMENT', '--overlap and --full-pass need --tile <size>');
    return undefined;
  }
  const { tilingSchema } = await import('../common/contract');
  const r = tilingSchema.safeParse({ size: Number(tile), ...(overlap !== undefined ? { overlap: Number(overlap) } : {}), fullPass });
  if (!r.success) {
    throw new AppError('INVALID_ARGUMENT', `--tile ${String(tile)}${overlap !== undefined ? ` --overlap ${String(overlap)}` : ''}: ${r.error.issues.map((i) => `${i.path.join('.') || 'tiling'}: ${i.message}`).join('; ')}`);
  }
  return r.data;
}

async function cmdPrelabel(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(args, {
    model: { type: 'string' },
    labels: { type: 'string' },
    task: { type: 'string' },
    images: { type: 'string', default: 'all' },
    conf: { type: 'string' },
    iou: { type: 'string' },
    provider: { type: 'string' },
    json: { type: 'boolean', default: false },
    tile: { type: 'string' },
    overlap: { type: 'string' },
    'full-pass': { type: 'boolean', default: false },
    threads: { type: 'string' },
    spin: { type: 'string' },
  });
  if (positionals.length !== 1) throw new AppError('INVALID_ARGUMENT', 'prelabel takes one dataset path');
  const threadArgs = { threads: threadsArg(values['threads']), spinning: spinArg(values['spin']) };
  const tiling = await tilingArg(values['tile'], values['overlap'], values['full-pass'] as boolean);
  if (!values['model']) throw new AppError('INVALID_ARGUMENT', 'prelabel needs --model <manifest.json|model.onnx>');
  const images = oneOf('images', values['images'] as string, ['all', 'unlabeled'] as const);
  const provider = values['provider'] === undefined ? undefined : oneOf('provider', values['provider'] as string, PROVIDERS);
  const conf = unitArg('conf', values['conf']);
  const iou = unitArg('iou', values['iou']);
  const json = values['json'] as boolean;
  const { threadSettings } = await import('../inference/threads');
  // A batch run has the machine to itself: idle threads spin unless told otherwise.
  const threads = threadSettings('batch', threadArgs);
  // The inference worker starts, and inspects or loads the model with the run's thread settings,
  // while this thread loads the rest and opens the dataset.
  const { closeInferenceBackend, inferenceBackend, providerOrder } = await import('../services/inference');
  const backend = await inferenceBackend();
  const task = values['task'] === undefined ? undefined : oneOf('task', values['task'] as string, PRELABEL_TASKS);
  const model = modelFromArg(values['model'] as string, backend, providerOrder(provider), threads, { labels: values['labels'] as string | undefined, task });
  model.catch(() => undefined);
  let ds: Dataset;
  try {
    ds = await Dataset.open(positionals[0]!);
  } catch (e) {
    await closeInferenceBackend();
    throw e;
  }
  try {
    const { runPrelabel } = await import('../services/prelabel');
    const { imageIdsForPrelabel } = await import('../db/prelabel');
    const { manifest, file } = await model;
    const { detector } = backend;
    const summary = await withSigint(async (cancelled) =>
      runPrelabel(
        ds,
        detector,
        { manifest, modelFile: file, imageIds: await imageIdsForPrelabel(ds.db, images === 'unlabeled'), conf, iou, skipLabeled: images === 'unlabeled', providers: providerOrder(provider), tiling, threads },
        {
          isCancelled: cancelled,
          onProgress:
            io.tty && !json ? (p) => process.stderr.write(`\rpre-labeling ${p.done}/${p.total}` + (p.tiles ? ` (tile ${p.tiles.done}/${p.tiles.total})` : '') + '   ') : undefined,
        },
      ),
    );
    if (io.tty && !json) io.err('');
    for (const w of summary.warnings) io.err(`warning: ${w}`);
    if (json) io.out(JSON.stringify(summary, null, 2));
    else {
      const ms = summary.msPerImage === null ? '-' : summary.msPerImage.toFixed(1);
      io.out(
        `run ${summary.runId}: ${summary.done} of ${summary.images} images pre-labeled (${summary.skipped} skipped, ${summary.failed} failed), ` +
          `${summary.detections} detections${kindList(summary.byKind)}, ${ms} ms per image, provider ${summary.provider ?? '-'}` +
          ` (${threads.threads} thread${threads.threads === 1 ? '' : 's'}, spinning ${threads.spinning ? 'on' : 'off'})` +
          (summary.replaced ? `; ${summary.replaced} older predictions of this model replaced` : '') +
          (summary.alreadyLabeled + summary.alreadyRejected ? `; ${summary.alreadyLabeled + summary.alreadyRejected} already labeled or rejected left out` : '') +
          (summary.cancelled ? `; cancelled, ${summary.pending} pending` : ''),
      );
    }
    return summary.cancelled ? 130 : summary.failed > 0 ? 1 : 0;
  } finally {
    await ds.close();
    // The OpenCV thread semantic instances were split in, when the model has instances.
    await (await import('../services/prelabel')).closeInstancesWorker();
    await closeInferenceBackend();
  }
}

async function cmdEmbed(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(args, {
    model: { type: 'string' },
    output: { type: 'string' },
    images: { type: 'string', default: 'new' },
    crops: { type: 'boolean', default: false },
    provider: { type: 'string' },
    threads: { type: 'string' },
    spin: { type: 'string' },
    json: { type: 'boolean', default: false },
  });
  if (positionals.length !== 1) throw new AppError('INVALID_ARGUMENT', 'embed takes one dataset path');
  if (!values['model']) throw new AppError('INVALID_ARGUMENT', 'embed needs --model <manifest.json|model.onnx>');
  const images = oneOf('images', values['images'] as string, ['all', 'new'] as const);
  const provider = values['provider'] === undefined ? undefined : oneOf('provider', values['provider'] as string, PROVIDERS);
  const threadArgs = { threads: threadsArg(values['threads']), spinning: spinArg(values['spin']) };
  const json = values['json'] as boolean;
  const { threadSettings } = await import('../inference/threads');
  const threads = threadSettings('batch', threadArgs);
  const { closeInferenceBackend, inferenceBackend, providerOrder } = await import('../services/inference');
  const { computeEmbeddings, embedManifestForFile, storedEmbeddingModels } = await import('../services/embeddings');
  const backend = await inferenceBackend();
  try {
    const abs = path.resolve(values['model'] as string);
    let manifest: ModelManifest;
    let file: string;
    if (abs.toLowerCase().endsWith('.json')) {
      if (values['output'] !== undefined) throw new AppError('INVALID_ARGUMENT', `--output is for a model file without a manifest; ${abs} names its output itself`, { path: abs });
      const { readManifestFile } = await import('../services/models');
      manifest = readManifestFile(abs);
      if (manifest.task !== 'embed') throw new AppError('INVALID_ARGUMENT', `${abs}: a ${manifest.task} model, not an embed model (task "embed")`, { path: abs });
      if (!manifest.file) throw new AppError('INVALID_ARGUMENT', `${abs}: the manifest names no local file; download the model in the app first, or pass the .onnx file`, { path: abs });
      file = manifest.file;
    } else {
      const proposed = await embedManifestForFile((f) => backend.inspect(f, threads), abs, values['output'] as string | undefined);
      if (!json) for (const p of proposed.problems) io.err(`note: ${p}`);
      manifest = proposed.manifest;
      file = abs;
    }
    const ds = await Dataset.open(positionals[0]!);
    try {
      const summary = await withSigint((cancelled) =>
        computeEmbeddings(ds, {
          model: { manifest, file },
          images,
          crops: values['crops'] as boolean,
          embedder: backend.embedder,
          providers: providerOrder(provider),
          threads,
          isCancelled: cancelled,
          onProgress: io.tty && !json ? (p) => process.stderr.write(`\rembedding ${p.done}/${p.total}${p.etaMs ? `, ${Math.ceil(p.etaMs / 1000)} s left` : ''}   `) : undefined,
        }),
      );
      if (io.tty && !json) io.err('');
      const stored = (await storedEmbeddingModels(ds)).find((m) => m.key === summary.key) ?? null;
      const imageCount = await ds.db.prepare('SELECT COUNT(*) FROM images').pluck().get() as number;
      const perSecond = summary.ms > 0 ? (summary.computed + summary.crops) / (summary.ms / 1000) : 0;
      if (json) {
        io.out(JSON.stringify({ ...summary, model: stored, imageCount, ms: Math.round(summary.ms), perSecond: Math.round(perSecond * 10) / 10 }, null, 2));
      } else {
        for (const p of summary.problems) io.err(`problem: ${p}`);
        io.out(
          `${manifest.id}: ${summary.computed} of ${summary.total} images embedded` +
            (values['crops'] ? `, ${summary.crops} object crops` : '') +
            ` (${summary.skipped} already current, ${summary.failed} failed), ${perSecond.toFixed(1)} vectors/s` +
            (stored ? `; stored: ${stored.images} of ${imageCount} images${stored.stale ? ` (${stored.stale} stale)` : ''}, ${stored.annotations} objects, ${stored.dim} values (${stored.dtype}), key ${stored.key}` : '; nothing stored') +
            (summary.cancelled ? '; cancelled' : ''),
        );
      }
      return summary.cancelled ? 130 : summary.failed > 0 ? 1 : 0;
    } finally {
      await ds.close();
    }
  } finally {
    await closeInferenceBackend();
  }
}

async function cmdPredictionsList(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(args, { run: { type: 'string' }, image: { type: 'string' }, all: { type: 'boolean', default: false }, json: { type: 'boolean', default: false } });
  if (positionals.length !== 1) throw new AppError('INVALID_ARGUMENT', 'predictions list takes one dataset path');
  const { listPredictions } = await import('../services/predictionList');
  const ds = await Dataset.open(positionals[0]!);
  try {
    const all = values['all'] as boolean;
    const list = await listPredictions(ds, { run: values['run'] as string | undefined, image: values['image'] as string | undefined, all });
    if (values['json']) io.out(JSON.stringify(list, null, 2));
    else {
      for (const p of list) {
        const where = p.bbox ? ` [${p.bbox.map((v) => Math.round(v * 10) / 10).join(', ')}]` : '';
        io.out(`${p.file}\t${p.kind}\t${p.className ?? '-'}\t${p.score === null ? '-' : p.score.toFixed(3)}${all ? `\t${p.status}` : ''}${where}`);
      }
      io.err(`${list.length} predictions`);
    }
    return 0;
  } finally {
    await ds.close();
  }
}

async function cmdPredictions(args: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === 'list') return cmdPredictionsList(rest, io);
  if (sub !== 'import') throw new AppError('INVALID_ARGUMENT', `unknown predictions command "${sub ?? ''}" (import or list)`);
  const { values, positionals } = parse(rest, {
    name: { type: 'string' },
    instances: { type: 'string' },
    'allow-new-classes': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  });
  if (positionals.length !== 2) throw new AppError('INVALID_ARGUMENT', 'predictions import takes a dataset path and a COCO results file');
  if (!values['name']) throw new AppError('INVALID_ARGUMENT', 'predictions import needs --name <run>');
  const { importCocoResults } = await import('../services/predictions');
  const ds = await Dataset.open(positionals[0]!);
  try {
    const r = await importCocoResults(ds, {
      file: positionals[1]!,
      name: values['name'] as string,
      instances: values['instances'] as string | undefined,
      allowNewClasses: values['allow-new-classes'] as boolean,
    });
    if (r.newCategoryIds.length > 0) {
      const shown = r.newClassNames.slice(0, 20).map((n) => `"${n}"`).join(', ') + (r.newClassNames.length > 20 ? ', …' : '');
      io.err(`warning: ${r.newCategoryResults} results of ${r.newCategoryIds.length} category ids no class matched were imported as new classes: ${shown}`);
    }
    if (values['json']) io.out(JSON.stringify(r, null, 2));
    else {
      io.out(`run ${r.runId}: ${r.predictions} predictions on ${r.images} images` + (r.unmatchedResults ? `; ${r.unmatchedResults} results on ${r.unmatchedImageIds.length} unknown images skipped` : '') + (r.invalid ? `; ${r.invalid} invalid shapes skipped` : ''));
    }
    return 0;
  } finally {
    await ds.close();
  }
}

/** COCOeval.summarize's wording of each stats entry. */
const STAT_LINES: Record<(typeof COCO_STAT_NAMES)[number], [ap: boolean, iou: string, area: string, maxDets: number]> = {
  AP: [true, '0.50:0.95', 'all', 100],
  AP50: [true, '0.50', 'all', 100],
  AP75: [true, '0.75', 'all', 100],
  APs: [true, '0.50:0.95', 'small', 100],
  APm: [true, '0.50:0.95', 'medium', 100],
  APl: [true, '0.50:0.95', 'large', 100],
  AR1: [false, '0.50:0.95', 'all', 1],
  AR10: [false, '0.50:0.95', 'all', 10],
  AR100: [false, '0.50:0.95', 'all', 100],
  ARs: [false, '0.50:0.95', 'small', 100],
  ARm: [false, '0.50:0.95', 'medium', 100],
  ARl: [false, '0.50:0.95', 'large', 100],
};

function unitOption(values: Record<string, unknown>, name: string, fallback: number): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (!Number.isFinite(v) || v < 0 || v > 1) throw new AppError('INVALID_ARGUMENT', `--${name} must be a number from 0 to 1, not "${String(raw)}"`);
  return v;
}

function formatEval(r: EvalResult): string[] {
  const f = (v: number) => (v < 0 ? '   -1' : v.toFixed(3));
  const lines = [`run ${r.runId} "${r.runName}", ${r.iouType}: ${r.images} images, ${r.groundTruths} ground truths, ${r.detections} detections`, ''];
  COCO_STAT_NAMES.forEach((name, i) => {
    const [ap, iou, area, maxDets] = STAT_LINES[name];
    const title = ap ? 'Average Precision  (AP)' : 'Average Recall     (AR)';
    lines.push(`${name.padEnd(6)} ${title} @[ IoU=${iou.padEnd(9)} | area=${area.padStart(6)} | maxDets=${String(maxDets).padStart(3)} ] = ${f(r.stats[i]!)}`);
  });
  const width = Math.max(5, ...r.perClass.map((c) => c.name.length));
  lines.push('', `per class (AP over IoU 0.50:0.95; P/R/F1 at score >= ${r.scoreThreshold} and IoU >= ${r.iouThreshold}):`);
  lines.push(`${'class'.padEnd(width)}     AP   AP50   AP75     GT   dets     TP     FP     FN      P      R     F1`);
  for (const c of r.perClass) {
    if (c.groundTruths === 0 && c.detections === 0) continue;
    const n = (v: number) => String(v).padStart(6);
    lines.push(
      `${c.name.padEnd(width)} ${[c.ap, c.ap50, c.ap75].map((v) => f(v).padStart(6)).join(' ')} ${[c.groundTruths, c.detections, c.tp, c.fp, c.fn].map(n).join(' ')} ${[c.precision, c.recall, c.f1].map((v) => v.toFixed(3).padStart(6)).join(' ')}`,
    );
  }
  const tp = r.perClass.reduce((a, c) => a + c.tp, 0);
  const fp = r.perClass.reduce((a, c) => a + c.fp, 0);
  const fn = r.perClass.reduce((a, c) => a + c.fn, 0);
  const p = tp + fp > 0 ? tp / (tp + fp) : 0;
  const rc = tp + fn > 0 ? tp / (tp + fn) : 0;
  const f1 = p + rc > 0 ? (2 * p * rc) / (p + rc) : 0;
  lines.push('', `all classes: precision ${p.toFixed(3)}, recall ${rc.toFixed(3)}, F1 ${f1.toFixed(3)} (TP ${tp}, FP ${fp}, FN ${fn})`);
  if (r.confidence.best) lines.push(`best F1 ${r.confidence.best.f1.toFixed(3)} at score >= ${r.confidence.best.threshold.toFixed(2)}`);
  return lines;
}

async function cmdEval(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(args, {
    run: { type: 'string' },
    'iou-type': { type: 'string', default: 'bbox' },
    split: { type: 'string' },
    status: { type: 'string' },
    conf: { type: 'string' },
    iou: { type: 'string' },
    json: { type: 'boolean', default: false },
  });
  if (positionals.length !== 1) throw new AppError('INVALID_ARGUMENT', 'eval takes one dataset path');
  if (!values['run']) throw new AppError('INVALID_ARGUMENT', 'eval needs --run <id|name>');
  const iouType = values['iou-type'] as string;
  if (!(IOU_TYPES as readonly string[]).includes(iouType)) throw new AppError('INVALID_ARGUMENT', `--iou-type must be ${IOU_TYPES.join(' or ')}, not "${iouType}"`);
  const filter: ImageFilter = {};
  const split = values['split'] as string | undefined;
  if (split !== undefined) {
    if (!([...SPLITS, 'none'] as string[]).includes(split)) throw new AppError('INVALID_ARGUMENT', `--split must be one of ${[...SPLITS, 'none'].join(', ')}, not "${split}"`);
    filter.split = split as ImageFilter['split'];
  }
  const status = values['status'] as string | undefined;
  if (status !== undefined) {
    if (!(IMAGE_STATUSES as readonly string[]).includes(status)) throw new AppError('INVALID_ARGUMENT', `--status must be one of ${IMAGE_STATUSES.join(', ')}, not "${status}"`);
    filter.status = status as ImageFilter['status'];
  }
  const scoreThreshold = unitOption(values, 'conf', 0.5);
  const iouThreshold = unitOption(values, 'iou', 0.5);
  const { evaluateRun, resolveRun } = await import('../services/evaluation');
  const ds = await Dataset.open(positionals[0]!);
  try {
    const r = await evaluateRun(ds, { runId: await resolveRun(ds, values['run'] as string), iouType: iouType as IouType, filter, scoreThreshold, iouThreshold });
    if (values['json']) io.out(JSON.stringify(r));
    else for (const line of formatEval(r)) io.out(line);
    return 0;
  } finally {
    await ds.close();
  }
}

/** "x,y" or "x,y,label" in image pixels; the label is 1 (foreground, the default) or 0. */
function pointArg(v: string): { x: number; y: number; label: 0 | 1 } {
  const parts = v.split(',').map((p) => p.trim());
  const n = parts.map(Number);
  if ((parts.length !== 2 && parts.length !== 3) || n.some((x) => !Number.isFinite(x)) || (parts.length === 3 && n[2] !== 0 && n[2] !== 1)) {
    throw new AppError('INVALID_ARGUMENT', `--point must be x,y or x,y,label with label 1 (foreground) or 0 (background), not "${v}"`);
  }
  return { x: n[0]!, y: n[1]!, label: parts.length === 3 ? (n[2] as 0 | 1) : 1 };
}

function boxArg(v: string): { x0: number; y0: number; x1: number; y1: number } {
  const n = v.split(',').map((p) => Number(p.trim()));
  if (n.length !== 4 || n.some((x) => !Number.isFinite(x)) || n[0] === n[2] || n[1] === n[3]) {
    throw new AppError('INVALID_ARGUMENT', `--box must be x0,y0,x1,y1 (two opposite corners in image pixels), not "${v}"`);
  }
  return { x0: n[0]!, y0: n[1]!, x1: n[2]!, y1: n[3]! };
}

async function cmdSegment(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(args, {
    image: { type: 'string' },
    'from-run': { type: 'string' },
    encoder: { type: 'string' },
    decoder: { type: 'string' },
    model: { type: 'string' },
    point: { type: 'string', multiple: true },
    box: { type: 'string' },
    frame: { type: 'string', default: '0' },
    as: { type: 'string', default: 'mask' },
    tolerance: { type: 'string', default: '1' },
    save: { type: 'boolean', default: false },
    class: { type: 'string' },
    provider: { type: 'string' },
    json: { type: 'boolean', default: false },
  });
  if (positionals.length !== 1) throw new AppError('INVALID_ARGUMENT', 'segment takes one dataset path');
  const fromRun = values['from-run'] as string | undefined;
  if (fromRun !== undefined && values['image'] !== undefined) throw new AppError('INVALID_ARGUMENT', 'segment takes either --image or --from-run, not both');
  if (fromRun === undefined && !values['image']) throw new AppError('INVALID_ARGUMENT', 'segment needs --image <id|file name> (or --from-run <runId>)');
  const hasPair = values['encoder'] !== undefined || values['decoder'] !== undefined;
  if (hasPair === (values['model'] !== undefined)) throw new AppError('INVALID_ARGUMENT', 'segment needs either --encoder <enc.onnx> and --decoder <dec.onnx>, or --model <manifest.json>');
  if (hasPair && (!values['encoder'] || !values['decoder'])) throw new AppError('INVALID_ARGUMENT', `segment needs both --encoder and --decoder (${values['encoder'] ? '--decoder' : '--encoder'} is missing)`);
  if (fromRun !== undefined) return segmentFromRun(positionals[0]!, fromRun, values, hasPair, io);
  const points = ((values['point'] as string[] | undefined) ?? []).map(pointArg);
  const box = values['box'] !== undefined ? boxArg(values['box'] as string) : undefined;
  if (points.length === 0 && !box) throw new AppError('INVALID_ARGUMENT', 'segment needs a prompt: --point x,y[,label] and/or --box x0,y0,x1,y1');
  const as = oneOf('as', values['as'] as string, ['mask', 'polygon'] as const);
  const tolerance = Number(values['tolerance']);
  if (!Number.isFinite(tolerance) || tolerance < 0 || tolerance > 100) throw new AppError('INVALID_ARGUMENT', '--tolerance must be a number of pixels from 0 to 100');
  const frame = Number(values['frame']);
  if (!Number.isInteger(frame) || frame < 0) throw new AppError('INVALID_ARGUMENT', `--frame must be a whole number from 0, not "${String(values['frame'])}"`);
  const save = values['save'] as boolean;
  const className = values['class'] as string | undefined;
  if (save && !className) throw new AppError('INVALID_ARGUMENT', '--save needs --class NAME');
  if (!save && className) throw new AppError('INVALID_ARGUMENT', '--class applies only with --save');
  const provider = values['provider'] === undefined ? undefined : oneOf('provider', values['provider'] as string, PROVIDERS);
  const json = values['json'] as boolean;

  const { samModelFromArgs, inspectedPair, Segmenter, maskToPolygon, findImageByRef, saveSegment } = await import('../services/segment');
  const given = samModelFromArgs({ model: values['model'] as string | undefined, encoder: values['encoder'] as string | undefined, decoder: values['decoder'] as string | undefined });
  const { closeInferenceBackend, inferenceBackend, providerOrder } = await import('../services/inference');
  const { threadSettings } = await import('../inference/threads');
  let ds: Dataset;
  try {
    ds = await Dataset.open(positionals[0]!);
  } catch (e) {
    await closeInferenceBackend();
    throw e;
  }
  try {
    const backend = await inferenceBackend();
    // Two files are inspected for their family and input size; a manifest says them itself.
    const model = hasPair ? await inspectedPair((file) => backend.inspect(file, threadSettings('batch')), given) : given;
    const image = await findImageByRef(ds, values['image'] as string);
    const seg = new Segmenter(inferenceBackend);
    const r = await seg.decode(ds, model, { imageId: image.id, frame, points, box, providers: providerOrder(provider), threads: threadSettings('batch') });
    const best = r.masks[0]!;
    const polygon = as === 'polygon' ? maskToPolygon(best, tolerance) : null;
    for (const w of r.warnings) io.err(`warning: ${w}`);
    let saved: { annotationId: number; classId: number; journalId: number } | null = null;
    if (save) {
      if (best.area === 0 || (as === 'polygon' && !polygon)) throw new AppError('INVALID_ARGUMENT', `${image.path}: the mask is empty; nothing was saved`, { imageId: image.id });
      saved = await saveSegment(ds, { imageId: image.id, frame, className: className!, geometry: polygon ? { kind: 'polygon', parts: polygon } : { kind: 'mask', rle: best.rle } });
    }
    const vertices = polygon ? polygon.reduce((n, p) => n + p.length / 2, 0) : null;
    if (json) {
      io.out(
        JSON.stringify({
          imageId: image.id,
          area: best.area,
          bbox: best.bbox,
          score: best.score,
          masks: r.masks.length,
          provider: r.provider,
          encodeMs: r.encodeMs,
          decodeMs: r.decodeMs,
          cached: r.cached,
          as,
          ...(polygon ? { polygon, vertices } : { rle: best.rle }),
          ...(saved ? { saved } : {}),
        }),
      );
    } else {
      const [x, y, w, h] = best.bbox;
      io.out(
        `image ${image.id} ${image.path}: mask of ${best.area} px, bbox ${x},${y} ${w}x${h}, predicted IoU ${best.score.toFixed(3)}` +
          (vertices !== null ? `, polygon of ${vertices} vertices` : '') +
          `; provider ${r.provider}, encode ${r.encodeMs.toFixed(1)} ms${r.cached ? ' (cached)' : ''}, decode ${r.decodeMs.toFixed(1)} ms` +
          (saved ? `; saved as annotation ${saved.annotationId} of class "${className}"` : ''),
      );
    }
    return 0;
  } finally {
    await ds.close();
    await closeInferenceBackend();
  }
}

/** `segment --from-run`: every box prediction of a run prompts the pair; the masks become a new run. */
async function segmentFromRun(db: string, fromRun: string, values: Record<string, unknown>, hasPair: boolean, io: CliIo): Promise<number> {
  const runId = Number(fromRun);
  if (!Number.isInteger(runId) || runId < 1) throw new AppError('INVALID_ARGUMENT', `--from-run must be a run id (a whole number from 1), not "${fromRun}"`);
  for (const k of ['point', 'box', 'save', 'class'] as const) {
    const v = values[k];
    if (v !== undefined && v !== false) throw new AppError('INVALID_ARGUMENT', `--${k} does not apply with --from-run (the run's boxes are the prompts)`);
  }
  if (values['frame'] !== '0') throw new AppError('INVALID_ARGUMENT', '--frame does not apply with --from-run (each box has its frame)');
  const as = oneOf('as', values['as'] as string, ['mask', 'polygon'] as const);
  const tolerance = Number(values['tolerance']);
  if (!Number.isFinite(tolerance) || tolerance < 0 || tolerance > 100) throw new AppError('INVALID_ARGUMENT', '--tolerance must be a number of pixels from 0 to 100');
  const provider = values['provider'] === undefined ? undefined : oneOf('provider', values['provider'] as string, PROVIDERS);
  const json = values['json'] as boolean;

  const { samModelFromArgs, inspectedPair, Segmenter, boxesToMasks } = await import('../services/segment');
  const given = samModelFromArgs({ model: values['model'] as string | undefined, encoder: values['encoder'] as string | undefined, decoder: values['decoder'] as string | undefined });
  const { closeInferenceBackend, inferenceBackend, providerOrder } = await import('../services/inference');
  const { threadSettings } = await import('../inference/threads');
  let ds: Dataset;
  try {
    ds = await Dataset.open(db);
  } catch (e) {
    await closeInferenceBackend();
    throw e;
  }
  try {
    const backend = await inferenceBackend();
    const model = hasPair ? await inspectedPair((file) => backend.inspect(file, threadSettings('batch')), given) : given;
    const seg = new Segmenter(inferenceBackend);
    const progress = io.tty && !json;
    const summary = await withSigint((cancelled) =>
      boxesToMasks(
        seg,
        ds,
        { model, runId, as, tolerance, providers: providerOrder(provider), threads: threadSettings('batch') },
        { isCancelled: cancelled, onProgress: progress ? (p) => process.stderr.write(`\rmasks from boxes: image ${p.done}/${p.total}, ${p.created} created   `) : undefined },
      ),
    );
    if (progress) io.err('');
    if (json) io.out(JSON.stringify({ ...summary, sourceRunId: runId, as }, null, 2));
    else {
      for (const w of summary.warnings) io.err(`warning: ${w}`);
      io.out(
        `run ${summary.runId}: ${summary.created} ${as === 'mask' ? 'masks' : 'polygons'} from ${summary.boxes} boxes of run ${runId}` +
          (summary.empty ? ` (${summary.empty} empty, not stored)` : '') +
          (summary.failed ? `; ${summary.failed} image${summary.failed === 1 ? '' : 's'} failed` : '') +
          (summary.cancelled ? '; cancelled, the images done are kept' : ''),
      );
    }
    return summary.cancelled ? 130 : summary.failed > 0 ? 1 : 0;
  } finally {
    await ds.close();
    await closeInferenceBackend();
  }
}

async function cmdSimilar(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(args, {
    image: { type: 'string' },
    k: { type: 'string', default: '10' },
    model: { type: 'string' },
    json: { type: 'boolean', default: false },
  });
  if (positionals.length !== 1) throw new AppError('INVALID_ARGUMENT', 'similar takes one dataset path');
  if (!values['image']) throw new AppError('INVALID_ARGUMENT', 'similar needs --image <id|file name>');
  const k = Number(values['k']);
  if (!Number.isInteger(k) || k < 1 || k > 10_000) throw new AppError('INVALID_ARGUMENT', `--k must be a whole number from 1 to 10000, not "${String(values['k'])}"`);
  const { findImageRef, findSimilar, pickEmbeddingModel } = await import('../services/similarity');
  const ds = await Dataset.open(positionals[0]!);
  try {
    // Without vectors the answer is to compute them, whatever image is named.
    await pickEmbeddingModel(ds, values['model'] as string | undefined);
    const imageId = await findImageRef(ds, values['image'] as string);
    const r = await findSimilar(ds, { imageIds: [imageId], k, model: values['model'] as string | undefined });
    if (values['json']) io.out(JSON.stringify(r, null, 2));
    else {
      io.out(`images like ${imageId} (model ${r.model.key}, ${r.searched} image vectors, ${r.elapsedMs.toFixed(1)} ms):`);
      for (const h of r.hits) io.out(`${h.score.toFixed(4)}  ${String(h.imageId).padStart(6)}  ${h.path}${h.split ? `  [${h.split}]` : ''}`);
    }
  } finally {
    await ds.close();
  }
  return 0;
}

async function cmdDuplicates(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parse(args, {
    threshold: { type: 'string', default: '0.95' },
    model: { type: 'string' },
    json: { type: 'boolean', default: false },
  });
  if (positionals.length !== 1) throw new AppError('INVALID_ARGUMENT', 'duplicates takes one dataset path');
  const threshold = Number(values['threshold']);
  if (!Number.isFinite(threshold) || threshold < -1 || threshold > 1) throw new AppError('INVALID_ARGUMENT', `--threshold must be a cosine similarity from -1 to 1, not "${String(values['threshold'])}"`);
  const { findNearDuplicates } = await import('../services/duplicates');
  const ds = await Dataset.open(positionals[0]!);
  try {
    const r = await findNearDuplicates(ds, { threshold, model: values['model'] as string | undefined, maxPairs: Number.POSITIVE_INFINITY });
    if (values['json']) io.out(JSON.stringify(r, null, 2));
    else {
      io.out(
        `${r.pairs.length} near-duplicate pair(s) at cosine >= ${r.threshold} in ${r.groups.length} group(s), ${r.leakage} across splits` +
          ` (model ${r.model.key}, ${r.searched} image vectors, ${(r.elapsedMs / 1000).toFixed(1)} s)`,
      );
      for (const p of r.pairs) {
        const split = (s: string | null): string => (s ? ` [${s}]` : '');
        io.out(`${p.score.toFixed(4)}  ${p.a.imageId} ${p.a.path}${split(p.a.split)}  ~  ${p.b.imageId} ${p.b.path}${split(p.b.split)}${p.leakage ? '  LEAKAGE' : ''}`);
      }
    }
  } finally {
    await ds.close();
  }
  return 0;
}
