import { AppError } from '../common/errors';
import type { EditOp } from '../common/editing';
import { bboxIou } from '../common/eval/coco';
import { interpolateGeometry } from '../common/geometry/interpolate';
import type { AnnotationRecord, Geometry } from '../common/model';
import { INTERPOLATED_ATTRIBUTE, interpolationMark, isInterpolated, type SliceEditSummary, type SliceRef } from '../common/stacks';
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

async function requireShapes(ds: Dataset, imageId: number, ids: readonly number[]): Promise<AnnotationRecord[]> {
  const found = await getAnnotationsByIds(ds.db, ids);
  return ids.map((id) => {
    const a = found.get(id);
    if (!a || a.imageId !== imageId) throw new AppError('NOT_FOUND', `annotation ${id} is not an annotation of image ${imageId}`, { id, imageId });
    if (a.kind === 'tag') throw new AppError('INVALID_ARGUMENT', `annotation ${id} is an image tag, which belongs to no slice`, { id });
    return a;
  });
}

/** Writes the creates grouped per image, one edit each, in one transaction. */
async function writePerImage(ds: Dataset, label: string, creates: { slice: SliceRef; op: Extract<EditOp, { op: 'create' }> }[], extraOps: Map<number, EditOp[]> = new Map()): Promise<SliceEditSummary> {
  const byImage = new Map<number, { slices: SliceRef[]; ops: EditOp[] }>();
  for (const [imageId, ops] of extraOps) byImage.set(imageId, { slices: [], ops: [...ops] });
  for (const c of creates) {
    const e = byImage.get(c.slice.imageId) ?? { slices: [], ops: [] };
    e.ops.push(c.op);
    e.slices.push(c.slice);
    byImage.set(c.slice.imageId, e);
  }
  const shapes: SliceEditSummary['shapes'] = [];
  // Immediate, as each edit inside it is: it reads before it writes, and another process writing
  // in between would make SQLite refuse it (SQLITE_BUSY) instead of waiting its turn.
  await ds.db.transaction(async () => {
    for (const [imageId, e] of byImage) {
      const r = await editAnnotations(ds, { imageId, label, ops: e.ops });
      let k = 0;
      e.ops.forEach((op) => {
        if (op.op !== 'create') return;
        shapes.push({ id: r.created[k++]!, imageId, frame: op.draft.frame ?? 0 });
      });
    }
  }).immediate();
  const slices = new Set(creates.map((c) => `${c.slice.imageId}:${c.slice.frame}`)).size;
  return { slices, created: creates.length, images: byImage.size, shapes, replaced: 0 };
}

/**
 * Copies shapes of one slice to the next `count` slices (fewer at the end of the stack or image).
 * Copies keep class, geometry, attributes and z; an interpolated shape's copy is a key shape.
 */
export async function propagateShapes(ds: Dataset, args: { imageId: number; frame: number; ids: readonly number[]; count: number }): Promise<SliceEditSummary> {
  const shapes = await requireShapes(ds, args.imageId, args.ids);
  const bad = shapes.find((a) => a.frame !== args.frame);
  if (bad) throw new AppError('INVALID_ARGUMENT', `annotation ${bad.id} is on frame ${bad.frame}, not on frame ${args.frame}`, { id: bad.id });
  const slices = await slicesOf(ds.db, args.imageId);
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
  return await writePerImage(ds, targets.length === 1 ? 'Copy to next slice' : `Copy to next ${targets.length} slices`, creates);
}

type Bbox = [number, number, number, number];

/** The bounding box [x, y, w, h] of a box or polygon (every part). */
function bboxOf(g: Geometry): Bbox {
  if (g.kind === 'box') return [g.x, g.y, g.w, g.h];
  let x0 = Infinity;
  let y0 = Infinity;
  let x1 = -Infinity;
  let y1 = -Infinity;
  if (g.kind === 'polygon') {
    for (const p of g.parts) {
      for (let i = 0; i + 1 < p.length; i += 2) {
        x0 = Math.min(x0, p[i]!);
        x1 = Math.max(x1, p[i]!);
        y0 = Math.min(y0, p[i + 1]!);
        y1 = Math.max(y1, p[i + 1]!);
      }
    }
  }
  return Number.isFinite(x0) ? [x0, y0, x1 - x0, y1 - y0] : [0, 0, 0, 0];
}

/**
 * Interpolates a box or polygon between its slice and another slice holding a key shape (a human
 * shape that is not interpolated) of the same class and kind: the shape on each slice between is
 * the linear interpolation (interpolateGeometry) and carries the interpolated mark naming the two
 * keys (interpolationMark). The other key is the one on the nearest slice whose bounding box
 * overlaps this shape's (IoU > 0); when none overlaps, the only key of that class and kind on
 * another slice, if there is exactly one. Two overlapping keys on that nearest slice, or several
 * keys none of which overlaps, are refused: which object goes on is not known. With `toId` the
 * other key is named instead of searched. Interpolated shapes between the same two keys already on
 * those slices are replaced (and unmarked-key ones of the class and kind that overlap the new
 * shape on their slice); other objects' interpolations stay.
 */
