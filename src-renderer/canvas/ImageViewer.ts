// Core plus the shapes actually used keeps the renderer bundle small; `konva` itself pulls in every shape.
import Konva from 'konva/lib/Core';
import { Image as KonvaImage } from 'konva/lib/shapes/Image';
import type { Context } from 'konva/lib/Context';
import type { Rect } from '../../src-main/common/geometry/shapes';
import type { Geometry } from '../../src-main/common/model';
import { EMPTY_OVERLAY, type EditorPointerEvent, type Overlay, type SceneShape, type SceneView } from '../editor/scene';
import { OverlayPainter } from './paintOverlay';
import { StaticScene, type StaticStats } from './StaticScene';
import { TileLayer, type TileSource, type TileStats } from './TileLayer';
import { exposeForTests, forgetForTests } from './testHooks';
import { adjustedCopy, applyDisplayToLayer, sourcePixels, type DisplayLuts } from './display';
import { CommentPinLayer, type CommentPin } from './commentPins';

export interface Point {
  x: number;
  y: number;
}

export interface ImageViewerOptions {
  onZoom?: (zoom: number) => void;
  /** The image-pixel position under the pointer as it moves (status line), null when it leaves. */
  onPointer?: (p: Point | null) => void;
  /**
   * Alt+wheel steps through the frames of a multi-frame image (down: next, up: previous); the
   * plain wheel (and Ctrl+wheel, a trackpad pinch) keeps zooming. Returns whether it took the step.
   */
  onFrameWheel?: (by: 1 | -1) => boolean;
}

export const MIN_ZOOM = 1 / 64;
export const MAX_ZOOM = 64;
export const WHEEL_STEP = 1.15;
/** A press that moves at most this many screen pixels before release is a click, not a drag. */
export const CLICK_SLOP_PX = 4;
/** Above this zoom pixels are drawn as crisp squares, which is what labelling at pixel level needs. */
const SMOOTHING_LIMIT = 2;
const FIT_MARGIN = 0.98;
/** Milliseconds without a zoom change after which cached annotation bitmaps are repainted sharp. */
const ZOOM_SETTLE_MS = 150;
/** Images up to this many pixels are shown adjusted from a copy made once (see displayCopy). */
const DISPLAY_COPY_PIXELS = 16_000_000;

type PointerHandler = (type: 'down' | 'move' | 'up', e: EditorPointerEvent) => void;
/** A right-button drag taken over from panning (window/level): offsets in screen pixels from the press. */
export type RightDragHandler = (phase: 'start' | 'move' | 'end', dx: number, dy: number) => void;

const clampZoom = (z: number): number => Math.min(MAX_ZOOM, Math.max(MIN_ZOOM, z));

/**
 * A pan/zoom view of one image and its annotations. The stage's scale and position are the view
 * transform, so every layer (image, annotations, overlay) is drawn in image pixel coordinates.
 * Annotations come from the editor as plain values (SceneView); pointer input goes back to it in
 * image pixels. Hit testing is the editor's, so no Konva node listens for events.
 */
export class ImageViewer implements SceneView {
  private readonly stage: Konva.Stage;
  private readonly imageLayer: Konva.Layer;
  /** The static layer: annotations not being edited. */
  readonly annotationLayer: Konva.Layer;
  /** Handles, live shapes and the tool in progress. */
  readonly overlayLayer: Konva.Layer;
  private readonly imageNode: KonvaImage;
  private readonly scene: StaticScene;
  private readonly overlayPainter = new OverlayPainter();
  private overlay: Overlay = EMPTY_OVERLAY;
  /** The tool preview last painted, and when (performance.now()): tests and the benchmark time click-to-paint with it. */
  private paintedPreview: Geometry | null = null;
  previewPaintedAt = 0;
  private readonly resizeObserver: ResizeObserver;
  private image: HTMLImageElement | null = null;
  /** The image drawn from a tile pyramid instead, when it is too large for one bitmap. */
  private tiles: TileLayer | null = null;
  /** Full-resolution size of what is shown, either way; null while nothing is. */
  private size: { width: number; height: number } | null = null;
  private shownUrl: string | null = null;
  private loadToken = 0;
  // While true the view follows container resizes by refitting; any explicit zoom or pan ends it.
  private fitted = true;
  private destroyed = false;
  private settleTimer: ReturnType<typeof setTimeout> | null = null;

