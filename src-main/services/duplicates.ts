import { Worker } from 'node:worker_threads';
import { AppError } from '../common/errors';
import { SPLITS, type Split } from '../common/model';
import { DEFAULT_DUPLICATE_THRESHOLD, MAX_DUPLICATE_PAIRS, type DuplicatePair, type DuplicateReport } from '../common/similarity';
import { noteEmbeddingsChanged, type EmbeddingMatrix, type EmbeddingModelRecord } from '../db/embeddings';
import { setSplits } from '../db/export';
import { getImage } from '../db/images';
import type { Db } from '../db/open';
import type { Dataset } from './dataset';
import { buildIndex, candidatePairs, cosine, norms, QUANTISATION_MARGIN, type HnswIndex, type VectorMatrix } from './neighbours';
import { imageMatrix, noEmbeddingsMessage, pickEmbeddingModel } from './similarity';

/**
 * Near-duplicates: pairs of images whose vectors have a cosine similarity at or above a threshold,
 * joined into groups. Up to EXACT_LIMIT images every image is compared with every other one
 * (usearch exactSearch, a block of queries at a time). Beyond, all-pairs costs n² (at 100,000 x
 * 1,280 about 15 minutes on two cores), so the candidates come from a usearch HNSW index of the
 * vectors quantised to 8 bits, and every candidate's similarity is computed again exactly from the
 * float vectors: the scores reported are exact, and only a pair the index failed to propose could
 * be missed. The app searches in a worker thread (findNearDuplicatesInWorker), so the window stays
 * responsive; the command line searches on its own thread and keeps the index between thresholds.
 */

/** Above this many vectors the candidates come from the HNSW index. */
export const EXACT_LIMIT = 10_000;

export interface DuplicateOptions {
  threshold?: number;
  model?: string;
  /** Force the exact all-pairs comparison (or the index) whatever the size; for tests and the benchmark. */
  method?: 'auto' | 'exact' | 'index';
  /** The most pairs listed, best first (MAX_DUPLICATE_PAIRS by default); a low threshold can match nearly every pair. */
  maxPairs?: number;
}

/** HNSW indexes per connection and model, kept while the vectors are (same key as the matrix). */
const indexes = new WeakMap<Db, Map<number, { key: string; index: HnswIndex }>>();

function cachedIndex(db: Db, modelId: number, key: string, m: VectorMatrix): HnswIndex {
  let perDb = indexes.get(db);
  if (!perDb) indexes.set(db, (perDb = new Map()));
  const hit = perDb.get(modelId);
  if (hit?.key === key) return hit.index;
  const index = buildIndex(m);
  perDb.set(modelId, { key, index });
  return index;
}

interface Plan {
  threshold: number;
  model: EmbeddingModelRecord;
  matrix: EmbeddingMatrix;
  key: string;
  useIndex: boolean;
  /** The cut candidates are searched with (below the threshold by the index's quantisation margin). */
  cut: number;
  maxPairs: number;
}

async function plan(ds: Dataset, opts: DuplicateOptions): Promise<Plan> {
  const threshold = opts.threshold ?? DEFAULT_DUPLICATE_THRESHOLD;
  if (!Number.isFinite(threshold) || threshold < -1 || threshold > 1) throw new AppError('INVALID_ARGUMENT', `the near-duplicate threshold must be a cosine similarity from -1 to 1, not ${threshold}`);
  const model = await pickEmbeddingModel(ds, opts.model);
  const { matrix, key } = await imageMatrix(ds.db, model);
  const n = matrix.imageIds.length;
  if (n === 0) throw new AppError('NOT_FOUND', noEmbeddingsMessage(ds.file, model.key));
  const useIndex = opts.method === 'index' || (opts.method !== 'exact' && n > EXACT_LIMIT);
  const maxPairs = opts.maxPairs ?? MAX_DUPLICATE_PAIRS;
  return { threshold, model, matrix, key, useIndex, cut: useIndex ? threshold - QUANTISATION_MARGIN : threshold - 1e-6, maxPairs };
}

const vectors = (m: EmbeddingMatrix): VectorMatrix => ({ data: m.data, dim: m.dim, rows: m.imageIds.length });

