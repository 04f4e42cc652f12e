import fs from 'node:fs';
import nodePath from 'node:path';
import { AppError } from '../common/errors';
import type { ParsedArgs, ResultOf, Channel, EventName, Events } from '../common/contract';
import type { ModelManifest, Provider, ThreadSettings } from '../common/inference/types';
import { insertClass, listClasses } from '../db/classes';
import { countByStatusWhere, countImages, findNextImage, getImage, getReviewComment, imageIdsWhere, setStatus } from '../db/images';
import { countAnnotationsOfImage } from '../db/annotations';
import { setRememberedWindow } from '../db/imaging';
import { getDisplay, setDisplay } from '../db/display';
import { readPixelBlock } from './pixels';
import type { ImagingInfo } from '../common/imaging/info';
import type { ImageRecord, JobProgress } from '../common/model';
import { imagingInfo } from './dicom/display';
import { unfinishedRuns } from '../db/prelabel';
import { getGeo } from '../db/geo';
import { getViewedFrame, setViewedFrame } from '../db/frames';
import { countTiles, getStack, getViewedSlice, listStackMembers, listTiles, locateTile, setViewedSlice, tileIndexOf } from '../db/stacks';
import { editAnnotations, historyState, listImageAnnotations, redoEdit, undoEdit } from './annotations';
import { deleteClass, reorderClasses, setKeypointSchema, updateClassInfo } from './classes';
import { Dataset } from './dataset';
import { datasetHealth } from './health';
import { reviewImage } from './review';
import { addComment, imageComments, openComments, removeComment, resolveComment } from './comments';
import { getOpenImage, setOpenImage } from './openImage';
import { interpolateShapes, propagateShapes } from './stacks';
import { importImages, maxPixelsSetting } from './importer';
import { exportDataset } from './interchange/exportDataset';
import { previewRecipe } from './interchange/recipePreview';
import { importDataset, inspectDataset } from './interchange/importDataset';
import { assignSplits } from './interchange/splits';
import { evalRuns, evaluateRun } from './evaluation';
import { Jobs } from './jobs';
import { computeEmbeddingMap, embeddingMapState } from './embeddingMap';
import { mapPointInfo } from '../db/embeddings';
import { Media } from './media';
import { mediaKey } from './mediaRoute';
import { realPathOf } from './pathGuard';
import { isInside } from './paths';
import { Pyramids } from './pyramid';
import { requireFrame } from './raster';
import { Settings } from './settings';
import { ModelRegistry, defaultManifestDir, inspectWithLabels, parseManifest, withLabels } from './models';
import { SamModelRegistry, defaultSamManifestDir } from './samModels';
import { inspectSamPair } from '../common/inference/samFamily';
import { parseSamManifest } from '../common/inference/samManifest';
import type { SamInspection, SamManifest } from '../common/segment';
import { createVersion, deleteVersion, diffVersions, listVersions, versionAnnotations, versionClassList, versionImageIds } from './versions';
import { acceptAbove, acceptPredictions, getModelClassMap, rejectPredictions, setModelClassMap } from './predictions';
import type { PoolStats } from '../inference/pool';
import { computeEmbeddings, embedJobProgress, jobSummary, storedEmbeddingModels } from './embeddings';
import { createInferenceBackend, jobProgress, providerOrder, type InferenceBackend, resumePrelabel, runPrelabel, scopeImageIds, tryModel } from './prelabel';
import { threadSettings } from '../inference/threads';
import { VisionWorker } from '../vision/client';
import { smartGrabcut, smartScissors, smartWand, smartWatershed, type SmartDeps } from './smart';
import { boxesToMasks, Segmenter } from './segment';
import { nextClassColour } from '../common/palette';
import { buildQueue } from './activeLearning';
import { predictTags, trainClassifier, type TrainedClassifier } from './linearClassifier';
import { findSimilar } from './similarity';
import { findNearDuplicatesInWorker, resolveDuplicate } from './duplicates';
import { parseTeamServerUrl } from '../common/teamUrl';

/** Handlers answering that a channel needs a team server (`tessera serve`). */
function notInTeam<C extends Channel>(channels: readonly C[]): { [K in C]: () => never } {
  const out = {} as { [K in C]: () => never };
  for (const c of channels) {
    out[c] = () => {
      throw new AppError('UNSUPPORTED', `${c}: this needs a team server (tessera serve); this window works on a dataset of its own`);
    };
  }
  return out;
}

/** Near-duplicate pairs sent with thumbnail addresses (the dashboard lists these). */
const DUPLICATE_PAIRS_SHOWN = 500;

export type Handlers = { [C in Channel]: (args: ParsedArgs<C>) => Promise<ResultOf<C>> | ResultOf<C> };

export interface WorkspaceOptions {
  /** Folder for per-user settings such as the recent list. */
  configDir: string;
  mode: 'electron' | 'web';
  version: string;
  emit: <E extends EventName>(event: E, payload: Events[E]) => void;
  /** Native file dialogs, where the shell has them (Electron). */
  pick?: (args: ParsedArgs<'dialog:pick'>) => Promise<string[] | null>;
  /** Reveals a path in the system file manager, where the shell can (Electron). */
  showInFolder?: (path: string) => void;
  /** Opens a team server's login page (an origin checked by parseTeamServerUrl) in a window of its own (Electron). */
  openTeamServer?: (server: { origin: string; login: string }) => void;
  maxPixels?: number;
  /** Who edits through this window (the edit history is per user); defaults to the Dataset's default user. */
  user?: string;
}

