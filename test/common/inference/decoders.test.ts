import { describe, expect, it } from 'vitest';
import { decodeMask, rleArea, rleBBox } from '../../../src-main/common/geometry';
import { isAppError } from '../../../src-main/common/errors';
import { decode, resolveInputSize, yoloxAnchorCount } from '../../../src-main/common/inference/decode';
import { letterboxGeometry } from '../../../src-main/common/inference/letterbox';
import { MaskAssembler } from '../../../src-main/common/inference/masks';
import { postprocess } from '../../../src-main/common/inference/postprocess';
import type { ModelManifest, OutputTensor } from '../../../src-main/common/inference/types';

const NC = 3;
const manifest = (over: Partial<ModelManifest>): ModelManifest => ({
  id: 't',
  name: 't',
  task: 'detect',
  family: 'ultralytics',
  size: [64, 64],
  colour: 'rgb',
  scale: 1 / 255,
  letterbox: 114,
  classes: ['a', 'b', 'c'].slice(0, NC),
  thresholds: { score: 0.25, iou: 0.45, maxDetections: 100 },
  file: 't.onnx',
  ...over,
});
const tensor = (name: string, dims: number[], fill?: (d: Float32Array) => void): OutputTensor => {
  const data = new Float32Array(dims.reduce((a, b) => a * b, 1));
  fill?.(data);
  return { name, dims, data };
};
/** Identity geometry: the image is the 64x64 input itself. */
const ident = letterboxGeometry(64, 64, 64, 64);
const boxes = (m: ModelManifest, outs: OutputTensor[]) =>
  postprocess(outs, m, ident, 'synthetic.onnx').map((d) => [d.classIndex, +d.score.toFixed(3), ...[d.box.x, d.box.y, d.box.w, d.box.h].map((v) => +v.toFixed(3))]);

/** Ultralytics layout [1, 4+nc(+nm), N]: column j is candidate j. */
function ultralytics(rows: [number, number, number, number, number[], number[]?][], nm = 0): OutputTensor {
  const n = rows.length;
  return tensor('output0', [1, 4 + NC + nm, n], (d) =>
    rows.forEach(([cx, cy, w, h, scores, coeffs], j) => {
      [cx, cy, w, h, ...scores, ...(coeffs ?? [])].forEach((v, r) => (d[r * n + j] = v));
    }),
  );
}

describe('ultralytics decoder', () => {
  it('reads channels-first columns, takes the best class and runs class-aware NMS', () => {
    const out = ultralytics([
      [20, 20, 10, 10, [0.9, 0.1, 0]],
      [21, 20, 10, 10, [0.8, 0, 0]], // duplicate of the first
      [21, 20, 10, 10, [0, 0.7, 0]], // same place, class 1
      [50, 50, 4, 8, [0, 0, 0.2]], // below the score threshold
    ]);
    expect(boxes(manifest({}), [out])).toEqual([
      [0, 0.9, 15, 15, 10, 10],
      [1, 0.7, 16, 15, 10, 10],
    ]);
  });

  it('refuses a class count that does not match the output, naming both shapes', () => {
    const out = tensor('output0', [1, 84, 2100]);
    expect(() => postprocess([out], manifest({}), ident, 'm.onnx')).toThrow('m.onnx: output "output0" does not fit an ultralytics detect head with 3 classes: expected [1, 7, N], got [1, 84, 2100]');
  });

  it('refuses a yolox-shaped output and says what it looks like', () => {
    const out = tensor('output', [1, 3549, 85]);
    const m = manifest({ classes: Array.from({ length: 80 }, (_, i) => `c${i}`) });
    let err: unknown;
    try {
      postprocess([out], m, ident, 'yolox_nano.onnx');
    } catch (e) {
      err = e;
    }
    expect(isAppError(err) && err.code).toBe('INVALID_ARGUMENT');
    expect((err as Error).message).toMatch(/yolox_nano\.onnx: .*expected \[1, 84, N\], got \[1, 3549, 85\] \(rows with objectness: a yolov5 or yolox model\?\)/);
    expect(isAppError(err) && err.detail).toEqual({ file: 'yolox_nano.onnx', expected: '[1, 84, N]', actual: '[1, 3549, 85]' });
  });

  it('needs the prototype output when the manifest says segment', () => {
    expect(() => postprocess([ultralytics([[1, 1, 1, 1, [1, 0, 0]]], 2)], manifest({ task: 'segment' }), ident, 's.onnx')).toThrow(/s\.onnx: a segmentation manifest needs a prototype output: expected \[1, nm, h, w\]/);
  });
});

