import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { WebSocketServer, type WebSocket } from 'ws';
import type { EventName, Events } from '../common/contract';
import { dispatch } from '../services/dispatch';
import { MEDIA_CACHE_CONTROL, resolveMedia } from '../services/mediaRoute';
import { isInside } from '../services/paths';
import { Workspace } from '../services/workspace';

/**
 * Browser mode: the real renderer served on 127.0.0.1 and the real services behind the same
 * contract, carried over a WebSocket. Every request needs the random token (given once in the
 * URL, then kept in an HttpOnly cookie); Host and Origin are checked against DNS rebinding.
 */
export interface WebServerOptions {
  /** Built renderer (out/renderer). */
  staticDir: string;
  configDir: string;
  version: string;
  port?: number;
  token?: string;
  maxPixels?: number;
}

export interface WebServer {
  url: string;
  port: number;
  token: string;
  workspace: Workspace;
  close(): Promise<void>;
}

const COOKIE = 'tessera_token';
const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.json': 'application/json',
};
export const WEB_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'";

export async function startWebServer(opts: WebServerOptions): Promise<WebServer> {
  const token = opts.token ?? crypto.randomBytes(24).toString('base64url');
  const tokenBuf = Buffer.from(token);
  const sockets = new Set<WebSocket>();
  const emit = <E extends EventName>(event: E, payload: Events[E]): void => {
    const msg = JSON.stringify({ t: 'event', event, payload });
    for (const s of sockets) if (s.readyState === s.OPEN) s.send(msg);
  };
  const workspace = new Workspace({ configDir: opts.configDir, mode: 'web', version: opts.version, emit, maxPixels: opts.maxPixels });
  let port = 0;

  const tokenOk = (candidate: string | undefined): boolean => {
    if (!candidate) return false;
    const b = Buffer.from(candidate);
    return b.length === tokenBuf.length && crypto.timingSafeEqual(b, tokenBuf);
  };
  const cookieToken = (req: http.IncomingMessage): string | undefined => {
    const header = req.headers.cookie ?? '';
    for (const part of header.split(';')) {
      const [k, ...v] = part.trim().split('=');
      if (k === COOKIE) return v.join('=');
    }
    return undefined;
  };
  const hostOk = (req: http.IncomingMessage): boolean =>
    req.headers.host === `127.0.0.1:${port}` || req.headers.host === `localhost:${port}`;

  const server = http.createServer((req, res) => {
    void handle(req, res).catch((e) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(String((e as Error).message));
    });
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', `http://127.0.0.1:${port}`);
    if (!hostOk(req)) return deny(res, 421, 'unexpected Host header');
    if (req.method !== 'GET' && req.method !== 'HEAD') return deny(res, 405, 'method not allowed');
    const given = url.searchParams.get('token');
    if (given !== null) {
      if (!tokenOk(given)) return deny(res, 403, 'bad token');
      res.writeHead(302, {
        location: '/',
        'set-cookie': `${COOKIE}=${token}; HttpOnly; SameSite=Strict; Path=/`,
        'cache-control': 'no-store',
      });
      return void res.end();
    }
    if (!tokenOk(cookieToken(req))) return deny(res, 403, 'open the URL with its token first');

    if (url.pathname.startsWith('/media/')) {
      const r = await resolveMedia(workspace, url.pathname.slice('/media/'.length));
      if (!r.ok) {
        res.writeHead(r.status, { 'content-type': 'application/json' });
        return void res.end(JSON.stringify(r.error));
      }
      const headers = { 'cache-control': MEDIA_CACHE_CONTROL, etag: r.etag, 'x-content-type-options': 'nosniff' };
      if (req.headers['if-none-match'] === r.etag) {
        res.writeHead(304, headers);
        return void res.end();
      }
      res.writeHead(200, { ...headers, 'content-type': r.mime });
      fs.createReadStream(r.file).pipe(res);
      return;
    }
    const rel = url.pathname === '/' ? 'index.html' : decodeURIComponent(url.pathname.slice(1));
    const file = path.resolve(opts.staticDir, rel);
    if (!isInside(opts.staticDir, file) || !fs.existsSync(file) || !fs.statSync(file).isFile()) return deny(res, 404, 'not found');
    res.writeHead(200, {
      'content-type': MIME[path.extname(file)] ?? 'application/octet-stream',
      'content-security-policy': WEB_CSP,
      'x-content-type-options': 'nosniff',
      'cache-control': 'no-cache',
    });
    fs.createReadStream(file).pipe(res);
  }

  const wss = new WebSocketServer({ noServer: true, maxPayload: 16 * 1024 * 1024 });
  server.on('upgrade', (req, socket, head) => {
    const origin = req.headers.origin;
    const originOk = origin === `http://127.0.0.1:${port}` || origin === `http://localhost:${port}`;
    const url = new URL(req.url ?? '/', `http://127.0.0.1:${port}`);
    if (url.pathname !== '/ws' || !hostOk(req) || !originOk || !tokenOk(cookieToken(req))) {
      socket.write('HTTP/1.1 403 Forbidden\r\n\r\n');
      socket.destroy();
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      sockets.add(ws);
      ws.on('close', () => sockets.delete(ws));
      ws.on('message', (data) => {
        let msg: { t?: unknown; id?: unknown; channel?: unknown; args?: unknown };
        try {
          msg = JSON.parse(String(data)) as typeof msg;
        } catch {
          return;
        }
        if (msg.t !== 'call' || typeof msg.id !== 'number' || typeof msg.channel !== 'string') return;
        const id = msg.id;
        void dispatch(workspace.handlers, msg.channel, msg.args).then((result) => {
          if (ws.readyState === ws.OPEN) ws.send(JSON.stringify({ t: 'result', id, result }));
        });
      });
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  port = (server.address() as { port: number }).port;

  return {
    url: `http://127.0.0.1:${port}/?token=${token}`,
    port,
    token,
    workspace,
    close: async () => {
      for (const s of sockets) s.terminate();
      wss.close();
      await new Promise<void>((r) => server.close(() => r()));
      workspace.close();
    },
  };
}

function deny(res: http.ServerResponse, status: number, message: string): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
  res.end(message);
}
