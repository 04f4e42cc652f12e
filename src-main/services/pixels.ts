import { AppError } from '../common/errors';
import { frameValues, valueUnit } from '../common/imaging/dicom';
import type { PixelBlock } from '../common/imaging/pixels';
import type { ImageRecord } from '../common/model';
import { getImagingMeta } from '../db/imaging';
import type { Dataset } from './dataset';
import type { Media } from './media';
import { readRasterPart, requireFrame } from './raster';

/** The largest block one request reads (pixels per side). */
export const PIXEL_BLOCK_MAX = 64;

export type { PixelBlock };

export async function readPixelBlock(
  ds: Dataset,
  media: Media,
  im: ImageRecord,
  frame: number,
  block: { x: number; y: number; w: number; h: number },
): Promise<PixelBlock> {
  requireFrame(im, frame);
  const x = Math.max(0, Math.floor(block.x));
  const y = Math.max(0, Math.floor(block.y));
  const x1 = Math.min(im.width, Math.floor(block.x) + Math.min(PIXEL_BLOCK_MAX, block.w));
  const y1 = Math.min(im.height, Math.floor(block.y) + Math.min(PIXEL_BLOCK_MAX, block.h));
  if (x1 <= x || y1 <= y) {
    throw new AppError('INVALID_ARGUMENT', `${im.path}: pixels (${block.x}, ${block.y}) to (${block.x + block.w}, ${block.y + block.h}) lie outside the ${im.width} × ${im.height} image`, {
      imageId: im.id,
    });
  }
  const w = x1 - x, h = y1 - y;
  await media.requireUnchanged(im);
  // A large image is never decoded whole here: libvips reads the block alone.
  const whole = !media.isLarge(im);
  const r = whole ? await media.raster(im, frame) : await readRasterPart(ds, im, frame, { region: { x, y, w, h } });
  const ox = whole ? x : 0, oy = whole ? y : 0;
  const c = r.channels;
  const values: number[] = new Array(w * h * c);
  let k = 0;
  for (let row = 0; row < h; row++) {
    const base = ((oy + row) * r.width + ox) * c;
    for (let i = 0; i < w * c; i++) values[k++] = r.data[base + i]!;
  }
  const meta = im.format === 'dicom' ? await getImagingMeta(ds.db, im.id) : null;
  let stored: number[] | null = null;
  let rescale: PixelBlock['rescale'] = null;
  let unit: string | null = null;
  let rescaleType: string | null = null;
  if (meta && r.modality) {
    const fv = frameValues(meta, frame);
    rescale = { slope: fv.rescaleSlope, intercept: fv.rescaleIntercept };
    rescaleType = fv.rescaleType;
    unit = valueUnit(meta, frame);
    stored = values.map((v) => Math.round((v - fv.rescaleIntercept) / (fv.rescaleSlope || 1)));
  }
  return { imageId: im.id, frame, x, y, w, h, channels: c, bitDepth: r.bitDepth, values, stored, rescale, unit, rescaleType };
}
