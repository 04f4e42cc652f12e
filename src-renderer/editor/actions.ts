import type { Editor } from './Editor';
import { chordOf, type KeyInput } from './keys';
import type { ConvertTarget } from './masks';
import { splitNuclei } from './smart';
import { SKIP_KEY } from './tools/keypoints';
import type { ToolId } from './tools/Tool';

/**
 * What actions may act on besides the editor. The viewer and the app supply these; in unit tests
 * they are left out or faked, and actions needing them are unavailable.
 */
export interface ActionContext {
  editor: Editor;
  view?: { fit(): void; oneToOne(): void; zoomIn(): void; zoomOut(): void };
  nav?: {
    next(): void;
    previous(): void;
    close(): void;
    nextUnlabeled(): void;
    nextNotDone(): void;
    /** Opens the next image of the "what to label next" queue (Curate); unavailable without it. */
    nextInQueue?(): void;
    markDone(): void;
    /** Steps through the frames of a multi-frame image; frame actions are unavailable without it. */
    stepFrame?(by: number): void;
    /** Frames that can be shown (fewer than the image's when it is shown from its tile pyramid). */
    frames?(): number;
    /** Slices of the open image's stack (1 when it is in none): , and . step them too. */
    slices?(): number;
  };
  /** Shapes across slices (state/stacks.svelte.ts): unavailable without it. */
  slices?: {
    /** Asks how many next slices, then copies the selected shapes to them. */
    propagate(): void;
    /** Interpolates the selected box or polygon towards the nearest key slice. */
    interpolate(): void;
  };
  ui?: {
    toggleShortcuts(): void;
    closeShortcuts(): boolean;
    /** Puts the keyboard in the class search box; false where there is none on screen. */
    focusClassSearch?(): boolean;
  };
  /** Model-assisted labeling, supplied by state/models.svelte.ts; the review actions are unavailable without it. */
  review?: {
    canPrelabel(): boolean;
    prelabelImage(): void;
    accept(ids: readonly number[]): void;
    reject(ids: readonly number[]): void;
    acceptAbove(): void;
  };
  /**
   * Detector boxes to masks (state/boxesToMasks.svelte.ts): the selected boxes prompt the chosen
   * SAM model; unavailable without it.
   */
  masks?: {
    canRun(): boolean;
    fromBoxes(ids: readonly number[]): void;
  };
  /** Image review (state/review.svelte.ts): a verdict on the open image; unavailable without it. */
  verdict?: {
    /** The open image is done, reviewed or rejected, and no verdict is being sent. */
    canJudge(): boolean;
    accept(): void;
    /** Opens the comment box; the rejection is sent from there. */
    reject(): void;
  };
  /** Comments pinned on the image (state/comments.svelte.ts); unavailable without it. */
  comments?: {
    /** A comment on the selected shape, or at the next click on the image when none is selected. */
    add(): void;
  };
}

export type ActionGroup = 'Tools' | 'Edit' | 'Selection' | 'Classes' | 'Mask' | 'View' | 'Image' | 'Review' | 'Help';

/**
 * One user operation (Excalidraw's action): the toolbar, the keyboard, the context menu and the
 * shortcuts overlay all read these, so a key or a label is defined exactly once.
 */
export interface Action {
  id: string;
  label: string;
  group: ActionGroup;
  /** Canonical chords (see keys.ts chordOf), e.g. 'b', 'ctrl+z', 'shift+ctrl+z', '['. */
  keys: readonly string[];
  /** Whether the action can run now; disabled buttons and ignored keys otherwise. */
  predicate?: (ctx: ActionContext) => boolean;
  perform: (ctx: ActionContext) => unknown;
  /** Offered in the right-click menu (selection commands). */
  contextMenu?: boolean;
  /** For tool actions: the tool they activate, so the toolbar can show which is active. */
  tool?: ToolId;
}

const hasSelection = (c: ActionContext): boolean => c.editor.selection.length > 0;
const selectedPredictionIds = (c: ActionContext): number[] => c.editor.selectedRecords.filter((a) => a.source === 'model').map((a) => a.id);
const hasSelectedPrediction = (c: ActionContext): boolean => !!c.review && selectedPredictionIds(c).length > 0;
/** Selected boxes that are stored (a box still being saved has no id the backend knows yet). */
const selectedBoxIds = (c: ActionContext): number[] => c.editor.selectedRecords.filter((a) => a.kind === 'box' && a.id > 0).map((a) => a.id);
const hasImage = (c: ActionContext): boolean => c.editor.image !== null;
const samHoldsPrompt = (c: ActionContext): boolean => c.editor.toolName === 'sam' && c.editor.tool.busy;
const hasFrames = (c: ActionContext): boolean =>
  !!c.nav?.stepFrame && (Math.min(c.editor.frames, c.nav.frames?.() ?? Infinity) > 1 || (c.nav.slices?.() ?? 1) > 1);
