import fs from 'node:fs';
import path from 'node:path';
import dcmjs from 'dcmjs';

const { DicomMessage, DicomMetaDictionary, DicomDict } = dcmjs.data;

export interface SeriesSlice {
  /** File written. */
  file: string;
  /** Rank along the slice normal, from 0. */
  position: number;
  instanceNumber: number;
  /** Image Position (Patient) written. */
  imagePosition: [number, number, number];
}

/** Slice spacing of the series written, in mm. */
export const SLICE_SPACING_MM = 2.5;

/**
 * A multi-file CT series made from one classic CT file (e.g. ../shared's CT_small.dcm) with dcmjs:
 * `names.length` copies, slice k (in position order) written to `names[k]` in `dir`, each with its
 * own SOP Instance UID, Instance Number k + 1, and Image Position (Patient) moved k *
 * SLICE_SPACING_MM along the slice normal (row × column direction of Image Orientation). Each slice
 * also gets a bright 12 × 12 square at x = 8 + 20k, y = 8, so the slices' pictures differ.
 */
export function writeCtSeries(source: string, dir: string, names: readonly string[]): SeriesSlice[] {
  // Private tags of the source are carried over as they are; dcmjs would list each one it cannot name.
  dcmjs.log.setLevel('error');
  const buf = fs.readFileSync(source);
  const read = DicomMessage.readFile(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer);
  const base = DicomMetaDictionary.naturalizeDataset(read.dict);
  const meta = DicomMetaDictionary.naturalizeDataset(read.meta);
  const o = base['ImageOrientationPatient'] as number[];
  const p0 = (base['ImagePositionPatient'] as number[]).map(Number);
  const normal = [o[1]! * o[5]! - o[2]! * o[4]!, o[2]! * o[3]! - o[0]! * o[5]!, o[0]! * o[4]! - o[1]! * o[3]!];
  const columns = base['Columns'] as number;
  const samples = new Int16Array((base['PixelData'] as ArrayBuffer[])[0]!.slice(0));
  const series = `2.25.${Date.now()}${Math.floor(Math.random() * 1e6)}`;
  fs.mkdirSync(dir, { recursive: true });
  return names.map((name, k) => {
    const sop = `${series}.${k + 1}`;
    const pixels = samples.slice();
    for (let y = 8; y < 20; y++) for (let x = 8 + 20 * k; x < 20 + 20 * k; x++) pixels[y * columns + x] = 2000;
    const imagePosition = p0.map((v, i) => Number((v + k * SLICE_SPACING_MM * normal[i]!).toFixed(4))) as [number, number, number];
    const dataset: Record<string, unknown> = {
      ...base,
      SOPInstanceUID: sop,
      SeriesInstanceUID: series,
      InstanceNumber: k + 1,
      ImagePositionPatient: imagePosition,
      PixelData: [pixels.buffer],
    };
    const fileMeta = { ...meta, MediaStorageSOPInstanceUID: sop, TransferSyntaxUID: '1.2.840.10008.1.2.1' };
    const dict = new DicomDict(DicomMetaDictionary.denaturalizeDataset(fileMeta));
    dict.dict = DicomMetaDictionary.denaturalizeDataset(dataset);
    const file = path.join(dir, name);
    fs.writeFileSync(file, Buffer.from(dict.write()));
    return { file, position: k, instanceNumber: k + 1, imagePosition };
  });
}
