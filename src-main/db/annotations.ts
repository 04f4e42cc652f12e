import type { AnnotationKind, AnnotationRecord, AnnotationSource, AttributeValue, Geometry } from '../common/model';

import type { Db } from './open';

export type { AnnotationRecord };

export interface NewAnnotation {
  imageId: number;
  frame?: number;
  classId: number | null;
  geometry: Geometry;
  source: AnnotationSource;
  modelRunId?: number | null;
  score?: number | null;
  attributes?: Record<string, AttributeValue>;
  z?: number;
}

/** A full annotation value; without `id` SQLite assigns one (ids are never reused, see migration 2). */
export type AnnotationValue = Omit<AnnotationRecord, 'id'> & { id?: number };

interface AnnotationRow {
  id: number;
  image_id: number;
  frame: number;
  class_id: number | null;
  kind: AnnotationKind;
  geometry: string;
  source: AnnotationSource;
  model_run_id: number | null;
  score: number | null;
  attributes: string;
  z: number;
  created_at: number;
  updated_at: number;
  version: number;
}

function toRecord(r: AnnotationRow): AnnotationRecord {
  return {
    id: r.id,
    imageId: r.image_id,
    frame: r.frame,
    classId: r.class_id,
    kind: r.kind,
    geometry: JSON.parse(r.geometry) as Geometry,
    source: r.source,
    modelRunId: r.model_run_id,
    score: r.score,
    attributes: JSON.parse(r.attributes) as Record<string, AttributeValue>,
    z: r.z,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    version: r.version,
  };
}

const INSERT_COLUMNS =
  '(image_id, frame, class_id, kind, geometry, source, model_run_id, score, attributes, z, created_at, updated_at)';
const ROW_PARAMS = '(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)';
/** Rows per INSERT statement: one call into SQLite per chunk rather than per row. */
const CHUNK = 64;

function pushRow(params: unknown[], a: NewAnnotation, now: number): void {
  params.push(
    a.imageId,
    a.frame ?? 0,
    a.classId,
    a.geometry.kind,
    JSON.stringify(a.geometry),
    a.source,
    a.modelRunId ?? null,
    a.score ?? null,
    a.attributes ? JSON.stringify(a.attributes) : '{}',
    a.z ?? 0,
    now,
    now,
  );
}

/**
 * Inserts annotations in one transaction (all or nothing); returns the new ids in order.
 * Rows go in multi-row statements; the ids of one statement are consecutive rowids.
 */
export async function insertAnnotations(db: Db, items: readonly NewAnnotation[], now = Date.now()): Promise<number[]> {
  // SQLite numbers one statement's rows consecutively; PostgreSQL says which ids it gave.
  const returning = db.engine === 'sqlite' ? '' : ' RETURNING id';
  const sqlFor = (n: number) => `INSERT INTO annotations ${INSERT_COLUMNS} VALUES ${Array(n).fill(ROW_PARAMS).join(', ')}${returning}`;
  const full = items.length >= CHUNK ? db.prepare(sqlFor(CHUNK)) : null;
  const ids: number[] = new Array(items.length);
  await db.transaction(async () => {
    for (let start = 0; start < items.length; start += CHUNK) {
      const n = Math.min(CHUNK, items.length - start);
      const params: unknown[] = [];
      for (let i = start; i < start + n; i++) pushRow(params, items[i]!, now);
      const stmt = n === CHUNK && full ? full : db.prepare(sqlFor(n));
      if (returning) {
        const got = (await stmt.pluck().all(params)) as number[];
        for (let k = 0; k < n; k++) ids[start + k] = got[k]!;
      } else {
        const last = Number((await stmt.run(params)).lastInsertRowid);
        for (let k = 0; k < n; k++) ids[start + k] = last - n + 1 + k;
      }
    }
  })();
  return ids;
}

export async function countAnnotationsOfImage(db: Db, imageId: number): Promise<number> {
  return await db.prepare('SELECT count(*) FROM annotations WHERE image_id = ?').pluck().get(imageId) as number;
}

export async function listAnnotations(db: Db, imageId: number): Promise<AnnotationRecord[]> {
  const rows = await db.prepare('SELECT * FROM annotations WHERE image_id = ? ORDER BY z, id').all(imageId) as AnnotationRow[];
  return rows.map(toRecord);
}

export async function countByKind(db: Db): Promise<Record<AnnotationKind, number>> {
  const out: Record<AnnotationKind, number> = { box: 0, polygon: 0, mask: 0, point: 0, obb: 0, tag: 0, polyline: 0, keypoints: 0 };
  for (const r of await db.prepare('SELECT kind, count(*) AS n FROM annotations GROUP BY kind').all() as {
    kind: AnnotationKind;
    n: number;
  }[]) {
    out[r.kind] = r.n;
  }
  return out;
}

