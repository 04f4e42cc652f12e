import { Tool, ToolState } from '../Tool';

/** Hand tool: the left button pans the view; nothing is edited. */
export class PanTool extends Tool {
  readonly id = 'pan' as const;
  override readonly pans = true;
  initial(): ToolState {
    return new Idle(this);
  }
}

class Idle extends ToolState<PanTool> {
  readonly name = 'idle';
}
