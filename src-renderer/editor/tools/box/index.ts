import type { EditorPointerEvent } from '../../scene';
import { boxFromCorners } from '../../shapes';
import { ToolState } from '../Tool';
import { CornerPointing, CornerTool } from '../cornerDrag';

/** Box tool: drag from corner to corner, or click one corner and then the other. */
export class BoxTool extends CornerTool {
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
    this.tool.transition(new CornerPointing(this.tool, e));
  }
}
