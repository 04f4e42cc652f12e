import type { AnnotationRecord, Geometry } from '../../../../src-main/common/model';
import type { EditorPointerEvent, Overlay } from '../../scene';
import { q } from '../../shapes';
import { moved, type Tool, ToolState } from '../Tool';

/**
 * Editing one keypoints object with the select tool: its labelled keypoints are handles; a
 * handle dragged moves that keypoint alone (one edit), Alt+click on it switches it between
 * visible (2) and labelled but not visible (1). Dragging the object elsewhere moves it whole.
 */

export type Keypoints = Extract<Geometry, { kind: 'keypoints' }>;

export function keypointHandles(g: Keypoints): Overlay['handles'] {
  const out: { x: number; y: number; kind: 'vertex' }[] = [];
  for (let i = 0; i + 2 < g.points.length; i += 3) if (g.points[i + 2]! > 0) out.push({ x: g.points[i]!, y: g.points[i + 1]!, kind: 'vertex' });
  return out;
}

/** The labelled keypoint nearest to (x, y) within `tol` image pixels: its index, or null. */
export function nearestKeypoint(g: Keypoints, x: number, y: number, tol: number): number | null {
  let best: number | null = null;
  let bestD = tol;
  for (let i = 0; i + 2 < g.points.length; i += 3) {
    if (g.points[i + 2]! === 0) continue;
    const d = Math.hypot(g.points[i]! - x, g.points[i + 1]! - y);
    if (d <= bestD) {
      bestD = d;
      best = i / 3;
    }
  }
  return best;
}

export function withKeypoint(g: Keypoints, k: number, x: number, y: number, v = g.points[3 * k + 2]!): Keypoints {
  const points = g.points.slice();
  points[3 * k] = x;
  points[3 * k + 1] = y;
  points[3 * k + 2] = v;
  return { kind: 'keypoints', points };
}

/** Whether (x, y) lies within `tol` of the box around the labelled keypoints. */
export function insideKeypointsBox(g: Keypoints, x: number, y: number, tol: number): boolean {
  let x0 = Infinity;
  let y0 = Infinity;
  let x1 = -Infinity;
  let y1 = -Infinity;
  for (let i = 0; i + 2 < g.points.length; i += 3) {
    if (g.points[i + 2]! === 0) continue;
    x0 = Math.min(x0, g.points[i]!);
    y0 = Math.min(y0, g.points[i + 1]!);
    x1 = Math.max(x1, g.points[i]!);
    y1 = Math.max(y1, g.points[i + 1]!);
  }
  return x >= x0 - tol && x <= x1 + tol && y >= y0 - tol && y <= y1 + tol;
}

/** Dragging one keypoint of the selected keypoints object; back to the tool's idle state on release. */
export class DraggingKeypoint extends ToolState<Tool> {
  readonly name = 'draggingKeypoint';
  private g: Keypoints;
  private dragged = false;
  constructor(
    tool: Tool,
    private readonly rec: AnnotationRecord,
    private readonly base: Keypoints,
    private readonly index: number,
    private readonly start: EditorPointerEvent,
  ) {
    super(tool);
    this.g = base;
  }
  override onPointerMove(e: EditorPointerEvent): void {
    if (!this.dragged && !moved(this.start, e, e.zoom)) return;
    this.dragged = true;
    const p = this.editor.clamp(e);
    this.g = withKeypoint(this.base, this.index, q(p.x), q(p.y));
    this.editor.setToolOverlay({ live: [{ ...this.editor.toScene(this.rec), geometry: this.g }], handles: keypointHandles(this.g) }, [this.rec.id]);
  }
  override onPointerUp(): void {
    this.tool.transition(this.tool.initial());
    if (this.dragged) void this.editor.updateGeometry(this.rec.id, this.g, 'Move keypoint');
  }
}

/** Alt+click on a keypoint: visible (2) and not visible (1) swap. */
export function toggledVisibility(g: Keypoints, k: number): Keypoints {
  const v = g.points[3 * k + 2]!;
  return withKeypoint(g, k, g.points[3 * k]!, g.points[3 * k + 1]!, v === 2 ? 1 : 2);
}