/** Connected groups of the pairs (union-find over image ids), largest first, ids ascending. */
function groupsOf(pairs: readonly { a: { imageId: number }; b: { imageId: number } }[]): number[][] {
  const parent = new Map<number, number>();
  const find = (x: number): number => {
    let r = x;
    while (parent.get(r) !== r) r = parent.get(r)!;
    let c = x;
    while (c !== r) {
      const next = parent.get(c)!;
      parent.set(c, r);
      c = next;
    }
    return r;
  };
  for (const p of pairs) {
    for (const id of [p.a.imageId, p.b.imageId]) if (!parent.has(id)) parent.set(id, id);
    const ra = find(p.a.imageId);
    const rb = find(p.b.imageId);
    if (ra !== rb) parent.set(Math.max(ra, rb), Math.min(ra, rb));
  }
  const groups = new Map<number, number[]>();
  for (const id of parent.keys()) {
    const r = find(id);
    const g = groups.get(r);
    if (g) g.push(id);
    else groups.set(r, [id]);
  }
  return [...groups.values()].map((g) => g.sort((a, b) => a - b)).sort((a, b) => b.length - a.length || a[0]! - b[0]!);
}

/** Pairs of images at or above the threshold (default 0.95) by the model's current vectors, with their groups and split leakage. */
export async function findNearDuplicates(ds: Dataset, opts: DuplicateOptions = {}): Promise<DuplicateReport> {
  const t0 = performance.now();
  const p = await plan(ds, opts);
  const m = vectors(p.matrix);
  const pairs = candidatePairs(m, p.cut, p.useIndex ? cachedIndex(ds.db, p.model.id, p.key, m) : null);
  return await report(ds, p, pairs, t0);
}

/** The entry of the duplicates worker: worker.ts from source (through tsx), the build's duplicatesWorker.js beside this bundle. */
function workerEntry(): URL {
  const here = new URL(import.meta.url);
  return here.pathname.endsWith('.ts') ? new URL('./duplicatesWorkerEntry.mjs', here) : new URL('./duplicatesWorker.js', here);
}

/** findNearDuplicates with the candidate search in a worker thread of its own (started per call). */
export async function findNearDuplicatesInWorker(ds: Dataset, opts: DuplicateOptions = {}): Promise<DuplicateReport> {
  const t0 = performance.now();
  const p = await plan(ds, opts);
  // A copy goes to the thread: the cached matrix stays usable here meanwhile.
  const data = p.matrix.data.slice();
  const pairs = await new Promise<Uint32Array>((resolve, reject) => {
    const worker = new Worker(workerEntry());
    worker.once('message', (msg: { ok: true; pairs: Uint32Array } | { ok: false; message: string }) => {
      if (msg.ok) resolve(msg.pairs);
      else reject(new AppError('INTERNAL', `near-duplicate search failed: ${msg.message}`));
      void worker.terminate();
    });
    worker.once('error', (e) => reject(new AppError('INTERNAL', `near-duplicate search failed: ${e.message}`)));
    worker.once('exit', (code) => reject(new AppError('INTERNAL', `near-duplicate worker exited with code ${code}`)));
    worker.postMessage({ data, dim: p.matrix.dim, rows: p.matrix.imageIds.length, cut: p.cut, useIndex: p.useIndex }, [data.buffer]);
  });
  return await report(ds, p, pairs, t0);
}

