import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ImageRecord } from '../../src-main/common/model';
import { levelScale, levelSize, pyramidLevels, tileGrid, totalTiles } from '../../src-main/common/pyramid';
import { resolveMedia } from '../../src-main/services/mediaRoute';
import { isTiledTiff, TILE_SIZE } from '../../src-main/services/pyramid';
import type { Workspace } from '../../src-main/services/workspace';
import { sharedPath, tempDir } from '../helpers/shared';
import { newWorkspace, ok } from '../helpers/workspace';

const W = 9000;
const H = 7000;

/**
 * A gradient with a coarse checkerboard and a few solid marks, so each tile has content of its
 * own and a misplaced or mis-scaled tile shows up as a large difference.
 */
function pattern(): Buffer {
  const px = Buffer.alloc(W * H * 3);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const i = (y * W + x) * 3;
      px[i] = Math.round((x * 255) / (W - 1));
      px[i + 1] = Math.round((y * 255) / (H - 1));
      px[i + 2] = ((x >> 9) + (y >> 9)) & 1 ? 220 : 30;
    }
  }
  for (const [mx, my] of [[1000, 800], [6100, 5300], [8800, 6900]] as const) {
    for (let y = my; y < Math.min(H, my + 90); y++) px.fill(255, (y * W + mx) * 3, (y * W + Math.min(W, mx + 150)) * 3);
  }
  return px;
}

let dir: string;
let ws: Workspace;
let imageId: number;
let source: Buffer;
const savedThreshold = process.env['TESSERA_PYRAMID_PIXELS'];

beforeAll(async () => {
  process.env['TESSERA_PYRAMID_PIXELS'] = String(50_000_000);
  dir = tempDir();
  source = pattern();
  fs.mkdirSync(path.join(dir, 'imgs'));
  await sharp(source, { raw: { width: W, height: H, channels: 3 } })
    .tiff({ compression: 'jpeg', quality: 95, tile: true })
    .toFile(path.join(dir, 'imgs', 'field.tif'));
  // The reference is what the file decodes to, so the source's own compression does not count.
  source = await sharp(path.join(dir, 'imgs', 'field.tif'), { limitInputPixels: false }).raw().toBuffer();
  ws = newWorkspace(dir);
  await ok(ws, 'dataset:create', { path: path.join(dir, 'd.tessera'), root: dir });
  await ok(ws, 'images:import', { jobId: 'imp', paths: [path.join(dir, 'imgs')] });
  imageId = (await ok(ws, 'images:list', {})).items[0]!.id;
}, 60_000);

afterAll(async () => {
  await ws?.close();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
  if (savedThreshold === undefined) delete process.env['TESSERA_PYRAMID_PIXELS'];
  else process.env['TESSERA_PYRAMID_PIXELS'] = savedThreshold;
});

/** Mean of the source's s x s blocks: an independent box-filter downscale of one tile's area. */
function expectedTile(level: number, levels: number, col: number, row: number, tw: number, th: number): Float64Array {
  const s = levelScale({ width: W, height: H, tileSize: TILE_SIZE, levels }, level);
  const out = new Float64Array(tw * th * 3);
  for (let ty = 0; ty < th; ty++) {
    const y0 = (row * TILE_SIZE + ty) * s;
    const y1 = Math.min(H, y0 + s);
    for (let tx = 0; tx < tw; tx++) {
      const x0 = (col * TILE_SIZE + tx) * s;
      const x1 = Math.min(W, x0 + s);
      let r = 0;
      let g = 0;
      let b = 0;
      for (let y = y0; y < y1; y++) {
        for (let x = x0; x < x1; x++) {
          const i = (y * W + x) * 3;
          r += source[i]!;
          g += source[i + 1]!;
          b += source[i + 2]!;
        }
      }
      const n = (y1 - y0) * (x1 - x0);
      const o = (ty * tw + tx) * 3;
      out[o] = r / n;
      out[o + 1] = g / n;
      out[o + 2] = b / n;
    }
  }
  return out;
}

