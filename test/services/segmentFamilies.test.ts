import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeMask } from '../../src-main/common/geometry/rle';
import type { SegmentMask, SegmentPoint } from '../../src-main/common/segment';
import type { Workspace } from '../../src-main/services/workspace';
import { FAMILY_RADII, familyManifest, writeEfficientVitPair, writeSam2Pair } from '../helpers/samFamilyModels';
import { tempDir } from '../helpers/shared';
import { newWorkspace, ok } from '../helpers/workspace';

type Family = 'sam2' | 'efficientvit-sam';

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
 * What the test decoders draw, computed independently over the image: each pixel centre taken
 * into the 1024 prompt frame as the family's reference code takes the image there (SAM 2
 * stretches each axis to 1024; EfficientViT-SAM scales the long side to 1024, int(x·s + 0.5)),
 * inside when within `radius` of a foreground point taken there the same way.
 */
function expected(family: Family, W: number, H: number, points: SegmentPoint[], radius: number): { area: number; bbox: [number, number, number, number] } {
  let sx: number, sy: number;
  if (family === 'sam2') {
    sx = 1024 / W;
    sy = 1024 / H;
  } else {
    const s = 1024 / Math.max(W, H);
    sx = Math.floor(W * s + 0.5) / W;
    sy = Math.floor(H * s + 0.5) / H;
  }
  let area = 0, x0 = Infinity, y0 = Infinity, x1 = -1, y1 = -1;
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const u = (x + 0.5) * sx, v = (y + 0.5) * sy;
      if (!points.some((p) => p.label === 1 && (p.x * sx - u) ** 2 + (p.y * sy - v) ** 2 < radius * radius)) continue;
      area++;
      x0 = Math.min(x0, x); y0 = Math.min(y0, y); x1 = Math.max(x1, x); y1 = Math.max(y1, y);
    }
  }
  return { area, bbox: [x0, y0, x1 - x0 + 1, y1 - y0 + 1] };
}

/**
 * Within one pixel of the reference bbox on every side, and the area between those of the disks
 * one frame unit (a quarter of a low-resolution cell) smaller and larger: bilinear upsampling of
 * 4-unit cells moves the edge by a small fraction of a unit, which flips a few boundary pixels.
 */
function near(got: { area: number; bbox: number[] }, family: Family, W: number, H: number, points: SegmentPoint[], radius: number, what: string): void {
  const want = expected(family, W, H, points, radius);
  const [gx, gy, gw, gh] = got.bbox as [number, number, number, number];
  const [wx, wy, ww, wh] = want.bbox;
  const sides = [gx - wx, gy - wy, gx + gw - (wx + ww), gy + gh - (wy + wh)];
  expect(sides.every((d) => Math.abs(d) <= 1), `${what}: bbox ${got.bbox} vs ${want.bbox}`).toBe(true);
  const lo = expected(family, W, H, points, radius - 1).area, hi = expected(family, W, H, points, radius + 1).area;
  expect(got.area >= lo && got.area <= hi, `${what}: area ${got.area} outside ${lo}..${hi} (radius ${radius}: ${want.area})`).toBe(true);
}

async function flat(file: string, width: number, height: number): Promise<void> {
  await sharp({ create: { width, height, channels: 3, background: { r: 90, g: 120, b: 150 } } }).png().toFile(file);
}

/** (x/255 − mean)/std of the flat colour (90, 120, 150), averaged over the channels: what the test encoders put in each cell. */
const FLAT_CELL = ((90 - 123.675) / 58.395 + (120 - 116.28) / 57.12 + (150 - 103.53) / 57.375) / 3;

const SIZES: Record<string, [number, number]> = { 'land.png': [1600, 900], 'portrait.png': [700, 1300], 'small.png': [300, 200] };

interface Setup {
  ws: Workspace;
  ids: Record<string, number>;
  file: string;
  config: string;
  models: Record<Family, { id: string; encoder: string }>;
}

