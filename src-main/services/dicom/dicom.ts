import zlib from 'node:zlib';
import dicomParser, { type DataSet, type Element } from 'dicom-parser';
import { frameValues, SUPPORTED_TRANSFER_SYNTAXES, unsupportedSyntaxMessage, type DicomMeta, type FrameValues } from '../../common/imaging/dicom';
import type { Raster } from '../../common/imaging/raster';
import type { NamedWindow } from '../../common/imaging/window';
import { codestreamSize, decodeJpeg2000, decodeJpegDct, decodeJpegLossless, decodeJpegLs, decodeRle, type DecodedSamples } from './codecs';

const IMPLICIT_LE = '1.2.840.10008.1.2';
const EXPLICIT_BE = '1.2.840.10008.1.2.2';

/** Why a DICOM file cannot be shown; `kind` matches the importer's problem kinds. */
export class DicomError extends Error {
  constructor(
    readonly kind: 'unsupported' | 'corrupt' | 'truncated',
    message: string,
  ) {
    super(message);
  }
}

/** A parsed DICOM file: its kept metadata and the data set the pixels are read from. */
export interface DicomFile {
  meta: DicomMeta;
  dataSet: DataSet;
}

/**
 * DICOM frames are decoded whole in memory (no streaming, unlike libvips), with a few copies along
 * the way: codec output, RLE byte planes, the Float32 modality raster. These caps bound one frame
 * whatever the file claims; the importer's max-pixels setting bounds the whole file on top.
 */
export const MAX_FRAME_PIXELS = 2 ** 28;
/** Bytes held at once while one frame is decoded (see `frameWorkingBytes`). */
export const MAX_FRAME_BYTES = 2 ** 31;
/** Largest inflated size of a deflated data set: it holds every frame's native pixels. */
export const MAX_INFLATED_BYTES = 2 ** 30;

export interface ParseOptions {
  /** Largest inflated size accepted for a deflated data set; MAX_INFLATED_BYTES by default. */
  maxInflatedBytes?: number;
}

/**
 * Inflates a deflated data set (the bytes after `position`) behind the unchanged file meta
 * information. Refuses, without allocating it, an output above `maxBytes`: a few kilobytes of
 * deflate stream can claim gigabytes.
 */
export function inflateDataSet(arr: Uint8Array, position: number, maxBytes = MAX_INFLATED_BYTES): Buffer {
  let inflated: Buffer;
  try {
    inflated = zlib.inflateRawSync(arr.subarray(position), { maxOutputLength: maxBytes });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new DicomError('unsupported', `deflated data set inflates to more than ${maxBytes.toLocaleString('en')} bytes, the limit for a DICOM file`);
    }
    throw new DicomError('corrupt', `cannot inflate the deflated data set (${(e as Error).message})`);
  }
  const full = Buffer.alloc(position + inflated.length);
  full.set(arr.subarray(0, position), 0);
  full.set(inflated, position);
  return full;
}

/** DICOM Part 10 files carry 'DICM' after a 128-byte preamble. */
export function hasDicmMagic(b: Uint8Array): boolean {
  return b.length >= 132 && b[128] === 0x44 && b[129] === 0x49 && b[130] === 0x43 && b[131] === 0x4d;
}

/**
 * Parses a DICOM file and checks that Tessera can decode its pixels: a supported transfer syntax,
 * pixel data present, a layout the decoders handle. Files without the Part 10 header (a bare data
 * set, as some older tools write) are read as implicit VR little endian.
 */
