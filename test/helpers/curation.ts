import path from 'node:path';
import { insertAnnotations, type NewAnnotation } from '../../src-main/db/annotations';
import { insertClass } from '../../src-main/db/classes';
import { ensureEmbeddingModel, putEmbeddings, type EmbeddingModelRecord } from '../../src-main/db/embeddings';
import { insertImages } from '../../src-main/db/images';
import { imageRows } from './images';
import { Dataset } from '../../src-main/services/dataset';
import { tempDir } from './shared';

/**
 * A dataset of image rows only (no files: nothing here reads pixels), each with a stored vector
 * of one synthetic embedding model, and human image tags: `tags[i]` are the class numbers of
 * image i (empty: untagged).
 */
export async function vectorDataset(
  vectors: readonly ArrayLike<number>[],
  tags: readonly number[][],
  nClasses: number,
): Promise<{ ds: Dataset; imageIds: number[]; classIds: number[]; model: EmbeddingModelRecord }> {
  const ds = await Dataset.create(path.join(tempDir('tessera-curation-'), 'd.tessera'));
  const imageIds = await insertImages(ds.db, imageRows(vectors.length));
  const classIds: number[] = [];
  for (let k = 0; k < nClasses; k++) classIds.push((await insertClass(ds.db, { name: `c${k}`, color: '#000000' })).id);
  const anns: NewAnnotation[] = [];
  tags.forEach((ls, i) => ls.forEach((k) => anns.push({ imageId: imageIds[i]!, classId: classIds[k]!, geometry: { kind: 'tag' }, source: 'human' })));
  await insertAnnotations(ds.db, anns);
  const dim = vectors[0]!.length;
  const model = await ensureEmbeddingModel(ds.db, { key: 'synthetic', name: 'Synthetic', dim, dtype: 'f32', normalized: false });
  await putEmbeddings(ds.db, model, vectors.map((v, i) => ({ imageId: imageIds[i]!, contentHash: `h${i}`, vector: v })));
  return { ds, imageIds, classIds, model: await ensureEmbeddingModel(ds.db, { key: 'synthetic', name: 'Synthetic', dim, dtype: 'f32', normalized: false }) };
}

/** A standard normal sample from a uniform generator (Box-Muller). */
export function gaussian(rng: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
}
