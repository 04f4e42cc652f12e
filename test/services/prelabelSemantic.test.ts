import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeMask, rasterizePolygon, rleArea, type Rle } from '../../src-main/common/geometry';
import { tileGrid } from '../../src-main/common/inference/tiling';
import type { ModelManifest } from '../../src-main/common/inference/types';
import { listAnnotations } from '../../src-main/db/annotations';
import { closeInferenceBackend, closeInstancesWorker, inferenceBackend, instancesWorkerRunning, runPrelabel, semanticDetections, tryModel } from '../../src-main/services/prelabel';
import { SemanticStitch } from '../../src-main/common/inference/semantic';
import { runCli } from '../../src-main/cli/main';
import { NO_CLASS } from '../../src-main/common/inference/semantic';
import type { Workspace } from '../../src-main/services/workspace';
import { instanceF1, labelImage, pixelIou } from '../helpers/instances';
import { deeplabManifest, unetManifest } from '../helpers/semanticModels';
import { FLOAT, onnxModel } from '../helpers/onnxModel';
import { sharedPath, tempDir } from '../helpers/shared';
import { newWorkspace, ok } from '../helpers/workspace';

const deeplab = sharedPath('models/deeplabv3_mnv2_voc_257.onnx');
const unet = sharedPath('models/unet2d_nuclei_broad.onnx');
const coco = sharedPath('datasets/coco_tinycoco');
const img2d = sharedPath('datasets/tiff16_stardist_dsb2018/img2d.tif');
const mask2d = sharedPath('datasets/tiff16_stardist_dsb2018/mask2d.tif');

async function workspaceWith(files: string[], root: string): Promise<{ ws: Workspace; ids: number[] }> {
  const dir = tempDir();
  const ws = newWorkspace(dir);
  await ok(ws, 'dataset:create', { path: path.join(dir, 'd.tessera'), root });
  await ok(ws, 'images:import', { jobId: 'imp', paths: files });
  const { items } = await ok(ws, 'images:list', {});
  return { ws, ids: files.map((f) => items.find((i) => i.path === path.relative(root, f).split(path.sep).join('/'))!.id) };
}

async function masksOf(ws: Workspace, imageId: number, runId: number): Promise<{ rle: Rle; score: number; className: string }[]> {
  const names = new Map((await ws.current!.db.prepare('SELECT id, name FROM classes').all() as { id: number; name: string }[]).map((c) => [c.id, c.name]));
  return (await listAnnotations(ws.current!.db, imageId))
    .filter((a) => a.modelRunId === runId)
    .map((a) => {
      if (a.geometry.kind !== 'mask') throw new Error(`expected a mask, got ${a.geometry.kind}`);
      return { rle: a.geometry.rle as Rle, score: a.score!, className: names.get(a.classId!)! };
    });
}

afterAll(closeInferenceBackend);

describe.runIf(deeplab && coco)('DeepLabV3 (NHWC) on coco_tinycoco 000000386912.jpg', () => {
  it('stores one mask per class present, and the person mask overlaps the ground-truth people at IoU >= 0.7', async () => {
    const file = path.join(coco!, 'images/train2017/000000386912.jpg');
    const { ws, ids } = await workspaceWith([file], path.join(coco!, 'images/train2017'));
    try {
      const s = await runPrelabel(ws.current!, (await inferenceBackend()).detector, { manifest: deeplabManifest(deeplab!), modelFile: deeplab!, imageIds: ids, skipLabeled: false });
      expect(s).toMatchObject({ done: 1, failed: 0 });
      const masks = await masksOf(ws, ids[0]!, s.runId);
      // One mask per class: no class twice, never the background.
      expect(new Set(masks.map((m) => m.className)).size).toBe(masks.length);
      expect(masks.map((m) => m.className)).not.toContain('background');
      const person = masks.find((m) => m.className === 'person');
      expect(person).toBeDefined();
      expect(person!.rle.size).toEqual([480, 640]);
      expect(person!.score).toBeGreaterThan(0.5);
      expect(person!.score).toBeLessThanOrEqual(1);
      // Ground truth: the union of the COCO person polygons (category 1) of the image.
      const gt = JSON.parse(fs.readFileSync(path.join(coco!, 'annotations/instances_train2017.json'), 'utf8')) as {
        annotations: { image_id: number; category_id: number; iscrowd: number; segmentation: number[][] }[];
      };
      const parts = gt.annotations.filter((a) => a.image_id === 386912 && a.category_id === 1 && a.iscrowd === 0).flatMap((a) => a.segmentation);
      expect(parts.length).toBeGreaterThan(0);
      const truth = rasterizePolygon(parts, 640, 480);
      const iou = pixelIou(decodeMask(person!.rle), truth);
      console.log(`DeepLabV3 person mask IoU with the ground truth: ${iou.toFixed(3)} (scores upsampled bilinearly, then argmax)`);
      expect(iou).toBeGreaterThanOrEqual(0.7);
    } finally {
      await ws.dispose();
    }
  });
});

