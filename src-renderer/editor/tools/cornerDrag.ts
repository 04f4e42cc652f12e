import type { EditorPointerEvent } from '../scene';
import { moved, Tool, ToolState } from './Tool';

/**
 * A tool that draws its shape between two corners (box, rotated box): a drag from one corner to
 * the other, or a click on each. `preview` shows the shape for two corners, `finish` stores it.
 */
export abstract class CornerTool extends Tool {
  abstract preview(x0: number, y0: number, x1: number, y1: number): void;
  abstract finish(x0: number, y0: number, x1: number, y1: number): void;
}

/** Pressed, not moved yet: a drag draws the shape, a click starts the two-corner mode. */
export class CornerPointing extends ToolState<CornerTool> {
  readonly name = 'pointing';
  constructor(
    tool: CornerTool,
    private readonly start: EditorPointerEvent,
  ) {
    super(tool);
  }
  override onPointerMove(e: EditorPointerEvent): void {
    if (moved(this.start, e, e.zoom)) this.tool.transition(new CornerDragging(this.tool, this.start, e));
  }
  override onPointerUp(): void {
    this.tool.transition(new SecondCorner(this.tool, this.start));
  }
}

class CornerDragging extends ToolState<CornerTool> {
  readonly name = 'dragging';
  constructor(
    tool: CornerTool,
    private readonly start: EditorPointerEvent,
    private readonly at: EditorPointerEvent,
  ) {
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

/** The first corner is set; the shape follows the pointer until the second click. */
class SecondCorner extends ToolState<CornerTool> {
  readonly name = 'secondCorner';
  constructor(
    tool: CornerTool,
    private readonly start: EditorPointerEvent,
  ) {
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