export function parseDicom(bytes: Buffer, opts: ParseOptions = {}): DicomFile {
  let dataSet: DataSet;
  try {
    dataSet = dicomParser.parseDicom(bytes, {
      ...(hasDicmMagic(bytes) ? {} : { TransferSyntaxUID: IMPLICIT_LE }),
      inflater: (arr: Uint8Array, position: number) => inflateDataSet(arr, position, opts.maxInflatedBytes),
    } as dicomParser.ParseDicomOptions);
  } catch (e) {
    if (e instanceof DicomError) throw e;
    const msg = parserMessage(e);
    if (/overrun|past end|end of buffer/i.test(msg)) throw new DicomError('truncated', `truncated DICOM: the data ends inside an element (${msg})`);
    throw new DicomError('corrupt', `cannot parse DICOM (${msg})`);
  }
  const ts = (dataSet.string('x00020010') ?? IMPLICIT_LE).replace(/\0/g, '').trim();
  if (!SUPPORTED_TRANSFER_SYNTAXES[ts]) throw new DicomError('unsupported', unsupportedSyntaxMessage(ts));
  const pixel = dataSet.elements['x7fe00010'];
  const rows = dataSet.uint16('x00280010') ?? 0;
  const columns = dataSet.uint16('x00280011') ?? 0;
  if (!hasDicmMagic(bytes) && !pixel && !dataSet.elements['x00080016'] && !dataSet.elements['x00080060']) {
    throw new DicomError('unsupported', 'not a DICOM file (no DICM marker at byte 128 and no DICOM data set)');
  }
  if (!pixel || !rows || !columns) {
    const sop = dataSet.string('x00080016');
    const modality = dataSet.string('x00080060');
    throw new DicomError('unsupported', `DICOM object without pixel data (${[modality, sop].filter(Boolean).join(', ') || 'no image'})`);
  }
  const meta = readMeta(dataSet, ts, rows, columns);
  const supportedPi = ['MONOCHROME1', 'MONOCHROME2', 'RGB', 'PALETTE COLOR', 'YBR_FULL', 'YBR_FULL_422', 'YBR_RCT', 'YBR_ICT'];
  if (!supportedPi.includes(meta.photometric)) {
    throw new DicomError('unsupported', `unsupported photometric interpretation "${meta.photometric}"`);
  }
  if (![1, 8, 16, 32].includes(meta.bitsAllocated)) throw new DicomError('unsupported', `unsupported ${meta.bitsAllocated} bits allocated`);
  if (meta.samplesPerPixel !== 1 && meta.samplesPerPixel !== 3) {
    throw new DicomError('unsupported', `unsupported ${meta.samplesPerPixel} samples per pixel`);
  }
  return { meta, dataSet };
}

function parserMessage(e: unknown): string {
  if (typeof e === 'string') return e;
  if (e && typeof e === 'object' && 'exception' in e) return String((e as { exception: unknown }).exception);
  return (e as Error)?.message ?? String(e);
}

function readMeta(ds: DataSet, ts: string, rows: number, columns: number): DicomMeta {
  const str = (tag: string) => {
    const s = ds.string(tag);
    return s === undefined || s === '' ? null : s;
  };
  const num = (tag: string, i = 0) => numberIn(ds, tag, i);
  const spacing = (tag: string): [number, number] | null => {
    const r = num(tag, 0);
    const c = num(tag, 1);
    return r && c && r > 0 && c > 0 ? [r, c] : null;
  };
  const bitsAllocated = ds.uint16('x00280100') ?? 16;
  const bitsStored = ds.uint16('x00280101') ?? bitsAllocated;
  const pixelRepresentation = ds.uint16('x00280103') ?? 0;
  const frames = numberOfFrames(ds);
  const { image, perFrame } = valuesOf(ds, frames);
  // US or SS by Pixel Representation; implicit VR files do not say which.
  const padding = (tag: string) => (ds.elements[tag]?.length ? ((pixelRepresentation === 1 ? ds.int16(tag) : ds.uint16(tag)) ?? null) : null);
  return {
    transferSyntax: ts,
    sopClassUid: str('x00080016'),
    modality: str('x00080060'),
    photometric: (str('x00280004') ?? 'MONOCHROME2').toUpperCase(),
    rows,
    columns,
    frames,
    samplesPerPixel: ds.uint16('x00280002') ?? 1,
    bitsAllocated,
    bitsStored,
    highBit: ds.uint16('x00280102') ?? bitsStored - 1,
    pixelRepresentation,
    planarConfiguration: ds.uint16('x00280006') ?? 0,
    ...image,
    ...(perFrame ? { perFrame } : {}),
    paddingValue: padding('x00280120'),
    paddingRangeLimit: padding('x00280121'),
    pixelSpacing: spacing('x00280030') ?? spacing('x00181164'),
    seriesInstanceUid: str('x0020000e'),
    imagePosition: numbers(ds, 'x00200032', 3) as [number, number, number] | null,
    imageOrientation: numbers(ds, 'x00200037', 6) as [number, number, number, number, number, number] | null,
    instanceNumber: num('x00200013'),
  };
}

