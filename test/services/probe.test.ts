import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { probeImage, type ProbeResult } from '../../src-main/services/probe';
import { makeImages } from '../helpers/images';
import { sharedPath, tempDir } from '../helpers/shared';

const LIMIT = { maxPixels: 2_500_000_000 };
let files: Record<string, string>;
let dir: string;

async function ok(file: string): Promise<ProbeResult> {
  const r = await probeImage(file, LIMIT);
  if (!r.ok) throw new Error(`${file}: ${r.problem.reason}`);
  return r.value;
}

async function problem(file: string, maxPixels = LIMIT.maxPixels) {
  const r = await probeImage(file, { maxPixels });
  if (r.ok) throw new Error(`${file} was accepted`);
  return r.problem;
}

beforeAll(async () => {
  dir = tempDir();
  files = await makeImages(dir);
});

describe('probeImage', () => {
  it('reads size, channels, depth and format of each supported format', async () => {
    expect(await ok(files['a.jpg']!)).toMatchObject({ width: 64, height: 48, channels: 3, bitDepth: 8, format: 'jpeg', frames: 1 });
    expect(await ok(files['b.png']!)).toMatchObject({ width: 40, height: 30, bitDepth: 8, format: 'png' });
    expect(await ok(files['c.webp']!)).toMatchObject({ width: 32, height: 32, format: 'webp' });
    expect(await ok(files['d16.png']!)).toMatchObject({ width: 50, height: 20, channels: 1, bitDepth: 16, format: 'png' });
    expect(await ok(files['e8.tif']!)).toMatchObject({ width: 50, height: 20, bitDepth: 8, format: 'tiff' });
    expect(await ok(files['f-pages.tif']!)).toMatchObject({ width: 20, height: 10, frames: 3, format: 'tiff' });
    expect(await ok(files['h.bmp']!)).toMatchObject({ width: 8, height: 4, channels: 3, format: 'bmp' });
  });

  it('counts the full-resolution pages of a TIFF as frames, not its overviews or masks', async () => {
    // A libvips pyramid: 512x512 followed by 256, 128, ... overview pages.
    const pyramid = path.join(dir, 'pyramid.tif');
    await sharp({ create: { width: 512, height: 512, channels: 3, background: '#336699' } })
      .tiff({ tile: true, tileWidth: 64, tileHeight: 64, pyramid: true })
      .toFile(pyramid);
    expect((await sharp(pyramid).metadata()).pages).toBeGreaterThan(1);
    expect(await ok(pyramid)).toMatchObject({ width: 512, height: 512, frames: 1 });
    // Equal pages stay frames (f-pages.tif: 3 pages of 20x10).
    expect(await ok(files['f-pages.tif']!)).toMatchObject({ frames: 3 });
    // So do pages of different sizes that are not marked as overviews (a letter page, then a legal one).
    const mixed = path.join(dir, 'mixed-pages.tif');
    fs.writeFileSync(mixed, greyTiff([[100, 80], [90, 80], [100, 80]]));
    expect((await sharp(mixed).metadata()).pages).toBe(3);
    expect(await ok(mixed)).toMatchObject({ width: 100, height: 80, frames: 3 });

    const cog = sharedPath('datasets/geotiff_rasterio/cogeo.tif');
    if (!cog) return;
    // 14 pages: the image, its mask, 6 overviews and 6 overview masks.
    expect((await sharp(cog).metadata()).pages).toBe(14);
    expect(await probeImage(cog, { maxPixels: 2 * 1024 * 1024 })).toMatchObject({ ok: true, value: { width: 1024, height: 1024, frames: 1 } });
  });

  it('gives the displayed (EXIF-oriented) size', async () => {
    const r = await ok(files['g-rot.jpg']!);
    expect(r.orientation).toBe(6);
    expect([r.width, r.height]).toEqual([20, 60]);
  });

  it('hashes content, not names', async () => {
    const copy = path.join(dir, 'copy-of-a.jpg');
    fs.copyFileSync(files['a.jpg']!, copy);
    expect((await ok(copy)).contentHash).toBe((await ok(files['a.jpg']!)).contentHash);
    expect((await ok(files['b.png']!)).contentHash).not.toBe((await ok(files['a.jpg']!)).contentHash);
  });

  it('reports empty, truncated, corrupt and unsupported files with a reason', async () => {
    const empty = path.join(dir, 'empty.jpg');
    fs.writeFileSync(empty, '');
    expect(await problem(empty)).toMatchObject({ kind: 'empty', reason: expect.stringContaining('0 bytes') });

    const jpg = fs.readFileSync(files['a.jpg']!);
    const cutJpg = path.join(dir, 'cut.jpg');
    fs.writeFileSync(cutJpg, jpg.subarray(0, Math.floor(jpg.length * 0.6)));
    expect(await problem(cutJpg)).toMatchObject({ kind: 'truncated', reason: expect.stringMatching(/JPEG/) });

    const png = fs.readFileSync(files['b.png']!);
    const cutPng = path.join(dir, 'cut.png');
    fs.writeFileSync(cutPng, png.subarray(0, png.length - 20));
    expect(await problem(cutPng)).toMatchObject({ kind: 'truncated', reason: expect.stringMatching(/PNG/) });

    const garbage = path.join(dir, 'garbage.png');
    fs.writeFileSync(garbage, Buffer.from('this is not an image at all, just text pretending'));
    expect(await problem(garbage)).toMatchObject({ kind: 'unsupported' });

    const gif = path.join(dir, 'anim.jpg');
    const sharp = (await import('sharp')).default;
    await sharp({ create: { width: 4, height: 4, channels: 3, background: '#fff' } }).gif().toFile(gif);
    expect(await problem(gif)).toMatchObject({ kind: 'unsupported', reason: expect.stringContaining('gif') });
  });

  it('refuses a PNG with a header but no or too little image data, which only a decode would notice', async () => {
    const { crc32, deflateSync } = await import('node:zlib');
    const chunk = (type: string, data: Buffer) => {
      const out = Buffer.alloc(12 + data.length);
      out.writeUInt32BE(data.length, 0);
      out.write(type, 4, 'ascii');
      data.copy(out, 8);
      out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)) >>> 0, 8 + data.length);
      return out;
    };
    const sig = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    const ihdr = Buffer.alloc(13);
    ihdr.writeUInt32BE(64, 0);
    ihdr.writeUInt32BE(48, 4);
    ihdr[8] = 8; // bit depth
    ihdr[9] = 2; // RGB
    const iend = chunk('IEND', Buffer.alloc(0));
    const rows = Buffer.alloc(48 * (1 + 64 * 3), 7);
    for (let y = 0; y < 48; y++) rows[y * (1 + 64 * 3)] = 0; // filter type none
    const write = (name: string, ...parts: Buffer[]) => {
      const f = path.join(dir, name);
      fs.writeFileSync(f, Buffer.concat([sig, chunk('IHDR', ihdr), ...parts]));
      return f;
    };
    const data = deflateSync(rows);
    // Signature, the header of a 2 x 2 image, the first 8 bytes of its image data and the end: 65 bytes.
    const tiny = Buffer.from(ihdr);
    tiny.writeUInt32BE(2, 0);
    tiny.writeUInt32BE(2, 4);
    const headerOnly = path.join(dir, 'header-only.png');
    fs.writeFileSync(headerOnly, Buffer.concat([sig, chunk('IHDR', tiny), chunk('IDAT', deflateSync(Buffer.from([0, 1, 2, 3, 4, 5, 6, 0, 7, 8, 9, 10, 11, 12])).subarray(0, 8)), iend]));
    expect(fs.statSync(headerOnly).size).toBe(65);
    expect(await problem(headerOnly)).toMatchObject({ kind: 'corrupt', reason: expect.stringMatching(/^PNG image data incomplete: it holds \d+ of the 14 bytes of pixels its header promises/) });
    // Far too little data for its size, found without inflating it.
    const scrap = write('scrap.png', chunk('IDAT', data.subarray(0, 8)), iend);
    expect(await problem(scrap)).toMatchObject({ kind: 'corrupt', reason: 'PNG image data incomplete: 8 compressed bytes cannot hold the 9264 bytes of pixels its header promises' });
    const empty = write('empty-idat.png', chunk('IDAT', Buffer.alloc(0)), iend);
    expect(await problem(empty)).toMatchObject({ kind: 'corrupt', reason: expect.stringMatching(/no IDAT chunk with pixels/) });
    const noIdat = write('no-idat.png', chunk('tEXt', Buffer.from('a\0bcdefg')), iend);
    expect(await problem(noIdat)).toMatchObject({ kind: 'corrupt' });
    const half = write('half-rows.png', chunk('IDAT', deflateSync(rows.subarray(0, rows.length / 2))), iend);
    expect(await problem(half)).toMatchObject({ kind: 'corrupt', reason: `PNG image data incomplete: it holds ${rows.length / 2} of the ${rows.length} bytes of pixels its header promises` });
    const garbage = write('garbage-data.png', chunk('IDAT', Buffer.from('not a zlib stream at all')), iend);
    expect(await problem(garbage)).toMatchObject({ kind: 'corrupt', reason: expect.stringMatching(/cannot be decompressed/) });
    // A large image is not inflated to check it, but its data cannot be far shorter than deflate allows.
    const bigHeader = Buffer.from(ihdr);
    bigHeader.writeUInt32BE(4000, 0);
    bigHeader.writeUInt32BE(4000, 4);
    const bigFile = path.join(dir, 'big-short.png');
    fs.writeFileSync(bigFile, Buffer.concat([sig, chunk('IHDR', bigHeader), chunk('IDAT', deflateSync(Buffer.alloc(4000 * 12001, 1)).subarray(0, 1000)), iend]));
    expect(await problem(bigFile)).toMatchObject({ kind: 'corrupt', reason: 'PNG image data incomplete: 1000 compressed bytes cannot hold the 48004000 bytes of pixels its header promises' });
    // Each of them is what a thumbnail then fails on.
    for (const f of [headerOnly, scrap, empty, noIdat, half, garbage, bigFile]) await expect(sharp(f).resize(8).toBuffer()).rejects.toThrow();

    // Whole ones in one IDAT or several, interlaced, palette and 16-bit are still accepted.
    expect(await ok(write('whole.png', chunk('IDAT', data), iend))).toMatchObject({ width: 64, height: 48 });
    expect(await ok(write('split.png', chunk('IDAT', data.subarray(0, 9)), chunk('IDAT', data.subarray(9)), iend))).toMatchObject({ width: 64 });
    const img = () => sharp({ create: { width: 333, height: 211, channels: 4, background: { r: 10, g: 200, b: 30, alpha: 0.5 } } });
    for (const [name, png] of [
      ['interlaced.png', img().png({ progressive: true })],
      ['palette.png', img().png({ palette: true })],
      ['rgb16.png', img().toColourspace('rgb16').png()],
    ] as const) {
      const f = path.join(dir, name);
      await png.toFile(f);
      expect(await ok(f)).toMatchObject({ width: 333, height: 211 });
    }
  });

  it('refuses a decompression bomb from its header alone', async () => {
    // A PNG header that claims 200,000 x 200,000 pixels (40 gigapixels), with no pixel data.
    const sig = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    const ihdr = Buffer.alloc(25);
    ihdr.writeUInt32BE(13, 0);
    ihdr.write('IHDR', 4, 'ascii');
    ihdr.writeUInt32BE(200_000, 8);
    ihdr.writeUInt32BE(200_000, 12);
    ihdr[16] = 8; // bit depth
    ihdr[17] = 2; // RGB
    const { crc32 } = await import('node:zlib');
    ihdr.writeUInt32BE(crc32(ihdr.subarray(4, 21)) >>> 0, 21);
    const bomb = path.join(dir, 'bomb.png');
    fs.writeFileSync(bomb, Buffer.concat([sig, ihdr]));
    const p = await problem(bomb);
    expect(p.kind).toBe('too_large');
    expect(p.reason).toContain('200000x200000');
    // The limit is configurable.
    expect((await problem(files['a.jpg']!, 1000)).kind).toBe('too_large');
  });

  it('reads the 16-bit stardist TIFF and the multi-sample GeoTIFFs from the shared data', async () => {
    const stardist = sharedPath('datasets/tiff16_stardist_dsb2018/img2d.tif');
    if (!stardist) return;
    expect(await ok(stardist)).toMatchObject({ width: 512, height: 512, bitDepth: 16, format: 'tiff' });
    const rgba16 = sharedPath('datasets/geotiff_rasterio/RGBA.uint16.tif');
    if (!rgba16) return;
    expect(await ok(rgba16)).toMatchObject({ channels: 4, bitDepth: 16 });
  });
});

