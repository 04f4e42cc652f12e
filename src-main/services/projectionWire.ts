import type { ErrorData } from '../common/errors';
import type { UmapOptions } from './projection';

/** Messages between the embedding map and its projection worker (projectionWorker.ts). */
export interface ProjectionRequest {
  method: 'pca' | 'umap';
  /** n x d, row-major. */
  data: Float32Array;
  n: number;
  d: number;
  umap?: Pick<UmapOptions, 'nNeighbors' | 'minDist' | 'seed' | 'nEpochs' | 'pcaComponents'>;
}

export type ProjectionReply =
  | { type: 'progress'; done: number; total: number }
  | { type: 'done'; coords: Float32Array }
  | { type: 'error'; error: ErrorData };
