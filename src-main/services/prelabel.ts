import { AppError } from '../common/errors';
import type { Detection, ModelManifest, Provider, RawPixels, ThreadSettings } from '../common/inference/types';
import { inputWindowMode, modelInputWindow, windowToBytes, type InputWindow } from '../common/inference/highBitDepth';
import { antialiasedByDefault } from '../common/inference/resize';
import { mergeTiled, tileGrid, toImage, type Tile, type TileDetection, type TilingOptions } from '../common/inference/tiling';
import type { Geometry, ImageFilter, ImageRecord, JobProgress } from '../common/model';
import type { PrelabelProgress, PrelabelSummary } from '../common/prelabel';
import { validateGeometry } from '../common/geometry/shapes';
import { insertAnnotations, type NewAnnotation } from '../db/annotations';
import { getClass, setClassKeypoints } from '../db/classes';
import { keypointSchemaProblem } from '../common/keypoints';
import { KEYPOINT_LABELLED_SCORE, keypointsFromScores, manifestKeypoints } from '../common/inference/obbPose';
import { getImage, listImages } from '../db/images';
import { finishModelRun, insertModelRun } from '../db/modelRuns';
import {
  addPredictionHistory,
  addRunImages,
  clearRunImage,
  getModelRun,
  hasHumanAnnotations,
  humanShapesOfImage,
  newerRunOfImage,
  rejectedShapesOfImage,
  supersedePredictions,
  type HistoryPrediction,
  markRunImage,
  pendingRunImages,
  reopenRun,
  runImageCounts,
  setRunParameters,
  setRunProvider,
} from '../db/prelabel';
import { rangeOfWindow } from '../common/imaging/window';
import type { Dataset } from './dataset';
import { fullDecodePixelsSetting, readRaster, readRasterPart, REDUCED_SIDE, vipsReadable } from './raster';
import { pyramidPixelsSetting } from './pyramid';
import { chosenWindow, decodedForDisplay, geoNodata, paddingOf, rasterNeedsWindow } from './dicom/display';
import { getImagingMeta } from '../db/imaging';
import { maxPixelsSetting } from './importer';
import type { Raster } from '../common/imaging/raster';
import { classResolver, duplicateIouSetting, sameObject } from './predictions';
import { threadSettings } from '../inference/threads';
import { classesPresent, classMasks, classRelief, regionDetections, SemanticStitch, zscoreStats, type SemanticMaps, type ZscoreStats } from '../common/inference/semantic';
import { VisionWorker } from '../vision/client';

/**
 * Pre-labeling many images as a resumable job. The model run row records the model, the
 * parameters and the provider that actually ran; `model_run_images` records which images are
 * done, so `resumePrelabel` after a restart continues with what is pending. Each image's
 * predictions and its "done" mark are written in one transaction: an interrupted run never holds
 * half an image, nor an image done twice. Human annotations are never touched.
 *
 * A run replaces, image by image as it writes them, the pending predictions earlier runs of the
 * same model left there; they move to the prediction history, where evaluation still finds them.
 * Predictions the user edited stay. A detection of the same class as a human shape, an edited
 * prediction or a rejected prediction, overlapping it at
 * `duplicateIouSetting()` or more, goes to the history too rather than back into review.
 */

export interface DetectRequest {
  manifest: ModelManifest;
  modelFile: string;
  imagePath: string;
  /** The image's size after EXIF orientation as the dataset records it, for an 8-bit file: its header need not be read again. */
  size?: { width: number; height: number };
  conf: number;
  iou: number;
  /** Preference order; the detector falls back along it to the CPU. */
  providers?: Provider[];
  /** onnxruntime's intra-op threads and spinning; onnxruntime's defaults when omitted. */
  threads?: ThreadSettings;
  /** Only this region of the image (tiled inference), in oriented image pixels. */
  region?: Tile;
  /** Pixels to run instead of reading `imagePath` (images deeper than 8 bits, already windowed). */
  raw?: RawPixels;
  /** Samples of this value are "no data"; an input holding nothing else is not run. */
  nodata?: number;
  /** The input is one tile of a tiled run (pose keypoints outside it are left unclamped for the merge). */
  tile?: boolean;
  /** For `normalize: 'zscore'` in a tiled run: the whole image's statistics, which every tile uses. */
  zscore?: ZscoreStats;
}

export interface DetectResult {
  detections: Detection[];
  provider: Provider;
  ms: number;
  /** Providers that failed to load, and similar things the user must see. */
  warnings?: string[];
  /** Semantic models: per-pixel classes of the image or region, made into masks by the caller. */
  semantic?: SemanticMaps;
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
  /** Intra-op threads and spinning; the app's defaults (no spinning) when omitted. */
  threads?: ThreadSettings;
  name?: string;
  /** Tiled (sliced) inference; whole images when omitted. */
  tiling?: TilingOptions;
}

export interface JobHooks {
  isCancelled?: () => boolean;
  onProgress?: (p: PrelabelProgress) => void;
  /** Called once the run row exists, so a caller can show or store its id before the work ends. */
  onRun?: (runId: number) => void;
  /** The OpenCV thread that splits semantic instances (the workspace's); a module-level one when omitted. */
  vision?: () => VisionWorker;
  /**
   * One part of a run shared by worker processes (see team/worker.ts): only these of its pending
   * images, on this machine's providers and threads. The run is neither finished nor failed here:
   * the queue decides that once every part has ended.
   */
  part?: { imageIds: readonly number[]; providers?: Provider[]; threads?: ThreadSettings };
}

