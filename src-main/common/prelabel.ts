import type { Detection, ModelManifest, Provider } from './inference/types';

/** Pre-labeling and model registry DTOs shared by the services, the contract and the renderer. */

export interface ModelEntry {
  manifest: ModelManifest;
  origin: 'builtin' | 'custom';
  /** Absolute path of the weights when they are on disk, else null (download them first). */
  path: string | null;
  downloadable: boolean;
}

export interface DownloadProgress {
  jobId?: string;
  id: string;
  received: number;
  /** From Content-Length; null when the server does not say. */
  total: number | null;
}

export interface PrelabelProgress {
  jobId?: string;
  runId: number;
  done: number;
  total: number;
  detections: number;
  /** Estimated milliseconds left, null while unknown. */
  etaMs: number | null;
  provider: Provider | null;
  /** Tiled runs: tiles done and to do over the whole run. */
  tiles?: { done: number; total: number };
}

export interface PrelabelSummary {
  runId: number;
  model: string;
  images: number;
  done: number;
  skipped: number;
  failed: number;
  pending: number;
  /** Predictions stored for review. */
  detections: number;
  /** Pending predictions of earlier runs of the model that this run replaced on its images. */
  replaced: number;
  /** Detections left out of review because a human shape of their class is already there. */
  alreadyLabeled: number;
  /** Detections left out of review because they were rejected before (same class, overlapping). */
  alreadyRejected: number;
  /** Mean inference time per image in this session of the run. */
  msPerImage: number | null;
  /** The provider that actually ran (after any fallback). */
  provider: Provider | null;
  warnings: string[];
  cancelled: boolean;
}

/** A model run that stopped with images left, which `prelabel:resume` can finish. */
export interface UnfinishedRun {
  runId: number;
  modelId: string;
  status: 'running' | 'cancelled';
  /** Images still to run. */
  pending: number;
  /** Images settled: done, skipped or failed. */
  done: number;
}

export interface TryResult {
  detections: (Detection & { className: string })[];
  provider: Provider;
  ms: number;
  warnings: string[];
}

export interface ReviewResult {
  /** Ids now human annotations (accept) or removed (reject). */
  ids: number[];
  /** Accept: predictions removed because the image already had that shape (same class, overlapping). */
  duplicates?: number[];
  /** One journal entry per image touched, so each can be undone like an edit. */
  images: { imageId: number; journalId: number }[];
}

/** Model class name -> dataset class id, or null for a class that is ignored. */
export type ClassMap = Record<string, number | null>;
