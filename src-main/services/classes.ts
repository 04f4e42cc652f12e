import { AppError } from '../common/errors';
import { keypointSchemaProblem } from '../common/keypoints';
import type { AttributeDef, ClassRecord, KeypointSchema } from '../common/model';
import { deleteAnnotationsOfClass, moveAnnotationsToClass } from '../db/annotations';
import { deleteClassRow, findClassByName, getClass, keypointAnnotationCount, listClasses, setClassKeypoints, setClassOrder, updateClass } from '../db/classes';
import { clearHistory, imagesWithHistoryOfClass } from '../db/journal';
import type { Dataset } from './dataset';

/**
 * Class management. These changes are dataset-wide and are not part of any image's undo history.
 * Deleting a class clears the history of every image whose history holds an annotation of that
 * class: undoing such an entry would bring back an annotation of a class that no longer exists.
 */

export interface ClassUpdate {
  id: number;
  name?: string;
  color?: string;
  hotkey?: string | null;
  attributes?: AttributeDef[];
}

async function requireClass(ds: Dataset, id: number): Promise<ClassRecord> {
  const c = await getClass(ds.db, id);
  if (!c) throw new AppError('NOT_FOUND', `class ${id} does not exist`, { id });
  return c;
}

/** Definitions the annotation panel could not honour are refused rather than stored. */
function checkAttributes(defs: readonly AttributeDef[]): void {
  const names = new Set<string>();
  for (const d of defs) {
    const bad = (why: string) => new AppError('INVALID_ARGUMENT', `attribute "${d.name}": ${why}`, { attribute: d.name });
    if (names.has(d.name)) throw bad('is defined twice');
    names.add(d.name);
    if (d.type === 'number') {
      if (d.min !== undefined && d.max !== undefined && d.min > d.max) throw bad(`min ${d.min} is above max ${d.max}`);
      if (d.default !== undefined && ((d.min !== undefined && d.default < d.min) || (d.max !== undefined && d.default > d.max))) {
        throw bad(`default ${d.default} is outside ${d.min ?? '-∞'}..${d.max ?? '∞'}`);
      }
    }
    if (d.type === 'select') {
      if (new Set(d.options).size !== d.options.length) throw bad('lists an option twice');
      if (d.default !== undefined && !d.options.includes(d.default)) throw bad(`default "${d.default}" is not one of the options`);
    }
  }
}

export async function updateClassInfo(ds: Dataset, u: ClassUpdate): Promise<ClassRecord> {
  const db = ds.db;
  return await db
    .transaction(async () => {
      await requireClass(ds, u.id);
      if (u.name !== undefined) {
        // The same rule as creation: names are unique without regard to case.
        const other = await findClassByName(db, u.name);
        if (other && other.id !== u.id) throw new AppError('INVALID_ARGUMENT', `a class named "${other.name}" already exists`, { name: u.name });
      }
      if (u.attributes) checkAttributes(u.attributes);
      if (u.hotkey) {
        // One class per key, whoever sets it (the class panel also refuses keys the editor uses).
        const other = (await listClasses(db)).find((c) => c.id !== u.id && c.hotkey === u.hotkey);
        if (other) throw new AppError('INVALID_ARGUMENT', `key "${u.hotkey}" is already the key of class "${other.name}"`, { hotkey: u.hotkey });
      }
      await updateClass(db, u.id, { name: u.name, color: u.color, hotkey: u.hotkey, attributes: u.attributes });
      return (await getClass(db, u.id))!;
    })
    .immediate();
}

/**
 * Sets or clears a class's keypoint schema. Annotations store one x, y, visibility triple per
 * keypoint, by position: renaming keypoints and editing edges leaves them valid, but a change of
 * the keypoint count (or clearing the schema) while the class has keypoint annotations would
 * leave them unreadable, so it is refused, naming how many there are. When the count changes
 * (no keypoint annotation left), the history of images whose history holds an annotation of the
 * class is cleared, as on deleting a class: undoing a deletion would bring back an object of
 * the old count.
 */
