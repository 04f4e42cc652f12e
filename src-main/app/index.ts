import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { app, BrowserWindow, dialog, net, protocol, session, shell } from 'electron';
import { MEDIA_SCHEME } from '../common/api';
import type { EventName, Events } from '../common/contract';
import { registerIpc } from '../ipc/register';
import { MEDIA_CACHE_CONTROL, resolveMedia } from '../services/mediaRoute';
import { Workspace } from '../services/workspace';
import { isAllowedExternalUrl, isTrustedSender, permissionAllowed, rendererEntry } from './security';

// Thin Electron shell: windows, the media protocol and wiring. Everything else is in services/.

protocol.registerSchemesAsPrivileged([
  { scheme: MEDIA_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true, stream: true } },
]);

const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  `img-src 'self' data: blob: ${MEDIA_SCHEME}:`,
  // Tiles are fetched (not <img>-loaded) so decoded pixels live only in the bounded tile cache.
  `connect-src 'self' ${MEDIA_SCHEME}:`,
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
  "form-action 'none'",
].join('; ');

let win: BrowserWindow | null = null;
// A packaged app ignores ELECTRON_RENDERER_URL: only a development build loads a dev server.
const entry = rendererEntry({
  isPackaged: app.isPackaged,
  devUrl: process.env['ELECTRON_RENDERER_URL'],
  indexFile: path.join(__dirname, '../renderer/index.html'),
});

const workspace = new Workspace({
  configDir: app.getPath('userData'),
  mode: 'electron',
  version: app.getVersion(),
  emit: <E extends EventName>(event: E, payload: Events[E]) => {
    if (win && !win.isDestroyed()) win.webContents.send(event, payload);
  },
  showInFolder: (p) => shell.showItemInFolder(p),
  pick: async ({ purpose, title }) => {
    if (!win) return null;
    if (purpose === 'createDataset') {
      const r = await dialog.showSaveDialog(win, {
        title: title ?? 'New dataset',
        defaultPath: 'dataset.tessera',
        filters: [{ name: 'Tessera dataset', extensions: ['tessera'] }],
      });
      return r.canceled || !r.filePath ? null : [r.filePath];
    }
    const r = await dialog.showOpenDialog(win, {
      title,
      properties:
        purpose === 'folder' ? ['openDirectory'] : purpose === 'files' ? ['openFile', 'multiSelections'] : ['openFile'],
      filters: purpose === 'openDataset' ? [{ name: 'Tessera dataset', extensions: ['tessera', 'sqlite', 'db'] }] : undefined,
    });
    return r.canceled ? null : r.filePaths;
  },
});

function createWindow(): void {
  win = new BrowserWindow({
    width: 1400,
    height: 900,
    title: 'Tessera',
    show: false,
    webPreferences: {
      preload: path.join(__dirname, '../preload/index.cjs'),
      contextIsolation: true,
      nodeIntegration: false,
      sandbox: true,
      webSecurity: true,
      spellcheck: false,
    },
  });
  win.once('ready-to-show', () => win?.show());
  win.webContents.setWindowOpenHandler(({ url }) => {
    if (isAllowedExternalUrl(url)) void shell.openExternal(url);
    return { action: 'deny' };
  });
  win.webContents.on('will-navigate', (e) => e.preventDefault());
  win.webContents.on('will-attach-webview', (e) => e.preventDefault());
  if (entry.kind === 'url') void win.loadURL(entry.url);
  else void win.loadFile(entry.file);
  win.on('closed', () => {
    win = null;
  });
}

app.whenReady().then(() => {
  session.defaultSession.webRequest.onHeadersReceived((details, cb) => {
    cb({ responseHeaders: { ...details.responseHeaders, 'Content-Security-Policy': [CSP] } });
  });
  session.defaultSession.setPermissionRequestHandler((_wc, permission, cb, details) => cb(permissionAllowed(permission, details.requestingUrl, entry)));
  session.defaultSession.setPermissionCheckHandler((_wc, permission, _origin, details) => permissionAllowed(permission, details.requestingUrl, entry));
  session.defaultSession.setDevicePermissionHandler(() => false);

  protocol.handle(MEDIA_SCHEME, async (request) => {
    const url = new URL(request.url);
    const r = await resolveMedia(workspace, `${url.hostname}${url.pathname}`);
    if (!r.ok) return new Response(JSON.stringify(r.error), { status: r.status, headers: { 'content-type': 'application/json' } });
    if (!fs.existsSync(r.file)) return new Response('gone', { status: 404 });
    const res = await net.fetch(pathToFileURL(r.file).toString());
    return new Response(res.body, { headers: { 'content-type': r.mime, 'cache-control': MEDIA_CACHE_CONTROL, etag: r.etag } });
  });

  registerIpc(workspace, (event) =>
    isTrustedSender(
      {
        fromAppWindow: win !== null && event.sender === win.webContents,
        frameUrl: event.senderFrame?.url ?? null,
        isMainFrame: event.senderFrame !== null && event.senderFrame.parent === null,
      },
      entry,
    ),
  );
  createWindow();
  app.on('activate', () => {
    if (BrowserWindow.getAllWindows().length === 0) createWindow();
  });
});

app.on('window-all-closed', () => {
  // The inference workers and their sessions go with the last window; a new one starts them again.
  void workspace.dispose();
  if (process.platform !== 'darwin') app.quit();
});
