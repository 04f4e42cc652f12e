import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  EXTERNAL_HOSTS,
  isAllowedExternalUrl,
  isAppPage,
  isTrustedSender,
  permissionAllowed,
  rendererEntry,
  type RendererEntry,
} from '../../src-main/app/security';
import { repoRoot } from '../helpers/shared';

/**
 * The Electron shell's security decisions, tested under Node (the Electron binary cannot run on
 * every machine); the last test checks that app/index.ts and ipc/register.ts use them.
 */

const indexFile = path.join(repoRoot, 'out', 'renderer', 'index.html');
const fileEntry: RendererEntry = { kind: 'file', file: indexFile };
const devEntry: RendererEntry = { kind: 'url', url: 'http://localhost:5173/' };

describe('links opened in the system browser', () => {
  it('opens only https links to the allowed hosts', () => {
    expect(isAllowedExternalUrl('https://github.com/Megvii-BaseDetection/YOLOX/releases')).toBe(true);
    for (const url of [
      'http://github.com/x',
      'https://github.com.evil.example/x',
      'https://evil.example/github.com',
      'https://user:pw@github.com/x',
      'https://github.com:8443/x',
      'file:///etc/passwd',
      'javascript:alert(1)',
      'smb://github.com/share',
      'not a url',
      'https://example.org/',
    ]) {
      expect(isAllowedExternalUrl(url), url).toBe(false);
    }
  });

  it('allows every host the built-in model manifests download from, and nothing more', () => {
    const hosts = new Set<string>();
    for (const name of fs.readdirSync(path.join(repoRoot, 'models')).filter((n) => n.endsWith('.json'))) {
      const m = JSON.parse(fs.readFileSync(path.join(repoRoot, 'models', name), 'utf8')) as { url?: string };
      if (m.url) {
        expect(isAllowedExternalUrl(m.url), `${name}: ${m.url}`).toBe(true);
        hosts.add(new URL(m.url).hostname);
      }
    }
    expect([...EXTERNAL_HOSTS].sort()).toEqual([...hosts].sort());
  });
});

describe('permissions', () => {
  it('refuses every permission but writing to the clipboard, and that only to the app page', () => {
    const entry = rendererEntry({ isPackaged: true, devUrl: undefined, indexFile: '/opt/tessera/out/renderer/index.html' });
    const app = 'file:///opt/tessera/out/renderer/index.html';
    for (const p of ['media', 'notifications', 'geolocation', 'clipboard-read', 'openExternal', 'fullscreen', 'hid', 'serial', 'usb']) {
      expect(permissionAllowed(p, app, entry), p).toBe(false);
    }
    expect(permissionAllowed('clipboard-sanitized-write', app, entry)).toBe(true);
    expect(permissionAllowed('clipboard-sanitized-write', 'https://example.com/', entry)).toBe(false);
    expect(permissionAllowed('clipboard-sanitized-write', undefined, entry)).toBe(false);
  });
});

describe('the page the window loads', () => {
  it('ignores ELECTRON_RENDERER_URL in a packaged app', () => {
    expect(rendererEntry({ isPackaged: true, devUrl: 'http://localhost:5173/', indexFile })).toEqual(fileEntry);
    expect(rendererEntry({ isPackaged: true, devUrl: 'https://evil.example/', indexFile })).toEqual(fileEntry);
  });

  it('uses the dev server in a development build, only on this machine', () => {
    expect(rendererEntry({ isPackaged: false, devUrl: 'http://localhost:5173/', indexFile })).toEqual(devEntry);
    expect(rendererEntry({ isPackaged: false, devUrl: 'http://127.0.0.1:5173/', indexFile })).toEqual({ kind: 'url', url: 'http://127.0.0.1:5173/' });
    expect(rendererEntry({ isPackaged: false, devUrl: 'http://evil.example:5173/', indexFile })).toEqual(fileEntry);
    expect(rendererEntry({ isPackaged: false, devUrl: undefined, indexFile })).toEqual(fileEntry);
  });
});

describe('who may call the services over IPC', () => {
  const own = pathToFileURL(indexFile).href;
  const main = (frameUrl: string | null) => ({ fromAppWindow: true, isMainFrame: true, frameUrl });

  it('recognises the app page by file or dev-server origin', () => {
    expect(isAppPage(own, fileEntry)).toBe(true);
    expect(isAppPage(`${own}?hooks=1#x`, fileEntry)).toBe(true);
    expect(isAppPage(pathToFileURL(path.join(repoRoot, 'out', 'renderer', 'other.html')).href, fileEntry)).toBe(false);
    expect(isAppPage('file:///tmp/index.html', fileEntry)).toBe(false);
    expect(isAppPage('https://evil.example/', fileEntry)).toBe(false);
    expect(isAppPage('http://localhost:5173/#/x', devEntry)).toBe(true);
    expect(isAppPage('http://localhost:5174/', devEntry)).toBe(false);
  });

  it('answers only the top frame of the app window showing the app page', () => {
    expect(isTrustedSender(main(own), fileEntry)).toBe(true);
    expect(isTrustedSender({ ...main(own), isMainFrame: false }, fileEntry)).toBe(false); // an iframe
    expect(isTrustedSender(main('https://evil.example/'), fileEntry)).toBe(false); // navigated away
    expect(isTrustedSender(main(null), fileEntry)).toBe(false); // frame gone
    expect(isTrustedSender({ ...main(own), fromAppWindow: false }, fileEntry)).toBe(false); // another window
  });

  it('is wired into the Electron shell', () => {
    const shell = fs.readFileSync(path.join(repoRoot, 'src-main', 'app', 'index.ts'), 'utf8');
    expect(shell).toMatch(/setWindowOpenHandler\(\(\{ url \}\) => \{\s*if \(isAllowedExternalUrl\(url\)\) void shell\.openExternal\(url\)/);
    expect(shell).toMatch(/setPermissionCheckHandler\(\(_wc, permission, _origin, details\) => permissionAllowed\(permission, details\.requestingUrl, entry\)\)/);
    expect(shell).toMatch(/setPermissionRequestHandler\(\(_wc, permission, cb, details\) => cb\(permissionAllowed\(permission, details\.requestingUrl, entry\)\)\)/);
    expect(shell).toMatch(/rendererEntry\(\{\s*isPackaged: app\.isPackaged/);
    expect(shell).not.toMatch(/loadURL\(devUrl\)/);
    expect(shell).toMatch(/isTrustedSender\(/);
    expect(shell).toMatch(/frameUrl: event\.senderFrame/);
    const ipc = fs.readFileSync(path.join(repoRoot, 'src-main', 'ipc', 'register.ts'), 'utf8');
    expect(ipc).toMatch(/if \(!isTrusted\(event\)\)/);
  });
});
