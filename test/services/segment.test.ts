import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeMask } from '../../src-main/common/geometry/rle';
import type { SegmentMask } from '../../src-main/common/segment';
import type { Workspace } from '../../src-main/services/workspace';
import { newWorkspace, ok } from '../helpers/workspace';
import { sharedPath, tempDir } from '../helpers/shared';

const pair = sharedPath('models/sam_contract');

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

async function grey(file: string, width: number, height: number): Promise<void> {
  await sharp({ create: { width, height, channels: 3, background: { r: 90, g: 120, b: 150 } } }).png().toFile(file);
}

describe.runIf(pair)('segment:decode with a SAM-contract pair', () => {
  let ws: Workspace;
  let root: string;
  let ids: Record<string, number>;
  let modelId: string;

  beforeAll(async () => {
    root = tempDir();
    const imgs = path.join(root, 'imgs');
    fs.mkdirSync(imgs);
    await grey(path.join(imgs, 'land.png'), 640, 427);
    const config = tempDir();
    modelId = registerContractPair(config);
    ws = newWorkspace(config);
    await ok(ws, 'dataset:create', { path: path.join(root, 'd.tessera'), root });
    await ok(ws, 'images:import', { jobId: 'i', paths: [imgs] });
    const { items } = await ok(ws, 'images:list', {});
    ids = Object.fromEntries(items.map((i) => [path.basename(i.path), i.id]));
  });
  afterAll(async () => ws?.dispose());

  it('gives the README disk for a point, cut by a background point, and the box', async () => {
    const imageId = ids['land.png']!;
    const a = await ok(ws, 'segment:decode', { imageId, modelId, points: [{ x: 400, y: 200, label: 1 }] });
    expect(a.masks).toHaveLength(1);
    expect(a.masks[0]).toMatchObject({ area: 5024, bbox: [360, 160, 80, 80] });
    expect(measured(a.masks[0]!)).toEqual({ area: 5024, bbox: [360, 160, 80, 80] });
    const b = await ok(ws, 'segment:decode', { imageId, modelId, points: [{ x: 400, y: 200, label: 1 }, { x: 430, y: 200, label: 0 }] });
    expect(b.masks[0]).toMatchObject({ area: 2344 });
    expect(b.masks[0]!.bbox[0]).toBe(360);
    expect(b.masks[0]!.bbox[0] + b.masks[0]!.bbox[2] - 1).toBe(413);
    const c = await ok(ws, 'segment:decode', { imageId, modelId, box: { x0: 100, y0: 100, x1: 200, y1: 150 } });
    expect(c.masks[0]).toMatchObject({ area: 5000, bbox: [100, 100, 100, 50] });
    expect(measured(c.masks[0]!)).toEqual({ area: 5000, bbox: [100, 100, 100, 50] });
    expect(a.cached).toBe(false);
    expect(a.encodeMs).toBeGreaterThan(0);
    expect(b.cached).toBe(true);
    expect(b.encodeMs).toBe(0);
  });
});
