import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rleArea, rleBBox } from '../../src-main/common/geometry/rle';
import { tileGrid } from '../../src-main/common/inference/tiling';
import type { ModelManifest } from '../../src-main/common/inference/types';
import type { Geometry, JobProgress } from '../../src-main/common/model';
import { listAnnotations } from '../../src-main/db/annotations';
import { getImage } from '../../src-main/db/images';
import { readRaster } from '../../src-main/services/raster';
import { getModelRun } from '../../src-main/db/prelabel';
import { closeInferenceBackend, inferenceBackend, jobProgress, runPrelabel, tryModel, type Detector } from '../../src-main/services/prelabel';
import { Workspace } from '../../src-main/services/workspace';
import { openStore } from '../helpers/engine';
import { yolov8nInt8Manifest } from '../helpers/models';
import { repoRoot, sharedPath, tempDir } from '../helpers/shared';
import { newWorkspace, ok } from '../helpers/workspace';

const model = sharedPath('models/yolov8n_int8.onnx');
const segModel = sharedPath('models/yolov8n-seg_int8.onnx');
const photo = sharedPath('datasets/coco_tinycoco/images/train2017/000000397133.jpg');

type Box = { x: number; y: number; w: number; h: number };

/** Ground truth of 000000397133.jpg (coco_tinycoco instances): one person and one bowl, by hand-checked position. */
const PERSON: Box = { x: 389, y: 70, w: 109, h: 278 };
const BOWL: Box = { x: 31, y: 344, w: 68, h: 41 };

/**
 * The photo pasted into a 1400 x 1100 grey canvas at (320, 350). With 640 px tiles and 0.2 overlap
 * the tile edges lie at x = 380, 640, 760, 1020 and y = 460, 640: the person (y 420..698) crosses
 * both horizontal edges, so no tile sees it whole; the bowl (x 351..419) crosses x = 380.
 */
const W = 1400, H = 1100, OX = 320, OY = 350;
const TILING = { size: 640, overlap: 0.2, fullPass: false };
const shift = (b: Box): Box => ({ x: b.x + OX, y: b.y + OY, w: b.w, h: b.h });

function iou(a: Box, b: Box): number {
  const w = Math.max(0, Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x));
  const h = Math.max(0, Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y));
  return (w * h) / (a.w * a.h + b.w * b.h - w * h);
}

/**
 * The detections of `cls` that are about `gt` (IoU above 0.3): there must be exactly one (an
 * object cut by a border found twice would give two), and it must sit at the right place. The
 * photo holds other objects too (four bowls, two people), so detections elsewhere do not count.
 */
function expectOnce(dets: { cls: string; box: Box }[], cls: string, gt: Box): void {
  const near = dets.filter((d) => d.cls === cls && iou(d.box, gt) > 0.3);
  expect(near, `${cls} near ${JSON.stringify(gt)}`).toHaveLength(1);
  expect(iou(near[0]!.box, gt)).toBeGreaterThanOrEqual(0.7);
}

const crosses = (b: Box, tiles: Box[]): boolean =>
  tiles.some((t) => (b.x < t.x && b.x + b.w > t.x) || (b.x < t.x + t.w && b.x + b.w > t.x + t.w) || (b.y < t.y && b.y + b.h > t.y) || (b.y < t.y + t.h && b.y + b.h > t.y + t.h));

async function bigImage(dir: string): Promise<string> {
  const file = path.join(dir, 'big.png');
  await sharp({ create: { width: W, height: H, channels: 3, background: { r: 128, g: 128, b: 128 } } })
    .composite([{ input: photo!, left: OX, top: OY }])
    .png()
    .toFile(file);
  return file;
}

/** A workspace in `dir` with a dataset over `root` holding the one image `file`. */
async function withImage(dir: string, file: string, root: string): Promise<{ ws: Workspace; imageId: number }> {
  const ws = newWorkspace(dir);
  await ok(ws, 'dataset:create', { path: path.join(dir, 'd.tessera'), root });
  await ok(ws, 'images:import', { jobId: 'imp', paths: [file] });
  return { ws, imageId: (await ok(ws, 'images:list', {})).items[0]!.id };
}

