import type { Geometry } from '../../../../src-main/common/model';
import type { Rle } from '../../../../src-main/common/geometry/rle';
import { traceMask } from '../../../../src-main/common/geometry/trace';
import type { SegmentBox, SegmentMask, SegmentPoint, SegmentRegion, SegmentResult } from '../../../../src-main/common/segment';
import { messageOf } from '../../backend';
import type { EditorPointerEvent } from '../../scene';
import { boxFromCorners, q } from '../../shapes';
import { moved, Tool, ToolState, type ToolOverlay } from '../Tool';

/** How long a prompt may wait for its mask before its points are drawn without it. */
const PROMPT_DRAW_DELAY_MS = 50;

/** One prompt sent to a prompt-driven model (image pixels of the oriented image). */
export interface SegmentPrompt {
  imageId: number;
  frame: number;
  points: SegmentPoint[];
  box?: SegmentBox;
  /** The `lowResId` of the candidate shown for the prompt before: its low-resolution mask is fed back to the decoder. */
  refineFrom?: string;
  region?: SegmentRegion;
}

/**
 * What the segmentation tool needs from outside the editor: the chosen model's decoder and the
 * encoder run ahead. Supplied by the app (state/sam.svelte.ts); without it the tool says so.
 */
export interface Segmenter {
  /** Masks for a prompt with the chosen model; rejects with a message a person can act on. */
  decode(prompt: SegmentPrompt): Promise<SegmentResult>;
  /** The tool is in use on this image and frame: compute its embedding (and the next image's) now. */
  prepare(imageId: number, frame: number): void;
  /** The part of the image the encoder should see (a tiled image's visible region), or undefined for all of it. */
  region(): SegmentRegion | undefined;
}

export type SamCommitKind = 'polygon' | 'mask';

/** The answer on screen and how many prompts were answered: what taking a part of the prompt back returns to. */
interface Shown {
  candidates: SegmentMask[];
  shown: number;
  answered: number;
  region: SegmentRegion | undefined;
}

/** What the toolbar shows about the answer on screen. */
export interface SamInfo {
  /** Candidate shown (0-based) and how many the decoder returned. */
  index: number;
  count: number;
  /** The decoder's predicted IoU of the candidate shown. */
  score: number;
  area: number;
  /** Vertices of the polygon Enter would store (polygon mode), else null. */
  vertices: number | null;
}

/**
 * Segment Anything tool: a left click adds a foreground point, a right click (or Alt+click) a
 * background point, a drag sets the box; each change of the prompt asks the decoder again and
 * shows its best mask. Tab cycles the candidates, Enter stores the one shown (as a mask or a
 * traced polygon of the active class, one edit), Esc drops the prompt.
 *
 * Answers can arrive out of order: each prompt has a sequence number and only the answer to the
 * latest is shown.
 */
export class SamTool extends Tool {
  readonly id = 'sam' as const;
  /** Right presses are background points here, not pans or the context menu. */
  override readonly takesSecondary: boolean = true;
  points: SegmentPoint[] = [];
  box: SegmentBox | null = null;
  private region: SegmentRegion | undefined;
  private candidates: SegmentMask[] = [];
  private shown = 0;
  private seq = 0;
  /** Prompts answered since the prompt was started: from the second on, the decoder refines. */
  private answered = 0;
  private traced: { rle: Rle; tolerance: number; parts: number[][] } | null = null;
  private previewGeometry: Extract<Geometry, { kind: 'mask' }> | null = null;
  /** The drag in progress (image pixels), drawn with the prompt. */
  dragBox: SegmentBox | null = null;
  commitAs: SamCommitKind = 'polygon';
  tolerance = 1;
  info: SamInfo | null = null;
  /** Waiting for the decoder's answer to the latest prompt. */
  waiting = false;
  /** Enter came while the latest prompt was unanswered: its mask is stored when it arrives, not the older one shown. */
  private commitPending = false;
  /** Show what a click would give while the pointer hovers, before the first prompt. */
  hoverPreview = true;
  /** The hover prompt in flight and the next position to ask for once it is answered (one at a time). */
  private hoverBusy = false;
  private hoverNext: { x: number; y: number } | null = null;
  /** The last hover answer: a click on the same pixel takes it instead of asking again. */
  private hoverAnswer: { x: number; y: number; masks: SegmentMask[] } | null = null;
  /** What was shown before the point of the press in progress was sent, to go back to if the press becomes a drag. */
  private beforePress: Shown | null = null;
  /**
   * What was shown before each point or box of the prompt was added, oldest first: taking one
   * back (Backspace) shows that again and refines from its candidate, not from an answer to a
   * prompt that still had the removed part.
   */
  private steps: { part: 'point' | 'box'; before: Shown }[] = [];

