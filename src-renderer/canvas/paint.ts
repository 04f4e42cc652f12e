import type { Geometry } from '../../src-main/common/model';
import { geometryBBox, obbCorners } from '../../src-main/common/geometry/shapes';
import type { SceneShape } from '../editor/scene';

/**
 * Stroking and filling of annotation geometry on a plain 2D context whose transform maps image
 * pixels to device pixels. Sizes are given in CSS pixels and converted with `px` (image pixels per
 * CSS pixel), so lines and markers keep their on-screen size at every zoom.
 */

export const LINE_PX = 1.5;
export const HALO_PX = 5;
export const POINT_RADIUS_PX = 4;
export const WARN_COLOR = '#ffb000';
const POINT_RIM = '#101114';
const FILL_ALPHA = 0.2;
const PREDICTION_FILL_ALPHA = 0.08;
/** Score labels: CSS pixels, so they read the same at every zoom. */
const SCORE_FONT_PX = 10;
const SCORE_PAD_PX = 2;
const SCORE_DARK = '#101114';
const SCORE_LIGHT = '#ffffff';

/** Dark text on light class colours and light on dark ones, so every tab stays readable. */
function textOn(color: string): string {
  const m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(color);
  if (!m) return SCORE_DARK;
  const [r, g, b] = [m[1]!, m[2]!, m[3]!].map((h) => parseInt(h, 16) / 255) as [number, number, number];
  return 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.45 ? SCORE_DARK : SCORE_LIGHT;
}
/** How far (CSS pixels) ink may reach outside a shape's geometric bounds. */
export const INK_MARGIN_PX = HALO_PX / 2 + POINT_RADIUS_PX + 2;

/** Adds the outline of `g` as subpaths of the current path; masks and tags add nothing. */
export function tracePath(ctx: CanvasRenderingContext2D, g: Geometry, px: number, closed = true): void {
  switch (g.kind) {
    case 'box':
      ctx.rect(g.x, g.y, g.w, g.h);
      return;
    case 'polygon':
      for (const ring of g.parts) traceRing(ctx, ring, closed);
      return;
    case 'obb':
      traceRing(ctx, obbCorners(g), closed);
      return;
    case 'polyline':
      traceRing(ctx, g.points, false);
      return;
    case 'point': {
      const r = POINT_RADIUS_PX * px;
      ctx.moveTo(g.x + r, g.y);
      ctx.arc(g.x, g.y, r, 0, Math.PI * 2);
      return;
    }
    case 'mask':
    case 'tag':
      return;
  }
}

function traceRing(ctx: CanvasRenderingContext2D, ring: readonly number[], closed: boolean): void {
  if (ring.length < 2) return;
  ctx.moveTo(ring[0]!, ring[1]!);
  for (let i = 2; i + 1 < ring.length; i += 2) ctx.lineTo(ring[i]!, ring[i + 1]!);
  if (closed) ctx.closePath();
}

/** Interpolated shapes are outlined dash-dotted (in CSS pixels), apart from drawn and predicted ones. */
export const INTERPOLATED_DASH = [8, 3, 2, 3];

/** Shapes that share colour and flags are painted with one path: one fill and one stroke call. */
export function styleKey(s: SceneShape): string {
  return `${s.color}|${s.prediction ? 'p' : 'h'}|${s.flagged ? 'f' : ''}${s.interpolated ? '|i' : ''}`;
}

