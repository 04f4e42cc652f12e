import type { JobProgress } from '../../src-main/common/model';
import fs from 'node:fs';
import path from 'node:path';
import sharp, { type Sharp } from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeMask } from '../../src-main/common/geometry/rle';
import type { SegmentBox, SegmentMask, SegmentPoint, SegmentRegion } from '../../src-main/common/segment';
import { insertAnnotations } from '../../src-main/db/annotations';
import { insertModelRun } from '../../src-main/db/modelRuns';
import { getModelRun } from '../../src-main/db/prelabel';
import { levelForRegion, regionFromLevel, saveSegment, Segmenter } from '../../src-main/services/segment';
import { listClasses } from '../../src-main/db/classes';
import { defaultSamManifestDir, SamModelRegistry } from '../../src-main/services/samModels';
import type { Workspace } from '../../src-main/services/workspace';
import { fails, newWorkspace, ok } from '../helpers/workspace';
import { FLOAT, INT64, onnxModel } from '../helpers/onnxModel';
import { threeMaskDecoder } from '../helpers/samFamilyModels';
import { sharedPath, tempDir } from '../helpers/shared';

const pair = sharedPath('models/sam_contract');
const dicomDir = sharedPath('datasets/dicom_pydicom');

/** A SAM-contract manifest over the shared pair, registered as a custom model of `configDir`. */
export function registerContractPair(configDir: string, id = 'sam-contract'): string {
  const manifest = {
    id,
    name: 'SAM contract',
    task: 'interactive',
    family: 'sam',
    encoder: { file: path.join(pair!, 'sam_contract_encoder.onnx') },
    decoder: { file: path.join(pair!, 'sam_contract_decoder.onnx') },
    inputSize: 1024,
    mean: [123.675, 116.28, 103.53],
    std: [58.395, 57.12, 57.375],
  };
  fs.mkdirSync(configDir, { recursive: true });
  fs.writeFileSync(path.join(configDir, 'custom-sam-models.json'), JSON.stringify([manifest]));
  return id;
}

/** The mask's pixels: area and bbox recomputed from the RLE itself. */
function measured(m: SegmentMask): { area: number; bbox: [number, number, number, number] } {
  const [h, w] = m.rle.size;
  const px = decodeMask(m.rle);
  let area = 0, x0 = Infinity, y0 = Infinity, x1 = -1, y1 = -1;
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) if (px[y * w + x]) {
    area++;
    x0 = Math.min(x0, x); y0 = Math.min(y0, y); x1 = Math.max(x1, x); y1 = Math.max(y1, y);
  }
  return { area, bbox: area ? [x0, y0, x1 - x0 + 1, y1 - y0 + 1] : [0, 0, 0, 0] };
}

/**
 * The contract decoder's behaviour (its README), computed independently over the whole image:
 * at each pixel centre of the region, in the 1024 frame, inside a disk of radius 64 around a
 * foreground point or inside the box, and not within 64 of a background point.
 */
function expected(width: number, height: number, points: SegmentPoint[], box?: SegmentBox, region: SegmentRegion = { x: 0, y: 0, w: width, h: height }): { area: number; bbox: [number, number, number, number] } {
  const s = 1024 / Math.max(region.w, region.h);
  let area = 0, x0 = Infinity, y0 = Infinity, x1 = -1, y1 = -1;
  for (let y = region.y; y < region.y + region.h; y++) {
    for (let x = region.x; x < region.x + region.w; x++) {
      const u = (x - region.x + 0.5) * s, v = (y - region.y + 0.5) * s;
      const d2 = (p: SegmentPoint) => ((p.x - region.x) * s - u) ** 2 + ((p.y - region.y) * s - v) ** 2;
      let inside = points.some((p) => p.label === 1 && d2(p) < 64 * 64);
      if (box) inside ||= u > (box.x0 - region.x) * s && u < (box.x1 - region.x) * s && v > (box.y0 - region.y) * s && v < (box.y1 - region.y) * s;
      if (points.some((p) => p.label === 0 && d2(p) < 64 * 64)) inside = false;
      if (!inside) continue;
      area++;
      x0 = Math.min(x0, x); y0 = Math.min(y0, y); x1 = Math.max(x1, x); y1 = Math.max(y1, y);
    }
  }
  return { area, bbox: [x0, y0, x1 - x0 + 1, y1 - y0 + 1] };
}

/** Within one pixel of the reference bbox, the area within a thin boundary ring of the reference. */
function near(got: { area: number; bbox: number[] }, want: { area: number; bbox: number[] }, areaTol = 0.01): void {
  for (let i = 0; i < 4; i++) expect(Math.abs(got.bbox[i]! - want.bbox[i]!), `bbox[${i}] ${got.bbox} vs ${want.bbox}`).toBeLessThanOrEqual(1);
  expect(Math.abs(got.area - want.area) / want.area, `area ${got.area} vs ${want.area}`).toBeLessThanOrEqual(areaTol);
}

/** Images the workspace's worker has encoded with the contract encoder. */
async function encodes(w: Workspace): Promise<number> {
  const backend = await (w as unknown as { inference(): Promise<{ samStats(e: string): Promise<{ encodes: number }> }> }).inference();
  return (await backend.samStats(path.join(pair!, 'sam_contract_encoder.onnx'))).encodes;
}

