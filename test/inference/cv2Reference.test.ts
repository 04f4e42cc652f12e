/**
 * Tessera's model input against the reference preprocessing of the models' own projects
 * (Ultralytics LetterBox, YOLOX preproc, RT-DETR stretch; cv2.imread + cv2.resize INTER_LINEAR),
 * run by /usr/bin/python3 with Debian's OpenCV; and the detections either input gives.
 */
import fs from 'node:fs';
import path from 'node:path';
import ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postprocess } from '../../src-main/common/inference/postprocess';
import type { Detection, ModelManifest } from '../../src-main/common/inference/types';
import { detectInProcess } from '../../src-main/inference/detect';
import { inspectModel } from '../../src-main/inference/inspect';
import { preprocess } from '../../src-main/inference/preprocess';
import { getSession, releaseSessions } from '../../src-main/inference/sessions';
import { cv2Available, cv2Reference, type ReferenceInput, type ReferenceJob, type ReferenceMode } from '../helpers/cv2';
import { sharedPath, tempDir } from '../helpers/shared';
import { image, shared } from './models';

const bccd = sharedPath('datasets/bccd_voc/JPEGImages');
const present = Boolean(shared.yolov8n && shared.yoloxNano && shared.coco && bccd);
const opencv = present && cv2Available();

const PORTRAIT = '000000006818.jpg'; // 427x640
const SMALL = '000000037777.jpg'; // 352x230, with an embedded ICC profile that cv2.imread ignores
const HALF_ROUNDING = '000000181666.jpg'; // 640x425: 425 * 320/640 = 212.5, which Python rounds to 212

/** The pixel order, scale and padding of each reference; colour and scale as the real models use. */
const layouts: Record<ReferenceMode, Pick<ModelManifest, 'colour' | 'scale' | 'letterbox' | 'letterboxAlign'>> = {
  center: { colour: 'rgb', scale: 1 / 255, letterbox: 114 },
  topleft: { colour: 'bgr', scale: 1, letterbox: 114, letterboxAlign: 'topleft' },
  stretch: { colour: 'rgb', scale: 1 / 255, letterbox: 'stretch' },
};
const manifestFor = (mode: ReferenceMode, height: number, width: number): ModelManifest => ({
  id: 'ref',
  name: 'ref',
  task: 'detect',
  family: mode === 'topleft' ? 'yolox' : mode === 'stretch' ? 'rtdetr' : 'ultralytics',
  size: [height, width],
  classes: ['a'],
  thresholds: { score: 0.25, iou: 0.45, maxDetections: 300 },
  file: 'ref.onnx',
  ...layouts[mode],
});

/** The model input made from the reference's BGR image, laid out as `m` says. */
function referenceTensor(ref: ReferenceInput, m: ModelManifest, plane: number): Float32Array {
  const t = new Float32Array(3 * plane);
  const mean = m.mean ?? [0, 0, 0];
  const std = m.std ?? [1, 1, 1];
  for (let c = 0; c < 3; c++) {
    const s = m.colour === 'bgr' ? c : 2 - c;
    for (let i = 0; i < plane; i++) t[c * plane + i] = (ref.bgr[i * 3 + s]! * m.scale - mean[c]!) / std[c]!;
  }
  return t;
}

/** Largest difference, in 0-255 grey levels, between Tessera's input and the reference's. */
function greyLevelDiff(tensor: Float32Array, ref: ReferenceInput, m: ModelManifest, plane: number): { max: number; differing: number } {
  let max = 0;
  let differing = 0;
  for (let c = 0; c < 3; c++) {
    const s = m.colour === 'bgr' ? c : 2 - c;
    for (let i = 0; i < plane; i++) {
      const d = Math.abs(Math.round(tensor[c * plane + i]! / m.scale) - ref.bgr[i * 3 + s]!);
      if (d > max) max = d;
      if (d) differing++;
    }
  }
  return { max, differing };
}

function iou(a: Detection['box'], b: Detection['box']): number {
  const iw = Math.min(a.x + a.w, b.x + b.w) - Math.max(a.x, b.x);
  const ih = Math.min(a.y + a.h, b.y + b.h) - Math.max(a.y, b.y);
  if (iw <= 0 || ih <= 0) return 0;
  return (iw * ih) / (a.w * a.h + b.w * b.h - iw * ih);
}

/** How many of `from` have a box in `to` of the same class, IoU >= 0.9 and score within 0.02. */
const matched = (from: readonly Detection[], to: readonly Detection[]): number =>
  from.filter((d) => to.some((e) => e.classIndex === d.classIndex && iou(d.box, e.box) >= 0.9 && Math.abs(d.score - e.score) <= 0.02)).length;

