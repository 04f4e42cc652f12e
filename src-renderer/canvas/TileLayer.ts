import Konva from 'konva/lib/Core';
import type { Context } from 'konva/lib/Context';
import type { Rect } from '../../src-main/common/geometry/shapes';
import { levelForScale, levelScale, tileGrid, type PyramidGeometry } from '../../src-main/common/pyramid';

/** A tile pyramid the viewer can draw: its geometry and where each tile is fetched from. */
export interface TileSource extends PyramidGeometry {
  url(level: number, col: number, row: number): string;
}

export interface TileView {
  /** The part of the image on screen, image pixels. */
  rect: Rect;
  /** Device pixels per image pixel. */
  scale: number;
}

export interface TileStats {
  level: number;
  cached: number;
  pending: number;
  requested: number;
  bytes: number;
}

/** Tiles fetched at once; more only queue in the browser and delay the ones on screen. */
const CONCURRENCY = 6;
/** Cache floor; the real limit grows with what one screen needs, never with the image. */
const MIN_CACHED = 256;
/** Levels of at most this many tiles are kept whole: the blurred fallback under missing tiles. */
const PINNED_LEVEL_TILES = 16;

interface Tile {
  level: number;
  col: number;
  row: number;
}

const keyOf = (level: number, col: number, row: number): string => `${level}/${col}/${row}`;

/**
 * Draws a tile pyramid into the image layer: only the tiles on screen, at the level that matches
 * the zoom, each missing one stood in for by the part of its nearest cached ancestor. Decoded tiles
 * live in an LRU cache whose size follows the screen, so renderer memory stays bounded whatever
 * the image's size. Everything is drawn in image pixel coordinates, like the annotation layers
 * above it, which therefore do not know how the image is drawn.
 */
export class TileLayer {
  private readonly shape: Konva.Shape;
  private readonly cache = new Map<string, ImageBitmap>();
  private readonly pending = new Set<string>();
  private readonly failed = new Set<string>();
  private queue: Tile[] = [];
  private limit = MIN_CACHED;
  private requested = 0;
  private bytes = 0;
  private level = 0;
  private destroyed = false;
  private readonly pinnedLevels: number;
  private firstView: (() => void) | null = null;
  private firstViewDrawn: Promise<void> | null = null;
  /** Aborts the tile fetches in flight when the layer is destroyed. */
  private readonly abort = new AbortController();

  constructor(
    private readonly layer: Konva.Layer,
    readonly source: TileSource,
    private readonly view: () => TileView,
    private readonly onStats: (s: TileStats) => void = () => {},
  ) {
    let pinned = 0;
    while (pinned < source.levels - 1) {
      const g = tileGrid(source, pinned + 1);
      if (g.cols * g.rows > PINNED_LEVEL_TILES) break;
      pinned++;
    }
    this.pinnedLevels = pinned + 1;
    this.shape = new Konva.Shape({
      listening: false,
      perfectDrawEnabled: false,
      sceneFunc: (ctx: Context) => this.draw(ctx._context),
    });
    layer.add(this.shape);
  }

  /** Resolves once the coarse levels are loaded, so the first view shows the whole image. */
  ready(): Promise<void> {
    // Every caller waits for the same overview; destroying the layer releases them all.
    if (this.destroyed) return Promise.resolve();
    this.update();
    this.firstViewDrawn ??= this.pinnedLoaded() ? Promise.resolve() : new Promise((resolve) => (this.firstView = resolve));
    return this.firstViewDrawn;
  }

  /** Called after every change of the view: asks for the tiles now on screen, nearest first. */
  update(): void {
    if (this.destroyed) return;
    const v = this.view();
    this.level = levelForScale(this.source, v.scale);
    const want: Tile[] = [];
    for (let l = 0; l < this.pinnedLevels; l++) want.push(...this.allOf(l));
    const on = this.onScreen(this.level, v.rect);
    const cx = (on.c0 + on.c1) / 2;
    const cy = (on.r0 + on.r1) / 2;
    const visible: Tile[] = [];
    for (let r = on.r0; r <= on.r1; r++) for (let c = on.c0; c <= on.c1; c++) visible.push({ level: this.level, col: c, row: r });
    visible.sort((a, b) => Math.hypot(a.col - cx, a.row - cy) - Math.hypot(b.col - cx, b.row - cy));
    want.push(...visible);
    this.limit = Math.max(MIN_CACHED, 2 * visible.length + 4 * PINNED_LEVEL_TILES);
    // Only what is wanted now stays queued: a fast pan must not leave a backlog of passed tiles.
    this.queue = want.filter((t) => {
      const k = keyOf(t.level, t.col, t.row);
      return !this.cache.has(k) && !this.pending.has(k) && !this.failed.has(k);
    });
    this.pump();
    this.publish();
  }

  destroy(): void {
    this.destroyed = true;
    this.abort.abort();
    this.shape.destroy();
    for (const b of this.cache.values()) b.close();
    this.cache.clear();
    this.queue = [];
    this.firstView?.();
    this.firstView = null;
  }

  private allOf(level: number): Tile[] {
    const g = tileGrid(this.source, level);
    const out: Tile[] = [];
    for (let r = 0; r < g.rows; r++) for (let c = 0; c < g.cols; c++) out.push({ level, col: c, row: r });
    return out;
  }

