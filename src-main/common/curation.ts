/** What to label next and the classifier trained on embeddings: types shared by main and renderer. */

export const QUEUE_STRATEGIES = ['uncertainty', 'diversity', 'hybrid', 'uniqueness'] as const;
export type QueueStrategy = (typeof QUEUE_STRATEGIES)[number];

/** How uncertain a prediction run was on an image: 1 - best score, or 1 - (best - second best). */
export const UNCERTAINTY_MEASURES = ['least-confidence', 'margin'] as const;
export type UncertaintyMeasure = (typeof UNCERTAINTY_MEASURES)[number];

/** The images a queue is drawn from: without human annotation, or not done (nor reviewed). */
export const QUEUE_POOLS = ['unlabeled', 'not_done'] as const;

export interface NextQueue {
  strategy: QueueStrategy;
  /** Images in the order to label them, and the strategy's priority of each (higher first). */
  ids: number[];
  scores: number[];
  /** Names the ranking in the grid's header. */
  label: string;
  /** The prediction run uncertainty came from, when the strategy used one. */
  runId: number | null;
  /** The embedding model whose vectors were used, when the strategy used them. */
  embeddingModelId: number | null;
  /** Images in the pool. */
  candidates: number;
  /** Pool images the strategy could not score (not in the run, or without a vector); left out of the queue. */
  unscored: number;
}

export interface ClassifierReport {
  /** Identifies the trained classifier for `classifier:predict` while the dataset stays open. */
  classifierId: string;
  embeddingModelId: number;
  /** 'softmax': one tag per image; 'one-vs-rest': some images have several tags. */
  mode: 'softmax' | 'one-vs-rest';
  classIds: number[];
  classNames: string[];
  trainImages: number;
  heldOutImages: number;
  /** Held-out accuracy (one-vs-rest: the predicted tag set equals the true one). */
  accuracy: number;
  /** Accuracy of always answering the training images' most frequent class (tag set). */
  baseline: number;
  /** Held-out counts, rows true class, columns predicted class, in `classIds` order (softmax only). */
  confusion: number[][] | null;
  /** Tagged images left out for having no vector of the model. */
  withoutVector: number;
  /** Images with a vector and no human tag: what `classifier:predict` would tag. */
  untagged: number;
  l2: number;
  seed: number;
  iterations: number;
  ms: number;
}

export interface ClassifierPrediction {
  runId: number;
  images: number;
  tags: number;
}

