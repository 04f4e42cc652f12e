import type { NamedWindow, VoiWindow } from './window';

/** Where the window an image is shown with comes from, in the order they are tried. */
export type WindowSource = 'request' | 'image' | 'series' | 'file' | 'auto';

/** What the viewer needs to show and adjust a high-bit-depth image, and to measure in mm. */
export interface ImagingInfo {
  imageId: number;
  /** Whether the image is shown through a display window (greyscale DICOM, images above 8 bits). */
  windowed: boolean;
  /** The window it is shown with now, and where that comes from; null when not windowed. */
  window: VoiWindow | null;
  source: WindowSource | null;
  /** The frame's WindowCenter/Width presets from the file, then the standard CT ones for CT in HU. */
  presets: NamedWindow[];
  /** Smallest and largest sample of the frame (padding left out), in the units windows use (e.g. HU). */
  range: { low: number; high: number } | null;
  /** DICOM MONOCHROME1: low values shown white. */
  invert: boolean;
  /** Millimetres per pixel [row spacing, column spacing], when the file states it. */
  pixelSpacing: [number, number] | null;
  modality: string | null;
  /**
   * Unit of the frame's sample values from its Rescale Type: 'HU' only when stated (or for
   * classic CT Image Storage, HU by convention); null when unknown or unspecified (US).
   */
  unit: string | null;
  /** The frame's Rescale Type as the file states it (e.g. 'US' for unspecified); null when absent. */
  rescaleType: string | null;
  /** Whether a window set here is also remembered for the image's series. */
  hasSeries: boolean;
}
