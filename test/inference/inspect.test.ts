import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { inspectModel } from '../../src-main/inference/inspect';
import { releaseSessions } from '../../src-main/inference/sessions';
import { inspectWithLabels } from '../../src-main/services/models';
import { FLOAT, onnxModel } from '../helpers/onnxModel';
import { VOC } from '../helpers/semanticModels';
import { sharedPath } from '../helpers/shared';

/**
 * `--task obb|pose` on an Ultralytics export whose metadata already names the task: the angle row
 * or the keypoint rows are taken off the class count once.
 */

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-inspect-'));
afterAll(async () => {
  await releaseSessions();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A model answering a zero [1, rows, 8400] output, with Ultralytics metadata. */
function ultralyticsModel(name: string, rows: number, metadata: Record<string, string>): string {
  const file = path.join(dir, name);
  fs.writeFileSync(
    file,
    onnxModel({
      inputs: [{ name: 'images', type: FLOAT, dims: [1, 3, 640, 640] }],
      outputs: [{ name: 'output0', type: FLOAT, dims: [1, rows, 8400] }],
      nodes: [{ op: 'Identity', inputs: ['answer'], outputs: ['output0'] }],
      initializers: [{ name: 'answer', type: FLOAT, dims: [1, rows, 8400], values: new Array<number>(rows * 8400).fill(0) }],
      metadata,
    }),
  );
  return file;
}

const names = (n: number): string => `{${Array.from({ length: n }, (_, i) => `${i}: 'c${i}'`).join(', ')}}`;

describe('inspection with --task obb or pose of an Ultralytics export with metadata', () => {
  it('obb: 15 classes stay 15', async () => {
    const file = ultralyticsModel('dota.onnx', 4 + 15 + 1, { task: 'obb', names: names(15), imgsz: '[640, 640]' });
    const plain = await inspectModel(file);
    expect([plain.proposed?.task, plain.proposed?.classes.length]).toEqual(['obb', 15]);
    const hinted = await inspectWithLabels(inspectModel, file, { task: 'obb' });
    expect([hinted.proposed?.task, hinted.proposed?.classes.length]).toEqual(['obb', 15]);
    expect(hinted.proposed?.classes.at(-1)).toBe('c14');
  });

  it('pose: kpt_shape [17, 3] taken off once', async () => {
    const file = ultralyticsModel('person.onnx', 4 + 1 + 17 * 3, { task: 'pose', names: names(1), kpt_shape: '[17, 3]' });
    const hinted = await inspectWithLabels(inspectModel, file, { task: 'pose' });
    expect([hinted.proposed?.task, hinted.proposed?.classes]).toEqual(['pose', ['c0']]);
  });

  it('pose without the task in its metadata: the keypoints of kpt_shape, of 2 values each', async () => {
    const file = ultralyticsModel('hand.onnx', 4 + 2 + 21 * 2, { kpt_shape: '[21, 2]' });
    const hinted = await inspectWithLabels(inspectModel, file, { task: 'pose' });
    expect([hinted.proposed?.task, hinted.proposed?.classes.length, hinted.proposed?.keypoints?.names.length]).toEqual(['pose', 2, 21]);
  });

  it('--task pose on an export whose metadata says obb is refused', async () => {
    const file = ultralyticsModel('dota2.onnx', 4 + 15 + 1, { task: 'obb', names: names(15) });
    const r = await inspectWithLabels(inspectModel, file, { task: 'pose' });
    expect(r.proposed).toBeNull();
    expect(r.problems.join('\n')).toContain('--task pose does not fit the model, whose metadata says task "obb"');
  });
});

const deeplab = sharedPath('models/deeplabv3_mnv2_voc_257.onnx');

describe.runIf(deeplab)('DeepLabV3 inspected with --task semantic and the VOC labels', () => {
  it('takes class 0 "background" as the background, saying so; its Conv output keeps softmax', async () => {
    const voc = path.join(dir, 'voc.txt');
    fs.writeFileSync(voc, VOC.join('\n'));
    const r = await inspectWithLabels(inspectModel, deeplab!, { task: 'semantic', labels: voc });
    expect(r.proposed).toMatchObject({ task: 'semantic', layout: 'nhwc', background: 0, activation: 'softmax', classes: VOC });
    expect(r.problems.join('\n')).toContain('class 0 "background" is taken as the background ("background": 0)');
  });
});
