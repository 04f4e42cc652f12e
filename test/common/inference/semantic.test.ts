import { describe, expect, it } from 'vitest';
import { decodeMask, rleArea } from '../../../src-main/common/geometry';
import { letterboxGeometry } from '../../../src-main/common/inference/letterbox';
import { classMasks, modelInputTensor, NO_CLASS, resolveSemanticInput, semanticMaps, SemanticStitch, type SemanticMaps } from '../../../src-main/common/inference/semantic';
import { tileGrid } from '../../../src-main/common/inference/tiling';
import type { ModelManifest, OutputTensor } from '../../../src-main/common/inference/types';

const manifest = (over: Partial<ModelManifest> = {}): ModelManifest => ({
  id: 's',
  name: 's',
  task: 'semantic',
  size: [4, 4],
  colour: 'rgb',
  scale: 1,
  letterbox: 'stretch',
  classes: ['background', 'a', 'b'],
  background: 0,
  thresholds: { score: 0, iou: 0.5, maxDetections: 100 },
  file: 'm.onnx',
  ...over,
});

/** Scores [C, h, w] from a function of class, row, column, in either layout. */
function scores(c: number, h: number, w: number, f: (k: number, y: number, x: number) => number, nhwc: boolean): OutputTensor {
  const data = new Float32Array(c * h * w);
  for (let k = 0; k < c; k++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data[nhwc ? (y * w + x) * c + k : k * h * w + y * w + x] = f(k, y, x);
  return { name: 'out', dims: nhwc ? [1, h, w, c] : [1, c, h, w], data };
}

describe('semantic decoding', () => {
  // Class 1 on the left half of a 4x4 grid, class 2 on the right, background nowhere.
  const f = (k: number, _y: number, x: number): number => (k === 0 ? -5 : k === 1 ? 2 - x : x - 1);

  it('reads NCHW and NHWC scores alike and upsamples the scores bilinearly to the image', () => {
    const g = letterboxGeometry(16, 8, 4, 4, 'stretch');
    const a = semanticMaps([scores(3, 4, 4, f, false)], manifest(), g, 'm.onnx');
    const b = semanticMaps([scores(3, 4, 4, f, true)], manifest({ layout: 'nhwc' }), g, 'm.onnx');
    expect(b.labels).toEqual(a.labels);
    expect(b.prob).toEqual(a.prob);
    expect([a.width, a.height]).toEqual([16, 8]);
    // Scores a and b cross at grid x = 1.5, image x = 8 exactly: the boundary falls between
    // pixels 7 and 8 (nearest-neighbour labels would put it there too, but with 4-px steps of the
    // probabilities); probabilities fall smoothly towards it.
    for (let y = 0; y < 8; y++) {
      for (let x = 0; x < 16; x++) expect(a.labels[y * 16 + x]).toBe(x < 8 ? 1 : 2);
    }
    const row = Array.from(a.prob.subarray(0, 8));
    expect(new Set(row.slice(2, 8)).size).toBe(6); // a different probability at every pixel
    for (let x = 3; x < 8; x++) expect(row[x]!).toBeLessThan(row[x - 1]!);
  });

  it('stores one mask per class present, background left out, scored by the mean probability', () => {
    const g = letterboxGeometry(16, 8, 4, 4, 'stretch');
    const maps = semanticMaps([scores(3, 4, 4, f, false)], manifest(), g, 'm.onnx');
    const dets = classMasks(maps, manifest());
    expect(dets.map((d) => d.classIndex).sort()).toEqual([1, 2]);
    for (const d of dets) {
      expect(rleArea(d.mask!)).toBe(64);
      expect(d.box).toEqual({ x: d.classIndex === 1 ? 0 : 8, y: 0, w: 8, h: 8 });
      let sum = 0;
      const m = decodeMask(d.mask!);
      for (let i = 0; i < m.length; i++) if (m[i]) sum += maps.prob[i]!;
      expect(d.score).toBeCloseTo(sum / 64 / 255, 6);
    }
  });

  it('one class: sigmoid above 0.5 is the class, the rest no class', () => {
    const g = letterboxGeometry(4, 4, 4, 4, 'stretch');
    const maps = semanticMaps([scores(1, 4, 4, (_k, y) => (y < 2 ? 3 : -3), false)], manifest({ classes: ['nucleus'], background: undefined }), g, 'm.onnx');
    expect(Array.from(maps.labels.subarray(0, 8))).toEqual(new Array(8).fill(0));
    expect(Array.from(maps.labels.subarray(8))).toEqual(new Array(8).fill(NO_CLASS));
    expect(maps.prob[0]).toBe(Math.round(255 / (1 + Math.exp(-3))));
  });

  it('a model that does not fit its manifest is an error naming the file, shapes and the fix', () => {
    const g = letterboxGeometry(4, 4, 4, 4, 'stretch');
    expect(() => semanticMaps([scores(3, 4, 4, f, true)], manifest(), g, 'm.onnx')).toThrow(/m\.onnx: output "out" does not fit a semantic segmentation model with 3 classes: expected \[1, 3, h, w\], got \[1, 4, 4, 3\].*"layout": "nhwc"/);
    expect(() => semanticMaps([scores(5, 4, 4, f, false)], manifest(), g, 'm.onnx')).toThrow(/holds 5 classes, the manifest lists 3/);
    expect(() => resolveSemanticInput(manifest(), [1, 257, 257, 3], 'd.onnx', 'sub_7')).toThrow(/d\.onnx: input "sub_7" is not an image batch.*"layout": "nhwc"/);
    expect(() => resolveSemanticInput(manifest({ layout: 'nhwc' }), [1, 257, 257, 3], 'd.onnx', 'sub_7')).toThrow(/size differs from the manifest's 4x4/);
    expect(resolveSemanticInput(manifest({ layout: 'nhwc', size: [257, 257] }), [1, 257, 257, 3], 'd.onnx', 'sub_7')).toEqual({ layout: 'nhwc', channels: 3, size: [257, 257] });
    expect(resolveSemanticInput(manifest({ size: [512, 512] }), [1, 1, 512, 512], 'u.onnx', 'input.1')).toEqual({ layout: 'nchw', channels: 1, size: [512, 512] });
  });

  it('builds one-channel, z-scored and NHWC inputs', () => {
    const g = letterboxGeometry(2, 2, 2, 2, 'stretch');
    // Planes R, G, B of a 2x2 image.
    const planes = Float32Array.from([0, 2, 4, 6, 0, 2, 4, 6, 3, 5, 7, 9]);
    const grey = modelInputTensor(planes.slice(), g, manifest(), { layout: 'nchw', channels: 1, size: [2, 2] });
    expect(Array.from(grey)).toEqual([1, 3, 5, 7]);
    const z = modelInputTensor(planes.slice(), g, manifest({ normalize: 'zscore' }), { layout: 'nchw', channels: 1, size: [2, 2] });
    expect(z.reduce((a, b) => a + b, 0)).toBeCloseTo(0, 5);
    expect(z.reduce((a, b) => a + b * b, 0) / 4).toBeCloseTo(1, 5);
    const hwc = modelInputTensor(planes.slice(), g, manifest(), { layout: 'nhwc', channels: 3, size: [2, 2] });
    expect(Array.from(hwc.subarray(0, 6))).toEqual([0, 0, 3, 2, 2, 5]);
  });
});

describe('stitching tiles', () => {
  it('crops the margins: tiles cut from one map stitch back to it exactly, whatever the overlap', () => {
    const W = 300, H = 220;
    const whole: SemanticMaps = { width: W, height: H, labels: new Uint16Array(W * H), prob: new Uint8Array(W * H) };
    for (let i = 0; i < W * H; i++) {
      whole.labels[i] = (i * 7919) % 5;
      whole.prob[i] = (i * 104729) % 256;
    }
    for (const overlap of [0, 16, 0.25]) {
      const tiles = tileGrid(W, H, { size: 96, overlap });
      // Each tile's maps are the whole map's, except a corrupted 3-px rim on edges inside the
      // image, as a model's answers near a cut are: margins that cropping must drop.
      const parts = tiles.map((t) => {
        const maps: SemanticMaps = { width: t.w, height: t.h, labels: new Uint16Array(t.w * t.h), prob: new Uint8Array(t.w * t.h) };
        for (let y = 0; y < t.h; y++) {
          for (let x = 0; x < t.w; x++) {
            const src = (t.y + y) * W + t.x + x;
            const rim = (t.x > 0 && x < 3) || (t.y > 0 && y < 3) || (t.x + t.w < W && x >= t.w - 3) || (t.y + t.h < H && y >= t.h - 3);
            maps.labels[y * t.w + x] = rim && overlap !== 0 ? 9 : whole.labels[src]!;
            maps.prob[y * t.w + x] = whole.prob[src]!;
          }
        }
        return { tile: t, maps };
      });
      const st = new SemanticStitch(W, H, tiles);
      for (const p of parts) st.add(p.tile, p.maps);
      const s = st.maps();
      expect(s.prob).toEqual(whole.prob);
      expect(s.labels).toEqual(whole.labels);
    }
  });
});
