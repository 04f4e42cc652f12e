/**
 * What the embedding channels carry: the embed models one can choose, the models whose vectors a
 * dataset holds (with their counts), and a compute job's outcome. Pure types.
 */

/** An embed model of the registry (shipped or custom). */
export interface EmbeddingModelChoice {
  id: string;
  name: string;
  origin: 'builtin' | 'custom';
  /** Its weights are on disk: it can run. */
  downloaded: boolean;
  /** It names a URL its weights can be downloaded from (models:download). */
  downloadable: boolean;
  licence: string | null;
}

/** A model whose vectors the open dataset holds. */
export interface StoredEmbeddingModel {
  id: number;
  /** Manifest id, weights hash and preprocessing hash (see services/embeddings.ts embeddingModelKey). */
  key: string;
  name: string;
  /** The registry model it was computed with, when the key says (null for older or foreign keys). */
  manifestId: string | null;
  dim: number;
  dtype: 'f16' | 'f32';
  createdAt: number;
  /** Current image vectors. */
  images: number;
  /** Image vectors made from file content the dataset no longer records. */
  stale: number;
  /** Object crop vectors. */
  annotations: number;
}

export interface EmbeddingModelsInfo {
  available: EmbeddingModelChoice[];
  stored: StoredEmbeddingModel[];
  /** Images in the dataset. */
  imageCount: number;
}

export interface EmbedJobSummary {
  key: string;
  /** The stored model after the job; null when nothing was stored. */
  model: StoredEmbeddingModel | null;
  total: number;
  computed: number;
  crops: number;
  skipped: number;
  failed: number;
  problems: string[];
  cancelled: boolean;
  ms: number;
}
