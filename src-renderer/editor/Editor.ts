import type { AnnotationDraft, AnnotationPatch, EditOp, EditResult, HistoryState } from '../../src-main/common/editing';
import type { AnnotationRecord, AttributeValue, ClassRecord, Geometry } from '../../src-main/common/model';
import { geometryArea, geometryBBox, hitTest, polygonSelfIntersects, validateGeometry } from '../../src-main/common/geometry/shapes';
import { errorCodeOf, messageOf, type EditorBackend } from './backend';
import { Emitter } from './emitter';
import { convertGeometry, fillMaskHoles, translateGeometry, type ConvertTarget } from './masks';
import { EMPTY_OVERLAY, type EditorPointerEvent, type Overlay, type SceneShape } from './scene';
import { boxHandles, insideRect, polygonHandles } from './shapes';
import { DEFAULT_SMART, type SmartSettings } from './smart';
import { HIT_PX, type Tool, type ToolId, type ToolOverlay } from './tools/Tool';
import { createTools } from './tools';
import { keypointHandles } from './tools/keypoints/drag';
import type { SamTool, Segmenter } from './tools/sam';
import { obbOverlayHandles } from './tools/obb/geometry';
import { polylineHandles } from './tools/polyline/geometry';

export interface EditorImage {
  id: number;
  width: number;
  height: number;
  /** Frames of a multi-frame image (DICOM frames, TIFF pages); 1 when left out. */
  frames?: number;
}

export interface EditorStatus {
  text: string;
  kind: 'info' | 'error';
}

/** A user action on its way to the backend, or one that failed and waits for a retry. */
export interface PendingAction {
  imageId: number;
  label: string;
  ops: EditOp[];
  /**
   * What to select once it is stored: the created shapes, the shapes a drawing tool just
   * finished ('drawn': shown selected, but not a selection the class keys relabel), or the ids.
   */
  select: 'created' | 'drawn' | readonly number[] | null;
  /** How the action looks while it is in flight (drawn on the overlay). */
  live: readonly SceneShape[];
  error: string | null;
}

export interface ClipboardContent {
  imageId: number;
  size: { width: number; height: number };
  items: AnnotationDraft[];
}

export interface EditorEvents {
  /** Every shape of the static layer, in drawing order (z, then id). */
  scene: (shapes: readonly SceneShape[]) => void;
  shapesChanged: (changed: readonly SceneShape[], removed: readonly number[]) => void;
  /** Ids not to draw on the static layer: hidden by the user, or drawn live on the overlay. */
  hidden: (ids: ReadonlySet<number>) => void;
  overlay: (overlay: Overlay) => void;
  status: (message: EditorStatus) => void;
  /** Anything a panel shows changed: document, selection, tool, class, history, pending, visibility. */
  change: () => void;
}

export const NEUTRAL_COLOR = '#c8c8c8';
const DEFAULT_BRUSH_RADIUS = 8;
const NO_HISTORY: HistoryState = { canUndo: false, canRedo: false, undoLabel: null, redoLabel: null };
/** Duplicates land this far (image pixels) from the original so they are seen as new shapes. */
const DUPLICATE_OFFSET = 10;
/** Codes for which sending the same action again cannot succeed. */
const FINAL_CODES = new Set(['INVALID_GEOMETRY', 'INVALID_ARGUMENT', 'STALE_EDIT', 'NOT_FOUND', 'NO_DATASET_OPEN', 'READ_ONLY']);

/**
 * The annotation editor for one image at a time, free of any framework: the document (the
 * image's annotations as readonly records keyed by id), selection, tools, visibility and the
 * clipboard. Every completed user action is one `edit` call on the backend.
 *
 * Saving is pessimistic: the document changes only once the backend has stored an action,
 * from the records it returns. While the call is in flight the action is drawn on the overlay,
 * so nothing flickers; if it fails the document is untouched and the action is kept for
 * `retryPending()` (or `discardPending()`). This keeps the local view identical to the dataset
 * and ids real, at the cost of a round trip before a new shape is selectable.
 */
export class Editor {
  readonly events = new Emitter<EditorEvents>();
  image: EditorImage | null = null;
  /**
   * The frame being edited. Shapes belong to one frame: only the current frame's shapes are
   * drawn, hit, selected and counted, and new shapes are stored on it. Tags belong to the image.
   */
  frame = 0;
  private docs = new Map<number, AnnotationRecord>();
  private classList: ClassRecord[] = [];
  private selectionIds: number[] = [];
  /**
   * The selection is the shape a drawing tool just finished rather than one the user picked: it
   * is shown with its handles, but a class key sets the class of the next shape instead of
   * relabelling it.
   */
  private selectionDrawn = false;
  private readonly tools: Record<ToolId, Tool>;
  private toolId: ToolId = 'select';
  activeClassId: number | null = null;
  readonly hiddenIds = new Set<number>();
  readonly lockedIds = new Set<number>();
  readonly hiddenClasses = new Set<number | null>();
  readonly lockedClasses = new Set<number | null>();
  /**
   * Predictions scoring below this are hidden (the review slider). Hiding rather than dropping
   * them keeps the document equal to the dataset, so raising the slider again shows them at once.
   */
  predictionThreshold = 0;
  clipboard: ClipboardContent | null = null;
  brushRadius = DEFAULT_BRUSH_RADIUS;
  /** How far (image pixels) a traced outline may stray from the mask when converting to a polygon. */
  traceTolerance = 1;
  /** The smart tools' settings: the wand's tolerance, and whether they commit masks or polygons. */
  readonly smart: SmartSettings = { ...DEFAULT_SMART };
  history: HistoryState = NO_HISTORY;
  /** Failed actions waiting for a retry, oldest first. */
  pending: PendingAction[] = [];
  private inFlight: PendingAction[] = [];
  private queue: Promise<unknown> = Promise.resolve();
  private toolOverlay: ToolOverlay = {};
  private toolLiveIds = new Set<number>();
  private loadToken = 0;
  private readonly flaggedCache = new WeakMap<Geometry, boolean>();
  /** Counts stored changes (edits, undos, redos) applied since the editor was made. */
  revision = 0;
  /** Last known pointer position, for the brush cursor after a key press. */
  lastPointer: EditorPointerEvent | null = null;
  /** The prompt-driven segmentation model behind the segment tool; null where there is none. */
  segmenter: Segmenter | null = null;

