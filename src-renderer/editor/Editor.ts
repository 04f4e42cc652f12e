import type { AnnotationDraft, EditOp, EditResult, HistoryState } from '../../src-main/common/editing';
import type { AnnotationRecord, AttributeValue, ClassRecord, Geometry } from '../../src-main/common/model';
import { validateGeometry } from '../../src-main/common/geometry/shapes';
import type { EditorBackend } from './backend';
import { Emitter } from './emitter';
import type { ConvertTarget } from './masks';
import type { EditorPointerEvent, Overlay, SceneShape } from './scene';
import { DEFAULT_SMART, type SmartSettings } from './smart';
import type { Tool, ToolId, ToolOverlay } from './tools/Tool';
import type { SamTool, Segmenter } from './tools/sam';
import { ClipboardManager, type ClipboardContent } from './managers/clipboard';
import { DocumentManager } from './managers/document';
import { ShapeCommands } from './managers/commands';
import { HistoryManager, type PendingAction } from './managers/history';
import { ObjectList } from './managers/objects';
import { SelectionManager, type SelectMode } from './managers/selection';
import { ToolHost, VIEW_ONLY_TOOLS } from './managers/toolHost';
import { ViewportManager } from './managers/viewport';
import { VisibilityManager } from './managers/visibility';
import type { LabelMode } from './labels';

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

export type { ClipboardContent, PendingAction };

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

/**
 * The annotation editor for one image at a time, free of any framework. Its parts are managers
 * of their own, as in tldraw's editor: the document (DocumentManager: the image's annotations as
 * readonly records keyed by id), the selection, the history (saving, undo and redo), the tool
 * host, the viewport, visibility and locking, the clipboard, the commands on shapes and the object
 * list. The
 * editor's methods delegate to them, so callers need not know which part does what. Every
 * completed user action is one `edit` call on the backend (see HistoryManager).
 */
export class Editor {
  readonly events = new Emitter<EditorEvents>();
  image: EditorImage | null = null;
  /**
   * The frame being edited. Shapes belong to one frame: only the current frame's shapes are
   * drawn, hit, selected and counted, and new shapes are stored on it. Tags belong to the image.
   */
  frame = 0;
  private classList: ClassRecord[] = [];
  activeClassId: number | null = null;
  /** What each shape's tab shows on the canvas (see labels.ts). */
  labelMode: LabelMode = 'both';
  /** How far (image pixels) a traced outline may stray from the mask when converting to a polygon. */
  traceTolerance = 1;
  /** The smart tools' settings: the wand's tolerance, and whether they commit masks or polygons. */
  readonly smart: SmartSettings = { ...DEFAULT_SMART };
  /** Counts stored changes (edits, undos, redos) applied since the editor was made. */
  revision = 0;
  /**
   * View only: someone else is editing the image (team mode, the image's lease is theirs). No
   * edit, undo or redo is sent, only the tools that change nothing can be chosen, and the
   * actions that edit are unavailable (see actions.ts VIEW_ONLY_ACTIONS).
   */
  readOnly = false;
  /** The prompt-driven segmentation model behind the segment tool; null where there is none. */
  segmenter: Segmenter | null = null;

  /** The image's annotations, loading and applying what the backend stored. */
  readonly store: DocumentManager;
  readonly selectionManager: SelectionManager;
  readonly visibility: VisibilityManager;
  /** Saving, undo and redo. */
  readonly edits: HistoryManager;
  readonly clipboardManager: ClipboardManager;
  readonly commands: ShapeCommands;
  readonly viewport: ViewportManager;
  /** The object list's order, filters and picking (Tab cycles through it). */
  readonly objects: ObjectList;
  readonly toolHost: ToolHost;

