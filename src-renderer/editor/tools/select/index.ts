import type { AnnotationRecord, Geometry } from '../../../../src-main/common/model';
import { translateGeometry } from '../../masks';
import type { EditorPointerEvent, Overlay } from '../../scene';
import {
  boxHandles,
  insertVertex,
  nearestEdge,
  nearestVertex,
  polygonHandles,
  q,
  resizeBox,
  withoutVertex,
  withVertex,
  type Box,
  type HandleId,
  type Polygon,
  type VertexRef,
} from '../../shapes';
import { HIT_PX, moved, Tool, ToolState } from '../Tool';
import { obbHandleGesture } from '../obb/edit';
import { deletePolylineVertex, polylineVertexGesture } from '../polyline/edit';
import { nearestPolylineVertex } from '../polyline/geometry';
import { DraggingKeypoint, insideKeypointsBox, nearestKeypoint, toggledVisibility } from '../keypoints/drag';

/**
 * Select tool: click picks the smallest shape under the pointer, and clicking again at the same
 * place the next larger one, round the stack (Shift adds or removes it), a drag on empty space
 * selects by rectangle, a drag on a selected shape moves the selection (one edit). With one box
 * selected its 8 handles resize it; with one polygon selected its vertices can be dragged, an
 * edge clicked to insert a vertex, and a vertex removed with Alt+click or Delete while hovered;
 * a polyline's vertices likewise. With one rotated box selected its handles resize and rotate it
 * (see obb/edit).
 */
export class SelectTool extends Tool {
  readonly id = 'select' as const;
  /** The vertex of the selected polygon under the pointer, for Delete. */
  hovered: { id: number; vertex: VertexRef } | null = null;
  /**
   * Where the last click without a drag picked a shape (image pixels) and which shape it left
   * selected, for cycling through a stack: a click cycles only while that shape is still the
   * selection, so a shape drawn or picked since then is not skipped.
   */
  lastClick: { x: number; y: number; id: number } | null = null;
  override forget(): void {
    this.lastClick = null;
    this.hovered = null;
  }
  initial(): ToolState {
    return new Idle(this);
  }

  deleteVertex(rec: AnnotationRecord, v: VertexRef): void {
    if (rec.geometry.kind === 'polyline') {
      this.hovered = null;
      deletePolylineVertex(this, rec, v.index);
      return;
    }
    if (rec.geometry.kind !== 'polygon') return;
    const g = withoutVertex(rec.geometry, v);
    if (!g) {
      this.editor.refuse('A polygon needs at least 3 vertices: delete the shape instead');
      return;
    }
    this.hovered = null;
    void this.editor.updateGeometry(rec.id, g, 'Delete vertex');
  }
}

function tol(e: EditorPointerEvent): number {
  return HIT_PX / e.zoom;
}

function liveShape(tool: SelectTool, rec: AnnotationRecord, geometry: Geometry) {
  return { ...tool.editor.toScene(rec), geometry };
}

class Idle extends ToolState<SelectTool> {
  readonly name = 'idle';
  override onEnter(): void {
    this.editor.setToolOverlay({});
  }

  override onPointerMove(e: EditorPointerEvent): void {
    const one = this.editor.singleSelected();
    const before = this.tool.hovered;
    this.tool.hovered = null;
    if (one && one.geometry.kind === 'polygon' && this.editor.isEditable(one)) {
      const v = nearestVertex(one.geometry, e.x, e.y, tol(e));
      if (v) this.tool.hovered = { id: one.id, vertex: v };
    } else if (one && one.geometry.kind === 'polyline' && this.editor.isEditable(one)) {
      const index = nearestPolylineVertex(one.geometry, e.x, e.y, tol(e));
      if (index !== null) this.tool.hovered = { id: one.id, vertex: { part: 0, index } };
    }
    if (JSON.stringify(before) !== JSON.stringify(this.tool.hovered)) this.editor.refreshOverlay();
  }

