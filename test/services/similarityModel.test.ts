import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src-main/cli/main';
import type { DuplicateReport, SimilarResult } from '../../src-main/common/similarity';
import { setSplits } from '../../src-main/db/export';
import { Dataset } from '../../src-main/services/dataset';
import { findNearDuplicates, resolveDuplicate } from '../../src-main/services/duplicates';
import { computeEmbeddings } from '../../src-main/services/embeddings';
import { closeInferenceBackend, inferenceBackend } from '../../src-main/services/inference';
import { findSimilar } from '../../src-main/services/similarity';
import { injectFault } from '../helpers/faults';
import { mobilenetEmbedManifest } from '../helpers/models';
import { sharedPath, tempDir } from '../helpers/shared';
import { newWorkspace, ok } from '../helpers/workspace';

/**
 * The real MobileNetV2 embedding (output `embedding`, 1,280 values) over every coco_tinycoco train
 * image, plus two copies made here with sharp: one photo mirrored, another re-encoded as JPEG
 * quality 85.
 */
const model = sharedPath('models/mobilenetv2-12-int8-with-embedding.onnx');
const photos = sharedPath('datasets/coco_tinycoco/images/train2017');
const MIRRORED = '000000087038.jpg';
const REENCODED = '000000303818.jpg';

async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runCli(args, { out: (s) => (out += `${s}\n`), err: (s) => (err += `${s}\n`), tty: false });
  return { code, out, err };
}

