import sharp from 'sharp';
import { isAppError } from '../../common/errors';
import type { Augment, Preprocess } from '../../common/augment/recipe';
import { outlinePath, type PreviewResult, type PreviewSample } from '../../common/augment/preview';
import { listClasses } from '../../db/classes';
import { readExportChunk, type ExportAnnotationRow } from '../../db/export';
import type { Dataset } from '../dataset';
import type { Transformed } from '../augment/types';
import { liveSource } from './exportSource';
import { decodeForRecipe, mosaicSource, recipeOutputs, type PipelineAnnotation } from './recipeExport';

export interface PreviewOptions {
  preprocess: Preprocess;
  augment?: Augment;
  /** How many train images (the first ones by id). */
  images: number;
  /** Augmented samples per image, besides the image itself. */
  samples: number;
  /** Longer side of each sample's PNG. */
  maxSide: number;
}

/**
 * Augmented samples of a few train images through the export's own pipeline and seeding: sample k
 * of an image is the file the export writes as `_augk` (of its first tile), so what the panel shows
 * is what the export gives.
 */
export async function previewRecipe(ds: Dataset, opts: PreviewOptions): Promise<PreviewResult> {
  const db = ds.db;
  const classes = await listClasses(db);
  const classIndex = new Map(classes.map((c, i) => [c.id, i]));
  const annotationsOf = (rows: ExportAnnotationRow[]): PipelineAnnotation[] =>
    rows
      .filter((a) => a.kind !== 'tag' && a.frame === 0 && a.classId !== null && classIndex.has(a.classId))
      .map((a) => {
        const index = classIndex.get(a.classId!)!;
        const flipPairs = classes[index]!.keypoints?.flipPairs;
        return flipPairs ? { geometry: a.geometry, flipPairs, row: a, index } : { geometry: a.geometry, row: a, index };
      });
  let ids = await db.prepare("SELECT id FROM images WHERE split = 'train' ORDER BY id LIMIT ?").pluck().all(opts.images) as number[];
  const fromTrain = ids.length > 0;
  if (!fromTrain) ids = await db.prepare('SELECT id FROM images ORDER BY id LIMIT ?').pluck().all(opts.images) as number[];
  const live = liveSource(db);
  const recipe = { preprocess: opts.preprocess, augment: opts.augment ? { ...opts.augment, outputs: opts.samples } : undefined };
  const mosaic = recipe.augment?.steps.some((s) => s.op === 'mosaic') ? await mosaicSource(ds, live, 'all', false, recipe, annotationsOf, () => {}) : null;
  const samples: PreviewSample[] = [];
  for (const id of ids) {
    const chunk = await readExportChunk(db, 'all', false, id - 1, 1);
    const im = chunk.images[0];
    if (!im || im.id !== id) continue;
    let image;
    try {
      image = await decodeForRecipe(ds, live, id);
    } catch (e) {
      // A file gone from disk leaves its image out of the preview, as the export leaves it out.
      if (isAppError(e) && e.code === 'FILE_MISSING') continue;
      throw e;
    }
    const sample = { image, annotations: annotationsOf(chunk.annotations.get(id) ?? []) };
    let index = 0;
    // Only the first tile's outputs: one row per image.
    for await (const o of recipeOutputs(sample, id, true, recipe, mosaic)) {
      if (o.suffix.startsWith('_t') && !o.suffix.startsWith('_t0000')) break;
      samples.push(await toPreview(o, id, im.path, index++, opts.maxSide, (i) => classes[i]!));
      if (!recipe.augment) break;
    }
  }
  return { samples, fromTrain };
}

async function toPreview(
  o: Transformed<PipelineAnnotation>,
  imageId: number,
  path: string,
  index: number,
  maxSide: number,
  classOf: (index: number) => { name: string; color: string },
): Promise<PreviewSample> {
  const { width, height, channels, data } = o.image;
  const png = await sharp(data, { raw: { width, height, channels } })
    .resize(maxSide, maxSide, { fit: 'inside', withoutEnlargement: true })
    .png({ compressionLevel: 3 })
    .toBuffer();
  return {
    imageId,
    path,
    index,
    width,
    height,
    dataUrl: `data:image/png;base64,${png.toString('base64')}`,
    shapes: o.annotations.map((a) => ({ d: outlinePath(a.geometry), color: classOf(a.index).color, label: classOf(a.index).name })),
    applied: o.applied,
    clipped: o.counts.clipped,
    dropped: o.counts.dropped,
  };
}
