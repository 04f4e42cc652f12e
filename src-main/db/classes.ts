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

export async function listClasses(db: Db): Promise<ClassRecord[]> {
  return (await db.prepare(`${SELECT} ORDER BY sort_order, id`).all() as ClassRow[]).map(toRecord);
}

export async function getClass(db: Db, id: number): Promise<ClassRecord | undefined> {
  const r = await db.prepare(`${SELECT} WHERE id = ?`).get(id) as ClassRow | undefined;
  return r ? toRecord(r) : undefined;
}

/**
 * Names compare without case, as the UNIQUE constraint does: SQLite's column collation (NOCASE,
 * which its index serves), PostgreSQL's index on lower(name).
 */
export async function findClassByName(db: Db, name: string): Promise<ClassRecord | undefined> {
  const where = db.engine === 'postgres' ? 'lower(name) = lower(?)' : 'name = ?';
  const r = await db.prepare(`${SELECT} WHERE ${where}`).get(name) as ClassRow | undefined;
  return r ? toRecord(r) : undefined;
}

export async function classIds(db: Db): Promise<Set<number>> {
  return new Set(await db.prepare('SELECT id FROM classes').pluck().all() as number[]);
}

/** The sort_order that puts a new class after every class there is. */
export async function nextClassOrder(db: Db): Promise<number> {
  return (await db.prepare('SELECT coalesce(max(sort_order), -1) + 1 FROM classes').pluck().get() as number) ?? 0;
}

export async function insertClass(
  db: Db,
  c: { name: string; color: string; hotkey?: string | null; attributes?: readonly AttributeDef[] },
  now = Date.now(),
): Promise<ClassRecord> {
  const order = await nextClassOrder(db);
  const info = await db
    .prepare('INSERT INTO classes (name, color, hotkey, sort_order, attributes, created_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id')
    .pluck()
    .get(c.name, c.color, c.hotkey ?? null, order, JSON.stringify(c.attributes ?? []), now);
  return (await getClass(db, info as number))!;
}

/** Rows per multi-row INSERT of insertClasses: 6 parameters each, well within both engines' limits. */
const CLASS_CHUNK = 500;

/**
 * Adds classes at the end of the list, in the given order; returns their ids. The end is found
 * once here (MAX(sort_order), a lookup in the classes_sort_order index of migration 0008) and
 * the classes numbered on from it, CLASS_CHUNK rows per statement, which keeps an import of
 * 50,000 categories linear and few round trips to a PostgreSQL server. Call inside a transaction.
 */
export async function insertClasses(
  db: Db,
  classes: readonly { name: string; color: string; hotkey?: string | null; attributes?: readonly AttributeDef[] }[],
  now = Date.now(),
): Promise<number[]> {
  const first = await nextClassOrder(db);
  const ids: number[] = new Array(classes.length);
  for (let start = 0; start < classes.length; start += CLASS_CHUNK) {
    const chunk = classes.slice(start, start + CLASS_CHUNK);
    const params = chunk.flatMap((c, k) => [c.name, c.color, c.hotkey ?? null, first + start + k, JSON.stringify(c.attributes ?? []), now]);
    const rows = (await db
      .prepare(`INSERT INTO classes (name, color, hotkey, sort_order, attributes, created_at) VALUES ${chunk.map(() => '(?, ?, ?, ?, ?, ?)').join(', ')} RETURNING id, sort_order`)
      .raw()
      .all(params)) as [number, number][];
    // Matched by sort_order: neither engine promises RETURNING rows in VALUES order.
    for (const [id, order] of rows) ids[order - first] = id;
  }
  return ids;
}

export interface ClassPatch {
  name?: string;
  color?: string;
  hotkey?: string | null;
  attributes?: readonly AttributeDef[];
}

/** Writes the fields present in `patch`; returns false when no class has that id. */
export async function updateClass(db: Db, id: number, patch: ClassPatch): Promise<boolean> {
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
  if (sets.length === 0) return await getClass(db, id) !== undefined;
  return (await db.prepare(`UPDATE classes SET ${sets.join(', ')} WHERE id = ?`).run(...params, id)).changes === 1;
}

/** Stores (or clears, with null) a class's keypoint schema; returns false when no class has that id. */
export async function setClassKeypoints(db: Db, id: number, keypoints: KeypointSchema | null): Promise<boolean> {
  return (await db.prepare('UPDATE classes SET keypoints = ? WHERE id = ?').run(keypoints === null ? null : JSON.stringify(keypoints), id)).changes === 1;
}

/** How many keypoint annotations (human and predicted) a class has across the dataset. */
export async function keypointAnnotationCount(db: Db, classId: number): Promise<number> {
  return await db.prepare("SELECT count(*) FROM annotations WHERE class_id = ? AND kind = 'keypoints'").pluck().get(classId) as number;
}

/** Sets sort_order to each id's position in `ids`. */
export async function setClassOrder(db: Db, ids: readonly number[]): Promise<void> {
  const stmt = db.prepare('UPDATE classes SET sort_order = ? WHERE id = ?');
  await db.transaction(async () => {
    for (const [i, id] of ids.entries()) await stmt.run(i, id);
  })();
}

/** Removes the class row; its annotations must have been moved or deleted first (ON DELETE RESTRICT). */
export async function deleteClassRow(db: Db, id: number): Promise<boolean> {
  return (await db.prepare('DELETE FROM classes WHERE id = ?').run(id)).changes === 1;
}

export async function annotationCountsByClass(db: Db): Promise<Map<number, number>> {
  const rows = await db
    .prepare('SELECT class_id AS id, count(*) AS n FROM annotations WHERE class_id IS NOT NULL GROUP BY class_id')
    .all() as { id: number; n: number }[];
  return new Map(rows.map((r) => [r.id, r.n]));
}
