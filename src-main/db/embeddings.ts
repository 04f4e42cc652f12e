import { createHash } from 'node:crypto';
import { decodeF16, encodeF16 } from '../common/float16';
import type { Db } from './open';
import { IMAGE_STATUSES, SPLITS, type ImageStatus, type Split } from '../common/model';
import type { MapPointInfo, ProjectionMethod } from '../common/embeddingMap';
export type { ProjectionMethod } from '../common/embeddingMap';

/**
 * The embedding store: models (one row per embedding model key, with its vector size and storage
 * type) and vectors per image or per annotation. Vectors go in and come out as Float32Array;
 * float16 blobs halve the space and keep cosine similarity to about 1e-3.
 */

export type EmbeddingDtype = 'f16' | 'f32';

export interface EmbeddingModelRecord {
  id: number;
  key: string;
  name: string;
  dim: number;
  dtype: EmbeddingDtype;
  normalized: boolean;
  parameters: Record<string, unknown>;
  createdAt: number;
  /** Image vectors stored (annotation vectors not counted). */
  imageCount: number;
}

interface ModelRow {
  id: number;
  key: string;
  name: string;
  dim: number;
  dtype: EmbeddingDtype;
  normalized: number;
  parameters: string;
  created_at: number;
  image_count: number;
}

const SELECT_MODELS = `
  SELECT m.*, (SELECT COUNT(*) FROM embeddings e WHERE e.model_id = m.id AND e.annotation_id IS NULL) AS image_count
  FROM embedding_models m`;

function toModel(r: ModelRow): EmbeddingModelRecord {
  return {
    id: r.id,
    key: r.key,
    name: r.name,
    dim: r.dim,
    dtype: r.dtype,
    normalized: r.normalized === 1,
    parameters: JSON.parse(r.parameters) as Record<string, unknown>,
    createdAt: r.created_at,
    imageCount: r.image_count,
  };
}

/**
 * The model row for `key`, created on first use. A key already stored with another vector size
 * is refused: its vectors could not be compared with the new ones.
 */
export async function ensureEmbeddingModel(
  db: Db,
  m: { key: string; name: string; dim: number; dtype: EmbeddingDtype; normalized: boolean; parameters?: Record<string, unknown> },
): Promise<EmbeddingModelRecord> {
  const existing = await embeddingModelByKey(db, m.key);
  if (existing) {
    if (existing.dim !== m.dim) throw new Error(`embedding model "${m.key}" is stored with ${existing.dim} values per vector, not ${m.dim}`);
    return existing;
  }
  await db.prepare('INSERT INTO embedding_models (key, name, dim, dtype, normalized, parameters, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)').run(
    m.key,
    m.name,
    m.dim,
    m.dtype,
    m.normalized ? 1 : 0,
    JSON.stringify(m.parameters ?? {}),
    Date.now(),
  );
  return (await embeddingModelByKey(db, m.key))!;
}

export async function embeddingModelByKey(db: Db, key: string): Promise<EmbeddingModelRecord | null> {
  const r = await db.prepare(`${SELECT_MODELS} WHERE m.key = ?`).get(key) as ModelRow | undefined;
  return r ? toModel(r) : null;
}

export async function embeddingModelById(db: Db, id: number): Promise<EmbeddingModelRecord | null> {
  const r = await db.prepare(`${SELECT_MODELS} WHERE m.id = ?`).get(id) as ModelRow | undefined;
  return r ? toModel(r) : null;
}

export async function listEmbeddingModels(db: Db): Promise<EmbeddingModelRecord[]> {
  return (await db.prepare(`${SELECT_MODELS} ORDER BY m.id`).all() as ModelRow[]).map(toModel);
}

export function encodeVector(model: Pick<EmbeddingModelRecord, 'dim' | 'dtype'>, v: ArrayLike<number>): Buffer {
  if (v.length !== model.dim) throw new Error(`an embedding has ${v.length} values, the model ${model.dim}`);
  if (model.dtype === 'f16') {
    const h = encodeF16(v);
    return Buffer.from(h.buffer, h.byteOffset, h.byteLength);
  }
  const f = Float32Array.from(v);
  return Buffer.from(f.buffer, f.byteOffset, f.byteLength);
}

