import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { insertAnnotations } from '../../src-main/db/annotations';
import { insertClass } from '../../src-main/db/classes';
import { listAnnotations } from '../../src-main/db/annotations';
import { buildQueue } from '../../src-main/services/activeLearning';
import { computeEmbeddings } from '../../src-main/services/embeddings';
import { closeInferenceBackend, inferenceBackend } from '../../src-main/services/inference';
import { predictTags, trainClassifier } from '../../src-main/services/linearClassifier';
import type { Workspace } from '../../src-main/services/workspace';
import { mobilenetEmbedManifest, mobilenetManifest } from '../helpers/models';
import { sharedPath, tempDir } from '../helpers/shared';
import { newWorkspace, ok } from '../helpers/workspace';

/**
 * Linear evaluation of MobileNetV2's embedding on the crop/weed photos: each image tagged with
 * its dominant class from the dataset's own OBB labels, vectors from the real model, the
 * classifier trained in the app on 24 tagged images and measured on held-out ones, then tagging
 * the 6 left untagged as a model run. The uncertainty queue is built from a real pre-label run of
 * the MobileNetV2 classifier and checked against the scores it stored.
 */
const embedModel = sharedPath('models/mobilenetv2-12-int8-with-embedding.onnx');
const classifyModel = sharedPath('models/mobilenetv2-12-int8.onnx');
const labelsFile = sharedPath('models/imagenet_labels.json');
const agri = sharedPath('datasets/agri_crop_weed_obb');

/** The class (0 crop, 1 weed) with most boxes in the image's label file. */
function dominantClass(labelFile: string): number {
  const counts = [0, 0];
  for (const line of fs.readFileSync(labelFile, 'utf8').split('\n')) {
    const c = Number(line.trim().split(/\s+/)[0]);
    if (line.trim() && (c === 0 || c === 1)) counts[c]!++;
  }
  return counts[1]! > counts[0]! ? 1 : 0;
}

