import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { classifyCrop, classScores, topTags } from '../../src-main/common/inference/classify';
import type { ModelManifest } from '../../src-main/common/inference/types';
import { detectInProcess } from '../../src-main/inference/detect';
import { releaseSessions } from '../../src-main/inference/sessions';
import { MOBILENET_TOP1, mobilenetManifest } from '../helpers/models';
import { FLOAT, onnxModel } from '../helpers/onnxModel';
import { sharedPath, tempDir } from '../helpers/shared';

const model = sharedPath('models/mobilenetv2-12-int8.onnx');
const labels = sharedPath('models/imagenet_labels.json');
const images = sharedPath('datasets/coco_tinycoco/images/train2017');

describe('classification post-processing', () => {
  const m = { classes: ['a', 'b', 'c'], activation: 'softmax', cropFrom: 256 } as ModelManifest;
  it('maps the ImageNet centre crop onto the image', () => {
    // 640x427: short side to 256 scales by 0.5995; 224 input pixels cover 373.6 image pixels.
    expect(classifyCrop(m, [224, 224], 640, 427)).toEqual({ x: 133, y: 27, w: 374, h: 374 });
    expect(classifyCrop({ ...m, cropFrom: undefined }, [224, 224], 640, 427)).toEqual({ x: 0, y: 0, w: 640, h: 427 });
  });
  it('softmax, sigmoid and top-k above the threshold', () => {
    const t = { name: 'out', dims: [1, 3], data: new Float32Array([1, 3, 2]) };
    const soft = classScores(t, m, 'x.onnx');
    expect(soft.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
    expect(soft[1]).toBeCloseTo(Math.exp(3) / (Math.exp(1) + Math.exp(2) + Math.exp(3)), 6);
    const sig = classScores(t, { ...m, activation: 'sigmoid' }, 'x.onnx');
    expect(sig[0]).toBeCloseTo(1 / (1 + Math.exp(-1)), 6);
    const tags = topTags(sig, 2, 0.8, 10, 20);
    expect(tags.map((d) => [d.classIndex, d.tag, d.box])).toEqual([
      [1, true, { x: 0, y: 0, w: 10, h: 20 }],
      [2, true, { x: 0, y: 0, w: 10, h: 20 }],
    ]);
    expect(topTags(sig, 5, 0.99, 10, 20)).toEqual([]);
  });
  it('fails naming the labels file when the output holds another number of classes', () => {
    const t = { name: 'out', dims: [1, 4], data: new Float32Array(4) };
    expect(() => classScores(t, { ...m, labels: '/x/labels.txt' }, 'x.onnx')).toThrow('x.onnx: output "out" holds 4 class scores but the manifest names 3 classes (labels file /x/labels.txt): expected [1, 3], got [1, 4]');
  });
});

describe('manifest fields a classifier reads', () => {
  afterAll(() => releaseSessions());
  /** Scores = each input channel's mean ([1, 3, 4, 4] to [1, 3]). */
  function channelMeans(): string {
    const file = path.join(tempDir(), 'means.onnx');
    fs.writeFileSync(
      file,
      onnxModel({
        inputs: [{ name: 'x', type: FLOAT, dims: [1, 3, 4, 4] }],
        outputs: [{ name: 'means', type: FLOAT, dims: [1, 3] }],
        nodes: [
          { op: 'GlobalAveragePool', inputs: ['x'], outputs: ['p'] },
          { op: 'Flatten', inputs: ['p'], outputs: ['means'], int: { axis: 1 } },
        ],
      }),
    );
    return file;
  }
  const m = (file: string): ModelManifest => ({
    id: 'means',
    name: 'means',
    task: 'classify',
    size: [4, 4],
    colour: 'rgb',
    scale: 1 / 255,
    letterbox: 'stretch',
    activation: 'none',
    classes: ['r', 'g', 'b'],
    thresholds: { score: -1, iou: 0.5, maxDetections: 3 },
    file,
  });
  const image = { raw: { data: Uint8Array.from({ length: 4 * 4 * 3 }, (_, i) => [200, 100, 50][i % 3]! + (i % 7)), width: 4, height: 4, channels: 3 as const } };

  it('normalize "zscore" makes each channel zero-mean before the network', async () => {
    const file = channelMeans();
    const raw = await detectInProcess({ file, providers: ['cpu'] }, image, m(file));
    expect(Math.max(...raw.detections.map((d) => d.score))).toBeGreaterThan(0.7);
    const z = await detectInProcess({ file, providers: ['cpu'] }, image, { ...m(file), normalize: 'zscore' });
    expect(z.detections.length).toBe(3);
    for (const d of z.detections) expect(Math.abs(d.score)).toBeLessThan(1e-5);
  });

  it('an embed model is refused for predictions', async () => {
    const file = channelMeans();
    await expect(detectInProcess({ file, providers: ['cpu'] }, image, { ...m(file), task: 'embed' })).rejects.toThrow(`model "means" (${file}): embed models compute embeddings, not predictions`);
  });
});

describe.runIf(model && labels && images)('MobileNetV2 on coco_tinycoco', () => {
  afterAll(() => releaseSessions());
  const manifest = mobilenetManifest(model ?? 'absent', labels ?? 'absent');

  it.each(MOBILENET_TOP1)('%s is "%s" at %f or more, the top tag of five', async (name, label, min) => {
    const r = await detectInProcess({ file: model!, providers: ['cpu'] }, path.join(images!, name), manifest);
    const top = r.detections[0]!;
    expect(manifest.classes[top.classIndex]).toBe(label);
    expect(top.score).toBeGreaterThanOrEqual(min);
    expect(top.tag).toBe(true);
    expect(r.detections.length).toBeLessThanOrEqual(5);
    for (let i = 1; i < r.detections.length; i++) expect(r.detections[i]!.score).toBeLessThanOrEqual(r.detections[i - 1]!.score);
  });

  it('a labels file whose count differs from the output fails naming the file', async () => {
    const short = path.join(path.dirname(labels!), 'imagenet_labels.json');
    const m: ModelManifest = { ...manifest, classes: manifest.classes.slice(0, 999), labels: short };
    await expect(detectInProcess({ file: model!, providers: ['cpu'] }, path.join(images!, MOBILENET_TOP1[0]![0]), m)).rejects.toThrow(
      `holds 1000 class scores but the manifest names 999 classes (labels file ${short})`,
    );
  });

  it('an NHWC manifest on an NCHW model fails naming the input layout expected', async () => {
    await expect(detectInProcess({ file: model!, providers: ['cpu'] }, path.join(images!, MOBILENET_TOP1[0]![0]), { ...manifest, layout: 'nhwc' })).rejects.toThrow(
      'input "input" is not an NHWC image batch of the manifest\'s size: expected [1, 224, 224, 3], got [batch_size, 3, 224, 224]',
    );
  });

  it('sigmoid scores each class on its own (multi-label), a plain resize sees the whole image', async () => {
    const m: ModelManifest = { ...manifest, activation: 'sigmoid', cropFrom: undefined, topK: 3 };
    const r = await detectInProcess({ file: model!, providers: ['cpu'] }, path.join(images!, MOBILENET_TOP1[0]![0]), m);
    expect(r.detections).toHaveLength(3);
    expect(m.classes[r.detections[0]!.classIndex]).toBe('Unicycle');
    // Logits through a sigmoid: the best is near 1 and the others need not sum with it to 1.
    expect(r.detections.reduce((a, d) => a + d.score, 0)).toBeGreaterThan(1);
  });

  it('an output name the model lacks fails saying which it has', async () => {
    await expect(detectInProcess({ file: model!, providers: ['cpu'] }, path.join(images!, MOBILENET_TOP1[0]![0]), { ...manifest, output: 'logits' })).rejects.toThrow('output "logits"');
  });
});
