import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { classifyCrop, classScores, topTags } from '../../src-main/common/inference/classify';
import type { ModelManifest } from '../../src-main/common/inference/types';
import { detectInProcess } from '../../src-main/inference/detect';
import { releaseSessions } from '../../src-main/inference/sessions';
import { MOBILENET_TOP1, mobilenetManifest } from '../helpers/models';
import { sharedPath } from '../helpers/shared';

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

  it('an output name the model lacks fails saying which it has', async () => {
    await expect(detectInProcess({ file: model!, providers: ['cpu'] }, path.join(images!, MOBILENET_TOP1[0]![0]), { ...manifest, output: 'logits' })).rejects.toThrow('output "logits"');
  });
});