/** Samples of decoded pixels that differ from the view the app shows of the frame (its PNG rendition). */
async function unlikeShown(w: Workspace, imageId: number, frame: number, raw: { data: Uint8Array; width: number; height: number; channels: number }): Promise<number> {
  const view = await w.mediaFor().get('view', imageId, { frame });
  const shown = await sharp(view.file).raw().toBuffer({ resolveWithObject: true });
  expect([raw.width, raw.height]).toEqual([shown.info.width, shown.info.height]);
  let differ = 0;
  for (let p = 0; p < raw.width * raw.height; p++) {
    for (let c = 0; c < Math.min(3, shown.info.channels); c++) {
      if (raw.data[p * raw.channels + (raw.channels >= 3 ? c : 0)]! !== shown.data[p * shown.info.channels + c]!) differ++;
    }
  }
  return differ;
}

async function flat(file: string, width: number, height: number, extra: (s: Sharp) => Sharp = (s) => s.png()): Promise<void> {
  await extra(sharp({ create: { width, height, channels: 3, background: { r: 90, g: 120, b: 150 } } })).toFile(file);
}

async function datasetWith(files: (dir: string) => Promise<void>, configDir = tempDir()): Promise<{ ws: Workspace; ids: Record<string, number>; root: string; config: string; modelId: string; file: string }> {
  const root = tempDir();
  const imgs = path.join(root, 'imgs');
  fs.mkdirSync(imgs);
  await files(imgs);
  const modelId = registerContractPair(configDir);
  const ws = newWorkspace(configDir);
  const file = path.join(root, 'd.tessera');
  await ok(ws, 'dataset:create', { path: file, root });
  await ok(ws, 'images:import', { jobId: 'i', paths: [imgs] });
  const { items } = await ok(ws, 'images:list', { limit: 1000 });
  return { ws, ids: Object.fromEntries(items.map((i) => [path.basename(i.path), i.id])), root, config: configDir, modelId, file };
}

describe.runIf(pair)('segment:decode with a SAM-contract pair', () => {
  let ws: Workspace;
  let ids: Record<string, number>;
  let modelId: string;

  beforeAll(async () => {
    ({ ws, ids, modelId } = await datasetWith(async (imgs) => {
      await flat(path.join(imgs, 'land.png'), 640, 427);
      await flat(path.join(imgs, 'portrait.png'), 427, 640);
      await flat(path.join(imgs, 'small.png'), 300, 200);
      await flat(path.join(imgs, 'big.jpg'), 2000, 1500, (s) => s.jpeg());
      // Stored 640 wide and 427 high, shown (and annotated) 427 wide and 640 high.
      await flat(path.join(imgs, 'exif6.jpg'), 640, 427, (s) => s.withMetadata({ orientation: 6 }).jpeg());
      await flat(path.join(imgs, 'ahead.png'), 500, 400);
    }));
  });
  afterAll(async () => ws?.dispose());

  it('gives the README masks for a point, a point with a background point, and a box', async () => {
    const imageId = ids['land.png']!;
    const a = await ok(ws, 'segment:decode', { imageId, modelId, points: [{ x: 400, y: 200, label: 1 }] });
    expect(a.masks).toHaveLength(1);
    expect(a.masks[0]).toMatchObject({ area: 5024, bbox: [360, 160, 80, 80] });
    expect(measured(a.masks[0]!)).toEqual({ area: 5024, bbox: [360, 160, 80, 80] });
    expect(a.masks[0]!.score).toBeCloseTo(0.9, 5);
    const b = await ok(ws, 'segment:decode', { imageId, modelId, points: [{ x: 400, y: 200, label: 1 }, { x: 430, y: 200, label: 0 }] });
    expect(b.masks[0]).toMatchObject({ area: 2344 });
    expect([b.masks[0]!.bbox[0], b.masks[0]!.bbox[0] + b.masks[0]!.bbox[2] - 1]).toEqual([360, 413]);
    expect(measured(b.masks[0]!)).toEqual({ area: b.masks[0]!.area, bbox: b.masks[0]!.bbox });
    const c = await ok(ws, 'segment:decode', { imageId, modelId, box: { x0: 100, y0: 100, x1: 200, y1: 150 } });
    expect(c.masks[0]).toMatchObject({ area: 5000, bbox: [100, 100, 100, 50] });
    expect(measured(c.masks[0]!)).toEqual({ area: 5000, bbox: [100, 100, 100, 50] });
    // A box written from its bottom-right corner is the same box.
    const d = await ok(ws, 'segment:decode', { imageId, modelId, box: { x0: 200, y0: 150, x1: 100, y1: 100 } });
    expect(d.masks[0]!.rle).toEqual(c.masks[0]!.rle);
  });

  it('names each candidate\'s low-resolution mask; refineFrom an id no longer kept decodes without it and warns', async () => {
    const imageId = ids['land.png']!;
    const a = await ok(ws, 'segment:decode', { imageId, modelId, points: [{ x: 400, y: 200, label: 1 }] });
    const id = a.masks[0]!.lowResId!;
    expect(id).toEqual(expect.any(String));
    const b = await ok(ws, 'segment:decode', { imageId, modelId, points: [{ x: 400, y: 200, label: 1 }, { x: 430, y: 200, label: 0 }], refineFrom: id });
    expect(b.warnings).toEqual([]);
    expect(b.masks[0]!.lowResId).not.toBe(id);
    const gone = await ok(ws, 'segment:decode', { imageId, modelId, points: [{ x: 400, y: 200, label: 1 }], refineFrom: 'gone' });
    expect(gone.masks[0]).toMatchObject({ area: 5024, bbox: [360, 160, 80, 80] });
    expect(gone.warnings).toEqual([expect.stringContaining('(gone) is no longer kept')]);
    // The boolean of earlier versions is refused by name rather than ignored.
    const old = await fails(ws, 'segment:decode', { imageId, modelId, points: [{ x: 400, y: 200, label: 1 }], refine: true } as never);
    expect(old.code).toBe('INVALID_ARGUMENT');
  });

  it('maps prompts for portrait images and long sides under and over 1024', async () => {
    const cases: [string, number, number, SegmentPoint[], SegmentBox | undefined][] = [
      ['portrait.png', 427, 640, [{ x: 200, y: 400, label: 1 }], undefined],
      ['portrait.png', 427, 640, [{ x: 200, y: 400, label: 1 }, { x: 200, y: 430, label: 0 }], undefined],
      ['small.png', 300, 200, [{ x: 50, y: 60, label: 1 }], undefined],
      ['small.png', 300, 200, [], { x0: 120, y0: 30, x1: 290, y1: 190 }],
      ['big.jpg', 2000, 1500, [{ x: 1500, y: 300, label: 1 }], undefined],
      ['big.jpg', 2000, 1500, [{ x: 1000, y: 1000, label: 1 }], { x0: 100, y0: 1200, x1: 600, y1: 1450 }],
      ['exif6.jpg', 427, 640, [{ x: 100, y: 550, label: 1 }], undefined],
    ];
    for (const [name, w, h, points, box] of cases) {
      const r = await ok(ws, 'segment:decode', { imageId: ids[name]!, modelId, points, ...(box ? { box } : {}) });
      const m = r.masks[0]!;
      expect(m.rle.size, name).toEqual([h, w]);
      expect(measured(m), name).toEqual({ area: m.area, bbox: m.bbox });
      near(m, expected(w, h, points, box));
    }
  });

  it('keeps the embedding: a second prompt does not encode again, nor does encoding ahead', async () => {
    const imageId = ids['land.png']!;
    const before = await encodes(ws);
    // Encoded by the first test already: nothing to do.
    expect(await ok(ws, 'segment:encode', { imageId, modelId })).toMatchObject({ cached: true, encodeMs: 0, provider: 'cpu' });
    const r = await ok(ws, 'segment:decode', { imageId, modelId, points: [{ x: 10, y: 10, label: 1 }] });
    expect(r).toMatchObject({ cached: true, encodeMs: 0 });
    expect(await encodes(ws)).toBe(before);
    // An image not seen yet is encoded once, ahead of its prompts.
    const fresh = await ok(ws, 'segment:encode', { imageId: ids['ahead.png']!, modelId, providers: ['cpu'] });
    expect(fresh.cached).toBe(false);
    expect(fresh.encodeMs).toBeGreaterThan(0);
    const later = await ok(ws, 'segment:decode', { imageId: ids['ahead.png']!, modelId, points: [{ x: 10, y: 10, label: 1 }], providers: ['cpu'] });
    expect(later).toMatchObject({ cached: true, encodeMs: 0 });
    expect(await encodes(ws)).toBe(before + 1);
  });

  it('refuses a prompt without a point or a box, an unknown model and a missing image', async () => {
    const { dispatch } = await import('../../src-main/services/dispatch');
    const none = await dispatch(ws.handlers, 'segment:decode', { imageId: ids['land.png']!, modelId, points: [] });
    expect(none.ok).toBe(false);
    const unknown = await dispatch(ws.handlers, 'segment:decode', { imageId: ids['land.png']!, modelId: 'nope', points: [{ x: 1, y: 1, label: 1 }] });
    expect(unknown).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
    const missing = await dispatch(ws.handlers, 'segment:decode', { imageId: 99999, modelId, points: [{ x: 1, y: 1, label: 1 }] });
    expect(missing).toMatchObject({ ok: false, error: { code: 'NOT_FOUND' } });
  });
});

