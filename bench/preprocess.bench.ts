/**
 * Preprocessing benchmark (`npm run bench:preprocess`): milliseconds per image of
 * `preprocess` (read, decode, orient, resize, tensor layout) for a 640x480 COCO JPEG and a
 * 4000x3000 JPEG made from it, into the yolov8n input (320x320, centred letterbox) and the
 * yolox_nano input (416x416, top-left), for each resize method. Medians over --runs (default 25)
 * calls after 3 warm-up calls; the methods alternate call by call so that load from elsewhere on
 * the machine falls on all of them. 'cv2-linear, size recorded' is the call pre-labeling makes for
 * a stored 8-bit image: its size is passed and the header is not read. Options: --runs N, --json
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { COCO80 } from '../src-main/common/inference/coco';
import { RESIZE_METHODS, type ModelManifest, type ResizeMethod } from '../src-main/common/inference/types';
import { preprocess } from '../src-main/inference/preprocess';
import { median } from './stats';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '25' }, json: { type: 'boolean', default: false } } });
const RUNS = Number(values.runs);
const root = path.resolve(import.meta.dirname, '..', '..', 'shared');
const small = path.join(root, 'datasets', 'coco_tinycoco', 'images', 'train2017', '000000017627.jpg');
if (!fs.existsSync(small)) {
  console.log(`skipped: ${small} is not present`);
  process.exit(0);
}
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-bench-pre-'));
const large = path.join(dir, 'large.jpg');
await sharp(small).resize(4000, 3000, { kernel: 'lanczos3' }).jpeg({ quality: 90 }).toFile(large);

const common = { task: 'detect' as const, classes: [...COCO80], thresholds: { score: 0.25, iou: 0.45, maxDetections: 300 }, file: 'x.onnx', letterbox: 114 };
const models: { name: string; m: ModelManifest; size: [number, number] }[] = [
  { name: 'yolov8n 320', m: { ...common, id: 'v8', name: 'v8', family: 'ultralytics', size: [320, 320], colour: 'rgb', scale: 1 / 255 }, size: [320, 320] },
  { name: 'yolox 416', m: { ...common, id: 'x', name: 'x', family: 'yolox', size: [416, 416], colour: 'bgr', scale: 1, letterboxAlign: 'topleft' }, size: [416, 416] },
];
// Each method from the file alone, and 'cv2-linear' also given the size a dataset records (as
// pre-labeling passes it), which saves reading the header.
const variants: { label: string; resize: ResizeMethod; recorded: boolean }[] = [
  ...RESIZE_METHODS.map((resize) => ({ label: resize, resize, recorded: false })),
  { label: 'cv2-linear, size recorded', resize: 'cv2-linear', recorded: true },
];
const rows: { image: string; model: string; resize: string; medianMs: number }[] = [];
for (const [label, file] of [['640x480', small], ['4000x3000', large]] as const) {
  const meta = await sharp(file).metadata();
  const recordedSize = { width: meta.width!, height: meta.height! };
  for (const { name, m, size } of models) {
    const ms: Record<string, number[]> = {};
    for (let i = 0; i < RUNS + 3; i++) {
      for (const v of variants) {
        const t0 = performance.now();
        await preprocess(v.recorded ? { path: file, size: recordedSize } : file, { ...m, resize: v.resize }, size);
        if (i >= 3) (ms[v.label] ??= []).push(performance.now() - t0);
      }
    }
    for (const v of variants) rows.push({ image: label, model: name, resize: v.label, medianMs: median(ms[v.label]!) });
  }
}
fs.rmSync(dir, { recursive: true, force: true });
if (values.json) console.log(JSON.stringify(rows));
else for (const r of rows) console.log(`${r.image.padEnd(10)} ${r.model.padEnd(12)} ${r.resize.padEnd(26)} ${r.medianMs.toFixed(2).padStart(8)} ms`);
