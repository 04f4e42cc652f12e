import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { AppError, isAppError } from '../../common/errors';
import type { Augment, Preprocess, Recipe } from '../../common/augment/recipe';
import { parseRecipeText } from '../../common/augment/parseRecipe';
import { applyVoi } from '../../common/imaging/window';
import { mulberry32 } from '../../common/random';
import type { ExportAnnotationRow, ExportScope } from '../../db/export';
import type { Dataset } from '../dataset';
import { rasterNeedsWindow } from '../dicom/display';
import type { ExportSource } from './exportSource';
import { readRaster } from '../raster';
import { augmentSample, preprocessSample } from '../augment/pipeline';
import type { AugAnnotation, RawImage, Rng, Sample, Transformed, TransformCounts } from '../augment/types';

/**
 * Preprocessing and augmentation applied at export (a recipe's `preprocess` and `augment`): each
 * image is decoded, preprocessed into one or more outputs (several when tiled), and each output of
 * a train image gets `outputs` augmented copies. Every output is a new file.
 */

export type RecipeParts = Pick<Recipe, 'preprocess' | 'augment'>;

/** Whether the recipe changes the exported images at all (an empty one leaves the export as it is). */
export function recipeActive(r: RecipeParts | undefined): r is RecipeParts {
  if (!r) return false;
  const p = r.preprocess;
  return !!(r.augment || p?.resize || p?.grayscale || p?.tile);
}

/**
 * The seed of one augmented output: mixed from the recipe's seed, the image's id and the output's
 * index, so an output does not depend on the order of the export or on any other image.
 */
export function outputSeed(seed: number, imageId: number, index: number): number {
  let h = Math.imul(seed >>> 0, 0x9e3779b1) ^ 0x85ebca6b;
  for (const v of [imageId, index]) {
    h = Math.imul(h ^ (v >>> 0), 0xcc9e2d51);
    h = (h << 15) | (h >>> 17);
    h = Math.imul(h, 0x1b873593) ^ 0xe6546b64;
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return h >>> 0;
}

export function outputRng(seed: number, imageId: number, index: number): Rng {
  return mulberry32(outputSeed(seed, imageId, index));
}

/**
 * An image's pixels as 8-bit samples, oriented as its annotations are: samples deeper than 8 bits
 * and DICOM greyscale through the display window the viewer uses (remembered, the file's own, else
 * automatic), MONOCHROME1 inverted. A version's image is read as it was frozen, through the window
 * it had then (the export source's `pixels`).
 */
export async function decodeForRecipe(ds: Dataset, source: ExportSource, imageId: number): Promise<RawImage> {
  const px = await source.pixels(imageId);
  if (!px) throw new AppError('NOT_FOUND', `image ${imageId} not found${source.version ? ` in version ${source.version.number}` : ''}`, { imageId });
  const r = await readRaster(ds, px.record, 0);
  const bytes = rasterNeedsWindow(r) ? applyVoi(r.data, r.channels, await px.window(() => r), { invert: r.invert ?? false }) : (r.data as Uint8Array);
  return { data: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), width: r.width, height: r.height, channels: r.channels };
}

/** The file type an output is written as: the source's own when it is an ordinary web format, PNG otherwise. */
export function outputExtension(sourceName: string): '.jpg' | '.jpeg' | '.png' | '.webp' {
  const ext = path.extname(sourceName).toLowerCase();
  if (ext === '.jpg' || ext === '.jpeg' || ext === '.png' || ext === '.webp') return ext;
  return '.png';
}

/** Encodes raw pixels; the same pixels always give the same bytes. */
export async function encodeRaw(img: RawImage, ext: string): Promise<Buffer> {
  let s = sharp(img.data, { raw: { width: img.width, height: img.height, channels: img.channels } });
  // One channel stays one channel (a grey file), not grey copied into three.
  if (img.channels === 1) s = s.toColourspace('b-w');
  if (ext === '.jpg' || ext === '.jpeg') return s.jpeg({ quality: 95 }).toBuffer();
  if (ext === '.webp') return s.webp({ quality: 95 }).toBuffer();
  return s.png().toBuffer();
}

/** One image of the export after preprocessing (a tile, or the whole image) or augmentation. */
export interface RecipeOutput<A extends AugAnnotation> extends Transformed<A> {
  /** Appended to the image's stem: '' for the plain image, `_t0003` for a tile, `_aug1` for an augmented copy. */
  suffix: string;
  /** 'tile' for tiles and preprocessing, 'augment' for augmented copies: which warning kinds their counts go to. */
  stage: 'preprocess' | 'augment';
}

/** The train images an augmentation's mosaic may draw its other three images from. */
export interface MosaicSource<A extends AugAnnotation> {
  ids: readonly number[];
  /** The preprocessed sample of a train image (the first output when tiled). */
  load(id: number): Promise<Sample<A> | null>;
}

