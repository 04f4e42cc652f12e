import Konva from 'konva/lib/Core';
import type { Context } from 'konva/lib/Context';

/** A comment's marker: where it is pinned (image pixels), whether it is still open, and whether it is the one picked in the list. */
export interface CommentPin {
  id: number;
  x: number;
  y: number;
  open: boolean;
  active: boolean;
}

/** Marker radius in screen pixels, whatever the zoom. */
const RADIUS = 7;

/**
 * Comment markers above the annotations: a small speech-bubble dot per comment, the same size on
 * screen at every zoom, drawn in one shape of its own layer so they never touch the static scene.
 */
export class CommentPinLayer {
  readonly layer = new Konva.Layer({ listening: false });
  private pins: readonly CommentPin[] = [];

  constructor(private readonly onCount: (n: number) => void = () => {}) {
    this.layer.add(
      new Konva.Shape({
        listening: false,
        perfectDrawEnabled: false,
        sceneFunc: (ctx: Context) => this.paint(ctx._context),
      }),
    );
  }

  set(pins: readonly CommentPin[]): void {
    this.pins = pins;
    this.onCount(pins.length);
    this.layer.batchDraw();
  }

  private paint(ctx: CanvasRenderingContext2D): void {
    if (this.pins.length === 0) return;
    const m = ctx.getTransform();
    const dpr = this.layer.getCanvas().getPixelRatio();
    const px = dpr / Math.hypot(m.a, m.b);
    const r = RADIUS * px;
    ctx.save();
    ctx.lineWidth = 2 * px;
    for (const p of this.pins) {
      // The dot sits above and right of its point, with a tail down to it, so the point stays visible.
      const cx = p.x + r;
      const cy = p.y - r * 1.6;
      ctx.beginPath();
      ctx.moveTo(p.x, p.y);
      ctx.lineTo(cx - r * 0.5, cy + r * 0.6);
      ctx.arc(cx, cy, r, Math.PI * 0.75, Math.PI * 0.75 + Math.PI * 2 - 0.6);
      ctx.closePath();
      ctx.fillStyle = p.open ? '#f5b83d' : '#7d828c';
      ctx.strokeStyle = p.active ? '#ffffff' : '#1b1c1f';
      ctx.fill();
      ctx.stroke();
    }
    ctx.restore();
  }
}
