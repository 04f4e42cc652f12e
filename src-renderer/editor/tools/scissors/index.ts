import type { Geometry } from '../../../../src-main/common/model';
import { simplifyRing } from '../../../../src-main/common/geometry/trace';
import type { EditorPointerEvent } from '../../scene';
import { q } from '../../shapes';
import { HIT_PX, Tool, ToolState } from '../Tool';

/** Screen pixels within which a click on the first anchor closes the outline. */
const CLOSE_PX = 8;

type Pt = { x: number; y: number };

/**
 * Intelligent scissors: click anchors around an object; between the last anchor and the pointer
 * the outline follows the image's edges (OpenCV's livewire, `smart:scissors`), and each click
 * keeps the path shown. Enter or a click on the first anchor closes the outline along the edges
 * back to it and stores a polygon (simplified with the trace tolerance); Backspace drops the
 * last anchor, Esc the whole outline.
 */
export class ScissorsTool extends Tool {
  readonly id = 'scissors' as const;
  initial(): ToolState {
    return new Idle(this);
  }
}

class Idle extends ToolState<ScissorsTool> {
  readonly name = 'idle';
  override onEnter(): void {
    this.editor.setToolOverlay({});
  }
  override onPointerDown(e: EditorPointerEvent): void {
    if (!this.editor.backend.smart) {
      this.editor.refuse('The smart tools are not available here');
      return;
    }
    this.tool.transition(new Tracing(this.tool, this.editor.clamp(e)));
  }
}

class Tracing extends ToolState<ScissorsTool> {
  readonly name = 'tracing';
  private readonly anchors: Pt[];
  /** segments[i]: the path from anchors[i] to anchors[i + 1], flat x, y pairs. */
  private readonly segments: number[][] = [];
  /** The path from the last anchor to where the pointer was, once it has come back. */
  private live: { to: Pt; points: number[] } | null = null;
  private cursor: Pt;
  private inFlight = false;
  private queued: Pt | null = null;
  private active = true;
  private closing = false;
  /** Paths asked for segments clicked before their path had come back. */
  private readonly pending = new Set<Promise<void>>();

  constructor(tool: ScissorsTool, start: Pt) {
    super(tool);
    this.anchors = [start];
    this.cursor = start;
  }

  private get last(): Pt {
    return this.anchors[this.anchors.length - 1]!;
  }

  override onEnter(): void {
    this.draw();
  }

  override onExit(): void {
    this.active = false;
  }

  private path(from: Pt, to: Pt): Promise<number[]> {
    const image = this.editor.image!;
    return this.editor.backend.smart!.scissors({ imageId: image.id, frame: this.editor.frame, from, to }).then((r) => r.points);
  }

  /** Asks for the path to `p`; while one is on its way, only the latest pointer position waits. */
  private request(p: Pt): void {
    if (this.inFlight) {
      this.queued = p;
      return;
    }
    this.inFlight = true;
    const from = this.last;
    const anchors = this.anchors.length;
    this.path(from, p).then(
      (points) => {
        this.inFlight = false;
        if (!this.active) return;
        if (this.anchors.length === anchors) this.live = { to: p, points };
        this.draw();
        this.next();
      },
      (e: unknown) => {
        this.inFlight = false;
        if (!this.active) return;
        this.editor.refuse(`Intelligent scissors failed: ${e instanceof Error ? e.message : String(e)}`);
        this.next();
      },
    );
  }

  private next(): void {
    const p = this.queued;
    this.queued = null;
    if (p) this.request(p);
  }

  private outline(): number[] {
    const out: number[] = [this.anchors[0]!.x, this.anchors[0]!.y];
    for (const s of this.segments) out.push(...s);
    if (this.live) out.push(...this.live.points);
    else out.push(this.cursor.x, this.cursor.y);
    return out.map(q);
  }

  private draw(): void {
    const handles = this.anchors.map((a, i) => ({ x: a.x, y: a.y, kind: i === 0 && this.anchors.length >= 2 ? ('close' as const) : ('vertex' as const) }));
    this.editor.setToolOverlay({
      preview: { geometry: { kind: 'polygon', parts: [this.outline()] }, color: this.editor.colorOf(this.editor.activeClassId), open: true },
      handles,
    });
  }

  override onPointerMove(e: EditorPointerEvent): void {
    this.cursor = this.editor.clamp(e);
    this.request(this.cursor);
    this.draw();
  }

  override onPointerDown(e: EditorPointerEvent): void {
    const first = this.anchors[0]!;
    if (this.anchors.length >= 2 && Math.hypot(e.x - first.x, e.y - first.y) * e.zoom <= CLOSE_PX) {
      void this.close();
      return;
    }
    // A double click, or a click on the last anchor, adds nothing.
    if (Math.hypot(e.x - this.last.x, e.y - this.last.y) * e.zoom <= HIT_PX / 2) return;
    const p = this.editor.clamp(e);
    const from = this.last;
    // The path shown is kept when it ends where the click is; else the segment is a straight line
    // until its own path comes back.
    const snapped = this.live && Math.hypot(this.live.to.x - p.x, this.live.to.y - p.y) * e.zoom <= HIT_PX;
    const segment = snapped ? this.live!.points : [p.x, p.y];
    this.segments.push(segment);
    this.anchors.push(p);
    this.live = null;
    this.draw();
    if (!snapped) {
      const job = this.path(from, p).then(
        (points) => {
          const i = this.segments.indexOf(segment);
          if (!this.active || i < 0) return;
          this.segments[i] = points;
          this.draw();
        },
        (e: unknown) => {
          if (this.active) this.editor.say(`Scissors: no edge path between the anchors (${e instanceof Error ? e.message : String(e)}); that side stays straight`, 'error');
        },
      );
      this.pending.add(job);
      void job.finally(() => this.pending.delete(job));
    }
  }

  override onKey(key: string): boolean {
    if (key === 'enter') {
      void this.close();
      return true;
    }
    if (key === 'backspace') {
      this.anchors.pop();
      this.segments.pop();
      this.live = null;
      if (this.anchors.length === 0) this.tool.transition(new Idle(this.tool));
      else this.draw();
      return true;
    }
    return false;
  }

  /** Closes along the edges back to the first anchor and stores the polygon. */
  private async close(): Promise<void> {
    if (this.anchors.length < 2) {
      this.editor.refuse('Click at least two anchors before closing the outline');
      return;
    }
    if (this.closing) return;
    this.closing = true;
    await Promise.all([...this.pending]);
    if (!this.active) return;
    let back: number[];
    try {
      back = await this.path(this.last, this.anchors[0]!);
    } catch (e) {
      this.editor.say(`Scissors: no edge path back to the first anchor (${e instanceof Error ? e.message : String(e)}); the outline closes straight`, 'error');
      back = [];
    }
    if (!this.active) return;
    const ring: number[] = [this.anchors[0]!.x, this.anchors[0]!.y];
    for (const s of this.segments) ring.push(...s);
    ring.push(...back);
    const g: Geometry = { kind: 'polygon', parts: [simplifyRing(ring, Math.max(0.5, this.editor.traceTolerance)).map(q)] };
    if (!this.editor.accept(g)) {
      this.closing = false;
      return;
    }
    this.tool.transition(new Idle(this.tool));
    void this.editor.create(g, 'Intelligent scissors');
  }
}
