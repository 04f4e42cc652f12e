import crypto from 'node:crypto';
import fs from 'node:fs';
import { AppError } from '../common/errors';
import { badVectors, proposeEmbedManifest, vectorProblem } from '../common/inference/embed';
import type { ModelIo, ModelManifest, Provider, RawPixels, ThreadSettings } from '../common/inference/types';
import { geometryBBox } from '../common/geometry/shapes';
import type { EmbedJobSummary, StoredEmbeddingModel } from '../common/embeddings';
import type { Geometry, ImageFilter, ImageRecord, JobProgress } from '../common/model';
import {
  annotationsWithoutEmbedding,
  embeddingCounts,
  embeddingModelByKey,
  ensureEmbeddingModel,
  imagesWithoutEmbedding,
  listEmbeddingModels,
  putEmbeddings,
  type EmbeddingCounts,
  type EmbeddingDtype,
  type EmbeddingInput,
  type EmbeddingModelRecord,
} from '../db/embeddings';
import { getImage, whereClause } from '../db/images';
import type { EmbedResult } from '../inference/embed';
import type { ImageInput } from '../inference/preprocess';
import type { Dataset } from './dataset';
import { requireImageUnchanged } from './media';
import { decodedForDisplay, geoNodata, paddingOf, rasterNeedsWindow } from './dicom/display';
import { getImagingMeta } from '../db/imaging';
import { modelInputWindow, type InputWindow } from '../common/inference/highBitDepth';
import { displayWindow, inputBytes } from './prelabel';
import { readRaster } from './raster';

/**
 * Embedding vectors of a dataset's images (and optionally of its objects' crops) as a resumable
 * background job. Each batch's vectors are stored in one transaction, so a cancel or a crash keeps
 * what was done; `images: 'new'` then computes only what is missing or stale (the file's content
 * hash changed). The vectors are computed in the inference layer's worker threads (Embedder).
 */

/** One batch of images for the inference layer. */
export interface EmbedRequest {
  manifest: ModelManifest;
  modelFile: string;
  inputs: ImageInput[];
  providers?: Provider[];
  threads?: ThreadSettings;
}

/** Computes embedding vectors off the main thread (services/inference.ts implements it over the worker pool). */
export interface Embedder {
  embed(req: EmbedRequest): Promise<EmbedResult>;
}

export interface EmbedProgress {
  /** Images handled so far (stored, failed or skipped as unreadable). */
  done: number;
  total: number;
  /** Vectors stored so far: images and object crops. */
  stored: number;
  failed: number;
  /** Estimated milliseconds left, null until the first batch is done. */
  etaMs: number | null;
}

export interface ComputeEmbeddingsOptions {
  /** The embed manifest and its weights file. */
  model: { manifest: ModelManifest; file: string };
  /**
   * 'all' computes every image again; 'new' only those without a current vector (none, or made
   * from other file content); a filter the images it matches that have no current vector.
   */
  images: 'all' | 'new' | ImageFilter;
  /** Also one vector per annotation: its bounding box with a margin (see CROP_MARGIN). */
  crops?: boolean;
  /** Images per batch (default 16); a model with a fixed batch size is run at that size in the worker. */
  batchSize?: number;
  /** Stored as float16 (default: half the space) or float32. */
  dtype?: EmbeddingDtype;
  providers?: Provider[];
  threads?: ThreadSettings;
  embedder: Embedder;
  onProgress?: (p: EmbedProgress) => void;
  isCancelled?: () => boolean;
}

export interface EmbedSummary {
  /** The embedding_models row, null when nothing was computed (no images, or cancelled before the first batch). */
  model: EmbeddingModelRecord | null;
  key: string;
  /** Images the job set out to compute. */
  total: number;
  /** Image vectors stored by this job. */
  computed: number;
  /** Object crop vectors stored by this job. */
  crops: number;
  /** Images already current and left alone ('new' and filters). */
  skipped: number;
  /** Images that could not be read, or whose vector was unusable; see `problems`. */
  failed: number;
  /** One line per failure (the first 50), naming the file and the reason. */
  problems: string[];
  cancelled: boolean;
  ms: number;
  /** The model's stored vectors after the job. */
  counts: EmbeddingCounts;
}

