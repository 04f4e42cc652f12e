import crypto from 'node:crypto';
import fs from 'node:fs';
import dcmjs from 'dcmjs';

const { DicomMessage, DicomMetaDictionary, DicomDict } = dcmjs.data;

/** Enhanced CT Image Storage and Enhanced MR Image Storage. */
export const ENHANCED_CT = '1.2.840.10008.5.1.4.1.1.2.1';
export const ENHANCED_MR = '1.2.840.10008.5.1.4.1.1.4.1';

export interface Rescale {
  intercept: number;
  slope: number;
  type: string;
}

export interface NamedWindowSpec {
  center: number;
  width: number;
  name: string;
}

/** One functional groups item: Pixel Value Transformation and Frame VOI LUT, each optional. */
export interface GroupSpec {
  rescale?: Rescale;
  windows?: NamedWindowSpec[];
}

export interface EnhancedSpec {
  /** Stored (signed 16-bit) samples of each frame, all of the same size. */
  frames: Int16Array[];
  rows: number;
  columns: number;
  sopClassUid?: string;
  modality?: string;
  /** Shared Functional Groups Sequence (5200,9229). */
  shared?: GroupSpec;
  /** Per-frame Functional Groups Sequence (5200,9230), one item per frame. */
  perFrame?: GroupSpec[];
  /** Pixel Padding Value (0028,0120) and Pixel Padding Range Limit (0028,0121), stored values. */
  paddingValue?: number;
  paddingRangeLimit?: number;
}

/** The stored samples and size of a classic DICOM file (signed 16-bit greyscale), read with dcmjs. */
export function storedPixels(file: string): { samples: Int16Array; rows: number; columns: number } {
  const buf = fs.readFileSync(file);
  const ds = DicomMetaDictionary.naturalizeDataset(DicomMessage.readFile(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer).dict);
  const data = (ds['PixelData'] as ArrayBuffer[])[0]!;
  if (ds['BitsAllocated'] !== 16 || ds['PixelRepresentation'] !== 1) throw new Error(`${file}: not signed 16-bit samples`);
  return { samples: new Int16Array(data.slice(0)), rows: ds['Rows'] as number, columns: ds['Columns'] as number };
}

function group(spec: GroupSpec): Record<string, unknown> {
  const item: Record<string, unknown> = {};
  if (spec.rescale) item['PixelValueTransformationSequence'] = [{ RescaleIntercept: spec.rescale.intercept, RescaleSlope: spec.rescale.slope, RescaleType: spec.rescale.type }];
  if (spec.windows) {
    item['FrameVOILUTSequence'] = [
      {
        WindowCenter: spec.windows.map((w) => w.center),
        WindowWidth: spec.windows.map((w) => w.width),
        WindowCenterWidthExplanation: spec.windows.map((w) => w.name),
      },
    ];
  }
  return item;
}

/**
 * A multi-frame enhanced DICOM file (explicit VR little endian) written by dcmjs: the frames'
 * stored samples, with rescale and windows only in the functional groups as given.
 */
export function enhancedDicom(spec: EnhancedSpec): Buffer {
  const pixels = spec.rows * spec.columns;
  const all = new Int16Array(pixels * spec.frames.length);
  spec.frames.forEach((f, i) => {
    if (f.length !== pixels) throw new Error(`frame ${i} has ${f.length} samples, ${pixels} expected`);
    all.set(f, i * pixels);
  });
  const sop = spec.sopClassUid ?? ENHANCED_CT;
  const instance = `2.25.${BigInt(`0x${crypto.randomUUID().replace(/-/g, '')}`)}`;
  const dataset: Record<string, unknown> = {
    _vrMap: { PixelData: 'OW', PixelPaddingValue: 'SS', PixelPaddingRangeLimit: 'SS' },
    SOPClassUID: sop,
    SOPInstanceUID: instance,
    Modality: spec.modality ?? 'CT',
    SeriesInstanceUID: `${instance}.1`,
    ImageType: ['DERIVED', 'PRIMARY'],
    SamplesPerPixel: 1,
    PhotometricInterpretation: 'MONOCHROME2',
    NumberOfFrames: spec.frames.length,
    Rows: spec.rows,
    Columns: spec.columns,
    BitsAllocated: 16,
    BitsStored: 16,
    HighBit: 15,
    PixelRepresentation: 1,
    ...(spec.paddingValue === undefined ? {} : { PixelPaddingValue: spec.paddingValue }),
    ...(spec.paddingRangeLimit === undefined ? {} : { PixelPaddingRangeLimit: spec.paddingRangeLimit }),
    SharedFunctionalGroupsSequence: [group(spec.shared ?? {})],
    PerFrameFunctionalGroupsSequence: spec.frames.map((_, i) => group(spec.perFrame?.[i] ?? {})),
    PixelData: [all.buffer],
  };
  const meta = {
    FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
    MediaStorageSOPClassUID: sop,
    MediaStorageSOPInstanceUID: instance,
    TransferSyntaxUID: '1.2.840.10008.1.2.1',
    ImplementationClassUID: '2.25.1',
  };
  const dict = new DicomDict(DicomMetaDictionary.denaturalizeDataset(meta));
  dict.dict = DicomMetaDictionary.denaturalizeDataset(dataset);
  return Buffer.from(dict.write());
}
