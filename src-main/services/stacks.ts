import { AppError } from '../common/errors';
import type { EditOp } from '../common/editing';
import { interpolateGeometry } from '../common/geometry/interpolate';
import type { AnnotationRecord } from '../common/model';
import { INTERPOLATED_ATTRIBUTE, isInterpolated, type SliceEditSummary, type SliceRef } from '../common/stacks';
import { getAnnotationsByIds, listAnnotations } from '../db/annotations';
import { slicesOf } from '../db/stacks';
import { editAnnotations } from './annotations';
import type { Dataset } from './dataset';

/**
 * Propagation and interpolation across slices: the frames of a multi-frame image, or the frames
 * of each file of a stack, in order (slicesOf). Each image written to gets one edit (one journal
 * entry, so one undo step on that image), all in one transaction: a failure writes nothing.
 */


function indexOfSlice(slices: readonly SliceRef[], imageId: number, frame: number): number {
  return slices.findIndex((s) => s.imageId === imageId && s.frame === frame);
}

function requireShapes(ds: Dataset, imageId: number, ids: readonly number[]): AnnotationRecord[] {
  const found = getAnnotationsByIds(ds.db, ids);
  return ids.map((id) => {
    const a = found.get(id);
    if (!a || a.imageId !== imageId) throw new AppError('NOT_FOUND', `annotation ${id} is not an annotation of image ${imageId}`, { id, imageId });
    if (a.kind === 'tag') throw new AppError('INVALID_ARGUMENT', `annotation ${id} is an image tag, which belongs to no slice`, { id });
    return a;
  });
}

/** Writes the creates grouped per image, one edit each, in one transaction. */
function writePerImage(ds: Dataset, label: string, creates: { slice: SliceRef; op: Extract<EditOp, { op: 'create' }> }[], extraOps: Map<number, EditOp[]> = new Map()): SliceEditSummary {
  const byImage = new Map<number, { slices: SliceRef[]; ops: EditOp[] }>();
  for (const [imageId, ops] of extraOps) byImage.set(imageId, { slices: [], ops: [...ops] });
  for (const c of creates) {
    const e = byImage.get(c.slice.imageId) ?? { slices: [], ops: [] };
    e.ops.push(c.op);
    e.slices.push(c.slice);
    byImage.set(c.slice.imageId, e);
  }
  const shapes: SliceEditSummary['shapes'] = [];
  ds.db.transaction(() => {
    for (const [imageId, e] of byImage) {
      const r = editAnnotations(ds, { imageId, label, ops: e.ops });
      let k = 0;
      e.ops.forEach((op) => {
        if (op.op !== 'create') return;
        shapes.push({ id: r.created[k++]!, imageId, frame: op.draft.frame ?? 0 });
      });
    }
  })();
  const slices = new Set(creates.map((c) => `${c.slice.imageId}:${c.slice.frame}`)).size;
  return { slices, created: creates.length, images: byImage.size, shapes };
}

/**
 * Copies shapes of one slice to the next `count` slices (fewer at the end of the stack or image).
 * Copies keep class, geometry, attributes and z; an interpolated shape's copy is a key shape.
 */
export function propagateShapes(ds: Dataset, args: { imageId: number; frame: number; ids: readonly number[]; count: number }): SliceEditSummary {
  const shapes = requireShapes(ds, args.imageId, args.ids);
  const bad = shapes.find((a) => a.frame !== args.frame);
  if (bad) throw new AppError('INVALID_ARGUMENT', `annotation ${bad.id} is on frame ${bad.frame}, not on frame ${args.frame}`, { id: bad.id });
  const slices = slicesOf(ds.db, args.imageId);
  const at = indexOfSlice(slices, args.imageId, args.frame);
  if (at < 0) throw new AppError('INVALID_ARGUMENT', `frame ${args.frame} does not exist on image ${args.imageId}`, { frame: args.frame });
  const targets = slices.slice(at + 1, at + 1 + args.count);
  if (targets.length === 0) throw new AppError('INVALID_ARGUMENT', 'this is the last slice: there is no next slice to copy to', {});
  const creates = targets.flatMap((slice) =>
    shapes.map((a) => {
      const { [INTERPOLATED_ATTRIBUTE]: _mark, ...attributes } = a.attributes;
      return { slice, op: { op: 'create' as const, draft: { classId: a.classId, geometry: a.geometry, frame: slice.frame, attributes, z: a.z } } };
    }),
  );
  return writePerImage(ds, targets.length === 1 ? 'Copy to next slice' : `Copy to next ${targets.length} slices`, creates);
}

