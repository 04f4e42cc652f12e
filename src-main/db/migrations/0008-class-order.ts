import type { Migration } from './types';

/**
 * A new class goes after the last one (`max(sort_order) + 1`): indexed, finding the end costs the
 * same whether the dataset has ten classes or fifty thousand, so creating classes one at a time
 * (pre-labeling, imported results) stays linear.
 */
export const classOrder: Migration = {
  version: 8,
  name: 'class-order',
  up: `
    CREATE INDEX classes_sort_order ON classes (sort_order);
  `,
};
