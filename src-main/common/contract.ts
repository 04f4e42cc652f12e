import { z } from 'zod';
import { IMAGE_STATUSES, REVIEW_VERDICTS, SPLITS } from './model';
import { MAX_THREADS, PROVIDERS } from './inference/types';
import type { ModelIo, ModelManifest } from './inference/types';
import type { GeoReference } from './geo';
import type { ClassMap, ModelEntry, PrelabelSummary, ReviewResult, TryResult, UnfinishedRun } from './prelabel';
import type { EmbedJobSummary, EmbeddingModelsInfo } from './embeddings';
import type { Channel, EventName } from './channels';
import { ROLES, USER_NAME_PATTERN, type AnnotationsChanged, type AuditEntry, type LeaseState, type QueuedRun, type Role, type RunPart, type TeamDashboard, type TeamMe, type WorkJob, type WorkerInfo } from './team';
export { CHANNELS, EVENT_NAMES } from './channels';
export type { Channel, EventName } from './channels';
import type { EditResult, HistoryState } from './editing';
import { keypointSchemaProblem, MAX_KEYPOINT_NAME, MAX_KEYPOINTS } from './keypoints';
import type { HealthReport } from './health';
import type { VersionDiff, VersionRecord } from './versions';
import { MAX_SIMILAR_K, type DuplicateReport, type SimilarResult } from './similarity';
import { IOU_TYPES, type EvalResult, type EvalRunInfo } from './eval/types';
import { EXPORT_FORMATS, FORMATS, type ExportReport, type InterchangeReport } from './formats/types';
import type { PyramidInfo } from './pyramid';
import { augmentSchema, preprocessSchema, recipeSchema } from './augment/recipe';
import type { PreviewResult } from './augment/preview';
import type { BoxesToMasksSummary, EncodeResult, SamInspection, SamModelEntry, SegmentMask, SegmentResult } from './segment';
import type { ImagingInfo } from './imaging/info';
import type { DisplayInfo } from './imaging/display';
import type { PixelBlock } from './imaging/pixels';
import type { SliceEditSummary, StackInfo } from './stacks';
import { QUEUE_POOLS, QUEUE_STRATEGIES, UNCERTAINTY_MEASURES, type ClassifierPrediction, type ClassifierReport, type NextQueue } from './curation';
import type { EmbeddingMapData, EmbeddingMapState, MapPointInfo } from './embeddingMap';
import type {
  AnnotationRecord,
  AppInfo,
  ClassRecord,
  CommentRecord,
  DatasetInfo,
  DatasetSummary,
  ImageDetail,
  ImageListItem,
  ImageReview,
  ImageStatus,
  ImportReport,
  JobProgress,
  RecentDataset,
} from './model';

/**
 * The one IPC contract. Each `'domain:verb'` entry names an argument schema (validated in the main
 * process, whatever the transport) and a result type. The preload, the main-process handlers and
 * the browser-mode transport are all driven by this map.
 */
const path = z.string().min(1, 'path is empty').max(4096, 'path is too long');
const id = z.number().int().positive();
const jobId = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'job id must be 1-64 letters, digits, _ or -');
const empty = z.object({}).strict();
const modelId = z.string().regex(/^[A-Za-z0-9._-]{1,100}$/, 'model id must be 1-100 letters, digits, ., _ or -');
const unit = z.number().min(0).max(1);
const userName = z.string().regex(USER_NAME_PATTERN, 'a user name is 1-64 letters, digits, ., _, @ or -');
const finite = z.number().finite();
const providerList = z.array(z.enum(PROVIDERS)).min(1).max(PROVIDERS.length);
/**
 * onnxruntime's intra-op threads (one per physical core when omitted) and whether idle threads
 * spin (off when omitted: the app's UI shares the cores). Recorded in the model run's parameters.
 */
const threadOptions = {
  threads: z.number().int().min(1).max(MAX_THREADS).optional(),
  spinning: z.boolean().optional(),
};
/**
 * Tiled (sliced) inference: tile side in image pixels, overlap as a fraction of it (< 1) or in
 * pixels (>= 1), and an optional extra pass over the whole image.
 */
export const tilingSchema = z
  .object({
    size: z.number().int().min(32).max(16384),
    overlap: z.number().min(0).max(8192).default(0.2),
    fullPass: z.boolean().default(false),
  })
  .strict()
  .refine((t) => (t.overlap < 1 ? t.overlap * t.size : t.overlap) < t.size, 'overlap must be smaller than the tile');

const tryOptions = {
  imageId: id,
  tiling: tilingSchema.optional(),
  conf: unit.optional(),
  iou: unit.optional(),
  provider: z.enum(PROVIDERS).optional(),
  /** The whole preference order; wins over `provider`. The CPU is still the last fallback. */
  providers: providerList.optional(),
  ...threadOptions,
};
const coord = finite.min(-1e7).max(1e7);
const frame = z.number().int().min(0).max(1_000_000).default(0);
const segmentBox = z.object({ x0: coord, y0: coord, x1: coord, y1: coord }).strict();
const regionSchema = z
  .object({ x: coord, y: coord, w: z.number().positive().max(1e7), h: z.number().positive().max(1e7) })
  .strict();

