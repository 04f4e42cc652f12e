import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The Electron shell's security decisions as plain functions (no `electron` import), so they are
 * tested under Node; app/index.ts wires them into the window, the session and the IPC handlers.
 */

/**
 * Hosts the system browser may be sent to from a link in the app: where the built-in model
 * manifests (models/*.json) download from. Anything else a page tries to open is dropped.
 */
export const EXTERNAL_HOSTS: readonly string[] = ['github.com', 'huggingface.co'];

/** An https URL on an allowed host, without credentials or an unusual port. */
export function isAllowedExternalUrl(raw: string, hosts: readonly string[] = EXTERNAL_HOSTS): boolean {
  const u = URL.parse(raw);
  if (!u) return false;
  return u.protocol === 'https:' && u.username === '' && u.password === '' && u.port === '' && hosts.includes(u.hostname);
}

/**
 * The one permission the app uses: writing text to the clipboard ("Copy path" in the export
 * panel), and only for the app's own page. Everything else (camera, notifications, clipboard
 * reads, ...) and every other page is refused.
 */
export function permissionAllowed(permission: string, requestingUrl: string | undefined, entry: RendererEntry): boolean {
  return permission === 'clipboard-sanitized-write' && requestingUrl !== undefined && isAppPage(requestingUrl, entry);
}

export type RendererEntry = { kind: 'url'; url: string } | { kind: 'file'; file: string };

function isLoopbackHttp(raw: string): boolean {
  const u = URL.parse(raw);
  return u !== null && u.protocol === 'http:' && ['localhost', '127.0.0.1', '[::1]'].includes(u.hostname);
}

/**
 * What the window loads: the development server named by ELECTRON_RENDERER_URL only in an
 * unpackaged build and only on this machine; a packaged app always loads its own files, whatever
 * the environment says.
 */
export function rendererEntry(opts: { isPackaged: boolean; devUrl: string | undefined; indexFile: string }): RendererEntry {
  if (!opts.isPackaged && opts.devUrl && isLoopbackHttp(opts.devUrl)) return { kind: 'url', url: opts.devUrl };
  return { kind: 'file', file: path.resolve(opts.indexFile) };
}

/** Whether a frame shows the app's own page (the entry's file, or a page of the dev server). */
export function isAppPage(frameUrl: string, entry: RendererEntry): boolean {
  const u = URL.parse(frameUrl);
  if (!u) return false;
  if (entry.kind === 'url') return u.origin === new URL(entry.url).origin;
  if (u.protocol !== 'file:' || u.host !== '') return false;
  try {
    return path.resolve(fileURLToPath(u)) === entry.file;
  } catch {
    return false;
  }
}

/** What an IPC request says about its sender: the window it came from and the frame that sent it. */
export interface SenderFacts {
  /** The request came from the app's window (its webContents). */
  fromAppWindow: boolean;
  /** URL of the sending frame; null when the frame is gone. */
  frameUrl: string | null;
  /** The sending frame is the window's top frame, not an iframe inside it. */
  isMainFrame: boolean;
}

/** Only the top frame of the app's window, showing the app's own page, may call the services. */
export function isTrustedSender(sender: SenderFacts, entry: RendererEntry): boolean {
  return sender.fromAppWindow && sender.isMainFrame && sender.frameUrl !== null && isAppPage(sender.frameUrl, entry);
}

/**
 * Where a team server's window (opened from the Start screen) may go: pages of the server's own
 * origin (scheme, host and port exactly), nothing else: a link elsewhere, a redirect to another
 * host or a downgrade from https to http is refused.
 */
export function teamWindowAllows(url: string, origin: string): boolean {
  const u = URL.parse(url);
  if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:')) return false;
  if (u.username !== '' || u.password !== '') return false;
  return u.origin === origin;
}
