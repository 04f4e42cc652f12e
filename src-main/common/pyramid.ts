/**
 * Tile pyramids for images too large to show as one bitmap. Level `levels - 1` is the full
 * resolution; each level below halves both sides (rounding up) until the whole image fits one
 * tile at level 0, the DeepZoom arrangement. Tiles are `tileSize` square except at the right and
 * bottom edges. Annotation coordinates never depend on any of this: they stay full-resolution
 * image pixels.
 */

/**
 * `none`: the image is small enough to show whole; `missing`: it needs a pyramid that is not
 * built yet; `building`: one is being built now; `ready`: tiles can be requested.
 */
export type PyramidState = 'none' | 'missing' | 'building' | 'ready';

export interface PyramidInfo {
  imageId: number;
  state: PyramidState;
  /** Full-resolution size, image pixels (the oriented image, as stored). */
  width: number;
  height: number;
  tileSize: number;
  /** Number of levels; 0 until the image needs a pyramid. */
  levels: number;
}

export interface PyramidGeometry {
  width: number;
  height: number;
  tileSize: number;
  levels: number;
}

/** How many levels an image of this size gets: halvings until it fits one tile, plus one. */
export function pyramidLevels(width: number, height: number, tileSize: number): number {
  let w = width;
  let h = height;
  let n = 1;
  while (w > tileSize || h > tileSize) {
    w = Math.ceil(w / 2);
    h = Math.ceil(h / 2);
    n++;
  }
  return n;
}

/** Image pixels per level pixel: 1 at the full level, doubling per level down. */
export function levelScale(g: PyramidGeometry, level: number): number {
  return 2 ** (g.levels - 1 - level);
}

/** The level's size in its own pixels (sides halved with rounding up, as the builder does). */
export function levelSize(g: PyramidGeometry, level: number): { width: number; height: number } {
  let w = g.width;
  let h = g.height;
  for (let l = g.levels - 1; l > level; l--) {
    w = Math.ceil(w / 2);
    h = Math.ceil(h / 2);
  }
  return { width: w, height: h };
}

export function tileGrid(g: PyramidGeometry, level: number): { cols: number; rows: number } {
  const s = levelSize(g, level);
  return { cols: Math.ceil(s.width / g.tileSize), rows: Math.ceil(s.height / g.tileSize) };
}

export function totalTiles(g: PyramidGeometry): number {
  let n = 0;
  for (let l = 0; l < g.levels; l++) {
    const t = tileGrid(g, l);
    n += t.cols * t.rows;
  }
  return n;
}

/**
 * The level to draw at a given number of screen pixels per image pixel: the coarsest one that
 * still has at least one level pixel per screen pixel, so nothing is drawn magnified until the
 * full level is reached.
 */
export function levelForScale(g: PyramidGeometry, screenPerImage: number): number {
  if (!(screenPerImage > 0)) return 0;
  const down = Math.floor(Math.log2(1 / screenPerImage) + 1e-9);
  return Math.min(g.levels - 1, Math.max(0, g.levels - 1 - Math.max(0, down)));
}
