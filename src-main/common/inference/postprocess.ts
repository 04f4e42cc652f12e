import { decode } from './decode';
import { inputBoxToImage, type LetterboxGeometry } from './letterbox';
import { MaskAssembler } from './masks';
import { nms, topK } from './nms';
import { postprocessObb, postprocessPose } from './obbPose';
import type { Detection, DetectOverrides, ModelManifest, OutputTensor } from './types';

export interface EffectiveThresholds {
  score: number;
  iou: number;
  maxDetections: number;
  tile?: boolean;
}

export function effectiveThresholds(m: ModelManifest, o: DetectOverrides = {}): EffectiveThresholds {
  return {
    score: o.score ?? m.thresholds.score,
    iou: o.iou ?? m.thresholds.iou,
    maxDetections: o.maxDetections ?? m.thresholds.maxDetections,
    ...(o.tile ? { tile: true } : {}),
  };
}

/**
 * Raw outputs to detections in image pixels (xywh) of the oriented image: decode, suppress
 * (class-aware NMS unless the family's output is final), undo the letterbox, build masks.
 * Oriented boxes and pose keypoints have their own decoders (obbPose.ts).
 */
export function postprocess(outputs: readonly OutputTensor[], m: ModelManifest, g: LetterboxGeometry, file: string, overrides: DetectOverrides = {}): Detection[] {
  const t = effectiveThresholds(m, overrides);
  if (m.task === 'obb') return postprocessObb(outputs, m, g, file, t);
  if (m.task === 'pose') return postprocessPose(outputs, m, g, file, t);
  const decoded = decode(outputs, m, { file, inputSize: [g.dstH, g.dstW], scoreThreshold: t.score });
  const c = decoded.candidates;
  const kept = decoded.final ? topK(c, t.maxDetections) : nms(c, t.iou, t.maxDetections);
  const masks = decoded.masks ? new MaskAssembler(decoded.masks.protos, g) : undefined;
  const out: Detection[] = [];
  for (const i of kept) {
    const b = inputBoxToImage(g, c.boxes[i * 4]!, c.boxes[i * 4 + 1]!, c.boxes[i * 4 + 2]!, c.boxes[i * 4 + 3]!);
    if (b.x2 <= b.x1 || b.y2 <= b.y1) continue;
    const det: Detection = { classIndex: c.classes[i]!, score: c.scores[i]!, box: { x: b.x1, y: b.y1, w: b.x2 - b.x1, h: b.y2 - b.y1 } };
    if (masks && decoded.masks) det.mask = masks.mask(c.rows[i]!, decoded.masks.coefficient, b);
    out.push(det);
  }
  return out;
}