  constructor(readonly backend: EditorBackend) {
    this.store = new DocumentManager(this);
    this.selectionManager = new SelectionManager(this);
    this.visibility = new VisibilityManager(this);
    this.edits = new HistoryManager(this);
    this.clipboardManager = new ClipboardManager(this);
    this.commands = new ShapeCommands(this);
    this.viewport = new ViewportManager(this);
    this.objects = new ObjectList(this);
    // Last: tools may read the rest of the editor when they are made.
    this.toolHost = new ToolHost(this);
  }

  // ---- document ----------------------------------------------------------------------------

  get annotations(): ReadonlyMap<number, AnnotationRecord> {
    return this.store.records;
  }

  get classes(): readonly ClassRecord[] {
    return this.classList;
  }

  get selection(): readonly number[] {
    return this.selectionManager.ids;
  }

  get selectedRecords(): AnnotationRecord[] {
    return this.selectionManager.records;
  }

  /** Image-level tags (classification labels) of the current image; a model's tag predictions are not among them until accepted. */
  get tags(): AnnotationRecord[] {
    return [...this.store.records.values()].filter((a) => a.kind === 'tag' && a.source !== 'model');
  }

  get tool(): Tool {
    return this.toolHost.tool;
  }

  get toolName(): ToolId {
    return this.toolHost.toolName;
  }

  /** The segment tool, whose prompt and answer the toolbar shows. */
  get samTool(): SamTool {
    return this.toolHost.byId('sam') as SamTool;
  }

  get history(): HistoryState {
    return this.edits.state;
  }

  /** Whether an edit or an undo/redo step is still on its way (the history state may be about to change). */
  get historySettling(): boolean {
    return this.edits.settling;
  }

  /** Failed actions waiting for a retry, oldest first. */
  get pending(): PendingAction[] {
    return this.edits.pending;
  }

  get clipboard(): ClipboardContent | null {
    return this.clipboardManager.content;
  }

  get brushRadius(): number {
    return this.toolHost.brushRadius;
  }

  /** Last known pointer position, for the brush cursor after a key press. */
  get lastPointer(): EditorPointerEvent | null {
    return this.toolHost.lastPointer;
  }

  get hiddenIds(): Set<number> {
    return this.visibility.hiddenIds;
  }

  get lockedIds(): Set<number> {
    return this.visibility.lockedIds;
  }

  get hiddenClasses(): Set<number | null> {
    return this.visibility.hiddenClasses;
  }

  get lockedClasses(): Set<number | null> {
    return this.visibility.lockedClasses;
  }

  get predictionThreshold(): number {
    return this.visibility.predictionThreshold;
  }

  idle(): Promise<void> {
    return this.edits.idle();
  }

  load(image: EditorImage, frame = 0): Promise<void> {
    return this.store.load(image, frame);
  }

  unload(): void {
    this.store.unload();
  }

  get frames(): number {
    return Math.max(1, this.image?.frames ?? 1);
  }

  /** Edits another frame of the image; returns whether the frame changed (see DocumentManager.setFrame). */
  setFrame(frame: number): boolean {
    return this.store.setFrame(frame);
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
    return this.store.toScene(a);
  }

  /** Drawable shapes of the current frame in stacking order (z, then id); tags are not drawn. */
  ordered(): AnnotationRecord[] {
    return [...this.store.records.values()].filter((a) => a.kind !== 'tag' && a.frame === this.frame).sort((a, b) => a.z - b.z || a.id - b.id);
  }

  isVisible(a: AnnotationRecord): boolean {
    return this.visibility.isVisible(a);
  }

  /** Visible predictions of the current image (those the slider lets through). */
  get predictions(): AnnotationRecord[] {
    return [...this.store.records.values()].filter((a) => a.source === 'model' && this.isVisible(a));
  }

  isEditable(a: AnnotationRecord): boolean {
    return this.visibility.isEditable(a);
  }

  /**
   * A position moved onto the image: shapes are drawn by image pixels, and a corner or vertex
   * dropped past the edge means "up to the edge".
   */
  clamp(p: { x: number; y: number }): { x: number; y: number } {
    if (!this.image) return { x: p.x, y: p.y };
    return { x: Math.min(this.image.width, Math.max(0, p.x)), y: Math.min(this.image.height, Math.max(0, p.y)) };
  }