/** Paints shapes that share one style (see styleKey) as a single path. */
export function paintGroup(ctx: CanvasRenderingContext2D, shapes: readonly SceneShape[], px: number): void {
  const first = shapes[0];
  if (!first) return;
  let points = 0;
  let lines = 0;
  let keypoints = 0;
  ctx.beginPath();
  for (const s of shapes) {
    if (s.geometry.kind === 'point') points++;
    else if (s.geometry.kind === 'polyline') lines++;
    else if (s.geometry.kind === 'keypoints') keypoints++;
    else tracePath(ctx, s.geometry, px);
  }
  ctx.lineJoin = 'bevel';
  if (first.flagged) {
    ctx.setLineDash([]);
    ctx.strokeStyle = WARN_COLOR;
    ctx.lineWidth = HALO_PX * px;
    ctx.stroke();
  }
  ctx.fillStyle = first.color;
  ctx.globalAlpha = first.prediction ? PREDICTION_FILL_ALPHA : FILL_ALPHA;
  ctx.fill();
  ctx.globalAlpha = 1;
  // Open lines have no inside to tint: they join the path after the fill, for the stroke only.
  if (lines > 0) for (const s of shapes) if (s.geometry.kind === 'polyline') tracePath(ctx, s.geometry, px);
  ctx.strokeStyle = first.color;
  ctx.lineWidth = LINE_PX * px;
  ctx.setLineDash(first.prediction ? [6 * px, 4 * px] : first.interpolated ? INTERPOLATED_DASH.map((d) => d * px) : []);
  ctx.stroke();
  ctx.setLineDash([]);
  if (points > 0) paintPoints(ctx, shapes, first, px);
  if (keypoints > 0) paintKeypoints(ctx, shapes, first, px);
  paintLabels(ctx, shapes, px);
}

/**
 * Label tabs drawn once each (text, colour and device pixels per CSS pixel) and then copied: a
 * copy costs far less than laying out text, and the same class names repeat over thousands of
 * shapes.
 */
const sprites = new Map<string, HTMLCanvasElement | null>();
const SPRITES_MAX = 2048;
/** Text widths in CSS pixels at SCORE_FONT_PX, so a tab that will not fit is skipped before any drawing. */
const widths = new Map<string, number>();
let measurer: CanvasRenderingContext2D | null | undefined;

function textWidth(text: string): number {
  let w = widths.get(text);
  if (w !== undefined) return w;
  measurer ??= document.createElement('canvas').getContext('2d');
  if (!measurer) return Infinity;
  measurer.font = `${SCORE_FONT_PX}px sans-serif`;
  w = measurer.measureText(text).width;
  if (widths.size >= SPRITES_MAX) widths.clear();
  widths.set(text, w);
  return w;
}

function labelSprite(text: string, color: string, dev: number): HTMLCanvasElement | null {
  const key = `${dev}|${color}|${text}`;
  let sprite = sprites.get(key);
  if (sprite !== undefined) return sprite;
  sprite = null;
  const canvas = document.createElement('canvas');
  const c = canvas.getContext('2d');
  if (c) {
    const font = SCORE_FONT_PX * dev;
    const pad = SCORE_PAD_PX * dev;
    canvas.width = Math.ceil((textWidth(text) + 2 * SCORE_PAD_PX) * dev) + 1;
    canvas.height = Math.ceil(font + 2 * pad);
    // Resizing resets the context.
    c.font = `${font}px sans-serif`;
    c.textBaseline = 'top';
    c.fillStyle = color;
    c.globalAlpha = 0.85;
    c.fillRect(0, 0, canvas.width, canvas.height);
    c.globalAlpha = 1;
    c.fillStyle = textOn(color);
    c.fillText(text, pad, pad);
    sprite = canvas;
  }
  if (sprites.size >= SPRITES_MAX) sprites.clear();
  sprites.set(key, sprite);
  return sprite;
}

/**
 * A shape's label (class name and/or a prediction's score, see SceneShape.label) on a tab of its
 * class colour, inside its top-left corner: inside, because a chunk's bitmap covers the shapes'
 * bounds only, and a tab outside would be cut off. Points have no corner to hold one; their class
 * and score are in the panels.
 */
