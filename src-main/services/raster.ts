import fs from 'node:fs';
import sharp, { type OutputInfo, type Sharp } from 'sharp';
import { decode as decodeBmp } from 'fast-bmp';
import { AppError } from '../common/errors';
import type { Raster } from '../common/imaging/raster';
import type { ImageRecord } from '../common/model';
import type { Dataset } from './dataset';
import { decodeDicomFrame, DicomError, parseDicom } from './dicom/dicom';
import { resolveStoredPath } from './paths';

export type { Raster } from '../common/imaging/raster';

/**
 * The decoded, oriented pixels of one frame of a stored image at their full depth: what
 * inference, tiling and display windows start from. 8-bit files give bytes, 16-bit files
 * 16-bit samples, float files floats; an alpha channel next to grey is dropped. DICOM greyscale
 * gives Float32 modality values (e.g. Hounsfield units, negative for air) with `modality` set,
 * and `invert` for MONOCHROME1; DICOM colour (RGB, YBR, palette) gives 8-bit RGB.
 */
export async function readRaster(ds: Dataset, im: ImageRecord, frame = 0, limitInputPixels?: number): Promise<Raster> {
  if (!Number.isInteger(frame) || frame < 0 || frame >= Math.max(1, im.frames)) {
    throw new AppError('INVALID_ARGUMENT', `${im.path}: frame ${frame} does not exist (the image has ${im.frames})`, { imageId: im.id, frame });
  }
  const src = resolveStoredPath(ds.root, im.path, im.external);
  try {
    if (im.format === 'dicom') return await readDicom(src, frame);
    return await readWithSharp(im, src, frame, limitInputPixels);
  } catch (e) {
    throw decodeError(im, src, e);
  }
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
  if (code === 'ENOENT') return new AppError('FILE_MISSING', `${im.path}: file is missing on disk`, { imageId: im.id, path: im.path });
  return new AppError('CORRUPT_IMAGE', `${im.path}: cannot decode (${(e as Error).message})`, { imageId: im.id, path: src });
}

async function readWithSharp(im: ImageRecord, src: string, frame: number, limitInputPixels?: number): Promise<Raster> {
  let img: Sharp;
  if (im.format === 'bmp') {
    const decoded = decodeBmp(await fs.promises.readFile(src));
    const data = decoded.data as Uint8Array;
    img = sharp(Buffer.from(data.buffer, data.byteOffset, data.byteLength), {
      raw: { width: decoded.width, height: decoded.height, channels: decoded.channels as 1 | 2 | 3 | 4 },
    });
  } else {
    img = sharp(src, { limitInputPixels: limitInputPixels ?? 268402689, page: frame });
  }
  const meta = await img.metadata();
  img = img.rotate(); // EXIF orientation: the raster is in annotation coordinates
  const channels = meta.channels ?? 3;
  const grey = channels <= 2 && meta.space !== 'cmyk';
  if (channels === 2) img = img.extractChannel(0);
  const depth = meta.depth ?? 'uchar';
  if (depth === 'float' || depth === 'double' || depth === 'int' || depth === 'uint') {
    if (!grey) img = img.toColourspace('scrgb');
    const { data, info } = await img.raw({ depth: 'float' }).toBuffer({ resolveWithObject: true });
    return raster(new Float32Array(data.buffer, data.byteOffset, data.byteLength / 4), info, 32);
  }
  if (depth === 'ushort' || depth === 'short' || im.bitDepth > 8) {
    // Keep the file's own 16-bit interpretation: converting to sRGB first would scale the samples.
    img = img.toColourspace(grey ? 'grey16' : 'rgb16');
    const { data, info } = await img.raw({ depth: 'ushort' }).toBuffer({ resolveWithObject: true });
    return raster(new Uint16Array(data.buffer, data.byteOffset, data.byteLength / 2), info, 16);
  }
  if (!grey) img = img.toColourspace('srgb');
  const { data, info } = await img.raw().toBuffer({ resolveWithObject: true });
  return raster(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), info, 8);
}

function raster(data: Raster['data'], info: OutputInfo, bitDepth: number): Raster {
  const channels = info.channels;
  if (channels !== 1 && channels !== 3 && channels !== 4) {
    throw new Error(`unexpected ${channels} channels after decoding`);
  }
  return { data, width: info.width, height: info.height, channels, bitDepth };
}