/** A row-major 0/1 mask of a stored (column-major) RLE. */
const rowMajor = (rle: Rle): Uint8Array => decodeMask(rle);

describe.runIf(unet && img2d && mask2d)('U-Net nuclei on the 16-bit stardist image', () => {
  let ws: Workspace;
  let id: number;
  let truth: Uint16Array;
  const run = async (m: ModelManifest, tiling?: { size: number; overlap: number }) => {
    const s = await runPrelabel(ws.current!, (await inferenceBackend()).detector, { manifest: m, modelFile: unet!, imageIds: [id], skipLabeled: false, ...(tiling ? { tiling } : {}) });
    expect(s).toMatchObject({ done: 1, failed: 0 });
    return await masksOf(ws, id, s.runId);
  };

  it('foreground IoU against mask2d >= 0.75; watershed instances beat connected components in F1 at IoU 0.5', async () => {
    ({ ws, ids: [id] } = (await workspaceWith([img2d!], path.dirname(img2d!))) as { ws: Workspace; ids: [number] });
    const { data } = await sharp(mask2d!).toColourspace('grey16').raw({ depth: 'ushort' }).toBuffer({ resolveWithObject: true });
    truth = new Uint16Array(data.buffer, data.byteOffset, data.byteLength / 2);

    const fg = await run(unetManifest(unet!));
    expect(fg).toHaveLength(1);
    expect(fg[0]!.className).toBe('nucleus');
    const iou = pixelIou(rowMajor(fg[0]!.rle), truth);

    const plainMasks = await run(unetManifest(unet!, { split: 'none', minArea: 10, fillHoles: true }));
    const splitMasks = await run(unetManifest(unet!, { split: 'watershed', minArea: 10, fillHoles: true }));
    const plain = instanceF1(labelImage(plainMasks.map((m) => m.rle), 512, 512), truth);
    const split = instanceF1(labelImage(splitMasks.map((m) => m.rle), 512, 512), truth);
    console.log(
      `U-Net foreground IoU ${iou.toFixed(3)}; connected components: ${plain.pred} instances, ${plain.tp}/${plain.truth} matched, F1@0.5 ${plain.f1.toFixed(3)}; ` +
        `watershed split: ${split.pred} instances, ${split.tp}/${split.truth} matched, F1@0.5 ${split.f1.toFixed(3)}`,
    );
    expect(iou).toBeGreaterThanOrEqual(0.75);
    expect(plainMasks.length).toBeGreaterThan(1);
    expect(split.f1).toBeGreaterThan(plain.f1);
    expect(splitMasks.length).toBeGreaterThan(plainMasks.length);
    // Instances are disjoint.
    const painted = labelImage(splitMasks.map((m) => m.rle), 512, 512);
    expect(painted.reduce((n, v) => n + (v ? 1 : 0), 0)).toBe(splitMasks.reduce((n, m) => n + decodeMask(m.rle).reduce((a, b) => a + b, 0), 0));
  });

  afterAll(() => ws?.dispose());
});