  private readonly pointerHandlers = new Set<PointerHandler>();
  private leftButtonPans = true;
  private secondaryToEditor = false;
  private spaceHeld = false;
  /** The press in progress: a pan (with the last pointer position) or one forwarded to the editor. */
  private press: { pointerId: number; button: number; pan: { x: number; y: number } | null; drag?: { x: number; y: number } } | null = null;
  private rightDrag: RightDragHandler | null = null;
  private readonly cleanup: (() => void)[] = [];
  /** Display adjustments (brightness, contrast, ...) applied to the drawn image layer; null: none. */
  private displayLuts: DisplayLuts | null = null;
  /** Whether the image node shows an adjusted copy of the image, so the layer needs no pass. */
  private adjustedCopy = false;
  private displayFrame: number | null = null;
  private readonly shownHandlers = new Set<() => void>();
  /** Comment markers, above everything else; their count is on the container (`data-comment-pins`). */
  private readonly pins: CommentPinLayer;

  constructor(
    private readonly container: HTMLDivElement,
    private readonly opts: ImageViewerOptions = {},
  ) {
    this.stage = new Konva.Stage({
      container,
      width: Math.max(1, container.clientWidth),
      height: Math.max(1, container.clientHeight),
      listening: false,
    });
    this.imageLayer = new Konva.Layer({ listening: false });
    // Annotations are shown with an image only (see load).
    this.annotationLayer = new Konva.Layer({ listening: false, visible: false });
    this.overlayLayer = new Konva.Layer({ listening: false });
    this.imageNode = new KonvaImage({ image: undefined, x: 0, y: 0 });
    this.imageLayer.add(this.imageNode);
    this.stage.add(this.imageLayer, this.annotationLayer, this.overlayLayer);
    // Display adjustments go through the layer's pixels once it is drawn, whole image or tiles.
    this.imageLayer.on('draw', () => {
      if (this.displayLuts && !this.adjustedCopy) applyDisplayToLayer(this.imageLayer.getCanvas()._canvas, this.displayLuts);
    });
    this.pins = new CommentPinLayer((n) => (container.dataset['commentPins'] = String(n)));
    this.stage.add(this.pins.layer);
    this.scene = new StaticScene(this.annotationLayer, () => this.visibleRect(), (s) => this.publishStats(s));
    this.overlayLayer.add(
      new Konva.Shape({
        listening: false,
        perfectDrawEnabled: false,
        sceneFunc: (ctx: Context) => this.paintOverlay(ctx._context),
      }),
    );

    // Input is read from the DOM rather than through Konva: the routing (editor or pan) depends on
    // the button and on Space, and pointer capture keeps a drag alive outside the container.
    this.listen(container, 'wheel', (e) => this.onWheel(e), { passive: false });
    this.listen(container, 'pointerdown', (e) => this.onPointerDown(e));
    this.listen(container, 'pointermove', (e) => this.onPointerMove(e));
    if (opts.onPointer) {
      const report = opts.onPointer;
      this.listen(container, 'pointermove', (e) => report(this.stageToImage(this.stagePoint(e))));
      this.listen(container, 'pointerleave', () => report(null));
    }
    this.listen(container, 'pointerup', (e) => this.onPointerUp(e));
    this.listen(container, 'pointercancel', (e) => this.onPointerUp(e));
    // A middle press pans; the browser's own use of it (autoscroll, pasting) must not start.
    this.listen(container, 'mousedown', (e) => {
      if (e.button === 1) e.preventDefault();
    });
    // Right-drag pans, so the context menu would only get in the way.
    this.listen(container, 'contextmenu', (e) => e.preventDefault());
    this.listen(window, 'keydown', (e) => this.onSpace(e, true));
    this.listen(window, 'keyup', (e) => this.onSpace(e, false));
    this.listen(window, 'blur', () => this.onSpace(null, false));

    this.resizeObserver = new ResizeObserver(() => this.onResize());
    this.resizeObserver.observe(container);
    exposeForTests(this);
  }

