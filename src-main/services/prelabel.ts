import { AppError } from '../common/errors';
import type { Detection, ModelManifest, Provider } from '../common/inference/types';
import type { Geometry, ImageFilter, ImageRecord, JobProgress } from '../common/model';
import type { ModelInspection } from '../common/contract';
import type { PrelabelProgress, PrelabelSummary } from '../common/prelabel';
import { validateGeometry } from '../common/geometry/shapes';
import { insertAnnotations, type NewAnnotation } from '../db/annotations';
import { getImage, listImages } from '../db/images';
import { finishModelRun, insertModelRun } from '../db/modelRuns';
import {
  addRunImages,
  getModelRun,
  hasHumanAnnotations,
  markRunImage,
  pendingRunImages,
  reopenRun,
  runImageCounts,
  setRunParameters,
  setRunProvider,
} from '../db/prelabel';
import type { Dataset } from './dataset';
import { resolveStoredPath } from './paths';
import { classResolver } from './predictions';

/**
 * Pre-labeling many images as a resumable job. The model run row records the model, the
 * parameters and the provider that actually ran; `model_run_images` records which images are
 * done, so `resumePrelabel` after a restart continues with what is pending. Each image's
 * predictions and its "done" mark are written in one transaction: an interrupted run never holds
 * half an image, nor an image done twice. Human annotations are never touched.
 */

export interface DetectRequest {
  manifest: ModelManifest;
  modelFile: string;
  imagePath: string;
  conf: number;
  iou: number;
  /** Preference order; the detector falls back along it to the CPU. */
  providers?: Provider[];
}

export interface DetectResult {
  detections: Detection[];
  provider: Provider;
  ms: number;
  /** Providers that failed to load, and similar things the user must see. */
  warnings?: string[];
}

/** Runs a model on one image file; the inference layer implements it off the main thread. */
export interface Detector {
  detect(req: DetectRequest): Promise<DetectResult>;
}

export type { PrelabelProgress, PrelabelSummary };

export interface PrelabelRunArgs {
  manifest: ModelManifest;
  modelFile: string;
  imageIds: readonly number[];
  conf?: number;
  iou?: number;
  skipLabeled: boolean;
  providers?: Provider[];
  name?: string;
}

export interface JobHooks {
  isCancelled?: () => boolean;
  onProgress?: (p: PrelabelProgress) => void;
  /** Called once the run row exists, so a caller can show or store its id before the work ends. */
  onRun?: (runId: number) => void;
}

interface RunParameters {
  manifest: ModelManifest;
  modelFile: string;
  conf: number;
  iou: number;
  size: ModelManifest['size'];
  skipLabeled: boolean;
  providers: Provider[] | null;
  /** Model class name -> dataset class id (null: ignored), filled as classes are met. */
  classes: Record<string, number | null>;
}

export function detectionGeometry(d: Detection): Geometry {
  return d.mask ? { kind: 'mask', rle: { size: d.mask.size, counts: d.mask.counts } } : { kind: 'box', ...d.box };
}

/** Clips a box to the image; detections at the border often reach a pixel or two outside. */
function clip(d: Detection, width: number, height: number): Detection {
  const x0 = Math.max(0, d.box.x);
  const y0 = Math.max(0, d.box.y);
  const x1 = Math.min(width, d.box.x + d.box.w);
  const y1 = Math.min(height, d.box.y + d.box.h);
  return { ...d, box: { x: x0, y: y0, w: x1 - x0, h: y1 - y0 } };
}

export async function runPrelabel(ds: Dataset, detector: Detector, args: PrelabelRunArgs, hooks: JobHooks = {}): Promise<PrelabelSummary> {
  const m = args.manifest;
  const params: RunParameters = {
    manifest: m,
    modelFile: args.modelFile,
    conf: args.conf ?? m.thresholds.score,
    iou: args.iou ?? m.thresholds.iou,
    size: m.size,
    skipLabeled: args.skipLabeled,
    providers: args.providers ?? null,
    classes: {},
  };
  const runId = ds.db.transaction(() => {
    const id = insertModelRun(ds.db, { model: m.id, name: args.name ?? m.name, parameters: { ...params } });
    addRunImages(ds.db, id, args.imageIds);
    return id;
  })();
  return continueRun(ds, detector, runId, params, hooks);
}

/** Continues a run with the parameters it was started with; done images are not run again. */
export async function resumePrelabel(ds: Dataset, detector: Detector, runId: number, hooks: JobHooks = {}): Promise<PrelabelSummary> {
  const run = getModelRun(ds.db, runId);
  if (!run) throw new AppError('NOT_FOUND', `model run ${runId} does not exist`, { runId });
  const params = run.parameters as unknown as RunParameters;
  if (!params.manifest || !params.modelFile) throw new AppError('INVALID_ARGUMENT', `model run ${runId} was not a pre-labeling run (an import, say) and cannot be resumed`, { runId });
  if (active.has(`${ds.file}\u0000${runId}`)) throw new AppError('INVALID_ARGUMENT', `model run ${runId} is already running`, { runId });
  reopenRun(ds.db, runId);
  return continueRun(ds, detector, runId, params, hooks);
}

