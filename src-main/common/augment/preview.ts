import type { Geometry } from '../model';
import { geometryBBox, obbCorners } from '../geometry/shapes';

/** One augmented sample as the preview panel draws it: a small PNG and the outlines of its objects. */
export interface PreviewSample {
  imageId: number;
  /** The image's stored path (its file name is what the panel shows). */
  path: string;
  /** 0: the preprocessed image itself; 1..N: augmented copies, as the export writes `_aug1`..`_augN` (of its first tile). */
  index: number;
  /** The sample's size in pixels; outlines are in these coordinates (an SVG viewBox of this size). */
  width: number;
  height: number;
  /** data:image/png;base64,... reduced to fit the preview's side. */
  dataUrl: string;
  shapes: { d: string; color: string; label: string }[];
  /** The steps applied with the values drawn, e.g. "rotate 12.5°". */
  applied: string[];
  clipped: number;
  dropped: number;
}

export interface PreviewResult {
  samples: PreviewSample[];
  /** False when the dataset has no train images and the preview fell back to other images. */
  fromTrain: boolean;
}

const n = (v: number) => (Math.round(v * 100) / 100).toString();

function closed(flat: readonly number[]): string {
  if (flat.length < 4) return '';
  let d = `M${n(flat[0]!)} ${n(flat[1]!)}`;
  for (let i = 2; i + 1 < flat.length; i += 2) d += `L${n(flat[i]!)} ${n(flat[i + 1]!)}`;
  return `${d}Z`;
}

/** An SVG path of a geometry's outline in image pixels (a mask by its bounding box, points as small squares). */
export function outlinePath(g: Geometry): string {
  const dot = (x: number, y: number) => `M${n(x - 2)} ${n(y - 2)}h4v4h-4Z`;
  switch (g.kind) {
    case 'box':
    case 'mask': {
      const b = geometryBBox(g);
      return closed([b.x, b.y, b.x + b.w, b.y, b.x + b.w, b.y + b.h, b.x, b.y + b.h]);
    }
    case 'polygon':
      return g.parts.map(closed).join('');
    case 'obb':
      return closed(obbCorners(g));
    case 'point':
      return dot(g.x, g.y);
    case 'polyline': {
      const p = g.points;
      let d = p.length >= 2 ? `M${n(p[0]!)} ${n(p[1]!)}` : '';
      for (let i = 2; i + 1 < p.length; i += 2) d += `L${n(p[i]!)} ${n(p[i + 1]!)}`;
      return d;
    }
    case 'keypoints': {
      let d = '';
      for (let i = 0; i + 2 < g.points.length; i += 3) if (g.points[i + 2]! > 0) d += dot(g.points[i]!, g.points[i + 1]!);
      return d;
    }
    default:
      return '';
  }
}