  initial(): ToolState {
    return new Idle(this);
  }

  override get busy(): boolean {
    return this.points.length > 0 || this.box !== null || this.current.name !== 'idle';
  }

  override activate(): void {
    super.activate();
    this.prepare();
  }

  override deactivate(): void {
    this.reset();
    super.deactivate();
  }

  /** Another image or frame: the prompt belonged to the one before. */
  override forget(): void {
    this.reset();
    if (this.editor.toolName === 'sam') this.prepare();
  }

  override cancel(): boolean {
    if (!this.busy) return false;
    this.transition(this.initial());
    this.reset();
    this.draw();
    this.editor.events.emit('change');
    return true;
  }

  override onKey(key: string): boolean {
    if (key === 'tab' || key === 'shift+tab') return this.cycle(key === 'tab' ? 1 : -1);
    if (key === 'enter') {
      if (this.waiting) {
        this.commitPending = true;
        this.editor.say('Storing the mask when it arrives');
      } else {
        void this.commit();
      }
      return true;
    }
    if (key === 'backspace') return this.undoPrompt();
    return this.current.onKey(key);
  }

  private prepare(): void {
    const img = this.editor.image;
    const seg = this.editor.segmenter;
    if (img && seg) seg.prepare(img.id, this.editor.frame);
  }

  private reset(): void {
    this.seq++;
    this.points = [];
    this.box = null;
    this.dragBox = null;
    this.region = undefined;
    this.candidates = [];
    this.shown = 0;
    this.answered = 0;
    this.traced = null;
    this.info = null;
    this.waiting = false;
    this.commitPending = false;
    this.hoverNext = null;
    this.hoverAnswer = null;
    this.beforePress = null;
    this.steps = [];
  }

  private snapshot(): Shown {
    return { candidates: this.candidates, shown: this.shown, answered: this.answered, region: this.region };
  }

  private restore(s: Shown): void {
    this.candidates = s.candidates;
    this.shown = s.shown;
    this.answered = s.answered;
    this.region = s.region;
    this.traced = null;
  }

  addPoint(x: number, y: number, label: 0 | 1): void {
    const img = this.editor.image;
    if (!img) return;
    if (x < 0 || y < 0 || x >= img.width || y >= img.height) {
      this.editor.refuse('A prompt point must lie on the image');
      return;
    }
    this.steps.push({ part: 'point', before: this.snapshot() });
    this.points.push({ x, y, label });
    const h = this.hoverAnswer;
    if (label === 1 && this.points.length === 1 && !this.box && !this.hoverBusy && h && h.x === x && h.y === y) {
      // The hover already asked the decoder this very prompt: its answer (and the low-resolution
      // mask the next prompt refines from) is this click's.
      this.seq++;
      this.hoverAnswer = null;
      this.region = this.editor.segmenter?.region();
      this.accept(h.masks);
      return;
    }
    this.ask();
  }

  /**
   * A press: its point is sent at once rather than at release, so the mask is usually there when
   * the button comes up. If the press becomes a drag (a box), `retractPress` takes the point back.
   */
  press(e: EditorPointerEvent): void {
    const img = this.editor.image;
    if (!img || e.x < 0 || e.y < 0 || e.x >= img.width || e.y >= img.height) return;
    this.beforePress = this.snapshot();
    this.addPoint(e.x, e.y, e.button === 2 || e.alt ? 0 : 1);
  }

  /** Whether the press in progress sent a point. */
  get pressed(): boolean {
    return this.beforePress !== null;
  }

  /** The press became a drag: its point goes, and what was shown before it comes back. */
  retractPress(): void {
    const b = this.beforePress;
    if (!b) return;
    this.beforePress = null;
    this.points.pop();
    this.steps.pop();
    this.seq++;
    this.waiting = false;
    this.restore(b);
    this.draw();
    this.editor.events.emit('change');
  }