  override onPointerDown(e: EditorPointerEvent): void {
    const edit = obbHandleGesture(this.tool, e) ?? polylineVertexGesture(this.tool, e, (start, at) => new MovingShapes(this.tool, start, at));
    if (edit) {
      this.tool.transition(edit);
      return;
    }
    const one = this.editor.singleSelected();
    if (one && this.editor.isEditable(one) && !e.shift) {
      const g = one.geometry;
      if (g.kind === 'box') {
        const t = tol(e);
        const h = boxHandles(g).find((p) => Math.hypot(p.x - e.x, p.y - e.y) <= t);
        if (h) {
          this.tool.transition(new ResizingBox(this.tool, one, g, h.id));
          return;
        }
      } else if (g.kind === 'polygon') {
        const v = nearestVertex(g, e.x, e.y, tol(e));
        if (v) {
          if (e.alt) this.tool.deleteVertex(one, v);
          else this.tool.transition(new DraggingVertex(this.tool, one, g, v, e, false));
          return;
        }
        const edge = nearestEdge(g, e.x, e.y, tol(e));
        if (edge) {
          const inserted = insertVertex(g, edge.part, edge.index, edge.x, edge.y);
          this.tool.transition(new DraggingVertex(this.tool, one, inserted, { part: edge.part, index: edge.index + 1 }, e, true));
          return;
        }
      } else if (g.kind === 'keypoints') {
        const k = nearestKeypoint(g, e.x, e.y, tol(e));
        if (k !== null && e.alt) void this.editor.updateGeometry(one.id, toggledVisibility(g, k), 'Keypoint visibility');
        else if (k !== null) this.tool.transition(new DraggingKeypoint(this.tool, one, g, k, e));
        // Between its keypoints the object is grabbed whole, as a polygon is inside its outline.
        else if (insideKeypointsBox(g, e.x, e.y, tol(e))) this.tool.transition(new PointingShapes(this.tool, e, null));
        if (k !== null || insideKeypointsBox(g, e.x, e.y, tol(e))) return;
      }
    }
    const hits = this.editor.hitsAt(e.x, e.y, e.zoom);
    const hit = hits[0];
    if (hit) {
      if (e.shift) {
        this.editor.select([hit.id], 'toggle');
        return;
      }
      // A press on the selection (its smallest shape there, or the one shape a repeated click
      // cycled to) keeps it, so a drag moves it; a click without a drag decides on release (see
      // PointingShapes). Either way it is a selection the user made.
      const sel = this.editor.selection;
      const keep = sel.includes(hit.id) || (sel.length === 1 && hits.some((a) => a.id === sel[0]));
      this.editor.select(keep ? this.editor.selection : [hit.id]);
      this.tool.transition(new PointingShapes(this.tool, e, keep ? hits : null));
      return;
    }
    this.tool.transition(new Marquee(this.tool, e));
  }

  override onKey(key: string): boolean {
    if (key !== 'delete' && key !== 'backspace') return false;
    const h = this.tool.hovered;
    const rec = h ? this.editor.annotations.get(h.id) : undefined;
    if (!h || !rec || !this.editor.selection.includes(h.id)) return false;
    this.tool.deleteVertex(rec, h.vertex);
    return true;
  }
}

/**
 * Pressed on a shape: a drag moves the selection. A click that just selected a shape leaves it
 * so; a click on a shape already selected (`stack`: the shapes under the pointer, smallest
 * first) picks the smallest there, or, repeated at the same place, the next one in the stack.
 */
class PointingShapes extends ToolState<SelectTool> {
  readonly name = 'pointing';
  constructor(
    tool: SelectTool,
    private readonly start: EditorPointerEvent,
    private readonly stack: readonly AnnotationRecord[] | null,
  ) {
    super(tool);
  }
  override onPointerMove(e: EditorPointerEvent): void {
    if (moved(this.start, e, e.zoom)) this.tool.transition(new MovingShapes(this.tool, this.start, e));
  }
  override onPointerUp(): void {
    const s = this.start;
    const last = this.tool.lastClick;
    const stack = this.stack;
    const sel = this.editor.selection;
    if (stack && sel.length === 1) {
      const again = last !== null && last.id === sel[0] && Math.hypot(last.x - s.x, last.y - s.y) <= tol(s);
      const i = stack.findIndex((a) => a.id === sel[0]);
      const next = again && i >= 0 ? stack[(i + 1) % stack.length]! : stack[0]!;
      this.editor.select([next.id]);
    }
    const picked = this.editor.selection;
    this.tool.lastClick = picked.length === 1 ? { x: s.x, y: s.y, id: picked[0]! } : null;
    this.tool.transition(new Idle(this.tool));
  }
}

