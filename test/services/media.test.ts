import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { beforeEach, describe, expect, it } from 'vitest';
import { getImage } from '../../src-main/db/images';
import { Dataset } from '../../src-main/services/dataset';
import { importImages } from '../../src-main/services/importer';
import { maskNodata, Media, pruneWindowed } from '../../src-main/services/media';
import { readRaster } from '../../src-main/services/raster';
import { storeEngine } from '../helpers/engine';
import { makeImages } from '../helpers/images';
import { sharedPath, tempDir } from '../helpers/shared';

let root: string;
let ds: Dataset;
let media: Media;
let files: Record<string, string>;

async function idOf(name: string): Promise<number> {
  return await ds.db.prepare('SELECT id FROM images WHERE path LIKE ?').pluck().get(`%/${name}`) as number;
}

beforeEach(async () => {
  root = tempDir();
  ds = await Dataset.create(path.join(root, 'set.tessera'));
  media = new Media(ds, 1e9);
  files = await makeImages(path.join(root, 'imgs'));
  await importImages(ds, { paths: [path.join(root, 'imgs')] });
  return async () => await ds.close();
});

describe('Media', () => {
  it('makes thumbnails in the displayed orientation and caches them beside the dataset', async () => {
    const t = await media.get('thumb', await idOf('g-rot.jpg'));
    // A dataset in PostgreSQL has no file to sit beside: its cache is per machine, by its identity.
    const cache = storeEngine() === 'postgres' ? path.join(os.tmpdir(), 'tessera-cache', ds.uuid) : `${ds.file}-cache`;
    expect(t.file.startsWith(`${cache}${path.sep}`)).toBe(true);
    const m = await sharp(t.file).metadata();
    expect([m.width, m.height]).toEqual([20, 60]);
    const again = await media.get('thumb', await idOf('g-rot.jpg'));
    expect(again.file).toBe(t.file);
  });

  it('serves displayable views of every format, oriented, at full resolution', async () => {
    for (const [name, size] of [
      ['a.jpg', [64, 48]],
      ['g-rot.jpg', [20, 60]],
      ['e8.tif', [50, 20]],
      ['f-pages.tif', [20, 10]],
      ['h.bmp', [8, 4]],
      ['d16.png', [50, 20]],
    ] as const) {
      const v = await media.get('view', await idOf(name));
      expect(['image/jpeg', 'image/png', 'image/webp']).toContain(v.mime);
      const m = await sharp(v.file).metadata();
      expect([name, m.width, m.height]).toEqual([name, ...size]);
    }
  });

  it('decodes BMP pixels faithfully', async () => {
    const v = await media.get('view', await idOf('h.bmp'));
    const { data, info } = await sharp(v.file).raw().toBuffer({ resolveWithObject: true });
    expect(info.channels).toBeGreaterThanOrEqual(3);
    // The helper wrote pixel bytes (i * 5) % 256 in RGB order; the first pixel is 0, 5, 10.
    expect([data[0], data[1], data[2]]).toEqual([0, 5, 10]);
  });

  it('a 16-bit image with a tiny value range does not display black', async () => {
    const v = await media.get('view', await idOf('d16.png'));
    const stats = await sharp(v.file).stats();
    expect(stats.channels[0]!.max).toBeGreaterThan(200);
    const stardist = sharedPath('datasets/tiff16_stardist_dsb2018/img2d.tif');
    if (!stardist) return;
    await importImages(ds, { paths: [stardist], allowOutsideRoot: true });
    const id = await ds.db.prepare("SELECT id FROM images WHERE path LIKE '%img2d.tif'").pluck().get() as number;
    const s2 = await sharp((await media.get('thumb', id)).file).stats();
    expect(s2.channels[0]!.mean).toBeGreaterThan(10);
  });

  it('shows GeoTIFF nodata pixels as transparent in views and thumbnails; images without nodata are unchanged', async () => {
    const rgb = sharedPath('datasets/geotiff_rasterio/RGB.byte.tif');
    if (!rgb) return;
    await importImages(ds, { paths: [rgb], allowOutsideRoot: true });
    const id = await ds.db.prepare("SELECT id FROM images WHERE path LIKE '%RGB.byte.tif'").pluck().get() as number;
    const view = await media.get('view', id);
    expect(view.mime).toBe('image/png');
    const { data, info } = await sharp(view.file).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height, info.channels]).toEqual([791, 718, 4]);
    const alphaAt = (x: number, y: number) => data[(y * info.width + x) * 4 + 3];
    expect(alphaAt(0, 0)).toBe(0); // the scene is a rotated footprint: its corners are nodata (0)
    expect(alphaAt(395, 359)).toBe(255);
    // Transparent exactly where the file's three samples are all 0, opaque elsewhere, colours kept.
    const src = await sharp(rgb).raw().toBuffer({ resolveWithObject: true });
    let nodata = 0;
    let mismatched = 0;
    for (let p = 0; p < info.width * info.height; p++) {
      const s = src.data.subarray(p * 3, p * 3 + 3);
      const isNodata = s[0] === 0 && s[1] === 0 && s[2] === 0;
      if (isNodata) nodata++;
      if (data[p * 4 + 3] !== (isNodata ? 0 : 255) || data[p * 4] !== s[0] || data[p * 4 + 1] !== s[1] || data[p * 4 + 2] !== s[2]) mismatched++;
    }
    expect(nodata).toBeGreaterThan(1000);
    expect(mismatched).toBe(0);
    const thumb = await sharp((await media.get('thumb', id)).file).raw().toBuffer({ resolveWithObject: true });
    expect([thumb.info.width, thumb.info.channels]).toEqual([256, 4]);
    expect(thumb.data[3]).toBe(0);
    expect(thumb.data[(Math.floor(thumb.info.height / 2) * 256 + 128) * 4 + 3]).toBe(255);

    // No nodata: the TIFF view stays opaque RGB/grey, a JPEG is still served as the file itself.
    const plain = await media.get('view', await idOf('e8.tif'));
    expect((await sharp(plain.file).metadata()).hasAlpha).toBe(false);
    expect((await media.get('view', await idOf('a.jpg'))).file).toBe(files['a.jpg']);
  });

  it('masks nodata on stored samples, not on display values; NaN nodata matches NaN; alpha is kept', () => {
    // 16-bit grey samples 0, 500, 0 shown through a window as 0, 128, 0: only stored 0 is nodata.
    const m = maskNodata(new Uint16Array([0, 500, 7]), new Uint8Array([0, 128, 0]), 1, 0)!;
    expect(m.channels).toBe(2);
    expect(Array.from(m.data)).toEqual([0, 0, 128, 255, 0, 255]);
    const f = maskNodata(new Float32Array([NaN, NaN, NaN, 1, NaN, 2]), new Uint8Array(6).fill(9), 3, NaN)!;
    expect(Array.from(f.data)).toEqual([9, 9, 9, 0, 9, 9, 9, 255]);
    // RGBA: the stored alpha stays where the pixel is data; a pixel counts only when every colour sample matches.
    const a = maskNodata(new Uint8Array([5, 5, 5, 200, 5, 0, 5, 100]), new Uint8Array([5, 5, 5, 200, 5, 0, 5, 100]), 4, 5)!;
    expect(Array.from(a.data)).toEqual([5, 5, 5, 0, 5, 0, 5, 100]);
    expect(maskNodata(new Uint8Array([1, 2, 3]), new Uint8Array([1, 2, 3]), 3, 0)).toBeNull();
  });

  it('reports a missing file and a changed file, and recovers when the file returns', async () => {
    const id = await idOf('b.png');
    const im = (await getImage(ds.db, id))!;
    expect(await media.fileState(im)).toBe('ok');
    const file = files['b.png']!;
    const saved = fs.readFileSync(file);
    fs.unlinkSync(file);
    expect(await media.fileState(im)).toBe('missing');
    await expect(media.get('thumb', id)).rejects.toMatchObject({ code: 'FILE_MISSING' });
    fs.writeFileSync(file, Buffer.concat([saved, Buffer.from('x')]));
    expect(await media.fileState(im)).toBe('changed');
    await expect(media.get('view', id)).rejects.toMatchObject({ code: 'FILE_CHANGED' });
    fs.writeFileSync(file, saved);
    expect(await media.fileState(im)).toBe('ok'); // same bytes, new time: verified by hash
    // The verified time is recorded, so the next check needs no hash.
    expect((await getImage(ds.db, id))!.fileMtimeMs).toBe(Math.round(fs.statSync(file).mtimeMs));
  });

  it('never follows a stored path or link out of the dataset root', async () => {
    const id = await idOf('a.jpg');
    await ds.db.prepare('UPDATE images SET path = ? WHERE id = ?').run('../../../etc/passwd', id);
    await expect(media.get('view', id)).rejects.toMatchObject({ code: 'PATH_OUTSIDE_ROOT' });
    await ds.db.prepare('UPDATE images SET path = ? WHERE id = ?').run('/etc/passwd', id);
    await expect(media.get('view', id)).rejects.toMatchObject({ code: 'PATH_OUTSIDE_ROOT' });
    const outside = tempDir();
    fs.copyFileSync(files['a.jpg']!, path.join(outside, 'a.jpg'));
    fs.symlinkSync(outside, path.join(root, 'imgs', 'link'));
    await ds.db.prepare('UPDATE images SET path = ? WHERE id = ?').run('imgs/link/a.jpg', id);
    await expect(media.get('view', id)).rejects.toMatchObject({ code: 'PATH_OUTSIDE_ROOT' });
  });
});