  constructor(readonly backend: EditorBackend) {
    this.tools = createTools(this);
  }

  // ---- document ----------------------------------------------------------------------------

  get annotations(): ReadonlyMap<number, AnnotationRecord> {
    return this.docs;
  }

  get classes(): readonly ClassRecord[] {
    return this.classList;
  }

  get selection(): readonly number[] {
    return this.selectionIds;
  }

  get selectedRecords(): AnnotationRecord[] {
    return this.selectionIds.map((id) => this.docs.get(id)).filter((a): a is AnnotationRecord => a !== undefined);
  }

  /** Image-level tags (classification labels) of the current image; a model's tag predictions are not among them until accepted. */
  get tags(): AnnotationRecord[] {
    return [...this.docs.values()].filter((a) => a.kind === 'tag' && a.source !== 'model');
  }

  get tool(): Tool {
    return this.tools[this.toolId];
  }

  get toolName(): ToolId {
    return this.toolId;
  }

  /** The segment tool, whose prompt and answer the toolbar shows. */
  get samTool(): SamTool {
    return this.tools.sam as SamTool;
  }

  /** Waits until every action sent so far has been answered (tests and shutdown). */
  async idle(): Promise<void> {
    let q: Promise<unknown>;
    do {
      q = this.queue;
      await q;
    } while (q !== this.queue);
  }

  /** Opens an image (at `frame`): fetches its annotations and history; the selection and any gesture are dropped. */
  async load(image: EditorImage, frame = 0): Promise<void> {
    const token = ++this.loadToken;
    this.tool.cancel();
    this.image = image;
    this.frame = this.clampFrame(frame, image);
    this.forgetToolMemory();
    this.docs = new Map();
    this.selectionIds = [];
    this.selectionDrawn = false;
    this.hiddenIds.clear();
    this.lockedIds.clear();
    this.history = NO_HISTORY;
    this.emitScene();
    let records: AnnotationRecord[];
    let history: HistoryState;
    try {
      [records, history] = await Promise.all([this.backend.list(image.id), this.backend.history(image.id)]);
    } catch (e) {
      // Without its annotations the image must not be edited: new shapes would hide the unseen ones.
      if (token === this.loadToken) this.image = null;
      throw e;
    }
    if (token !== this.loadToken) return;
    this.docs = new Map(records.map((r) => [r.id, r]));
    this.history = history;
    this.emitScene();
  }

  /** Forgets the image (back to the grid); failed actions stay pending. */
  unload(): void {
    this.loadToken++;
    this.tool.cancel();
    this.image = null;
    this.frame = 0;
    this.docs = new Map();
    this.selectionIds = [];
    this.selectionDrawn = false;
    this.history = NO_HISTORY;
    this.emitScene();
  }

  /** What tools remember between gestures (the last click of the select tool) belongs to one image and frame. */
  private forgetToolMemory(): void {
    for (const t of Object.values(this.tools)) t.forget();
  }

  get frames(): number {
    return Math.max(1, this.image?.frames ?? 1);
  }

  private clampFrame(frame: number, image: EditorImage | null = this.image): number {
    const n = Math.max(1, image?.frames ?? 1);
    return Number.isInteger(frame) ? Math.max(0, Math.min(n - 1, frame)) : 0;
  }

  /**
   * Edits another frame of the image: its shapes replace the scene, the gesture in progress is
   * dropped and the selection cleared (shapes of other frames cannot be selected). Returns
   * whether the frame changed.
   */
  setFrame(frame: number): boolean {
    const f = this.clampFrame(frame);
    if (f === this.frame) return false;
    this.tool.cancel();
    this.frame = f;
    this.forgetToolMemory();
    this.selectionIds = [];
    this.emitScene();
    return true;
  }

  /** Whether a record belongs to the frame being edited (tags belong to every frame). */
  isOnFrame(a: AnnotationRecord): boolean {
    return a.kind === 'tag' || a.frame === this.frame;
  }

  setClasses(classes: readonly ClassRecord[]): void {
    this.classList = [...classes].sort((a, b) => a.order - b.order || a.id - b.id);
    if (this.activeClassId !== null && !this.classList.some((c) => c.id === this.activeClassId)) this.activeClassId = null;
    if (this.activeClassId === null) this.activeClassId = this.classList[0]?.id ?? null;
    this.emitScene();
  }

  classById(id: number | null): ClassRecord | undefined {
    return id === null ? undefined : this.classList.find((c) => c.id === id);
  }

  colorOf(classId: number | null): string {
    return this.classById(classId)?.color ?? NEUTRAL_COLOR;
  }

