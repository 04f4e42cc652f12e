import fs from 'node:fs';
import { readLabelsFile } from '../../src-main/services/models';
import { COCO80 } from '../../src-main/common/inference/coco';
import type { ModelManifest } from '../../src-main/common/inference/types';

/**
 * A detect manifest for an Ultralytics head at 320x320: RGB, letterbox with pad 114, divide by
 * 255, default thresholds. `over` names the model and its classes and may replace anything else.
 */
export function ultralyticsDetectManifest(over: Partial<ModelManifest> & Pick<ModelManifest, 'id' | 'name' | 'classes'>): ModelManifest {
  return {
    task: 'detect',
    family: 'ultralytics',
    size: [320, 320],
    colour: 'rgb',
    scale: 1 / 255,
    letterbox: 114,
    thresholds: { score: 0.25, iou: 0.45, maxDetections: 300 },
    ...over,
  };
}

/**
 * The manifest of ../shared/models/yolov8n_int8.onnx as checked by hand in its README:
 * Ultralytics head, RGB, letterbox 320 with pad 114, divide by 255, 80 COCO classes.
 */
export function yolov8nInt8Manifest(file: string): ModelManifest {
  return ultralyticsDetectManifest({ id: 'yolov8n-int8', name: 'YOLOv8n int8', classes: [...COCO80], file });
}

/** MobileNetV2 (ONNX model zoo, int8) as the shared models' README describes it: ImageNet crop, mean/std, softmax. */
export function mobilenetManifest(file: string, labels: string): ModelManifest {
  return {
    id: 'mobilenetv2',
    name: 'MobileNetV2',
    task: 'classify',
    size: [224, 224],
    colour: 'rgb',
    scale: 1 / 255,
    mean: [0.485, 0.456, 0.406],
    std: [0.229, 0.224, 0.225],
    letterbox: 'stretch',
    cropFrom: 256,
    activation: 'softmax',
    topK: 5,
    labels,
    classes: fs.existsSync(labels) ? readLabelsFile(labels) : [],
    thresholds: { score: 0.05, iou: 0.5, maxDetections: 5 },
    file,
  };
}

/** The MobileNetV2 top-1 answers the shared models' README lists (checked by hand with onnxruntime), with the least score each must reach. */
export const MOBILENET_TOP1: [string, string, number][] = [
  ['000000087038.jpg', 'Unicycle', 0.95],
  ['000000058636.jpg', 'Street sign', 0.85],
  ['000000303818.jpg', 'Cab', 0.8],
  ['000000037777.jpg', 'Microwave', 0.7],
];

/**
 * The embed manifest of ../shared/models/mobilenetv2-12-int8-with-embedding.onnx: MobileNetV2's
 * ImageNet preprocessing, the pooled features of output `embedding` (1,280 values), unit length.
 */
export function mobilenetEmbedManifest(file: string): ModelManifest {
  return {
    id: 'mobilenetv2-embed',
    name: 'MobileNetV2 embedding',
    task: 'embed',
    size: [224, 224],
    colour: 'rgb',
    scale: 1 / 255,
    mean: [0.485, 0.456, 0.406],
    std: [0.229, 0.224, 0.225],
    letterbox: 'stretch',
    cropFrom: 256,
    output: 'embedding',
    embedding: { pooling: 'none', l2: true },
    classes: [],
    thresholds: { score: 0, iou: 0, maxDetections: 1 },
    file,
  };
}
