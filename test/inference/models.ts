import fs from 'node:fs';
import path from 'node:path';
import type { Rle } from '../../src-main/common/geometry';
import { COCO80 } from '../../src-main/common/inference/coco';
import { sharedPath } from '../helpers/shared';

/** The real test models and COCO sample in ../shared (see ../shared/models/README.md). */
export const shared = {
  yolov8n: sharedPath('models/yolov8n_int8.onnx'),
  yolov8nSeg: sharedPath('models/yolov8n-seg_int8.onnx'),
  yoloxNano: sharedPath('models/yolox_nano.onnx'),
  coco: sharedPath('datasets/coco_tinycoco'),
};

// Without ../shared the tests that use it skip; the path is still built while they are collected.
export const image = (name: string): string => path.join(shared.coco ?? '', 'images', 'train2017', name);
export const KITCHEN = '000000397133.jpg';

export interface GroundTruth {
  classIndex: number;
  bbox: [number, number, number, number];
  area: number;
  iscrowd: number;
  segmentation: number[][] | Rle;
}

/** Ground truth of one image, with COCO category ids turned into indices of the 80 classes. */
export function groundTruth(fileName: string): { width: number; height: number; objects: GroundTruth[] } {
  const d = JSON.parse(fs.readFileSync(path.join(shared.coco!, 'annotations', 'instances_train2017.json'), 'utf8')) as {
    images: { id: number; file_name: string; width: number; height: number }[];
    categories: { id: number; name: string }[];
    annotations: { image_id: number; category_id: number; bbox: [number, number, number, number]; area: number; iscrowd: number; segmentation: number[][] | Rle }[];
  };
  const img = d.images.find((i) => i.file_name === fileName)!;
  const index = new Map(d.categories.map((c) => [c.id, (COCO80 as readonly string[]).indexOf(c.name)]));
  return {
    width: img.width,
    height: img.height,
    objects: d.annotations.filter((a) => a.image_id === img.id).map((a) => ({ ...a, classIndex: index.get(a.category_id)! })),
  };
}

export function xywhIou(a: { x: number; y: number; w: number; h: number }, b: readonly number[]): number {
  const [bx, by, bw, bh] = b as [number, number, number, number];
  const iw = Math.min(a.x + a.w, bx + bw) - Math.max(a.x, bx);
  const ih = Math.min(a.y + a.h, by + bh) - Math.max(a.y, by);
  if (iw <= 0 || ih <= 0) return 0;
  return (iw * ih) / (a.w * a.h + bw * bh - iw * ih);
}
