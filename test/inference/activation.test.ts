import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { classScores } from '../../src-main/common/inference/classify';
import { NO_CLASS, semanticMaps } from '../../src-main/common/inference/semantic';
import type { ModelManifest } from '../../src-main/common/inference/types';
import { detectInProcess } from '../../src-main/inference/detect';
import { inspectModel } from '../../src-main/inference/inspect';
import { releaseSessions } from '../../src-main/inference/sessions';
import { inspectWithLabels } from '../../src-main/services/models';
import { FLOAT, onnxModel } from '../helpers/onnxModel';

/**
 * Exports that end in their activation (a Softmax or Sigmoid node) give probabilities: inspection
 * proposes no activation for them, and a manifest applying one on top fails saying which field to
 * change instead of giving no tags, or a mask over the whole image.
 */

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-activation-'));
afterAll(async () => {
  await releaseSessions();
  fs.rmSync(dir, { recursive: true, force: true });
});

const C = 1000;
/** A 1000-class classifier ending in Softmax: class 0's logit is 100 x the image's mean, the others 0. */
function softmaxClassifier(): string {
  const file = path.join(dir, 'softmax-classifier.onnx');
  const w = new Array<number>(3 * C).fill(0);
  for (let c = 0; c < 3; c++) w[c * C] = 100;
  fs.writeFileSync(
    file,
    onnxModel({
      inputs: [{ name: 'x', type: FLOAT, dims: [1, 3, 8, 8] }],
      outputs: [{ name: 'prob', type: FLOAT, dims: [1, C] }],
      nodes: [
        { op: 'GlobalAveragePool', inputs: ['x'], outputs: ['pooled'] },
        { op: 'Flatten', inputs: ['pooled'], outputs: ['flat'], int: { axis: 1 } },
        { op: 'MatMul', inputs: ['flat', 'w'], outputs: ['logits'] },
        { op: 'Softmax', inputs: ['logits'], outputs: ['soft'], int: { axis: 1 } },
        { op: 'Reshape', inputs: ['soft', 'shape'], outputs: ['prob'] },
      ],
      initializers: [
        { name: 'w', type: FLOAT, dims: [3, C], values: w },
        { name: 'shape', type: 7, dims: [2], values: [1, C] },
      ],
    }),
  );
  return file;
}

/** A one-class segmenter ending in Sigmoid: the per-pixel channel mean of the input. */
function sigmoidSegmenter(): string {
  const file = path.join(dir, 'sigmoid-unet.onnx');
  fs.writeFileSync(
    file,
    onnxModel({
      inputs: [{ name: 'x', type: FLOAT, dims: [1, 3, 8, 8] }],
      outputs: [{ name: 'mask', type: FLOAT, dims: [1, 1, 8, 8] }],
      nodes: [
        { op: 'ReduceMean', inputs: ['x'], outputs: ['m'], ints: { axes: [1] } },
        { op: 'Sigmoid', inputs: ['m'], outputs: ['mask'] },
      ],
    }),
  );
  return file;
}

/** An 8x8 image, its left half black and its right half white. */
function halfWhite(): { raw: { data: Uint8Array; width: number; height: number; channels: 3 } } {
  const data = new Uint8Array(8 * 8 * 3);
  for (let y = 0; y < 8; y++) for (let x = 4; x < 8; x++) data.fill(255, (y * 8 + x) * 3, (y * 8 + x) * 3 + 3);
  return { raw: { data, width: 8, height: 8, channels: 3 } };
}

const white = { raw: { data: new Uint8Array(8 * 8 * 3).fill(255), width: 8, height: 8, channels: 3 as const } };

