import Konva from 'konva/lib/Core';
import type { Context } from 'konva/lib/Context';
import { geometryBBox, type Rect } from '../../src-main/common/geometry/shapes';
import type { SceneShape } from '../editor/scene';
import { rasterizeMask, type MaskRaster } from './maskRaster';
import { INK_MARGIN_PX, paintGroup, styleKey } from './paint';

/**
 * The static layer: every annotation that is not being edited, drawn by a few dozen chunk nodes
 * instead of one Konva node per shape (thousands of nodes cost more in bookkeeping than in ink).
 *
 * Shapes are bucketed by where their bounds' centre falls on a grid over the scene, at most
 * CHUNK_MAX to a chunk, so a chunk covers a small area: off-screen chunks are skipped when
 * zoomed in, and an edit repaints one chunk. Each chunk paints its shapes into a bitmap at the
 * current zoom, one path per style, and later frames (pan, and zoom until it settles) only blit
 * that bitmap. After the zoom settles, stale bitmaps are repainted a few per frame. A chunk whose
 * bitmap would be too large at the current zoom (deep zoom) paints its on-screen shapes directly.
 * Masks have a chunk of their own: a raster made once per geometry (and below 100 % a copy
 * scaled to the zoom), so no polygon edit re-rasterises a mask and no mask edit repaints polygons.
 */

export interface StaticStats {
  /** Chunk repaints (a bitmap, or a direct paint at deep zoom) since the viewer was made. */
  staticDraws: number;
  /** Shapes painted by those repaints. */
  shapesDrawn: number;
  /** Milliseconds the last static layer draw took, blits and repaints together. */
  lastStaticDrawMs: number;
  /** Static layer draws (frames that drew it), so a sampler can tell a new lastStaticDrawMs. */
  layerDraws: number;
}

/** What a chunk needs to know about the current frame. */
interface Frame {
  /** Device pixels per CSS pixel. */
  dpr: number;
  /** The visible part of the image, image pixels. */
  view: Rect;
  /** True once the zoom has not changed for a moment: stale bitmaps may be repainted. */
  settled: boolean;
  /** performance.now() until which stale bitmaps may still be repainted in this frame. */
  deadline: number;
}

const TARGET_PER_TILE = 200;
const CHUNK_MAX = 400;
const MAX_GRID = 32;
/** Largest bitmap (device pixels) a chunk may keep; beyond it the chunk paints directly. */
const MAX_BITMAP_PIXELS = 4_000_000;
const MAX_BITMAP_SIDE = 4096;
/** Bitmap pixels kept by all chunks together; off-screen ones are dropped beyond it. */
const BITMAP_BUDGET = 40_000_000;
/** Milliseconds a frame may spend repainting stale (not dirty) bitmaps after the zoom settles. */
const REFRESH_BUDGET_MS = 10;

interface Entry {
  shape: SceneShape;
  bbox: Rect;
  chunk: Chunk;
}

const intersects = (a: Rect, b: Rect): boolean => a.x <= b.x + b.w && b.x <= a.x + a.w && a.y <= b.y + b.h && b.y <= a.y + a.h;
const grow = (r: Rect, d: number): Rect => ({ x: r.x - d, y: r.y - d, w: r.w + 2 * d, h: r.h + 2 * d });

function union(rects: Iterable<Rect>): Rect | null {
  let x0 = Infinity;
  let y0 = Infinity;
  let x1 = -Infinity;
  let y1 = -Infinity;
  for (const r of rects) {
    x0 = Math.min(x0, r.x);
    y0 = Math.min(y0, r.y);
    x1 = Math.max(x1, r.x + r.w);
    y1 = Math.max(y1, r.y + r.h);
  }
  return x0 === Infinity ? null : { x: x0, y: y0, w: x1 - x0, h: y1 - y0 };
}

abstract class Chunk {
  readonly node: Konva.Shape;
  readonly entries = new Map<number, Entry>();
  /** Set when the shapes (or which of them are hidden) changed: repaint before the next blit. */
  protected dirty = true;
  protected grouped = false;
  /** Stacking of a mask chunk: its shape's z, then id. */
  z = 0;
  firstId = Infinity;

