import type { ExportFormat, FormatName } from '../../../common/formats/types';
import type { FormatReader, FormatWriter } from '../types';
import { cocoReader, cocoWriter } from './coco';
import { cvatReader, cvatWriter } from './cvat';
import { labelmeReader, labelmeWriter } from './labelme';
import { masksWriter } from './masks';
import { vocReader, vocWriter } from './voc';
import { yoloReader, yoloWriters } from './yolo';

/**
 * Every format Tessera reads. Order breaks ties in auto-detection: the more specific formats
 * (a COCO JSON, a CVAT XML) come before the ones recognised by folder layout alone.
 */
export const READERS: readonly FormatReader[] = [cocoReader, cvatReader, labelmeReader, vocReader, yoloReader];

/** Writers that need nothing but the images; 'geojson' reads each image's georeference and is built by the exporter. */
export const WRITERS: Record<Exclude<ExportFormat, 'geojson'>, FormatWriter> = {
  coco: cocoWriter,
  yolo: yoloWriters.yolo,
  'yolo-seg': yoloWriters['yolo-seg'],
  'yolo-obb': yoloWriters['yolo-obb'],
  voc: vocWriter,
  labelme: labelmeWriter,
  cvat: cvatWriter,
  masks: masksWriter,
};

export function readerFor(name: FormatName): FormatReader {
  const r = READERS.find((x) => x.name === name);
  // FORMATS and READERS are kept in step by the registry test; reaching this is a programming error.
  if (!r) throw new Error(`no reader registered for ${name}`);
  return r;
}