/** `n` numbers of a multi-valued decimal string, or null when any is missing or not finite. */
function numbers(ds: DataSet, tag: string, n: number): number[] | null {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const v = numberIn(ds, tag, i);
    if (v === null) return null;
    out.push(v);
  }
  return out;
}

function numberIn(ds: DataSet, tag: string, i = 0): number | null {
  const v = ds.floatString(tag, i);
  return v === undefined || !Number.isFinite(v) ? null : v;
}

/** RescaleSlope/Intercept/Type as one data set states them; null when it has no RescaleIntercept or RescaleSlope. */
function rescaleIn(ds: DataSet): Pick<FrameValues, 'rescaleSlope' | 'rescaleIntercept' | 'rescaleType'> | null {
  const slope = numberIn(ds, 'x00281053');
  const intercept = numberIn(ds, 'x00281052');
  if (slope === null && intercept === null) return null;
  const type = ds.string('x00281054');
  return { rescaleSlope: slope ?? 1, rescaleIntercept: intercept ?? 0, rescaleType: type === undefined || type === '' ? null : type };
}

/** WindowCenter/WindowWidth pairs of one data set, named by their explanations; null when it has none. */
function windowsIn(ds: DataSet): NamedWindow[] | null {
  const n = Math.min(ds.numStringValues('x00281050') ?? 0, ds.numStringValues('x00281051') ?? 0);
  if (n === 0) return null;
  const windows: NamedWindow[] = [];
  for (let i = 0; i < n; i++) {
    const center = numberIn(ds, 'x00281050', i);
    const width = numberIn(ds, 'x00281051', i);
    if (center === null || width === null || width < 1) continue;
    windows.push({ name: ds.string('x00281055', i) || `File ${i + 1}`, center, width });
  }
  return windows;
}

/** The first item's data set of a sequence, if any. */
function item(ds: DataSet | undefined, tag: string): DataSet | undefined {
  return ds?.elements[tag]?.items?.[0]?.dataSet;
}

/**
 * Rescale and windows of a functional groups item (PS3.3 C.7.6.16): Pixel Value Transformation
 * Sequence (0028,9145) and Frame VOI LUT Sequence (0028,9132).
 */
function groupValues(group: DataSet | undefined): { rescale: ReturnType<typeof rescaleIn>; windows: NamedWindow[] | null } {
  const pvt = item(group, 'x00289145');
  const voi = item(group, 'x00289132');
  return { rescale: pvt ? rescaleIn(pvt) : null, windows: voi ? windowsIn(voi) : null };
}

/**
 * The image's rescale and windows and, when the Per-frame Functional Groups state them, each
 * frame's. Functional groups come first (shared, then per frame over shared); the top-level
 * attributes are what classic objects use, and a fallback for enhanced ones that lack a group.
 */
function valuesOf(ds: DataSet, frames: number): { image: FrameValues; perFrame: FrameValues[] | null } {
  const shared = groupValues(item(ds, 'x52009229'));
  const image: FrameValues = {
    ...(shared.rescale ?? rescaleIn(ds) ?? { rescaleSlope: 1, rescaleIntercept: 0, rescaleType: ds.string('x00281054') || null }),
    windows: shared.windows ?? windowsIn(ds) ?? [],
  };
  const items = ds.elements['x52009230']?.items ?? [];
  const own = items.slice(0, frames).map((it) => groupValues(it.dataSet));
  if (!own.some((g) => g.rescale || g.windows)) return { image, perFrame: null };
  const perFrame = own.map((g) => ({ ...image, ...(g.rescale ?? {}), windows: g.windows ?? image.windows }));
  return { image, perFrame };
}

