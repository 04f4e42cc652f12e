import type { Rle } from './geometry/rle';
import type { ModelIo, Provider } from './inference/types';

/**
 * Interactive segmentation: prompt-driven models (Segment Anything and its relatives, an image
 * encoder run once per image and a prompt decoder run per click) and the classical smart tools
 * (magic wand, GrabCut, watershed). Pure types shared by the services, the CLI and the renderer.
 */

/**
 * Decoder contracts:
 * - sam: Segment Anything / MobileSAM / SlimSAM exports. Encoder `input_image`-style float input
 *   [1,3,1024,1024] (longest side resized to 1024, normalised, padded bottom/right) →
 *   `image_embeddings` [1,256,64,64]. Decoder inputs `image_embeddings`, `point_coords` [1,N,2]
 *   (1024 frame), `point_labels` [1,N], `mask_input` [1,1,256,256], `has_mask_input` [1],
 *   `orig_im_size` [2] (H, W); outputs `masks` [1,M,H,W] logits, `iou_predictions` [1,M],
 *   `low_res_masks` [1,M,256,256].
 * - efficientvit-sam: EfficientViT-SAM exports; encoder at its own input size (512 or 1024),
 *   decoder with `image_embeddings`, `point_coords`, `point_labels` and masks/iou outputs at low
 *   resolution that the caller resizes.
 * - sam2: SAM 2 exports; the encoder also returns high-resolution features
 *   (`high_res_feats_0`, `high_res_feats_1`) that the decoder takes beside the embedding.
 */
export const SAM_FAMILIES = ['sam', 'efficientvit-sam', 'sam2'] as const;
export type SamFamily = (typeof SAM_FAMILIES)[number];

/** One weights file of a model: a path (relative to the manifest), or a URL downloaded on demand. */
export interface ModelFileRef {
  file?: string;
  url?: string;
  sha256?: string;
}

/** A prompt-driven segmentation model: two files and the preprocessing of its encoder. */
export interface SamManifest {
  id: string;
  name: string;
  task: 'interactive';
  family: SamFamily;
  encoder: ModelFileRef;
  decoder: ModelFileRef;
  /** Side of the encoder's square input; the image's longest side is resized to it. */
  inputSize: number;
  /** Per-channel mean and std in 0-255 units, RGB order (SAM: 123.675/116.28/103.53, 58.395/57.12/57.375). */
  mean: [number, number, number];
  std: [number, number, number];
  licence?: string;
  notes?: string;
}

export interface SamModelEntry {
  manifest: SamManifest;
  origin: 'builtin' | 'custom';
  /** Absolute paths of the two files when they are on disk, else null (download them first). */
  encoderPath: string | null;
  decoderPath: string | null;
  downloadable: boolean;
}

/** What inspecting an encoder/decoder pair found: their I/O, the family they fit, or why none. */
export interface SamInspection {
  encoder: ModelIo;
  decoder: ModelIo;
  family: SamFamily | null;
  proposed: SamManifest | null;
  problems: string[];
}

/** A prompt in image pixels of the oriented image: points (1 foreground, 0 background) and a box. */
export interface SegmentPoint {
  x: number;
  y: number;
  label: 0 | 1;
}

export interface SegmentBox {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

/**
 * The part of a large (tiled) image the encoder looks at, in image pixels; the whole image when
 * omitted. Prompts and masks stay in image pixels: the service maps them.
 */
export interface SegmentRegion {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** One candidate mask over the whole image, in image pixels. */
export interface SegmentMask {
  rle: Rle;
  /** Mask pixels. */
  area: number;
  /** [x, y, w, h] of the mask's pixels; all zero for an empty mask. */
  bbox: [number, number, number, number];
  /** The decoder's predicted IoU (SAM), or 1 for tools that have none. */
  score: number;
  /**
   * Id of this candidate's low-resolution mask, kept a while by the decoder: a later prompt names
   * it as `refineFrom` to have it fed back. Absent when the decoder gives none.
   */
  lowResId?: string;
}

/** The answer to a prompt: candidate masks, best predicted IoU first. */
export interface SegmentResult {
  masks: SegmentMask[];
  /** Time spent encoding the image for this call (0 when its embedding was cached). */
  encodeMs: number;
  decodeMs: number;
  /** Whether the embedding came from the memory or disk cache. */
  cached: boolean;
  provider: Provider;
  warnings: string[];
}

/** The answer to encoding an image ahead of its first prompt. */
export interface EncodeResult {
  encodeMs: number;
  cached: boolean;
  provider: Provider;
  warnings: string[];
}

/** What turning detector boxes into masks did. */
export interface BoxesToMasksSummary {
  /** The model run that holds the new mask (or polygon) predictions. */
  runId: number;
  boxes: number;
  created: number;
  /** Boxes whose mask came out empty: no prediction is made for them. */
  empty: number;
  /** Images that could not be read or encoded: marked failed in the run, the others done. */
  failed: number;
  /** Each failed image's error (naming it) and the encoder's warnings, at most 20 and a count of the rest. */
  warnings: string[];
  cancelled: boolean;
}
