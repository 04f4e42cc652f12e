import type { DicomMeta } from '../common/imaging/dicom';
import type { VoiWindow } from '../common/imaging/window';
import type { Db } from './open';

export function setImagingMeta(db: Db, imageId: number, meta: DicomMeta): void {
  db.prepare(
    `INSERT INTO image_imaging (image_id, kind, series_uid, meta) VALUES (?, 'dicom', ?, ?)
     ON CONFLICT (image_id) DO UPDATE SET series_uid = excluded.series_uid, meta = excluded.meta`,
  ).run(imageId, meta.seriesInstanceUid, JSON.stringify(meta));
}

export function getImagingMeta(db: Db, imageId: number): DicomMeta | null {
  const row = db.prepare('SELECT meta FROM image_imaging WHERE image_id = ?').pluck().get(imageId) as string | undefined;
  return row ? (JSON.parse(row) as DicomMeta) : null;
}

/** The window remembered for the image itself, else for its series. */
export function getRememberedWindow(db: Db, imageId: number): { window: VoiWindow; scope: 'image' | 'series' } | null {
  const own = db.prepare('SELECT center, width FROM image_windows WHERE image_id = ?').get(imageId) as VoiWindow | undefined;
  if (own) return { window: { center: own.center, width: own.width }, scope: 'image' };
  const series = db
    .prepare(
      `SELECT w.center, w.width FROM image_imaging i JOIN series_windows w ON w.series_uid = i.series_uid
       WHERE i.image_id = ?`,
    )
    .get(imageId) as VoiWindow | undefined;
  return series ? { window: { center: series.center, width: series.width }, scope: 'series' } : null;
}

/**
 * Remembers a window for the image and, when it belongs to a series, for the series too, so the
 * next slice opens with it. `null` forgets both (back to the file's or the automatic window).
 */
export function setRememberedWindow(db: Db, imageId: number, win: VoiWindow | null, now = Date.now()): void {
  const series = db.prepare('SELECT series_uid FROM image_imaging WHERE image_id = ?').pluck().get(imageId) as string | null | undefined;
  db.transaction(() => {
    if (!win) {
      db.prepare('DELETE FROM image_windows WHERE image_id = ?').run(imageId);
      if (series) db.prepare('DELETE FROM series_windows WHERE series_uid = ?').run(series);
      return;
    }
    db.prepare(
      `INSERT INTO image_windows (image_id, center, width, updated_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (image_id) DO UPDATE SET center = excluded.center, width = excluded.width, updated_at = excluded.updated_at`,
    ).run(imageId, win.center, win.width, now);
    if (series) {
      db.prepare(
        `INSERT INTO series_windows (series_uid, center, width, updated_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (series_uid) DO UPDATE SET center = excluded.center, width = excluded.width, updated_at = excluded.updated_at`,
      ).run(series, win.center, win.width, now);
    }
  })();
}