function paintLabels(ctx: CanvasRenderingContext2D, shapes: readonly SceneShape[], px: number): void {
  // Tabs keep their size on screen: drawn in device pixels, placed in image pixels.
  let scale = 0;
  let m: DOMMatrix | null = null;
  const minH = (SCORE_FONT_PX + 2 * SCORE_PAD_PX) * px;
  for (const s of shapes) {
    const text = s.label;
    if (text === undefined || s.geometry.kind === 'point') continue;
    const b = geometryBBox(s.geometry);
    // A label bigger than its shape would hide what it names; zooming in brings it back.
    if (minH > b.h || (textWidth(text) + 2 * SCORE_PAD_PX) * px > b.w) continue;
    if (m === null) {
      m = ctx.getTransform();
      scale = Math.hypot(m.a, m.b) || 1;
    }
    const sprite = labelSprite(text, s.color, Math.round(scale * px * 100) / 100);
    if (!sprite) continue;
    let { x, y } = b;
    if (m.b === 0 && m.c === 0 && m.a > 0 && m.d > 0) {
      // On whole device pixels, so the copy is as sharp as the text drawn into it.
      x = (Math.round(m.a * x + m.e) - m.e) / m.a;
      y = (Math.round(m.d * y + m.f) - m.f) / m.d;
    }
    ctx.drawImage(sprite, x, y, sprite.width / scale, sprite.height / scale);
  }
}

/** Points have no area to tint, so they are solid discs with a dark rim to stand out on any image. */
function paintPoints(ctx: CanvasRenderingContext2D, shapes: readonly SceneShape[], style: SceneShape, px: number): void {
  ctx.beginPath();
  for (const s of shapes) if (s.geometry.kind === 'point') tracePath(ctx, s.geometry, px);
  if (style.flagged) {
    ctx.strokeStyle = WARN_COLOR;
    ctx.lineWidth = HALO_PX * px;
    ctx.stroke();
  }
  ctx.fillStyle = style.color;
  ctx.globalAlpha = style.prediction ? 0.6 : 1;
  ctx.fill();
  ctx.globalAlpha = 1;
  ctx.strokeStyle = POINT_RIM;
  ctx.lineWidth = px;
  ctx.stroke();
}

/**
 * Keypoints objects: skeleton edges between labelled keypoints as lines of the class colour,
 * then the keypoints: visible ones (v 2) as solid discs with a dark rim, labelled but not visible
 * ones (v 1) as hollow rings; unlabelled ones (v 0) are not drawn.
 */
function paintKeypoints(ctx: CanvasRenderingContext2D, shapes: readonly SceneShape[], style: SceneShape, px: number): void {
  const r = POINT_RADIUS_PX * px;
  ctx.beginPath();
  for (const s of shapes) {
    if (s.geometry.kind !== 'keypoints') continue;
    const p = s.geometry.points;
    for (const [a, b] of s.skeleton ?? []) {
      if (!(p[3 * a + 2]! > 0 && p[3 * b + 2]! > 0)) continue;
      ctx.moveTo(p[3 * a]!, p[3 * a + 1]!);
      ctx.lineTo(p[3 * b]!, p[3 * b + 1]!);
    }
  }
  ctx.strokeStyle = style.color;
  ctx.lineWidth = LINE_PX * 1.5 * px;
  ctx.setLineDash(style.prediction ? [6 * px, 4 * px] : []);
  ctx.globalAlpha = style.prediction ? 0.6 : 1;
  ctx.stroke();
  ctx.setLineDash([]);
  for (const visible of [true, false]) {
    ctx.beginPath();
    for (const s of shapes) {
      if (s.geometry.kind !== 'keypoints') continue;
      const p = s.geometry.points;
      for (let i = 0; i + 2 < p.length; i += 3) {
        if (p[i + 2] !== (visible ? 2 : 1)) continue;
        ctx.moveTo(p[i]! + r, p[i + 1]!);
        ctx.arc(p[i]!, p[i + 1]!, r, 0, Math.PI * 2);
      }
    }
    if (style.flagged) {
      ctx.strokeStyle = WARN_COLOR;
      ctx.lineWidth = HALO_PX * px;
      ctx.stroke();
    }
    if (visible) {
      ctx.fillStyle = style.color;
      ctx.fill();
      ctx.strokeStyle = POINT_RIM;
      ctx.lineWidth = px;
    } else {
      ctx.strokeStyle = style.color;
      ctx.lineWidth = 2 * px;
    }
    ctx.stroke();
  }
  ctx.globalAlpha = 1;
}

/** Image pixels per CSS pixel for a context whose transform is image → device pixels. */
export function pxOf(ctx: CanvasRenderingContext2D, dpr: number): number {
  const m = ctx.getTransform();
  return dpr / Math.hypot(m.a, m.b);
}