describe('yolov5 decoder', () => {
  const rows = (r: number[][]) => tensor('output0', [1, r.length, 5 + NC], (d) => r.forEach((v, j) => d.set(v, j * (5 + NC))));
  it('multiplies objectness by the class score and suppresses duplicates', () => {
    const out = rows([
      [20, 20, 10, 10, 0.9, 0.1, 0.8, 0], // 0.72 class 1
      [20, 21, 10, 10, 0.9, 0.1, 0.7, 0], // 0.63, suppressed
      [40, 40, 6, 6, 0.2, 1, 0, 0], // objectness below threshold
      [40, 40, 6, 6, 0.5, 0.4, 0, 0], // 0.2 below threshold
    ]);
    expect(boxes(manifest({ family: 'yolov5' }), [out])).toEqual([[1, 0.72, 15, 15, 10, 10]]);
  });
  it('refuses a channels-first output', () => {
    expect(() => postprocess([tensor('o', [1, 7, 2100])], manifest({ family: 'yolov5' }), ident, 'u.onnx')).toThrow(
      'u.onnx: output "o" does not fit a yolov5 detect head with 3 classes: expected [1, N, 8], got [1, 7, 2100] (channels-first without objectness: an ultralytics model?)',
    );
  });
});

describe('yolox decoder', () => {
  it('decodes raw grid offsets per stride (8, 16, 32) in grid order', () => {
    const n = yoloxAnchorCount([64, 64], [8, 16, 32]);
    expect(n).toBe(64 + 16 + 4);
    const out = tensor('output', [1, n, 5 + NC], (d) => {
      // Stride 16, cell gx=1, gy=2: row 64 + 2*4 + 1.
      d.set([0.5, 0.5, Math.log(2), Math.log(1.5), 0.9, 0, 0, 0.8], (64 + 9) * (5 + NC));
      // Stride 8, cell gx=0, gy=0 below threshold.
      d.set([0, 0, 0, 0, 0.3, 0.5, 0, 0], 0);
    });
    // cx = (0.5+1)*16 = 24, cy = (0.5+2)*16 = 40, w = 2*16, h = 1.5*16.
    expect(boxes(manifest({ family: 'yolox' }), [out])).toEqual([[2, 0.72, 8, 28, 32, 24]]);
  });
  it('refuses an output whose row count does not fit the input size', () => {
    expect(() => postprocess([tensor('output', [1, 3549, 8])], manifest({ family: 'yolox' }), ident, 'x.onnx')).toThrow(
      'x.onnx: output "output" does not fit a yolox head with 3 classes at input 64x64 (strides 8/16/32): expected [1, 84, 8], got [1, 3549, 8]',
    );
  });
});