export async function setKeypointSchema(ds: Dataset, id: number, keypoints: KeypointSchema | null): Promise<ClassRecord> {
  const db = ds.db;
  return await db
    .transaction(async () => {
      const c = await requireClass(ds, id);
      if (keypoints) {
        const problem = keypointSchemaProblem(keypoints);
        if (problem) throw new AppError('INVALID_ARGUMENT', `class "${c.name}": ${problem}`, { id });
      }
      const before = c.keypoints?.names.length ?? 0;
      const after = keypoints?.names.length ?? 0;
      // The same names in another order would silently relabel every stored point (left and
      // right eye swapped): refused while annotations exist, like a change of the count.
      if (before === after && c.keypoints && keypoints && isReordering(c.keypoints.names, keypoints.names)) {
        const n = await keypointAnnotationCount(db, id);
        if (n > 0) {
          throw new AppError(
            'INVALID_ARGUMENT',
            `class "${c.name}" has ${n} keypoint annotation${n === 1 ? '' : 's'}: its keypoints cannot be put in another order (the stored points would take other names); rename them in place instead`,
            { id, annotations: n },
          );
        }
      }
      if (before !== after) {
        const n = await keypointAnnotationCount(db, id);
        if (n > 0) {
          const change = keypoints ? `change its keypoint count from ${before} to ${after}` : 'remove its keypoint schema';
          throw new AppError(
            'INVALID_ARGUMENT',
            `class "${c.name}" has ${n} keypoint annotation${n === 1 ? '' : 's'} of ${before} keypoints: cannot ${change} (rename keypoints or edit edges instead, or delete those annotations first)`,
            { id, annotations: n },
          );
        }
        await clearHistory(db, await imagesWithHistoryOfClass(db, id));
      }
      const value: KeypointSchema | null = keypoints
        ? { names: [...keypoints.names], skeleton: keypoints.skeleton.map(([a, b]) => [a, b]), ...(keypoints.flipPairs ? { flipPairs: keypoints.flipPairs.map(([a, b]) => [a, b] as [number, number]) } : {}) }
        : null;
      await setClassKeypoints(db, id, value);
      return (await getClass(db, id))!;
    })
    .immediate();
}

/** `ids` must name every class exactly once; the list comes back in that order. */
export async function reorderClasses(ds: Dataset, ids: readonly number[]): Promise<ClassRecord[]> {
  const db = ds.db;
  return await db
    .transaction(async () => {
      const existing = new Set((await listClasses(db)).map((c) => c.id));
      const given = new Set(ids);
      const missing = [...existing].filter((id) => !given.has(id));
      const unknown = ids.filter((id) => !existing.has(id));
      if (given.size !== ids.length || missing.length || unknown.length) {
        throw new AppError(
          'INVALID_ARGUMENT',
          `the new order must list every class exactly once (missing: ${missing.join(', ') || 'none'}; unknown: ${unknown.join(', ') || 'none'}; repeated: ${ids.length - given.size})`,
          { missing, unknown },
        );
      }
      await setClassOrder(db, ids);
      return await listClasses(db);
    })
    .immediate();
}

/** Deletes the class, moving its annotations to `moveTo` or deleting them when it is null. */
export async function deleteClass(ds: Dataset, id: number, moveTo: number | null, now = Date.now()): Promise<{ moved: number; deleted: number }> {
  const db = ds.db;
  return await db
    .transaction(async () => {
      await requireClass(ds, id);
      if (moveTo !== null) {
        if (moveTo === id) throw new AppError('INVALID_ARGUMENT', `cannot move the annotations of class ${id} to itself`, { moveTo });
        const target = await getClass(db, moveTo);
        if (!target) throw new AppError('INVALID_ARGUMENT', `class ${moveTo} to move annotations to does not exist`, { moveTo });
        // Keypoint objects are read by their class's names, by position: they may only go to a
        // class with the same keypoints in the same order.
        const n = await keypointAnnotationCount(db, id);
        const from = (await getClass(db, id))!.keypoints;
        if (n > 0 && !sameKeypointNames(from, target.keypoints)) {
          throw new AppError(
            'INVALID_ARGUMENT',
            `class "${(await getClass(db, id))!.name}" has ${n} keypoint annotation${n === 1 ? '' : 's'} of ${from?.names.length ?? 0} keypoints; "${target.name}" has ${target.keypoints ? `other keypoints (${target.keypoints.names.join(', ')})` : 'no keypoints'}: move them to a class with the same keypoints, or delete them with the class`,
            { id, moveTo, annotations: n },
          );
        }
      }
      await clearHistory(db, await imagesWithHistoryOfClass(db, id));
      const moved = moveTo === null ? 0 : await moveAnnotationsToClass(db, id, moveTo, now);
      const deleted = moveTo === null ? await deleteAnnotationsOfClass(db, id) : 0;
      await deleteClassRow(db, id);
      await setClassOrder(
        db,
        (await listClasses(db)).map((c) => c.id),
      );
      return { moved, deleted };
    })
    .immediate();
}

/** Whether two schemas name the same keypoints in the same order (both null: no keypoints). */
export function sameKeypointNames(a: KeypointSchema | null, b: KeypointSchema | null): boolean {
  if (!a || !b) return !a && !b;
  return a.names.length === b.names.length && a.names.every((n, i) => n === b.names[i]);
}

/** Whether `next` holds the names of `prev` (all of them, none new) at other places. */
function isReordering(prev: readonly string[], next: readonly string[]): boolean {
  if (prev.length !== next.length || prev.every((n, i) => n === next[i])) return false;
  const a = [...prev].sort();
  const b = [...next].sort();
  return a.every((n, i) => n === b[i]);
}