  /** The press ended as a click: its point stays. */
  endPress(): void {
    this.beforePress = null;
  }

  /** The pointer hovers with no prompt yet: show what a click there would give. */
  hover(x: number, y: number): void {
    const img = this.editor.image;
    const seg = this.editor.segmenter;
    if (!this.hoverPreview || !img || !seg || this.points.length > 0 || this.box) return;
    if (x < 0 || y < 0 || x >= img.width || y >= img.height) return;
    if (this.hoverBusy) {
      this.hoverNext = { x, y };
      return;
    }
    this.hoverBusy = true;
    this.hoverNext = null;
    const seq = ++this.seq;
    const region = seg.region();
    const done = (): void => {
      this.hoverBusy = false;
      const next = this.hoverNext;
      if (next && this.points.length === 0 && !this.box) this.hover(next.x, next.y);
    };
    seg
      .decode({ imageId: img.id, frame: this.editor.frame, points: [{ x, y, label: 1 }], ...(region ? { region } : {}) })
      .then(
        (r) => {
          if (seq === this.seq && this.points.length === 0 && !this.box) {
            this.hoverAnswer = { x, y, masks: r.masks };
            this.candidates = [...r.masks].sort((a, b) => b.score - a.score);
            this.shown = 0;
            this.traced = null;
            this.draw();
          }
          done();
        },
        // A failing hover says nothing: the click that follows asks again and reports the error.
        () => done(),
      );
  }

  setBox(x0: number, y0: number, x1: number, y1: number): void {
    const a = this.editor.clamp({ x: x0, y: y0 });
    const b = this.editor.clamp({ x: x1, y: y1 });
    const g = boxFromCorners(a.x, a.y, b.x, b.y);
    this.dragBox = null;
    if (g.w < 1 || g.h < 1) {
      this.editor.refuse('The box prompt is empty');
      this.draw();
      return;
    }
    // A new box replaces the old one: taking it back goes to what was shown before any box.
    const old = this.steps.findIndex((s) => s.part === 'box');
    this.steps.push(old >= 0 ? this.steps.splice(old, 1)[0]! : { part: 'box', before: this.snapshot() });
    this.box = { x0: g.x, y0: g.y, x1: g.x + g.w, y1: g.y + g.h };
    this.ask();
  }

  /**
   * Drops the last point (or the box when there are none) and asks again, refining from the
   * answer shown before that part was added; when it was not the latest addition (a point added
   * before the box), the prompt left was never answered and is asked afresh.
   */
  private undoPrompt(): boolean {
    let part: 'point' | 'box';
    if (this.points.length > 0) {
      this.points.pop();
      part = 'point';
    } else if (this.box) {
      this.box = null;
      part = 'box';
    } else return false;
    if (this.points.length === 0 && !this.box) {
      this.cancel();
      return true;
    }
    let at = -1;
    for (let i = this.steps.length - 1; i >= 0 && at < 0; i--) if (this.steps[i]!.part === part) at = i;
    const step = at >= 0 ? this.steps.splice(at, 1)[0]! : undefined;
    if (step && at === this.steps.length) this.restore(step.before);
    else this.restore({ candidates: [], shown: 0, answered: 0, region: this.region });
    this.ask();
    return true;
  }

  /** Sends the prompt as it is now; an answer to an older prompt is dropped when it arrives. */
  private ask(): void {
    const img = this.editor.image;
    const seg = this.editor.segmenter;
    const seq = ++this.seq;
    // The new prompt point (and "segmenting…") is shown with its mask: drawing now would start a
    // frame that competes with the decoder for the CPU. Only a slow answer gets them shown first.
    setTimeout(() => {
      if (seq === this.seq && this.waiting) {
        this.draw();
        this.editor.events.emit('change');
      }
    }, PROMPT_DRAW_DELAY_MS);
    if (!img) return;
    if (!seg) {
      this.editor.refuse('Segmentation is not available here');
      return;
    }
    // The region is fixed for one prompt: panning while adding points must not change the frame the mask is refined in.
    if (this.answered === 0 && this.points.length + (this.box ? 1 : 0) <= 1) this.region = seg.region();
    // The candidate on screen (Tab may have picked another than the best) is the one refined.
    const refineFrom = this.answered > 0 ? this.mask?.lowResId : undefined;
    const prompt: SegmentPrompt = { imageId: img.id, frame: this.editor.frame, points: [...this.points], ...(refineFrom ? { refineFrom } : {}), ...(this.box ? { box: { ...this.box } } : {}), ...(this.region ? { region: this.region } : {}) };
    this.waiting = true;
    seg.decode(prompt).then(
      (r) => {
        if (seq !== this.seq) return;
        this.accept(r.masks);
      },
      (e: unknown) => {
        if (seq !== this.seq) return;
        this.waiting = false;
        this.commitPending = false;
        this.editor.refuse(`Segmentation failed: ${messageOf(e)}`);
        this.editor.events.emit('change');
      },
    );
  }