export async function countBySource(db: Db): Promise<Record<AnnotationSource, number>> {
  const out: Record<AnnotationSource, number> = { human: 0, model: 0 };
  for (const r of await db.prepare('SELECT source, count(*) AS n FROM annotations GROUP BY source').all() as {
    source: AnnotationSource;
    n: number;
  }[]) {
    out[r.source] = r.n;
  }
  return out;
}

const LOOKUP_CHUNK = 500;

/** The stored annotations with these ids, whichever image they are on; missing ids are absent. */
export async function getAnnotationsByIds(db: Db, ids: readonly number[]): Promise<Map<number, AnnotationRecord>> {
  const out = new Map<number, AnnotationRecord>();
  const unique = [...new Set(ids)];
  for (let start = 0; start < unique.length; start += LOOKUP_CHUNK) {
    const part = unique.slice(start, start + LOOKUP_CHUNK);
    const rows = await db
      .prepare(`SELECT * FROM annotations WHERE id IN (${part.map(() => '?').join(', ')})`)
      .all(...part) as AnnotationRow[];
    for (const r of rows) out.set(r.id, toRecord(r));
  }
  return out;
}

function valueParams(a: AnnotationValue): unknown[] {
  return [
    a.imageId,
    a.frame,
    a.classId,
    a.geometry.kind,
    JSON.stringify(a.geometry),
    a.source,
    a.modelRunId,
    a.score,
    JSON.stringify(a.attributes),
    a.z,
    a.createdAt,
    a.updatedAt,
    a.version,
  ];
}

/**
 * Inserts full values, every field as given (timestamps and version included); a value with an
 * `id` is stored under that id. Returns the ids in order.
 */
export async function insertAnnotationValues(db: Db, values: readonly AnnotationValue[]): Promise<number[]> {
  const columns = 'image_id, frame, class_id, kind, geometry, source, model_run_id, score, attributes, z, created_at, updated_at, version';
  const withId = db.prepare(`INSERT INTO annotations (id, ${columns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`).pluck();
  const fresh = db.prepare(`INSERT INTO annotations (${columns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`).pluck();
  return await db.transaction(async () => {
    const ids: number[] = [];
    for (const v of values) {
      ids.push((await (v.id == null ? await fresh.get(...valueParams(v)) : await withId.get(v.id, ...valueParams(v)))) as number);
    }
    return ids;
  })();
}

/** Overwrites stored annotations with full values (matched by id); returns how many rows it wrote. */
export async function replaceAnnotations(db: Db, records: readonly AnnotationRecord[]): Promise<number> {
  const stmt = db.prepare(
    `UPDATE annotations SET image_id = ?, frame = ?, class_id = ?, kind = ?, geometry = ?, source = ?, model_run_id = ?,
       score = ?, attributes = ?, z = ?, created_at = ?, updated_at = ?, version = ? WHERE id = ?`,
  );
  return await db.transaction(async () => {
    let n = 0;
    for (const r of records) n += (await stmt.run(...valueParams(r), r.id)).changes;
    return n;
  })();
}

export async function deleteAnnotationsByIds(db: Db, ids: readonly number[]): Promise<number> {
  const stmt = db.prepare('DELETE FROM annotations WHERE id = ?');
  return await db.transaction(async () => {
    let n = 0;
    for (const id of ids) n += (await stmt.run(id)).changes;
    return n;
  })();
}

/** Images holding at least one annotation of the class. */
export async function imagesWithClass(db: Db, classId: number): Promise<number[]> {
  return await db.prepare('SELECT DISTINCT image_id FROM annotations WHERE class_id = ?').pluck().all(classId) as number[];
}

/**
 * Gives every annotation of class `from` the class `to`, as an edit of each value (version bumped).
 * Kept predictions and rejections follow, and `to` takes over the COCO category id of `from`
 * when it has none.
 */
export async function moveAnnotationsToClass(db: Db, from: number, to: number, now = Date.now()): Promise<number> {
  await db.prepare('UPDATE prediction_history SET class_id = ? WHERE class_id = ?').run(to, from);
  await db.prepare('UPDATE prediction_rejections SET class_id = ? WHERE class_id = ?').run(to, from);
  await db
    .prepare('UPDATE coco_category_ids SET class_id = ? WHERE class_id = ? AND NOT EXISTS (SELECT 1 FROM coco_category_ids WHERE class_id = ?)')
    .run(to, from, to);
  return (await db
    .prepare('UPDATE annotations SET class_id = ?, updated_at = ?, version = version + 1 WHERE class_id = ?')
    .run(to, now, from)).changes;
}

export async function deleteAnnotationsOfClass(db: Db, classId: number): Promise<number> {
  return (await db.prepare('DELETE FROM annotations WHERE class_id = ?').run(classId)).changes;
}