describe.runIf(pair)('an encoder that preprocesses itself ([H,W,3], as samexporter exports MobileSAM)', () => {
  it('gets the resized RGB image, neither normalised nor padded, and its masks are placed as with the [1,3,S,S] encoder', async () => {
    const config = tempDir();
    // Its "embedding" is the mean of its input, spread over [1,256,64,64].
    const encoder = path.join(config, 'hwc-encoder.onnx');
    fs.writeFileSync(
      encoder,
      onnxModel({
        inputs: [{ name: 'input_image', type: FLOAT, dims: ['H', 'W', 3] }],
        outputs: [{ name: 'image_embeddings', type: FLOAT, dims: [1, 256, 64, 64] }],
        nodes: [
          { op: 'ReduceMean', inputs: ['input_image'], outputs: ['m'], ints: { axes: [0, 1, 2] } },
          { op: 'Expand', inputs: ['m', 'shape'], outputs: ['image_embeddings'] },
        ],
        initializers: [{ name: 'shape', type: INT64, dims: [4], values: [1, 256, 64, 64] }],
      }),
    );
    const { ws, ids, modelId } = await datasetWith(async (imgs) => flat(path.join(imgs, 'land.png'), 640, 427), config);
    const custom = JSON.parse(fs.readFileSync(path.join(config, 'custom-sam-models.json'), 'utf8')) as { encoder: { file: string } }[];
    custom[0]!.encoder.file = encoder;
    fs.writeFileSync(path.join(config, 'custom-sam-models.json'), JSON.stringify(custom));
    try {
      const r = await ok(ws, 'segment:decode', { imageId: ids['land.png']!, modelId, points: [{ x: 400, y: 200, label: 1 }] });
      expect(r.masks[0]).toMatchObject({ area: 5024, bbox: [360, 160, 80, 80] });
      const emb = fs
        .readdirSync(path.join(ws.current!.cacheDir, 'sam'), { recursive: true, withFileTypes: true })
        .filter((d) => d.isFile() && d.name.endsWith('.emb'))
        .map((d) => fs.readFileSync(path.join(d.parentPath, d.name)));
      expect(emb).toHaveLength(1);
      const body = emb[0]!.subarray(12 + emb[0]!.readUInt32LE(8));
      // The flat colour (90, 120, 150) over 1024×683 pixels: mean 120. Zero padding to 1024×1024,
      // or normalising, would give something else.
      expect(body.readFloatLE(0)).toBeCloseTo(120, 3);
    } finally {
      await ws.dispose();
    }
  });
});

