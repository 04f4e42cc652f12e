import { paintStroke } from '../../../../src-main/common/geometry/raster';
import type { AnnotationRecord } from '../../../../src-main/common/model';
import { canvasOf, emptyCanvas, maskArea, maskOf, type MaskCanvas } from '../../masks';
import type { EditorPointerEvent } from '../../scene';
import type { Mask } from '../../shapes';
import { Tool, ToolState } from '../Tool';

/**
 * Mask brush and eraser: paint at image resolution into a full-size mask. A brush stroke extends
 * the selected mask or starts a new one of the active class; the eraser clears pixels of the
 * selected mask, or of the topmost mask under the pointer. One stroke is one edit, sent at
 * pointer up; while painting only the stroke's path is drawn, so the cost does not grow with
 * the image.
 */
export class BrushTool extends Tool {
  readonly id: 'brush' | 'eraser';
  constructor(
    editor: ConstructorParameters<typeof Tool>[0],
    readonly erase: boolean,
  ) {
    super(editor);
    this.id = erase ? 'eraser' : 'brush';
  }
  initial(): ToolState {
    return new Idle(this);
  }
  cursor(e: { x: number; y: number }): { x: number; y: number; radius: number; erase: boolean } {
    return { x: e.x, y: e.y, radius: this.editor.brushRadius, erase: this.erase };
  }
}

class Idle extends ToolState<BrushTool> {
  readonly name = 'idle';
  override onEnter(): void {
    const p = this.editor.lastPointer;
    this.editor.setToolOverlay(p ? { brush: this.tool.cursor(p) } : {});
  }
  override onPointerMove(e: EditorPointerEvent): void {
    this.editor.setToolOverlay({ brush: this.tool.cursor(e) });
  }
  override onPointerDown(e: EditorPointerEvent): void {
    const image = this.editor.image;
    if (!image) return;
    const target = this.target(e);
    if (this.tool.erase && !target) {
      this.editor.refuse('Nothing to erase: select a mask or start on one');
      return;
    }
    const canvas = target ? canvasOf(target.geometry as Mask) : emptyCanvas(image.width, image.height);
    if (canvas.width !== image.width || canvas.height !== image.height) {
      this.editor.refuse(`The mask is ${canvas.width}x${canvas.height} but the image is ${image.width}x${image.height}; it cannot be painted`);
      return;
    }
    this.tool.transition(new Painting(this.tool, target, canvas, e));
  }

  private target(e: EditorPointerEvent): AnnotationRecord | null {
    const one = this.editor.singleSelected();
    if (one && one.geometry.kind === 'mask' && this.editor.isEditable(one)) return one;
    if (!this.tool.erase) return null;
    // The eraser works on masks only: a point or box over the mask does not stand in its way.
    return this.editor.hitsAt(e.x, e.y, e.zoom).find((a) => a.geometry.kind === 'mask') ?? null;
  }
}

class Painting extends ToolState<BrushTool> {
  readonly name = 'painting';
  private readonly points: number[];
  private readonly radius: number;
  constructor(
    tool: BrushTool,
    private readonly target: AnnotationRecord | null,
    private readonly canvas: MaskCanvas,
    start: EditorPointerEvent,
  ) {
    super(tool);
    this.radius = this.editor.brushRadius;
    this.points = [start.x, start.y];
    this.paint(start.x, start.y, start.x, start.y);
  }

  private paint(x0: number, y0: number, x1: number, y1: number): void {
    const c = this.canvas;
    paintStroke(c.data, c.width, c.height, x0, y0, x1, y1, this.radius, this.tool.erase ? 0 : 1);
  }

  override onEnter(): void {
    this.draw(this.points[0]!, this.points[1]!);
  }

  private draw(x: number, y: number): void {
    const classId = this.target ? this.target.classId : this.editor.activeClassId;
    this.editor.setToolOverlay({
      brush: this.tool.cursor({ x, y }),
      stroke: { points: [...this.points], radius: this.radius, erase: this.tool.erase, color: this.editor.colorOf(classId) },
    });
  }

  override onPointerMove(e: EditorPointerEvent): void {
    const lx = this.points[this.points.length - 2]!;
    const ly = this.points[this.points.length - 1]!;
    this.paint(lx, ly, e.x, e.y);
    this.points.push(e.x, e.y);
    this.draw(e.x, e.y);
  }

  override onPointerUp(e: EditorPointerEvent): void {
    const lx = this.points[this.points.length - 2]!;
    const ly = this.points[this.points.length - 1]!;
    if (lx !== e.x || ly !== e.y) {
      this.paint(lx, ly, e.x, e.y);
      this.points.push(e.x, e.y);
    }
    this.tool.transition(new Idle(this.tool));
    const mask = maskOf(this.canvas);
    const area = maskArea(mask);
    const t = this.target;
    if (t) {
      if (area === 0) void this.editor.commit('Erase mask', [{ op: 'delete', id: t.id }], { select: [] });
      else void this.editor.updateGeometry(t.id, mask, this.tool.erase ? 'Erase' : 'Paint');
    } else if (area > 0) {
      void this.editor.create(mask, 'Paint mask');
    } else {
      this.editor.refuse('The stroke did not touch the image');
    }
  }

  override onCancel(): void {
    this.tool.transition(new Idle(this.tool));
  }
}