  private listen<K extends keyof HTMLElementEventMap>(
    target: HTMLElement | Window,
    type: K,
    fn: (e: HTMLElementEventMap[K]) => void,
    opts?: AddEventListenerOptions,
  ): void {
    const h = fn as EventListener;
    target.addEventListener(type, h, opts);
    this.cleanup.push(() => target.removeEventListener(type, h, opts));
  }

  // --- SceneView -------------------------------------------------------------------------------

  setShapes(shapes: readonly SceneShape[]): void {
    this.scene.setShapes(shapes);
    this.overlayLayer.batchDraw();
  }

  updateShapes(changed: readonly SceneShape[], removed: readonly number[]): void {
    this.scene.updateShapes(changed, removed);
    this.overlayLayer.batchDraw();
  }

  setHidden(ids: ReadonlySet<number>): void {
    this.scene.setHidden(ids);
  }

  setOverlay(overlay: Overlay): void {
    const next = overlay.preview?.geometry ?? null;
    const newMask = next?.kind === 'mask' && next !== (this.overlay.preview?.geometry ?? null);
    this.overlay = overlay;
    // A new mask preview (a tool's answer from the backend, at most one per prompt) is drawn at
    // once: waiting for the next animation frame would show it a frame late whenever it arrives
    // just after one. Previews that follow the pointer (boxes, outlines) keep to the frames.
    if (newMask) this.overlayLayer.draw();
    else this.overlayLayer.batchDraw();
  }

  onPointer(handler: PointerHandler): () => void {
    this.pointerHandlers.add(handler);
    return () => this.pointerHandlers.delete(handler);
  }

  /** Routes right-button drags to `handler` instead of panning; null gives them back to panning. */
  setRightDrag(handler: RightDragHandler | null): void {
    this.rightDrag = handler;
  }

  setLeftButtonPans(pans: boolean): void {
    this.leftButtonPans = pans;
  }

  setSecondaryToEditor(on: boolean): void {
    this.secondaryToEditor = on;
  }

  /** The part of the image on screen, in whole image pixels clipped to the image; null without an image. */
  visibleRegion(): { x: number; y: number; w: number; h: number } | null {
    const size = this.size;
    if (!size) return null;
    const r = this.visibleRect();
    const x0 = Math.max(0, Math.floor(r.x));
    const y0 = Math.max(0, Math.floor(r.y));
    const x1 = Math.min(size.width, Math.ceil(r.x + r.w));
    const y1 = Math.min(size.height, Math.ceil(r.y + r.h));
    if (x1 <= x0 || y1 <= y0) return null;
    return { x: x0, y: y0, w: x1 - x0, h: y1 - y0 };
  }

  /** Sets the lookup tables the image is drawn through (see common/imaging/display.ts); null draws it as it is. */
  setDisplay(luts: DisplayLuts | null): void {
    this.displayLuts = luts;
    // A slider sends many changes: the copy is made once per animation frame, for the latest.
    if (this.displayFrame !== null) return;
    this.displayFrame = requestAnimationFrame(() => {
      this.displayFrame = null;
      if (this.destroyed) return;
      if (this.image) this.imageNode.image(this.displayCopy(this.image) ?? this.image);
      this.imageLayer.batchDraw();
    });
  }

  /** Calls `fn` each time another bitmap or pyramid is shown (another image, frame or display window). */
  onShown(fn: () => void): () => void {
    this.shownHandlers.add(fn);
    return () => this.shownHandlers.delete(fn);
  }