describe.runIf(pair)('a decoder returning several masks', () => {
  it('returns them all, highest predicted IoU first, each over the whole image', async () => {
    const config = tempDir();
    // Three masks: the whole image, nothing, the whole image; predicted IoU 0.2, 0.9, 0.5.
    const decoder = path.join(config, 'multi-decoder.onnx');
    fs.writeFileSync(decoder, threeMaskDecoder());
    const { ws, ids, modelId } = await datasetWith(async (imgs) => flat(path.join(imgs, 'land.png'), 640, 427), config);
    const custom = JSON.parse(fs.readFileSync(path.join(config, 'custom-sam-models.json'), 'utf8')) as { decoder: { file: string } }[];
    custom[0]!.decoder.file = decoder;
    fs.writeFileSync(path.join(config, 'custom-sam-models.json'), JSON.stringify(custom));
    try {
      const r = await ok(ws, 'segment:decode', { imageId: ids['land.png']!, modelId, points: [{ x: 10, y: 10, label: 1 }] });
      expect(r.masks.map((m) => [Number(m.score.toFixed(3)), m.area])).toEqual([
        [0.9, 0],
        [0.5, 640 * 427],
        [0.2, 640 * 427],
      ]);
      expect(r.masks[0]!.bbox).toEqual([0, 0, 0, 0]);
      expect(r.masks[1]!.bbox).toEqual([0, 0, 640, 427]);
      expect(r.masks.every((m) => m.rle.size[0] === 427 && m.rle.size[1] === 640)).toBe(true);
    } finally {
      await ws.dispose();
    }
  });
});

describe.runIf(pair)('the embedding cache on disk', () => {
  it('is read back by a new workspace, and a corrupt or foreign file is ignored and rewritten', async () => {
    const config = tempDir();
    const { ws, ids, modelId, file } = await datasetWith(async (imgs) => flat(path.join(imgs, 'land.png'), 640, 427), config);
    const imageId = ids['land.png']!;
    const prompt = { imageId, modelId, points: [{ x: 400, y: 200, label: 1 as const }] };
    const a = await ok(ws, 'segment:decode', prompt);
    expect(a.cached).toBe(false);
    const cacheDir = ws.current!.cacheDir;
    await ws.dispose();
    const files = fs.readdirSync(path.join(cacheDir, 'sam'), { recursive: true, withFileTypes: true }).filter((d) => d.isFile() && d.name.endsWith('.emb'));
    expect(files).toHaveLength(1);
    const emb = path.join(files[0]!.parentPath, files[0]!.name);

    const reopen = async (): Promise<Workspace> => {
      const w = newWorkspace(config);
      await ok(w, 'dataset:open', { path: file });
      return w;
    };

    let ws2 = await reopen();
    const b = await ok(ws2, 'segment:decode', prompt);
    expect(b).toMatchObject({ cached: true, encodeMs: 0 });
    expect(b.masks[0]!.rle).toEqual(a.masks[0]!.rle);
    expect(await encodes(ws2)).toBe(0);
    await ws2.dispose();

    const good = fs.readFileSync(emb);
    // One flipped bit in the embedding: the checksum no longer matches.
    const flipped = Buffer.from(good);
    flipped[flipped.length - 100] = flipped[flipped.length - 100]! ^ 0x10;
    // Cut short, and a file of another embedding (its key differs) under this name.
    const cut = good.subarray(0, good.length - 4096);
    const header = good.toString('latin1', 12, 12 + good.readUInt32LE(8));
    const foreign = Buffer.from(good.toString('latin1').replace(header, header.replace('|f0|', '|f9|')), 'latin1');
    for (const [what, bytes] of [['flipped bit', flipped], ['cut short', cut], ['another key', foreign], ['garbage', Buffer.from('not an embedding')]] as const) {
      fs.writeFileSync(emb, bytes);
      ws2 = await reopen();
      const c = await ok(ws2, 'segment:decode', prompt);
      expect(c.cached, what).toBe(false);
      expect(await encodes(ws2), what).toBe(1);
      expect(c.masks[0]!.rle).toEqual(a.masks[0]!.rle);
      await ws2.dispose();
      expect(fs.readFileSync(emb).equals(good), `${what}: rewritten`).toBe(true);
    }
  });
});

describe.runIf(pair)('an image file changed since it was imported', () => {
  it('is refused with FILE_CHANGED naming the file, not encoded under its old content hash', async () => {
    const { ws, ids, modelId, root } = await datasetWith(async (imgs) => flat(path.join(imgs, 'edited.png'), 640, 427));
    try {
      const imageId = ids['edited.png']!;
      const prompt = { imageId, modelId, points: [{ x: 400, y: 200, label: 1 as const }] };
      expect((await ok(ws, 'segment:decode', prompt)).masks[0]!.area).toBe(5024);
      // Cropped and saved under the same name: the embedding in memory belongs to the old pixels.
      await flat(path.join(root, 'imgs', 'edited.png'), 320, 200);
      for (const [c, args] of [['segment:decode', prompt], ['segment:encode', { imageId, modelId }]] as const) {
        const e = await fails(ws, c, args as never);
        expect(e.code, c).toBe('FILE_CHANGED');
        expect(e.message, c).toContain('edited.png');
      }
    } finally {
      await ws.dispose();
    }
  });
});

