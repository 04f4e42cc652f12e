import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, type CliIo } from '../../src-main/cli/main';
import { cmdServe } from '../../src-main/cli/team';
import { Dataset } from '../../src-main/services/dataset';
import { roleOf, verifyLogin } from '../../src-main/team/accounts';
import { freshPgDataset, pgSkipReason, type PgDataset } from '../helpers/postgres';
import { tempDir } from '../helpers/shared';

const skip = pgSkipReason();

function io(): CliIo & { lines: string[]; errors: string[] } {
  const lines: string[] = [];
  const errors: string[] = [];
  return { lines, errors, out: (s) => lines.push(s), err: (s) => errors.push(s), tty: false };
}

async function withPassword<T>(pw: string | undefined, fn: () => Promise<T>): Promise<T> {
  const saved = process.env['TESSERA_PASSWORD'];
  if (pw === undefined) delete process.env['TESSERA_PASSWORD'];
  else process.env['TESSERA_PASSWORD'] = pw;
  try {
    return await fn();
  } finally {
    if (saved === undefined) delete process.env['TESSERA_PASSWORD'];
    else process.env['TESSERA_PASSWORD'] = saved;
  }
}

const sfx = crypto.randomBytes(3).toString('hex');
let pgds: PgDataset;
let root: string;

describe('tessera serve and tessera user', () => {
  it('refuses to serve a SQLite dataset, naming PostgreSQL', async () => {
    const o = io();
    const file = path.join(tempDir(), 'd.tessera');
    expect(await runCli(['serve', file, '--listen', '127.0.0.1:0'], o)).toBe(2);
    expect(o.errors.join('\n')).toContain('team mode needs a PostgreSQL dataset');
    const u = io();
    expect(await runCli(['user', 'add', file, 'ann'], u)).toBe(2);
    expect(u.errors.join('\n')).toContain('team mode needs a PostgreSQL dataset');
  });

  describe.skipIf(skip)('on PostgreSQL', () => {
    beforeAll(async () => {
      pgds = await freshPgDataset('teamcli');
      root = tempDir();
      await (await Dataset.create(pgds.url, root)).close();
    });
    afterAll(async () => {
      await pgds?.drop();
    });

    it('adds a user with a role, the password from TESSERA_PASSWORD, never from the command line', async () => {
      const name = `lead-${sfx}`;
      const argv = io();
      expect(await runCli(['user', 'add', pgds.url, name, 'secret-on-argv'], argv)).toBe(2);
      expect(argv.errors.join('\n')).toContain('no password on the command line');

      const o = io();
      expect(await withPassword('a long passphrase', () => runCli(['user', 'add', pgds.url, name, '--role', 'manager'], o))).toBe(0);
      expect(o.lines.join('\n')).toContain(`added ${name} as manager`);
      const ds = await Dataset.open(pgds.url);
      try {
        expect(await verifyLogin(ds.db, name, 'a long passphrase')).toBe(true);
        expect(await verifyLogin(ds.db, name, 'another passphrase')).toBe(false);
        expect(await roleOf(ds.db, ds.uuid, name)).toBe('manager');
      } finally {
        await ds.close();
      }

      const again = io();
      expect(await withPassword('a long passphrase', () => runCli(['user', 'add', pgds.url, name], again))).toBe(2);
      expect(again.errors.join('\n')).toContain('already exists');
      const short = io();
      expect(await withPassword('short', () => runCli(['user', 'add', pgds.url, `x-${sfx}`], short))).toBe(2);
      expect(short.errors.join('\n')).toContain('at least 8 characters');
    });

    it('changes roles and passwords, disables and lists accounts', async () => {
      const name = `ann-${sfx}`;
      expect(await withPassword('first password', () => runCli(['user', 'add', pgds.url, name], io()))).toBe(0);
      expect(await runCli(['user', 'role', pgds.url, name, 'reviewer'], io())).toBe(0);
      const list = io();
      expect(await runCli(['user', 'list', pgds.url, '--json'], list)).toBe(0);
      const users = JSON.parse(list.lines.join('\n')) as { user: string; role: string | null; disabled: boolean }[];
      expect(users.find((u) => u.user === name)).toMatchObject({ role: 'reviewer', disabled: false });
      expect(await runCli(['user', 'role', pgds.url, name, 'boss'], io())).toBe(2);
      expect(await withPassword('second password', () => runCli(['user', 'passwd', pgds.url, name], io()))).toBe(0);
      expect(await runCli(['user', 'disable', pgds.url, name], io())).toBe(0);
      const ds = await Dataset.open(pgds.url);
      try {
        expect(await verifyLogin(ds.db, name, 'first password')).toBe(false);
        // Disabled: the right password does not log in either.
        expect(await verifyLogin(ds.db, name, 'second password')).toBe(false);
        expect(await runCli(['user', 'enable', pgds.url, name], io())).toBe(0);
        expect(await verifyLogin(ds.db, name, 'second password')).toBe(true);
        expect(await runCli(['user', 'role', pgds.url, name, 'none'], io())).toBe(0);
        expect(await roleOf(ds.db, ds.uuid, name)).toBeNull();
      } finally {
        await ds.close();
      }
    });

    it('serves until told to stop, printing its URL', async () => {
      const staticDir = tempDir();
      fs.writeFileSync(path.join(staticDir, 'index.html'), '<!doctype html>');
      const o = io();
      let stop!: () => void;
      const stopped = new Promise<void>((r) => (stop = r));
      const running = cmdServe([pgds.url, '--listen', '127.0.0.1:0', '--static', staticDir, '--config-dir', tempDir(), '--lease-seconds', '30'], o, stopped);
      let failed: unknown = null;
      running.catch((e: unknown) => (failed = e));
      await expect.poll(() => failed ?? o.lines[0] ?? '', { timeout: 15_000 }).toMatch(/^Tessera team server for .* at http:\/\/127\.0\.0\.1:\d+\/$/);
      const url = /at (http:\S+)/.exec(o.lines[0]!)![1]!;
      const r = await fetch(new URL('/login', url));
      expect(r.status).toBe(200);
      expect(o.lines[1]).toContain(root);
      stop();
      expect(await running).toBe(0);
      await expect(fetch(new URL('/login', url))).rejects.toThrow();
      const bad = io();
      expect(await runCli(['serve', pgds.url, '--listen', 'nowhere'], bad)).toBe(2);
      expect(bad.errors.join('\n')).toContain('--listen takes HOST:PORT');
    });
  });
});