  toScene(a: AnnotationRecord): SceneShape {
    // Self-intersecting outlines are allowed but usually a slip of the hand: they are drawn flagged.
    // The test is quadratic in the vertices, and geometries are immutable values, so it is cached.
    const g = a.geometry;
    let flagged = false;
    if (g.kind === 'polygon') {
      const known = this.flaggedCache.get(g);
      flagged = known ?? g.parts.some((ring) => polygonSelfIntersects(ring));
      if (known === undefined) this.flaggedCache.set(g, flagged);
    }
    const shape: SceneShape = { id: a.id, geometry: a.geometry, color: this.colorOf(a.classId), prediction: a.source === 'model', flagged, z: a.z };
    if (shape.prediction && a.score !== null && a.score !== undefined) shape.score = a.score;
    if (g.kind === 'keypoints') shape.skeleton = this.classById(a.classId)?.keypoints?.skeleton ?? [];
    return shape;
  }

  /** Drawable shapes of the current frame in stacking order (z, then id); tags are not drawn. */
  private ordered(): AnnotationRecord[] {
    return [...this.docs.values()].filter((a) => a.kind !== 'tag' && a.frame === this.frame).sort((a, b) => a.z - b.z || a.id - b.id);
  }

  isVisible(a: AnnotationRecord): boolean {
    return this.isOnFrame(a) && !this.hiddenIds.has(a.id) && !this.hiddenClasses.has(a.classId) && !this.belowThreshold(a);
  }

  private belowThreshold(a: AnnotationRecord): boolean {
    return a.source === 'model' && this.predictionThreshold > 0 && (a.score ?? 1) < this.predictionThreshold;
  }

  /** Visible predictions of the current image (those the slider lets through). */
  get predictions(): AnnotationRecord[] {
    return [...this.docs.values()].filter((a) => a.source === 'model' && this.isVisible(a));
  }

  isEditable(a: AnnotationRecord): boolean {
    return this.isVisible(a) && !this.lockedIds.has(a.id) && !this.lockedClasses.has(a.classId);
  }

  /**
   * A position moved onto the image: shapes are drawn by image pixels, and a corner or vertex
   * dropped past the edge means "up to the edge".
   */
  clamp(p: { x: number; y: number }): { x: number; y: number } {
    if (!this.image) return { x: p.x, y: p.y };
    return { x: Math.min(this.image.width, Math.max(0, p.x)), y: Math.min(this.image.height, Math.max(0, p.y)) };
  }

  /**
   * Every visible, unlocked shape at (x, y), the one a click picks first: smallest area first (a
   * small shape inside a large one stays reachable), equal areas topmost first (z, then id).
   */
  hitsAt(x: number, y: number, zoom: number): AnnotationRecord[] {
    const tol = HIT_PX / zoom;
    const hits = this.ordered()
      .filter((a) => this.isEditable(a) && hitTest(a.geometry, x, y, tol))
      .map((a, i) => ({ a, i, area: geometryArea(a.geometry) }));
    hits.sort((p, q) => p.area - q.area || q.i - p.i);
    return hits.map((h) => h.a);
  }

  /** The shape a click at (x, y) picks: the smallest visible, unlocked shape there (see hitsAt). */
  hitTest(x: number, y: number, zoom: number): AnnotationRecord | null {
    return this.hitsAt(x, y, zoom)[0] ?? null;
  }

  /**
   * A right click at (x, y): the shape there becomes the selection, so the context menu acts on
   * it; a click on a shape already selected, or on nothing, keeps the selection.
   */
  selectForMenu(x: number, y: number, zoom: number): void {
    const hits = this.hitsAt(x, y, zoom);
    if (hits.length === 0 || hits.some((a) => this.selectionIds.includes(a.id))) return;
    this.select([hits[0]!.id]);
  }

  // ---- events to the view ------------------------------------------------------------------

  /** What a view needs to draw the editor now (a view connecting late). */
  snapshot(): { scene: SceneShape[]; hidden: Set<number>; overlay: Overlay } {
    return { scene: this.ordered().map((a) => this.toScene(a)), hidden: this.hiddenSet(), overlay: this.currentOverlay() };
  }

  private emitScene(): void {
    this.events.emit('scene', this.ordered().map((a) => this.toScene(a)));
    this.emitHidden();
    this.refreshOverlay();
    this.events.emit('change');
  }

  private hiddenSet(): Set<number> {
    const ids = new Set<number>(this.toolLiveIds);
    for (const a of this.docs.values()) if (!this.isVisible(a)) ids.add(a.id);
    for (const p of this.inFlight) for (const s of p.live) if (this.docs.has(s.id)) ids.add(s.id);
    return ids;
  }

  private emitHidden(): void {
    this.events.emit('hidden', this.hiddenSet());
  }

  /** Tools call this with what they draw; it is combined with the selection and in-flight actions. */
  setToolOverlay(o: ToolOverlay, liveIds: readonly number[] = []): void {
    const before = [...this.toolLiveIds].join();
    this.toolOverlay = o;
    this.toolLiveIds = new Set(liveIds);
    if ([...this.toolLiveIds].join() !== before) this.emitHidden();
    this.refreshOverlay();
  }

  /** Handles of the selection, shown by the select tool when exactly one editable shape is selected. */
  selectionHandles(): Overlay['handles'] {
    const one = this.singleSelected();
    if (!one || !this.isEditable(one)) return [];
    if (one.geometry.kind === 'obb' && (this.toolId === 'select' || this.toolId === 'obb')) return obbOverlayHandles(one.geometry);
    if (this.toolId !== 'select') return [];
    if (one.geometry.kind === 'polyline') return polylineHandles(one.geometry);
    if (one.geometry.kind === 'box') return boxHandles(one.geometry).map((h) => ({ x: h.x, y: h.y, kind: 'resize' as const }));
    if (one.geometry.kind === 'polygon') return polygonHandles(one.geometry);
    if (one.geometry.kind === 'keypoints') return keypointHandles(one.geometry);
    return [];
  }

