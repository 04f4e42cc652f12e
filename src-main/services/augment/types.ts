import type { Geometry } from '../../common/model';

/**
 * The contract between the augmentation pipeline (services/augment/pipeline.ts: image operations
 * through sharp, geometry transformed exactly) and its users (the exporter, the preview panel,
 * the benchmark). Pixels travel raw, interleaved, 8 bits per sample.
 */

export interface RawImage {
  data: Buffer;
  width: number;
  height: number;
  channels: 1 | 3 | 4;
}

/** Anything with a geometry in image pixels; the rest of the object is carried through unchanged. */
export interface AugAnnotation {
  geometry: Geometry;
  /** For keypoints: the class's left/right index pairs, swapped when the image is mirrored. */
  flipPairs?: readonly (readonly [number, number])[];
}

export interface Sample<A extends AugAnnotation> {
  image: RawImage;
  annotations: A[];
}

/**
 * What a transform did to the objects: cut by the frame and clipped, or dropped (less than the
 * minimum visible fraction inside, or no area left). Counted per step, so an object cut by two
 * steps counts twice.
 */
export interface TransformCounts {
  clipped: number;
  dropped: number;
}

export interface Transformed<A extends AugAnnotation> extends Sample<A> {
  counts: TransformCounts;
  /** The steps applied, in order, with the values drawn (for the preview and the export log), e.g. "rotate 12.5°". */
  applied: string[];
}

/** A seeded source of numbers in [0, 1). */
export type Rng = () => number;