  /**
   * The image put through the display tables once, for images up to DISPLAY_COPY_PIXELS: panning
   * and zooming then redraw it at no extra cost. Null without adjustments, or for larger images,
   * whose drawn layer goes through the tables at each draw instead (as tiles always do).
   */
  private displayCopy(img: HTMLImageElement): HTMLCanvasElement | null {
    this.adjustedCopy = false;
    const luts = this.displayLuts;
    if (!luts || img.naturalWidth * img.naturalHeight > DISPLAY_COPY_PIXELS) return null;
    const copy = adjustedCopy(img, luts);
    this.adjustedCopy = copy !== null;
    return copy;
  }

  /** The shown image's own pixels (before display adjustments), reduced to fit `maxSide`: for histograms. */
  sourcePixels(maxSide = 1024): Promise<ImageData | null> {
    if (this.image) return sourcePixels(this.image, maxSide);
    if (this.tiles) return sourcePixels(this.tiles.source.url(0, 0, 0), maxSide);
    return Promise.resolve(null);
  }

  /** Whether the image is drawn from its tile pyramid. */
  get tiled(): boolean {
    return this.tiles !== null;
  }

  stats(): StaticStats {
    return this.scene.stats();
  }

  /**
   * Shows the image at `url`, fitted. Resolves once it is drawn; rejects if it cannot be loaded.
   * A load superseded by a later one resolves false without touching the view.
   */
  async load(url: string, opts: { keepView?: boolean } = {}): Promise<boolean> {
    const token = ++this.loadToken;
    const keep = opts.keepView === true && this.image !== null;
    // Asked again for the image on screen (its list entry was refreshed, e.g. its status changed
    // with an edit, or the user came back to it before the next one was drawn): keep the user's
    // zoom and position rather than decoding and fitting again. shownUrl is only set once drawn,
    // so the image is on screen; a load this one supersedes may have hidden its annotations.
    if (this.image && url === this.shownUrl) {
      this.annotationLayer.visible(true);
      return true;
    }
    // The next image's annotations usually arrive before its pixels; painting them over the old
    // image at the old zoom would be wasted work, repeated once the new image is fitted.
    if (!keep) this.annotationLayer.visible(false);
    const img = new Image();
    img.decoding = 'async';
    img.src = url;
    try {
      await img.decode();
    } catch {
      if (token !== this.loadToken || this.destroyed) return false;
      throw new Error('the image could not be loaded or decoded');
    }
    if (token !== this.loadToken || this.destroyed) return false;
    this.dropTiles();
    this.image = img;
    this.size = { width: img.naturalWidth, height: img.naturalHeight };
    this.shownUrl = url;
    this.imageNode.image(this.displayCopy(img) ?? img);
    this.imageNode.size({ width: img.naturalWidth, height: img.naturalHeight });
    this.imageNode.visible(true);
    // keepView: the same image re-rendered (another display window): zoom and position stay.
    if (keep) this.imageLayer.batchDraw();
    else this.fit();
    this.annotationLayer.visible(true);
    for (const fn of this.shownHandlers) fn();
    return true;
  }

  /**
   * Shows an image from its tile pyramid, fitted: only tiles on screen are fetched, at the level
   * the zoom needs. Resolves once the coarse overview is drawn; `key` identifies the image like
   * load's URL does (asked again for the image on screen, the view is kept).
   */
  async loadTiled(key: string, source: TileSource): Promise<boolean> {
    const token = ++this.loadToken;
    if (this.tiles && key === this.shownUrl) {
      // The same pyramid, drawn or still loading its overview: wait for that rather than start
      // again; this call is now the one that shows the annotations (a load it superseded gave up).
      const tiles = this.tiles;
      await tiles.ready();
      if (token !== this.loadToken || this.destroyed || this.tiles !== tiles) return false;
      this.annotationLayer.visible(true);
      return true;
    }
    this.annotationLayer.visible(false);
    this.dropTiles();
    this.image = null;
    this.imageNode.image(undefined);
    this.adjustedCopy = false;
    this.imageNode.visible(false);
    this.size = { width: source.width, height: source.height };
    this.shownUrl = key;
    const tiles = new TileLayer(
      this.imageLayer,
      source,
      () => ({ rect: this.visibleRect(), scale: this.getZoom() * this.imageLayer.getCanvas().getPixelRatio() }),
      (s) => this.publishTileStats(s),
    );
    this.tiles = tiles;
    this.fit();
    await tiles.ready();
    if (token !== this.loadToken || this.destroyed || this.tiles !== tiles) return false;
    this.imageLayer.batchDraw();
    this.annotationLayer.visible(true);
    for (const fn of this.shownHandlers) fn();
    return true;
  }

