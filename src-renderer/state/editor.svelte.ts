import type { HistoryState } from '../../src-main/common/editing';
import type { AnnotationRecord, AttributeDef, ClassRecord, ImageListItem, KeypointSchema } from '../../src-main/common/model';
import { call, errorMessage } from '../bridge';
import { ACTIONS, connectView, Editor, enabled, handleKey, type Action, type ActionContext, type EditorBackend, type ToolId } from '../editor';
import type { SceneView } from '../editor/scene';
import { handleClassKey } from '../editor/classKeys';
import { app, type AppState } from './app.svelte';
import { SliceEdits } from './stacks.svelte';
import { versionView } from './versions.svelte';
import { curation } from './curation.svelte';

const NO_VERSION_HISTORY: HistoryState = { canUndo: false, canRedo: false, undoLabel: null, redoLabel: null };

/**
 * The editor's port over the bridge: the same contract entries the main process answers. While a
 * version is open (versionView) it reads the version's annotations and refuses every edit.
 */
const bridgeBackend: EditorBackend = {
  list: (imageId) => (versionView.current ? call('versions:annotations', { number: versionView.current.number, imageId }) : call('annotations:list', { imageId })),
  edit: (imageId, label, ops) => (versionView.current ? Promise.reject(versionView.refusal()) : call('annotations:edit', { imageId, label, ops })),
  undo: (imageId) => (versionView.current ? Promise.reject(versionView.refusal()) : call('annotations:undo', { imageId })),
  redo: (imageId) => (versionView.current ? Promise.reject(versionView.refusal()) : call('annotations:redo', { imageId })),
  history: (imageId) => (versionView.current ? Promise.resolve(NO_VERSION_HISTORY) : call('annotations:history', { imageId })),
  smart: {
    wand: (a) => call('smart:wand', a),
    grabcut: (a) => call('smart:grabcut', a),
    watershed: (a) => call('smart:watershed', a),
    scissors: (a) => call('smart:scissors', a),
  },
};

export interface ViewControls {
  fit(): void;
  oneToOne(): void;
  zoomBy(factor: number): void;
}

const ZOOM_STEP = 1.25;

/**
 * The editor as the panels see it: a reactive mirror of the framework-free Editor, refreshed on
 * its `change` event, plus what lives outside one image (classes, image status, navigation).
 */
export class EditorState {
  readonly editor = new Editor(bridgeBackend);
  tool = $state<ToolId>('select');
  activeClassId = $state<number | null>(null);
  selection = $state.raw<readonly number[]>([]);
  selected = $state.raw<AnnotationRecord[]>([]);
  tags = $state.raw<AnnotationRecord[]>([]);
  /** Annotations per class id on the current image's current frame (tags included), for the class panel. */
  counts = $state.raw<ReadonlyMap<number | null, number>>(new Map());
  history = $state.raw<HistoryState>({ canUndo: false, canRedo: false, undoLabel: null, redoLabel: null });
  pendingCount = $state(0);
  /** Whether an edit or an undo/redo step is still on its way to the dataset. */
  saving = $state(false);
  pendingError = $state<string | null>(null);
  brushRadius = $state(this.editor.brushRadius);
  hiddenClasses = $state.raw<ReadonlySet<number | null>>(new Set());
  lockedClasses = $state.raw<ReadonlySet<number | null>>(new Set());
  shortcutsOpen = $state(false);
  traceTolerance = $state(this.editor.traceTolerance);
  /** The open image is view only (team mode: someone else is editing it); see Editor.readOnly. */
  readOnly = $state(false);
  /** Stored changes applied to the open image so far (Editor.revision; a reload counts too). */
  revision = $state(0);
  /** Set by the class panel while its search box is on screen. */
  focusClassSearch: (() => boolean) | null = null;
  /** Bumped on every editor change so action predicates (read through `can`) are re-evaluated. */
  tick = $state(0);

  private ticks = 0;
  private seenRevision = 0;
  private badgeRevision = 0;
  private statusChanged = false;
  private view: ViewControls | null = null;
  private loadedImage: number | null = null;

  readonly ctx: ActionContext;
  /** Copying and interpolating shapes across slices. */
  readonly sliceEdits = new SliceEdits(this);

