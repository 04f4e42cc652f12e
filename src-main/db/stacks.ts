import type { ImageFilter, ImageStatus } from '../common/model';
import { planStacks, type SliceOrder, type SliceRef, type StackCandidate, type StackInfo, type StackKind } from '../common/stacks';
import { countImages, listImages, rankedImages, whereClause, type ImageListRow } from './images';
import { getMeta, setMeta } from './meta';
import type { Db } from './open';

/** Meta key set once stacks were planned for the dataset's images (datasets from before stacks have none). */
const PLANNED_KEY = 'stacks_planned';

/**
 * Plans the stacks of every image in the dataset again (see planStacks) and stores them. Stack
 * rows keep their id (and slice last viewed) while their kind and key stay; stacks that no
 * longer exist are removed. Runs inside the caller's transaction when there is one.
 */
export async function rebuildStacks(db: Db): Promise<{ stacks: number; members: number }> {
  const rows = await db
    .prepare(
      `SELECT i.id, i.path, i.width, i.height, i.channels, i.bit_depth AS bitDepth, i.format, i.frames,
              m.image_id IS NOT NULL AS dicom, m.series_uid AS seriesUid,
              json_extract(m.meta, '$.imagePosition') AS position,
              json_extract(m.meta, '$.imageOrientation') AS orientation,
              json_extract(m.meta, '$.instanceNumber') AS instance
       FROM images i LEFT JOIN image_imaging m ON m.image_id = i.id
       ORDER BY i.id`,
    )
    .all() as {
    id: number;
    path: string;
    width: number;
    height: number;
    channels: number;
    bitDepth: number;
    format: string;
    frames: number;
    dicom: number;
    seriesUid: string | null;
    position: string | null;
    orientation: string | null;
    instance: number | null;
  }[];
  const candidates: StackCandidate[] = rows.map((r) => ({
    imageId: r.id,
    path: r.path,
    width: r.width,
    height: r.height,
    channels: r.channels,
    bitDepth: r.bitDepth,
    format: r.format,
    frames: r.frames,
    dicom: r.dicom
      ? {
          seriesInstanceUid: r.seriesUid,
          imagePosition: r.position ? (JSON.parse(r.position) as [number, number, number]) : null,
          imageOrientation: r.orientation ? (JSON.parse(r.orientation) as [number, number, number, number, number, number]) : null,
          instanceNumber: typeof r.instance === 'number' ? r.instance : null,
        }
      : null,
  }));
  const planned = planStacks(candidates);
  let members = 0;
  await db.transaction(async () => {
    await db.prepare('DELETE FROM stack_members').run();
    const upsert = db.prepare(
      `INSERT INTO stacks (kind, key, name, slice_order) VALUES (?, ?, ?, ?)
       ON CONFLICT (kind, key) DO UPDATE SET name = excluded.name, slice_order = excluded.slice_order
       RETURNING id`,
    );
    const member = db.prepare('INSERT INTO stack_members (stack_id, image_id, position) VALUES (?, ?, ?)');
    const keep: number[] = [];
    for (const s of planned) {
      const id = await upsert.pluck().get(s.kind, s.key, s.name, s.order) as number;
      keep.push(id);
      for (const [position, imageId] of s.members.entries()) await member.run(id, imageId, position);
      members += s.members.length;
    }
    await db.prepare('DELETE FROM stacks WHERE id NOT IN (SELECT value FROM json_each(?))').run(JSON.stringify(keep));
    await setMeta(db, PLANNED_KEY, '1');
  })();
  return { stacks: planned.length, members };
}

/**
 * Plans stacks for a dataset made before stacks existed, once, when it is opened. A read-only
 * dataset keeps showing its images one by one.
 */
export async function ensureStacksPlanned(db: Db): Promise<void> {
  if (await getMeta(db, PLANNED_KEY) === '1') return;
  try {
    await rebuildStacks(db);
  } catch {
    // Read-only file: nothing can be stored, and images show as they did.
  }
}