export function decodeVector(model: Pick<EmbeddingModelRecord, 'dim' | 'dtype'>, blob: Uint8Array, out?: Float32Array, offset = 0): Float32Array {
  const bytes = model.dtype === 'f16' ? 2 : 4;
  if (blob.byteLength !== model.dim * bytes) throw new Error(`a stored embedding has ${blob.byteLength} bytes, expected ${model.dim * bytes}`);
  if (model.dtype === 'f16') return decodeF16(blob, out ?? new Float32Array(model.dim), offset);
  const f = new Float32Array(blob.buffer.slice(blob.byteOffset, blob.byteOffset + blob.byteLength));
  if (!out) return f;
  out.set(f, offset);
  return out;
}

export interface EmbeddingInput {
  imageId: number;
  /** Set for an object crop's vector; the image's own vector when null or absent. */
  annotationId?: number | null;
  contentHash: string;
  vector: ArrayLike<number>;
}

/** Stores vectors (replacing what the same image or annotation had) in one transaction. */
export async function putEmbeddings(db: Db, model: EmbeddingModelRecord, rows: readonly EmbeddingInput[]): Promise<void> {
  const delImage = db.prepare('DELETE FROM embeddings WHERE model_id = ? AND image_id = ? AND annotation_id IS NULL');
  const delAnn = db.prepare('DELETE FROM embeddings WHERE model_id = ? AND annotation_id = ?');
  const ins = db.prepare('INSERT INTO embeddings (model_id, image_id, annotation_id, content_hash, vector, created_at) VALUES (?, ?, ?, ?, ?, ?)');
  const now = Date.now();
  await db.transaction(async () => {
    for (const r of rows) {
      const blob = encodeVector(model, r.vector);
      if (r.annotationId == null) await delImage.run(model.id, r.imageId);
      else await delAnn.run(model.id, r.annotationId);
      await ins.run(model.id, r.imageId, r.annotationId ?? null, r.contentHash, blob, now);
    }
  })();
  noteEmbeddingsChanged(db);
}

/** Ids of the images (in id order) that have no current vector of the model: none stored, or stored for other content. */
export async function imagesWithoutEmbedding(db: Db, modelId: number): Promise<number[]> {
  return (
    await db
      .prepare(
        `SELECT i.id FROM images i
         LEFT JOIN embeddings e ON e.model_id = ? AND e.image_id = i.id AND e.annotation_id IS NULL
         WHERE e.id IS NULL OR e.content_hash <> i.content_hash ORDER BY i.id`,
      )
      .all(modelId) as { id: number }[]
  ).map((r) => r.id);
}

/** All current image vectors of a model as one row-major matrix, rows in image id order. */
export interface EmbeddingMatrix {
  model: EmbeddingModelRecord;
  imageIds: Int32Array;
  dim: number;
  data: Float32Array;
}

export async function loadImageEmbeddings(db: Db, model: EmbeddingModelRecord): Promise<EmbeddingMatrix> {
  const rows = await db
    .prepare(
      `SELECT e.image_id, e.vector FROM embeddings e JOIN images i ON i.id = e.image_id
       WHERE e.model_id = ? AND e.annotation_id IS NULL AND e.content_hash = i.content_hash ORDER BY e.image_id`,
    )
    .all(model.id) as { image_id: number; vector: Buffer }[];
  const data = new Float32Array(rows.length * model.dim);
  const imageIds = new Int32Array(rows.length);
  rows.forEach((r, i) => {
    imageIds[i] = r.image_id;
    decodeVector(model, r.vector, data, i * model.dim);
  });
  return { model, imageIds, dim: model.dim, data };
}

/** One image's current vector of the model, or null. */
export async function imageEmbedding(db: Db, model: EmbeddingModelRecord, imageId: number): Promise<Float32Array | null> {
  const r = await db
    .prepare(
      `SELECT e.vector FROM embeddings e JOIN images i ON i.id = e.image_id
       WHERE e.model_id = ? AND e.image_id = ? AND e.annotation_id IS NULL AND e.content_hash = i.content_hash`,
    )
    .get(model.id, imageId) as { vector: Buffer } | undefined;
  return r ? decodeVector(model, r.vector) : null;
}

const writeCounts = new WeakMap<Db, number>();

/**
 * A number that changes whenever this connection writes vectors through putEmbeddings (or a
 * caller that changes what is current, such as removing images, says so with
 * noteEmbeddingsChanged); caches of loaded matrices are keyed by it.
 */
export function embeddingsVersion(db: Db): number {
  return writeCounts.get(db) ?? 0;
}

export function noteEmbeddingsChanged(db: Db): void {
  writeCounts.set(db, (writeCounts.get(db) ?? 0) + 1);
}

