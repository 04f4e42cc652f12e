import type { DicomMeta } from '../../common/imaging/dicom';
import type { ImageRecord } from '../../common/model';
import { checkFrameSize, decodeDicomFrame, DicomError, parseDicom } from './dicom';

export type DicomProbe =
  | { ok: true; meta: DicomMeta; image: Pick<ImageRecord, 'width' | 'height' | 'channels' | 'bitDepth' | 'format' | 'frames' | 'orientation'> }
  | { ok: false; kind: 'unsupported' | 'corrupt' | 'truncated'; reason: string }
  /** More than `maxPixels` (width x height x frames): refused before any pixel is decoded. */
  | { ok: false; kind: 'too_large'; meta: DicomMeta };

/**
 * What the importer needs of a DICOM file. The first frame is decoded too, so a file whose
 * pixels cannot be read is refused at import with its reason instead of failing in the viewer.
 * A frame above the in-memory caps of dicom.ts is refused, with its size, before decoding.
 */
export async function probeDicom(bytes: Buffer, maxPixels: number): Promise<DicomProbe> {
  try {
    const file = parseDicom(bytes);
    if (file.meta.rows * file.meta.columns * file.meta.frames > maxPixels) return { ok: false, kind: 'too_large', meta: file.meta };
    // `maxPixels` is sized for libvips, which streams; DICOM frames are decoded whole in memory.
    checkFrameSize(file.meta);
    const raster = await decodeDicomFrame(file, 0);
    const { meta } = file;
    return {
      ok: true,
      meta,
      image: {
        width: meta.columns,
        height: meta.rows,
        channels: raster.channels,
        bitDepth: raster.channels === 1 ? raster.bitDepth : 8,
        format: 'dicom',
        frames: meta.frames,
        orientation: 1,
      },
    };
  } catch (e) {
    if (e instanceof DicomError) return { ok: false, kind: e.kind, reason: e.message };
    return { ok: false, kind: 'corrupt', reason: `cannot decode DICOM (${(e as Error).message})` };
  }
}
