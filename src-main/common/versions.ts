import type { ImageStatus, Split } from './model';

/** A frozen version of a dataset (see db/migrations/0015-versions). */
export interface VersionRecord {
  /** 1, 2, 3... in creation order; never given again after a delete. */
  number: number;
  name: string;
  note: string;
  createdAt: number;
  /** Pending model predictions were frozen too (human annotations, accepted predictions included, always are). */
  withPredictions: boolean;
  /** Export settings saved with the version (common/augment/recipe), or null. */
  recipe: unknown;
  images: number;
  classes: number;
  annotations: number;
}

export interface VersionImageRef {
  id: number;
  path: string;
}

/** What changed between two versions, or between a version and the dataset as it is now. */
export interface VersionDiff {
  from: { number: number; name: string };
  /** null: the dataset as it is now. */
  to: { number: number; name: string } | null;
  images: {
    added: VersionImageRef[];
    removed: VersionImageRef[];
    /** Same image, another file content (its content hash changed). */
    replaced: VersionImageRef[];
    splitMoves: (VersionImageRef & { from: Split | null; to: Split | null })[];
    statusChanges: (VersionImageRef & { from: ImageStatus; to: ImageStatus })[];
  };
  annotations: {
    added: number;
    changed: number;
    removed: number;
    /** Per class (the class the annotation has on the side that has it; the newer side when both do). */
    byClass: { classId: number | null; name: string; added: number; changed: number; removed: number }[];
  };
  classes: {
    added: { id: number; name: string }[];
    removed: { id: number; name: string }[];
    /** Renamed, recoloured, moved in the order, or with other attributes or keypoints. */
    changed: { id: number; name: string; was: string; fields: string[] }[];
  };
}