describe('Media of large and multi-band high-bit-depth images', () => {
  /** A 3000 x 1000 16-bit grey PNG holding 1000..1999 by column, imported into the dataset. */
  async function wide16(): Promise<number> {
    const w = 3000;
    const h = 1000;
    const px = new Uint16Array(w * h);
    for (let i = 0; i < px.length; i++) px[i] = 1000 + Math.floor((i % w) / 3);
    const file = path.join(root, 'imgs', 'wide16.png');
    await sharp(px, { raw: { width: w, height: h, channels: 1 } }).toColourspace('grey16').png().toFile(file);
    await importImages(ds, { paths: [file] });
    return await idOf('wide16.png');
  }

  it('takes a large image window, range and thumbnail from a reduced copy, and leaves small images as they were', async () => {
    const id = await wide16();
    const im = (await getImage(ds.db, id))!;
    const capped = new Media(ds, 1e9, { fullDecodePixels: 1_000_000 });
    expect(capped.isLarge(im)).toBe(true);
    const reduced = await capped.statsRaster(im, 0);
    expect([reduced.width, reduced.height, reduced.channels]).toEqual([2048, 683, 1]);
    expect(reduced.data).toBeInstanceOf(Uint16Array);
    // The percentile window of the reduced copy is that of the full frame, within a sample or two.
    const full = await media.raster(im, 0);
    expect(full.width).toBe(3000);
    const { percentileRange } = await import('../../src-main/common/imaging/window');
    const a = percentileRange(full.data, 1);
    const b = percentileRange(reduced.data, 1);
    expect(Math.abs(a.low - b.low)).toBeLessThanOrEqual(3);
    expect(Math.abs(a.high - b.high)).toBeLessThanOrEqual(3);
    // The thumbnail: a left-to-right ramp through that window, dark at the left, bright at the right.
    const t = await sharp((await capped.get('thumb', id)).file).greyscale().raw().toBuffer({ resolveWithObject: true });
    expect([t.info.width, t.info.height]).toEqual([256, 85]);
    const row = 40 * t.info.width * t.info.channels;
    expect(t.data[row + 2]!).toBeLessThan(20);
    expect(t.data[row + (t.info.width - 3) * t.info.channels]!).toBeGreaterThan(235);
    // A predicate (images shown from tiles) reduces too; without either, nothing changes.
    expect(new Media(ds, 1e9, { reduce: (x) => x.id === id }).isLarge(im)).toBe(true);
    expect(media.isLarge(im)).toBe(false);
    expect(await media.statsRaster(im, 0)).toBe(full);
  });

  it('shows 16-bit RGBA GeoTIFF bands as RGB with alpha: raster, view and thumbnail', async () => {
    const src = sharedPath('datasets/geotiff_rasterio/RGBA.uint16.tif');
    if (!src) return;
    await importImages(ds, { paths: [src], allowOutsideRoot: true });
    const id = await ds.db.prepare("SELECT id FROM images WHERE path LIKE '%RGBA.uint16.tif'").pluck().get() as number;
    const im = (await getImage(ds.db, id))!;
    const r = await readRaster(ds, im);
    expect([r.width, r.height, r.channels, r.bitDepth]).toEqual([634, 411, 4, 16]);
    expect(r.data).toBeInstanceOf(Uint16Array);
    // The file's own samples, band by band.
    const raw = await sharp(src).toColourspace('grey16').raw({ depth: 'ushort' }).toBuffer();
    const stored = new Uint16Array(raw.buffer, raw.byteOffset, raw.byteLength / 2);
    expect(stored.length).toBe(r.data.length);
    let diff = 0;
    for (let i = 0; i < stored.length; i += 997) diff += Math.abs(stored[i]! - r.data[i]!);
    expect(diff).toBe(0);
    const view = await media.get('view', id);
    const v = await sharp(view.file).raw().toBuffer({ resolveWithObject: true });
    expect([v.info.width, v.info.height, v.info.channels]).toEqual([634, 411, 4]);
    // The file's alpha band is a 0/255 mask beside 16-bit colour: shown as transparent and opaque.
    let mismatched = 0;
    let opaque = 0;
    for (let p = 0; p < 634 * 411; p++) {
      const want = stored[p * 4 + 3] === 0 ? 0 : 255;
      if (v.data[p * 4 + 3] !== want) mismatched++;
      if (want === 255) opaque++;
    }
    expect(mismatched).toBe(0);
    expect(opaque).toBeGreaterThan(100_000);
    expect(opaque).toBeLessThan(634 * 411 - 100_000);
    const thumb = await sharp((await media.get('thumb', id)).file).metadata();
    expect([thumb.width, thumb.channels]).toEqual([256, 4]);
  });

  it('bounds the renders for explicit windows across the whole folder, never deleting young or just-returned ones', () => {
    const dir = path.join(root, 'cache-window');
    const old = Date.now() / 1000 - 3600;
    const made: string[] = [];
    for (let i = 0; i < 120; i++) {
      const sub = path.join(dir, i % 2 ? 'ab' : 'cd');
      fs.mkdirSync(sub, { recursive: true });
      const f = path.join(sub, `r${i}.png`);
      fs.writeFileSync(f, 'x');
      fs.utimesSync(f, old + i, old + i); // r0 oldest
      made.push(f);
    }
    const young = path.join(dir, 'ab', 'young.png');
    fs.writeFileSync(young, 'x');
    const returned = made[0]!;
    pruneWindowed(dir, returned);
    const left = made.filter((f) => fs.existsSync(f));
    // 96 kept: the young one, the 95 newest old ones, and the one just returned.
    expect(fs.existsSync(young)).toBe(true);
    expect(fs.existsSync(returned)).toBe(true);
    expect(left.length).toBe(96);
    expect(fs.existsSync(made[119]!)).toBe(true);
    expect(fs.existsSync(made[10]!)).toBe(false);
  });

  it('a render for an explicit window served again counts as new, so pruning spares it', async () => {
    const id = await idOf('d16.png');
    const first = await media.get('view', id, { window: { center: 100, width: 50 } });
    const old = Date.now() / 1000 - 3600;
    fs.utimesSync(first.file, old, old);
    const again = await media.get('view', id, { window: { center: 100, width: 50 } });
    expect(again.file).toBe(first.file);
    expect(Date.now() - fs.statSync(again.file).mtimeMs).toBeLessThan(60_000);
  });
});
