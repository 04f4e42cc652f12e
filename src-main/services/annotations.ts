import { AppError } from '../common/errors';
import type { AnnotationDraft, EditOp, EditResult, HistoryState } from '../common/editing';
import { validateGeometry } from '../common/geometry/shapes';
import { keypointsFit } from '../common/keypoints';
import type { AnnotationRecord, ClassRecord, ImageRecord } from '../common/model';
import { INTERPOLATED_ATTRIBUTE, isInterpolated } from '../common/stacks';
import {
  deleteAnnotationsByIds,
  getAnnotationsByIds,
  insertAnnotationValues,
  listAnnotations,
  replaceAnnotations,
  type AnnotationValue,
} from '../db/annotations';
import { classIds, listClasses } from '../db/classes';
import { getImage, lockImageForEdit, markInProgress } from '../db/images';
import { appendEdit, clearHistory, peekRedo, peekUndo, setEntryState, type JournalChange, type JournalEntry } from '../db/journal';
import { recordRejections } from '../db/prelabel';
import type { Dataset } from './dataset';

/**
 * Editing one image's annotations, with an undo history kept in the dataset.
 *
 * Each edit is one transaction and one journal entry. The entry's `backward` and `forward` are
 * aligned lists of `{id, value}`: the full annotation before and after (null where it does not
 * exist), so undo and redo write whole values and never depend on diffs.
 *
 * Versions only grow, so the editor can tell two values of one id apart by version alone:
 * - an edit that changes an annotation gives it version + 1 (once per edit, however many ops touch
 *   it); `baseVersion` is compared with the version stored before the edit;
 * - undo and redo write the recorded value with version = current version + 1;
 * - a re-created annotation (undo of a delete, redo of a create) gets the same id and every recorded
 *   field back, with version = the last version that id had + 1. When undo or redo removes an
 *   annotation, the version it had is written into the entry so the next re-creation continues
 *   from it.
 * `updatedAt` is the time of the undo or redo; every other field is restored exactly.
 *
 * Class deletion is not part of this history; it clears the history of the images it affects
 * (see services/classes.ts). An entry that no longer fits the stored annotations (changed by an
 * import or pre-labeling, say) is refused with STALE_EDIT and that image's history is cleared.
 */

export interface EditArgs {
  imageId: number;
  label: string;
  ops: readonly EditOp[];
}

async function requireImage(ds: Dataset, imageId: number): Promise<ImageRecord> {
  const image = await getImage(ds.db, imageId);
  if (!image) throw new AppError('NOT_FOUND', `image ${imageId} is not in the dataset`, { imageId });
  return image;
}

export async function listImageAnnotations(ds: Dataset, imageId: number): Promise<AnnotationRecord[]> {
  await requireImage(ds, imageId);
  return await listAnnotations(ds.db, imageId);
}

export async function historyState(ds: Dataset, imageId: number): Promise<HistoryState> {
  await requireImage(ds, imageId);
  const undo = await peekUndo(ds.db, imageId, ds.user);
  const redo = await peekRedo(ds.db, imageId, ds.user);
  return { canUndo: Boolean(undo), canRedo: Boolean(redo), undoLabel: undo?.label ?? null, redoLabel: redo?.label ?? null };
}

/** Compares JSON values (geometry, attributes) regardless of key order. */
function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameJson(a[i], b[i])) return false;
    return true;
  }
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  const keys = Object.keys(ra);
  if (keys.length !== Object.keys(rb).length) return false;
  return keys.every((k) => Object.hasOwn(rb, k) && sameJson(ra[k], rb[k]));
}

/** Only the fields an edit can change are compared: an unchanged patch must not bump the version. */
function sameEditable(a: AnnotationRecord, b: AnnotationRecord): boolean {
  return a.classId === b.classId && a.z === b.z && sameJson(a.geometry, b.geometry) && sameJson(a.attributes, b.attributes);
}

interface Touched {
  id: number;
  before: AnnotationRecord;
  after: AnnotationRecord | null;
}

