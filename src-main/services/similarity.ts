import { usearch } from './usearch';
import { AppError } from '../common/errors';
import type { Split } from '../common/model';
import { DEFAULT_SIMILAR_K, MAX_SIMILAR_K, type SimilarHit, type SimilarResult } from '../common/similarity';
import {
  annotationEmbedding,
  countAnnotationEmbeddings,
  embeddingModelByKey,
  embeddingsVersion,
  imageEmbedding,
  listEmbeddingModels,
  loadImageEmbeddings,
  type EmbeddingMatrix,
  type EmbeddingModelRecord,
} from '../db/embeddings';
import { findImagesByName, getImage } from '../db/images';
import type { Db } from '../db/open';
import type { Dataset } from './dataset';

/**
 * Similarity search over the stored image vectors of one embedding model: exact k-NN by cosine
 * with usearch's SIMD `exactSearch` over the whole matrix (about 14 ms for 100,000 x 1,280), so
 * there is no index to build or keep in step with the vectors. The matrix is loaded once per
 * dataset connection and model and kept until vectors are written.
 */

const { exactSearch, MetricKind } = usearch;

interface CachedMatrix {
  key: string;
  matrix: EmbeddingMatrix;
  /** Row of each image id. */
  rowOf: Map<number, number>;
}

const matrices = new WeakMap<Db, Map<number, CachedMatrix>>();

/**
 * What the cached matrix of a model depends on: vectors written or images removed on this
 * connection (embeddingsVersion; see putEmbeddings and removeImages), commits by other
 * connections (data_version), and the newest vector row of any model (so a query costs no scan
 * of the vectors).
 */
async function matrixKey(db: Db, modelId: number): Promise<string> {
  // The table's largest rowid: read from the end of its b-tree, whatever its size.
  const top = await db.prepare('SELECT coalesce(max(id), 0) FROM embeddings').pluck().get() as number;
  return `${modelId}|${embeddingsVersion(db)}|${await db.dataVersion()}|${top}`;
}

/** The model's current image vectors as one matrix (cached; see matrixKey). */
export async function imageMatrix(db: Db, model: EmbeddingModelRecord): Promise<CachedMatrix> {
  let perDb = matrices.get(db);
  if (!perDb) matrices.set(db, (perDb = new Map()));
  const key = await matrixKey(db, model.id);
  const hit = perDb.get(model.id);
  if (hit?.key === key) return hit;
  const matrix = await loadImageEmbeddings(db, model);
  const rowOf = new Map<number, number>();
  matrix.imageIds.forEach((id, row) => rowOf.set(id, row));
  const entry = { key, matrix, rowOf };
  perDb.set(model.id, entry);
  return entry;
}

/** The message for a dataset without vectors: what to run first. */
export function noEmbeddingsMessage(file: string, model?: string): string {
  return `${file}: no image embeddings${model ? ` of model "${model}"` : ''} are stored; compute them first (tessera embed <db> --model <manifest|onnx>, or Curate → Embeddings in the app)`;
}

/**
 * The embedding model to search: the one named, else the model with the most current image
 * vectors (the latest on a tie). Refused when the dataset has none.
 */
export async function pickEmbeddingModel(ds: Dataset, key?: string): Promise<EmbeddingModelRecord> {
  if (key !== undefined) {
    const m = await embeddingModelByKey(ds.db, key);
    if (!m) {
      const known = (await listEmbeddingModels(ds.db)).map((x) => x.key);
      throw new AppError('NOT_FOUND', `${ds.file}: no embedding model "${key}"${known.length ? ` (stored: ${known.join(', ')})` : ''}`, { model: key });
    }
    if (m.imageCount === 0) throw new AppError('NOT_FOUND', noEmbeddingsMessage(ds.file, key), { model: key });
    return m;
  }
  const withVectors = (await listEmbeddingModels(ds.db)).filter((m) => m.imageCount > 0);
  if (withVectors.length === 0) throw new AppError('NOT_FOUND', noEmbeddingsMessage(ds.file));
  return withVectors.reduce((best, m) => (m.imageCount >= best.imageCount ? m : best));
}

/** An image by id or by file name (or a path ending in it), for the command line. */
export async function findImageRef(ds: Dataset, ref: string): Promise<number> {
  if (/^\d+$/.test(ref) && await getImage(ds.db, Number(ref))) return Number(ref);
  const found = await findImagesByName(ds.db, ref.replace(/\\/g, '/'));
  if (found.length === 1) return found[0]!.id;
  if (found.length === 0) throw new AppError('NOT_FOUND', `${ds.file}: no image ${/^\d+$/.test(ref) ? 'with id or ' : ''}named "${ref}"`, { image: ref });
  throw new AppError('INVALID_ARGUMENT', `"${ref}" names ${found.length} images (${found.slice(0, 5).map((i) => `${i.id} ${i.path}`).join(', ')}); give the id or a longer path`, { image: ref });
}

function normalise(v: Float32Array): Float32Array {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i]! * v[i]!;
  const n = Math.sqrt(s);
  if (!(n > 0)) throw new AppError('INVALID_ARGUMENT', 'the query vector is zero: its images point in opposite directions');
  for (let i = 0; i < v.length; i++) v[i]! /= n;
  return v;
}

