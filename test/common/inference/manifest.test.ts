import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseManifest, proposeManifest } from '../../../src-main/common/inference/manifest';
import { parseImgsz, parseUltralyticsNames, readOnnxMetadata } from '../../../src-main/common/inference/onnxMetadata';
import type { ModelIo } from '../../../src-main/common/inference/types';
import { repoRoot } from '../../helpers/shared';

const modelsDir = path.join(repoRoot, 'models');
const shipped = fs.readdirSync(modelsDir).filter((f) => f.endsWith('.json'));

describe('parseManifest', () => {
  it('accepts every shipped manifest', () => {
    expect(shipped.sort()).toEqual(['clip-vit-b32-image.json', 'dinov2-small.json', 'mobilenetv2-12.json', 'rtdetr-l.json', 'yolo11n.json', 'yolov8n.json', 'yolov8s.json', 'yolox-nano.json', 'yolox-s.json']);
    for (const f of shipped) {
      const m = parseManifest(JSON.parse(fs.readFileSync(path.join(modelsDir, f), 'utf8')), `models/${f}`);
      expect(m.id).toBe(f.replace(/\.json$/, ''));
      if (m.task === 'embed') {
        // Encoders download on demand and name the output their vector is read from.
        expect(m.url).toMatch(/^https:\/\//);
        expect(m.output).toBeTruthy();
        expect(m.embedding?.l2).toBe(true);
        expect(m.classes).toEqual([]);
      } else expect(m.classes).toHaveLength(80);
    }
  });

  it('takes the resize method, the reference\'s by default', () => {
    const m = parseManifest({ ...JSON.parse(fs.readFileSync(path.join(modelsDir, 'yolov8n.json'), 'utf8')), resize: 'vips-linear' }, 'models/yolov8n.json');
    expect(m.resize).toBe('vips-linear');
    expect(parseManifest(JSON.parse(fs.readFileSync(path.join(modelsDir, 'yolov8n.json'), 'utf8')), 'models/yolov8n.json').resize).toBeUndefined();
  });

  const good = JSON.parse(fs.readFileSync(path.join(modelsDir, 'yolox-nano.json'), 'utf8'));
  it.each([
    [{ thresholds: { score: 0.25, iou: 1.5, maxDetections: 300 } }, 'thresholds.iou: Too big'],
    [{ family: 'yolov9' }, 'family: Invalid option'],
    [{ size: 'dynamic' }, 'defaultSize: required when size is "dynamic"'],
    [{ task: 'segment' }, 'family: yolox has no segmentation head'],
    [{ sha256: 'ABC' }, 'sha256: 64 lowercase hex digits'],
    [{ extra: 1 }, '(root): Unrecognized key: "extra"'],
    [{ url: undefined }, 'file: a manifest needs a file or a url'],
    [{ classes: [] }, 'classes: Too small'],
    [{ resize: 'lanczos' }, 'resize: Invalid option: expected one of "cv2-linear"|"vips-linear"'],
  ])('reports %j with the file and path', (patch, message) => {
    expect(() => parseManifest({ ...good, ...patch }, 'models/bad.json')).toThrow(`models/bad.json: invalid model manifest: `);
    expect(() => parseManifest({ ...good, ...patch }, 'models/bad.json')).toThrow(message);
  });
});

const io = (inputs: (number | string)[], ...outputs: (number | string)[][]): ModelIo => ({
  inputs: [{ name: 'images', dims: inputs }],
  outputs: outputs.map((dims, i) => ({ name: `output${i}`, dims })),
});

describe('proposeManifest', () => {
  it.each([
    ['ultralytics detect', io([1, 3, 640, 640], [1, 84, 8400]), 'ultralytics', 'detect', 80],
    ['ultralytics segment', io([1, 3, 320, 320], [1, 116, 2100], [1, 32, 80, 80]), 'ultralytics', 'segment', 80],
    ['ultralytics, few classes', io([1, 3, 640, 640], [1, 6, 8400]), 'ultralytics', 'detect', 2],
    ['yolox', io([1, 3, 416, 416], [1, 3549, 85]), 'yolox', 'detect', 80],
    ['yolov5', io([1, 3, 640, 640], [1, 25200, 85]), 'yolov5', 'detect', 80],
    ['yolov5 segment', io([1, 3, 640, 640], [1, 25200, 117], [1, 32, 160, 160]), 'yolov5', 'segment', 80],
    ['end2end', io([1, 3, 640, 640], [1, 300, 6]), 'end2end', 'detect', 80],
    ['rtdetr, one output', io([1, 3, 640, 640], [1, 300, 84]), 'rtdetr', 'detect', 80],
    ['rtdetr, two outputs', io([1, 3, 640, 640], [1, 300, 91], [1, 300, 4]), 'rtdetr', 'detect', 91],
  ])('%s', (_, shapes, family, task, nc) => {
    const p = proposeManifest(shapes, {}, '/m/x.onnx');
    expect(p.manifest).not.toBeNull();
    expect([p.manifest!.family, p.manifest!.task, p.manifest!.classes.length]).toEqual([family, task, nc]);
  });

  it('takes conventions per family: yolox is BGR 0-255 top-left letterboxed, rtdetr stretches', () => {
    const x = proposeManifest(io([1, 3, 416, 416], [1, 3549, 85]), {}, 'x.onnx').manifest!;
    expect([x.colour, x.scale, x.letterbox, x.letterboxAlign, x.size]).toEqual(['bgr', 1, 114, 'topleft', [416, 416]]);
    const u = proposeManifest(io([1, 3, 640, 640], [1, 84, 8400]), {}, 'u.onnx').manifest!;
    expect([u.colour, u.scale, u.letterbox]).toEqual(['rgb', 1 / 255, 114]);
    expect(proposeManifest(io([1, 3, 640, 640], [1, 300, 84]), {}, 'r.onnx').manifest!.letterbox).toBe('stretch');
  });

  it('reads Ultralytics names, imgsz and task from metadata, for dynamic inputs too', () => {
    const p = proposeManifest(io([1, 3, 'height', 'width'], [1, 6, 'anchors']), { names: "{0: 'crop', 1: \"weed's\"}", imgsz: '[480, 640]', task: 'detect' }, 'farm.onnx');
    expect(p.manifest).toMatchObject({ family: 'ultralytics', classes: ['crop', "weed's"], size: 'dynamic', defaultSize: [480, 640], id: 'farm' });
    expect(p.problems).toEqual([]);
  });

  it('says when class names are guessed or disagree with the output', () => {
    expect(proposeManifest(io([1, 3, 640, 640], [1, 84, 8400]), {}, 'u.onnx').problems.join()).toMatch(/assumed to be the 80 COCO classes/);
    expect(proposeManifest(io([1, 3, 640, 640], [1, 7, 8400]), { names: "{0: 'a'}" }, 'u.onnx').problems.join()).toMatch(/metadata lists 1 names but the output holds 3 classes/);
  });

  it('explains shapes it cannot interpret instead of guessing', () => {
    const p = proposeManifest(io([1, 3, 416, 416], [1, 1000, 1000, 3]), {}, '/m/odd.onnx');
    expect(p.manifest).toBeNull();
    expect(p.problems.at(-1)).toMatch(/^\/m\/odd\.onnx: cannot tell the decoder family from the outputs \(inputs images \[1, 3, 416, 416\]; outputs output0 \[1, 1000, 1000, 3\]\); expected .*\[1, 3549, 5\+nc\] \(yolox at 416x416\)/);
    const q = proposeManifest(io([1, 1, 28, 28], [1, 10]), {}, 'mnist.onnx');
    expect(q.manifest).toBeNull();
    expect(q.problems[0]).toMatch(/mnist\.onnx: the first input is not an image batch \[1, 3, H, W\]/);
  });
});

/** Protobuf writer for the test: only what ModelProto needs here. */
function varint(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return out;
}
const bytesField = (field: number, payload: number[]): number[] => [...varint((field << 3) | 2), ...varint(payload.length), ...payload];
const str = (s: string): number[] => [...new TextEncoder().encode(s)];
const entry = (k: string, v: string): number[] => bytesField(14, [...bytesField(1, str(k)), ...bytesField(2, str(v))]);

describe('readOnnxMetadata', () => {
  it('skips other fields (varints, fixed, the graph) and reads every metadata entry', () => {
    const graph = Array.from({ length: 300 }, (_, i) => i % 256);
    const model = new Uint8Array([
      ...varint((1 << 3) | 0), ...varint(8), // ir_version
      ...bytesField(2, str('pytorch')), // producer_name
      ...bytesField(7, graph), // graph
      ...entry('task', 'segment'),
      ...varint((20 << 3) | 5), 1, 2, 3, 4, // an unknown fixed32
      ...varint((21 << 3) | 1), 1, 2, 3, 4, 5, 6, 7, 8, // an unknown fixed64
      ...entry('names', "{0: 'person', 1: 'naïve'}"),
    ]);
    expect(readOnnxMetadata(model)).toEqual({ task: 'segment', names: "{0: 'person', 1: 'naïve'}" });
  });

  it('throws on a truncated file rather than returning partial metadata', () => {
    const model = new Uint8Array(bytesField(7, Array.from({ length: 50 }, () => 0))).subarray(0, 20);
    expect(() => readOnnxMetadata(model)).toThrow(/runs past the end/);
  });

  it('parses names and imgsz as Ultralytics writes them', () => {
    expect(parseUltralyticsNames("{0: 'person', 1: 'traffic light', 2: \"it's\"}")).toEqual(['person', 'traffic light', "it's"]);
    expect(parseUltralyticsNames('{}')).toEqual([]);
    expect(parseUltralyticsNames("{0: 'a', 2: 'c'}")).toBeNull();
    expect(parseUltralyticsNames("['a', 'b']")).toBeNull();
    expect(parseImgsz('[320, 320]')).toEqual([320, 320]);
    expect(parseImgsz('640')).toEqual([640, 640]);
    expect(parseImgsz('none')).toBeNull();
  });
});

describe('parseManifest: tasks without a decoder family', () => {
  const classify = {
    id: 'mobilenet',
    name: 'MobileNet',
    task: 'classify',
    size: [224, 224],
    colour: 'rgb',
    scale: 1 / 255,
    mean: [0.485, 0.456, 0.406],
    std: [0.229, 0.224, 0.225],
    letterbox: 'stretch',
    cropFrom: 256,
    activation: 'softmax',
    labels: 'labels.json',
    thresholds: { score: 0.1, iou: 0.5, maxDetections: 5 },
    file: 'mobilenet.onnx',
  };
  it('takes a classify manifest without family and with a labels file instead of classes', () => {
    const m = parseManifest(classify, 'models/mobilenet.json');
    expect(m.family).toBeUndefined();
    expect(m.labels).toBe('labels.json');
    expect(m.classes).toEqual([]);
  });
  it.each(['detect', 'segment', 'obb', 'pose'])('still needs a family for %s', (task) => {
    expect(() => parseManifest({ ...classify, task }, 'models/x.json')).toThrow(`family: required for task "${task}"`);
  });
  it('needs classes or a labels file', () => {
    expect(() => parseManifest({ ...classify, labels: undefined }, 'models/x.json')).toThrow('classes: a manifest needs classes or a labels file');
  });
});

describe('proposeManifest: classifiers', () => {
  it('proposes classify for a single [B, C] output, with the labels given and ImageNet conventions', () => {
    const names = Array.from({ length: 1000 }, (_, i) => `n${i}`);
    const p = proposeManifest(io([1, 3, 224, 224], [1, 1000]), {}, '/m/mobilenet.onnx', { labels: { file: '/m/labels.txt', names } });
    expect(p.manifest).toMatchObject({ task: 'classify', size: [224, 224], cropFrom: 256, mean: [0.485, 0.456, 0.406], activation: 'softmax', topK: 5, labels: '/m/labels.txt', letterbox: 'stretch' });
    expect(p.manifest!.family).toBeUndefined();
    expect(p.manifest!.classes).toBe(names);
    expect(() => parseManifest(p.manifest, 'proposed')).not.toThrow();
    const dyn = proposeManifest(io(['batch', 3, 224, 224], ['batch', 5, 1, 1]), {}, 'x.onnx');
    expect(dyn.manifest).toMatchObject({ task: 'classify', classes: ['class_0', 'class_1', 'class_2', 'class_3', 'class_4'] });
    expect(dyn.problems.join('\n')).toContain('no labels file');
  });
  it('a labels file of another length, or a task the outputs do not fit, proposes nothing and says why', () => {
    const p = proposeManifest(io([1, 3, 224, 224], [1, 1000]), {}, 'm.onnx', { labels: { file: 'l.txt', names: ['a', 'b'] } });
    expect(p.manifest).toBeNull();
    expect(p.problems.at(-1)).toContain('l.txt: holds 2 names but m.onnx outputs 1000 class scores');
    const d = proposeManifest(io([1, 3, 320, 320], [1, 84, 2100]), {}, 'y.onnx', { task: 'classify' });
    expect(d.manifest).toBeNull();
    expect(d.problems[0]).toContain('a classify model must have an output of one score per class [1, C]');
    const s = proposeManifest(io([1, 3, 320, 320], [1, 84, 2100]), {}, 'y.onnx', { task: 'segment' });
    expect(s.problems.at(-1)).toContain('--task segment does not fit the outputs, which look like a "detect" model');
  });
});

describe('parseManifest: fields a task does not read are refused', () => {
  const detect = {
    id: 'y',
    name: 'Y',
    task: 'detect',
    family: 'ultralytics',
    size: [640, 640],
    colour: 'rgb',
    scale: 1 / 255,
    letterbox: 114,
    classes: ['a', 'b'],
    thresholds: { score: 0.25, iou: 0.45, maxDetections: 300 },
    file: 'y.onnx',
  };
  it.each([
    ['detect', 'instances', { split: 'none', minArea: 0, fillHoles: false }, 'semantic'],
    ['obb', 'background', 0, 'semantic'],
    ['pose', 'activation', 'sigmoid', 'classify, semantic'],
    ['detect', 'cropFrom', 256, 'classify, embed'],
    ['obb', 'topK', 5, 'classify'],
    ['detect', 'normalize', 'zscore', 'classify, semantic, embed'],
    ['classify', 'embedding', { pooling: 'mean', l2: true }, 'embed'],
    ['semantic', 'topK', 3, 'classify'],
    ['classify', 'background', 0, 'semantic'],
  ])('%s with %s', (task, field, value, users) => {
    expect(() => parseManifest({ ...detect, task, [field]: value }, 'models/y.json')).toThrow(`models/y.json: invalid model manifest: ${field}: not used by task "${task}" (only by ${users}): remove it`);
  });
  it('softmax over one class is refused; sigmoid is taken', () => {
    const one = { ...detect, task: 'semantic', family: undefined, letterbox: 'stretch', classes: ['nucleus'] };
    expect(() => parseManifest({ ...one, activation: 'softmax' }, 'models/u.json')).toThrow('activation: softmax over one class is 1 everywhere');
    expect(parseManifest({ ...one, activation: 'sigmoid' }, 'models/u.json').activation).toBe('sigmoid');
  });
});

describe('proposeManifest: semantic background', () => {
  it.each(['background', '__background__', '_Background_'])('takes a class named %s as the background and says so', (bg) => {
    const names = ['cat', bg, 'dog'];
    const p = proposeManifest(io([1, 3, 64, 64], [1, 3, 64, 64]), {}, 'seg.onnx', { task: 'semantic', labels: { file: 'l.txt', names } });
    expect(p.manifest?.background).toBe(1);
    expect(p.problems.join('\n')).toContain(`class 1 "${bg}" is taken as the background ("background": 1): no masks are made of it`);
    expect(() => parseManifest(p.manifest, 'proposed')).not.toThrow();
  });
  it('leaves it out when no class is named so', () => {
    const p = proposeManifest(io([1, 3, 64, 64], [1, 2, 64, 64]), {}, 'seg.onnx', { task: 'semantic', labels: { file: 'l.txt', names: ['backgrounds', 'cell'] } });
    expect(p.manifest).not.toHaveProperty('background');
  });
});

describe('parseManifest: embed models', () => {
  const embed = {
    id: 'enc',
    name: 'Encoder',
    task: 'embed',
    size: [224, 224],
    colour: 'rgb',
    scale: 1 / 255,
    letterbox: 'stretch',
    output: 'features',
    embedding: { pooling: 'mean', l2: true },
    file: 'enc.onnx',
  };
  it('needs neither classes nor thresholds, and keeps the pooling', () => {
    const m = parseManifest(embed, 'models/enc.json');
    expect(m.embedding).toEqual({ pooling: 'mean', l2: true });
    expect(m.classes).toEqual([]);
    expect(m.output).toBe('features');
  });
  it('needs an embedding field; other tasks still need classes and thresholds', () => {
    const { embedding: _e, ...bare } = embed;
    void _e;
    expect(() => parseManifest(bare, 'models/enc.json')).toThrow('models/enc.json: invalid model manifest: embedding: required for task "embed"');
    expect(() => parseManifest({ ...embed, embedding: { pooling: 'median', l2: true } }, 'models/enc.json')).toThrow('embedding.pooling: Invalid option');
    const { embedding: _f, output: _o, ...cls } = { ...embed, task: 'classify' };
    void _f;
    void _o;
    expect(() => parseManifest(cls, 'models/c.json')).toThrow(/classes: a manifest needs classes or a labels file; thresholds: required for task "classify"/);
  });
});