export interface RunParameters {
  manifest: ModelManifest;
  modelFile: string;
  conf: number;
  iou: number;
  size: ModelManifest['size'];
  skipLabeled: boolean;
  providers: Provider[] | null;
  /** onnxruntime's intra-op threads and whether they spin (absent in runs older than these settings). */
  threads?: number;
  spinning?: boolean;
  /** Model class name -> dataset class id (null: ignored), filled as classes are met. */
  classes: Record<string, number | null>;
  /** Tile size and overlap when the run is tiled, else null (absent in runs older than tiling). */
  tiling?: TilingOptions | null;
  /**
   * How pixels deeper than 8 bits became the model input: the manifest's rule, its fixed window,
   * and the sample range used for each such image (image id -> [low, high]), filled as they run.
   */
  highBitDepth?: { mode: InputWindow['mode']; window: ModelManifest['window'] | null; images: Record<string, [number, number]> };
}

/** The thread settings a run records; a run older than them gets the app's defaults. */
function runThreads(p: RunParameters): ThreadSettings {
  const d = threadSettings('app');
  return { threads: p.threads ?? d.threads, spinning: p.spinning ?? d.spinning };
}

/**
 * What a detection is stored as: its mask, rotated box (`obb`), keypoints (visibility from the
 * model's scores, see keypointsFromScores; the pose box itself is not stored), else its box.
 */
export function detectionGeometry(d: Detection): Geometry {
  if (d.tag) return { kind: 'tag' };
  if (d.mask) return { kind: 'mask', rle: { size: d.mask.size, counts: d.mask.counts } };
  if (d.obb) return { kind: 'obb', cx: d.obb.cx, cy: d.obb.cy, w: d.obb.w, h: d.obb.h, angle: d.obb.angle };
  if (d.keypoints) return { kind: 'keypoints', points: keypointsFromScores(d.keypoints) };
  return { kind: 'box', ...d.box };
}

/**
 * Makes sure a class can hold a pose model's keypoints: a class without a keypoint schema gets the
 * model's (manifest `keypoints`, COCO's person when omitted); a class with another schema (another
 * count, or other names in order) fails the run, naming both, rather than storing keypoints under
 * the wrong names. Call inside the image's transaction.
 */
async function ensureKeypointSchema(db: Dataset['db'], classId: number, m: ModelManifest): Promise<void> {
  const c = await getClass(db, classId);
  if (!c) return;
  const want = manifestKeypoints(m);
  if (!c.keypoints) {
    const problem = keypointSchemaProblem(want);
    if (problem) throw new AppError('INVALID_ARGUMENT', `model "${m.id}": keypoints: ${problem}`, { model: m.id });
    await setClassKeypoints(db, classId, want);
    return;
  }
  const have = c.keypoints.names;
  const sameCount = have.length === want.names.length;
  const differs = sameCount ? have.findIndex((n, i) => n.toLowerCase() !== want.names[i]!.toLowerCase()) : -1;
  if (sameCount && differs < 0) return;
  const list = (names: readonly string[]): string => (names.length > 8 ? `${names.slice(0, 8).join(', ')}, …` : names.join(', '));
  const detail = sameCount ? `keypoint ${differs + 1} is "${have[differs]}" in the class, "${want.names[differs]}" in the model` : `the class has ${have.length} keypoints (${list(have)}), the model ${want.names.length} (${list(want.names)})`;
  throw new AppError(
    'INVALID_ARGUMENT',
    `class "${c.name}" has another keypoint schema than model "${m.id}": ${detail}; map the model's class to another class, or change the class's keypoints to the model's`,
    { classId, model: m.id },
  );
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
  const params = prelabelParameters(args);
  const runId = await ds.db.transaction(async () => {
    const id = await insertModelRun(ds.db, { model: m.id, name: args.name ?? m.name, parameters: { ...params } });
    await addRunImages(ds.db, id, args.imageIds);
    return id;
  })();
  return continueRun(ds, detector, runId, params, hooks);
}

/** The parameters a pre-label run records (a queued run's workers read them back). */
export function prelabelParameters(args: Omit<PrelabelRunArgs, 'imageIds'> & { imageIds?: readonly number[] }): RunParameters {
  const m = args.manifest;
  if (args.tiling && m.task === 'classify') throw new AppError('INVALID_ARGUMENT', `model "${m.id}" is a classifier: it labels whole images and does not run tiled`, { id: m.id });
  return {
    // The resize method is written out so that the run records it, and a resumed run keeps it;
    // classifiers and semantic models without one keep none, their default averaging large shrinks.
    manifest: m.resize || antialiasedByDefault(m.task) ? { ...m } : { ...m, resize: 'cv2-linear' },
    modelFile: args.modelFile,
    conf: args.conf ?? m.thresholds.score,
    iou: args.iou ?? m.thresholds.iou,
    size: m.size,
    skipLabeled: args.skipLabeled,
    providers: args.providers ?? null,
    ...(args.threads ?? threadSettings('app')),
    classes: {},
    tiling: args.tiling ?? null,
    highBitDepth: { mode: inputWindowMode(m), window: m.window ?? null, images: {} },
  };
}

/**
 * Continues a run with the parameters it was started with; done images are not run again. The
 * thread settings are the machine's rather than the run's: `threads` given replace the recorded
 * ones (a run started on another computer, or from the command line, resumed in the app).
 */
