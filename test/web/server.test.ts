import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startWebServer, type WebServer } from '../../src-main/web/server';
import { Dataset } from '../../src-main/services/dataset';
import { makeImages } from '../helpers/images';
import { tempDir } from '../helpers/shared';

let server: WebServer;
let staticDir: string;
let cookie: string;
/** The one folder the server may use; everything the tests write goes below it. */
let root: string;
let configDir: string;

function get(pathname: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port: server.port, path: pathname, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
  });
}

function connect(headers: Record<string, string>): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/ws`, { headers });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
  });
}

function call(ws: WebSocket, id: number, channel: string, args: unknown): Promise<{ ok: boolean; value?: unknown; error?: { code: string } }> {
  return new Promise((resolve) => {
    const onMsg = (data: WebSocket.RawData) => {
      const msg = JSON.parse(String(data)) as { t: string; id?: number; result?: never };
      if (msg.t === 'result' && msg.id === id) {
        ws.off('message', onMsg);
        resolve(msg.result!);
      }
    };
    ws.on('message', onMsg);
    ws.send(JSON.stringify({ t: 'call', id, channel, args }));
  });
}

beforeAll(async () => {
  staticDir = tempDir();
  fs.writeFileSync(path.join(staticDir, 'index.html'), '<!doctype html><title>t</title>');
  root = tempDir();
  configDir = tempDir();
  server = await startWebServer({ staticDir, configDir, version: 'test', roots: [root] });
});
afterAll(() => server.close());

describe('browser-mode server', () => {
  it('listens on the loopback address only', () => {
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]{20,}$/);
  });

  it('refuses requests without the token, with a wrong token or a foreign Host', async () => {
    expect((await get('/')).status).toBe(403);
    expect((await get('/?token=wrong')).status).toBe(403);
    expect((await get('/', { cookie: 'tessera_token=wrong' })).status).toBe(403);
    expect((await get(`/?token=${server.token}`, { host: 'evil.example:80' })).status).toBe(421);
  });

  it('trades the token for an HttpOnly cookie, then serves the renderer with a strict CSP', async () => {
    const r = await get(`/?token=${server.token}`);
    expect(r.status).toBe(302);
    const setCookie = r.headers['set-cookie']![0]!;
    expect(setCookie).toMatch(/HttpOnly/);
    expect(setCookie).toMatch(/SameSite=Strict/);
    cookie = setCookie.split(';')[0]!;
    const page = await get('/', { cookie });
    expect(page.status).toBe(200);
    expect(page.headers['content-security-policy']).toMatch(/script-src 'self'/);
    expect((await get('/../../etc/passwd', { cookie })).status).toBe(404);
    expect((await get('/%2e%2e/%2e%2e/etc/passwd', { cookie })).status).toBe(404);
  });

  it('refuses a WebSocket without the cookie or from another origin', async () => {
    await expect(connect({ origin: `http://127.0.0.1:${server.port}` })).rejects.toThrow(/403/);
    await expect(connect({ cookie, origin: 'http://evil.example' })).rejects.toThrow(/403/);
  });

  it('carries the contract over the WebSocket and streams progress events', async () => {
    const ws = await connect({ cookie, origin: `http://127.0.0.1:${server.port}` });
    const events: { event: string; payload: { jobId: string } }[] = [];
    ws.on('message', (d) => {
      const m = JSON.parse(String(d)) as { t: string; event: string; payload: { jobId: string } };
      if (m.t === 'event') events.push(m);
    });
    const dir = fs.mkdtempSync(path.join(root, 'w-'));
    await makeImages(path.join(dir, 'imgs'));
    expect(await call(ws, 1, 'dataset:create', { path: path.join(dir, 'w.tessera') })).toMatchObject({ ok: true });
    expect(await call(ws, 2, 'dataset:create', { path: 7 })).toMatchObject({ ok: false, error: { code: 'INVALID_ARGUMENT' } });
    expect(await call(ws, 3, 'images:import', { jobId: 'web1', paths: [path.join(dir, 'imgs')] })).toMatchObject({
      ok: true,
      value: { imported: 8 },
    });
    expect(events.some((e) => e.event === 'job:progress' && e.payload.jobId === 'web1')).toBe(true);
    const list = (await call(ws, 4, 'images:list', { limit: 10 })) as { value: { items: { id: number; path: string; media: string }[] } };
    const rot = list.value.items.find((i) => i.path.endsWith('g-rot.jpg'))!;

    const thumb = await get(`/media/thumb/${rot.media}`, { cookie });
    expect(thumb.status).toBe(200);
    expect(thumb.headers['content-type']).toBe('image/webp');
    const sharp = (await import('sharp')).default;
    const m = await sharp(thumb.body).metadata();
    expect([m.width, m.height]).toEqual([20, 60]);
    expect((await get(`/media/thumb/${rot.media}`)).status).toBe(403);
    expect((await get(`/media/view/${rot.media.replace(/\/\d+\//, '/999999/')}`, { cookie })).status).toBe(404);
    // The bare id of the old address shape names no dataset and is refused.
    expect((await get(`/media/thumb/${rot.id}`, { cookie })).status).toBe(400);
    expect((await get('/media/view/..%2F..%2Fetc', { cookie })).status).toBe(400);
    ws.close();
  });
});

