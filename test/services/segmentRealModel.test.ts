import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { decodeMask } from '../../src-main/common/geometry/rle';
import { SAM_MEAN, SAM_STD } from '../../src-main/common/inference/samManifest';
import { newWorkspace, ok } from '../helpers/workspace';
import { tempDir } from '../helpers/shared';

/**
 * A real Segment Anything-family pair (e.g. MobileSAM's encoder and decoder ONNX exports), named by
 * TESSERA_SAM_ENCODER and TESSERA_SAM_DECODER: tens of megabytes, so never part of the checkout.
 */
const encoder = process.env['TESSERA_SAM_ENCODER'];
const decoder = process.env['TESSERA_SAM_DECODER'];
const missing = !encoder || !decoder ? 'TESSERA_SAM_ENCODER and TESSERA_SAM_DECODER are not set' : !fs.existsSync(encoder) ? `${encoder} does not exist` : !fs.existsSync(decoder) ? `${decoder} does not exist` : null;
if (missing) console.log(`skipping the real SAM model test: ${missing} (point them at MobileSAM's encoder and decoder .onnx files to run it)`);

describe.runIf(!missing)('a real SAM-family pair', () => {
  it('segments a bright disk on a dark background from one click at its centre', async () => {
    const root = tempDir();
    const imgs = path.join(root, 'imgs');
    fs.mkdirSync(imgs);
    const W = 800, H = 600, cx = 500, cy = 260, r = 90;
    const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}"><rect width="100%" height="100%" fill="#202830"/><circle cx="${cx}" cy="${cy}" r="${r}" fill="#f0d060"/></svg>`;
    await sharp(Buffer.from(svg)).png().toFile(path.join(imgs, 'disk.png'));
    const config = tempDir();
    fs.writeFileSync(
      path.join(config, 'custom-sam-models.json'),
      JSON.stringify([{ id: 'real-sam', name: 'real', task: 'interactive', family: 'sam', encoder: { file: path.resolve(encoder!) }, decoder: { file: path.resolve(decoder!) }, inputSize: 1024, mean: SAM_MEAN, std: SAM_STD }]),
    );
    const ws = newWorkspace(config);
    try {
      await ok(ws, 'dataset:create', { path: path.join(root, 'd.tessera'), root });
      await ok(ws, 'images:import', { jobId: 'i', paths: [imgs] });
      const { items } = await ok(ws, 'images:list', {});
      const res = await ok(ws, 'segment:decode', { imageId: items[0]!.id, modelId: 'real-sam', points: [{ x: cx, y: cy, label: 1 }] });
      const best = res.masks[0]!;
      const px = decodeMask(best.rle);
      let inter = 0, union = 0;
      for (let y = 0; y < H; y++) {
        for (let x = 0; x < W; x++) {
          const disk = (x + 0.5 - cx) ** 2 + (y + 0.5 - cy) ** 2 <= r * r;
          const m = px[y * W + x] === 1;
          if (disk && m) inter++;
          if (disk || m) union++;
        }
      }
      console.log(`real SAM pair: IoU with the disk ${(inter / union).toFixed(3)}, ${res.masks.length} masks, encode ${res.encodeMs.toFixed(0)} ms, decode ${res.decodeMs.toFixed(1)} ms on ${res.provider}`);
      expect(inter / union).toBeGreaterThan(0.85);
      const again = await ok(ws, 'segment:decode', { imageId: items[0]!.id, modelId: 'real-sam', box: { x0: cx - r - 5, y0: cy - r - 5, x1: cx + r + 5, y1: cy + r + 5 } });
      expect(again.cached).toBe(true);
      expect(again.masks[0]!.area).toBeGreaterThan(0.85 * Math.PI * r * r);
    } finally {
      await ws.dispose();
    }
  }, 300_000);
});
