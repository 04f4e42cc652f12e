import type { Db } from './open';

/** The frame last viewed on a multi-frame image; 0 when none was remembered or it no longer exists. */
export async function getViewedFrame(db: Db, imageId: number): Promise<number> {
  const row = await db
    .prepare('SELECT f.frame, i.frames FROM image_viewed_frames f JOIN images i ON i.id = f.image_id WHERE f.image_id = ?')
    .get(imageId) as { frame: number; frames: number } | undefined;
  return row && row.frame < row.frames ? row.frame : 0;
}

/** Remembers the frame viewed on an image; frame 0 (the default) is stored as no row. */
export async function setViewedFrame(db: Db, imageId: number, frame: number, now = Date.now()): Promise<void> {
  if (frame === 0) {
    await db.prepare('DELETE FROM image_viewed_frames WHERE image_id = ?').run(imageId);
    return;
  }
  await db.prepare(
    `INSERT INTO image_viewed_frames (image_id, frame, updated_at) VALUES (?, ?, ?)
     ON CONFLICT (image_id) DO UPDATE SET frame = excluded.frame, updated_at = excluded.updated_at`,
  ).run(imageId, frame, now);
}
