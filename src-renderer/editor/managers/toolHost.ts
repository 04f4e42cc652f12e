import type { Editor } from '../Editor';
import { EMPTY_OVERLAY, type EditorPointerEvent, type Overlay } from '../scene';
import { boxHandles, polygonHandles } from '../shapes';
import { createTools } from '../tools';
import type { Tool, ToolId, ToolOverlay } from '../tools/Tool';
import { keypointHandles } from '../tools/keypoints/drag';
import { obbOverlayHandles } from '../tools/obb/geometry';
import { polylineHandles } from '../tools/polyline/geometry';

const DEFAULT_BRUSH_RADIUS = 8;

/** Tools that change nothing: the only ones a view-only image (Editor.readOnly) offers. */
export const VIEW_ONLY_TOOLS: readonly ToolId[] = ['pan', 'ruler'];

/**
 * The tools and the one that is active: pointer events and keys go to it, and what it draws is
 * combined with the selection and the actions in flight into the overlay.
 */
export class ToolHost {
  private readonly tools: Record<ToolId, Tool>;
  private toolId: ToolId = 'select';
  private toolOverlay: ToolOverlay = {};
  /** Shapes the active tool draws live on the overlay (not on the static layer meanwhile). */
  liveIds = new Set<number>();
  /** Last known pointer position, for the brush cursor after a key press. */
  lastPointer: EditorPointerEvent | null = null;
  brushRadius = DEFAULT_BRUSH_RADIUS;

  constructor(private readonly editor: Editor) {
    this.tools = createTools(editor);
  }

  get tool(): Tool {
    return this.tools[this.toolId];
  }

  get toolName(): ToolId {
    return this.toolId;
  }

  byId(id: ToolId): Tool {
    return this.tools[id];
  }

  /** What tools remember between gestures (the last click of the select tool) belongs to one image and frame. */
  forgetToolMemory(): void {
    for (const t of Object.values(this.tools)) t.forget();
  }

  pointer(type: 'down' | 'move' | 'up', e: EditorPointerEvent): void {
    this.lastPointer = e;
    if (!this.editor.image) return;
    if (type === 'down') {
      // Secondary and middle buttons belong to the context menu and panning, unless the tool takes the secondary one.
      if (e.button !== 0 && !(e.button === 2 && this.tool.takesSecondary)) return;
      this.tool.onPointerDown(e);
    } else if (type === 'move') this.tool.onPointerMove(e);
    else if (e.button === 0 || (e.button === 2 && this.tool.takesSecondary)) this.tool.onPointerUp(e);
  }

  setTool(id: ToolId): void {
    if (id === this.toolId) return;
    if (this.editor.readOnly && !VIEW_ONLY_TOOLS.includes(id)) {
      this.editor.refuse('This image is view only: its shapes cannot be changed');
      return;
    }
    this.tool.deactivate();
    this.toolId = id;
    this.tool.activate();
    this.editor.refreshOverlay();
    this.editor.events.emit('change');
  }

  /** Abandons the gesture in progress; returns false when there was none. */
  cancelGesture(): boolean {
    const had = this.tool.cancel();
    if (had) this.editor.refreshOverlay();
    return had;
  }

  setBrushRadius(r: number): void {
    this.brushRadius = Math.max(1, Math.min(500, Math.round(r)));
    this.tool.onPointerMove(this.lastPointer ?? { x: -1e6, y: -1e6, button: 0, shift: false, ctrl: false, alt: false, zoom: 1 });
    this.editor.say(`Brush radius ${this.brushRadius} px`);
    this.editor.events.emit('change');
  }

  /** Tools call this with what they draw; it is combined with the selection and in-flight actions. */
  setToolOverlay(o: ToolOverlay, liveIds: readonly number[] = []): void {
    const before = [...this.liveIds].join();
    this.toolOverlay = o;
    this.liveIds = new Set(liveIds);
    if ([...this.liveIds].join() !== before) this.editor.emitHidden();
    this.editor.refreshOverlay();
  }

  /** Handles of the selection, shown by the select tool when exactly one editable shape is selected. */
  selectionHandles(): Overlay['handles'] {
    const one = this.editor.singleSelected();
    if (!one || !this.editor.isEditable(one)) return [];
    if (one.geometry.kind === 'obb' && (this.toolId === 'select' || this.toolId === 'obb')) return obbOverlayHandles(one.geometry);
    if (this.toolId !== 'select') return [];
    if (one.geometry.kind === 'polyline') return polylineHandles(one.geometry);
    if (one.geometry.kind === 'box') return boxHandles(one.geometry).map((h) => ({ x: h.x, y: h.y, kind: 'resize' as const }));
    if (one.geometry.kind === 'polygon') return polygonHandles(one.geometry);
    if (one.geometry.kind === 'keypoints') return keypointHandles(one.geometry);
    return [];
  }

  /** The overlay now: the tool's drawing, the visible selection, handles and the actions in flight. */
  overlay(): Overlay {
    const t = this.toolOverlay;
    const docs = this.editor.annotations;
    const visibleSelected = this.editor.selection.filter((id) => {
      const a = docs.get(id);
      return a !== undefined && this.editor.isVisible(a);
    });
    return {
      ...EMPTY_OVERLAY,
      selected: visibleSelected,
      live: [...(t.live ?? []), ...this.editor.edits.liveShapes()],
      preview: t.preview ?? null,
      handles: t.handles ?? this.selectionHandles(),
      marquee: t.marquee ?? null,
      brush: t.brush ?? null,
      stroke: t.stroke ?? null,
    };
  }
}