describe.runIf(pair)('saving a segment', () => {
  it('leaves no new class behind when the shape cannot be stored', async () => {
    const { ws, ids } = await datasetWith(async (imgs) => flat(path.join(imgs, 'a.png'), 64, 48));
    try {
      const ds = ws.current!;
      const before = (await listClasses(ds.db)).map((c) => c.name);
      // Frame 3 of a one-frame image: the edit is refused after the class would have been made.
      await expect(async () => saveSegment(ds, { imageId: ids['a.png']!, frame: 3, className: 'ghost', geometry: { kind: 'polygon', parts: [[1, 1, 20, 1, 20, 20]] } })).rejects.toThrow();
      expect((await listClasses(ds.db)).map((c) => c.name)).toEqual(before);
      const ok1 = await saveSegment(ds, { imageId: ids['a.png']!, frame: 0, className: 'cell', geometry: { kind: 'polygon', parts: [[1, 1, 20, 1, 20, 20]] } });
      expect((await listClasses(ds.db)).find((c) => c.id === ok1.classId)?.name).toBe('cell');
    } finally {
      await ws.dispose();
    }
  });
});

describe.runIf(pair)('the embedding cache on disk under a cap', () => {
  it('keeps the most recently used embeddings within TESSERA_SAM_CACHE_MB and encodes an evicted one again', async () => {
    const before = process.env['TESSERA_SAM_CACHE_MB'];
    // One contract embedding is 4 MB: a 6 MB cap holds one of them.
    process.env['TESSERA_SAM_CACHE_MB'] = '6';
    try {
      const config = tempDir();
      const { ws, ids, modelId } = await datasetWith(async (imgs) => {
        await flat(path.join(imgs, 'a.png'), 640, 427);
        await flat(path.join(imgs, 'b.png'), 500, 400);
      }, config);
      const embs = (): string[] =>
        fs
          .readdirSync(path.join(ws.current!.cacheDir, 'sam'), { recursive: true, withFileTypes: true })
          .filter((d) => d.isFile() && d.name.endsWith('.emb'))
          .map((d) => path.join(d.parentPath, d.name));
      try {
        await ok(ws, 'segment:encode', { imageId: ids['a.png']!, modelId });
        const [first] = embs();
        expect(first).toBeDefined();
        await ok(ws, 'segment:encode', { imageId: ids['b.png']!, modelId });
        const left = embs();
        expect(left).toHaveLength(1);
        expect(left[0]).not.toBe(first);
        expect(fs.existsSync(first!)).toBe(false);
      } finally {
        await ws.dispose();
      }
    } finally {
      if (before === undefined) delete process.env['TESSERA_SAM_CACHE_MB'];
      else process.env['TESSERA_SAM_CACHE_MB'] = before;
    }
  });
});