/**
 * The outputs of one image: its preprocessed outputs (one per tile when tiled), and for a train
 * image `augment.outputs` augmented copies of each, from a generator seeded by (seed, image id,
 * output index). One output at a time: the caller writes each before the next is made.
 */
export async function* recipeOutputs<A extends AugAnnotation>(
  sample: Sample<A>,
  imageId: number,
  train: boolean,
  recipe: RecipeParts,
  mosaic: MosaicSource<A> | null,
): AsyncGenerator<RecipeOutput<A>> {
  const pre = await preprocessSample(sample, recipe.preprocess ?? { grayscale: false });
  const tiled = pre.length > 1 || !!recipe.preprocess?.tile;
  for (let t = 0; t < pre.length; t++) {
    const base = pre[t]!;
    const tileSuffix = tiled ? `_t${String(t).padStart(4, '0')}` : '';
    yield { ...base, suffix: tileSuffix, stage: 'preprocess' };
    if (!train || !recipe.augment) continue;
    const aug = recipe.augment;
    for (let k = 1; k <= aug.outputs; k++) {
      // Tiles of one image are separate outputs: each gets its own stream of numbers.
      const rng = outputRng(aug.seed, imageId, t * 1000 + k);
      const out = await augmentWith({ image: base.image, annotations: base.annotations }, aug, rng, mosaic, imageId);
      yield { ...out, suffix: `${tileSuffix}_aug${k}`, stage: 'augment' };
    }
  }
}

async function augmentWith<A extends AugAnnotation>(sample: Sample<A>, aug: Augment, rng: Rng, mosaic: MosaicSource<A> | null, selfId: number): Promise<Transformed<A>> {
  const others = async (): Promise<Sample<A>[]> => {
    const pool = mosaic ? mosaic.ids.filter((id) => id !== selfId) : [];
    const out: Sample<A>[] = [];
    for (let i = 0; i < 3; i++) {
      if (pool.length === 0) {
        out.push(sample);
        continue;
      }
      const id = pool[Math.floor(rng() * pool.length)]!;
      out.push((await mosaic!.load(id)) ?? sample);
    }
    return out;
  };
  return augmentSample(sample, aug, rng, others);
}

/** Adds a transform's counts to the export's warnings, under kinds named for the stage. */
export function warnCounts(counts: TransformCounts, stage: 'tile' | 'augment' | 'resize', warn: (kind: string, message: string) => void): void {
  for (let i = 0; i < counts.clipped; i++) warn(`${stage}-clipped`, `objects cut by the ${stage === 'augment' ? 'augmented frame' : stage === 'tile' ? 'tile edge' : 'resized frame'} clipped to it`);
  for (let i = 0; i < counts.dropped; i++) {
    warn(`${stage}-dropped`, `objects dropped by ${stage === 'augment' ? 'augmentation' : stage === 'tile' ? 'tiling' : 'resizing'}: less than the minimum visible fraction left in the frame`);
  }
}

/** A stored shape on its way through the pipeline: the row it came from and its class's place in the export. */
export interface PipelineAnnotation extends AugAnnotation {
  row: ExportAnnotationRow;
  index: number;
}

/**
 * The train images of the export's scope, for mosaic: each loaded (decoded, annotated and
 * preprocessed) when drawn. Ids in id order, so a seeded draw picks the same image every time.
 */
export async function mosaicSource(
  ds: Dataset,
  source: ExportSource,
  only: ExportScope,
  withPredictions: boolean,
  recipe: RecipeParts,
  annotationsOf: (rows: ExportAnnotationRow[]) => PipelineAnnotation[],
  warn: (kind: string, message: string) => void,
): Promise<MosaicSource<PipelineAnnotation>> {
  const ids = await source.trainImageIds(only);
  return {
    ids,
    async load(id) {
      const chunk = await source.readChunk(only, withPredictions, id - 1, 1);
      const im = chunk.images[0];
      if (!im || im.id !== id) return null;
      let image: RawImage;
      try {
        image = await decodeForRecipe(ds, source, id);
      } catch (e) {
        // A file missing on disk is left out of the mosaic (the image itself fills its place), and
        // counted; any other failure (an unreadable or corrupt file) stops the export.
        if (isAppError(e) && e.code === 'FILE_MISSING') {
          warn('mosaic-missing-image', 'mosaic tiles whose drawn image file is missing on disk: the augmented image itself took their place');
          return null;
        }
        throw e;
      }
      const pre = await preprocessSample({ image, annotations: annotationsOf(chunk.annotations.get(id) ?? []) }, recipe.preprocess ?? { grayscale: false });
      const first = pre[0];
      return first ? { image: first.image, annotations: first.annotations } : null;
    },
  };
}

export type { Preprocess };

/** Reads and validates a recipe file; errors name the file and the JSON path of each problem. */
export function readRecipeFile(file: string): Recipe {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new AppError('INVALID_ARGUMENT', `${file}: cannot read the recipe (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { file });
  }
  return parseRecipeText(text, file);
}