/**
 * A fully convolutional model of any input size (two 3x3 convolutions, 2 classes): the tiles of an
 * image and the whole image then go through the model at the same scale, so a tiled run can be
 * compared with a whole-image run pixel for pixel.
 */
function convModel(file: string): void {
  let seed = 7;
  const rnd = (): number => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
  fs.writeFileSync(
    file,
    onnxModel({
      inputs: [{ name: 'x', type: FLOAT, dims: [1, 3, 'h', 'w'] }],
      outputs: [{ name: 'y', type: FLOAT, dims: [1, 2, 'h', 'w'] }],
      nodes: [
        { op: 'Conv', inputs: ['x', 'w1', 'b1'], outputs: ['h1'], ints: { kernel_shape: [3, 3], pads: [1, 1, 1, 1] } },
        { op: 'Relu', inputs: ['h1'], outputs: ['r1'] },
        { op: 'Conv', inputs: ['r1', 'w2', 'b2'], outputs: ['y'], ints: { kernel_shape: [3, 3], pads: [1, 1, 1, 1] } },
      ],
      initializers: [
        { name: 'w1', type: FLOAT, dims: [4, 3, 3, 3], values: Array.from({ length: 108 }, rnd) },
        { name: 'b1', type: FLOAT, dims: [4], values: [0.1, -0.1, 0.2, 0] },
        { name: 'w2', type: FLOAT, dims: [2, 4, 3, 3], values: Array.from({ length: 72 }, rnd) },
        { name: 'b2', type: FLOAT, dims: [2], values: [0, 0.05] },
      ],
    }),
  );
}

describe.runIf(coco)('tiled semantic segmentation', () => {
  it('stitches tiles without seams: a tiled run equals the whole-image run of a fully convolutional model', async () => {
    const dir = tempDir();
    const model = path.join(dir, 'conv.onnx');
    convModel(model);
    const file = path.join(coco!, 'images/train2017/000000397133.jpg');
    const { ws, ids } = await workspaceWith([file], path.join(coco!, 'images/train2017'));
    try {
      // Two model ids, so that the second run does not replace the first one's predictions.
      const base = (size: [number, number]): ModelManifest => ({
        id: `conv-${size[0]}`,
        name: 'conv',
        task: 'semantic',
        size: 'dynamic',
        defaultSize: size,
        colour: 'rgb',
        scale: 1,
        letterbox: 'stretch',
        normalize: 'zscore',
        classes: ['a', 'b'],
        thresholds: { score: 0, iou: 0.5, maxDetections: 10 },
        file: model,
      });
      const detector = (await inferenceBackend()).detector;
      // The whole image (640x427) at its own size, and tiles of 160 px at theirs.
      const whole = await runPrelabel(ws.current!, detector, { manifest: base([427, 640]), modelFile: model, imageIds: ids, skipLabeled: false });
      const tiled = await runPrelabel(ws.current!, detector, { manifest: base([160, 160]), modelFile: model, imageIds: ids, skipLabeled: false, tiling: { size: 160, overlap: 32 } });
      expect(whole).toMatchObject({ done: 1, failed: 0 });
      expect(tiled).toMatchObject({ done: 1, failed: 0 });
      const a = await masksOf(ws, ids[0]!, whole.runId);
      const b = await masksOf(ws, ids[0]!, tiled.runId);
      expect(a.map((m) => m.className).sort()).toEqual(['a', 'b']);
      for (const name of ['a', 'b']) {
        const ma = rowMajor(a.find((m) => m.className === name)!.rle);
        const mb = rowMajor(b.find((m) => m.className === name)!.rle);
        let differ = 0;
        for (let i = 0; i < ma.length; i++) if (ma[i] !== mb[i]) differ++;
        console.log(`class ${name}: ${differ} of ${ma.length} pixels differ between the tiled and the whole-image run`);
        // The tiles share the image's z-score statistics; only float rounding may flip a near tie.
        expect(differ / ma.length).toBeLessThan(1e-4);
        expect(pixelIou(ma, mb)).toBeGreaterThan(0.998);
      }
      // A whole-image pass adds nothing to stitched tiles: it is not run, and the run says so.
      const progress: number[] = [];
      const full = await runPrelabel(
        ws.current!,
        detector,
        { manifest: { ...base([160, 160]), id: 'conv-full' }, modelFile: model, imageIds: ids, skipLabeled: false, tiling: { size: 160, overlap: 32, fullPass: true } },
        { onProgress: (p) => p.tiles && progress.push(p.tiles.total) },
      );
      expect(full.warnings.some((w) => w.includes('"+ whole image" pass is not run'))).toBe(true);
      expect(new Set(progress)).toEqual(new Set([tileGrid(640, 427, { size: 160, overlap: 32 }).length]));
      const c = await masksOf(ws, ids[0]!, full.runId);
      expect(rowMajor(c.find((m) => m.className === 'a')!.rle)).toEqual(rowMajor(b.find((m) => m.className === 'a')!.rle));
    } finally {
      await ws.dispose();
    }
  });
});