describe('a classifier exported with its Softmax', () => {
  it('is proposed without an activation, saying why', async () => {
    const file = softmaxClassifier();
    const r = await inspectModel(file);
    expect(r.outputOps).toEqual({ prob: 'Softmax' });
    expect(r.proposed?.task).toBe('classify');
    expect(r.proposed?.activation).toBe('none');
    expect(r.problems.join('\n')).toContain('output "prob" is made by a Softmax node');
    // The proposal as it stands finds class 0 at about 1.
    const tags = await detectInProcess({ file, providers: ['cpu'] }, white, { ...r.proposed!, mean: undefined, std: undefined, cropFrom: undefined });
    expect(tags.detections[0]?.classIndex).toBe(0);
    expect(tags.detections[0]?.score).toBeGreaterThan(0.99);
  });

  it('with "activation": "softmax" fails naming the field instead of giving no tags', async () => {
    const file = softmaxClassifier();
    const m: ModelManifest = {
      id: 'c',
      name: 'c',
      task: 'classify',
      size: [8, 8],
      colour: 'rgb',
      scale: 1 / 255,
      letterbox: 'stretch',
      activation: 'softmax',
      classes: Array.from({ length: C }, (_, i) => `class_${i}`),
      thresholds: { score: 0.01, iou: 0.5, maxDetections: 5 },
      file,
    };
    await expect(detectInProcess({ file, providers: ['cpu'] }, white, m)).rejects.toThrow(/output "prob": the class scores sum to 1 .* set "activation": "none" in the manifest/);
    const none = await detectInProcess({ file, providers: ['cpu'] }, white, { ...m, activation: 'none' });
    expect(none.detections.map((d) => d.classIndex)).toEqual([0]);
  });

  it('probabilities under sigmoid, and softmax over one class, are refused; logits are not', () => {
    const m = { classes: Array.from({ length: 20 }, (_, i) => `c${i}`), activation: 'sigmoid' } as ModelManifest;
    const probs = { name: 'out', dims: [1, 20], data: Float32Array.from({ length: 20 }, (_, i) => i / 20) };
    expect(() => classScores(probs, m, 'x.onnx')).toThrow('x.onnx: output "out": every score is between 0 and 1, which sigmoid would turn into 0.5..0.73');
    const logits = { name: 'out', dims: [1, 20], data: Float32Array.from({ length: 20 }, (_, i) => i - 10) };
    expect(classScores(logits, m, 'x.onnx')[19]).toBeCloseTo(1 / (1 + Math.exp(-9)), 6);
    const one = { name: 'out', dims: [1, 1], data: Float32Array.of(3) };
    expect(() => classScores(one, { classes: ['a'], activation: 'softmax' } as ModelManifest, 'x.onnx')).toThrow('softmax over one class is 1 everywhere');
  });
});

describe('a semantic model exported with its activation', () => {
  it('one class ending in Sigmoid: proposed without an activation, and under sigmoid refused rather than masking the whole image', async () => {
    const file = sigmoidSegmenter();
    const r = await inspectWithLabels(inspectModel, file, { task: 'semantic' });
    expect(r.proposed?.activation).toBe('none');
    const m = { ...r.proposed!, classes: ['nucleus'] };
    const good = await detectInProcess({ file, providers: ['cpu'] }, halfWhite(), m);
    const labels = Array.from(good.semantic!.labels);
    // Black: sigmoid(0) = 0.5, not above it; white: sigmoid(1) = 0.73.
    expect(labels.filter((l) => l === 0).length).toBe(32);
    expect(labels.filter((l) => l === NO_CLASS).length).toBe(32);
    await expect(detectInProcess({ file, providers: ['cpu'] }, halfWhite(), { ...m, activation: 'sigmoid' })).rejects.toThrow(
      'sigmoid-unet.onnx: output "mask": every score is between 0 and 1, which sigmoid would turn into 0.5..0.73; the model\'s output already holds probabilities',
    );
  });

  it('21 classes of probabilities under softmax fail instead of dropping every mask', () => {
    const C = 21, n = 4 * 4;
    const data = new Float32Array(n * C);
    for (let p = 0; p < n; p++) {
      data.fill(0.01 / 20, p * C, (p + 1) * C);
      data[p * C + (p % C)] = 0.99;
    }
    const m = { classes: Array.from({ length: C }, (_, i) => `c${i}`), activation: 'softmax', layout: 'nhwc', background: 0 } as ModelManifest;
    const g = { srcW: 4, srcH: 4, dstW: 4, dstH: 4, scaleX: 1, scaleY: 1, padLeft: 0, padTop: 0, newW: 4, newH: 4 };
    const out = [{ name: 'scores', dims: [1, 4, 4, C], data }];
    expect(() => semanticMaps(out, m, g as never, 'seg.onnx')).toThrow('seg.onnx: output "scores": the class scores sum to 1 at every position, which softmax would flatten to about 1/21 each');
    const maps = semanticMaps(out, { ...m, activation: 'none' }, g as never, 'seg.onnx');
    expect(Array.from(maps.labels)).toEqual(Array.from({ length: n }, (_, p) => p % C));
  });
});
