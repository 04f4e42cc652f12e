import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import { WebSocketServer, type WebSocket } from 'ws';
import { CHANNELS, type Channel, type EventName, type Events, type ParsedArgs } from '../common/contract';
import { AppError, type ErrorData, type Result } from '../common/errors';
import { roleAtLeast, type LeaseState, type Role } from '../common/team';
import { isPostgresUrl } from '../db/postgres';
import { slicesOf } from '../db/stacks';
import { asUser, type Dataset } from '../services/dataset';
import { dispatch } from '../services/dispatch';
import { confinedHandlers, realPathOf } from '../services/pathGuard';
import { isInside } from '../services/paths';
import { Workspace, type Handlers } from '../services/workspace';
import { deny, parseCall, serveMedia, serveStatic } from '../web/serve';
import { MAX_MESSAGE_BYTES, WEB_CSP } from '../web/server';
import {
  createSession,
  DEFAULT_SESSION_POLICY,
  endSession,
  ensureAccounts,
  members,
  roleOf,
  sessionUser,
  setRole,
  verifyLogin,
  type SessionPolicy,
} from './accounts';
import { openQueue, listWorkers, runParts, type TeamQueue } from './queue';
import { CHANNEL_EFFECTS, CHANNEL_ROLES, LEASED_CHANNELS } from './roles';
import * as work from './work';

/**
 * The team server (`tessera serve`): one PostgreSQL dataset served to many people. Each logs in
 * with an account (accounts.ts) and gets a session cookie; every request needs that session, and
 * every call over the WebSocket is checked against the caller's role on the dataset (roles.ts),
 * runs on that user's behalf (edits, undo and the journal are theirs), needs the image's lease
 * for shape edits, and is written to the audit log when it changes something.
 */
export interface TeamServerOptions {
  /** The dataset: a postgres:// URL. */
  url: string;
  /** Address to listen on (e.g. 127.0.0.1, 0.0.0.0); port 0 picks a free one. */
  host: string;
  port: number;
  /** Built renderer (out/renderer). */
  staticDir: string;
  /** Folder for the server's own settings (models added, recent list). */
  configDir: string;
  version: string;
  /** Folders path arguments (imports, exports, models) must lie in; the dataset's image folder when not given. */
  roots?: readonly string[];
  /** PEM files: serve HTTPS (both or neither). */
  tlsCert?: string;
  tlsKey?: string;
  /** Seconds an image lease lasts without renewal (default 60). */
  leaseSeconds?: number;
  session?: Partial<SessionPolicy>;
  /** Host names (besides the listen address) browsers may reach the server by. */
  allowHosts?: readonly string[];
  maxMessageBytes?: number;
  maxPixels?: number;
  /** Failed logins allowed before the delays start, and the delays (tests shorten them). */
  loginLimit?: Partial<LoginLimitOptions>;
}

export interface TeamServer {
  url: string;
  port: number;
  /** The dataset served (for the owner's scripts and tests). */
  dataset: Dataset;
  roots: readonly string[];
  close(): Promise<void>;
}

export const TEAM_COOKIE = 'tessera_team';
const LOGIN_CSP = WEB_CSP.replace("form-action 'none'", "form-action 'self'");
const MAX_FORM_BYTES = 4096;

export interface LoginLimitOptions {
  /** Failures allowed before each attempt has to wait. */
  free: number;
  /** The first wait; each further failure doubles it. */
  baseMs: number;
  maxMs: number;
}

/**
 * Slows password guessing: failures are counted per account name and per client address; past
 * `free` failures, an attempt for that name or from that address is refused until a delay has
 * passed since the last failure (1 s, 2 s, 4 s ... up to 5 min). A success clears the name's count.
 */
export class LoginLimiter {
  private readonly entries = new Map<string, { failures: number; last: number }>();
  private readonly o: LoginLimitOptions;

  constructor(o: Partial<LoginLimitOptions> = {}) {
    this.o = { free: 3, baseMs: 1000, maxMs: 300_000, ...o };
  }

  /** Milliseconds to wait before an attempt for these keys is looked at; 0 when it may go ahead. */
  wait(keys: readonly string[], now = Date.now()): number {
    let ms = 0;
    for (const k of keys) {
      const e = this.entries.get(k);
      if (!e || e.failures < this.o.free) continue;
      const delay = Math.min(this.o.baseMs * 2 ** (e.failures - this.o.free), this.o.maxMs);
      ms = Math.max(ms, e.last + delay - now);
    }
    return ms;
  }

