import type { DicomMeta } from '../../common/imaging/dicom';
import type { ImagingInfo, WindowSource } from '../../common/imaging/info';
import type { Raster } from '../../common/imaging/raster';
import { CT_PRESETS, percentileWindowOf, sampleRangeOf, type NamedWindow, type VoiWindow } from '../../common/imaging/window';
import type { ImageRecord } from '../../common/model';
import { getGeo } from '../../db/geo';
import { getImagingMeta, getRememberedWindow } from '../../db/imaging';
import type { Db } from '../../db/open';

export type { WindowSource };

/** Whether an image is shown through a display window rather than as stored. */
export function needsWindow(im: Pick<ImageRecord, 'format' | 'bitDepth' | 'channels'>): boolean {
  return im.bitDepth > 8 || (im.format === 'dicom' && im.channels === 1);
}

/**
 * Whether the image's pixels are decoded here for showing or for a model, rather than read as
 * stored: samples that need a window, and DICOM, which neither browsers nor libvips read.
 */
export function decodedForDisplay(im: Pick<ImageRecord, 'format' | 'bitDepth' | 'channels'>): boolean {
  return needsWindow(im) || im.format === 'dicom';
}

/** Whether the raster's samples go through a window (8-bit colour DICOM does not). */
export function rasterNeedsWindow(r: Raster): boolean {
  return r.modality === true || !(r.data instanceof Uint8Array);
}

/** A GeoTIFF's nodata value: its samples stay out of automatic windows and value ranges. */
export function geoNodata(db: Db, im: ImageRecord): number | null {
  return im.format === 'tiff' ? (getGeo(db, im.id)?.nodata ?? null) : null;
}

/**
 * The default window: remembered for the image, else for its series, else the file's first
 * WindowCenter/Width, else the automatic 0.5-99.5 % percentile window of the pixels.
 */
export function defaultWindow(db: Db, im: ImageRecord, raster: () => Raster): { window: VoiWindow; source: WindowSource } {
  const chosen = chosenWindow(db, im);
  if (chosen) return chosen;
  const r = raster();
  return { window: percentileWindowOf(r.data, r.channels, { nodata: geoNodata(db, im) }), source: 'auto' };
}

/**
 * The window chosen for the image rather than computed from its pixels: remembered for the image,
 * else for its series, else the DICOM file's first WindowCenter/Width; null when none is.
 */
export function chosenWindow(db: Db, im: ImageRecord): { window: VoiWindow; source: 'image' | 'series' | 'file' } | null {
  const remembered = getRememberedWindow(db, im.id);
  if (remembered) return { window: remembered.window, source: remembered.scope };
  const meta = im.format === 'dicom' ? getImagingMeta(db, im.id) : null;
  const file = meta?.windows[0];
  return file ? { window: { center: file.center, width: file.width }, source: 'file' } : null;
}

/** Presets offered for an image: the file's own windows, then the CT ones for CT in HU. */
export function windowPresets(meta: DicomMeta | null): NamedWindow[] {
  const own = meta?.windows ?? [];
  const ct = meta?.modality === 'CT' && (meta.rescaleType ?? 'HU') === 'HU';
  return ct ? [...own, ...CT_PRESETS] : [...own];
}

/**
 * The viewer's view of an image's display: current window and its source, presets, value
 * range, pixel spacing. `raster` decodes the frame (shared with the media renderer's cache).
 */
export async function imagingInfo(db: Db, im: ImageRecord, raster: () => Promise<Raster>): Promise<ImagingInfo> {
  const meta = im.format === 'dicom' ? getImagingMeta(db, im.id) : null;
  const windowed = needsWindow(im);
  const base: ImagingInfo = {
    imageId: im.id,
    windowed,
    window: null,
    source: null,
    presets: windowed ? windowPresets(meta) : [],
    range: null,
    invert: meta?.photometric === 'MONOCHROME1',
    pixelSpacing: meta?.pixelSpacing ?? null,
    modality: meta?.modality ?? null,
    unit: meta?.modality === 'CT' ? (meta.rescaleType ?? 'HU') : (meta?.rescaleType ?? null),
    hasSeries: Boolean(meta?.seriesInstanceUid),
  };
  if (!windowed) return base;
  const r = await raster();
  const { window, source } = defaultWindow(db, im, () => r);
  return { ...base, window, source, range: sampleRangeOf(r.data, r.channels, geoNodata(db, im)) };
}
