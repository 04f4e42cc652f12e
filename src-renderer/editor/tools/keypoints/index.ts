import type { KeypointSchema } from '../../../../src-main/common/model';
import type { EditorPointerEvent } from '../../scene';
import { q } from '../../shapes';
import { Tool, ToolState } from '../Tool';

/** The key that skips the current keypoint (stored unlabelled, visibility 0). */
export const SKIP_KEY = 'j';

/**
 * Keypoints tool: with a class that has a keypoint schema, clicks place its keypoints in order
 * (visible, v 2); a right click or Shift+click places the current one as labelled but not
 * visible (v 1); J skips it (v 0, stored at 0, 0 as COCO does); Backspace takes the last one
 * back; Enter stores the object early, the rest unlabelled; Escape abandons it. The object is
 * stored when the last keypoint is placed or skipped.
 */
export class KeypointsTool extends Tool {
  readonly id = 'keypoints' as const;
  override readonly takesSecondary = true;
  initial(): ToolState {
    return new Placing(this, []);
  }

  /** The active class and its schema, or why the tool cannot place keypoints. */
  target(): { classId: number; schema: KeypointSchema } | { why: string } {
    const id = this.editor.activeClassId;
    const c = this.editor.classById(id);
    if (!c) return { why: 'Keypoints need a class: add one in the class panel' };
    if (!c.keypoints || c.keypoints.names.length === 0) return { why: `Class "${c.name}" has no keypoints: define them in the class panel (⚲)` };
    return { classId: c.id, schema: c.keypoints };
  }

  /** What the toolbar shows: the next keypoint's name and number, or why none can be placed. */
  prompt(): string {
    const t = this.target();
    if ('why' in t) return t.why;
    const s = this.current;
    const placed = s instanceof Placing && s.classId === t.classId ? s.count : 0;
    const i = Math.min(placed, t.schema.names.length - 1);
    return `${t.schema.names[i]} (${i + 1}/${t.schema.names.length})`;
  }

  override activate(): void {
    super.activate();
    const t = this.target();
    if ('why' in t) this.editor.say(t.why, 'error');
  }
}

/** Keypoints placed so far, as flat x, y, v triples, for the class they were started with. */
class Placing extends ToolState<KeypointsTool> {
  constructor(
    tool: KeypointsTool,
    private readonly points: number[],
    readonly classId: number | null = null,
  ) {
    super(tool);
  }

  get name(): string {
    return this.points.length === 0 ? 'idle' : 'placing';
  }

  get count(): number {
    return this.points.length / 3;
  }

  override onEnter(): void {
    this.draw();
  }

  override onExit(): void {
    this.editor.setToolOverlay({});
  }

  private draw(): void {
    const t = this.tool.target();
    this.editor.events.emit('change');
    if ('why' in t) {
      this.editor.setToolOverlay({});
      return;
    }
    // The status line names the next keypoint too, replacing any older message.
    this.editor.say(`Keypoints: place ${this.tool.prompt()} · right click: not visible · J: skip · Enter: store · Esc: cancel`);
    if (this.points.length === 0) {
      this.editor.setToolOverlay({});
      return;
    }
    const handles = [];
    for (let i = 0; i < this.points.length; i += 3) if (this.points[i + 2]! > 0) handles.push({ x: this.points[i]!, y: this.points[i + 1]!, kind: 'vertex' as const });
    this.editor.setToolOverlay({
      live: [{ id: -2, geometry: { kind: 'keypoints', points: this.points }, color: this.editor.colorOf(t.classId), prediction: false, flagged: false, skeleton: t.schema.skeleton }],
      handles,
    });
  }

  /** Adds the current keypoint; keypoints placed for another class (changed since) are dropped. */
  private add(triple: [number, number, number]): void {
    const t = this.tool.target();
    if ('why' in t) {
      this.editor.refuse(t.why);
      return;
    }
    const next = [...(this.classId === t.classId ? this.points : []), ...triple];
    if (next.length / 3 >= t.schema.names.length) this.store(next, t.schema);
    else this.tool.transition(new Placing(this.tool, next, t.classId));
  }

  private store(points: number[], schema: KeypointSchema): void {
    const full = [...points];
    while (full.length < schema.names.length * 3) full.push(0, 0, 0);
    if (!full.some((v, i) => i % 3 === 2 && v > 0)) {
      this.editor.refuse('No keypoint is placed: click at least one before storing');
      return;
    }
    this.tool.transition(new Placing(this.tool, []));
    void this.editor.create({ kind: 'keypoints', points: full }, 'Add keypoints');
  }

  override onPointerDown(e: EditorPointerEvent): void {
    const img = this.editor.image;
    if (!img) return;
    if (e.x < 0 || e.y < 0 || e.x > img.width || e.y > img.height) {
      this.editor.refuse('A keypoint must lie on the image');
      return;
    }
    const hidden = e.button === 2 || e.shift;
    this.add([q(e.x), q(e.y), hidden ? 1 : 2]);
  }

  override onKey(key: string): boolean {
    if (key === SKIP_KEY) {
      this.add([0, 0, 0]);
      return true;
    }
    if (this.points.length === 0) return false;
    if (key === 'enter') {
      const t = this.tool.target();
      if ('why' in t) this.editor.refuse(t.why);
      else if (t.classId !== this.classId) this.tool.transition(new Placing(this.tool, []));
      else this.store(this.points, t.schema);
      return true;
    }
    if (key === 'backspace') {
      this.tool.transition(new Placing(this.tool, this.points.slice(0, -3), this.classId));
      return true;
    }
    return false;
  }

  override onCancel(): void {
    this.tool.transition(new Placing(this.tool, []));
  }
}
