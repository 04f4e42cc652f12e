import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { EigenvalueDecomposition, Matrix } from 'ml-matrix';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadImageEmbeddings } from '../../src-main/db/embeddings';
import { Dataset } from '../../src-main/services/dataset';
import { computeEmbeddingMap } from '../../src-main/services/embeddingMap';
import { computeEmbeddings } from '../../src-main/services/embeddings';
import { closeInferenceBackend, inferenceBackend } from '../../src-main/services/inference';
import { mobilenetEmbedManifest } from '../helpers/models';
import { sharedPath, tempDir } from '../helpers/shared';
import { newWorkspace, ok } from '../helpers/workspace';

const model = sharedPath('models/mobilenetv2-12-int8-with-embedding.onnx');
const photos = sharedPath('datasets/coco_tinycoco/images/train2017');
const NAMES = ['000000087038.jpg', '000000058636.jpg', '000000303818.jpg', '000000037777.jpg', '000000006818.jpg', '000000017627.jpg'];

/**
 * The embedding map over real vectors: MobileNetV2 embeddings (output "embedding") of six
 * coco_tinycoco photos and their mirrored copies. The map's PCA equals an exact PCA of the same
 * vectors (eigen-decomposition of their 12 x 12 Gram matrix) up to the sign of each axis.
 */
describe.runIf(model && photos)('embedding map of MobileNetV2 vectors', () => {
  let embedder: Awaited<ReturnType<typeof inferenceBackend>>['embedder'];
  beforeAll(async () => {
    embedder = (await inferenceBackend()).embedder;
  });
  afterAll(closeInferenceBackend);

  it('maps the real vectors as an exact PCA does, and opens the map from the cache afterwards', { timeout: 120_000 }, async () => {
    const dir = tempDir();
    const root = path.join(dir, 'imgs');
    fs.mkdirSync(root);
    for (const n of NAMES) {
      fs.copyFileSync(path.join(photos!, n), path.join(root, n));
      await sharp(path.join(photos!, n)).flop().jpeg({ quality: 92 }).toFile(path.join(root, `mirrored-${n}`));
    }
    const ws = newWorkspace(dir);
    await ok(ws, 'dataset:create', { path: path.join(dir, 'd.tessera'), root });
    await ok(ws, 'images:import', { jobId: 'imp', paths: [root] });
    const file = ws.current!.file;
    await ok(ws, 'dataset:close', {});
    const ds = await Dataset.open(file);
    try {
      const s = await computeEmbeddings(ds, { model: { manifest: mobilenetEmbedManifest(model!), file: model! }, embedder, images: 'all' });
      expect(s.computed).toBe(12);
      const map = await computeEmbeddingMap(ds.db, s.model!.id, 'pca');
      expect(map.cached).toBe(false);
      expect(map.imageIds).toHaveLength(12);

      // Exact PCA: the top eigenvectors of the centred Gram matrix give the coordinates directly.
      const m = await loadImageEmbeddings(ds.db, s.model!);
      const n = 12;
      const d = m.dim;
      const mean = new Float64Array(d);
      for (let i = 0; i < n; i++) for (let t = 0; t < d; t++) mean[t]! += m.data[i * d + t]! / n;
      const g = new Matrix(n, n);
      for (let a = 0; a < n; a++)
        for (let b = 0; b < n; b++) {
          let v = 0;
          for (let t = 0; t < d; t++) v += (m.data[a * d + t]! - mean[t]!) * (m.data[b * d + t]! - mean[t]!);
          g.set(a, b, v);
        }
      const evd = new EigenvalueDecomposition(g, { assumeSymmetric: true });
      const order = evd.realEigenvalues.map((v, i) => [v, i] as const).sort((p, q) => q[0] - p[0]);
      for (let j = 0; j < 2; j++) {
        const [lambda, col] = order[j]!;
        const exact = Array.from({ length: n }, (_, i) => evd.eigenvectorMatrix.get(i, col) * Math.sqrt(lambda));
        const ours = Array.from({ length: n }, (_, i) => map.coords[2 * i + j]!);
        const sign = Math.sign(exact.reduce((acc, v, i) => acc + v * ours[i]!, 0));
        const spread = Math.max(...exact.map(Math.abs));
        for (let i = 0; i < n; i++) expect(Math.abs(ours[i]! - sign * exact[i]!)).toBeLessThan(spread * 0.02);
      }
      expect((await computeEmbeddingMap(ds.db, s.model!.id, 'pca')).cached).toBe(true);
    } finally {
      await ds.close();
    }
  });
});