/** NumberOfFrames (IS): absent means one frame; a value that is not a number makes the file unreadable. */
function numberOfFrames(ds: DataSet): number {
  const el = ds.elements['x00280008'];
  if (!el || el.length === 0) return 1;
  const text = (ds.string('x00280008') ?? '').trim();
  if (text === '') return 1;
  const n = Number(text);
  if (!Number.isInteger(n)) throw new DicomError('corrupt', `NumberOfFrames (0028,0008) is "${text.slice(0, 32)}", not a whole number`);
  return Math.max(1, n);
}

/**
 * Bytes held at once while one frame is decoded: the codec's samples, RLE's byte planes as large,
 * and the output raster (Float32 greyscale or 8-bit RGB).
 */
export function frameWorkingBytes(meta: DicomMeta): number {
  const pixels = meta.rows * meta.columns;
  const sampleBytes = pixels * meta.samplesPerPixel * Math.max(1, Math.ceil(meta.bitsAllocated / 8));
  const planes = meta.transferSyntax === '1.2.840.10008.1.2.5' ? sampleBytes : 0;
  const out = pixels * (meta.samplesPerPixel === 3 || meta.photometric === 'PALETTE COLOR' ? 3 : 4);
  return sampleBytes + planes + out;
}

/** Refuses a frame too large to decode in memory, before any of it is allocated. */
export function checkFrameSize(meta: DicomMeta): void {
  const pixels = meta.rows * meta.columns;
  const size = `${meta.columns}x${meta.rows}`;
  if (pixels > MAX_FRAME_PIXELS) {
    throw new DicomError(
      'unsupported',
      `DICOM frame of ${size} = ${pixels.toLocaleString('en')} pixels is too large to decode in memory (limit ${MAX_FRAME_PIXELS.toLocaleString('en')} pixels per frame)`,
    );
  }
  const bytes = frameWorkingBytes(meta);
  if (bytes > MAX_FRAME_BYTES) {
    throw new DicomError(
      'unsupported',
      `DICOM frame of ${size} with ${meta.samplesPerPixel} x ${meta.bitsAllocated}-bit samples needs ${bytes.toLocaleString('en')} bytes to decode, above the limit of ${MAX_FRAME_BYTES.toLocaleString('en')}`,
    );
  }
}

