import type { AnnotationRecord } from '../../../../src-main/common/model';
import type { EditorPointerEvent } from '../../scene';
import { HIT_PX, moved, type Tool, ToolState } from '../Tool';
import { insertPolylineVertex, nearestPolylineSegment, nearestPolylineVertex, polylineHandles, withoutPolylineVertex, withPolylineVertex, type Polyline } from './geometry';

/**
 * Vertex editing of the one selected polyline, for the select tool: a press on a vertex drags it
 * (Alt+click removes it); a click on a segment inserts a vertex there, while a drag from a
 * segment is handed to `dragLine` (the select tool moves the line: a line has no inside to grab).
 * Null when the press is on none of them.
 */
export function polylineVertexGesture(tool: Tool, e: EditorPointerEvent, dragLine: (start: EditorPointerEvent, at: EditorPointerEvent) => ToolState): ToolState | null {
  const editor = tool.editor;
  const one = editor.singleSelected();
  if (!one || one.geometry.kind !== 'polyline' || !editor.isEditable(one) || e.shift) return null;
  const g = one.geometry;
  const tol = HIT_PX / e.zoom;
  const v = nearestPolylineVertex(g, e.x, e.y, tol);
  if (v !== null) {
    if (e.alt) {
      deletePolylineVertex(tool, one, v);
      return tool.initial();
    }
    return new DraggingPolylineVertex(tool, one, g, v, e);
  }
  const seg = nearestPolylineSegment(g, e.x, e.y, tol);
  if (seg) return new PressedOnSegment(tool, one, insertPolylineVertex(g, seg.index, seg.x, seg.y), e, dragLine);
  return null;
}

/** Pressed on a segment of the selected polyline: a release inserts the vertex, a drag moves the line. */
class PressedOnSegment extends ToolState {
  readonly name = 'pressedOnSegment';
  constructor(
    tool: Tool,
    private readonly rec: AnnotationRecord,
    private readonly inserted: Polyline,
    private readonly start: EditorPointerEvent,
    private readonly dragLine: (start: EditorPointerEvent, at: EditorPointerEvent) => ToolState,
  ) {
    super(tool);
  }
  override onPointerMove(e: EditorPointerEvent): void {
    if (moved(this.start, e, e.zoom)) this.tool.transition(this.dragLine(this.start, e));
  }
  override onPointerUp(): void {
    this.tool.transition(this.tool.initial());
    void this.editor.updateGeometry(this.rec.id, this.inserted, 'Insert vertex');
  }
}

export function deletePolylineVertex(tool: Tool, rec: AnnotationRecord, index: number): void {
  if (rec.geometry.kind !== 'polyline') return;
  const g = withoutPolylineVertex(rec.geometry, index);
  if (!g) {
    tool.editor.refuse('A polyline needs at least 2 points: delete the shape instead');
    return;
  }
  void tool.editor.updateGeometry(rec.id, g, 'Delete vertex');
}

class DraggingPolylineVertex extends ToolState {
  readonly name = 'draggingPolylineVertex';
  private g: Polyline;
  private dragged = false;
  constructor(
    tool: Tool,
    private readonly rec: AnnotationRecord,
    private readonly base: Polyline,
    private readonly index: number,
    private readonly start: EditorPointerEvent,
  ) {
    super(tool);
    this.g = base;
  }
  private draw(): void {
    this.editor.setToolOverlay({ live: [{ ...this.editor.toScene(this.rec), geometry: this.g }], handles: polylineHandles(this.g) }, [this.rec.id]);
  }
  override onPointerMove(e: EditorPointerEvent): void {
    if (!this.dragged && !moved(this.start, e, e.zoom)) return;
    this.dragged = true;
    const p = this.editor.clamp(e);
    this.g = withPolylineVertex(this.base, this.index, p.x, p.y);
    this.draw();
  }
  override onPointerUp(): void {
    this.tool.transition(this.tool.initial());
    if (!this.dragged) return;
    void this.editor.updateGeometry(this.rec.id, this.g, 'Move vertex');
  }
}
