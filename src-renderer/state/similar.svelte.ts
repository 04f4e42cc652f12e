import { SvelteSet } from 'svelte/reactivity';
import type { SimilarResult } from '../../src-main/common/similarity';
import { call } from '../bridge';
import { app } from './app.svelte';
import { baseName, plural } from './format';

/** Neighbours a "More like this" ranking shows in the grid. */
export const SIMILAR_SHOWN = 200;

/**
 * "More like this": images picked in the grid (Ctrl/⌘-click) and the similarity searches that
 * open the grid ranked by cosine similarity, the score on each thumbnail.
 */
class Similar {
  /** Grid images picked for a search from several images. */
  readonly picked = new SvelteSet<number>();
  busy = $state(false);

  toggle(id: number): void {
    if (this.picked.has(id)) this.picked.delete(id);
    else this.picked.add(id);
  }

  clearPicked(): void {
    this.picked.clear();
  }

  /** Ranks the grid by similarity to the images (their mean for several), or to an object's crop vector. */
  async show(q: { imageIds: number[]; label: string } | { annotationId: number; label: string }): Promise<boolean> {
    if (this.busy) return false;
    this.busy = true;
    try {
      await this.rank(q);
      return true;
    } catch (e) {
      app.fail(e);
      return false;
    } finally {
      this.busy = false;
    }
  }

  private async rank(q: { imageIds: number[]; label: string } | { annotationId: number; label: string }): Promise<void> {
    const { label, ...query } = q;
    const r: SimilarResult = await call('similar:find', { ...query, k: SIMILAR_SHOWN });
    if (app.viewer.active) app.viewer.close();
    this.picked.clear();
    app.dataset.setFilter({ ranked: { ids: r.hits.map((h) => h.imageId), scores: r.hits.map((h) => h.score), label } });
    app.say(`${plural(r.hits.length, 'image')} by similarity (${r.model.name}, ${r.searched.toLocaleString('en-US')} searched)`);
  }

  /** From the viewer: the selected object when one stored shape is selected and its crop vector exists, else the image. */
  async fromViewer(image: { id: number; path: string }, annotationId: number | null): Promise<void> {
    if (this.busy) return;
    const name = baseName(image.path);
    this.busy = true;
    try {
      if (annotationId !== null && annotationId > 0) {
        try {
          await this.rank({ annotationId, label: `Like object ${annotationId} of ${name}` });
          return;
        } catch (e) {
          // No crop vector for it: the whole image stands in, and the message says so.
          app.say(`${e instanceof Error ? e.message : String(e)}; showing images like the whole image`);
        }
      }
      await this.rank({ imageIds: [image.id], label: `Like ${name}` });
    } catch (e) {
      app.fail(e);
    } finally {
      this.busy = false;
    }
  }

  async fromPicked(): Promise<void> {
    const ids = [...this.picked];
    if (ids.length === 0) return;
    await this.show({ imageIds: ids, label: ids.length === 1 ? `Like image ${ids[0]}` : `Like ${plural(ids.length, 'picked image')}` });
  }
}

export const similar = new Similar();