/** Decodes one frame to a Raster: greyscale as modality values (Float32), colour as 8-bit RGB. */
export async function decodeDicomFrame(file: DicomFile, frame: number): Promise<Raster> {
  const { meta, dataSet } = file;
  if (frame < 0 || frame >= meta.frames) throw new DicomError('corrupt', `frame ${frame} does not exist (the file has ${meta.frames})`);
  checkFrameSize(meta);
  const pixels = meta.rows * meta.columns;
  const spp = meta.samplesPerPixel;
  const pixel = dataSet.elements['x7fe00010']!;
  let decoded: DecodedSamples;
  try {
    decoded = pixel.encapsulatedPixelData ? await decodeEncapsulated(file, pixel, frame) : { samples: nativeFrame(file, pixel, frame), rgb: false };
  } catch (e) {
    if (e instanceof DicomError) throw e;
    throw new DicomError('corrupt', `cannot decode frame ${frame} (${parserMessage(e)})`);
  }
  let samples = decoded.samples;
  const expected = pixels * (meta.photometric === 'YBR_FULL_422' && !pixel.encapsulatedPixelData ? 2 : spp);
  if (samples.length < expected) throw new DicomError('corrupt', `frame ${frame} holds ${samples.length} samples, ${expected} expected`);

  if (spp === 3) return colourRaster(meta, samples, decoded.rgb, !!pixel.encapsulatedPixelData);
  if (meta.photometric === 'PALETTE COLOR') return paletteRaster(file, samples);

  // Greyscale: sign, stored bits, rescale to modality values.
  const out = new Float32Array(pixels);
  const bits = meta.bitsAllocated === 1 ? 1 : Math.min(meta.bitsStored, meta.bitsAllocated);
  const mask = bits >= 32 ? 0xffffffff : 2 ** bits - 1;
  const signBit = 2 ** (bits - 1);
  const signed = meta.pixelRepresentation === 1;
  const { rescaleSlope: slope, rescaleIntercept: intercept } = frameValues(meta, frame);
  if (samples instanceof Int16Array) samples = new Uint16Array(samples.buffer, samples.byteOffset, samples.length);
  for (let i = 0; i < pixels; i++) {
    let v = samples[i]!;
    if (bits < 32) v = v % (mask + 1); // drop bits above BitsStored (overlays, padding)
    if (signed && v >= signBit) v -= 2 * signBit;
    out[i] = v * slope + intercept;
  }
  return {
    data: out,
    width: meta.columns,
    height: meta.rows,
    channels: 1,
    bitDepth: bits,
    modality: true,
    invert: meta.photometric === 'MONOCHROME1',
    ...(padding(meta, slope, intercept) ?? {}),
  };
}

/**
 * The modality values of the stored padding values (Pixel Padding Value, up to Pixel Padding
 * Range Limit when stated; PS3.3 C.7.5.1.1.2), as the raster's `padding` range.
 */
function padding(meta: DicomMeta, slope: number, intercept: number): Pick<Raster, 'padding'> | null {
  const value = meta.paddingValue ?? null;
  if (value === null) return null;
  const limit = meta.paddingRangeLimit ?? value;
  // The samples are stored as float32 (see the rescale above): the bounds are too, so the
  // padding samples compare equal to them whatever the slope.
  const a = Math.fround(Math.min(value, limit) * slope + intercept);
  const b = Math.fround(Math.max(value, limit) * slope + intercept);
  return { padding: { low: Math.min(a, b), high: Math.max(a, b) } };
}

type Samples = Uint8Array | Uint16Array | Int16Array | Uint32Array;

function nativeFrame(file: DicomFile, pixel: Element, frame: number): Samples {
  const { meta, dataSet } = file;
  const pixels = meta.rows * meta.columns;
  const spp = meta.photometric === 'YBR_FULL_422' ? 2 : meta.samplesPerPixel;
  const bytes = dataSet.byteArray;
  if (meta.bitsAllocated === 1) {
    // Bit-packed (e.g. segmentations): frames follow each other bit by bit, least significant bit first.
    const first = frame * pixels;
    const out = new Uint8Array(pixels);
    for (let i = 0; i < pixels; i++) {
      const bit = first + i;
      const byte = bytes[pixel.dataOffset + (bit >> 3)];
      if (byte === undefined) throw new DicomError('truncated', 'truncated DICOM: pixel data ends early');
      out[i] = (byte >> (bit & 7)) & 1;
    }
    return out;
  }
  const bytesPer = meta.bitsAllocated / 8;
  const length = pixels * spp * bytesPer;
  const start = pixel.dataOffset + frame * length;
  if (start + length > bytes.length || start + length > pixel.dataOffset + pixel.length) {
    throw new DicomError('truncated', `truncated DICOM: pixel data ends before the end of frame ${frame}`);
  }
  const raw = Uint8Array.from(bytes.subarray(start, start + length)); // aligned copy
  const bigEndian = meta.transferSyntax === EXPLICIT_BE;
  if (bytesPer === 1) return raw;
  if (bigEndian) {
    for (let i = 0; i < raw.length; i += bytesPer) raw.subarray(i, i + bytesPer).reverse();
  }
  return bytesPer === 2 ? new Uint16Array(raw.buffer) : new Uint32Array(raw.buffer);
}

