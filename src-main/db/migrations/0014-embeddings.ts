import type { Migration } from './types';

/**
 * Embeddings: one vector per image (or per annotation, for object crops) and embedding model,
 * stored compactly as a little-endian float16 or float32 blob of `dim` values, L2-normalised
 * when the model says so. `content_hash` is the image's content hash when the vector was made,
 * so a replaced file shows as stale. 2-D projections (the embedding map) are cached per model,
 * method and parameters, keyed by a hash of the vectors they were made from.
 */
export const embeddings: Migration = {
  version: 14,
  name: 'embeddings',
  up: `
    CREATE TABLE embedding_models (
      id         INTEGER PRIMARY KEY,
      key        TEXT NOT NULL UNIQUE,
      name       TEXT NOT NULL,
      dim        INTEGER NOT NULL CHECK (dim > 0),
      dtype      TEXT NOT NULL CHECK (dtype IN ('f16', 'f32')),
      normalized INTEGER NOT NULL CHECK (normalized IN (0, 1)),
      parameters TEXT NOT NULL DEFAULT '{}',
      created_at INTEGER NOT NULL
    ) STRICT;

    CREATE TABLE embeddings (
      id            INTEGER PRIMARY KEY,
      model_id      INTEGER NOT NULL REFERENCES embedding_models (id) ON DELETE CASCADE,
      image_id      INTEGER NOT NULL REFERENCES images (id) ON DELETE CASCADE,
      annotation_id INTEGER REFERENCES annotations (id) ON DELETE CASCADE,
      content_hash  TEXT NOT NULL,
      vector        BLOB NOT NULL,
      created_at    INTEGER NOT NULL
    ) STRICT;
    CREATE UNIQUE INDEX embeddings_image ON embeddings (model_id, image_id) WHERE annotation_id IS NULL;
    CREATE UNIQUE INDEX embeddings_annotation ON embeddings (model_id, annotation_id) WHERE annotation_id IS NOT NULL;
    CREATE INDEX embeddings_by_image ON embeddings (image_id);

    CREATE TABLE embedding_projections (
      id          INTEGER PRIMARY KEY,
      model_id    INTEGER NOT NULL REFERENCES embedding_models (id) ON DELETE CASCADE,
      method      TEXT NOT NULL CHECK (method IN ('pca', 'umap')),
      parameters  TEXT NOT NULL DEFAULT '{}',
      input_hash  TEXT NOT NULL,
      image_ids   BLOB NOT NULL,
      coords      BLOB NOT NULL,
      created_at  INTEGER NOT NULL,
      UNIQUE (model_id, method, parameters)
    ) STRICT;
  `,
};
