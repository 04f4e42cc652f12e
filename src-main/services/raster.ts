import fs from 'node:fs';
import sharp, { type OutputInfo, type Sharp } from 'sharp';
import { decode as decodeBmp } from 'fast-bmp';
import { AppError } from '../common/errors';
import type { Raster } from '../common/imaging/raster';
import type { ImageRecord } from '../common/model';
import type { Dataset } from './dataset';
import { decodeDicomFrame, DicomError, parseDicom } from './dicom/dicom';

export type { Raster } from '../common/imaging/raster';

/**
 * The decoded, oriented pixels of one frame of a stored image at their full depth: what
 * inference, tiling and display windows start from. 8-bit files give bytes, 16-bit files
 * 16-bit samples, float files floats; an alpha channel next to grey is dropped. DICOM greyscale
 * gives Float32 modality values (e.g. Hounsfield units, negative for air) with `modality` set,
 * and `invert` for MONOCHROME1; DICOM colour (RGB, YBR, palette) gives 8-bit RGB.
 */
export async function readRaster(ds: Dataset, im: ImageRecord, frame = 0, limitInputPixels?: number): Promise<Raster> {
  requireFrame(im, frame);
  const src = ds.imagePath(im);
  try {
    if (im.format === 'dicom') return await readDicom(src, frame);
    return await readWithSharp(im, src, frame, limitInputPixels);
  } catch (e) {
    throw decodeError(im, src, e);
  }
}

/** Throws INVALID_ARGUMENT unless `frame` is one of the image's frames (a single-frame image has frame 0). */
export function requireFrame(im: Pick<ImageRecord, 'id' | 'path' | 'frames'>, frame: number): void {
  if (!Number.isInteger(frame) || frame < 0 || frame >= Math.max(1, im.frames)) {
    throw new AppError('INVALID_ARGUMENT', `${im.path}: frame ${frame} does not exist (the image has ${im.frames})`, { imageId: im.id, frame });
  }
}

/**
 * The longer side of the reduced copy the percentiles of a large image come from (its display
 * window and value range, its pyramid's window, its model input window): they barely differ from
 * those of the whole image.
 */
export const REDUCED_SIDE = 2048;

/** Images above this many pixels are not decoded whole for display statistics or inference (TESSERA_FULL_DECODE_PIXELS). */
export const DEFAULT_FULL_DECODE_PIXELS = 32_000_000;

export function fullDecodePixelsSetting(env: NodeJS.ProcessEnv = process.env): number {
  const v = Number(env['TESSERA_FULL_DECODE_PIXELS']);
  return Number.isFinite(v) && v > 0 ? v : DEFAULT_FULL_DECODE_PIXELS;
}

/** What part of a frame `readRasterPart` decodes, in oriented image pixels. */
export type RasterPart = { region: { x: number; y: number; w: number; h: number } } | { maxSide: number };

/**
 * Part of a frame at full depth, decoded by libvips without holding the whole frame: one region
 * at full resolution, or the whole frame reduced to fit `maxSide` (for windows and thumbnails of
 * images too large to decode whole). DICOM, which libvips cannot read, is decoded whole.
 */
export async function readRasterPart(ds: Dataset, im: ImageRecord, frame: number, part: RasterPart, limitInputPixels?: number): Promise<Raster> {
  if (!vipsReadable(im)) {
    throw new AppError('INVALID_ARGUMENT', `${im.path}: parts of ${im.format} images are not decoded separately`, { imageId: im.id });
  }
  requireFrame(im, frame);
  const src = ds.imagePath(im);
  try {
    return await readWithSharp(im, src, frame, limitInputPixels, part);
  } catch (e) {
    throw decodeError(im, src, e);
  }
}

/**
 * Whether libvips reads the file itself, so parts or reduced copies of it can be decoded with
 * bounded memory. DICOM and BMP are decoded by their own decoders, always whole.
 */
export function vipsReadable(im: Pick<ImageRecord, 'format'>): boolean {
  return im.format !== 'dicom' && im.format !== 'bmp';
}

/**
 * A sharp pipeline over one page of a stored image that is not DICOM: BMP, which libvips cannot
 * read, is decoded first and handed over as raw pixels. Without a limit, sharp's own default
 * (0x3FFF squared pixels) applies.
 */
export async function openImage(im: ImageRecord, src: string, page: number, limitInputPixels = 268402689): Promise<Sharp> {
  if (im.format !== 'bmp') return sharp(src, { limitInputPixels, page });
  const decoded = decodeBmp(await fs.promises.readFile(src));
  const data = decoded.data as Uint8Array;
  return sharp(Buffer.from(data.buffer, data.byteOffset, data.byteLength), {
    raw: { width: decoded.width, height: decoded.height, channels: decoded.channels as 1 | 2 | 3 | 4 },
  });
}

/** One DICOM frame: greyscale as modality values (rescale applied), colour as 8-bit RGB. */
async function readDicom(src: string, frame: number): Promise<Raster> {
  const file = parseDicom(await fs.promises.readFile(src));
  return decodeDicomFrame(file, frame);
}