async function decodeEncapsulated(file: DicomFile, pixel: Element, frame: number): Promise<DecodedSamples> {
  const { meta, dataSet } = file;
  const fragments = pixel.fragments ?? [];
  let bytes: Uint8Array;
  if (meta.frames === 1) {
    bytes = dicomParser.readEncapsulatedPixelDataFromFragments(dataSet, pixel, 0, fragments.length);
  } else if (pixel.basicOffsetTable && pixel.basicOffsetTable.length === meta.frames) {
    bytes = dicomParser.readEncapsulatedImageFrame(dataSet, pixel, frame);
  } else if (fragments.length === meta.frames) {
    bytes = dicomParser.readEncapsulatedPixelDataFromFragments(dataSet, pixel, frame, 1);
  } else {
    const table = dicomParser.createJPEGBasicOffsetTable(dataSet, pixel);
    bytes = dicomParser.readEncapsulatedImageFrame(dataSet, pixel, frame, table);
  }
  const signed = meta.pixelRepresentation === 1;
  const size = { width: meta.columns, height: meta.rows };
  // A codestream's own header states the size its decoder allocates: it must match the data set.
  const checkHeader = (kind: string) => {
    const header = codestreamSize(bytes);
    if (header && (header.width !== size.width || header.height !== size.height)) {
      throw new DicomError(
        'corrupt',
        `frame ${frame}: the ${kind} codestream is ${header.width}x${header.height} but the data set states ${size.width}x${size.height} (Columns x Rows)`,
      );
    }
  };
  switch (meta.transferSyntax) {
    case '1.2.840.10008.1.2.5':
      return decodeRle(bytes, meta.rows * meta.columns, meta.samplesPerPixel, meta.bitsAllocated);
    case '1.2.840.10008.1.2.4.50':
    case '1.2.840.10008.1.2.4.51':
      checkHeader('JPEG');
      return decodeJpegDct(bytes, size);
    case '1.2.840.10008.1.2.4.57':
    case '1.2.840.10008.1.2.4.70':
      checkHeader('JPEG lossless');
      return decodeJpegLossless(bytes, meta.bitsAllocated);
    case '1.2.840.10008.1.2.4.80':
    case '1.2.840.10008.1.2.4.81':
      checkHeader('JPEG-LS');
      return decodeJpegLs(bytes, signed, size);
    case '1.2.840.10008.1.2.4.90':
    case '1.2.840.10008.1.2.4.91':
      checkHeader('JPEG 2000');
      return decodeJpeg2000(bytes, signed, size);
    default:
      throw new DicomError('unsupported', unsupportedSyntaxMessage(meta.transferSyntax));
  }
}

/** Colour frames to interleaved 8-bit RGB: planar layouts interleaved, YBR converted. */
function colourRaster(meta: DicomMeta, samples: Samples, alreadyRgb: boolean, encapsulated: boolean): Raster {
  const pixels = meta.rows * meta.columns;
  const out = new Uint8Array(pixels * 3);
  const shift = meta.bitsAllocated > 8 ? meta.bitsStored - 8 : 0;
  const at = (v: number) => (shift > 0 ? v >> shift : v);
  // RLE stores colour by plane but its decoder interleaves; native data follows PlanarConfiguration.
  const planar = !encapsulated && meta.planarConfiguration === 1;
  let pi = meta.photometric;
  if (alreadyRgb) pi = 'RGB';
  // JPEG 2000 applies its own colour transform for YBR_RCT/YBR_ICT: the decoded samples are RGB.
  if (pi === 'YBR_RCT' || pi === 'YBR_ICT') pi = 'RGB';
  if (pi === 'YBR_FULL_422' && !encapsulated) {
    // Two luma samples share one Cb/Cr pair: Y1 Y2 Cb Cr.
    for (let i = 0; i < pixels; i += 2) {
      const y1 = samples[i * 2]!;
      const y2 = samples[i * 2 + 1]!;
      const cb = samples[i * 2 + 2]!;
      const cr = samples[i * 2 + 3]!;
      ybrToRgb(y1, cb, cr, out, i * 3);
      if (i + 1 < pixels) ybrToRgb(y2, cb, cr, out, (i + 1) * 3);
    }
  } else {
    for (let i = 0; i < pixels; i++) {
      const a = at(planar ? samples[i]! : samples[i * 3]!);
      const b = at(planar ? samples[pixels + i]! : samples[i * 3 + 1]!);
      const c = at(planar ? samples[2 * pixels + i]! : samples[i * 3 + 2]!);
      if (pi === 'RGB') {
        out[i * 3] = a;
        out[i * 3 + 1] = b;
        out[i * 3 + 2] = c;
      } else ybrToRgb(a, b, c, out, i * 3);
    }
  }
  return { data: out, width: meta.columns, height: meta.rows, channels: 3, bitDepth: 8 };
}