interface StackRow {
  id: number;
  kind: StackKind;
  name: string;
  slice_order: SliceOrder;
  slices: number;
}

function toInfo(r: StackRow): StackInfo {
  return { id: r.id, kind: r.kind, name: r.name, order: r.slice_order, slices: r.slices };
}

const STACK_SELECT = `SELECT s.id, s.kind, s.name, s.slice_order, (SELECT count(*) FROM stack_members m WHERE m.stack_id = s.id) AS slices FROM stacks s`;

export async function getStack(db: Db, stackId: number): Promise<StackInfo | null> {
  const r = await db.prepare(`${STACK_SELECT} WHERE s.id = ?`).get(stackId) as StackRow | undefined;
  return r ? toInfo(r) : null;
}

/** The stack an image is a slice of, or null. */
export async function stackOfImage(db: Db, imageId: number): Promise<StackInfo | null> {
  const r = await db.prepare(`${STACK_SELECT} WHERE s.id = (SELECT stack_id FROM stack_members WHERE image_id = ?)`).get(imageId) as StackRow | undefined;
  return r ? toInfo(r) : null;
}

/** Image ids of a stack's slices, first slice first. */
export async function stackMemberIds(db: Db, stackId: number): Promise<number[]> {
  return await db.prepare('SELECT image_id FROM stack_members WHERE stack_id = ? ORDER BY position').pluck().all(stackId) as number[];
}

/** The slice a stack was last viewed on: an image id of the stack, or null when none was remembered. */
export async function getViewedSlice(db: Db, stackId: number): Promise<number | null> {
  return (
    (await db
      .prepare('SELECT s.viewed_image_id FROM stacks s JOIN stack_members m ON m.stack_id = s.id AND m.image_id = s.viewed_image_id WHERE s.id = ?')
      .pluck()
      .get(stackId) as number | undefined) ?? null
  );
}

export async function setViewedSlice(db: Db, stackId: number, imageId: number): Promise<boolean> {
  return (await db.prepare('UPDATE stacks SET viewed_image_id = ? WHERE id = ? AND EXISTS (SELECT 1 FROM stack_members WHERE stack_id = ? AND image_id = ?)').run(imageId, stackId, stackId, imageId)).changes === 1;
}

/**
 * Every slice an image's shapes can be propagated or interpolated through, in order: each frame
 * of each file of its stack, or each frame of the image alone when it is in no stack.
 */
export async function slicesOf(db: Db, imageId: number): Promise<SliceRef[]> {
  const stack = await stackOfImage(db, imageId);
  const ids = stack ? await stackMemberIds(db, stack.id) : [imageId];
  const frames = db.prepare('SELECT frames FROM images WHERE id = ?').pluck();
  const out: SliceRef[] = [];
  for (const id of ids) {
    const n = Math.max(1, (await frames.get(id) as number | undefined) ?? 1);
    for (let f = 0; f < n; f++) out.push({ imageId: id, frame: f });
  }
  return out;
}

// ---- the grid: one tile per image that is in no stack, one per stack ---------------------------

// Tiles of the images matching the filter: a stack is one tile when any of its slices matches
// (filters look at each slice); tiles are in order of their first matching image id. Images in
// no stack are read in id order straight from the table (a page costs what it did without
// stacks); the stacks' tiles, one row per stack, are merged into them.

function filterParts(filter: ImageFilter): { sql: string; and: string; params: unknown[] } {
  const { sql, params } = whereClause(filter);
  return { sql, and: sql ? `${sql} AND` : 'WHERE', params };
}

const NOT_A_SLICE = 'NOT EXISTS (SELECT 1 FROM stack_members m WHERE m.image_id = i.id)';

/**
 * The last stackTiles answer per connection, kept while nothing was written (total_changes of
 * this connection, data_version for other connections) and asked again for the same filter: the
 * grid asks for the count and then for pages, each of which needs every stack's position.
 */
