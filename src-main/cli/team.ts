import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { AppError } from '../common/errors';
import { ROLES, type Role } from '../common/team';
import { isPostgresUrl, redact } from '../db/postgres';
import { Dataset } from '../services/dataset';
import type { CliIo } from './main';

/**
 * `tessera serve` (the team server) and `tessera user` (its accounts). Team mode keeps its
 * accounts and leases in PostgreSQL, so both take a postgres:// dataset URL.
 */

export const TEAM_USAGE = `  tessera serve <postgres://…> --listen HOST:PORT [--root DIR]... [--tls-cert FILE --tls-key FILE]
                 [--lease-seconds 60] [--session-hours 12] [--allow-host NAME]... [--static DIR]
  tessera user add <postgres://…> <name> [--role annotator|reviewer|manager]
  tessera user passwd <postgres://…> <name>
  tessera user disable|enable <postgres://…> <name>
  tessera user role <postgres://…> <name> annotator|reviewer|manager|none
  tessera user list <postgres://…> [--json]`;

function parse(args: string[], options: NonNullable<ParseArgsConfig['options']>) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new AppError('INVALID_ARGUMENT', (e as Error).message);
  }
}

function needPostgres(url: string | undefined, what: string): string {
  if (!url) throw new AppError('INVALID_ARGUMENT', `${what} takes a PostgreSQL dataset URL (postgres://…)`);
  if (!isPostgresUrl(url)) {
    throw new AppError('INVALID_ARGUMENT', `${url}: team mode needs a PostgreSQL dataset (postgres://…); tessera copy ${url} postgres://… moves a dataset there`);
  }
  return url;
}

function parseRole(s: string | undefined): Role {
  if (!s || !(ROLES as readonly string[]).includes(s)) throw new AppError('INVALID_ARGUMENT', `role must be one of ${ROLES.join(', ')} (got "${s ?? ''}")`);
  return s as Role;
}

/** The new password: TESSERA_PASSWORD, else one line of standard input (never the command line). */
async function readPassword(io: CliIo): Promise<string> {
  const fromEnv = process.env['TESSERA_PASSWORD'];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  if (process.stdin.isTTY) io.err('password (the line is shown as typed; TESSERA_PASSWORD avoids that):');
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) {
    chunks.push(c as Buffer);
    if (Buffer.concat(chunks).includes(10)) break;
  }
  const line = Buffer.concat(chunks).toString('utf8').split(/\r?\n/)[0] ?? '';
  if (!line) throw new AppError('INVALID_ARGUMENT', 'no password given: set TESSERA_PASSWORD or write it on standard input');
  return line;
}

async function withDataset<T>(url: string, fn: (ds: Dataset) => Promise<T>): Promise<T> {
  const ds = await Dataset.open(url);
  try {
    const { ensureAccounts } = await import('../team/accounts');
    await ensureAccounts(ds.db);
    return await fn(ds);
  } finally {
    await ds.close();
  }
}

export async function cmdUser(args: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args;
  const { values, positionals } = parse(rest, { role: { type: 'string' }, json: { type: 'boolean', default: false } });
  const url = needPostgres(positionals[0], `user ${sub ?? ''}`.trim());
  const name = positionals[1];
  if ((sub === 'add' || sub === 'passwd') && positionals.length > 2) {
    throw new AppError('INVALID_ARGUMENT', `user ${sub} takes no password on the command line (it would stay in the shell history): set TESSERA_PASSWORD or write it on standard input`);
  }
  const a = await import('../team/accounts');
  const needName = (): string => {
    if (!name) throw new AppError('INVALID_ARGUMENT', `user ${sub} takes the dataset URL and a user name`);
    return name;
  };
  switch (sub) {
    case 'add': {
      const user = needName();
      const role = values['role'] === undefined ? null : parseRole(values['role'] as string);
      const password = await readPassword(io);
      return withDataset(url, async (ds) => {
        await a.addUser(ds.db, user, password);
        if (role) await a.setRole(ds.db, ds.uuid, user, role);
        io.out(`added ${user}${role ? ` as ${role} of ${ds.name}` : ' (no role yet: tessera user role gives one)'}`);
        return 0;
      });
    }
    case 'passwd': {
      const user = needName();
      const password = await readPassword(io);
      return withDataset(url, async (ds) => {
        await a.setPassword(ds.db, user, password);
        io.out(`changed the password of ${user} (their sessions ended)`);
        return 0;
      });
    }
    case 'disable':
    case 'enable': {
      const user = needName();
      return withDataset(url, async (ds) => {
        await a.disableUser(ds.db, user, sub === 'disable');
        io.out(`${sub}d ${user}`);
        return 0;
      });
    }
    case 'role': {
      const user = needName();
      const given = positionals[2];
      const role = given === 'none' ? null : parseRole(given);
      return withDataset(url, async (ds) => {
        await a.setRole(ds.db, ds.uuid, user, role);
        io.out(role ? `${user} is ${role} of ${ds.name}` : `${user} has no role on ${ds.name}`);
        return 0;
      });
    }
    case 'list':
      return withDataset(url, async (ds) => {
        const users = await a.listUsers(ds.db, ds.uuid);
        if (values['json']) io.out(JSON.stringify(users, null, 2));
        else for (const u of users) io.out(`${u.user}\t${u.role ?? '-'}${u.disabled ? '\tdisabled' : ''}`);
        return 0;
      });
    default:
      throw new AppError('INVALID_ARGUMENT', `user takes add, passwd, disable, enable, role or list\n${TEAM_USAGE}`);
  }
}