describe('tile pyramid', () => {
  it('tells small images from those shown from tiles', async () => {
    const info = await ok(ws, 'images:pyramid', { imageId });
    expect(info).toMatchObject({ state: 'missing', width: W, height: H, tileSize: TILE_SIZE, levels: pyramidLevels(W, H, TILE_SIZE) });
    process.env['TESSERA_PYRAMID_PIXELS'] = String(W * H + 1);
    // A tiled TIFF longer than 4096 px still gets one below the pixel threshold.
    expect(isTiledTiff(path.join(dir, 'imgs', 'field.tif'))).toBe(true);
    expect((await ok(ws, 'images:pyramid', { imageId })).state).toBe('missing');
    process.env['TESSERA_PYRAMID_PIXELS'] = String(50_000_000);
  });

  it('a cancelled build leaves no pyramid that could be used', async () => {
    const seen: number[] = [];
    const pyramids = ws.pyramidsFor();
    const build = pyramids.ensure(imageId, {
      onProgress: (p) => seen.push(p.done),
      isCancelled: () => seen.length > 0,
    });
    await expect(build).rejects.toMatchObject({ code: 'CANCELLED' });
    expect((await ok(ws, 'images:pyramid', { imageId })).state).toBe('missing');
    const cache = path.join(ws.current!.cacheDir, 'pyramid');
    const left = fs.existsSync(cache) ? fs.readdirSync(cache, { recursive: true }).map(String) : [];
    expect(left.filter((f) => f.endsWith('pyramid.json') || f.includes('.build-'))).toEqual([]);
    const r = await resolveMedia(ws, `tile/${await ws.mediaKey(imageId)}/0/0/0`);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.code).toBe('NOT_FOUND');
  });

  it('builds with progress, and every level matches a downscale of the source', async () => {
    const events: { done: number; total: number }[] = [];
    // What a killed build left behind (its process is gone) is removed by the next build.
    const hash = (await ok(ws, 'images:get', { id: imageId })).contentHash;
    const abandoned = path.join(ws.current!.cacheDir, 'pyramid', hash.slice(0, 2), `${hash}.build-999999999-dead`);
    fs.mkdirSync(path.join(abandoned, 'p_files', '0'), { recursive: true });
    const pyramids = ws.pyramidsFor();
    const info = await pyramids.ensure(imageId, { onProgress: (p) => events.push({ done: p.done, total: p.total }) });
    expect(info.state).toBe('ready');
    expect(fs.existsSync(abandoned)).toBe(false);
    const g = { width: W, height: H, tileSize: TILE_SIZE, levels: info.levels };
    expect(events.length).toBeGreaterThan(1);
    expect(events.every((e) => e.total === totalTiles(g))).toBe(true);
    for (let i = 1; i < events.length; i++) expect(events[i]!.done).toBeGreaterThanOrEqual(events[i - 1]!.done);
    expect(events.at(-1)!.done).toBe(totalTiles(g));

    for (let level = 0; level < info.levels; level++) {
      const grid = tileGrid(g, level);
      const size = levelSize(g, level);
      // The first tile, the middle one and the bottom-right (partial) one.
      const picks = new Map<string, [number, number]>();
      for (const [c, r] of [[0, 0], [grid.cols >> 1, grid.rows >> 1], [grid.cols - 1, grid.rows - 1]] as const) picks.set(`${c},${r}`, [c, r]);
      for (const [col, row] of picks.values()) {
        const r = await resolveMedia(ws, `tile/${await ws.mediaKey(imageId)}/${level}/${col}/${row}`);
        if (!r.ok) throw new Error(r.error.message);
        expect(r.mime).toBe('image/jpeg');
        const { data, info: t } = await sharp(r.file).removeAlpha().raw().toBuffer({ resolveWithObject: true });
        expect([t.width, t.height]).toEqual([Math.min(TILE_SIZE, size.width - col * TILE_SIZE), Math.min(TILE_SIZE, size.height - row * TILE_SIZE)]);
        const want = expectedTile(level, info.levels, col, row, t.width, t.height);
        let diff = 0;
        for (let i = 0; i < want.length; i++) diff += Math.abs(data[i]! - want[i]!);
        const mean = diff / want.length;
        expect(mean, `level ${level} tile ${col},${row}`).toBeLessThan(4);
      }
    }
    // Served again without a rebuild.
    expect((await ok(ws, 'images:buildPyramid', { jobId: 'again', imageId })).state).toBe('ready');
  });

  it('shows a 16-bit image holding only 0..235 through the automatic window, not black or white', async () => {
    const ext = 'png';
    const w = 1200;
    const h = 700;
    const px = new Uint16Array(w * h);
    for (let i = 0; i < px.length; i++) px[i] = Math.round(((i % w) * 235) / (w - 1));
    const file = path.join(dir, 'imgs', `dim16.${ext}`);
    // A Uint16Array gives sharp 16-bit samples.
    const grey = sharp(px, { raw: { width: w, height: h, channels: 1 } }).toColourspace('grey16');
    await (ext === 'png' ? grey.png() : grey.tiff()).toFile(file);
    await ok(ws, 'images:import', { jobId: `imp16${ext}`, paths: [file] });
    const id = (await ok(ws, 'images:list', {})).items.find((it) => it.path.endsWith(`dim16.${ext}`))!.id;
    process.env['TESSERA_PYRAMID_PIXELS'] = String(w * h);
    try {
      const info = await ok(ws, 'images:buildPyramid', { jobId: `p16${ext}`, imageId: id });
      expect(info).toMatchObject({ state: 'ready', levels: pyramidLevels(w, h, TILE_SIZE) });
      // Shown from tiles, so its display window comes from a reduced copy, not a whole decode.
      expect(ws.mediaFor().isLarge((await ok(ws, 'images:get', { id })) as unknown as ImageRecord)).toBe(true);
      const win = await ok(ws, 'imaging:getWindow', { imageId: id });
      expect(win.range!.high).toBeGreaterThanOrEqual(230);
      expect(win.range!.high).toBeLessThanOrEqual(235);
      const r = await resolveMedia(ws, `tile/${await ws.mediaKey(id)}/${info.levels - 1}/4/1`);
      if (!r.ok) throw new Error(r.error.message);
      // Columns 1024..1199: input 200..235, the top of the window, so near white.
      const stats = await sharp(r.file).stats();
      expect(stats.channels[0]!.mean).toBeGreaterThan(200);
      // Columns 0..255: input 0..50, the bottom fifth of the window: dark, but not all black.
      const left = await resolveMedia(ws, `tile/${await ws.mediaKey(id)}/${info.levels - 1}/0/0`);
      if (!left.ok) throw new Error(left.error.message);
      const l = (await sharp(left.file).stats()).channels[0]!;
      expect(l.max).toBeGreaterThan(40);
      expect(l.min).toBeLessThan(10);
      expect(l.mean).toBeLessThan(80);
    } finally {
      process.env['TESSERA_PYRAMID_PIXELS'] = String(50_000_000);
    }
  });

  it('tiles a real 16-bit grey TIFF through the same window as its view', async () => {
    const src = sharedPath('datasets/tiff16_stardist_dsb2018/img2d.tif');
    if (!src) return;
    const file = path.join(dir, 'imgs', 'stardist16.tif');
    fs.copyFileSync(src, file);
    await ok(ws, 'images:import', { jobId: 'impsd', paths: [file] });
    const im = (await ok(ws, 'images:list', {})).items.find((it) => it.path.endsWith('stardist16.tif'))!;
    process.env['TESSERA_PYRAMID_PIXELS'] = String(im.width * im.height);
    try {
      const info = await ok(ws, 'images:buildPyramid', { jobId: 'psd', imageId: im.id });
      const view = await resolveMedia(ws, `view/${await ws.mediaKey(im.id)}`);
      const tile = await resolveMedia(ws, `tile/${await ws.mediaKey(im.id)}/${info.levels - 1}/0/0`);
      if (!view.ok || !tile.ok) throw new Error('no view or tile');
      const a = await sharp(view.file).extract({ left: 0, top: 0, width: TILE_SIZE, height: TILE_SIZE }).greyscale().raw().toBuffer();
      const b = await sharp(tile.file).greyscale().raw().toBuffer();
      let diff = 0;
      for (let i = 0; i < a.length; i++) diff += Math.abs(a[i]! - b[i]!);
      // JPEG tiles of a noisy microscopy image: a few levels of compression error, nothing more.
      expect(diff / a.length).toBeLessThan(6);
      const st = (await sharp(tile.file).stats()).channels[0]!;
      expect(st.mean).toBeGreaterThan(5);
      expect(st.mean).toBeLessThan(250);
    } finally {
      process.env['TESSERA_PYRAMID_PIXELS'] = String(50_000_000);
    }
  });

  it('never routes DICOM or BMP to a pyramid, whatever its size (libvips cannot read them)', async () => {
    const im = { ...(await ok(ws, 'images:get', { id: imageId })) } as unknown as ImageRecord;
    const pyramids = ws.pyramidsFor();
    expect(pyramids.needsPyramid(im)).toBe(true);
    expect(pyramids.needsPyramid({ ...im, format: 'dicom', width: 12_000, height: 12_000 })).toBe(false);
    expect(pyramids.needsPyramid({ ...im, format: 'bmp', width: 12_000, height: 12_000 })).toBe(false);
  });

  it('a 16-bit file that fails to decode gives CORRUPT_IMAGE and leaves no build folder', async () => {
    const w = 600;
    const h = 400;
    const px = new Uint16Array(w * h);
    for (let i = 0; i < px.length; i++) px[i] = (i * 7919) % 60000;
    const file = path.join(dir, 'imgs', 'broken16.png');
    await sharp(px, { raw: { width: w, height: h, channels: 1 } }).toColourspace('grey16').png().toFile(file);
    await ok(ws, 'images:import', { jobId: 'impbroken', paths: [file] });
    const id = (await ok(ws, 'images:list', {})).items.find((it) => it.path.endsWith('broken16.png'))!.id;
    const im = await ok(ws, 'images:get', { id });
    // Garbage over the compressed pixels, with size and time kept, so the file still counts as imported.
    const st = fs.statSync(file);
    const bytes = fs.readFileSync(file);
    bytes.fill(0xa5, 200, bytes.length - 100);
    fs.writeFileSync(file, bytes);
    fs.utimesSync(file, st.atime, st.mtime);
    process.env['TESSERA_PYRAMID_PIXELS'] = String(w * h);
    try {
      await expect(ws.pyramidsFor().ensure(im.id)).rejects.toMatchObject({ code: 'CORRUPT_IMAGE' });
      const cache = path.join(ws.current!.cacheDir, 'pyramid', im.contentHash.slice(0, 2));
      const left = fs.existsSync(cache) ? fs.readdirSync(cache).filter((f) => f.startsWith(im.contentHash)) : [];
      expect(left).toEqual([]);
    } finally {
      process.env['TESSERA_PYRAMID_PIXELS'] = String(50_000_000);
    }
  });

  it('serves only tile addresses inside the grid', async () => {
    // Built here unless an earlier test already did, so this test also runs on its own.
    const info = await ws.pyramidsFor().ensure(imageId);
    expect(info.state).toBe('ready');
    const g = { width: W, height: H, tileSize: TILE_SIZE, levels: info.levels };
    const top = info.levels - 1;
    const grid = tileGrid(g, top);
    for (const [p, status] of [
      [`tile/${await ws.mediaKey(imageId)}/${info.levels}/0/0`, 400],
      [`tile/${await ws.mediaKey(imageId)}/${top}/${grid.cols}/0`, 400],
      [`tile/${await ws.mediaKey(imageId)}/${top}/0/${grid.rows}`, 400],
      [`tile/${await ws.mediaKey(imageId)}/${top}/../../x`, 400],
      [`tile/${await ws.mediaKey(imageId)}/-1/0/0`, 400],
      [`tile/${await ws.mediaKey(imageId)}/${top}/0/0.jpeg`, 400],
      [`tile/${(await ws.mediaKey(imageId)).replace(/\/\d+\//, `/${imageId + 1000}/`)}/0/0/0`, 404],
    ] as const) {
      const r = await resolveMedia(ws, p);
      expect(r.ok, p).toBe(false);
      if (!r.ok) expect(r.status, p).toBe(status);
    }
    const r = await resolveMedia(ws, `tile/${await ws.mediaKey(imageId)}/${top}/${grid.cols - 1}/${grid.rows - 1}`);
    expect(r.ok).toBe(true);
    if (r.ok) expect(path.relative(ws.current!.cacheDir, r.file).startsWith('..')).toBe(false);
  });
});