/** Exact scores of the candidate row pairs, those at or above the threshold as image pairs with paths, splits and groups. */
async function report(ds: Dataset, p: Plan, candidates: Uint32Array, t0: number): Promise<DuplicateReport> {
  const { matrix, threshold, model } = p;
  const n = matrix.imageIds.length;
  const m = vectors(matrix);
  const norm = norms(m);
  const raw: { a: number; b: number; score: number }[] = [];
  for (let i = 0; i < candidates.length; i += 2) {
    const a = candidates[i]!;
    const b = candidates[i + 1]!;
    const score = cosine(m, norm, a, b);
    if (score >= threshold) {
      const [lo, hi] = matrix.imageIds[a]! < matrix.imageIds[b]! ? [matrix.imageIds[a]!, matrix.imageIds[b]!] : [matrix.imageIds[b]!, matrix.imageIds[a]!];
      raw.push({ a: lo, b: hi, score });
    }
  }
  raw.sort((x, y) => y.score - x.score || x.a - y.a || x.b - y.b);
  const info = new Map<number, { path: string; split: Split | null }>();
  const ids = [...new Set(raw.flatMap((p) => [p.a, p.b]))];
  for (let i = 0; i < ids.length; i += 10_000) {
    const rows = await ds.db.prepare('SELECT id, path, split FROM images WHERE id IN (SELECT value FROM json_each(?))').all(JSON.stringify(ids.slice(i, i + 10_000))) as { id: number; path: string; split: Split | null }[];
    for (const r of rows) info.set(r.id, { path: r.path, split: r.split });
  }
  const splitOf = (id: number): Split | null => info.get(id)?.split ?? null;
  const crosses = (p: { a: number; b: number }): boolean => splitOf(p.a) !== null && splitOf(p.b) !== null && splitOf(p.a) !== splitOf(p.b);
  // Groups and leakage count every pair found; only the best maxPairs are listed.
  const pairs: DuplicatePair[] = raw.slice(0, Math.max(0, p.maxPairs)).map((p) => {
    const a = { imageId: p.a, ...(info.get(p.a) ?? { path: '', split: null }) };
    const b = { imageId: p.b, ...(info.get(p.b) ?? { path: '', split: null }) };
    return { a, b, score: p.score, leakage: crosses(p) };
  });
  return {
    model: { key: model.key, name: model.name },
    threshold,
    searched: n,
    pairs,
    found: raw.length,
    groups: groupsOf(raw.map((p) => ({ a: { imageId: p.a }, b: { imageId: p.b } }))),
    leakage: raw.filter(crosses).length,
    elapsedMs: performance.now() - t0,
  };
}

export interface ResolveResult {
  action: 'move' | 'drop';
  imageId: number;
  /** The split the image is in now (move), null when dropped or moved to no split. */
  split: Split | null;
}

/**
 * One click on a near-duplicate pair: `move` puts `imageId` into the split of `keepId`; `drop`
 * removes `imageId` from the dataset with its annotations, comments and vectors (the file on
 * disk stays). Each in one transaction.
 */
export async function resolveDuplicate(ds: Dataset, a: { action: 'move' | 'drop'; imageId: number; keepId: number }): Promise<ResolveResult> {
  if (a.imageId === a.keepId) throw new AppError('INVALID_ARGUMENT', 'a near-duplicate pair needs two different images');
  return await ds.db.transaction(async () => {
    const keep = await getImage(ds.db, a.keepId);
    if (!keep) throw new AppError('NOT_FOUND', `image ${a.keepId} is not in the dataset`, { id: a.keepId });
    const im = await getImage(ds.db, a.imageId);
    if (!im) throw new AppError('NOT_FOUND', `image ${a.imageId} is not in the dataset`, { id: a.imageId });
    if (a.action === 'move') {
      if (keep.split !== null && !SPLITS.includes(keep.split)) throw new AppError('INVALID_ARGUMENT', `image ${a.keepId} has an unknown split`);
      await setSplits(ds.db, [[a.imageId, keep.split]]);
      return { action: 'move' as const, imageId: a.imageId, split: keep.split };
    }
    await removeImages(ds.db, [a.imageId]);
    return { action: 'drop' as const, imageId: a.imageId, split: null };
  })();
}

/**
 * Removes images from the dataset in one transaction: their annotations, comments, vectors and
 * the rest of what belongs to them go with them (foreign keys cascade). Files on disk are not
 * touched. Returns how many were removed.
 */
export async function removeImages(db: Db, ids: readonly number[]): Promise<number> {
  const del = db.prepare('DELETE FROM images WHERE id = ?');
  let removed = 0;
  await db.transaction(async () => {
    for (const id of ids) removed += (await del.run(id)).changes;
  })();
  if (removed > 0) noteEmbeddingsChanged(db);
  return removed;
}