  private pinnedLoaded(): boolean {
    for (let l = 0; l < this.pinnedLevels; l++) {
      for (const t of this.allOf(l)) {
        const k = keyOf(t.level, t.col, t.row);
        if (!this.cache.has(k) && !this.failed.has(k)) return false;
      }
    }
    return true;
  }

  /** The tile range of a level covering an image rectangle, clamped to the grid. */
  private onScreen(level: number, rect: Rect): { c0: number; c1: number; r0: number; r1: number } {
    const span = this.source.tileSize * levelScale(this.source, level);
    const g = tileGrid(this.source, level);
    const clamp = (v: number, n: number) => Math.min(n - 1, Math.max(0, v));
    return {
      c0: clamp(Math.floor(rect.x / span), g.cols),
      c1: clamp(Math.floor((rect.x + rect.w) / span), g.cols),
      r0: clamp(Math.floor(rect.y / span), g.rows),
      r1: clamp(Math.floor((rect.y + rect.h) / span), g.rows),
    };
  }

  private pump(): void {
    while (this.pending.size < CONCURRENCY && this.queue.length > 0) {
      const t = this.queue.shift()!;
      const k = keyOf(t.level, t.col, t.row);
      this.pending.add(k);
      this.requested++;
      void this.fetch(t, k);
    }
  }

  private async fetch(t: Tile, k: string): Promise<void> {
    let bitmap: ImageBitmap | null = null;
    try {
      bitmap = await loadBitmap(this.source.url(t.level, t.col, t.row), this.abort.signal);
    } catch {
      this.failed.add(k);
    }
    this.pending.delete(k);
    if (this.destroyed) {
      bitmap?.close();
      return;
    }
    if (bitmap) {
      this.cache.set(k, bitmap);
      this.bytes += bitmap.width * bitmap.height * 4;
      this.evict();
      this.layer.batchDraw();
    }
    if (this.firstView && this.pinnedLoaded()) {
      const done = this.firstView;
      this.firstView = null;
      done();
    }
    this.pump();
    this.publish();
  }

  /** Drops the least recently drawn tiles beyond the limit; the pinned coarse levels stay. */
  private evict(): void {
    if (this.cache.size <= this.limit) return;
    for (const [k, b] of this.cache) {
      if (this.cache.size <= this.limit) break;
      if (Number(k.slice(0, k.indexOf('/'))) < this.pinnedLevels) continue;
      this.cache.delete(k);
      this.bytes -= b.width * b.height * 4;
      b.close();
    }
  }

  private publish(): void {
    this.onStats({ level: this.level, cached: this.cache.size, pending: this.pending.size + this.queue.length, requested: this.requested, bytes: this.bytes });
  }

  private draw(ctx: CanvasRenderingContext2D): void {
    const v = this.view();
    const level = this.level;
    const src = this.source;
    const s = levelScale(src, level);
    const span = src.tileSize * s;
    // A screen pixel of overlap hides the hairline seams smoothing leaves between tiles.
    const pad = 1 / Math.max(v.scale, 1e-6);
    ctx.save();
    ctx.beginPath();
    ctx.rect(0, 0, src.width, src.height);
    ctx.clip();
    const on = this.onScreen(level, v.rect);
    for (let r = on.r0; r <= on.r1; r++) {
      for (let c = on.c0; c <= on.c1; c++) {
        const k = keyOf(level, c, r);
        const b = this.cache.get(k);
        if (b) {
          // Re-inserting marks it recently used for the LRU order.
          this.cache.delete(k);
          this.cache.set(k, b);
          ctx.drawImage(b, c * span, r * span, b.width * s + pad, b.height * s + pad);
        } else {
          this.drawFallback(ctx, level, c, r, pad);
        }
      }
    }
    ctx.restore();
  }

  /** The nearest cached ancestor's part that covers tile (level, col, row). */
  private drawFallback(ctx: CanvasRenderingContext2D, level: number, col: number, row: number, pad: number): void {
    const src = this.source;
    const span = src.tileSize * levelScale(src, level);
    const x = col * span;
    const y = row * span;
    for (let d = 1; d <= level; d++) {
      const b = this.cache.get(keyOf(level - d, col >> d, row >> d));
      if (!b) continue;
      const sa = levelScale(src, level - d);
      const ax = (col >> d) * src.tileSize * sa;
      const ay = (row >> d) * src.tileSize * sa;
      const sx = (x - ax) / sa;
      const sy = (y - ay) / sa;
      const sw = Math.min(span / sa, b.width - sx);
      const sh = Math.min(span / sa, b.height - sy);
      if (sw <= 0 || sh <= 0) return;
      ctx.drawImage(b, sx, sy, sw, sh, x, y, sw * sa + pad, sh * sa + pad);
      return;
    }
  }
}

/**
 * One tile, decoded off the main thread. It is fetched (same-origin in browser mode, the media
 * scheme in the desktop app, which the CSP opens to fetch), so the bytes go straight into the
 * bitmap and no <img> keeps its own decoded copy in the page's image caches.
 */
async function loadBitmap(url: string, signal: AbortSignal): Promise<ImageBitmap> {
  const res = await fetch(url, { signal });
  if (!res.ok) throw new Error(`tile ${url}: ${res.status}`);
  return createImageBitmap(await res.blob());
}