  private dropTiles(): void {
    if (!this.tiles) return;
    this.tiles.destroy();
    this.tiles = null;
  }

  /** Removes the image, e.g. when the next one turns out to be missing on disk. */
  clear(): void {
    this.loadToken++;
    this.image = null;
    this.dropTiles();
    this.size = null;
    this.shownUrl = null;
    this.annotationLayer.visible(false);
    this.imageNode.image(undefined);
    this.adjustedCopy = false;
    this.imageLayer.batchDraw();
  }

  get imageSize(): { width: number; height: number } | null {
    return this.size;
  }

  getZoom(): number {
    return this.stage.scaleX();
  }

  fit(): void {
    const size = this.imageSize;
    if (!size) return;
    const w = this.stage.width();
    const h = this.stage.height();
    const zoom = clampZoom(Math.min(w / size.width, h / size.height) * FIT_MARGIN);
    this.setView(zoom, { x: (w - size.width * zoom) / 2, y: (h - size.height * zoom) / 2 });
    this.fitted = true;
  }

  oneToOne(): void {
    const size = this.imageSize;
    if (!size) return;
    this.setView(1, {
      x: Math.round((this.stage.width() - size.width) / 2),
      y: Math.round((this.stage.height() - size.height) / 2),
    });
    this.fitted = false;
  }

  /** Zooms by `factor` keeping the point under `at` (stage coordinates; default centre) fixed. */
  zoomBy(factor: number, at?: Point): void {
    const anchor = at ?? { x: this.stage.width() / 2, y: this.stage.height() / 2 };
    const before = this.stageToImage(anchor);
    const zoom = clampZoom(this.getZoom() * factor);
    this.setView(zoom, { x: anchor.x - before.x * zoom, y: anchor.y - before.y * zoom });
    this.fitted = false;
  }

  /**
   * Centres `rect` (image pixels) and zooms so it fills the view with `margin` of its size around
   * it; a tiny rect is shown with at least `minSize` image pixels of context.
   */
  zoomTo(rect: Rect, margin = 0.25, minSize = 48): void {
    if (!this.size) return;
    const w = this.stage.width();
    const h = this.stage.height();
    const rw = Math.max(rect.w * (1 + 2 * margin), minSize);
    const rh = Math.max(rect.h * (1 + 2 * margin), minSize);
    const zoom = clampZoom(Math.min(w / rw, h / rh));
    const cx = rect.x + rect.w / 2;
    const cy = rect.y + rect.h / 2;
    this.setView(zoom, { x: w / 2 - cx * zoom, y: h / 2 - cy * zoom });
    this.fitted = false;
  }

  /** Centres the image point `p`, keeping the zoom. */
  centerOn(p: Point): void {
    if (!this.size) return;
    const z = this.getZoom();
    this.setView(z, { x: this.stage.width() / 2 - p.x * z, y: this.stage.height() / 2 - p.y * z });
    this.fitted = false;
  }

  /** Shows these comment markers (image pixels) instead of the ones shown. */
  setCommentPins(pins: readonly CommentPin[]): void {
    this.pins.set(pins);
  }

  /** Image pixel coordinates to stage (container CSS pixel) coordinates. */
  imageToStage(p: Point): Point {
    const z = this.getZoom();
    return { x: p.x * z + this.stage.x(), y: p.y * z + this.stage.y() };
  }

  /** Stage (container CSS pixel) coordinates to image pixel coordinates. */
  stageToImage(p: Point): Point {
    const z = this.getZoom();
    return { x: (p.x - this.stage.x()) / z, y: (p.y - this.stage.y()) / z };
  }

