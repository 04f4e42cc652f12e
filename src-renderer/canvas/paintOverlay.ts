import type { Geometry } from '../../src-main/common/model';
import { geometryBBox } from '../../src-main/common/geometry/shapes';
import { ROTATE_HANDLE_PX, type Overlay, type SceneShape } from '../editor/scene';
import { MASK_ALPHA, rasterizeMask, type MaskRaster } from './maskRaster';
import { LINE_PX, paintGroup, tracePath } from './paint';

const SELECT_HALO = '#ffffff';
const HANDLE_FILL = '#ffffff';
const HANDLE_STROKE = '#1b1d22';
const CLOSE_COLOR = '#39d353';
/** Prompt points of the segmentation tool: foreground and background. */
const POSITIVE_COLOR = '#39d353';
const NEGATIVE_COLOR = '#ff5a5a';
const MARQUEE_COLOR = '#4da3ff';

/**
 * Paints the overlay: what the user is working on right now. It is small (a few shapes and their
 * handles), so it is painted fresh every frame rather than cached.
 */
export class OverlayPainter {
  // Masks drawn live or as a preview are rasterised once per geometry value, not per frame.
  private readonly masks = new WeakMap<Geometry, MaskRaster | null>();

  paint(
    ctx: CanvasRenderingContext2D,
    overlay: Overlay,
    px: number,
    lookup: (id: number) => SceneShape | undefined,
  ): void {
    const live = new Map(overlay.live.map((s) => [s.id, s]));
    for (const s of overlay.live) this.paintShape(ctx, s, px);
    if (overlay.stroke) paintBrushStroke(ctx, overlay.stroke, px);
    // Selection halo under the selected shapes' own outline, which is painted again on top.
    for (const id of overlay.selected) {
      const s = live.get(id) ?? lookup(id);
      if (s) this.paintSelected(ctx, s, px);
    }
    if (overlay.preview) this.paintPreview(ctx, overlay.preview, px);
    this.paintHandles(ctx, overlay.handles, px);
    if (overlay.marquee) {
      const m = overlay.marquee;
      ctx.beginPath();
      ctx.rect(m.x, m.y, m.w, m.h);
      ctx.globalAlpha = 0.12;
      ctx.fillStyle = MARQUEE_COLOR;
      ctx.fill();
      ctx.globalAlpha = 1;
      ctx.strokeStyle = MARQUEE_COLOR;
      ctx.lineWidth = px;
      ctx.setLineDash([4 * px, 3 * px]);
      ctx.stroke();
      ctx.setLineDash([]);
    }
    if (overlay.brush) {
      const b = overlay.brush;
      ctx.beginPath();
      ctx.arc(b.x, b.y, Math.max(b.radius, px), 0, Math.PI * 2);
      ctx.lineWidth = 2.5 * px;
      ctx.strokeStyle = HANDLE_STROKE;
      ctx.stroke();
      ctx.lineWidth = 1.2 * px;
      ctx.strokeStyle = b.erase ? '#ff5a5a' : HANDLE_FILL;
      ctx.setLineDash(b.erase ? [4 * px, 3 * px] : []);
      ctx.stroke();
      ctx.setLineDash([]);
    }
  }

  private paintShape(ctx: CanvasRenderingContext2D, s: SceneShape, px: number): void {
    if (s.geometry.kind === 'mask') this.paintMask(ctx, s.geometry, s.color, s.prediction);
    else paintGroup(ctx, [s], px);
  }

  private paintMask(ctx: CanvasRenderingContext2D, g: Extract<Geometry, { kind: 'mask' }>, color: string, prediction: boolean): void {
    let r = this.masks.get(g);
    if (r === undefined) {
      r = rasterizeMask(g, color, prediction);
      this.masks.set(g, r);
    }
    if (r) ctx.drawImage(r.canvas, r.rect.x, r.rect.y, r.rect.w, r.rect.h);
  }

  private paintSelected(ctx: CanvasRenderingContext2D, s: SceneShape, px: number): void {
    ctx.beginPath();
    if (s.geometry.kind === 'mask' || s.geometry.kind === 'keypoints') {
      const b = geometryBBox(s.geometry);
      ctx.rect(b.x, b.y, b.w, b.h);
    } else {
      tracePath(ctx, s.geometry, px);
    }
    ctx.lineJoin = 'round';
    strokeOverHalo(ctx, SELECT_HALO, LINE_PX + 3, s.color, px);
  }