export async function resumePrelabel(ds: Dataset, detector: Detector, runId: number, hooks: JobHooks = {}, threads?: ThreadSettings): Promise<PrelabelSummary> {
  const run = await getModelRun(ds.db, runId);
  if (!run) throw new AppError('NOT_FOUND', `model run ${runId} does not exist`, { runId });
  const params = run.parameters as unknown as RunParameters;
  if (!params.manifest || !params.modelFile) throw new AppError('INVALID_ARGUMENT', `model run ${runId} was not a pre-labeling run (an import, say) and cannot be resumed`, { runId });
  if (active.has(`${ds.file}\u0000${runId}`)) throw new AppError('INVALID_ARGUMENT', `model run ${runId} is already running`, { runId });
  await reopenRun(ds.db, runId);
  if (threads) {
    Object.assign(params, threads);
    await setRunParameters(ds.db, runId, { ...run.parameters, ...threads });
  }
  return continueRun(ds, detector, runId, params, hooks);
}

/**
 * Runs one part of a queued run (see team/queue.ts): the part's images still pending, with the
 * run's recorded parameters and this machine's providers and threads. Each image's predictions
 * replace any the run wrote for it before (a part run again after its worker died).
 */
export async function runPrelabelPart(
  ds: Dataset,
  detector: Detector,
  runId: number,
  part: NonNullable<JobHooks['part']>,
  hooks: Omit<JobHooks, 'part'> = {},
): Promise<PrelabelSummary> {
  const run = await getModelRun(ds.db, runId);
  if (!run) throw new AppError('NOT_FOUND', `model run ${runId} does not exist`, { runId });
  const params = run.parameters as unknown as RunParameters;
  if (!params.manifest || !params.modelFile) throw new AppError('INVALID_ARGUMENT', `model run ${runId} is not a pre-labeling run`, { runId });
  return work(ds, detector, runId, params, { ...hooks, part });
}