  invalidate(): void {
    this.dirty = true;
    this.grouped = false;
  }

  constructor(
    protected readonly scene: StaticScene,
    readonly tile: number,
  ) {
    this.node = new Konva.Shape({
      listening: false,
      perfectDrawEnabled: false,
      sceneFunc: (ctx: Context) => this.scene.drawChunk(this, ctx._context),
    });
  }

  abstract draw(ctx: CanvasRenderingContext2D, frame: Frame): void;
  abstract get bitmapPixels(): number;
  abstract dropBitmap(): void;
  abstract visibleIn(view: Rect): boolean;

  destroy(): void {
    this.dropBitmap();
    this.node.destroy();
  }
}

/** Up to CHUNK_MAX polygons, boxes, rotated boxes and points, cached as one bitmap. */
class VectorChunk extends Chunk {
  private bitmap: HTMLCanvasElement | null = null;
  private bitmapRect: Rect = { x: 0, y: 0, w: 0, h: 0 };
  /** Device pixels per image pixel the bitmap was painted at. */
  private bitmapScale = 0;
  private groups: SceneShape[][] = [];
  private bounds: Rect | null = null;

  get bitmapPixels(): number {
    return this.bitmap ? this.bitmap.width * this.bitmap.height : 0;
  }

  dropBitmap(): void {
    this.bitmap = null;
    this.bitmapScale = 0;
  }

  visibleIn(view: Rect): boolean {
    if (!this.grouped) this.regroup();
    return this.bounds !== null && intersects(this.bounds, view);
  }

  private regroup(): void {
    const byStyle = new Map<string, SceneShape[]>();
    const boxes: Rect[] = [];
    // Stacking is kept between z levels; within one level, shapes of one style share a path, so a
    // later shape may be painted under an earlier one of another colour (translucent fills make
    // that barely visible, and selected or edited shapes are drawn on the overlay anyway).
    const visible = [...this.entries.values()].filter((e) => !this.scene.isHidden(e.shape.id));
    visible.sort((a, b) => (a.shape.z ?? 0) - (b.shape.z ?? 0) || a.shape.id - b.shape.id);
    for (const e of visible) {
      const key = `${e.shape.z ?? 0}|${styleKey(e.shape)}`;
      let list = byStyle.get(key);
      if (!list) byStyle.set(key, (list = []));
      list.push(e.shape);
      boxes.push(e.bbox);
    }
    this.groups = [...byStyle.values()];
    this.bounds = union(boxes);
    this.grouped = true;
  }

  draw(ctx: CanvasRenderingContext2D, frame: Frame): void {
    if (!this.grouped) this.regroup();
    const bounds = this.bounds;
    if (!bounds) {
      this.dirty = false;
      this.dropBitmap();
      return;
    }
    const m = ctx.getTransform();
    const scale = Math.hypot(m.a, m.b);
    const px = frame.dpr / scale;
    const inked = grow(bounds, INK_MARGIN_PX * px);
    if (!intersects(inked, frame.view)) return;
    const w = Math.ceil(inked.w * scale) + 1;
    const h = Math.ceil(inked.h * scale) + 1;
    if (w * h > MAX_BITMAP_PIXELS || w > MAX_BITMAP_SIDE || h > MAX_BITMAP_SIDE) {
      // Deep zoom: a bitmap of the whole chunk would be huge, but few of its shapes are on screen.
      // A clean bitmap of a lower zoom is kept for zooming back out (eviction bounds the memory).
      if (this.dirty) this.dropBitmap();
      this.dirty = false;
      this.paintDirect(ctx, px, grow(frame.view, INK_MARGIN_PX * px));
      return;
    }
    const stale = this.bitmapScale !== scale;
    if (!this.bitmap || this.dirty || (stale && frame.settled && performance.now() < frame.deadline)) {
      this.paintBitmap(inked, scale, px, w, h);
    } else if (stale) {
      this.scene.needsRefresh();
    }
    this.blit(ctx, scale);
  }

