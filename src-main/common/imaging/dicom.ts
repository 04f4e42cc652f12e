import type { NamedWindow } from './window';

/**
 * What Tessera keeps of a DICOM file: only what decoding, display and measurement need.
 * No patient, study or institution identifiers are stored (names, ids, dates, accession numbers);
 * the series instance UID is kept only to remember a display window per series.
 */
export interface DicomMeta {
  transferSyntax: string;
  sopClassUid: string | null;
  modality: string | null;
  photometric: string;
  rows: number;
  columns: number;
  frames: number;
  samplesPerPixel: number;
  bitsAllocated: number;
  bitsStored: number;
  highBit: number;
  /** 0 unsigned, 1 two's complement. */
  pixelRepresentation: number;
  planarConfiguration: number;
  /**
   * Rescale and windows of the image, or for an enhanced (multi-frame functional groups) object
   * those of its Shared Functional Groups; `perFrame` holds frame by frame values when the
   * Per-frame Functional Groups state them. Read them for a frame with `frameValues`.
   */
  rescaleSlope: number;
  rescaleIntercept: number;
  /** RescaleType, e.g. HU, or US for unspecified; see `valueUnit` for the unit it gives. */
  rescaleType: string | null;
  /** WindowCenter/WindowWidth pairs of the file, with their explanations as names. */
  windows: NamedWindow[];
  /**
   * Each frame's rescale and windows when the Per-frame Functional Groups Sequence (5200,9230)
   * states a Pixel Value Transformation (0028,9145) or Frame VOI LUT (0028,9132) for frames:
   * per-frame values over shared ones over the top-level attributes. Absent otherwise.
   */
  perFrame?: FrameValues[];
  /**
   * Pixel Padding Value (0028,0120) and Pixel Padding Range Limit (0028,0121), as stored values
   * (before the rescale): samples that are padding, not image. Absent or null when not stated.
   */
  paddingValue?: number | null;
  paddingRangeLimit?: number | null;
  /** Millimetres per pixel as [row spacing (vertical), column spacing (horizontal)]. */
  pixelSpacing: [number, number] | null;
  seriesInstanceUid: string | null;
  /**
   * Where the slice lies, for ordering the files of a series into a stack: Image Position
   * (Patient) (0020,0032) in mm, Image Orientation (Patient) (0020,0037) as row then column
   * direction cosines, and Instance Number (0020,0013). Absent in metadata stored before they
   * were kept; null when the file does not state them.
   */
  imagePosition?: [number, number, number] | null;
  imageOrientation?: [number, number, number, number, number, number] | null;
  instanceNumber?: number | null;
}

/** The rescale and display windows that apply to one frame. */
export interface FrameValues {
  rescaleSlope: number;
  rescaleIntercept: number;
  rescaleType: string | null;
  windows: NamedWindow[];
}

/** CT Image Storage: the classic single-frame CT object, whose values are HU without a Rescale Type. */
export const CT_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.2';

/** The rescale and windows of `frame`: its per-frame values, else the image's (or shared) ones. */
export function frameValues(meta: DicomMeta, frame = 0): FrameValues {
  const own = meta.perFrame?.[frame];
  if (own) return own;
  return { rescaleSlope: meta.rescaleSlope, rescaleIntercept: meta.rescaleIntercept, rescaleType: meta.rescaleType, windows: meta.windows };
}

/**
 * The unit of a frame's modality values, from its Rescale Type (0028,1054): `HU` only when the
 * Rescale Type says so or, for classic CT Image Storage without one, by the CT convention
 * (PS3.3 C.8.2.1). `US` (unspecified) and a missing Rescale Type elsewhere give null: no unit.
 */
export function valueUnit(meta: DicomMeta, frame = 0): string | null {
  const type = frameValues(meta, frame).rescaleType?.trim().toUpperCase() || null;
  if (type) return type === 'US' ? null : type;
  const classicCt = meta.modality === 'CT' && (meta.sopClassUid === CT_IMAGE_STORAGE || meta.sopClassUid === null);
  return classicCt ? 'HU' : null;
}