  singleSelected(): AnnotationRecord | null {
    if (this.selectionIds.length !== 1) return null;
    return this.docs.get(this.selectionIds[0]!) ?? null;
  }

  refreshOverlay(): void {
    this.events.emit('overlay', this.currentOverlay());
  }

  private currentOverlay(): Overlay {
    const t = this.toolOverlay;
    const visibleSelected = this.selectionIds.filter((id) => {
      const a = this.docs.get(id);
      return a !== undefined && this.isVisible(a);
    });
    const overlay: Overlay = {
      ...EMPTY_OVERLAY,
      selected: visibleSelected,
      live: [...(t.live ?? []), ...this.inFlight.flatMap((p) => p.live)],
      preview: t.preview ?? null,
      handles: t.handles ?? this.selectionHandles(),
      marquee: t.marquee ?? null,
      brush: t.brush ?? null,
      stroke: t.stroke ?? null,
    };
    return overlay;
  }

  say(text: string, kind: 'info' | 'error' = 'info'): void {
    this.events.emit('status', { text, kind });
  }

  /** Tells the user why something they drew was not stored. */
  refuse(reason: string): void {
    this.say(reason, 'error');
  }

  // ---- pointer and keys --------------------------------------------------------------------

  pointer(type: 'down' | 'move' | 'up', e: EditorPointerEvent): void {
    this.lastPointer = e;
    if (!this.image) return;
    if (type === 'down') {
      // Secondary and middle buttons belong to the context menu and panning, unless the tool takes the secondary one.
      if (e.button !== 0 && !(e.button === 2 && this.tool.takesSecondary)) return;
      this.tool.onPointerDown(e);
    } else if (type === 'move') this.tool.onPointerMove(e);
    else if (e.button === 0 || (e.button === 2 && this.tool.takesSecondary)) this.tool.onPointerUp(e);
  }

  /** Offers a key to the active tool's gesture (Enter, Backspace, Delete, Escape...). */
  toolKey(chord: string): boolean {
    return this.tool.onKey(chord);
  }

  setTool(id: ToolId): void {
    if (id === this.toolId) return;
    this.tool.deactivate();
    this.toolId = id;
    this.tool.activate();
    this.refreshOverlay();
    this.events.emit('change');
  }

  /** Abandons the gesture in progress; returns false when there was none. */
  cancelGesture(): boolean {
    const had = this.tool.cancel();
    if (had) this.refreshOverlay();
    return had;
  }

  setActiveClass(id: number | null): void {
    this.activeClassId = id;
    this.events.emit('change');
    this.dropDrawnOfOtherClass();
  }

  /**
   * The active class changed: a just-drawn shape of another class stops being the selection, so
   * the next brush stroke starts a mask of the new class instead of extending that one.
   */
  private dropDrawnOfOtherClass(): void {
    if (this.selectionDrawn && this.selectedRecords.some((a) => a.classId !== this.activeClassId)) this.select([]);
  }

  setBrushRadius(r: number): void {
    this.brushRadius = Math.max(1, Math.min(500, Math.round(r)));
    this.tool.onPointerMove(this.lastPointer ?? { x: -1e6, y: -1e6, button: 0, shift: false, ctrl: false, alt: false, zoom: 1 });
    this.say(`Brush radius ${this.brushRadius} px`);
    this.events.emit('change');
  }

  // ---- selection ---------------------------------------------------------------------------

  /** Sets the selection as the user picked it (a click, a rectangle, Ctrl+A, the menu...). */
  select(ids: readonly number[], mode: 'replace' | 'add' | 'toggle' = 'replace'): void {
    const wasDrawn = this.selectionDrawn;
    this.selectionDrawn = false;
    let next: number[];
    if (mode === 'replace') next = [...ids];
    else if (mode === 'add') next = [...this.selectionIds, ...ids.filter((id) => !this.selectionIds.includes(id))];
    else {
      next = this.selectionIds.filter((id) => !ids.includes(id));
      for (const id of ids) if (!this.selectionIds.includes(id)) next.push(id);
    }
    next = next.filter((id) => {
      const a = this.docs.get(id);
      return a !== undefined && this.isOnFrame(a);
    });
    if (next.join() === this.selectionIds.join()) {
      if (wasDrawn) this.events.emit('change');
      return;
    }
    this.selectionIds = next;
    this.refreshOverlay();
    this.events.emit('change');
  }

  clearSelection(): boolean {
    if (this.selectionIds.length === 0) return false;
    this.select([]);
    return true;
  }

  selectAll(): void {
    this.select(this.ordered().filter((a) => this.isEditable(a)).map((a) => a.id));
  }

  /** Shapes wholly inside the rectangle, editable ones only. */
  idsInRect(r: { x: number; y: number; w: number; h: number }): number[] {
    return this.ordered()
      .filter((a) => this.isEditable(a) && insideRect(geometryBBox(a.geometry), r))
      .map((a) => a.id);
  }

  // ---- saving ------------------------------------------------------------------------------

  /**
   * Checks a geometry before it is sent, so the user learns at once why a shape is refused.
   * Returns false (and says why) when it cannot be stored.
   */
  accept(g: Geometry): boolean {
    if (!this.image) return false;
    const why = validateGeometry(g, this.image);
    if (why) {
      this.refuse(why.charAt(0).toUpperCase() + why.slice(1));
      return false;
    }
    return true;
  }