/** A dataset of three flat images and both test pairs registered as custom models. */
async function setup(): Promise<Setup> {
  const config = tempDir();
  const root = tempDir();
  const imgs = path.join(root, 'imgs');
  fs.mkdirSync(imgs);
  for (const [name, [w, h]] of Object.entries(SIZES)) await flat(path.join(imgs, name), w, h);
  const sam2 = writeSam2Pair(config);
  const evit = writeEfficientVitPair(config);
  fs.writeFileSync(path.join(config, 'custom-sam-models.json'), JSON.stringify([familyManifest('test-sam2', 'sam2', sam2, 1024), familyManifest('test-evit', 'efficientvit-sam', evit, 512)]));
  const ws = newWorkspace(config);
  const file = path.join(root, 'd.tessera');
  await ok(ws, 'dataset:create', { path: file, root });
  await ok(ws, 'images:import', { jobId: 'i', paths: [imgs] });
  const { items } = await ok(ws, 'images:list', { limit: 100 });
  return {
    ws,
    ids: Object.fromEntries(items.map((i) => [path.basename(i.path), i.id])),
    file,
    config,
    models: { sam2: { id: 'test-sam2', encoder: sam2.encoder }, 'efficientvit-sam': { id: 'test-evit', encoder: evit.encoder } },
  };
}

async function encodes(w: Workspace, encoder: string): Promise<number> {
  const backend = await (w as unknown as { inference(): Promise<{ samStats(e: string): Promise<{ encodes: number }> }> }).inference();
  return (await backend.samStats(encoder)).encodes;
}

/** The tensors of an embedding file of the dataset cache: header and data. */
function readEmb(file: string): { header: { tensors: { name: string; dims: number[] }[] }; tensor(name: string): Float32Array } {
  const buf = fs.readFileSync(file);
  const len = buf.readUInt32LE(8);
  const header = JSON.parse(buf.subarray(12, 12 + len).toString('utf8')) as { tensors: { name: string; dims: number[] }[] };
  return {
    header,
    tensor(name) {
      let at = 12 + len;
      for (const t of header.tensors) {
        const n = t.dims.reduce((a, b) => a * b, 1);
        if (t.name === name) return new Float32Array(buf.buffer.slice(buf.byteOffset + at, buf.byteOffset + at + n * 4));
        at += n * 4;
      }
      throw new Error(`${file}: no tensor ${name}`);
    },
  };
}