  /** The answer to the latest prompt: candidates best predicted IoU first, the best shown. */
  private accept(masks: readonly SegmentMask[]): void {
    this.waiting = false;
    this.answered++;
    this.candidates = [...masks].sort((a, b) => b.score - a.score);
    this.shown = 0;
    this.traced = null;
    if (this.candidates.length === 0 || this.candidates.every((m) => m.area === 0)) this.editor.say('The model found no mask for this prompt', 'error');
    this.draw();
    this.editor.events.emit('change');
    if (this.commitPending) {
      this.commitPending = false;
      void this.commit();
    }
  }

  private cycle(by: 1 | -1): boolean {
    const n = this.candidates.length;
    if (n < 2) return n > 0;
    this.shown = (this.shown + by + n) % n;
    this.traced = null;
    this.draw();
    this.editor.events.emit('change');
    return true;
  }

  /** The candidate shown, or null before the first answer. */
  get mask(): SegmentMask | null {
    return this.candidates[this.shown] ?? null;
  }

  setCommitAs(kind: SamCommitKind): void {
    this.commitAs = kind;
    this.updateInfo();
    this.editor.events.emit('change');
  }

  setTolerance(px: number): void {
    if (!Number.isFinite(px) || px < 0) return;
    this.tolerance = px;
    this.updateInfo();
    this.editor.events.emit('change');
  }

  /** The polygon Enter stores for the candidate shown; traced once per mask and tolerance. */
  polygon(): number[][] | null {
    const m = this.mask;
    if (!m || m.area === 0) return null;
    if (!this.traced || this.traced.rle !== m.rle || this.traced.tolerance !== this.tolerance) {
      this.traced = { rle: m.rle, tolerance: this.tolerance, parts: traceRle(m.rle, m.bbox, this.tolerance) };
    }
    return this.traced.parts;
  }

  private updateInfo(): void {
    const m = this.mask;
    if (!m) {
      this.info = null;
      return;
    }
    const poly = this.commitAs === 'polygon' ? this.polygon() : null;
    this.info = {
      index: this.shown,
      count: this.candidates.length,
      score: m.score,
      area: m.area,
      vertices: poly ? poly.reduce((s, r) => s + r.length / 2, 0) : null,
    };
  }

  /** Stores the candidate shown as one shape of the active class; the prompt starts again. */
  async commit(): Promise<void> {
    const m = this.mask;
    if (!m || m.area === 0) {
      this.editor.refuse(this.waiting ? 'The mask is not there yet' : 'No mask to store: click the object first');
      return;
    }
    let geometry: Geometry;
    if (this.commitAs === 'polygon') {
      const parts = this.polygon();
      if (!parts || parts.length === 0) {
        this.editor.refuse('The mask is too small to trace');
        return;
      }
      geometry = { kind: 'polygon', parts };
    } else {
      geometry = { kind: 'mask', rle: m.rle };
    }
    this.transition(this.initial());
    this.reset();
    this.draw();
    this.editor.events.emit('change');
    await this.editor.create(geometry, this.commitAs === 'polygon' ? 'Segment polygon' : 'Segment mask');
  }

