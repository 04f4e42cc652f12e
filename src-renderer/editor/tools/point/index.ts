import type { EditorPointerEvent } from '../../scene';
import { q } from '../../shapes';
import { Tool, ToolState } from '../Tool';

/** Point tool: each click stores a point of the active class. */
export class PointTool extends Tool {
  readonly id = 'point' as const;
  initial(): ToolState {
    return new Idle(this);
  }
}

class Idle extends ToolState<PointTool> {
  readonly name = 'idle';
  override onPointerDown(e: EditorPointerEvent): void {
    const img = this.editor.image;
    if (!img) return;
    if (e.x < 0 || e.y < 0 || e.x > img.width || e.y > img.height) {
      this.editor.refuse('A point must lie on the image');
      return;
    }
    void this.editor.create({ kind: 'point', x: q(e.x), y: q(e.y) }, 'Add point');
  }
}