export async function interpolateShapes(ds: Dataset, args: { imageId: number; id: number; toId?: number }): Promise<SliceEditSummary & { from: number; to: number }> {
  const [a] = await requireShapes(ds, args.imageId, [args.id]);
  if (a!.kind !== 'box' && a!.kind !== 'polygon') throw new AppError('INVALID_ARGUMENT', `only boxes and polygons are interpolated, not a ${a!.kind}`, { id: a!.id });
  const slices = await slicesOf(ds.db, args.imageId);
  const at = indexOfSlice(slices, a!.imageId, a!.frame);
  const imageIds = [...new Set(slices.map((s) => s.imageId))];
  const all: AnnotationRecord[] = [];
  for (const id of imageIds) all.push(...(await listAnnotations(ds.db, id)));
  const sliceOf = (x: AnnotationRecord) => indexOfSlice(slices, x.imageId, x.frame);
  let b: AnnotationRecord | undefined;
  if (args.toId !== undefined) {
    b = all.find((x) => x.id === args.toId);
    if (!b) throw new AppError('NOT_FOUND', `annotation ${args.toId} is not on a slice of this stack or image`, { id: args.toId });
    if (b.kind !== a!.kind || b.classId !== a!.classId) throw new AppError('INVALID_ARGUMENT', `annotation ${b.id} is not a ${a!.kind} of the same class`, { id: b.id });
    if (sliceOf(b) === at) throw new AppError('INVALID_ARGUMENT', `annotation ${b.id} is on the same slice`, { id: b.id });
  } else {
    const box = bboxOf(a!.geometry);
    const pool = all.filter((x) => x.id !== a!.id && x.kind === a!.kind && x.classId === a!.classId && x.source === 'human' && !isInterpolated(x) && sliceOf(x) !== at && sliceOf(x) >= 0);
    const overlapping = pool
      .map((x) => ({ x, gap: Math.abs(sliceOf(x) - at), iou: bboxIou(bboxOf(x.geometry), box, false) }))
      .filter((c) => c.iou > 0)
      .sort((p, q) => p.gap - q.gap || q.iou - p.iou || sliceOf(p.x) - sliceOf(q.x));
    const slice = (x: AnnotationRecord) => sliceOf(x) + 1;
    if (overlapping.length > 0) {
      const nearest = overlapping.filter((c) => c.gap === overlapping[0]!.gap);
      const crowded = nearest.find((c) => nearest.some((d) => d !== c && sliceOf(d.x) === sliceOf(c.x)));
      if (crowded) {
        throw new AppError('INVALID_ARGUMENT', `several ${a!.kind === 'box' ? 'boxes' : 'polygons'} of this class on slice ${slice(crowded.x)} overlap this one: which to interpolate towards is not known`, { id: a!.id, slice: slice(crowded.x) });
      }
      b = overlapping[0]!.x;
    } else if (pool.length === 1) {
      b = pool[0];
    } else if (pool.length > 1) {
      const on = [...new Set(pool.map(slice))].sort((p, q) => p - q);
      throw new AppError('INVALID_ARGUMENT', `no ${a!.kind} of this class on another slice overlaps this one, and there are ${pool.length} (on slices ${on.join(', ')}): move it over its next position first`, { id: a!.id });
    }
    if (!b) throw new AppError('INVALID_ARGUMENT', `no other slice holds a ${a!.kind} of this class to interpolate towards`, { id: a!.id });
  }
  const bi = sliceOf(b);
  const [lo, hi, first, last] = at < bi ? [at, bi, a!, b] : [bi, at, b, a!];
  if (hi - lo < 2) throw new AppError('INVALID_ARGUMENT', 'the two key shapes are on neighbouring slices: there is no slice between them', {});
  const mark = interpolationMark(a!.id, b.id);
  const creates: Parameters<typeof writePerImage>[2] = [];
  const made = new Map<number, Bbox>();
  for (let k = lo + 1; k < hi; k++) {
    const t = (k - lo) / (hi - lo);
    const g = interpolateGeometry(first.geometry, last.geometry, t);
    if ('reason' in g) throw new AppError('INVALID_ARGUMENT', `cannot interpolate: ${g.reason}`, {});
    const slice = slices[k]!;
    made.set(k, bboxOf(g.geometry));
    creates.push({ slice, op: { op: 'create', draft: { classId: a!.classId, geometry: g.geometry, frame: slice.frame, attributes: { [INTERPOLATED_ATTRIBUTE]: mark }, z: first.z } } });
  }
  // Earlier interpolations between the same two keys make way for the new ones; so do unmarked-key
  // interpolations (older datasets) of this class and kind that overlap the new shape.
  const replaced = new Map<number, EditOp[]>();
  let deleted = 0;
  for (const x of all) {
    const k = sliceOf(x);
    if (!(k > lo && k < hi && isInterpolated(x) && x.kind === a!.kind && x.classId === a!.classId)) continue;
    const v = x.attributes[INTERPOLATED_ATTRIBUTE];
    if (v === mark || (v === true && bboxIou(bboxOf(x.geometry), made.get(k)!, false) > 0)) {
      replaced.set(x.imageId, [...(replaced.get(x.imageId) ?? []), { op: 'delete', id: x.id }]);
      deleted++;
    }
  }
  const summary = await writePerImage(ds, `Interpolate ${a!.kind}`, creates, replaced);
  return { ...summary, replaced: deleted, from: lo, to: hi };
}
