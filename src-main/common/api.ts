import type { Args, Channel, EventName, Events, ResultOf } from './contract';
import type { Result } from './errors';

/**
 * What the renderer sees, in Electron (through the preload) and in browser mode (over WebSocket)
 * alike: one method per contract entry, each resolving to a Result, plus event subscription.
 */
export type TesseraApi = {
  [C in Channel]: (args: Args<C>) => Promise<Result<ResultOf<C>>>;
};

export interface TesseraBridge {
  api: TesseraApi;
  on<E extends EventName>(event: E, listener: (payload: Events[E]) => void): () => void;
  /**
   * URL of an image rendition the renderer may put in an <img> or Konva image (`tile`: see
   * tileUrl). `key` is the image's media address from the backend (ImageListItem.media), which
   * names the dataset and the file's version.
   */
  mediaUrl(kind: 'thumb' | 'view' | 'tile', key: string): string;
}

/** The object the Electron preload exposes on `window.tessera`. */
export interface PreloadApi {
  invoke: { [C in Channel]: (args: Args<C>) => Promise<Result<ResultOf<C>>> };
  on(event: EventName, listener: (payload: unknown) => void): () => void;
  mediaScheme: string;
}

export const MEDIA_SCHEME = 'tessera-media';
