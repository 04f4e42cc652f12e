import { hitTest } from '../../../../src-main/common/geometry/shapes';
import { translateGeometry } from '../../masks';
import type { EditorPointerEvent } from '../../scene';
import { q } from '../../shapes';
import { HIT_PX, moved, ToolState } from '../Tool';
import { CornerPointing, CornerTool } from '../cornerDrag';
import { obbHandleGesture } from './edit';
import { obbFromCorners, type Obb } from './geometry';

/**
 * Rotated box tool: drag from corner to corner (or click one corner, then the other) for a box
 * at angle 0, which is then selected. With one rotated box selected, its handles work as in the
 * select tool: the eight squares resize it in its own frame (the opposite side stays), the knob
 * above its top side turns it about its centre (Shift snaps to 15 degrees), and a drag inside it
 * moves it. Every gesture is one edit.
 */
export class ObbTool extends CornerTool {
  readonly id = 'obb' as const;
  initial(): ToolState {
    return new Idle(this);
  }
  private box(x0: number, y0: number, x1: number, y1: number): Obb {
    const a = this.editor.clamp({ x: x0, y: y0 });
    const b = this.editor.clamp({ x: x1, y: y1 });
    return obbFromCorners(a.x, a.y, b.x, b.y);
  }
  preview(x0: number, y0: number, x1: number, y1: number): void {
    this.editor.setToolOverlay({ preview: { geometry: this.box(x0, y0, x1, y1), color: this.editor.colorOf(this.editor.activeClassId) } });
  }
  finish(x0: number, y0: number, x1: number, y1: number): void {
    this.transition(new Idle(this));
    void this.editor.create(this.box(x0, y0, x1, y1), 'Draw rotated box');
  }
}

class Idle extends ToolState<ObbTool> {
  readonly name = 'idle';
  override onEnter(): void {
    this.editor.setToolOverlay({});
  }
  override onPointerDown(e: EditorPointerEvent): void {
    const edit = obbHandleGesture(this.tool, e);
    if (edit) {
      this.tool.transition(edit);
      return;
    }
    const one = this.editor.singleSelected();
    if (one && one.geometry.kind === 'obb' && !e.shift && this.editor.isEditable(one) && hitTest(one.geometry, e.x, e.y, HIT_PX / e.zoom)) {
      this.tool.transition(new Moving(this.tool, one.id, one.geometry, e));
      return;
    }
    this.tool.transition(new CornerPointing(this.tool, e));
  }
}

/** A drag inside the selected rotated box moves it (one edit on release). */
class Moving extends ToolState<ObbTool> {
  readonly name = 'moving';
  private dx = 0;
  private dy = 0;
  private dragged = false;
  constructor(
    tool: ObbTool,
    private readonly id: number,
    private readonly g: Obb,
    private readonly start: EditorPointerEvent,
  ) {
    super(tool);
  }
  override onPointerMove(e: EditorPointerEvent): void {
    if (!this.dragged && !moved(this.start, e, e.zoom)) return;
    this.dragged = true;
    this.dx = q(e.x - this.start.x);
    this.dy = q(e.y - this.start.y);
    const rec = this.editor.annotations.get(this.id);
    if (!rec) return;
    this.editor.setToolOverlay({ live: [{ ...this.editor.toScene(rec), geometry: translateGeometry(this.g, this.dx, this.dy) }], handles: [] }, [this.id]);
  }
  override onPointerUp(): void {
    this.tool.transition(new Idle(this.tool));
    if (this.dragged) void this.editor.moveShapes([this.id], this.dx, this.dy);
  }
}
