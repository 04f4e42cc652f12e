/**
 * Decoded, oriented pixels of one frame of a stored image, as the services and pure code see
 * them. Samples are interleaved (RGBRGB...) row by row from the top-left corner, in the oriented
 * image's coordinates (the ones annotations use).
 */
export interface Raster {
  /**
   * Sample values. Uint8Array for 8-bit images, Uint16Array for 9..16-bit images, Float32Array for
   * float images and for DICOM greyscale, whose samples are modality values (e.g. Hounsfield units,
   * negative for air) after the rescale slope and intercept.
   */
  data: Uint8Array | Uint16Array | Float32Array;
  width: number;
  height: number;
  channels: 1 | 3 | 4;
  /** Significant bits per sample in the source (8, 12, 16, 32); DICOM's BitsStored. */
  bitDepth: number;
  /** True when `data` holds DICOM modality values (rescale applied); display goes through a VOI window. */
  modality?: boolean;
  /**
   * DICOM MONOCHROME1: the lowest value is white. Samples are kept as stored; a display window
   * inverts the output (see common/imaging/window.ts).
   */
  invert?: boolean;
  /**
   * DICOM pixel padding (Pixel Padding Value and Range Limit) as a range of modality values:
   * samples in it are not image and stay out of automatic windows and value ranges.
   */
  padding?: { low: number; high: number };
}
