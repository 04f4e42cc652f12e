import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { app, BrowserWindow, dialog, net, protocol, session, shell } from 'electron';
import { MEDIA_SCHEME } from '../common/api';
import type { EventName, Events } from '../common/contract';
import { registerIpc } from '../ipc/register';
import { MEDIA_CACHE_CONTROL, resolveMedia } from '../services/mediaRoute';
import { Workspace } from '../services/workspace';
import { isAllowedExternalUrl, isTrustedSender, permissionAllowed, rendererEntry, teamWindowAllows } from './security';

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
  openTeamServer: (server) => openTeamWindow(server.origin, server.login),
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

/** Team servers' pages share one session of their own: not the app's, and no preload, no IPC. */
const TEAM_PARTITION = 'persist:tessera-team';

/**
 * A team server (`tessera serve`) in a window of its own: the server's pages run as in a browser,
 * sandboxed, without the preload (so without the app's services), and may not leave its origin.
 */
function openTeamWindow(origin: string, login: string): void {
  const teamSession = session.fromPartition(TEAM_PARTITION);
  teamSession.setPermissionRequestHandler((_wc, _permission, cb) => cb(false));
  teamSession.setPermissionCheckHandler(() => false);
  teamSession.setDevicePermissionHandler(() => false);
  const w = new BrowserWindow({
    width: 1400,
    height: 900,
    title: `Tessera — ${origin}`,
    webPreferences: {
      session: teamSession,
      contextIsolation: true,
      nodeIntegration: false,
      sandbox: true,
      webSecurity: true,
      spellcheck: false,
    },
  });
  w.webContents.setWindowOpenHandler(({ url }) => {
    if (teamWindowAllows(url, origin)) void w.loadURL(url);
    else if (isAllowedExternalUrl(url)) void shell.openExternal(url);
    return { action: 'deny' };
  });
  const guard = (e: { preventDefault(): void }, url: string) => {
    if (!teamWindowAllows(url, origin)) e.preventDefault();
  };
  w.webContents.on('will-navigate', (e) => guard(e, e.url));
  w.webContents.on('will-redirect', (e) => guard(e, e.url));
  w.webContents.on('will-attach-webview', (e) => e.preventDefault());
  void w.loadURL(login);
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
