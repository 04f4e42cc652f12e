import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAppError } from '../../src-main/common/errors';
import type { ModelManifest } from '../../src-main/common/inference/types';
import type { DownloadProgress } from '../../src-main/common/prelabel';
import { labelsBeside, ModelRegistry } from '../../src-main/services/models';
import { ultralyticsDetectManifest } from '../helpers/models';
import { repoRoot, sharedPath, tempDir } from '../helpers/shared';

/** A model-sized body served in several chunks, so progress is reported more than once. */
const body = randomBytes(300_000);
const goodSha = createHash('sha256').update(body).digest('hex');
let server: http.Server;
let base: string;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    if (req.url !== '/weights.onnx') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(body.length) });
    let at = 0;
    const next = () => {
      if (at >= body.length) return void res.end();
      const part = body.subarray(at, at + 64 * 1024);
      at += part.length;
      res.write(part, next);
    };
    next();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

function manifest(over: Partial<ModelManifest>): ModelManifest {
  return ultralyticsDetectManifest({ id: 'tiny', name: 'Tiny', classes: ['person', 'bowl'], ...over });
}

function registryWith(manifests: ModelManifest[]): { reg: ModelRegistry; configDir: string } {
  const dir = tempDir();
  const manifestDir = path.join(dir, 'models');
  fs.mkdirSync(manifestDir);
  for (const m of manifests) fs.writeFileSync(path.join(manifestDir, `${m.id}.json`), JSON.stringify(m));
  const configDir = path.join(dir, 'config');
  return { reg: new ModelRegistry({ manifestDir, configDir }), configDir };
}

async function codeOf(p: Promise<unknown>): Promise<{ code: string; detail: Record<string, unknown> }> {
  try {
    await p;
  } catch (e) {
    if (isAppError(e)) return { code: e.code, detail: (e.detail ?? {}) as Record<string, unknown> };
    throw e;
  }
  throw new Error('expected a failure');
}

describe('model downloads', () => {
  it('downloads with progress events, checks the sha256 and keeps the file', async () => {
    const { reg } = registryWith([manifest({ id: 'good', url: `${base}/weights.onnx`, sha256: goodSha })]);
    expect(reg.get('good').path).toBeNull();
    const events: DownloadProgress[] = [];
    const entry = await reg.download('good', { onProgress: (p) => events.push(p) });
    expect(entry.path).toBe(path.join(reg.cacheDir, 'good.onnx'));
    expect(createHash('sha256').update(fs.readFileSync(entry.path!)).digest('hex')).toBe(goodSha);
    expect(events.length).toBeGreaterThan(2);
    expect(events.every((e) => e.total === body.length)).toBe(true);
    expect(events.map((e) => e.received)).toEqual([...events.map((e) => e.received)].sort((a, b) => a - b));
    expect(events.at(-1)!.received).toBe(body.length);
    expect(fs.readdirSync(reg.cacheDir)).toEqual(['good.onnx']);
    expect(reg.requireFile('good').path).toBe(entry.path);
  });

  it('refuses a checksum mismatch and leaves no file behind', async () => {
    const wrong = createHash('sha256').update('something else').digest('hex');
    const { reg } = registryWith([manifest({ id: 'bad', url: `${base}/weights.onnx`, sha256: wrong })]);
    const { code, detail } = await codeOf(reg.download('bad'));
    expect(code).toBe('INVALID_ARGUMENT');
    expect(detail['reason']).toBe('sha256-mismatch');
    expect(detail['actual']).toBe(goodSha);
    expect(fs.readdirSync(reg.cacheDir)).toEqual([]);
    expect(reg.get('bad').path).toBeNull();
  });

  it('reports an HTTP error and a cancel without leaving a partial file', async () => {
    const { reg } = registryWith([
      manifest({ id: 'gone', url: `${base}/missing.onnx`, sha256: goodSha }),
      manifest({ id: 'stop', url: `${base}/weights.onnx`, sha256: goodSha }),
    ]);
    expect((await codeOf(reg.download('gone'))).code).toBe('FILE_NOT_FOUND');
    let seen = 0;
    expect((await codeOf(reg.download('stop', { isCancelled: () => ++seen > 2 }))).code).toBe('CANCELLED');
    expect(fs.readdirSync(reg.cacheDir)).toEqual([]);
  });
});

