import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { AppError } from '../common/errors';

/**
 * Downloading model weights: one URL into a `.part` file beside its final name, hashed while it
 * is written. The caller renames the part into place once every file it needs has arrived and
 * matched its checksum, so a mismatch, a failure or a cancel leaves nothing behind.
 */

export interface FetchToFileOptions {
  url: string;
  /** The file written; removed again on any failure. */
  part: string;
  /** The sha256 the bytes must have, or null to accept them (the caller records theirs). */
  sha256: string | null;
  /** Names the download in messages, e.g. `model "yolox-nano"`. */
  what: string;
  /** Identifies the download in the error details, e.g. `{ id }`. */
  detail: Record<string, unknown>;
  /** The cancel message, e.g. `download of "yolox-nano" cancelled`. */
  cancelMessage: string;
  /** Called once before the first chunk, with total from Content-Length (null when the server does not say). */
  onStart?: (total: number | null) => void;
  /** Called after each chunk with the bytes received so far. */
  onProgress?: (received: number, total: number | null) => void;
  isCancelled?: () => boolean;
  fetch?: typeof fetch;
}

/** Fetches `url` into `part`, checking its sha256 when one is expected; returns the hash and size. */
export async function fetchToFile(o: FetchToFileOptions): Promise<{ sha256: string; bytes: number }> {
  // A server that stops sending (or never answers) would otherwise hold a cancelled download
  // until its next chunk: the request is aborted as soon as the cancel is seen.
  const abort = new AbortController();
  const isCancelled = o.isCancelled;
  const watch = isCancelled
    ? setInterval(() => {
        if (isCancelled()) abort.abort();
      }, CANCEL_POLL_MS)
    : null;
  try {
    return await fetchInto(o, abort.signal);
  } catch (err) {
    if (abort.signal.aborted && !(err instanceof AppError)) throw new AppError('CANCELLED', o.cancelMessage, o.detail);
    throw err;
  } finally {
    if (watch !== null) clearInterval(watch);
  }
}

/** How often a download in flight looks at its cancel flag while it waits for the server. */
const CANCEL_POLL_MS = 100;

async function fetchInto(o: FetchToFileOptions, signal: AbortSignal): Promise<{ sha256: string; bytes: number }> {
  const doFetch = o.fetch ?? fetch;
  let res: Response;
  try {
    res = await doFetch(o.url, { redirect: 'follow', signal });
  } catch (err) {
    if (signal.aborted) throw new AppError('CANCELLED', o.cancelMessage, o.detail);
    throw new AppError('FILE_NOT_FOUND', `${o.what}: cannot reach ${o.url}: ${(err as Error).message}`, { ...o.detail, url: o.url });
  }
  if (!res.ok || !res.body) {
    await res.body?.cancel().catch(() => undefined);
    throw new AppError('FILE_NOT_FOUND', `${o.what}: ${o.url} answered HTTP ${res.status}`, { ...o.detail, url: o.url, status: res.status });
  }
  const lengthHeader = Number(res.headers.get('content-length'));
  const total = Number.isFinite(lengthHeader) && lengthHeader > 0 ? lengthHeader : null;
  const hash = createHash('sha256');
  let out: number | null = fs.openSync(o.part, 'w');
  let received = 0;
  const reader = res.body.getReader();
  try {
    o.onStart?.(total);
    o.onProgress?.(received, total);
    for (;;) {
      if (o.isCancelled?.()) {
        await reader.cancel().catch(() => undefined);
        throw new AppError('CANCELLED', o.cancelMessage, o.detail);
      }
      const { done, value } = await reader.read();
      if (done) break;
      hash.update(value);
      fs.writeSync(out, value);
      received += value.byteLength;
      o.onProgress?.(received, total);
    }
    fs.closeSync(out);
    out = null;
    const got = hash.digest('hex');
    if (o.sha256 !== null && got !== o.sha256) {
      throw new AppError('INVALID_ARGUMENT', `${o.what}: checksum mismatch (expected sha256 ${o.sha256}, got ${got}); the download was deleted`, {
        ...o.detail,
        reason: 'sha256-mismatch',
        expected: o.sha256,
        actual: got,
      });
    }
    return { sha256: got, bytes: received };
  } catch (err) {
    if (out !== null) fs.closeSync(out);
    fs.rmSync(o.part, { force: true });
    throw err;
  }
}

/** The checksum recorded by a first download (trust on first use), or null. */
export function recordedSha256(file: string): string | null {
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trim() || null : null;
}
