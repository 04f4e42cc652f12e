import type { AttributeDef, ClassRecord, KeypointSchema } from '../common/model';
import type { Db } from './open';

const SELECT = 'SELECT id, name, color, hotkey, sort_order, attributes, keypoints FROM classes';

interface ClassRow {
  id: number;
  name: string;
  color: string;
  hotkey: string | null;
  sort_order: number;
  attributes: string;
  keypoints: string | null;
}

function toRecord(r: ClassRow): ClassRecord {
  return {
    id: r.id,
    name: r.name,
    color: r.color,
    hotkey: r.hotkey,
    order: r.sort_order,
    attributes: JSON.parse(r.attributes) as AttributeDef[],
    keypoints: r.keypoints === null ? null : (JSON.parse(r.keypoints) as KeypointSchema),
  };
}

export function listClasses(db: Db): ClassRecord[] {
  return (db.prepare(`${SELECT} ORDER BY sort_order, id`).all() as ClassRow[]).map(toRecord);
}

export function getClass(db: Db, id: number): ClassRecord | undefined {
  const r = db.prepare(`${SELECT} WHERE id = ?`).get(id) as ClassRow | undefined;
  return r ? toRecord(r) : undefined;
}

/** Names compare without case (the column's collation), as the UNIQUE constraint does. */
export function findClassByName(db: Db, name: string): ClassRecord | undefined {
  const r = db.prepare(`${SELECT} WHERE name = ?`).get(name) as ClassRow | undefined;
  return r ? toRecord(r) : undefined;
}

export function classIds(db: Db): Set<number> {
  return new Set(db.prepare('SELECT id FROM classes').pluck().all() as number[]);
}

/** The sort_order that puts a new class after every class there is. */
export function nextClassOrder(db: Db): number {
  return (db.prepare('SELECT coalesce(max(sort_order), -1) + 1 FROM classes').pluck().get() as number) ?? 0;
}

export function insertClass(
  db: Db,
  c: { name: string; color: string; hotkey?: string | null; attributes?: readonly AttributeDef[] },
  now = Date.now(),
): ClassRecord {
  const order = nextClassOrder(db);
  const info = db
    .prepare('INSERT INTO classes (name, color, hotkey, sort_order, attributes, created_at) VALUES (?, ?, ?, ?, ?, ?)')
    .run(c.name, c.color, c.hotkey ?? null, order, JSON.stringify(c.attributes ?? []), now);
  return getClass(db, Number(info.lastInsertRowid))!;
}

/**
 * Adds classes at the end of the list, in the given order; returns their ids. The end is found
 * once here (MAX(sort_order), a lookup in the classes_sort_order index of migration 0008) and
 * the classes numbered on from it with one prepared statement, which keeps an import of 50,000
 * categories linear. Call inside a transaction.
 */
export function insertClasses(
  db: Db,
  classes: readonly { name: string; color: string; hotkey?: string | null; attributes?: readonly AttributeDef[] }[],
  now = Date.now(),
): number[] {
  const insert = db.prepare('INSERT INTO classes (name, color, hotkey, sort_order, attributes, created_at) VALUES (?, ?, ?, ?, ?, ?)');
  let order = nextClassOrder(db);
  return classes.map((c) => Number(insert.run(c.name, c.color, c.hotkey ?? null, order++, JSON.stringify(c.attributes ?? []), now).lastInsertRowid));
}

export interface ClassPatch {
  name?: string;
  color?: string;
  hotkey?: string | null;
  attributes?: readonly AttributeDef[];
}

/** Writes the fields present in `patch`; returns false when no class has that id. */
export function updateClass(db: Db, id: number, patch: ClassPatch): boolean {
  const sets: string[] = [];
  const params: unknown[] = [];
  if (patch.name !== undefined) {
    sets.push('name = ?');
    params.push(patch.name);
  }
  if (patch.color !== undefined) {
    sets.push('color = ?');
    params.push(patch.color);
  }
  if (patch.hotkey !== undefined) {
    sets.push('hotkey = ?');
    params.push(patch.hotkey);
  }
  if (patch.attributes !== undefined) {
    sets.push('attributes = ?');
    params.push(JSON.stringify(patch.attributes));
  }
  if (sets.length === 0) return getClass(db, id) !== undefined;
  return db.prepare(`UPDATE classes SET ${sets.join(', ')} WHERE id = ?`).run(...params, id).changes === 1;
}

/** Stores (or clears, with null) a class's keypoint schema; returns false when no class has that id. */
export function setClassKeypoints(db: Db, id: number, keypoints: KeypointSchema | null): boolean {
  return db.prepare('UPDATE classes SET keypoints = ? WHERE id = ?').run(keypoints === null ? null : JSON.stringify(keypoints), id).changes === 1;
}

/** How many keypoint annotations (human and predicted) a class has across the dataset. */
export function keypointAnnotationCount(db: Db, classId: number): number {
  return db.prepare("SELECT count(*) FROM annotations WHERE class_id = ? AND kind = 'keypoints'").pluck().get(classId) as number;
}

/** Sets sort_order to each id's position in `ids`. */
export function setClassOrder(db: Db, ids: readonly number[]): void {
  const stmt = db.prepare('UPDATE classes SET sort_order = ? WHERE id = ?');
  db.transaction(() => ids.forEach((id, i) => stmt.run(i, id)))();
}

/** Removes the class row; its annotations must have been moved or deleted first (ON DELETE RESTRICT). */
export function deleteClassRow(db: Db, id: number): boolean {
  return db.prepare('DELETE FROM classes WHERE id = ?').run(id).changes === 1;
}

export function annotationCountsByClass(db: Db): Map<number, number> {
  const rows = db
    .prepare('SELECT class_id AS id, count(*) AS n FROM annotations WHERE class_id IS NOT NULL GROUP BY class_id')
    .all() as { id: number; n: number }[];
  return new Map(rows.map((r) => [r.id, r.n]));
}