  fail(keys: readonly string[], now = Date.now()): void {
    if (this.entries.size > 10_000) {
      for (const [k, e] of this.entries) if (now - e.last > this.o.maxMs) this.entries.delete(k);
    }
    for (const k of keys) {
      const e = this.entries.get(k) ?? { failures: 0, last: now };
      e.failures++;
      e.last = now;
      this.entries.set(k, e);
    }
  }

  succeed(key: string): void {
    this.entries.delete(key);
  }
}

/** One open WebSocket: whose it is and the leases it took. */
interface Conn {
  ws: WebSocket;
  token: string;
  sessionId: string;
  user: string;
  role: Role;
  /** Set by logout: the next call answers UNAUTHENTICATED. */
  ended: boolean;
  leased: Set<number>;
  handlers: Handlers;
}

const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function loginPage(message: string | null, user = ''): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Tessera: log in</title><link rel="icon" href="data:,">
<style>body{font:15px system-ui,sans-serif;background:#1e1f22;color:#ddd;display:flex;justify-content:center;margin-top:12vh}
form{display:flex;flex-direction:column;gap:.6em;width:18em}input,button{font:inherit;padding:.4em}p.error{color:#f88}</style></head>
<body><form method="post" action="/login"><h1>Tessera</h1>
${message ? `<p class="error" role="alert">${escapeHtml(message)}</p>` : ''}
<label>User <input name="user" autocomplete="username" required value="${escapeHtml(user)}" autofocus></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required></label>
<button type="submit">Log in</button></form></body></html>`;
}

function cookieToken(req: http.IncomingMessage): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === TEAM_COOKIE) return v.join('=');
  }
  return undefined;
}

function readForm(req: http.IncomingMessage): Promise<URLSearchParams | null> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_FORM_BYTES) {
        // The rest is not read; the answer closes the connection.
        req.removeAllListeners('data');
        req.pause();
        resolve(null);
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(new URLSearchParams(Buffer.concat(chunks).toString('utf8'))));
    req.on('error', reject);
  });
}

function readPem(file: string, what: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    throw new AppError('FILE_NOT_FOUND', `${file}: cannot read the TLS ${what} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { path: file });
  }
}

const isLoopback = (h: string): boolean => h === 'localhost' || h === '::1' || /^127\./.test(h);
const hostPart = (h: string): string => (h.includes(':') ? `[${h}]` : h).toLowerCase();

/** The image a call is about, for the audit log: `imageId`, else `id`, else a single `ids` entry. */
/** Channels whose handlers above append their own audit entries, one per image. */
const AUDITED_PER_IMAGE = new Set<Channel>(['predictions:accept', 'predictions:reject']);

function auditImage(channel: Channel, args: Record<string, unknown>): number | null {
  if (typeof args['imageId'] === 'number') return args['imageId'];
  const idIsImage = channel.startsWith('images:');
  if (idIsImage && typeof args['id'] === 'number') return args['id'];
  const ids = args['ids'];
  if (idIsImage && Array.isArray(ids) && ids.length === 1 && typeof ids[0] === 'number') return ids[0];
  return null;
}

