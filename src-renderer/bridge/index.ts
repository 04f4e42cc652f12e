import type { Channel, EventName } from '../../src-main/common/channels';
import type { PreloadApi, TesseraBridge } from '../../src-main/common/api';
import type { Args, Events, ResultOf } from '../../src-main/common/contract';
import type { ErrorCode, Result } from '../../src-main/common/errors';
import { createSocketBridge } from './socket';

/** A failed contract call, keeping the backend's error code so callers can branch on it. */
export class BridgeError extends Error {
  readonly code: ErrorCode;
  readonly detail?: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, detail?: Record<string, unknown>) {
    super(message);
    this.name = 'BridgeError';
    this.code = code;
    this.detail = detail;
  }
}

function createPreloadBridge(preload: PreloadApi): TesseraBridge {
  return {
    api: preload.invoke,
    on<E extends EventName>(event: E, listener: (payload: Events[E]) => void): () => void {
      return preload.on(event, listener as (payload: unknown) => void);
    },
    mediaUrl: (kind, key) => `${preload.mediaScheme}://${kind}/${key}`,
  };
}

function createBridge(): TesseraBridge {
  const preload = (window as unknown as { tessera?: PreloadApi }).tessera;
  if (preload) return createPreloadBridge(preload);
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  return createSocketBridge(`${scheme}://${location.host}/ws`);
}

export const bridge: TesseraBridge = createBridge();

/**
 * URL of an image's view or thumbnail; `key` is its media address (ImageListItem.media), which
 * names the dataset and the file's version. Every address of an image's pixels is built here: a
 * frame of a multi-frame image (DICOM frames, TIFF pages) and a display window are path segments
 * after the key.
 */
export function mediaUrl(kind: 'thumb' | 'view', key: string, frame = 0, window?: { center: number; width: number }): string {
  const base = bridge.mediaUrl(kind, key);
  if (window) {
    const r = (x: number) => Math.round(x * 100) / 100;
    return `${base}/${frame}/${r(window.center)}/${r(Math.max(1, window.width))}`;
  }
  return frame === 0 ? base : `${base}/${frame}`;
}

/** URL of one tile of an image's pyramid. */
export function tileUrl(key: string, level: number, col: number, row: number): string {
  return `${bridge.mediaUrl('tile', key)}/${level}/${col}/${row}`;
}

export function onEvent<E extends EventName>(event: E, listener: (payload: Events[E]) => void): () => void {
  return bridge.on(event, listener);
}

/** Calls a contract channel and unwraps its Result, throwing BridgeError on failure. */
export async function call<C extends Channel>(channel: C, args: Args<C>): Promise<ResultOf<C>> {
  const fn = bridge.api[channel] as (a: Args<C>) => Promise<Result<ResultOf<C>>>;
  let result: Result<ResultOf<C>>;
  try {
    result = await fn(args);
  } catch (e) {
    // Electron rejects (rather than resolving an error Result) when IPC itself fails.
    throw new BridgeError('INTERNAL', e instanceof Error ? e.message : String(e));
  }
  if (result.ok) return result.value;
  throw new BridgeError(result.error.code, result.error.message, result.error.detail);
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export function errorCode(e: unknown): ErrorCode | null {
  return e instanceof BridgeError ? e.code : null;
}