/** Validates every op against the stored state, then writes them all with one journal entry. */
export async function editAnnotations(ds: Dataset, args: EditArgs, now = Date.now()): Promise<EditResult> {
  const db = ds.db;
  return await db
    .transaction(async (): Promise<EditResult> => {
      // Another process editing this image waits here, then reads what it committed, so a
      // `baseVersion` is always compared with the latest version (see lockImageForEdit).
      await lockImageForEdit(db, args.imageId);
      const image = await requireImage(ds, args.imageId);
      const classes = await classIds(db);
      const referenced = args.ops.flatMap((op) => (op.op === 'create' ? [] : [op.id]));
      const stored = await getAnnotationsByIds(db, referenced);
      const touched = new Map<number, Touched>();
      const drafts: AnnotationValue[] = [];
      // Order of first appearance, so results list annotations in the order the ops named them.
      const sequence: ({ existing: number } | { draft: number })[] = [];

      const fail = (code: 'INVALID_GEOMETRY' | 'INVALID_ARGUMENT' | 'NOT_FOUND' | 'STALE_EDIT', i: number, message: string, detail: Record<string, unknown> = {}) =>
        new AppError(code, `op ${i}: ${message}`, { op: i, ...detail });
      const checkGeometry = (i: number, g: AnnotationDraft['geometry']) => {
        const reason = validateGeometry(g, image);
        if (reason) throw fail('INVALID_GEOMETRY', i, reason, { reason });
      };
      const checkClass = (i: number, classId: number | null | undefined) => {
        if (classId != null && !classes.has(classId)) throw fail('INVALID_ARGUMENT', i, `class ${classId} does not exist`, { classId });
      };
      const target = (i: number, id: number): Touched => {
        const seen = touched.get(id);
        if (seen) {
          if (!seen.after) throw fail('NOT_FOUND', i, `annotation ${id} was deleted earlier in this edit`, { id });
          return seen;
        }
        const record = stored.get(id);
        if (!record || record.imageId !== image.id) {
          throw fail('NOT_FOUND', i, `annotation ${id} is not an annotation of image ${image.id}`, { id });
        }
        const t: Touched = { id, before: record, after: record };
        touched.set(id, t);
        sequence.push({ existing: id });
        return t;
      };

      args.ops.forEach((op, i) => {
        switch (op.op) {
          case 'create': {
            const d = op.draft;
            checkGeometry(i, d.geometry);
            checkClass(i, d.classId);
            const frame = d.frame ?? 0;
            if (frame >= image.frames) {
              throw fail('INVALID_ARGUMENT', i, `frame ${frame} does not exist (the image has ${image.frames})`, { frame });
            }
            sequence.push({ draft: drafts.length });
            drafts.push({
              imageId: image.id,
              frame,
              classId: d.classId,
              kind: d.geometry.kind,
              geometry: d.geometry,
              source: 'human',
              modelRunId: null,
              score: null,
              attributes: d.attributes ?? {},
              z: d.z ?? 0,
              createdAt: now,
              updatedAt: now,
              version: 1,
            });
            return;
          }
          case 'update': {
            const t = target(i, op.id);
            if (op.baseVersion !== undefined && op.baseVersion !== t.before.version) {
              throw fail('STALE_EDIT', i, `annotation ${op.id} is at version ${t.before.version}, the edit was made on ${op.baseVersion}`, {
                id: op.id,
                version: t.before.version,
              });
            }
            const p = op.patch;
            if (p.geometry) checkGeometry(i, p.geometry);
            checkClass(i, p.classId);
            // Source, model run and score stay: editing a prediction does not make it a human one.
            const cur = t.after!;
            let attributes = p.attributes ?? cur.attributes;
            // An interpolated shape moved or reshaped by hand is a key shape from then on.
            if (p.geometry && !sameJson(p.geometry, cur.geometry) && isInterpolated({ attributes }) && !p.attributes) {
              const { [INTERPOLATED_ATTRIBUTE]: _mark, ...rest } = attributes;
              attributes = rest;
            }
            t.after = {
              ...cur,
              classId: p.classId === undefined ? cur.classId : p.classId,
              geometry: p.geometry ?? cur.geometry,
              kind: p.geometry?.kind ?? cur.kind,
              attributes,
              z: p.z ?? cur.z,
            };
            return;
          }
          case 'delete':
            target(i, op.id).after = null;
            return;
        }
      });

      const removed = [...touched.values()].filter((t) => t.after === null).map((t) => t.id);
      const updated = [...touched.values()]
        .filter((t): t is Touched & { after: AnnotationRecord } => t.after !== null && !sameEditable(t.before, t.after))
        .map((t) => ({ ...t.after, version: t.before.version + 1, updatedAt: now }));
      await checkKeypointCounts(db, [...drafts, ...updated]);
      if (removed.length === 0 && updated.length === 0 && drafts.length === 0) {
        // Nothing to undo, so no history entry; 0 is never a journal id.
        return { journalId: 0, label: args.label, changed: [], deleted: [], created: [] };
      }

      await deleteAnnotationsByIds(db, removed);
      // A prediction deleted in the editor is rejected like one rejected in review: the next run of
      // the model leaves that object out. Undo brings the id back, and a rejection whose id exists
      // again no longer counts (see rejectedShapesOfImage); redo deletes it, and it counts again.
      await recordRejections(
        db,
        removed.map((id) => touched.get(id)!.before).filter((a) => a.source === 'model'),
        now,
      );
      await replaceAnnotations(db, updated);
      const created = await insertAnnotationValues(db, drafts);
      const updatedIds = new Set(updated.map((u) => u.id));
      const written = sequence.flatMap((s) => {
        if ('draft' in s) return [created[s.draft]!];
        const t = touched.get(s.existing)!;
        return t.after === null || updatedIds.has(t.id) ? [t.id] : [];
      });
      const afterValues = await getAnnotationsByIds(db, written);
      const changes: { id: number; before: AnnotationRecord | null; after: AnnotationRecord | null }[] = written.map((id) => ({
        id,
        before: touched.get(id)?.before ?? null,
        after: afterValues.get(id) ?? null,
      }));
      const journalId = await appendEdit(
        db,
        {
          imageId: image.id,
          label: args.label,
          forward: changes.map((c): JournalChange => ({ id: c.id, value: c.after })),
          backward: changes.map((c): JournalChange => ({ id: c.id, value: c.before })),
          user: ds.user,
        },
        now,
      );
      await markInProgress(db, image.id, now);
      return {
        journalId,
        label: args.label,
        changed: changes.flatMap((c) => (c.after ? [c.after] : [])),
        deleted: removed,
        created,
      };
    })
    .immediate();
}

