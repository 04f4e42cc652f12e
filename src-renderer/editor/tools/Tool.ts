import type { EditorPointerEvent, Overlay } from '../scene';
import type { Editor } from '../Editor';

/** What a tool (or one of its states) may put on the overlay; the editor adds selection and handles. */
export type ToolOverlay = Partial<Pick<Overlay, 'preview' | 'live' | 'handles' | 'marquee' | 'brush' | 'stroke'>>;

/**
 * One state of a tool's state machine (tldraw's StateNode, reduced): it handles the events it
 * cares about and moves the tool to another state. States hold the data of their gesture (the
 * drag start, the vertices so far), so leaving a state forgets the gesture.
 */
export abstract class ToolState<T extends Tool = Tool> {
  abstract readonly name: string;
  constructor(protected readonly tool: T) {}
  get editor(): Editor {
    return this.tool.editor;
  }
  onEnter(): void {}
  onExit(): void {}
  onPointerDown(_e: EditorPointerEvent): void {}
  onPointerMove(_e: EditorPointerEvent): void {}
  onPointerUp(_e: EditorPointerEvent): void {}
  /** Returns whether the key was used; unused keys fall through to the action's other behaviour. */
  onKey(_key: string): boolean {
    return false;
  }
  /** Abandons the gesture in progress. */
  onCancel(): void {
    this.tool.transition(this.tool.initial());
  }
}

export type ToolId = 'select' | 'box' | 'polygon' | 'brush' | 'eraser' | 'point' | 'pan' | 'wand' | 'scissors' | 'sam' | 'obb' | 'polyline' | 'ellipse' | 'keypoints' | 'ruler';

export abstract class Tool {
  abstract readonly id: ToolId;
  /** Whether the left button pans the view while this tool is active. */
  readonly pans: boolean = false;
  /** Whether the secondary (right) button goes to the tool rather than to panning and the context menu. */
  readonly takesSecondary: boolean = false;
  private state: ToolState | null = null;

  constructor(readonly editor: Editor) {}

  abstract initial(): ToolState;

  get current(): ToolState {
    if (!this.state) {
      this.state = this.initial();
      this.state.onEnter();
    }
    return this.state;
  }

  /** Whether a gesture is in progress (anything but the idle state). */
  get busy(): boolean {
    return this.current.name !== 'idle';
  }

  transition(next: ToolState): void {
    this.state?.onExit();
    this.state = next;
    next.onEnter();
  }

  /** Drops what the tool remembers between gestures; called when another image or frame is shown. */
  forget(): void {}

  activate(): void {
    this.transition(this.initial());
  }

  deactivate(): void {
    this.state?.onExit();
    this.state = null;
    this.editor.setToolOverlay({});
  }

  onPointerDown(e: EditorPointerEvent): void {
    this.current.onPointerDown(e);
  }
  onPointerMove(e: EditorPointerEvent): void {
    this.current.onPointerMove(e);
  }
  onPointerUp(e: EditorPointerEvent): void {
    this.current.onPointerUp(e);
  }
  onKey(key: string): boolean {
    return this.current.onKey(key);
  }
  /** Returns whether there was something to cancel. */
  cancel(): boolean {
    if (!this.busy) return false;
    this.current.onCancel();
    return true;
  }
}

/** Screen pixels a press may move before it counts as a drag rather than a click. */
export const DRAG_SLOP_PX = 3;
/** Screen pixels within which a vertex, handle or outline counts as hit. */
export const HIT_PX = 6;

export function moved(a: { x: number; y: number }, b: { x: number; y: number }, zoom: number): boolean {
  return Math.hypot(a.x - b.x, a.y - b.y) * zoom > DRAG_SLOP_PX;
}
