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
  teamWindowAllows,
  type RendererEntry,
} from '../../src-main/app/security';
import { parseTeamServerUrl } from '../../src-main/common/teamUrl';
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

describe('a team server window', () => {
  const origin = 'https://tessera.example.org:8443';

  it('goes only to pages of the server\'s own origin', () => {
    expect(teamWindowAllows('https://tessera.example.org:8443/login', origin)).toBe(true);
    expect(teamWindowAllows('https://tessera.example.org:8443/?x=1#image=3', origin)).toBe(true);
    for (const url of [
      'http://tessera.example.org:8443/login', // downgraded to http
      'https://tessera.example.org/login', // another port
      'https://tessera.example.org:8443.evil.example/login',
      'https://evil.example/',
      'https://user:pw@tessera.example.org:8443/',
      'file:///etc/passwd',
      'javascript:alert(1)',
      'data:text/html,hi',
      'not a url',
    ]) {
      expect(teamWindowAllows(url, origin), url).toBe(false);
    }
  });

  it('is opened from an http or https address only, at the server\'s login page', () => {
    expect(parseTeamServerUrl(' https://tessera.example.org:8443/some/page?q=1 ')).toEqual({
      ok: true,
      origin,
      login: `${origin}/login`,
    });
    expect(parseTeamServerUrl('http://127.0.0.1:8080')).toEqual({ ok: true, origin: 'http://127.0.0.1:8080', login: 'http://127.0.0.1:8080/login' });
    for (const [raw, why] of [
      ['', /enter the address/],
      ['tessera.example.org', /not a URL/],
      ['file:///etc/passwd', /http:\/\/ or https:\/\//],
      ['javascript:alert(1)', /http:\/\/ or https:\/\//],
      ['ftp://tessera.example.org', /not ftp:/],
      ['https://bob:secret@tessera.example.org', /user name and password/],
    ] as const) {
      const r = parseTeamServerUrl(raw);
      expect(r.ok, raw).toBe(false);
      if (!r.ok) expect(r.reason).toMatch(why);
    }
  });

  it('is wired into the Electron shell: its own session, no preload, sandboxed, kept to its origin', () => {
    const shell = fs.readFileSync(path.join(repoRoot, 'src-main', 'app', 'index.ts'), 'utf8');
    const fn = shell.slice(shell.indexOf('function openTeamWindow('), shell.indexOf('app.whenReady()'));
    expect(fn.length).toBeGreaterThan(100);
    expect(fn).not.toMatch(/preload/);
    expect(fn).toMatch(/contextIsolation: true/);
    expect(fn).toMatch(/nodeIntegration: false/);
    expect(fn).toMatch(/sandbox: true/);
    expect(fn).toMatch(/session: teamSession/);
    expect(fn).toMatch(/on\('will-navigate', \(e\) => guard\(e, e\.url\)\)/);
    expect(fn).toMatch(/on\('will-redirect', \(e\) => guard\(e, e\.url\)\)/);
    expect(fn).toMatch(/if \(!teamWindowAllows\(url, origin\)\) e\.preventDefault\(\)/);
    expect(fn).toMatch(/return \{ action: 'deny' \}/);
    expect(shell).toMatch(/openTeamServer: \(server\) => openTeamWindow\(server\.origin, server\.login\)/);
  });
});
