import { geometryBBox, type Rect } from '../../../src-main/common/geometry/shapes';
import type { Editor } from '../Editor';

/** What the editor may ask of the view that shows it (the canvas supplies it; tests may fake it). */
export interface ViewportView {
  /** The part of the image on screen, image pixels; null when nothing is shown. */
  visibleRegion(): Rect | null;
  /** Centres the image point (x, y), keeping the zoom. */
  centerOn(x: number, y: number): void;
  /** Zooms so `rect` fills the view with a margin around it. */
  zoomTo(rect: Rect): void;
}

/** What bringing a rect into view takes: nothing, a pan keeping the zoom, or a zoom to fit it. */
export type RevealPlan = { kind: 'none' } | { kind: 'pan'; x: number; y: number } | { kind: 'zoom'; rect: Rect };

/**
 * How to bring `target` into the view `view` (both image pixels): left alone when wholly on
 * screen, centred at the same zoom when it fits the view, zoomed to fit when it is larger.
 */
export function planReveal(view: Rect, target: Rect): RevealPlan {
  const inside = target.x >= view.x && target.y >= view.y && target.x + target.w <= view.x + view.w && target.y + target.h <= view.y + view.h;
  if (inside) return { kind: 'none' };
  if (target.w <= view.w && target.h <= view.h) return { kind: 'pan', x: target.x + target.w / 2, y: target.y + target.h / 2 };
  return { kind: 'zoom', rect: target };
}

/** The bounding box of several rects. */
export function unionRect(rects: readonly Rect[]): Rect | null {
  if (rects.length === 0) return null;
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
  return { x: x0, y: y0, w: x1 - x0, h: y1 - y0 };
}

/** The view the editor is shown in, so commands (the object list, Tab) can bring shapes on screen. */
export class ViewportManager {
  private view: ViewportView | null = null;

  constructor(private readonly editor: Editor) {}

  /** Connects the view; returns the disconnect. */
  attach(view: ViewportView): () => void {
    this.view = view;
    return () => {
      if (this.view === view) this.view = null;
    };
  }

  /** Brings the shapes into view (see planReveal); returns what it did. */
  reveal(ids: readonly number[]): RevealPlan['kind'] {
    const docs = this.editor.annotations;
    const rects = ids.flatMap((id) => {
      const a = docs.get(id);
      return a && a.kind !== 'tag' ? [geometryBBox(a.geometry)] : [];
    });
    const target = unionRect(rects);
    const region = this.view?.visibleRegion() ?? null;
    if (!this.view || !target || !region) return 'none';
    const plan = planReveal(region, target);
    if (plan.kind === 'pan') this.view.centerOn(plan.x, plan.y);
    else if (plan.kind === 'zoom') this.view.zoomTo(plan.rect);
    return plan.kind;
  }
}