  /** The prompt (points, box, the drag) and the mask shown, on the overlay. */
  draw(): void {
    this.updateInfo();
    const color = this.editor.colorOf(this.editor.activeClassId);
    const o: ToolOverlay = {};
    const m = this.mask;
    if (m && m.area > 0) {
      // The same geometry value while the mask stays: the canvas rasterises a mask once per value.
      if (this.previewGeometry?.rle !== m.rle) this.previewGeometry = { kind: 'mask', rle: m.rle };
      o.preview = { geometry: this.previewGeometry, color };
    }
    const handles: NonNullable<ToolOverlay['handles']>[number][] = this.points.map((p) => ({ x: p.x, y: p.y, kind: p.label === 1 ? 'positive' : 'negative' }));
    o.handles = handles;
    const b = this.dragBox ?? this.box;
    if (b) o.marquee = { x: b.x0, y: b.y0, w: b.x1 - b.x0, h: b.y1 - b.y0 };
    this.editor.setToolOverlay(o);
  }
}

/**
 * Polygon rings of a mask, traced within its bounding box only: a small object on a large image
 * costs what the object costs, not what the image does.
 */
export function traceRle(rle: Rle, bbox: readonly [number, number, number, number], tolerance: number): number[][] {
  const [h] = rle.size;
  const [x0, y0, bw, bh] = bbox;
  if (bw <= 0 || bh <= 0) return [];
  const crop = new Uint8Array(bw * bh);
  let pos = 0;
  const counts = rle.counts;
  for (let i = 0; i < counts.length; i++) {
    const run = counts[i]!;
    if (i & 1) {
      let x = Math.floor(pos / h);
      let y = pos - x * h;
      for (let left = run; left > 0; ) {
        const n = Math.min(left, h - y);
        for (let k = 0; k < n; k++) crop[(y + k - y0) * bw + (x - x0)] = 1;
        left -= n;
        x++;
        y = 0;
      }
    }
    pos += run;
  }
  return traceMask(crop, bw, bh, tolerance).map((ring) => ring.map((v, i) => q(v + (i & 1 ? y0 : x0))));
}

class Idle extends ToolState<SamTool> {
  readonly name = 'idle';
  override onPointerDown(e: EditorPointerEvent): void {
    this.tool.transition(new Pointing(this.tool, e));
  }
  override onPointerMove(e: EditorPointerEvent): void {
    if (e.button === -1) this.tool.hover(e.x, e.y);
  }
}

/** Pressed, not moved yet: the point is on its way to the decoder; a drag (left button) turns it into a box. */
class Pointing extends ToolState<SamTool> {
  readonly name = 'pointing';
  constructor(
    tool: SamTool,
    private readonly start: EditorPointerEvent,
  ) {
    super(tool);
  }
  override onEnter(): void {
    this.tool.press(this.start);
  }
  override onPointerMove(e: EditorPointerEvent): void {
    if (this.start.button === 0 && !this.start.alt && moved(this.start, e, e.zoom)) {
      this.tool.retractPress();
      this.tool.transition(new Dragging(this.tool, this.start));
    }
  }
  override onPointerUp(): void {
    const sent = this.tool.pressed;
    this.tool.endPress();
    this.tool.transition(new Idle(this.tool));
    // A press off the image sent nothing: say why on release.
    if (!sent) this.tool.addPoint(this.start.x, this.start.y, this.start.button === 2 || this.start.alt ? 0 : 1);
  }
  override onCancel(): void {
    this.tool.retractPress();
    this.tool.transition(new Idle(this.tool));
  }
}

class Dragging extends ToolState<SamTool> {
  readonly name = 'dragging';
  constructor(
    tool: SamTool,
    private readonly start: EditorPointerEvent,
  ) {
    super(tool);
  }
  override onPointerMove(e: EditorPointerEvent): void {
    const a = this.editor.clamp(this.start);
    const b = this.editor.clamp(e);
    this.tool.dragBox = { x0: Math.min(a.x, b.x), y0: Math.min(a.y, b.y), x1: Math.max(a.x, b.x), y1: Math.max(a.y, b.y) };
    this.tool.draw();
  }
  override onPointerUp(e: EditorPointerEvent): void {
    this.tool.transition(new Idle(this.tool));
    this.tool.setBox(this.start.x, this.start.y, e.x, e.y);
  }
  override onCancel(): void {
    this.tool.dragBox = null;
    this.tool.transition(new Idle(this.tool));
    this.tool.draw();
  }
}