/** Locks the run's row until the transaction ends (PostgreSQL; SQLite holds the write lock already). */
async function lockRun(db: Dataset['db'], runId: number): Promise<void> {
  await db.prepare('UPDATE model_runs SET status = status WHERE id = ?').run(runId);
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
  const inPart = hooks.part ? new Set(hooks.part.imageIds) : null;
  const pending = (await pendingRunImages(db, runId)).filter((id) => !inPart || inPart.has(id));
  const before = await runImageCounts(db, runId);
  const total = before.done + before.skipped + before.failed + before.pending;
  const resolve = await classResolver(ds, params.manifest.id, params.manifest.classes);
  const warnings = new Set<string>();
  let provider: Provider | null = ((await getModelRun(db, runId))?.provider as Provider | null) ?? null;
  let detections = 0;
  const byKind: Record<string, number> = {};
  let replaced = 0;
  let alreadyLabeled = 0;
  let alreadyRejected = 0;
  let unscoredPose = 0;
  const duplicateIou = duplicateIouSetting();
  // Classes whose keypoint schema was checked against the model's (pose models).
  const schemaChecked = new Set<number>();
  let ran = 0;
  let inferMs = 0;
  let cancelled = false;
  let ended = false;
  const started = Date.now();
  let processed = 0;
  // Tiled runs count progress in tiles too: one image may take minutes.
  const tiling = params.tiling ?? null;
  const tilesOf = async (id: number): Promise<number> => {
    const im = tiling ? await getImage(db, id) : undefined;
    // Semantic models stitch their tiles and run no whole-image pass (see detectImage).
    return im ? tileGrid(im.width, im.height, tiling!).length + (tiling!.fullPass && params.manifest.task !== 'semantic' ? 1 : 0) : 0;
  };
  const tileCount = new Map<number, number>();
  if (tiling) for (const id of pending) tileCount.set(id, await tilesOf(id));
  const tiles = tiling ? { done: 0, total: [...tileCount.values()].reduce((a, b) => a + b, 0) } : null;
  // Tiles of settled images, and tiles done of images still in flight (this one and the next).
  let tilesSettled = 0;
  const tilesInFlight = new Map<number, number>();
  const settled = new Set<number>();
  const recountTiles = (t: { done: number }): void => {
    t.done = tilesSettled + [...tilesInFlight.values()].reduce((a, b) => a + b, 0);
  };
  const settleTiles = (imageId: number): void => {
    if (!tiles) return;
    settled.add(imageId);
    tilesInFlight.delete(imageId);
    tilesSettled += tileCount.get(imageId) ?? 0;
    recountTiles(tiles);
  };
  const report = () => {
    const doneNow = total - pending.length + processed;
    let etaMs: number | null = null;
    if (tiles) {
      if (tiles.done > 0) etaMs = Math.round(((Date.now() - started) / tiles.done) * (tiles.total - tiles.done));
    } else if (processed > 0) etaMs = Math.round(((Date.now() - started) / processed) * (pending.length - processed));
    hooks.onProgress?.({ runId, done: doneNow, total, detections, etaMs, provider, ...(tiles ? { tiles: { ...tiles } } : {}) });
  };
  report();
  const onTile = (imageId: number): void => {
    // A tile finishing after its image settled (failed, say) is already counted.
    if (!tiles || settled.has(imageId)) return;
    tilesInFlight.set(imageId, Math.min(tileCount.get(imageId) ?? 0, (tilesInFlight.get(imageId) ?? 0) + 1));
    recountTiles(tiles);
    report();
  };

  try {
    // One image ahead: the next image is decoded and run in the inference worker while this
    // thread writes the current one's predictions.
    type Outcome = { ok: true; result: ImageDetectResult } | { ok: false; error: Error & { code?: string } };
    const launch = async (imageId: number): Promise<{ image: ImageRecord; outcome: Promise<Outcome> } | 'gone' | 'skip'> => {
      const image = await getImage(db, imageId);
      // Deleted since the run began; its run_images row went with it (ON DELETE CASCADE).
      if (!image) return 'gone';
      if (params.skipLabeled && await hasHumanAnnotations(db, imageId)) return 'skip';
      const q: ImageQuery = {
        manifest: params.manifest,
        modelFile: params.modelFile,
        conf: params.conf,
        iou: params.iou,
        providers: hooks.part?.providers ?? params.providers ?? undefined,
        threads: hooks.part?.threads ?? runThreads(params),
        tiling,
      };
      // The image run ahead stops between tiles once the run itself has ended (failed, say).
      const outcome = detectImage(ds, detector, image, q, { onTile: () => onTile(imageId), isCancelled: () => ended || (hooks.isCancelled?.() ?? false), ...(hooks.vision ? { vision: hooks.vision } : {}) });
      return { image, outcome: outcome.then((result): Outcome => ({ ok: true, result }), (error: Error): Outcome => ({ ok: false, error })) };
    };
    let next = pending.length > 0 ? await launch(pending[0]!) : null;
    let failedInARow = 0;
    for (let k = 0; k < pending.length; k++) {
      const imageId = pending[k]!;
      const current = next!;
      if (hooks.isCancelled?.()) {
        cancelled = true;
        break;
      }
      next = k + 1 < pending.length ? await launch(pending[k + 1]!) : null;
      if (current === 'gone') {
        processed++;
        settleTiles(imageId);
        continue;
      }
      if (current === 'skip') {
        await markRunImage(db, runId, imageId, 'skipped');
        processed++;
        settleTiles(imageId);
        report();
        continue;
      }
      const { image } = current;
      const outcome = await current.outcome;
      if (!outcome.ok) {
        const err = outcome.error;
        // Cancelled between two tiles of this image: it stays pending for a resume.
        if (err.code === 'CANCELLED' && hooks.isCancelled?.()) {
          cancelled = true;
          break;
        }
        failedInARow++;
        // A model that cannot run (wrong family or size, missing file) fails the run rather than
        // every image one by one; an image that cannot be read fails only itself.
        if ((err.code && FATAL.has(err.code)) || (ran === 0 && failedInARow >= 3)) throw err;
        await markRunImage(db, runId, imageId, 'failed', { error: err.message });
        warnings.add(`${image.path}: ${err.message}`);
        processed++;
        settleTiles(imageId);
        report();
        continue;
      }
      failedInARow = 0;
      const result = outcome.result;
      for (const w of result.warnings ?? []) warnings.add(w);
      if (result.window && params.highBitDepth) params.highBitDepth.images[String(imageId)] = [result.window.low, result.window.high];
      if (provider !== result.provider) {
        provider = result.provider;
        await setRunProvider(db, runId, provider);
      }
      const rows: NewAnnotation[] = [];
      const hidden: HistoryPrediction[] = [];
      // Immediate: the transaction reads before it writes, and a deferred one could not take the
      // write lock once another connection had written in between (SQLITE_BUSY, not retried).
      await db.transaction(async () => {
        await clearRunImage(db, runId, imageId);
        replaced += await supersedePredictions(db, { model: params.manifest.id, runId, imageId });
        // A resumed older run on an image a newer run of the model already did: what it finds is
        // kept for its evaluation, as replaced by the newer run, and not offered for review again.
        const newer = await newerRunOfImage(db, { model: params.manifest.id, runId, imageId });
        const humans = await humanShapesOfImage(db, imageId, { edited: true });
        const rejected = await rejectedShapesOfImage(db, imageId);
        for (const raw of result.detections) {
          const d = clip(raw, image.width, image.height);
          const name = params.manifest.classes[d.classIndex] ?? `class ${d.classIndex}`;
          const classId = await resolve(d.classIndex);
          params.classes[name] = classId;
          if (classId === null) continue;
          if (d.keypoints && !schemaChecked.has(classId)) {
            await ensureKeypointSchema(db, classId, params.manifest);
            schemaChecked.add(classId);
          }
          const geometry = detectionGeometry(d);
          if (validateGeometry(geometry, image)) {
            // Keypoints none of which scored enough to be labelled: counted, not stored.
            if (geometry.kind === 'keypoints') unscoredPose++;
            continue;
          }
          const shape = { frame: 0, classId, geometry };
          const reason = sameObject(shape, humans, duplicateIou, image) ? 'labeled' : sameObject(shape, rejected, duplicateIou, image) ? 'rejected' : newer !== undefined ? 'superseded' : null;
          if (reason) hidden.push({ runId, imageId, classId, geometry, score: d.score, attributes: { modelClass: name }, reason, replacedBy: reason === 'superseded' ? newer : undefined });
          else rows.push({ imageId, classId, geometry, source: 'model', modelRunId: runId, score: d.score, attributes: { modelClass: name } });
        }
        await insertAnnotations(db, rows);
        await addPredictionHistory(db, hidden);
        await markRunImage(db, runId, imageId, 'done', { detections: rows.length + hidden.length, ms: result.ms });
      }).immediate();
      for (const h of hidden) {
        if (h.reason === 'labeled') alreadyLabeled++;
        else if (h.reason === 'rejected') alreadyRejected++;
      }
      detections += rows.length;
      for (const r of rows) byKind[r.geometry.kind] = (byKind[r.geometry.kind] ?? 0) + 1;
      ran++;
      inferMs += result.ms;
      processed++;
      settleTiles(imageId);
      report();
    }
  } catch (e) {
    if (!hooks.part) await finishModelRun(db, runId, 'failed');
    throw e;
  } finally {
    ended = true;
    // Locked while read and written: workers running parts of the run at once merge in turn.
    await db.transaction(async () => {
      await lockRun(db, runId);
      const stored = (await getModelRun(db, runId))!.parameters;
      const hbd = stored['highBitDepth'] as RunParameters['highBitDepth'] | undefined;
      await setRunParameters(db, runId, {
        ...stored,
        classes: { ...(stored['classes'] as object | undefined), ...params.classes },
        ...(hbd && params.highBitDepth ? { highBitDepth: { ...hbd, images: { ...hbd.images, ...params.highBitDepth.images } } } : {}),
      });
    }).immediate();
  }
  const counts = await runImageCounts(db, runId);
  if (!hooks.part) await finishModelRun(db, runId, cancelled ? 'cancelled' : 'done');
  if (unscoredPose > 0) {
    warnings.add(`${unscoredPose} ${unscoredPose === 1 ? 'object was' : 'objects were'} found with no keypoint scoring ${KEYPOINT_LABELLED_SCORE} or more, and not stored`);
  }
  return {
    runId,
    model: params.manifest.id,
    images: total,
    done: counts.done,
    skipped: counts.skipped,
    failed: counts.failed,
    pending: counts.pending,
    detections,
    byKind,
    replaced,
    alreadyLabeled,
    alreadyRejected,
    msPerImage: ran > 0 ? inferMs / ran : null,
    provider,
    warnings: [...warnings],
    cancelled,
  };
}