/**
 * Keypoints are stored by position, one triple per keypoint of their class's schema: an object
 * of another length (or of a class without a schema) could not be drawn or exported by name.
 */
async function checkKeypointCounts(db: Dataset['db'], values: readonly { classId: number | null; geometry: AnnotationRecord['geometry'] }[]): Promise<void> {
  let schemas: Map<number, ClassRecord> | null = null;
  for (const v of values) {
    if (v.geometry.kind !== 'keypoints' || v.classId === null) continue;
    schemas ??= new Map((await listClasses(db)).map((c) => [c.id, c]));
    const c = schemas.get(v.classId);
    if (!c) continue;
    const n = v.geometry.points.length / 3;
    if (!c.keypoints) throw new AppError('INVALID_GEOMETRY', `class "${c.name}" has no keypoint schema, so it cannot hold keypoints`, { classId: c.id });
    if (!keypointsFit(v.geometry.points, c.keypoints)) {
      throw new AppError('INVALID_GEOMETRY', `class "${c.name}" has ${c.keypoints.names.length} keypoints, the object has ${n}`, { classId: c.id });
    }
  }
}

/** Raised inside the transaction when an entry no longer fits the stored annotations. */
class StaleHistory extends Error {}

function parseChanges(payload: unknown): JournalChange[] {
  const ok =
    Array.isArray(payload) &&
    payload.every(
      (c) =>
        typeof c === 'object' &&
        c !== null &&
        Number.isInteger((c as JournalChange).id) &&
        ((c as JournalChange).value === null || typeof (c as JournalChange).value === 'object'),
    );
  if (!ok) throw new StaleHistory('the history entry was not written by this version of Tessera');
  return payload as JournalChange[];
}

function isForeignKeyFailure(e: unknown): boolean {
  return typeof e === 'object' && e !== null && (e as { code?: unknown }).code === 'SQLITE_CONSTRAINT_FOREIGNKEY';
}

