import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import readline from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { MAX_MESSAGE_BYTES } from '../../src-main/web/server';
import { repoRoot, tempDir } from '../helpers/shared';

/**
 * Hostile WebSocket frames against the browser-mode server running in a process of its own: each
 * closes its own socket with the matching close code, and the process keeps serving a second,
 * well-behaved client. Frames are written by hand on a raw TCP socket; no case sends more than
 * about 20 MiB.
 */

let child: ChildProcess;
let port: number;
let cookie: string;
let exited: string | null = null;

beforeAll(async () => {
  const staticDir = tempDir();
  fs.writeFileSync(path.join(staticDir, 'index.html'), '<!doctype html><title>t</title>');
  child = spawn(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'test', 'helpers', 'webServerProcess.ts'), staticDir, tempDir(), tempDir()], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  child.on('exit', (code, signal) => {
    exited = `exited with ${code ?? signal}`;
  });
  const first = await new Promise<string>((resolve, reject) => {
    readline.createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', () => reject(new Error('the server process ended before it listened')));
  });
  const { url, port: p } = JSON.parse(first) as { url: string; port: number };
  port = p;
  cookie = await new Promise<string>((resolve, reject) => {
    http.get(url, (res) => {
      res.resume();
      resolve(res.headers['set-cookie']![0]!.split(';')[0]!);
    }).on('error', reject);
  });
}, 60_000);

afterAll(() => {
  child?.kill();
});

/** A masked client frame (mask key zero, so the payload is sent as is); `declared` overrides the length. */
function frame(opcode: number, payload: Buffer, fin: boolean, declared = payload.length): Buffer {
  const first = (fin ? 0x80 : 0) | opcode;
  let header: Buffer;
  if (declared < 126) header = Buffer.from([first, 0x80 | declared]);
  else if (declared < 65536) {
    header = Buffer.alloc(4);
    header.writeUInt16BE(declared, 2);
    header[1] = 0x80 | 126;
  } else {
    header = Buffer.alloc(10);
    header.writeBigUInt64BE(BigInt(declared), 2);
    header[1] = 0x80 | 127;
  }
  header[0] = first;
  return Buffer.concat([header, Buffer.alloc(4), payload]);
}

/** The code of the first close frame in what the server sent after its 101 answer, or null. */
function closeCode(received: Buffer): number | null {
  const end = received.indexOf('\r\n\r\n');
  if (end < 0 || !/^HTTP\/1\.1 101/.test(received.subarray(0, end).toString())) return null;
  let at = end + 4;
  while (at + 2 <= received.length) {
    const opcode = received[at]! & 0x0f;
    let len = received[at + 1]! & 0x7f;
    let start = at + 2;
    if (len === 126) {
      len = received.readUInt16BE(start);
      start += 2;
    } else if (len === 127) {
      len = Number(received.readBigUInt64BE(start));
      start += 8;
    }
    if (opcode === 0x8) return start + 2 <= received.length ? received.readUInt16BE(start) : null;
    at = start + len;
  }
  return null;
}

/**
 * Opens a raw WebSocket, writes `frames` one after another (stopping once the server has closed)
 * and resolves with the close code the server sent.
 */
async function attack(frames: Iterable<Buffer>): Promise<number | null> {
  const sock = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => {
    sock.once('connect', resolve);
    sock.once('error', reject); // refused: the server process is gone
  });
  sock.on('error', () => {}); // the server may reset the connection while frames are still going out
  let received = Buffer.alloc(0);
  let code: number | null = null;
  const done = new Promise<void>((resolve) => {
    sock.on('data', (d: Buffer) => {
      received = Buffer.concat([received, d]);
      code = closeCode(received);
      if (code !== null) resolve();
    });
    sock.on('close', () => resolve());
  });
  sock.write(
    `GET /ws HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${crypto.randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n` +
      `Origin: http://127.0.0.1:${port}\r\nCookie: ${cookie}\r\n\r\n`,
  );
  await expect.poll(() => received.includes('\r\n\r\n')).toBe(true);
  for (const f of frames) {
    if (code !== null || sock.destroyed) break;
    if (!sock.write(f)) await Promise.race([new Promise((r) => sock.once('drain', r)), done]);
  }
  await done;
  sock.destroy();
  return code;
}

/** A well-behaved client: connects and makes one call. */
async function goodClientCall(): Promise<unknown> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, { headers: { cookie, origin: `http://127.0.0.1:${port}` } });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const result = await new Promise<unknown>((resolve) => {
    ws.once('message', (d) => resolve((JSON.parse(String(d)) as { result: unknown }).result));
    ws.send(JSON.stringify({ t: 'call', id: 1, channel: 'app:info', args: {} }));
  });
  ws.close();
  return result;
}

describe('browser-mode WebSocket under bad frames', () => {
  it('caps a message at 16 MiB', () => {
    expect(MAX_MESSAGE_BYTES).toBe(16 * 1024 * 1024);
  });

  it('closes a socket that sends invalid UTF-8 text with 1007 and keeps serving', async () => {
    expect(await attack([frame(0x1, Buffer.from([0x7b, 0xff, 0xfe, 0xc3, 0x28]), true)])).toBe(1007);
    expect(await goodClientCall()).toMatchObject({ ok: true, value: { mode: 'web' } });
    expect(exited).toBeNull();
  });

  it('closes a socket that announces a 200 MB message with 1009 after its header, and keeps serving', async () => {
    // Only the header and 64 KiB of the announced 200 MB are sent: the length alone is refused.
    expect(await attack([frame(0x1, Buffer.alloc(64 * 1024, 0x61), true, 200 * 1024 * 1024)])).toBe(1009);
    expect(await goodClientCall()).toMatchObject({ ok: true, value: { mode: 'web' } });
    expect(exited).toBeNull();
  });

  it('closes a socket that sends 20 fragments of 1 MiB with 1009, and keeps serving', async () => {
    const mib = Buffer.alloc(1024 * 1024, 0x61);
    function* fragments(): Generator<Buffer> {
      for (let i = 0; i < 20; i++) yield frame(i === 0 ? 0x1 : 0x0, mib, i === 19);
    }
    expect(await attack(fragments())).toBe(1009);
    expect(await goodClientCall()).toMatchObject({ ok: true, value: { mode: 'web' } });
    expect(exited).toBeNull();
  });

  it('closes a socket that sends an unmasked frame with 1002, and keeps serving', async () => {
    const unmasked = Buffer.from([0x81, 0x02, 0x7b, 0x7d]);
    expect(await attack([unmasked])).toBe(1002);
    expect(await goodClientCall()).toMatchObject({ ok: true, value: { mode: 'web' } });
    expect(exited).toBeNull();
  });
});