  destroy(): void {
    this.destroyed = true;
    this.loadToken++;
    if (this.displayFrame !== null) cancelAnimationFrame(this.displayFrame);
    if (this.settleTimer !== null) clearTimeout(this.settleTimer);
    for (const off of this.cleanup) off();
    forgetForTests(this);
    this.dropTiles();
    this.resizeObserver.disconnect();
    this.stage.destroy();
  }

  private setView(zoom: number, pos: Point): void {
    const zoomChanged = zoom !== this.stage.scaleX();
    this.stage.scale({ x: zoom, y: zoom });
    this.stage.position(pos);
    this.imageLayer.imageSmoothingEnabled(zoom < SMOOTHING_LIMIT);
    this.annotationLayer.imageSmoothingEnabled(zoom < SMOOTHING_LIMIT);
    if (zoomChanged) {
      this.scene.zooming();
      if (this.settleTimer !== null) clearTimeout(this.settleTimer);
      this.settleTimer = setTimeout(() => {
        this.settleTimer = null;
        this.scene.settle();
      }, ZOOM_SETTLE_MS);
    }
    this.tiles?.update();
    this.stage.batchDraw();
    this.opts.onZoom?.(zoom);
  }

  /** The part of the image on screen, image pixels. */
  private visibleRect(): Rect {
    const a = this.stageToImage({ x: 0, y: 0 });
    const z = this.getZoom();
    return { x: a.x, y: a.y, w: this.stage.width() / z, h: this.stage.height() / z };
  }

  /** What the overlay shows now (tests read the tool's preview through the hooks). */
  get overlayState(): Overlay {
    return this.overlay;
  }

  private paintOverlay(ctx: CanvasRenderingContext2D): void {
    const preview = this.overlay.preview?.geometry ?? null;
    if (preview !== this.paintedPreview) {
      this.paintedPreview = preview;
      this.previewPaintedAt = performance.now();
    }
    const dpr = this.overlayLayer.getCanvas().getPixelRatio();
    const m = ctx.getTransform();
    this.overlayPainter.paint(ctx, this.overlay, dpr / Math.hypot(m.a, m.b), (id) => this.scene.get(id));
  }

  /** Counters on the container element, where tests and the benchmark read them without a hook. */
  private publishStats(s: StaticStats): void {
    const d = this.container.dataset;
    const put = (k: string, v: string) => {
      if (d[k] !== v) d[k] = v;
    };
    put('staticDraws', String(s.staticDraws));
    put('shapesDrawn', String(s.shapesDrawn));
    put('shapeCount', String(this.scene.shapeCount));
    put('chunkCount', String(this.scene.chunkCount));
  }

  private publishTileStats(s: TileStats): void {
    const d = this.container.dataset;
    d['tileLevel'] = String(s.level);
    d['tilesCached'] = String(s.cached);
    d['tilesPending'] = String(s.pending);
    d['tilesRequested'] = String(s.requested);
    d['tileBytes'] = String(s.bytes);
  }

  private onWheel(evt: WheelEvent): void {
    evt.preventDefault();
    if (!this.size || evt.deltaY === 0) return;
    if (evt.altKey && !evt.ctrlKey && this.opts.onFrameWheel?.(evt.deltaY > 0 ? 1 : -1)) return;
    // One fixed step per event rather than scaling by deltaY: wheel deltas differ wildly between
    // platforms and devices, and a predictable step is what users of image tools expect.
    const factor = evt.deltaY < 0 ? WHEEL_STEP : 1 / WHEEL_STEP;
    this.zoomBy(factor, this.stagePoint(evt));
  }

  private stagePoint(e: MouseEvent): Point {
    const r = this.container.getBoundingClientRect();
    return { x: e.clientX - r.left, y: e.clientY - r.top };
  }

  private toEditor(e: PointerEvent, button: number): EditorPointerEvent {
    const p = this.stageToImage(this.stagePoint(e));
    return { x: p.x, y: p.y, button, shift: e.shiftKey, ctrl: e.ctrlKey || e.metaKey, alt: e.altKey, zoom: this.getZoom() };
  }

