import crypto from 'node:crypto';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { WebSocketServer, type WebSocket } from 'ws';
import type { EventName, Events } from '../common/contract';
import { dispatch } from '../services/dispatch';
import { confinedHandlers } from '../services/pathGuard';
import { Workspace } from '../services/workspace';
import { deny, parseCall, serveMedia, serveStatic } from './serve';

/**
 * Browser mode: the real renderer served on 127.0.0.1 and the real services behind the same
 * contract, carried over a WebSocket. A URL carries a one-time token; the first request with it
 * trades it for an HttpOnly session cookie and the token is spent (the owner mints another URL with
 * `newUrl()`). Host and Origin are checked against DNS rebinding, and every path argument must lie
 * inside the configured roots: a token holder cannot read or write elsewhere on the disk.
 */
export interface WebServerOptions {
  /** Built renderer (out/renderer). */
  staticDir: string;
  configDir: string;
  version: string;
  port?: number;
  /** The one-time token of the first URL (random when not given). */
  token?: string;
  maxPixels?: number;
  /**
   * Folders every path argument (dataset, import source, export destination, model file) must lie
   * in; the user's home folder when not given.
   */
  roots?: readonly string[];
  /** Largest WebSocket message accepted; a larger one closes that socket alone with 1009. */
  maxMessageBytes?: number;
}

export interface WebServer {
  /** The first one-time URL: its token is good for one exchange for the session cookie. */
  url: string;
  port: number;
  /** The token of `url`. */
  token: string;
  /** The folders path arguments are confined to (resolved, links followed). */
  roots: readonly string[];
  /** Mints another one-time URL, e.g. for a second browser or after the first link was used. */
  newUrl(): string;
  /** The services as the server's owner calls them (scripts, tests): not confined to `roots`. */
  workspace: Workspace;
  close(): Promise<void>;
}

const COOKIE = 'tessera_session';
/**
 * The cap bounds what one message can make the server buffer: a larger one is refused by the
 * WebSocket layer as soon as its declared length (or its fragments' total) passes the cap.
 */
export const MAX_MESSAGE_BYTES = 16 * 1024 * 1024;
export const WEB_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'";

export async function startWebServer(opts: WebServerOptions): Promise<WebServer> {
  const newToken = (): string => crypto.randomBytes(24).toString('base64url');
  const digest = (t: string): string => crypto.createHash('sha256').update(t).digest('hex');
  const token = opts.token ?? newToken();
  /** Digests of URL tokens not yet exchanged; a token is removed by its first exchange. */
  const unspent = new Set<string>([digest(token)]);
  const session = crypto.randomBytes(32).toString('base64url');
  const sessionBuf = Buffer.from(session);
  const roots = (opts.roots ?? [os.homedir()]).map((r) => path.resolve(r));
  const sockets = new Set<WebSocket>();
  const emit = <E extends EventName>(event: E, payload: Events[E]): void => {
    const msg = JSON.stringify({ t: 'event', event, payload });
    for (const s of sockets) if (s.readyState === s.OPEN) s.send(msg);
  };
  const workspace = new Workspace({ configDir: opts.configDir, mode: 'web', version: opts.version, emit, maxPixels: opts.maxPixels });
  // What arrives over the WebSocket is confined to the roots; the owner's `workspace` is not.
  const confined = confinedHandlers(workspace, roots);
  let port = 0;

  const sessionOk = (candidate: string | undefined): boolean => {
    if (!candidate) return false;
    const b = Buffer.from(candidate);
    return b.length === sessionBuf.length && crypto.timingSafeEqual(b, sessionBuf);
  };
  // Looked up by digest, so the comparison time says nothing about the stored tokens.
  const spend = (candidate: string): boolean => unspent.delete(digest(candidate));
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
    if (!hostOk(req)) return deny(res, 421, 'unexpected Host header');
    if (req.method !== 'GET' && req.method !== 'HEAD') return deny(res, 405, 'method not allowed');
    let url: URL;
    try {
      url = new URL(req.url ?? '/', `http://127.0.0.1:${port}`);
    } catch {
      return deny(res, 400, 'malformed request target');
    }
    const given = url.searchParams.get('token');
    if (given !== null) {
      // A browser that already holds the session keeps it: reopening a spent link is harmless.
      if (!spend(given) && !sessionOk(cookieToken(req))) {
        return deny(res, 403, 'this link was already used or is not valid: press Enter in the terminal that runs Tessera for a new one');
      }
      res.writeHead(302, {
        location: '/',
        'set-cookie': `${COOKIE}=${session}; HttpOnly; SameSite=Strict; Path=/`,
        'cache-control': 'no-store',
      });
      return void res.end();
    }
    if (!sessionOk(cookieToken(req))) return deny(res, 403, 'open the URL with its token first');

    if (url.pathname.startsWith('/media/')) return serveMedia(workspace, url.pathname.slice('/media/'.length), req, res);
    serveStatic(opts.staticDir, url.pathname, res, WEB_CSP);
  }

  // A bad frame (invalid UTF-8, too large, not masked) closes that socket with 1002/1007/1009 and
  // emits 'error' on it; without a listener that event would end the whole process.
  const wss = new WebSocketServer({ noServer: true, maxPayload: opts.maxMessageBytes ?? MAX_MESSAGE_BYTES });
  wss.on('error', (e) => console.error('[tessera] WebSocket server:', e.message));
  server.on('upgrade', (req, socket, head) => {
    socket.on('error', () => socket.destroy());
    const origin = req.headers.origin;
    const originOk = origin === `http://127.0.0.1:${port}` || origin === `http://localhost:${port}`;
    const pathname = URL.parse(req.url ?? '/', `http://127.0.0.1:${port}`)?.pathname;
    if (pathname !== '/ws' || !hostOk(req) || !originOk || !sessionOk(cookieToken(req))) {
      socket.write('HTTP/1.1 403 Forbidden\r\n\r\n');
      socket.destroy();
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      sockets.add(ws);
      ws.on('close', () => sockets.delete(ws));
      ws.on('error', () => {
        // ws has already sent the close frame with the reason; only this socket ends.
        sockets.delete(ws);
      });
      ws.on('message', (data) => {
        const call = parseCall(data);
        if (!call) return;
        const { id } = call;
        void dispatch(confined.handlers, call.channel, call.args).then((result) => {
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
  server.on('error', (e) => console.error('[tessera] browser-mode server:', e.message));

  return {
    url: `http://127.0.0.1:${port}/?token=${token}`,
    port,
    token,
    roots: confined.roots,
    newUrl: () => {
      const t = newToken();
      unspent.add(digest(t));
      return `http://127.0.0.1:${port}/?token=${t}`;
    },
    workspace,
    close: async () => {
      for (const s of sockets) s.terminate();
      wss.close();
      await new Promise<void>((r) => server.close(() => r()));
      await workspace.dispose();
    },
  };
}
