import type { AnnotationKind, AnnotationRecord, AnnotationSource, Geometry } from '../common/model';

export type { AnnotationRecord };
import type { Db } from './open';

export interface NewAnnotation {
  imageId: number;
  frame?: number;
  classId: number | null;
  geometry: Geometry;
  source: AnnotationSource;
  modelRunId?: number | null;
  score?: number | null;
  attributes?: Record<string, unknown>;
  z?: number;
}


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
    attributes: JSON.parse(r.attributes) as Record<string, unknown>,
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
export function insertAnnotations(db: Db, items: readonly NewAnnotation[], now = Date.now()): number[] {
  const sqlFor = (n: number) => `INSERT INTO annotations ${INSERT_COLUMNS} VALUES ${Array(n).fill(ROW_PARAMS).join(', ')}`;
  const full = items.length >= CHUNK ? db.prepare(sqlFor(CHUNK)) : null;
  const ids: number[] = new Array(items.length);
  db.transaction(() => {
    for (let start = 0; start < items.length; start += CHUNK) {
      const n = Math.min(CHUNK, items.length - start);
      const params: unknown[] = [];
      for (let i = start; i < start + n; i++) pushRow(params, items[i]!, now);
      const stmt = n === CHUNK && full ? full : db.prepare(sqlFor(n));
      const last = Number(stmt.run(params).lastInsertRowid);
      for (let k = 0; k < n; k++) ids[start + k] = last - n + 1 + k;
    }
  })();
  return ids;
}

export function countAnnotationsOfImage(db: Db, imageId: number): number {
  return db.prepare('SELECT count(*) FROM annotations WHERE image_id = ?').pluck().get(imageId) as number;
}

export function listAnnotations(db: Db, imageId: number): AnnotationRecord[] {
  const rows = db.prepare('SELECT * FROM annotations WHERE image_id = ? ORDER BY z, id').all(imageId) as AnnotationRow[];
  return rows.map(toRecord);
}

export function countByKind(db: Db): Record<AnnotationKind, number> {
  const out: Record<AnnotationKind, number> = { box: 0, polygon: 0, mask: 0, point: 0, obb: 0, tag: 0 };
  for (const r of db.prepare('SELECT kind, count(*) AS n FROM annotations GROUP BY kind').all() as {
    kind: AnnotationKind;
    n: number;
  }[]) {
    out[r.kind] = r.n;
  }
  return out;
}

export function countBySource(db: Db): Record<AnnotationSource, number> {
  const out: Record<AnnotationSource, number> = { human: 0, model: 0 };
  for (const r of db.prepare('SELECT source, count(*) AS n FROM annotations GROUP BY source').all() as {
    source: AnnotationSource;
    n: number;
  }[]) {
    out[r.source] = r.n;
  }
  return out;
}
