import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import sharp, { type OutputInfo } from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Raster } from '../../src-main/common/imaging/raster';
import dicomParser from 'dicom-parser';
import { deidentifyDicom } from '../../src-main/services/dicom/deidentify';
import { decodeDicomFrame, DicomError, parseDicom, ybrToRgb } from '../../src-main/services/dicom/dicom';
import { decodeDctJpeg } from '../../src-main/services/dicom/jpegDct';
import { Dataset } from '../../src-main/services/dataset';
import { importImages } from '../../src-main/services/importer';
import { resolveMedia } from '../../src-main/services/mediaRoute';
import type { Workspace } from '../../src-main/services/workspace';
import { frameValues, valueUnit } from '../../src-main/common/imaging/dicom';
import { applyVoi, percentileRange, percentileWindowOf, sampleRangeOf } from '../../src-main/common/imaging/window';
import { getModelRun } from '../../src-main/db/prelabel';
import { closeInferenceBackend, inferenceBackend, runPrelabel } from '../../src-main/services/prelabel';
import { yolov8nInt8Manifest } from '../helpers/models';
import { enhancedDicom, storedPixels } from '../helpers/enhancedDicom';
import { sharedPath, tempDir } from '../helpers/shared';
import { allImages, newWorkspace, ok } from '../helpers/workspace';

const dir = sharedPath('datasets/dicom_pydicom');
const d = describe.skipIf(!dir);
const yolo = sharedPath('models/yolov8n_int8.onnx');

function read(name: string): Buffer {
  return fs.readFileSync(path.join(dir!, name));
}

async function decode(name: string | Buffer, frame = 0): Promise<Raster> {
  return decodeDicomFrame(parseDicom(typeof name === 'string' ? read(name) : name), frame);
}

/** Every file below `root`, by its base name (an export writes each name once). */
function filesByName(root: string): Map<string, string> {
  const written = new Map<string, string>();
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(path.join(d, e.name));
      else written.set(e.name, path.join(d, e.name));
    }
  };
  walk(root);
  return written;
}

/**
 * The value bytes of a top-level explicit-VR little-endian element, found by its tag and VR
 * bytes in the file: a reading of the file that shares no code with the decoder.
 */
function rawElement(file: Buffer, group: number, element: number, vr: string): Buffer {
  const tag = Buffer.alloc(6);
  tag.writeUInt16LE(group, 0);
  tag.writeUInt16LE(element, 2);
  tag.write(vr, 4, 'latin1');
  const at = file.lastIndexOf(tag);
  if (at < 0) throw new Error(`tag ${group.toString(16)},${element.toString(16)} not found`);
  const long = ['OB', 'OW', 'OF', 'SQ', 'UT', 'UN'].includes(vr);
  const length = long ? file.readUInt32LE(at + 8) : file.readUInt16LE(at + 6);
  const start = at + (long ? 12 : 8);
  return file.subarray(start, start + length);
}