class MovingShapes extends ToolState<SelectTool> {
  readonly name = 'moving';
  private readonly recs: AnnotationRecord[];
  private readonly hasMask: boolean;
  constructor(
    tool: SelectTool,
    private readonly start: EditorPointerEvent,
    private at: EditorPointerEvent,
  ) {
    super(tool);
    this.recs = this.editor.selectedRecords.filter((a) => this.editor.isEditable(a));
    this.hasMask = this.recs.some((a) => a.geometry.kind === 'mask');
  }
  /** Masks move by whole pixels, so everything moves by whole pixels when a mask is among them. */
  private delta(e: EditorPointerEvent): [number, number] {
    const dx = e.x - this.start.x;
    const dy = e.y - this.start.y;
    return this.hasMask ? [Math.round(dx), Math.round(dy)] : [q(dx), q(dy)];
  }
  override onEnter(): void {
    this.draw();
  }
  private draw(): void {
    if (!this.editor.image) return;
    const [dx, dy] = this.delta(this.at);
    this.editor.setToolOverlay(
      { live: this.recs.map((a) => liveShape(this.tool, a, translateGeometry(a.geometry, dx, dy))), handles: [] },
      this.recs.map((a) => a.id),
    );
  }
  override onPointerMove(e: EditorPointerEvent): void {
    const [odx, ody] = this.delta(this.at);
    this.at = e;
    const [dx, dy] = this.delta(e);
    if (dx !== odx || dy !== ody) this.draw();
  }
  override onPointerUp(e: EditorPointerEvent): void {
    const [dx, dy] = this.delta(e);
    this.tool.transition(new Idle(this.tool));
    void this.editor.moveShapes(
      this.recs.map((a) => a.id),
      dx,
      dy,
    );
  }
}

class ResizingBox extends ToolState<SelectTool> {
  readonly name = 'resizing';
  private g: Box;
  constructor(
    tool: SelectTool,
    private readonly rec: AnnotationRecord,
    private readonly original: Box,
    private readonly handle: HandleId,
  ) {
    super(tool);
    this.g = original;
  }
  override onPointerMove(e: EditorPointerEvent): void {
    const p = this.editor.clamp(e);
    this.g = resizeBox(this.original, this.handle, p.x, p.y);
    this.editor.setToolOverlay(
      { live: [liveShape(this.tool, this.rec, this.g)], handles: boxHandles(this.g).map((h) => ({ x: h.x, y: h.y, kind: 'resize' as const })) },
      [this.rec.id],
    );
  }
  override onPointerUp(): void {
    this.tool.transition(new Idle(this.tool));
    const o = this.original;
    if (this.g.x === o.x && this.g.y === o.y && this.g.w === o.w && this.g.h === o.h) return;
    void this.editor.updateGeometry(this.rec.id, this.g, 'Resize box');
  }
}

/** Dragging one vertex of the selected polygon; `inserted` when the press added it on an edge. */
class DraggingVertex extends ToolState<SelectTool> {
  readonly name = 'draggingVertex';
  private g: Polygon;
  private dragged = false;
  constructor(
    tool: SelectTool,
    private readonly rec: AnnotationRecord,
    private readonly base: Polygon,
    private readonly vertex: VertexRef,
    private readonly start: EditorPointerEvent,
    private readonly inserted: boolean,
  ) {
    super(tool);
    this.g = base;
  }
  override onEnter(): void {
    if (this.inserted) this.draw();
  }
  private draw(): void {
    this.editor.setToolOverlay({ live: [liveShape(this.tool, this.rec, this.g)], handles: polygonHandles(this.g) as Overlay['handles'] }, [this.rec.id]);
  }
  override onPointerMove(e: EditorPointerEvent): void {
    if (!this.dragged && !moved(this.start, e, e.zoom)) return;
    this.dragged = true;
    const p = this.editor.clamp(e);
    this.g = withVertex(this.base, this.vertex, p.x, p.y);
    this.draw();
  }
  override onPointerUp(): void {
    this.tool.transition(new Idle(this.tool));
    if (!this.dragged && !this.inserted) return;
    void this.editor.updateGeometry(this.rec.id, this.g, this.inserted ? 'Insert vertex' : 'Move vertex');
  }
}

/** Rubber-band selection; a press and release without a drag on empty space clears the selection. */
class Marquee extends ToolState<SelectTool> {
  readonly name = 'marquee';
  private rect: Overlay['marquee'] = null;
  constructor(
    tool: SelectTool,
    private readonly start: EditorPointerEvent,
  ) {
    super(tool);
  }
  override onPointerMove(e: EditorPointerEvent): void {
    if (!this.rect && !moved(this.start, e, e.zoom)) return;
    const x = Math.min(this.start.x, e.x);
    const y = Math.min(this.start.y, e.y);
    this.rect = { x, y, w: Math.abs(e.x - this.start.x), h: Math.abs(e.y - this.start.y) };
    this.editor.setToolOverlay({ marquee: this.rect });
  }
  override onPointerUp(): void {
    const r = this.rect;
    this.tool.transition(new Idle(this.tool));
    if (!r) {
      if (!this.start.shift) this.editor.clearSelection();
      return;
    }
    this.editor.select(this.editor.idsInRect(r), this.start.shift ? 'add' : 'replace');
  }
}