/** Runs a model on one image and returns what it found, storing nothing. */
export async function tryModel(
  ds: Dataset,
  detector: Detector,
  q: { manifest: ModelManifest; modelFile: string; imageId: number; conf?: number; iou?: number; providers?: Provider[]; threads?: ThreadSettings; tiling?: TilingOptions; vision?: () => VisionWorker },
): Promise<ImageDetectResult> {
  const image = await getImage(ds.db, q.imageId);
  if (!image) throw new AppError('NOT_FOUND', `image ${q.imageId} is not in the dataset`, { id: q.imageId });
  if (q.tiling && q.manifest.task === 'classify') throw new AppError('INVALID_ARGUMENT', `model "${q.manifest.id}" is a classifier: it labels whole images and does not run tiled`, { id: q.manifest.id });
  const r = await detectImage(ds, detector, image, {
    manifest: q.manifest,
    modelFile: q.modelFile,
    conf: q.conf ?? q.manifest.thresholds.score,
    iou: q.iou ?? q.manifest.thresholds.iou,
    providers: q.providers,
    threads: q.threads ?? threadSettings('app'),
    tiling: q.tiling ?? null,
  }, q.vision ? { vision: q.vision } : {});
  return { ...r, detections: r.detections.map((d) => clip(d, image.width, image.height)) };
}

/** One image's model settings, as a run or a try gives them. */
export interface ImageQuery {
  manifest: ModelManifest;
  modelFile: string;
  conf: number;
  iou: number;
  providers?: Provider[];
  threads?: ThreadSettings;
  tiling: TilingOptions | null;
}

export interface ImageDetectResult extends DetectResult {
  /** For images deeper than 8 bits: the sample range that became the model's 0..255. */
  window?: InputWindow;
  /** Tiles run (0 for a whole-image run); tiles holding only nodata are counted but not run. */
  tiles: number;
}

/**
 * The window the labeler sees the image through, when it is not the automatic one: the window
 * remembered for the image or its series, else the DICOM file's first own preset.
 */
export async function displayWindow(ds: Dataset, image: ImageRecord): Promise<{ low: number; high: number } | null> {
  const chosen = await chosenWindow(ds.db, image);
  return chosen ? rangeOfWindow(chosen.window) : null;
}

/** Model input bytes of a decoded raster: windowed when its samples need one, else as stored. */
export function inputBytes(r: Raster, window: InputWindow | undefined): { data: Uint8Array; channels: 1 | 3 } {
  if (window && rasterNeedsWindow(r)) return windowToBytes(r.data, r.channels, window, r.invert ?? false);
  const data = r.data as Uint8Array;
  if (r.channels !== 4) return { data, channels: r.channels as 1 | 3 };
  const pixels = data.length / 4;
  const rgb = new Uint8Array(pixels * 3);
  for (let p = 0; p < pixels; p++) for (let c = 0; c < 3; c++) rgb[p * 3 + c] = data[p * 4 + c]!;
  return { data: rgb, channels: 3 };
}

