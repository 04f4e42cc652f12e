import type { AnnotationKind, Split } from '../common/model';
import type { Db } from './open';

/** What an annotated-dataset import needs to know about an image already in the dataset. */
export interface KnownImage {
  id: number;
  path: string;
  width: number;
  height: number;
  split: Split | null;
}

const LOOKUP_CHUNK = 500;

/** Images already in the dataset, by content hash (the column is UNIQUE). */
export async function imagesByHashes(db: Db, hashes: readonly string[]): Promise<Map<string, KnownImage>> {
  const out = new Map<string, KnownImage & { hash: string }>();
  const unique = [...new Set(hashes)];
  for (let start = 0; start < unique.length; start += LOOKUP_CHUNK) {
    const part = unique.slice(start, start + LOOKUP_CHUNK);
    const rows = await db
      .prepare(`SELECT id, path, width, height, split, content_hash AS hash FROM images WHERE content_hash IN (${part.map(() => '?').join(', ')})`)
      .all(...part) as (KnownImage & { hash: string })[];
    for (const r of rows) out.set(r.hash, r);
  }
  return out;
}

/** Images already in the dataset, by stored path (the column is UNIQUE). */
export async function imagesByPaths(db: Db, paths: readonly string[]): Promise<Map<string, KnownImage>> {
  const out = new Map<string, KnownImage>();
  const unique = [...new Set(paths)];
  for (let start = 0; start < unique.length; start += LOOKUP_CHUNK) {
    const part = unique.slice(start, start + LOOKUP_CHUNK);
    const rows = await db.prepare(`SELECT id, path, width, height, split FROM images WHERE path IN (${part.map(() => '?').join(', ')})`).all(...part) as KnownImage[];
    for (const r of rows) out.set(r.path, r);
  }
  return out;
}

/** Stored paths already taken, among `paths`. */
export async function takenPaths(db: Db, paths: readonly string[]): Promise<Set<string>> {
  const out = new Set<string>();
  const unique = [...new Set(paths)];
  for (let start = 0; start < unique.length; start += LOOKUP_CHUNK) {
    const part = unique.slice(start, start + LOOKUP_CHUNK);
    const rows = await db.prepare(`SELECT path FROM images WHERE path IN (${part.map(() => '?').join(', ')})`).pluck().all(...part) as string[];
    for (const p of rows) out.add(p);
  }
  return out;
}

/** The stored annotations of some images, without parsing geometry: enough to recognise duplicates. */
export async function annotationKeysOfImages(
  db: Db,
  imageIds: readonly number[],
): Promise<{ imageId: number; classId: number | null; kind: AnnotationKind; geometry: string }[]> {
  const out: { imageId: number; classId: number | null; kind: AnnotationKind; geometry: string }[] = [];
  const unique = [...new Set(imageIds)];
  for (let start = 0; start < unique.length; start += LOOKUP_CHUNK) {
    const part = unique.slice(start, start + LOOKUP_CHUNK);
    out.push(
      ...(await db
        .prepare(
          `SELECT image_id AS imageId, class_id AS classId, kind, geometry FROM annotations WHERE image_id IN (${part.map(() => '?').join(', ')})`,
        )
        .all(...part) as { imageId: number; classId: number | null; kind: AnnotationKind; geometry: string }[]),
    );
  }
  return out;
}

/** Sets the split of each image; returns how many rows changed. */
export async function setImageSplits(db: Db, items: readonly { id: number; split: Split | null }[], now = Date.now()): Promise<number> {
  const stmt = db.prepare('UPDATE images SET split = ?, updated_at = ? WHERE id = ? AND split IS NOT ?');
  return await db.transaction(async () => {
    let n = 0;
    for (const it of items) n += (await stmt.run(it.split, now, it.id, it.split)).changes;
    return n;
  })();
}

/**
 * Remembers the ids a COCO source gave images and classes. The first source wins: an image or
 * class that has an id keeps it, and an id already given to another image or class is not reused.
 */
export async function rememberCocoIds(db: Db, images: readonly { id: number; cocoId: number }[], classes: readonly { id: number; cocoId: number }[]): Promise<void> {
  // Many rows per statement (few round trips to a PostgreSQL server); rows are taken in order.
  const chunk = 500;
  for (const [table, column, rows] of [
    ['coco_image_ids', 'image_id', images],
    ['coco_category_ids', 'class_id', classes],
  ] as const) {
    for (let start = 0; start < rows.length; start += chunk) {
      const part = rows.slice(start, start + chunk);
      await db
        .prepare(`INSERT OR IGNORE INTO ${table} (${column}, coco_id) VALUES ${part.map(() => '(?, ?)').join(', ')}`)
        .run(part.flatMap((r) => [r.id, r.cocoId]));
    }
  }
}

/** COCO image id -> dataset image id, as COCO imports remembered them. */
export async function imagesByCocoId(db: Db): Promise<Map<number, number>> {
  return new Map((await db.prepare('SELECT coco_id, image_id FROM coco_image_ids').raw().all() as [number, number][]).map(([c, i]) => [c, i]));
}

/** COCO category id -> dataset class id, as COCO imports remembered them. */
export async function classesByCocoId(db: Db): Promise<Map<number, number>> {
  return new Map((await db.prepare('SELECT coco_id, class_id FROM coco_category_ids').raw().all() as [number, number][]).map(([c, i]) => [c, i]));
}

/**
 * The COCO ids an export writes: remembered ones as they were, and for images and classes without
 * one their dataset id (image) or position + 1 (class) shifted past the largest remembered id, so
 * no two share one. With nothing remembered the ids are the dataset's own.
 */
export async function cocoExportIds(db: Db): Promise<{ image: (id: number) => number; category: (classId: number, index: number) => number }> {
  const images = new Map((await db.prepare('SELECT image_id, coco_id FROM coco_image_ids').raw().all() as [number, number][]).map(([i, c]) => [i, c]));
  const classes = new Map((await db.prepare('SELECT class_id, coco_id FROM coco_category_ids').raw().all() as [number, number][]).map(([i, c]) => [i, c]));
  // A loop, not Math.max(...ids): a dataset can remember more ids than a call takes arguments.
  const largest = (ids: Iterable<number>) => {
    let m = 0;
    for (const v of ids) if (v > m) m = v;
    return m;
  };
  const imageBase = largest(images.values());
  const classBase = largest(classes.values());
  return { image: (id) => images.get(id) ?? imageBase + id, category: (classId, index) => classes.get(classId) ?? classBase + index + 1 };
}
