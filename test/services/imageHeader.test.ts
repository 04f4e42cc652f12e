import fs from 'node:fs';
import path from 'node:path';
import sharp, { type Sharp } from 'sharp';
import { describe, expect, it } from 'vitest';
import { readHeader, type HeaderInfo } from '../../src-main/services/imageHeader';
import { probeImage, type ProbeResult } from '../../src-main/services/probe';
import { sharedPath, tempDir } from '../helpers/shared';

const LIMIT = { maxPixels: 2_500_000_000 };

/** A 37 x 23 picture with some detail, so every encoder has something to code. */
function picture(channels: 1 | 3 | 4 = 3): Sharp {
  const w = 37;
  const h = 23;
  const px = Buffer.alloc(w * h * channels);
  for (let i = 0; i < px.length; i++) px[i] = (i * 37 + (i >> 5) * 11) & 0xff;
  return sharp(px, { raw: { width: w, height: h, channels } });
}

async function variants(): Promise<[string, Buffer][]> {
  const out: [string, Buffer][] = [
    ['png rgb', await picture(3).png().toBuffer()],
    ['png rgba', await picture(4).png().toBuffer()],
    ['png grey', await picture(1).png().toBuffer()],
    ['png grey 16-bit', await picture(1).toColourspace('grey16').png().toBuffer()],
    ['png rgb 16-bit', await picture(3).toColourspace('rgb16').png().toBuffer()],
    ['png palette', await picture(3).png({ palette: true }).toBuffer()],
    ['png palette with transparency', await picture(4).png({ palette: true }).toBuffer()],
    ['png 1-bit palette', await picture(3).png({ palette: true, colours: 2 }).toBuffer()],
    ['png interlaced', await picture(3).png({ progressive: true }).toBuffer()],
    ['jpeg rgb', await picture(3).jpeg().toBuffer()],
    ['jpeg grey', await picture(1).jpeg().toBuffer()],
    ['jpeg progressive', await picture(3).jpeg({ progressive: true }).toBuffer()],
    ['jpeg 4:4:4', await picture(3).jpeg({ chromaSubsampling: '4:4:4' }).toBuffer()],
  ];
  for (let o = 1; o <= 8; o++) out.push([`jpeg EXIF orientation ${o}`, await picture(3).jpeg().withMetadata({ orientation: o }).toBuffer()]);
  return out;
}

/** What libvips reports, and the size of the fully decoded image as displayed (EXIF-rotated). */
async function decoded(b: Buffer): Promise<{ width: number; height: number; channels: number; bitDepth: number; orientation: number }> {
  const meta = await sharp(b).metadata();
  const { info } = await sharp(b).rotate().raw({ depth: meta.depth === 'ushort' ? 'ushort' : 'uchar' }).toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, channels: meta.channels!, bitDepth: meta.depth === 'ushort' ? 16 : 8, orientation: meta.orientation ?? 1 };
}

function displayed(h: HeaderInfo) {
  const swap = h.orientation >= 5;
  return { width: swap ? h.height : h.width, height: swap ? h.width : h.height, channels: h.channels, bitDepth: h.bitDepth, orientation: h.orientation };
}

describe('image sizes from file headers', () => {
  it('equal the decoded sizes, bands, depth and orientation for PNG and JPEG variants, EXIF-rotated JPEGs included', async () => {
    const dir = tempDir();
    for (const [name, bytes] of await variants()) {
      const h = readHeader(bytes);
      expect(h, name).not.toBeNull();
      expect(h && 'reason' in h ? h.reason : null, name).toBeNull();
      const want = await decoded(bytes);
      expect(displayed(h as HeaderInfo), name).toEqual(want);
      // probeImage answers from the header and gives the same.
      const file = path.join(dir, `${name.replace(/[^a-z0-9]+/gi, '_')}.${name.startsWith('png') ? 'png' : 'jpg'}`);
      fs.writeFileSync(file, bytes);
      const r = await probeImage(file, LIMIT);
      expect(r.ok, name).toBe(true);
      expect((r as { value: ProbeResult }).value, name).toMatchObject(want);
    }
    // The rotated ones really are turned: 37 x 23 stored, 23 x 37 displayed.
    const six = readHeader((await variants()).find(([n]) => n === 'jpeg EXIF orientation 6')![1]) as HeaderInfo;
    expect(displayed(six)).toMatchObject({ width: 23, height: 37, orientation: 6 });
  });

  it('equal the decoded sizes for every image of the COCO sample', async () => {
    const dir = sharedPath('datasets/coco_tinycoco/images');
    if (!dir) return;
    const files: string[] = [];
    const walk = (d: string) => {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) {
        if (e.isDirectory()) walk(path.join(d, e.name));
        else if (/\.(jpe?g|png)$/i.test(e.name)) files.push(path.join(d, e.name));
      }
    };
    walk(dir);
    expect(files.length).toBeGreaterThan(10);
    for (const f of files) {
      const bytes = fs.readFileSync(f);
      const h = readHeader(bytes);
      expect(h && !('reason' in h), f).toBe(true);
      expect(displayed(h as HeaderInfo), f).toEqual(await decoded(bytes));
    }
  });

  it('leaves faulty headers to libvips, and a cut or damaged file is still refused with its reason', async () => {
    const dir = tempDir();
    const png = await picture(3).png().toBuffer();
    const jpg = await picture(3).jpeg().toBuffer();
    const badCrc = Buffer.from(png);
    badCrc[20] = badCrc[20]! ^ 0x01; // height changed, IHDR checksum now wrong
    expect(readHeader(badCrc)).toEqual({ reason: 'corrupt PNG: IHDR checksum mismatch' });
    const cases: [string, Buffer, RegExp][] = [
      ['cut.png', png.subarray(0, png.length - 20), /truncated PNG/],
      ['cut.jpg', jpg.subarray(0, jpg.length - 40), /truncated JPEG/],
      ['crc.png', badCrc, /./],
    ];
    for (const [name, bytes, reason] of cases) {
      const file = path.join(dir, name);
      fs.writeFileSync(file, bytes);
      const r = await probeImage(file, LIMIT);
      expect(r.ok, name).toBe(false);
      expect((r as { problem: { reason: string } }).problem.reason, name).toMatch(reason);
    }
  });
});
