import type { AnnotationKind, AnnotationSource, Split } from '../common/model';
import type { Db } from './open';

/** Plain queries behind the dataset health report (services/health.ts does the arithmetic). */

export interface ClassSourceCount {
  classId: number | null;
  source: AnnotationSource;
  n: number;
}

/** Annotations per class and source (tags included). */
export async function annotationsByClassAndSource(db: Db): Promise<ClassSourceCount[]> {
  return await db
    .prepare('SELECT class_id AS classId, source, count(*) AS n FROM annotations GROUP BY class_id, source')
    .all() as ClassSourceCount[];
}

/** Images holding at least one human annotation of each class. */
export async function humanImagesByClass(db: Db): Promise<Map<number | null, number>> {
  const rows = await db
    .prepare("SELECT class_id AS classId, count(DISTINCT image_id) AS n FROM annotations WHERE source = 'human' GROUP BY class_id")
    .all() as { classId: number | null; n: number }[];
  return new Map(rows.map((r) => [r.classId, r.n]));
}

export async function countHumanTags(db: Db): Promise<number> {
  return await db.prepare("SELECT count(*) FROM annotations WHERE source = 'human' AND kind = 'tag'").pluck().get() as number;
}

/** Every image id with its number of human annotations other than tags, by id. */
export async function humanObjectsPerImage(db: Db): Promise<{ id: number; n: number }[]> {
  return await db
    .prepare(
      `SELECT i.id, (SELECT count(*) FROM annotations a WHERE a.image_id = i.id AND a.source = 'human' AND a.kind <> 'tag') AS n
       FROM images i ORDER BY i.id`,
    )
    .all() as { id: number; n: number }[];
}

export async function countUnlabeledImages(db: Db): Promise<number> {
  return await db
    .prepare("SELECT count(*) FROM images i WHERE NOT EXISTS (SELECT 1 FROM annotations a WHERE a.image_id = i.id AND a.source = 'human')")
    .pluck()
    .get() as number;
}

export interface ShapeRow {
  id: number;
  imageId: number;
  classId: number | null;
  kind: AnnotationKind;
  /** The stored JSON, parsed by the caller one row at a time. */
  geometry: string;
  width: number;
  height: number;
}

/**
 * Human annotations that have a shape (not tags), with their image's size, by annotation id. Read
 * in pages of ids, so a dataset of a million shapes is never held at once.
 */
export async function* humanShapes(db: Db, page = 5000): AsyncIterableIterator<ShapeRow> {
  const stmt = db.prepare(
    `SELECT a.id, a.image_id AS imageId, a.class_id AS classId, a.kind, a.geometry, i.width, i.height
     FROM annotations a JOIN images i ON i.id = a.image_id
     WHERE a.source = 'human' AND a.kind <> 'tag' AND a.id > ?
     ORDER BY a.id LIMIT ?`,
  );
  for (let after = 0; ; ) {
    const rows = (await stmt.all(after, page)) as ShapeRow[];
    yield* rows;
    if (rows.length < page) return;
    after = rows[rows.length - 1]!.id;
  }
}

/** Human annotations per class and split (null: images without a split). */
export async function humanByClassAndSplit(db: Db): Promise<{ classId: number; split: Split | null; n: number }[]> {
  return await db
    .prepare(
      `SELECT a.class_id AS classId, i.split, count(*) AS n
       FROM annotations a JOIN images i ON i.id = a.image_id
       WHERE a.source = 'human' AND a.class_id IS NOT NULL
       GROUP BY a.class_id, i.split`,
    )
    .all() as { classId: number; split: Split | null; n: number }[];
}

/** Groups of images sharing one content hash (empty while the UNIQUE constraint holds). */
export async function duplicateContent(db: Db): Promise<{ contentHash: string; imageIds: number[] }[]> {
  const rows = await db
    .prepare(
      `SELECT content_hash AS contentHash, ${db.engine === 'postgres' ? 'json_agg(id ORDER BY id)::text' : 'json_group_array(id)'} AS ids FROM
         (SELECT content_hash, id FROM images ORDER BY id) AS s
       GROUP BY content_hash HAVING count(*) > 1 ORDER BY min(id)`,
    )
    .all() as { contentHash: string; ids: string }[];
  return rows.map((r) => ({ contentHash: r.contentHash, imageIds: JSON.parse(r.ids) as number[] }));
}
