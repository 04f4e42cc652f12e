import type { AnnotationRecord } from '../common/model';
import type { Db } from './open';

/**
 * The edit journal: the undo/redo history of each image, kept in the dataset so it survives a
 * restart. `forward` and `backward` are JSON payloads; the annotation service writes both as
 * `JournalChange[]` (see services/annotations.ts), and `imagesWithHistoryOfClass` reads that shape.
 *
 * History is per user: each entry records who made the edit (`user_name`), and undo, redo and a new
 * edit's end of the redo branch act on that user's entries only. Entries written before users
 * were recorded have none and belong to every user, so their history undoes as before. Where a
 * function takes no user, it acts on every entry.
 */
/** One annotation's state on one side of an edit: its full value, or null where it does not exist. */
export interface JournalChange {
  id: number;
  value: AnnotationRecord | null;
}

export interface JournalEntry {
  id: number;
  imageId: number;
  label: string;
  forward: unknown;
  backward: unknown;
  undone: boolean;
  createdAt: number;
  /** Who made the edit; null for entries written before users were recorded. */
  user: string | null;
}

interface JournalRow {
  id: number;
  image_id: number;
  label: string;
  forward: string;
  backward: string;
  undone: number;
  created_at: number;
  user_name: string | null;
}

function toEntry(r: JournalRow): JournalEntry {
  return {
    id: r.id,
    imageId: r.image_id,
    label: r.label,
    forward: JSON.parse(r.forward),
    backward: JSON.parse(r.backward),
    undone: r.undone === 1,
    createdAt: r.created_at,
    user: r.user_name ?? null,
  };
}

/** The entries of `user` (and those of no recorded user), or every entry when no user is given. */
function ofUser(user: string | undefined): { sql: string; params: unknown[] } {
  return user === undefined ? { sql: '', params: [] } : { sql: ' AND (user_name = ? OR user_name IS NULL)', params: [user] };
}

/**
 * Records a new edit by `e.user`; that user's entries that were undone are dropped, as a new edit
 * ends their redo branch (other users' redo branches stay).
 */
export async function appendEdit(
  db: Db,
  e: { imageId: number; label: string; forward: unknown; backward: unknown; user?: string },
  now = Date.now(),
): Promise<number> {
  return await db.transaction(async () => {
    const who = ofUser(e.user);
    await db.prepare(`DELETE FROM edit_journal WHERE image_id = ? AND undone = 1${who.sql}`).run(e.imageId, ...who.params);
    const values = [e.imageId, e.label, JSON.stringify(e.forward), JSON.stringify(e.backward), now];
    // Without a user the entry is written as before users were recorded (it belongs to everyone).
    const info = await db
      .prepare(
        e.user === undefined
          ? 'INSERT INTO edit_journal (image_id, label, forward, backward, created_at) VALUES (?, ?, ?, ?, ?) RETURNING id'
          : 'INSERT INTO edit_journal (image_id, label, forward, backward, created_at, user_name) VALUES (?, ?, ?, ?, ?, ?) RETURNING id',
      )
      .pluck()
      .get(...values, ...(e.user === undefined ? [] : [e.user]));
    return info as number;
  })();
}

/** The entry an undo by `user` would revert, if any. */
export async function peekUndo(db: Db, imageId: number, user?: string): Promise<JournalEntry | undefined> {
  const who = ofUser(user);
  const r = await db
    .prepare(`SELECT * FROM edit_journal WHERE image_id = ? AND undone = 0${who.sql} ORDER BY id DESC LIMIT 1`)
    .get(imageId, ...who.params) as JournalRow | undefined;
  return r ? toEntry(r) : undefined;
}

/** The entry a redo by `user` would re-apply, if any. */
export async function peekRedo(db: Db, imageId: number, user?: string): Promise<JournalEntry | undefined> {
  const who = ofUser(user);
  const r = await db
    .prepare(`SELECT * FROM edit_journal WHERE image_id = ? AND undone = 1${who.sql} ORDER BY id ASC LIMIT 1`)
    .get(imageId, ...who.params) as JournalRow | undefined;
  return r ? toEntry(r) : undefined;
}

export async function markUndone(db: Db, id: number, undone: boolean): Promise<void> {
  await db.prepare('UPDATE edit_journal SET undone = ? WHERE id = ?').run(undone ? 1 : 0, id);
}

/** Marks an entry undone or redone, and stores payloads rewritten while applying it. */
export async function setEntryState(db: Db, id: number, undone: boolean, payloads: { forward: unknown; backward: unknown }): Promise<void> {
  await db.prepare('UPDATE edit_journal SET undone = ?, forward = ?, backward = ? WHERE id = ?').run(
    undone ? 1 : 0,
    JSON.stringify(payloads.forward),
    JSON.stringify(payloads.backward),
    id,
  );
}

/** Forgets the whole undo and redo history of these images: `user`'s entries, or everyone's. */
export async function clearHistory(db: Db, imageIds: readonly number[], user?: string): Promise<number> {
  const who = ofUser(user);
  const stmt = db.prepare(`DELETE FROM edit_journal WHERE image_id = ?${who.sql}`);
  return await db.transaction(async () => {
    let n = 0;
    for (const id of imageIds) n += (await stmt.run(id, ...who.params)).changes;
    return n;
  })();
}

/**
 * Images whose history holds an annotation value of the class on either side. Payloads of
 * another shape match nothing: the CASE keeps json_extract away from elements that are not objects.
 */
export async function imagesWithHistoryOfClass(db: Db, classId: number): Promise<number[]> {
  const side = (col: string) =>
    db.engine === 'postgres'
      ? `SELECT j.image_id FROM edit_journal j,
           jsonb_array_elements(CASE jsonb_typeof(j.${col}::jsonb) WHEN 'array' THEN j.${col}::jsonb
                                  WHEN 'object' THEN (SELECT coalesce(jsonb_agg(m.value), '[]'::jsonb) FROM jsonb_each(j.${col}::jsonb) m)
                                  ELSE '[]'::jsonb END) e
         WHERE CASE WHEN jsonb_typeof(e.value) = 'object' THEN e.value #>> '{value,classId}' END = CAST(? AS text)`
      : `SELECT j.image_id FROM edit_journal j, json_each(j.${col}) e
         WHERE CASE WHEN e.type = 'object' THEN json_extract(e.value, '$.value.classId') END = ?`;
  return await db.prepare(`${side('forward')} UNION ${side('backward')}`).pluck().all(classId, classId) as number[];
}
