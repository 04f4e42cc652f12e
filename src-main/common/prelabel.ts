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
  /** The predictions stored for review by kind (box, mask, tag, ...); kinds with none are left out. */
  byKind: Record<string, number>;
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

/** "1 image", "2 images": a count with its noun, singular or plural. */
export function plural(n: number, noun: string, nouns = `${noun}s`): string {
  return `${n.toLocaleString('en-US')} ${n === 1 ? noun : nouns}`;
}

const KIND_WORDS: Record<string, string> = { box: 'box', mask: 'mask', polygon: 'polygon', tag: 'tag', obb: 'rotated box', keypoints: 'pose', point: 'point', polyline: 'polyline' };

/** " (3 tags)", " (5 masks, 2 boxes)": what the predictions are, unless they are all boxes. */
function kindsText(byKind: Record<string, number>): string {
  const kinds = Object.entries(byKind).filter(([, n]) => n > 0);
  if (kinds.length === 0 || (kinds.length === 1 && kinds[0]![0] === 'box')) return '';
  return ` (${kinds.map(([k, n]) => plural(n, KIND_WORDS[k] ?? k).replace(/(box|x)s$/, '$1es')).join(', ')})`;
}

/**
 * What a pre-labeling run did, in words: how many images the model ran on out of how many, what it
 * stored, and why the rest were not run (skipped for their human labels, failed, or left to do
 * by a cancel, which Resume continues).
 */
export function prelabelSummaryText(s: PrelabelSummary): string {
  const parts: string[] = [];
  const ran = s.done;
  if (s.cancelled) parts.push(`Cancelled after ${ran} of ${plural(s.images, 'image')}`);
  else if (ran === 0 && s.skipped === s.images && s.images > 0) {
    parts.push(`No image run: ${s.images === 1 ? 'the image holds' : `all ${s.images} images hold`} human labels and "skip images with human labels" is on`);
  } else parts.push(`Pre-labeled ${ran === s.images ? plural(ran, 'image') : `${ran} of ${plural(s.images, 'image')}`}`);
  if (ran > 0 || s.detections > 0) parts[0] += `: ${plural(s.detections, 'prediction')}${kindsText(s.byKind ?? {})}`;
  if (s.replaced > 0) parts.push(`${plural(s.replaced, 'older prediction')} of this model replaced`);
  const known = s.alreadyLabeled + s.alreadyRejected;
  if (known > 0) {
    const why = [s.alreadyLabeled > 0 ? `${s.alreadyLabeled} already labeled` : '', s.alreadyRejected > 0 ? `${s.alreadyRejected} rejected before` : ''].filter(Boolean).join(', ');
    parts.push(`${plural(known, 'object')} left out (${why})`);
  }
  if (s.skipped > 0 && !(ran === 0 && s.skipped === s.images)) parts.push(`${s.skipped} skipped (human labels)`);
  if (s.failed > 0) parts.push(`${s.failed} failed`);
  if (s.cancelled && s.pending > 0) parts.push(`${plural(s.pending, 'image')} left to do (Resume continues)`);
  if (s.msPerImage !== null && ran > 0) parts.push(`${Math.round(s.msPerImage)} ms per image`);
  return parts.join('; ');
}