/** The shared detector, keeping a copy of the last raw input it was given. */
async function recordingDetector(): Promise<{ detector: Detector; last: Uint8Array | null }> {
  const real = (await inferenceBackend()).detector;
  const recorder: { detector: Detector; last: Uint8Array | null } = {
    last: null,
    detector: {
      detect: (req) => {
        // Copied before the request hands the buffer to the worker.
        recorder.last = req.raw ? req.raw.data.slice() : null;
        return real.detect(req);
      },
    },
  };
  return recorder;
}

function boxOf(g: Geometry): Box {
  if (g.kind === 'box') return g;
  if (g.kind === 'mask') return rleBBox(g.rle);
  throw new Error(`unexpected ${g.kind}`);
}

describe.runIf(model && photo)('tiled inference with yolov8n_int8 on a photo pasted across tile borders', () => {
  let ws: Workspace;
  let imageId: number;
  const manifest: ModelManifest = yolov8nInt8Manifest(model ?? 'absent.onnx');
  beforeAll(async () => {
    const dir = tempDir();
    ({ ws, imageId } = await withImage(dir, await bigImage(dir), dir));
  });
  afterAll(closeInferenceBackend);

  it('the test image really puts both objects across tile borders', () => {
    const tiles = tileGrid(W, H, TILING);
    expect(crosses(shift(PERSON), tiles)).toBe(true);
    expect(crosses(shift(BOWL), tiles)).toBe(true);
    // No tile holds the person whole: merging must rebuild it from pieces.
    expect(tiles.some((t) => t.y <= OY + PERSON.y && t.y + t.h >= OY + PERSON.y + PERSON.h)).toBe(false);
  });

  it('finds the person and the bowl once each, at the right place, and records the tiling in the run', async () => {
    const { detector } = await inferenceBackend();
    const progress: JobProgress[] = [];
    const s = await runPrelabel(
      ws.current!,
      detector,
      { manifest, modelFile: model!, imageIds: [imageId], skipLabeled: false, tiling: TILING },
      { onProgress: (p) => progress.push(jobProgress('j', p)) },
    );
    expect(s.done).toBe(1);
    const anns = await listAnnotations(ws.current!.db, imageId);
    const dets = anns.map((a) => ({ cls: String(a.attributes['modelClass']), box: boxOf(a.geometry) }));
    expectOnce(dets, 'person', shift(PERSON));
    expectOnce(dets, 'bowl', shift(BOWL));
    // Nothing detected on the plain grey outside the photo.
    for (const a of anns) {
      const b = boxOf(a.geometry);
      expect(b.x + b.w).toBeGreaterThan(OX - 5);
      expect(b.y + b.h).toBeGreaterThan(OY - 5);
    }
    // Progress counts tiles: 3 x 2 of them.
    const tiles = progress.filter((p) => p.total === 6).map((p) => p.done);
    expect([...new Set(tiles)]).toEqual([0, 1, 2, 3, 4, 5, 6]);
    const params = (await getModelRun(ws.current!.db, s.runId))!.parameters;
    expect(params['tiling']).toEqual(TILING);
  });

  it('a failed tile stops the image: no further tile starts and progress never passes the total', async () => {
    const real = (await inferenceBackend()).detector;
    let calls = 0;
    const detector = {
      detect: (req: Parameters<typeof real.detect>[0]) => {
        calls++;
        return calls === 1 ? Promise.reject(new Error('tile failed on purpose')) : real.detect(req);
      },
    };
    const progress: { done: number; total: number }[] = [];
    const s = await runPrelabel(
      ws.current!,
      detector,
      { manifest, modelFile: model!, imageIds: [imageId], skipLabeled: false, tiling: TILING },
      { onProgress: (p) => p.tiles && progress.push({ ...p.tiles }) },
    );
    expect(s.failed).toBe(1);
    expect(s.warnings.join('\n')).toContain('tile failed on purpose');
    // The other lane finishes the tile it had begun and starts no other, even later on.
    await new Promise((r) => setTimeout(r, 1500));
    expect(calls).toBe(2);
    expect(progress.length).toBeGreaterThan(1);
    for (const p of progress) expect(p.done).toBeLessThanOrEqual(p.total);
    expect(progress.at(-1)).toEqual({ done: 6, total: 6 });
  });

  it('without the merging rule the same tiles would give the person more than once', async () => {
    // The raw per-tile detections, straight from the detector, show what the merge had to fix.
    const { detector } = await inferenceBackend();
    const ds = ws.current!;
    const im = (await ok(ws, 'images:get', { id: imageId }));
    let pieces = 0;
    for (const t of tileGrid(W, H, TILING)) {
      const r = await detector.detect({ manifest, modelFile: model!, imagePath: path.join(ds.root, im.path), conf: 0.25, iou: 0.45, region: t });
      pieces += r.detections.filter((d) => manifest.classes[d.classIndex] === 'person' && iou({ x: d.box.x + t.x, y: d.box.y + t.y, w: d.box.w, h: d.box.h }, shift(PERSON)) > 0.2).length;
    }
    expect(pieces).toBeGreaterThanOrEqual(2);
  });

  it('a full-image pass adds its detections to the merge without duplicating objects', async () => {
    const { detector } = await inferenceBackend();
    const r = await tryModel(ws.current!, detector, { manifest, modelFile: model!, imageId, tiling: { ...TILING, fullPass: true } });
    expect(r.tiles).toBe(7);
    const dets = r.detections.map((d) => ({ cls: manifest.classes[d.classIndex]!, box: d.box }));
    expectOnce(dets, 'person', shift(PERSON));
    expectOnce(dets, 'bowl', shift(BOWL));
  });
});