const tileCache = new WeakMap<Db, { key: string; tiles: { sk: number; stackId: number }[] }>();

/** The stacks' tiles under the filter, by their first matching image id. */
async function stackTiles(db: Db, filter: ImageFilter): Promise<{ sk: number; stackId: number }[]> {
  const key = `${await db.dataVersion()}|${JSON.stringify(filter)}`;
  const cached = tileCache.get(db);
  if (cached?.key === key) return cached.tiles;
  const { sql, params } = filterParts(filter);
  // Without a filter the first image of a stack is its lowest member id: no image row is read.
  const tiles = (
    sql
      ? await db.prepare(`SELECT min(i.id) AS sk, m.stack_id AS stackId FROM stack_members m JOIN images i ON i.id = m.image_id ${sql} GROUP BY m.stack_id ORDER BY sk`).all(...params)
      : await db.prepare('SELECT min(m.image_id) AS sk, m.stack_id AS stackId FROM stack_members m GROUP BY m.stack_id ORDER BY sk').all()
  ) as { sk: number; stackId: number }[];
  tileCache.set(db, { key, tiles });
  return tiles;
}

async function countPlain(db: Db, filter: ImageFilter): Promise<number> {
  if (Object.keys(filter).length === 0) {
    return await countImages(db, {}) - (await db.prepare('SELECT count(*) FROM stack_members').pluck().get() as number);
  }
  const { and, params } = filterParts(filter);
  return await db.prepare(`SELECT count(*) FROM images i ${and} ${NOT_A_SLICE}`).pluck().get(...params) as number;
}

/** Whether any image is a slice of a stack; without stacks the grid is the plain image list. */
async function hasStacks(db: Db): Promise<boolean> {
  return await db.prepare('SELECT EXISTS (SELECT 1 FROM stack_members)').pluck().get() === 1;
}

export async function countTiles(db: Db, filter: ImageFilter): Promise<number> {
  // A ranking orders images, not stacks: each ranked image is a tile of its own.
  if (!await hasStacks(db) || filter.ranked) return await countImages(db, filter);
  return await countPlain(db, filter) + (await stackTiles(db, filter)).length;
}

/**
 * Tiles [offset, offset + limit) in grid order. The images in no stack before the page number at
 * least offset - (stack tiles), so a window of them from there, merged with the stack tiles,
 * holds the page; positions counted in the merge are exact from the window's first image on.
 */
async function pageTiles(db: Db, filter: ImageFilter, offset: number, limit: number): Promise<{ sk: number; stackId: number | null }[]> {
  const stacks = await stackTiles(db, filter);
  const { and, params } = filterParts(filter);
  const start = Math.max(0, offset - stacks.length);
  const want = limit + stacks.length;
  const plain = await db.prepare(`SELECT i.id FROM images i ${and} ${NOT_A_SLICE} ORDER BY i.id LIMIT ? OFFSET ?`).pluck().all(...params, want, start) as number[];
  const ended = plain.length < want;
  const out: { sk: number; stackId: number | null }[] = [];
  let a = 0;
  let s = 0;
  while (out.length < limit) {
    const nextPlain = a < plain.length ? plain[a]! : null;
    const nextStack = s < stacks.length ? stacks[s]! : null;
    if (nextPlain === null && (!ended || nextStack === null)) break;
    const pos = start + a + s;
    if (nextStack !== null && (nextPlain === null || nextStack.sk < nextPlain)) {
      if (pos >= offset) out.push(nextStack);
      s++;
    } else {
      if (pos >= offset) out.push({ sk: nextPlain!, stackId: null });
      a++;
    }
  }
  return out;
}

/** The status a stack tile shows: rejected if a slice is, else as far as its least advanced slice got. */
export function stackStatus(statuses: readonly ImageStatus[]): ImageStatus {
  if (statuses.includes('rejected')) return 'rejected';
  if (statuses.every((s) => s === 'reviewed')) return 'reviewed';
  if (statuses.every((s) => s === 'done' || s === 'reviewed')) return 'done';
  if (statuses.every((s) => s === 'new')) return 'new';
  return 'in_progress';
}