  private emit(type: 'down' | 'move' | 'up', e: EditorPointerEvent): void {
    for (const h of this.pointerHandlers) h(type, e);
  }

  private onPointerDown(e: PointerEvent): void {
    if (this.press) return;
    // A tool that takes the right button (background points) wins over window/level dragging.
    if (e.button === 2 && this.rightDrag && !this.secondaryToEditor) {
      this.container.setPointerCapture(e.pointerId);
      this.press = { pointerId: e.pointerId, button: 2, pan: null, drag: { x: e.clientX, y: e.clientY } };
      this.rightDrag('start', 0, 0);
      return;
    }
    const toEditor = e.button === 0 || (e.button === 2 && this.secondaryToEditor && !this.spaceHeld);
    const pan = e.button === 1 || (e.button === 2 && !toEditor) || (e.button === 0 && (this.leftButtonPans || this.spaceHeld));
    if (!pan && !toEditor) return;
    this.container.setPointerCapture(e.pointerId);
    if (pan) {
      this.press = { pointerId: e.pointerId, button: e.button, pan: { x: e.clientX, y: e.clientY } };
      this.container.style.cursor = 'grabbing';
    } else {
      this.press = { pointerId: e.pointerId, button: e.button, pan: null };
      this.emit('down', this.toEditor(e, e.button));
    }
  }

  private onPointerMove(e: PointerEvent): void {
    const press = this.press;
    if (press && press.pointerId !== e.pointerId) return;
    if (press?.drag) {
      this.rightDrag?.('move', e.clientX - press.drag.x, e.clientY - press.drag.y);
      return;
    }
    if (press?.pan) {
      const dx = e.clientX - press.pan.x;
      const dy = e.clientY - press.pan.y;
      if (dx === 0 && dy === 0) return;
      press.pan = { x: e.clientX, y: e.clientY };
      this.fitted = false;
      this.stage.position({ x: this.stage.x() + dx, y: this.stage.y() + dy });
      this.tiles?.update();
      this.stage.batchDraw();
      return;
    }
    // A hover reports button -1 (as the DOM does), so tools can tell it from a drag.
    this.emit('move', this.toEditor(e, press ? press.button : -1));
  }

  private onPointerUp(e: PointerEvent): void {
    const press = this.press;
    // pointerup comes once the last button is released, whichever it is, so it always ends the press.
    if (!press || press.pointerId !== e.pointerId) return;
    this.press = null;
    if (this.container.hasPointerCapture(e.pointerId)) this.container.releasePointerCapture(e.pointerId);
    if (press.drag) this.rightDrag?.('end', e.clientX - press.drag.x, e.clientY - press.drag.y);
    else if (press.pan) this.container.style.cursor = this.spaceHeld ? 'grab' : '';
    else this.emit('up', this.toEditor(e, press.button));
  }

  private onSpace(e: KeyboardEvent | null, down: boolean): void {
    if (e && (e.code !== 'Space' || isTyping(e.target))) return;
    // Holding Space must not also press the focused button or scroll the page.
    e?.preventDefault();
    if (this.spaceHeld === down) return;
    this.spaceHeld = down;
    if (!this.press) this.container.style.cursor = down ? 'grab' : '';
  }

  private onResize(): void {
    if (this.destroyed) return;
    const w = Math.max(1, this.container.clientWidth);
    const h = Math.max(1, this.container.clientHeight);
    const oldW = this.stage.width();
    const oldH = this.stage.height();
    if (w === oldW && h === oldH) return;
    const centre = this.stageToImage({ x: oldW / 2, y: oldH / 2 });
    this.stage.size({ width: w, height: h });
    if (this.fitted) {
      this.fit();
    } else {
      const z = this.getZoom();
      this.setView(z, { x: w / 2 - centre.x * z, y: h / 2 - centre.y * z });
    }
  }
}

function isTyping(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  return target.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(target.tagName);
}