describe('end2end decoder', () => {
  it('applies the score threshold only: overlapping boxes stay, as the model already ran NMS', () => {
    const out = tensor('output0', [1, 3, 6], (d) => {
      d.set([10, 10, 20, 20, 0.9, 2], 0);
      d.set([11, 10, 21, 20, 0.8, 2], 6);
      d.set([0, 0, 5, 5, 0.1, 0], 12);
    });
    expect(boxes(manifest({ family: 'end2end' }), [out])).toEqual([
      [2, 0.9, 10, 10, 10, 10],
      [2, 0.8, 11, 10, 10, 10],
    ]);
  });
  it('refuses a class index outside the manifest', () => {
    const out = tensor('output0', [1, 1, 6], (d) => d.set([0, 0, 5, 5, 0.9, 7], 0));
    expect(() => postprocess([out], manifest({ family: 'end2end' }), ident, 'e.onnx')).toThrow(/e\.onnx: .*class 7, outside the manifest's 3 classes/);
  });
});

describe('rtdetr decoder', () => {
  it('reads the single-output export: normalised cxcywh and probabilities', () => {
    const out = tensor('output0', [1, 2, 4 + NC], (d) => {
      d.set([0.5, 0.5, 0.25, 0.5, 0.1, 0.95, 0], 0);
      d.set([0.5, 0.5, 0.25, 0.5, 0.2, 0, 0], 7);
    });
    expect(boxes(manifest({ family: 'rtdetr' }), [out])).toEqual([[1, 0.95, 24, 16, 16, 32]]);
  });
  it('reads the two-output export and applies sigmoid to the logits', () => {
    const b = tensor('boxes', [1, 2, 4], (d) => d.set([0.25, 0.25, 0.5, 0.5, 0.5, 0.5, 0.1, 0.1]));
    const l = tensor('logits', [1, 2, NC], (d) => d.set([-5, 2, -5, -5, -5, -5]));
    expect(boxes(manifest({ family: 'rtdetr' }), [l, b])).toEqual([[1, +(1 / (1 + Math.exp(-2))).toFixed(3), 0, 0, 32, 32]]);
  });
  it('refuses outputs of the wrong width', () => {
    expect(() => postprocess([tensor('o', [1, 300, 84])], manifest({ family: 'rtdetr' }), ident, 'r.onnx')).toThrow('r.onnx: output "o" does not fit an rtdetr head with 3 classes: expected [1, N, 7], got [1, 300, 84]');
  });
});

describe('input size check', () => {
  it('accepts the manifest size and dynamic dims, refuses another fixed size', () => {
    expect(resolveInputSize(manifest({}), [1, 3, 64, 64], 'm.onnx', 'images')).toEqual([64, 64]);
    expect(resolveInputSize(manifest({ size: 'dynamic', defaultSize: [480, 640] }), [1, 3, 'h', 'w'], 'm.onnx', 'images')).toEqual([480, 640]);
    expect(() => resolveInputSize(manifest({ size: [640, 640] }), [1, 3, 320, 320], 'm.onnx', 'images')).toThrow(
      'm.onnx: input "images" size differs from the manifest\'s 640x640 (size is [height, width]): expected [1, 3, 640, 640], got [1, 3, 320, 320]',
    );
    expect(() => resolveInputSize(manifest({}), [1, 1, 64, 64], 'm.onnx', 'images')).toThrow(/not an image batch: expected \[1, 3, H, W\], got \[1, 1, 64, 64\]/);
  });
});

describe('segmentation masks', () => {
  // One prototype 16x16 (a quarter of the 64x64 input): +10 on the left half, -10 on the right.
  const protos = tensor('output1', [1, 1, 16, 16], (d) => {
    for (let y = 0; y < 16; y++) for (let x = 0; x < 16; x++) d[y * 16 + x] = x < 8 ? 10 : -10;
  });

  it('multiplies coefficients by prototypes, thresholds the sigmoid at 0.5 and crops to the box', () => {
    const a = new MaskAssembler(protos, ident);
    const whole = a.mask(0, () => 1, { x1: 0, y1: 0, x2: 64, y2: 64 });
    expect(rleArea(whole)).toBe(32 * 64);
    expect(rleBBox(whole)).toEqual({ x: 0, y: 0, w: 32, h: 64 });
    const cropped = a.mask(0, () => 1, { x1: 10, y1: 20, x2: 50, y2: 30 });
    expect(rleBBox(cropped)).toEqual({ x: 10, y: 20, w: 22, h: 10 });
    // A negative coefficient flips the mask; the shared buffer must be clean between masks.
    const flipped = a.mask(0, () => -1, { x1: 0, y1: 0, x2: 64, y2: 64 });
    expect(rleBBox(flipped)).toEqual({ x: 32, y: 0, w: 32, h: 64 });
  });

  it('upsamples to the original image through the letterbox', () => {
    // A 128x64 image letterboxed into 64x64: scale 0.5, pad 16 at the top.
    const g = letterboxGeometry(128, 64, 64, 64);
    const m = new MaskAssembler(protos, g).mask(0, () => 1, { x1: 0, y1: 0, x2: 128, y2: 64 });
    expect(m.size).toEqual([64, 128]);
    expect(rleBBox(m)).toEqual({ x: 0, y: 0, w: 64, h: 64 });
    expect(decodeMask(m)[63 * 128 + 63]).toBe(1);
  });

  it('postprocess attaches one RLE mask per detection from its own coefficients', () => {
    const out = ultralytics(
      [
        [16, 32, 32, 64, [0.9, 0, 0], [1]],
        [48, 32, 32, 64, [0, 0.8, 0], [-1]],
      ],
      1,
    );
    const dets = postprocess([out, protos], manifest({ task: 'segment' }), ident, 's.onnx');
    expect(dets.map((d) => rleArea(d.mask!))).toEqual([32 * 64, 32 * 64]);
    expect(dets.map((d) => rleBBox(d.mask!).x)).toEqual([0, 32]);
  });
});

describe('decode', () => {
  it('refuses tasks without a box decoder and segmentation for families without masks', () => {
    expect(() => decode([], manifest({ task: 'classify' }), { file: 'c.onnx', inputSize: [64, 64], scoreThreshold: 0.25 })).toThrow(/c\.onnx: task "classify" has no box decoder/);
    expect(() => decode([], manifest({ task: 'segment', family: 'yolox' }), { file: 'c.onnx', inputSize: [64, 64], scoreThreshold: 0.25 })).toThrow(/yolox family has no segmentation head/);
  });
});
