import fs from 'node:fs';
import zlib from 'node:zlib';
import dicomParser, { type DataSet } from 'dicom-parser';
import { hasDicmMagic } from './dicom';

/**
 * Attributes that identify a patient, the people around them or the visit (after the DICOM
 * PS3.15 Annex E basic confidentiality profile). Their values are blanked in exported files.
 * UIDs are kept: they are what ties frames, series and studies together.
 */
const IDENTIFYING = new Set([
  'x00080020', // StudyDate
  'x00080021', // SeriesDate
  'x00080022', // AcquisitionDate
  'x00080023', // ContentDate
  'x00080030', // StudyTime
  'x00080031', // SeriesTime
  'x00080032', // AcquisitionTime
  'x00080033', // ContentTime
  'x00080050', // AccessionNumber
  'x00080080', // InstitutionName
  'x00080081', // InstitutionAddress
  'x00080090', // ReferringPhysicianName
  'x00080092', // ReferringPhysicianAddress
  'x00080094', // ReferringPhysicianTelephoneNumbers
  'x00081010', // StationName
  'x00081030', // StudyDescription
  'x0008103e', // SeriesDescription
  'x00081040', // InstitutionalDepartmentName
  'x00081048', // PhysiciansOfRecord
  'x00081050', // PerformingPhysicianName
  'x00081060', // NameOfPhysiciansReadingStudy
  'x00081070', // OperatorsName
  'x00181000', // DeviceSerialNumber
  'x00200010', // StudyID
  'x00321032', // RequestingPhysician
  'x00400006', // ScheduledPerformingPhysicianName
  'x00400244', // PerformedProcedureStepStartDate
  'x00400245', // PerformedProcedureStepStartTime
  'x00400253', // PerformedProcedureStepID
]);

/** VRs whose values are text and are blanked with spaces; other values are zeroed. */
const TEXT_VRS = new Set(['AE', 'AS', 'CS', 'DA', 'DS', 'DT', 'IS', 'LO', 'LT', 'PN', 'SH', 'ST', 'TM', 'UC', 'UR', 'UT']);

function identifying(tag: string): boolean {
  // The whole patient group (0010,xxxx): name, id, birth date, sex, age, address, comments...
  return tag.startsWith('x0010') || IDENTIFYING.has(tag);
}

function isPrivate(tag: string): boolean {
  return parseInt(tag.slice(4, 5), 16) % 2 === 1 && tag.slice(1, 5) !== '0001';
}

function blank(ds: DataSet, out: Buffer): void {
  for (const [tag, el] of Object.entries(ds.elements)) {
    if (el.items) {
      for (const item of el.items) if (item.dataSet) blank(item.dataSet, out);
      if (!identifying(tag)) continue;
    }
    if (tag === 'x7fe00010' || el.length <= 0 || el.length === 0xffffffff) continue;
    if (!identifying(tag) && !isPrivate(tag)) continue;
    if (el.items) continue; // a sequence's bytes are its items, blanked above
    const text = el.vr ? TEXT_VRS.has(el.vr) : !isPrivate(tag); // the identifying list is all text
    out.fill(text ? 0x20 : 0, el.dataOffset, el.dataOffset + el.length);
  }
}

/**
 * A copy of a DICOM file with identifying values blanked in place (same lengths, so the file's
 * structure, pixel data and every UID are unchanged) and private elements emptied, as private
 * data may hold anything. A deflated data set is inflated, blanked and deflated again.
 */
export function deidentifyDicom(bytes: Buffer): Buffer {
  let deflateAt = -1;
  const ds = dicomParser.parseDicom(bytes, {
    ...(hasDicmMagic(bytes) ? {} : { TransferSyntaxUID: '1.2.840.10008.1.2' }),
    inflater: (arr: Uint8Array, position: number) => {
      deflateAt = position;
      const inflated = zlib.inflateRawSync(arr.subarray(position));
      return Buffer.concat([Buffer.from(arr.subarray(0, position)), inflated]);
    },
  } as dicomParser.ParseDicomOptions);
  const out = Buffer.from(ds.byteArray);
  blank(ds, out);
  if (deflateAt >= 0) return Buffer.concat([out.subarray(0, deflateAt), zlib.deflateRawSync(out.subarray(deflateAt))]);
  return out;
}

/** Whether an exported image file is DICOM, by the extensions the importer accepts for it. */
export function isDicomPath(file: string): boolean {
  return /\.(dcm|dicom)$/i.test(file);
}

/** Writes the de-identified copy of the DICOM file `source` to `dest`. */
export async function writeDeidentifiedDicom(source: string, dest: string): Promise<void> {
  await fs.promises.writeFile(dest, deidentifyDicom(await fs.promises.readFile(source)));
}