  private paintBitmap(rect: Rect, scale: number, px: number, w: number, h: number): void {
    const canvas = this.bitmap ?? document.createElement('canvas');
    canvas.width = w;
    canvas.height = h;
    const c = canvas.getContext('2d');
    if (!c) return;
    c.setTransform(scale, 0, 0, scale, -rect.x * scale, -rect.y * scale);
    let n = 0;
    for (const g of this.groups) {
      paintGroup(c, g, px);
      n += g.length;
    }
    this.bitmap = canvas;
    this.bitmapRect = rect;
    this.bitmapScale = scale;
    this.dirty = false;
    this.scene.countRepaint(n);
  }

  private blit(ctx: CanvasRenderingContext2D, scale: number): void {
    if (this.bitmap) blitBitmap(ctx, this.bitmap, this.bitmapRect.x, this.bitmapRect.y, this.bitmapScale, scale);
  }

  private paintDirect(ctx: CanvasRenderingContext2D, px: number, view: Rect): void {
    let n = 0;
    for (const g of this.groups) {
      const onScreen = g.filter((s) => intersects(this.entries.get(s.id)!.bbox, view));
      if (onScreen.length === 0) continue;
      paintGroup(ctx, onScreen, px);
      n += onScreen.length;
    }
    this.scene.countRepaint(n);
  }
}

/**
 * One mask. Its raster (image resolution) is made once per geometry; below 100 % a copy scaled to
 * the zoom is kept as the bitmap, so frames blit a screen-sized image instead of resampling the
 * full raster, and the one-time downscale can use high-quality filtering.
 */
class MaskChunk extends Chunk {
  private raster: MaskRaster | null = null;
  private rasterOf: SceneShape | null = null;
  private small: HTMLCanvasElement | null = null;
  private smallScale = 0;

  get bitmapPixels(): number {
    return this.small ? this.small.width * this.small.height : 0;
  }

  dropBitmap(): void {
    this.small = null;
    this.smallScale = 0;
  }

  override destroy(): void {
    this.raster = null;
    super.destroy();
  }

  private get shape(): SceneShape | null {
    for (const e of this.entries.values()) return e.shape;
    return null;
  }

  visibleIn(view: Rect): boolean {
    const e = this.entries.values().next().value;
    return e !== undefined && intersects(e.bbox, view);
  }

  draw(ctx: CanvasRenderingContext2D, frame: Frame): void {
    const s = this.shape;
    this.dirty = false;
    if (!s || s.geometry.kind !== 'mask' || this.scene.isHidden(s.id)) return;
    if (this.rasterOf !== s) {
      this.raster = rasterizeMask(s.geometry, s.color, s.prediction);
      this.rasterOf = s;
      this.dropBitmap();
      this.scene.countRepaint(1);
    }
    const r = this.raster;
    if (!r || !intersects(r.rect, frame.view)) return;
    const m = ctx.getTransform();
    const scale = Math.hypot(m.a, m.b);
    if (scale >= 1) {
      ctx.drawImage(r.canvas, r.rect.x, r.rect.y, r.rect.w, r.rect.h);
      return;
    }
    // Resampling is not counted as a repaint: no shape is painted again.
    const stale = this.smallScale !== scale;
    if (!this.small || (stale && frame.settled && performance.now() < frame.deadline)) this.resample(r, scale);
    else if (stale) this.scene.needsRefresh();
    if (this.small) blitBitmap(ctx, this.small, r.rect.x, r.rect.y, this.smallScale, scale);
  }

  private resample(r: MaskRaster, scale: number): void {
    const canvas = this.small ?? document.createElement('canvas');
    canvas.width = Math.max(1, Math.ceil(r.rect.w * scale));
    canvas.height = Math.max(1, Math.ceil(r.rect.h * scale));
    const c = canvas.getContext('2d');
    if (!c) return;
    c.imageSmoothingQuality = 'high';
    c.drawImage(r.canvas, 0, 0, r.rect.w * scale, r.rect.h * scale);
    this.small = canvas;
    this.smallScale = scale;
  }
}