/**
 * The order to try providers in: the user's whole list when given, else a first choice. The CPU
 * always ends the list, so a missing GPU runtime is a fallback with a warning, never a failure.
 */
function providerPreference(a: { provider?: Provider | undefined; providers?: Provider[] | undefined }): Provider[] | undefined {
  return a.providers ? [...new Set<Provider>([...a.providers, 'cpu'])] : providerOrder(a.provider);
}

/**
 * The manifest for a model file: the one given (pointing at that file), else the proposed one.
 * Inspection loads the model with the thread settings of the runs expected to follow (the app's
 * defaults, or a try's own), so that a CPU run with them reuses its session.
 */
async function manifestForFile(inference: Promise<InferenceBackend>, file: string, manifest: Record<string, unknown> | undefined, threads: ThreadSettings = threadSettings('app')): Promise<ModelManifest> {
  // The file picked is the model's file, whatever the manifest given says.
  if (manifest) return withLabels(parseManifest({ ...manifest, file }, file), nodePath.dirname(file), file);
  const backend = await inference;
  const inspection = await inspectWithLabels((f) => backend.inspect(f, threads), file);
  if (!inspection.proposed) throw new AppError('UNSUPPORTED_FORMAT', `${file}: ${inspection.problems.join('; ') || 'no decoder family fits its outputs'}`, { file });
  return { ...inspection.proposed, file };
}


/**
 * The use cases behind every contract entry, for one window: at most one dataset open at a time.
 * Electron's IPC, the browser-mode transport and tests all call these same handlers.
 */
export class Workspace {
  private dataset: Dataset | null = null;
  private media: Media | null = null;
  private pyramids: Pyramids | null = null;
  private readonly jobs = new Jobs();
  /** Runs being worked on now: 'running' in the database, but not left unfinished. */
  private readonly activeRuns = new Set<number>();
  private readonly settings: Settings;
  /** The classifier last trained in the app, for the dataset it was trained on (kept until replaced). */
  private classifier: { file: string; trained: TrainedClassifier } | null = null;

  constructor(private readonly opts: WorkspaceOptions) {
    this.settings = new Settings(opts.configDir);
  }

  get current(): Dataset | null {
    return this.dataset;
  }

  private need(): Dataset {
    if (!this.dataset) throw new AppError('NO_DATASET_OPEN', 'no dataset is open');
    return this.dataset;
  }

  mediaFor(): Media {
    this.need();
    return this.media!;
  }

  pyramidsFor(): Pyramids {
    this.need();
    return this.pyramids!;
  }

  private async use(ds: Dataset): Promise<void> {
    await this.dataset?.close();
    this.dataset = ds;
    if (this.opts.user) ds.user = this.opts.user;
    this.trustExternal(ds);
    const limitInputPixels = this.opts.maxPixels ?? maxPixelsSetting();
    // Images shown from tiles are never decoded whole for their thumbnail or display window.
    this.media = new Media(ds, limitInputPixels, { reduce: (im) => this.pyramids?.needsPyramid(im) ?? false });
    this.pyramids?.close();
    this.pyramids = new Pyramids(ds, this.media, { limitInputPixels });
    this.settings.addRecent({ path: ds.file, name: ds.name, openedAt: Date.now() });
  }

  /**
   * Images outside the root are read only from the folders this user allowed for this dataset:
   * those very folders, not what lies below them (the notice lists folders one by one).
   */
  private trustExternal(ds: Dataset): void {
    const folders = new Set(this.settings.externalFolders(ds.file, ds.uuid));
    ds.externalAllowed = (file) => folders.has(nodePath.dirname(file)) && this.withinConfinement(nodePath.dirname(file));
  }

  /** Browser mode's served folders (real paths); null where the user's own app reads anywhere. */
  private confinement: readonly string[] | null = null;

  /**
   * Confines every image read outside a dataset's root to `roots` (real paths), whatever a grant
   * says: browser mode serves only those folders. Also what an import may grant.
   */
  confineTo(roots: readonly string[]): void {
    this.confinement = [...roots];
    if (this.dataset) this.trustExternal(this.dataset);
  }

  /** What an import may read: anything, or in browser mode only files in the served folders. */
  private get confine(): ((absFile: string) => boolean) | undefined {
    return this.confinement ? (file) => this.withinConfinement(file) : undefined;
  }

  private withinConfinement(p: string): boolean {
    const roots = this.confinement;
    if (!roots) return true;
    const real = realPathOf(p);
    return roots.some((r) => isInside(r, real));
  }

  /** Folders of the dataset's images outside its root, allowed or not. */
  private async externalFolderSet(ds: Dataset): Promise<Set<string>> {
    const saved = ds.externalAllowed;
    ds.externalAllowed = () => false;
    try {
      return new Set((await ds.blockedFolders()).map((b) => b.folder));
    } finally {
      ds.externalAllowed = saved;
    }
  }

