import type { EditorPointerEvent } from '../../scene';
import { boxFromCorners } from '../../shapes';
import { moved, Tool, ToolState } from '../Tool';

/** Box tool: drag from corner to corner, or click one corner and then the other. */
export class BoxTool extends Tool {
  readonly id = 'box' as const;
  initial(): ToolState {
    return new Idle(this);
  }
  private box(x0: number, y0: number, x1: number, y1: number) {
    const a = this.editor.clamp({ x: x0, y: y0 });
    const b = this.editor.clamp({ x: x1, y: y1 });
    return boxFromCorners(a.x, a.y, b.x, b.y);
  }
  preview(x0: number, y0: number, x1: number, y1: number): void {
    this.editor.setToolOverlay({ preview: { geometry: this.box(x0, y0, x1, y1), color: this.editor.colorOf(this.editor.activeClassId) } });
  }
  finish(x0: number, y0: number, x1: number, y1: number): void {
    this.transition(new Idle(this));
    void this.editor.create(this.box(x0, y0, x1, y1), 'Draw box');
  }
}

class Idle extends ToolState<BoxTool> {
  readonly name = 'idle';
  override onEnter(): void {
    this.editor.setToolOverlay({});
  }
  override onPointerDown(e: EditorPointerEvent): void {
    this.tool.transition(new Pointing(this.tool, e));
  }
}

/** Pressed, not moved yet: a drag draws the box, a click starts the two-corner mode. */
class Pointing extends ToolState<BoxTool> {
  readonly name = 'pointing';
  constructor(tool: BoxTool, private readonly start: EditorPointerEvent) {
    super(tool);
  }
  override onPointerMove(e: EditorPointerEvent): void {
    if (moved(this.start, e, e.zoom)) this.tool.transition(new Dragging(this.tool, this.start, e));
  }
  override onPointerUp(): void {
    this.tool.transition(new SecondCorner(this.tool, this.start));
  }
}

class Dragging extends ToolState<BoxTool> {
  readonly name = 'dragging';
  constructor(tool: BoxTool, private readonly start: EditorPointerEvent, private readonly at: EditorPointerEvent) {
    super(tool);
  }
  override onEnter(): void {
    this.tool.preview(this.start.x, this.start.y, this.at.x, this.at.y);
  }
  override onPointerMove(e: EditorPointerEvent): void {
    this.tool.preview(this.start.x, this.start.y, e.x, e.y);
  }
  override onPointerUp(e: EditorPointerEvent): void {
    this.tool.finish(this.start.x, this.start.y, e.x, e.y);
  }
}

/** The first corner is set; the box follows the pointer until the second click. */
class SecondCorner extends ToolState<BoxTool> {
  readonly name = 'secondCorner';
  constructor(tool: BoxTool, private readonly start: EditorPointerEvent) {
    super(tool);
  }
  override onEnter(): void {
    this.tool.preview(this.start.x, this.start.y, this.start.x, this.start.y);
  }
  override onPointerMove(e: EditorPointerEvent): void {
    this.tool.preview(this.start.x, this.start.y, e.x, e.y);
  }
  override onPointerDown(e: EditorPointerEvent): void {
    this.tool.finish(this.start.x, this.start.y, e.x, e.y);
  }
}