/** The built renderer: --static, TESSERA_RENDERER_DIR, else out/renderer of this checkout. */
function rendererDir(given: string | undefined): string {
  const dir = given ?? process.env['TESSERA_RENDERER_DIR'] ?? path.join(fileURLToPath(new URL('../..', import.meta.url)), 'out', 'renderer');
  if (!fs.existsSync(path.join(dir, 'index.html'))) {
    throw new AppError('FILE_NOT_FOUND', `${path.join(dir, 'index.html')}: the app is not built there (npx electron-vite build builds it, or give --static DIR)`, { path: dir });
  }
  return path.resolve(dir);
}

function parseListen(s: string | undefined): { host: string; port: number } {
  const m = s ? /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(s) : null;
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new AppError('INVALID_ARGUMENT', `--listen takes HOST:PORT, e.g. 0.0.0.0:8443 (got "${s ?? ''}")`);
  return { host: (m[1] ?? m[2])!, port };
}

function positive(name: string, s: string | undefined, fallback: number): number {
  if (s === undefined) return fallback;
  const n = Number(s);
  if (!Number.isFinite(n) || n <= 0) throw new AppError('INVALID_ARGUMENT', `--${name} takes a positive number (got "${s}")`);
  return n;
}

/** Serves the dataset until SIGINT or SIGTERM, then closes cleanly. */
export async function cmdServe(args: string[], io: CliIo, stop?: Promise<void>): Promise<number> {
  const { values, positionals } = parse(args, {
    listen: { type: 'string' },
    root: { type: 'string', multiple: true },
    'tls-cert': { type: 'string' },
    'tls-key': { type: 'string' },
    'lease-seconds': { type: 'string' },
    'session-hours': { type: 'string' },
    'allow-host': { type: 'string', multiple: true },
    static: { type: 'string' },
    'config-dir': { type: 'string' },
  });
  if (positionals.length !== 1) throw new AppError('INVALID_ARGUMENT', `serve takes one dataset URL\n${TEAM_USAGE}`);
  const url = needPostgres(positionals[0], 'serve');
  const { host, port } = parseListen(values['listen'] as string | undefined);
  const hours = positive('session-hours', values['session-hours'] as string | undefined, 12);
  const { startTeamServer } = await import('../team/server');
  const server = await startTeamServer({
    url,
    host,
    port,
    staticDir: rendererDir(values['static'] as string | undefined),
    configDir: (values['config-dir'] as string | undefined) ?? path.join(os.homedir(), '.config', 'tessera-team'),
    version: process.env['npm_package_version'] ?? 'team',
    roots: values['root'] as string[] | undefined,
    tlsCert: values['tls-cert'] as string | undefined,
    tlsKey: values['tls-key'] as string | undefined,
    leaseSeconds: positive('lease-seconds', values['lease-seconds'] as string | undefined, 60),
    session: { lifetimeMs: hours * 3600_000, idleMs: Math.min(hours, 2) * 3600_000 },
    allowHosts: values['allow-host'] as string[] | undefined,
  });
  io.out(`Tessera team server for ${redact(url)} at ${server.url}`);
  io.out(`Imports, exports and models are limited to: ${server.roots.join(', ')}`);
  await (stop ??
    new Promise<void>((resolve) => {
      process.once('SIGINT', () => resolve());
      process.once('SIGTERM', () => resolve());
    }));
  await server.close();
  io.out('stopped');
  return 0;
}