  private paintPreview(ctx: CanvasRenderingContext2D, p: NonNullable<Overlay['preview']>, px: number): void {
    if (p.geometry.kind === 'mask') {
      this.paintMask(ctx, p.geometry, p.color, false);
      return;
    }
    ctx.beginPath();
    tracePath(ctx, p.geometry, px, !p.open);
    ctx.lineJoin = 'round';
    if (!p.open) {
      ctx.globalAlpha = 0.2;
      ctx.fillStyle = p.color;
      ctx.fill();
      ctx.globalAlpha = 1;
    }
    strokeOverHalo(ctx, HANDLE_STROKE, LINE_PX + 2, p.color, px);
  }

  private paintHandles(ctx: CanvasRenderingContext2D, handles: Overlay['handles'], px: number): void {
    if (handles.length === 0) return;
    paintRotateHandles(ctx, handles, px);
    // One path per handle kind: a polygon being edited can show hundreds of vertex handles.
    for (const kind of ['edge', 'vertex', 'resize', 'close', 'positive', 'negative'] as const) {
      ctx.beginPath();
      let any = false;
      for (const h of handles) {
        if (h.kind !== kind) continue;
        any = true;
        if (kind === 'resize') {
          const r = 4 * px;
          ctx.rect(h.x - r, h.y - r, 2 * r, 2 * r);
        } else {
          const r = (kind === 'edge' ? 3 : kind === 'close' || kind === 'positive' || kind === 'negative' ? 6 : 4) * px;
          ctx.moveTo(h.x + r, h.y);
          ctx.arc(h.x, h.y, r, 0, Math.PI * 2);
        }
      }
      if (!any) continue;
      ctx.globalAlpha = kind === 'edge' ? 0.7 : 1;
      ctx.fillStyle = kind === 'close' ? CLOSE_COLOR : kind === 'positive' ? POSITIVE_COLOR : kind === 'negative' ? NEGATIVE_COLOR : HANDLE_FILL;
      ctx.fill();
      ctx.globalAlpha = 1;
      ctx.strokeStyle = HANDLE_STROKE;
      ctx.lineWidth = 1.2 * px;
      ctx.stroke();
    }
  }
}

/** Rotate handles: a stem from the anchor out along (dx, dy), and a round knob at its end. */
function paintRotateHandles(ctx: CanvasRenderingContext2D, handles: Overlay['handles'], px: number): void {
  for (const h of handles) {
    if (h.kind !== 'rotate') continue;
    const kx = h.x + (h.dx ?? 0) * ROTATE_HANDLE_PX * px;
    const ky = h.y + (h.dy ?? -1) * ROTATE_HANDLE_PX * px;
    ctx.beginPath();
    ctx.moveTo(h.x, h.y);
    ctx.lineTo(kx, ky);
    strokeOverHalo(ctx, HANDLE_STROKE, 3.5, HANDLE_FILL, px);
    ctx.beginPath();
    ctx.arc(kx, ky, 5 * px, 0, Math.PI * 2);
    ctx.fillStyle = HANDLE_FILL;
    ctx.fill();
    ctx.strokeStyle = HANDLE_STROKE;
    ctx.lineWidth = 1.2 * px;
    ctx.stroke();
  }
}

/** Strokes the current path twice: a wider halo (`haloPx` screen pixels), then the shape's own line on top. */
function strokeOverHalo(ctx: CanvasRenderingContext2D, halo: string, haloPx: number, color: string, px: number): void {
  ctx.strokeStyle = halo;
  ctx.lineWidth = haloPx * px;
  ctx.stroke();
  ctx.strokeStyle = color;
  ctx.lineWidth = (LINE_PX + 0.5) * px;
  ctx.stroke();
}

/**
 * The mask stroke in progress over the live mask it extends. The stroke's footprint is first cut
 * out of what is already on the overlay, so painting shows the mask's own translucency instead
 * of darkening where the stroke crosses set pixels, and erasing shows what is left.
 */
function paintBrushStroke(ctx: CanvasRenderingContext2D, stroke: NonNullable<Overlay['stroke']>, px: number): void {
  const p = stroke.points;
  if (p.length < 2) return;
  ctx.beginPath();
  ctx.moveTo(p[0]!, p[1]!);
  // A single dab still needs a segment for the round caps to draw a disc.
  if (p.length === 2) ctx.lineTo(p[0]! + px * 1e-3, p[1]!);
  for (let i = 2; i + 1 < p.length; i += 2) ctx.lineTo(p[i]!, p[i + 1]!);
  ctx.lineCap = 'round';
  ctx.lineJoin = 'round';
  ctx.lineWidth = stroke.radius * 2;
  ctx.globalCompositeOperation = 'destination-out';
  ctx.strokeStyle = '#000';
  ctx.stroke();
  ctx.globalCompositeOperation = 'source-over';
  if (!stroke.erase) {
    ctx.globalAlpha = MASK_ALPHA;
    ctx.strokeStyle = stroke.color;
    ctx.stroke();
    ctx.globalAlpha = 1;
  }
  ctx.lineCap = 'butt';
}
