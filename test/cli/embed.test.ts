import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src-main/cli/main';
import { mobilenetEmbedManifest } from '../helpers/models';
import { sharedPath, tempDir } from '../helpers/shared';
import { withStore } from '../helpers/storeRead';

const model = sharedPath('models/mobilenetv2-12-int8-with-embedding.onnx');
const images = sharedPath('datasets/coco_tinycoco/images/train2017');
const NAMES = ['000000087038.jpg', '000000058636.jpg', '000000303818.jpg', '000000037777.jpg'];

/** The CLI in this process, output captured. */
async function cli(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, { out: (s) => out.push(s), err: (s) => err.push(s), tty: false });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

async function newDataset(names: readonly string[]): Promise<{ dir: string; db: string }> {
  const dir = tempDir();
  const db = path.join(dir, 'd.tessera');
  expect((await cli('init', db, '--root', images!)).code).toBe(0);
  expect((await cli('import', db, ...names.map((n) => path.join(images!, n)), '--json')).code).toBe(0);
  return { dir, db };
}

async function vectorCount(db: string): Promise<number> {
  return await withStore(db, async (d) => (await d.prepare('SELECT COUNT(*) FROM embeddings WHERE annotation_id IS NULL').pluck().get()) as number);
}

describe.runIf(model && images)('tessera embed', () => {
  afterAll(async () => {
    const { closeInferenceBackend } = await import('../../src-main/services/inference');
    await closeInferenceBackend();
  });

  it('with a manifest: prints the counts; a second run of "new" computes nothing; --json gives the summary', async () => {
    const { dir, db } = await newDataset(NAMES);
    const manifest = path.join(dir, 'mnv2.json');
    fs.writeFileSync(manifest, JSON.stringify(mobilenetEmbedManifest(model!)));
    const r = await cli('embed', db, '--model', manifest);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^mobilenetv2-embed: 4 of 4 images embedded \(0 already current, 0 failed\), [\d.]+ vectors\/s; stored: 4 of 4 images, 0 objects, 1280 values \(f16\), key mobilenetv2-embed@[0-9a-f]{16}\.[0-9a-f]{8}$/);
    expect(await vectorCount(db)).toBe(4);
    const again = await cli('embed', db, '--model', manifest, '--json');
    expect(again.code).toBe(0);
    const s = JSON.parse(again.out) as { total: number; computed: number; skipped: number; failed: number; model: { images: number; dim: number }; imageCount: number };
    expect(s).toMatchObject({ total: 0, computed: 0, skipped: 4, failed: 0, imageCount: 4, model: { images: 4, dim: 1280 } });
    const all = JSON.parse((await cli('embed', db, '--model', manifest, '--images', 'all', '--json')).out) as { computed: number };
    expect(all.computed).toBe(4);
  });

  it('with a model.onnx: the output is read from the file (--output picks another); bad arguments exit 2 naming the problem', async () => {
    const { db } = await newDataset(NAMES.slice(0, 2));
    const r = await cli('embed', db, '--model', model!, '--json');
    expect(r.code).toBe(0);
    const s = JSON.parse(r.out) as { computed: number; model: { dim: number; manifestId: string } };
    expect(s).toMatchObject({ computed: 2, model: { dim: 1280, manifestId: 'mobilenetv2-12-int8-with-embedding' } });
    // The class scores as the vector: another model row of 1,000 values.
    const scores = await cli('embed', db, '--model', model!, '--output', 'output');
    expect(scores.code).toBe(0);
    expect(scores.out).toContain('1000 values');
    expect(scores.err).toContain('note: input conventions assumed');
    const wrong = await cli('embed', db, '--model', model!, '--output', 'features');
    expect(wrong.code).toBe(2);
    expect(wrong.err).toBe(`tessera: INVALID_ARGUMENT: ${model}: the model has no output "features" (inputs input [batch_size, 3, 224, 224]; outputs output [batch_size, 1000], embedding [batch_size, 1280])`);
    expect((await cli('embed', db)).err).toBe('tessera: INVALID_ARGUMENT: embed needs --model <manifest.json|model.onnx>');
    expect((await cli('embed', db, '--model', model!, '--images', 'some')).code).toBe(2);
    const missing = await cli('embed', db, '--model', '/nonexistent/x.onnx');
    expect(missing).toMatchObject({ code: 1, err: 'tessera: FILE_NOT_FOUND: /nonexistent/x.onnx: model file not found' });
  });
});
