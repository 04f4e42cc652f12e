import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { runCli } from '../../src-main/cli/main';
import { rleArea, rleBBox } from '../../src-main/common/geometry/rle';
import type { PrelabelSummary } from '../../src-main/common/prelabel';
import type { BoxesToMasksSummary } from '../../src-main/common/segment';
import { repoRoot, sharedPath, tempDir } from '../helpers/shared';
import { yolov8nInt8Manifest } from '../helpers/models';
import { insertAnnotations } from '../../src-main/db/annotations';
import { insertModelRun } from '../../src-main/db/modelRuns';
import { Dataset } from '../../src-main/services/dataset';
import { withStore } from '../helpers/storeRead';

const BIN = path.join(repoRoot, 'scripts', 'tessera.mjs');
const pair = sharedPath('models/sam_contract');
const ENC = pair ? path.join(pair, 'sam_contract_encoder.onnx') : '';
const DEC = pair ? path.join(pair, 'sam_contract_decoder.onnx') : '';
const detector = sharedPath('models/yolov8n_int8.onnx');
const images = sharedPath('datasets/coco_tinycoco/images/train2017');
const NAMES = ['000000397133.jpg', '000000037777.jpg'];

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, { out: (s) => out.push(s), err: (s) => err.push(s), tty: false });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

interface Row {
  imageId: number;
  classId: number | null;
  kind: string;
  geometry: string;
  score: number;
}

/** A dataset of two COCO images pre-labeled by yolov8n: its run of box predictions. */
async function prelabeled(names = NAMES): Promise<{ dir: string; db: string; runId: number }> {
  const dir = tempDir();
  const db = path.join(dir, 'd.tessera');
  expect((await cli('init', db, '--root', images!)).code).toBe(0);
  expect((await cli('import', db, ...names.map((n) => path.join(images!, n)), '--json')).code).toBe(0);
  const manifest = path.join(dir, 'yolov8n.json');
  fs.writeFileSync(manifest, JSON.stringify(yolov8nInt8Manifest(detector!)));
  const r = await cli('prelabel', db, '--model', manifest, '--json');
  expect(r.code, r.err).toBe(0);
  const s = JSON.parse(r.out) as PrelabelSummary;
  expect(s.detections).toBeGreaterThan(5);
  return { dir, db, runId: s.runId };
}

async function rows(db: string, runId: number): Promise<Row[]> {
  return await withStore(db, async (raw) => (await raw.prepare('SELECT image_id AS imageId, class_id AS classId, kind, geometry, score FROM annotations WHERE model_run_id = ? ORDER BY id').all(runId)) as Row[]);
}

/** Whether a box holds a pixel centre: the contract pair fills exactly the pixels whose centres are in the box. */
function holdsPixelCentre(b: { x: number; y: number; w: number; h: number }): boolean {
  return Math.floor(b.x + b.w - 0.5) >= Math.ceil(b.x - 0.5) && Math.floor(b.y + b.h - 0.5) >= Math.ceil(b.y - 0.5);
}

