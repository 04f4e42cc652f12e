import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../src-main/cli/main';
import { rleArea, rleBBox } from '../../src-main/common/geometry/rle';
import { polygonToRle } from '../../src-main/common/geometry';
import { repoRoot, sharedPath, tempDir } from '../helpers/shared';
import { withStore } from '../helpers/storeRead';
import { familyManifest, writeSam2Pair } from '../helpers/samFamilyModels';

const BIN = path.join(repoRoot, 'scripts', 'tessera.mjs');
const pair = sharedPath('models/sam_contract');
const ENC = pair ? path.join(pair, 'sam_contract_encoder.onnx') : '';
const DEC = pair ? path.join(pair, 'sam_contract_decoder.onnx') : '';

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(argv, { out: (s) => out.push(s), err: (s) => err.push(s), tty: false });
  return { code, out: out.join('\n'), err: err.join('\n') };
}

interface SegmentJson {
  area: number;
  bbox: [number, number, number, number];
  provider: string;
  encodeMs: number;
  decodeMs: number;
  score: number;
  cached: boolean;
  polygon?: number[][];
  vertices?: number;
  saved?: { annotationId: number; classId: number; journalId: number };
}

/** A dataset holding one 640×427 image, the size the contract pair's README was checked on. */
async function dataset(): Promise<{ dir: string; db: string }> {
  const dir = tempDir();
  await sharp({ create: { width: 640, height: 427, channels: 3, background: { r: 40, g: 90, b: 160 } } }).jpeg().toFile(path.join(dir, 'street.jpg'));
  const db = path.join(dir, 'd.tessera');
  expect((await cli('init', db, '--root', dir)).code).toBe(0);
  expect((await cli('import', db, path.join(dir, 'street.jpg'), '--json')).code).toBe(0);
  return { dir, db };
}