type TileRow = Omit<ImageListRow, 'external'> & { external: number };

const TILE_COLUMNS = `i.id, i.path, i.external, i.content_hash AS contentHash, i.width, i.height, i.bit_depth AS bitDepth, i.frames, i.status, i.split,
  (SELECT count(*) FROM annotations a WHERE a.image_id = i.id) AS annotationCount,
  (SELECT count(*) FROM comments c WHERE c.image_id = i.id AND c.parent_id IS NULL AND c.resolved_at IS NULL) AS openComments`;

/** stackStatus from the number of slices in each status (the grid reads counts, not every slice). */
function stackStatusOf(n: Record<ImageStatus, number>, slices: number): ImageStatus {
  if (n.rejected > 0) return 'rejected';
  if (n.reviewed === slices) return 'reviewed';
  if (n.done + n.reviewed === slices) return 'done';
  if (n.new === slices) return 'new';
  return 'in_progress';
}

type StackTileRow = TileRow & StackRow & { stackId: number; p0: number; p1: number; nNew: number; nProgress: number; nDone: number; nReviewed: number; nRejected: number; annotations: number; comments: number };

/**
 * The page's stack tiles in one query: per stack its slice count, the slices in each status, the
 * annotations and open comments of all its slices (grouped over the page's stacks only), and the
 * cover slice's own columns. The cover is found by position when the positions have no gap (slices
 * removed since the stacks were planned leave gaps; listTiles then finds it by rank).
 */
const STACK_TILES = `WITH page AS (SELECT value AS stack_id FROM json_each(?))
SELECT ${TILE_COLUMNS}, g.*, s.kind, s.name, s.slice_order, coalesce(an.n, 0) AS annotations, coalesce(co.n, 0) AS comments
FROM (
  SELECT m.stack_id AS stackId, count(*) AS slices, min(m.position) AS p0, max(m.position) AS p1,
    count(*) FILTER (WHERE i.status = 'new') AS nNew, count(*) FILTER (WHERE i.status = 'in_progress') AS nProgress, count(*) FILTER (WHERE i.status = 'done') AS nDone,
    count(*) FILTER (WHERE i.status = 'reviewed') AS nReviewed, count(*) FILTER (WHERE i.status = 'rejected') AS nRejected
  FROM page p JOIN stack_members m ON m.stack_id = p.stack_id JOIN images i ON i.id = m.image_id
  GROUP BY m.stack_id
) g
JOIN stacks s ON s.id = g.stackId
LEFT JOIN stack_members x ON x.stack_id = g.stackId AND g.p1 - g.p0 = g.slices - 1 AND x.position = g.p0 + (g.slices - 1) / 2
LEFT JOIN images i ON i.id = x.image_id
LEFT JOIN (
  SELECT m.stack_id, count(*) AS n FROM page p JOIN stack_members m ON m.stack_id = p.stack_id JOIN annotations a ON a.image_id = m.image_id GROUP BY m.stack_id
) an ON an.stack_id = g.stackId
LEFT JOIN (
  SELECT m.stack_id, count(*) AS n FROM page p JOIN stack_members m ON m.stack_id = p.stack_id
    JOIN comments c ON c.image_id = m.image_id AND c.parent_id IS NULL AND c.resolved_at IS NULL
  GROUP BY m.stack_id
) co ON co.stack_id = g.stackId`;

/**
 * One page of grid tiles. An image in no stack is itself; a stack is shown by its middle slice
 * (its thumbnail), with the stack's slice count, the annotations and open comments of all its
 * slices and the status of stackStatus. Two queries a page: the plain images, and the stacks
 * (STACK_TILES).
 */
