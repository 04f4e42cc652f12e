import type { AnnotationRecord } from '../../../../src-main/common/model';
import type { EditorPointerEvent } from '../../scene';
import type { HandleId } from '../../shapes';
import { HIT_PX, moved, type Tool, ToolState } from '../Tool';
import { obbHandleAt, obbOverlayHandles, resizeObb, rotateObb, type Obb } from './geometry';

/**
 * Editing the one selected rotated box by its handles, shared by the select tool and the rotated
 * box tool: a press on a resize handle resizes it in its own frame, a press on the rotation knob
 * turns it about its centre (Shift snaps the angle to 15 degrees). Each gesture is one edit.
 */
export function obbHandleGesture(tool: Tool, e: EditorPointerEvent): ToolState | null {
  const editor = tool.editor;
  const one = editor.singleSelected();
  if (!one || one.geometry.kind !== 'obb' || !editor.isEditable(one)) return null;
  const h = obbHandleAt(one.geometry, e.x, e.y, HIT_PX / e.zoom, e.zoom);
  // Shift with a press on a resize handle stays the select tool's "add to the selection"; the
  // rotation knob may be grabbed with Shift already held, for snapping.
  if (!h || (e.shift && h !== 'rotate')) return null;
  return h === 'rotate' ? new RotatingObb(tool, one, one.geometry, e) : new ResizingObb(tool, one, one.geometry, h);
}

function drawLive(tool: Tool, rec: AnnotationRecord, g: Obb): void {
  tool.editor.setToolOverlay({ live: [{ ...tool.editor.toScene(rec), geometry: g }], handles: obbOverlayHandles(g) }, [rec.id]);
}

function same(a: Obb, b: Obb): boolean {
  return a.cx === b.cx && a.cy === b.cy && a.w === b.w && a.h === b.h && a.angle === b.angle;
}

class ResizingObb extends ToolState {
  readonly name = 'resizingObb';
  private g: Obb;
  constructor(
    tool: Tool,
    private readonly rec: AnnotationRecord,
    private readonly original: Obb,
    private readonly handle: HandleId,
  ) {
    super(tool);
    this.g = original;
  }
  override onPointerMove(e: EditorPointerEvent): void {
    const p = this.editor.clamp(e);
    this.g = resizeObb(this.original, this.handle, p.x, p.y);
    drawLive(this.tool, this.rec, this.g);
  }
  override onPointerUp(): void {
    this.tool.transition(this.tool.initial());
    if (same(this.g, this.original)) return;
    void this.editor.updateGeometry(this.rec.id, this.g, 'Resize rotated box');
  }
}

class RotatingObb extends ToolState {
  readonly name = 'rotatingObb';
  private g: Obb;
  private dragged = false;
  constructor(
    tool: Tool,
    private readonly rec: AnnotationRecord,
    private readonly original: Obb,
    private readonly start: EditorPointerEvent,
  ) {
    super(tool);
    this.g = original;
  }
  override onPointerMove(e: EditorPointerEvent): void {
    if (!this.dragged && !moved(this.start, e, e.zoom)) return;
    this.dragged = true;
    this.g = rotateObb(this.original, this.start, e, e.shift);
    drawLive(this.tool, this.rec, this.g);
  }
  override onPointerUp(e: EditorPointerEvent): void {
    this.tool.transition(this.tool.initial());
    if (this.dragged) this.g = rotateObb(this.original, this.start, e, e.shift);
    if (!this.dragged || same(this.g, this.original)) return;
    void this.editor.updateGeometry(this.rec.id, this.g, 'Rotate rotated box');
  }
}