/** Errors that say the model or the request is wrong, not one image. */
const FATAL = new Set(['INVALID_ARGUMENT', 'UNSUPPORTED', 'CANCELLED', 'NOT_FOUND']);

/** Runs being worked on in this process, by dataset file and run id: a resume must not join one. */
const active = new Set<string>();

async function continueRun(ds: Dataset, detector: Detector, runId: number, params: RunParameters, hooks: JobHooks): Promise<PrelabelSummary> {
  const key = `${ds.file}\u0000${runId}`;
  active.add(key);
  try {
    return await work(ds, detector, runId, params, hooks);
  } finally {
    active.delete(key);
  }
}

async function work(ds: Dataset, detector: Detector, runId: number, params: RunParameters, hooks: JobHooks): Promise<PrelabelSummary> {
  const db = ds.db;
  hooks.onRun?.(runId);
  const pending = pendingRunImages(db, runId);
  const before = runImageCounts(db, runId);
  const total = before.done + before.skipped + before.failed + before.pending;
  const resolve = classResolver(ds, params.manifest.id, params.manifest.classes);
  const warnings = new Set<string>();
  let provider: Provider | null = (getModelRun(db, runId)?.provider as Provider | null) ?? null;
  let detections = 0;
  let ran = 0;
  let inferMs = 0;
  let cancelled = false;
  const started = Date.now();
  let processed = 0;
  const report = () => {
    const doneNow = total - pending.length + processed;
    const perImage = processed > 0 ? (Date.now() - started) / processed : null;
    hooks.onProgress?.({ runId, done: doneNow, total, detections, etaMs: perImage === null ? null : Math.round(perImage * (pending.length - processed)), provider });
  };
  report();

  try {
    // One image ahead: the next image is decoded and run in the inference worker while this
    // thread writes the current one's predictions.
    type Outcome = { ok: true; result: DetectResult } | { ok: false; error: Error & { code?: string } };
    const launch = (imageId: number): { image: ImageRecord; outcome: Promise<Outcome> } | 'gone' | 'skip' => {
      const image = getImage(db, imageId);
      // Deleted since the run began; its run_images row went with it (ON DELETE CASCADE).
      if (!image) return 'gone';
      if (params.skipLabeled && hasHumanAnnotations(db, imageId)) return 'skip';
      const req: DetectRequest = {
        manifest: params.manifest,
        modelFile: params.modelFile,
        imagePath: resolveStoredPath(ds.root, image.path, image.external),
        conf: params.conf,
        iou: params.iou,
        providers: params.providers ?? undefined,
      };
      return { image, outcome: detector.detect(req).then((result): Outcome => ({ ok: true, result }), (error: Error): Outcome => ({ ok: false, error })) };
    };
    let next = pending.length > 0 ? launch(pending[0]!) : null;
    let failedInARow = 0;
    for (let k = 0; k < pending.length; k++) {
      const imageId = pending[k]!;
      const current = next!;
      if (hooks.isCancelled?.()) {
        cancelled = true;
        break;
      }
      next = k + 1 < pending.length ? launch(pending[k + 1]!) : null;
      if (current === 'gone') {
        processed++;
        continue;
      }
      if (current === 'skip') {
        markRunImage(db, runId, imageId, 'skipped');
        processed++;
        report();
        continue;
      }
      const { image } = current;
      const outcome = await current.outcome;
      if (!outcome.ok) {
        const err = outcome.error;
        failedInARow++;
        // A model that cannot run (wrong family or size, missing file) fails the run rather than
        // every image one by one; an image that cannot be read fails only itself.
        if ((err.code && FATAL.has(err.code)) || (ran === 0 && failedInARow >= 3)) throw err;
        markRunImage(db, runId, imageId, 'failed', { error: err.message });
        warnings.add(`${image.path}: ${err.message}`);
        processed++;
        report();
        continue;
      }
      failedInARow = 0;
      const result = outcome.result;
      for (const w of result.warnings ?? []) warnings.add(w);
      if (provider !== result.provider) {
        provider = result.provider;
        setRunProvider(db, runId, provider);
      }
      const rows: NewAnnotation[] = [];
      db.transaction(() => {
        for (const raw of result.detections) {
          const d = clip(raw, image.width, image.height);
          const name = params.manifest.classes[d.classIndex] ?? `class ${d.classIndex}`;
          const classId = resolve(d.classIndex);
          params.classes[name] = classId;
          if (classId === null) continue;
          const geometry = detectionGeometry(d);
          if (validateGeometry(geometry, image)) continue;
          rows.push({ imageId, classId, geometry, source: 'model', modelRunId: runId, score: d.score, attributes: { modelClass: name } });
        }
        insertAnnotations(db, rows);
        markRunImage(db, runId, imageId, 'done', { detections: rows.length, ms: result.ms });
      })();
      detections += rows.length;
      ran++;
      inferMs += result.ms;
      processed++;
      report();
    }
  } catch (e) {
    finishModelRun(db, runId, 'failed');
    throw e;
  } finally {
    const stored = getModelRun(db, runId)!.parameters;
    setRunParameters(db, runId, { ...stored, classes: { ...(stored['classes'] as object | undefined), ...params.classes } });
  }
  const counts = runImageCounts(db, runId);
  finishModelRun(db, runId, cancelled ? 'cancelled' : 'done');
  return {
    runId,
    model: params.manifest.id,
    images: total,
    done: counts.done,
    skipped: counts.skipped,
    failed: counts.failed,
    pending: counts.pending,
    detections,
    msPerImage: ran > 0 ? inferMs / ran : null,
    provider,
    warnings: [...warnings],
    cancelled,
  };
}

