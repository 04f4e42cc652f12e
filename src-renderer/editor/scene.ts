import type { Geometry } from '../../src-main/common/model';

/**
 * The boundary between the editor (framework-free state and tools) and the canvas (Konva
 * drawing). The editor produces these plain values; `canvas/` draws them and reports pointer
 * events in image pixels. Neither side knows the other's internals.
 */

/** One annotation as drawn on the static layer. Coordinates are image pixels. */
export interface SceneShape {
  id: number;
  geometry: Geometry;
  /** #rrggbb of the class (or a neutral colour without class). */
  color: string;
  /** Predictions are drawn dashed so they are told apart from human labels. */
  prediction: boolean;
  /** A prediction's confidence (0..1), labelled on the canvas; absent for human shapes. */
  score?: number;
  /** Written on a tab in the shape's top-left corner: its class name and/or score (see editor/labels.ts). */
  label?: string;
  /** Drawn with a warning outline (e.g. a self-intersecting polygon). */
  flagged: boolean;
  /** Made by interpolation between key slices and not edited since: drawn dash-dotted. */
  interpolated?: boolean;
  /** Stacking order (higher is drawn above); shapes arrive sorted by z then id, this is for partial updates. */
  z?: number;
  /** Keypoints objects: their class's skeleton edges (0-based keypoint indexes), drawn as lines. */
  skeleton?: readonly (readonly [number, number])[];
}

/** Handles and the tool in progress, drawn on the overlay layer above the static shapes. */
export interface Overlay {
  /** Ids drawn highlighted (selected), and whose handles are shown. */
  selected: readonly number[];
  /** Shapes currently being dragged or edited are drawn here instead of on the static layer. */
  live: readonly SceneShape[];
  /** The shape a tool is creating (e.g. the box being dragged, the open polygon). */
  preview: { geometry: Geometry; color: string; open?: boolean } | null;
  /**
   * Vertex and resize handles, image pixels; drawn at a constant screen size. A `rotate` handle
   * is drawn on a stem from (x, y) a fixed number of screen pixels along the unit vector (dx, dy).
   */
  handles: readonly { x: number; y: number; kind: 'vertex' | 'resize' | 'edge' | 'close' | 'positive' | 'negative' | 'rotate'; dx?: number; dy?: number }[];
  /** Rubber-band selection rectangle. */
  marquee: { x: number; y: number; w: number; h: number } | null;
  /** Brush cursor for the mask tools. */
  brush: { x: number; y: number; radius: number; erase: boolean } | null;
  /**
   * The mask stroke being painted, as the path of the brush centre (flat x, y pairs, image
   * pixels): drawn as a round-capped line `radius` wide on each side, so painting stays cheap at
   * any image size. The mask it extends stays on the static layer until the stroke is stored.
   */
  stroke?: { points: readonly number[]; radius: number; erase: boolean; color: string } | null;
}

/** Screen pixels from a rotate handle's anchor to its knob, for the painter and the tools' hit tests alike. */
export const ROTATE_HANDLE_PX = 24;

export const EMPTY_OVERLAY: Overlay = { selected: [], live: [], preview: null, handles: [], marquee: null, brush: null };

/** A pointer event as the editor receives it: position in image pixels of the oriented image. */
export interface EditorPointerEvent {
  x: number;
  y: number;
  /** 0 primary, 1 middle, 2 secondary; -1 for a move with no button pressed (hover), as the browser reports it. */
  button: number;
  shift: boolean;
  ctrl: boolean;
  alt: boolean;
  /** Screen pixels per image pixel, so tools can use screen-sized tolerances (e.g. 6 px to hit a vertex). */
  zoom: number;
}

/** What a canvas offers the editor and the UI. Implemented by canvas/ImageViewer. */
export interface SceneView {
  /** Replaces every shape on the static layer. */
  setShapes(shapes: readonly SceneShape[]): void;
  /** Updates or removes some shapes; must not redraw the others (the benchmark counts this). */
  updateShapes(changed: readonly SceneShape[], removed: readonly number[]): void;
  /** Ids hidden from the static layer (hidden by the user, or drawn live on the overlay). */
  setHidden(ids: ReadonlySet<number>): void;
  setOverlay(overlay: Overlay): void;
  onPointer(handler: (type: 'down' | 'move' | 'up', e: EditorPointerEvent) => void): () => void;
  /** Whether the left button pans (no drawing tool active) or goes to the editor. */
  setLeftButtonPans(pans: boolean): void;
  /** Whether the right button goes to the editor (a tool that uses it) instead of panning. */
  setSecondaryToEditor?(on: boolean): void;
  /** Counters for the canvas benchmark: how often and how long the static layer was drawn. */
  stats(): { staticDraws: number; shapesDrawn: number; lastStaticDrawMs: number };
}