  /**
   * Runs an import that may add images from outside the root: the folders it adds are the ones the
   * user just agreed to store by absolute path, so they are allowed for this dataset.
   */
  private async importing<T>(ds: Dataset, allowOutsideRoot: boolean, run: () => Promise<T>): Promise<T> {
    if (!allowOutsideRoot) return run();
    const before = await this.externalFolderSet(ds);
    try {
      return await run();
    } finally {
      // Files a list or an annotation file names outside the served folders are stored but never
      // granted: they stay blocked until allowed, which browser mode refuses outside its folders.
      const added = [...await this.externalFolderSet(ds)].filter((f) => !before.has(f) && this.withinConfinement(f));
      if (added.length > 0 && this.dataset === ds) {
        this.settings.allowExternal(ds.file, ds.uuid, added);
        this.trustExternal(ds);
      }
    }
  }

  private async imageOrThrow(imageId: number): Promise<ImageRecord> {
    const im = await getImage(this.need().db, imageId);
    if (!im) throw new AppError('NOT_FOUND', `image ${imageId} is not in the dataset`, { imageId });
    return im;
  }

  private async imagingInfo(imageId: number, frame: number): Promise<ImagingInfo> {
    const im = await this.imageOrThrow(imageId);
    requireFrame(im, frame);
    return imagingInfo(this.need().db, im, frame, () => this.mediaFor().statsRaster(im, frame));
  }

  /** Closes the open dataset and takes it off the recent list, e.g. when it may not be used here. */
  async refuseCurrent(): Promise<void> {
    const file = this.dataset?.file;
    await this.close();
    if (file) this.settings.removeRecent(file);
  }

  /** The open dataset's media address of an image now (see ImageListItem.media). */
  async mediaKey(imageId: number): Promise<string> {
    return mediaKey(this.need(), await this.imageOrThrow(imageId));
  }

  private models(): ModelRegistry {
    return new ModelRegistry({ manifestDir: defaultManifestDir(), configDir: this.opts.configDir });
  }

  private samModels(): SamModelRegistry {
    return new SamModelRegistry({ manifestDir: defaultSamManifestDir(), configDir: this.opts.configDir });
  }

  /** Reads both files' inputs and outputs in the inference workers and decides their SAM family. */
  private async inspectSam(encoder: string, decoder: string): Promise<SamInspection> {
    for (const [part, file] of [['encoder', encoder], ['decoder', decoder]] as const) {
      if (!fs.existsSync(file)) throw new AppError('FILE_NOT_FOUND', `${file}: does not exist (the ${part})`, { path: file });
    }
    const inference = await this.inference();
    const threads = threadSettings('app');
    const [enc, dec] = await Promise.all([inference.inspect(encoder, threads), inference.inspect(decoder, threads)]);
    const encoderIo = { inputs: enc.inputs, outputs: enc.outputs };
    const decoderIo = { inputs: dec.inputs, outputs: dec.outputs };
    const found = inspectSamPair(encoderIo, decoderIo, { encoder, decoder });
    return { encoder: encoderIo, decoder: decoderIo, family: found.family, proposed: found.proposed, problems: found.problems };
  }

  /** The manifest a custom pair is added with: the one given (checked against the files), else the proposed one. */
  private async samManifestFor(encoder: string, decoder: string, given: Record<string, unknown> | undefined): Promise<SamManifest> {
    const inspection = await this.inspectSam(encoder, decoder);
    if (!inspection.family || !inspection.proposed) {
      throw new AppError('UNSUPPORTED_FORMAT', inspection.problems.join('; ') || `${encoder} + ${decoder}: no SAM family fits this pair`, { encoder, decoder, problems: inspection.problems });
    }
    if (!given) return inspection.proposed;
    // The files picked are the model's files, whatever the manifest given says.
    const m = parseSamManifest({ ...given, encoder: { file: encoder }, decoder: { file: decoder } }, encoder);
    if (m.family !== inspection.family) {
      throw new AppError('INVALID_ARGUMENT', `${encoder} + ${decoder}: the manifest says family "${m.family}", but the files follow the "${inspection.family}" contract`, { encoder, decoder });
    }
    return m;
  }

  /** Interactive segmentation over this workspace's inference workers, reading built pyramids' levels. */
  private readonly segmenter = new Segmenter(
    () => this.inference(),
    async (ds, im) => {
      const pyramids = ds === this.dataset ? this.pyramids : null;
      const info = await pyramids?.info(im.id);
      if (!pyramids || info?.state !== 'ready') return null;
      return { geometry: { width: info.width, height: info.height, tileSize: info.tileSize, levels: info.levels }, tile: async (level, col, row) => (await pyramids.tile(im.id, level, col, row)).file };
    },
  );

  async close(): Promise<void> {
    await this.dataset?.close();
    this.dataset = null;
    this.media = null;
    this.pyramids?.close();
    this.pyramids = null;
  }

  /**
   * The inference workers of this workspace, started on first use and kept across jobs and
   * datasets, so that a model inspected, tried or run once is not loaded again (see InferencePool).
   */
  private inferenceBackend: InferenceBackend | null = null;

  private async inference(): Promise<InferenceBackend> {
    this.inferenceBackend ??= createInferenceBackend();
    return this.inferenceBackend;
  }

  /** Diagnostics: the inference worker threads running, the model loads they did and the sessions they hold. */
  async inferenceStats(): Promise<PoolStats> {
    return this.inferenceBackend ? this.inferenceBackend.stats() : { workers: 0, loads: 0, sessions: [] };
  }