/** An uncompressed little-endian TIFF of 8-bit grey pages of the given [width, height], one strip each. */
function greyTiff(pages: [number, number][]): Buffer {
  const ENTRIES = 9;
  const ifdSize = 2 + ENTRIES * 12 + 4;
  const pixels = pages.map(([w, h]) => w * h);
  const total = 8 + pages.reduce((n, _, i) => n + ifdSize + pixels[i]!, 0);
  const b = Buffer.alloc(total);
  b.write('II', 0, 'latin1');
  b.writeUInt16LE(42, 2);
  let at = 8;
  b.writeUInt32LE(at, 4);
  pages.forEach(([w, h], i) => {
    const ifd = at;
    const data = ifd + ifdSize;
    const next = i + 1 < pages.length ? data + pixels[i]! : 0;
    const tags: [number, number, number][] = [
      [256, 3, w], [257, 3, h], [258, 3, 8], [259, 3, 1], [262, 3, 1], [273, 4, data], [277, 3, 1], [278, 3, h], [279, 4, pixels[i]!],
    ];
    b.writeUInt16LE(ENTRIES, ifd);
    tags.forEach(([tag, type, value], k) => {
      const e = ifd + 2 + k * 12;
      b.writeUInt16LE(tag, e);
      b.writeUInt16LE(type, e + 2);
      b.writeUInt32LE(1, e + 4);
      if (type === 3) b.writeUInt16LE(value, e + 8);
      else b.writeUInt32LE(value, e + 8);
    });
    b.writeUInt32LE(next, ifd + 2 + ENTRIES * 12);
    b.fill(i * 60 + 40, data, data + pixels[i]!);
    at = data + pixels[i]!;
  });
  return b;
}
