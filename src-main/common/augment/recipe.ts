import { z } from 'zod';
import { EXPORT_FORMATS } from '../formats/types';

/**
 * An export recipe: what a dataset version is exported as (format, scope), how every image is
 * preprocessed, and how the train split is augmented, with the seed that makes it reproducible.
 * Saved with a version and written into the export folder, so `tessera export --version N
 * --recipe recipe.json` gives the same files on another machine.
 *
 * Every augmentation step has a probability `p` (0..1) of being applied to a sample; ranges are
 * [min, max] drawn uniformly from the seeded generator.
 */

const prob = z.number().min(0).max(1);
const range = (min: number, max: number) =>
  z
    .tuple([z.number().min(min).max(max), z.number().min(min).max(max)])
    .refine(([a, b]) => a <= b, 'the first value of a range must not exceed the second');

export const AUGMENT_OPS = [
  'flip',
  'rot90',
  'rotate',
  'scaleCrop',
  'shear',
  'brightness',
  'contrast',
  'gamma',
  'hue',
  'saturation',
  'blur',
  'noise',
  'cutout',
  'mosaic',
] as const;
export type AugmentOpName = (typeof AUGMENT_OPS)[number];

/** Geometric steps move annotations; photometric ones change pixels only. */
export const GEOMETRIC_OPS: ReadonlySet<AugmentOpName> = new Set(['flip', 'rot90', 'rotate', 'scaleCrop', 'shear', 'mosaic']);

export const augmentStepSchema = z.discriminatedUnion('op', [
  /** Mirror left-right (`horizontal`) and/or top-bottom (`vertical`), each with its own probability; keypoints swap left/right by the class's flip pairs. */
  z.object({ op: z.literal('flip'), horizontal: prob.default(0.5), vertical: prob.default(0) }).strict(),
  /** A turn by 90, 180 or 270 degrees, one of them chosen at random. */
  z.object({ op: z.literal('rot90'), p: prob }).strict(),
  /** A turn about the centre by an angle in `degrees`, the canvas keeping the image's size (corners filled with `fill`). */
  z.object({ op: z.literal('rotate'), p: prob, degrees: range(-180, 180), fill: z.number().int().min(0).max(255).default(0) }).strict(),
  /** Zoom by a factor in `scale` (below 1 zooms out, padding with `fill`), then a crop of the image's size at a random place. */
  z.object({ op: z.literal('scaleCrop'), p: prob, scale: range(0.1, 10), fill: z.number().int().min(0).max(255).default(0) }).strict(),
  /** Shear by angles in `x` and `y` degrees. */
  z.object({ op: z.literal('shear'), p: prob, x: range(-45, 45), y: range(-45, 45), fill: z.number().int().min(0).max(255).default(0) }).strict(),
  /** Brightness times a factor in `factor` (1 = unchanged). */
  z.object({ op: z.literal('brightness'), p: prob, factor: range(0, 5) }).strict(),
  /** Contrast about the mean grey times a factor in `factor`. */
  z.object({ op: z.literal('contrast'), p: prob, factor: range(0, 5) }).strict(),
  /** Gamma in `gamma` (1 = unchanged). */
  z.object({ op: z.literal('gamma'), p: prob, gamma: range(0.1, 10) }).strict(),
  /** Hue turned by `degrees`. */
  z.object({ op: z.literal('hue'), p: prob, degrees: range(-180, 180) }).strict(),
  /** Saturation times a factor in `factor`. */
  z.object({ op: z.literal('saturation'), p: prob, factor: range(0, 5) }).strict(),
  /** Gaussian blur with a sigma in `sigma` pixels. */
  z.object({ op: z.literal('blur'), p: prob, sigma: range(0.3, 50) }).strict(),
  /** Gaussian noise with a standard deviation in `sigma` grey levels (0-255 scale). */
  z.object({ op: z.literal('noise'), p: prob, sigma: range(0, 128) }).strict(),
  /** `count` filled rectangles, each side a fraction in `size` of the image's side; annotations are kept (the object is occluded, not gone). */
  z.object({ op: z.literal('cutout'), p: prob, count: z.number().int().min(1).max(64), size: range(0.01, 1), fill: z.number().int().min(0).max(255).default(0) }).strict(),
  /** Four train images (this one and three drawn from the train split) in a 2x2 grid around a random centre, output at this image's size. */
  z.object({ op: z.literal('mosaic'), p: prob }).strict(),
]);
export type AugmentStep = z.infer<typeof augmentStepSchema>;

export const RESIZE_MODES = ['fit', 'fill', 'letterbox', 'stretch'] as const;

export const preprocessSchema = z
  .object({
    /**
     * fit: shrink or grow to fit inside width x height keeping the aspect ratio (output may be
     * smaller on one side); fill: cover width x height and crop the centre; letterbox: fit and pad
     * to exactly width x height with `pad`; stretch: exactly width x height, aspect not kept.
     */
    resize: z
      .object({ mode: z.enum(RESIZE_MODES), width: z.number().int().min(1).max(16384), height: z.number().int().min(1).max(16384), pad: z.number().int().min(0).max(255).default(114) })
      .strict()
      .optional(),
    grayscale: z.boolean().default(false),
    /**
     * Training tiles of `size` pixels overlapping by `overlap` pixels, cut before `resize`. An
     * object cut by a tile edge is clipped to the tile, and dropped when less than `minVisible` of
     * its area is inside (counted either way).
     */
    tile: z
      .object({ size: z.number().int().min(32).max(16384), overlap: z.number().int().min(0), minVisible: prob.default(0.25) })
      .strict()
      .refine((t) => t.overlap < t.size, 'overlap must be smaller than the tile size')
      .optional(),
  })
  .strict();
export type Preprocess = z.infer<typeof preprocessSchema>;

export const augmentSchema = z
  .object({
    /** Augmented outputs per train image, written besides the original. */
    outputs: z.number().int().min(1).max(50),
    seed: z.number().int().min(0).max(2 ** 32 - 1),
    /** An object with less than this fraction of its area left in the frame is dropped (counted); one cut by the frame is clipped. */
    minVisible: prob.default(0.25),
    steps: z.array(augmentStepSchema).min(1),
  })
  .strict();
export type Augment = z.infer<typeof augmentSchema>;

export const recipeSchema = z
  .object({
    recipe: z.literal(1),
    format: z.enum(EXPORT_FORMATS),
    only: z.enum(['all', 'done', 'reviewed']).default('all'),
    withPredictions: z.boolean().default(false),
    cocoSegmentation: z.enum(['polygon', 'rle']).default('polygon'),
    preprocess: preprocessSchema.default({ grayscale: false }),
    augment: augmentSchema.optional(),
  })
  .strict();
export type Recipe = z.infer<typeof recipeSchema>;
export type RecipeInput = z.input<typeof recipeSchema>;
