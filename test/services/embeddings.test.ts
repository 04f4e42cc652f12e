import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cosine } from '../../src-main/common/inference/embed';
import { annotationEmbeddings, annotationsWithoutEmbedding, embeddingCounts, imageEmbedding, imagesWithoutEmbedding, listEmbeddingModels, loadImageEmbeddings } from '../../src-main/db/embeddings';
import { insertAnnotations } from '../../src-main/db/annotations';
import { insertClass } from '../../src-main/db/classes';
import type { ModelIo, ModelManifest } from '../../src-main/common/inference/types';
import { FLOAT, onnxModel } from '../helpers/onnxModel';
import { Dataset } from '../../src-main/services/dataset';
import { computeEmbeddings, embedManifestForFile, embeddingModelKey, type EmbedSummary } from '../../src-main/services/embeddings';
import { closeInferenceBackend, inferenceBackend } from '../../src-main/services/inference';
import { mobilenetEmbedManifest } from '../helpers/models';
import { sharedPath, tempDir } from '../helpers/shared';
import { fails, newWorkspace, ok } from '../helpers/workspace';
import { Workspace } from '../../src-main/services/workspace';
import type { JobProgress } from '../../src-main/common/model';

const model = sharedPath('models/mobilenetv2-12-int8-with-embedding.onnx');
const photos = sharedPath('datasets/coco_tinycoco/images/train2017');
const NAMES = ['000000087038.jpg', '000000058636.jpg', '000000303818.jpg', '000000037777.jpg', '000000006818.jpg', '000000017627.jpg'];

async function dataset(names: readonly string[]): Promise<{ ds: Dataset; root: string }> {
  const dir = tempDir();
  const root = path.join(dir, 'imgs');
  fs.mkdirSync(root);
  for (const n of names) fs.copyFileSync(path.join(photos!, n), path.join(root, n));
  const ws = newWorkspace(dir);
  await ok(ws, 'dataset:create', { path: path.join(dir, 'd.tessera'), root });
  await ok(ws, 'images:import', { jobId: 'imp', paths: [root] });
  const file = ws.current!.file;
  await ok(ws, 'dataset:close', {});
  return { ds: await Dataset.open(file), root };
}

const idOf = async (ds: Dataset, name: string): Promise<number> => await ds.db.prepare('SELECT id FROM images WHERE path = ?').pluck().get(name) as number;