/** Every colour sample of the region equals `nodata`. */
function nodataOnly(data: ArrayLike<number>, width: number, channels: number, region: Tile, nodata: number): boolean {
  const colour = channels === 2 || channels === 4 ? channels - 1 : channels;
  for (let y = region.y; y < region.y + region.h; y++) {
    for (let i = (y * width + region.x) * channels, end = i + region.w * channels; i < end; i += channels) {
      for (let c = 0; c < colour; c++) if (data[i + c] !== nodata) return false;
    }
  }
  return true;
}

function crop(px: { data: Uint8Array; channels: 1 | 3 }, width: number, t: Tile): RawPixels {
  const ch = px.channels;
  const out = new Uint8Array(t.w * t.h * ch);
  for (let y = 0; y < t.h; y++) out.set(px.data.subarray(((t.y + y) * width + t.x) * ch, ((t.y + y) * width + t.x + t.w) * ch), y * t.w * ch);
  return { data: out, width: t.w, height: t.h, channels: ch };
}

/**
 * Runs a model on one stored image: whole, or tile by tile with the detections merged (see
 * common/inference/tiling.ts). Images deeper than 8 bits (and DICOM) are decoded here and put
 * through one input window for the whole image (see common/inference/highBitDepth.ts), so every
 * tile sees the same contrast; 8-bit colour DICOM is fed as stored; 8-bit images are read by the
 * inference workers, a region each. A deep image over TESSERA_FULL_DECODE_PIXELS gets its window
 * from a reduced copy and is decoded one tile at a time; it runs only tiled.
 * GeoTIFF nodata: tiles holding only nodata are not run.
 */
export async function detectImage(
  ds: Dataset,
  detector: Detector,
  image: ImageRecord,
  q: ImageQuery,
  hooks: { onTile?: () => void; isCancelled?: () => boolean; vision?: () => VisionWorker } = {},
): Promise<ImageDetectResult> {
  const vision = hooks.vision;
  if (q.manifest.task === 'semantic') semanticPreflight(image, q.manifest);
  const imagePath = ds.imagePath(image);
  const stored = await geoNodata(ds.db, image);
  const nodata = stored !== null && Number.isFinite(stored) ? stored : undefined;
  const base: Omit<DetectRequest, 'region' | 'raw' | 'size' | 'nodata'> = { manifest: q.manifest, modelFile: q.modelFile, imagePath, conf: q.conf, iou: q.iou, providers: q.providers, ...(q.threads ? { threads: q.threads } : {}) };
  let window: InputWindow | undefined;
  let source: { bytes: { data: Uint8Array; channels: 1 | 3 }; samples: ArrayLike<number>; channels: number } | null = null;
  const W = image.width, H = image.height;
  const whole: Tile = { x: 0, y: 0, w: W, h: H };
  // Images decoded here rather than read by the inference workers: samples deeper than 8 bits
  // need a window first, and the workers cannot read DICOM (8-bit colour DICOM is fed as stored).
  const decodedHere = decodedForDisplay(image);
  // A deep image too large to decode whole is windowed from a reduced copy and decoded a tile at a
  // time. Untiled, it is decoded whole up to the size shown from a pyramid, and refused beyond.
  const large = decodedHere && vipsReadable(image) && W * H > fullDecodePixelsSetting();
  const byRegion = large && (q.tiling !== null || W * H >= pyramidPixelsSetting());
  const limitInputPixels = maxPixelsSetting();
  if (byRegion) {
    if (!q.tiling) {
      throw new AppError('IMAGE_TOO_LARGE', `${image.path}: ${W}x${H} pixels at ${image.bitDepth} bits is too large to run whole; run it tiled (tile size and overlap)`, { imageId: image.id });
    }
    const reduced = await readRasterPart(ds, image, 0, { maxSide: REDUCED_SIDE }, limitInputPixels);
    if (rasterNeedsWindow(reduced)) window = modelInputWindow(q.manifest, reduced.data, reduced.channels, await displayWindow(ds, image), nodata);
  } else if (decodedHere) {
    const raster = await readRaster(ds, image, 0);
    if (rasterNeedsWindow(raster)) {
      // The model sees the image as the viewer shows it: padding and outside-the-scan values left out.
      const padding = paddingOf(image.format === 'dicom' ? await getImagingMeta(ds.db, image.id) : null, raster, nodata ?? null);
      window = modelInputWindow(q.manifest, raster.data, raster.channels, await displayWindow(ds, image), nodata, padding);
    }
    source = { bytes: inputBytes(raster, window), samples: raster.data, channels: raster.channels };
  }
  const semantic = q.manifest.task === 'semantic';
  if (semantic && q.tiling && q.manifest.normalize === 'zscore') {
    // Every tile is normalised with the whole image's statistics (a reduced copy when not decoded here).
    const bytes = source?.bytes ?? inputBytes(await readRasterPart(ds, image, 0, { maxSide: REDUCED_SIDE }, limitInputPixels), window);
    base.zscore = zscoreStats(bytes.data, bytes.channels);
  }
  let skippedFullPass = false;
  const request = async (tile: Tile | null): Promise<DetectRequest | null> => {
    if (byRegion) {
      // The whole image at once is what this image cannot have: the full pass is left out.
      if (!tile) {
        skippedFullPass = true;
        return null;
      }
      const r = await readRasterPart(ds, image, 0, { region: tile }, limitInputPixels);
      if (nodata !== undefined && nodataOnly(r.data, r.width, r.channels, { x: 0, y: 0, w: r.width, h: r.height }, nodata)) return null;
      const bytes = inputBytes(r, window);
      return { ...base, raw: { data: bytes.data, width: r.width, height: r.height, channels: bytes.channels } };
    }
    if (source) {
      if (nodata !== undefined && nodataOnly(source.samples, W, source.channels, tile ?? whole, nodata)) return null;
      return { ...base, raw: tile ? crop(source.bytes, W, tile) : crop(source.bytes, W, whole) };
    }
    const size = image.bitDepth <= 8 ? { size: { width: W, height: H } } : {};
    return { ...base, ...(tile ? { region: tile } : size), ...(nodata !== undefined ? { nodata } : {}) };
  };
  if (!q.tiling) {
    const req = await request(null);
    if (!req) return { detections: [], provider: q.providers?.[0] ?? 'cpu', ms: 0, warnings: [], tiles: 0, ...(window ? { window } : {}) };
    const r = await detector.detect(req);
    if (semantic) {
      const started = performance.now();
      const detections = r.semantic ? await semanticDetections(r.semantic, q, vision) : [];
      return { detections, provider: r.provider, ms: r.ms + (performance.now() - started), warnings: r.warnings ?? [], tiles: 0, ...(window ? { window } : {}) };
    }
    return { ...r, tiles: 0, ...(window ? { window } : {}) };
  }
  const jobs: { tile: Tile; region: Tile | null }[] = tileGrid(W, H, q.tiling).map((t) => ({ tile: t, region: t }));
  // A semantic model's tiles cover every pixel; a whole-image pass would add nothing to stitch.
  if (q.tiling.fullPass && !semantic) jobs.push({ tile: whole, region: null });
  const grid = jobs.map((j) => j.tile);
  // Each tile's maps go into the image's as they arrive, and are let go.
  const stitched = semantic ? new SemanticStitch(W, H, grid) : null;
  const found: TileDetection[] = [];
  const warnings = new Set<string>();
  if (q.tiling.fullPass && semantic) warnings.add(`${q.manifest.id}: a semantic model's tiles are stitched; the "+ whole image" pass is not run`);
  let provider: Provider | null = null;
  const started = performance.now();
  let next = 0;
  // Set by the first lane that fails, so the other starts no further tile.
  let stop = false;
  // Two tiles in flight: the pool has at most two workers, and a third would only queue pixels.
  const lane = async (): Promise<void> => {
    try {
      while (!stop && next < jobs.length) {
        if (hooks.isCancelled?.()) throw new AppError('CANCELLED', `${image.path}: cancelled between tiles`);
        const job = jobs[next++]!;
        const req = await request(job.region);
        if (stop) return;
        if (req) {
          const r = await detector.detect(job.region ? { ...req, tile: true } : req);
          if (stop) return;
          provider = r.provider;
          for (const w of r.warnings ?? []) warnings.add(w);
          for (const d of r.detections) found.push({ detection: job.region ? toImage(d, job.region, W, H) : d, tile: job.tile });
          if (r.semantic && job.region) stitched!.add(job.region, r.semantic);
        }
        hooks.onTile?.();
      }
    } catch (e) {
      stop = true;
      throw e;
    }
  };
  // Both lanes have ended once this image settles: nothing of it runs on behind the caller.
  const lanes = await Promise.allSettled([lane(), lane()]);
  const failed = lanes.find((l): l is PromiseRejectedResult => l.status === 'rejected');
  if (failed) throw failed.reason;
  if (skippedFullPass) warnings.add(`${image.path}: too large for a full-image pass at ${image.bitDepth} bits; only its tiles were run`);
  const detections = semantic
    ? await semanticDetections(stitched!.maps(), q, vision)
    : mergeTiled(found, { width: W, height: H, iou: q.iou, maxDetections: q.manifest.thresholds.maxDetections });
  // Wall time of the image: tiles run two at a time, so their own times would add up to more.
  const ms = performance.now() - started;
  return { detections, provider: provider ?? q.providers?.[0] ?? 'cpu', ms, warnings: [...warnings], tiles: jobs.length, ...(window ? { window } : {}) };
}