/** YBR_FULL to RGB (DICOM PS3.3 C.7.6.3.1.2, the JFIF/ITU-R BT.601 full-range equations). */
export function ybrToRgb(y: number, cb: number, cr: number, out: Uint8Array, at: number): void {
  const clamp = (v: number) => (v < 0 ? 0 : v > 255 ? 255 : Math.round(v));
  out[at] = clamp(y + 1.402 * (cr - 128));
  out[at + 1] = clamp(y - 0.344136 * (cb - 128) - 0.714136 * (cr - 128));
  out[at + 2] = clamp(y + 1.772 * (cb - 128));
}

/** PALETTE COLOR: each stored value indexes the red, green and blue lookup tables. */
function paletteRaster(file: DicomFile, samples: Samples): Raster {
  const { meta, dataSet } = file;
  const lut = (c: 'x00281201' | 'x00281202' | 'x00281203', d: 'x00281101' | 'x00281102' | 'x00281103') => {
    const el = dataSet.elements[c];
    const descEl = dataSet.elements[d];
    if (!el || !descEl) throw new DicomError('unsupported', 'palette colour image without its lookup tables (segmented palettes are not read)');
    // The descriptor is US or SS by VR; entries == 0 means 65536.
    const entries = dataSet.uint16(d, 0) || 65536;
    const first = dataSet.uint16(d, 1) ?? 0;
    const bits = dataSet.uint16(d, 2) ?? 16;
    const values = new Uint16Array(entries);
    const bytes = dataSet.byteArray;
    const wordBytes = el.length >= entries * 2 ? 2 : 1;
    for (let i = 0; i < entries; i++) {
      const o = el.dataOffset + i * wordBytes;
      values[i] = wordBytes === 2 ? dataSet.byteArrayParser.readUint16(bytes, o) : bytes[o]!;
    }
    // 16-bit entries are scaled to 8 bits; some writers state 16 bits but store 8-bit values.
    let max = 0;
    for (const v of values) max = Math.max(max, v);
    const shift = bits > 8 && max > 255 ? bits - 8 : 0;
    return { values, first, shift };
  };
  const r = lut('x00281201', 'x00281101');
  const g = lut('x00281202', 'x00281102');
  const b = lut('x00281203', 'x00281103');
  const pixels = meta.rows * meta.columns;
  const out = new Uint8Array(pixels * 3);
  const look = (t: { values: Uint16Array; first: number; shift: number }, v: number) => {
    const i = v <= t.first ? 0 : Math.min(v - t.first, t.values.length - 1);
    return t.values[i]! >> t.shift;
  };
  for (let i = 0; i < pixels; i++) {
    const v = samples[i]!;
    out[i * 3] = look(r, v);
    out[i * 3 + 1] = look(g, v);
    out[i * 3 + 2] = look(b, v);
  }
  return { data: out, width: meta.columns, height: meta.rows, channels: 3, bitDepth: 8 };
}