describe.runIf(pair && detector && images)('tessera segment --from-run with the SAM-contract pair', () => {
  it('turns every yolov8n box of a pre-label run into a mask of a new run, each within 1 px of its box', async () => {
    const { db, runId } = await prelabeled();
    const boxes = await rows(db, runId);
    expect(boxes.every((b) => b.kind === 'box')).toBe(true);
    const r = await cli('segment', db, '--from-run', String(runId), '--encoder', ENC, '--decoder', DEC, '--json');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const s = JSON.parse(r.out) as BoxesToMasksSummary & { sourceRunId: number; as: string };
    const geoms = boxes.map((b) => JSON.parse(b.geometry) as { x: number; y: number; w: number; h: number });
    const nonEmpty = geoms.filter(holdsPixelCentre).length;
    expect(s).toMatchObject({ boxes: boxes.length, created: nonEmpty, empty: boxes.length - nonEmpty, cancelled: false, sourceRunId: runId, as: 'mask' });
    expect(s.runId).not.toBe(runId);

    const masks = await rows(db, s.runId);
    expect(masks).toHaveLength(nonEmpty);
    // Each mask keeps its box's image, class and score; the pair fills the box, so the mask's
    // bounding box is the box's within a pixel on every side.
    const unmatched = boxes.map((b, i) => ({ ...b, g: geoms[i]! })).filter((b) => holdsPixelCentre(b.g));
    for (const m of masks) {
      expect(m.kind).toBe('mask');
      const rle = (JSON.parse(m.geometry) as { rle: { size: [number, number]; counts: number[] } }).rle;
      const bb = rleBBox(rle);
      const at = unmatched.findIndex((b) => b.imageId === m.imageId && b.classId === m.classId && b.score === m.score);
      expect(at, `mask on image ${m.imageId} with score ${m.score} has no box`).toBeGreaterThanOrEqual(0);
      const b = unmatched.splice(at, 1)[0]!.g;
      expect(Math.abs(bb.x - b.x)).toBeLessThanOrEqual(1);
      expect(Math.abs(bb.y - b.y)).toBeLessThanOrEqual(1);
      expect(Math.abs(bb.x + bb.w - (b.x + b.w))).toBeLessThanOrEqual(1);
      expect(Math.abs(bb.y + bb.h - (b.y + b.h))).toBeLessThanOrEqual(1);
      expect(rleArea(rle)).toBe(bb.w * bb.h);
    }
    expect(unmatched).toHaveLength(0);

    await withStore(db, async (raw) => {
      const run = await raw.prepare('SELECT status, parameters FROM model_runs WHERE id = ?').get(s.runId) as { status: string; parameters: string };
      expect(run.status).toBe('done');
      expect(JSON.parse(run.parameters)).toMatchObject({ task: 'boxes-to-masks', sourceRunId: runId, as: 'mask' });
    });

    // As polygons, from the package bin, with a plain summary line.
    const p = await cli('segment', db, '--from-run', String(runId), '--encoder', ENC, '--decoder', DEC, '--as', 'polygon', '--tolerance', '0.5');
    expect(p.code).toBe(0);
    expect(p.out).toMatch(new RegExp(`^run \\d+: ${nonEmpty} polygons from ${boxes.length} boxes of run ${runId}`));
    const polyRun = Number(/^run (\d+)/.exec(p.out)![1]);
    const polys = await rows(db, polyRun);
    expect(polys).toHaveLength(nonEmpty);
    expect(polys.every((x) => x.kind === 'polygon')).toBe(true);
  }, 180_000);

  it('names the problem: an unknown run, a run without boxes, --image with --from-run, prompts with --from-run', async () => {
    const { db, runId } = await prelabeled();
    const a = await cli('segment', db, '--from-run', '999', '--encoder', ENC, '--decoder', DEC);
    expect(a.code).toBe(1);
    expect(a.err).toContain('NOT_FOUND: model run 999 does not exist');
    const s = JSON.parse((await cli('segment', db, '--from-run', String(runId), '--encoder', ENC, '--decoder', DEC, '--json')).out) as BoxesToMasksSummary;
    // A run of masks holds no boxes to prompt with.
    const b = await cli('segment', db, '--from-run', String(s.runId), '--encoder', ENC, '--decoder', DEC);
    expect(b.code).toBe(2);
    expect(b.err).toContain(`model run ${s.runId} has no box predictions`);
    const c = await cli('segment', db, '--from-run', String(runId), '--image', '1', '--encoder', ENC, '--decoder', DEC);
    expect(c.code).toBe(2);
    expect(c.err).toContain('either --image or --from-run');
    const d = await cli('segment', db, '--from-run', String(runId), '--box', '1,1,5,5', '--encoder', ENC, '--decoder', DEC);
    expect(d.code).toBe(2);
    expect(d.err).toContain('--box does not apply with --from-run');
    const e = await cli('segment', db, '--from-run', 'x', '--encoder', ENC, '--decoder', DEC);
    expect(e.code).toBe(2);
    expect(e.err).toContain('--from-run must be a run id');
  }, 180_000);

  it('marks an image whose file is gone failed, lists it in the summary and carries on (exit 1)', async () => {
    const root = tempDir();
    const names = ['a.png', 'b.png', 'c.png'];
    // Different sizes: identical files would be imported once.
    for (const [i, n] of names.entries()) await sharp({ create: { width: 320 + 10 * i, height: 240, channels: 3, background: { r: 90, g: 120, b: 150 } } }).png().toFile(path.join(root, n));
    const db = path.join(tempDir(), 'd.tessera');
    expect((await cli('init', db, '--root', root)).code).toBe(0);
    expect((await cli('import', db, ...names.map((n) => path.join(root, n)), '--json')).code).toBe(0);
    const runId = await withStore(db, async (handle) => {
      const id = await insertModelRun(handle, { model: 'detector', parameters: {} });
      const ids = await handle.prepare('SELECT id FROM images ORDER BY path').pluck().all() as number[];
      await insertAnnotations(handle, ids.map((imageId) => ({ imageId, classId: null, geometry: { kind: 'box' as const, x: 10, y: 10, w: 50, h: 50 }, source: 'model' as const, modelRunId: id, score: 0.9 })));
      return id;
    });
    fs.rmSync(path.join(root, 'b.png'));
    const r = await cli('segment', db, '--from-run', String(runId), '--encoder', ENC, '--decoder', DEC, '--json');
    expect(r.code, `${r.out}\n${r.err}`).toBe(1);
    const s = JSON.parse(r.out) as BoxesToMasksSummary;
    expect(s).toMatchObject({ boxes: 3, created: 2, failed: 1, cancelled: false });
    expect(s.warnings).toHaveLength(1);
    expect(s.warnings[0]).toBe('b.png: file is missing on disk');
    const plain = await cli('segment', db, '--from-run', String(runId), '--encoder', ENC, '--decoder', DEC);
    expect(plain.code).toBe(1);
    expect(plain.out).toMatch(/: 2 masks from 3 boxes of run \d+; 1 image failed$/);
    expect(plain.err).toMatch(/^warning: b\.png: /);
  }, 180_000);

  it('stops at Ctrl+C from the package bin, keeping the images done and marking the run cancelled', async () => {
    const { db, runId } = await prelabeled(fs.readdirSync(images!).filter((n) => n.endsWith('.jpg')).sort().slice(0, 12));
    const watcher = await Dataset.open(db);
    const child = spawn(process.execPath, [BIN, 'segment', db, '--from-run', String(runId), '--encoder', ENC, '--decoder', DEC, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    // SIGINT as soon as the new run exists, while its first images are encoded.
    const started = Date.now();
    let exited = false;
    const closed = new Promise<number | null>((resolve) => child.on('close', (c) => {
      exited = true;
      resolve(c);
    }));
    try {
      while (!exited) {
        const found = await watcher.db.prepare("SELECT count(*) FROM model_runs WHERE CAST(parameters AS TEXT) LIKE '%boxes-to-masks%'").pluck().get() as number;
        if (found > 0 || Date.now() - started > 60_000) {
          child.kill('SIGINT');
          break;
        }
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    } finally {
      await watcher.close();
    }
    const code = await closed;
    expect(err).toBe('');
    const s = JSON.parse(out) as BoxesToMasksSummary;
    expect(s.cancelled).toBe(true);
    expect(s.created).toBeLessThan(s.boxes);
    expect(code).toBe(130);
    await withStore(db, async (raw) => {
      expect(await raw.prepare('SELECT status FROM model_runs WHERE id = ?').pluck().get(s.runId)).toBe('cancelled');
      expect(await raw.prepare('SELECT count(*) FROM annotations WHERE model_run_id = ?').pluck().get(s.runId)).toBe(s.created);
    });
  }, 180_000);
});
