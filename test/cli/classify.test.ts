import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src-main/cli/main';
import type { PrelabelSummary } from '../../src-main/common/prelabel';
import { Dataset } from '../../src-main/services/dataset';
import type { ListedPrediction } from '../../src-main/services/predictionList';
import { cocoGeometry } from '../../src-main/services/predictionList';
import { MOBILENET_TOP1, mobilenetManifest } from '../helpers/models';
import { sharedPath, tempDir } from '../helpers/shared';

const model = sharedPath('models/mobilenetv2-12-int8.onnx');
const labels = sharedPath('models/imagenet_labels.json');
const detector = sharedPath('models/yolov8n_int8.onnx');
const images = sharedPath('datasets/coco_tinycoco/images/train2017');

/** The CLI in this process, output captured. */
async function cli(...argv: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, { out: (s) => out.push(s), err: (s) => err.push(s), tty: false });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

async function newDataset(): Promise<{ dir: string; db: string }> {
  const dir = tempDir();
  const db = path.join(dir, 'd.tessera');
  expect((await cli('init', db, '--root', images!)).code).toBe(0);
  expect((await cli('import', db, ...MOBILENET_TOP1.map(([n]) => path.join(images!, n)), '--json')).code).toBe(0);
  return { dir, db };
}

/** Each image's best tag of a run: file name -> [class name, score]. */
function topTags(list: ListedPrediction[], runId: number): Map<string, [string, number]> {
  const best = new Map<string, [string, number]>();
  for (const p of list) {
    if (p.runId !== runId) continue;
    const had = best.get(p.file);
    if (!had || p.score! > had[1]) best.set(p.file, [p.className!, p.score!]);
  }
  return best;
}