describe('model registry', () => {
  it('lists shipped manifests, adds a custom model in the config folder and refuses bad manifests', () => {
    const onnx = sharedPath('models/yolov8n_int8.onnx');
    if (!onnx) return;
    const { reg, configDir } = registryWith([manifest({ id: 'shipped', url: `${base}/weights.onnx`, sha256: goodSha })]);
    const added = reg.add(onnx, manifest({ id: 'mine' }));
    expect(added).toMatchObject({ origin: 'custom', path: onnx, downloadable: false });
    expect(reg.list().map((e) => [e.manifest.id, e.origin])).toEqual([
      ['shipped', 'builtin'],
      ['mine', 'custom'],
    ]);
    // Remembered across registry instances, in the user config folder.
    expect(new ModelRegistry({ manifestDir: path.join(configDir, '..', 'models'), configDir }).get('mine').path).toBe(onnx);
    expect(() => reg.add(onnx, manifest({ id: 'shipped' }))).toThrow(/taken by a shipped model/);
    expect(() => reg.add(onnx, { ...manifest({ id: 'x' }), thresholds: { score: 2, iou: 0.5, maxDetections: 1 } })).toThrow(/thresholds.score/);
    expect(() => reg.add(path.join(configDir, 'nope.onnx'), manifest({ id: 'y' }))).toThrow(/does not exist/);
    expect(() => reg.get('unknown')).toThrow(/not in the registry/);
  });
});

describe('shipped manifests', () => {
  it('all parse, and none has weights on disk before a download', () => {
    const reg = new ModelRegistry({ manifestDir: path.join(repoRoot, 'models'), configDir: tempDir() });
    const list = reg.list();
    expect(list.length).toBeGreaterThan(0);
    for (const e of list) expect(e).toMatchObject({ origin: 'builtin', path: null, downloadable: Boolean(e.manifest.url) });
  });

  it('records the checksum of a first download when the manifest has none, and holds later ones to it', async () => {
    const { reg } = registryWith([manifest({ id: 'tofu', url: `${base}/weights.onnx` })]);
    await reg.download('tofu');
    expect(fs.readFileSync(path.join(reg.cacheDir, 'tofu.sha256'), 'utf8').trim()).toBe(goodSha);
    fs.writeFileSync(path.join(reg.cacheDir, 'tofu.sha256'), `${'0'.repeat(64)}\n`);
    fs.rmSync(path.join(reg.cacheDir, 'tofu.onnx'));
    expect((await codeOf(reg.download('tofu'))).detail['reason']).toBe('sha256-mismatch');
    expect(fs.existsSync(path.join(reg.cacheDir, 'tofu.onnx'))).toBe(false);
  });
});

describe('labelsBeside', () => {
  it('reads a plain labels file beside the model and passes over a link, which may point outside the allowed folders', () => {
    const outside = tempDir();
    const secret = path.join(outside, 'secret');
    fs.writeFileSync(secret, 'root:x:0:0\nhunter2\n');
    const dir = tempDir();
    const model = path.join(dir, 'net.onnx');
    fs.writeFileSync(model, 'not read');
    fs.symlinkSync(secret, path.join(dir, 'labels.txt'));
    fs.symlinkSync(secret, path.join(dir, 'net.json'));
    expect(labelsBeside(model)).toBeNull();
    fs.writeFileSync(path.join(dir, 'net.txt'), 'cat\ndog\n');
    expect(labelsBeside(model)).toEqual({ file: path.join(dir, 'net.txt'), names: ['cat', 'dog'] });
  });
});