function decodeError(im: ImageRecord, src: string, e: unknown): AppError {
  if (e instanceof AppError) return e;
  if (e instanceof DicomError && e.kind === 'unsupported') {
    return new AppError('UNSUPPORTED_FORMAT', `${im.path}: ${e.message}`, { imageId: im.id, path: im.path });
  }
  const code = (e as NodeJS.ErrnoException).code;
  // libvips says so in words rather than with a code.
  if (code === 'ENOENT' || /^Input file is missing/.test((e as Error).message ?? '')) return new AppError('FILE_MISSING', `${im.path}: file is missing on disk`, { imageId: im.id, path: im.path });
  return new AppError('CORRUPT_IMAGE', `${im.path}: cannot decode (${(e as Error).message})`, { imageId: im.id, path: src });
}

async function readWithSharp(im: ImageRecord, src: string, frame: number, limitInputPixels?: number, part?: RasterPart): Promise<Raster> {
  let img = await openImage(im, src, frame, limitInputPixels);
  const meta = await img.metadata();
  img = img.rotate(); // EXIF orientation: the raster is in annotation coordinates
  if (part && 'region' in part) img = img.extract({ left: part.region.x, top: part.region.y, width: part.region.w, height: part.region.h });
  else if (part) img = img.resize(part.maxSide, part.maxSide, { fit: 'inside', withoutEnlargement: true });
  const channels = meta.channels ?? 3;
  const grey = channels <= 2 && meta.space !== 'cmyk';
  // A conversion only for an interpretation libvips knows as a colour space: a GeoTIFF's bands
  // (e.g. 16-bit RGBA tagged grey16) would otherwise be "converted" into other bands.
  const colour = !grey && isColourSpace(meta.space);
  if (channels === 2) img = img.extractChannel(0);
  const depth = meta.depth ?? 'uchar';
  // Bands of another interpretation stay as stored: raw output would otherwise convert to sRGB.
  const own = !grey && !colour && meta.space ? meta.space : null;
  if (depth === 'float' || depth === 'double' || depth === 'int' || depth === 'uint') {
    if (colour) img = img.toColourspace('scrgb');
    else if (own) img = img.toColourspace(own);
    const { data, info } = await img.raw({ depth: 'float' }).toBuffer({ resolveWithObject: true });
    return raster(new Float32Array(data.buffer, data.byteOffset, data.byteLength / 4), info, 32);
  }
  if (depth === 'ushort' || depth === 'short' || im.bitDepth > 8) {
    // Keep the file's own 16-bit interpretation: converting to sRGB first would scale the samples.
    img = sixteenBitSamples(img, meta);
    const { data, info } = await img.raw({ depth: 'ushort' }).toBuffer({ resolveWithObject: true });
    return raster(new Uint16Array(data.buffer, data.byteOffset, data.byteLength / 2), info, 16);
  }
  if (colour) img = img.toColourspace('srgb');
  else if (own) img = img.toColourspace(own);
  const { data, info } = await img.raw().toBuffer({ resolveWithObject: true });
  return raster(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), info, 8);
}

/** libvips interpretations that are colour spaces it can convert from. */
const COLOUR_SPACES = new Set(['srgb', 'rgb', 'rgb16', 'scrgb', 'cmyk', 'lab', 'labs', 'lch', 'cmc', 'xyz', 'yxy', 'hsv']);

function isColourSpace(space: string | undefined): boolean {
  return space !== undefined && COLOUR_SPACES.has(space);
}

/**
 * A pipeline giving the file's own 16-bit samples: grey as grey16, a colour space as rgb16, and
 * bands of any other interpretation (a GeoTIFF's 16-bit RGBA is tagged grey16) as they are.
 */
export function sixteenBitSamples(img: Sharp, meta: { channels?: number; space?: string }): Sharp {
  const channels = meta.channels ?? 3;
  if (channels <= 2 && meta.space !== 'cmyk') return img.toColourspace('grey16');
  if (isColourSpace(meta.space)) return img.toColourspace('rgb16');
  // Any other interpretation is kept: its bands are what the file stores.
  return meta.space ? img.toColourspace(meta.space) : img;
}

function raster(data: Raster['data'], info: OutputInfo, bitDepth: number): Raster {
  const channels = info.channels;
  if (channels === 1 || channels === 3 || channels === 4) return { data, width: info.width, height: info.height, channels, bitDepth };
  if (channels < 1) throw new Error(`unexpected ${channels} channels after decoding`);
  // Two bands (grey and alpha) keep the first; more than four (multi-band rasters) the first three.
  return { data: firstBands(data, channels, channels === 2 ? 1 : 3), width: info.width, height: info.height, channels: channels === 2 ? 1 : 3, bitDepth };
}

function firstBands<T extends Raster['data']>(data: T, channels: number, keep: number): T {
  const pixels = Math.floor(data.length / channels);
  const out = new (data.constructor as new (n: number) => T)(pixels * keep);
  for (let p = 0; p < pixels; p++) for (let c = 0; c < keep; c++) out[p * keep + c] = data[p * channels + c]!;
  return out;
}