describe('instances from a semantic mask', () => {
  const one = (instances: ModelManifest['instances']): ModelManifest => ({
    id: 'synthetic',
    name: 'synthetic',
    task: 'semantic',
    size: [64, 64],
    colour: 'rgb',
    scale: 1,
    letterbox: 'stretch',
    classes: ['cell'],
    thresholds: { score: 0, iou: 0.5, maxDetections: 100 },
    file: 'none.onnx',
    ...(instances ? { instances } : {}),
  });
  const maps = (W: number, H: number, inside: (x: number, y: number) => number | null) => {
    const labels = new Uint16Array(W * H).fill(NO_CLASS);
    const prob = new Uint8Array(W * H);
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const p = inside(x, y);
        if (p !== null) {
          labels[y * W + x] = 0;
          prob[y * W + x] = p;
        }
      }
    }
    return { width: W, height: H, labels, prob };
  };

  it('a class covering most of the image is its own foreground: holes filled, nothing inverted', async () => {
    // A 100x70 rectangle in a 120x80 image (73 % of it) with a 10x10 hole.
    const m = maps(120, 80, (x, y) => (x >= 10 && x < 110 && y >= 5 && y < 75 && !(x >= 50 && x < 60 && y >= 30 && y < 40) ? 200 : null));
    const [d, ...rest] = await semanticDetections(m, { manifest: one({ split: 'none', minArea: 10, fillHoles: true }), conf: 0 });
    expect(rest).toHaveLength(0);
    expect(d!.box).toEqual({ x: 10, y: 5, w: 100, h: 70 });
    expect(rleArea(d!.mask!)).toBe(7000);
    const plain = await semanticDetections(m, { manifest: one(undefined), conf: 0 });
    expect(rleArea(plain[0]!.mask!)).toBe(6900);
  });

  it('splits two touching discs with the watershed, not with connected components; drops specks under minArea', async () => {
    const disc = (x: number, y: number, cx: number, r: number): number => Math.hypot(x - cx, y - 40) / r;
    const m = maps(140, 80, (x, y) => {
      const a = disc(x, y, 45, 24), b = disc(x, y, 85, 24);
      if (x >= 130 && x < 133 && y >= 5 && y < 8) return 200; // a 9-pixel speck
      const d = Math.min(a, b);
      return d < 1 ? Math.round(255 - 120 * d) : null;
    });
    const split = await semanticDetections(m, { manifest: one({ split: 'watershed', minArea: 20, fillHoles: true }), conf: 0 });
    const plain = await semanticDetections(m, { manifest: one({ split: 'none', minArea: 20, fillHoles: true }), conf: 0 });
    expect(plain).toHaveLength(1);
    expect(split).toHaveLength(2);
    const xs = split.map((d) => d.box.x + d.box.w / 2).sort((p, q) => p - q);
    expect(xs[0]).toBeGreaterThan(35);
    expect(xs[0]).toBeLessThan(55);
    expect(xs[1]).toBeGreaterThan(75);
    expect(xs[1]).toBeLessThan(95);
    // The two instances share the pixels of the one component.
    expect(rleArea(split[0]!.mask!) + rleArea(split[1]!.mask!)).toBe(rleArea(plain[0]!.mask!));
    for (const d of split) expect(d.score).toBeGreaterThan(0.5);
  });
});