/** Transfer syntaxes Tessera decodes, by UID. */
export const SUPPORTED_TRANSFER_SYNTAXES: Record<string, string> = {
  '1.2.840.10008.1.2': 'Implicit VR Little Endian',
  '1.2.840.10008.1.2.1': 'Explicit VR Little Endian',
  '1.2.840.10008.1.2.1.99': 'Deflated Explicit VR Little Endian',
  '1.2.840.10008.1.2.2': 'Explicit VR Big Endian',
  '1.2.840.10008.1.2.5': 'RLE Lossless',
  '1.2.840.10008.1.2.4.50': 'JPEG Baseline (Process 1)',
  '1.2.840.10008.1.2.4.51': 'JPEG Extended (Process 2 & 4)',
  '1.2.840.10008.1.2.4.57': 'JPEG Lossless, Non-Hierarchical (Process 14)',
  '1.2.840.10008.1.2.4.70': 'JPEG Lossless, Non-Hierarchical, First-Order Prediction (Process 14 [Selection Value 1])',
  '1.2.840.10008.1.2.4.80': 'JPEG-LS Lossless',
  '1.2.840.10008.1.2.4.81': 'JPEG-LS Lossy (Near-Lossless)',
  '1.2.840.10008.1.2.4.90': 'JPEG 2000 Image Compression (Lossless Only)',
  '1.2.840.10008.1.2.4.91': 'JPEG 2000 Image Compression',
};

/** Names of other transfer syntaxes, for the message that refuses them. */
export const OTHER_TRANSFER_SYNTAXES: Record<string, string> = {
  '1.2.840.10008.1.2.4.52': 'JPEG Extended (Processes 3 & 5) (retired)',
  '1.2.840.10008.1.2.4.53': 'JPEG Spectral Selection, Non-Hierarchical (Processes 6 & 8) (retired)',
  '1.2.840.10008.1.2.4.55': 'JPEG Full Progression, Non-Hierarchical (Processes 10 & 12) (retired)',
  '1.2.840.10008.1.2.4.92': 'JPEG 2000 Part 2 Multi-component Image Compression (Lossless Only)',
  '1.2.840.10008.1.2.4.93': 'JPEG 2000 Part 2 Multi-component Image Compression',
  '1.2.840.10008.1.2.4.94': 'JPIP Referenced',
  '1.2.840.10008.1.2.4.95': 'JPIP Referenced Deflate',
  '1.2.840.10008.1.2.4.100': 'MPEG2 Main Profile / Main Level',
  '1.2.840.10008.1.2.4.101': 'MPEG2 Main Profile / High Level',
  '1.2.840.10008.1.2.4.102': 'MPEG-4 AVC/H.264 High Profile / Level 4.1',
  '1.2.840.10008.1.2.4.103': 'MPEG-4 AVC/H.264 BD-compatible High Profile / Level 4.1',
  '1.2.840.10008.1.2.4.104': 'MPEG-4 AVC/H.264 High Profile / Level 4.2 For 2D Video',
  '1.2.840.10008.1.2.4.105': 'MPEG-4 AVC/H.264 High Profile / Level 4.2 For 3D Video',
  '1.2.840.10008.1.2.4.106': 'MPEG-4 AVC/H.264 Stereo High Profile / Level 4.2',
  '1.2.840.10008.1.2.4.107': 'HEVC/H.265 Main Profile / Level 5.1',
  '1.2.840.10008.1.2.4.108': 'HEVC/H.265 Main 10 Profile / Level 5.1',
  '1.2.840.10008.1.2.4.110': 'JPEG XL Lossless',
  '1.2.840.10008.1.2.4.111': 'JPEG XL JPEG Recompression',
  '1.2.840.10008.1.2.4.112': 'JPEG XL',
  '1.2.840.10008.1.2.4.201': 'High-Throughput JPEG 2000 Image Compression (Lossless Only)',
  '1.2.840.10008.1.2.4.202': 'High-Throughput JPEG 2000 with RPCL Options Image Compression (Lossless Only)',
  '1.2.840.10008.1.2.4.203': 'High-Throughput JPEG 2000 Image Compression',
  '1.2.840.10008.1.2.6.1': 'RFC 2557 MIME encapsulation (retired)',
  '1.2.840.10008.1.2.6.2': 'XML Encoding (retired)',
};

/** The refusal message for a transfer syntax Tessera does not decode. */
export function unsupportedSyntaxMessage(uid: string): string {
  return `unsupported transfer syntax ${uid} (${OTHER_TRANSFER_SYNTAXES[uid] ?? 'unknown'})`;
}

/** Area of `pixels` image pixels in mm², or null without pixel spacing. */
export function areaMm2(pixels: number, spacing: [number, number] | null | undefined): number | null {
  if (!spacing) return null;
  return pixels * spacing[0] * spacing[1];
}
