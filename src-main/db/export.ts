import type { AnnotationKind, AnnotationSource, AttributeValue, Geometry, ImageStatus, Split } from '../common/model';
import type { Db } from './open';

/** Which images an export or a split assignment covers. */
export type ExportScope = 'all' | 'done' | 'reviewed';

const SCOPE_STATUSES: Record<ExportScope, readonly ImageStatus[] | null> = {
  all: null,
  done: ['done', 'reviewed'],
  reviewed: ['reviewed'],
};

function scopeSql(scope: ExportScope, alias = ''): string {
  const statuses = SCOPE_STATUSES[scope];
  return statuses ? `${alias}status IN (${statuses.map((s) => `'${s}'`).join(', ')})` : '1 = 1';
}

/** Predictions join an export only when asked for. */
function sourceSql(withPredictions: boolean, alias = ''): string {
  return withPredictions ? '1 = 1' : `${alias}source = 'human'`;
}

export interface ExportImageRow {
  id: number;
  path: string;
  external: boolean;
  width: number;
  height: number;
  orientation: number;
  split: Split | null;
  /** Stored format ('dicom', 'jpeg', ...): decides how the file leaves the dataset. */
  format: string;
}

export interface ExportAnnotationRow {
  id: number;
  classId: number | null;
  kind: AnnotationKind;
  geometry: Geometry;
  source: AnnotationSource;
  score: number | null;
  attributes: Record<string, AttributeValue>;
  z: number;
  /** Frame of a multi-frame image the shape was drawn on (0 for ordinary images and tags). */
  frame: number;
  /** `geometry` as stored: the JSON.stringify text it was written as (see annotations.ts). */
  geometryJson: string;
}

export interface ExportChunk {
  images: ExportImageRow[];
  /** Annotations of each image of the chunk, by z then id (drawing order). */
  annotations: Map<number, ExportAnnotationRow[]>;
}


export async function countScopeImages(db: Db, scope: ExportScope): Promise<number> {
  return await db.prepare(`SELECT count(*) FROM images WHERE ${scopeSql(scope)}`).pluck().get() as number;
}

/**
 * The next `limit` images of the scope after `afterId` (id order) with their annotations.
 *
 * Read in chunks rather than through one open cursor: an export awaits file writes between
 * images, and an iterator left open over those awaits would keep the connection busy for every
 * other caller (the app keeps editing while an export runs).
 */
export async function readExportChunk(db: Db, scope: ExportScope, withPredictions: boolean, afterId: number, limit: number): Promise<ExportChunk> {
  const images: ExportImageRow[] = [];
  const annotations = new Map<number, ExportAnnotationRow[]>();
  for await (const r of db.prepare(
    `SELECT id, path, external, width, height, orientation, split, format FROM images
       WHERE id > ? AND ${scopeSql(scope)} ORDER BY id LIMIT ?`,
  ).iterate(afterId, limit) as AsyncIterableIterator<{
    id: number;
    path: string;
    external: number;
    width: number;
    height: number;
    orientation: number;
    split: Split | null;
    format: string;
  }>) {
    images.push({ ...r, external: r.external === 1 });
    annotations.set(r.id, []);
  }
  if (images.length === 0) return { images, annotations };
  const first = images[0]!.id;
  const last = images[images.length - 1]!.id;
  // Images by rowid range, then their annotations through the image index: a sparse scope
  // (few done images) never reads the annotations of the images between them.
  const stmt = db.prepare(
    // The common values come back as NULL (no string made for each row): human source, no attributes.
    `SELECT a.id, a.image_id, a.class_id, a.kind, a.geometry, NULLIF(a.source, 'human'), a.score, NULLIF(a.attributes, '{}'), a.z, a.frame
     FROM images i JOIN annotations a ON a.image_id = i.id
     WHERE i.id BETWEEN ? AND ? AND ${scopeSql(scope, 'i.')} AND ${sourceSql(withPredictions, 'a.')}
     ORDER BY a.image_id, a.z, a.id`,
  );
  // Rows as arrays (raw): no object with named keys per row, measurable over millions.
  type Row = [number, number, number | null, AnnotationKind, string, AnnotationSource | null, number | null, string | null, number, number];
  for await (const r of stmt.raw(true).iterate(first, last) as AsyncIterableIterator<Row>) {
    const list = annotations.get(r[1]);
    if (!list) continue;
    list.push({
      id: r[0],
      classId: r[2],
      kind: r[3],
      geometry: JSON.parse(r[4]) as Geometry,
      source: r[5] ?? 'human',
      score: r[6],
      // Most annotations have no attributes; skipping the parse of "{}" is measurable over millions.
      attributes: r[7] === null ? {} : (JSON.parse(r[7]) as Record<string, AttributeValue>),
      z: r[8],
      frame: r[9],
      geometryJson: r[4],
    });
  }
  return { images, annotations };
}