describe.skipIf(!opencv)('preprocessing against the reference (Python OpenCV)', () => {
  const dir = tempDir();
  const coco = present ? fs.readdirSync(path.dirname(image('x'))).filter((f) => f.endsWith('.jpg')).sort() : [];
  const blood = present ? fs.readdirSync(bccd!).filter((f) => f.endsWith('.jpg')).sort().slice(0, 6) : [];
  const jobs: ReferenceJob[] = [
    ...coco.flatMap((f) => [
      { image: image(f), mode: 'center' as const, height: 320, width: 320 },
      { image: image(f), mode: 'topleft' as const, height: 416, width: 416 },
      { image: image(f), mode: 'stretch' as const, height: 640, width: 640 },
    ]),
    ...blood.flatMap((f) => [
      { image: path.join(bccd!, f), mode: 'center' as const, height: 320, width: 320 },
      { image: path.join(bccd!, f), mode: 'topleft' as const, height: 416, width: 416 },
    ]),
    // Enlarged: 352x230 and the 427x640 portrait into 640x640; a wide input for the portrait.
    { image: image(SMALL), mode: 'center', height: 640, width: 640 },
    { image: image(PORTRAIT), mode: 'center', height: 640, width: 640 },
    { image: image(PORTRAIT), mode: 'center', height: 384, width: 640 },
  ];
  let refs: ReferenceInput[] = [];
  beforeAll(() => {
    refs = cv2Reference(jobs, dir);
  });
  afterAll(async () => {
    await releaseSessions();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('the input is within one grey level of the reference everywhere, with the same letterbox geometry', async () => {
    const failures: string[] = [];
    let samples = 0;
    let differing = 0;
    for (const [i, j] of jobs.entries()) {
      const m = manifestFor(j.mode, j.height, j.width);
      const pre = await preprocess(j.image, m, [j.height, j.width]);
      const { srcW, srcH, newW, newH, padLeft, padTop } = pre.geometry;
      const r = refs[i]!.geometry;
      const name = `${path.basename(j.image)} ${j.mode} ${j.width}x${j.height}`;
      expect({ srcW, srcH, newW, newH, padLeft, padTop }, name).toEqual({ srcW: r.srcW, srcH: r.srcH, newW: r.newW, newH: r.newH, padLeft: r.padLeft, padTop: r.padTop });
      const d = greyLevelDiff(pre.tensor, refs[i]!, m, j.width * j.height);
      samples += 3 * j.width * j.height;
      differing += d.differing;
      if (d.max > 1) failures.push(`${name}: ${d.differing} samples differ, by up to ${d.max}`);
    }
    console.log(`${jobs.length} inputs, ${samples} samples, ${differing} differ from the reference`);
    expect(failures).toEqual([]);
  }, 60_000);

  it('covers the rounding case, the portrait, the enlargement and the top-left placement', () => {
    const geometry = (name: string, mode: ReferenceMode, w: number, h: number) => refs[jobs.findIndex((j) => j.image === image(name) && j.mode === mode && j.width === w && j.height === h)]!.geometry;
    // 212.5 -> 212 (half to even), padding split 54 / 54.
    expect(geometry(HALF_ROUNDING, 'center', 320, 320)).toMatchObject({ newW: 320, newH: 212, padTop: 54 });
    expect(geometry(PORTRAIT, 'center', 320, 320)).toMatchObject({ newW: 214, newH: 320, padLeft: 53 });
    expect(geometry(SMALL, 'center', 640, 640)).toMatchObject({ newW: 640, newH: 418, padTop: 111 });
    expect(geometry(SMALL, 'topleft', 416, 416)).toMatchObject({ newW: 416, newH: 271, padTop: 0, padLeft: 0 });
  });

  it.each([
    ['yolov8n_int8', () => shared.yolov8n!, 'center'],
    ['yolox_nano', () => shared.yoloxNano!, 'topleft'],
  ] as const)('%s: detections equal those on the reference input for at least 95 percent of boxes both ways', async (_, file, mode) => {
    const m = (await inspectModel(file())).proposed!;
    const [h, w] = m.size as [number, number];
    const { session } = await getSession(file());
    let ours = 0;
    let theirs = 0;
    let oursMatched = 0;
    let theirsMatched = 0;
    for (const f of coco) {
      const i = jobs.findIndex((j) => j.image === image(f) && j.mode === mode && j.width === w && j.height === h);
      const tessera = (await detectInProcess({ file: file() }, image(f), m)).detections;
      const results = await session.run({ [m.input ?? session.inputNames[0]!]: new ort.Tensor('float32', referenceTensor(refs[i]!, m, w * h), [1, 3, h, w]) });
      const outputs = session.outputNames.map((name) => ({ name, dims: results[name]!.dims, data: results[name]!.data as Float32Array }));
      const reference = postprocess(outputs, m, refs[i]!.geometry, file());
      ours += tessera.length;
      theirs += reference.length;
      oursMatched += matched(tessera, reference);
      theirsMatched += matched(reference, tessera);
    }
    console.log(`${path.basename(file())}: ${oursMatched}/${ours} of Tessera's boxes match the reference's, ${theirsMatched}/${theirs} the other way`);
    expect(ours).toBeGreaterThan(50);
    expect(oursMatched / ours).toBeGreaterThanOrEqual(0.95);
    expect(theirsMatched / theirs).toBeGreaterThanOrEqual(0.95);
  }, 180_000);
});
