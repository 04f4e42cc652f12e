import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAppError } from '../../src-main/common/errors';
import { fetchToFile } from '../../src-main/services/download';
import { tempDir } from '../helpers/shared';

/**
 * A server that stops sending: `/stall-body` sends its headers and 16 bytes of 4096, then
 * nothing; `/stall-headers` never answers. Cancel must not wait for bytes that never come.
 */
let server: http.Server;
let base: string;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    res.on('error', () => undefined);
    if (req.url === '/stall-body') {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': '4096' });
      res.write(Buffer.alloc(16, 7));
    }
    // '/stall-headers': the request is left open without an answer.
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => {
  server.closeAllConnections();
  return new Promise<void>((r) => server.close(() => r()));
});

async function cancelledAfter(url: string, ms: number): Promise<{ code: string; elapsed: number; part: string; received: number }> {
  const part = path.join(tempDir(), 'model.onnx.part');
  let cancelled = false;
  let received = 0;
  const started = Date.now();
  setTimeout(() => (cancelled = true), ms);
  try {
    await fetchToFile({
      url,
      part,
      sha256: null,
      what: 'model "stalled"',
      detail: { id: 'stalled' },
      cancelMessage: 'download of "stalled" cancelled',
      onProgress: (n) => (received = n),
      isCancelled: () => cancelled,
    });
  } catch (e) {
    if (isAppError(e)) return { code: e.code, elapsed: Date.now() - started - ms, part, received };
    throw e;
  }
  throw new Error('expected the download to be cancelled');
}

describe('model file downloads', () => {
  it('a Cancel stops a download whose server stopped sending, and leaves no part file', async () => {
    const r = await cancelledAfter(`${base}/stall-body`, 300);
    expect(r.received).toBe(16);
    expect(r.code).toBe('CANCELLED');
    expect(r.elapsed).toBeLessThan(2000);
    expect(fs.existsSync(r.part)).toBe(false);
  });

  it('a Cancel stops a download whose server never answered', async () => {
    const r = await cancelledAfter(`${base}/stall-headers`, 300);
    expect(r.code).toBe('CANCELLED');
    expect(r.elapsed).toBeLessThan(2000);
    expect(fs.existsSync(r.part)).toBe(false);
  });
});