export interface SimilarQuery {
  /** One image, or several (their normalised vectors' mean, normalised). */
  imageIds?: number[];
  /** A selected object: its stored crop vector. */
  annotationId?: number;
  /** Embedding model key; see pickEmbeddingModel. */
  model?: string;
  k?: number;
}

/** The query's vector and the images to leave out of the answer. */
async function queryVector(ds: Dataset, model: EmbeddingModelRecord, q: SimilarQuery): Promise<{ vector: Float32Array; exclude: number[] }> {
  if (q.annotationId !== undefined) {
    const found = await annotationEmbedding(ds.db, model, q.annotationId);
    if (!found) {
      const ann = await ds.db.prepare('SELECT image_id FROM annotations WHERE id = ?').pluck().get(q.annotationId) as number | undefined;
      if (ann === undefined) throw new AppError('NOT_FOUND', `object ${q.annotationId} is not in the dataset`, { annotationId: q.annotationId });
      if (await countAnnotationEmbeddings(ds.db, model.id) === 0) {
        throw new AppError('NOT_FOUND', `object crops are not computed for embedding model "${model.key}": compute embeddings with object crops first`, { annotationId: q.annotationId });
      }
      throw new AppError('NOT_FOUND', `object ${q.annotationId} has no current crop embedding of model "${model.key}": compute embeddings again`, { annotationId: q.annotationId });
    }
    return { vector: normalise(Float32Array.from(found.vector)), exclude: [found.imageId] };
  }
  const ids = [...new Set(q.imageIds ?? [])];
  if (ids.length === 0) throw new AppError('INVALID_ARGUMENT', 'a similarity search needs an image, several images or an object');
  const sum = new Float32Array(model.dim);
  for (const id of ids) {
    const v = await imageEmbedding(ds.db, model, id);
    if (!v) {
      if (!await getImage(ds.db, id)) throw new AppError('NOT_FOUND', `image ${id} is not in the dataset`, { id });
      throw new AppError('NOT_FOUND', `image ${id} has no current embedding of model "${model.key}": compute embeddings for new images first`, { id });
    }
    normalise(v);
    for (let i = 0; i < v.length; i++) sum[i]! += v[i]!;
  }
  return { vector: normalise(sum), exclude: ids };
}

/** Path and split of each image id. */
async function imageInfo(db: Db, ids: readonly number[]): Promise<Map<number, { path: string; split: Split | null }>> {
  const out = new Map<number, { path: string; split: Split | null }>();
  if (ids.length === 0) return out;
  for (const r of await db.prepare('SELECT id, path, split FROM images WHERE id IN (SELECT value FROM json_each(?))').all(JSON.stringify(ids)) as { id: number; path: string; split: Split | null }[]) {
    out.set(r.id, { path: r.path, split: r.split });
  }
  return out;
}

/**
 * The k images most similar to the query by cosine similarity of the model's current vectors,
 * best first, the query's own images left out. Images whose file changed since their vector was
 * made are not searched.
 */
export async function findSimilar(ds: Dataset, q: SimilarQuery): Promise<SimilarResult> {
  const t0 = performance.now();
  const k = Math.min(MAX_SIMILAR_K, Math.max(1, Math.floor(q.k ?? DEFAULT_SIMILAR_K)));
  const model = await pickEmbeddingModel(ds, q.model);
  const { vector, exclude } = await queryVector(ds, model, q);
  const { matrix } = await imageMatrix(ds.db, model);
  const n = matrix.imageIds.length;
  if (n === 0) throw new AppError('NOT_FOUND', noEmbeddingsMessage(ds.file, model.key));
  const excluded = new Set(exclude);
  const count = Math.min(n, k + excluded.size);
  const found = exactSearch(matrix.data, vector, matrix.dim, count, MetricKind.Cos, 0);
  const hits: { imageId: number; score: number }[] = [];
  for (let i = 0; i < found.keys.length && hits.length < k; i++) {
    const imageId = matrix.imageIds[Number(found.keys[i])]!;
    if (excluded.has(imageId)) continue;
    // usearch's cosine distance is 1 - cosine similarity.
    hits.push({ imageId, score: 1 - found.distances[i]! });
  }
  // Equal scores in image id order, so that answers repeat exactly.
  hits.sort((a, b) => b.score - a.score || a.imageId - b.imageId);
  const info = await imageInfo(ds.db, hits.map((h) => h.imageId));
  // An image removed since the matrix was loaded (by a writer that did not say so) is left out.
  const out: SimilarHit[] = hits.filter((h) => info.has(h.imageId)).map((h) => ({ ...h, path: info.get(h.imageId)!.path, split: info.get(h.imageId)!.split }));
  return {
    model: { key: model.key, name: model.name },
    query: { imageIds: q.annotationId !== undefined ? exclude : [...excluded], annotationId: q.annotationId ?? null },
    hits: out,
    searched: n,
    elapsedMs: performance.now() - t0,
  };
}
