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
export function imagesByHashes(db: Db, hashes: readonly string[]): Map<string, KnownImage> {
  const out = new Map<string, KnownImage & { hash: string }>();
  const unique = [...new Set(hashes)];
  for (let start = 0; start < unique.length; start += LOOKUP_CHUNK) {
    const part = unique.slice(start, start + LOOKUP_CHUNK);
    const rows = db
      .prepare(`SELECT id, path, width, height, split, content_hash AS hash FROM images WHERE content_hash IN (${part.map(() => '?').join(', ')})`)
      .all(...part) as (KnownImage & { hash: string })[];
    for (const r of rows) out.set(r.hash, r);
  }
  return out;
}

/** Stored paths already taken, among `paths`. */
export function takenPaths(db: Db, paths: readonly string[]): Set<string> {
  const out = new Set<string>();
  const unique = [...new Set(paths)];
  for (let start = 0; start < unique.length; start += LOOKUP_CHUNK) {
    const part = unique.slice(start, start + LOOKUP_CHUNK);
    const rows = db.prepare(`SELECT path FROM images WHERE path IN (${part.map(() => '?').join(', ')})`).pluck().all(...part) as string[];
    for (const p of rows) out.add(p);
  }
  return out;
}

/** The stored annotations of some images, without parsing geometry: enough to recognise duplicates. */
export function annotationKeysOfImages(
  db: Db,
  imageIds: readonly number[],
): { imageId: number; classId: number | null; kind: AnnotationKind; geometry: string }[] {
  const out: { imageId: number; classId: number | null; kind: AnnotationKind; geometry: string }[] = [];
  const unique = [...new Set(imageIds)];
  for (let start = 0; start < unique.length; start += LOOKUP_CHUNK) {
    const part = unique.slice(start, start + LOOKUP_CHUNK);
    out.push(
      ...(db
        .prepare(
          `SELECT image_id AS imageId, class_id AS classId, kind, geometry FROM annotations WHERE image_id IN (${part.map(() => '?').join(', ')})`,
        )
        .all(...part) as { imageId: number; classId: number | null; kind: AnnotationKind; geometry: string }[]),
    );
  }
  return out;
}

/** Sets the split of each image; returns how many rows changed. */
export function setImageSplits(db: Db, items: readonly { id: number; split: Split | null }[], now = Date.now()): number {
  const stmt = db.prepare('UPDATE images SET split = ?, updated_at = ? WHERE id = ? AND split IS NOT ?');
  return db.transaction(() => items.reduce((n, it) => n + stmt.run(it.split, now, it.id, it.split).changes, 0))();
}