describe.runIf(embedModel && classifyModel && labelsFile && agri)('curation with the real MobileNetV2 on the crop/weed photos', () => {
  let ws: Workspace;
  let truth: Map<number, number>;
  let untagged: number[];
  let classIds: number[];
  beforeAll(async () => {
    const dir = tempDir();
    ws = newWorkspace(dir);
    const images = path.join(agri!, 'images');
    await ok(ws, 'dataset:create', { path: path.join(dir, 'd.tessera'), root: images });
    await ok(ws, 'images:import', { jobId: 'imp', paths: [images] });
    const ds = ws.current!;
    const rows = await ds.db.prepare('SELECT id, path FROM images ORDER BY path').all() as { id: number; path: string }[];
    expect(rows).toHaveLength(30);
    truth = new Map(rows.map((r) => [r.id, dominantClass(path.join(agri!, 'labels', r.path.replace(/\.jpg$/, '.txt')))]));
    classIds = [(await insertClass(ds.db, { name: 'crop', color: '#00aa00' })).id, (await insertClass(ds.db, { name: 'weed', color: '#aa0000' })).id];
    // Every fifth image (by name) stays untagged for the classifier to predict.
    untagged = rows.filter((_, i) => i % 5 === 0).map((r) => r.id);
    await insertAnnotations(
      ds.db,
      rows.filter((r) => !untagged.includes(r.id)).map((r) => ({ imageId: r.id, classId: classIds[truth.get(r.id)!]!, geometry: { kind: 'tag' as const }, source: 'human' as const })),
    );
    const { embedder } = await inferenceBackend();
    const t0 = performance.now();
    const s = await computeEmbeddings(ds, { model: { manifest: mobilenetEmbedManifest(embedModel!), file: embedModel! }, images: 'all', embedder });
    console.log(`embeddings: ${s.computed} images in ${Math.round(performance.now() - t0)} ms`);
    expect(s.computed).toBe(30);
  }, 180_000);
  afterAll(async () => {
    await closeInferenceBackend();
    await ws?.dispose();
  });

  it('the classifier trained on the tagged images beats the majority-class baseline on held-out images, and tags the rest as a model run', async () => {
    const db = ws.current!.db;
    const counts = [0, 0];
    for (const [id, c] of truth) if (!untagged.includes(id)) counts[c]!++;
    console.log(`tagged: ${counts[0]} crop, ${counts[1]} weed; ${untagged.length} untagged`);
    const accuracies: number[] = [];
    const baselines: number[] = [];
    let first: Awaited<ReturnType<typeof trainClassifier>> | null = null;
    // Five seeded splits: 24 images leave about 5 to hold out each time.
    for (const seed of [1, 2, 3, 4, 5]) {
      const t = await trainClassifier(db, { seed });
      first ??= t;
      accuracies.push(t.report.accuracy);
      baselines.push(t.report.baseline);
      console.log(`seed ${seed}: held-out accuracy ${t.report.accuracy.toFixed(3)} vs majority baseline ${t.report.baseline.toFixed(3)} (${t.report.heldOutImages} held out, ${t.report.trainImages} trained, ${t.report.iterations} iterations, ${t.report.ms} ms)`);
    }
    const mean = (a: number[]): number => a.reduce((x, y) => x + y, 0) / a.length;
    console.log(`mean over 5 splits: accuracy ${mean(accuracies).toFixed(3)}, baseline ${mean(baselines).toFixed(3)}`);
    expect(mean(accuracies)).toBeGreaterThan(mean(baselines) + 0.1);

    const run = await predictTags(db, first!);
    expect(run.images).toBe(untagged.length);
    let right = 0;
    for (const id of untagged) {
      const tags = (await listAnnotations(db, id)).filter((a) => a.modelRunId === run.runId);
      expect(tags.length).toBeGreaterThanOrEqual(1);
      for (const a of tags) expect(a).toMatchObject({ kind: 'tag', source: 'model' });
      const best = tags.reduce((x, y) => (y.score! > x.score! ? y : x));
      if (best.classId === classIds[truth.get(id)!]) right++;
    }
    console.log(`predicted run ${run.runId}: ${run.tags} tags on ${run.images} untagged images, top tag right on ${right} of ${untagged.length}`);
    expect(right).toBeGreaterThanOrEqual(Math.ceil(untagged.length / 2));
    // The run is reviewed like any other: its predictions are listed per image.
    const listed = await ok(ws, 'annotations:list', { imageId: untagged[0]! });
    expect(listed.some((a) => a.modelRunId === run.runId)).toBe(true);
  }, 120_000);

  it('the uncertainty queue follows the margins a real MobileNetV2 pre-label run stored; diversity and uniqueness use the real vectors', async () => {
    const { classes: _drop, ...manifest } = mobilenetManifest(classifyModel!, labelsFile!);
    void _drop;
    await ok(ws, 'models:add', { file: classifyModel!, manifest: { ...manifest } });
    const summary = await ok(ws, 'prelabel:run', { jobId: 'p', modelId: 'mobilenetv2', scope: { imageIds: untagged }, skipLabeled: false, conf: 0.01 });
    const db = ws.current!.db;
    const q = await ok(ws, 'curation:queue', { strategy: 'uncertainty', measure: 'margin' });
    expect(q.runId).toBe(summary.runId);
    const margin = async (id: number): Promise<number> => {
      const s = (await listAnnotations(db, id))
        .filter((a) => a.modelRunId === summary.runId)
        .map((a) => a.score!)
        .sort((a, b) => b - a);
      return 1 - ((s[0] ?? 0) - (s[1] ?? 0));
    };
    const margins = new Map<number, number>();
    for (const id of untagged) margins.set(id, await margin(id));
    const expected = [...untagged].sort((a, b) => margins.get(b)! - margins.get(a)! || a - b);
    console.log(`uncertainty queue (margin): ${q.ids.map((id) => `${id}:${q.scores[q.ids.indexOf(id)]!.toFixed(3)}`).join(' ')}`);
    expect(q.ids).toEqual(expected);
    const d = await buildQueue(db, { strategy: 'diversity' });
    expect([...d.ids].sort((a, b) => a - b)).toEqual([...untagged].sort((a, b) => a - b));
    for (let i = 1; i < d.scores.length; i++) expect(d.scores[i]!).toBeLessThanOrEqual(d.scores[i - 1]! + 1e-6);
    const u = await buildQueue(db, { strategy: 'uniqueness' });
    expect(u.ids).toHaveLength(untagged.length);
    for (const s of u.scores) expect(s).toBeGreaterThan(0);
    // Bad arguments are refused by the contract.
    await expect(ok(ws, 'curation:queue', { strategy: 'nope' as 'diversity' })).rejects.toThrow(/strategy/);
  }, 120_000);
});

const bccd = sharedPath('datasets/bccd_voc');

interface Box {
  name: string;
  xmin: number;
  ymin: number;
  xmax: number;
  ymax: number;
}

/** The objects of a Pascal VOC annotation file. */
function vocBoxes(xml: string): Box[] {
  return [...xml.matchAll(/<object>([\s\S]*?)<\/object>/g)].map((m) => {
    const v = (tag: string): number => Number(new RegExp(`<${tag}>\\s*([\\d.]+)\\s*</${tag}>`).exec(m[1]!)![1]);
    return { name: /<name>\s*([^<]+?)\s*<\/name>/.exec(m[1]!)![1]!, xmin: v('xmin'), ymin: v('ymin'), xmax: v('xmax'), ymax: v('ymax') };
  });
}

const overlaps = (a: Box, x: number, y: number, s: number): boolean => a.xmin < x + s && a.xmax > x && a.ymin < y + s && a.ymax > y;

/**
 * Linear evaluation on the BCCD microscopy images, with a held-out set of about twenty: from each
 * image the test cuts a square around its first WBC box (tagged "WBC") and a square of the same
 * size that overlaps no WBC box (tagged "no WBC", red cells and platelets only), so the classes
 * come from the dataset's VOC boxes, not from the file they were cut from.
 */