const embFiles = (cacheDir: string): string[] =>
  fs
    .readdirSync(path.join(cacheDir, 'sam'), { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile() && d.name.endsWith('.emb'))
    .map((d) => path.join(d.parentPath, d.name));

describe('EfficientViT-SAM and SAM 2 pairs through segment:decode', () => {
  let s: Setup;
  beforeAll(async () => {
    s = await setup();
  });
  afterAll(async () => s?.ws.dispose());

  const cases: [string, SegmentPoint[]][] = [
    ['land.png', [{ x: 1203, y: 302, label: 1 }]],
    ['portrait.png', [{ x: 250, y: 1000, label: 1 }, { x: 500, y: 300, label: 0 }]],
    ['small.png', [{ x: 50, y: 60, label: 1 }, { x: 250, y: 150, label: 1 }]],
  ];

  for (const family of ['sam2', 'efficientvit-sam'] as const) {
    it(`${family}: masks land where the reference coordinate transform and mask postprocessing put them (landscape, portrait, under 1024), highest IoU first`, async () => {
      for (const [name, points] of cases) {
        const [W, H] = SIZES[name]!;
        const r = await ok(s.ws, 'segment:decode', { imageId: s.ids[name]!, modelId: s.models[family].id, points });
        expect(r.masks.map((m) => m.score), name).toEqual([expect.closeTo(0.9, 5), expect.closeTo(0.3, 5)]);
        for (const m of r.masks) {
          expect(m.rle.size, name).toEqual([H, W]);
          expect(measured(m), name).toEqual({ area: m.area, bbox: m.bbox });
        }
        near(r.masks[0]!, family, W, H, points, FAMILY_RADII.large, `${family} ${name} r=64`);
        near(r.masks[1]!, family, W, H, points, FAMILY_RADII.small, `${family} ${name} r=32`);
      }
    });
  }

  it('sam2: a disk in the 1024 frame is an ellipse on the stretched image (1600×900: 200 px wide, 112 px tall)', async () => {
    const r = await ok(s.ws, 'segment:decode', { imageId: s.ids['land.png']!, modelId: s.models.sam2.id, points: [{ x: 800, y: 450, label: 1 }] });
    const [, , w, h] = r.masks[0]!.bbox;
    // Radius 64 in the frame: 64·1600/1024 = 100 px across x, 64·900/1024 = 56.25 px across y.
    expect(Math.abs(w - 200)).toBeLessThanOrEqual(2);
    expect(Math.abs(h - 112.5)).toBeLessThanOrEqual(2);
  });
});

describe('the embedding cache with several encoder outputs', () => {
  it('keeps all three SAM 2 outputs in memory and on disk, and a new workspace decodes from the file without encoding', async () => {
    const s = await setup();
    const imageId = s.ids['portrait.png']!;
    const prompt = { imageId, modelId: s.models.sam2.id, points: [{ x: 250, y: 1000, label: 1 as const }] };
    let cacheDir: string;
    let first: SegmentMask;
    try {
      const a = await ok(s.ws, 'segment:decode', prompt);
      expect(a.cached).toBe(false);
      first = a.masks[0]!;
      const b = await ok(s.ws, 'segment:decode', prompt);
      expect(b).toMatchObject({ cached: true, encodeMs: 0 });
      expect(await encodes(s.ws, s.models.sam2.encoder)).toBe(1);
      // EfficientViT-SAM on the same image: an embedding of its own.
      await ok(s.ws, 'segment:encode', { imageId: s.ids['land.png']!, modelId: s.models['efficientvit-sam'].id });
      cacheDir = s.ws.current!.cacheDir;
    } finally {
      await s.ws.dispose();
    }
    const files = embFiles(cacheDir).map(readEmb);
    expect(files).toHaveLength(2);
    const sam2 = files.find((f) => f.header.tensors.length === 3)!;
    expect(sam2.header.tensors).toEqual([
      { name: 'high_res_feats_0', dims: [1, 32, 256, 256] },
      { name: 'high_res_feats_1', dims: [1, 64, 128, 128] },
      { name: 'image_embed', dims: [1, 256, 64, 64] },
    ]);
    // SAM 2 stretches the image over the whole square: every cell, the last row included, holds
    // the normalised colour (ImageNet mean and std on 0-1 values); nothing is padded.
    for (const name of ['high_res_feats_0', 'high_res_feats_1', 'image_embed']) {
      const t = sam2.tensor(name);
      expect(t[0]).toBeCloseTo(FLAT_CELL, 3);
      expect(t[t.length - 1]).toBeCloseTo(FLAT_CELL, 3);
    }
    // EfficientViT-SAM L0 (512): 1600×900 becomes 512×288, padded below with zeros: embedding
    // rows 0-35 hold the colour, rows 36-63 are padding.
    const evit = files.find((f) => f.header.tensors.length === 1)!;
    expect(evit.header.tensors).toEqual([{ name: 'image_embeddings', dims: [1, 256, 64, 64] }]);
    const e = evit.tensor('image_embeddings');
    expect(e[35 * 64 + 63]).toBeCloseTo(FLAT_CELL, 3);
    expect(e[36 * 64]).toBe(0);

    const again = newWorkspace(s.config);
    try {
      await ok(again, 'dataset:open', { path: s.file });
      const c = await ok(again, 'segment:decode', prompt);
      expect(c).toMatchObject({ cached: true, encodeMs: 0 });
      expect(c.masks[0]!.rle).toEqual(first!.rle);
      expect(await encodes(again, s.models.sam2.encoder)).toBe(0);
    } finally {
      await again.dispose();
    }
  });
});