/**
 * The first classified shape of the scope drawn on a frame after the first (export order), and
 * how many there are: the interchange formats describe one picture per image file, so these
 * cannot be exported as drawn.
 */
export async function countOnLaterFrames(db: Db, scope: ExportScope, withPredictions: boolean): Promise<{ count: number; first: { imageId: number; path: string; annotationId: number; frame: number } | null }> {
  const where = `FROM images i JOIN annotations a ON a.image_id = i.id
     WHERE ${scopeSql(scope, 'i.')} AND ${sourceSql(withPredictions, 'a.')} AND a.frame > 0 AND a.kind != 'tag' AND a.class_id IS NOT NULL`;
  const count = await db.prepare(`SELECT count(*) ${where}`).pluck().get() as number;
  if (count === 0) return { count, first: null };
  const first = await db
    .prepare(`SELECT i.id AS imageId, i.path AS path, a.id AS annotationId, a.frame AS frame ${where} ORDER BY i.id, a.z, a.id LIMIT 1`)
    .get() as { imageId: number; path: string; annotationId: number; frame: number };
  return { count, first };
}

export interface KindsOutside {
  count: number;
  /** The first one in export order (image id, then drawing order). */
  first: { imageId: number; path: string; annotationId: number; kind: AnnotationKind } | null;
}

/**
 * Annotations of the scope whose kind is not among `kinds` (tags and unclassified ones aside:
 * they are never shapes of the export). A strict export is refused from this count alone,
 * before anything is written.
 */
export async function countKindsOutside(db: Db, scope: ExportScope, withPredictions: boolean, kinds: readonly AnnotationKind[]): Promise<KindsOutside> {
  const notIn = kinds.length ? `AND a.kind NOT IN (${kinds.map(() => '?').join(', ')})` : '';
  const where = `FROM annotations a JOIN images i ON i.id = a.image_id
     WHERE ${scopeSql(scope, 'i.')} AND ${sourceSql(withPredictions, 'a.')} AND a.kind <> 'tag' AND a.class_id IS NOT NULL ${notIn}`;
  const count = await db.prepare(`SELECT count(*) ${where}`).pluck().get(...kinds) as number;
  if (count === 0) return { count, first: null };
  const first = await db
    .prepare(`SELECT i.id AS imageId, i.path AS path, a.id AS annotationId, a.kind AS kind ${where} ORDER BY i.id, a.z, a.id LIMIT 1`)
    .get(...kinds) as KindsOutside['first'];
  return { count, first };
}

/** (image, class) pairs of human annotations (tags included) of the images in scope, image id order. */
export async function imageClassPairs(db: Db, scope: ExportScope): Promise<{ imageId: number; classes: number[] }[]> {
  const out: { imageId: number; classes: number[] }[] = [];
  let cur: { imageId: number; classes: number[] } | null = null;
  const rows = db
    .prepare(
      `SELECT i.id AS imageId, a.class_id AS classId FROM images i
       LEFT JOIN (SELECT DISTINCT image_id, class_id FROM annotations WHERE source = 'human' AND class_id IS NOT NULL) a
         ON a.image_id = i.id
       WHERE ${scopeSql(scope, 'i.')} ORDER BY i.id, a.class_id`,
    )
    .iterate() as AsyncIterableIterator<{ imageId: number; classId: number | null }>;
  for await (const r of rows) {
    if (!cur || cur.imageId !== r.imageId) {
      cur = { imageId: r.imageId, classes: [] };
      out.push(cur);
    }
    if (r.classId !== null) cur.classes.push(r.classId);
  }
  return out;
}

/** Writes the split of each image in one transaction; returns how many rows changed. */
export async function setSplits(db: Db, pairs: readonly (readonly [number, Split | null])[], now = Date.now()): Promise<number> {
  const stmt = db.prepare('UPDATE images SET split = ?, updated_at = ? WHERE id = ? AND split IS DISTINCT FROM ?');
  return await db.transaction(async () => {
    let n = 0;
    for (const [id, split] of pairs) n += (await stmt.run(split, now, id, split)).changes;
    return n;
  })();
}
