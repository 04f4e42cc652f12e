import type { ImageFilter, ImageListItem, ImageRecord, ImageStatus, Split } from '../common/model';
import type { Db } from './open';

interface ImageRow {
  id: number;
  path: string;
  external: number;
  content_hash: string;
  file_size: number;
  file_mtime_ms: number;
  width: number;
  height: number;
  channels: number;
  bit_depth: number;
  format: string;
  frames: number;
  orientation: number;
  status: ImageStatus;
  split: Split | null;
  created_at: number;
  updated_at: number;
}

function toRecord(r: ImageRow): ImageRecord {
  return {
    id: r.id,
    path: r.path,
    external: r.external === 1,
    contentHash: r.content_hash,
    fileSize: r.file_size,
    fileMtimeMs: r.file_mtime_ms,
    width: r.width,
    height: r.height,
    channels: r.channels,
    bitDepth: r.bit_depth,
    format: r.format,
    frames: r.frames,
    orientation: r.orientation,
    status: r.status,
    split: r.split,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

export type NewImage = Omit<ImageRecord, 'id' | 'status' | 'split' | 'createdAt' | 'updatedAt'>;

const IMAGE_COLUMNS = `(path, external, content_hash, file_size, file_mtime_ms, width, height, channels,
       bit_depth, format, frames, orientation, created_at, updated_at)`;
const IMAGE_ROW = '(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)';
/** Rows per INSERT statement: one call into the store per chunk rather than per image. */
const IMAGE_CHUNK = 64;

/**
 * Inserts images in one transaction; returns their ids in order. Rows go in multi-row statements;
 * SQLite numbers one statement's rows consecutively, PostgreSQL says which ids it gave.
 */
export async function insertImages(db: Db, images: readonly NewImage[], now = Date.now()): Promise<number[]> {
  const returning = db.engine === 'sqlite' ? '' : ' RETURNING id';
  const sqlFor = (n: number) => `INSERT INTO images ${IMAGE_COLUMNS} VALUES ${Array(n).fill(IMAGE_ROW).join(', ')}${returning}`;
  const full = images.length >= IMAGE_CHUNK ? db.prepare(sqlFor(IMAGE_CHUNK)) : null;
  const ids: number[] = new Array(images.length);
  await db.transaction(async () => {
    for (let start = 0; start < images.length; start += IMAGE_CHUNK) {
      const n = Math.min(IMAGE_CHUNK, images.length - start);
      const params: unknown[] = [];
      for (let i = start; i < start + n; i++) {
        const im = images[i]!;
        params.push(
          im.path,
          im.external ? 1 : 0,
          im.contentHash,
          im.fileSize,
          Math.round(im.fileMtimeMs),
          im.width,
          im.height,
          im.channels,
          im.bitDepth,
          im.format,
          im.frames,
          im.orientation,
          now,
          now,
        );
      }
      const stmt = n === IMAGE_CHUNK && full ? full : db.prepare(sqlFor(n));
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

export async function getImage(db: Db, id: number): Promise<ImageRecord | undefined> {
  const row = await db.prepare('SELECT * FROM images WHERE id = ?').get(id) as ImageRow | undefined;
  return row ? toRecord(row) : undefined;
}

const HASH_CHUNK = 500;

/** Existing images by content hash, for duplicate detection. */
export async function findByHashes(db: Db, hashes: readonly string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const unique = [...new Set(hashes)];
  const full = unique.length >= HASH_CHUNK ? db.prepare(`SELECT content_hash, path FROM images WHERE content_hash IN (${Array(HASH_CHUNK).fill('?').join(', ')})`).raw() : null;
  for (let start = 0; start < unique.length; start += HASH_CHUNK) {
    const part = unique.slice(start, start + HASH_CHUNK);
    const stmt = part.length === HASH_CHUNK && full ? full : db.prepare(`SELECT content_hash, path FROM images WHERE content_hash IN (${part.map(() => '?').join(', ')})`).raw();
    for (const [h, p] of (await stmt.all(part)) as [string, string][]) out.set(h, p);
  }
  return out;
}

export async function findByPath(db: Db, path: string): Promise<ImageRecord | undefined> {
  const row = await db.prepare('SELECT * FROM images WHERE path = ?').get(path) as ImageRow | undefined;
  return row ? toRecord(row) : undefined;
}

export function whereClause(filter: ImageFilter): { sql: string; params: unknown[] } {
  const conds: string[] = [];
  const params: unknown[] = [];
  if (filter.status) {
    conds.push('i.status = ?');
    params.push(filter.status);
  }
  if (filter.split) {
    if (filter.split === 'none') conds.push('i.split IS NULL');
    else {
      conds.push('i.split = ?');
      params.push(filter.split);
    }
  }
  if (filter.classId !== undefined) {
    conds.push('EXISTS (SELECT 1 FROM annotations a WHERE a.image_id = i.id AND a.class_id = ?)');
    params.push(filter.classId);
  }
  if (filter.hasPredictions !== undefined) {
    conds.push(
      `${filter.hasPredictions ? '' : 'NOT '}EXISTS (SELECT 1 FROM annotations a WHERE a.image_id = i.id AND a.source = 'model')`,
    );
  }
  if (filter.labeled !== undefined) {
    conds.push(`${filter.labeled ? '' : 'NOT '}EXISTS (SELECT 1 FROM annotations a WHERE a.image_id = i.id AND a.source = 'human')`);
  }
  if (filter.hasOpenComments !== undefined) {
    conds.push(
      `${filter.hasOpenComments ? '' : 'NOT '}EXISTS (SELECT 1 FROM comments c WHERE c.image_id = i.id AND c.parent_id IS NULL AND c.resolved_at IS NULL)`,
    );
  }
  if (filter.ids !== undefined) {
    // One bound JSON array rather than one parameter per id: lists can be longer than SQLite's limit.
    conds.push('i.id IN (SELECT value FROM json_each(?))');
    params.push(JSON.stringify(filter.ids));
  }
  if (filter.ranked !== undefined) {
    conds.push('i.id IN (SELECT value FROM json_each(?))');
    params.push(JSON.stringify(filter.ranked.ids));
  }
  return { sql: conds.length ? `WHERE ${conds.join(' AND ')}` : '', params };
}

/** Stored paths of the images imported from outside the dataset root (absolute paths). */
export async function externalImagePaths(db: Db): Promise<string[]> {
  return await db.prepare('SELECT path FROM images WHERE external = 1').pluck().all() as string[];
}

/** A grid entry as stored; its media address is added by the service that knows the files. */
export type ImageListRow = Omit<ImageListItem, 'media'> & { external: boolean; contentHash: string };

/**
 * A ranked filter's images that match its other keys, in the ranking's order (each once, at its
 * first place), with the score given for that place.
 */
export async function rankedImages(db: Db, filter: ImageFilter): Promise<{ ids: number[]; scores: Map<number, number> }> {
  const ranked = filter.ranked;
  if (!ranked) throw new Error('not a ranked filter');
  const { sql, params } = whereClause(filter);
  const matching = new Set(await db.prepare(`SELECT i.id FROM images i ${sql}`).pluck().all(...params) as number[]);
  const ids: number[] = [];
  const scores = new Map<number, number>();
  ranked.ids.forEach((id, i) => {
    // Deleting as it goes keeps each image at its first place only.
    if (!matching.delete(id)) return;
    ids.push(id);
    const s = ranked.scores?.[i];
    if (s !== undefined) scores.set(id, s);
  });
  return { ids, scores };
}

const LIST_COLUMNS = `i.id, i.path, i.external, i.content_hash AS contentHash, i.width, i.height, i.bit_depth AS bitDepth, i.frames, i.status, i.split,
  (SELECT count(*) FROM annotations a WHERE a.image_id = i.id) AS annotationCount,
  (SELECT count(*) FROM comments c WHERE c.image_id = i.id AND c.parent_id IS NULL AND c.resolved_at IS NULL) AS openComments`;

/** A page of a ranked filter's images in the ranking's order, each with its score. */
async function listRanked(db: Db, filter: ImageFilter, offset: number, limit: number): Promise<ImageListRow[]> {
  const { ids, scores } = await rankedImages(db, filter);
  const page = ids.slice(offset, offset + limit);
  if (page.length === 0) return [];
  const rows = new Map<number, Omit<ImageListRow, 'external'> & { external: number }>();
  for (const r of await db.prepare(`SELECT ${LIST_COLUMNS} FROM images i WHERE i.id IN (SELECT value FROM json_each(?))`).all(JSON.stringify(page)) as (Omit<ImageListRow, 'external'> & { external: number })[]) {
    rows.set(r.id, r);
  }
  const out: ImageListRow[] = [];
  for (const id of page) {
    const r = rows.get(id);
    if (!r) continue;
    const score = scores.get(id);
    out.push({ ...r, external: r.external === 1, ...(score !== undefined ? { score } : {}) });
  }
  return out;
}

/** One page of the image grid, in import order (a ranked filter: its order), with the number of annotations of each image. */
export async function listImages(db: Db, filter: ImageFilter, offset: number, limit: number): Promise<ImageListRow[]> {
  if (filter.ranked) return await listRanked(db, filter, offset, limit);
  const { sql, params } = whereClause(filter);
  const rows = await db
    .prepare(
      `SELECT i.id, i.path, i.external, i.content_hash AS contentHash, i.width, i.height, i.bit_depth AS bitDepth, i.frames, i.status, i.split,
              (SELECT count(*) FROM annotations a WHERE a.image_id = i.id) AS annotationCount,
              (SELECT count(*) FROM comments c WHERE c.image_id = i.id AND c.parent_id IS NULL AND c.resolved_at IS NULL) AS openComments
       FROM images i ${sql}
       ORDER BY i.id
       LIMIT ? OFFSET ?`,
    )
    .all(...params, limit, offset) as (Omit<ImageListRow, 'external'> & { external: number })[];
  return rows.map((r) => ({ ...r, external: r.external === 1 }));
}

/** Ids of the images matching the filter, in id order. */
export async function imageIdsWhere(db: Db, filter: ImageFilter): Promise<number[]> {
  const { sql, params } = whereClause(filter);
  return await db.prepare(`SELECT i.id FROM images i ${sql} ORDER BY i.id`).pluck().all(...params) as number[];
}

export async function countImages(db: Db, filter: ImageFilter): Promise<number> {
  const { sql, params } = whereClause(filter);
  return await db.prepare(`SELECT count(*) FROM images i ${sql}`).pluck().get(...params) as number;
}

/** Images per status among those matching the filter's other keys (its status is ignored). */
export async function countByStatusWhere(db: Db, filter: ImageFilter): Promise<Record<ImageStatus, number>> {
  const { status: _ignored, ...rest } = filter;
  const { sql, params } = whereClause(rest);
  const out: Record<ImageStatus, number> = { new: 0, in_progress: 0, done: 0, reviewed: 0, rejected: 0 };
  for (const r of await db.prepare(`SELECT i.status, count(*) AS n FROM images i ${sql} GROUP BY i.status`).all(...params) as {
    status: ImageStatus;
    n: number;
  }[]) {
    out[r.status] = r.n;
  }
  return out;
}

export async function countByStatus(db: Db): Promise<Record<ImageStatus, number>> {
  const out: Record<ImageStatus, number> = { new: 0, in_progress: 0, done: 0, reviewed: 0, rejected: 0 };
  for (const r of await db.prepare('SELECT status, count(*) AS n FROM images GROUP BY status').all() as {
    status: ImageStatus;
    n: number;
  }[]) {
    out[r.status] = r.n;
  }
  return out;
}

export async function countBySplit(db: Db): Promise<Record<Split | 'none', number>> {
  const out: Record<Split | 'none', number> = { train: 0, val: 0, test: 0, none: 0 };
  for (const r of await db.prepare('SELECT split, count(*) AS n FROM images GROUP BY split').all() as {
    split: Split | null;
    n: number;
  }[]) {
    out[r.split ?? 'none'] = r.n;
  }
  return out;
}

export async function setStatus(db: Db, ids: readonly number[], status: ImageStatus, now = Date.now()): Promise<number> {
  const stmt = db.prepare('UPDATE images SET status = ?, updated_at = ? WHERE id = ? AND status <> ?');
  let changed = 0;
  await db.transaction(async () => {
    for (const id of ids) changed += (await stmt.run(status, now, id, status)).changes;
  })();
  return changed;
}

/** A reviewer's verdict and comment (null clears it); returns whether the image exists. */
export async function setReview(db: Db, id: number, status: ImageStatus, comment: string | null, now = Date.now()): Promise<boolean> {
  return (await db.prepare('UPDATE images SET status = ?, review_comment = ?, updated_at = ? WHERE id = ?').run(status, comment, now, id)).changes === 1;
}

export async function getReviewComment(db: Db, id: number): Promise<string | null> {
  return (await db.prepare('SELECT review_comment FROM images WHERE id = ?').pluck().get(id) as string | null | undefined) ?? null;
}

/** Records a new modification time for a file whose content was verified unchanged. */
export async function setFileMtime(db: Db, id: number, mtimeMs: number): Promise<void> {
  await db.prepare('UPDATE images SET file_mtime_ms = ? WHERE id = ?').run(Math.round(mtimeMs), id);
}

/**
 * Inside a transaction: holds the image's annotations and edit history for this transaction, so
 * that edits, undo and redo of one image by several processes run one after another and each sees
 * what the previous one committed. PostgreSQL locks the image's row (FOR NO KEY UPDATE, which
 * still lets other transactions insert rows that refer to it); on SQLite the transaction must be
 * IMMEDIATE, which already holds the whole file's write lock, so there is nothing more to take.
 */
export async function lockImageForEdit(db: Db, id: number): Promise<void> {
  if (db.engine !== 'postgres') return;
  await db.prepare('SELECT id FROM images WHERE id = ? FOR NO KEY UPDATE').run(id);
}

/** An image being edited for the first time leaves 'new'; any later status is the user's choice. */
export async function markInProgress(db: Db, id: number, now = Date.now()): Promise<boolean> {
  return (await db.prepare("UPDATE images SET status = 'in_progress', updated_at = ? WHERE id = ? AND status = 'new'").run(now, id)).changes === 1;
}

export type NextWant = 'unlabeled' | 'not_done' | 'done';

const WANT_SQL: Record<NextWant, string> = {
  unlabeled: 'NOT EXISTS (SELECT 1 FROM annotations a WHERE a.image_id = i.id)',
  not_done: "i.status NOT IN ('done', 'reviewed')",
  // Waiting for review.
  done: "i.status = 'done'",
};

/**
 * The first image of the filter's list (in `listImages` order, by id) after `afterId` that is
 * `want`, wrapping round to the start and stopping before `afterId` itself; with its position in
 * the filtered list.
 */
export async function findNextImage(
  db: Db,
  filter: ImageFilter,
  afterId: number | undefined,
  want: NextWant,
): Promise<{ id: number; index: number } | null> {
  if (filter.ranked) {
    // In the ranking's order: the first image after afterId's place that is `want`, wrapping round.
    const { ids } = await rankedImages(db, filter);
    const { sql: wsql, params: wparams } = whereClause(filter);
    const wanted = new Set(await db.prepare(`SELECT i.id FROM images i ${wsql ? `${wsql} AND` : 'WHERE'} ${WANT_SQL[want]}`).pluck().all(...wparams) as number[]);
    const from = afterId === undefined ? -1 : ids.indexOf(afterId);
    for (let step = 1; step <= ids.length; step++) {
      const index = (from + step) % ids.length;
      const id = ids[index]!;
      if (id === afterId) break;
      if (wanted.has(id)) return { id, index };
    }
    return null;
  }
  const { sql, params } = whereClause(filter);
  const where = (extra: string) => `${sql ? `${sql} AND` : 'WHERE'} ${extra}`;
  const first = async (range: string, bound: number) =>
    await db
      .prepare(`SELECT i.id FROM images i ${where(`${WANT_SQL[want]} AND ${range}`)} ORDER BY i.id LIMIT 1`)
      .pluck()
      .get(...params, bound) as number | undefined;
  const after = afterId ?? 0;
  const id = await first('i.id > ?', after) ?? (after > 0 ? await first('i.id < ?', after) : undefined);
  if (id === undefined) return null;
  const index = await db.prepare(`SELECT count(*) FROM images i ${where('i.id < ?')}`).pluck().get(...params, id) as number;
  return { id, index };
}

/** The image's place in the filtered list (id order); null when the filter leaves it out. */
export async function indexOfImage(db: Db, filter: ImageFilter, id: number): Promise<number | null> {
  if (filter.ranked) {
    const index = (await rankedImages(db, filter)).ids.indexOf(id);
    return index < 0 ? null : index;
  }
  const { sql, params } = whereClause(filter);
  const where = (extra: string) => `${sql ? `${sql} AND` : 'WHERE'} ${extra}`;
  const inList = await db.prepare(`SELECT 1 FROM images i ${where('i.id = ?')}`).get(...params, id);
  if (!inList) return null;
  return await db.prepare(`SELECT count(*) FROM images i ${where('i.id < ?')}`).pluck().get(...params, id) as number;
}

/** Images whose stored path is `name` or ends in `/name` (a file name, or a path below the root), in id order. */
export async function findImagesByName(db: Db, name: string): Promise<ImageRecord[]> {
  // The tail from a positive start: a negative start counts from the end in SQLite only.
  const rows = await db
    .prepare(
      "SELECT * FROM images WHERE path = ? OR substr(path, length(path) - length(?)) = '/' || ? OR substr(path, length(path) - length(?)) = '\\' || ? ORDER BY id",
    )
    .all(name, name, name, name, name) as ImageRow[];
  return rows.map(toRecord);
}
