#!/usr/bin/env node
// `npm start`: makes sure the Electron binary and an Electron build of better-sqlite3 exist
// (both fetched once, which needs the internet), builds the app and launches it. When either
// cannot be fetched, it says why and starts the browser mode instead (scripts/web.mjs), opening
// its address in the default browser where one can be opened.
// `npm run dev` does the same with hot reload, and stops with the reason instead.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import { staleness } from './build-state.mjs';
import { ensureElectronBinding } from './electron-native.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dev = process.argv.includes('--dev');
const electronDir = path.join(root, 'node_modules', 'electron');

function electronInstalled() {
  const pathFile = path.join(electronDir, 'path.txt');
  return fs.existsSync(pathFile) && fs.existsSync(path.join(electronDir, 'dist', fs.readFileSync(pathFile, 'utf8')));
}

/** Runs Electron's own installer; on failure, the first line of its error. */
function downloadElectron() {
  console.log('Downloading the Electron runtime (one time)...');
  const r = spawnSync(process.execPath, [path.join(electronDir, 'install.js')], { stdio: ['ignore', 'inherit', 'pipe'], encoding: 'utf8' });
  if (r.status === 0 && electronInstalled()) return null;
  const first = (r.stderr ?? '').split('\n').map((l) => l.trim()).find((l) => l && !l.startsWith('at '));
  return first ?? (r.error ? r.error.message : `the installer exited with code ${r.status}`);
}

/**
 * Opens url in the user's browser, if there is one: $BROWSER (a command; "none" opens nothing),
 * else the desktop's opener. Failure is only reported: the address is printed either way.
 */
function openInBrowser(url) {
  const chosen = process.env.BROWSER;
  if (chosen === 'none') return;
  let cmd;
  let args = [url];
  if (chosen) cmd = chosen;
  else if (process.platform === 'darwin') cmd = 'open';
  else if (process.platform === 'win32') [cmd, args] = ['cmd', ['/c', 'start', '""', url]];
  // Without a display, xdg-open would start a text-mode browser in this terminal.
  else if (process.env.DISPLAY || process.env.WAYLAND_DISPLAY) cmd = 'xdg-open';
  else {
    console.log('No display to open a browser on: open the address above in a browser.');
    return;
  }
  // cmd's own quoting: start's first quoted argument is the window title.
  const child = spawn(cmd, args, { stdio: 'ignore', detached: true, windowsHide: true, windowsVerbatimArguments: process.platform === 'win32' && !chosen });
  child.on('error', () => console.log(`Could not run ${cmd}: open the address above in a browser.`));
  child.on('exit', (code) => {
    if (code !== 0) console.log(`${cmd} could not open a browser: open the address above in a browser.`);
  });
  child.unref();
}

/** The browser mode of scripts/web.mjs, built first if the renderer build is missing or older than its sources (src-renderer and the src-main/common it imports). */
function startBrowserMode(reason) {
  console.log(`tessera: ${reason}.`);
  console.log('Starting the browser mode instead (npm run web): the same app, served to a browser on this machine.');
  const args = [path.join(root, 'scripts', 'web.mjs')];
  if (!staleness(root, 'out/renderer/index.html', ['src-renderer', 'src-main/common'])) args.push('--no-build');
  const child = spawn(process.execPath, args, { cwd: root, stdio: ['inherit', 'pipe', 'inherit'] });
  let opened = false;
  readline.createInterface({ input: child.stdout }).on('line', (line) => {
    console.log(line);
    const url = /(http:\/\/127\.0\.0\.1:\d+\/\S*)/.exec(line)?.[1];
    if (url && !opened) {
      opened = true;
      openInBrowser(url);
    }
  });
  // The server stops on these signals itself; a Ctrl+C in the terminal reaches both processes.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}

let reason = null;
try {
  if (!electronInstalled()) {
    const failure = downloadElectron();
    if (failure) reason = `the Electron runtime could not be downloaded (${failure}; check the internet connection, a proxy, or ELECTRON_MIRROR)`;
  }
  if (!reason) {
    let binding;
    try {
      binding = ensureElectronBinding();
    } catch (e) {
      reason = e.message;
    }
    if (binding) {
      const cli = path.join(root, 'node_modules', 'electron-vite', 'bin', 'electron-vite.js');
      const child = spawn(process.execPath, [cli, dev ? 'dev' : 'preview'], {
        cwd: root,
        stdio: 'inherit',
        env: { ...process.env, TESSERA_SQLITE_BINDING: binding },
      });
      child.on('exit', (code) => process.exit(code ?? 0));
    }
  }
} catch (e) {
  console.error(`tessera: ${e.message}`);
  process.exit(1);
}
if (reason) {
  if (dev) {
    console.error(`tessera: ${reason}. Without Electron, use the browser mode: npm run web`);
    process.exit(1);
  }
  startBrowserMode(reason);
}
