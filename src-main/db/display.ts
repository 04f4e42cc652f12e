import { DEFAULT_DISPLAY, type DisplayInfo, type DisplaySettings } from '../common/imaging/display';
import type { Db } from './open';

/** The display settings of an image: its own, else the dataset's default, else none (identity). */
export async function getDisplay(db: Db, imageId: number): Promise<DisplayInfo> {
  const own = await db.prepare('SELECT settings FROM image_display WHERE image_id = ?').pluck().get(imageId) as string | undefined;
  if (own !== undefined) return { imageId, settings: parse(own), source: 'image' };
  const def = await db.prepare('SELECT settings FROM dataset_display WHERE id = 1').pluck().get() as string | undefined;
  if (def !== undefined) return { imageId, settings: parse(def), source: 'dataset' };
  return { imageId, settings: copy(DEFAULT_DISPLAY), source: 'default' };
}

/**
 * Remembers settings for the image and as the dataset's default, so images without their own
 * open with them too (as a display window is remembered for the image and its series). `null`
 * forgets both, back to the unadjusted image; other images' own settings stay.
 */
export async function setDisplay(db: Db, imageId: number, settings: DisplaySettings | null, now = Date.now()): Promise<void> {
  await db.transaction(async () => {
    if (!settings) {
      await db.prepare('DELETE FROM image_display WHERE image_id = ?').run(imageId);
      await db.prepare('DELETE FROM dataset_display WHERE id = 1').run();
      return;
    }
    const json = JSON.stringify(copy(settings));
    await db.prepare(
      `INSERT INTO image_display (image_id, settings, updated_at) VALUES (?, ?, ?)
       ON CONFLICT (image_id) DO UPDATE SET settings = excluded.settings, updated_at = excluded.updated_at`,
    ).run(imageId, json, now);
    await db.prepare(
      `INSERT INTO dataset_display (id, settings, updated_at) VALUES (1, ?, ?)
       ON CONFLICT (id) DO UPDATE SET settings = excluded.settings, updated_at = excluded.updated_at`,
    ).run(json, now);
  })();
}

function copy(s: DisplaySettings): DisplaySettings {
  return { brightness: s.brightness, contrast: s.contrast, gamma: s.gamma, invert: s.invert, channels: [s.channels[0], s.channels[1], s.channels[2]] };
}

/** A stored row, with any field it lacks (written by an older version) at its default. */
function parse(json: string): DisplaySettings {
  const v = JSON.parse(json) as Partial<DisplaySettings>;
  const ch = Array.isArray(v.channels) ? v.channels : DEFAULT_DISPLAY.channels;
  return {
    brightness: typeof v.brightness === 'number' ? v.brightness : 0,
    contrast: typeof v.contrast === 'number' ? v.contrast : 0,
    gamma: typeof v.gamma === 'number' && v.gamma > 0 ? v.gamma : 1,
    invert: v.invert === true,
    channels: [ch[0] !== false, ch[1] !== false, ch[2] !== false],
  };
}