describe.runIf(embedModel && bccd)('the classifier on BCCD crops with and without a WBC, real MobileNetV2', () => {
  let ws: Workspace;
  let counts: [number, number];
  beforeAll(async () => {
    const dir = tempDir();
    const root = path.join(dir, 'crops');
    fs.mkdirSync(root);
    const truth = new Map<string, number>();
    for (const xmlName of fs.readdirSync(path.join(bccd!, 'Annotations')).filter((n) => n.endsWith('.xml')).sort()) {
      const xml = fs.readFileSync(path.join(bccd!, 'Annotations', xmlName), 'utf8');
      const jpg = path.join(bccd!, 'JPEGImages', xmlName.replace(/\.xml$/, '.jpg'));
      if (!fs.existsSync(jpg)) continue;
      const meta = await sharp(jpg).metadata();
      const [w, h] = [meta.width!, meta.height!];
      const boxes = vocBoxes(xml);
      const wbcs = boxes.filter((b) => b.name === 'WBC');
      if (wbcs.length === 0) continue;
      const b = wbcs[0]!;
      const s = Math.min(w, h, Math.round(Math.max(b.xmax - b.xmin, b.ymax - b.ymin)));
      const clamp = (v: number, max: number): number => Math.max(0, Math.min(max - s, Math.round(v)));
      const base = xmlName.replace(/\.xml$/, '');
      await sharp(jpg).extract({ left: clamp((b.xmin + b.xmax - s) / 2, w), top: clamp((b.ymin + b.ymax - s) / 2, h), width: s, height: s }).jpeg({ quality: 92 }).toFile(path.join(root, `${base}-wbc.jpg`));
      truth.set(`${base}-wbc.jpg`, 0);
      // The free square farthest from the WBC: candidates on a 16-pixel grid that touch no WBC box.
      let best: { x: number; y: number; d: number } | null = null;
      for (let y = 0; y + s <= h; y += 16)
        for (let x = 0; x + s <= w; x += 16) {
          if (wbcs.some((c) => overlaps(c, x, y, s))) continue;
          const d = Math.hypot(x + s / 2 - (b.xmin + b.xmax) / 2, y + s / 2 - (b.ymin + b.ymax) / 2);
          if (!best || d > best.d) best = { x, y, d };
        }
      if (best) {
        await sharp(jpg).extract({ left: best.x, top: best.y, width: s, height: s }).jpeg({ quality: 92 }).toFile(path.join(root, `${base}-none.jpg`));
        truth.set(`${base}-none.jpg`, 1);
      }
    }
    ws = newWorkspace(dir);
    await ok(ws, 'dataset:create', { path: path.join(dir, 'bccd.tessera'), root });
    await ok(ws, 'images:import', { jobId: 'imp', paths: [root] });
    const ds = ws.current!;
    const rows = await ds.db.prepare('SELECT id, path FROM images').all() as { id: number; path: string }[];
    expect(rows).toHaveLength(truth.size);
    const classIds = [(await insertClass(ds.db, { name: 'WBC', color: '#7030a0' })).id, (await insertClass(ds.db, { name: 'no WBC', color: '#c04040' })).id];
    await insertAnnotations(ds.db, rows.map((r) => ({ imageId: r.id, classId: classIds[truth.get(path.basename(r.path))!]!, geometry: { kind: 'tag' as const }, source: 'human' as const })));
    counts = [0, 0];
    for (const c of truth.values()) counts[c]!++;
    const { embedder } = await inferenceBackend();
    const t0 = performance.now();
    const s = await computeEmbeddings(ds, { model: { manifest: mobilenetEmbedManifest(embedModel!), file: embedModel! }, images: 'all', embedder });
    console.log(`BCCD crops: ${counts[0]} with a WBC, ${counts[1]} without; embedded in ${Math.round(performance.now() - t0)} ms`);
    expect(s.computed).toBe(truth.size);
  }, 180_000);
  afterAll(async () => {
    await closeInferenceBackend();
    await ws?.dispose();
  });

  it('beats the majority-class baseline on about twenty held-out crops', async () => {
    const db = ws.current!.db;
    let right = 0;
    let base = 0;
    let held = 0;
    for (const seed of [1, 2, 3]) {
      const t = await trainClassifier(db, { seed, holdout: 0.4 });
      expect(t.report.heldOutImages).toBeGreaterThanOrEqual(20);
      right += t.report.accuracy * t.report.heldOutImages;
      base += t.report.baseline * t.report.heldOutImages;
      held += t.report.heldOutImages;
      console.log(`BCCD seed ${seed}: held-out accuracy ${t.report.accuracy.toFixed(3)} vs majority baseline ${t.report.baseline.toFixed(3)} (${t.report.heldOutImages} held out, ${t.report.trainImages} trained, ${t.report.ms} ms); confusion ${JSON.stringify(t.report.confusion)}`);
    }
    const accuracy = right / held;
    const baseline = base / held;
    console.log(`BCCD over 3 splits (${held} held-out predictions): accuracy ${accuracy.toFixed(3)}, majority baseline ${baseline.toFixed(3)}`);
    expect(counts[0]).toBeGreaterThanOrEqual(20);
    expect(counts[1]).toBeGreaterThanOrEqual(20);
    expect(accuracy).toBeGreaterThan(baseline + 0.2);
    expect(accuracy).toBeGreaterThanOrEqual(0.85);
  }, 60_000);
});