describe.runIf(pair)('tessera segment with the SAM-contract pair', () => {
  let db: string;
  let dir: string;
  beforeAll(async () => {
    ({ db, dir } = await dataset());
  });

  it('gives the README masks: a point, a point with a background point, a box', async () => {
    const a = await cli('segment', db, '--image', 'street.jpg', '--encoder', ENC, '--decoder', DEC, '--point', '400,200', '--json');
    expect(a.err).toBe('');
    expect(a.code).toBe(0);
    const pa = JSON.parse(a.out) as SegmentJson;
    expect(pa).toMatchObject({ area: 5024, bbox: [360, 160, 80, 80], provider: 'cpu', cached: false });
    expect(pa.encodeMs).toBeGreaterThan(0);
    expect(pa.decodeMs).toBeGreaterThan(0);

    const b = await cli('segment', db, '--image', '1', '--encoder', ENC, '--decoder', DEC, '--point', '400,200', '--point', '430,200,0', '--json');
    expect(b.code).toBe(0);
    const pb = JSON.parse(b.out) as SegmentJson;
    expect(pb.area).toBe(2344);
    expect([pb.bbox[0], pb.bbox[0] + pb.bbox[2] - 1]).toEqual([360, 413]);
    // The embedding of the first call was kept in the dataset's cache folder.
    expect(pb.cached).toBe(true);
    expect(pb.encodeMs).toBe(0);

    const c = await cli('segment', db, '--image', 'street.jpg', '--encoder', ENC, '--decoder', DEC, '--box', '100,100,200,150', '--json');
    expect(c.code).toBe(0);
    expect(JSON.parse(c.out)).toMatchObject({ area: 5000, bbox: [100, 100, 100, 50] });
  });

  it('runs as the package bin and prints a line without --json', () => {
    const r = spawnSync(process.execPath, [BIN, 'segment', db, '--image', 'street.jpg', '--encoder', ENC, '--decoder', DEC, '--box', '100,100,200,150'], { encoding: 'utf8', timeout: 120_000 });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/mask of 5000 px, bbox 100,100 100x50/);
  });

  it('saves a polygon of a new class through the edit journal, from a manifest', async () => {
    const manifest = path.join(dir, 'contract.json');
    fs.writeFileSync(
      manifest,
      JSON.stringify({ id: 'contract', name: 'contract', task: 'interactive', family: 'sam', encoder: { file: ENC }, decoder: { file: DEC }, inputSize: 1024, mean: [123.675, 116.28, 103.53], std: [58.395, 57.12, 57.375] }),
    );
    const r = await cli('segment', db, '--image', 'street.jpg', '--model', manifest, '--point', '400,200', '--as', 'polygon', '--save', '--class', 'disk', '--json');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const p = JSON.parse(r.out) as SegmentJson;
    expect(p.vertices).toBeGreaterThan(8);
    await withStore(db, async (raw) => {
      const row = await raw.prepare('SELECT a.kind, a.source, a.geometry, c.name FROM annotations a JOIN classes c ON c.id = a.class_id WHERE a.id = ?').get(p.saved!.annotationId) as { kind: string; source: string; geometry: string; name: string };
      expect(row).toMatchObject({ kind: 'polygon', source: 'human', name: 'disk' });
      const rle = polygonToRle((JSON.parse(row.geometry) as { parts: number[][] }).parts, 427, 640);
      // The traced disk covers the mask within its outline's pixels.
      expect(Math.abs(rleArea(rle) - 5024)).toBeLessThan(150);
      const bb = rleBBox(rle);
      expect(Math.abs(bb.x - 360)).toBeLessThanOrEqual(1);
      expect(Math.abs(bb.y - 160)).toBeLessThanOrEqual(1);
      expect(await raw.prepare('SELECT count(*) FROM edit_journal WHERE image_id = 1').pluck().get()).toBe(1);
    });
    const m = await cli('segment', db, '--image', 'street.jpg', '--model', manifest, '--box', '100,100,200,150', '--save', '--class', 'disk', '--json');
    expect(m.code).toBe(0);
    await withStore(db, async (raw2) => {
      const rows = await raw2.prepare("SELECT a.kind, a.geometry FROM annotations a WHERE a.kind = 'mask'").all() as { geometry: string }[];
      expect(rows).toHaveLength(1);
      const g = JSON.parse(rows[0]!.geometry) as { rle: { size: [number, number]; counts: number[] } };
      expect(rleArea(g.rle)).toBe(5000);
      expect(await raw2.prepare("SELECT count(*) FROM classes WHERE name = 'disk'").pluck().get()).toBe(1);
    });
  });

  it('names the file and the problem for a missing file and for a pair that is not SAM-contract', async () => {
    const missing = path.join(dir, 'nope.onnx');
    const a = await cli('segment', db, '--image', 'street.jpg', '--encoder', missing, '--decoder', DEC, '--point', '1,1');
    expect(a.code).toBe(1);
    expect(a.err).toContain(`FILE_NOT_FOUND: ${missing}: the encoder does not exist`);
    // The encoder given as the decoder: it lacks the decoder's prompt inputs and mask outputs.
    const b = await cli('segment', db, '--image', 'street.jpg', '--encoder', ENC, '--decoder', ENC, '--point', '1,1');
    expect(b.code).toBe(1);
    expect(b.err).toContain(`UNSUPPORTED_FORMAT: ${ENC} + ${ENC}: not a SAM-family pair`);
    expect(b.err).toContain('decoder: no input "point_coords"');
    expect(b.err).toContain('decoder: no output "masks"');
    // Swapped files are named as such.
    const c = await cli('segment', db, '--image', 'street.jpg', '--encoder', DEC, '--decoder', ENC, '--point', '1,1');
    expect(c.code).toBe(1);
    expect(c.err).toContain(`encoder and decoder are swapped: ${DEC} takes the prompts`);
    // A manifest is taken at its word; the files are checked when they load.
    const wrong = path.join(dir, 'wrong.json');
    fs.writeFileSync(wrong, JSON.stringify({ id: 'wrong', name: 'wrong', task: 'interactive', family: 'sam', encoder: { file: ENC }, decoder: { file: ENC }, inputSize: 1024, mean: [0, 0, 0], std: [1, 1, 1] }));
    const w = await cli('segment', db, '--image', 'street.jpg', '--model', wrong, '--point', '1,1');
    expect(w.code).toBe(1);
    expect(w.err).toContain(`${ENC}: not a Segment Anything-contract decoder: it lacks inputs image_embeddings, point_coords, point_labels, mask_input, has_mask_input, orig_im_size and outputs masks, iou_predictions, low_res_masks`);
    const wrongEnc = path.join(dir, 'wrong-encoder.json');
    fs.writeFileSync(wrongEnc, JSON.stringify({ id: 'wrong2', name: 'wrong', task: 'interactive', family: 'sam', encoder: { file: DEC }, decoder: { file: DEC }, inputSize: 1024, mean: [0, 0, 0], std: [1, 1, 1] }));
    const we = await cli('segment', db, '--image', 'street.jpg', '--model', wrongEnc, '--point', '1,1');
    expect(we.code).toBe(1);
    expect(we.err).toContain(`${DEC}: encoder input "image_embeddings" is float32 [1,256,64,64], expected float32 [1,3,1024,1024]`);
    // A shipped manifest names URLs only: the message says where the app keeps the downloaded files.
    const shipped = path.join(repoRoot, 'models', 'interactive', 'mobile-sam.json');
    const sh = await cli('segment', db, '--image', 'street.jpg', '--model', shipped, '--point', '1,1');
    expect(sh.code).toBe(2);
    expect(sh.err).toContain('names no local encoder file, only https://');
    expect(sh.err).toContain('models/interactive/mobile-sam.encoder.onnx and mobile-sam.decoder.onnx');
    const nofile = path.join(dir, 'missing.json');
    const m = await cli('segment', db, '--image', 'street.jpg', '--model', nofile, '--point', '1,1');
    expect(m.err).toContain(`FILE_NOT_FOUND: ${nofile}: does not exist`);
    const d = await cli('segment', db, '--image', 'nothere.png', '--encoder', ENC, '--decoder', DEC, '--point', '1,1');
    expect(d.code).toBe(1);
    expect(d.err).toMatch(/NOT_FOUND: .*no image .*"nothere.png"/);
    const e = await cli('segment', db, '--image', 'street.jpg', '--encoder', ENC, '--decoder', DEC, '--point', '1');
    expect(e.code).toBe(2);
    expect(e.err).toContain('--point must be x,y or x,y,label');
    // Prompts outside the image are refused, naming the image, rather than giving an edge blob.
    const far = await cli('segment', db, '--image', 'street.jpg', '--encoder', ENC, '--decoder', DEC, '--point', '5000,5000');
    expect(far.code).toBe(2);
    expect(far.err).toMatch(/INVALID_ARGUMENT: .*street\.jpg: point 5000,5000 lies outside the \d+x\d+ image/);
    const off = await cli('segment', db, '--image', 'street.jpg', '--encoder', ENC, '--decoder', DEC, '--box=-50,-50,-10,-10');
    expect(off.code).toBe(2);
    expect(off.err).toMatch(/street\.jpg: box -50,-50,-10,-10 does not overlap the \d+x\d+ image/);
  });
});

