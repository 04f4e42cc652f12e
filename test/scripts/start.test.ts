import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { staleness } from '../../scripts/build-state.mjs';
import { chromiumOrSkip, launchChromium } from '../helpers/browser';
import { repoRoot, tempDir } from '../helpers/shared';

/**
 * `npm start` where the Electron runtime cannot be downloaded. The checkout is mirrored into a
 * temporary folder (scripts and package.json copied, sources and out/ linked, node_modules linked
 * entry by entry) with an Electron package that has no runtime, so the download is attempted
 * whether or not this machine has Electron; the download mirror is a closed local port, so it
 * fails at once and never waits on a network timeout.
 */
function mirrorCheckout(): string {
  const dir = tempDir('tessera-start-');
  fs.cpSync(path.join(repoRoot, 'scripts'), path.join(dir, 'scripts'), { recursive: true });
  fs.copyFileSync(path.join(repoRoot, 'package.json'), path.join(dir, 'package.json'));
  for (const name of ['src-main', 'src-renderer', 'out', 'electron.vite.config.ts']) fs.symlinkSync(path.join(repoRoot, name), path.join(dir, name));
  const modules = path.join(dir, 'node_modules');
  fs.mkdirSync(modules);
  for (const name of fs.readdirSync(path.join(repoRoot, 'node_modules'))) {
    if (name !== 'electron') fs.symlinkSync(path.join(repoRoot, 'node_modules', name), path.join(modules, name));
  }
  // The Electron package as npm installs it before its runtime download: no dist/, no path.txt.
  const electron = path.join(repoRoot, 'node_modules', 'electron');
  fs.mkdirSync(path.join(modules, 'electron'));
  for (const name of ['package.json', 'install.js', 'index.js', 'cli.js', 'checksums.json']) {
    fs.copyFileSync(path.join(electron, name), path.join(modules, 'electron', name));
  }
  return dir;
}

async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Resolves with the first output line matching re; rejects when the process exits first or after ms. */
function waitForLine(child: ChildProcess, output: string[], re: RegExp, ms: number): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    const check = (): boolean => {
      for (const line of output.join('').split('\n')) {
        const m = re.exec(line);
        if (m) {
          resolve(m);
          return true;
        }
      }
      return false;
    };
    if (check()) return;
    const timer = setTimeout(() => reject(new Error(`no line matching ${re} within ${ms} ms:\n${output.join('')}`)), ms);
    const onData = (): void => {
      if (check()) {
        clearTimeout(timer);
        child.stdout!.off('data', onData);
        child.stderr!.off('data', onData);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (!check()) reject(new Error(`npm start exited with ${code} first:\n${output.join('')}`));
    });
  });
}

let started: ChildProcess | null = null;

afterEach(() => {
  // Whatever happened, nothing of the process group outlives the test.
  if (started?.pid) {
    try {
      process.kill(-started.pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  started = null;
});

// The checkout mirror uses symbolic links, the browser stand-in is a shell script, and the
// cleanup signals a process group: POSIX only.
describe.skipIf(process.platform === 'win32')('npm start without a downloadable Electron runtime', () => {
  beforeAll(() => {
    // The browser mode serves out/renderer; build it here if it is missing or older than its sources.
    if (staleness(repoRoot, 'out/renderer/index.html', ['src-renderer', 'src-main/common'])) {
      const r = spawnSync(process.execPath, [path.join(repoRoot, 'node_modules', 'electron-vite', 'bin', 'electron-vite.js'), 'build'], { cwd: repoRoot, stdio: 'ignore', timeout: 300_000 });
      expect(r.status).toBe(0);
    }
  }, 320_000);

  const chromium = chromiumOrSkip('start');
  it.skipIf(chromium.skip)('says why, starts the browser mode, opens and prints a working 127.0.0.1 address, and stops with its server', async () => {
    chromium.assertPresent();
    const dir = mirrorCheckout();
    const opened = path.join(dir, 'opened.txt');
    // The browser command ($BROWSER) is a stand-in that writes down the address it was given.
    const opener = path.join(dir, 'browser.sh');
    fs.writeFileSync(opener, `#!/bin/sh\nprintf '%s' "$1" > '${opened}'\n`, { mode: 0o755 });
    // npm's and the user's Electron settings (a mirror in .npmrc) would win over ours.
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/electron/i.test(k)));
    Object.assign(env, {
      ELECTRON_MIRROR: `http://127.0.0.1:${await closedPort()}/`,
      electron_config_cache: path.join(dir, 'electron-cache'),
      HOME: path.join(dir, 'home'),
      BROWSER: opener,
    });
    fs.mkdirSync(env['HOME']!);

    const child = spawn(process.execPath, [path.join(dir, 'scripts', 'start.mjs')], { cwd: dir, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    started = child;
    const output: string[] = [];
    child.stdout!.setEncoding('utf8').on('data', (s: string) => output.push(s));
    child.stderr!.setEncoding('utf8').on('data', (s: string) => output.push(s));

    const [, url] = await waitForLine(child, output, /^Tessera \(browser mode\) at (http:\/\/127\.0\.0\.1:\d+\/\?token=\S+)$/, 90_000);
    const text = output.join('');
    expect(text).toMatch(/the Electron runtime could not be downloaded \(.+\)/);
    expect(text).toMatch(/Starting the browser mode instead/);
    // The reason comes before the app starts, and Electron was never launched.
    expect(text.indexOf('could not be downloaded')).toBeLessThan(text.indexOf('Tessera (browser mode) at'));
    expect(fs.existsSync(path.join(dir, 'node_modules', 'electron', 'dist'))).toBe(false);

    // The address opens the app in Chromium: the start screen renders over the live connection.
    const origin = new URL(url!).origin;
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(url!);
      await page.getByRole('heading', { name: 'Open dataset' }).waitFor({ timeout: 30_000 });
      expect(await page.title()).toBe('Tessera');
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }

    // The same address was handed to the browser command.
    for (let i = 0; i < 50 && !fs.existsSync(opened); i++) await new Promise((r) => setTimeout(r, 100));
    expect(fs.readFileSync(opened, 'utf8')).toBe(url);

    // SIGTERM to npm start stops the server process too.
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    process.kill(child.pid!, 'SIGTERM');
    expect(await exited).toBe(0);
    let refused = false;
    for (let i = 0; i < 50 && !refused; i++) {
      refused = await fetch(`${origin}/`).then(
        () => false,
        () => true,
      );
      if (!refused) await new Promise((r) => setTimeout(r, 100));
    }
    expect(refused).toBe(true);
    fs.rmSync(dir, { recursive: true, force: true });
  }, 120_000);
});