describe('browser-mode URLs and tokens', () => {
  it('answers 400 to a path with malformed percent-encoding', async () => {
    const r = await get('/%zz', { cookie });
    expect(r.status).toBe(400);
    expect(r.body.toString()).toMatch(/percent-encoding/);
    expect((await get('/a%E0%A4%A', { cookie })).status).toBe(400);
  });

  it('refuses a URL token once it has been traded for the session cookie', async () => {
    // The first URL's token was spent by the exchange above.
    expect((await get(`/?token=${server.token}`)).status).toBe(403);
    const fresh = new URL(server.newUrl());
    expect(fresh.origin).toBe(`http://127.0.0.1:${server.port}`);
    const first = await get(`${fresh.pathname}${fresh.search}`);
    expect(first.status).toBe(302);
    const session = first.headers['set-cookie']![0]!.split(';')[0]!;
    expect(session).not.toContain(fresh.searchParams.get('token')!);
    expect((await get('/', { cookie: session })).status).toBe(200);
    const again = await get(`${fresh.pathname}${fresh.search}`);
    expect(again.status).toBe(403);
    expect(again.headers['set-cookie']).toBeUndefined();
    // A browser that already holds the session may reopen the spent link.
    expect((await get(`${fresh.pathname}${fresh.search}`, { cookie: session })).status).toBe(302);
    // Every minted URL carries a token of its own.
    expect(new URL(server.newUrl()).searchParams.get('token')).not.toBe(fresh.searchParams.get('token'));
  });
});