describe.runIf(unet && img2d)('U-Net on the 16-bit stardist image: input window and OpenCV thread', () => {
  /** The U-Net as its manifest would be without a high-bit-depth rule: the display window by default. */
  const byDefault = (id: string, instances?: ModelManifest['instances']): ModelManifest => {
    const { highBitDepth: _, ...m } = unetManifest(unet!, instances);
    return { ...m, id };
  };

  it('a z-scoring model sees the samples, not the display window: a narrow stored window changes nothing', async () => {
    const { ws, ids } = await workspaceWith([img2d!], path.dirname(img2d!));
    const id = ids[0]!;
    try {
      const detector = (await inferenceBackend()).detector;
      const plain = await runPrelabel(ws.current!, detector, { manifest: byDefault('unet-a'), modelFile: unet!, imageIds: [id], skipLabeled: false });
      const info = await ok(ws, 'imaging:getWindow', { imageId: id });
      const range = info.range!;
      // A narrow window in the lower part of the samples: most nuclei clip to white.
      const narrow = { center: range.low + (range.high - range.low) * 0.1, width: Math.max(1, (range.high - range.low) * 0.05) };
      await ok(ws, 'imaging:setWindow', { imageId: id, window: narrow });
      const windowed = await runPrelabel(ws.current!, detector, { manifest: byDefault('unet-b'), modelFile: unet!, imageIds: [id], skipLabeled: false });
      const a = await masksOf(ws, id, plain.runId), b = await masksOf(ws, id, windowed.runId);
      expect(a).toHaveLength(1);
      expect(b).toHaveLength(1);
      expect(rowMajor(b[0]!.rle)).toEqual(rowMajor(a[0]!.rle));
      expect(b[0]!.score).toBeCloseTo(a[0]!.score, 6);
    } finally {
      await ws.dispose();
    }
  });

  it('a workspace splits instances in its own OpenCV thread, which closes with it', async () => {
    // The thread earlier tests' direct runs used, closed: this run must not start it again.
    await closeInstancesWorker();
    const { ws, ids } = await workspaceWith([img2d!], path.dirname(img2d!));
    const model = await ok(ws, 'models:add', { file: unet!, manifest: { ...unetManifest(unet!, { split: 'watershed', minArea: 10, fillHoles: true }), file: undefined } });
    const summary = await ok(ws, 'prelabel:run', { jobId: 'u', modelId: model.manifest.id, scope: { imageIds: ids }, skipLabeled: false });
    expect(summary).toMatchObject({ done: 1, failed: 0 });
    expect(summary.detections).toBeGreaterThan(10);
    expect(ws.vision().running).toBe(true);
    expect(instancesWorkerRunning()).toBe(false);
    const vision = ws.vision();
    await ws.dispose();
    expect(vision.running).toBe(false);
  });

  it('the CLI closes the OpenCV thread it split instances in when its prelabel ends', async () => {
    const dir = tempDir();
    const db = path.join(dir, 'd.tessera');
    const io = { out: () => undefined, err: () => undefined, tty: false };
    expect(await runCli(['init', db, '--root', path.dirname(img2d!)], io)).toBe(0);
    expect(await runCli(['import', db, img2d!], io)).toBe(0);
    const manifest = path.join(dir, 'unet.json');
    fs.writeFileSync(manifest, JSON.stringify(unetManifest(unet!, { split: 'watershed', minArea: 10, fillHoles: true })));
    const out: string[] = [];
    expect(await runCli(['prelabel', db, '--model', manifest, '--provider', 'cpu', '--json'], { ...io, out: (s) => out.push(s) })).toBe(0);
    expect((JSON.parse(out.join('\n')) as { detections: number }).detections).toBeGreaterThan(10);
    expect(instancesWorkerRunning()).toBe(false);
  });

  it('refuses, before running anything, an image too large for a semantic model\'s stitched classes or for instances', async () => {
    const { ws, ids } = await workspaceWith([img2d!], path.dirname(img2d!));
    const id = ids[0]!;
    try {
      const detector = (await inferenceBackend()).detector;
      // The record claims an orthomosaic's size: nothing of that size is read or allocated.
      await ws.current!.db.prepare('UPDATE images SET width = 20000, height = 20000 WHERE id = ?').run(id);
      const err = await tryModel(ws.current!, detector, { manifest: byDefault('unet-big'), modelFile: unet!, imageId: id, tiling: { size: 512, overlap: 64 } }).then(() => null, (e: Error) => e);
      expect(err?.message).toBe(
        'img2d.tif: 20000x20000 pixels (400 MP) is more than semantic model "unet-big" can be run on, 250 MP (TESSERA_SEMANTIC_MAX_PIXELS); cut the image into parts and run them, or raise the limit if this computer has the memory (3 bytes a pixel)',
      );
      await ws.current!.db.prepare('UPDATE images SET width = 9000, height = 8000 WHERE id = ?').run(id);
      const inst = await tryModel(ws.current!, detector, { manifest: byDefault('unet-inst', { split: 'watershed', minArea: 10, fillHoles: true }), modelFile: unet!, imageId: id, tiling: { size: 512, overlap: 64 } }).then(() => null, (e: Error) => e);
      expect(inst?.message).toBe(
        'img2d.tif: 9000x8000 pixels (72 MP) is more than semantic model "unet-inst" can split into instances, 64 MP (TESSERA_INSTANCES_MAX_PIXELS, bounded by OpenCV\'s 32-bit memory); use the model without "instances" for one mask per class, or cut the image into parts',
      );
    } finally {
      await ws.dispose();
    }
  });
});