/** Geometry in image pixels; validity beyond shape (area, vertex count) is checked by the service. */
export const geometrySchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('box'), x: coord, y: coord, w: coord, h: coord }).strict(),
  z
    .object({
      kind: z.literal('polygon'),
      parts: z.array(z.array(coord).max(2_000_000)).min(1).max(10_000),
    })
    .strict(),
  z
    .object({
      kind: z.literal('mask'),
      rle: z
        .object({
          size: z.tuple([z.number().int().min(1).max(1_000_000), z.number().int().min(1).max(1_000_000)]),
          counts: z.array(z.number().int().min(0)).max(50_000_000),
        })
        .strict(),
    })
    .strict(),
  z.object({ kind: z.literal('point'), x: coord, y: coord }).strict(),
  z.object({ kind: z.literal('obb'), cx: coord, cy: coord, w: coord, h: coord, angle: finite }).strict(),
  z.object({ kind: z.literal('tag') }).strict(),
  z.object({ kind: z.literal('polyline'), points: z.array(coord).min(4).max(2_000_000) }).strict(),
  z.object({ kind: z.literal('keypoints'), points: z.array(coord).min(3).max(30_000) }).strict(),
]);

const attributeValues = z.record(z.string().max(200), z.union([z.string().max(10_000), finite, z.boolean(), z.null()]));

const keypointIndex = z.number().int().min(0).max(MAX_KEYPOINTS - 1);
const keypointPair = z.tuple([keypointIndex, keypointIndex]);
/** A class's keypoint names and skeleton (0-based edges); see common/keypoints.ts. */
export const keypointSchemaSchema = z
  .object({
    names: z.array(z.string().min(1, 'a keypoint name is empty').max(MAX_KEYPOINT_NAME)).min(1).max(MAX_KEYPOINTS),
    skeleton: z.array(keypointPair).max(MAX_KEYPOINTS * MAX_KEYPOINTS),
    flipPairs: z.array(keypointPair).max(MAX_KEYPOINTS).optional(),
  })
  .strict()
  .superRefine((s, ctx) => {
    const problem = keypointSchemaProblem(s);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });

export const attributeDefSchema = z.discriminatedUnion('type', [
  z.object({ name: z.string().min(1).max(200), type: z.literal('boolean'), default: z.boolean().optional() }).strict(),
  z
    .object({
      name: z.string().min(1).max(200),
      type: z.literal('number'),
      min: finite.optional(),
      max: finite.optional(),
      step: finite.positive().optional(),
      default: finite.optional(),
    })
    .strict(),
  z
    .object({
      name: z.string().min(1).max(200),
      type: z.literal('select'),
      options: z.array(z.string().min(1).max(200)).min(1).max(1000),
      default: z.string().optional(),
    })
    .strict(),
  z.object({ name: z.string().min(1).max(200), type: z.literal('text'), default: z.string().max(10_000).optional() }).strict(),
]);

const draftSchema = z
  .object({
    classId: id.nullable(),
    geometry: geometrySchema,
    frame: z.number().int().min(0).optional(),
    attributes: attributeValues.optional(),
    z: z.number().int().optional(),
  })
  .strict();

export const editOpSchema = z.discriminatedUnion('op', [
  z.object({ op: z.literal('create'), draft: draftSchema }).strict(),
  z
    .object({
      op: z.literal('update'),
      id,
      patch: z
        .object({ classId: id.nullable().optional(), geometry: geometrySchema.optional(), attributes: attributeValues.optional(), z: z.number().int().optional() })
        .strict(),
      baseVersion: z.number().int().min(1).optional(),
    })
    .strict(),
  z.object({ op: z.literal('delete'), id }).strict(),
]);

export const imageFilterSchema = z
  .object({
    status: z.enum(IMAGE_STATUSES).optional(),
    classId: id.optional(),
    split: z.enum([...SPLITS, 'none']).optional(),
    hasPredictions: z.boolean().optional(),
    labeled: z.boolean().optional(),
    ids: z.array(id).max(100_000).optional(),
    ranked: z
      .object({
        ids: z.array(id).max(100_000),
        scores: z.array(finite).max(100_000).optional(),
        label: z.string().min(1, 'a ranking needs a label').max(200),
      })
      .strict()
      .refine((r) => r.scores === undefined || r.scores.length === r.ids.length, 'a ranking has one score per image')
      .optional(),
    hasOpenComments: z.boolean().optional(),
  })
  .strict();

/** The images a pre-label run takes: these ids, or those matching a filter (unlabeled ones only, if asked). */
const prelabelScope = z.union([
  z.object({ imageIds: z.array(id).min(1).max(1_000_000) }).strict(),
  z.object({ filter: imageFilterSchema.default({}), unlabeledOnly: z.boolean().default(false) }).strict(),
]);