export async function listTiles(db: Db, filter: ImageFilter, offset: number, limit: number): Promise<ImageListRow[]> {
  if (!await hasStacks(db) || filter.ranked) return await listImages(db, filter, offset, limit);
  const tiles = await pageTiles(db, filter, offset, limit);
  const plainIds = tiles.filter((t) => t.stackId === null).map((t) => t.sk);
  const stackIds = tiles.filter((t) => t.stackId !== null).map((t) => t.stackId!);
  const plain = new Map<number, TileRow>();
  if (plainIds.length > 0) {
    for (const r of await db.prepare(`SELECT ${TILE_COLUMNS} FROM images i WHERE i.id IN (SELECT value FROM json_each(?))`).all(JSON.stringify(plainIds)) as TileRow[]) plain.set(r.id, r);
  }
  const stacks = new Map<number, StackTileRow>();
  if (stackIds.length > 0) {
    for (const r of await db.prepare(STACK_TILES).all(JSON.stringify(stackIds)) as StackTileRow[]) stacks.set(r.stackId, r);
  }
  const out: ImageListRow[] = [];
  for (const t of tiles) {
    if (t.stackId === null) {
      const r = plain.get(t.sk);
      if (r) out.push({ ...r, external: r.external === 1 });
      continue;
    }
    const r = stacks.get(t.stackId);
    if (!r) continue;
    const { stackId, kind, name, slice_order, slices, p0: _p0, p1: _p1, nNew, nProgress, nDone, nReviewed, nRejected, annotations, comments, ...found } = r;
    const cover =
      found.id === null
        ? (await db.prepare(`SELECT ${TILE_COLUMNS} FROM images i WHERE i.id = (SELECT image_id FROM stack_members WHERE stack_id = ? ORDER BY position LIMIT 1 OFFSET ?)`).get(stackId, Math.floor((slices - 1) / 2)) as TileRow)
        : found;
    out.push({
      ...cover,
      external: cover.external === 1,
      status: stackStatusOf({ new: nNew, in_progress: nProgress, done: nDone, reviewed: nReviewed, rejected: nRejected }, slices),
      annotationCount: annotations,
      openComments: comments,
      stack: toInfo({ id: stackId, kind, name, slice_order, slices }),
    });
  }
  return out;
}

/** The grid position of the tile holding `imageId` under the filter (the image must match it). */
export async function tileIndexOf(db: Db, filter: ImageFilter, imageId: number): Promise<number> {
  if (filter.ranked) return Math.max(0, (await rankedImages(db, filter)).ids.indexOf(imageId));
  const { and, params } = filterParts(filter);
  const stacks = await hasStacks(db) ? await stackTiles(db, filter) : [];
  const stackId = await db.prepare('SELECT stack_id FROM stack_members WHERE image_id = ?').pluck().get(imageId) as number | undefined;
  const sk = stackId === undefined ? imageId : (stacks.find((t) => t.stackId === stackId)?.sk ?? imageId);
  const plainBefore = await db.prepare(`SELECT count(*) FROM images i ${and} ${NOT_A_SLICE} AND i.id < ?`).pluck().get(...params, sk) as number;
  return plainBefore + stacks.filter((t) => t.sk < sk).length;
}

/** The grid rows of a stack's slices, first slice first (each an image of its own). */
export async function listStackMembers(db: Db, stackId: number): Promise<ImageListRow[]> {
  const rows = await db
    .prepare(`SELECT ${TILE_COLUMNS} FROM stack_members m JOIN images i ON i.id = m.image_id WHERE m.stack_id = ? ORDER BY m.position`)
    .all(stackId) as TileRow[];
  return rows.map((r) => ({ ...r, external: r.external === 1 }));
}

/** The grid position of the tile showing `imageId` under the filter, or null when the filter hides the image. */
export async function locateTile(db: Db, filter: ImageFilter, imageId: number): Promise<number | null> {
  const { sql, params } = whereClause(filter);
  const matches = await db.prepare(`SELECT 1 FROM images i ${sql ? `${sql} AND` : 'WHERE'} i.id = ?`).get(...params, imageId);
  return matches ? await tileIndexOf(db, filter, imageId) : null;
}