  constructor(private readonly appState: AppState) {
    const e = this.editor;
    e.events.on('change', () => this.sync());
    e.events.on('status', (s) => this.appState.say(s.text, s.kind));
    this.ctx = {
      editor: e,
      view: {
        fit: () => this.view?.fit(),
        oneToOne: () => this.view?.oneToOne(),
        zoomIn: () => this.view?.zoomBy(ZOOM_STEP),
        zoomOut: () => this.view?.zoomBy(1 / ZOOM_STEP),
      },
      nav: {
        next: () => this.appState.viewer.next(),
        previous: () => this.appState.viewer.previous(),
        close: () => this.appState.viewer.close(),
        nextUnlabeled: () => void this.findNext('unlabeled'),
        nextNotDone: () => void this.findNext('not_done'),
        nextInQueue: () => void this.nextInQueue(),
        markDone: () => void this.markDone(),
        stepFrame: (by) => this.appState.viewer.stepFrame(by),
        frames: () => this.appState.viewer.frames,
        slices: () => this.appState.viewer.slices,
      },
      slices: {
        propagate: () => this.sliceEdits.askPropagate(),
        interpolate: () => void this.sliceEdits.interpolate(),
      },
      ui: {
        toggleShortcuts: () => (this.shortcutsOpen = !this.shortcutsOpen),
        closeShortcuts: () => {
          if (!this.shortcutsOpen) return false;
          this.shortcutsOpen = false;
          return true;
        },
        focusClassSearch: () => this.focusClassSearch?.() ?? false,
      },
    };
  }

  private sync(): void {
    const e = this.editor;
    if (e.revision !== this.badgeRevision) {
      this.badgeRevision = e.revision;
      // The backend moves an image out of 'new' with its first edit; the badge follows without a refetch.
      const v = this.appState.viewer;
      if (v.item && v.item.id === e.image?.id && v.item.status === 'new') v.item = { ...v.item, status: 'in_progress' };
    }
    this.tool = e.toolName;
    this.activeClassId = e.activeClassId;
    this.selection = [...e.selection];
    this.selected = e.selectedRecords;
    this.tags = e.tags;
    const counts = new Map<number | null, number>();
    for (const a of e.annotations.values()) if (e.isOnFrame(a)) counts.set(a.classId, (counts.get(a.classId) ?? 0) + 1);
    this.counts = counts;
    this.history = e.history;
    this.pendingCount = e.pending.length;
    this.saving = e.historySettling;
    this.pendingError = e.pending[0]?.error ?? null;
    this.brushRadius = e.brushRadius;
    this.hiddenClasses = new Set(e.hiddenClasses);
    this.lockedClasses = new Set(e.lockedClasses);
    this.readOnly = e.readOnly;
    this.revision = e.revision;
    // Written from a plain counter: `tick++` would read the state, and sync runs inside effects.
    this.tick = ++this.ticks;
  }

  setTraceTolerance(px: number): void {
    if (!Number.isFinite(px) || px < 0) return;
    this.editor.traceTolerance = px;
    this.traceTolerance = px;
  }

  /** Whether an action can run now (reactive through `tick`). */
  can(a: Action): boolean {
    void this.tick;
    return enabled(a, this.ctx);
  }

  perform(a: Action): void {
    if (enabled(a, this.ctx)) void a.perform(this.ctx);
  }

  /** Connects a canvas and the view controls the actions use; returns the disconnect. */
  attach(view: SceneView, controls: ViewControls): () => void {
    this.view = controls;
    const off = connectView(this.editor, view);
    return () => {
      off();
      if (this.view === controls) this.view = null;
    };
  }

  /** Opens the image's annotations at `frame`; a repeated call for the image already open does nothing. */
  async open(item: ImageListItem, frame = 0): Promise<void> {
    if (this.loadedImage === item.id) return;
    this.loadedImage = item.id;
    try {
      await this.editor.load({ id: item.id, width: item.width, height: item.height, frames: item.frames }, frame);
    } catch (e) {
      this.appState.fail(e);
    }
  }

  /** Shapes were written to other images: the grid's counts are refreshed on the way back. */
  noteOutsideEdit(): void {
    this.statusChanged = true;
  }

  /** Reads the open image's shapes again, after they were written from outside the editor. */
  async reload(): Promise<void> {
    const item = this.appState.viewer.item;
    if (!item) return;
    this.loadedImage = null;
    await this.open(item, this.appState.viewer.frame);
  }

  /**
   * Back to the grid. Counts, statuses and class filters shown there are out of date once
   * something was stored, so the grid's list is fetched again then (and only then).
   */
  close(): void {
    this.loadedImage = null;
    this.shortcutsOpen = false;
    this.editor.unload();
    if (this.editor.revision !== this.seenRevision || this.statusChanged) {
      this.seenRevision = this.editor.revision;
      this.statusChanged = false;
      // Not when the whole dataset is closing: there is no list to refresh.
      if (this.appState.dataset.summary) void this.appState.dataset.refresh();
    }
  }

  setClasses(classes: readonly ClassRecord[]): void {
    this.editor.setClasses(classes);
  }

  /** A key press from the window; returns whether an action took it. */
  onKey(e: KeyboardEvent): boolean {
    const k = { key: e.key, ctrl: e.ctrlKey || e.metaKey, shift: e.shiftKey, alt: e.altKey };
    return handleKey(this.ctx, k) || handleClassKey(this.ctx, k);
  }

  toolActions(): Action[] {
    return ACTIONS.filter((a) => a.tool !== undefined);
  }