  hitsAt(x: number, y: number, zoom: number): AnnotationRecord[] {
    return this.selectionManager.hitsAt(x, y, zoom);
  }

  /** The shape a click at (x, y) picks: the smallest visible, unlocked shape there (see hitsAt). */
  hitTest(x: number, y: number, zoom: number): AnnotationRecord | null {
    return this.hitsAt(x, y, zoom)[0] ?? null;
  }

  selectForMenu(x: number, y: number, zoom: number): void {
    this.selectionManager.selectForMenu(x, y, zoom);
  }

  // ---- events to the view ------------------------------------------------------------------

  /** What a view needs to draw the editor now (a view connecting late). */
  snapshot(): { scene: SceneShape[]; hidden: Set<number>; overlay: Overlay } {
    return { scene: this.ordered().map((a) => this.toScene(a)), hidden: this.visibility.hiddenSet(), overlay: this.toolHost.overlay() };
  }

  emitScene(): void {
    this.events.emit('scene', this.ordered().map((a) => this.toScene(a)));
    this.emitHidden();
    this.refreshOverlay();
    this.events.emit('change');
  }

  emitHidden(): void {
    this.events.emit('hidden', this.visibility.hiddenSet());
  }

  setToolOverlay(o: ToolOverlay, liveIds: readonly number[] = []): void {
    this.toolHost.setToolOverlay(o, liveIds);
  }

  selectionHandles(): Overlay['handles'] {
    return this.toolHost.selectionHandles();
  }

  singleSelected(): AnnotationRecord | null {
    return this.selectionManager.single();
  }

  refreshOverlay(): void {
    this.events.emit('overlay', this.toolHost.overlay());
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
    this.toolHost.pointer(type, e);
  }

  /** Offers a key to the active tool's gesture (Enter, Backspace, Delete, Escape...). */
  toolKey(chord: string): boolean {
    return this.tool.onKey(chord);
  }

  setTool(id: ToolId): void {
    this.toolHost.setTool(id);
  }

  /** Makes the image view only, or editable again (see readOnly). */
  setReadOnly(on: boolean): void {
    if (on === this.readOnly) return;
    if (on) {
      this.cancelGesture();
      this.readOnly = true;
      this.select([]);
      if (!VIEW_ONLY_TOOLS.includes(this.toolName)) this.toolHost.setTool('pan');
    } else {
      this.readOnly = false;
      if (this.toolName === 'pan') this.toolHost.setTool('select');
    }
    this.refreshOverlay();
    this.events.emit('change');
  }

  cancelGesture(): boolean {
    return this.toolHost.cancelGesture();
  }

