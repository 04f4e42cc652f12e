import type { Editor } from '../../Editor';
import type { EditorPointerEvent } from '../../scene';
import { boxFromCorners } from '../../shapes';
import { smartGeometry, type SegmentBox, type SegmentMask } from '../../smart';
import { moved, Tool, ToolState } from '../Tool';

type Prompt = { kind: 'point'; x: number; y: number } | { kind: 'box'; box: SegmentBox };

/**
 * Magic wand and GrabCut: a click fills the region around the pixel whose displayed colour is
 * within the tolerance; a drag draws a box that GrabCut cuts the object out of. The mask is
 * previewed; Enter stores it (as a mask or a traced polygon, see SmartSettings), Esc drops it,
 * another click or box replaces it, and a tolerance change recomputes it.
 */
export class WandTool extends Tool {
  readonly id = 'wand' as const;
  /** The prompt of the mask shown or being computed; null when idle. */
  prompt: Prompt | null = null;
  /** Bumped per request, so a late answer to an older prompt is ignored. */
  private token = 0;
  /** Enter came while the mask was being computed: it is stored when it arrives. */
  commitPending = false;

  initial(): ToolState {
    return new Idle(this);
  }

  override forget(): void {
    this.prompt = null;
    this.commitPending = false;
    this.token++;
  }

  boxOf(a: EditorPointerEvent, b: EditorPointerEvent): SegmentBox {
    const p = this.editor.clamp(a);
    const q = this.editor.clamp(b);
    return { x0: Math.min(p.x, q.x), y0: Math.min(p.y, q.y), x1: Math.max(p.x, q.x), y1: Math.max(p.y, q.y) };
  }

  previewBox(box: SegmentBox): void {
    this.editor.setToolOverlay({ preview: { geometry: boxFromCorners(box.x0, box.y0, box.x1, box.y1), color: this.editor.colorOf(this.editor.activeClassId) } });
  }

  /** Asks the backend for the mask of a prompt and previews it when it arrives. */
  run(prompt: Prompt): void {
    const editor = this.editor;
    const smart = editor.backend.smart;
    const image = editor.image;
    if (!smart || !image) {
      editor.refuse('The smart tools are not available here');
      return;
    }
    this.prompt = prompt;
    this.commitPending = false;
    const token = ++this.token;
    const waiting = new Waiting(this);
    this.transition(waiting);
    const frame = editor.frame;
    const answer =
      prompt.kind === 'point'
        ? smart.wand({ imageId: image.id, frame, x: prompt.x, y: prompt.y, tolerance: editor.smart.tolerance })
        : smart.grabcut({ imageId: image.id, frame, box: prompt.box });
    answer.then(
      (mask) => {
        if (token !== this.token || editor.image !== image || editor.frame !== frame) return;
        if (this.commitPending) {
          this.commitPending = false;
          this.commit(mask);
          return;
        }
        this.transition(new Previewing(this, mask));
      },
      (e: unknown) => {
        if (token !== this.token) return;
        this.prompt = null;
        this.commitPending = false;
        this.transition(new Idle(this));
        editor.refuse(`${prompt.kind === 'point' ? 'Magic wand' : 'GrabCut'} failed: ${e instanceof Error ? e.message : String(e)}`);
      },
    );
  }

  /** Recomputes the mask shown (the tolerance changed). */
  rerun(): void {
    if (this.prompt && this.busy) this.run(this.prompt);
  }

  commit(mask: SegmentMask): void {
    const label = this.prompt?.kind === 'box' ? 'GrabCut' : 'Magic wand';
    this.prompt = null;
    this.token++;
    this.transition(new Idle(this));
    const geometry = smartGeometry(this.editor, mask);
    if (geometry) void this.editor.create(geometry, label);
  }
}

/** Sets the wand's tolerance; the mask shown follows. */
export function setWandTolerance(editor: Editor, tolerance: number): void {
  if (!Number.isFinite(tolerance)) return;
  editor.smart.tolerance = Math.max(0, Math.min(255, Math.round(tolerance)));
  if (editor.tool instanceof WandTool) editor.tool.rerun();
}

class Idle extends ToolState<WandTool> {
  readonly name = 'idle';
  override onEnter(): void {
    this.editor.setToolOverlay({});
  }
  override onPointerDown(e: EditorPointerEvent): void {
    this.tool.transition(new Pointing(this.tool, e));
  }
}

/** Pressed, not moved yet: a release is a wand click, a drag draws a GrabCut box. */
class Pointing extends ToolState<WandTool> {
  readonly name = 'pointing';
  constructor(
    tool: WandTool,
    private readonly start: EditorPointerEvent,
  ) {
    super(tool);
  }
  override onPointerMove(e: EditorPointerEvent): void {
    if (moved(this.start, e, e.zoom)) this.tool.transition(new Dragging(this.tool, this.start, e));
  }
  override onPointerUp(): void {
    const p = this.editor.clamp(this.start);
    this.tool.run({ kind: 'point', x: p.x, y: p.y });
  }
  override onCancel(): void {
    this.tool.forget();
    super.onCancel();
  }
}

class Dragging extends ToolState<WandTool> {
  readonly name = 'dragging';
  constructor(
    tool: WandTool,
    private readonly start: EditorPointerEvent,
    private readonly at: EditorPointerEvent,
  ) {
    super(tool);
  }
  override onEnter(): void {
    this.tool.previewBox(this.tool.boxOf(this.start, this.at));
  }
  override onPointerMove(e: EditorPointerEvent): void {
    this.tool.previewBox(this.tool.boxOf(this.start, e));
  }
  override onPointerUp(e: EditorPointerEvent): void {
    this.tool.run({ kind: 'box', box: this.tool.boxOf(this.start, e) });
  }
  override onCancel(): void {
    this.tool.forget();
    super.onCancel();
  }
}

/** The mask is being computed; the box of a GrabCut stays shown meanwhile. Enter stores it when it arrives. */
class Waiting extends ToolState<WandTool> {
  readonly name = 'waiting';
  override onEnter(): void {
    const p = this.tool.prompt;
    if (p?.kind === 'box') this.tool.previewBox(p.box);
    this.editor.say(`${p?.kind === 'box' ? 'GrabCut' : 'Magic wand'}: computing…`);
  }
  override onKey(key: string): boolean {
    if (key !== 'enter') return false;
    this.tool.commitPending = true;
    return true;
  }
  override onPointerDown(e: EditorPointerEvent): void {
    this.tool.transition(new Pointing(this.tool, e));
  }
  override onCancel(): void {
    this.tool.forget();
    super.onCancel();
  }
}

/** The mask is shown; Enter stores it, a new click or box replaces it. */
class Previewing extends ToolState<WandTool> {
  readonly name = 'previewing';
  constructor(
    tool: WandTool,
    private readonly mask: SegmentMask,
  ) {
    super(tool);
  }
  override onEnter(): void {
    this.editor.setToolOverlay({ preview: { geometry: { kind: 'mask', rle: this.mask.rle }, color: this.editor.colorOf(this.editor.activeClassId) } });
    this.editor.say(`${this.tool.prompt?.kind === 'box' ? 'GrabCut' : 'Magic wand'}: ${this.mask.area} px; Enter to keep, Esc to drop`);
  }
  override onPointerDown(e: EditorPointerEvent): void {
    this.tool.transition(new Pointing(this.tool, e));
  }
  override onKey(key: string): boolean {
    if (key !== 'enter') return false;
    this.tool.commit(this.mask);
    return true;
  }
  override onCancel(): void {
    this.tool.forget();
    super.onCancel();
  }
}
