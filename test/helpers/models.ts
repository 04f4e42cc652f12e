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
