import type { Geometry } from '../../../../src-main/common/model';
import { validateGeometry } from '../../../../src-main/common/geometry/shapes';
import type { EditorPointerEvent } from '../../scene';
import { q } from '../../shapes';
import { HIT_PX, Tool, ToolState } from '../Tool';

/**
 * Polyline tool (an open line): click points; Enter, a double click or a click on the last point
 * ends it (at least two distinct points), Backspace removes the last point, Escape abandons it.
 */
export class PolylineTool extends Tool {
  readonly id = 'polyline' as const;
  initial(): ToolState {
    return new Idle(this);
  }
}

class Idle extends ToolState<PolylineTool> {
  readonly name = 'idle';
  override onEnter(): void {
    this.editor.setToolOverlay({});
  }
  override onPointerDown(e: EditorPointerEvent): void {
    const p = this.editor.clamp(e);
    this.tool.transition(new Drawing(this.tool, [q(p.x), q(p.y)], e));
  }
}

class Drawing extends ToolState<PolylineTool> {
  readonly name = 'drawing';
  private cursor: { x: number; y: number };
  constructor(
    tool: PolylineTool,
    private points: number[],
    at: EditorPointerEvent,
  ) {
    super(tool);
    this.cursor = { x: at.x, y: at.y };
  }

  override onEnter(): void {
    this.draw();
  }

  private draw(): void {
    const handles = [];
    for (let i = 0; i < this.points.length; i += 2) handles.push({ x: this.points[i]!, y: this.points[i + 1]!, kind: 'vertex' as const });
    this.editor.setToolOverlay({
      preview: { geometry: { kind: 'polyline', points: [...this.points, q(this.cursor.x), q(this.cursor.y)] }, color: this.editor.colorOf(this.editor.activeClassId), open: true },
      handles,
    });
  }

  override onPointerMove(e: EditorPointerEvent): void {
    this.cursor = this.editor.clamp(e);
    this.draw();
  }

  override onPointerDown(e: EditorPointerEvent): void {
    const lx = this.points[this.points.length - 2]!;
    const ly = this.points[this.points.length - 1]!;
    // A click on the last point (the second click of a double click) ends the line.
    if (Math.hypot(e.x - lx, e.y - ly) * e.zoom <= HIT_PX / 2) {
      if (this.points.length >= 4) this.finish();
      return;
    }
    const p = this.editor.clamp(e);
    this.points = [...this.points, q(p.x), q(p.y)];
    this.cursor = p;
    this.draw();
  }

  override onKey(key: string): boolean {
    if (key === 'enter') {
      this.finish();
      return true;
    }
    if (key === 'backspace') {
      this.points = this.points.slice(0, -2);
      if (this.points.length === 0) this.tool.transition(new Idle(this.tool));
      else this.draw();
      return true;
    }
    return false;
  }

  private finish(): void {
    const g: Geometry = { kind: 'polyline', points: this.points };
    const image = this.editor.image;
    const why = image ? validateGeometry(g, image) : 'no image';
    if (why) {
      // The line stays open so a point can still be added.
      this.editor.refuse(why.charAt(0).toUpperCase() + why.slice(1));
      return;
    }
    this.tool.transition(new Idle(this.tool));
    void this.editor.create(g, 'Draw polyline');
  }
}