/** Writes one side of an entry over the other, which must be what is stored now. */
async function applyEntry(ds: Dataset, imageId: number, entry: JournalEntry, direction: 'undo' | 'redo', now: number): Promise<EditResult> {
  const db = ds.db;
  const forward = parseChanges(entry.forward);
  const backward = parseChanges(entry.backward);
  const [wanted, current] = direction === 'undo' ? [backward, forward] : [forward, backward];
  if (wanted.length !== current.length || wanted.some((c, i) => c.id !== current[i]!.id)) {
    throw new StaleHistory('the history entry is damaged');
  }
  const stored = await getAnnotationsByIds(
    db,
    wanted.map((c) => c.id),
  );
  const removed: number[] = [];
  const updates: AnnotationRecord[] = [];
  const inserts: AnnotationRecord[] = [];
  wanted.forEach((w, i) => {
    const had = current[i]!.value;
    const cur = stored.get(w.id);
    if (had ? !cur || cur.imageId !== imageId : cur) {
      throw new StaleHistory(`annotation ${w.id} was changed outside the editor`);
    }
    // What the entry left must still be there: another user's later edit of the annotation is
    // never overwritten. (Versions differ by design, as undo and redo bump them; the fields an
    // edit changes are compared.)
    if (had && cur && !sameEditable(had, cur)) {
      throw new StaleHistory(`annotation ${w.id} was changed since (it is at version ${cur.version})`);
    }
    if (!w.value) {
      removed.push(w.id);
      // The next re-creation of this id continues from the version it had when removed.
      current[i] = { id: w.id, value: { ...had!, version: cur!.version } };
    } else if (cur) {
      updates.push({ ...w.value, id: w.id, version: cur.version + 1, updatedAt: now });
    } else {
      inserts.push({ ...w.value, id: w.id, version: w.value.version + 1, updatedAt: now });
    }
  });

  await deleteAnnotationsByIds(db, removed);
  await replaceAnnotations(db, updates);
  try {
    await insertAnnotationValues(db, inserts);
  } catch (e) {
    if (isForeignKeyFailure(e)) throw new StaleHistory('an annotation refers to a class or model run that no longer exists');
    throw e;
  }
  await setEntryState(db, entry.id, direction === 'undo', { forward, backward });
  const after = await getAnnotationsByIds(db, [...updates, ...inserts].map((r) => r.id));
  return {
    journalId: entry.id,
    label: entry.label,
    changed: wanted.flatMap((w) => after.get(w.id) ?? []),
    deleted: removed,
    created: inserts.map((r) => r.id),
  };
}

async function step(ds: Dataset, imageId: number, direction: 'undo' | 'redo', now: number): Promise<EditResult | null> {
  const db = ds.db;
  await requireImage(ds, imageId);
  try {
    return await db
      .transaction(async () => {
        // One undo, redo or edit of the image at a time, across processes (see lockImageForEdit).
        await lockImageForEdit(db, imageId);
        const entry = direction === 'undo' ? await peekUndo(db, imageId, ds.user) : await peekRedo(db, imageId, ds.user);
        return entry ? await applyEntry(ds, imageId, entry, direction, now) : null;
      })
      .immediate();
  } catch (e) {
    if (!(e instanceof StaleHistory)) throw e;
    // The entry can never apply again, and older entries sit behind it: this user's history of
    // the image is dropped (other users' entries stay; each is checked when it is applied).
    await clearHistory(db, [imageId], ds.user);
    throw new AppError('STALE_EDIT', `image ${imageId}: cannot ${direction}: ${e.message}; your edit history of this image was cleared`, { imageId });
  }
}

/** Reverts the newest edit of the image that is not undone; null when there is none. */
export async function undoEdit(ds: Dataset, imageId: number, now = Date.now()): Promise<EditResult | null> {
  return await step(ds, imageId, 'undo', now);
}

/** Re-applies the oldest undone edit of the image; null when there is none. */
export async function redoEdit(ds: Dataset, imageId: number, now = Date.now()): Promise<EditResult | null> {
  return await step(ds, imageId, 'redo', now);
}