  /** The smart tools' OpenCV thread, started on first use and kept (see VisionWorker). */
  private visionWorker: VisionWorker | null = null;

  vision(): VisionWorker {
    this.visionWorker ??= new VisionWorker();
    return this.visionWorker;
  }

  private smart(): SmartDeps {
    return { ds: this.need(), media: this.mediaFor(), vision: this.vision() };
  }

  /** Closes the dataset and stops the inference and smart tools workers, releasing their sessions (the app is closing). */
  async dispose(): Promise<void> {
    await this.close();
    const b = this.inferenceBackend;
    this.inferenceBackend = null;
    const v = this.visionWorker;
    this.visionWorker = null;
    await Promise.all([b?.close(), v?.close()]);
  }

  readonly handlers: Handlers = {
    'app:info': () => ({ version: this.opts.version, mode: this.opts.mode, nativeDialogs: Boolean(this.opts.pick) }),
    'dataset:create': async ({ path, root }) => {
      await this.use(await Dataset.create(path, root));
      return await this.dataset!.summary();
    },
    'dataset:open': async ({ path }) => {
      await this.use(await Dataset.open(path));
      return await this.dataset!.summary();
    },
    'dataset:close': async () => {
      await this.close();
      return null;
    },
    'dataset:current': async () => await this.dataset?.summary() ?? null,
    'dataset:info': async () => await this.need().info(),
    'dataset:recent': () => this.settings.recent(),
    'dataset:health': async () => await datasetHealth(this.need()),
    'dataset:allowExternal': async ({ folders }) => {
      const ds = this.need();
      const blocked = new Set((await ds.blockedFolders()).map((b) => b.folder));
      const unknown = folders.filter((f) => !blocked.has(f));
      if (unknown.length > 0) {
        throw new AppError('INVALID_ARGUMENT', `not a folder of this dataset's images waiting to be allowed: ${unknown.slice(0, 3).join(', ')}`, { folders: unknown.slice(0, 20) });
      }
      this.settings.allowExternal(ds.file, ds.uuid, folders);
      this.trustExternal(ds);
      return await ds.summary();
    },
    'images:import': async ({ jobId, paths, recursive, allowOutsideRoot }) => {
      const ds = this.need();
      const job = this.jobs.start(jobId);
      try {
        return await this.importing(ds, allowOutsideRoot, () => importImages(ds, {
          paths,
          recursive,
          allowOutsideRoot,
          confine: this.confine,
          maxPixels: this.opts.maxPixels,
          isCancelled: () => job.cancelled,
          onProgress: (p) => this.opts.emit('job:progress', { jobId, kind: 'import', ...p }),
        }));
      } finally {
        job.finish();
      }
    },
    'images:list': async ({ filter, offset, limit }) => {
      const ds = this.need();
      const items = (await listTiles(ds.db, filter, offset, limit)).map(({ external, contentHash, ...item }) => ({
        ...item,
        media: mediaKey(ds, { id: item.id, path: item.path, external, contentHash }),
      }));
      return { items, offset };
    },
    'images:count': async ({ filter }) => await countTiles(this.need().db, filter),
    'images:countImages': async ({ filter }) => await countImages(this.need().db, filter),
    'images:get': async ({ id }) => {
      const ds = this.need();
      const im = await getImage(ds.db, id);
      if (!im) throw new AppError('NOT_FOUND', `image ${id} is not in the dataset`, { id });
      return {
        ...im,
        fileState: await this.media!.fileState(im),
        media: mediaKey(ds, im),
        annotationCount: await countAnnotationsOfImage(ds.db, id),
        reviewComment: await getReviewComment(ds.db, id),
      };
    },
    'comments:list': async ({ imageId }) => await imageComments(this.need(), imageId),
    'comments:open': async ({ limit }) => await openComments(this.need(), limit),
    'comments:add': async (args) => await addComment(this.need(), args),
    'comments:resolve': async (args) => await resolveComment(this.need(), args),
    'comments:delete': async ({ id }) => {
      await removeComment(this.need(), id);
      return null;
    },
    'dataset:openImage': async () => await getOpenImage(this.need()),
    'dataset:setOpenImage': async ({ id }) => {
      await setOpenImage(this.need(), id);
      return null;
    },
    'versions:list': async () => await listVersions(this.need()),
    'versions:create': async (args) => await createVersion(this.need(), args),
    'versions:diff': async ({ a, b }) => await diffVersions(this.need(), a, b),
    'versions:delete': async ({ number }) => {
      await deleteVersion(this.need(), number);
      return null;
    },
    'versions:annotations': async ({ number, imageId }) => await versionAnnotations(this.need(), number, imageId),
    'versions:classes': async ({ number }) => await versionClassList(this.need(), number),
    'versions:images': async ({ number }) => await versionImageIds(this.need(), number),
    'curation:queue': async (args) => await buildQueue(this.need().db, args),
    'classifier:train': async ({ jobId, embeddingModelId, holdout, l2, seed }) => {
      const ds = this.need();
      const job = this.jobs.start(jobId);
      const started = Date.now();
      const progress = (phase: JobProgress['phase'], done: number, total: number): void => {
        const elapsed = Date.now() - started;
        const etaMs = phase === 'done' ? 0 : done > 0 ? Math.round((elapsed * (total - done)) / done) : null;
        this.opts.emit('job:progress', { jobId, kind: 'train-classifier', phase, done, total, imported: 0, duplicates: 0, problems: 0, etaMs });
      };
      try {
        progress('scanning', 0, 1);
        const trained = await trainClassifier(ds.db, { embeddingModelId, holdout, l2, seed }, { onProgress: (d, t) => progress('writing', d, t), cancelled: () => job.cancelled });
        this.classifier = { file: ds.file, trained };
        progress('done', 1, 1);
        return trained.report;
      } finally {
        job.finish();
      }
    },
    'classifier:predict': async ({ classifierId, topK, minScore }) => {
      const ds = this.need();
      const c = this.classifier;
      if (!c || c.file !== ds.file || c.trained.report.classifierId !== classifierId) {
        throw new AppError('NOT_FOUND', `classifier ${classifierId} is not the one last trained on this dataset: train it again`, { classifierId });
      }
      return await predictTags(ds.db, c.trained, { topK, minScore });
    },
    'map:get': async ({ modelId, method }) => await embeddingMapState(this.need().db, method, modelId),
    'map:compute': async ({ jobId, modelId, method, recompute }) => {
      const db = this.need().db;
      const job = this.jobs.start(jobId);
      const started = Date.now();
      const progress = (phase: 'writing' | 'done', done: number, total: number) => {
        const etaMs = phase === 'done' ? 0 : done > 0 ? ((Date.now() - started) / done) * (total - done) : null;
        this.opts.emit('job:progress', { jobId, kind: 'embedding-map', phase, done, total, imported: done, duplicates: 0, problems: 0, etaMs });
      };
      try {
        const map = await computeEmbeddingMap(db, modelId, method, { recompute, isCancelled: () => job.cancelled, onProgress: (d, t) => progress('writing', d, t) });
        progress('done', 1, 1);
        return map;
      } finally {
        job.finish();
      }
    },
    'map:points': async () => await mapPointInfo(this.need().db),
    'map:filterIds': async ({ filter }) => await imageIdsWhere(this.need().db, filter),
    'images:setStatus': async ({ ids, status }) => await setStatus(this.need().db, ids, status),
    'images:review': async (args) => await reviewImage(this.need(), args),
    'images:statusCounts': async ({ filter }) => await countByStatusWhere(this.need().db, filter),
    'images:geo': async ({ id }) => await getGeo(this.need().db, id),
    'images:viewedFrame': async ({ id }) => {
      const db = this.need().db;
      if (!await getImage(db, id)) throw new AppError('NOT_FOUND', `image ${id} is not in the dataset`, { id });
      return await getViewedFrame(db, id);
    },
    'images:setViewedFrame': async ({ id, frame }) => {
      const db = this.need().db;
      const im = await getImage(db, id);
      if (!im) throw new AppError('NOT_FOUND', `image ${id} is not in the dataset`, { id });
      requireFrame(im, frame);
      await setViewedFrame(db, id, frame);
      return frame;
    },
    'images:locate': async ({ filter, id }) => await locateTile(this.need().db, filter, id),
    'similar:find': async ({ imageIds, annotationId, model, k }) => await findSimilar(this.need(), { imageIds, annotationId, model, k }),
    'duplicates:find': async ({ threshold, model }) => {
      const ds = this.need();
      const r = await findNearDuplicatesInWorker(ds, { threshold, model });
      // Thumbnails of the pairs the dashboard shows.
      const media = async (id: number): Promise<string | undefined> => {
        const im = await getImage(ds.db, id);
        return im ? mediaKey(ds, im) : undefined;
      };
      const shown = [];
      for (const p of r.pairs.slice(0, DUPLICATE_PAIRS_SHOWN)) {
        shown.push({ ...p, a: { ...p.a, media: await media(p.a.imageId) }, b: { ...p.b, media: await media(p.b.imageId) } });
      }
      return { ...r, pairs: [...shown, ...r.pairs.slice(DUPLICATE_PAIRS_SHOWN)] };
    },
    'duplicates:resolve': async (args) => await resolveDuplicate(this.need(), args),
    // Team mode is the team server's (src-main/team): a window on one person's dataset has no team.
    'team:me': () => null,
    ...notInTeam([
      'team:members', 'team:setRole', 'team:lease', 'team:release', 'team:leaseOf', 'team:jobs', 'team:myJobs', 'team:createJobs',
      'team:deleteJob', 'team:jobImageIds', 'team:dashboard', 'team:audit', 'team:workers', 'team:runParts', 'team:queuePrelabel',
      'team:queueEmbeddings',
    ] as const),
    'stacks:get': async ({ id }) => {
      const ds = this.need();
      const stack = await getStack(ds.db, id);
      if (!stack) throw new AppError('NOT_FOUND', `stack ${id} is not in the dataset`, { id });
      const members = (await listStackMembers(ds.db, id)).map(({ external, contentHash, ...item }) => ({
        ...item,
        media: mediaKey(ds, { id: item.id, path: item.path, external, contentHash }),
      }));
      return { stack, members, viewedImageId: await getViewedSlice(ds.db, id) };
    },
    'stacks:setViewed': async ({ id, imageId }) => await setViewedSlice(this.need().db, id, imageId),
    'stacks:propagate': async (args) => await propagateShapes(this.need(), args),
    'stacks:interpolate': async (args) => await interpolateShapes(this.need(), args),
    'classes:list': async () => await listClasses(this.need().db),
    'classes:create': async ({ name, color, hotkey }) => {
      const db = this.need().db;
      try {
        return await insertClass(db, { name, color: color ?? nextClassColour((await listClasses(db)).map((c) => c.color)), hotkey: hotkey ?? null });
      } catch (e) {
        if ((e as { code?: unknown }).code === 'SQLITE_CONSTRAINT_UNIQUE') throw new AppError('INVALID_ARGUMENT', `a class named "${name}" already exists`, { name });
        throw e;
      }
    },
    'images:findNext': async ({ filter, afterId, want }) => {
      const db = this.need().db;
      const found = await findNextImage(db, filter, afterId, want);
      // The grid shows tiles: a slice of a stack is found at its stack's position.
      return found ? { id: found.id, index: await tileIndexOf(db, filter, found.id) } : null;
    },
    'images:pyramid': async ({ imageId }) => await this.pyramidsFor().info(imageId),
    'images:buildPyramid': async ({ jobId, imageId }) => {
      const pyramids = this.pyramidsFor();
      const job = this.jobs.start(jobId);
      const progress = (phase: 'writing' | 'done', done: number, total: number, etaMs: number | null) =>
        this.opts.emit('job:progress', { jobId, kind: 'pyramid', phase, done, total, imported: done, duplicates: 0, problems: 0, etaMs });
      try {
        const info = await pyramids.ensure(imageId, {
          isCancelled: () => job.cancelled,
          onProgress: (p) => progress('writing', p.done, p.total, p.etaMs),
        });
        progress('done', 1, 1, 0);
        return info;
      } finally {
        job.finish();
      }
    },
    'classes:update': async (args) => await updateClassInfo(this.need(), args),
    'classes:setKeypoints': async ({ id, keypoints }) => await setKeypointSchema(this.need(), id, keypoints),
    'classes:reorder': async ({ ids }) => await reorderClasses(this.need(), ids),
    'classes:delete': async ({ id, moveTo }) => await deleteClass(this.need(), id, moveTo),
    'annotations:list': async ({ imageId }) => await listImageAnnotations(this.need(), imageId),
    'annotations:edit': async (args) => await editAnnotations(this.need(), args),
    'annotations:undo': async ({ imageId }) => await undoEdit(this.need(), imageId),
    'annotations:redo': async ({ imageId }) => await redoEdit(this.need(), imageId),
    'annotations:history': async ({ imageId }) => await historyState(this.need(), imageId),
    'interchange:inspect': ({ path, format, allowOutsideRoot, keepEmptyClasses }) =>
      inspectDataset(this.need(), { path, format, allowOutsideRoot, keepEmptyClasses, confine: this.confine, maxPixels: this.opts.maxPixels }),
    'interchange:import': async ({ jobId, path, format, allowOutsideRoot, keepEmptyClasses }) => {
      const ds = this.need();
      const job = this.jobs.start(jobId);
      try {
        return await this.importing(ds, allowOutsideRoot, () => importDataset(ds, {
          path,
          format,
          allowOutsideRoot,
          keepEmptyClasses,
          confine: this.confine,
          maxPixels: this.opts.maxPixels,
          isCancelled: () => job.cancelled,
          onProgress: (p) => this.opts.emit('job:progress', { jobId, kind: 'interchange-import', ...p }),
        }));
      } finally {
        job.finish();
      }
    },
    'interchange:export': async ({ jobId, ...opts }) => {
      const ds = this.need();
      const job = this.jobs.start(jobId);
      const progress = (phase: 'writing' | 'done', done: number, total: number) =>
        this.opts.emit('job:progress', { jobId, kind: 'export', phase, done, total, imported: done, duplicates: 0, problems: 0, etaMs: null });
      try {
        const report = await exportDataset(ds, {
          ...opts,
          isCancelled: () => job.cancelled,
          onProgress: ({ done, total }) => progress('writing', done, total),
        });
        progress('done', report.images, report.images);
        return report;
      } finally {
        job.finish();
      }
    },
    'augment:preview': (args) => previewRecipe(this.need(), args),
    'splits:assign': async (args) => await assignSplits(this.need(), args),
    'models:list': () => this.models().list(),
    // Loaded with the app's thread settings, as the tries and runs that follow use by default.
    'models:inspect': async ({ file, labels }) => {
      const backend = await this.inference();
      return inspectWithLabels((f) => backend.inspect(f, threadSettings('app')), file, { labels });
    },
    'models:add': async ({ file, manifest }) => this.models().add(file, await manifestForFile(this.inference(), file, manifest)),
    'models:download': async ({ jobId, id }) => {
      const job = this.jobs.start(jobId);
      try {
        return await this.models().download(id, {
          isCancelled: () => job.cancelled,
          onProgress: ({ received, total }) =>
            this.opts.emit('job:progress', { jobId, kind: 'model-download', phase: 'writing', done: received, total: total ?? 0, imported: 0, duplicates: 0, problems: 0, etaMs: null }),
        });
      } finally {
        job.finish();
      }
    },
    'models:try': async (args) => {
      const ds = this.need();
      // An unsaved file is tried as it would be added, so what the dialog shows is what it saves.
      const threads = threadSettings('app', args);
      const { manifest, path: modelFile } =
        'modelId' in args
          ? this.models().requireFile(args.modelId)
          : await manifestForFile(this.inference(), args.file, args.manifest, threads).then((m) => ({ manifest: m, path: args.file }));
      const { imageId, conf, iou, tiling } = args;
      const r = await tryModel(ds, (await this.inference()).detector, { manifest, modelFile, imageId, conf, iou, tiling, providers: providerPreference(args), threads, vision: () => this.vision() });
      return {
        detections: r.detections.map((d) => ({ ...d, className: manifest.classes[d.classIndex] ?? `class ${d.classIndex}` })),
        provider: r.provider,
        ms: r.ms,
        warnings: r.warnings ?? [],
      };
    },
    'prelabel:run': async ({ jobId, modelId, scope, conf, iou, skipLabeled, provider, providers, tiling, threads, spinning }) => {
      const ds = this.need();
      const { manifest, path: modelFile } = this.models().requireFile(modelId);
      const imageIds = await scopeImageIds(ds, scope);
      const { detector } = await this.inference();
      const job = this.jobs.start(jobId);
      let runId: number | null = null;
      try {
        const summary = await runPrelabel(
          ds,
          detector,
          { manifest, modelFile, imageIds, conf, iou, skipLabeled, providers: providerPreference({ provider, providers }), tiling, threads: threadSettings('app', { threads, spinning }) },
          {
            isCancelled: () => job.cancelled,
            onProgress: (p) => this.opts.emit('job:progress', jobProgress(jobId, p)),
            vision: () => this.vision(),
            // Until this job ends, its run is in progress, not left unfinished.
            onRun: (id) => {
              runId = id;
              this.activeRuns.add(id);
            },
          },
        );
        this.opts.emit('job:progress', jobProgress(jobId, { ...summary, done: summary.images - summary.pending, total: summary.images, etaMs: 0 }, true));
        return summary;
      } finally {
        if (runId !== null) this.activeRuns.delete(runId);
        job.finish();
      }
    },
    'prelabel:resume': async ({ jobId, runId, threads, spinning }) => {
      const ds = this.need();
      const { detector } = await this.inference();
      const job = this.jobs.start(jobId);
      try {
        this.activeRuns.add(runId);
        const summary = await resumePrelabel(
          ds,
          detector,
          runId,
          {
            isCancelled: () => job.cancelled,
            onProgress: (p) => this.opts.emit('job:progress', jobProgress(jobId, p)),
            vision: () => this.vision(),
          },
          threadSettings('app', { threads, spinning }),
        );
        this.opts.emit('job:progress', jobProgress(jobId, { ...summary, done: summary.images - summary.pending, total: summary.images, etaMs: 0 }, true));
        return summary;
      } finally {
        this.activeRuns.delete(runId);
        job.finish();
      }
    },
    'embeddings:models': async () => {
      const ds = this.need();
      const available = this.models()
        .list()
        .filter((e) => e.manifest.task === 'embed')
        .map((e) => ({ id: e.manifest.id, name: e.manifest.name, origin: e.origin, downloaded: e.path !== null, downloadable: e.downloadable, licence: e.manifest.licence ?? null }));
      return { available, stored: await storedEmbeddingModels(ds), imageCount: await ds.db.prepare('SELECT COUNT(*) FROM images').pluck().get() as number };
    },
    'embeddings:compute': async ({ jobId, modelId, images, crops, threads, spinning }) => {
      const ds = this.need();
      const { manifest, path: file } = this.models().requireFile(modelId);
      // Started before anything is awaited, so a Cancel right after the start is not lost.
      const job = this.jobs.start(jobId);
      try {
        const { embedder } = await this.inference();
        const summary = await computeEmbeddings(ds, {
          model: { manifest, file },
          images: typeof images === 'string' ? images : images.filter,
          crops,
          embedder,
          threads: threadSettings('app', { threads, spinning }),
          isCancelled: () => job.cancelled,
          onProgress: (p) => this.opts.emit('job:progress', embedJobProgress(jobId, p)),
        });
        this.opts.emit('job:progress', embedJobProgress(jobId, { done: summary.total, total: summary.total, stored: summary.computed + summary.crops, failed: summary.failed, etaMs: 0 }, true));
        return await jobSummary(ds, summary);
      } finally {
        job.finish();
      }
    },
    'prelabel:unfinished': async () =>
      (await unfinishedRuns(this.need().db))
        .filter((r) => !this.activeRuns.has(r.runId))
        .map((r) => ({ runId: r.runId, modelId: r.model, status: r.status === 'cancelled' ? 'cancelled' : 'running', pending: r.pending, done: r.done })),
    'predictions:accept': async ({ ids, edits }) => await acceptPredictions(this.need(), ids, edits),
    'predictions:reject': async ({ ids }) => await rejectPredictions(this.need(), ids),
    'predictions:acceptAbove': async (args) => await acceptAbove(this.need(), args),
    'classmap:get': async ({ modelId }) => await getModelClassMap(this.need(), modelId, this.models().get(modelId).manifest.classes),
    'classmap:set': async ({ modelId, map }) => await setModelClassMap(this.need(), modelId, map),
    'eval:runs': async () => await evalRuns(this.need()),
    'eval:run': async (args) => await evaluateRun(this.need(), args),
    'imaging:getWindow': async ({ imageId, frame }) => await this.imagingInfo(imageId, frame),
    'imaging:setWindow': async ({ imageId, frame, window }) => {
      await this.imageOrThrow(imageId);
      await setRememberedWindow(this.need().db, imageId, window);
      return await this.imagingInfo(imageId, frame);
    },
    'imaging:pixels': async ({ imageId, frame, x, y, w, h }) => readPixelBlock(this.need(), this.mediaFor(), await this.imageOrThrow(imageId), frame, { x, y, w, h }),
    'display:get': async ({ imageId }) => {
      await this.imageOrThrow(imageId);
      return await getDisplay(this.need().db, imageId);
    },
    'display:set': async ({ imageId, settings }) => {
      await this.imageOrThrow(imageId);
      await setDisplay(this.need().db, imageId, settings);
      return await getDisplay(this.need().db, imageId);
    },
    // Interactive segmentation (issue in progress): each handler is replaced by its service.
    'segment:models': () => this.samModels().list(),
    // Both files are loaded with the app's thread settings, as the encodes and decodes that follow use.
    'segment:inspect': ({ encoder, decoder }) => this.inspectSam(encoder, decoder),
    'segment:add': async ({ encoder, decoder, manifest }) => this.samModels().add(encoder, decoder, await this.samManifestFor(encoder, decoder, manifest), { proposedId: !manifest }),
    'segment:download': async ({ jobId, id }) => {
      const job = this.jobs.start(jobId);
      try {
        return await this.samModels().download(id, {
          isCancelled: () => job.cancelled,
          onProgress: ({ received, total }) =>
            this.opts.emit('job:progress', { jobId, kind: 'sam-model-download', phase: 'writing', done: received, total: total ?? 0, imported: 0, duplicates: 0, problems: 0, etaMs: null }),
        });
      } finally {
        job.finish();
      }
    },
    'segment:encode': ({ imageId, frame, modelId, region, providers }) =>
      this.segmenter.encode(this.need(), this.samModels().requireFiles(modelId), { imageId, frame, region, providers: providerPreference({ providers }), threads: threadSettings('app') }),
    'segment:decode': ({ imageId, frame, modelId, region, providers, points, box, refineFrom }) =>
      this.segmenter.decode(this.need(), this.samModels().requireFiles(modelId), { imageId, frame, region, providers: providerPreference({ providers }), threads: threadSettings('app'), points, box, refineFrom, keepLowRes: true }),
    'segment:boxesToMasks': async ({ jobId, modelId, runId, annotationIds, as, tolerance, providers }) => {
      const ds = this.need();
      const model = this.samModels().requireFiles(modelId);
      const job = this.jobs.start(jobId);
      let newRun: number | null = null;
      // Progress counts images; the last figures reported are repeated when the job ends.
      let last = { done: 0, total: 0 };
      const progress = (done: number, total: number, created: number, finished: boolean) =>
        this.opts.emit('job:progress', { jobId, kind: 'prelabel', phase: finished ? 'done' : 'writing', done, total, imported: created, duplicates: 0, problems: 0, etaMs: null });
      try {
        const summary = await boxesToMasks(
          this.segmenter,
          ds,
          { model, runId, annotationIds, as, tolerance, providers: providerPreference({ providers }), threads: threadSettings('app') },
          {
            isCancelled: () => job.cancelled,
            onProgress: (p) => {
              last = { done: p.done, total: p.total };
              progress(p.done, p.total, p.created, false);
            },
            onRun: (id) => {
              newRun = id;
              this.activeRuns.add(id);
            },
          },
        );
        progress(last.done, last.total, summary.created, true);
        return summary;
      } finally {
        if (newRun !== null) this.activeRuns.delete(newRun);
        job.finish();
      }
    },
    'smart:wand': (args) => smartWand(this.smart(), args),
    'smart:grabcut': (args) => smartGrabcut(this.smart(), args),
    'smart:watershed': (args) => smartWatershed(this.smart(), args),
    'smart:scissors': (args) => smartScissors(this.smart(), args),
    'jobs:cancel': ({ jobId }) => this.jobs.cancel(jobId),
    'dialog:pick': async (args) => {
      if (!this.opts.pick) throw new AppError('UNSUPPORTED', 'file dialogs are only available in the desktop app; type a path instead');
      return this.opts.pick(args);
    },
    'app:showInFolder': ({ path }) => {
      if (!this.opts.showInFolder) throw new AppError('UNSUPPORTED', 'showing folders is only available in the desktop app');
      // Only what exists is shown; the path comes from the renderer, so nothing is opened or run.
      if (!fs.existsSync(path)) throw new AppError('FILE_NOT_FOUND', `${path}: does not exist`, { path });
      this.opts.showInFolder(path);
      return null;
    },
    'app:openTeamServer': ({ url }) => {
      if (!this.opts.openTeamServer) throw new AppError('UNSUPPORTED', 'team server windows are opened by the desktop app; in a browser, go to the server\'s address');
      const server = parseTeamServerUrl(url);
      if (!server.ok) throw new AppError('INVALID_ARGUMENT', server.reason);
      this.opts.openTeamServer({ origin: server.origin, login: server.login });
      return { origin: server.origin };
    },
  };
}