/** Slices to copy or interpolate across: frames of the image or slices of its stack. */
// A shape still being saved counts: propagation and interpolation wait for the save (SliceEdits).
const sliceSelection = (kinds?: readonly string[]) => (c: ActionContext): boolean =>
  !!c.slices && hasFrames(c) && c.editor.selectedRecords.some((a) => a.kind !== 'tag' && (!kinds || kinds.includes(a.kind)));
const selectionHas = (kinds: readonly string[]) => (c: ActionContext) => c.editor.selectedRecords.some((a) => kinds.includes(a.kind));

function toolAction(tool: ToolId, label: string, key: string): Action {
  return { id: `tool.${tool}`, label, group: 'Tools', keys: [key], tool, perform: (c) => c.editor.setTool(tool) };
}

/** Hands a key to the tool that is drawing (Enter closes the polygon, Shift+Enter as a part). */
function toolKeyAction(id: string, label: string, key: string): Action {
  return { id, label, group: 'Edit', keys: [key], predicate: (c) => c.editor.tool.busy, perform: (c) => c.editor.toolKey(key) };
}

/** Converts the selected shapes of the kinds `from` to `to`. */
function convertAction(id: string, label: string, key: string, to: ConvertTarget, from: readonly string[]): Action {
  return { id, label, group: 'Selection', keys: [key], predicate: selectionHas(from), contextMenu: true, perform: (c) => c.editor.convertSelection(to) };
}

/** Accepts or rejects the selected model predictions. */
function predictionAction(verdict: 'accept' | 'reject', label: string, key: string): Action {
  return {
    id: `prediction.${verdict}`,
    label,
    group: 'Review',
    keys: [key],
    predicate: hasSelectedPrediction,
    contextMenu: true,
    perform: (c) => c.review?.[verdict](selectedPredictionIds(c)),
  };
}

/** A verdict on the open image. */
function imageVerdictAction(verdict: 'accept' | 'reject', label: string, key: string): Action {
  return { id: `image.${verdict}`, label, group: 'Review', keys: [key], predicate: (c) => !!c.verdict?.canJudge(), perform: (c) => c.verdict?.[verdict]() };
}

const CLASS_KEYS: Action[] = Array.from({ length: 9 }, (_, i) => ({
  id: `class.${i + 1}`,
  label: `Class ${i + 1}`,
  group: 'Classes' as const,
  keys: [String(i + 1)],
  predicate: (c: ActionContext) => c.editor.classes.length > i,
  perform: (c: ActionContext) => c.editor.pickClassByIndex(i),
}));