export async function startTeamServer(opts: TeamServerOptions): Promise<TeamServer> {
  if (!isPostgresUrl(opts.url)) {
    throw new AppError('INVALID_ARGUMENT', `${opts.url}: team mode needs a PostgreSQL dataset (postgres://…); copy a .tessera file into one with tessera copy`);
  }
  if (Boolean(opts.tlsCert) !== Boolean(opts.tlsKey)) throw new AppError('INVALID_ARGUMENT', 'give both --tls-cert and --tls-key, or neither');
  const tls = opts.tlsCert && opts.tlsKey ? { cert: readPem(opts.tlsCert, 'certificate'), key: readPem(opts.tlsKey, 'key') } : null;
  const scheme = tls ? 'https' : 'http';
  const policy: SessionPolicy = { ...DEFAULT_SESSION_POLICY, ...opts.session };
  const leaseMs = (opts.leaseSeconds ?? 60) * 1000;
  const limiter = new LoginLimiter(opts.loginLimit);
  const conns = new Set<Conn>();

  const emit = <E extends EventName>(event: E, payload: Events[E]): void => {
    const msg = JSON.stringify({ t: 'event', event, payload });
    // A job's progress goes to the connection that started it (an import, a run, an export), not
    // to everyone: it names files and models of that person's work.
    const owner = event === 'job:progress' ? jobOwners.get((payload as Events['job:progress']).jobId) : undefined;
    for (const c of owner ? [owner] : conns) if (!c.ended && c.ws.readyState === c.ws.OPEN) c.ws.send(msg);
  };
  const workspace = new Workspace({ configDir: opts.configDir, mode: 'web', version: opts.version, emit, maxPixels: opts.maxPixels });
  await workspace.handlers['dataset:open']({ path: opts.url });
  const ds = workspace.current!;
  let confined: ReturnType<typeof confinedHandlers>;
  try {
    confined = confinedHandlers(workspace, opts.roots?.length ? opts.roots : [ds.root]);
    if (!confined.roots.some((r) => isInside(r, realPathOf(ds.root)))) {
      throw new AppError('PATH_NOT_ALLOWED', `${ds.root}: the dataset's image folder is outside the served folders (${confined.roots.join(', ')}); add --root ${ds.root}`);
    }
    await ensureAccounts(ds.db);
  } catch (e) {
    await workspace.dispose();
    throw e;
  }
  const db = ds.db;
  const uuid = ds.uuid;

  let queue: Promise<TeamQueue> | null = null;
  const teamQueue = (): Promise<TeamQueue> => {
    queue ??= openQueue(ds, { configDir: opts.configDir }).catch((e: unknown) => {
      queue = null;
      throw e;
    });
    return queue;
  };
  /** The connection that started each background job: only its user (or a manager) may cancel it, and only it hears its progress. */
  const jobOwners = new Map<string, Conn>();

  const audit = async (user: string, action: string, imageId: number | null, detail: unknown): Promise<void> => {
    try {
      await work.recordAudit(ds, { user, action, imageId, detail: detail ?? {} });
    } catch (e) {
      console.error(`[tessera] audit of ${action} by ${user} failed:`, (e as Error).message);
    }
  };
  /** Bookkeeping for the dashboard; its failure does not undo the call it follows. */
  const note = async (what: string, fn: () => Promise<unknown>): Promise<void> => {
    try {
      await fn();
    } catch (e) {
      console.error(`[tessera] ${what} failed:`, (e as Error).message);
    }
  };

  /** Tells every socket that an image's lease changed, each from its own side. */
  const leaseChanged = (state: LeaseState, by: Conn | null): void => {
    for (const c of conns) {
      if (c.ended || c.ws.readyState !== c.ws.OPEN) continue;
      const mine = state.mine && by !== null && c.sessionId === by.sessionId;
      c.ws.send(JSON.stringify({ t: 'event', event: 'lease:changed', payload: { ...state, mine } }));
    }
  };

  /**
   * Runs a call on predictions and then, per image they are on, appends an audit entry naming
   * those predictions and tells viewers that image's shapes changed.
   */
  const perImage = async <T>(conn: Conn, action: Channel, ids: readonly number[], run: () => Promise<T> | T): Promise<T> => {
    const unique = [...new Set(ids)];
    const rows = unique.length
      ? ((await db.prepare('SELECT id, image_id AS imageId FROM annotations WHERE id IN (SELECT value FROM json_each(?))').all(JSON.stringify(unique))) as { id: number; imageId: number }[])
      : [];
    const result = await run();
    const byImage = new Map<number, number[]>();
    for (const r of rows) byImage.set(r.imageId, [...(byImage.get(r.imageId) ?? []), r.id]);
    for (const [imageId, of] of byImage) {
      await audit(conn.user, action, imageId, { ids: of.sort((a, b) => a - b) });
      emit('annotations:changed', { imageId, by: conn.user, action });
    }
    return result;
  };

  /** The handlers as one connection's user sees them. */
  const handlersFor = (conn: Conn): Handlers => {
    const base = confined.handlers;
    const leased = <C extends (typeof LEASED_CHANNELS)[number]>(channel: C) =>
      (async (args: ParsedArgs<C>) => {
        // The lease check and the edit are one transaction holding the lease: a lease lapsing
        // meanwhile passes to someone else only after this edit is in.
        const result = await db.transaction(async () => {
          await work.requireLease(ds, args.imageId, conn.sessionId, Date.now(), { hold: true });
          if (channel.startsWith('stacks:')) {
            // Slice tools write into the stack's other images too: none of them may be someone else's now.
            for (const imageId of new Set((await slicesOf(db, args.imageId)).map((sl) => sl.imageId))) {
              if (imageId === args.imageId) continue;
              const lease = await work.leaseOf(ds, imageId, conn.user);
              if (lease.holder !== null && !lease.mine) {
                throw new AppError('LEASED', `image ${imageId} of this stack is being edited by ${lease.holder}`, { imageId, holder: lease.holder });
              }
            }
          }
          return await (base[channel] as (a: ParsedArgs<C>) => Promise<unknown>)(args);
        }).immediate();
        // An undo or redo with nothing left to do changed nothing.
        if (result !== null) emit('annotations:changed', { imageId: args.imageId, by: conn.user, action: channel });
        return result;
      }) as Handlers[C];
    const own: Partial<Handlers> = {
      'annotations:edit': leased('annotations:edit'),
      'annotations:undo': leased('annotations:undo'),
      'annotations:redo': leased('annotations:redo'),
      'stacks:propagate': leased('stacks:propagate'),
      'stacks:interpolate': leased('stacks:interpolate'),
      'images:setStatus': async (args) => {
        const n = await base['images:setStatus'](args);
        await note('recording the status', () => work.markStatus(ds, args.ids, args.status, conn.user));
        return n;
      },
      'images:review': async (args) => {
        const r = await base['images:review'](args);
        await note('recording the review', () => work.markReviewed(ds, args.id, conn.user));
        return r;
      },
      // Predictions are named by their ids: the audit and the viewers learn the images they are on.
      'predictions:accept': async (args) => await perImage(conn, 'predictions:accept', [...args.ids, ...args.edits.map((e) => e.id)], () => base['predictions:accept'](args)),
      'predictions:reject': async (args) => await perImage(conn, 'predictions:reject', args.ids, () => base['predictions:reject'](args)),
      'predictions:acceptAbove': async (args) => {
        const r = await base['predictions:acceptAbove'](args);
        if (args.imageId !== undefined) emit('annotations:changed', { imageId: args.imageId, by: conn.user, action: 'predictions:acceptAbove' });
        return r;
      },
      // Comments are signed by the account, whatever the caller says.
      'comments:add': (args) => base['comments:add']({ ...args, author: conn.user }),
      'comments:resolve': (args) => base['comments:resolve']({ ...args, author: conn.user }),
      // The image to come back to is one person's, not the dataset's: not kept on a shared server.
      'dataset:openImage': () => null,
      'dataset:setOpenImage': () => null,
      'jobs:cancel': (args) => {
        const owner = jobOwners.get(args.jobId)?.user;
        if (owner !== undefined && owner !== conn.user && !roleAtLeast(conn.role, 'manager')) {
          throw new AppError('FORBIDDEN', `jobs:cancel: job ${args.jobId} was started by ${owner}`, { channel: 'jobs:cancel' });
        }
        return base['jobs:cancel'](args);
      },
      'team:me': () => ({ user: conn.user, role: conn.role, leaseSeconds: leaseMs / 1000 }),
      'team:members': () => members(db, uuid),
      'team:setRole': async ({ user, role }) => {
        await setRole(db, uuid, user, role);
        return null;
      },
      'team:lease': async ({ imageId }) => {
        const state = await work.takeLease(ds, imageId, conn.user, conn.sessionId, leaseMs);
        if (state.mine && !conn.leased.has(imageId)) {
          conn.leased.add(imageId);
          await note('recording the start', () => work.markStarted(ds, [imageId], conn.user));
          await audit(conn.user, 'lease:take', imageId, null);
          leaseChanged(state, conn);
        }
        return state;
      },
      'team:release': async ({ imageId }) => {
        conn.leased.delete(imageId);
        if (await work.releaseLease(ds, imageId, conn.sessionId)) {
          await audit(conn.user, 'lease:release', imageId, null);
          leaseChanged({ imageId, mine: false, holder: null, expiresAt: null }, null);
        }
        return null;
      },
      'team:leaseOf': ({ imageId }) => work.leaseOf(ds, imageId, conn.user),
      'team:jobs': () => work.listJobs(ds),
      'team:myJobs': () => work.listJobs(ds, { user: conn.user }),
      'team:createJobs': (args) => work.createJobs(ds, args, conn.user),
      'team:deleteJob': async ({ jobId }) => {
        await work.deleteJob(ds, jobId);
        return null;
      },
      'team:jobImageIds': async ({ jobId }) => {
        const job = await work.getJob(ds, jobId);
        if (!job) throw new AppError('NOT_FOUND', `job ${jobId} does not exist`, { jobId });
        if (job.assignee !== conn.user && job.reviewer !== conn.user && !roleAtLeast(conn.role, 'manager')) {
          throw new AppError('FORBIDDEN', `team:jobImageIds: job ${jobId} is neither assigned to ${conn.user} nor reviewed by them`, { channel: 'team:jobImageIds', needed: 'manager' });
        }
        return work.jobImageIds(ds, jobId);
      },
      'team:dashboard': async () => ({ ...(await work.dashboard(ds)), workers: await listWorkers(ds) }),
      'team:audit': (args) => work.auditLog(ds, args),
      'team:workers': () => listWorkers(ds),
      'team:runParts': ({ runId }) => runParts(ds, runId),
      'team:queuePrelabel': async (args) => (await teamQueue()).queuePrelabel(ds, args, conn.user),
      'team:queueEmbeddings': async (args) => (await teamQueue()).queueEmbeddings(ds, args, conn.user),
    };
    return { ...base, ...own } as Handlers;
  };

  const unauthenticated: ErrorData = { code: 'UNAUTHENTICATED', message: 'your session has ended: log in again' };

  async function onCall(conn: Conn, channel: string, rawArgs: unknown): Promise<Result<unknown>> {
    const session = conn.ended ? null : await sessionUser(db, conn.token, policy);
    if (!session) {
      conn.ended = true;
      return { ok: false, error: unauthenticated };
    }
    const role = await roleOf(db, uuid, conn.user);
    if (!role) return { ok: false, error: { code: 'FORBIDDEN', message: `${conn.user} has no role on this dataset`, detail: { channel } } };
    conn.role = role;
    if (!(CHANNELS as readonly string[]).includes(channel)) return dispatch(conn.handlers, channel, rawArgs);
    const c = channel as Channel;
    const args = (rawArgs && typeof rawArgs === 'object' ? rawArgs : {}) as Record<string, unknown>;
    const needed = CHANNEL_ROLES[c];
    if (needed === 'never' || !roleAtLeast(role, needed)) {
      await audit(conn.user, `refused:${c}`, auditImage(c, args), rawArgs);
      const message =
        needed === 'never'
          ? `${c}: not available on a team server`
          : `${c}: needs the ${needed} role; ${conn.user} is ${role === 'annotator' ? 'an' : 'a'} ${role} on this dataset`;
      return { ok: false, error: { code: 'FORBIDDEN', message, detail: { channel: c, needed, role } } };
    }
    const jobId = typeof args['jobId'] === 'string' && c !== 'jobs:cancel' ? args['jobId'] : null;
    if (jobId !== null) jobOwners.set(jobId, conn);
    let result: Result<unknown>;
    try {
      result = await asUser(conn.user, () => dispatch(conn.handlers, c, rawArgs));
    } finally {
      if (jobId !== null) jobOwners.delete(jobId);
    }
    if (result.ok && CHANNEL_EFFECTS[c] === 'change' && !AUDITED_PER_IMAGE.has(c)) await audit(conn.user, c, auditImage(c, args), rawArgs);
    if (!result.ok && (result.error.code === 'LEASED' || result.error.code === 'FORBIDDEN')) await audit(conn.user, `refused:${c}`, auditImage(c, args), rawArgs);
    return result;
  }

  // ---- HTTP ----

  let port = 0;
  const names = new Set<string>((opts.allowHosts ?? []).map(hostPart));
  const wildcard = opts.host === '0.0.0.0' || opts.host === '::';
  if (!wildcard) names.add(hostPart(opts.host));
  if (wildcard || isLoopback(opts.host)) {
    names.add('localhost');
    names.add('127.0.0.1');
  }
  const defaultPort = (): boolean => port === (tls ? 443 : 80);
  const hostOk = (h: string | undefined): boolean => {
    if (!h) return false;
    const lower = h.toLowerCase();
    for (const n of names) if (lower === `${n}:${port}` || (defaultPort() && lower === n)) return true;
    return false;
  };
  const originOk = (o: string | undefined): boolean => Boolean(o && o.startsWith(`${scheme}://`) && hostOk(o.slice(scheme.length + 3)));
  const cookie = (value: string, extra = ''): string => `${TEAM_COOKIE}=${value}; HttpOnly; SameSite=Strict; Path=/${tls ? '; Secure' : ''}${extra}`;

  const html = (res: http.ServerResponse, status: number, body: string, headers: http.OutgoingHttpHeaders = {}): void => {
    res.writeHead(status, {
      'content-type': 'text/html; charset=utf-8',
      'content-security-policy': LOGIN_CSP,
      'x-content-type-options': 'nosniff',
      'cache-control': 'no-store',
      ...headers,
    });
    res.end(body);
  };

  async function login(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (!originOk(req.headers.origin)) return deny(res, 403, 'login refused: the form must come from this server');
    if (!(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) return deny(res, 415, 'login takes a form');
    const form = await readForm(req);
    if (!form) return deny(res, 413, 'login form too large', { connection: 'close' });
    const user = (form.get('user') ?? '').trim().slice(0, 64);
    const password = form.get('password') ?? '';
    const keys = [`user:${user}`, `ip:${req.socket.remoteAddress ?? ''}`];
    const wait = limiter.wait(keys);
    if (wait > 0) {
      const secs = Math.ceil(wait / 1000);
      return html(res, 429, loginPage(`Too many failed logins: try again in ${secs} s.`, user), { 'retry-after': String(secs) });
    }
    if (!user || !(await verifyLogin(db, user, password))) {
      limiter.fail(keys);
      return html(res, 401, loginPage('Wrong user name or password.', user));
    }
    limiter.succeed(keys[0]!);
    const { token } = await createSession(db, user, policy);
    res.writeHead(302, { location: '/', 'set-cookie': cookie(token), 'cache-control': 'no-store' });
    res.end();
  }

  async function logout(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (!originOk(req.headers.origin)) return deny(res, 403, 'logout refused: the request must come from this server');
    const token = cookieToken(req);
    const id = token ? await endSession(db, token) : null;
    if (id) {
      for (const c of conns) if (c.sessionId === id) c.ended = true;
      await note('releasing the leases', async () => {
        for (const imageId of await work.releaseSessionLeases(ds, id)) leaseChanged({ imageId, mine: false, holder: null, expiresAt: null }, null);
      });
    }
    res.writeHead(302, { location: '/login', 'set-cookie': cookie('', '; Max-Age=0'), 'cache-control': 'no-store' });
    res.end();
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (!hostOk(req.headers.host)) return deny(res, 421, 'unexpected Host header');
    let url: URL;
    try {
      url = new URL(req.url ?? '/', `${scheme}://localhost`);
    } catch {
      return deny(res, 400, 'malformed request target');
    }
    if (url.pathname === '/login') {
      if (req.method === 'POST') return login(req, res);
      if (req.method === 'GET' || req.method === 'HEAD') return html(res, 200, loginPage(null));
      return deny(res, 405, 'method not allowed');
    }
    if (url.pathname === '/logout') {
      if (req.method === 'POST') return logout(req, res);
      return deny(res, 405, 'method not allowed');
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return deny(res, 405, 'method not allowed');
    const session = await sessionUser(db, cookieToken(req), policy);
    if (!session) {
      const wantsHtml = url.pathname === '/' || url.pathname.endsWith('.html') || (req.headers.accept ?? '').includes('text/html');
      if (wantsHtml) {
        res.writeHead(302, { location: '/login', 'cache-control': 'no-store' });
        return void res.end();
      }
      return deny(res, 401, 'log in first');
    }
    if (!(await roleOf(db, uuid, session.user))) return deny(res, 403, 'no role on this dataset');
    if (url.pathname.startsWith('/media/')) return serveMedia(workspace, url.pathname.slice('/media/'.length), req, res);
    serveStatic(opts.staticDir, url.pathname, res, WEB_CSP);
  }

  const onRequest = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    void handle(req, res).catch((e) => {
      console.error('[tessera] team server:', e);
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('internal error');
    });
  };
  const server = tls ? https.createServer({ cert: tls.cert, key: tls.key }, onRequest) : http.createServer(onRequest);

  const wss = new WebSocketServer({ noServer: true, maxPayload: opts.maxMessageBytes ?? MAX_MESSAGE_BYTES });
  wss.on('error', (e) => console.error('[tessera] WebSocket server:', e.message));
  const refuse = (socket: import('node:stream').Duplex, status: string): void => {
    socket.write(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    socket.destroy();
  };

  server.on('upgrade', (req, socket, head) => {
    socket.on('error', () => socket.destroy());
    void (async () => {
      const pathname = URL.parse(req.url ?? '/', 'http://localhost')?.pathname;
      if (pathname !== '/ws' || !hostOk(req.headers.host) || !originOk(req.headers.origin)) return refuse(socket, '403 Forbidden');
      const token = cookieToken(req);
      const session = await sessionUser(db, token, policy);
      if (!session || !token) return refuse(socket, '401 Unauthorized');
      const role = await roleOf(db, uuid, session.user);
      if (!role) return refuse(socket, '403 Forbidden');
      wss.handleUpgrade(req, socket, head, (ws) => {
        const conn = { ws, token, sessionId: session.id, user: session.user, role, ended: false, leased: new Set<number>() } as Conn;
        conn.handlers = handlersFor(conn);
        conns.add(conn);
        const gone = (): void => {
          if (!conns.delete(conn)) return;
          // Leases this socket took go with it, unless another socket of the session holds them too.
          const keep = new Set([...conns].filter((c) => c.sessionId === conn.sessionId).flatMap((c) => [...c.leased]));
          for (const imageId of conn.leased) {
            if (keep.has(imageId)) continue;
            void note('releasing a lease', async () => {
              if (await work.releaseLease(ds, imageId, conn.sessionId)) leaseChanged({ imageId, mine: false, holder: null, expiresAt: null }, null);
            });
          }
        };
        ws.on('close', gone);
        ws.on('error', gone);
        ws.on('message', (data) => {
          const call = parseCall(data);
          if (!call) return;
          const { id } = call;
          void onCall(conn, call.channel, call.args)
            .catch((e: unknown): Result<unknown> => ({ ok: false, error: { code: 'INTERNAL', message: (e as Error).message } }))
            .then((result) => {
              if (ws.readyState !== ws.OPEN) return;
              ws.send(JSON.stringify({ t: 'result', id, result }));
              if (!result.ok && result.error.code === 'UNAUTHENTICATED') ws.close(4401, 'session ended');
            });
        });
      });
    })().catch((e: unknown) => {
      console.error('[tessera] WebSocket upgrade:', (e as Error).message);
      refuse(socket, '500 Internal Server Error');
    });
  });

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port, opts.host, () => resolve());
    });
  } catch (e) {
    await workspace.dispose();
    const err = e as NodeJS.ErrnoException;
    throw new AppError('INVALID_ARGUMENT', `cannot listen on ${opts.host}:${opts.port} (${err.code ?? err.message})`);
  }
  port = (server.address() as { port: number }).port;
  server.on('error', (e) => console.error('[tessera] team server:', e.message));
  const shownHost = wildcard ? (opts.allowHosts?.[0] ?? os.hostname()) : opts.host;
  const shown = names.has(hostPart(shownHost)) ? hostPart(shownHost) : '127.0.0.1';

  return {
    url: `${scheme}://${shown}:${port}/`,
    port,
    dataset: ds,
    roots: confined.roots,
    close: async () => {
      // The leases of open sockets go before the dataset closes.
      const open = [...conns];
      conns.clear();
      for (const c of open) {
        for (const imageId of c.leased) await note('releasing a lease', () => work.releaseLease(ds, imageId, c.sessionId));
        c.ws.terminate();
      }
      wss.close();
      server.closeAllConnections?.();
      await new Promise<void>((r) => server.close(() => r()));
      const q = queue;
      queue = null;
      if (q) await q.then((x) => x.close()).catch(() => {});
      await workspace.dispose();
    },
  };
}
