import type { Split } from './model';

/** The near-duplicate threshold (cosine similarity) used when none is given. */
export const DEFAULT_DUPLICATE_THRESHOLD = 0.95;
/** At most this many pairs (the best) are listed in a near-duplicate report; `found` counts them all. */
export const MAX_DUPLICATE_PAIRS = 10_000;
/** Neighbours returned by a similarity search when no count is given. */
export const DEFAULT_SIMILAR_K = 10;
/** Most neighbours one search returns (the grid shows them as one ranking). */
export const MAX_SIMILAR_K = 10_000;

/** One neighbour of a similarity search: cosine similarity to the query, 1 for the same direction. */
export interface SimilarHit {
  imageId: number;
  path: string;
  split: Split | null;
  score: number;
}

export interface SimilarResult {
  /** Key and name of the embedding model whose vectors were compared. */
  model: { key: string; name: string };
  /** The images (or the object's image) the query was made from; never among the hits. */
  query: { imageIds: number[]; annotationId: number | null };
  /** Best first (descending cosine similarity). */
  hits: SimilarHit[];
  /** Current image vectors searched. */
  searched: number;
  elapsedMs: number;
}

/** Two images whose vectors are at or above the threshold; `a` has the lower image id. */
export interface DuplicateImage {
  imageId: number;
  path: string;
  split: Split | null;
  /** The image's media address (set by the app's channel, for thumbnails). */
  media?: string;
}

export interface DuplicatePair {
  a: DuplicateImage;
  b: DuplicateImage;
  score: number;
  /** The two are in different splits (train / val / test): the same picture is trained and evaluated on. */
  leakage: boolean;
}

export interface DuplicateReport {
  model: { key: string; name: string };
  threshold: number;
  /** Current image vectors compared. */
  searched: number;
  /** Highest score first; at most MAX_DUPLICATE_PAIRS (or the caller's limit) of them. */
  pairs: DuplicatePair[];
  /** Pairs at or above the threshold, listed or not. */
  found: number;
  /** Connected groups of the pairs (each pair's images joined), largest first; image ids ascending. */
  groups: number[][];
  /** Pairs flagged as leakage, listed or not. */
  leakage: number;
  elapsedMs: number;
}
