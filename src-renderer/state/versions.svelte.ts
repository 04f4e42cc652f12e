import type { ImageFilter } from '../../src-main/common/model';
import type { DatasetState } from './dataset.svelte';

/**
 * The version the viewer shows read-only: its annotations come from the version (versions:annotations)
 * and every edit is refused. Null: the dataset's own annotations, editable. Set when a version is
 * opened from the Versions view; cleared (and the grid's filter put back) when the viewer closes.
 */
class VersionViewState {
  current = $state.raw<{ number: number; name: string } | null>(null);
  private previousFilter: ImageFilter | null = null;

  enter(v: { number: number; name: string }, dataset: DatasetState, ids: number[]): Promise<void> {
    this.previousFilter = dataset.filter;
    this.current = { number: v.number, name: v.name };
    dataset.setFilter({ ids });
    return dataset.refresh();
  }

  leave(dataset: DatasetState | null): void {
    if (!this.current) return;
    this.current = null;
    const filter = this.previousFilter;
    this.previousFilter = null;
    if (dataset?.summary && filter) dataset.setFilter(filter);
  }

  /** The label shown on the viewer while a version is open. */
  get badge(): string | null {
    return this.current ? `Version ${this.current.number} (read-only)` : null;
  }

  /** The error an edit gets while a version is open (code READ_ONLY: the editor does not retry it). */
  refusal(): Error {
    const v = this.current!;
    return Object.assign(new Error(`version ${v.number} (${v.name}) is read-only; go back to edit the dataset's own annotations`), { code: 'READ_ONLY' });
  }
}

export const versionView = new VersionViewState();
