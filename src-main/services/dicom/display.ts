import { frameValues, valueUnit, type DicomMeta } from '../../common/imaging/dicom';
import type { ImagingInfo, WindowSource } from '../../common/imaging/info';
import type { Raster } from '../../common/imaging/raster';
import { CT_PRESETS, minimumRun, percentileWindowOf, sampleRangeOf, type NamedWindow, type SampleRange, type VoiWindow } from '../../common/imaging/window';
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
export async function geoNodata(db: Db, im: ImageRecord): Promise<number | null> {
  return im.format === 'tiff' ? ((await getGeo(db, im.id))?.nodata ?? null) : null;
}

/**
 * Sample values of a frame that are not image, left out of its automatic window and value range:
 * the DICOM Pixel Padding Value (and Range Limit), else for CT a run of the smallest value set
 * apart from the rest (the outside-the-scan value, see minimumRun).
 */
export function paddingOf(meta: DicomMeta | null, r: Raster, nodata: number | null): SampleRange | null {
  if (!r.modality) return null;
  if (r.padding) return r.padding;
  if (meta?.modality !== 'CT') return null;
  const run = minimumRun(r.data, r.channels, { nodata });
  return run === null ? null : { low: run, high: run };
}

/**
 * The default window of a frame: remembered for the image, else for its series, else the
 * frame's first WindowCenter/Width in the file, else the automatic 0.5-99.5 % percentile window
 * of the pixels, padding left out.
 */
export async function defaultWindow(db: Db, im: ImageRecord, frame: number, raster: () => Raster): Promise<{ window: VoiWindow; source: WindowSource }> {
  const chosen = await chosenWindow(db, im, frame);
  if (chosen) return chosen;
  const r = raster();
  const nodata = await geoNodata(db, im);
  const meta = im.format === 'dicom' ? await getImagingMeta(db, im.id) : null;
  return { window: percentileWindowOf(r.data, r.channels, { nodata, exclude: paddingOf(meta, r, nodata) }), source: 'auto' };
}

/**
 * The window chosen for the image rather than computed from its pixels: remembered for the image,
 * else for its series, else the DICOM file's first WindowCenter/Width for the frame (an enhanced
 * object's per-frame or shared Frame VOI LUT); null when none is.
 */
export async function chosenWindow(db: Db, im: ImageRecord, frame = 0): Promise<{ window: VoiWindow; source: 'image' | 'series' | 'file' } | null> {
  const remembered = await getRememberedWindow(db, im.id);
  if (remembered) return { window: remembered.window, source: remembered.scope };
  const meta = im.format === 'dicom' ? await getImagingMeta(db, im.id) : null;
  const file = meta ? frameValues(meta, frame).windows[0] : undefined;
  return file ? { window: { center: file.center, width: file.width }, source: 'file' } : null;
}

/**
 * Presets offered for a frame: the file's own windows for it, then the CT ones (which are in
 * HU) only when its values are in HU.
 */
export function windowPresets(meta: DicomMeta | null, frame = 0): NamedWindow[] {
  if (!meta) return [];
  const own = frameValues(meta, frame).windows;
  return meta.modality === 'CT' && valueUnit(meta, frame) === 'HU' ? [...own, ...CT_PRESETS] : [...own];
}

/**
 * The viewer's view of one frame's display: current window and its source, presets, value
 * range and unit, pixel spacing. `raster` decodes the frame (shared with the media renderer's cache).
 */
export async function imagingInfo(db: Db, im: ImageRecord, frame: number, raster: () => Promise<Raster>): Promise<ImagingInfo> {
  const meta = im.format === 'dicom' ? await getImagingMeta(db, im.id) : null;
  const windowed = needsWindow(im);
  const base: ImagingInfo = {
    imageId: im.id,
    windowed,
    window: null,
    source: null,
    presets: windowed ? windowPresets(meta, frame) : [],
    range: null,
    invert: meta?.photometric === 'MONOCHROME1',
    pixelSpacing: meta?.pixelSpacing ?? null,
    modality: meta?.modality ?? null,
    unit: meta ? valueUnit(meta, frame) : null,
    rescaleType: meta ? frameValues(meta, frame).rescaleType : null,
    hasSeries: Boolean(meta?.seriesInstanceUid),
  };
  if (!windowed) return base;
  const r = await raster();
  const { window, source } = await defaultWindow(db, im, frame, () => r);
  const nodata = await geoNodata(db, im);
  return { ...base, window, source, range: sampleRangeOf(r.data, r.channels, nodata, paddingOf(meta, r, nodata)) };
}
