/**
 * Samples of a block of one frame, as the original data holds them (not as displayed): 8-bit,
 * 16-bit or float samples of the file; for DICOM greyscale the modality values (stored value ×
 * slope + intercept, e.g. HU) with the stored values beside them.
 */
export interface PixelBlock {
  imageId: number;
  frame: number;
  /** The block read, clipped to the image. */
  x: number;
  y: number;
  w: number;
  h: number;
  channels: number;
  bitDepth: number;
  /** Row by row, channels interleaved: w × h × channels values. */
  values: number[];
  /** DICOM greyscale: the stored values (before the rescale), one per pixel; null otherwise. */
  stored: number[] | null;
  /** DICOM greyscale: the frame's rescale; null otherwise. */
  rescale: { slope: number; intercept: number } | null;
  /** The unit of `values` when stated (e.g. HU), see valueUnit; null otherwise. */
  unit: string | null;
  /** The frame's Rescale Type as the file states it (US: unspecified unit). */
  rescaleType: string | null;
}