describe('browser-mode path confinement', () => {
  let ws: WebSocket;
  let id = 100;
  const callOk = (channel: string, args: unknown) => call(ws, ++id, channel, args);
  beforeAll(async () => {
    ws = await connect({ cookie, origin: `http://127.0.0.1:${server.port}` });
  });
  afterAll(() => ws.close());

  it('refuses datasets, imports and exports outside the allowed folders with PATH_NOT_ALLOWED', async () => {
    // Only folders of the test's own are written to, also where the refusal is missing.
    const outside = tempDir(); // a sibling of the root, not inside it
    expect(await callOk('dataset:create', { path: path.join(outside, 'x.tessera') })).toMatchObject({ ok: false, error: { code: 'PATH_NOT_ALLOWED' } });
    expect(await callOk('dataset:create', { path: path.join(root, '..', path.basename(outside), 'x.tessera') })).toMatchObject({
      ok: false,
      error: { code: 'PATH_NOT_ALLOWED' },
    });
    expect(await callOk('dataset:create', { path: path.join(root, 'in.tessera'), root: '/' })).toMatchObject({ ok: false, error: { code: 'PATH_NOT_ALLOWED' } });
    expect(fs.readdirSync(outside)).toEqual([]);

    // A permitted folder works: create, import, export.
    const dir = fs.mkdtempSync(path.join(root, 'ok-'));
    await makeImages(path.join(dir, 'imgs'));
    expect(await callOk('dataset:create', { path: path.join(dir, 'ok.tessera') })).toMatchObject({ ok: true });
    expect(await callOk('images:import', { jobId: 'conf1', paths: [path.join(dir, 'imgs')] })).toMatchObject({ ok: true, value: { imported: 8 } });
    expect(await callOk('images:import', { jobId: 'conf2', paths: [os.homedir(), '/etc'], allowOutsideRoot: true })).toMatchObject({
      ok: false,
      error: { code: 'PATH_NOT_ALLOWED' },
    });
    const exportArgs = { format: 'yolo', images: 'none' };
    expect(await callOk('interchange:export', { jobId: 'conf4', outDir: path.join(outside, 'out'), ...exportArgs })).toMatchObject({
      ok: false,
      error: { code: 'PATH_NOT_ALLOWED', message: expect.stringContaining(path.join(outside, 'out')) },
    });
    expect(fs.readdirSync(outside)).toEqual([]);
    expect(await callOk('interchange:export', { jobId: 'conf5', outDir: path.join(dir, 'out'), ...exportArgs })).toMatchObject({ ok: true });
    expect(fs.existsSync(path.join(dir, 'out', 'data.yaml'))).toBe(true);
    expect(await callOk('interchange:inspect', { path: '/etc/passwd' })).toMatchObject({ ok: false, error: { code: 'PATH_NOT_ALLOWED' } });
    expect(await callOk('models:inspect', { file: '/etc/passwd' })).toMatchObject({ ok: false, error: { code: 'PATH_NOT_ALLOWED' } });
    // A labels file is read too: one outside the roots, chosen or named by a manifest, is refused.
    const model = path.join(dir, 'model.onnx');
    expect(await callOk('models:inspect', { file: model, labels: '/etc/passwd' })).toMatchObject({ ok: false, error: { code: 'PATH_NOT_ALLOWED' } });
    const labelled = { id: 'm', name: 'm', task: 'classify', size: [224, 224], colour: 'rgb', scale: 1, letterbox: 'stretch', labels: '../../../../../../../etc/passwd', thresholds: { score: 0.1, iou: 0.5, maxDetections: 5 } };
    expect(await callOk('models:add', { file: model, manifest: labelled })).toMatchObject({ ok: false, error: { code: 'PATH_NOT_ALLOWED' } });
    // A custom embedding model is a model file like any other: outside the roots it is refused.
    const embed = { id: 'enc', name: 'enc', task: 'embed', size: [224, 224], colour: 'rgb', scale: 1, letterbox: 'stretch', output: 'embedding', embedding: { pooling: 'mean', l2: true } };
    expect(await callOk('models:add', { file: path.join(outside, 'enc.onnx'), manifest: embed })).toMatchObject({ ok: false, error: { code: 'PATH_NOT_ALLOWED' } });
    expect(await callOk('models:try', { file: path.join(outside, 'enc.onnx'), manifest: embed, imageId: 1 })).toMatchObject({ ok: false, error: { code: 'PATH_NOT_ALLOWED' } });
    // A SAM pair is two model files: either outside the roots is refused before anything reads it.
    const inside = path.join(dir, 'enc.onnx');
    for (const [encoder, decoder] of [['/etc/passwd', inside], [inside, '/etc/hostname']]) {
      expect(await callOk('segment:inspect', { encoder, decoder })).toMatchObject({ ok: false, error: { code: 'PATH_NOT_ALLOWED' } });
      expect(await callOk('segment:add', { encoder, decoder })).toMatchObject({ ok: false, error: { code: 'PATH_NOT_ALLOWED' } });
    }
  });

  it('follows links: a link inside the root that leads out of it is refused', async () => {
    const outside = tempDir();
    const link = path.join(root, 'link-out');
    fs.symlinkSync(outside, link);
    expect(await callOk('interchange:export', { jobId: 'conf6', outDir: path.join(link, 'out'), format: 'yolo', images: 'none' })).toMatchObject({
      ok: false,
      error: { code: 'PATH_NOT_ALLOWED' },
    });
    expect(fs.readdirSync(outside)).toEqual([]);
  });

  it('never reads or serves an image outside the allowed folders that a list file names', async () => {
    const outside = tempDir();
    await makeImages(outside);
    const dir = fs.mkdtempSync(path.join(root, 'list-'));
    fs.writeFileSync(path.join(dir, 'list.txt'), `${path.join(outside, 'a.jpg')}\n`);
    expect(await callOk('dataset:create', { path: path.join(dir, 'l.tessera') })).toMatchObject({ ok: true });
    // The list is inside the allowed folders; the file it names is not: reported, not read.
    const r = (await callOk('images:import', { jobId: 'list1', paths: [path.join(dir, 'list.txt')], allowOutsideRoot: true })) as {
      value: { imported: number; problems: { file: string; reason: string }[] };
    };
    expect(r.value.imported).toBe(0);
    expect(r.value.problems).toEqual([expect.objectContaining({ file: path.join(outside, 'a.jpg'), reason: expect.stringMatching(/outside the folders this server may use/) })]);
    expect(await callOk('dataset:allowExternal', { folders: [outside] })).toMatchObject({ ok: false, error: { code: 'PATH_NOT_ALLOWED' } });
  });

  it('never grants or serves an image outside the allowed folders that reached the dataset another way', async () => {
    const outside = tempDir();
    await makeImages(outside);
    const dir = fs.mkdtempSync(path.join(root, 'grant-'));
    const file = path.join(dir, 'g.tessera');
    // Made in the desktop app over the same settings, with an image from outside the folders
    // browser mode serves: that folder is granted for the dataset.
    await (await Dataset.create(file, dir)).close();
    const { Workspace } = await import('../../src-main/services/workspace');
    const own = new Workspace({ configDir, mode: 'electron', version: 'test', emit: () => {} });
    await own.handlers['dataset:open']({ path: file });
    await own.handlers['images:import']({ jobId: 'desk', paths: [path.join(outside, 'a.jpg')], recursive: true, allowOutsideRoot: true });
    expect((await own.handlers['dataset:current']({}))!.blockedFolders).toEqual([]);
    await own.close();
    // Browser mode does not honour the grant outside its folders.
    expect(await callOk('dataset:open', { path: file })).toMatchObject({ ok: true, value: { blockedFolders: [{ folder: outside, images: 1 }] } });
    const list = (await callOk('images:list', {})) as { value: { items: { media: string }[] } };
    const media = list.value.items[0]!.media;
    for (const kind of ['view', 'thumb']) expect((await get(`/media/${kind}/${media}`, { cookie })).status).toBe(403);
    expect(await callOk('dataset:allowExternal', { folders: [outside] })).toMatchObject({ ok: false, error: { code: 'PATH_NOT_ALLOWED' } });
  });

  it('refuses to open a dataset whose image folder lies outside the allowed folders', async () => {
    const file = path.join(root, 'points-out.tessera');
    await (await Dataset.create(file, tempDir())).close();
    expect(await callOk('dataset:open', { path: file })).toMatchObject({ ok: false, error: { code: 'PATH_NOT_ALLOWED' } });
    expect(await callOk('dataset:current', {})).toMatchObject({ ok: true, value: null });
    // Nor is it offered again as a recent dataset.
    const recent = (await callOk('dataset:recent', {})) as { value: { path: string }[] };
    expect(recent.value.map((r) => r.path)).not.toContain(file);
  });
});