/** Runs a model on one image and returns what it found, storing nothing. */
export async function tryModel(ds: Dataset, detector: Detector, q: { manifest: ModelManifest; modelFile: string; imageId: number; conf?: number; iou?: number; providers?: Provider[] }): Promise<DetectResult> {
  const image = getImage(ds.db, q.imageId);
  if (!image) throw new AppError('NOT_FOUND', `image ${q.imageId} is not in the dataset`, { id: q.imageId });
  const r = await detector.detect({
    manifest: q.manifest,
    modelFile: q.modelFile,
    imagePath: resolveStoredPath(ds.root, image.path, image.external),
    conf: q.conf ?? q.manifest.thresholds.score,
    iou: q.iou ?? q.manifest.thresholds.iou,
    providers: q.providers,
  });
  return { ...r, detections: r.detections.map((d) => clip(d, image.width, image.height)) };
}

/** The images a `prelabel:run` scope names, in id order. */
export function scopeImageIds(ds: Dataset, scope: { imageIds: readonly number[] } | { filter: ImageFilter; unlabeledOnly: boolean }): number[] {
  if ('imageIds' in scope) {
    for (const id of scope.imageIds) if (!getImage(ds.db, id)) throw new AppError('NOT_FOUND', `image ${id} is not in the dataset`, { id });
    return [...new Set(scope.imageIds)];
  }
  const ids: number[] = [];
  const PAGE = 1000;
  for (let offset = 0; ; offset += PAGE) {
    const page = listImages(ds.db, scope.filter, offset, PAGE);
    for (const im of page) if (!scope.unlabeledOnly || !hasHumanAnnotations(ds.db, im.id)) ids.push(im.id);
    if (page.length < PAGE) return ids;
  }
}

/** The provider preference order when the user names a first choice: it, then the CPU. */
export function providerOrder(first: Provider | undefined): Provider[] | undefined {
  return first ? [...new Set<Provider>([first, 'cpu'])] : undefined;
}

/** Turns pre-labeling progress into the generic job progress the app's progress bar shows. */
export function jobProgress(jobId: string, p: PrelabelProgress, finished = false): JobProgress {
  return { jobId, kind: 'prelabel', phase: finished ? 'done' : 'writing', done: p.done, total: p.total, imported: p.detections, duplicates: 0, problems: 0, etaMs: p.etaMs };
}

/** What pre-labeling needs from the inference layer: detection and model inspection. */
export interface InferenceBackend {
  detector: Detector;
  inspect(file: string): Promise<ModelInspection>;
}

let backend: Promise<InferenceBackend> | null = null;

/**
 * The onnxruntime backend: detection in the inference layer's worker pool, off this thread. It is
 * loaded on first use so that commands and windows that never run a model do not load onnxruntime.
 */
export function inferenceBackend(): Promise<InferenceBackend> {
  backend ??= (async () => {
    const { detect, inspectModel } = await import('../inference/index');
    return {
      detector: {
        async detect(req) {
          const r = await detect({ file: req.modelFile, providers: req.providers }, req.imagePath, req.manifest, { score: req.conf, iou: req.iou });
          return { detections: r.detections, provider: r.provider, ms: r.timings.preMs + r.timings.runMs + r.timings.postMs, warnings: r.warnings };
        },
      },
      inspect: inspectModel,
    };
  })();
  return backend;
}

/** Stops the inference workers (the CLI must, or they keep the process alive). */
export async function closeInferenceBackend(): Promise<void> {
  if (!backend) return;
  backend = null;
  const { sharedPool } = await import('../inference/index');
  await sharedPool().close();
}