describe.runIf(pair)('large and tiled images', () => {
  let ws: Workspace;
  let ids: Record<string, number>;
  let modelId: string;
  beforeAll(async () => {
    ({ ws, ids, modelId } = await datasetWith(async (imgs) => {
      const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="6000" height="5000"><rect width="6000" height="5000" fill="rgb(30,60,90)"/><rect x="2000" y="1500" width="600" height="400" fill="rgb(250,0,0)"/><rect x="4000" y="2500" width="400" height="500" fill="rgb(0,250,0)"/></svg>`;
      await sharp(Buffer.from(svg), { limitInputPixels: false })
        .tiff({ tile: true, tileWidth: 256, tileHeight: 256, pyramid: true, compression: 'deflate' })
        .toFile(path.join(imgs, 'slide.tif'));
    }));
  }, 120_000);
  afterAll(async () => ws?.dispose());

  it('encodes a region and maps prompts into it and masks back to the whole image', async () => {
    const imageId = ids['slide.tif']!;
    const region = { x: 2000, y: 1000, w: 1536, h: 1024 };
    const points: SegmentPoint[] = [{ x: 2400, y: 1200, label: 1 }];
    const r = await ok(ws, 'segment:decode', { imageId, modelId, points, region });
    const m = r.masks[0]!;
    expect(m.rle.size).toEqual([5000, 6000]);
    near(m, expected(6000, 5000, points, undefined, region));
    const box = { x0: 2100, y0: 1500, x1: 3000, y1: 1900 };
    const b = await ok(ws, 'segment:decode', { imageId, modelId, points: [], box, region });
    expect(b.cached).toBe(true);
    near(b.masks[0]!, expected(6000, 5000, [], box, region));
    // Another region is another embedding.
    const other = await ok(ws, 'segment:decode', { imageId, modelId, points, region: { x: 0, y: 0, w: 3000, h: 3000 } });
    expect(other.cached).toBe(false);
    near(other.masks[0]!, expected(6000, 5000, points, undefined, { x: 0, y: 0, w: 3000, h: 3000 }));
  }, 120_000);

  it('reads a large region from a level of the built pyramid', async () => {
    const imageId = ids['slide.tif']!;
    const info = await ok(ws, 'images:buildPyramid', { jobId: 'p', imageId });
    expect(info.state).toBe('ready');
    const region = { x: 1000, y: 500, w: 4096, h: 3072 };
    const points: SegmentPoint[] = [{ x: 3000, y: 2000, label: 1 }];
    const r = await ok(ws, 'segment:decode', { imageId, modelId, points, region });
    expect(r.cached).toBe(false);
    near(r.masks[0]!, expected(6000, 5000, points, undefined, region));
    // The pixels of level 3 of 6 (a quarter of each side), assembled from its tiles with no gap.
    const pyramids = ws.pyramidsFor();
    const levels = { geometry: { width: 6000, height: 5000, tileSize: info.tileSize, levels: info.levels }, tile: async (l: number, c: number, r: number) => (await pyramids.tile(imageId, l, c, r)).file };
    const px = await regionFromLevel(levels, 3, region);
    expect([px.width, px.height, px.channels]).toEqual([1024, 768, 3]);
    const at = (x: number, y: number) => Array.from(px.data.subarray((((y - region.y) / 4) * px.width + (x - region.x) / 4) * 3, (((y - region.y) / 4) * px.width + (x - region.x) / 4) * 3 + 3));
    const close = (got: number[], want: number[]) => expect(got.every((v, i) => Math.abs(v - want[i]!) <= 12), `${got} vs ${want}`).toBe(true);
    close(at(2300, 1700), [250, 0, 0]);
    close(at(4200, 2800), [0, 250, 0]);
    close(at(1200, 600), [30, 60, 90]);
    close(at(5000, 3500), [30, 60, 90]);
    let dark = 0;
    for (let i = 0; i < px.data.length; i += 3) if (px.data[i]! + px.data[i + 1]! + px.data[i + 2]! < 40) dark++;
    expect(dark).toBe(0);
    // The embedding's key records the level's scale.
    const cacheDir = ws.current!.cacheDir;
    const keys = fs
      .readdirSync(path.join(cacheDir, 'sam'), { recursive: true, withFileTypes: true })
      .filter((d) => d.isFile() && d.name.endsWith('.emb'))
      .map((d) => fs.readFileSync(path.join(d.parentPath, d.name)))
      .map((b) => (JSON.parse(b.toString('utf8', 12, 12 + b.readUInt32LE(8))) as { key: string }).key);
    expect(keys.filter((k) => k.includes('|r1000,500,4096,3072|') && k.endsWith('|L4'))).toHaveLength(1);
  }, 120_000);

  it('encodes a large image whole, downscaled, with the mask in image pixels', async () => {
    const imageId = ids['slide.tif']!;
    const points: SegmentPoint[] = [{ x: 3000, y: 2000, label: 1 }];
    const r = await ok(ws, 'segment:decode', { imageId, modelId, points });
    const m = r.masks[0]!;
    expect(m.rle.size).toEqual([5000, 6000]);
    // A disk of radius 64 / s = 375 px; the mask is decoded at 4096 wide and scaled up.
    const want = expected(6000, 5000, points);
    expect(Math.abs(want.area - Math.PI * 375 * 375) / want.area).toBeLessThan(0.01);
    for (let i = 0; i < 4; i++) expect(Math.abs(m.bbox[i]! - want.bbox[i]!)).toBeLessThanOrEqual(2);
    expect(Math.abs(m.area - want.area) / want.area).toBeLessThan(0.01);
  }, 120_000);
});

describe('pyramid levels for large regions', () => {
  const g = { width: 6000, height: 5000, tileSize: 256, levels: 6 };
  it('picks the coarsest level keeping the input size on the long side, aligned to its pixels', () => {
    expect(levelForRegion(g, { x: 0, y: 0, w: 6000, h: 5000 }, 1024)).toEqual({ level: 3, scale: 4, region: { x: 0, y: 0, w: 6000, h: 5000 } });
    expect(levelForRegion(g, { x: 1001, y: 999, w: 2100, h: 1000 }, 1024)).toEqual({ level: 4, scale: 2, region: { x: 1000, y: 998, w: 2102, h: 1002 } });
    expect(levelForRegion(g, { x: 0, y: 0, w: 2000, h: 1000 }, 1024)).toBeNull();
  });
});

describe.runIf(pair && dicomDir)('DICOM frames and 16-bit images', () => {
  it('encodes the windowed frame the viewer shows, per frame', async () => {
    const { ws, ids, modelId, config } = await datasetWith(async (imgs) => {
      fs.copyFileSync(path.join(dicomDir!, 'MR_small.dcm'), path.join(imgs, 'MR_small.dcm'));
      fs.copyFileSync(path.join(dicomDir!, 'SC_rgb_rle_2frame.dcm'), path.join(imgs, 'two.dcm'));
      // 16-bit grey spanning only 0..3000: shown (and encoded) through its automatic window.
      const g16 = new Uint16Array(80 * 60);
      for (let i = 0; i < g16.length; i++) g16[i] = (i * 37) % 3001;
      await sharp(g16, { raw: { width: 80, height: 60, channels: 1 } }).toColourspace('grey16').png().toFile(path.join(imgs, 'deep.png'));
    });
    try {
      const ds = ws.current!;
      const model = new SamModelRegistry({ manifestDir: defaultSamManifestDir(), configDir: config }).requireFiles(modelId);
      const seg = new Segmenter(() => Promise.reject(new Error('not used')));
      for (const [name, frame] of [['MR_small.dcm', 0], ['two.dcm', 0], ['two.dcm', 1], ['deep.png', 0]] as const) {
        const imageId = ids[name]!;
        const src = await (await seg.plan(ds, model, { imageId, frame })).source();
        if (!('raw' in src)) throw new Error(`${name}: expected decoded pixels`);
        expect(await unlikeShown(ws, imageId, frame, src.raw), `${name} frame ${frame}: samples unlike the display`).toBe(0);
      }
      const f0 = (await (await seg.plan(ds, model, { imageId: ids['two.dcm']!, frame: 0 })).source()) as { raw: { data: Uint8Array } };
      const f1 = (await (await seg.plan(ds, model, { imageId: ids['two.dcm']!, frame: 1 })).source()) as { raw: { data: Uint8Array } };
      expect(Buffer.from(f0.raw.data).equals(Buffer.from(f1.raw.data))).toBe(false);

      const mr = ids['MR_small.dcm']!;
      const points: SegmentPoint[] = [{ x: 20, y: 30, label: 1 }];
      const r = await ok(ws, 'segment:decode', { imageId: mr, modelId, points });
      expect(r.masks[0]!.rle.size).toEqual([64, 64]);
      near(r.masks[0]!, expected(64, 64, points));
      const t0 = await ok(ws, 'segment:decode', { imageId: ids['two.dcm']!, frame: 0, modelId, points });
      const t1 = await ok(ws, 'segment:decode', { imageId: ids['two.dcm']!, frame: 1, modelId, points });
      expect([t0.cached, t1.cached]).toEqual([false, false]);
      const again = await ok(ws, 'segment:encode', { imageId: ids['two.dcm']!, frame: 1, modelId });
      expect(again.cached).toBe(true);
      // Another display window is another picture to encode; the pixels follow the new window.
      expect((await ok(ws, 'segment:encode', { imageId: mr, modelId })).cached).toBe(true);
      await ok(ws, 'imaging:setWindow', { imageId: mr, frame: 0, window: { center: 300, width: 200 } });
      expect((await ok(ws, 'segment:encode', { imageId: mr, modelId })).cached).toBe(false);
      const narrow = await (await seg.plan(ds, model, { imageId: mr, frame: 0 })).source();
      if (!('raw' in narrow)) throw new Error('expected decoded pixels');
      expect(await unlikeShown(ws, mr, 0, narrow.raw)).toBe(0);
      const { dispatch } = await import('../../src-main/services/dispatch');
      const bad = await dispatch(ws.handlers, 'segment:decode', { imageId: mr, frame: 3, modelId, points });
      expect(bad).toMatchObject({ ok: false, error: { code: 'INVALID_ARGUMENT' } });
    } finally {
      await ws.dispose();
    }
  }, 120_000);
});

describe.runIf(pair)('boxes to masks', () => {
  it('stores a mask per box of a run as predictions of a new linked run, counting empty masks', async () => {
    const { ws, ids, modelId } = await datasetWith(async (imgs) => {
      await flat(path.join(imgs, 'a.png'), 640, 427);
      await flat(path.join(imgs, 'b.png'), 300, 200);
    });
    try {
      const db = ws.current!.db;
      const cls = await ok(ws, 'classes:create', { name: 'thing' });
      const source = await insertModelRun(db, { model: 'detector', name: 'detector run', parameters: {} });
      const a = ids['a.png']!, b = ids['b.png']!;
      await insertAnnotations(db, [
        { imageId: a, classId: cls.id, geometry: { kind: 'box', x: 100, y: 100, w: 100, h: 50 }, source: 'model', modelRunId: source, score: 0.8 },
        { imageId: a, classId: cls.id, geometry: { kind: 'box', x: 300, y: 200, w: 40, h: 30 }, source: 'model', modelRunId: source, score: 0.6 },
        // Too thin to hold a pixel centre: an empty mask.
        { imageId: b, classId: cls.id, geometry: { kind: 'box', x: 10, y: 10, w: 0.2, h: 0.2 }, source: 'model', modelRunId: source, score: 0.5 },
        { imageId: b, classId: null, geometry: { kind: 'box', x: 20, y: 30, w: 100, h: 60 }, source: 'model', modelRunId: source, score: 0.4 },
      ]);
      const s = await ok(ws, 'segment:boxesToMasks', { jobId: 'b2m', modelId, runId: source });
      expect(s).toMatchObject({ boxes: 4, created: 3, empty: 1, cancelled: false });
      const run = (await getModelRun(db, s.runId))!;
      expect(run).toMatchObject({ model: modelId, status: 'done', provider: 'cpu' });
      expect(run.parameters).toMatchObject({ sourceRunId: source, as: 'mask' });
      const rows = await db.prepare('SELECT image_id AS imageId, class_id AS classId, kind, geometry, score, source FROM annotations WHERE model_run_id = ? ORDER BY id').all(s.runId) as { imageId: number; classId: number | null; kind: string; geometry: string; score: number; source: string }[];
      expect(rows.map((r) => [r.imageId, r.classId, r.kind, r.source, r.score])).toEqual([
        [a, cls.id, 'mask', 'model', 0.8],
        [a, cls.id, 'mask', 'model', 0.6],
        [b, null, 'mask', 'model', 0.4],
      ]);
      const areas = rows.map((r) => (JSON.parse(r.geometry) as { rle: { size: [number, number]; counts: number[] } }).rle).map((rle) => decodeMask(rle).reduce((n, v) => n + v, 0));
      expect(areas).toEqual([5000, 1200, 6000]);

      const p = await ok(ws, 'segment:boxesToMasks', { jobId: 'b2p', modelId, annotationIds: [rows.length > 0 ? (await db.prepare('SELECT id FROM annotations WHERE model_run_id = ? ORDER BY id').pluck().get(source) as number) : 0], as: 'polygon', tolerance: 0.5 });
      expect(p).toMatchObject({ boxes: 1, created: 1, empty: 0 });
      expect((await getModelRun(db, p.runId))!.name).toMatch(/: masks from 1 box$/);
      const poly = await db.prepare('SELECT kind, geometry FROM annotations WHERE model_run_id = ?').get(p.runId) as { kind: string; geometry: string };
      expect(poly.kind).toBe('polygon');
      const parts = (JSON.parse(poly.geometry) as { parts: number[][] }).parts;
      const xs = parts[0]!.filter((_, i) => i % 2 === 0), ys = parts[0]!.filter((_, i) => i % 2 === 1);
      expect([Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)]).toEqual([100, 100, 200, 150]);
    } finally {
      await ws.dispose();
    }
  }, 120_000);

  it('marks an image that cannot be read failed, naming it, and carries on with the others', async () => {
    const { ws, ids, modelId, root } = await datasetWith(async (imgs) => {
      for (const [n, w] of [['a', 320], ['b', 330], ['c', 340]] as const) await flat(path.join(imgs, `${n}.png`), w, 240);
    });
    try {
      const db = ws.current!.db;
      const source = await insertModelRun(db, { model: 'detector', parameters: {} });
      const order = ['a.png', 'b.png', 'c.png'].map((n) => ids[n]!);
      await insertAnnotations(db, order.map((imageId) => ({ imageId, classId: null, geometry: { kind: 'box' as const, x: 10, y: 10, w: 50, h: 50 }, source: 'model' as const, modelRunId: source, score: 0.9 })));
      fs.rmSync(path.join(root, 'imgs', 'b.png'));
      const s = await ok(ws, 'segment:boxesToMasks', { jobId: 'gone', modelId, runId: source });
      expect(s).toMatchObject({ boxes: 3, created: 2, failed: 1, cancelled: false });
      // A run with a failed image finishes as a pre-label run with one does.
      expect((await getModelRun(db, s.runId))!.status).toBe('done');
      const states = await db.prepare('SELECT image_id AS imageId, state, error FROM model_run_images WHERE run_id = ? ORDER BY image_id').all(s.runId) as { imageId: number; state: string; error: string | null }[];
      expect(states.map((r) => [r.imageId, r.state])).toEqual(order.map((id) => [id, id === ids['b.png'] ? 'failed' : 'done']).sort((p, q) => (p[0] as number) - (q[0] as number)));
      const error = states.find((r) => r.state === 'failed')!.error!;
      expect(error, error).toMatch(/^imgs\/b\.png: /);
      expect(s.warnings).toContain(error);
      const masked = await db.prepare('SELECT image_id FROM annotations WHERE model_run_id = ? ORDER BY image_id').pluck().all(s.runId);
      expect(masked).toEqual([ids['a.png'], ids['c.png']].sort((p, q) => p! - q!));
    } finally {
      await ws.dispose();
    }
  }, 120_000);

  it('fails the run when the model cannot be loaded', async () => {
    const config = tempDir();
    const { ws, ids, modelId } = await datasetWith(async (imgs) => {
      await flat(path.join(imgs, 'a.png'), 320, 240);
    }, config);
    try {
      const db = ws.current!.db;
      const source = await insertModelRun(db, { model: 'detector', parameters: {} });
      await insertAnnotations(db, [{ imageId: ids['a.png']!, classId: null, geometry: { kind: 'box' as const, x: 10, y: 10, w: 50, h: 50 }, source: 'model' as const, modelRunId: source, score: 0.9 }]);
      // The same model id over a decoder that is not an ONNX model.
      const junk = path.join(tempDir(), 'junk_decoder.onnx');
      fs.writeFileSync(junk, 'not a model');
      const file = path.join(config, 'custom-sam-models.json');
      const list = JSON.parse(fs.readFileSync(file, 'utf8')) as { decoder: { file: string } }[];
      list[0]!.decoder.file = junk;
      fs.writeFileSync(file, JSON.stringify(list));
      const refused = await fails(ws, 'segment:boxesToMasks', { jobId: 'bad', modelId, runId: source });
      expect(refused.message).toContain(junk);
      const run = await db.prepare("SELECT status FROM model_runs WHERE CAST(parameters AS TEXT) LIKE '%boxes-to-masks%' ORDER BY id DESC").pluck().get();
      expect(run).toBe('failed');
    } finally {
      await ws.dispose();
    }
  }, 120_000);

  it('stops at Cancel, keeping the images done and marking the run cancelled', async () => {
    const config = tempDir();
    let ws!: Workspace;
    const root = tempDir();
    const imgs = path.join(root, 'imgs');
    fs.mkdirSync(imgs);
    for (const [n, w] of [['a', 320], ['b', 330], ['c', 340]] as const) await flat(path.join(imgs, `${n}.png`), w, 240);
    const modelId = registerContractPair(config);
    const events: JobProgress[] = [];
    const { Workspace: W } = await import('../../src-main/services/workspace');
    ws = new W({
      configDir: config,
      mode: 'web',
      version: 'test',
      emit: (event, payload) => {
        if (event !== 'job:progress' || (payload as { jobId: string }).jobId !== 'cancel-me') return;
        events.push(payload as JobProgress);
        void ws.handlers['jobs:cancel']({ jobId: 'cancel-me' });
      },
    });
    try {
      await ok(ws, 'dataset:create', { path: path.join(root, 'd.tessera'), root });
      await ok(ws, 'images:import', { jobId: 'i', paths: [imgs] });
      const db = ws.current!.db;
      const source = await insertModelRun(db, { model: 'detector', parameters: {} });
      const { items } = await ok(ws, 'images:list', {});
      await insertAnnotations(db, items.map((im) => ({ imageId: im.id, classId: null, geometry: { kind: 'box' as const, x: 10, y: 10, w: 50, h: 50 }, source: 'model' as const, modelRunId: source, score: 0.9 })));
      const s = await ok(ws, 'segment:boxesToMasks', { jobId: 'cancel-me', modelId, runId: source });
      expect(s).toMatchObject({ boxes: 3, created: 1, cancelled: true });
      // Progress counts images, the last event too: one of three done when it stopped.
      expect(events.at(-1)).toMatchObject({ phase: 'done', done: 1, total: 3, imported: 1 });
      expect((await getModelRun(db, s.runId))!.status).toBe('cancelled');
      expect(await db.prepare('SELECT count(*) FROM annotations WHERE model_run_id = ?').pluck().get(s.runId)).toBe(1);
    } finally {
      await ws.dispose();
    }
  }, 120_000);
});