/**
 * Draws a bitmap painted at `bmScale` device pixels per image pixel with its top-left at (x, y)
 * in image pixels. At the same resolution it is copied at whole device pixels, which skips
 * resampling (cheaper, and it does not blur thin lines).
 */
function blitBitmap(ctx: CanvasRenderingContext2D, bm: HTMLCanvasElement, x: number, y: number, bmScale: number, scale: number): void {
  if (bmScale === scale) {
    const m = ctx.getTransform();
    ctx.save();
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.drawImage(bm, Math.round(m.a * x + m.c * y + m.e), Math.round(m.b * x + m.d * y + m.f));
    ctx.restore();
  } else {
    ctx.drawImage(bm, x, y, bm.width / bmScale, bm.height / bmScale);
  }
}

export class StaticScene {
  /** Masks below the outlines so outlines stay visible over a filled mask. */
  private readonly maskGroup = new Konva.Group({ listening: false });
  private readonly vectorGroup = new Konva.Group({ listening: false });
  private readonly entries = new Map<number, Entry>();
  private readonly chunks = new Set<Chunk>();
  private hidden: ReadonlySet<number> = new Set();
  /** The hidden set as of the last frame drawn, and the ids whose membership changed since. */
  private drawnHidden: ReadonlySet<number> = new Set();
  private readonly hiddenTouched = new Set<number>();
  private grid = { x: 0, y: 0, cell: 1, cols: 1, rows: 1 };
  private readonly counters: StaticStats = { staticDraws: 0, shapesDrawn: 0, lastStaticDrawMs: 0, layerDraws: 0 };
  private frame: Frame = { dpr: 1, view: { x: 0, y: 0, w: 0, h: 0 }, settled: true, deadline: 0 };
  private settled = true;
  private refreshWanted = false;
  private drawStart = 0;

  constructor(
    private readonly layer: Konva.Layer,
    /** The visible part of the image (image pixels) for the current view. */
    private readonly viewRect: () => Rect,
    /** Called after each static draw, e.g. to publish the counters. */
    private readonly onDrawn: (stats: StaticStats) => void,
  ) {
    layer.add(this.maskGroup, this.vectorGroup);
    layer.on('beforeDraw', () => this.beginFrame());
    layer.on('draw', () => this.endFrame());
  }

  /** The zoom is changing: keep blitting the bitmaps at their old resolution until it settles. */
  zooming(): void {
    this.settled = false;
  }

  /** The zoom has not changed for a moment: repaint stale bitmaps at the new resolution. */
  settle(): void {
    this.settled = true;
    this.layer.batchDraw();
  }

  stats(): StaticStats {
    return { ...this.counters };
  }

  get shapeCount(): number {
    return this.entries.size;
  }

  get chunkCount(): number {
    return this.chunks.size;
  }

  get(id: number): SceneShape | undefined {
    return this.entries.get(id)?.shape;
  }

  isHidden(id: number): boolean {
    return this.hidden.has(id);
  }

