import os from 'node:os';
import { AppError } from '../common/errors';
import { geometryBBox } from '../common/geometry/shapes';
import type { CommentRecord } from '../common/model';
import { getAnnotationsByIds } from '../db/annotations';
import { deleteComment, getComment, insertComment, listImageComments, listOpenComments, setResolved } from '../db/comments';
import { getImage } from '../db/images';
import type { Dataset } from './dataset';
import { requireFrame } from './raster';

/** The name comments are signed with when the caller gives none: the operating system's user. */
export function defaultAuthor(): string {
  try {
    return os.userInfo().username || 'unknown';
  } catch {
    return process.env['USER'] ?? process.env['USERNAME'] ?? 'unknown';
  }
}

function authorOf(author: string | undefined): string {
  return author?.trim() || defaultAuthor();
}

async function need(ds: Dataset, id: number): Promise<CommentRecord> {
  const c = await getComment(ds.db, id);
  if (!c) throw new AppError('NOT_FOUND', `comment ${id} is not in the dataset`, { id });
  return c;
}

export interface AddCommentArgs {
  imageId: number;
  frame: number;
  body: string;
  /** The shape commented on; its pin is the top-right corner of its bounding box unless x, y are given. */
  annotationId?: number | undefined;
  x?: number | undefined;
  y?: number | undefined;
  /** A reply to this comment: it takes the comment's image, frame and pin. */
  parentId?: number | undefined;
  author?: string | undefined;
}

/**
 * Pins a comment to a shape or a point of an image's frame, or replies to one. One transaction:
 * the image, shape and parent are checked against what is stored when the row is written.
 */
export async function addComment(ds: Dataset, args: AddCommentArgs, now = Date.now()): Promise<CommentRecord> {
  const body = args.body.trim();
  if (!body) throw new AppError('INVALID_ARGUMENT', 'a comment needs some text', { field: 'body' });
  const author = authorOf(args.author);
  const db = ds.db;
  const id = await db.transaction(async () => {
    const im = await getImage(db, args.imageId);
    if (!im) throw new AppError('NOT_FOUND', `image ${args.imageId} is not in the dataset`, { id: args.imageId });
    if (args.parentId !== undefined) {
      const parent = await need(ds, args.parentId);
      if (parent.imageId !== im.id) throw new AppError('INVALID_ARGUMENT', `comment ${parent.id} is on another image`, { parentId: parent.id });
      if (parent.parentId !== null) throw new AppError('INVALID_ARGUMENT', `comment ${parent.id} is a reply; reply to the comment it answers`, { parentId: parent.id });
      return await insertComment(db, { imageId: im.id, frame: parent.frame, annotationId: parent.annotationId, x: parent.x, y: parent.y, parentId: parent.id, author, body }, now);
    }
    requireFrame(im, args.frame);
    let x = args.x;
    let y = args.y;
    let annotationId: number | null = null;
    if (args.annotationId !== undefined) {
      const a = (await getAnnotationsByIds(db, [args.annotationId])).get(args.annotationId);
      if (!a || a.imageId !== im.id) {
        throw new AppError('NOT_FOUND', `${im.path}: annotation ${args.annotationId} is not on this image`, { imageId: im.id, annotationId: args.annotationId });
      }
      if (a.frame !== args.frame) {
        throw new AppError('INVALID_ARGUMENT', `${im.path}: annotation ${a.id} is on frame ${a.frame + 1}, not ${args.frame + 1}`, { annotationId: a.id });
      }
      annotationId = a.id;
      const b = geometryBBox(a.geometry);
      x ??= b.x + b.w;
      y ??= b.y;
    }
    if (x === undefined || y === undefined) {
      throw new AppError('INVALID_ARGUMENT', 'a comment needs a shape or a point (x, y)', { imageId: im.id });
    }
    if (x < 0 || y < 0 || x > im.width || y > im.height) {
      throw new AppError('INVALID_ARGUMENT', `${im.path}: point (${x}, ${y}) lies outside the ${im.width}×${im.height} image`, { imageId: im.id, x, y });
    }
    return await insertComment(db, { imageId: im.id, frame: args.frame, annotationId, x, y, parentId: null, author, body }, now);
  })();
  return await need(ds, id);
}

/** Comments of an image, replies included, oldest first. */
export async function imageComments(ds: Dataset, imageId: number): Promise<CommentRecord[]> {
  if (!await getImage(ds.db, imageId)) throw new AppError('NOT_FOUND', `image ${imageId} is not in the dataset`, { id: imageId });
  return await listImageComments(ds.db, imageId);
}

/** Open comments across the dataset (replies left out), in image order; at most `limit`. */
export async function openComments(ds: Dataset, limit: number): Promise<CommentRecord[]> {
  return await listOpenComments(ds.db, limit);
}

/** Resolves or reopens a comment; replies follow the comment they answer, so they cannot be resolved alone. */
export async function resolveComment(ds: Dataset, args: { id: number; resolved: boolean; author?: string | undefined }, now = Date.now()): Promise<CommentRecord> {
  await ds.db.transaction(async () => {
    const c = await need(ds, args.id);
    if (c.parentId !== null) throw new AppError('INVALID_ARGUMENT', `comment ${c.id} is a reply; resolve the comment it answers (${c.parentId})`, { id: c.id });
    await setResolved(ds.db, c.id, args.resolved ? authorOf(args.author) : null, now);
  })();
  return await need(ds, args.id);
}

/** Deletes a comment with its replies. */
export async function removeComment(ds: Dataset, id: number): Promise<void> {
  await ds.db.transaction(async () => {
    await need(ds, id);
    await deleteComment(ds.db, id);
  })();
}
