import type { ClassifierReport, NextQueue } from '../../src-main/common/curation';

/**
 * What the curation sections produced, kept while the dataset stays open (the Curate view is
 * left for the grid and the viewer and comes back): the queue of what to label next, which the
 * viewer's "Next in queue" walks, and the classifier last trained.
 */
class CurationState {
  queue = $state.raw<NextQueue | null>(null);
  classifier = $state.raw<ClassifierReport | null>(null);
  /** The dataset (its file) these belong to. */
  private file = $state<string | null>(null);

  /** Drops what belongs to another dataset than `file`. */
  forDataset(file: string | undefined): this {
    if ((file ?? null) !== this.file) {
      this.file = file ?? null;
      this.queue = null;
      this.classifier = null;
    }
    return this;
  }

  /** The queue when it belongs to the dataset `file` (read-only: nothing is dropped). */
  queueOf(file: string | undefined): NextQueue | null {
    return (file ?? null) === this.file ? this.queue : null;
  }

  /**
   * The queue's image after `currentId` (the first when the current image is not in it): 'none'
   * without a queue, null when the current image is its last.
   */
  after(currentId: number | null): number | null | 'none' {
    const q = this.queue;
    if (!q || q.ids.length === 0) return 'none';
    const at = currentId === null ? -1 : q.ids.indexOf(currentId);
    return q.ids[at + 1] ?? null;
  }

  /** 1-based place of the image in the queue, 0 when it is not in it. */
  position(id: number | null | undefined): number {
    return id == null || !this.queue ? 0 : this.queue.ids.indexOf(id) + 1;
  }
}

export const curation = new CurationState();
