import type { ClassRecord } from '../common/model';
import type { Db } from './open';

const SELECT = 'SELECT id, name, color, hotkey, sort_order AS "order" FROM classes';

export function listClasses(db: Db): ClassRecord[] {
  return db.prepare(`${SELECT} ORDER BY sort_order, id`).all() as ClassRecord[];
}

export function getClass(db: Db, id: number): ClassRecord | undefined {
  return db.prepare(`${SELECT} WHERE id = ?`).get(id) as ClassRecord | undefined;
}

export function findClassByName(db: Db, name: string): ClassRecord | undefined {
  return db.prepare(`${SELECT} WHERE name = ?`).get(name) as ClassRecord | undefined;
}

export function insertClass(
  db: Db,
  c: { name: string; color: string; hotkey?: string | null },
  now = Date.now(),
): ClassRecord {
  const order = (db.prepare('SELECT coalesce(max(sort_order), -1) + 1 FROM classes').pluck().get() as number) ?? 0;
  const info = db
    .prepare('INSERT INTO classes (name, color, hotkey, sort_order, created_at) VALUES (?, ?, ?, ?, ?)')
    .run(c.name, c.color, c.hotkey ?? null, order, now);
  return getClass(db, Number(info.lastInsertRowid))!;
}

export function annotationCountsByClass(db: Db): Map<number, number> {
  const rows = db
    .prepare('SELECT class_id AS id, count(*) AS n FROM annotations WHERE class_id IS NOT NULL GROUP BY class_id')
    .all() as { id: number; n: number }[];
  return new Map(rows.map((r) => [r.id, r.n]));
}