describe('stitching a semantic model\'s tiles as they arrive', () => {
  it('each tile owns its pixels up to the middle of its overlaps, per axis; pixels of no tile stay unclassified', () => {
    // 100x60 image, tiles of 60 px: x at 0 and 40 (overlap 40..60, cut at 50), y at 0 only.
    const tiles = tileGrid(100, 60, { size: 60, overlap: 20 });
    expect(tiles.map((t) => [t.x, t.y, t.w, t.h])).toEqual([
      [0, 0, 60, 60],
      [40, 0, 60, 60],
    ]);
    const flat = (k: number, p: number) => ({ width: 60, height: 60, labels: new Uint16Array(3600).fill(k), prob: new Uint8Array(3600).fill(p) });
    const st = new SemanticStitch(100, 60, tiles);
    st.add(tiles[1]!, flat(2, 200));
    st.add(tiles[0]!, flat(1, 100));
    const m = st.maps();
    for (const y of [0, 30, 59]) {
      expect([m.labels[y * 100 + 49], m.labels[y * 100 + 50], m.prob[y * 100 + 49], m.prob[y * 100 + 50]]).toEqual([1, 2, 100, 200]);
    }
    expect(new Set(m.labels.subarray(0, 50))).toEqual(new Set([1]));
    expect(new Set(m.labels.subarray(50, 100))).toEqual(new Set([2]));
    // A tile not run (no data only) leaves its part unclassified.
    const partial = new SemanticStitch(100, 60, tiles);
    partial.add(tiles[0]!, flat(1, 100));
    expect([partial.maps().labels[55], partial.maps().prob[55]]).toEqual([NO_CLASS, 0]);
  });
});