/** The images a `prelabel:run` scope names, in id order. */
export async function scopeImageIds(ds: Dataset, scope: { imageIds: readonly number[] } | { filter: ImageFilter; unlabeledOnly: boolean }): Promise<number[]> {
  if ('imageIds' in scope) {
    for (const id of scope.imageIds) if (!await getImage(ds.db, id)) throw new AppError('NOT_FOUND', `image ${id} is not in the dataset`, { id });
    return [...new Set(scope.imageIds)];
  }
  const ids: number[] = [];
  const PAGE = 1000;
  for (let offset = 0; ; offset += PAGE) {
    const page = await listImages(ds.db, scope.filter, offset, PAGE);
    for (const im of page) if (!scope.unlabeledOnly || !await hasHumanAnnotations(ds.db, im.id)) ids.push(im.id);
    if (page.length < PAGE) return ids;
  }
}


/** Turns pre-labeling progress into the generic job progress the app's progress bar shows. */
export function jobProgress(jobId: string, p: PrelabelProgress, finished = false): JobProgress {
  // A tiled run counts tiles, so the bar moves while one large image is worked on.
  const t = !finished && p.tiles ? p.tiles : { done: p.done, total: p.total };
  return { jobId, kind: 'prelabel', phase: finished ? 'done' : 'writing', done: t.done, total: t.total, imported: p.detections, duplicates: 0, problems: 0, etaMs: p.etaMs };
}

