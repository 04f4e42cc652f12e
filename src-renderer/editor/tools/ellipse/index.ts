import type { EditorPointerEvent } from '../../scene';
import type { Polygon } from '../../shapes';
import { moved, Tool, ToolState } from '../Tool';
import { ellipseFromCorners } from './geometry';

/**
 * Ellipse tool: drag the rectangle the ellipse fills; Shift makes it a circle (the larger side
 * wins). The ellipse is stored as a polygon (see ellipseRing), so it is edited and exported as one.
 */
export class EllipseTool extends Tool {
  readonly id = 'ellipse' as const;
  initial(): ToolState {
    return new Idle(this);
  }
  shape(start: EditorPointerEvent, e: EditorPointerEvent): Polygon {
    const a = this.editor.clamp(start);
    const b = this.editor.clamp(e);
    return ellipseFromCorners(a.x, a.y, b.x, b.y, e.shift);
  }
}

class Idle extends ToolState<EllipseTool> {
  readonly name = 'idle';
  override onEnter(): void {
    this.editor.setToolOverlay({});
  }
  override onPointerDown(e: EditorPointerEvent): void {
    this.tool.transition(new Dragging(this.tool, e));
  }
}

class Dragging extends ToolState<EllipseTool> {
  readonly name = 'dragging';
  private dragged = false;
  constructor(
    tool: EllipseTool,
    private readonly start: EditorPointerEvent,
  ) {
    super(tool);
  }
  override onPointerMove(e: EditorPointerEvent): void {
    if (!this.dragged && !moved(this.start, e, e.zoom)) return;
    this.dragged = true;
    this.editor.setToolOverlay({ preview: { geometry: this.tool.shape(this.start, e), color: this.editor.colorOf(this.editor.activeClassId) } });
  }
  override onPointerUp(e: EditorPointerEvent): void {
    this.tool.transition(new Idle(this.tool));
    if (!this.dragged) return;
    void this.editor.create(this.tool.shape(this.start, e), e.shift ? 'Draw circle' : 'Draw ellipse');
  }
}