export const argSchemas = {
  'app:info': empty,
  'dataset:create': z.object({ path, root: path.optional() }).strict(),
  'dataset:open': z.object({ path }).strict(),
  'dataset:close': empty,
  'dataset:current': empty,
  'dataset:info': empty,
  'dataset:recent': empty,
  /** Statistics and problems of the open dataset's images and human annotations. */
  'dataset:health': empty,
  /** Lets the open dataset read its images in these folders outside its own (from blockedFolders). */
  'dataset:allowExternal': z.object({ folders: z.array(path).min(1).max(10_000) }).strict(),
  'images:import': z
    .object({
      jobId,
      paths: z.array(path).min(1, 'no paths given').max(100_000),
      recursive: z.boolean().default(true),
      allowOutsideRoot: z.boolean().default(false),
    })
    .strict(),
  'images:list': z
    .object({
      filter: imageFilterSchema.default({}),
      offset: z.number().int().min(0).default(0),
      limit: z.number().int().min(1).max(1000).default(200),
    })
    .strict(),
  'images:count': z.object({ filter: imageFilterSchema.default({}) }).strict(),
  'images:countImages': z.object({ filter: imageFilterSchema.default({}) }).strict(),
  'images:get': z.object({ id }).strict(),
  /** The image's georeference (GeoTIFF), null when it has none. */
  'images:geo': z.object({ id }).strict(),
  /** The frame last viewed on a multi-frame image (0 when none was remembered). */
  'images:viewedFrame': z.object({ id }).strict(),
  /** Remembers the frame viewed on a multi-frame image; returns it. */
  'images:setViewedFrame': z.object({ id, frame: z.number().int().min(0).max(1_000_000) }).strict(),
  /** The grid position of the tile showing an image (its stack's tile for a slice); null when the filter hides it. */
  'images:locate': z.object({ filter: imageFilterSchema.default({}), id }).strict(),
  /** A stack's slices in order, and the slice it was last viewed on. */
  'stacks:get': z.object({ id }).strict(),
  /** Remembers the slice a stack is viewed on (an image of the stack). */
  'stacks:setViewed': z.object({ id, imageId: id }).strict(),
  /** Copies shapes of one slice to the next `count` slices of its stack or multi-frame image. */
  'stacks:propagate': z
    .object({ imageId: id, frame, ids: z.array(id).min(1).max(10_000), count: z.number().int().min(1).max(10_000).default(1) })
    .strict(),
  /** Interpolates a box or polygon towards the nearest key shape of its class on another slice (or `toId`). */
  'stacks:interpolate': z.object({ imageId: id, id, toId: id.optional() }).strict(),
  'images:setStatus': z.object({ ids: z.array(id).min(1).max(100_000), status: z.enum(IMAGE_STATUSES) }).strict(),
  'images:findNext': z
    .object({
      filter: imageFilterSchema.default({}),
      /** Start after this image (in filter order); from the beginning when omitted. */
      afterId: id.optional(),
      want: z.enum(['unlabeled', 'not_done', 'done']),
    })
    .strict(),
  /** Whether the image is shown from a tile pyramid, and whether that pyramid is built. */
  'images:pyramid': z.object({ imageId: id }).strict(),
  /** Builds the image's tile pyramid if it has none (progress on 'job:progress', cancellable). */
  'images:buildPyramid': z.object({ jobId, imageId: id }).strict(),
  /** A reviewer's verdict on a done (or already reviewed) image, with an optional comment. */
  'images:review': z
    .object({ id, verdict: z.enum(REVIEW_VERDICTS), comment: z.string().max(10_000).optional() })
    .strict(),
  /** Images per status among those matching the filter's other keys. */
  'images:statusCounts': z.object({ filter: imageFilterSchema.default({}) }).strict(),
  'classes:list': empty,
  'classes:create': z
    .object({
      name: z.string().trim().min(1, 'class name is empty').max(200),
      color: z
        .string()
        .regex(/^#[0-9a-fA-F]{6}$/, 'colour must be #rrggbb')
        .optional(),
      hotkey: z.string().max(16).optional(),
    })
    .strict(),
  'classes:update': z
    .object({
      id,
      name: z.string().trim().min(1, 'class name is empty').max(200).optional(),
      color: z
        .string()
        .regex(/^#[0-9a-fA-F]{6}$/, 'colour must be #rrggbb')
        .optional(),
      hotkey: z.string().max(16).nullable().optional(),
      attributes: z.array(attributeDefSchema).max(100).optional(),
    })
    .strict(),
  /**
   * Sets (or, with null, clears) a class's keypoint schema. While the class has keypoint
   * annotations the number of keypoints cannot change (names and edges can).
   */
  'classes:setKeypoints': z.object({ id, keypoints: keypointSchemaSchema.nullable() }).strict(),
  'classes:reorder': z.object({ ids: z.array(id).min(1).max(10_000) }).strict(),
  /** Deleting a class moves its annotations to `moveTo`, or deletes them when it is null. */
  'classes:delete': z.object({ id, moveTo: id.nullable() }).strict(),
  'annotations:list': z.object({ imageId: id }).strict(),
  'annotations:edit': z
    .object({ imageId: id, label: z.string().min(1).max(200), ops: z.array(editOpSchema).min(1).max(100_000) })
    .strict(),
  'annotations:undo': z.object({ imageId: id }).strict(),
  'annotations:redo': z.object({ imageId: id }).strict(),
  'annotations:history': z.object({ imageId: id }).strict(),
  /** Dry run: reads an annotated dataset (file or folder) and reports what an import would do. */
  'interchange:inspect': z
    .object({
      path,
      format: z.enum([...FORMATS, 'auto']).default('auto'),
      allowOutsideRoot: z.boolean().default(false),
      /** Create COCO categories that no annotation uses (left out and counted by default). */
      keepEmptyClasses: z.boolean().default(false),
    })
    .strict(),
  /** Imports an annotated dataset in one transaction (images, classes, annotations), or nothing. */
  'interchange:import': z
    .object({
      jobId,
      path,
      format: z.enum([...FORMATS, 'auto']).default('auto'),
      allowOutsideRoot: z.boolean().default(false),
      keepEmptyClasses: z.boolean().default(false),
    })
    .strict(),
  'interchange:export': z
    .object({
      jobId,
      outDir: path,
      format: z.enum(EXPORT_FORMATS),
      only: z.enum(['all', 'done', 'reviewed']).default('all'),
      withPredictions: z.boolean().default(false),
      images: z.enum(['copy', 'link', 'none']).default('copy'),
      /** Refuse shapes the target cannot hold instead of converting them with a counted warning. */
      strict: z.boolean().default(false),
      /** COCO: write polygons as polygons (default) or every shape as RLE. */
      cocoSegmentation: z.enum(['polygon', 'rle']).default('polygon'),
      /**
       * A folder that is not empty: refused, replaced (only when everything in it was written by
       * an earlier export), or merged into (this export's files replace those of the same name, and
       * the earlier export's files it no longer writes go; see exportPlace.mergeInto).
       */
      ifExists: z.enum(['refuse', 'overwrite', 'merge']).default('refuse'),
      /** Export this frozen version (its number) instead of the dataset as it is now. */
      version: z.number().int().min(1).optional(),
      /** Preprocessing of every image and augmentation of the train split (common/augment/recipe). */
      recipe: z.object({ preprocess: preprocessSchema, augment: augmentSchema.optional() }).strict().optional(),
    })
    .strict(),
  /** Augmented samples of the first few train images through the export's pipeline and seeding, for the export panel. */
  'augment:preview': z
    .object({
      preprocess: preprocessSchema,
      augment: augmentSchema.optional(),
      images: z.number().int().min(1).max(12).default(3),
      samples: z.number().int().min(1).max(16).default(4),
      maxSide: z.number().int().min(32).max(1024).default(192),
    })
    .strict(),
  /** Assigns train/val/test by ratios, seeded, stratified by class presence; stored in the dataset. */
  'splits:assign': z
    .object({
      ratios: z.tuple([finite.min(0), finite.min(0), finite.min(0)]).refine((r) => r[0] + r[1] + r[2] > 0, 'ratios sum to zero'),
      seed: z.number().int().default(0),
      stratify: z.boolean().default(true),
      only: z.enum(['all', 'done', 'reviewed']).default('all'),
    })
    .strict(),
  'models:list': empty,
  /** Reads an .onnx file's inputs, outputs and metadata and proposes a manifest. */
  /** `labels`: a labels file for the model's classes; one beside the model is read when omitted. */
  'models:inspect': z.object({ file: path, labels: path.optional() }).strict(),
  /** Adds a custom model; without a manifest the proposed one is used. Validated by the service. */
  'models:add': z.object({ file: path, manifest: z.record(z.string(), z.unknown()).optional() }).strict(),
  'models:download': z.object({ jobId, id: modelId }).strict(),
  /**
   * Runs a model on one image and returns the detections without storing them. A registered model
   * is named by id; a file not yet added is tried with the given manifest or, without one, the
   * proposed one, so a custom model can be judged before it is saved.
   */
  'models:try': z.union([
    z.object({ modelId, ...tryOptions }).strict(),
    z.object({ file: path, manifest: z.record(z.string(), z.unknown()).optional(), ...tryOptions }).strict(),
  ]),
  /** Pre-labels many images as a background job (progress on 'prelabel:progress'); resumable. */
  'prelabel:run': z
    .object({
      jobId,
      modelId,
      scope: prelabelScope,
      conf: unit.optional(),
      iou: unit.optional(),
      /** Skip images that hold human annotations. */
      skipLabeled: z.boolean().default(true),
      /** First provider to try; the CPU is always the fallback. */
      provider: z.enum(PROVIDERS).optional(),
      /** The whole preference order; wins over `provider`. The CPU is still the last fallback. */
      providers: providerList.optional(),
      /** Tiled (sliced) inference; recorded in the model run's parameters. */
      tiling: tilingSchema.optional(),
      ...threadOptions,
    })
    .strict(),
  /** Continues a cancelled or interrupted run with its recorded parameters; thread settings are this machine's. */
  'prelabel:resume': z.object({ jobId, runId: id, ...threadOptions }).strict(),
  /** Runs of the open dataset that stopped with images left (cancelled, or cut off by a quit). */
  'prelabel:unfinished': empty,
  /** The embed models one can choose, and those whose vectors the open dataset holds, with counts. */
  'embeddings:models': empty,
  /**
   * Computes embedding vectors as a background job (progress on 'job:progress', kind 'embed';
   * Cancel with jobs:cancel keeps the batches done): every image, those without a current vector
   * ('new'), or those a filter matches that have none; `crops` adds one vector per object.
   */
  'embeddings:compute': z
    .object({
      jobId,
      modelId,
      images: z.union([z.literal('all'), z.literal('new'), z.object({ filter: imageFilterSchema }).strict()]).default('new'),
      crops: z.boolean().default(false),
      ...threadOptions,
    })
    .strict(),
  /** Accepts predictions as human annotations; `edits` change class or geometry while accepting. */
  'predictions:accept': z
    .object({
      ids: z.array(id).max(1_000_000),
      edits: z.array(z.object({ id, classId: id.nullable().optional(), geometry: geometrySchema.optional() }).strict()).max(100_000).default([]),
    })
    .strict(),
  'predictions:reject': z.object({ ids: z.array(id).min(1).max(1_000_000) }).strict(),
  /** Accepts the predictions of one run or several (`runIds`: one undo step per image for all of them). */
  'predictions:acceptAbove': z
    .object({ runId: id.optional(), runIds: z.array(id).min(1).max(10_000).optional(), imageId: id.optional(), threshold: unit })
    .strict()
    .refine((v) => v.runId !== undefined || v.runIds !== undefined, { message: 'needs runId or runIds' }),
  'classmap:get': z.object({ modelId }).strict(),
  'classmap:set': z.object({ modelId, map: z.record(z.string().min(1).max(200), id.nullable()) }).strict(),
  /** Model runs that can be evaluated against the human annotations. */
  'eval:runs': empty,
  /** COCO metrics, P/R/F1, confusion matrix and error lists of one run on the images in scope. */
  'eval:run': z
    .object({
      runId: id,
      iouType: z.enum(IOU_TYPES).default('bbox'),
      filter: imageFilterSchema.default({}),
      scoreThreshold: unit.default(0.5),
      iouThreshold: unit.default(0.5),
    })
    .strict(),
  /** Display window, presets, value range and pixel spacing of one frame of an image. */
  'imaging:getWindow': z.object({ imageId: id, frame: z.number().int().min(0).max(1_000_000).default(0) }).strict(),
  /** Remembers a display window for the image and its series; null goes back to the default. */
  'imaging:setWindow': z
    .object({
      imageId: id,
      frame: z.number().int().min(0).max(1_000_000).default(0),
      window: z.object({ center: finite.min(-1e9).max(1e9), width: finite.min(1).max(1e9) }).strict().nullable(),
    })
    .strict(),
  /** The samples of a block of one frame as the original data holds them (cursor readout). */
  'imaging:pixels': z
    .object({
      imageId: id,
      frame: z.number().int().min(0).max(1_000_000).default(0),
      x: z.number().int().min(0).max(1_000_000),
      y: z.number().int().min(0).max(1_000_000),
      w: z.number().int().min(1).max(64).default(1),
      h: z.number().int().min(1).max(64).default(1),
    })
    .strict(),
  /** Display adjustments of an image: its own, else the dataset's default. */
  'display:get': z.object({ imageId: id }).strict(),
  /** Remembers display adjustments for the image and as the dataset's default; null resets both. */
  'display:set': z
    .object({
      imageId: id,
      settings: z
        .object({
          brightness: finite.min(-100).max(100),
          contrast: finite.min(-100).max(100),
          gamma: finite.min(0.1).max(10),
          invert: z.boolean(),
          channels: z.tuple([z.boolean(), z.boolean(), z.boolean()]),
        })
        .strict()
        .nullable(),
    })
    .strict(),
  /** Prompt-driven segmentation models (SAM family): shipped manifests and custom pairs. */
  'segment:models': empty,
  /** Reads an encoder/decoder pair's inputs and outputs and proposes a family and a manifest. */
  'segment:inspect': z.object({ encoder: path, decoder: path }).strict(),
  /** Adds a custom encoder/decoder pair; without a manifest the proposed one is used. */
  'segment:add': z.object({ encoder: path, decoder: path, manifest: z.record(z.string(), z.unknown()).optional() }).strict(),
  /** Downloads both files of a shipped SAM-family model (progress on 'job:progress', cancellable). */
  'segment:download': z.object({ jobId, id: modelId }).strict(),
  /** Encodes an image (or a region of a large one) ahead of its first prompt; cached. */
  'segment:encode': z.object({ imageId: id, frame, modelId, region: regionSchema.optional(), providers: providerList.optional() }).strict(),
  /**
   * Masks for a prompt: points and/or a box in image pixels. Each candidate of the answer carries
   * the id of its low-resolution mask (`lowResId`, kept for the last few dozen candidates);
   * `refineFrom` names the one of the answer on screen to feed it back to the decoder. An id no
   * longer kept (or of another image or model) decodes without it and says so in `warnings`.
   */
  'segment:decode': z
    .object({
      imageId: id,
      frame,
      modelId,
      points: z.array(z.object({ x: coord, y: coord, label: z.union([z.literal(0), z.literal(1)]) }).strict()).max(64).default([]),
      box: segmentBox.optional(),
      refineFrom: z.string().min(1).max(64).optional(),
      region: regionSchema.optional(),
      providers: providerList.optional(),
    })
    .strict()
    .refine((v) => v.points.length > 0 || v.box !== undefined, 'a prompt needs a point or a box'),
  /**
   * Prompts the decoder with detector boxes (a run's box predictions, or chosen annotations) and
   * stores each mask (or traced polygon) as a prediction of a new run linked to the boxes' run.
   */
  'segment:boxesToMasks': z
    .object({
      jobId,
      modelId,
      runId: id.optional(),
      annotationIds: z.array(id).min(1).max(1_000_000).optional(),
      as: z.enum(['mask', 'polygon']).default('mask'),
      tolerance: finite.min(0).max(100).default(1),
      providers: providerList.optional(),
    })
    .strict()
    .refine((v) => v.runId !== undefined || v.annotationIds !== undefined, 'needs runId or annotationIds'),
  /** Magic wand: the region around a pixel whose displayed value is within `tolerance` (0-255). */
  'smart:wand': z
    .object({ imageId: id, frame, x: coord, y: coord, tolerance: z.number().min(0).max(255).default(32), region: regionSchema.optional() })
    .strict(),
  /** GrabCut from a box in image pixels. */
  'smart:grabcut': z.object({ imageId: id, frame, box: segmentBox, iterations: z.number().int().min(1).max(20).default(5) }).strict(),
  /**
   * Threshold (Otsu when omitted) and, with `split`, a distance-transform watershed that separates
   * touching blobs: one mask per instance, in the box when given.
   */
  'smart:watershed': z
    .object({
      imageId: id,
      frame,
      threshold: z.number().min(0).max(255).optional(),
      split: z.boolean().default(true),
      minArea: z.number().int().min(0).max(1_000_000_000).default(20),
      fillHoles: z.boolean().default(true),
      box: segmentBox.optional(),
    })
    .strict(),
  /**
   * Intelligent scissors: the cheapest path along the image's edges from `from` to `to` (image
   * pixels), searched within a margin around the two points.
   */
  'smart:scissors': z
    .object({ imageId: id, frame, from: z.object({ x: coord, y: coord }).strict(), to: z.object({ x: coord, y: coord }).strict() })
    .strict(),
  'jobs:cancel': z.object({ jobId }).strict(),
  'dialog:pick': z
    .object({ purpose: z.enum(['createDataset', 'openDataset', 'folder', 'files']), title: z.string().max(200).optional() })
    .strict(),
  /** Shows a folder or file (e.g. an export's output) in the system file manager. */
  'app:showInFolder': z.object({ path }).strict(),
  /** Opens a team server (`tessera serve`) at its login page in a window of its own (desktop app). */
  'app:openTeamServer': z.object({ url: z.string().max(2000) }).strict(),
  /** Comments of one image, replies included, oldest first. */
  'comments:list': z.object({ imageId: id }).strict(),
  /** Open comments across the dataset (replies left out), in image order. */
  'comments:open': z.object({ limit: z.number().int().min(1).max(10_000).default(1000) }).strict(),
  /**
   * Pins a comment to a shape (`annotationId`) or a point (`x`, `y`) of an image's frame, or
   * replies to one (`parentId`). Without `author` it is signed with the operating system's user.
   */
  'comments:add': z
    .object({
      imageId: id,
      frame: z.number().int().min(0).max(1_000_000).default(0),
      body: z.string().max(10_000),
      annotationId: id.optional(),
      x: coord.optional(),
      y: coord.optional(),
      parentId: id.optional(),
      author: z.string().max(200).optional(),
    })
    .strict(),
  'comments:resolve': z.object({ id, resolved: z.boolean(), author: z.string().max(200).optional() }).strict(),
  /** Deletes a comment with its replies. */
  'comments:delete': z.object({ id }).strict(),
  /**
   * The image last open in the viewer of this dataset, so a reload or restart comes back to it:
   * `index` is its place in the unfiltered list, null when the image is gone. Null when none.
   */
  'dataset:openImage': empty,
  /** Remembers the image open in the viewer (null: the grid is shown). */
  'dataset:setOpenImage': z.object({ id: id.nullable() }).strict(),
  /** The dataset's versions, oldest first. */
  'versions:list': empty,
  /** Freezes the dataset as it is now as the next version (see services/versions). */
  'versions:create': z
    .object({
      name: z.string().trim().min(1, 'a version needs a name').max(200),
      note: z.string().max(10_000).default(''),
      withPredictions: z.boolean().default(false),
      /** Export settings saved with the version (a recipe file's content): exporting the version uses them. */
      recipe: recipeSchema.optional(),
    })
    .strict(),
  /** What changed from version `a` to version `b`, or to the dataset now ('current'). */
  'versions:diff': z.object({ a: z.number().int().min(1), b: z.union([z.number().int().min(1), z.literal('current')]) }).strict(),
  'versions:delete': z.object({ number: z.number().int().min(1) }).strict(),
  /** One image's annotations as a version froze them (read-only viewing). */
  'versions:annotations': z.object({ number: z.number().int().min(1), imageId: id }).strict(),
  /** The classes as a version froze them (read-only viewing shows its names and colours). */
  'versions:classes': z.object({ number: z.number().int().min(1) }).strict(),
  /** Ids of a version's images that the dataset still holds, in id order (to open them in the viewer). */
  'versions:images': z.object({ number: z.number().int().min(1) }).strict(),
  /**
   * What to label next: the images still to label ordered by a strategy (README, Curation).
   * Uncertainty uses `runId` (the latest run with predictions when omitted); the others the
   * vectors of `embeddingModelId` (the model with most vectors when omitted).
   */
  'curation:queue': z
    .object({
      strategy: z.enum(QUEUE_STRATEGIES),
      measure: z.enum(UNCERTAINTY_MEASURES).default('margin'),
      pool: z.enum(QUEUE_POOLS).default('unlabeled'),
      runId: id.optional(),
      embeddingModelId: id.optional(),
      limit: z.number().int().min(1).max(20_000).default(500),
    })
    .strict(),
  /** Trains a logistic regression on the vectors of the human-tagged images (progress on 'job:progress', cancellable). */
  'classifier:train': z
    .object({
      jobId,
      embeddingModelId: id.optional(),
      /** Fraction of each class held out for evaluation. */
      holdout: z.number().min(0.05).max(0.5).default(0.2),
      l2: z.number().min(0).max(100).default(1e-3),
      seed: z.number().int().min(0).max(2 ** 31).default(1),
    })
    .strict(),
  /** Tags the untagged images with the trained classifier as a new model run. */
  'classifier:predict': z
    .object({
      classifierId: z.string().regex(/^clf-[a-z0-9-]{1,40}$/, 'not a classifier id'),
      topK: z.number().int().min(1).max(100).default(3),
      minScore: unit.default(0.1),
    })
    .strict(),
  /**
   * The embedding map: the models with image vectors, the model shown (`modelId`, else the one with
   * the most vectors) and its cached map by `method` when the vectors are unchanged, else null.
   */
  'map:get': z.object({ modelId: id.optional(), method: z.enum(['pca', 'umap']).default('pca') }).strict(),
  /** Computes the map (cached unless `recompute`) as a background job (progress on 'job:progress', cancellable). */
  'map:compute': z.object({ jobId, modelId: id, method: z.enum(['pca', 'umap']).default('pca'), recompute: z.boolean().default(false) }).strict(),
  /** What the map colours points by, for every image (class, split, status, best prediction score). */
  'map:points': empty,
  /** Ids of the images matching a grid filter, in id order (the map dims the others). */
  'map:filterIds': z.object({ filter: imageFilterSchema.default({}) }).strict(),
  /** The image's place in the list the filter gives (id order); null when the filter leaves it out. */
  /**
   * "More like this": the k images nearest by cosine similarity to one image, the mean of several,
   * or an object's crop vector, with one embedding model's vectors (the one with most when omitted).
   */
  'similar:find': z
    .object({
      imageIds: z.array(id).min(1).max(10_000).optional(),
      annotationId: id.optional(),
      model: z.string().min(1).max(200).optional(),
      k: z.number().int().min(1).max(MAX_SIMILAR_K).default(200),
    })
    .strict()
    .refine((a) => (a.imageIds === undefined) !== (a.annotationId === undefined), 'give either imageIds or annotationId'),
  /** Near-duplicate pairs and groups at or above a cosine similarity threshold, with split leakage. */
  'duplicates:find': z
    .object({ threshold: z.number().min(0).max(1).default(0.95), model: z.string().min(1).max(200).optional() })
    .strict(),
  /** One near-duplicate pair resolved: `imageId` moved into the split of `keepId`, or dropped from the dataset (its file stays). */
  'duplicates:resolve': z.object({ action: z.enum(['move', 'drop']), imageId: id, keepId: id }).strict(),
  /** Who this session is logged in as (null outside team mode). */
  'team:me': empty,
  /** Everyone with a role on the dataset (manager). */
  'team:members': empty,
  /** Gives a user a role on the dataset, or takes it away with null (manager). */
  'team:setRole': z.object({ user: userName, role: z.enum(ROLES).nullable() }).strict(),
  /** Takes or renews the edit lease of an image; answers who holds it when someone else does. */
  'team:lease': z.object({ imageId: id }).strict(),
  /** Gives up the caller's lease of an image (nothing when it holds none). */
  'team:release': z.object({ imageId: id }).strict(),
  /** Who holds an image's lease, without taking it. */
  'team:leaseOf': z.object({ imageId: id }).strict(),
  /** Every job on the dataset with its progress (reviewer and up). */
  'team:jobs': empty,
  /** The jobs the caller is assignee or reviewer of. */
  'team:myJobs': empty,
  /**
   * Splits the images matching `filter` that are in no job yet into jobs of `perJob` images,
   * handed to `assignees` in turn (manager).
   */
  'team:createJobs': z
    .object({
      name: z.string().trim().min(1).max(200).optional(),
      filter: imageFilterSchema.default({}),
      perJob: z.number().int().min(1).max(100_000),
      /** At most this many jobs (the rest of the images stay unassigned). */
      maxJobs: z.number().int().min(1).max(10_000).optional(),
      assignees: z.array(userName).min(1).max(1000),
      reviewer: userName.optional(),
    })
    .strict(),
  /** Deletes a job; its images become unassigned, their annotations stay (manager). */
  'team:deleteJob': z.object({ jobId: id }).strict(),
  /** The images of a job in id order (its assignee, its reviewer, or a manager). */
  'team:jobImageIds': z.object({ jobId: id }).strict(),
  /** Jobs, per-user throughput and workers (manager). */
  'team:dashboard': empty,
  /** The audit log, newest first, of one image and/or one user (reviewer and up). */
  'team:audit': z
    .object({ imageId: id.optional(), user: userName.optional(), limit: z.number().int().min(1).max(10_000).default(200) })
    .strict(),
  /** Worker processes the queue has seen. */
  'team:workers': empty,
  /** The parts of a queued run and which worker ran each, with its provider. */
  'team:runParts': z.object({ runId: id }).strict(),
  /** Queues a pre-label run for `tessera worker` processes, in parts of `partSize` images (manager). */
  'team:queuePrelabel': z
    .object({
      modelId,
      scope: prelabelScope,
      conf: unit.optional(),
      iou: unit.optional(),
      skipLabeled: z.boolean().default(true),
      partSize: z.number().int().min(1).max(10_000).default(16),
    })
    .strict(),
  /** Queues embedding computation for `tessera worker` processes (manager). */
  'team:queueEmbeddings': z
    .object({
      modelId,
      images: z.union([z.literal('all'), z.literal('new'), z.object({ filter: imageFilterSchema }).strict()]).default('new'),
      partSize: z.number().int().min(1).max(10_000).default(64),
    })
    .strict(),
} as const satisfies Record<Channel, z.ZodType>;

export interface Results {
  'app:info': AppInfo;
  'dataset:create': DatasetSummary;
  'dataset:open': DatasetSummary;
  'dataset:close': null;
  'dataset:current': DatasetSummary | null;
  'dataset:info': DatasetInfo;
  'dataset:recent': RecentDataset[];
  'dataset:health': HealthReport;
  'dataset:allowExternal': DatasetSummary;
  'images:import': ImportReport;
  'images:list': { items: ImageListItem[]; offset: number };
  /** Grid tiles matching the filter (a stack is one tile). */
  'images:count': number;
  /** Images matching the filter, each slice of a stack counted. */
  'images:countImages': number;
  'images:get': ImageDetail;
  'images:setStatus': number;
  'images:findNext': { id: number; index: number } | null;
  'images:pyramid': PyramidInfo;
  'images:buildPyramid': PyramidInfo;
  'images:review': ImageReview;
  'images:statusCounts': Record<ImageStatus, number>;
  'images:geo': GeoReference | null;
  'images:viewedFrame': number;
  'images:setViewedFrame': number;
  'images:locate': number | null;
  'stacks:get': { stack: StackInfo; members: ImageListItem[]; viewedImageId: number | null };
  'stacks:setViewed': boolean;
  'stacks:propagate': SliceEditSummary;
  'stacks:interpolate': SliceEditSummary & { from: number; to: number };
  'classes:list': ClassRecord[];
  'classes:create': ClassRecord;
  'classes:update': ClassRecord;
  'classes:setKeypoints': ClassRecord;
  'classes:reorder': ClassRecord[];
  'classes:delete': { moved: number; deleted: number };
  'annotations:list': AnnotationRecord[];
  'annotations:edit': EditResult;
  'annotations:undo': EditResult | null;
  'annotations:redo': EditResult | null;
  'annotations:history': HistoryState;
  'interchange:inspect': InterchangeReport;
  'interchange:import': InterchangeReport;
  'interchange:export': ExportReport;
  'augment:preview': PreviewResult;
  'splits:assign': Record<'train' | 'val' | 'test' | 'none', number>;
  'models:list': ModelEntry[];
  'models:inspect': ModelInspection;
  'models:add': ModelEntry;
  'models:download': ModelEntry;
  'models:try': TryResult;
  'prelabel:run': PrelabelSummary;
  'prelabel:resume': PrelabelSummary;
  'prelabel:unfinished': UnfinishedRun[];
  'embeddings:models': EmbeddingModelsInfo;
  'embeddings:compute': EmbedJobSummary;
  'predictions:accept': ReviewResult;
  'predictions:reject': ReviewResult;
  'predictions:acceptAbove': ReviewResult;
  /** `stored` is false while the map is the by-name default. */
  'classmap:get': { map: ClassMap; stored: boolean };
  'classmap:set': ClassMap;
  'eval:runs': EvalRunInfo[];
  'eval:run': EvalResult;
  'imaging:getWindow': ImagingInfo;
  'imaging:setWindow': ImagingInfo;
  'imaging:pixels': PixelBlock;
  'display:get': DisplayInfo;
  'display:set': DisplayInfo;
  'segment:models': SamModelEntry[];
  'segment:inspect': SamInspection;
  'segment:add': SamModelEntry;
  'segment:download': SamModelEntry;
  'segment:encode': EncodeResult;
  'segment:decode': SegmentResult;
  'segment:boxesToMasks': BoxesToMasksSummary;
  'smart:wand': SegmentMask;
  'smart:grabcut': SegmentMask;
  'smart:watershed': { instances: SegmentMask[]; threshold: number };
  /** The path as flat x, y pairs of pixel centres, from `from` to `to`. */
  'smart:scissors': { points: number[] };
  'jobs:cancel': boolean;
  'dialog:pick': string[] | null;
  'app:showInFolder': null;
  /** The origin of the server opened. */
  'app:openTeamServer': { origin: string };
  'comments:list': CommentRecord[];
  'comments:open': CommentRecord[];
  'comments:add': CommentRecord;
  'comments:resolve': CommentRecord;
  'comments:delete': null;
  'dataset:openImage': { id: number; index: number | null } | null;
  'dataset:setOpenImage': null;
  'versions:list': VersionRecord[];
  'versions:create': VersionRecord;
  'versions:diff': VersionDiff;
  'versions:delete': null;
  'versions:annotations': AnnotationRecord[];
  'versions:classes': ClassRecord[];
  'versions:images': number[];
  'curation:queue': NextQueue;
  'classifier:train': ClassifierReport;
  'classifier:predict': ClassifierPrediction;
  'similar:find': SimilarResult;
  'duplicates:find': DuplicateReport;
  'duplicates:resolve': { action: 'move' | 'drop'; imageId: number; split: 'train' | 'val' | 'test' | null };
  'map:get': EmbeddingMapState;
  'map:compute': EmbeddingMapData;
  'map:points': MapPointInfo;
  'map:filterIds': number[];
  'team:me': TeamMe | null;
  'team:members': { user: string; role: Role }[];
  'team:setRole': null;
  'team:lease': LeaseState;
  'team:release': null;
  'team:leaseOf': LeaseState;
  'team:jobs': WorkJob[];
  'team:myJobs': WorkJob[];
  'team:createJobs': WorkJob[];
  'team:deleteJob': null;
  'team:jobImageIds': number[];
  'team:dashboard': TeamDashboard;
  'team:audit': AuditEntry[];
  'team:workers': WorkerInfo[];
  'team:runParts': RunPart[];
  'team:queuePrelabel': QueuedRun;
  'team:queueEmbeddings': QueuedRun;
}

/** Arguments as callers write them (defaults may be omitted). */
export type Args<C extends Channel> = z.input<(typeof argSchemas)[C]>;
/** Arguments as handlers receive them, after validation and defaults. */
export type ParsedArgs<C extends Channel> = z.output<(typeof argSchemas)[C]>;
export type ResultOf<C extends Channel> = Results[C];

/** Events pushed from the main process to the renderer. */
export interface Events {
  'job:progress': JobProgress;
  /** Team mode: someone changed an image's shapes. */
  'annotations:changed': AnnotationsChanged;
  /** Team mode: an image's lease was taken, released or lapsed. */
  'lease:changed': LeaseState;
}

/** What `models:inspect` reports: inputs, outputs, metadata, and a manifest when one fits. */
export interface ModelInspection extends ModelIo {
  metadata: Record<string, string>;
  /** Null when the outputs fit no decoder family; `problems` then says what was expected. */
  proposed: ModelManifest | null;
  problems: string[];
}

// Every channel has a schema and a result type, and nothing else does.
type Same<A, B> = [Exclude<A, B>, Exclude<B, A>] extends [never, never] ? true : never;
export const contractKeysMatch: Same<Channel, keyof Results> & Same<Channel, keyof typeof argSchemas> & Same<EventName, keyof Events> = true;
