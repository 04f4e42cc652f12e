import type { AnnotationRecord } from '../common/model';
import type { Db } from './open';

/**
 * The edit journal: the undo/redo history of each image, kept in the dataset so it survives a
 * restart. `forward` and `backward` are JSON payloads; the annotation service writes both as
 * `JournalChange[]` (see services/annotations.ts), and `imagesWithHistoryOfClass` reads that shape.
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
}

interface JournalRow {
  id: number;
  image_id: number;
  label: string;
  forward: string;
  backward: string;
  undone: number;
  created_at: number;
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
  };
}

/** Records a new edit; entries that were undone are dropped, as a new edit ends the redo branch. */
export async function appendEdit(
  db: Db,
  e: { imageId: number; label: string; forward: unknown; backward: unknown },
  now = Date.now(),
): Promise<number> {
  return await db.transaction(async () => {
    await db.prepare('DELETE FROM edit_journal WHERE image_id = ? AND undone = 1').run(e.imageId);
    const info = await db
      .prepare('INSERT INTO edit_journal (image_id, label, forward, backward, created_at) VALUES (?, ?, ?, ?, ?) RETURNING id')
      .pluck()
      .get(e.imageId, e.label, JSON.stringify(e.forward), JSON.stringify(e.backward), now);
    return info as number;
  })();
}

/** The entry an undo would revert, if any. */
export async function peekUndo(db: Db, imageId: number): Promise<JournalEntry | undefined> {
  const r = await db
    .prepare('SELECT * FROM edit_journal WHERE image_id = ? AND undone = 0 ORDER BY id DESC LIMIT 1')
    .get(imageId) as JournalRow | undefined;
  return r ? toEntry(r) : undefined;
}

/** The entry a redo would re-apply, if any. */
export async function peekRedo(db: Db, imageId: number): Promise<JournalEntry | undefined> {
  const r = await db
    .prepare('SELECT * FROM edit_journal WHERE image_id = ? AND undone = 1 ORDER BY id ASC LIMIT 1')
    .get(imageId) as JournalRow | undefined;
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

/** Forgets the whole undo and redo history of these images. */
export async function clearHistory(db: Db, imageIds: readonly number[]): Promise<number> {
  const stmt = db.prepare('DELETE FROM edit_journal WHERE image_id = ?');
  return await db.transaction(async () => {
    let n = 0;
    for (const id of imageIds) n += (await stmt.run(id)).changes;
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