  // ---- image status and navigation ---------------------------------------------------------

  async markDone(): Promise<void> {
    const v = this.appState.viewer;
    const item = v.item;
    if (!item) return;
    try {
      await call('images:setStatus', { ids: [item.id], status: 'done' });
      this.statusChanged = true;
      if (v.item?.id === item.id) v.item = { ...item, status: 'done' };
      this.appState.say('Marked done');
    } catch (e) {
      this.appState.fail(e);
    }
  }

  /**
   * Opens the image after the open one in the queue of what to label next. The viewer walks the
   * grid's list, so the image is looked up there; when the grid's filter hides it, the grid shows
   * every image.
   */
  async nextInQueue(): Promise<void> {
    const v = this.appState.viewer;
    const ds = this.appState.dataset;
    const target = curation.forDataset(ds.summary?.path).after(v.item?.id ?? null);
    if (target === 'none') {
      this.appState.say('No queue: build one in Curate, What to label next');
      return;
    }
    if (target === null) {
      this.appState.say(`The queue is exhausted: this is its last image (${curation.queue!.ids.length}); build it again in Curate`);
      return;
    }
    try {
      let index = await call('images:locate', { filter: ds.filter, id: target });
      if (index === null) {
        ds.filter = {};
        ds.gridAnchor = 0;
        ds.focusAnchor = false;
        await ds.refresh();
        index = await call('images:locate', { filter: {}, id: target });
      }
      if (index === null) {
        this.appState.say(`Image ${target} of the queue is no longer in the dataset`, 'error');
        return;
      }
      await v.open(index, target);
    } catch (e) {
      this.appState.fail(e);
    }
  }

  async findNext(want: 'unlabeled' | 'not_done'): Promise<void> {
    const v = this.appState.viewer;
    try {
      const r = await call('images:findNext', { filter: this.appState.dataset.filter, afterId: v.item?.id, want });
      if (!r || r.id === v.item?.id) {
        this.appState.say(want === 'unlabeled' ? 'No other unlabeled image' : 'Every other image is done');
        return;
      }
      await v.open(r.index, r.id);
    } catch (e) {
      this.appState.fail(e);
    }
  }

  // ---- classes -----------------------------------------------------------------------------

  private async reloadClasses(): Promise<void> {
    const classes = await call('classes:list', {});
    this.appState.dataset.classes = classes;
    this.editor.setClasses(classes);
  }

  private async classCall(job: () => Promise<unknown>): Promise<boolean> {
    // A version shows the classes it froze: changing the dataset's classes from there would
    // change what is not on screen.
    if (versionView.current) {
      this.appState.say(versionView.refusal().message, 'error');
      return false;
    }
    try {
      await job();
      await this.reloadClasses();
      return true;
    } catch (e) {
      this.appState.say(errorMessage(e), 'error');
      return false;
    }
  }

  createClass(name: string, color?: string): Promise<boolean> {
    return this.classCall(async () => {
      const c = await call('classes:create', color ? { name, color } : { name });
      this.editor.setActiveClass(c.id);
    });
  }

  updateClass(id: number, patch: { name?: string; color?: string; hotkey?: string | null; attributes?: AttributeDef[] }): Promise<boolean> {
    return this.classCall(() => call('classes:update', { id, ...patch }));
  }

  /** Sets or clears a class's keypoint schema (refused while a change would break its keypoint objects). */
  setClassKeypoints(id: number, keypoints: KeypointSchema | null): Promise<boolean> {
    return this.classCall(() => call('classes:setKeypoints', { id, keypoints }));
  }

  /** Moves a class one place up or down; hotkeys 1-9 follow the order. */
  moveClass(id: number, by: -1 | 1): Promise<boolean> {
    const ids = this.editor.classes.map((c) => c.id);
    const i = ids.indexOf(id);
    const j = i + by;
    if (i < 0 || j < 0 || j >= ids.length) return Promise.resolve(false);
    [ids[i], ids[j]] = [ids[j]!, ids[i]!];
    return this.classCall(() => call('classes:reorder', { ids }));
  }

  /** Deletes a class, moving its annotations to `moveTo` or deleting them; the open image is reloaded. */
  async deleteClass(id: number, moveTo: number | null): Promise<boolean> {
    let result: { moved: number; deleted: number } | null = null;
    const ok = await this.classCall(async () => {
      result = await call('classes:delete', { id, moveTo });
    });
    if (ok && result) {
      const r: { moved: number; deleted: number } = result;
      this.appState.say(moveTo === null ? `Class deleted with ${r.deleted} annotations` : `Class deleted; ${r.moved} annotations moved`);
      const item = this.appState.viewer.item;
      if (item) {
        this.loadedImage = null;
        await this.open(item, this.appState.viewer.frame);
      }
    }
    return ok;
  }
}

export const editorState = new EditorState(app);
