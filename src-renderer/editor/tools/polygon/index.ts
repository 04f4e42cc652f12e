import type { Geometry } from '../../../../src-main/common/model';
import { validateGeometry } from '../../../../src-main/common/geometry/shapes';
import type { EditorPointerEvent } from '../../scene';
import { q } from '../../shapes';
import { HIT_PX, Tool, ToolState } from '../Tool';

/** Screen pixels within which a click on the first vertex closes the polygon. */
const CLOSE_PX = 8;

/**
 * Polygon tool: click vertices; close by clicking the first vertex or pressing Enter. Backspace
 * removes the last vertex, Escape abandons the polygon. Holding Shift while closing adds the
 * ring as a new part of the selected polygon instead of creating a shape.
 */
export class PolygonTool extends Tool {
  readonly id = 'polygon' as const;
  initial(): ToolState {
    return new Idle(this);
  }
}

class Idle extends ToolState<PolygonTool> {
  readonly name = 'idle';
  override onEnter(): void {
    this.editor.setToolOverlay({});
  }
  override onPointerDown(e: EditorPointerEvent): void {
    const p = this.editor.clamp(e);
    this.tool.transition(new Drawing(this.tool, [q(p.x), q(p.y)], e));
  }
}

class Drawing extends ToolState<PolygonTool> {
  readonly name = 'drawing';
  private cursor: { x: number; y: number };
  constructor(
    tool: PolygonTool,
    private points: number[],
    at: EditorPointerEvent,
  ) {
    super(tool);
    this.cursor = { x: at.x, y: at.y };
  }

  private get count(): number {
    return this.points.length >> 1;
  }

  override onEnter(): void {
    this.draw();
  }

  private draw(): void {
    const pts = [...this.points, q(this.cursor.x), q(this.cursor.y)];
    const handles = [];
    for (let i = 0; i < this.count; i++) handles.push({ x: this.points[2 * i]!, y: this.points[2 * i + 1]!, kind: i === 0 && this.count >= 3 ? ('close' as const) : ('vertex' as const) });
    this.editor.setToolOverlay({
      preview: { geometry: { kind: 'polygon', parts: [pts] }, color: this.editor.colorOf(this.editor.activeClassId), open: true },
      handles,
    });
  }

  override onPointerMove(e: EditorPointerEvent): void {
    this.cursor = this.editor.clamp(e);
    this.draw();
  }

  override onPointerDown(e: EditorPointerEvent): void {
    const d0 = Math.hypot(e.x - this.points[0]!, e.y - this.points[1]!) * e.zoom;
    if (this.count >= 2 && d0 <= CLOSE_PX) {
      this.close(e.shift);
      return;
    }
    const lx = this.points[this.points.length - 2]!;
    const ly = this.points[this.points.length - 1]!;
    // A double click, or a click on the last vertex, must not add a vertex on top of it.
    if (Math.hypot(e.x - lx, e.y - ly) * e.zoom <= HIT_PX / 2) return;
    const p = this.editor.clamp(e);
    this.points = [...this.points, q(p.x), q(p.y)];
    this.cursor = p;
    this.draw();
  }

  override onKey(key: string): boolean {
    if (key === 'enter' || key === 'shift+enter') {
      this.close(key === 'shift+enter');
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

  private close(addPart: boolean): void {
    const ring = this.points;
    const g: Geometry = { kind: 'polygon', parts: [ring] };
    const target = addPart ? this.editor.singleSelected() : null;
    if (addPart && (!target || target.geometry.kind !== 'polygon' || !this.editor.isEditable(target))) {
      this.editor.refuse('Select one polygon to add a part to it (Shift while closing)');
      return;
    }
    const image = this.editor.image;
    const why = image ? validateGeometry(g, image) : 'no image';
    if (why) {
      // The polygon stays open so a missing vertex can still be added.
      this.editor.refuse(why.charAt(0).toUpperCase() + why.slice(1));
      return;
    }
    this.tool.transition(new Idle(this.tool));
    if (target && target.geometry.kind === 'polygon') {
      void this.editor.updateGeometry(target.id, { kind: 'polygon', parts: [...target.geometry.parts, ring] }, 'Add polygon part');
    } else {
      void this.editor.create(g, 'Draw polygon');
    }
  }
}
