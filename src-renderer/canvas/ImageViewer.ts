// Core plus the shapes actually used keeps the renderer bundle small; `konva` itself pulls in every shape.
import Konva from 'konva/lib/Core';
import { Image as KonvaImage } from 'konva/lib/shapes/Image';

export interface Point {
  x: number;
  y: number;
}

export interface ImageViewerOptions {
  onZoom?: (zoom: number) => void;
}

export const MIN_ZOOM = 1 / 64;
export const MAX_ZOOM = 64;
export const WHEEL_STEP = 1.15;
/** Above this zoom pixels are drawn as crisp squares, which is what labelling at pixel level needs. */
const SMOOTHING_LIMIT = 2;
const FIT_MARGIN = 0.98;

const clampZoom = (z: number): number => Math.min(MAX_ZOOM, Math.max(MIN_ZOOM, z));

/**
 * A pan/zoom view of one image. The stage's scale and position are the view transform, so every
 * layer (image, annotations, overlay) is drawn in image pixel coordinates.
 */
export class ImageViewer {
  private readonly stage: Konva.Stage;
  private readonly imageLayer: Konva.Layer;
  readonly annotationLayer: Konva.Layer;
  readonly overlayLayer: Konva.Layer;
  private readonly imageNode: KonvaImage;
  private readonly resizeObserver: ResizeObserver;
  private image: HTMLImageElement | null = null;
  private loadToken = 0;
  // While true the view follows container resizes by refitting; any explicit zoom or pan ends it.
  private fitted = true;
  private destroyed = false;

  constructor(
    private readonly container: HTMLDivElement,
    private readonly opts: ImageViewerOptions = {},
  ) {
    this.stage = new Konva.Stage({
      container,
      width: Math.max(1, container.clientWidth),
      height: Math.max(1, container.clientHeight),
      draggable: true,
    });
    this.imageLayer = new Konva.Layer({ listening: false });
    this.annotationLayer = new Konva.Layer();
    this.overlayLayer = new Konva.Layer({ listening: false });
    this.imageNode = new KonvaImage({ image: undefined, x: 0, y: 0 });
    this.imageLayer.add(this.imageNode);
    this.stage.add(this.imageLayer, this.annotationLayer, this.overlayLayer);

    this.stage.on('wheel', (e) => this.onWheel(e.evt));
    this.stage.on('dragstart', () => {
      this.fitted = false;
      container.style.cursor = 'grabbing';
    });
    this.stage.on('dragend', () => {
      container.style.cursor = '';
    });

    this.resizeObserver = new ResizeObserver(() => this.onResize());
    this.resizeObserver.observe(container);
  }

  /**
   * Shows the image at `url`, fitted. Resolves once it is drawn; rejects if it cannot be loaded.
   * A load superseded by a later one resolves false without touching the view.
   */
  async load(url: string): Promise<boolean> {
    const token = ++this.loadToken;
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
    this.image = img;
    this.imageNode.image(img);
    this.imageNode.size({ width: img.naturalWidth, height: img.naturalHeight });
    this.fit();
    return true;
  }

  /** Removes the image, e.g. when the next one turns out to be missing on disk. */
  clear(): void {
    this.loadToken++;
    this.image = null;
    this.imageNode.image(undefined);
    this.imageLayer.batchDraw();
  }

  get imageSize(): { width: number; height: number } | null {
    return this.image ? { width: this.image.naturalWidth, height: this.image.naturalHeight } : null;
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
    this.resizeObserver.disconnect();
    this.stage.destroy();
  }

  private setView(zoom: number, pos: Point): void {
    this.stage.scale({ x: zoom, y: zoom });
    this.stage.position(pos);
    this.imageLayer.imageSmoothingEnabled(zoom < SMOOTHING_LIMIT);
    this.stage.batchDraw();
    this.opts.onZoom?.(zoom);
  }

  private onWheel(evt: WheelEvent): void {
    evt.preventDefault();
    if (!this.image || evt.deltaY === 0) return;
    // One fixed step per event rather than scaling by deltaY: wheel deltas differ wildly between
    // platforms and devices, and a predictable step is what users of image tools expect.
    const factor = evt.deltaY < 0 ? WHEEL_STEP : 1 / WHEEL_STEP;
    const pointer = this.stage.getPointerPosition() ?? undefined;
    this.zoomBy(factor, pointer);
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