  /**
   * Replaces every shape. The bucketing grid spans the shapes given here (the annotations may
   * arrive before the image's pixels, so the image size is not known yet); shapes added later
   * outside it go to the nearest cell.
   */
  setShapes(shapes: readonly SceneShape[]): void {
    // The editor sends the whole scene again for changes that touch few shapes (a class colour,
    // classes arriving after the annotations): when most shapes are the same values as before,
    // only the chunks holding the others are repainted.
    if (this.entries.size > 0) {
      const changed = shapes.filter((s) => !sameShape(this.entries.get(s.id)?.shape, s));
      if (changed.length <= shapes.length / 2) {
        const keep = new Set(shapes.map((s) => s.id));
        const removed = [...this.entries.keys()].filter((id) => !keep.has(id));
        if (changed.length > 0 || removed.length > 0) this.updateShapes(changed, removed);
        return;
      }
    }
    for (const c of this.chunks) c.destroy();
    this.chunks.clear();
    this.entries.clear();
    const boxes = shapes.map((s) => geometryBBox(s.geometry));
    const area = union(boxes) ?? { x: 0, y: 0, w: 1, h: 1 };
    const vectors = shapes.filter((s) => s.geometry.kind !== 'mask' && s.geometry.kind !== 'tag').length;
    const side = Math.min(MAX_GRID, Math.max(1, Math.round(Math.sqrt(vectors / TARGET_PER_TILE))));
    const cell = Math.max(1, Math.max(area.w, area.h) / side);
    this.grid = {
      x: area.x,
      y: area.y,
      cell,
      cols: Math.max(1, Math.ceil(area.w / cell)),
      rows: Math.max(1, Math.ceil(area.h / cell)),
    };
    shapes.forEach((s, i) => this.add(s, boxes[i]!));
    this.layer.batchDraw();
  }

  /** Updates and removes shapes, marking only the chunks that hold them for repainting. */
  updateShapes(changed: readonly SceneShape[], removed: readonly number[]): void {
    for (const id of removed) this.remove(id);
    for (const s of changed) {
      const bbox = geometryBBox(s.geometry);
      const e = this.entries.get(s.id);
      // A shape stays in its chunk unless it moved beyond the neighbouring cells, so an edit (a
      // drag, a vertex moved) repaints one chunk while chunks still cover small areas.
      if (e && (e.chunk instanceof VectorChunk) === isVector(s) && (!isVector(s) || this.near(e.chunk.tile, this.tileOf(bbox)))) {
        e.shape = s;
        e.bbox = bbox;
        // A shape hidden now and in the last frame is not painted, so its chunk looks the same.
        if (!(this.hidden.has(s.id) && this.drawnHidden.has(s.id))) e.chunk.invalidate();
        if (e.chunk instanceof MaskChunk && e.chunk.z !== (s.z ?? 0)) {
          e.chunk.z = s.z ?? 0;
          this.stackMasks();
        }
      } else {
        if (e) this.remove(s.id);
        this.add(s, bbox);
      }
    }
    this.layer.batchDraw();
  }

  setHidden(ids: ReadonlySet<number>): void {
    const before = this.hidden;
    this.hidden = new Set(ids);
    for (const id of before) if (!this.hidden.has(id)) this.hiddenTouched.add(id);
    for (const id of this.hidden) if (!before.has(id)) this.hiddenTouched.add(id);
    if (this.hiddenTouched.size > 0) this.layer.batchDraw();
  }

  /**
   * Applies hidden-set changes once per frame, against what the last frame showed: the editor
   * may show and hide a shape again within one task (an edit leaving the overlay as the next
   * one, waiting to be saved, takes it), which must not repaint its chunk.
   */
  private applyHidden(): void {
    for (const id of this.hiddenTouched) if (this.hidden.has(id) !== this.drawnHidden.has(id)) this.markDirty(id);
    this.hiddenTouched.clear();
    this.drawnHidden = this.hidden;
  }

  private markDirty(id: number): void {
    const e = this.entries.get(id);
    if (e) e.chunk.invalidate();
  }

  private tileOf(b: Rect): number {
    const g = this.grid;
    const col = Math.min(g.cols - 1, Math.max(0, Math.floor((b.x + b.w / 2 - g.x) / g.cell)));
    const row = Math.min(g.rows - 1, Math.max(0, Math.floor((b.y + b.h / 2 - g.y) / g.cell)));
    return row * g.cols + col;
  }

  private near(a: number, b: number): boolean {
    const cols = this.grid.cols;
    return Math.abs((a % cols) - (b % cols)) <= 1 && Math.abs(Math.floor(a / cols) - Math.floor(b / cols)) <= 1;
  }