/**
 * An embed manifest for a model file given without one (a custom ONNX): its inputs and outputs
 * read from the file (`inspect` loads it in the inference layer), the vector read from `output`
 * or the output whose name says it (see proposeEmbedManifest). `problems` lists what was assumed.
 */
export async function embedManifestForFile(inspect: (file: string) => Promise<ModelIo>, file: string, output?: string): Promise<{ manifest: ModelManifest; problems: string[] }> {
  if (!fs.existsSync(file)) throw new AppError('FILE_NOT_FOUND', `${file}: model file not found`, { path: file });
  const io = await inspect(file);
  return proposeEmbedManifest(io, file, output);
}

/** The margin around an object's bounding box in its crop, as a fraction of the box's side. */
export const CROP_MARGIN = 0.1;
const MAX_PROBLEMS = 50;

const fileHashes = new Map<string, { size: number; mtimeMs: number; sha: string }>();

/** The sha256 of a model file, remembered while its size and modification time stay the same. */
export async function modelFileSha256(file: string): Promise<string> {
  let st: fs.Stats;
  try {
    st = await fs.promises.stat(file);
  } catch {
    throw new AppError('FILE_NOT_FOUND', `${file}: model file not found`, { path: file });
  }
  const known = fileHashes.get(file);
  if (known && known.size === st.size && known.mtimeMs === st.mtimeMs) return known.sha;
  const h = crypto.createHash('sha256');
  for await (const chunk of fs.createReadStream(file)) h.update(chunk as Buffer);
  const sha = h.digest('hex');
  fileHashes.set(file, { size: st.size, mtimeMs: st.mtimeMs, sha });
  return sha;
}

/** What of a manifest changes the vectors it makes: its preprocessing, input, output and pooling. */
export function embeddingParameters(m: ModelManifest): Record<string, unknown> {
  return {
    input: m.input ?? null,
    output: m.output ?? null,
    size: m.size,
    defaultSize: m.defaultSize ?? null,
    colour: m.colour,
    scale: m.scale,
    mean: m.mean ?? null,
    std: m.std ?? null,
    resize: m.resize ?? null,
    cropFrom: m.cropFrom ?? null,
    layout: m.layout ?? 'nchw',
    normalize: m.normalize ?? null,
    embedding: m.embedding ?? null,
  };
}

/**
 * The key of an embedding model in a dataset: the manifest id, the weights' sha256 and a hash of
 * the preprocessing, so vectors of another file or another preprocessing are never mixed with
 * these (they would not be comparable).
 */
export async function embeddingModelKey(m: ModelManifest, file: string): Promise<string> {
  const sha = await modelFileSha256(file);
  const pre = crypto.createHash('sha256').update(JSON.stringify(embeddingParameters(m))).digest('hex');
  return `${m.id}@${sha.slice(0, 16)}.${pre.slice(0, 8)}`;
}

/**
 * The images a job visits, in id order: those whose own vector it computes (`whole`: every image
 * for 'all', else those without a current vector), and with crops also those with an object
 * whose crop vector is missing; `skipped` counts the images it leaves alone.
 */
async function targetImages(ds: Dataset, images: ComputeEmbeddingsOptions['images'], modelId: number | null, crops: boolean): Promise<{ ids: number[]; whole: Set<number>; skipped: number }> {
  let matched: number[];
  if (images === 'all' || images === 'new') matched = await ds.db.prepare('SELECT id FROM images ORDER BY id').pluck().all() as number[];
  else {
    const { ranked, ...rest } = images;
    const { sql, params } = whereClause(ranked ? { ...rest, ids: rest.ids ? rest.ids.filter((i) => ranked.ids.includes(i)) : ranked.ids } : rest);
    matched = await ds.db.prepare(`SELECT i.id FROM images i ${sql} ORDER BY i.id`).pluck().all(...params) as number[];
  }
  const missing = images === 'all' || modelId === null ? null : new Set(await imagesWithoutEmbedding(ds.db, modelId));
  const whole = new Set(missing ? matched.filter((id) => missing.has(id)) : matched);
  const withCrops = crops ? new Set((await annotationsWithoutEmbedding(ds.db, images === 'all' ? null : modelId, matched)).map((t) => t.imageId)) : new Set<number>();
  const ids = matched.filter((id) => whole.has(id) || withCrops.has(id));
  return { ids, whole, skipped: matched.length - ids.length };
}