describe.runIf(segModel && photo)('tiled inference with yolov8n-seg_int8: masks in image coordinates', () => {
  let ws: Workspace;
  let imageId: number;
  const manifest: ModelManifest = { ...yolov8nInt8Manifest(segModel ?? 'absent.onnx'), id: 'yolov8n-seg-int8', task: 'segment', size: [320, 320] };
  beforeAll(async () => {
    const dir = tempDir();
    ({ ws, imageId } = await withImage(dir, await bigImage(dir), dir));
  });
  afterAll(closeInferenceBackend);

  it('gives the person once, with an image-sized mask whose extent matches the shifted ground truth', async () => {
    const { detector } = await inferenceBackend();
    const r = await tryModel(ws.current!, detector, { manifest, modelFile: segModel!, imageId, tiling: TILING });
    const dets = r.detections.map((d) => ({ cls: manifest.classes[d.classIndex]!, box: d.box }));
    expectOnce(dets, 'person', shift(PERSON));
    const person = r.detections.find((d) => manifest.classes[d.classIndex] === 'person' && iou(d.box, shift(PERSON)) > 0.3)!;
    const mask = person.mask!;
    expect(mask.size).toEqual([H, W]);
    expect(iou(rleBBox(mask), shift(PERSON))).toBeGreaterThanOrEqual(0.7);
    // A person fills a good part of its box, not a sliver of one tile.
    expect(rleArea(mask)).toBeGreaterThan(0.3 * PERSON.w * PERSON.h);
  });
});

const deep = sharedPath('datasets/tiff16_stardist_dsb2018/img2d.tif');

