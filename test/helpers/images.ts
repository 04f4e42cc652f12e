import fs from 'node:fs';
import path from 'node:path';
import sharp, { type Sharp } from 'sharp';
import { encode as encodeBmp } from 'fast-bmp';
import type { NewImage } from '../../src-main/db/images';

/** Small real image files of every supported kind, made with sharp (and fast-bmp for BMP). */
export async function makeImages(dir: string): Promise<Record<string, string>> {
  fs.mkdirSync(dir, { recursive: true });
  const rgb = (w: number, h: number, seed: number) =>
    sharp({ create: { width: w, height: h, channels: 3, background: { r: seed % 256, g: (seed * 7) % 256, b: (seed * 13) % 256 } } });
  const files: Record<string, string> = {};
  const put = async (name: string, img: Sharp | Buffer) => {
    const p = path.join(dir, name);
    if (Buffer.isBuffer(img)) fs.writeFileSync(p, img);
    else await img.toFile(p);
    files[name] = p;
  };
  await put('a.jpg', rgb(64, 48, 1).jpeg());
  await put('b.png', rgb(40, 30, 2).png());
  await put('c.webp', rgb(32, 32, 3).webp());
  // 16-bit grey PNG whose values only span 0..235, like fluorescence microscopy.
  const g16 = new Uint16Array(50 * 20);
  for (let i = 0; i < g16.length; i++) g16[i] = i % 236;
  const grey16 = () => sharp(g16, { raw: { width: 50, height: 20, channels: 1 } }).toColourspace('grey16');
  await put('d16.png', grey16().png());
  await put('e8.tif', grey16().tiff()); // sharp writes TIFF at 8 bits; 16-bit TIFF comes from ../shared
  // A 3-page TIFF, each page 20 x 10.
  const pages = await Promise.all([1, 2, 3].map((i) => rgb(20, 10, i * 40).png().toBuffer()));
  await put('f-pages.tif', sharp(pages, { join: { animated: true } }).tiff());
  // Stored 60 wide and 20 tall; EXIF orientation 6 means it is shown rotated: 20 wide, 60 tall.
  await put('g-rot.jpg', rgb(60, 20, 5).jpeg().withMetadata({ orientation: 6 }));
  const bmpData = new Uint8Array(8 * 4 * 3);
  for (let i = 0; i < bmpData.length; i++) bmpData[i] = (i * 5) % 256;
  await put('h.bmp', Buffer.from(encodeBmp({ width: 8, height: 4, channels: 3, components: 3, bitsPerPixel: 24, data: bmpData })));
  return files;
}

/**
 * Rows for `insertImages` standing for `n` images that are never read from disk (tests of the
 * store and of services working on vectors, tags or splits): image i is named `pathOf(i + from)`
 * with content hash `h${i + from}`, `size` pixels square.
 */
export function imageRows(n: number, opts: { pathOf?: (i: number) => string; from?: number; size?: number } = {}): NewImage[] {
  const { pathOf = (i: number) => `img/${i}.png`, from = 0, size = 10 } = opts;
  return Array.from({ length: n }, (_, k) => {
    const i = k + from;
    const name = pathOf(i);
    return {
      path: name,
      external: false,
      contentHash: `h${i}`,
      fileSize: 1,
      fileMtimeMs: 1,
      width: size,
      height: size,
      channels: 3,
      bitDepth: 8,
      format: name.endsWith('.jpg') ? 'jpeg' : 'png',
      frames: 1,
      orientation: 1,
    };
  });
}
