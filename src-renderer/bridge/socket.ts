import { CHANNELS, EVENT_NAMES, type Channel, type EventName } from '../../src-main/common/channels';
import type { TesseraApi, TesseraBridge } from '../../src-main/common/api';
import type { Events } from '../../src-main/common/contract';
import type { Result } from '../../src-main/common/errors';

type Incoming =
  | { t: 'result'; id: number; result: Result<unknown> }
  | { t: 'event'; event: string; payload: unknown };

/**
 * Browser-mode transport. The server authenticates the upgrade by the HttpOnly cookie it set when
 * the token URL was opened, so nothing secret is handled here.
 */
export function createSocketBridge(url: string): TesseraBridge {
  const pending = new Map<number, (r: Result<unknown>) => void>();
  const listeners = new Map<string, Set<(payload: unknown) => void>>();
  // Calls made before the socket opens (the app issues several at start-up) wait here.
  const queue: string[] = [];
  let nextId = 1;
  let closed: Result<never> | null = null;

  const socket = new WebSocket(url);
  socket.addEventListener('open', () => {
    for (const msg of queue.splice(0)) socket.send(msg);
  });
  socket.addEventListener('message', (ev) => {
    let msg: Incoming;
    try {
      msg = JSON.parse(String(ev.data)) as Incoming;
    } catch {
      return;
    }
    if (msg.t === 'result') {
      const resolve = pending.get(msg.id);
      pending.delete(msg.id);
      resolve?.(msg.result);
    } else if (msg.t === 'event') {
      for (const l of listeners.get(msg.event) ?? []) l(msg.payload);
    }
  });
  socket.addEventListener('close', () => {
    // Without reconnection every outstanding and later call has to fail, or the UI would hang.
    closed = {
      ok: false,
      error: { code: 'INTERNAL', message: 'lost the connection to the Tessera server; reload the page' },
    };
    for (const resolve of pending.values()) resolve(closed);
    pending.clear();
    queue.length = 0;
  });

  const send = (channel: Channel, args: unknown): Promise<Result<unknown>> => {
    if (closed) return Promise.resolve(closed);
    const id = nextId++;
    const msg = JSON.stringify({ t: 'call', id, channel, args });
    return new Promise((resolve) => {
      pending.set(id, resolve);
      if (socket.readyState === WebSocket.OPEN) socket.send(msg);
      else queue.push(msg);
    });
  };

  const api = Object.fromEntries(CHANNELS.map((c) => [c, (args: unknown) => send(c, args)])) as unknown as TesseraApi;

  return {
    api,
    on<E extends EventName>(event: E, listener: (payload: Events[E]) => void): () => void {
      if (!EVENT_NAMES.includes(event)) throw new Error(`unknown event ${String(event)}`);
      const l = listener as (payload: unknown) => void;
      let set = listeners.get(event);
      if (!set) listeners.set(event, (set = new Set()));
      set.add(l);
      return () => set.delete(l);
    },
    mediaUrl: (kind, key) => `/media/${kind}/${key}`,
  };
}