export { closeInferenceBackend, createInferenceBackend, detectInput, inferenceBackend, providerOrder, type InferenceBackend } from './inference';

/** The smart tools' OpenCV thread for instances when the caller gives none (see JobHooks.vision); closed by closeInstancesWorker. */
let instancesWorker: VisionWorker | null = null;

/** Closes the OpenCV thread semantic instances used when their caller gave none (the CLI, at exit). */
export async function closeInstancesWorker(): Promise<void> {
  const w = instancesWorker;
  instancesWorker = null;
  await w?.close();
}

/** Whether that thread is running (diagnostics). */
export function instancesWorkerRunning(): boolean {
  return instancesWorker?.running ?? false;
}

/** Most pixels of an image a semantic model is run on (TESSERA_SEMANTIC_MAX_PIXELS): its stitched classes take 3 bytes a pixel in this process. */
export const DEFAULT_SEMANTIC_MAX_PIXELS = 250_000_000;
/** Most pixels of an image whose semantic classes are split into instances (TESSERA_INSTANCES_MAX_PIXELS): the watershed needs over 20 bytes a pixel in OpenCV's 32-bit WebAssembly heap. */
export const DEFAULT_INSTANCES_MAX_PIXELS = 64_000_000;

function pixelSetting(name: string, fallback: number, env: NodeJS.ProcessEnv): number {
  const v = Number(env[name]);
  return Number.isFinite(v) && v > 0 ? v : fallback;
}

export const semanticPixelsSetting = (env: NodeJS.ProcessEnv = process.env): number => pixelSetting('TESSERA_SEMANTIC_MAX_PIXELS', DEFAULT_SEMANTIC_MAX_PIXELS, env);
export const instancesPixelsSetting = (env: NodeJS.ProcessEnv = process.env): number => pixelSetting('TESSERA_INSTANCES_MAX_PIXELS', DEFAULT_INSTANCES_MAX_PIXELS, env);

const mp = (n: number): string => `${(n / 1e6).toFixed(n < 1e7 ? 1 : 0)} MP`;

/**
 * Refuses, before any of it runs, an image a semantic model's answer cannot be held for: over
 * TESSERA_SEMANTIC_MAX_PIXELS, or with instances over TESSERA_INSTANCES_MAX_PIXELS.
 */
export function semanticPreflight(image: Pick<ImageRecord, 'path' | 'width' | 'height' | 'id'>, m: ModelManifest): void {
  const px = image.width * image.height;
  const size = `${image.width}x${image.height} pixels (${mp(px)})`;
  const limit = semanticPixelsSetting();
  if (px > limit) {
    throw new AppError(
      'IMAGE_TOO_LARGE',
      `${image.path}: ${size} is more than semantic model "${m.id}" can be run on, ${mp(limit)} (TESSERA_SEMANTIC_MAX_PIXELS); cut the image into parts and run them, or raise the limit if this computer has the memory (3 bytes a pixel)`,
      { imageId: image.id, pixels: px, limit },
    );
  }
  const instances = instancesPixelsSetting();
  if (m.instances && px > instances) {
    throw new AppError(
      'IMAGE_TOO_LARGE',
      `${image.path}: ${size} is more than semantic model "${m.id}" can split into instances, ${mp(instances)} (TESSERA_INSTANCES_MAX_PIXELS, bounded by OpenCV's 32-bit memory); use the model without "instances" for one mask per class, or cut the image into parts`,
      { imageId: image.id, pixels: px, limit: instances },
    );
  }
}

/**
 * A semantic model's answer for one image as detections: one mask per class present (the
 * background class left out), or with `instances` in the manifest each class's connected
 * components, split by the smart tools' distance-transform watershed when asked (see
 * vision/ops.ts watershed), holes filled and pieces under `minArea` dropped. Scores are the mean
 * probability of the mask's pixels; those under the run's score threshold are left out, and at
 * most the manifest's `maxDetections` (best first) are kept. The watershed runs in `vision` (the
 * workspace's OpenCV thread), else in a thread of this module's (see closeInstancesWorker).
 */
export async function semanticDetections(maps: SemanticMaps, q: Pick<ImageQuery, 'manifest' | 'conf'>, vision?: () => VisionWorker): Promise<Detection[]> {
  const m = q.manifest;
  let found: Detection[];
  if (!m.instances) {
    found = classMasks(maps, m);
  } else {
    const inst = m.instances;
    const limit = instancesPixelsSetting();
    if (maps.width * maps.height > limit) throw new AppError('IMAGE_TOO_LARGE', `${maps.width}x${maps.height} pixels is more than semantic model "${m.id}" can split into instances, ${mp(limit)} (TESSERA_INSTANCES_MAX_PIXELS)`);
    found = [];
    for (const k of classesPresent(maps, m)) {
      const worker = vision ? vision() : (instancesWorker ??= new VisionWorker());
      const out = await worker.watershed(
        { data: classRelief(maps, k), width: maps.width, height: maps.height, channels: 1 },
        { threshold: 0, foreground: 'bright', smooth: 1, split: inst.split === 'watershed', minArea: inst.minArea, fillHoles: inst.fillHoles },
      );
      found.push(...regionDetections(out.labels, out.count, maps.width, maps.height, maps.prob, () => k));
    }
  }
  return found
    .filter((d) => d.score >= q.conf)
    .sort((a, b) => b.score - a.score)
    .slice(0, m.thresholds.maxDetections);
}
