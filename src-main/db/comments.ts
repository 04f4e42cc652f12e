import type { CommentRecord } from '../common/model';
import type { Db } from './open';

interface CommentRow {
  id: number;
  image_id: number;
  frame: number;
  annotation_id: number | null;
  shape_exists: number;
  x: number;
  y: number;
  parent_id: number | null;
  author: string;
  body: string;
  created_at: number;
  resolved_at: number | null;
  resolved_by: string | null;
  image_path: string;
}

const SELECT = `
  SELECT c.*, i.path AS image_path,
         (c.annotation_id IS NOT NULL AND EXISTS (SELECT 1 FROM annotations a WHERE a.id = c.annotation_id)) AS shape_exists
  FROM comments c JOIN images i ON i.id = c.image_id`;

function toRecord(r: CommentRow): CommentRecord {
  return {
    id: r.id,
    imageId: r.image_id,
    frame: r.frame,
    annotationId: r.annotation_id,
    shapeExists: r.shape_exists === 1,
    x: r.x,
    y: r.y,
    parentId: r.parent_id,
    author: r.author,
    body: r.body,
    createdAt: r.created_at,
    resolvedAt: r.resolved_at,
    resolvedBy: r.resolved_by,
    imagePath: r.image_path,
  };
}

export interface NewComment {
  imageId: number;
  frame: number;
  annotationId: number | null;
  x: number;
  y: number;
  parentId: number | null;
  author: string;
  body: string;
}

export async function insertComment(db: Db, c: NewComment, now = Date.now()): Promise<number> {
  const r = await db
    .prepare(
      `INSERT INTO comments (image_id, frame, annotation_id, x, y, parent_id, author, body, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
    )
    .pluck()
    .get(c.imageId, c.frame, c.annotationId, c.x, c.y, c.parentId, c.author, c.body, now);
  return r as number;
}

export async function getComment(db: Db, id: number): Promise<CommentRecord | undefined> {
  const row = await db.prepare(`${SELECT} WHERE c.id = ?`).get(id) as CommentRow | undefined;
  return row && toRecord(row);
}

/** Comments of one image (every frame), replies included, oldest first. */
export async function listImageComments(db: Db, imageId: number): Promise<CommentRecord[]> {
  return (await db.prepare(`${SELECT} WHERE c.image_id = ? ORDER BY c.id`).all(imageId) as CommentRow[]).map(toRecord);
}

/** Open top-level comments across the dataset, in image order then oldest first; at most `limit`. */
export async function listOpenComments(db: Db, limit: number): Promise<CommentRecord[]> {
  return (
    await db.prepare(`${SELECT} WHERE c.parent_id IS NULL AND c.resolved_at IS NULL ORDER BY c.image_id, c.id LIMIT ?`).all(limit) as CommentRow[]
  ).map(toRecord);
}

export async function countOpenComments(db: Db): Promise<number> {
  return await db.prepare('SELECT count(*) FROM comments WHERE parent_id IS NULL AND resolved_at IS NULL').pluck().get() as number;
}

export async function setResolved(db: Db, id: number, by: string | null, now = Date.now()): Promise<void> {
  await db.prepare('UPDATE comments SET resolved_at = ?, resolved_by = ? WHERE id = ?').run(by === null ? null : now, by, id);
}

export async function deleteComment(db: Db, id: number): Promise<void> {
  await db.prepare('DELETE FROM comments WHERE id = ?').run(id);
}
