import { ipcMain, type IpcMainInvokeEvent } from 'electron';
import { CHANNELS } from '../common/contract';
import { dispatch } from '../services/dispatch';
import type { Workspace } from '../services/workspace';

/**
 * Binds every contract entry to ipcMain. Arguments are validated by `dispatch` against the
 * contract's schemas; only messages from the app's own page in its own window are answered
 * (`isTrusted` sees the sending frame, not only the window).
 */
export function registerIpc(workspace: Workspace, isTrusted: (event: IpcMainInvokeEvent) => boolean): () => void {
  for (const channel of CHANNELS) {
    ipcMain.handle(channel, async (event, args: unknown) => {
      if (!isTrusted(event)) {
        return { ok: false, error: { code: 'UNSUPPORTED', message: 'request from an untrusted frame' } };
      }
      return dispatch(workspace.handlers, channel, args);
    });
  }
  return () => {
    for (const channel of CHANNELS) ipcMain.removeHandler(channel);
  };
}
