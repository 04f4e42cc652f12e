import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import type { PrelabelSummary } from '../../src-main/common/prelabel';
import { repoRoot, sharedPath, tempDir } from '../helpers/shared';
import { yolov8nInt8Manifest } from '../helpers/models';

const BIN = path.join(repoRoot, 'scripts', 'tessera.mjs');
const model = sharedPath('models/yolov8n_int8.onnx');
const images = sharedPath('datasets/coco_tinycoco/images/train2017');
const NAMES = ['000000397133.jpg', '000000037777.jpg', '000000006818.jpg'];

function tessera(...args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function newDataset(): { dir: string; db: string } {
  const dir = tempDir();
  const db = path.join(dir, 'd.tessera');
  expect(tessera('init', db, '--root', images!).code).toBe(0);
  expect(tessera('import', db, ...NAMES.map((n) => path.join(images!, n)), '--json').code).toBe(0);
  return { dir, db };
}

describe.runIf(model && images)('tessera prelabel and predictions import', () => {
  it('pre-labels coco_tinycoco images with yolov8n_int8 from a manifest and prints the run summary', () => {
    const { dir, db } = newDataset();
    const manifest = path.join(dir, 'yolov8n.json');
    fs.writeFileSync(
      manifest,
      JSON.stringify(yolov8nInt8Manifest(model!)),
    );
    const r = tessera('prelabel', db, '--model', manifest, '--conf', '0.3', '--provider', 'cpu', '--json');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const s = JSON.parse(r.out) as PrelabelSummary;
    expect(s).toMatchObject({ images: 3, done: 3, skipped: 0, failed: 0, pending: 0, provider: 'cpu', model: 'yolov8n-int8', cancelled: false });
    expect(s.detections).toBeGreaterThan(3);
    expect(s.msPerImage).toBeGreaterThan(0);

    const raw = new Database(db, { readonly: true });
    try {
      const run = raw.prepare('SELECT * FROM model_runs WHERE id = ?').get(s.runId) as { model: string; provider: string; status: string; parameters: string };
      expect(run).toMatchObject({ model: 'yolov8n-int8', provider: 'cpu', status: 'done' });
      expect(JSON.parse(run.parameters)).toMatchObject({ conf: 0.3, iou: 0.45, size: [320, 320], providers: ['cpu'] });
      const rows = raw.prepare('SELECT source, model_run_id AS run, score, kind FROM annotations').all() as { source: string; run: number; score: number; kind: string }[];
      expect(rows).toHaveLength(s.detections);
      expect(rows.every((x) => x.source === 'model' && x.run === s.runId && x.score >= 0.3 && x.kind === 'box')).toBe(true);
      expect(raw.prepare("SELECT count(*) FROM model_run_images WHERE run_id = ? AND state = 'done'").pluck().get(s.runId)).toBe(3);
    } finally {
      raw.close();
    }

    const text = tessera('prelabel', db, '--model', model!, '--images', 'unlabeled');
    expect(text.code).toBe(0);
    expect(text.out).toMatch(/^run 2: 3 of 3 images pre-labeled \(0 skipped, 0 failed\), \d+ detections, [\d.]+ ms per image, provider cpu/);
  });

  it('imports COCO results as a model run, matching images by file name', () => {
    const { dir, db } = newDataset();
    const results = path.join(dir, 'detections_results.json');
    fs.writeFileSync(
      results,
      JSON.stringify([
        { image_id: 397133, category_id: 1, bbox: [389, 70, 109, 278], score: 0.91 },
        { image_id: 397133, category_id: 51, bbox: [31, 344, 68, 41], score: 0.7, segmentation: [[31, 344, 99, 344, 99, 385, 31, 385]] },
        { image_id: 42, category_id: 1, bbox: [1, 1, 5, 5], score: 0.5 },
      ]),
    );
    const r = tessera('predictions', 'import', db, results, '--name', 'external', '--json');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toMatchObject({ runId: 1, predictions: 2, images: 1, unmatchedImageIds: [42], unmatchedResults: 1, invalid: 0 });
    const raw = new Database(db, { readonly: true });
    try {
      expect(raw.prepare('SELECT name, status FROM model_runs').get()).toEqual({ name: 'external', status: 'done' });
      const rows = raw.prepare('SELECT a.kind, a.score, a.source, c.name, i.path FROM annotations a JOIN classes c ON c.id = a.class_id JOIN images i ON i.id = a.image_id ORDER BY a.id').all();
      expect(rows).toEqual([
        { kind: 'box', score: 0.91, source: 'model', name: 'category 1', path: NAMES[0] },
        { kind: 'polygon', score: 0.7, source: 'model', name: 'category 51', path: NAMES[0] },
      ]);
    } finally {
      raw.close();
    }
    expect(tessera('predictions', 'import', db, results).code).toBe(2);
  });
});
