import { expect } from 'vitest';
import type { InterchangeDataset } from '../../src-main/common/formats/types';

/**
 * What a reader must still guarantee for a damaged annotation file: every problem names that
 * file, no image key leaves the dataset folder, and every geometry number is finite.
 */
export function expectContainedRead(ds: InterchangeDataset, file: string): void {
  for (const p of ds.problems) expect(p.file).toBe(file);
  for (const img of ds.images) {
    expect(img.file.startsWith('/') || img.file.split('/').includes('..') || img.file.includes('\\')).toBe(false);
    for (const a of img.annotations) for (const v of Object.values(a.geometry)) if (typeof v === 'number') expect(Number.isFinite(v)).toBe(true);
  }
}
