import type { PyramidGeometry } from '../../src-main/common/pyramid';
import { call, mediaUrl, tileUrl } from '../bridge';
import { JobTracker } from './job.svelte';

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

  private tracker(): JobTracker {
    const job: JobTracker = new JobTracker('pyramid', (text) => {
      if (this.job === job) this.cancelError = text;
    });
    return job;
  }

  /**
   * Shows `frame` of `imageId`; false when superseded (`isCurrent` turned false) before it was
   * drawn. Another frame of the image on screen keeps the zoom and position.
   */
  async show(surface: ImageSurface, imageId: number, isCurrent: () => boolean, frame = 0, keepView = false): Promise<boolean> {
    let info = await call('images:pyramid', { imageId });
    if (!isCurrent()) return false;
    if (info.state === 'none') return surface.load(mediaUrl('view', imageId, frame), { keepView });
    if (frame > 0) throw new Error(`frame ${frame + 1} cannot be shown: this image is shown from a tile pyramid, which is built from its first frame only`);
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
    return surface.loadTiled(`tiles:${imageId}`, { width, height, tileSize, levels, url: (l, c, r) => tileUrl(imageId, l, c, r) });
  }

  /** Warms the browser cache with an image's full view, unless it is one shown from tiles. */
  async prefetch(imageId: number): Promise<void> {
    const info = await call('images:pyramid', { imageId });
    if (info.state === 'none') new Image().src = mediaUrl('view', imageId);
  }
}

export const pyramidView = new PyramidView();
