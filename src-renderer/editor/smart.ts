import type { EditOp, EditResult } from '../../src-main/common/editing';
import type { Geometry } from '../../src-main/common/model';
import type { Rle } from '../../src-main/common/geometry/rle';
import type { Editor } from './Editor';
import { convertGeometry } from './masks';

/** A box prompt in image pixels (common/segment.ts SegmentBox). */
export interface SegmentBox {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

/** A mask over the whole image as the smart tools return it (common/segment.ts SegmentMask). */
export interface SegmentMask {
  rle: Rle;
  area: number;
  bbox: [number, number, number, number];
  score: number;
}

/**
 * The classical smart tools as the editor reaches them: the `smart:*` contract entries (OpenCV in
 * the main process). Optional in EditorBackend: without it the wand tool and "Split nuclei" say
 * they are unavailable.
 */
export interface SmartBackend {
  wand(a: { imageId: number; frame: number; x: number; y: number; tolerance: number }): Promise<SegmentMask>;
  grabcut(a: { imageId: number; frame: number; box: SegmentBox; iterations?: number }): Promise<SegmentMask>;
  watershed(a: { imageId: number; frame: number; box?: SegmentBox; split?: boolean }): Promise<{ instances: SegmentMask[]; threshold: number }>;
  scissors(a: { imageId: number; frame: number; from: { x: number; y: number }; to: { x: number; y: number } }): Promise<{ points: number[] }>;
}

/** What the smart tools commit and how the wand compares colours. */
export interface SmartSettings {
  /** Magic wand: how far (0-255, per channel of the displayed pixels) a pixel may differ from the clicked one. */
  tolerance: number;
  /** Shapes committed as masks (RLE), or as polygons traced with the editor's trace tolerance. */
  commitAs: 'mask' | 'polygon';
}

export const DEFAULT_SMART: SmartSettings = { tolerance: 32, commitAs: 'mask' };

/** The geometry a smart tool's mask is committed as, or null (with the reason said) when it has none. */
export function smartGeometry(editor: Editor, m: SegmentMask): Geometry | null {
  if (m.area === 0) {
    editor.refuse('The smart tool found no region there');
    return null;
  }
  const mask: Geometry = { kind: 'mask', rle: m.rle };
  if (editor.smart.commitAs === 'mask' || !editor.image) return mask;
  const g = convertGeometry(mask, 'polygon', editor.image, editor.traceTolerance);
  if (typeof g === 'string') {
    editor.refuse(`Not saved: ${g}`);
    return null;
  }
  return g;
}

/**
 * Splits touching nuclei: a threshold and distance-transform watershed over the image, or over
 * the selected box, whose instances are stored as shapes of the active class in one edit (one
 * undo step).
 */
export async function splitNuclei(editor: Editor): Promise<EditResult | null> {
  const image = editor.image;
  const smart = editor.backend.smart;
  if (!image || !smart) return null;
  const sel = editor.selectedRecords;
  const g = sel.length === 1 ? sel[0]!.geometry : null;
  const box = g?.kind === 'box' ? { x0: g.x, y0: g.y, x1: g.x + g.w, y1: g.y + g.h } : undefined;
  const frame = editor.frame;
  let found: { instances: SegmentMask[]; threshold: number };
  try {
    found = await smart.watershed({ imageId: image.id, frame, split: true, ...(box ? { box } : {}) });
  } catch (e) {
    editor.refuse(`Split nuclei failed: ${e instanceof Error ? e.message : String(e)}`);
    return null;
  }
  // The image or frame changed while the watershed ran: its shapes belong to the other one.
  if (editor.image !== image || editor.frame !== frame) {
    editor.say(`Split nuclei: frame ${frame + 1} was left before the nuclei were found; nothing was stored`);
    return null;
  }
  if (found.instances.length === 0) {
    editor.say(`No nuclei found (threshold ${found.threshold})`);
    return null;
  }
  let z = editor.topZ();
  const ops: EditOp[] = [];
  for (const m of found.instances) {
    const geometry = smartGeometry(editor, m);
    if (!geometry || !editor.accept(geometry)) continue;
    ops.push({ op: 'create', draft: { classId: editor.activeClassId, geometry, frame, z: ++z, attributes: editor.defaultAttributes(editor.activeClassId) } });
  }
  editor.say(`${ops.length} nuclei found (threshold ${found.threshold})`);
  return editor.commit(`Split nuclei (${ops.length})`, ops, { select: 'created' });
}
