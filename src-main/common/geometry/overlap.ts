import type { Geometry } from '../model';
import { polygonToRle } from './raster';
import { rleIou, type Rle } from './rle';
import { geometryBBox, obbCorners } from './shapes';

/**
 * Intersection over union of two shapes of one image (width x height pixels), the measure by which
 * a prediction is "the same object" as a human shape or an earlier prediction. Two boxes are
 * compared exactly; any other pair of area shapes as masks rasterised like COCO's. Points and tags
 * have no area: they overlap only an identical shape.
 */
export function shapeIou(a: Geometry, b: Geometry, width: number, height: number): number {
  if (a.kind === 'box' && b.kind === 'box') {
    const p = geometryBBox(a);
    const q = geometryBBox(b);
    const iw = Math.max(0, Math.min(p.x + p.w, q.x + q.w) - Math.max(p.x, q.x));
    const ih = Math.max(0, Math.min(p.y + p.h, q.y + q.h) - Math.max(p.y, q.y));
    const inter = iw * ih;
    const union = p.w * p.h + q.w * q.h - inter;
    return union > 0 ? inter / union : 0;
  }
  if (a.kind === 'point' || a.kind === 'tag' || b.kind === 'point' || b.kind === 'tag') return JSON.stringify(a) === JSON.stringify(b) ? 1 : 0;
  // Cheap rejection first: shapes whose boxes do not touch cannot overlap.
  const p = geometryBBox(a);
  const q = geometryBBox(b);
  if (p.x > q.x + q.w || q.x > p.x + p.w || p.y > q.y + q.h || q.y > p.y + p.h) return 0;
  const ra = areaRle(a, width, height);
  const rb = areaRle(b, width, height);
  if (!ra || !rb) return JSON.stringify(a) === JSON.stringify(b) ? 1 : 0;
  return rleIou(ra, rb);
}

function areaRle(g: Geometry, width: number, height: number): Rle | null {
  switch (g.kind) {
    case 'box':
      return polygonToRle([[g.x, g.y, g.x + g.w, g.y, g.x + g.w, g.y + g.h, g.x, g.y + g.h]], height, width);
    case 'polygon':
      return polygonToRle(g.parts, height, width);
    case 'obb':
      return polygonToRle([obbCorners(g)], height, width);
    case 'mask':
      return g.rle.size[0] === height && g.rle.size[1] === width ? g.rle : null;
    case 'point':
    case 'tag':
    case 'polyline':
    case 'keypoints':
      return null;
  }
}