describe.runIf(model && photos)('embeddings with MobileNetV2 (output "embedding") on coco_tinycoco', () => {
  let embedder: Awaited<ReturnType<typeof inferenceBackend>>['embedder'];
  beforeAll(async () => {
    embedder = (await inferenceBackend()).embedder;
  });
  afterAll(closeInferenceBackend);
  const opts = () => ({ model: { manifest: mobilenetEmbedManifest(model!), file: model! }, embedder });

  it('stores one unit-length 1,280-value vector per image, the same for the same image, different for different photos', async () => {
    const { ds } = await dataset(NAMES.slice(0, 4));
    const s = await computeEmbeddings(ds, { ...opts(), images: 'all', batchSize: 3 });
    expect(s).toMatchObject({ total: 4, computed: 4, failed: 0, cancelled: false });
    expect(s.model!.dim).toBe(1280);
    expect(s.counts.images).toBe(4);
    const m = await loadImageEmbeddings(ds.db, s.model!);
    expect(m.imageIds.length).toBe(4);
    for (let i = 0; i < 4; i++) {
      const v = m.data.subarray(i * 1280, (i + 1) * 1280);
      const norm = Math.sqrt(v.reduce((a, x) => a + x * x, 0));
      expect(norm).toBeGreaterThan(0.999);
      expect(norm).toBeLessThan(1.001);
    }
    const first = (await imageEmbedding(ds.db, s.model!, await idOf(ds, NAMES[0]!)))!;
    // Computed again, alone in its batch: the same vector (batching does not change it).
    const again = await computeEmbeddings(ds, { ...opts(), images: { ids: [await idOf(ds, NAMES[0]!)] } as never, batchSize: 1 });
    expect(again.skipped).toBe(1);
    await computeEmbeddings(ds, { ...opts(), images: 'all', batchSize: 1 });
    const second = (await imageEmbedding(ds.db, s.model!, await idOf(ds, NAMES[0]!)))!;
    expect(cosine(first, second)).toBeGreaterThan(0.9999);
    // Different photos (a unicycle, a street sign, a cab, a microwave) are far apart.
    for (let i = 1; i < 4; i++) {
      const other = (await imageEmbedding(ds.db, s.model!, await idOf(ds, NAMES[i]!)))!;
      const c = cosine(first, other);
      console.log(`cosine ${NAMES[0]} vs ${NAMES[i]}: ${c.toFixed(3)}`);
      expect(c).toBeLessThan(0.8);
    }
    // One model row, keyed by manifest id, weights hash and preprocessing.
    expect((await listEmbeddingModels(ds.db)).map((r) => r.key)).toEqual([await embeddingModelKey(mobilenetEmbedManifest(model!), model!)]);
    expect(s.key).toMatch(/^mobilenetv2-embed@[0-9a-f]{16}\.[0-9a-f]{8}$/);
    await ds.close();
  });

  it('a cancelled job keeps its finished batches, and "new" then computes only the missing images', async () => {
    const { ds } = await dataset(NAMES);
    let batches = 0;
    const progress: number[] = [];
    const cut = await computeEmbeddings(ds, {
      ...opts(),
      images: 'all',
      batchSize: 2,
      onProgress: (p) => {
        progress.push(p.done);
        if (p.done > 0) batches++;
      },
      isCancelled: () => batches >= 1,
    });
    expect(cut).toMatchObject({ cancelled: true, computed: 2, total: 6 });
    expect(progress).toEqual([0, 2]);
    expect((await embeddingCounts(ds.db, cut.model!.id)).images).toBe(2);
    const before = await loadImageEmbeddings(ds.db, cut.model!);
    const rest = await computeEmbeddings(ds, { ...opts(), images: 'new', batchSize: 2 });
    expect(rest).toMatchObject({ cancelled: false, computed: 4, skipped: 2, total: 4 });
    expect(rest.counts.images).toBe(6);
    // The two done before the cancel were not computed again (same rows, same creation).
    const after = await loadImageEmbeddings(ds.db, rest.model!);
    expect(Array.from(after.data.subarray(0, 2 * 1280))).toEqual(Array.from(before.data));
    const nothing = await computeEmbeddings(ds, { ...opts(), images: 'new' });
    expect(nothing).toMatchObject({ total: 0, computed: 0, skipped: 6 });
    await ds.close();
  });

  it('an image whose recorded content changed is computed again under "new"; a file changed behind the dataset\'s back is reported, not stored', async () => {
    const { ds, root } = await dataset(NAMES.slice(0, 3));
    const s = await computeEmbeddings(ds, { ...opts(), images: 'all' });
    const id = await idOf(ds, NAMES[0]!);
    const old = (await imageEmbedding(ds.db, s.model!, id))!;
    // The file is replaced by its mirror image and the dataset records the new content (as a re-import does).
    const file = path.join(root, NAMES[0]!);
    const mirrored = await sharp(path.join(photos!, NAMES[0]!)).flop().jpeg({ quality: 90 }).toBuffer();
    fs.writeFileSync(file, mirrored);
    const st = fs.statSync(file);
    await ds.db.prepare('UPDATE images SET content_hash = ?, file_size = ?, file_mtime_ms = ? WHERE id = ?').run(crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex'), st.size, Math.round(st.mtimeMs), id);
    expect(await imagesWithoutEmbedding(ds.db, s.model!.id)).toEqual([id]);
    const r = await computeEmbeddings(ds, { ...opts(), images: 'new' });
    expect(r).toMatchObject({ total: 1, computed: 1, skipped: 2 });
    const now = (await imageEmbedding(ds.db, s.model!, id))!;
    const c = cosine(old, now);
    expect(c).toBeLessThan(0.999);
    expect(c).toBeGreaterThan(0.5); // a mirror image still looks alike
    // Another file overwritten without the dataset knowing: reported as changed, its old vector kept.
    const other = path.join(root, NAMES[1]!);
    fs.copyFileSync(path.join(photos!, NAMES[3]!), other);
    const r2: EmbedSummary = await computeEmbeddings(ds, { ...opts(), images: 'all' });
    expect(r2.failed).toBe(1);
    expect(r2.problems[0]).toMatch(new RegExp(`${NAMES[1]}.*changed on disk`));
    expect(r2.computed).toBe(2);
    await ds.close();
  });
});

describe.runIf(model && photos)('embedding models that do not fit, custom ONNX files and object crops', () => {
  let embedder: Awaited<ReturnType<typeof inferenceBackend>>['embedder'];
  let inspect: (f: string) => Promise<ModelIo>;
  beforeAll(async () => {
    const b = await inferenceBackend();
    embedder = b.embedder;
    inspect = (f) => b.inspect(f);
  });
  afterAll(closeInferenceBackend);

  /** A model of input [N, 3, 8, 8] whose nodes make `out` from `x`. */
  function tinyModel(name: string, out: { name: string; dims: (number | string)[] }, nodes: Parameters<typeof onnxModel>[0]['nodes'], initializers: Parameters<typeof onnxModel>[0]['initializers'] = []): string {
    const file = path.join(tempDir(), name);
    fs.writeFileSync(file, onnxModel({ inputs: [{ name: 'x', type: FLOAT, dims: ['N', 3, 8, 8] }], outputs: [{ name: out.name, type: FLOAT, dims: out.dims }], nodes, initializers }));
    return file;
  }
  const tinyManifest = (file: string, output: string, pooling: 'none' | 'mean'): ModelManifest => ({
    ...mobilenetEmbedManifest(file),
    id: 'tiny',
    size: [8, 8],
    cropFrom: undefined,
    output,
    embedding: { pooling, l2: true },
  });

  it('a wrong output name, an output that is not a vector, NaN or constant vectors fail naming the file, and store nothing', async () => {
    const { ds } = await dataset(NAMES.slice(0, 3));
    const wrong = computeEmbeddings(ds, { model: { manifest: { ...mobilenetEmbedManifest(model!), output: 'features' }, file: model! }, images: 'all', embedder });
    await expect(wrong).rejects.toThrow(`${model}: the manifest names an output the model does not have: expected output "features", got outputs output, embedding`);

    const map = tinyModel('map.onnx', { name: 'map', dims: ['N', 3, 8, 8] }, [{ op: 'Identity', inputs: ['x'], outputs: ['map'] }]);
    await expect(computeEmbeddings(ds, { model: { manifest: tinyManifest(map, 'map', 'none'), file: map }, images: 'all', embedder })).rejects.toThrow(
      `${map}: output "map" is not a vector and the manifest's embedding.pooling is "none"`,
    );

    const zeros = tinyModel('zeros.onnx', { name: 'v', dims: ['N', 3] }, [
      { op: 'ReduceMean', inputs: ['x'], outputs: ['m'], ints: { axes: [2, 3] }, int: { keepdims: 0 } },
      { op: 'Mul', inputs: ['m', 'zero'], outputs: ['v'] },
    ], [{ name: 'zero', type: FLOAT, dims: [1], values: [0] }]);
    await expect(computeEmbeddings(ds, { model: { manifest: tinyManifest(zeros, 'v', 'none'), file: zeros }, images: 'all', embedder })).rejects.toThrow(
      new RegExp(`^${zeros.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: output "v" has all 3 values equal \\(0\\) for .*imgs.*\\.jpg: the model gives no usable embedding`),
    );

    const nan = tinyModel('nan.onnx', { name: 'v', dims: ['N', 3] }, [
      { op: 'ReduceMean', inputs: ['x'], outputs: ['m'], ints: { axes: [2, 3] }, int: { keepdims: 0 } },
      { op: 'Mul', inputs: ['m', 'zero'], outputs: ['z'] },
      { op: 'Div', inputs: ['z', 'z'], outputs: ['v'] },
    ], [{ name: 'zero', type: FLOAT, dims: [1], values: [0] }]);
    await expect(computeEmbeddings(ds, { model: { manifest: tinyManifest(nan, 'v', 'none'), file: nan }, images: 'all', embedder })).rejects.toThrow(`${nan}: output "v" holds NaN values`);
    expect(await listEmbeddingModels(ds.db)).toEqual([]);
    await ds.close();
  });

  it('a custom ONNX file without a manifest: its outputs read, the embedding output chosen, pooling from the shape', async () => {
    const { ds } = await dataset(NAMES.slice(0, 3));
    const direct = await embedManifestForFile(inspect, model!);
    expect(direct.manifest).toMatchObject({ task: 'embed', output: 'embedding', embedding: { pooling: 'none', l2: true }, size: [224, 224], cropFrom: 256 });
    const a = await computeEmbeddings(ds, { model: { manifest: direct.manifest, file: model! }, images: 'all', embedder });
    const b = await computeEmbeddings(ds, { model: { manifest: mobilenetEmbedManifest(model!), file: model! }, images: 'all', embedder });
    // The same file and preprocessing under another id is another model row, with the same vectors.
    expect(a.model!.id).not.toBe(b.model!.id);
    const id = await idOf(ds, NAMES[1]!);
    expect(cosine((await imageEmbedding(ds.db, a.model!, id))!, (await imageEmbedding(ds.db, b.model!, id))!)).toBeGreaterThan(0.9999);
    await expect(embedManifestForFile(inspect, model!, 'features')).rejects.toThrow(`${model}: the model has no output "features" (inputs input [batch_size, 3, 224, 224]; outputs output [batch_size, 1000], embedding [batch_size, 1280])`);
    await expect(embedManifestForFile(inspect, '/nonexistent/m.onnx')).rejects.toThrow('/nonexistent/m.onnx: model file not found');
    // A feature map [N, 3, 8, 8] is averaged over its positions: the vector is the mean colour.
    const map = tinyModel('features.onnx', { name: 'features', dims: ['N', 3, 8, 8] }, [{ op: 'Identity', inputs: ['x'], outputs: ['features'] }]);
    const proposed = await embedManifestForFile(inspect, map);
    expect(proposed.manifest.embedding).toEqual({ pooling: 'mean', l2: true });
    const s = await computeEmbeddings(ds, { model: { manifest: proposed.manifest, file: map }, images: 'all', embedder });
    expect(s).toMatchObject({ computed: 3, failed: 0 });
    expect(s.model!.dim).toBe(3);
    // A fixed batch of 2: three images run as two batches, the last filled up; the same vectors.
    const fixedFile = path.join(tempDir(), 'fixed.onnx');
    fs.writeFileSync(fixedFile, onnxModel({ inputs: [{ name: 'x', type: FLOAT, dims: [2, 3, 8, 8] }], outputs: [{ name: 'features', type: FLOAT, dims: [2, 3, 8, 8] }], nodes: [{ op: 'Identity', inputs: ['x'], outputs: ['features'] }] }));
    const fixed = await embedManifestForFile(inspect, fixedFile);
    const f = await computeEmbeddings(ds, { model: { manifest: fixed.manifest, file: fixedFile }, images: 'all', embedder });
    expect(f).toMatchObject({ computed: 3, failed: 0 });
    for (const n of NAMES.slice(0, 3)) {
      const a = (await imageEmbedding(ds.db, s.model!, await idOf(ds, n)))!;
      const b = (await imageEmbedding(ds.db, f.model!, await idOf(ds, n)))!;
      expect(Array.from(b)).toEqual(Array.from(a));
    }
    await ds.close();
  });

  it('object crops: one vector per annotation with an area, stored with its annotation id, recomputed when the annotation changes', async () => {
    const { ds } = await dataset(NAMES.slice(0, 2));
    const img = await idOf(ds, NAMES[0]!);
    const cls = (await insertClass(ds.db, { name: 'thing', color: '#ff0000' })).id;
    const [boxA, boxB, tag] = await insertAnnotations(ds.db, [
      { imageId: img, classId: cls, geometry: { kind: 'box', x: 10, y: 20, w: 200, h: 150 }, source: 'human' },
      { imageId: img, classId: cls, geometry: { kind: 'box', x: 300, y: 200, w: 120, h: 100 }, source: 'human' },
      { imageId: img, classId: cls, geometry: { kind: 'tag' }, source: 'human' },
    ]);
    const s = await computeEmbeddings(ds, { model: { manifest: mobilenetEmbedManifest(model!), file: model! }, images: 'all', crops: true, embedder });
    expect(s).toMatchObject({ computed: 2, crops: 2, failed: 0 });
    expect(s.counts).toMatchObject({ images: 2, annotations: 2 });
    const vectors = await annotationEmbeddings(ds.db, s.model!, [boxA!, boxB!, tag!]);
    expect([...vectors.keys()].sort()).toEqual([boxA, boxB].sort());
    const whole = (await imageEmbedding(ds.db, s.model!, img))!;
    expect(cosine(vectors.get(boxA!)!, vectors.get(boxB!)!)).toBeLessThan(0.99);
    expect(cosine(vectors.get(boxA!)!, whole)).toBeLessThan(0.99);
    // Nothing is missing; moving one box makes its crop (only) stale.
    expect(await annotationsWithoutEmbedding(ds.db, s.model!.id, [img])).toEqual([]);
    await ds.db.prepare('UPDATE annotations SET geometry = ?, updated_at = ? WHERE id = ?').run(JSON.stringify({ kind: 'box', x: 50, y: 50, w: 100, h: 100 }), Date.now() + 1000, boxB);
    const again = await computeEmbeddings(ds, { model: { manifest: mobilenetEmbedManifest(model!), file: model! }, images: { ids: [img] }, crops: true, embedder });
    expect(again).toMatchObject({ total: 1, computed: 0, crops: 1, skipped: 0 });
    await ds.close();
  });
});

describe.runIf(model && photos)('embedding channels: models, compute with progress, cancel', () => {
  afterAll(closeInferenceBackend);

  it('lists the shipped encoders and a custom one, computes new vectors with progress events, and counts them', async () => {
    const dir = tempDir();
    const root = path.join(dir, 'imgs');
    fs.mkdirSync(root);
    for (const n of NAMES.slice(0, 5)) fs.copyFileSync(path.join(photos!, n), path.join(root, n));
    const events: JobProgress[] = [];
    const ws = new Workspace({ configDir: dir, mode: 'web', version: 'test', emit: (_e, p) => void events.push(p as JobProgress) });
    await ok(ws, 'dataset:create', { path: path.join(dir, 'd.tessera'), root });
    await ok(ws, 'images:import', { jobId: 'imp', paths: [root] });
    await ok(ws, 'models:add', { file: model!, manifest: { ...mobilenetEmbedManifest(model!) } });
    const before = await ok(ws, 'embeddings:models', {});
    expect(before.imageCount).toBe(5);
    expect(before.stored).toEqual([]);
    expect(before.available.map((m) => m.id)).toEqual(expect.arrayContaining(['dinov2-small', 'clip-vit-b32-image', 'mobilenetv2-12', 'mobilenetv2-embed']));
    expect(before.available.find((m) => m.id === 'mobilenetv2-embed')).toMatchObject({ origin: 'custom', downloaded: true });
    expect(before.available.find((m) => m.id === 'dinov2-small')).toMatchObject({ origin: 'builtin', downloadable: true });
    // No detector is offered as an embed model.
    expect(before.available.some((m) => m.id.startsWith('yolo'))).toBe(false);

    // A job cancelled at once stores nothing; the one after it computes all five.
    const pending = ok(ws, 'embeddings:compute', { jobId: 'e1', modelId: 'mobilenetv2-embed', images: 'new', crops: false });
    expect(await ok(ws, 'jobs:cancel', { jobId: 'e1' })).toBe(true);
    const cancelled = await pending;
    expect(cancelled.cancelled).toBe(true);
    expect(cancelled.computed).toBe(0);
    events.length = 0;
    const done = await ok(ws, 'embeddings:compute', { jobId: 'e2', modelId: 'mobilenetv2-embed', images: 'new', crops: false });
    expect(done).toMatchObject({ total: 5, computed: 5, failed: 0, cancelled: false });
    expect(done.model).toMatchObject({ manifestId: 'mobilenetv2-embed', dim: 1280, images: 5, stale: 0, annotations: 0 });
    expect(events.every((e) => e.kind === 'embed' && e.jobId === 'e2')).toBe(true);
    expect(events.at(-1)).toMatchObject({ phase: 'done', done: 5, total: 5, imported: 5 });
    const after = await ok(ws, 'embeddings:models', {});
    expect(after.stored).toEqual([expect.objectContaining({ name: 'MobileNetV2 embedding', images: 5 })]);
    // A filter: only the images it matches and that have no vector (none here).
    const filtered = await ok(ws, 'embeddings:compute', { jobId: 'e3', modelId: 'mobilenetv2-embed', images: { filter: { status: 'new' } }, crops: false });
    expect(filtered).toMatchObject({ total: 0, skipped: 5 });
    // A shipped encoder not downloaded yet says so.
    const e = await fails(ws, 'embeddings:compute', { jobId: 'e4', modelId: 'dinov2-small', images: 'new', crops: false });
    expect(e).toMatchObject({ code: 'NOT_FOUND', message: 'model "dinov2-small" is not downloaded yet' });
    await ok(ws, 'dataset:close', {});
  });
});

const dicomDir = sharedPath('datasets/dicom_pydicom');
const tiff16 = sharedPath('datasets/tiff16_stardist_dsb2018/img2d.tif');

describe.runIf(model && dicomDir && tiff16)('embeddings of DICOM and 16-bit images', () => {
  afterAll(closeInferenceBackend);

  it('decodes them here and feeds the model the windowed pixels the viewer shows, crops included', async () => {
    const dir = tempDir();
    const root = path.join(dir, 'imgs');
    fs.mkdirSync(root);
    for (const n of ['CT_small.dcm', 'MR_small.dcm']) fs.copyFileSync(path.join(dicomDir!, n), path.join(root, n));
    fs.copyFileSync(tiff16!, path.join(root, 'img2d.tif'));
    const ws = newWorkspace(dir);
    await ok(ws, 'dataset:create', { path: path.join(dir, 'd.tessera'), root });
    await ok(ws, 'images:import', { jobId: 'imp', paths: [root] });
    const file = ws.current!.file;
    await ok(ws, 'dataset:close', {});
    const ds = await Dataset.open(file);
    const depths = await ds.db.prepare('SELECT path, bit_depth, format FROM images ORDER BY path').all() as { path: string; bit_depth: number; format: string }[];
    expect(depths.map((d) => [d.path, d.bit_depth > 8])).toEqual([['CT_small.dcm', true], ['MR_small.dcm', true], ['img2d.tif', true]]);
    const ct = await idOf(ds, 'CT_small.dcm');
    const cls = (await insertClass(ds.db, { name: 'organ', color: '#00ff00' })).id;
    const [box] = await insertAnnotations(ds.db, [{ imageId: ct, classId: cls, geometry: { kind: 'box', x: 10, y: 10, w: 40, h: 30 }, source: 'human' }]);
    const { embedder } = await inferenceBackend();
    const s = await computeEmbeddings(ds, { model: { manifest: mobilenetEmbedManifest(model!), file: model! }, images: 'all', crops: true, embedder });
    expect(s.problems).toEqual([]);
    expect(s).toMatchObject({ computed: 3, crops: 1, failed: 0 });
    const v = async (name: string) => (await imageEmbedding(ds.db, s.model!, await idOf(ds, name)))!;
    expect(cosine(await v('CT_small.dcm'), await v('MR_small.dcm'))).toBeLessThan(0.99);
    expect(cosine(await v('CT_small.dcm'), await v('img2d.tif'))).toBeLessThan(0.99);
    expect((await annotationEmbeddings(ds.db, s.model!, [box!])).size).toBe(1);
    await ds.close();
  });
});
