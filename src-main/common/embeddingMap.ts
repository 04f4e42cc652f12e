/**
 * The embedding map's data as the renderer receives it, and the lasso's point-in-polygon test
 * (shared so the picking is tested on the map's own coordinates).
 */

export const PROJECTION_METHODS = ['pca', 'umap'] as const;
export type ProjectionMethod = (typeof PROJECTION_METHODS)[number];

export interface EmbeddingMapData {
  modelId: number;
  method: ProjectionMethod;
  /** The images mapped, in id order. */
  imageIds: number[];
  /** x, y per image of `imageIds`. */
  coords: number[];
  /** Taken from the cache rather than computed by this call. */
  cached: boolean;
  /** When the projection was computed (ms since the epoch). */
  computedAt: number;
  /** Milliseconds the projection took (0 when cached). */
  elapsedMs: number;
}

export interface EmbeddingMapState {
  models: { id: number; key: string; name: string; dim: number; imageCount: number }[];
  /** The model the map is of: the one asked for, else the one with the most image vectors. */
  modelId: number | null;
  /** The cached map when it is current, else null (compute it). */
  map: EmbeddingMapData | null;
}

/** What the map colours a point by, for every image of the dataset in id order (parallel arrays). */
export interface MapPointInfo {
  ids: number[];
  /** Index into IMAGE_STATUSES. */
  status: number[];
  /** Index into SPLITS, -1 without a split. */
  split: number[];
  /** The most frequent class among the image's human annotations (ties: the lower class id), 0 without any. */
  classId: number[];
  /** The best score among the predictions of the last model run that predicted on the image, null without any. */
  score: (number | null)[];
}

/** Whether (x, y) lies inside the polygon given as flat x, y pairs (even-odd rule). */
export function insidePolygon(x: number, y: number, polygon: ArrayLike<number>): boolean {
  let inside = false;
  const n = polygon.length >> 1;
  for (let i = 0, j = n - 1; i < n; j = i++) {
    const xi = polygon[2 * i]!;
    const yi = polygon[2 * i + 1]!;
    const xj = polygon[2 * j]!;
    const yj = polygon[2 * j + 1]!;
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

/** The ids of the points (flat x, y `coords`, one per id) inside the polygon, in the order given. */
export function pickInPolygon(ids: ArrayLike<number>, coords: ArrayLike<number>, polygon: ArrayLike<number>): number[] {
  if (polygon.length < 6) return [];
  let minX = Infinity;
  let minY = Infinity;
  let maxX = -Infinity;
  let maxY = -Infinity;
  for (let i = 0; i < polygon.length; i += 2) {
    minX = Math.min(minX, polygon[i]!);
    maxX = Math.max(maxX, polygon[i]!);
    minY = Math.min(minY, polygon[i + 1]!);
    maxY = Math.max(maxY, polygon[i + 1]!);
  }
  const out: number[] = [];
  for (let i = 0; i < ids.length; i++) {
    const x = coords[2 * i]!;
    const y = coords[2 * i + 1]!;
    if (x < minX || x > maxX || y < minY || y > maxY) continue;
    if (insidePolygon(x, y, polygon)) out.push(ids[i]!);
  }
  return out;
}