describe.runIf(model && deep)('what models see of a 16-bit image (stardist img2d.tif, samples 0..235)', () => {
  let ws: Workspace;
  let imageId: number;
  beforeAll(async () => {
    ({ ws, imageId } = await withImage(tempDir(), deep!, path.dirname(deep!)));
  });
  afterAll(closeInferenceBackend);

  /** Runs pre-labeling under one rule and returns the recorded window and the bytes the model was given. */
  async function run(rule: Pick<ModelManifest, 'highBitDepth' | 'window'>): Promise<{ recorded: [number, number]; mode: string; bytes: Uint8Array }> {
    const recorder = await recordingDetector();
    const manifest = { ...yolov8nInt8Manifest(model!), ...rule };
    const s = await runPrelabel(ws.current!, recorder.detector, { manifest, modelFile: model!, imageIds: [imageId], skipLabeled: false });
    expect(s.done).toBe(1);
    const hbd = (await getModelRun(ws.current!.db, s.runId))!.parameters['highBitDepth'] as { mode: string; images: Record<string, [number, number]> };
    expect(recorder.last).not.toBeNull();
    return { recorded: hbd.images[String(imageId)]!, mode: hbd.mode, bytes: recorder.last! };
  }

  const stats = (b: Uint8Array) => {
    let min = 255, max = 0, at255 = 0;
    for (const v of b) {
      if (v < min) min = v;
      if (v > max) max = v;
      if (v === 255) at255++;
    }
    return { min, max, at255: at255 / b.length };
  };

  it('minmax spreads the lowest..highest sample (0..235 in this file) over 0..255', async () => {
    const r = await run({ highBitDepth: 'minmax' });
    expect(r.mode).toBe('minmax');
    expect(r.recorded[1]).toBe(235);
    expect(r.recorded[0]).toBeLessThan(20);
    const s = stats(r.bytes);
    expect(s.min).toBe(0);
    expect(s.max).toBe(255);
  });

  it('window (the default) uses the automatic 0.5-99.5 % window: about 0.5 % of the pixels saturate', async () => {
    const r = await run({});
    expect(r.mode).toBe('window');
    expect(r.recorded[1]).toBeLessThan(235);
    expect(r.recorded[1]).toBeGreaterThan(r.recorded[0]);
    const s = stats(r.bytes);
    expect(s.max).toBe(255);
    expect(s.at255).toBeGreaterThan(0.001);
    expect(s.at255).toBeLessThan(0.02);
  });

  it('fixed without a window maps the whole 16-bit range: this image stays nearly black', async () => {
    const r = await run({ highBitDepth: 'fixed' });
    expect(r.recorded).toEqual([0, 65535]);
    expect(stats(r.bytes).max).toBe(1); // 235 * 255 / 65535 rounds to 1
  });

  it('fixed with a window {center 100, width 200} maps 0..200', async () => {
    const r = await run({ highBitDepth: 'fixed', window: { center: 100, width: 200 } });
    expect(r.recorded).toEqual([0, 200]);
    const s = stats(r.bytes);
    expect(s.max).toBe(255); // 235 > 200 saturates
  });
});

describe.runIf(model && photo)('tessera prelabel --tile', () => {
  const BIN = path.join(repoRoot, 'scripts', 'tessera.mjs');
  const tessera = (...args: string[]) => {
    const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 120_000 });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };

  it('runs tiled with --tile/--overlap/--full-pass, records them, and refuses an overlap as large as the tile', async () => {
    const dir = tempDir();
    const file = await bigImage(dir);
    const db = path.join(dir, 'd.tessera');
    expect(tessera('init', db, '--root', dir).code).toBe(0);
    expect(tessera('import', db, file, '--json').code).toBe(0);
    const manifest = path.join(dir, 'm.json');
    fs.writeFileSync(manifest, JSON.stringify(yolov8nInt8Manifest(model!)));
    const bad = tessera('prelabel', db, '--model', manifest, '--tile', '640', '--overlap', '640');
    expect(bad.code).not.toBe(0);
    expect(bad.err).toMatch(/overlap/);
    const r = tessera('prelabel', db, '--model', manifest, '--tile', '640', '--overlap', '0.2', '--full-pass', '--json');
    expect(r.code, r.err).toBe(0);
    const s = JSON.parse(r.out) as { runId: number; done: number };
    expect(s.done).toBe(1);
    const sql = await openStore(db);
    const params = JSON.parse(await sql.prepare('SELECT parameters FROM model_runs WHERE id = ?').pluck().get(s.runId) as string);
    const persons = (await sql.prepare("SELECT geometry FROM annotations WHERE json_extract(attributes, '$.modelClass') = 'person'").pluck().all() as string[]).map(
      (g) => JSON.parse(g) as Box,
    );
    await sql.close();
    expect(params.tiling).toEqual({ size: 640, overlap: 0.2, fullPass: true });
    expect(persons.filter((b) => iou(b, shift(PERSON)) > 0.3)).toHaveLength(1);
  });
});