/**
 * Interpolates a box or polygon between its slice and the nearest other slice holding a key shape
 * (a human shape that is not interpolated) of the same class and kind: the shape on each slice
 * between is the linear interpolation (interpolateGeometry) and carries the interpolated mark.
 * Interpolated shapes of that class and kind already on those slices are replaced. With `toId`
 * the other key shape is named instead of searched.
 */
export function interpolateShapes(ds: Dataset, args: { imageId: number; id: number; toId?: number }): SliceEditSummary & { from: number; to: number } {
  const [a] = requireShapes(ds, args.imageId, [args.id]);
  if (a!.kind !== 'box' && a!.kind !== 'polygon') throw new AppError('INVALID_ARGUMENT', `only boxes and polygons are interpolated, not a ${a!.kind}`, { id: a!.id });
  const slices = slicesOf(ds.db, args.imageId);
  const at = indexOfSlice(slices, a!.imageId, a!.frame);
  const imageIds = [...new Set(slices.map((s) => s.imageId))];
  const all = imageIds.flatMap((id) => listAnnotations(ds.db, id));
  const sliceOf = (x: AnnotationRecord) => indexOfSlice(slices, x.imageId, x.frame);
  let b: AnnotationRecord | undefined;
  if (args.toId !== undefined) {
    b = all.find((x) => x.id === args.toId);
    if (!b) throw new AppError('NOT_FOUND', `annotation ${args.toId} is not on a slice of this stack or image`, { id: args.toId });
    if (b.kind !== a!.kind || b.classId !== a!.classId) throw new AppError('INVALID_ARGUMENT', `annotation ${b.id} is not a ${a!.kind} of the same class`, { id: b.id });
  } else {
    const centre = (x: AnnotationRecord) => {
      const g = x.geometry;
      if (g.kind === 'box') return [g.x + g.w / 2, g.y + g.h / 2];
      if (g.kind === 'polygon') {
        const p = g.parts[0] ?? [];
        let sx = 0;
        let sy = 0;
        for (let i = 0; i < p.length; i += 2) {
          sx += p[i]!;
          sy += p[i + 1]!;
        }
        return [sx / Math.max(1, p.length / 2), sy / Math.max(1, p.length / 2)];
      }
      return [0, 0];
    };
    const [cx, cy] = centre(a!);
    const candidates = all
      .filter((x) => x.id !== a!.id && x.kind === a!.kind && x.classId === a!.classId && x.source === 'human' && !isInterpolated(x) && sliceOf(x) !== at && sliceOf(x) >= 0)
      .map((x) => ({ x, gap: Math.abs(sliceOf(x) - at), d: Math.hypot(centre(x)[0]! - cx!, centre(x)[1]! - cy!) }))
      .sort((p, q) => p.gap - q.gap || p.d - q.d || sliceOf(p.x) - sliceOf(q.x));
    b = candidates[0]?.x;
    if (!b) throw new AppError('INVALID_ARGUMENT', `no other slice holds a ${a!.kind} of this class to interpolate towards`, { id: a!.id });
  }
  const bi = sliceOf(b);
  const [lo, hi, first, last] = at < bi ? [at, bi, a!, b] : [bi, at, b, a!];
  if (hi - lo < 2) throw new AppError('INVALID_ARGUMENT', 'the two key shapes are on neighbouring slices: there is no slice between them', {});
  const creates: Parameters<typeof writePerImage>[2] = [];
  for (let k = lo + 1; k < hi; k++) {
    const t = (k - lo) / (hi - lo);
    const g = interpolateGeometry(first.geometry, last.geometry, t);
    if ('reason' in g) throw new AppError('INVALID_ARGUMENT', `cannot interpolate: ${g.reason}`, {});
    const slice = slices[k]!;
    creates.push({ slice, op: { op: 'create', draft: { classId: a!.classId, geometry: g.geometry, frame: slice.frame, attributes: { [INTERPOLATED_ATTRIBUTE]: true }, z: first.z } } });
  }
  // Earlier interpolations of this class and kind between the keys make way for the new ones.
  const replaced = new Map<number, EditOp[]>();
  for (const x of all) {
    const k = sliceOf(x);
    if (k > lo && k < hi && isInterpolated(x) && x.kind === a!.kind && x.classId === a!.classId) {
      replaced.set(x.imageId, [...(replaced.get(x.imageId) ?? []), { op: 'delete', id: x.id }]);
    }
  }
  const summary = writePerImage(ds, `Interpolate ${a!.kind}`, creates, replaced);
  return { ...summary, from: lo, to: hi };
}