export const ACTIONS: readonly Action[] = [
  toolAction('select', 'Select and edit', 'v'),
  toolAction('box', 'Box', 'b'),
  toolAction('polygon', 'Polygon', 'p'),
  toolAction('brush', 'Mask brush', 'm'),
  toolAction('eraser', 'Mask eraser', 'e'),
  toolAction('point', 'Point', 'o'),
  toolAction('pan', 'Pan', 'h'),
  toolAction('wand', 'Magic wand (click; drag a box for GrabCut)', 'w'),
  toolAction('scissors', 'Intelligent scissors (click anchors; the outline follows edges)', 'i'),
  toolAction('sam', 'Segment: click (right click or Alt+click: background), drag a box', 's'),
  toolAction('obb', 'Rotated box (drag; then handles resize, the knob rotates, Shift snaps to 15°)', 'r'),
  toolAction('polyline', 'Polyline (click points; Enter or double click ends)', 'l'),
  toolAction('ellipse', 'Ellipse (drag; Shift for a circle), stored as a polygon', 'c'),
  toolAction('keypoints', 'Keypoints: click each in order (right click or Shift+click: not visible; J: skip; Enter: store)', 'k'),
  toolAction('ruler', 'Ruler: drag to measure (pixels, mm, metres); Esc clears', 'u'),

  { id: 'undo', label: 'Undo', group: 'Edit', keys: ['ctrl+z'], predicate: (c) => c.editor.history.canUndo || c.editor.historySettling, perform: (c) => c.editor.undo() },
  {
    id: 'redo',
    label: 'Redo',
    group: 'Edit',
    keys: ['shift+ctrl+z', 'ctrl+y'],
    // A step pressed while the previous one is still being answered is queued behind it (the
    // dataset then says "Nothing to redo" if there is none), not dropped on the stale state.
    predicate: (c) => c.editor.history.canRedo || c.editor.historySettling,
    perform: (c) => c.editor.redo(),
  },
  {
    id: 'retry',
    label: 'Retry saving',
    group: 'Edit',
    keys: ['ctrl+s'],
    predicate: (c) => c.editor.pending.length > 0,
    perform: (c) => c.editor.retryPending(),
  },
  toolKeyAction('finish', 'Close the polygon; store the segment mask', 'enter'),
  // Tab belongs to the segment tool while it holds a prompt (its mask candidates), else to the object list.
  {
    id: 'nextObject',
    label: 'Select the next object of the list (segment tool with a prompt: next mask candidate)',
    group: 'Selection',
    keys: ['tab'],
    predicate: (c) => samHoldsPrompt(c) || c.editor.objects.canCycle(),
    perform: (c) => (samHoldsPrompt(c) ? c.editor.toolKey('tab') : c.editor.objects.cycle(1)),
  },
  {
    id: 'previousObject',
    label: 'Select the previous object of the list (segment tool with a prompt: previous mask candidate)',
    group: 'Selection',
    keys: ['shift+tab'],
    predicate: (c) => samHoldsPrompt(c) || c.editor.objects.canCycle(),
    perform: (c) => (samHoldsPrompt(c) ? c.editor.toolKey('shift+tab') : c.editor.objects.cycle(-1)),
  },
  {
    id: 'keypointSkip',
    label: 'Skip the current keypoint (keypoints tool)',
    group: 'Edit',
    keys: [SKIP_KEY],
    predicate: (c) => c.editor.toolName === 'keypoints',
    perform: (c) => c.editor.toolKey(SKIP_KEY),
  },
  toolKeyAction('finishAsPart', 'Close the polygon as a part of the selected one', 'shift+enter'),
  {
    id: 'backspace',
    label: 'Remove the last vertex (while drawing), else delete',
    group: 'Edit',
    keys: ['backspace'],
    predicate: (c) => c.editor.tool.busy || hasSelection(c),
    perform: (c) => c.editor.toolKey('backspace') || c.editor.deleteSelected(),
  },
  {
    id: 'delete',
    label: 'Delete (the hovered vertex, else the selection)',
    group: 'Edit',
    keys: ['delete'],
    predicate: hasSelection,
    contextMenu: true,
    perform: (c) => c.editor.toolKey('delete') || c.editor.deleteSelected(),
  },
  {
    id: 'cancel',
    label: 'Cancel the drawing, else deselect, else back to the grid',
    group: 'Edit',
    keys: ['escape'],
    perform: (c) => {
      if (c.editor.cancelGesture()) return;
      if (c.ui?.closeShortcuts()) return;
      if (c.editor.clearSelection()) return;
      c.nav?.close();
    },
  },

  { id: 'selectAll', label: 'Select all', group: 'Selection', keys: ['ctrl+a'], predicate: hasImage, perform: (c) => c.editor.selectAll() },
  { id: 'duplicate', label: 'Duplicate', group: 'Selection', keys: ['ctrl+d'], predicate: hasSelection, contextMenu: true, perform: (c) => c.editor.duplicateSelected() },
  { id: 'copy', label: 'Copy', group: 'Selection', keys: ['ctrl+c'], predicate: hasSelection, contextMenu: true, perform: (c) => c.editor.copySelected() },
  { id: 'paste', label: 'Paste', group: 'Selection', keys: ['ctrl+v'], predicate: (c) => c.editor.clipboard !== null && hasImage(c), contextMenu: true, perform: (c) => c.editor.paste() },
  { id: 'front', label: 'Bring to front', group: 'Selection', keys: ['ctrl+]'], predicate: hasSelection, contextMenu: true, perform: (c) => c.editor.bringToFront() },
  { id: 'back', label: 'Send to back', group: 'Selection', keys: ['ctrl+['], predicate: hasSelection, contextMenu: true, perform: (c) => c.editor.sendToBack() },
  { id: 'hide', label: 'Hide or show the selection', group: 'Selection', keys: ['shift+h'], predicate: hasSelection, contextMenu: true, perform: (c) => c.editor.toggleHiddenSelection() },
  { id: 'showAll', label: 'Show all shapes', group: 'Selection', keys: ['alt+h'], predicate: hasImage, perform: (c) => c.editor.showAll() },
  { id: 'lock', label: 'Lock or unlock the selection', group: 'Selection', keys: ['shift+l'], predicate: hasSelection, contextMenu: true, perform: (c) => c.editor.toggleLockedSelection() },
  { id: 'unlockAll', label: 'Unlock all shapes', group: 'Selection', keys: ['alt+l'], predicate: hasImage, perform: (c) => c.editor.unlockAll() },
  convertAction('toMask', 'Convert to mask', 'shift+m', 'mask', ['polygon', 'box', 'obb']),
  convertAction('toPolygon', 'Convert to polygon', 'shift+p', 'polygon', ['mask', 'box', 'obb']),
  convertAction('boxFrom', 'Box from shape', 'shift+b', 'box', ['polygon', 'mask', 'obb']),

  ...CLASS_KEYS,
  {
    id: 'classSearch',
    label: 'Search the classes (type, ↑↓, Enter picks)',
    group: 'Classes',
    keys: ['/'],
    predicate: (c) => !!c.ui?.focusClassSearch,
    perform: (c) => c.ui?.focusClassSearch?.(),
  },

  { id: 'brushSmaller', label: 'Smaller brush', group: 'Mask', keys: ['['], perform: (c) => c.editor.setBrushRadius(c.editor.brushRadius * 0.8) },
  { id: 'brushLarger', label: 'Larger brush', group: 'Mask', keys: [']'], perform: (c) => c.editor.setBrushRadius(Math.max(c.editor.brushRadius + 1, c.editor.brushRadius * 1.25)) },
  {
    id: 'splitNuclei',
    label: 'Split nuclei (watershed) over the image or the selected box',
    group: 'Mask',
    keys: ['shift+w'],
    predicate: (c) => hasImage(c) && !!c.editor.backend.smart,
    perform: (c) => splitNuclei(c.editor),
  },
  {
    id: 'masksFromBoxes',
    label: 'Masks from the selected boxes (segment model)',
    group: 'Mask',
    keys: ['shift+s'],
    predicate: (c) => !!c.masks?.canRun() && selectedBoxIds(c).length > 0,
    contextMenu: true,
    perform: (c) => c.masks?.fromBoxes(selectedBoxIds(c)),
  },
  { id: 'fillHoles', label: 'Fill holes of the mask', group: 'Mask', keys: ['shift+f'], predicate: selectionHas(['mask']), contextMenu: true, perform: (c) => c.editor.fillHolesOfSelection() },

  { id: 'fit', label: 'Fit to window', group: 'View', keys: ['f', 'ctrl+0'], predicate: (c) => !!c.view, perform: (c) => c.view?.fit() },
  { id: 'oneToOne', label: 'Actual pixels', group: 'View', keys: ['ctrl+1'], predicate: (c) => !!c.view, perform: (c) => c.view?.oneToOne() },
  { id: 'zoomIn', label: 'Zoom in', group: 'View', keys: ['+', '='], predicate: (c) => !!c.view, perform: (c) => c.view?.zoomIn() },
  { id: 'zoomOut', label: 'Zoom out', group: 'View', keys: ['-'], predicate: (c) => !!c.view, perform: (c) => c.view?.zoomOut() },

  { id: 'next', label: 'Next image', group: 'Image', keys: ['arrowright', 'd'], predicate: (c) => !!c.nav, perform: (c) => c.nav?.next() },
  { id: 'previous', label: 'Previous image', group: 'Image', keys: ['arrowleft', 'a'], predicate: (c) => !!c.nav, perform: (c) => c.nav?.previous() },
  {
    id: 'previousFrame',
    label: 'Previous frame (Alt+wheel)',
    group: 'Image',
    keys: [','],
    predicate: hasFrames,
    perform: (c) => c.nav?.stepFrame?.(-1),
  },
  { id: 'nextFrame', label: 'Next frame (Alt+wheel)', group: 'Image', keys: ['.'], predicate: hasFrames, perform: (c) => c.nav?.stepFrame?.(1) },
  { id: 'propagate', label: 'Copy the selection to the next slices…', group: 'Selection', keys: ['>'], predicate: sliceSelection(), contextMenu: true, perform: (c) => c.slices?.propagate() },
  {
    id: 'interpolate',
    label: 'Interpolate to the nearest key slice',
    group: 'Selection',
    keys: ['shift+i'],
    predicate: sliceSelection(['box', 'polygon']),
    contextMenu: true,
    perform: (c) => c.slices?.interpolate(),
  },
  { id: 'markDone', label: 'Mark the image done', group: 'Image', keys: ['ctrl+enter'], predicate: (c) => !!c.nav && hasImage(c), perform: (c) => c.nav?.markDone() },
  { id: 'nextUnlabeled', label: 'Next unlabeled image', group: 'Image', keys: ['n'], predicate: (c) => !!c.nav, perform: (c) => c.nav?.nextUnlabeled() },
  { id: 'nextNotDone', label: 'Next image not done', group: 'Image', keys: ['shift+n'], predicate: (c) => !!c.nav, perform: (c) => c.nav?.nextNotDone() },
  { id: 'nextInQueue', label: 'Next image of the queue (Curate, what to label next)', group: 'Image', keys: ['alt+n'], predicate: (c) => !!c.nav?.nextInQueue, perform: (c) => c.nav?.nextInQueue?.() },

  // 'a' already steps back an image, so accepting is Y (yes) and rejecting X, next to each other.
  {
    id: 'prelabel.image',
    label: 'Pre-label this image with the model',
    group: 'Review',
    keys: ['shift+a'],
    predicate: (c) => hasImage(c) && !!c.review?.canPrelabel(),
    perform: (c) => c.review?.prelabelImage(),
  },
  predictionAction('accept', 'Accept the selected predictions', 'y'),
  predictionAction('reject', 'Reject the selected predictions', 'x'),
  {
    id: 'prediction.acceptAbove',
    label: 'Accept every prediction shown on this image',
    group: 'Review',
    keys: ['shift+y'],
    predicate: (c) => !!c.review && c.editor.predictions.length > 0,
    perform: (c) => c.review?.acceptAbove(),
  },

  // Alt with Enter and Backspace: the same keys on every layout, and next to Ctrl+Enter (mark done).
  imageVerdictAction('accept', 'Accept the image as reviewed', 'alt+enter'),
  imageVerdictAction('reject', 'Reject the image, with a comment', 'alt+backspace'),
  {
    id: 'comment.add',
    label: 'Comment on the selected shape, else on the next point clicked',
    group: 'Review',
    keys: ['shift+c'],
    predicate: (c) => hasImage(c) && !!c.comments,
    contextMenu: true,
    perform: (c) => c.comments?.add(),
  },

  { id: 'shortcuts', label: 'Keyboard shortcuts', group: 'Help', keys: ['?'], predicate: (c) => !!c.ui, perform: (c) => c.ui?.toggleShortcuts() },
];