describe.runIf(model && deep)('pre-labeling a deep image too large to decode whole', () => {
  let ws: Workspace;
  let imageId: number;
  const saved = process.env['TESSERA_FULL_DECODE_PIXELS'];
  beforeAll(async () => {
    ({ ws, imageId } = await withImage(tempDir(), deep!, path.dirname(deep!)));
  });
  afterAll(async () => {
    if (saved === undefined) delete process.env['TESSERA_FULL_DECODE_PIXELS'];
    else process.env['TESSERA_FULL_DECODE_PIXELS'] = saved;
    await closeInferenceBackend();
  });

  /** The raw input of each tile (by its place), for a run under the given full-decode cap. */
  async function tileInputs(cap: number | null, tiling: { size: number; overlap: number; fullPass: boolean } | undefined) {
    if (cap === null) delete process.env['TESSERA_FULL_DECODE_PIXELS'];
    else process.env['TESSERA_FULL_DECODE_PIXELS'] = String(cap);
    const real = (await inferenceBackend()).detector;
    const seen = new Map<string, Uint8Array>();
    const detector = {
      detect: (req: Parameters<typeof real.detect>[0]) => {
        expect(req.raw).toBeDefined();
        seen.set(`${req.raw!.width}x${req.raw!.height}#${seen.size}`, req.raw!.data.slice());
        return real.detect(req);
      },
    };
    // A fixed window, so the input does not depend on which samples it was computed from.
    const manifest = { ...yolov8nInt8Manifest(model!), highBitDepth: 'fixed' as const, window: { center: 100, width: 200 } };
    const s = await runPrelabel(ws.current!, detector, { manifest, modelFile: model!, imageIds: [imageId], skipLabeled: false, ...(tiling ? { tiling } : {}) });
    return { s, seen };
  }

  it('runs it untiled, decoded whole, while it is smaller than the images shown from a pyramid', async () => {
    const { s, seen } = await tileInputs(1000, undefined);
    expect(s.done).toBe(1);
    expect([...seen.keys()]).toEqual(['512x512#0']);
  });

  it('refuses an untiled run on one shown from a pyramid, with a message that suggests tiling', async () => {
    const savedPyramid = process.env['TESSERA_PYRAMID_PIXELS'];
    process.env['TESSERA_PYRAMID_PIXELS'] = '2000';
    try {
      const { s, seen } = await tileInputs(1000, undefined);
      expect(s.failed).toBe(1);
      expect(seen.size).toBe(0);
      expect(s.warnings.join('\n')).toMatch(/too large to run whole; run it tiled/);
      const row = await ws.current!.db.prepare('SELECT error FROM model_run_images WHERE run_id = ? AND image_id = ?').get(s.runId, imageId) as { error: string };
      expect(row.error).toContain('tiled');
    } finally {
      if (savedPyramid === undefined) delete process.env['TESSERA_PYRAMID_PIXELS'];
      else process.env['TESSERA_PYRAMID_PIXELS'] = savedPyramid;
    }
  });

  it('decodes it a tile at a time, giving each tile the same input as a whole decode would', async () => {
    const tiling = { size: 128, overlap: 0.1, fullPass: false };
    const whole = await tileInputs(null, tiling);
    const byRegion = await tileInputs(1000, tiling);
    expect(byRegion.s.done).toBe(1);
    expect(byRegion.seen.size).toBe(whole.seen.size);
    expect(byRegion.seen.size).toBeGreaterThan(1);
    // Tiles run two at a time, so they are compared as a set of inputs.
    const key = (b: Uint8Array) => Buffer.from(b).toString('base64');
    expect(new Set([...byRegion.seen.values()].map(key))).toEqual(new Set([...whole.seen.values()].map(key)));
  });
});

const colourDicom = sharedPath('datasets/dicom_pydicom/examples_rgb_color.dcm');

describe.runIf(model && colourDicom)('pre-labeling 8-bit colour DICOM', () => {
  afterAll(closeInferenceBackend);

  it('feeds the stored colours to the model, not a contrast-stretched copy', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'rgb.dcm');
    fs.copyFileSync(colourDicom!, file);
    const { ws, imageId } = await withImage(dir, file, dir);
    const recorder = await recordingDetector();
    const s = await runPrelabel(ws.current!, recorder.detector, { manifest: yolov8nInt8Manifest(model!), modelFile: model!, imageIds: [imageId], skipLabeled: false });
    expect(s.done).toBe(1);
    const im = (await getImage(ws.current!.db, imageId))!;
    const stored = await readRaster(ws.current!, im);
    expect(stored.data).toBeInstanceOf(Uint8Array);
    expect(stored.channels).toBe(3);
    expect(recorder.last).not.toBeNull();
    expect(Buffer.from(recorder.last!).equals(Buffer.from(stored.data as Uint8Array))).toBe(true);
    // No input window is recorded for it.
    const hbd = (await getModelRun(ws.current!.db, s.runId))!.parameters['highBitDepth'] as { images: Record<string, unknown> };
    expect(hbd.images[String(imageId)]).toBeUndefined();
    await ws.close();
  });
});