/** An object's crop: its bounding box grown by CROP_MARGIN on each side, clamped to the image; null when empty. */
export function cropRegion(g: Geometry, width: number, height: number): { x: number; y: number; w: number; h: number } | null {
  const b = geometryBBox(g);
  if (!(b.w > 0 && b.h > 0)) return null;
  const mx = b.w * CROP_MARGIN, my = b.h * CROP_MARGIN;
  const x0 = Math.max(0, Math.floor(b.x - mx)), y0 = Math.max(0, Math.floor(b.y - my));
  const x1 = Math.min(width, Math.ceil(b.x + b.w + mx)), y1 = Math.min(height, Math.ceil(b.y + b.h + my));
  return x1 - x0 >= 2 && y1 - y0 >= 2 ? { x: x0, y: y0, w: x1 - x0, h: y1 - y0 } : null;
}

interface Item {
  image: ImageRecord;
  annotationId: number | null;
  input: ImageInput;
  label: string;
}

/**
 * Computes and stores embedding vectors (see the module comment). Failures of single images
 * (missing or corrupt files) are counted and listed in the summary; a model that does not fit
 * (wrong input or output, an output that is not a vector) or gives unusable vectors (NaN, all
 * values equal, the same vector for different images) fails the job with an error naming the file.
 */
