import type { DicomMeta } from '../common/imaging/dicom';
import type { VoiWindow } from '../common/imaging/window';
import type { Db } from './open';

export async function setImagingMeta(db: Db, imageId: number, meta: DicomMeta): Promise<void> {
  await db.prepare(
    `INSERT INTO image_imaging (image_id, kind, series_uid, meta) VALUES (?, 'dicom', ?, ?)
     ON CONFLICT (image_id) DO UPDATE SET series_uid = excluded.series_uid, meta = excluded.meta`,
  ).run(imageId, meta.seriesInstanceUid, JSON.stringify(meta));
}

export async function getImagingMeta(db: Db, imageId: number): Promise<DicomMeta | null> {
  const row = await db.prepare('SELECT meta FROM image_imaging WHERE image_id = ?').pluck().get(imageId) as string | undefined;
  return row ? (JSON.parse(row) as DicomMeta) : null;
}

/**
 * The key a window is shared under: a stack's (its series UID, or `sequence:` and its key), else
 * the image's series UID; null for an image in neither.
 */
async function windowKey(db: Db, imageId: number): Promise<{ key: string; stack: boolean } | null> {
  const stack = await db
    .prepare('SELECT s.kind, s.key FROM stack_members m JOIN stacks s ON s.id = m.stack_id WHERE m.image_id = ?')
    .get(imageId) as { kind: string; key: string } | undefined;
  if (stack) return { key: stack.kind === 'dicom' ? stack.key : `sequence:${stack.key}`, stack: true };
  const series = await db.prepare('SELECT series_uid FROM image_imaging WHERE image_id = ?').pluck().get(imageId) as string | null | undefined;
  return series ? { key: series, stack: false } : null;
}

/**
 * The window remembered for the image itself, else for its series. A slice of a stack takes the
 * stack's window when it was chosen after the slice's own (on another slice), so a window chosen
 * on one slice stays while stepping through the others.
 */
export async function getRememberedWindow(db: Db, imageId: number): Promise<{ window: VoiWindow; scope: 'image' | 'series' } | null> {
  const shared = await windowKey(db, imageId);
  const ofKey = async (key: string) =>
    await db.prepare('SELECT center, width, updated_at AS at FROM series_windows WHERE series_uid = ?').get(key) as (VoiWindow & { at: number }) | undefined;
  const own = await db.prepare('SELECT center, width, updated_at AS at FROM image_windows WHERE image_id = ?').get(imageId) as (VoiWindow & { at: number }) | undefined;
  if (shared?.stack) {
    const w = await ofKey(shared.key);
    // Set in the same millisecond: different values can only come from a later choice on another slice.
    const newer = w && (!own || w.at > own.at || (w.at === own.at && (w.center !== own.center || w.width !== own.width)));
    if (w && newer) return { window: { center: w.center, width: w.width }, scope: 'series' };
  }
  if (own) return { window: { center: own.center, width: own.width }, scope: 'image' };
  const series = shared ? await ofKey(shared.key) : undefined;
  return series ? { window: { center: series.center, width: series.width }, scope: 'series' } : null;
}

/**
 * Remembers a window for the image and, when it belongs to a series, for the series too, so the
 * next slice opens with it. `null` forgets both (back to the file's or the automatic window).
 */
export async function setRememberedWindow(db: Db, imageId: number, win: VoiWindow | null, now = Date.now()): Promise<void> {
  const series = (await windowKey(db, imageId))?.key;
  await db.transaction(async () => {
    if (!win) {
      await db.prepare('DELETE FROM image_windows WHERE image_id = ?').run(imageId);
      if (series) await db.prepare('DELETE FROM series_windows WHERE series_uid = ?').run(series);
      return;
    }
    await db.prepare(
      `INSERT INTO image_windows (image_id, center, width, updated_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (image_id) DO UPDATE SET center = excluded.center, width = excluded.width, updated_at = excluded.updated_at`,
    ).run(imageId, win.center, win.width, now);
    if (series) {
      await db.prepare(
        `INSERT INTO series_windows (series_uid, center, width, updated_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (series_uid) DO UPDATE SET center = excluded.center, width = excluded.width, updated_at = excluded.updated_at`,
      ).run(series, win.center, win.width, now);
    }
  })();
}
