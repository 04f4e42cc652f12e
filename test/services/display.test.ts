import fs from 'node:fs';
import path from 'node:path';
import dicomParser from 'dicom-parser';
import sharp from 'sharp';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { getDisplay } from '../../src-main/db/display';
import type { Workspace } from '../../src-main/services/workspace';
import { openStore } from '../helpers/engine';
import { sharedPath, tempDir } from '../helpers/shared';
import { fails, newWorkspace, ok } from '../helpers/workspace';

/**
 * Display adjustments are remembered per image and as the dataset's default (real SQLite, through
 * the contract's handlers), and the pixel readout reads the original data: 8-bit RGB, 16-bit
 * samples as stored, DICOM CT as stored value × slope + intercept.
 */
let dir: string;
let file: string;
let ws: Workspace;
let ids: Record<string, number>;

/** A 40 × 30 RGB image whose pixel (x, y) is (x, y, x + y). */
async function writeGradient(p: string): Promise<void> {
  const w = 40, h = 30;
  const data = Buffer.alloc(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data.set([x, y, x + y], (y * w + x) * 3);
  await sharp(data, { raw: { width: w, height: h, channels: 3 } }).png().toFile(p);
}

/** A 20 × 10 16-bit grey PNG whose pixel (x, y) is 1000 × x + y. */
async function writeGrey16(p: string): Promise<void> {
  const w = 20, h = 10;
  const data = new Uint16Array(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data[y * w + x] = 1000 * x + y;
  // A Uint16Array is taken as 16-bit samples.
  await sharp(data, { raw: { width: w, height: h, channels: 1 } }).toColourspace('grey16').png().toFile(p);
}

beforeEach(async () => {
  dir = tempDir('tessera-display-');
  fs.mkdirSync(path.join(dir, 'imgs'));
  await writeGradient(path.join(dir, 'imgs', 'rgb.png'));
  await writeGrey16(path.join(dir, 'imgs', 'grey16.png'));
  await sharp({ create: { width: 8, height: 8, channels: 3, background: { r: 9, g: 9, b: 9 } } }).jpeg().toFile(path.join(dir, 'imgs', 'other.jpg'));
  ws = newWorkspace(path.join(dir, 'config'));
  file = path.join(dir, 'd.tessera');
  await ok(ws, 'dataset:create', { path: file, root: dir });
  await ok(ws, 'images:import', { jobId: 'imp', paths: [path.join(dir, 'imgs')] });
  const { items } = await ok(ws, 'images:list', {});
  ids = Object.fromEntries(items.map((i) => [path.basename(i.path), i.id]));
  return async () => await ws.close();
});

afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('display settings', () => {
  it('are remembered for the image and as the default of images without their own; reset forgets both', async () => {
    const rgb = ids['rgb.png']!, other = ids['other.jpg']!, grey = ids['grey16.png']!;
    expect(await ok(ws, 'display:get', { imageId: rgb })).toMatchObject({ source: 'default', settings: { contrast: 0, gamma: 1, invert: false } });
    const s = { brightness: 5, contrast: 40, gamma: 1.5, invert: true, channels: [true, false, true] as [boolean, boolean, boolean] };
    expect(await ok(ws, 'display:set', { imageId: rgb, settings: s })).toEqual({ imageId: rgb, settings: s, source: 'image' });
    expect(await ok(ws, 'display:get', { imageId: other })).toEqual({ imageId: other, settings: s, source: 'dataset' });
    // Another image's own settings become the default; the first keeps its own.
    const t = { ...s, contrast: -20, invert: false };
    await ok(ws, 'display:set', { imageId: grey, settings: t });
    expect((await ok(ws, 'display:get', { imageId: rgb })).settings).toEqual(s);
    expect((await ok(ws, 'display:get', { imageId: other })).settings).toEqual(t);
    // Kept in the dataset file: read again from a fresh connection.
    await ws.close();
    const db = await openStore(file);
    try {
      expect(await getDisplay(db, rgb)).toEqual({ imageId: rgb, settings: s, source: 'image' });
    } finally {
      await db.close();
    }
    ws = newWorkspace(path.join(dir, 'config'));
    await ok(ws, 'dataset:open', { path: file });
    await ok(ws, 'display:set', { imageId: grey, settings: null });
    expect((await ok(ws, 'display:get', { imageId: grey })).source).toBe('default');
    expect((await ok(ws, 'display:get', { imageId: other })).source).toBe('default');
    expect((await ok(ws, 'display:get', { imageId: rgb })).source).toBe('image');
  });

  it('refuses settings out of range and unknown images', async () => {
    const bad = await fails(ws, 'display:set', { imageId: ids['rgb.png']!, settings: { brightness: 0, contrast: 500, gamma: 1, invert: false, channels: [true, true, true] } });
    expect(bad.code).toBe('INVALID_ARGUMENT');
    expect((await fails(ws, 'display:get', { imageId: 999_999 })).code).toBe('NOT_FOUND');
  });
});

describe('pixel readout', () => {
  it('reads RGB and 16-bit samples of the original data, clipped to the image', async () => {
    const b = await ok(ws, 'imaging:pixels', { imageId: ids['rgb.png']!, x: 32, y: 16, w: 16, h: 16 });
    expect(b).toMatchObject({ x: 32, y: 16, w: 8, h: 14, channels: 3, bitDepth: 8, stored: null, unit: null });
    const at = (x: number, y: number) => b.values.slice(((y - b.y) * b.w + (x - b.x)) * 3, ((y - b.y) * b.w + (x - b.x) + 1) * 3);
    expect(at(37, 21)).toEqual([37, 21, 58]);
    expect(at(39, 29)).toEqual([39, 29, 68]);
    const g = await ok(ws, 'imaging:pixels', { imageId: ids['grey16.png']!, x: 13, y: 7 });
    expect(g).toMatchObject({ channels: 1, bitDepth: 16, values: [13007] });
    const out = await fails(ws, 'imaging:pixels', { imageId: ids['rgb.png']!, x: 40, y: 0 });
    expect(out.code).toBe('INVALID_ARGUMENT');
    expect(out.message).toContain('rgb.png');
  });

  const ct = sharedPath('datasets/dicom_pydicom/CT_small.dcm');
  it.skipIf(!ct)('reads DICOM CT as stored value × slope + intercept, in HU', async () => {
    await ok(ws, 'images:import', { jobId: 'imp2', paths: [ct!], allowOutsideRoot: true });
    const { items } = await ok(ws, 'images:list', {});
    const id = items.find((i) => i.path.endsWith('CT_small.dcm'))!.id;
    // The expected values straight from the file, with dicom-parser.
    const bytes = fs.readFileSync(ct!);
    const d = dicomParser.parseDicom(bytes);
    const cols = d.uint16('x00280011')!;
    const signed = d.uint16('x00280103') === 1;
    const slope = d.floatString('x00281053') ?? 1;
    const intercept = d.floatString('x00281052') ?? 0;
    const px = d.elements['x7fe00010']!;
    const view = new DataView(bytes.buffer, bytes.byteOffset + px.dataOffset, px.length);
    const storedAt = (x: number, y: number) => (signed ? view.getInt16((y * cols + x) * 2, true) : view.getUint16((y * cols + x) * 2, true));
    const b = await ok(ws, 'imaging:pixels', { imageId: id, x: 30, y: 40, w: 8, h: 8 });
    expect(b.unit).toBe('HU');
    expect(b.rescale).toEqual({ slope, intercept });
    for (const [x, y] of [[30, 40], [37, 47], [33, 44]] as const) {
      const i = (y - 40) * 8 + (x - 30);
      expect(b.stored![i]).toBe(storedAt(x, y));
      expect(b.values[i]).toBe(storedAt(x, y) * slope + intercept);
    }
  });
});