const BY_ID = new Map(ACTIONS.map((a) => [a.id, a]));
const BY_CHORD = new Map<string, Action>();
for (const a of ACTIONS) for (const k of a.keys) if (!BY_CHORD.has(k)) BY_CHORD.set(k, a);

export function action(id: string): Action {
  const a = BY_ID.get(id);
  if (!a) throw new Error(`no action "${id}"`);
  return a;
}

export function actionForChord(chord: string): Action | undefined {
  return BY_CHORD.get(chord);
}

/**
 * The actions a view-only image (Editor.readOnly) keeps: looking, navigating, commenting and
 * reviewing; everything else changes shapes and is unavailable, by button and by key.
 */
export const VIEW_ONLY_ACTIONS: ReadonlySet<string> = new Set([
  'tool.pan',
  'tool.ruler',
  'cancel',
  'showAll',
  'classSearch',
  'fit',
  'oneToOne',
  'zoomIn',
  'zoomOut',
  'next',
  'previous',
  'previousFrame',
  'nextFrame',
  'nextUnlabeled',
  'nextNotDone',
  'nextInQueue',
  'image.accept',
  'image.reject',
  'comment.add',
  'shortcuts',
]);

export function enabled(a: Action, ctx: ActionContext): boolean {
  if (ctx.editor.readOnly && !VIEW_ONLY_ACTIONS.has(a.id)) return false;
  return a.predicate ? a.predicate(ctx) : true;
}

/** Runs the action a key press is bound to; returns whether one ran (so the caller can preventDefault). */
export function handleKey(ctx: ActionContext, k: KeyInput): boolean {
  const a = actionForChord(chordOf(k));
  if (!a || !enabled(a, ctx)) return false;
  void a.perform(ctx);
  return true;
}

/** Every chord bound more than once, as 'chord: id, id'; empty when the bindings are unambiguous. */
export function duplicateBindings(actions: readonly Action[] = ACTIONS): string[] {
  const seen = new Map<string, string[]>();
  for (const a of actions) for (const k of a.keys) seen.set(k, [...(seen.get(k) ?? []), a.id]);
  return [...seen].filter(([, ids]) => ids.length > 1).map(([k, ids]) => `${k}: ${ids.join(', ')}`);
}