describe.runIf(model && labels && images)('tessera prelabel with a classifier, and predictions list', () => {
  let db: string;
  let dir: string;
  beforeAll(async () => {
    ({ dir, db } = await newDataset());
  });
  afterAll(async () => {
    const { closeInferenceBackend } = await import('../../src-main/services/inference');
    await closeInferenceBackend();
  });

  let bare: PrelabelSummary;
  it('--model file.onnx --labels labels.json: the shapes say classifier; the README\'s top-1 answers are stored as tags, counted by kind', async () => {
    const r = await cli('prelabel', db, '--model', model!, '--labels', labels!, '--provider', 'cpu', '--json');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    bare = JSON.parse(r.out) as PrelabelSummary;
    expect(bare).toMatchObject({ images: 4, done: 4, failed: 0, model: 'mobilenetv2-12-int8' });
    expect(bare.byKind).toEqual({ tag: bare.detections });
    const list = JSON.parse((await cli('predictions', 'list', db, '--run', String(bare.runId), '--json')).out) as ListedPrediction[];
    expect(list).toHaveLength(bare.detections);
    for (const p of list) {
      expect(p.kind).toBe('tag');
      expect(p.bbox).toBeUndefined();
      expect(p.segmentation).toBeUndefined();
      expect(p.score).toBeGreaterThanOrEqual(0.01);
    }
    const best = topTags(list, bare.runId);
    for (const [file, label, min] of MOBILENET_TOP1) {
      expect(best.get(file)?.[0]).toBe(label);
      expect(best.get(file)![1]).toBeGreaterThanOrEqual(min);
    }
    // One image by file name, and by id.
    const one = JSON.parse((await cli('predictions', 'list', db, '--image', MOBILENET_TOP1[0]![0], '--json')).out) as ListedPrediction[];
    expect(one.length).toBeGreaterThanOrEqual(1);
    expect(one.every((p) => p.file === MOBILENET_TOP1[0]![0])).toBe(true);
    const byId = JSON.parse((await cli('predictions', 'list', db, '--image', String(one[0]!.imageId), '--json')).out) as ListedPrediction[];
    expect(byId).toEqual(one);
  });

  it('a manifest with a labels file beside it gives the same answers', async () => {
    const { classes: _drop, ...m } = mobilenetManifest(model!, 'names.txt');
    void _drop;
    fs.writeFileSync(path.join(dir, 'names.txt'), (JSON.parse(fs.readFileSync(labels!, 'utf8')) as string[]).join('\n'));
    fs.writeFileSync(path.join(dir, 'mobilenet.json'), JSON.stringify({ ...m, thresholds: { score: 0.1, iou: 0.5, maxDetections: 5 } }));
    const r = await cli('prelabel', db, '--model', path.join(dir, 'mobilenet.json'), '--provider', 'cpu', '--json');
    expect(r.code).toBe(0);
    const s = JSON.parse(r.out) as PrelabelSummary;
    expect(s.byKind).toEqual({ tag: s.detections });
    const list = JSON.parse((await cli('predictions', 'list', db, '--run', String(s.runId), '--json')).out) as ListedPrediction[];
    const best = topTags(list, s.runId);
    const bareBest = topTags(JSON.parse((await cli('predictions', 'list', db, '--run', String(bare.runId), '--json')).out) as ListedPrediction[], bare.runId);
    for (const [file, label] of MOBILENET_TOP1) {
      expect(best.get(file)![0]).toBe(label);
      expect(best.get(file)![1]).toBeCloseTo(bareBest.get(file)![1], 4);
    }
  });

  it('a labels file whose count differs from the output, or a --task the shapes do not fit, fails naming what was expected', async () => {
    const short = path.join(dir, 'ten.txt');
    fs.writeFileSync(short, 'a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n');
    const r = await cli('prelabel', db, '--model', model!, '--labels', short, '--json');
    expect(r.code).not.toBe(0);
    expect(r.err).toContain(`${short}: holds 10 names but ${model!} outputs 1000 class scores`);
    const t = await cli('prelabel', db, '--model', model!, '--labels', labels!, '--task', 'detect', '--json');
    expect(t.code).not.toBe(0);
    expect(t.err).toContain('cannot tell the decoder family from the outputs');
    const s = await cli('prelabel', db, '--model', model!, '--labels', labels!, '--task', 'semantic', '--json');
    expect(s.code).not.toBe(0);
    expect(s.err).toContain('a semantic model must have an output of class scores per pixel [1, C, H, W] or [1, H, W, C]');
    const bad = await cli('prelabel', db, '--model', model!, '--task', 'colour');
    expect(bad.err).toContain('--task');
  });

  it.runIf(detector)('lists a detector run\'s boxes in COCO terms, matching what is stored', async () => {
    const r = await cli('prelabel', db, '--model', detector!, '--provider', 'cpu', '--json');
    expect(r.code).toBe(0);
    const s = JSON.parse(r.out) as PrelabelSummary;
    expect(s.byKind).toEqual({ box: s.detections });
    const list = JSON.parse((await cli('predictions', 'list', db, '--run', String(s.runId), '--json')).out) as ListedPrediction[];
    expect(list).toHaveLength(s.detections);
    const ds = await Dataset.open(db);
    try {
      for (const p of list) {
        const row = await ds.db.prepare('SELECT geometry, score FROM annotations WHERE id = ?').get(p.id) as { geometry: string; score: number };
        const g = JSON.parse(row.geometry) as { x: number; y: number; w: number; h: number };
        expect(p.kind).toBe('box');
        expect(p.bbox).toEqual([g.x, g.y, g.w, g.h]);
        expect(p.score).toBe(row.score);
        expect(p.className).toBeTruthy();
      }
    } finally {
      await ds.close();
    }
    const text = await cli('predictions', 'list', db, '--run', String(s.runId));
    expect(text.out.split('\n')).toHaveLength(s.detections);
    expect((await cli('predictions', 'list', db, '--run', 'no-such-run')).err).toContain('no model run has the id or name "no-such-run"');
  });

  it('--all lists every prediction a run made: those a newer run superseded and those accepted too', async () => {
    const again = JSON.parse((await cli('prelabel', db, '--model', model!, '--labels', labels!, '--provider', 'cpu', '--json')).out) as PrelabelSummary;
    expect(again.runId).not.toBe(bare.runId);
    // The first run's pending predictions were replaced by the newer run of the same model.
    expect(JSON.parse((await cli('predictions', 'list', db, '--run', String(bare.runId), '--json')).out)).toEqual([]);
    const all = JSON.parse((await cli('predictions', 'list', db, '--run', String(bare.runId), '--all', '--json')).out) as ListedPrediction[];
    expect(all).toHaveLength(bare.detections);
    expect(all.every((p) => p.status === 'superseded' && p.runId === bare.runId && p.kind === 'tag')).toBe(true);
    const best = topTags(all, bare.runId);
    for (const [file, label] of MOBILENET_TOP1) expect(best.get(file)?.[0]).toBe(label);
    // One prediction of the newer run accepted: a human tag now, still listed with --all.
    const pending = JSON.parse((await cli('predictions', 'list', db, '--run', String(again.runId), '--json')).out) as ListedPrediction[];
    const { Dataset } = await import('../../src-main/services/dataset');
    const { acceptPredictions } = await import('../../src-main/services/predictions');
    const ds = await Dataset.open(db);
    try {
      await acceptPredictions(ds, [pending[0]!.id]);
    } finally {
      await ds.close();
    }
    const after = JSON.parse((await cli('predictions', 'list', db, '--run', String(again.runId), '--all', '--json')).out) as ListedPrediction[];
    expect(after).toHaveLength(pending.length);
    const accepted = after.filter((p) => p.status === 'accepted');
    expect(accepted.map((p) => [p.id, p.className, p.score])).toEqual([[pending[0]!.id, pending[0]!.className, pending[0]!.score]]);
    expect(after.filter((p) => p.status === 'pending')).toHaveLength(pending.length - 1);
    const text = await cli('predictions', 'list', db, '--run', String(again.runId), '--all');
    expect(text.out.split('\n').filter((l) => l.split('\t')[4] === 'accepted')).toHaveLength(1);
  });
});

describe('predictions in COCO terms', () => {
  it('polygons, masks, rotated boxes and keypoints', () => {
    expect(cocoGeometry({ kind: 'polygon', parts: [[0, 0, 4, 0, 4, 2]] })).toEqual({ bbox: [0, 0, 4, 2], segmentation: [[0, 0, 4, 0, 4, 2]] });
    expect(cocoGeometry({ kind: 'mask', rle: { size: [2, 2], counts: [1, 2, 1] } })).toMatchObject({ segmentation: { size: [2, 2], counts: [1, 2, 1] } });
    const obb = cocoGeometry({ kind: 'obb', cx: 10, cy: 10, w: 4, h: 2, angle: 0 });
    expect(obb.obb).toEqual({ cx: 10, cy: 10, w: 4, h: 2, angle: 0 });
    expect((obb.segmentation as number[][])[0]).toHaveLength(8);
    expect(obb.bbox).toEqual([8, 9, 4, 2]);
    expect(cocoGeometry({ kind: 'keypoints', points: [1, 2, 2, 0, 0, 0, 5, 6, 1] })).toMatchObject({ keypoints: [1, 2, 2, 0, 0, 0, 5, 6, 1], num_keypoints: 2 });
    expect(cocoGeometry({ kind: 'tag' })).toEqual({});
  });
});