/** An object's current crop vector of the model (its image's content unchanged), with the image it is on; or null. */
export async function annotationEmbedding(db: Db, model: EmbeddingModelRecord, annotationId: number): Promise<{ imageId: number; vector: Float32Array } | null> {
  const r = await db
    .prepare(
      `SELECT e.image_id, e.vector FROM embeddings e JOIN images i ON i.id = e.image_id JOIN annotations a ON a.id = e.annotation_id
       WHERE e.model_id = ? AND e.annotation_id = ? AND e.content_hash = i.content_hash AND e.created_at >= a.updated_at`,
    )
    .get(model.id, annotationId) as { image_id: number; vector: Buffer } | undefined;
  return r ? { imageId: r.image_id, vector: decodeVector(model, r.vector) } : null;
}

/** Crop vectors stored for the model (any image), to tell "not computed" from "not this object". */
export async function countAnnotationEmbeddings(db: Db, modelId: number): Promise<number> {
  return await db.prepare('SELECT count(*) FROM embeddings WHERE model_id = ? AND annotation_id IS NOT NULL').pluck().get(modelId) as number;
}

/**
 * A digest of a model's current image vectors: their image ids and stored bytes, in image id
 * order. Any added, removed, replaced or stale vector changes it.
 */
export async function imageEmbeddingsDigest(db: Db, model: EmbeddingModelRecord): Promise<{ digest: string; count: number }> {
  const h = createHash('sha256');
  h.update(`${model.id}:${model.dim}:${model.dtype}\n`);
  const id = Buffer.alloc(4);
  let count = 0;
  // One image vector per image and model (a unique index): pages of image ids, a few MiB each.
  const stmt = db
    .prepare(
      `SELECT e.image_id, e.vector FROM embeddings e JOIN images i ON i.id = e.image_id
       WHERE e.model_id = ? AND e.annotation_id IS NULL AND e.content_hash = i.content_hash AND e.image_id > ?
       ORDER BY e.image_id LIMIT 2000`,
    )
    .raw();
  async function* pages(): AsyncIterableIterator<[number, Buffer]> {
    for (let after = 0; ; ) {
      const rows = (await stmt.all(model.id, after)) as [number, Buffer][];
      yield* rows;
      if (rows.length < 2000) return;
      after = rows[rows.length - 1]![0];
    }
  }
  const rows = pages();
  for await (const [imageId, vector] of rows) {
    id.writeInt32LE(imageId, 0);
    h.update(id);
    h.update(vector);
    count++;
  }
  return { digest: h.digest('hex'), count };
}


/** A cached 2-D projection: `coords` holds x, y per image of `imageIds`. */
export interface StoredProjection {
  modelId: number;
  method: ProjectionMethod;
  parameters: string;
  inputHash: string;
  imageIds: Int32Array;
  coords: Float32Array;
  createdAt: number;
}

export async function getProjection(db: Db, modelId: number, method: ProjectionMethod, parameters: string): Promise<StoredProjection | null> {
  const r = await db
    .prepare('SELECT input_hash, image_ids, coords, created_at FROM embedding_projections WHERE model_id = ? AND method = ? AND parameters = ?')
    .get(modelId, method, parameters) as { input_hash: string; image_ids: Buffer; coords: Buffer; created_at: number } | undefined;
  if (!r) return null;
  const ids = new Int32Array(r.image_ids.buffer.slice(r.image_ids.byteOffset, r.image_ids.byteOffset + r.image_ids.byteLength));
  const coords = new Float32Array(r.coords.buffer.slice(r.coords.byteOffset, r.coords.byteOffset + r.coords.byteLength));
  return { modelId, method, parameters, inputHash: r.input_hash, imageIds: ids, coords, createdAt: r.created_at };
}

/** Stores (or replaces) the projection of a model, method and parameters. */
export async function putProjection(db: Db, p: Omit<StoredProjection, 'createdAt'>, now = Date.now()): Promise<void> {
  if (p.coords.length !== p.imageIds.length * 2) throw new Error(`a projection of ${p.imageIds.length} images needs ${p.imageIds.length * 2} coordinates, got ${p.coords.length}`);
  await db.prepare(
    `INSERT INTO embedding_projections (model_id, method, parameters, input_hash, image_ids, coords, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (model_id, method, parameters) DO UPDATE SET input_hash = excluded.input_hash, image_ids = excluded.image_ids,
       coords = excluded.coords, created_at = excluded.created_at`,
  ).run(
    p.modelId,
    p.method,
    p.parameters,
    p.inputHash,
    Buffer.from(p.imageIds.buffer, p.imageIds.byteOffset, p.imageIds.byteLength),
    Buffer.from(p.coords.buffer, p.coords.byteOffset, p.coords.byteLength),
    now,
  );
}

