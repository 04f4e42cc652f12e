import type { GeoReference, GeoTransform } from '../common/geo';
import { parseNodata } from '../common/geo';
import type { AnnotationKind, AnnotationRecord, AnnotationSource, AttributeDef, AttributeValue, ClassRecord, Geometry, ImageStatus, KeypointSchema, Split } from '../common/model';
import type { VersionDiff, VersionRecord } from '../common/versions';
import type { ExportAnnotationRow, ExportChunk, ExportImageRow, ExportScope, KindsOutside } from './export';
import type { Db } from './open';

/**
 * Frozen versions of the dataset (migration 15). A version is written once, in one transaction,
 * and read by exports, the viewer and diffs; nothing here updates one.
 */

interface VersionRow {
  id: number;
  number: number;
  name: string;
  note: string;
  created_at: number;
  with_predictions: number;
  recipe: string | null;
  image_count: number;
  class_count: number;
  annotation_count: number;
}

function toRecord(r: VersionRow): VersionRecord {
  return {
    number: r.number,
    name: r.name,
    note: r.note,
    createdAt: r.created_at,
    withPredictions: r.with_predictions === 1,
    recipe: r.recipe === null ? null : JSON.parse(r.recipe),
    images: r.image_count,
    classes: r.class_count,
    annotations: r.annotation_count,
  };
}

/** Which stored annotations a version freezes: human ones (accepted predictions are human rows), and pending predictions when asked. */
const frozenSource = (withPredictions: boolean, alias = '') => (withPredictions ? '1 = 1' : `${alias}source = 'human'`);

export interface NewVersion {
  name: string;
  note?: string;
  withPredictions?: boolean;
  recipe?: unknown;
  /**
   * How images shown through a display window (DICOM, samples deeper than 8 bits) were displayed
   * when frozen, by image id: read inside the version's transaction (services/versions computes it).
   */
  display?: () => Promise<Map<number, FrozenDisplay>>;
}

/**
 * What decoding a frozen image for a recipe needs beyond its row, kept with the version so a later
 * export reads neither the live image record nor the live window: the sample depth (above 8 bits
 * only), the window chosen for it (remembered, else the file's own; absent: automatic from the
 * pixels), and the DICOM modality (an automatic CT window leaves the padding out). Stored in the
 * version image's JSON column `geo` under the key `display`, beside the georeference's keys.
 */
export interface FrozenDisplay {
  bitDepth?: number;
  window?: { center: number; width: number };
  modality?: string;
}

/**
 * Freezes the dataset as it is now under the next number: images (with content hashes, status,
 * split, remembered COCO id and georeference), classes and annotations. One transaction: a
 * failure anywhere leaves no version behind. `hook` runs inside it after the rows are copied (a
 * test makes it throw).
 */
