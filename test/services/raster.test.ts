import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ImageRecord } from '../../src-main/common/model';
import { getImage } from '../../src-main/db/images';
import { Dataset } from '../../src-main/services/dataset';
import { importImages } from '../../src-main/services/importer';
import { readRaster } from '../../src-main/services/raster';
import { makeImages } from '../helpers/images';
import { sharedPath, tempDir } from '../helpers/shared';

let ds: Dataset;

async function image(name: string, d: Dataset = ds): Promise<ImageRecord> {
  const id = await d.db.prepare('SELECT id FROM images WHERE path LIKE ?').pluck().get(`%${name}`) as number;
  const im = await getImage(d.db, id);
  if (!im) throw new Error(`no image ${name}`);
  return im;
}

beforeAll(async () => {
  const root = tempDir();
  ds = await Dataset.create(path.join(root, 'set.tessera'));
  await makeImages(path.join(root, 'imgs'));
  await importImages(ds, { paths: [path.join(root, 'imgs')] });
});
afterAll(async () => await ds.close());

describe('readRaster (ordinary files)', () => {
  it('gives 8-bit RGB bytes in the oriented size', async () => {
    const r = await readRaster(ds, await image('g-rot.jpg'));
    expect([r.width, r.height, r.channels, r.bitDepth]).toEqual([20, 60, 3, 8]);
    expect(r.data).toBeInstanceOf(Uint8Array);
    expect(r.data.length).toBe(20 * 60 * 3);
  });

  it('keeps 16-bit samples of a 16-bit PNG', async () => {
    const r = await readRaster(ds, await image('d16.png'));
    expect(r.data).toBeInstanceOf(Uint16Array);
    expect(r.channels).toBe(1);
    // The file holds i % 236 for pixel i.
    expect(Array.from(r.data.slice(0, 3))).toEqual([0, 1, 2]);
    expect(r.data[300]).toBe(300 % 236);
  });

  it('reads each page of a multi-page TIFF and refuses frames that do not exist', async () => {
    const im = await image('f-pages.tif');
    const p0 = await readRaster(ds, im, 0);
    const p2 = await readRaster(ds, im, 2);
    expect(p0.data[0]).toBe(40);
    expect(p2.data[0]).toBe(120);
    await expect(readRaster(ds, im, 3)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('decodes BMP', async () => {
    const r = await readRaster(ds, await image('h.bmp'));
    expect([r.width, r.height, r.channels]).toEqual([8, 4, 3]);
  });

  it('reads the stardist 16-bit TIFF at full depth', async () => {
    const dir = sharedPath('datasets/tiff16_stardist_dsb2018');
    if (!dir) return;
    const root = tempDir();
    const d = await Dataset.create(path.join(root, 's.tessera'), dir);
    try {
      await importImages(d, { paths: [dir] });
      const r = await readRaster(d, await image('img2d.tif', d));
      expect(r.data).toBeInstanceOf(Uint16Array);
      let max = 0;
      for (const v of r.data) max = Math.max(max, v);
      expect(max).toBeGreaterThan(0);
    } finally {
      await d.close();
    }
  });
});
