import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { jpegFrameHeader, jpegFrameSize } from '../../../src-main/common/imaging/jpeg';

async function jpeg(width: number, height: number, progressive: boolean): Promise<Uint8Array> {
  const buf = await sharp({ create: { width, height, channels: 3, background: { r: 200, g: 10, b: 90 } } })
    .jpeg({ progressive, quality: 80 })
    .withMetadata({ exif: { IFD0: { ImageDescription: 'an APP1 segment before the frame header' } } })
    .toBuffer();
  return new Uint8Array(buf);
}

describe('jpegFrameSize', () => {
  it('reads the size libvips reads, for baseline and progressive streams with segments before the frame', async () => {
    for (const [w, h, progressive] of [[37, 11, false], [640, 480, true], [1, 60000, false]] as const) {
      const b = await jpeg(w, h, progressive);
      const meta = await sharp(b).metadata();
      expect(jpegFrameSize(b)).toEqual({ width: meta.width, height: meta.height });
      const at = jpegFrameHeader(b);
      expect(b[at]).toBe(0xff);
      expect(b[at + 1]).toBe(progressive ? 0xc2 : 0xc0);
      expect(b[at + 4]).toBe(8);
    }
  });

  it('finds a JPEG-LS SOF55 frame header', () => {
    // SOI, SOF55 (length 11, precision 12, 300 lines, 200 columns, 1 component), then SOS.
    const b = Uint8Array.from([0xff, 0xd8, 0xff, 0xf7, 0x00, 0x0b, 0x0c, 0x01, 0x2c, 0x00, 0xc8, 0x01, 0x01, 0x11, 0x00, 0xff, 0xda]);
    expect(jpegFrameSize(b)).toEqual({ width: 200, height: 300 });
    expect(b[jpegFrameHeader(b) + 4]).toBe(12);
  });

  it('is null without SOI, with a height left to DNL, when the scan comes first or the stream is cut', async () => {
    const b = await jpeg(64, 48, false);
    expect(jpegFrameSize(b.subarray(2))).toBeNull();
    const dnl = b.slice();
    const at = jpegFrameHeader(dnl);
    dnl[at + 5] = 0;
    dnl[at + 6] = 0;
    expect(jpegFrameSize(dnl)).toBeNull();
    expect(jpegFrameSize(b.subarray(0, at + 6))).toBeNull();
    const scanFirst = Uint8Array.from([0xff, 0xd8, 0xff, 0xda, 0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x3f, 0x00, 0xff, 0xc0, 0x00, 0x0b, 0x08, 0x00, 0x10, 0x00, 0x10]);
    expect(jpegFrameHeader(scanFirst)).toBe(-1);
    expect(jpegFrameSize(Uint8Array.from([0xff, 0xd8, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0]))).toBeNull();
  });
});