export async function computeEmbeddings(ds: Dataset, opts: ComputeEmbeddingsOptions): Promise<EmbedSummary> {
  const t0 = performance.now();
  const { manifest, file } = opts.model;
  if (manifest.task !== 'embed') throw new AppError('INVALID_ARGUMENT', `${file}: model "${manifest.id}" is a ${manifest.task} model, not an embed model`, { file, id: manifest.id });
  const key = await embeddingModelKey(manifest, file);
  let model = await embeddingModelByKey(ds.db, key);
  const { ids, whole, skipped } = await targetImages(ds, opts.images, model?.id ?? null, opts.crops === true);
  const batchSize = Math.max(1, opts.batchSize ?? 16);
  const summary: EmbedSummary = { model, key, total: ids.length, computed: 0, crops: 0, skipped, failed: 0, problems: [], cancelled: false, ms: 0, counts: { images: 0, stale: 0, annotations: 0 } };
  const problem = (line: string): void => {
    summary.failed++;
    if (summary.problems.length < MAX_PROBLEMS) summary.problems.push(line);
  };
  let done = 0;
  const started = performance.now();
  opts.onProgress?.({ done: 0, total: ids.length, stored: 0, failed: 0, etaMs: null });
  /** The items of the batch at `start`: its readable images (and their objects' crops). */
  const prepare = async (start: number): Promise<{ batchIds: number[]; items: Item[] }> => {
    const batchIds = ids.slice(start, start + batchSize);
    const items: Item[] = [];
    for (const id of batchIds) {
      const image = await getImage(ds.db, id);
      if (!image) continue;
      let path: string;
      try {
        path = ds.imagePath(image);
        // A file replaced on disk since its import is not what the dataset records: its vector
        // would be stored under the recorded content hash, so it is reported instead.
        await requireImageUnchanged(ds, image);
      } catch (e) {
        problem(about(image.path, e instanceof Error ? e.message : String(e)));
        continue;
      }
      if (decodedForDisplay(image)) {
        // Deeper than 8 bits, or DICOM: decoded here and windowed as the viewer shows it (as
        // pre-labeling does), the model given the 8-bit pixels.
        try {
          items.push({ image, annotationId: null, input: { raw: await windowedPixels(ds, image, manifest) }, label: path });
        } catch (e) {
          problem(about(path, e instanceof Error ? e.message : String(e)));
        }
        continue;
      }
      // The dataset's record of an 8-bit image's oriented size spares reading its header again.
      items.push({ image, annotationId: null, input: image.bitDepth <= 8 ? { path, size: { width: image.width, height: image.height } } : path, label: path });
    }
    const readable = new Map(items.map((it) => [it.image.id, it]));
    if (opts.crops) {
      for (const t of await annotationsWithoutEmbedding(ds.db, opts.images === 'all' ? null : (model?.id ?? null), [...readable.keys()])) {
        const it = readable.get(t.imageId)!;
        const region = cropRegion(JSON.parse(t.geometry) as Geometry, it.image.width, it.image.height);
        if (!region) continue;
        const label = `${it.label} (annotation ${t.annotationId})`;
        if (typeof it.input === 'object' && 'raw' in it.input) items.push({ image: it.image, annotationId: t.annotationId, input: { raw: cropPixels(it.input.raw, region) }, label });
        else items.push({ image: it.image, annotationId: t.annotationId, input: { path: typeof it.input === 'string' ? it.input : it.input.path, region }, label });
      }
      // Images visited only for their objects' crops keep their current vector.
      for (let i = items.length - 1; i >= 0; i--) if (items[i]!.annotationId === null && !whole.has(items[i]!.image.id)) items.splice(i, 1);
    }
    return { batchIds, items };
  };
  const send = (items: Item[]): Promise<EmbedResult | null> =>
    items.length === 0 ? Promise.resolve(null) : opts.embedder.embed({ manifest, modelFile: file, inputs: items.map((it) => it.input), ...(opts.providers ? { providers: opts.providers } : {}), ...(opts.threads ? { threads: opts.threads } : {}) });
  // The next batch is sent before this one is stored, so the worker decodes its images while
  // this one runs; a cancel drops the batch in flight and keeps those stored.
  let next: { batchIds: number[]; items: Item[]; result: Promise<EmbedResult | null> } | null = null;
  const start0 = async (start: number): Promise<typeof next> => {
    if (start >= ids.length || opts.isCancelled?.()) return null;
    const b = await prepare(start);
    const result = send(b.items);
    result.catch(() => undefined);
    return { ...b, result };
  };
  next = await start0(0);
  for (let start = 0; next; start += batchSize) {
    const { batchIds, items } = next;
    const r = await next.result;
    if (opts.isCancelled?.()) break;
    next = await start0(start + batchSize);
    if (!r) {
      done += batchIds.length;
      continue;
    }
    for (const f of r.failures) problem(about(items[f.index]!.label, f.message));
    const rows: EmbeddingInput[] = [];
    const output = manifest.output ?? 'the first output';
    for (let k = 0; k < r.rows.length; k++) {
      const it = items[r.rows[k]!]!;
      const v = r.data.subarray(k * r.dim, (k + 1) * r.dim);
      const bad = vectorProblem(v);
      if (bad) throw badVectors(file, output, bad, it.label);
      rows.push({ imageId: it.image.id, annotationId: it.annotationId, contentHash: it.image.contentHash, vector: v });
    }
    const wholes = rows.filter((x) => x.annotationId == null);
    if (new Set(wholes.map((x) => x.contentHash)).size >= 2 && wholes.every((x) => sameVector(x.vector, wholes[0]!.vector))) {
      throw badVectors(file, output, `gives the same vector for ${wholes.length} different images`, items[0]!.label);
    }
    if (rows.length > 0) {
      model ??= await ensureEmbeddingModel(ds.db, {
        key,
        name: manifest.name,
        dim: r.dim,
        dtype: opts.dtype ?? 'f16',
        normalized: (manifest.embedding?.l2 ?? true) === true,
        parameters: { manifestId: manifest.id, file, ...embeddingParameters(manifest) },
      });
      if (model.dim !== r.dim) throw new AppError('INVALID_ARGUMENT', `${file}: output "${output}" gives ${r.dim} values, but its vectors are stored with ${model.dim}`, { file });
      await putEmbeddings(ds.db, model, rows);
    }
    summary.computed += wholes.length;
    summary.crops += rows.length - wholes.length;
    done += batchIds.length;
    const elapsed = performance.now() - started;
    opts.onProgress?.({ done, total: ids.length, stored: summary.computed + summary.crops, failed: summary.failed, etaMs: done < ids.length ? Math.round((elapsed / done) * (ids.length - done)) : 0 });
  }
  summary.cancelled = done < ids.length && opts.isCancelled?.() === true;
  summary.model = model;
  summary.counts = model ? await embeddingCounts(ds.db, model.id) : summary.counts;
  summary.ms = performance.now() - t0;
  return summary;
}