  /** Sends one user action as one edit. Resolves with the result, or null when it was not stored. */
  commit(
    label: string,
    ops: EditOp[],
    opts: { select?: 'created' | 'drawn' | readonly number[] | null; live?: readonly SceneShape[] } = {},
  ): Promise<EditResult | null> {
    if (!this.image || ops.length === 0) return Promise.resolve(null);
    if (this.pending.length > 0) {
      this.refuse(`Not saved: "${this.pending[0]!.label}" is waiting to be saved. Retry or discard it first.`);
      return Promise.resolve(null);
    }
    const action: PendingAction = { imageId: this.image.id, label, ops, select: opts.select ?? null, live: opts.live ?? [], error: null };
    this.inFlight.push(action);
    this.emitHidden();
    this.refreshOverlay();
    return this.enqueue(() => this.send(action));
  }

  private enqueue<T>(job: () => Promise<T>): Promise<T> {
    const run = this.queue.then(job);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async send(action: PendingAction): Promise<EditResult | null> {
    // An earlier action failed while this one waited: it may depend on it, so it waits too.
    if (this.pending.length > 0 && !this.pending.includes(action)) {
      this.settle(action);
      action.error = 'an earlier change was not saved';
      this.pending.push(action);
      this.events.emit('change');
      return null;
    }
    let result: EditResult;
    try {
      result = await this.backend.edit(action.imageId, action.label, action.ops);
    } catch (e) {
      this.settle(action);
      const code = errorCodeOf(e);
      if (code !== null && FINAL_CODES.has(code)) {
        this.refuse(`${action.label} was refused: ${messageOf(e)}`);
        // The dataset moved on under us (another window, a restored backup): show what it holds.
        if (code === 'STALE_EDIT' || code === 'NOT_FOUND') await this.reloadIf(action.imageId);
      } else {
        action.error = messageOf(e);
        this.pending.push(action);
        this.refuse(`Not saved: ${action.label}: ${action.error}. Retry to save it.`);
      }
      this.events.emit('change');
      return null;
    }
    this.settle(action);
    if (this.image?.id === action.imageId) {
      this.apply(result);
      if (action.select === 'created') this.select(result.created);
      else if (action.select === 'drawn') {
        this.select(result.created);
        this.selectionDrawn = true;
      } else if (action.select) this.select(action.select);
      await this.refreshHistory();
    }
    return result;
  }

  /** Takes an action off the overlay once it has been answered. */
  private settle(action: PendingAction): void {
    this.inFlight = this.inFlight.filter((a) => a !== action);
    this.emitHidden();
    this.refreshOverlay();
  }

  private async reloadIf(imageId: number): Promise<void> {
    if (this.image?.id !== imageId) return;
    const records = await this.backend.list(imageId);
    if (this.image?.id !== imageId) return;
    this.docs = new Map(records.map((r) => [r.id, r]));
    this.selectionIds = this.selectionIds.filter((id) => this.docs.has(id));
    this.emitScene();
  }

  /** Sends the failed actions again, in order; those that fail again stay pending. */
  retryPending(): Promise<void> {
    const actions = this.pending;
    if (actions.length === 0) return Promise.resolve();
    this.pending = [];
    for (const a of actions) a.error = null;
    this.inFlight.push(...actions.filter((a) => a.imageId === this.image?.id));
    this.events.emit('change');
    return this.enqueue(async () => {
      for (const [i, a] of actions.entries()) {
        const r = await this.send(a);
        if (!r && this.pending.length > 0) {
          // Keep the rest behind the one that failed again.
          for (const rest of actions.slice(i + 1)) {
            this.settle(rest);
            rest.error = 'an earlier change was not saved';
            this.pending.push(rest);
          }
          break;
        }
      }
      if (this.pending.length === 0) this.say('Saved');
      this.events.emit('change');
    });
  }

  discardPending(): void {
    if (this.pending.length === 0) return;
    const n = this.pending.length;
    this.pending = [];
    this.say(n === 1 ? 'Discarded the unsaved change' : `Discarded ${n} unsaved changes`);
    this.events.emit('change');
  }

  /** Applies what the backend stored: new values and removed ids, drawn without a full redraw. */
  private apply(r: Pick<EditResult, 'changed' | 'deleted'>): void {
    this.revision++;
    const changed: SceneShape[] = [];
    const removed: number[] = [];
    let reorder = false;
    for (const rec of r.changed) {
      if (rec.imageId !== this.image?.id) continue;
      const before = this.docs.get(rec.id);
      if (before && before.z !== rec.z) reorder = true;
      if (!before && this.docs.size > 0) {
        // A new shape below others (restored by undo, or pasted with its z) changes the order.
        const maxZ = Math.max(...[...this.docs.values()].map((a) => a.z));
        if (rec.z < maxZ) reorder = true;
      }
      this.docs.set(rec.id, rec);
      // Shapes of other frames are kept in the document but not drawn.
      if (rec.kind !== 'tag' && rec.frame === this.frame) changed.push(this.toScene(rec));
    }
    for (const id of r.deleted) {
      const had = this.docs.get(id);
      if (!had) continue;
      this.docs.delete(id);
      if (had.kind !== 'tag' && had.frame === this.frame) removed.push(id);
    }
    this.selectionIds = this.selectionIds.filter((id) => this.docs.has(id));
    if (reorder) {
      this.emitScene();
      return;
    }
    if (changed.length || removed.length) this.events.emit('shapesChanged', changed, removed);
    this.emitHidden();
    this.refreshOverlay();
    this.events.emit('change');
  }

  private async refreshHistory(): Promise<void> {
    const id = this.image?.id;
    if (id === undefined) return;
    try {
      const h = await this.backend.history(id);
      if (this.image?.id === id) {
        this.history = h;
        this.events.emit('change');
      }
    } catch {
      // The buttons stay as they were; the next action refreshes them again.
    }
  }

  undo(): Promise<void> {
    return this.step('undo');
  }

  redo(): Promise<void> {
    return this.step('redo');
  }

  private step(which: 'undo' | 'redo'): Promise<void> {
    if (!this.image) return Promise.resolve();
    if (this.pending.length > 0) {
      this.refuse(`"${this.pending[0]!.label}" is not saved yet: retry or discard it before ${which === 'undo' ? 'undoing' : 'redoing'}.`);
      return Promise.resolve();
    }
    this.cancelGesture();
    const imageId = this.image.id;
    return this.enqueue(async () => {
      let r: EditResult | null;
      try {
        r = which === 'undo' ? await this.backend.undo(imageId) : await this.backend.redo(imageId);
      } catch (e) {
        this.refuse(`${which === 'undo' ? 'Undo' : 'Redo'} failed: ${messageOf(e)}`);
        return;
      }
      if (this.image?.id !== imageId) return;
      if (!r) {
        this.say(which === 'undo' ? 'Nothing to undo' : 'Nothing to redo');
      } else {
        // History is per image: a step may change shapes of a frame not on screen; say which.
        const touched = [...r.changed, ...r.deleted.map((id) => this.docs.get(id)).filter((a): a is AnnotationRecord => a !== undefined)];
        const frames = new Set(touched.filter((a) => a.kind !== 'tag').map((a) => a.frame));
        this.apply(r);
        const elsewhere = frames.size > 0 && !frames.has(this.frame) ? ` (on frame ${[...frames].map((f) => f + 1).join(', ')})` : '';
        this.say(`${which === 'undo' ? 'Undid' : 'Redid'}: ${r.label}${elsewhere}`);
      }
      await this.refreshHistory();
    });
  }

  // ---- commands on the selection -----------------------------------------------------------

  private editableSelection(): AnnotationRecord[] {
    return this.selectedRecords.filter((a) => this.isEditable(a));
  }

  private nothingSelected(what: string): null {
    this.say(`Select ${what} first`, 'error');
    return null;
  }

  deleteSelected(): Promise<EditResult | null> {
    const sel = this.editableSelection();
    if (sel.length === 0) return Promise.resolve(this.nothingSelected('shapes to delete'));
    const label = sel.length === 1 ? `Delete ${sel[0]!.kind}` : `Delete ${sel.length} shapes`;
    return this.commit(label, sel.map((a) => ({ op: 'delete', id: a.id })), { select: [] });
  }

  /** Moves shapes by (dx, dy) image pixels, as one edit. */
  moveShapes(ids: readonly number[], dx: number, dy: number): Promise<EditResult | null> {
    const recs = ids.map((id) => this.docs.get(id)).filter((a): a is AnnotationRecord => a !== undefined && this.isEditable(a));
    if (!this.image || recs.length === 0 || (dx === 0 && dy === 0)) return Promise.resolve(null);
    const ops: EditOp[] = recs.map((a) => ({
      op: 'update',
      id: a.id,
      patch: { geometry: translateGeometry(a.geometry, dx, dy) },
      baseVersion: a.version,
    }));
    const live = ops.map((o, i) => ({ ...this.toScene(recs[i]!), geometry: (o as { patch: AnnotationPatch }).patch.geometry! }));
    return this.commit(recs.length === 1 ? `Move ${recs[0]!.kind}` : `Move ${recs.length} shapes`, ops, { live });
  }

  /** Replaces one shape's geometry (a vertex drag, a resize, a painted stroke). */
  updateGeometry(id: number, geometry: Geometry, label: string): Promise<EditResult | null> {
    const a = this.docs.get(id);
    if (!a) return Promise.resolve(null);
    if (!this.accept(geometry)) return Promise.resolve(null);
    return this.commit(label, [{ op: 'update', id, patch: { geometry }, baseVersion: a.version }], {
      live: [{ ...this.toScene(a), geometry }],
    });
  }

  /** Creates a shape of the active class (a drawing tool finishing its gesture). */
  create(geometry: Geometry, label: string): Promise<EditResult | null> {
    if (!this.accept(geometry)) return Promise.resolve(null);
    const z = this.topZ() + 1;
    const draft: AnnotationDraft = { classId: this.activeClassId, geometry, frame: this.frame, z, attributes: this.defaultAttributes(this.activeClassId) };
    return this.commit(label, [{ op: 'create', draft }], {
      select: 'drawn',
      live: [{ id: -1, geometry, color: this.colorOf(this.activeClassId), prediction: false, flagged: false, z }],
    });
  }

  defaultAttributes(classId: number | null): Record<string, AttributeValue> {
    const out: Record<string, AttributeValue> = {};
    for (const d of this.classById(classId)?.attributes ?? []) if (d.default !== undefined) out[d.name] = d.default;
    return out;
  }

  topZ(): number {
    let z = 0;
    for (const a of this.docs.values()) z = Math.max(z, a.z);
    return z;
  }

  private bottomZ(): number {
    let z = 0;
    for (const a of this.docs.values()) z = Math.min(z, a.z);
    return z;
  }

  private drafts(recs: readonly AnnotationRecord[]): AnnotationDraft[] {
    return recs.map((a) => ({ classId: a.classId, geometry: a.geometry, frame: a.frame, attributes: a.attributes, z: a.z }));
  }

  duplicateSelected(): Promise<EditResult | null> {
    const sel = this.selectedRecords.filter((a) => this.isVisible(a) && a.kind !== 'tag');
    if (!this.image || sel.length === 0) return Promise.resolve(this.nothingSelected('shapes to duplicate'));
    let z = this.topZ();
    const ops: EditOp[] = this.drafts(sel).map((d) => ({
      op: 'create',
      draft: { ...d, geometry: translateGeometry(d.geometry, DUPLICATE_OFFSET, DUPLICATE_OFFSET), z: ++z },
    }));
    return this.commit(sel.length === 1 ? `Duplicate ${sel[0]!.kind}` : `Duplicate ${sel.length} shapes`, ops, { select: 'created' });
  }

  copySelected(): boolean {
    const sel = this.selectedRecords.filter((a) => a.kind !== 'tag');
    if (!this.image || sel.length === 0) {
      this.nothingSelected('shapes to copy');
      return false;
    }
    this.clipboard = { imageId: this.image.id, size: { width: this.image.width, height: this.image.height }, items: this.drafts(sel) };
    this.say(sel.length === 1 ? 'Copied 1 shape' : `Copied ${sel.length} shapes`);
    this.events.emit('change');
    return true;
  }

  /**
   * Pastes the clipboard: on the image it came from, offset like a duplicate; on another image,
   * at the same pixel position (images of a series are usually aligned). Masks need an image of
   * the same size; shapes falling wholly outside the image are left out and counted.
   */
  paste(): Promise<EditResult | null> {
    const clip = this.clipboard;
    if (!this.image || !clip || clip.items.length === 0) {
      this.say('Nothing to paste', 'error');
      return Promise.resolve(null);
    }
    const image = this.image;
    const offset = clip.imageId === image.id ? DUPLICATE_OFFSET : 0;
    let z = this.topZ();
    const ops: EditOp[] = [];
    let skipped = 0;
    for (const d of clip.items) {
      if (d.geometry.kind === 'mask' && (clip.size.width !== image.width || clip.size.height !== image.height)) {
        skipped++;
        continue;
      }
      const g = translateGeometry(d.geometry, offset, offset);
      const bb = geometryBBox(g);
      if (bb.x > image.width || bb.y > image.height || bb.x + bb.w < 0 || bb.y + bb.h < 0 || validateGeometry(g, image)) {
        skipped++;
        continue;
      }
      const classId = d.classId !== null && this.classById(d.classId) ? d.classId : null;
      // Pasted onto the frame being edited, wherever it was copied from.
      ops.push({ op: 'create', draft: { ...d, classId, geometry: g, frame: this.frame, z: ++z } });
    }
    if (skipped) this.say(`${skipped} shape${skipped === 1 ? '' : 's'} did not fit this image and ${skipped === 1 ? 'was' : 'were'} not pasted`, 'error');
    if (ops.length === 0) return Promise.resolve(null);
    return this.commit(ops.length === 1 ? 'Paste shape' : `Paste ${ops.length} shapes`, ops, { select: 'created' });
  }

  bringToFront(): Promise<EditResult | null> {
    const sel = this.editableSelection().sort((a, b) => a.z - b.z || a.id - b.id);
    if (sel.length === 0) return Promise.resolve(this.nothingSelected('shapes'));
    let z = this.topZ();
    const ops: EditOp[] = sel.map((a) => ({ op: 'update', id: a.id, patch: { z: ++z }, baseVersion: a.version }));
    return this.commit('Bring to front', ops);
  }

  sendToBack(): Promise<EditResult | null> {
    const sel = this.editableSelection().sort((a, b) => b.z - a.z || b.id - a.id);
    if (sel.length === 0) return Promise.resolve(this.nothingSelected('shapes'));
    let z = this.bottomZ();
    const ops: EditOp[] = sel.map((a) => ({ op: 'update', id: a.id, patch: { z: --z }, baseVersion: a.version }));
    return this.commit('Send to back', ops);
  }

  setClassOfSelection(classId: number | null): Promise<EditResult | null> {
    const sel = this.editableSelection().filter((a) => a.classId !== classId);
    if (sel.length === 0) return Promise.resolve(null);
    const name = this.classById(classId)?.name ?? 'no class';
    const ops: EditOp[] = sel.map((a) => ({ op: 'update', id: a.id, patch: { classId }, baseVersion: a.version }));
    const what = sel.length === 1 ? `${sel[0]!.kind.charAt(0).toUpperCase()}${sel[0]!.kind.slice(1)} #${sel[0]!.id}` : `${sel.length} shapes`;
    return this.commit(`Set class ${name}`, ops).then((r) => {
      if (r) this.say(`${what} relabelled to ${name}`);
      return r;
    });
  }

  /**
   * Keys 1-9 pick the class the next shape is drawn with. Shapes the user selected (a click, a
   * rectangle, Ctrl+A) are relabelled to it too, and the status line says so; the shape a drawing
   * tool just finished is not such a selection, so drawing one shape after another of different
   * classes never relabels the previous one.
   */
  pickClassByIndex(index: number): Promise<EditResult | null> {
    const c = this.classList[index];
    if (!c) {
      this.say(`There is no class ${index + 1}`, 'error');
      return Promise.resolve(null);
    }
    this.activeClassId = c.id;
    this.events.emit('change');
    if (!this.selectionDrawn && this.editableSelection().some((a) => a.classId !== c.id)) return this.setClassOfSelection(c.id);
    this.dropDrawnOfOtherClass();
    this.say(`Drawing class: ${c.name}`);
    return Promise.resolve(null);
  }

  setAttribute(id: number, name: string, value: AttributeValue): Promise<EditResult | null> {
    const a = this.docs.get(id);
    if (!a || !this.isEditable(a)) return Promise.resolve(null);
    if (a.attributes[name] === value) return Promise.resolve(null);
    return this.commit(`Set ${name}`, [{ op: 'update', id, patch: { attributes: { ...a.attributes, [name]: value } }, baseVersion: a.version }]);
  }

  /** Adds or removes an image-level tag of the class. */
  toggleTag(classId: number): Promise<EditResult | null> {
    const have = this.tags.filter((t) => t.classId === classId);
    const name = this.classById(classId)?.name ?? 'tag';
    if (have.length > 0) return this.commit(`Remove tag ${name}`, have.map((t) => ({ op: 'delete', id: t.id })));
    return this.commit(`Tag ${name}`, [{ op: 'create', draft: { classId, geometry: { kind: 'tag' }, attributes: this.defaultAttributes(classId) } }]);
  }

  /** Replaces the selected shapes by another kind, keeping class, attributes and z (one edit). */
  convertSelection(target: ConvertTarget, tolerancePx = this.traceTolerance): Promise<EditResult | null> {
    const sel = this.editableSelection();
    if (!this.image || sel.length === 0) return Promise.resolve(this.nothingSelected('shapes to convert'));
    const image = this.image;
    const ops: EditOp[] = [];
    const problems: string[] = [];
    for (const a of sel) {
      const g = convertGeometry(a.geometry, target, image, tolerancePx);
      if (typeof g === 'string') {
        problems.push(g);
        continue;
      }
      const why = validateGeometry(g, image);
      if (why) {
        problems.push(why);
        continue;
      }
      // A box from a shape is a new shape next to it; polygon and mask conversions replace it.
      if (target !== 'box') ops.push({ op: 'delete', id: a.id });
      ops.push({ op: 'create', draft: { classId: a.classId, geometry: g, frame: a.frame, attributes: a.attributes, z: target === 'box' ? this.topZ() + 1 + ops.length : a.z } });
    }
    if (problems.length) this.refuse(`Not converted: ${problems[0]}`);
    if (ops.length === 0) return Promise.resolve(null);
    const label = target === 'box' ? 'Box from shape' : `Convert to ${target}`;
    return this.commit(label, ops, { select: 'created' });
  }

  /** Fills the holes of the selected masks. */
  fillHolesOfSelection(): Promise<EditResult | null> {
    const masks = this.editableSelection().filter((a) => a.geometry.kind === 'mask');
    if (masks.length === 0) return Promise.resolve(this.nothingSelected('a mask'));
    const ops: EditOp[] = [];
    for (const a of masks) {
      const g = fillMaskHoles(a.geometry as Extract<Geometry, { kind: 'mask' }>);
      if (g) ops.push({ op: 'update', id: a.id, patch: { geometry: g }, baseVersion: a.version });
    }
    if (ops.length === 0) {
      this.say('The mask has no holes');
      return Promise.resolve(null);
    }
    return this.commit('Fill holes', ops);
  }

  // ---- visibility (UI state, never stored) -------------------------------------------------

  toggleHiddenSelection(): void {
    const sel = this.selectionIds;
    if (sel.length === 0) {
      this.nothingSelected('shapes to hide');
      return;
    }
    const hide = sel.some((id) => !this.hiddenIds.has(id));
    for (const id of sel) {
      if (hide) this.hiddenIds.add(id);
      else this.hiddenIds.delete(id);
    }
    if (hide) this.selectionIds = [];
    this.emitHidden();
    this.refreshOverlay();
    this.events.emit('change');
  }

  showAll(): void {
    this.hiddenIds.clear();
    this.hiddenClasses.clear();
    this.emitHidden();
    this.refreshOverlay();
    this.events.emit('change');
  }

  toggleLockedSelection(): void {
    const sel = this.selectionIds;
    if (sel.length === 0) {
      this.nothingSelected('shapes to lock');
      return;
    }
    const lock = sel.some((id) => !this.lockedIds.has(id));
    for (const id of sel) {
      if (lock) this.lockedIds.add(id);
      else this.lockedIds.delete(id);
    }
    this.say(lock ? 'Locked: the shapes cannot be selected or changed until unlocked' : 'Unlocked');
    if (lock) this.selectionIds = [];
    this.refreshOverlay();
    this.events.emit('change');
  }

  unlockAll(): void {
    this.lockedIds.clear();
    this.lockedClasses.clear();
    this.events.emit('change');
  }

  setClassHidden(classId: number | null, hidden: boolean): void {
    if (hidden) this.hiddenClasses.add(classId);
    else this.hiddenClasses.delete(classId);
    this.selectionIds = this.selectionIds.filter((id) => this.isVisible(this.docs.get(id)!));
    this.emitHidden();
    this.refreshOverlay();
    this.events.emit('change');
  }

  setPredictionThreshold(t: number): void {
    if (!Number.isFinite(t)) return;
    this.predictionThreshold = Math.min(1, Math.max(0, t));
    this.selectionIds = this.selectionIds.filter((id) => this.isVisible(this.docs.get(id)!));
    this.emitHidden();
    this.refreshOverlay();
    this.events.emit('change');
  }

  /**
   * Fetches the open image's annotations again: pre-labeling and the review calls change them
   * outside the editor's own edits, and the journal may have grown with them.
   */
  async reload(): Promise<void> {
    const id = this.image?.id;
    if (id === undefined) return;
    await this.idle();
    await this.reloadIf(id);
    if (this.image?.id === id) {
      this.revision++;
      await this.refreshHistory();
      this.events.emit('change');
    }
  }

  setClassLocked(classId: number | null, locked: boolean): void {
    if (locked) this.lockedClasses.add(classId);
    else this.lockedClasses.delete(classId);
    this.selectionIds = this.selectionIds.filter((id) => this.isEditable(this.docs.get(id)!));
    this.refreshOverlay();
    this.events.emit('change');
  }
}