  setLabelMode(mode: LabelMode): void {
    if (mode === this.labelMode) return;
    this.labelMode = mode;
    this.emitScene();
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
  dropDrawnOfOtherClass(): void {
    if (this.selectionManager.drawn && this.selectedRecords.some((a) => a.classId !== this.activeClassId)) this.select([]);
  }

  setBrushRadius(r: number): void {
    this.toolHost.setBrushRadius(r);
  }

  // ---- selection ---------------------------------------------------------------------------

  /** Sets the selection as the user picked it (a click, a rectangle, Ctrl+A, the menu...). */
  select(ids: readonly number[], mode: SelectMode = 'replace'): void {
    this.selectionManager.select(ids, mode);
  }

  clearSelection(): boolean {
    return this.selectionManager.clear();
  }

  selectAll(): void {
    this.selectionManager.selectAll();
  }

  idsInRect(r: { x: number; y: number; w: number; h: number }): number[] {
    return this.selectionManager.idsInRect(r);
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
    return this.edits.commit(label, ops, opts);
  }

  reloadIf(imageId: number): Promise<void> {
    return this.store.reloadIf(imageId);
  }

  retryPending(): Promise<void> {
    return this.edits.retryPending();
  }

  discardPending(): void {
    this.edits.discardPending();
  }

  apply(r: Pick<EditResult, 'changed' | 'deleted'>): void {
    this.store.apply(r);
  }

  undo(): Promise<void> {
    return this.edits.step('undo');
  }

  redo(): Promise<void> {
    return this.edits.step('redo');
  }

  // ---- commands on the selection -----------------------------------------------------------

  editableSelection(): AnnotationRecord[] {
    return this.selectedRecords.filter((a) => this.isEditable(a));
  }

  nothingSelected(what: string): null {
    this.say(`Select ${what} first`, 'error');
    return null;
  }

  deleteSelected(): Promise<EditResult | null> {
    return this.commands.deleteSelected();
  }

  moveShapes(ids: readonly number[], dx: number, dy: number): Promise<EditResult | null> {
    return this.commands.moveShapes(ids, dx, dy);
  }

  /** Replaces one shape's geometry (a vertex drag, a resize, a painted stroke). */
  updateGeometry(id: number, geometry: Geometry, label: string): Promise<EditResult | null> {
    return this.commands.updateGeometry(id, geometry, label);
  }

  /** Creates a shape of the active class (a drawing tool finishing its gesture). */
  create(geometry: Geometry, label: string): Promise<EditResult | null> {
    return this.commands.create(geometry, label);
  }

  defaultAttributes(classId: number | null): Record<string, AttributeValue> {
    return this.commands.defaultAttributes(classId);
  }

  topZ(): number {
    return this.commands.topZ();
  }

  duplicateSelected(): Promise<EditResult | null> {
    return this.clipboardManager.duplicateSelected();
  }

  copySelected(): boolean {
    return this.clipboardManager.copySelected();
  }

  paste(): Promise<EditResult | null> {
    return this.clipboardManager.paste();
  }

  bringToFront(): Promise<EditResult | null> {
    return this.commands.bringToFront();
  }

  sendToBack(): Promise<EditResult | null> {
    return this.commands.sendToBack();
  }

  setClassOfSelection(classId: number | null): Promise<EditResult | null> {
    return this.commands.setClassOfSelection(classId);
  }

  /** Keys 1-9: the class of the next shape, and of the shapes the user selected (see ShapeCommands). */
  pickClassByIndex(index: number): Promise<EditResult | null> {
    return this.commands.pickClassByIndex(index);
  }

  setAttribute(id: number, name: string, value: AttributeValue): Promise<EditResult | null> {
    return this.commands.setAttribute(id, name, value);
  }

  toggleTag(classId: number): Promise<EditResult | null> {
    return this.commands.toggleTag(classId);
  }

  convertSelection(target: ConvertTarget, tolerancePx = this.traceTolerance): Promise<EditResult | null> {
    return this.commands.convertSelection(target, tolerancePx);
  }

  fillHolesOfSelection(): Promise<EditResult | null> {
    return this.commands.fillHolesOfSelection();
  }

  // ---- visibility (UI state, never stored) -------------------------------------------------

  toggleHiddenSelection(): void {
    this.visibility.toggleHiddenSelection();
  }

  showAll(): void {
    this.visibility.showAll();
  }

  toggleLockedSelection(): void {
    this.visibility.toggleLockedSelection();
  }

  unlockAll(): void {
    this.visibility.unlockAll();
  }

  setClassHidden(classId: number | null, hidden: boolean): void {
    this.visibility.setClassHidden(classId, hidden);
  }

  setPredictionThreshold(t: number): void {
    this.visibility.setPredictionThreshold(t);
  }

  /** Fetches the open image's annotations again (pre-labeling and review change them outside the editor). */
  reload(): Promise<void> {
    return this.store.reload();
  }

  setClassLocked(classId: number | null, locked: boolean): void {
    this.visibility.setClassLocked(classId, locked);
  }
}
