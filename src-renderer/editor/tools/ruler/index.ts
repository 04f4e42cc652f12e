import type { EditorPointerEvent } from '../../scene';
import { moved, Tool, ToolState } from '../Tool';

/** The ruler's line in image pixels, from where the drag started to where it is (or ended). */
export interface RulerLine {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

type Listener = (line: RulerLine | null) => void;

const RULER_COLOR = '#ffd54a';

/** Who is told of the ruler's line (the Display panel's readout): there is one editor, so one ruler. */
const listeners = new Set<Listener>();
let shown: RulerLine | null = null;

/** Calls `fn` with the ruler's line now and at every change; returns the unsubscribe. */
export function onRulerLine(fn: Listener): () => void {
  listeners.add(fn);
  fn(shown);
  return () => listeners.delete(fn);
}

function publish(line: RulerLine | null): void {
  shown = line;
  for (const fn of listeners) fn(line);
}

/**
 * Ruler: drag a line to measure it (the Display panel shows its length in pixels, mm or
 * metres). A measurement, not an annotation: nothing is stored, and it stays until the next
 * drag, `Esc`, another tool, image or frame.
 */
export class RulerTool extends Tool {
  readonly id = 'ruler' as const;
  private current_: RulerLine | null = null;

  initial(): ToolState {
    return new Idle(this);
  }

  /** The line measured (or being dragged), null when there is none. */
  get line(): RulerLine | null {
    return this.current_;
  }

  show(line: RulerLine | null): void {
    this.current_ = line;
    if (line) {
      this.editor.setToolOverlay({
        preview: { geometry: { kind: 'polygon', parts: [[line.x0, line.y0, line.x1, line.y1]] }, color: RULER_COLOR, open: true },
        handles: [
          { x: line.x0, y: line.y0, kind: 'vertex' },
          { x: line.x1, y: line.y1, kind: 'vertex' },
        ],
      });
    } else this.editor.setToolOverlay({});
    publish(line);
  }

  override forget(): void {
    if (this.current_) this.transition(new Idle(this));
  }

  override deactivate(): void {
    super.deactivate();
    this.current_ = null;
    publish(null);
  }
}

/** No line: a press starts one. */
class Idle extends ToolState<RulerTool> {
  readonly name = 'idle';
  override onEnter(): void {
    this.tool.show(null);
  }
  override onPointerDown(e: EditorPointerEvent): void {
    if (e.button !== 0) return;
    this.tool.transition(new Dragging(this.tool, this.editor.clamp(e)));
  }
}

class Dragging extends ToolState<RulerTool> {
  readonly name = 'dragging';
  constructor(
    tool: RulerTool,
    private readonly start: { x: number; y: number },
  ) {
    super(tool);
  }
  override onEnter(): void {
    this.tool.show({ x0: this.start.x, y0: this.start.y, x1: this.start.x, y1: this.start.y });
  }
  override onPointerMove(e: EditorPointerEvent): void {
    const p = this.editor.clamp(e);
    this.tool.show({ x0: this.start.x, y0: this.start.y, x1: p.x, y1: p.y });
  }
  override onPointerUp(e: EditorPointerEvent): void {
    const p = this.editor.clamp(e);
    // A click without a drag measures nothing: the previous line is gone.
    if (!moved(this.start, p, e.zoom)) {
      this.tool.transition(new Idle(this.tool));
      return;
    }
    this.tool.transition(new Measured(this.tool, { x0: this.start.x, y0: this.start.y, x1: p.x, y1: p.y }));
  }
}

/** A line is measured and shown; the next press starts another, `Esc` clears it. */
class Measured extends ToolState<RulerTool> {
  readonly name = 'measured';
  constructor(
    tool: RulerTool,
    private readonly line: RulerLine,
  ) {
    super(tool);
  }
  override onEnter(): void {
    this.tool.show(this.line);
  }
  override onPointerDown(e: EditorPointerEvent): void {
    if (e.button !== 0) return;
    this.tool.transition(new Dragging(this.tool, this.editor.clamp(e)));
  }
}
