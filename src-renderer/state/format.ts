import type { ImageStatus } from '../../src-main/common/model';

export const STATUS_LABELS: Record<ImageStatus, string> = {
  new: 'New',
  in_progress: 'In progress',
  done: 'Done',
  reviewed: 'Reviewed',
  rejected: 'Rejected',
};

/** File name of a stored path, which may use either separator (it can come from Windows). */
export function baseName(p: string): string {
  const i = Math.max(p.lastIndexOf('/'), p.lastIndexOf('\\'));
  return i >= 0 ? p.slice(i + 1) : p;
}

/** "1 problem", "3 problems"; numbers grouped the same way everywhere in the UI. */
export function plural(n: number, word: string, many = `${word}s`): string {
  return `${n.toLocaleString('en-US')} ${n === 1 ? word : many}`;
}