  private add(s: SceneShape, bbox: Rect): void {
    if (s.geometry.kind === 'tag') return;
    let chunk: Chunk | undefined;
    if (isVector(s)) {
      const tile = this.tileOf(bbox);
      for (const c of this.chunks) {
        if (c instanceof VectorChunk && c.tile === tile && c.entries.size < CHUNK_MAX) {
          chunk = c;
          break;
        }
      }
      if (!chunk) {
        chunk = new VectorChunk(this, tile);
        this.vectorGroup.add(chunk.node);
        this.chunks.add(chunk);
      }
    } else {
      chunk = new MaskChunk(this, -1);
      this.maskGroup.add(chunk.node);
      this.chunks.add(chunk);
    }
    chunk.z = s.z ?? 0;
    chunk.firstId = Math.min(chunk.firstId, s.id);
    if (chunk instanceof MaskChunk) this.stackMasks();
    const e: Entry = { shape: s, bbox, chunk };
    chunk.entries.set(s.id, e);
    chunk.invalidate();
    this.entries.set(s.id, e);
  }

  /** Masks overlap each other wholesale, so their chunks follow the shapes' stacking order. */
  private stackMasks(): void {
    const masks = [...this.chunks].filter((c) => c instanceof MaskChunk);
    masks.sort((a, b) => a.z - b.z || a.firstId - b.firstId);
    masks.forEach((c, i) => c.node.zIndex(i));
  }

  private remove(id: number): void {
    const e = this.entries.get(id);
    if (!e) return;
    this.entries.delete(id);
    e.chunk.entries.delete(id);
    if (!(this.hidden.has(id) && this.drawnHidden.has(id))) e.chunk.invalidate();
    if (e.chunk.entries.size === 0) {
      this.chunks.delete(e.chunk);
      e.chunk.destroy();
    }
  }

  /** Called by a chunk that blitted a bitmap of the wrong resolution: repaint it in a later frame. */
  needsRefresh(): void {
    this.refreshWanted = true;
  }

  countRepaint(shapes: number): void {
    this.counters.staticDraws++;
    this.counters.shapesDrawn += shapes;
  }

  drawChunk(chunk: Chunk, ctx: CanvasRenderingContext2D): void {
    chunk.draw(ctx, this.frame);
  }

  private beginFrame(): void {
    this.drawStart = performance.now();
    this.applyHidden();
    this.refreshWanted = false;
    this.frame = {
      dpr: this.layer.getCanvas().getPixelRatio(),
      view: this.viewRect(),
      settled: this.settled,
      deadline: this.drawStart + REFRESH_BUDGET_MS,
    };
  }

  private endFrame(): void {
    this.counters.lastStaticDrawMs = performance.now() - this.drawStart;
    this.counters.layerDraws++;
    this.evict();
    // Konva lets a draw handler ask for the next frame; the remaining stale bitmaps go there.
    if (this.refreshWanted && this.settled) this.layer.batchDraw();
    this.onDrawn(this.stats());
  }

  /** Keeps the bitmaps of all chunks within budget by dropping off-screen ones, largest first. */
  private evict(): void {
    let total = 0;
    for (const c of this.chunks) total += c.bitmapPixels;
    if (total <= BITMAP_BUDGET) return;
    const view = this.frame.view;
    const offScreen = [...this.chunks].filter((c) => c.bitmapPixels > 0 && !c.visibleIn(view));
    offScreen.sort((a, b) => b.bitmapPixels - a.bitmapPixels);
    for (const c of offScreen) {
      if (total <= BITMAP_BUDGET) break;
      total -= c.bitmapPixels;
      c.dropBitmap();
    }
  }
}

/** Scene shapes are rebuilt by the editor on every scene event, but their geometry values are kept. */
function sameShape(a: SceneShape | undefined, b: SceneShape): boolean {
  return (
    a !== undefined &&
    (a === b ||
      (a.geometry === b.geometry && a.color === b.color && a.prediction === b.prediction && a.flagged === b.flagged && a.interpolated === b.interpolated && (a.z ?? 0) === (b.z ?? 0) && a.label === b.label))
  );
}

function isVector(s: SceneShape): boolean {
  return s.geometry.kind !== 'mask';
}
