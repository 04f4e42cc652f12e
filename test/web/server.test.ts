import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startWebServer, type WebServer } from '../../src-main/web/server';
import { makeImages } from '../helpers/images';
import { tempDir } from '../helpers/shared';

let server: WebServer;
let staticDir: string;
let cookie: string;

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
  server = await startWebServer({ staticDir, configDir: tempDir(), version: 'test' });
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
    const dir = tempDir();
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