describe('tessera segment with a SAM 2 manifest', () => {
  it('runs the pair the manifest names (files relative to it) on a portrait image, the mask where SAM 2 puts it', async () => {
    const dir = tempDir();
    writeSam2Pair(dir);
    const manifest = path.join(dir, 'sam2-test.json');
    fs.writeFileSync(manifest, JSON.stringify(familyManifest('sam2-test', 'sam2', { encoder: 'sam2_test.encoder.onnx', decoder: 'sam2_test.decoder.onnx' }, 1024)));
    await sharp({ create: { width: 600, height: 1000, channels: 3, background: { r: 40, g: 90, b: 160 } } }).png().toFile(path.join(dir, 'tall.png'));
    const db = path.join(dir, 'd.tessera');
    expect((await cli('init', db, '--root', dir)).code).toBe(0);
    expect((await cli('import', db, path.join(dir, 'tall.png'), '--json')).code).toBe(0);
    const r = await cli('segment', db, '--image', 'tall.png', '--model', manifest, '--point', '300,200', '--json');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const p = JSON.parse(r.out) as SegmentJson & { masks: number };
    // Radius 64 of the 1024×1024 frame, stretched back: 64·600/1024 = 37.5 px across x,
    // 64·1000/1024 = 62.5 px across y, around (300, 200).
    expect(p.masks).toBe(2);
    expect(p.score).toBeCloseTo(0.9, 5);
    const [x, y, w, h] = p.bbox;
    for (const [got, want] of [[x, 262.5], [y, 137.5], [x + w, 337.5], [y + h, 262.5]] as const) expect(Math.abs(got - want), `${p.bbox}`).toBeLessThanOrEqual(1);
    // An ellipse of those radii.
    expect(Math.abs(p.area - Math.PI * 37.5 * 62.5) / (Math.PI * 37.5 * 62.5)).toBeLessThan(0.02);
    // The same pair given as two files is inspected and found to be SAM 2.
    const two = await cli('segment', db, '--image', 'tall.png', '--encoder', path.join(dir, 'sam2_test.encoder.onnx'), '--decoder', path.join(dir, 'sam2_test.decoder.onnx'), '--point', '300,200', '--json');
    expect(two.code).toBe(0);
    expect((JSON.parse(two.out) as SegmentJson).bbox).toEqual(p.bbox);
  });
});
