import fs from 'node:fs';
import type http from 'node:http';
import path from 'node:path';
import { MEDIA_CACHE_CONTROL, resolveMedia } from '../services/mediaRoute';
import { isInside } from '../services/paths';
import type { Workspace } from '../services/workspace';

/** The HTTP answers browser mode and the team server share: the renderer's files and /media/. */

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

export function deny(res: http.ServerResponse, status: number, message: string, headers: http.OutgoingHttpHeaders = {}): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...headers });
  res.end(message);
}

/** Answers `/media/<key>` (the part after `/media/`) from the workspace's open dataset. */
export async function serveMedia(workspace: Workspace, key: string, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const r = await resolveMedia(workspace, key);
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
  // A rendition pruned or a file removed meanwhile ends this response, not the process.
  fs.createReadStream(r.file)
    .on('error', () => res.destroy())
    .pipe(res);
}

/** Answers a file of the built renderer (`/` is index.html) with the given CSP. */
export function serveStatic(staticDir: string, pathname: string, res: http.ServerResponse, csp: string): void {
  let rel: string;
  try {
    rel = pathname === '/' ? 'index.html' : decodeURIComponent(pathname.slice(1));
  } catch {
    return deny(res, 400, 'malformed percent-encoding in the path');
  }
  const file = path.resolve(staticDir, rel);
  if (!isInside(staticDir, file) || !fs.existsSync(file) || !fs.statSync(file).isFile()) return deny(res, 404, 'not found');
  res.writeHead(200, {
    'content-type': MIME[path.extname(file)] ?? 'application/octet-stream',
    'content-security-policy': csp,
    'x-content-type-options': 'nosniff',
    'cache-control': 'no-cache',
  });
  // A file removed after the check above ends this response, not the process.
  fs.createReadStream(file)
    .on('error', () => res.destroy())
    .pipe(res);
}

/** A call as the renderer sends it over the WebSocket: `{ t: 'call', id, channel, args }`. */
export interface WireCall {
  id: number;
  channel: string;
  args: unknown;
}

/** The call a WebSocket message carries, or null for anything else (ignored, as before). */
export function parseCall(data: unknown): WireCall | null {
  let msg: { t?: unknown; id?: unknown; channel?: unknown; args?: unknown };
  try {
    msg = JSON.parse(String(data)) as typeof msg;
  } catch {
    return null;
  }
  if (msg === null || typeof msg !== 'object' || msg.t !== 'call' || typeof msg.id !== 'number' || typeof msg.channel !== 'string') return null;
  return { id: msg.id, channel: msg.channel, args: msg.args };
}

