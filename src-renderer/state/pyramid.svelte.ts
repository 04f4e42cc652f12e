import type { ImageListItem } from '../../src-main/common/model';
import type { PyramidGeometry } from '../../src-main/common/pyramid';
import { call, mediaUrl, tileUrl } from '../bridge';
import { JobTracker } from './job.svelte';

/** An image as its renditions are asked for: its id and media address. */
export type MediaImage = Pick<ImageListItem, 'id' | 'media'>;

/** What the viewer needs to show an image either way: one bitmap, or tiles of its pyramid. */
export interface ImageSurface {
  load(url: string, opts?: { keepView?: boolean }): Promise<boolean>;
  loadTiled(key: string, source: PyramidGeometry & { url(level: number, col: number, row: number): string }): Promise<boolean>;
}

/**
 * Opens an image in the viewer the right way for its size: ordinary images as they always were,
 * gigapixel ones from their tile pyramid, building it first (with progress and Cancel) when it
 * does not exist yet. Each build has its own job: one left running in the background when the
 * viewer moves on (coming back joins it) never mixes its progress or its Cancel with the next.
 */
export class PyramidView {
  /** The job of the build shown in the viewer (the latest one started). */
  job = $state.raw(this.tracker());
  /** The image whose pyramid is being built for display, if any. */
  building = $state<number | null>(null);
  cancelError = $state<string | null>(null);
  /** The image (id and media address) last found to have no pyramid: another frame of it asks no more. */
  private plain: string | null = null;

  private tracker(): JobTracker {
    const job: JobTracker = new JobTracker('pyramid', (text) => {
      if (this.job === job) this.cancelError = text;
    });
    return job;
  }

  /**
   * Shows `frame` of the image; false when superseded (`isCurrent` turned false) before it was
   * drawn. Another frame of the image on screen keeps the zoom and position, and does not ask
   * again whether the image has a pyramid. An image shown from its pyramid has its first frame
   * only: `onTiled` is told, and another frame asked for is not shown (false).
   */
  async show(surface: ImageSurface, image: MediaImage, isCurrent: () => boolean, frame = 0, keepView = false, onTiled?: () => void): Promise<boolean> {
    const { id: imageId, media } = image;
    const key = `${imageId}|${media}`;
    if (keepView && this.plain === key) return surface.load(mediaUrl('view', media, frame), { keepView });
    let info = await call('images:pyramid', { imageId });
    if (!isCurrent()) return false;
    if (info.state === 'none') {
      this.plain = key;
      return surface.load(mediaUrl('view', media, frame), { keepView });
    }
    if (this.plain === key) this.plain = null;
    onTiled?.();
    if (frame > 0) return false;
    if (info.state !== 'ready') {
      const job = this.tracker();
      this.job = job;
      this.building = imageId;
      this.cancelError = null;
      try {
        info = await job.run((jobId) => call('images:buildPyramid', { jobId, imageId }));
      } finally {
        if (this.building === imageId && this.job === job) this.building = null;
      }
    }
    if (!isCurrent()) return false;
    const { width, height, tileSize, levels } = info;
    return surface.loadTiled(`tiles:${media}`, { width, height, tileSize, levels, url: (l, c, r) => tileUrl(media, l, c, r) });
  }

  /** Warms the browser cache with an image's full view, unless it is one shown from tiles. */
  async prefetch(image: MediaImage): Promise<void> {
    const info = await call('images:pyramid', { imageId: image.id });
    if (info.state === 'none') new Image().src = mediaUrl('view', image.media);
  }
}

export const pyramidView = new PyramidView();