export async function insertVersion(db: Db, v: NewVersion, now = Date.now(), hook?: () => void): Promise<VersionRecord> {
  const withPredictions = v.withPredictions === true;
  return await db.transaction(async () => {
    // Numbers are never reused, even after the newest version is deleted, and a failed create
    // uses none up. SQLite's sequence rolls back with the transaction; a PostgreSQL sequence does
    // not, so there the last number given is kept in meta, written in this transaction (its row
    // lock also makes concurrent creates take turns).
    let next: number;
    if (db.engine === 'sqlite') {
      next = (((await db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'versions'").pluck().get()) as number | undefined) ?? 0) + 1;
    } else {
      await db.prepare("INSERT OR IGNORE INTO meta (key, value) VALUES ('versions_last_number', '0')").run();
      next = Number(
        await db
          .prepare(
            // The id sequence holds the counter a copy from SQLite carried over (see carryCounters).
            `UPDATE meta SET value = CAST(greatest(CAST(value AS bigint), (SELECT coalesce(max(id), 0) FROM versions),
                 coalesce(pg_sequence_last_value(pg_get_serial_sequence('versions', 'id')::regclass), 0)) + 1 AS text)
             WHERE key = 'versions_last_number' RETURNING value`,
          )
          .pluck()
          .get(),
      );
    }
    const images = await db.prepare('SELECT count(*) FROM images').pluck().get() as number;
    const classes = await db.prepare('SELECT count(*) FROM classes').pluck().get() as number;
    const annotations = await db.prepare(`SELECT count(*) FROM annotations WHERE ${frozenSource(withPredictions)}`).pluck().get() as number;
    await db.prepare(
      `INSERT INTO versions (id, number, name, note, created_at, with_predictions, recipe, image_count, class_count, annotation_count)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(next, next, v.name, v.note ?? '', now, withPredictions ? 1 : 0, v.recipe === undefined || v.recipe === null ? null : JSON.stringify(v.recipe), images, classes, annotations);
    // The display of windowed images goes through a temporary table joined into the copy (rows are never updated).
    await db.exec('CREATE TEMP TABLE IF NOT EXISTS version_display (image_id INTEGER PRIMARY KEY, display TEXT NOT NULL)');
    await db.exec('DELETE FROM temp.version_display');
    const putDisplay = db.prepare('INSERT INTO temp.version_display (image_id, display) VALUES (?, ?)');
    for (const [id, d] of (await v.display?.()) ?? []) await putDisplay.run(id, JSON.stringify({ display: d }));
    await db.prepare(
      `INSERT INTO version_images (version_id, image_id, path, external, content_hash, width, height, orientation, format, frames, status, split, coco_id, geo)
       SELECT ?, i.id, i.path, i.external, i.content_hash, i.width, i.height, i.orientation, i.format, i.frames, i.status, i.split, c.coco_id,
              ${frozenGeo(db)}
       FROM images i LEFT JOIN coco_image_ids c ON c.image_id = i.id LEFT JOIN image_geo g ON g.image_id = i.id
       LEFT JOIN temp.version_display d ON d.image_id = i.id`,
    ).run(next);
    await db.exec('DELETE FROM temp.version_display');
    await db.prepare(
      `INSERT INTO version_classes (version_id, class_id, name, color, sort_order, attributes, keypoints, coco_id)
       SELECT ?, k.id, k.name, k.color, k.sort_order, k.attributes, k.keypoints, c.coco_id
       FROM classes k LEFT JOIN coco_category_ids c ON c.class_id = k.id`,
    ).run(next);
    await db.prepare(
      `INSERT INTO version_annotations (version_id, id, image_id, frame, class_id, kind, geometry, attributes, source, score, z)
       SELECT ?, id, image_id, frame, class_id, kind, geometry, attributes, source, score, z FROM annotations WHERE ${frozenSource(withPredictions)}`,
    ).run(next);
    hook?.();
    return toRecord(await db.prepare('SELECT * FROM versions WHERE id = ?').get(next) as VersionRow);
  })();
}

export async function listVersions(db: Db): Promise<VersionRecord[]> {
  return (await db.prepare('SELECT * FROM versions ORDER BY number').all() as VersionRow[]).map(toRecord);
}

export async function getVersion(db: Db, number: number): Promise<VersionRecord | undefined> {
  const r = await db.prepare('SELECT * FROM versions WHERE number = ?').get(number) as VersionRow | undefined;
  return r ? toRecord(r) : undefined;
}

/** Deletes a version and its frozen rows; false when there was none of that number. */
export async function deleteVersion(db: Db, number: number): Promise<boolean> {
  return await db.transaction(async () => {
    const id = await db.prepare('SELECT id FROM versions WHERE number = ?').pluck().get(number) as number | undefined;
    if (id === undefined) return false;
    // Children first: the foreign keys cascade only where the connection enables them.
    for (const t of ['version_annotations', 'version_classes', 'version_images']) await db.prepare(`DELETE FROM ${t} WHERE version_id = ?`).run(id);
    await db.prepare('DELETE FROM versions WHERE id = ?').run(id);
    return true;
  })();
}

const SCOPE: Record<ExportScope, string> = {
  all: '1 = 1',
  done: "status IN ('done', 'reviewed')",
  reviewed: "status = 'reviewed'",
};

// ---- what an export of a version reads (the frozen counterparts of db/export.ts) ----

/** The georeference and display window an image is frozen with, as one JSON value (or NULL). */
function frozenGeo(db: Db): string {
  if (db.engine === 'postgres') {
    return `CASE WHEN g.image_id IS NULL AND d.display IS NULL THEN NULL
                 ELSE (CASE WHEN g.image_id IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('transform', g.transform::jsonb, 'epsg', g.epsg,
                         'crs_name', g.crs_name, 'nodata', g.nodata, 'linear_unit', g.linear_unit) END) || coalesce(d.display::jsonb, '{}'::jsonb) END`;
  }
  return `CASE WHEN g.image_id IS NULL AND d.display IS NULL THEN NULL
               ELSE json_patch(CASE WHEN g.image_id IS NULL THEN '{}' ELSE json_object('transform', json(g.transform), 'epsg', g.epsg, 'crs_name', g.crs_name,
                                                                  'nodata', g.nodata, 'linear_unit', g.linear_unit) END,
                               coalesce(d.display, '{}')) END`;
}


export async function countVersionImages(db: Db, version: number, scope: ExportScope): Promise<number> {
  return await db.prepare(`SELECT count(*) FROM version_images WHERE version_id = ? AND ${SCOPE[scope]}`).pluck().get(version) as number;
}

/** The version's images after `afterId` (id order) with their frozen annotations by z then id, as readExportChunk. */
export async function readVersionChunk(db: Db, version: number, scope: ExportScope, withPredictions: boolean, afterId: number, limit: number): Promise<ExportChunk> {
  const images: ExportImageRow[] = [];
  const annotations = new Map<number, ExportAnnotationRow[]>();
  const rows = await db.prepare(
    `SELECT image_id AS id, path, external, width, height, orientation, split, format FROM version_images
     WHERE version_id = ? AND image_id > ? AND ${SCOPE[scope]} ORDER BY image_id LIMIT ?`,
  ).all(version, afterId, limit) as (Omit<ExportImageRow, 'external'> & { external: number })[];
  for (const r of rows) {
    images.push({ ...r, external: r.external === 1 });
    annotations.set(r.id, []);
  }
  if (images.length === 0) return { images, annotations };
  const stmt = db.prepare(
    `SELECT id, image_id, class_id, kind, geometry, source, score, attributes, z, frame FROM version_annotations
     WHERE version_id = ? AND image_id BETWEEN ? AND ? AND ${frozenSource(withPredictions)} ORDER BY image_id, z, id`,
  );
  type Row = [number, number, number | null, AnnotationKind, string, AnnotationSource, number | null, string, number, number];
  for await (const r of stmt.raw(true).iterate(version, images[0]!.id, images[images.length - 1]!.id) as AsyncIterableIterator<Row>) {
    const list = annotations.get(r[1]);
    if (!list) continue;
    list.push({
      id: r[0],
      classId: r[2],
      kind: r[3],
      geometry: JSON.parse(r[4]) as Geometry,
      source: r[5],
      score: r[6],
      attributes: JSON.parse(r[7]) as Record<string, AttributeValue>,
      z: r[8],
      frame: r[9],
      geometryJson: r[4],
    });
  }
  return { images, annotations };
}

interface VersionClassRow {
  class_id: number;
  name: string;
  color: string;
  sort_order: number;
  attributes: string;
  keypoints: string | null;
  coco_id: number | null;
}

/** The version's classes in their frozen order (as listClasses orders them). */
export async function versionClasses(db: Db, version: number): Promise<(ClassRecord & { cocoId: number | null })[]> {
  const rows = await db.prepare('SELECT * FROM version_classes WHERE version_id = ? ORDER BY sort_order, class_id').all(version) as VersionClassRow[];
  return rows.map((r) => ({
    id: r.class_id,
    name: r.name,
    color: r.color,
    hotkey: null,
    order: r.sort_order,
    attributes: JSON.parse(r.attributes) as AttributeDef[],
    keypoints: r.keypoints === null ? null : (JSON.parse(r.keypoints) as KeypointSchema),
    cocoId: r.coco_id,
  }));
}

/** The COCO ids an export of the version writes, computed from its frozen ids as cocoExportIds does from the live ones. */
export async function versionCocoIds(db: Db, version: number): Promise<{ image: (id: number) => number; category: (classId: number, index: number) => number }> {
  const images = new Map(await db.prepare('SELECT image_id, coco_id FROM version_images WHERE version_id = ? AND coco_id IS NOT NULL').raw().all(version) as [number, number][]);
  const classes = new Map(await db.prepare('SELECT class_id, coco_id FROM version_classes WHERE version_id = ? AND coco_id IS NOT NULL').raw().all(version) as [number, number][]);
  const largest = (ids: Iterable<number>) => {
    let m = 0;
    for (const v of ids) if (v > m) m = v;
    return m;
  };
  const imageBase = largest(images.values());
  const classBase = largest(classes.values());
  return { image: (id) => images.get(id) ?? imageBase + id, category: (classId, index) => classes.get(classId) ?? classBase + index + 1 };
}

export async function versionGeo(db: Db, version: number, imageId: number): Promise<GeoReference | null> {
  const text = await db.prepare('SELECT geo FROM version_images WHERE version_id = ? AND image_id = ?').pluck().get(version, imageId) as string | null | undefined;
  if (!text) return null;
  const g = JSON.parse(text) as { transform?: GeoTransform; epsg: number | null; crs_name: string | null; nodata: string | null; linear_unit: number | null };
  // The column may hold only the frozen display (FrozenDisplay).
  if (!g.transform) return null;
  return { transform: g.transform, epsg: g.epsg, crsName: g.crs_name, nodata: parseNodata(g.nodata), linearUnit: g.linear_unit };
}

/** A version's image as it was frozen, with its frozen display; undefined when the version does not hold it. */
export async function versionImageRow(
  db: Db,
  version: number,
  imageId: number,
): Promise<{ id: number; path: string; external: boolean; contentHash: string; width: number; height: number; orientation: number; format: string; frames: number; status: ImageStatus; split: Split | null; display: FrozenDisplay } | undefined> {
  const r = await db
    .prepare(
      `SELECT image_id AS id, path, external, content_hash AS contentHash, width, height, orientation, format, frames, status, split, geo
       FROM version_images WHERE version_id = ? AND image_id = ?`,
    )
    .get(version, imageId) as { id: number; path: string; external: number; contentHash: string; width: number; height: number; orientation: number; format: string; frames: number; status: ImageStatus; split: Split | null; geo: string | null } | undefined;
  if (!r) return undefined;
  const { geo, external, ...rest } = r;
  const display = geo ? ((JSON.parse(geo) as { display?: FrozenDisplay }).display ?? {}) : {};
  return { ...rest, external: external === 1, display };
}

/** The version's train images of the scope, in id order (the images a mosaic draws from). */
export async function versionTrainImageIds(db: Db, version: number, scope: ExportScope): Promise<number[]> {
  return await db.prepare(`SELECT image_id FROM version_images WHERE version_id = ? AND split = 'train' AND ${SCOPE[scope]} ORDER BY image_id`).pluck().all(version) as number[];
}

/** The largest image id, annotation id and remembered COCO image id the version holds (0 when none). */
export async function versionMaxIds(db: Db, version: number): Promise<{ image: number; annotation: number; cocoImage: number }> {
  const images = await db.prepare('SELECT coalesce(max(image_id), 0) AS image, coalesce(max(coco_id), 0) AS coco FROM version_images WHERE version_id = ?').get(version) as { image: number; coco: number };
  const annotation = await db.prepare('SELECT coalesce(max(id), 0) FROM version_annotations WHERE version_id = ?').pluck().get(version) as number;
  return { image: images.image, annotation, cocoImage: images.coco };
}

export async function versionExternalPaths(db: Db, version: number): Promise<string[]> {
  return await db.prepare('SELECT path FROM version_images WHERE version_id = ? AND external = 1').pluck().all(version) as string[];
}

/** The version's images of the scope with the content hash each had when it was frozen. */
export async function versionImageHashes(db: Db, version: number, scope: ExportScope): Promise<(ExportImageRow & { contentHash: string })[]> {
  return (
    await db
      .prepare(
        `SELECT image_id AS id, path, external, width, height, orientation, split, format, content_hash AS contentHash FROM version_images
         WHERE version_id = ? AND ${SCOPE[scope]} ORDER BY image_id`,
      )
      .all(version) as (Omit<ExportImageRow, 'external'> & { external: number; contentHash: string })[]
  ).map((r) => ({ ...r, external: r.external === 1 }));
}

/** countKindsOutside over the frozen rows. */
export async function versionKindsOutside(db: Db, version: number, scope: ExportScope, withPredictions: boolean, kinds: readonly AnnotationKind[]): Promise<KindsOutside> {
  const notIn = kinds.length ? `AND a.kind NOT IN (${kinds.map(() => '?').join(', ')})` : '';
  const where = `FROM version_annotations a JOIN version_images i ON i.version_id = a.version_id AND i.image_id = a.image_id
     WHERE a.version_id = ? AND ${SCOPE[scope].replace('status', 'i.status')} AND ${frozenSource(withPredictions, 'a.')} AND a.kind <> 'tag' AND a.class_id IS NOT NULL ${notIn}`;
  const count = await db.prepare(`SELECT count(*) ${where}`).pluck().get(version, ...kinds) as number;
  if (count === 0) return { count, first: null };
  const first = await db
    .prepare(`SELECT i.image_id AS imageId, i.path AS path, a.id AS annotationId, a.kind AS kind ${where} ORDER BY i.image_id, a.z, a.id LIMIT 1`)
    .get(version, ...kinds) as KindsOutside['first'];
  return { count, first };
}

/** countOnLaterFrames over the frozen rows. */
export async function versionOnLaterFrames(
  db: Db,
  version: number,
  scope: ExportScope,
  withPredictions: boolean,
): Promise<{ count: number; first: { imageId: number; path: string; annotationId: number; frame: number } | null }> {
  const where = `FROM version_annotations a JOIN version_images i ON i.version_id = a.version_id AND i.image_id = a.image_id
     WHERE a.version_id = ? AND ${SCOPE[scope].replace('status', 'i.status')} AND ${frozenSource(withPredictions, 'a.')} AND a.frame > 0 AND a.kind != 'tag' AND a.class_id IS NOT NULL`;
  const count = await db.prepare(`SELECT count(*) ${where}`).pluck().get(version) as number;
  if (count === 0) return { count, first: null };
  const first = await db
    .prepare(`SELECT i.image_id AS imageId, i.path AS path, a.id AS annotationId, a.frame AS frame ${where} ORDER BY i.image_id, a.z, a.id LIMIT 1`)
    .get(version) as { imageId: number; path: string; annotationId: number; frame: number };
  return { count, first };
}

/** The frozen annotations of one image as the viewer reads annotations (drawing order). */
export async function versionImageAnnotations(db: Db, version: number, imageId: number, createdAt: number): Promise<AnnotationRecord[]> {
  const rows = await db
    .prepare('SELECT id, image_id, frame, class_id, kind, geometry, attributes, source, score, z FROM version_annotations WHERE version_id = ? AND image_id = ? ORDER BY z, id')
    .all(version, imageId) as { id: number; image_id: number; frame: number; class_id: number | null; kind: AnnotationKind; geometry: string; attributes: string; source: AnnotationSource; score: number | null; z: number }[];
  return rows.map((r) => ({
    id: r.id,
    imageId: r.image_id,
    frame: r.frame,
    classId: r.class_id,
    kind: r.kind,
    geometry: JSON.parse(r.geometry) as Geometry,
    source: r.source,
    modelRunId: null,
    score: r.score,
    attributes: JSON.parse(r.attributes) as Record<string, AttributeValue>,
    z: r.z,
    createdAt,
    updatedAt: createdAt,
    version: 1,
  }));
}

export async function versionHasImage(db: Db, version: number, imageId: number): Promise<boolean> {
  return await db.prepare('SELECT 1 FROM version_images WHERE version_id = ? AND image_id = ?').get(version, imageId) !== undefined;
}

// ---- diff ----

/** One side of a diff: a version (its id) or the dataset now (null, freezing as `withPredictions` says). */
function sides(side: number | null, withPredictions: boolean) {
  if (side === null) {
    return {
      images: 'SELECT id, path, content_hash, split, status FROM images',
      classes: 'SELECT id, name, color, sort_order, attributes, keypoints FROM classes',
      annotations: `SELECT id, image_id, class_id, kind, frame, geometry, attributes, z, source, score FROM annotations WHERE ${frozenSource(withPredictions)}`,
      params: [] as number[],
    };
  }
  return {
    images: 'SELECT image_id AS id, path, content_hash, split, status FROM version_images WHERE version_id = ?',
    classes: 'SELECT class_id AS id, name, color, sort_order, attributes, keypoints FROM version_classes WHERE version_id = ?',
    annotations: 'SELECT id, image_id, class_id, kind, frame, geometry, attributes, z, source, score FROM version_annotations WHERE version_id = ?',
    params: [side],
  };
}

/**
 * What changed from version `a` to version `b`, or to the dataset now (`b` null). Images and
 * annotations are matched by id: an annotation is changed when its class, kind, frame, geometry,
 * attributes, drawing order, source or score differ.
 */
export async function diffVersions(db: Db, a: VersionRecord & { id: number }, b: (VersionRecord & { id: number }) | null): Promise<VersionDiff> {
  const A = sides(a.id, a.withPredictions);
  const B = sides(b?.id ?? null, a.withPredictions);
  const params = [...A.params, ...B.params];
  const cte = (t: 'images' | 'classes' | 'annotations') => `WITH a AS (${A[t]}), b AS (${B[t]})`;
  type Img = { id: number; path: string };
  const added = await db.prepare(`${cte('images')} SELECT id, path FROM b WHERE id NOT IN (SELECT id FROM a) ORDER BY id`).all(...params) as Img[];
  const removed = await db.prepare(`${cte('images')} SELECT id, path FROM a WHERE id NOT IN (SELECT id FROM b) ORDER BY id`).all(...params) as Img[];
  const replaced = await db.prepare(`${cte('images')} SELECT b.id, b.path FROM a JOIN b ON a.id = b.id WHERE a.content_hash <> b.content_hash ORDER BY b.id`).all(...params) as Img[];
  const splitMoves = await db
    .prepare(`${cte('images')} SELECT b.id, b.path, a.split AS "from", b.split AS "to" FROM a JOIN b ON a.id = b.id WHERE a.split IS NOT b.split ORDER BY b.id`)
    .all(...params) as (Img & { from: Split | null; to: Split | null })[];
  const statusChanges = await db
    .prepare(`${cte('images')} SELECT b.id, b.path, a.status AS "from", b.status AS "to" FROM a JOIN b ON a.id = b.id WHERE a.status IS NOT b.status ORDER BY b.id`)
    .all(...params) as (Img & { from: ImageStatus; to: ImageStatus })[];

  const perClass = async (sql: string) => await db.prepare(`${cte('annotations')} ${sql}`).raw().all(...params) as [number | null, number][];
  const addedBy = await perClass('SELECT class_id, count(*) FROM b WHERE id NOT IN (SELECT id FROM a) GROUP BY class_id');
  const removedBy = await perClass('SELECT class_id, count(*) FROM a WHERE id NOT IN (SELECT id FROM b) GROUP BY class_id');
  const changedBy = await perClass(
    `SELECT b.class_id, count(*) FROM a JOIN b ON a.id = b.id
     WHERE a.class_id IS NOT b.class_id OR a.kind IS NOT b.kind OR a.frame IS NOT b.frame OR a.geometry IS NOT b.geometry
        OR a.attributes IS NOT b.attributes OR a.z IS NOT b.z OR a.source IS NOT b.source OR a.score IS NOT b.score
     GROUP BY b.class_id`,
  );

  type Cls = { id: number; name: string; color: string; sort_order: number; attributes: string; keypoints: string | null };
  const classesA = new Map((await db.prepare(A.classes).all(...A.params) as Cls[]).map((c) => [c.id, c]));
  const classesB = new Map((await db.prepare(B.classes).all(...B.params) as Cls[]).map((c) => [c.id, c]));
  const className = (id: number | null) => (id === null ? '(no class)' : (classesB.get(id)?.name ?? classesA.get(id)?.name ?? `class ${id}`));
  const byClass = new Map<number | null, { classId: number | null; name: string; added: number; changed: number; removed: number }>();
  const row = (id: number | null) => {
    let r = byClass.get(id);
    if (!r) byClass.set(id, (r = { classId: id, name: className(id), added: 0, changed: 0, removed: 0 }));
    return r;
  };
  for (const [id, n] of addedBy) row(id).added += n;
  for (const [id, n] of changedBy) row(id).changed += n;
  for (const [id, n] of removedBy) row(id).removed += n;
  const sum = (k: 'added' | 'changed' | 'removed') => [...byClass.values()].reduce((s, r) => s + r[k], 0);

  const classChanges: VersionDiff['classes'] = { added: [], removed: [], changed: [] };
  for (const [id, c] of classesB) if (!classesA.has(id)) classChanges.added.push({ id, name: c.name });
  for (const [id, c] of classesA) if (!classesB.has(id)) classChanges.removed.push({ id, name: c.name });
  for (const [id, now] of classesB) {
    const was = classesA.get(id);
    if (!was) continue;
    const fields = (['name', 'color', 'sort_order', 'attributes', 'keypoints'] as const).filter((f) => was[f] !== now[f]).map((f) => (f === 'sort_order' ? 'order' : f));
    if (fields.length) classChanges.changed.push({ id, name: now.name, was: was.name, fields });
  }

  return {
    from: { number: a.number, name: a.name },
    to: b ? { number: b.number, name: b.name } : null,
    images: { added, removed, replaced, splitMoves, statusChanges },
    annotations: {
      added: sum('added'),
      changed: sum('changed'),
      removed: sum('removed'),
      byClass: [...byClass.values()].sort((x, y) => x.name.localeCompare(y.name)),
    },
    classes: classChanges,
  };
}

/** The row id of a version (what the other functions here take), or undefined. */
export async function versionId(db: Db, number: number): Promise<number | undefined> {
  return await db.prepare('SELECT id FROM versions WHERE number = ?').pluck().get(number) as number | undefined;
}