/** Every file of the folder and what must come of it: its geometry, or the reason it is refused. */
const EXPECTED: Record<string, { width: number; height: number; frames: number; channels: 1 | 3 } | { refused: RegExp }> = {
  'CT_small.dcm': { width: 128, height: 128, frames: 1, channels: 1 },
  'JPEG2000.dcm': { width: 256, height: 1024, frames: 1, channels: 1 },
  'JPGExtended.dcm': { width: 256, height: 1024, frames: 1, channels: 1 },
  'MR_small.dcm': { width: 64, height: 64, frames: 1, channels: 1 },
  'MR_small_RLE.dcm': { width: 64, height: 64, frames: 1, channels: 1 },
  'MR_small_bigendian.dcm': { width: 64, height: 64, frames: 1, channels: 1 },
  'MR_small_implicit.dcm': { width: 64, height: 64, frames: 1, channels: 1 },
  'MR_small_jp2klossless.dcm': { width: 64, height: 64, frames: 1, channels: 1 },
  'MR_small_jpeg_ls_lossless.dcm': { width: 64, height: 64, frames: 1, channels: 1 },
  'SC_rgb_jpeg_dcmtk.dcm': { width: 100, height: 100, frames: 1, channels: 3 },
  'SC_rgb_jpeg_gdcm.dcm': { width: 100, height: 100, frames: 1, channels: 3 },
  'SC_rgb_rle.dcm': { width: 100, height: 100, frames: 1, channels: 3 },
  'SC_rgb_rle_2frame.dcm': { width: 100, height: 100, frames: 2, channels: 3 },
  'SC_rgb_small_odd.dcm': { width: 3, height: 3, frames: 1, channels: 3 },
  'examples_overlay.dcm': { width: 484, height: 300, frames: 1, channels: 1 },
  'examples_palette.dcm': { width: 800, height: 350, frames: 1, channels: 3 },
  'examples_rgb_color.dcm': { width: 320, height: 240, frames: 1, channels: 3 },
  'examples_ybr_color.dcm': { width: 320, height: 240, frames: 30, channels: 3 },
  'image_dfl.dcm': { width: 512, height: 512, frames: 1, channels: 1 },
  'liver_1frame.dcm': { width: 512, height: 512, frames: 1, channels: 1 },
  'rtdose.dcm': { width: 10, height: 10, frames: 15, channels: 1 },
  // An RT structure set (contours, no image), written without the Part 10 header.
  'rtstruct.dcm': { refused: /^DICOM object without pixel data \(RTSTRUCT/ },
};

d('DICOM decoding of the pydicom test files', () => {
  it('lists every file of the folder', () => {
    const files = fs.readdirSync(dir!).filter((f) => f.endsWith('.dcm'));
    expect(files.sort()).toEqual(Object.keys(EXPECTED).sort());
  });

  it.each(Object.entries(EXPECTED))('%s decodes to the stated geometry, or is refused with its reason', async (name, want) => {
    if ('refused' in want) {
      let error: unknown;
      try {
        parseDicom(read(name));
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(DicomError);
      expect((error as Error).message).toMatch(want.refused);
      return;
    }
    const file = parseDicom(read(name));
    expect(file.meta.frames).toBe(want.frames);
    const last = await decodeDicomFrame(file, want.frames - 1);
    expect([last.width, last.height, last.channels]).toEqual([want.width, want.height, want.channels]);
    expect(last.data.length).toBe(want.width * want.height * want.channels);
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of last.data) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    expect(hi).toBeGreaterThan(lo); // not a blank decode
    await expect(decodeDicomFrame(file, want.frames)).rejects.toThrow(/does not exist/);
  });

  it('CT_small is in Hounsfield units: stored values plus the file intercept, with air, soft tissue and bone', async () => {
    const bytes = read('CT_small.dcm');
    const intercept = Number(rawElement(bytes, 0x0028, 0x1052, 'DS').toString('latin1').trim());
    const slope = Number(rawElement(bytes, 0x0028, 0x1053, 'DS').toString('latin1').trim());
    expect([slope, intercept]).toEqual([1, -1024]);
    const raw = rawElement(bytes, 0x7fe0, 0x0010, 'OW');
    const ct = await decode('CT_small.dcm');
    expect(ct.modality).toBe(true);
    expect(ct.data).toBeInstanceOf(Float32Array);
    for (let i = 0; i < 128 * 128; i++) expect(ct.data[i]).toBe(raw.readInt16LE(i * 2) * slope + intercept);
    expect(Array.from(ct.data.slice(0, 6))).toEqual([-849, -844, -858, -881, -885, -872]);
    const hu = Array.from(ct.data);
    const share = (f: (v: number) => boolean) => hu.filter(f).length / hu.length;
    expect(Math.min(...hu)).toBeGreaterThanOrEqual(-1024); // nothing below air
    expect(share((v) => v < -500)).toBeGreaterThan(0.1); // air and lung
    expect(share((v) => v >= -100 && v <= 100)).toBeGreaterThan(0.3); // fat, water, soft tissue
    expect(share((v) => v > 300)).toBeGreaterThan(0.01); // bone
    expect(Math.max(...hu)).toBeLessThan(3072);
    const meta = parseDicom(bytes).meta;
    expect(meta.pixelSpacing).toEqual([0.661468, 0.661468]);
    expect(meta.modality).toBe('CT');
  });

  it('the MR image gives identical pixels from all its encodings', async () => {
    const reference = await decode('MR_small.dcm');
    const raw = rawElement(read('MR_small.dcm'), 0x7fe0, 0x0010, 'OW');
    for (let i = 0; i < 64 * 64; i++) expect(reference.data[i]).toBe(raw.readInt16LE(i * 2));
    for (const variant of ['MR_small_implicit.dcm', 'MR_small_bigendian.dcm', 'MR_small_RLE.dcm', 'MR_small_jpeg_ls_lossless.dcm', 'MR_small_jp2klossless.dcm']) {
      const r = await decode(variant);
      expect(Array.from(r.data), variant).toEqual(Array.from(reference.data));
    }
    expect(parseDicom(read('MR_small.dcm')).meta.windows).toEqual([{ name: 'File 1', center: 600, width: 1600 }]);
  });

  it('12-bit JPEG Extended and lossy JPEG 2000 of the same NM image agree', async () => {
    const ext = await decode('JPGExtended.dcm');
    const j2k = await decode('JPEG2000.dcm');
    expect(ext.bitDepth).toBe(12);
    let sum = 0;
    for (let i = 0; i < ext.data.length; i++) sum += Math.abs(ext.data[i]! - j2k.data[i]!);
    expect(sum / ext.data.length).toBeLessThan(8);
    let top = 0;
    for (const v of ext.data) top = Math.max(top, v);
    expect(top).toBeGreaterThan(255); // more than 8 bits survive
  });

  it('the 12-bit capable DCT decoder matches libjpeg-turbo on 8-bit baseline streams', async () => {
    for (const name of ['SC_rgb_jpeg_dcmtk.dcm', 'examples_ybr_color.dcm']) {
      const file = parseDicom(read(name));
      const el = file.dataSet.elements['x7fe00010']!;
      const frag = el.fragments![0]!;
      const jpeg = file.dataSet.byteArray.subarray(frag.position, frag.position + frag.length);
      const ours = decodeDctJpeg(jpeg);
      const theirs = await decodeDicomFrame(file, 0); // libjpeg-turbo, YCbCr converted to RGB
      const rgb = new Uint8Array(ours.samples.length);
      for (let i = 0; i < rgb.length; i += 3) ybrToRgb(ours.samples[i]!, ours.samples[i + 1]!, ours.samples[i + 2]!, rgb, i);
      let sum = 0;
      for (let i = 0; i < rgb.length; i++) sum += Math.abs(rgb[i]! - theirs.data[i]!);
      expect(sum / rgb.length, name).toBeLessThan(2);
    }
  });

  it('colour: RLE, lossless JPEG and YBR_FULL baseline JPEG give the same test pattern', async () => {
    const rle = await decode('SC_rgb_rle.dcm');
    const lossless = await decode('SC_rgb_jpeg_gdcm.dcm');
    const ybr = await decode('SC_rgb_jpeg_dcmtk.dcm');
    expect(Array.from(lossless.data)).toEqual(Array.from(rle.data));
    const at = (r: Raster, row: number) => Array.from(r.data.slice((row * 100 + 50) * 3, (row * 100 + 50) * 3 + 3));
    // Ten bands: red, pink, green, light green, blue, light blue, black, dark grey, light grey, white.
    const bands = [[255, 0, 0], [255, 128, 128], [0, 255, 0], [128, 255, 128], [0, 0, 255], [128, 128, 255], [0, 0, 0], [64, 64, 64], [192, 192, 192], [255, 255, 255]];
    bands.forEach((rgb, i) => {
      expect(at(rle, i * 10 + 5)).toEqual(rgb);
      at(ybr, i * 10 + 5).forEach((v, k) => expect(Math.abs(v - rgb[k]!)).toBeLessThanOrEqual(6));
    });
    const two0 = await decode('SC_rgb_rle_2frame.dcm', 0);
    const two1 = await decode('SC_rgb_rle_2frame.dcm', 1);
    expect(Array.from(two0.data)).toEqual(Array.from(rle.data));
    expect(Array.from(two1.data)).toEqual(Array.from(rle.data, (v) => 255 - v)); // the second frame is the negative
  });

  it('YBR_FULL to RGB follows the DICOM equations', () => {
    const out = new Uint8Array(3);
    ybrToRgb(128, 128, 128, out, 0);
    expect(Array.from(out)).toEqual([128, 128, 128]);
    ybrToRgb(76.245, 84.972, 255.5, out, 0); // pure red in YCbCr
    expect(Array.from(out)).toEqual([255, 0, 0]);
  });

  it('palette colour goes through the file lookup tables', async () => {
    const bytes = read('examples_palette.dcm');
    const pal = await decode('examples_palette.dcm');
    const px = rawElement(bytes, 0x7fe0, 0x0010, 'OW');
    const luts = [0x1201, 0x1202, 0x1203].map((e) => rawElement(bytes, 0x0028, e, 'OW'));
    const desc = [0x1101, 0x1102, 0x1103].map((e) => rawElement(bytes, 0x0028, e, 'US'));
    for (const dsc of desc) expect(dsc.readUInt16LE(2)).toBe(0); // first mapped value
    for (const i of [0, 1000, 140_000, 279_999, 123_456]) {
      const index = px[i]!;
      const want = luts.map((l) => l.readUInt16LE(index * 2) >> 8);
      expect(Array.from(pal.data.slice(i * 3, i * 3 + 3))).toEqual(want);
    }
  });

  it('MONOCHROME1 keeps the values and asks the display to invert', async () => {
    const m2 = read('MR_small.dcm');
    const at = m2.indexOf('MONOCHROME2');
    const m1 = Buffer.from(m2);
    m1.write('MONOCHROME1', at, 'latin1');
    const a = await decode(m2);
    const b = await decode(m1);
    expect(a.invert).toBe(false);
    expect(b.invert).toBe(true);
    expect(Array.from(b.data)).toEqual(Array.from(a.data));
  });

  it('a segmentation with 1 bit per pixel unpacks to 0 and 1', async () => {
    const seg = await decode('liver_1frame.dcm');
    const values = new Set(seg.data);
    expect([...values].sort()).toEqual([0, 1]);
  });
});

d('unsupported transfer syntaxes', () => {
  let tmp: string;
  beforeAll(() => {
    tmp = tempDir();
  });
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  it.each([
    ['JPGExtended.dcm', '1.2.840.10008.1.2.4.51', '1.2.840.10008.1.2.4.55', 'JPEG Full Progression, Non-Hierarchical (Processes 10 & 12) (retired)'],
    ['JPEG2000.dcm', '1.2.840.10008.1.2.4.91', '1.2.840.10008.1.2.4.93', 'JPEG 2000 Part 2 Multi-component Image Compression'],
  ])('%s relabelled %s -> %s is refused by name', (name, from, to, label) => {
    const bytes = Buffer.from(read(name));
    const at = bytes.indexOf(from);
    bytes.write(to, at, 'latin1');
    expect(() => parseDicom(bytes)).toThrow(`unsupported transfer syntax ${to} (${label})`);
  });

  it('the importer reports unsupported and cut-short files per file and imports the rest', async () => {
    const folder = path.join(tmp, 'mixed');
    fs.mkdirSync(folder);
    const mpeg = Buffer.from(read('JPGExtended.dcm'));
    mpeg.write('1.2.840.10008.1.2.4.55', mpeg.indexOf('1.2.840.10008.1.2.4.51'), 'latin1');
    fs.writeFileSync(path.join(folder, 'progressive.dcm'), mpeg);
    fs.writeFileSync(path.join(folder, 'cut.dcm'), read('CT_small.dcm').subarray(0, 20_000));
    fs.writeFileSync(path.join(folder, 'mr.dcm'), read('MR_small.dcm'));
    fs.writeFileSync(path.join(folder, 'notes.dcm'), 'not an image at all, just text saved with the wrong name\n'.repeat(4));
    const ds = await Dataset.create(path.join(tmp, 'mixed.tessera'), tmp);
    try {
      const report = await importImages(ds, { paths: [folder] });
      expect(report.imported).toBe(1);
      expect(report.problems).toEqual([
        { file: path.join(folder, 'cut.dcm'), kind: 'truncated', reason: expect.stringMatching(/^truncated DICOM: /) },
        { file: path.join(folder, 'notes.dcm'), kind: 'unsupported', reason: 'not a DICOM file (no DICM marker at byte 128 and no DICOM data set)' },
        {
          file: path.join(folder, 'progressive.dcm'),
          kind: 'unsupported',
          reason: 'unsupported transfer syntax 1.2.840.10008.1.2.4.55 (JPEG Full Progression, Non-Hierarchical (Processes 10 & 12) (retired))',
        },
      ]);
      // The pixel guard holds before any pixel is decoded: 30 frames of 320 x 240.
      const big = await importImages(ds, { paths: [path.join(dir!, 'examples_ybr_color.dcm')], allowOutsideRoot: true, maxPixels: 1_000_000 });
      expect(big.imported).toBe(0);
      expect(big.problems[0]).toMatchObject({ kind: 'too_large', reason: expect.stringContaining('320x240x30 frames = 2,304,000 pixels') });
    } finally {
      await ds.close();
    }
  });
});

d('importing and showing DICOM through the workspace', () => {
  let ws: Workspace;
  let root: string;
  const ids = new Map<string, number>();

  beforeAll(async () => {
    root = tempDir();
    ws = newWorkspace(root);
    await ok(ws, 'dataset:create', { path: path.join(root, 'med.tessera'), root });
    const report = await ok(ws, 'images:import', { jobId: 'dcm', paths: [dir!], allowOutsideRoot: true });
    expect(report.imported).toBe(21);
    expect(report.problems).toEqual([{ file: path.join(dir!, 'rtstruct.dcm'), kind: 'unsupported', reason: expect.stringMatching(/^DICOM object without pixel data/) }]);
    for (const it of await allImages(ws)) ids.set(path.basename(it.path), it.id);
  });
  afterAll(async () => await ws.close());

  async function viewPixels(pathname: string): Promise<{ data: Buffer; info: OutputInfo }> {
    const r = await resolveMedia(ws, pathname);
    if (!r.ok) throw new Error(`${pathname}: ${r.error.message}`);
    return sharp(r.file).raw().toBuffer({ resolveWithObject: true });
  }

  it('stores frames, depth and the DICOM metadata needed, and no patient identifiers', async () => {
    const two = await ok(ws, 'images:get', { id: ids.get('SC_rgb_rle_2frame.dcm')! });
    expect([two.frames, two.format, two.channels]).toEqual([2, 'dicom', 3]);
    const ybr = await ok(ws, 'images:get', { id: ids.get('examples_ybr_color.dcm')! });
    expect(ybr.frames).toBe(30);
    const ct = await ok(ws, 'images:get', { id: ids.get('CT_small.dcm')! });
    expect([ct.width, ct.height, ct.bitDepth, ct.channels]).toEqual([128, 128, 16, 1]);
    const db = ws.current!.db;
    const stored = await db.prepare('SELECT meta FROM image_imaging').pluck().all() as string[];
    expect(stored).toHaveLength(21);
    const patientNames = ['CT_small.dcm', 'MR_small.dcm'].map((f) => rawElement(read(f), 0x0010, 0x0010, 'PN').toString('latin1').trim());
    expect(patientNames).toEqual(['CompressedSamples^CT1', 'CompressedSamples^MR1']);
    const dbBytes = fs.readFileSync(ws.current!.file);
    for (const name of patientNames) {
      expect(stored.join('\n')).not.toContain(name);
      expect(dbBytes.includes(Buffer.from(name))).toBe(false);
    }
  });

  it('shows CT through the automatic window by default and through a requested window', async () => {
    const id = ids.get('CT_small.dcm')!;
    const info = await ok(ws, 'imaging:getWindow', { imageId: id });
    expect(info.source).toBe('auto');
    expect(info.unit).toBe('HU');
    expect(info.pixelSpacing).toEqual([0.661468, 0.661468]);
    expect(info.presets.map((p) => p.name)).toEqual(['Lung', 'Mediastinum', 'Bone', 'Brain', 'Abdomen']);
    expect(info.range).toEqual({ low: -896, high: 1167 });
    const auto = await viewPixels(`view/${await ws.mediaKey(id)}`);
    expect([auto.info.width, auto.info.height]).toEqual([128, 128]);
    let mean = 0;
    for (const v of auto.data) mean += v / auto.data.length;
    expect(mean).toBeGreaterThan(30);
    expect(mean).toBeLessThan(225);
    // Lung window -600/1500: the first pixel, -849 HU, is ((-849 + 600.5) / 1499 + 0.5) * 255 = 85.2.
    const lung = await viewPixels(`view/${await ws.mediaKey(id)}/0/-600/1500`);
    expect(lung.data[0]).toBe(85);
    const thumb = await resolveMedia(ws, `thumb/${await ws.mediaKey(id)}`);
    expect(thumb.ok).toBe(true);
  });

  it('uses the file window, then remembers a chosen one per image and per series', async () => {
    const mr = ids.get('MR_small.dcm')!;
    const implicit = ids.get('MR_small_implicit.dcm')!;
    const before = await ok(ws, 'imaging:getWindow', { imageId: implicit });
    expect([before.source, before.window]).toEqual(['file', { center: 600, width: 1600 }]);
    const set = await ok(ws, 'imaging:setWindow', { imageId: mr, window: { center: 900, width: 400 } });
    expect([set.source, set.window]).toEqual(['image', { center: 900, width: 400 }]);
    const sameSeries = await ok(ws, 'imaging:getWindow', { imageId: implicit });
    expect([sameSeries.source, sameSeries.window]).toEqual(['series', { center: 900, width: 400 }]);
    // The default view follows the remembered window.
    const remembered = await viewPixels(`view/${await ws.mediaKey(implicit)}`);
    const explicit = await viewPixels(`view/${await ws.mediaKey(implicit)}/0/900/400`);
    expect(remembered.data.equals(explicit.data)).toBe(true);
    const reset = await ok(ws, 'imaging:setWindow', { imageId: mr, window: null });
    expect(reset.source).toBe('file');
    expect((await ok(ws, 'imaging:getWindow', { imageId: implicit })).source).toBe('file');
  });

  it('shows each frame of a multi-frame file and refuses frames that do not exist', async () => {
    const id = ids.get('SC_rgb_rle_2frame.dcm')!;
    const f0 = await viewPixels(`view/${await ws.mediaKey(id)}/0`);
    const f1 = await viewPixels(`view/${await ws.mediaKey(id)}/1`);
    expect(Array.from(f0.data.subarray(0, 3))).toEqual([255, 0, 0]);
    expect(Array.from(f1.data.subarray(0, 3))).toEqual([0, 255, 255]);
    const bad = await resolveMedia(ws, `view/${await ws.mediaKey(id)}/2`);
    expect(bad.ok ? null : bad.error.code).toBe('INVALID_ARGUMENT');
  });

  it('exports DICOM files with patient and visit identifiers blanked and the pixels unchanged', async () => {
    const out = path.join(root, 'export');
    const report = await ok(ws, 'interchange:export', { jobId: 'exp', outDir: out, format: 'coco', images: 'copy' });
    expect(report.images).toBeGreaterThanOrEqual(21);
    const written = filesByName(out);
    for (const name of ['CT_small.dcm', 'MR_small_bigendian.dcm', 'MR_small_implicit.dcm', 'image_dfl.dcm', 'JPGExtended.dcm']) {
      const original = read(name);
      const exported = fs.readFileSync(written.get(name)!);
      const before = parseDicom(original).dataSet;
      const after = parseDicom(exported).dataSet;
      const patient = before.string('x00100010');
      if (patient) {
        expect(after.string('x00100010') ?? '', name).toBe('');
        if (name !== 'image_dfl.dcm') expect(exported.includes(Buffer.from(patient)), name).toBe(false);
      }
      for (const tag of ['x00100020', 'x00100030', 'x00080080', 'x00080090', 'x00080050']) expect(after.string(tag) ?? '', `${name} ${tag}`).toBe('');
      expect(after.string('x0020000e')).toBe(before.string('x0020000e'));
      const a = await decode(original);
      const b = await decode(exported);
      expect(Array.from(b.data), name).toEqual(Array.from(a.data));
    }
  });

  it('blanks dates, times, descriptions, comments, request and visit attributes, file meta AE titles and icon images', async () => {
    const out = path.join(root, 'export-deid');
    await ok(ws, 'interchange:export', { jobId: 'deid', outDir: out, format: 'coco', images: 'copy' });
    const written = filesByName(out);
    const blanked: Record<string, string[]> = {
      'MR_small.dcm': ['x00080012', 'x00080013', 'x00080020', 'x00080030', 'x00204000', 'x00020016'],
      'MR_small_implicit.dcm': ['x00080012', 'x00080013', 'x00204000'],
      'CT_small.dcm': ['x00080021', 'x00080022', 'x00080023', 'x00080031', 'x00080032', 'x00080033'],
      'JPGExtended.dcm': ['x00181030', 'x00204000'],
      'examples_overlay.dcm': ['x00181030', 'x00204000', 'x00321060', 'x00324000', 'x00321033', 'x00082111', 'x00180010', 'x00181000', 'x00200010', 'x00081010'],
      'examples_palette.dcm': ['x0008002a', 'x00080022', 'x00080032'],
      'examples_ybr_color.dcm': ['x00400244', 'x00400245', 'x00020016'],
    };
    for (const [name, tags] of Object.entries(blanked)) {
      const before = parseDicom(read(name)).dataSet;
      const after = dicomParser.parseDicom(fs.readFileSync(written.get(name)!));
      for (const tag of tags) {
        expect(before.string(tag)?.trim() ?? '', `${name} ${tag} has a value to blank`).not.toBe('');
        expect(after.string(tag)?.trim() ?? '', `${name} ${tag}`).toBe('');
      }
    }
    const overlay = dicomParser.parseDicom(fs.readFileSync(written.get('examples_overlay.dcm')!));
    // RequestAttributesSequence: every value of its item.
    const request = overlay.elements['x00400275']!.items![0]!.dataSet!;
    for (const tag of ['x00400007', 'x00400009', 'x00401001']) expect(request.string(tag)?.trim() ?? '', tag).toBe('');
    // The icon's pixels and the overlay plane are zeroed; the image pixels are unchanged.
    const iconItem = overlay.elements['x00880200']!.items![0]!.dataSet!;
    const icon = iconItem.elements['x7fe00010']!;
    expect(overlay.byteArray.subarray(icon.dataOffset, icon.dataOffset + icon.length).every((b) => b === 0)).toBe(true);
    // ...while the icon stays a readable image: its rows, columns and bits are kept.
    const original = dicomParser.parseDicom(read('examples_overlay.dcm')).elements['x00880200']!.items![0]!.dataSet!;
    for (const tag of ['x00280010', 'x00280011', 'x00280100']) expect(iconItem.uint16(tag), tag).toBe(original.uint16(tag));
    expect(iconItem.uint16('x00280010')).toBeGreaterThan(0);
    const plane = overlay.elements['x60003000']!;
    expect(overlay.byteArray.subarray(plane.dataOffset, plane.dataOffset + plane.length).every((b) => b === 0)).toBe(true);
    // A sequence of the patient group (OtherPatientIDsSequence) is emptied item by item.
    const ct = dicomParser.parseDicom(fs.readFileSync(written.get('CT_small.dcm')!));
    for (const item of ct.elements['x00101002']!.items!) expect(item.dataSet!.string('x00100020')?.trim() ?? '').toBe('');
    const a = await decode(read('examples_overlay.dcm'));
    const b = await decode(fs.readFileSync(written.get('examples_overlay.dcm')!));
    expect(Array.from(b.data)).toEqual(Array.from(a.data));
  });

  it('displays MONOCHROME1 inverted', async () => {
    const m2 = read('MR_small.dcm');
    const m1 = Buffer.from(m2);
    m1.write('MONOCHROME1', m2.indexOf('MONOCHROME2'), 'latin1');
    m1.write('9', m1.indexOf('1.3.6.1.4.1.5962.1.3.4.1.20040826185059.5457') + 10, 'latin1'); // another series
    const extra = path.join(root, 'm1');
    fs.mkdirSync(extra);
    fs.writeFileSync(path.join(extra, 'mono1.dcm'), m1);
    await ok(ws, 'images:import', { jobId: 'm1', paths: [extra] });
    const id = (await allImages(ws)).find((i) => i.path.endsWith('mono1.dcm'))!.id;
    expect((await ok(ws, 'imaging:getWindow', { imageId: id })).invert).toBe(true);
    const a = await viewPixels(`view/${await ws.mediaKey(ids.get('MR_small.dcm')!)}/0/600/1600`);
    const b = await viewPixels(`view/${await ws.mediaKey(id)}/0/600/1600`);
    expect(Array.from(b.data)).toEqual(Array.from(a.data, (v) => 255 - v));
  });
});

d('DICOM recognised by content and crafted DICOM files', () => {
  let tmp: string;
  beforeAll(() => {
    tmp = tempDir();
  });
  afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

  /** A copy of a sample with Rows and Columns (US, explicit VR little endian) set as given. */
  function withSize(name: string, rows: number, columns: number): Buffer {
    const bytes = Buffer.from(read(name));
    rawElement(bytes, 0x0028, 0x0010, 'US').writeUInt16LE(rows, 0);
    rawElement(bytes, 0x0028, 0x0011, 'US').writeUInt16LE(columns, 0);
    return bytes;
  }

  it('exports a DICOM file named like a TIFF, or with no extension, with the patient name blanked', async () => {
    const root = path.join(tmp, 'renamed');
    fs.mkdirSync(path.join(root, 'imgs'), { recursive: true });
    const mr = read('MR_small.dcm');
    const other = Buffer.from(mr);
    other[0] = 1; // another file for the importer (the preamble is free), the same data set
    fs.writeFileSync(path.join(root, 'imgs', 'mr_small.tif'), mr);
    fs.writeFileSync(path.join(root, 'imgs', 'mr_small'), other);
    const ws = newWorkspace(root);
    try {
      await ok(ws, 'dataset:create', { path: path.join(root, 'renamed.tessera'), root });
      const report = await ok(ws, 'images:import', { jobId: 'ren', paths: [path.join(root, 'imgs', 'mr_small.tif')] });
      expect(report.imported).toBe(1);
      // A COCO file may name an image without an extension: the importer reads its content.
      const coco = { images: [{ id: 1, file_name: 'imgs/mr_small', width: 64, height: 64 }], annotations: [], categories: [{ id: 1, name: 'lesion' }] };
      fs.writeFileSync(path.join(root, 'coco.json'), JSON.stringify(coco));
      const fromCoco = await ok(ws, 'interchange:import', { jobId: 'ren-coco', path: path.join(root, 'coco.json'), format: 'coco' });
      expect(fromCoco.images, JSON.stringify(fromCoco)).toMatchObject({ added: 1 });
      const out = path.join(root, 'export');
      await ok(ws, 'interchange:export', { jobId: 'ren-exp', outDir: out, format: 'coco', images: 'copy' });
      const exported = fs.readdirSync(out, { recursive: true, withFileTypes: true }).filter((e) => e.isFile() && e.name.startsWith('mr_small'));
      expect(exported.map((e) => path.extname(e.name)).sort()).toEqual(['', '.tif']);
      const name = rawElement(mr, 0x0010, 0x0010, 'PN').toString('latin1').trim();
      expect(name).toBe('CompressedSamples^MR1');
      for (const e of exported) {
        const bytes = fs.readFileSync(path.join(e.parentPath, e.name));
        expect(dicomParser.parseDicom(bytes).string('x00100010')?.trim() ?? '', e.name).toBe('');
        expect(bytes.includes(Buffer.from(name)), e.name).toBe(false);
      }
    } finally {
      await ws.close();
    }
  });

  it('refuses a frame too large to decode in memory at import, naming its size, and imports the rest', async () => {
    const folder = path.join(tmp, 'huge');
    fs.mkdirSync(folder);
    fs.writeFileSync(path.join(folder, 'huge_rle.dcm'), withSize('MR_small_RLE.dcm', 50000, 50000));
    fs.writeFileSync(path.join(folder, 'huge_native.dcm'), withSize('MR_small.dcm', 50000, 50000));
    fs.writeFileSync(path.join(folder, 'mr.dcm'), read('MR_small.dcm'));
    const ds = await Dataset.create(path.join(tmp, 'huge.tessera'), tmp);
    try {
      const t0 = performance.now();
      // max-pixels (sized for streamed decoding) lets 2.5 G pixels through: the in-memory cap refuses them.
      const report = await importImages(ds, { paths: [folder], maxPixels: 4_000_000_000 });
      expect(performance.now() - t0).toBeLessThan(5000);
      expect(report.imported).toBe(1);
      const reason = expect.stringMatching(/^DICOM frame of 50000x50000 = 2,500,000,000 pixels is too large to decode in memory \(limit 268,435,456 pixels per frame\)$/);
      expect(report.problems).toEqual([
        { file: path.join(folder, 'huge_native.dcm'), kind: 'unsupported', reason },
        { file: path.join(folder, 'huge_rle.dcm'), kind: 'unsupported', reason },
      ]);
    } finally {
      await ds.close();
    }
  });

  it('refuses a frame whose decoding would hold more than the in-memory byte limit', async () => {
    // 16384 x 16384 is exactly the pixel limit; three 8-bit RLE planes, samples and RGB output exceed 2 GiB.
    const file = parseDicom(withSize('SC_rgb_rle.dcm', 16384, 16384));
    await expect(decodeDicomFrame(file, 0)).rejects.toThrow(
      /^DICOM frame of 16384x16384 with 3 x 8-bit samples needs 2,415,919,104 bytes to decode, above the limit of 2,147,483,648$/,
    );
  });

  it.each([
    ['JPGExtended.dcm', 'JPEG', 256, 1024],
    ['SC_rgb_jpeg_dcmtk.dcm', 'JPEG', 100, 100],
    ['SC_rgb_jpeg_gdcm.dcm', 'JPEG lossless', 100, 100],
    ['MR_small_jpeg_ls_lossless.dcm', 'JPEG-LS', 64, 64],
    ['MR_small_jp2klossless.dcm', 'JPEG 2000', 64, 64],
    ['JPEG2000.dcm', 'JPEG 2000', 256, 1024],
  ])('%s: a codestream of another size than Rows x Columns is refused before decoding', async (name, kind, width, height) => {
    const file = parseDicom(withSize(name, height / 2, width));
    let error: unknown;
    try {
      await decodeDicomFrame(file, 0);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(DicomError);
    expect((error as DicomError).kind).toBe('corrupt');
    expect((error as Error).message).toBe(
      `frame 0: the ${kind} codestream is ${width}x${height} but the data set states ${width}x${height / 2} (Columns x Rows)`,
    );
  });

  it('refuses a deflated data set that inflates past the limit, when reading and when de-identifying', () => {
    const dfl = read('image_dfl.dcm');
    expect(parseDicom(dfl).meta.rows).toBe(512);
    const message = 'deflated data set inflates to more than 100,000 bytes, the limit for a DICOM file';
    expect(() => parseDicom(dfl, { maxInflatedBytes: 100_000 })).toThrow(message);
    expect(() => deidentifyDicom(dfl, { maxInflatedBytes: 100_000 })).toThrow(message);
    // A bomb: 64 MiB of zeros deflate to a few kilobytes behind the same file meta information.
    // The file meta group ends FileMetaInformationGroupLength (0002,0000 UL) bytes after that element.
    const groupLength = rawElement(dfl, 0x0002, 0x0000, 'UL').readUInt32LE(0);
    const dataAt = 132 + 12 + groupLength;
    expect(dfl.subarray(132, dataAt).includes(Buffer.from('1.2.840.10008.1.2.1.99'))).toBe(true);
    const bomb = Buffer.concat([dfl.subarray(0, dataAt), zlib.deflateRawSync(Buffer.alloc(64 * 1024 * 1024))]);
    expect(bomb.length).toBeLessThan(200_000);
    expect(() => parseDicom(bomb, { maxInflatedBytes: 16 * 1024 * 1024 })).toThrow(/^deflated data set inflates to more than 16,777,216 bytes/);
  });

  it('a NumberOfFrames that is not a number refuses that file only', async () => {
    const bytes = Buffer.from(read('SC_rgb_rle_2frame.dcm'));
    rawElement(bytes, 0x0028, 0x0008, 'IS').write('x ', 0, 'latin1');
    expect(() => parseDicom(bytes)).toThrow('NumberOfFrames (0028,0008) is "x", not a whole number');
    const folder = path.join(tmp, 'frames');
    fs.mkdirSync(folder);
    fs.writeFileSync(path.join(folder, 'bad_frames.dcm'), bytes);
    fs.writeFileSync(path.join(folder, 'mr.dcm'), read('MR_small.dcm'));
    const ds = await Dataset.create(path.join(tmp, 'frames.tessera'), tmp);
    try {
      const report = await importImages(ds, { paths: [folder] });
      expect(report.imported).toBe(1);
      expect(report.problems).toEqual([
        { file: path.join(folder, 'bad_frames.dcm'), kind: 'corrupt', reason: 'NumberOfFrames (0028,0008) is "x", not a whole number' },
      ]);
    } finally {
      await ds.close();
    }
  });
});

describe('pixel padding with a rescale that float32 cannot hold exactly', () => {
  it('the padding range is the float32 value the padding samples decode to, and they stay out of the range and window', async () => {
    const rows = 16;
    const columns = 16;
    // Half the image is padding (-32768), the rest a ramp 0..127.
    const stored = Int16Array.from({ length: rows * columns }, (_, i) => (i % 2 ? -32768 : i >> 1));
    const file = enhancedDicom({ rows, columns, frames: [stored], shared: { rescale: { intercept: 0, slope: 0.0123, type: 'US' } }, paddingValue: -32768 });
    const r = await decodeDicomFrame(parseDicom(file), 0);
    const data = r.data as Float32Array;
    expect(data[1]).toBe(Math.fround(-32768 * 0.0123));
    expect(data[1]).not.toBe(-32768 * 0.0123);
    expect(r.padding).toEqual({ low: data[1], high: data[1] });
    const image = data.filter((_, i) => i % 2 === 0);
    expect(sampleRangeOf(data, 1, null, r.padding)).toEqual(sampleRangeOf(image, 1));
    expect(sampleRangeOf(image, 1)).toEqual({ low: 0, high: Math.fround(127 * 0.0123) });
    expect(percentileRange(data, 1, { exclude: r.padding })).toEqual(percentileRange(image, 1));
  });
});

/**
 * Enhanced (multi-frame) CT objects, which state their rescale and windows only in the Shared or
 * Per-frame Functional Groups (Pixel Value Transformation, Frame VOI LUT), written with dcmjs
 * from CT_small's stored pixels (HU = stored - 1024).
 */
d('enhanced CT: rescale, unit and windows from the functional groups', () => {
  let ws: Workspace;
  let root: string;
  const ids = new Map<string, number>();
  let stored: Int16Array;
  /** CT_small in HU as its classic file gives it, and the same pixels mirrored as a second frame. */
  let hu: Float32Array;
  let huMirrored: Float32Array;
  /** Pixels inside the scan circle; outside it the files below hold -2000 (stored), -3024 HU. */
  let inside: boolean[];

  const brain = { name: 'BRAIN', center: 40, width: 80 };
  const bone = { name: 'BONE', center: 400, width: 1800 };
  const lung = { name: 'LUNG', center: -600, width: 1500 };
  const HU = { intercept: -1024, slope: 1, type: 'HU' };

  beforeAll(async () => {
    const ct = storedPixels(path.join(dir!, 'CT_small.dcm'));
    stored = ct.samples;
    const { rows, columns } = ct;
    hu = (await decode('CT_small.dcm')).data as Float32Array;
    const mirrored = Int16Array.from(stored).reverse();
    huMirrored = Float32Array.from(hu).reverse();
    inside = Array.from({ length: rows * columns }, (_, i) => Math.hypot((i % columns) - 63.5, Math.floor(i / columns) - 63.5) <= 64);
    const outside = (fill: (i: number) => number) => Int16Array.from(stored, (v, i) => (inside[i] ? v : fill(i)));
    root = tempDir();
    const files: Record<string, Buffer> = {
      'shared.dcm': enhancedDicom({ rows, columns, frames: [stored, mirrored], shared: { rescale: HU, windows: [brain, bone] } }),
      // Frame 1 stores twice the value and says so by its slope: both frames are the same HU.
      'perframe.dcm': enhancedDicom({
        rows,
        columns,
        frames: [stored, Int16Array.from(stored, (v) => v * 2)],
        perFrame: [
          { rescale: HU, windows: [brain] },
          { rescale: { intercept: -1024, slope: 0.5, type: 'HU' }, windows: [lung] },
        ],
      }),
      // A derived perfusion map: values in unspecified units, no window in the file.
      'perfusion.dcm': enhancedDicom({ rows, columns, frames: [stored, mirrored], shared: { rescale: { intercept: 0, slope: 0.1, type: 'US' } } }),
      // The outside of the scan at -3024 HU, stated nowhere, and as a stated padding range.
      'outside.dcm': enhancedDicom({ rows, columns, frames: [outside(() => -2000), mirrored], shared: { rescale: HU } }),
      'padded.dcm': enhancedDicom({
        rows,
        columns,
        frames: [outside((i) => (i % 2 ? -2000 : -1990)), mirrored],
        shared: { rescale: HU },
        paddingValue: -2000,
        paddingRangeLimit: -1990,
      }),
    };
    for (const [name, bytes] of Object.entries(files)) fs.writeFileSync(path.join(root, name), bytes);
    ws = newWorkspace(root);
    await ok(ws, 'dataset:create', { path: path.join(root, 'enhanced.tessera'), root });
    const report = await ok(ws, 'images:import', { jobId: 'enh', paths: Object.keys(files).map((f) => path.join(root, f)) });
    expect(report.problems).toEqual([]);
    const { items } = await ok(ws, 'images:list', {});
    for (const it of items) ids.set(path.basename(it.path), it.id);
  });
  afterAll(async () => {
    await ws?.close();
    await closeInferenceBackend();
  });

  /** The greyscale pixels the viewer is sent for a frame, through a window or the default one. */
  async function shown(name: string, frame: number, window?: { center: number; width: number }): Promise<Buffer> {
    const media = await ws.mediaFor().get('view', ids.get(name)!, { frame, ...(window ? { window } : {}) });
    const { data, info } = await sharp(media.file).extractChannel(0).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height, info.channels]).toEqual([128, 128, 1]);
    return data;
  }
  const windowed = (values: Float32Array, w: { center: number; width: number }) => Buffer.from(applyVoi(values, 1, w));
  const whiteShare = (px: Buffer) => px.filter((v) => v === 255).length / px.length;

  it('reads the rescale of the Shared Functional Groups: the frames decode to HU', async () => {
    const file = parseDicom(fs.readFileSync(path.join(root, 'shared.dcm')));
    expect(file.meta.frames).toBe(2);
    expect([file.meta.rescaleSlope, file.meta.rescaleIntercept, file.meta.rescaleType]).toEqual([1, -1024, 'HU']);
    expect(file.meta.windows).toEqual([brain, bone]);
    expect(valueUnit(file.meta, 1)).toBe('HU');
    expect(Array.from((await decodeDicomFrame(file, 0)).data)).toEqual(Array.from(hu));
    expect(Array.from((await decodeDicomFrame(file, 1)).data)).toEqual(Array.from(huMirrored));
  });

  it('reads each frame its own rescale and windows from the Per-frame Functional Groups', async () => {
    const file = parseDicom(fs.readFileSync(path.join(root, 'perframe.dcm')));
    expect(frameValues(file.meta, 0)).toEqual({ rescaleSlope: 1, rescaleIntercept: -1024, rescaleType: 'HU', windows: [brain] });
    expect(frameValues(file.meta, 1)).toEqual({ rescaleSlope: 0.5, rescaleIntercept: -1024, rescaleType: 'HU', windows: [lung] });
    expect(Array.from((await decodeDicomFrame(file, 0)).data)).toEqual(Array.from(hu));
    expect(Array.from((await decodeDicomFrame(file, 1)).data)).toEqual(Array.from(hu));
  });

  it('shows shared-group CT in HU: its file windows and the CT presets; Brain is not all white', async () => {
    const id = ids.get('shared.dcm')!;
    const info = await ok(ws, 'imaging:getWindow', { imageId: id, frame: 1 });
    expect([info.unit, info.rescaleType, info.source, info.window]).toEqual(['HU', 'HU', 'file', { center: 40, width: 80 }]);
    expect(info.presets.map((p) => p.name)).toEqual(['BRAIN', 'BONE', 'Lung', 'Mediastinum', 'Bone', 'Brain', 'Abdomen']);
    expect(info.range).toEqual({ low: -896, high: 1167 });
    // The default view is the file's brain window over HU; stored values would be all white.
    const view = await shown('shared.dcm', 0);
    expect(view.equals(windowed(hu, brain))).toBe(true);
    expect(whiteShare(view)).toBeLessThan(0.5);
    expect(whiteShare(windowed(Float32Array.from(stored), brain))).toBe(1);
    const preset = await shown('shared.dcm', 1, { center: 40, width: 80 });
    expect(preset.equals(windowed(huMirrored, brain))).toBe(true);
  });

  it('gives each frame of a per-frame object its own file window and presets', async () => {
    const id = ids.get('perframe.dcm')!;
    const f0 = await ok(ws, 'imaging:getWindow', { imageId: id, frame: 0 });
    const f1 = await ok(ws, 'imaging:getWindow', { imageId: id, frame: 1 });
    expect([f0.unit, f0.source, f0.window, f0.presets[0]]).toEqual(['HU', 'file', { center: 40, width: 80 }, brain]);
    expect([f1.unit, f1.source, f1.window, f1.presets[0]]).toEqual(['HU', 'file', { center: -600, width: 1500 }, lung]);
    expect(f1.range).toEqual({ low: -896, high: 1167 });
    expect((await shown('perframe.dcm', 0)).equals(windowed(hu, brain))).toBe(true);
    expect((await shown('perframe.dcm', 1)).equals(windowed(hu, lung))).toBe(true);
  });

  it('never calls a perfusion map with Rescale Type US HU and offers no HU presets for it', async () => {
    const id = ids.get('perfusion.dcm')!;
    for (const frame of [0, 1]) {
      const info = await ok(ws, 'imaging:getWindow', { imageId: id, frame });
      expect([info.unit, info.rescaleType, info.source]).toEqual([null, 'US', 'auto']);
      expect(info.presets).toEqual([]);
      expect(info.range!.low).toBeCloseTo(128 * 0.1, 4);
      expect(info.range!.high).toBeCloseTo(2191 * 0.1, 4);
    }
  });

  it('leaves the outside of the scan out of the automatic window, stated as padding or not', async () => {
    const scan = Float32Array.from(hu.filter((_, i) => inside[i]));
    const want = percentileWindowOf(scan, 1);
    expect(want.center - want.width / 2).toBeGreaterThan(-1024);
    for (const name of ['outside.dcm', 'padded.dcm']) {
      const info = await ok(ws, 'imaging:getWindow', { imageId: ids.get(name)!, frame: 0 });
      expect([name, info.source, info.window]).toEqual([name, 'auto', want]);
      expect(info.range).toEqual(sampleRangeOf(scan, 1));
      // The view goes through that window: the scan keeps its contrast, the outside is black.
      const view = await shown(name, 0);
      const values = (await decodeDicomFrame(parseDicom(fs.readFileSync(path.join(root, name))), 0)).data as Float32Array;
      expect(view.equals(windowed(values, want))).toBe(true);
    }
    // Counting the -3024 HU corners would have put the window's black end there.
    const all = (await decodeDicomFrame(parseDicom(fs.readFileSync(path.join(root, 'outside.dcm'))), 0)).data;
    expect(percentileWindowOf(all, 1)).not.toEqual(want);
  });

  it.runIf(yolo)('pre-labels through the same window: the outside of the scan is left out of the model input too', async () => {
    const scan = Float32Array.from(hu.filter((_, i) => inside[i]));
    const want = percentileRange(scan, 1);
    const { detector } = await inferenceBackend();
    for (const name of ['outside.dcm', 'padded.dcm']) {
      const imageId = ids.get(name)!;
      const s = await runPrelabel(ws.current!, detector, { manifest: yolov8nInt8Manifest(yolo!), modelFile: yolo!, imageIds: [imageId], skipLabeled: false });
      expect(s.done).toBe(1);
      const hbd = (await getModelRun(ws.current!.db, s.runId))!.parameters['highBitDepth'] as { images: Record<string, [number, number]> };
      expect([name, hbd.images[String(imageId)]]).toEqual([name, [want.low, want.high]]);
    }
  }, 120_000);
});
