import type { Db } from './open';

/**
 * The edit journal: the undo/redo history of each image, kept in the dataset so it survives a
 * restart. `forward` and `backward` are opaque JSON payloads owned by the editor.
 */
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
export function appendEdit(
  db: Db,
  e: { imageId: number; label: string; forward: unknown; backward: unknown },
  now = Date.now(),
): number {
  return db.transaction(() => {
    db.prepare('DELETE FROM edit_journal WHERE image_id = ? AND undone = 1').run(e.imageId);
    const info = db
      .prepare('INSERT INTO edit_journal (image_id, label, forward, backward, created_at) VALUES (?, ?, ?, ?, ?)')
      .run(e.imageId, e.label, JSON.stringify(e.forward), JSON.stringify(e.backward), now);
    return Number(info.lastInsertRowid);
  })();
}

/** The entry an undo would revert, if any. */
export function peekUndo(db: Db, imageId: number): JournalEntry | undefined {
  const r = db
    .prepare('SELECT * FROM edit_journal WHERE image_id = ? AND undone = 0 ORDER BY id DESC LIMIT 1')
    .get(imageId) as JournalRow | undefined;
  return r ? toEntry(r) : undefined;
}

/** The entry a redo would re-apply, if any. */
export function peekRedo(db: Db, imageId: number): JournalEntry | undefined {
  const r = db
    .prepare('SELECT * FROM edit_journal WHERE image_id = ? AND undone = 1 ORDER BY id ASC LIMIT 1')
    .get(imageId) as JournalRow | undefined;
  return r ? toEntry(r) : undefined;
}

export function markUndone(db: Db, id: number, undone: boolean): void {
  db.prepare('UPDATE edit_journal SET undone = ? WHERE id = ?').run(undone ? 1 : 0, id);
}