export async function mapPointInfo(db: Db): Promise<MapPointInfo> {
  const rows = await db.prepare('SELECT id, status, split FROM images ORDER BY id').raw().all() as [number, ImageStatus, Split | null][];
  const out: MapPointInfo = { ids: [], status: [], split: [], classId: [], score: [] };
  const at = new Map<number, number>();
  for (const [id, status, split] of rows) {
    at.set(id, out.ids.length);
    out.ids.push(id);
    out.status.push(IMAGE_STATUSES.indexOf(status));
    out.split.push(split ? SPLITS.indexOf(split) : -1);
    out.classId.push(0);
    out.score.push(null);
  }
  const classes = await db
    .prepare(
      `SELECT image_id, class_id, count(*) AS n FROM annotations WHERE source = 'human' AND class_id IS NOT NULL
       GROUP BY image_id, class_id ORDER BY image_id, n DESC, class_id`,
    )
    .raw()
    .all() as [number, number, number][];
  let last = -1;
  for (const [imageId, classId] of classes) {
    if (imageId === last) continue;
    last = imageId;
    const i = at.get(imageId);
    if (i !== undefined) out.classId[i] = classId;
  }
  const scores = await db
    .prepare(
      `SELECT a.image_id, max(a.score) FROM annotations a
       WHERE a.source = 'model' AND a.model_run_id = (SELECT max(b.model_run_id) FROM annotations b WHERE b.image_id = a.image_id AND b.source = 'model')
       GROUP BY a.image_id`,
    )
    .raw()
    .all() as [number, number | null][];
  for (const [imageId, score] of scores) {
    const i = at.get(imageId);
    if (i !== undefined) out.score[i] = score;
  }
  return out;
}

/** An annotation whose object crop has no current vector of a model. */
export interface CropTarget {
  annotationId: number;
  imageId: number;
  geometry: string;
}

/**
 * The annotations of `imageIds` (frame 0; shapes with an area, so not tags or points) that have
 * no current crop vector of the model: none stored, stored for other image content, or stored
 * before the annotation last changed.
 */
export async function annotationsWithoutEmbedding(db: Db, modelId: number | null, imageIds: readonly number[]): Promise<CropTarget[]> {
  if (imageIds.length === 0) return [];
  return await db
    .prepare(
      `SELECT a.id AS annotationId, a.image_id AS imageId, a.geometry FROM annotations a JOIN images i ON i.id = a.image_id
       LEFT JOIN embeddings e ON e.model_id = ? AND e.annotation_id = a.id
       WHERE a.image_id IN (SELECT value FROM json_each(?)) AND a.frame = 0 AND a.kind NOT IN ('tag', 'point')
         AND (e.id IS NULL OR e.content_hash <> i.content_hash OR e.created_at < a.updated_at)
       ORDER BY a.image_id, a.id`,
    )
    .all(modelId ?? -1, JSON.stringify(imageIds)) as CropTarget[];
}

/** Vectors of a model by kind: current image vectors, stale ones (the file changed since), object crops. */
export interface EmbeddingCounts {
  images: number;
  stale: number;
  annotations: number;
}

export async function embeddingCounts(db: Db, modelId: number): Promise<EmbeddingCounts> {
  const r = await db
    .prepare(
      `SELECT
         count(*) FILTER (WHERE e.annotation_id IS NULL AND e.content_hash = i.content_hash) AS images,
         count(*) FILTER (WHERE e.annotation_id IS NULL AND e.content_hash <> i.content_hash) AS stale,
         count(*) FILTER (WHERE e.annotation_id IS NOT NULL) AS annotations
       FROM embeddings e JOIN images i ON i.id = e.image_id WHERE e.model_id = ?`,
    )
    .get(modelId) as EmbeddingCounts;
  return r;
}

/** The annotation vectors of a model for the given annotations, by annotation id (stale ones included). */
export async function annotationEmbeddings(db: Db, model: EmbeddingModelRecord, annotationIds: readonly number[]): Promise<Map<number, Float32Array>> {
  const rows = await db
    .prepare('SELECT annotation_id, vector FROM embeddings WHERE model_id = ? AND annotation_id IN (SELECT value FROM json_each(?))')
    .all(model.id, JSON.stringify(annotationIds)) as { annotation_id: number; vector: Buffer }[];
  return new Map(rows.map((r) => [r.annotation_id, decodeVector(model, r.vector)]));
}
