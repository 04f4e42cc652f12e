import { contextBridge, ipcRenderer } from 'electron';
import { CHANNELS, EVENT_NAMES, type EventName } from '../common/channels';
import { MEDIA_SCHEME, type PreloadApi } from '../common/api';

// One method per contract entry and nothing else: the renderer never sees ipcRenderer.
const invoke = Object.fromEntries(
  CHANNELS.map((channel) => [channel, (args: unknown) => ipcRenderer.invoke(channel, args)]),
) as PreloadApi['invoke'];

const api: PreloadApi = {
  invoke,
  on(event: EventName, listener: (payload: unknown) => void) {
    if (!EVENT_NAMES.includes(event)) throw new Error(`unknown event ${String(event)}`);
    const wrapped = (_e: Electron.IpcRendererEvent, payload: unknown): void => listener(payload);
    ipcRenderer.on(event, wrapped);
    return () => ipcRenderer.removeListener(event, wrapped);
  },
  mediaScheme: MEDIA_SCHEME,
};

contextBridge.exposeInMainWorld('tessera', api);