describe.runIf(model && photos)('similar images and near-duplicates with MobileNetV2 on coco_tinycoco', () => {
  let ds: Dataset;
  let file: string;
  const id: Record<string, number> = {};
  let names: string[];

  beforeAll(async () => {
    const dir = tempDir();
    const root = path.join(dir, 'imgs');
    fs.mkdirSync(root);
    names = fs.readdirSync(photos!).filter((n) => n.endsWith('.jpg'));
    for (const n of names) fs.copyFileSync(path.join(photos!, n), path.join(root, n));
    await sharp(path.join(photos!, MIRRORED)).flop().jpeg({ quality: 95 }).toFile(path.join(root, 'mirrored.jpg'));
    await sharp(path.join(photos!, REENCODED)).jpeg({ quality: 85 }).toFile(path.join(root, 'reencoded.jpg'));
    const ws = newWorkspace(dir);
    file = path.join(dir, 'd.tessera');
    await ok(ws, 'dataset:create', { path: file, root });
    await ok(ws, 'images:import', { jobId: 'imp', paths: [root] });
    await ok(ws, 'dataset:close', {});
    ds = await Dataset.open(file);
    // Before any embedding: a clear message, never an empty success.
    const none = await cli(['similar', file, '--image', MIRRORED]);
    expect(none.code).toBe(1);
    expect(none.err).toMatch(/no image embeddings .*tessera embed/);
    expect((await cli(['duplicates', file])).err).toMatch(/tessera embed/);
    const embedder = (await inferenceBackend()).embedder;
    const s = await computeEmbeddings(ds, { model: { manifest: mobilenetEmbedManifest(model!), file: model! }, embedder, images: 'all', batchSize: 8 });
    expect(s.computed).toBe(names.length + 2);
    for (const r of await ds.db.prepare('SELECT id, path FROM images').all() as { id: number; path: string }[]) id[r.path] = r.id;
  }, 300_000);
  afterAll(async () => {
    await ds?.close();
    await closeInferenceBackend();
  });

  it('an image and its mirrored copy are each other\'s nearest neighbour', async () => {
    const a = await findSimilar(ds, { imageIds: [id[MIRRORED]!], k: 5 });
    const b = await findSimilar(ds, { imageIds: [id['mirrored.jpg']!], k: 5 });
    console.log(`mirror: ${a.hits[0]!.path} ${a.hits[0]!.score.toFixed(3)}, next ${a.hits[1]!.path} ${a.hits[1]!.score.toFixed(3)}`);
    expect(a.hits[0]!.imageId).toBe(id['mirrored.jpg']);
    expect(b.hits[0]!.imageId).toBe(id[MIRRORED]);
    expect(a.searched).toBe(names.length + 2);
    for (let i = 1; i < a.hits.length; i++) expect(a.hits[i]!.score).toBeLessThanOrEqual(a.hits[i - 1]!.score);
  });

  it('a re-encoded JPEG is a near-duplicate, a different photo is not; a pair across train and val is flagged, and moving it clears the flag', async () => {
    await setSplits(ds.db, [
      [id[REENCODED]!, 'train'],
      [id['reencoded.jpg']!, 'val'],
    ]);
    const r = await findNearDuplicates(ds, { threshold: 0.95 });
    const pair = r.pairs.find((p) => [p.a.imageId, p.b.imageId].includes(id['reencoded.jpg']!));
    console.log(`re-encoded pair score ${pair?.score.toFixed(4)}; pairs at 0.95: ${r.pairs.map((p) => `${p.a.path}~${p.b.path} ${p.score.toFixed(3)}`).join(', ')}`);
    expect(pair).toBeDefined();
    expect(new Set([pair!.a.imageId, pair!.b.imageId])).toEqual(new Set([id[REENCODED], id['reencoded.jpg']]));
    expect(pair!.score).toBeGreaterThan(0.95);
    expect(pair!.leakage).toBe(true);
    // No pair of two different COCO photos.
    const copies = new Set([id['reencoded.jpg'], id['mirrored.jpg']]);
    expect(r.pairs.every((p) => copies.has(p.a.imageId) || copies.has(p.b.imageId))).toBe(true);
    const other = (await findSimilar(ds, { imageIds: [id[REENCODED]!], k: 2 })).hits[1]!;
    expect(other.score).toBeLessThan(0.95);
    await resolveDuplicate(ds, { action: 'move', imageId: id['reencoded.jpg']!, keepId: id[REENCODED]! });
    const after = await findNearDuplicates(ds, { threshold: 0.95 });
    expect(after.leakage).toBe(0);
    expect(after.pairs.find((p) => p.b.imageId === id['reencoded.jpg'] || p.a.imageId === id['reencoded.jpg'])!.a.split).toBe('train');
    await setSplits(ds.db, [[id['reencoded.jpg']!, 'val']]);
  });

  it('tessera similar and duplicates print the same answers, as text and JSON', async () => {
    const text = await cli(['similar', file, '--image', MIRRORED, '--k', '3']);
    expect(text.code).toBe(0);
    const lines = text.out.trim().split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[1]).toMatch(/^0\.9\d{3} +\d+ +mirrored\.jpg$/);
    const json = JSON.parse((await cli(['similar', file, '--image', String(id['mirrored.jpg']), '--k', '2', '--json'])).out) as SimilarResult;
    expect(json.hits.map((h) => h.path)[0]).toBe(MIRRORED);
    expect(json.hits).toHaveLength(2);
    const dups = await cli(['duplicates', file, '--threshold', '0.95']);
    expect(dups.code).toBe(0);
    expect(dups.out).toMatch(/reencoded\.jpg \[val\]  LEAKAGE/);
    const dj = JSON.parse((await cli(['duplicates', file, '--json'])).out) as DuplicateReport;
    expect(dj.threshold).toBe(0.95);
    expect(dj.leakage).toBe(1);
    expect((await cli(['similar', file, '--image', 'nope.jpg'])).err).toMatch(/no image named "nope.jpg"/);
    expect((await cli(['duplicates', file, '--threshold', '3'])).code).toBe(2);
    expect((await cli(['similar', file, '--image', MIRRORED, '--model', 'other'])).err).toMatch(/no embedding model "other"/);
  });

  it('dropping a near-duplicate takes it out of the dataset whole and leaves its file on disk as it was', async () => {
    const copy = path.join(path.dirname(file), 'imgs', 'reencoded.jpg');
    const bytes = fs.readFileSync(copy);
    const dropped = id['reencoded.jpg']!;
    // A write that fails half-way changes nothing.
    const heal = await injectFault(ds.db, { name: 'refuse', table: 'embeddings', on: 'DELETE', message: 'refused' });
    await expect(async () => resolveDuplicate(ds, { action: 'drop', imageId: dropped, keepId: id[REENCODED]! })).rejects.toThrow(/refused/);
    await heal();
    expect(await ds.db.prepare('SELECT count(*) FROM images WHERE id = ?').pluck().get(dropped)).toBe(1);
    expect(await ds.db.prepare('SELECT count(*) FROM embeddings WHERE image_id = ?').pluck().get(dropped)).toBe(1);
    await resolveDuplicate(ds, { action: 'drop', imageId: dropped, keepId: id[REENCODED]! });
    expect(await ds.db.prepare('SELECT count(*) FROM images WHERE id = ?').pluck().get(dropped)).toBe(0);
    expect(await ds.db.prepare('SELECT count(*) FROM embeddings WHERE image_id = ?').pluck().get(dropped)).toBe(0);
    expect(fs.readFileSync(copy).equals(bytes)).toBe(true);
    expect((await findNearDuplicates(ds, { threshold: 0.95 })).pairs.some((p) => p.a.imageId === dropped || p.b.imageId === dropped)).toBe(false);
  });
});
