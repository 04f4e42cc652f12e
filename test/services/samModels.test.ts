import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Events } from '../../src-main/common/contract';
import { isAppError } from '../../src-main/common/errors';
import { SAM_MEAN, SAM_STD } from '../../src-main/common/inference/samManifest';
import type { DownloadProgress } from '../../src-main/common/prelabel';
import type { SamManifest } from '../../src-main/common/segment';
import { ModelRegistry } from '../../src-main/services/models';
import { readSamManifestFile, SamModelRegistry } from '../../src-main/services/samModels';
import { Workspace } from '../../src-main/services/workspace';
import { repoRoot, sharedPath, tempDir } from '../helpers/shared';
import { fails, ok } from '../helpers/workspace';

const encoderFile = sharedPath('models/sam_contract/sam_contract_encoder.onnx');
const decoderFile = sharedPath('models/sam_contract/sam_contract_decoder.onnx');
const yoloFile = sharedPath('models/yolov8n_int8.onnx');
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** The contract pair's real bytes, served in small slow chunks so progress and Cancel have something to see. */
let server: http.Server;
let base: string;
let bodies: Record<string, Buffer> = {};

beforeAll(async () => {
  if (encoderFile && decoderFile) bodies = { '/enc.onnx': fs.readFileSync(encoderFile), '/dec.onnx': fs.readFileSync(decoderFile) };
  server = http.createServer((req, res) => {
    const body = bodies[req.url ?? ''];
    if (!body) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(body.length) });
    let at = 0;
    const next = () => {
      if (at >= body.length) return void res.end();
      const part = body.subarray(at, at + 512);
      at += part.length;
      res.write(part, () => setTimeout(next, 5));
    };
    next();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

function manifest(over: Partial<SamManifest> & Pick<SamManifest, 'id'>): SamManifest {
  return {
    name: over.id,
    task: 'interactive',
    family: 'sam',
    // Checksums of the served bytes when ../shared has them (the download tests need them).
    encoder: { url: `${base}/enc.onnx`, ...(bodies['/enc.onnx'] ? { sha256: sha(bodies['/enc.onnx']) } : {}) },
    decoder: { url: `${base}/dec.onnx`, ...(bodies['/dec.onnx'] ? { sha256: sha(bodies['/dec.onnx']) } : {}) },
    inputSize: 1024,
    mean: [...SAM_MEAN],
    std: [...SAM_STD],
    ...over,
  };
}

/** A registry over a shipped-manifest folder holding `manifests`, and its own config folder. */
function registryWith(manifests: SamManifest[]): { reg: SamModelRegistry; manifestDir: string; configDir: string } {
  const dir = tempDir();
  const manifestDir = path.join(dir, 'models', 'interactive');
  fs.mkdirSync(manifestDir, { recursive: true });
  for (const m of manifests) fs.writeFileSync(path.join(manifestDir, `${m.id}.json`), JSON.stringify(m));
  const configDir = path.join(dir, 'config');
  return { reg: new SamModelRegistry({ manifestDir, configDir }), manifestDir, configDir };
}

async function failure(p: Promise<unknown>): Promise<{ code: string; message: string; detail: Record<string, unknown> }> {
  try {
    await p;
  } catch (e) {
    if (isAppError(e)) return { code: e.code, message: e.message, detail: (e.detail ?? {}) as Record<string, unknown> };
    throw e;
  }
  throw new Error('expected a failure');
}

const listing = (dir: string): string[] => (fs.existsSync(dir) ? fs.readdirSync(dir).sort() : []);

describe('SAM-family model downloads', () => {
  it('downloads both files with progress over the pair, checks both checksums and puts both in place', async () => {
    if (!encoderFile || !decoderFile) return;
    const { reg } = registryWith([manifest({ id: 'pair' })]);
    expect(reg.get('pair')).toMatchObject({ encoderPath: null, decoderPath: null, downloadable: true });
    const events: DownloadProgress[] = [];
    const entry = await reg.download('pair', { onProgress: (p) => events.push(p) });
    const total = bodies['/enc.onnx']!.length + bodies['/dec.onnx']!.length;
    expect(entry.encoderPath).toBe(path.join(reg.cacheDir, 'pair.encoder.onnx'));
    expect(entry.decoderPath).toBe(path.join(reg.cacheDir, 'pair.decoder.onnx'));
    expect(fs.readFileSync(entry.encoderPath!).equals(bodies['/enc.onnx']!)).toBe(true);
    expect(fs.readFileSync(entry.decoderPath!).equals(bodies['/dec.onnx']!)).toBe(true);
    // Progress counts the bytes of both files together, never goes back, and ends at their sum.
    expect(events.length).toBeGreaterThan(4);
    expect(events.map((e) => e.received)).toEqual([...events.map((e) => e.received)].sort((a, b) => a - b));
    expect(events.at(-1)).toEqual({ id: 'pair', received: total, total });
    expect(events.filter((e) => e.total !== null).every((e) => e.total === total)).toBe(true);
    expect(listing(reg.cacheDir)).toEqual(['pair.decoder.onnx', 'pair.encoder.onnx']);
    expect(reg.requireFiles('pair')).toEqual({ manifest: entry.manifest, encoderPath: entry.encoderPath, decoderPath: entry.decoderPath });
  });

  it('refuses a checksum mismatch of either file, names both hashes and leaves neither file behind', async () => {
    if (!encoderFile || !decoderFile) return;
    const wrong = sha(Buffer.from('something else'));
    const { reg } = registryWith([manifest({ id: 'bad', decoder: { url: `${base}/dec.onnx`, sha256: wrong } })]);
    const f = await failure(reg.download('bad'));
    expect(f.code).toBe('INVALID_ARGUMENT');
    expect(f.detail).toMatchObject({ id: 'bad', part: 'decoder', reason: 'sha256-mismatch', expected: wrong, actual: sha(bodies['/dec.onnx']!) });
    expect(f.message).toContain(wrong);
    expect(f.message).toContain(sha(bodies['/dec.onnx']!));
    // The encoder matched, but a pair arrives whole or not at all.
    expect(listing(reg.cacheDir)).toEqual([]);
    expect(reg.get('bad')).toMatchObject({ encoderPath: null, decoderPath: null });
  });

  it('leaves nothing behind on Cancel or when a server answers an error', async () => {
    if (!encoderFile || !decoderFile) return;
    const { reg } = registryWith([manifest({ id: 'stop' }), manifest({ id: 'gone', decoder: { url: `${base}/missing.onnx` } })]);
    let seen = 0;
    const cancelled = await failure(reg.download('stop', { onProgress: () => seen++, isCancelled: () => seen > 3 }));
    expect(cancelled.code).toBe('CANCELLED');
    expect(listing(reg.cacheDir)).toEqual([]);
    const gone = await failure(reg.download('gone'));
    expect(gone).toMatchObject({ code: 'FILE_NOT_FOUND', detail: { part: 'decoder', status: 404 } });
    expect(listing(reg.cacheDir)).toEqual([]);
  });

  it('records the checksums of a first download when the manifest has none, and holds later ones to them', async () => {
    if (!encoderFile || !decoderFile) return;
    const { reg } = registryWith([manifest({ id: 'tofu', encoder: { url: `${base}/enc.onnx` }, decoder: { url: `${base}/dec.onnx` } })]);
    await reg.download('tofu');
    expect(fs.readFileSync(path.join(reg.cacheDir, 'tofu.encoder.onnx.sha256'), 'utf8').trim()).toBe(sha(bodies['/enc.onnx']!));
    expect(fs.readFileSync(path.join(reg.cacheDir, 'tofu.decoder.onnx.sha256'), 'utf8').trim()).toBe(sha(bodies['/dec.onnx']!));
    // Upstream "replaced" the encoder: the next download of it is refused.
    fs.writeFileSync(path.join(reg.cacheDir, 'tofu.encoder.onnx.sha256'), `${'0'.repeat(64)}\n`);
    fs.rmSync(path.join(reg.cacheDir, 'tofu.encoder.onnx'));
    expect((await failure(reg.download('tofu'))).detail).toMatchObject({ part: 'encoder', reason: 'sha256-mismatch' });
    expect(fs.existsSync(path.join(reg.cacheDir, 'tofu.encoder.onnx'))).toBe(false);
    expect(fs.existsSync(path.join(reg.cacheDir, 'tofu.decoder.onnx'))).toBe(true);
  });

  it('downloads through an injected fetch', async () => {
    if (!encoderFile || !decoderFile) return;
    const { reg } = registryWith([manifest({ id: 'injected', encoder: { url: 'https://example.invalid/e.onnx' }, decoder: { url: 'https://example.invalid/d.onnx' } })]);
    const asked: string[] = [];
    const entry = await reg.download('injected', {
      fetch: (async (url: string) => {
        asked.push(url);
        return new Response(new Uint8Array(url.endsWith('e.onnx') ? bodies['/enc.onnx']! : bodies['/dec.onnx']!));
      }) as unknown as typeof fetch,
    });
    expect(asked.sort()).toEqual(['https://example.invalid/d.onnx', 'https://example.invalid/e.onnx']);
    expect(fs.readFileSync(entry.decoderPath!).equals(bodies['/dec.onnx']!)).toBe(true);
  });
});

describe('SAM-family model registry', () => {
  it('says how to get the files of a model that is not on disk', () => {
    const { reg } = registryWith([manifest({ id: 'remote' })]);
    const e = (() => {
      try {
        reg.requireFiles('remote');
      } catch (err) {
        return err;
      }
      return null;
    })();
    expect(isAppError(e) && e.code).toBe('NOT_FOUND');
    expect((e as Error).message).toBe(
      `segmentation model "remote": its encoder is not downloaded yet (download it from ${base}/enc.onnx); its decoder is not downloaded yet (download it from ${base}/dec.onnx)`,
    );
    expect(() => reg.get('nothing')).toThrow(/"nothing" is not in the registry/);
  });

  it('adds a custom pair in the config folder, remembered across registries, never shadowing a shipped id', () => {
    if (!encoderFile || !decoderFile) return;
    const { reg, manifestDir, configDir } = registryWith([manifest({ id: 'shipped' })]);
    const added = reg.add(encoderFile, decoderFile, manifest({ id: 'mine', encoder: { file: 'ignored' }, decoder: { file: 'ignored' } }));
    expect(added).toMatchObject({ origin: 'custom', encoderPath: encoderFile, decoderPath: decoderFile, downloadable: false });
    expect(added.manifest.encoder).toEqual({ file: encoderFile });
    expect(listing(configDir)).toEqual(['custom-sam-models.json']);
    const again = new SamModelRegistry({ manifestDir, configDir });
    expect(again.list().map((e) => [e.manifest.id, e.origin])).toEqual([
      ['shipped', 'builtin'],
      ['mine', 'custom'],
    ]);
    expect(again.requireFiles('mine')).toMatchObject({ encoderPath: encoderFile, decoderPath: decoderFile });
    expect(() => reg.add(encoderFile, decoderFile, manifest({ id: 'shipped' }))).toThrow(/taken by a shipped model/);
    expect(() => reg.add(path.join(configDir, 'nope.onnx'), decoderFile, manifest({ id: 'y' }))).toThrow(/nope.onnx: does not exist/);
    expect(() => reg.add(encoderFile, decoderFile, { ...manifest({ id: 'z' }), inputSize: 3 })).toThrow(/inputSize/);
    // A shipped manifest arriving later with a custom pair's id hides the custom one rather than being shadowed.
    fs.writeFileSync(path.join(manifestDir, 'mine.json'), JSON.stringify(manifest({ id: 'mine' })));
    expect(again.get('mine').origin).toBe('builtin');
    expect(again.list().filter((e) => e.manifest.id === 'mine')).toHaveLength(1);
    // A custom pair whose file went away says which one.
    const gone = path.join(tempDir(), 'enc.onnx');
    fs.copyFileSync(encoderFile, gone);
    reg.add(gone, decoderFile, manifest({ id: 'moved' }));
    fs.rmSync(gone);
    expect(() => reg.requireFiles('moved')).toThrow(`its encoder file ${gone} is missing`);
  });

  it('reads a manifest file with its file paths relative to its folder', () => {
    const dir = tempDir();
    const file = path.join(dir, 'sub', 'pair.json');
    fs.mkdirSync(path.dirname(file));
    fs.writeFileSync(file, JSON.stringify({ ...manifest({ id: 'rel' }), encoder: { file: 'enc.onnx' }, decoder: { file: '../dec.onnx', sha256: 'a'.repeat(64) } }));
    const m = readSamManifestFile(file);
    expect(m.encoder).toEqual({ file: path.join(dir, 'sub', 'enc.onnx') });
    expect(m.decoder).toEqual({ file: path.join(dir, 'dec.onnx'), sha256: 'a'.repeat(64) });
    fs.writeFileSync(file, JSON.stringify({ ...manifest({ id: 'rel' }), family: 'yolo' }));
    expect(() => readSamManifestFile(file)).toThrow(`${file}: not a valid interactive-segmentation manifest: family:`);
    expect(() => readSamManifestFile(path.join(dir, 'none.json'))).toThrow(/does not exist/);
  });
});

describe('shipped SAM-family manifests', () => {
  it('all parse, download both files from a URL, and are not listed among the detectors', () => {
    const configDir = tempDir();
    const reg = new SamModelRegistry({ manifestDir: path.join(repoRoot, 'models', 'interactive'), configDir });
    const list = reg.list();
    expect(list.map((e) => [e.manifest.id, e.manifest.family]).sort()).toEqual([
      ['efficientvit-sam-l0', 'efficientvit-sam'],
      ['mobile-sam', 'sam'],
      ['sam2.1-hiera-tiny', 'sam2'],
    ]);
    for (const e of list) {
      expect(e).toMatchObject({ origin: 'builtin', encoderPath: null, decoderPath: null, downloadable: true });
      expect(e.manifest.encoder.url).toMatch(/^https:\/\//);
      expect(e.manifest.decoder.url).toMatch(/^https:\/\//);
      expect(e.manifest.licence).toBeTruthy();
      expect(e.manifest.notes).toBeTruthy();
    }
    const detectors = new ModelRegistry({ manifestDir: path.join(repoRoot, 'models'), configDir }).list().map((e) => e.manifest.id);
    expect(detectors.some((id) => list.some((e) => e.manifest.id === id))).toBe(false);
  });
});

describe('segment:* contract entries', () => {
  it('inspects the contract pair in the inference worker and proposes the sam family; adds it; refuses a detector as encoder', async () => {
    if (!encoderFile || !decoderFile || !yoloFile) return;
    const ws = new Workspace({ configDir: tempDir(), mode: 'web', version: 'test', emit: () => {} });
    try {
      const inspection = await ok(ws, 'segment:inspect', { encoder: encoderFile, decoder: decoderFile });
      expect(inspection.encoder).toEqual({ inputs: [{ name: 'input_image', dims: [1, 3, 1024, 1024] }], outputs: [{ name: 'image_embeddings', dims: [1, 256, 64, 64] }] });
      expect(inspection.decoder.inputs.map((t) => t.name)).toEqual(['image_embeddings', 'point_coords', 'point_labels', 'mask_input', 'has_mask_input', 'orig_im_size']);
      expect(inspection.decoder.outputs.map((t) => t.name)).toEqual(['masks', 'iou_predictions', 'low_res_masks']);
      expect(inspection).toMatchObject({ family: 'sam', problems: [], proposed: { id: 'sam_contract', family: 'sam', inputSize: 1024, encoder: { file: encoderFile }, decoder: { file: decoderFile } } });

      const bad = await ok(ws, 'segment:inspect', { encoder: yoloFile, decoder: decoderFile });
      expect(bad.family).toBeNull();
      expect(bad.proposed).toBeNull();
      const yoloOut = bad.encoder.outputs[0]!;
      expect(bad.problems.slice(1)).toEqual([`encoder output ${yoloOut.name} is [${yoloOut.dims.join(',')}], expected [1,256,64,64]`]);
      const refused = await fails(ws, 'segment:add', { encoder: yoloFile, decoder: decoderFile });
      expect(refused.code).toBe('UNSUPPORTED_FORMAT');
      expect(refused.message).toContain(`encoder output ${yoloOut.name} is`);
      const swapped = await ok(ws, 'segment:inspect', { encoder: decoderFile, decoder: encoderFile });
      expect(swapped.problems).toEqual([`encoder and decoder are swapped: ${decoderFile} takes the prompts (point_coords, point_labels, mask_input, has_mask_input, orig_im_size) and ${encoderFile} takes the image`]);

      const missing = await fails(ws, 'segment:inspect', { encoder: path.join(tempDir(), 'none.onnx'), decoder: decoderFile });
      expect(missing.code).toBe('FILE_NOT_FOUND');
      expect(missing.message).toMatch(/none\.onnx: does not exist \(the encoder\)$/);

      const added = await ok(ws, 'segment:add', { encoder: encoderFile, decoder: decoderFile });
      expect(added).toMatchObject({ origin: 'custom', encoderPath: encoderFile, decoderPath: decoderFile, manifest: { id: 'sam_contract', family: 'sam' } });
      const named = await ok(ws, 'segment:add', { encoder: encoderFile, decoder: decoderFile, manifest: { ...manifest({ id: 'contract' }), name: 'Contract pair' } });
      expect(named.manifest).toMatchObject({ id: 'contract', name: 'Contract pair', encoder: { file: encoderFile } });
      const wrongFamily = await fails(ws, 'segment:add', { encoder: encoderFile, decoder: decoderFile, manifest: { ...manifest({ id: 'x' }), family: 'sam2' } });
      expect(wrongFamily.message).toMatch(/the manifest says family "sam2", but the files follow the "sam" contract/);
      const models = await ok(ws, 'segment:models', {});
      expect(models.filter((e) => e.origin === 'custom').map((e) => e.manifest.id)).toEqual(['sam_contract', 'contract']);
    } finally {
      await ws.dispose();
    }
  }, 60_000);

  it('gives a proposed id that is taken another suffix, re-adds the same files in place, and refuses a chosen id of other files', async () => {
    if (!encoderFile || !decoderFile) return;
    const copy = (from: string, name: string): string => {
      const to = path.join(tempDir(), name);
      fs.copyFileSync(from, to);
      return to;
    };
    // Both propose "sam"; one encoder with two decoders proposes "mobile_sam" twice; "mobile-sam" is shipped.
    const plain = copy(encoderFile, 'encoder.onnx');
    const image = copy(encoderFile, 'image_encoder.onnx');
    const mobile = copy(encoderFile, 'mobile_sam.encoder.onnx');
    const dec2 = copy(decoderFile, 'other_decoder.onnx');
    const shippedName = copy(encoderFile, 'mobile-sam.encoder.onnx');
    const ws = new Workspace({ configDir: tempDir(), mode: 'web', version: 'test', emit: () => {} });
    try {
      const id = async (encoder: string, decoder: string) => (await ok(ws, 'segment:add', { encoder, decoder })).manifest.id;
      expect(await id(plain, decoderFile)).toBe('sam');
      expect(await id(image, decoderFile)).toBe('sam-2');
      expect(await id(mobile, decoderFile)).toBe('mobile_sam');
      expect(await id(mobile, dec2)).toBe('mobile_sam-2');
      expect(await id(shippedName, decoderFile)).toBe('mobile-sam-2');
      // The same two files again: the entry is replaced, not duplicated.
      expect(await id(image, decoderFile)).toBe('sam-2');
      const custom = (await ok(ws, 'segment:models', {})).filter((e) => e.origin === 'custom');
      expect(custom.map((e) => [e.manifest.id, e.encoderPath, e.decoderPath])).toEqual([
        ['sam', plain, decoderFile],
        ['mobile_sam', mobile, decoderFile],
        ['mobile_sam-2', mobile, dec2],
        ['mobile-sam-2', shippedName, decoderFile],
        ['sam-2', image, decoderFile],
      ]);
      // A chosen id taken by a custom pair of other files is refused, naming both of its files.
      const taken = await fails(ws, 'segment:add', { encoder: image, decoder: dec2, manifest: { ...manifest({ id: 'sam' }), name: 'Mine' } });
      expect(taken.code).toBe('INVALID_ARGUMENT');
      expect(taken.message).toBe(`segmentation model id "sam" is taken by the custom pair ${plain} + ${decoderFile}; give the manifest another id`);
      // Chosen for the same files, it renames the entry in place.
      const renamed = await ok(ws, 'segment:add', { encoder: plain, decoder: decoderFile, manifest: { ...manifest({ id: 'sam' }), name: 'Renamed' } });
      expect(renamed.manifest.name).toBe('Renamed');
      const after = (await ok(ws, 'segment:models', {})).filter((e) => e.origin === 'custom');
      expect(after).toHaveLength(5);
      expect(after.find((e) => e.manifest.id === 'sam')).toMatchObject({ encoderPath: plain, manifest: { name: 'Renamed' } });
    } finally {
      await ws.dispose();
    }
  }, 60_000);

  it('downloads a shipped pair as a job with progress, and Cancel through jobs:cancel leaves nothing', async () => {
    if (!encoderFile || !decoderFile) return;
    const { manifestDir, configDir } = registryWith([manifest({ id: 'pair' })]);
    const saved = process.env['TESSERA_MODELS_DIR'];
    process.env['TESSERA_MODELS_DIR'] = path.dirname(manifestDir);
    const events: Events['job:progress'][] = [];
    let ws: Workspace | null = null;
    try {
      let cancelOnFirst: string | null = null;
      ws = new Workspace({
        configDir,
        mode: 'web',
        version: 'test',
        emit: (event, payload) => {
          if (event !== 'job:progress') return;
          const p = payload as Events['job:progress'];
          events.push(p);
          if (cancelOnFirst === p.jobId && p.done > 0) void ok(ws!, 'jobs:cancel', { jobId: p.jobId });
        },
      });
      cancelOnFirst = 'dl1';
      const cancelled = await fails(ws, 'segment:download', { jobId: 'dl1', id: 'pair' });
      expect(cancelled.code).toBe('CANCELLED');
      expect(listing(path.join(configDir, 'models', 'interactive'))).toEqual([]);
      expect((await ok(ws, 'segment:models', {}))[0]).toMatchObject({ encoderPath: null, decoderPath: null });

      const done = await ok(ws, 'segment:download', { jobId: 'dl2', id: 'pair' });
      expect(done).toMatchObject({ encoderPath: path.join(configDir, 'models', 'interactive', 'pair.encoder.onnx') });
      const second = events.filter((e) => e.jobId === 'dl2');
      const total = bodies['/enc.onnx']!.length + bodies['/dec.onnx']!.length;
      expect(second.every((e) => e.kind === 'sam-model-download')).toBe(true);
      expect(second.at(-1)).toMatchObject({ done: total, total });
      expect(events.some((e) => e.jobId === 'dl1')).toBe(true);
    } finally {
      if (saved === undefined) delete process.env['TESSERA_MODELS_DIR'];
      else process.env['TESSERA_MODELS_DIR'] = saved;
      await ws?.dispose();
    }
  });
});