/** The 8-bit pixels a model sees of an image decoded here: its samples through the viewer's window. */
async function windowedPixels(ds: Dataset, image: ImageRecord, manifest: ModelManifest): Promise<RawPixels> {
  const raster = await readRaster(ds, image, 0);
  let window: InputWindow | undefined;
  if (rasterNeedsWindow(raster)) {
    const stored = await geoNodata(ds.db, image);
    const nodata = stored !== null && Number.isFinite(stored) ? stored : undefined;
    const padding = paddingOf(image.format === 'dicom' ? await getImagingMeta(ds.db, image.id) : null, raster, nodata ?? null);
    window = modelInputWindow(manifest, raster.data, raster.channels, await displayWindow(ds, image), nodata, padding);
  }
  const bytes = inputBytes(raster, window);
  return { data: bytes.data, width: raster.width, height: raster.height, channels: bytes.channels };
}

function cropPixels(r: RawPixels, c: { x: number; y: number; w: number; h: number }): RawPixels {
  const ch = r.channels;
  const out = new Uint8Array(c.w * c.h * ch);
  for (let y = 0; y < c.h; y++) out.set(r.data.subarray(((c.y + y) * r.width + c.x) * ch, ((c.y + y) * r.width + c.x + c.w) * ch), y * c.w * ch);
  return { data: out, width: c.w, height: c.h, channels: ch };
}

/** A problem line naming what failed once: most messages already start with the file. */
function about(label: string, message: string): string {
  const file = label.replace(/ \(annotation \d+\)$/, '');
  return message.startsWith(`${file}: `) ? `${label}: ${message.slice(file.length + 2)}` : `${label}: ${message}`;
}

function sameVector(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** The models whose vectors the dataset holds, with their counts, oldest first. */
export async function storedEmbeddingModels(ds: Dataset): Promise<StoredEmbeddingModel[]> {
  const out: StoredEmbeddingModel[] = [];
  for (const m of await listEmbeddingModels(ds.db)) out.push(await toStored(ds, m));
  return out;
}

async function toStored(ds: Dataset, m: EmbeddingModelRecord): Promise<StoredEmbeddingModel> {
  const c = await embeddingCounts(ds.db, m.id);
  const manifestId = typeof m.parameters['manifestId'] === 'string' ? m.parameters['manifestId'] : null;
  return { id: m.id, key: m.key, name: m.name, manifestId, dim: m.dim, dtype: m.dtype, createdAt: m.createdAt, images: c.images, stale: c.stale, annotations: c.annotations };
}

/** A job's summary as the embedding channels report it. */
export async function jobSummary(ds: Dataset, s: EmbedSummary): Promise<EmbedJobSummary> {
  return {
    key: s.key,
    model: s.model ? await toStored(ds, s.model) : null,
    total: s.total,
    computed: s.computed,
    crops: s.crops,
    skipped: s.skipped,
    failed: s.failed,
    problems: s.problems,
    cancelled: s.cancelled,
    ms: Math.round(s.ms),
  };
}

/** A job's progress as a 'job:progress' event (kind 'embed'): images done of total, vectors stored, failures. */
export function embedJobProgress(jobId: string, p: EmbedProgress, finished = false): JobProgress {
  return { jobId, kind: 'embed', phase: finished ? 'done' : 'writing', done: p.done, total: p.total, imported: p.stored, duplicates: 0, problems: p.failed, etaMs: p.etaMs };
}
