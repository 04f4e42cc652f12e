import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import sharp from 'sharp';
import WebSocket from 'ws';
import { CHANNELS, type Channel } from '../../src-main/common/contract';
import { insertImages } from '../../src-main/db/images';
import { insertAnnotations } from '../../src-main/db/annotations';
import { insertModelRun } from '../../src-main/db/modelRuns';
import { rebuildStacks } from '../../src-main/db/stacks';
import { Dataset } from '../../src-main/services/dataset';
import { addUser, ensureAccounts, setRole } from '../../src-main/team/accounts';
import { CHANNEL_ROLES } from '../../src-main/team/roles';
import { startTeamServer, type TeamServer, type TeamServerOptions } from '../../src-main/team/server';
import * as work from '../../src-main/team/work';
import { imageRows } from '../helpers/images';
import { adminQuery, freshPgDataset, pgSkipReason, type PgDataset } from '../helpers/postgres';
import { sharedPath, tempDir } from '../helpers/shared';
import { yolov8nInt8Manifest } from '../helpers/models';

const skip = pgSkipReason();

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One HTTP(S) request with exactly the headers given (Host and Origin included). */
function request(server: TeamServer, method: string, pathname: string, opts: { headers?: Record<string, string>; body?: string; tls?: boolean } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const lib = opts.tls ? https : http;
    const req = lib.request(
      { host: '127.0.0.1', port: server.port, path: pathname, method, headers: { host: `127.0.0.1:${server.port}`, ...opts.headers }, rejectUnauthorized: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

const origin = (s: TeamServer, tls = false): string => `${tls ? 'https' : 'http'}://127.0.0.1:${s.port}`;

function postLogin(server: TeamServer, user: string, password: string, opts: { origin?: string; tls?: boolean } = {}): Promise<Reply> {
  return request(server, 'POST', '/login', {
    tls: opts.tls,
    headers: { origin: opts.origin ?? origin(server, opts.tls), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ user, password }).toString(),
  });
}

/** Logs in and returns the cookie pair to send back. */
async function login(server: TeamServer, user: string, password = PASSWORD): Promise<string> {
  const r = await postLogin(server, user, password);
  expect(r.status, r.body).toBe(302);
  return r.headers['set-cookie']![0]!.split(';')[0]!;
}

function connect(server: TeamServer, headers: Record<string, string>): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/ws`, { headers: { origin: origin(server), ...headers } });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
  });
}

/** A socket's calls and the events pushed to it. */
class Client {
  private next = 1;
  readonly events: { event: string; payload: Record<string, unknown> }[] = [];
  closed: number | null = null;

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const msg = JSON.parse(String(data)) as { t: string; event?: string; payload?: Record<string, unknown> };
      if (msg.t === 'event') this.events.push({ event: msg.event!, payload: msg.payload! });
    });
    ws.on('close', (code) => (this.closed = code));
  }

  call(channel: string, args: unknown = {}): Promise<{ ok: boolean; value?: any; error?: { code: string; message: string; detail?: Record<string, unknown> } }> {
    const id = this.next++;
    return new Promise((resolve) => {
      const onMsg = (data: WebSocket.RawData): void => {
        const msg = JSON.parse(String(data)) as { t: string; id?: number; result?: never };
        if (msg.t === 'result' && msg.id === id) {
          this.ws.off('message', onMsg);
          resolve(msg.result!);
        }
      };
      this.ws.on('message', onMsg);
      this.ws.send(JSON.stringify({ t: 'call', id, channel, args }));
    });
  }
}

async function client(server: TeamServer, user: string): Promise<Client> {
  return new Client(await connect(server, { cookie: await login(server, user) }));
}

const PASSWORD = 'correct horse battery';
/** Account names are per database: a suffix keeps this file's apart from other runs. */
const sfx = crypto.randomBytes(3).toString('hex');
const ANN = `ann-${sfx}`;
const BOB = `bob-${sfx}`;
const RITA = `rita-${sfx}`;
const MONA = `mona-${sfx}`;
const NOROLE = `nobody-${sfx}`;
const SLOW = `slow-${sfx}`;

let pgds: PgDataset;
let root: string;
let staticDir: string;
let server: TeamServer;
const extra: TeamServer[] = [];
let imageIds: number[] = [];
let stackIds: number[] = [];

async function serve(more: Partial<TeamServerOptions> = {}): Promise<TeamServer> {
  const s = await startTeamServer({ url: pgds.url, host: '127.0.0.1', port: 0, staticDir, configDir: tempDir(), version: 'test', roots: [root], ...more });
  if (server) extra.push(s);
  return s;
}

describe.skipIf(skip)('team server', () => {
  beforeAll(async () => {
    pgds = await freshPgDataset('team');
    root = tempDir();
    staticDir = tempDir();
    fs.writeFileSync(path.join(staticDir, 'index.html'), '<!doctype html><title>t</title>');
    fs.mkdirSync(path.join(staticDir, 'assets'));
    fs.writeFileSync(path.join(staticDir, 'assets', 'app.js'), 'export {};');
    const ds = await Dataset.create(pgds.url, root);
    imageIds = await insertImages(ds.db, imageRows(4));
    // Three greyscale slices of one numbered sequence: a stack.
    stackIds = await insertImages(ds.db, imageRows(3, { pathOf: (i) => `seq/cell_${String(i + 1).padStart(4, '0')}.png`, from: 100 }).map((r) => ({ ...r, channels: 1 })));
    expect((await rebuildStacks(ds.db)).stacks).toBe(1);
    await ensureAccounts(ds.db);
    for (const [name, role] of [[ANN, 'annotator'], [BOB, 'annotator'], [RITA, 'reviewer'], [MONA, 'manager'], [NOROLE, null], [SLOW, 'annotator']] as const) {
      await addUser(ds.db, name, PASSWORD);
      if (role) await setRole(ds.db, ds.uuid, name, role);
    }
    await ds.close();
    server = await serve({ allowHosts: ['tessera.lab'] });
  });
  afterAll(async () => {
    for (const s of extra) await s.close();
    await server?.close();
    await pgds?.drop();
  });

  it('answers nothing but the login page without a session', async () => {
    const page = await request(server, 'GET', '/', { headers: { accept: 'text/html' } });
    expect(page.status).toBe(302);
    expect(page.headers.location).toBe('/login');
    expect((await request(server, 'GET', '/index.html')).status).toBe(302);
    expect((await request(server, 'GET', '/assets/app.js')).status).toBe(401);
    expect((await request(server, 'GET', '/media/x/1/thumb')).status).toBe(401);
    expect((await request(server, 'GET', '/assets/app.js', { headers: { cookie: 'tessera_team=forged' } })).status).toBe(401);
    await expect(connect(server, {})).rejects.toThrow('HTTP 401');
    await expect(connect(server, { cookie: 'tessera_team=forged' })).rejects.toThrow('HTTP 401');

    const form = await request(server, 'GET', '/login');
    expect(form.status).toBe(200);
    expect(form.body).toContain('<form method="post" action="/login">');
    expect(form.body).not.toContain('<script');
    expect(form.headers['content-security-policy']).toContain("form-action 'self'");
    expect(form.headers['content-security-policy']).toContain("script-src 'self'");
  });

  it('logs in with a session cookie that is HttpOnly, SameSite=Strict and not Secure over plain HTTP', async () => {
    const r = await postLogin(server, ANN, PASSWORD);
    expect(r.status).toBe(302);
    expect(r.headers.location).toBe('/');
    const set = r.headers['set-cookie']![0]!;
    expect(set).toMatch(/^tessera_team=[\w-]{40,};/);
    expect(set).toContain('HttpOnly');
    expect(set).toContain('SameSite=Strict');
    expect(set).toContain('Path=/');
    expect(set).not.toContain('Secure');
    const cookie = set.split(';')[0]!;
    const page = await request(server, 'GET', '/', { headers: { cookie } });
    expect(page.status).toBe(200);
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");
    expect((await request(server, 'GET', '/assets/app.js', { headers: { cookie } })).status).toBe(200);
  });

  it('refuses a wrong password or an unknown name with 401 and the form again', async () => {
    const wrong = await postLogin(server, BOB, 'not the password');
    expect(wrong.status).toBe(401);
    expect(wrong.headers['set-cookie']).toBeUndefined();
    expect(wrong.body).toContain('Wrong user name or password');
    expect(wrong.body).toContain('<form');
    expect((await postLogin(server, `ghost-${sfx}`, PASSWORD)).status).toBe(401);
  });

  it('slows repeated failures: 429 with Retry-After, even for the right password, until the delay has passed', async () => {
    const s = await serve();
    for (let i = 0; i < 3; i++) expect((await postLogin(s, SLOW, `guess ${i}`)).status).toBe(401);
    const refused = await postLogin(s, SLOW, PASSWORD);
    expect(refused.status).toBe(429);
    expect(refused.headers['retry-after']).toBe('1');
    expect(refused.headers['set-cookie']).toBeUndefined();
    await new Promise((r) => setTimeout(r, 1100));
    // One more failure doubles the delay.
    expect((await postLogin(s, SLOW, 'guess 3')).status).toBe(401);
    const again = await postLogin(s, SLOW, PASSWORD);
    expect(again.status).toBe(429);
    expect(again.headers['retry-after']).toBe('2');
    await new Promise((r) => setTimeout(r, 2100));
    expect((await postLogin(s, SLOW, PASSWORD)).status).toBe(302);
  });

  it('refuses a user without a role on the dataset', async () => {
    const cookie = await login(server, NOROLE);
    const r = await request(server, 'GET', '/', { headers: { cookie } });
    expect(r.status).toBe(403);
    expect(r.body).toBe('no role on this dataset');
    await expect(connect(server, { cookie })).rejects.toThrow('HTTP 403');
  });

  it('refuses manager calls from an annotator at the protocol level, and nothing changes', async () => {
    const ann = await client(server, ANN);
    const before = (await ann.call('classes:list')).value as unknown[];
    const created = await ann.call('classes:create', { name: 'sneaky' });
    expect(created.ok).toBe(false);
    expect(created.error!.code).toBe('FORBIDDEN');
    expect(created.error!.message).toContain('classes:create');
    expect(created.error!.detail).toMatchObject({ channel: 'classes:create', needed: 'manager', role: 'annotator' });
    const jobs = await ann.call('team:createJobs', { perJob: 1, assignees: [ANN] });
    expect(jobs.error?.code).toBe('FORBIDDEN');
    const imported = await ann.call('images:import', { jobId: 'imp1', paths: [root] });
    expect(imported.error?.code).toBe('FORBIDDEN');
    expect((await ann.call('classes:list')).value).toEqual(before);
    expect((await ann.call('images:countImages', {})).value).toBe(imageIds.length + stackIds.length);
    // The same call from a manager goes through: the refusal is the role, not the call.
    const mona = await client(server, MONA);
    const made = await mona.call('classes:create', { name: `cls-${sfx}` });
    expect(made.ok).toBe(true);
    ann.ws.close();
    mona.ws.close();
  });

  it('lets no annotator through to any manager or reviewer channel, whatever the arguments', async () => {
    const ann = await client(server, ANN);
    const above = CHANNELS.filter((c) => CHANNEL_ROLES[c] === 'manager' || CHANNEL_ROLES[c] === 'reviewer' || CHANNEL_ROLES[c] === 'never');
    expect(above.length).toBeGreaterThan(40);
    for (const c of above) {
      const r = await ann.call(c, {});
      expect(r.error?.code, c).toBe('FORBIDDEN');
    }
    const rita = await client(server, RITA);
    for (const c of CHANNELS.filter((x) => CHANNEL_ROLES[x] === 'manager')) expect((await rita.call(c, {})).error?.code, c).toBe('FORBIDDEN');
    ann.ws.close();
    rita.ws.close();
  });

  it('lets a manager give and take roles, which an open socket feels at its next call', async () => {
    const mona = await client(server, MONA);
    const bob = await client(server, BOB);
    expect((await bob.call('team:jobs')).error?.code).toBe('FORBIDDEN');
    expect((await mona.call('team:setRole', { user: BOB, role: 'reviewer' })).ok).toBe(true);
    expect((await bob.call('team:me')).value).toMatchObject({ user: BOB, role: 'reviewer' });
    expect((await bob.call('team:members')).error?.code).toBe('FORBIDDEN');
    const listed = (await mona.call('team:members')).value as { user: string; role: string }[];
    expect(listed).toEqual(expect.arrayContaining([{ user: BOB, role: 'reviewer' }, { user: MONA, role: 'manager' }]));
    expect(listed.find((m) => m.user === NOROLE)).toBeUndefined();
    // The last manager cannot step down.
    expect((await mona.call('team:setRole', { user: MONA, role: 'annotator' })).error?.code).toBe('INVALID_ARGUMENT');
    expect((await mona.call('team:setRole', { user: BOB, role: null })).ok).toBe(true);
    const gone = await bob.call('images:count', {});
    expect(gone.error?.code).toBe('FORBIDDEN');
    expect(gone.error?.message).toContain('no role');
    expect((await mona.call('team:setRole', { user: BOB, role: 'annotator' })).ok).toBe(true);
    expect((await bob.call('team:me')).value).toMatchObject({ role: 'annotator' });
    mona.ws.close();
    bob.ws.close();
  });

  it('refuses dataset:open, create, close and native dialogs for everyone, managers included', async () => {
    const mona = await client(server, MONA);
    for (const [c, args] of [
      ['dataset:open', { path: path.join(root, 'other.tessera') }],
      ['dataset:create', { path: path.join(root, 'new.tessera') }],
      ['dataset:close', {}],
      ['dataset:recent', {}],
      ['dialog:pick', { purpose: 'folder' }],
      ['app:showInFolder', { path: root }],
    ] as [Channel, unknown][]) {
      const r = await mona.call(c, args);
      expect(r.error?.code, c).toBe('FORBIDDEN');
    }
    expect(fs.existsSync(path.join(root, 'new.tessera'))).toBe(false);
    const current = await mona.call('dataset:current');
    expect(current.value.uuid).toBe(server.dataset.uuid);
    const me = await mona.call('team:me');
    expect(me.value).toEqual({ user: MONA, role: 'manager', leaseSeconds: 60 });
    mona.ws.close();
  });

  it('logout ends the session: the cookie is refused and an open socket gets UNAUTHENTICATED', async () => {
    const cookie = await login(server, BOB);
    const bob = new Client(await connect(server, { cookie }));
    expect((await bob.call('team:me')).ok).toBe(true);
    const foreign = await request(server, 'POST', '/logout', { headers: { cookie, origin: 'http://evil.example' } });
    expect(foreign.status).toBe(403);
    const out = await request(server, 'POST', '/logout', { headers: { cookie, origin: origin(server) } });
    expect(out.status).toBe(302);
    expect(out.headers['set-cookie']![0]).toMatch(/^tessera_team=;.*Max-Age=0/);
    expect((await request(server, 'GET', '/assets/app.js', { headers: { cookie } })).status).toBe(401);
    const r = await bob.call('images:count', {});
    expect(r.error?.code).toBe('UNAUTHENTICATED');
    await expect.poll(() => bob.closed).toBe(4401);
    await expect(connect(server, { cookie })).rejects.toThrow('HTTP 401');
  });

  it('ends a session past its lifetime', async () => {
    const s = await serve({ session: { lifetimeMs: 1500, idleMs: 60_000 } });
    const cookie = await login(s, BOB);
    const bob = new Client(await connect(s, { cookie }));
    expect((await bob.call('team:me')).ok).toBe(true);
    await new Promise((r) => setTimeout(r, 1600));
    expect((await bob.call('team:me')).error?.code).toBe('UNAUTHENTICATED');
    expect((await request(s, 'GET', '/assets/app.js', { headers: { cookie } })).status).toBe(401);
  });

  it('ends a session left idle', async () => {
    const s = await serve({ session: { lifetimeMs: 60_000, idleMs: 800 } });
    const cookie = await login(s, BOB);
    const bob = new Client(await connect(s, { cookie }));
    // Used within the idle time, it lives on.
    for (let i = 0; i < 3; i++) {
      await new Promise((r) => setTimeout(r, 400));
      expect((await bob.call('team:me')).ok).toBe(true);
    }
    await new Promise((r) => setTimeout(r, 1000));
    expect((await bob.call('team:me')).error?.code).toBe('UNAUTHENTICATED');
  });

  it('checks Host and Origin', async () => {
    const cookie = await login(server, ANN);
    expect((await request(server, 'GET', '/login', { headers: { host: `evil.example:${server.port}` } })).status).toBe(421);
    expect((await request(server, 'GET', '/', { headers: { cookie, host: `evil.example:${server.port}` } })).status).toBe(421);
    expect((await request(server, 'GET', '/', { headers: { cookie, host: `localhost:${server.port}` } })).status).toBe(200);
    expect((await request(server, 'GET', '/', { headers: { cookie, host: `tessera.lab:${server.port}` } })).status).toBe(200);
    expect((await postLogin(server, ANN, PASSWORD, { origin: 'http://evil.example' })).status).toBe(403);
    expect((await postLogin(server, ANN, PASSWORD, { origin: `https://127.0.0.1:${server.port}` })).status).toBe(403);
    const noOrigin = await request(server, 'POST', '/login', { headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `user=${ANN}&password=x` });
    expect(noOrigin.status).toBe(403);
    await expect(connect(server, { cookie, origin: 'http://evil.example' })).rejects.toThrow('HTTP 403');
    await expect(connect(server, { cookie, origin: `http://127.0.0.1:${server.port + 1}` })).rejects.toThrow('HTTP 403');
    const ok = await connect(server, { cookie, origin: `http://tessera.lab:${server.port}` });
    ok.close();
    const big = await request(server, 'POST', '/login', {
      headers: { origin: origin(server), 'content-type': 'application/x-www-form-urlencoded' },
      body: `user=${ANN}&password=${'x'.repeat(10_000)}`,
    });
    expect(big.status).toBe(413);
  });

  it('serves HTTPS with a Secure cookie when given a certificate and key', async () => {
    const dir = tempDir();
    const cert = path.join(dir, 'cert.pem');
    const key = path.join(dir, 'key.pem');
    await expect(serve({ tlsCert: path.join(dir, 'missing.pem'), tlsKey: key })).rejects.toThrow(`${path.join(dir, 'missing.pem')}: cannot read the TLS certificate`);
    await expect(serve({ tlsCert: cert })).rejects.toThrow('--tls-key');
    const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1'], { encoding: 'utf8' });
    if (made.error || made.status !== 0) {
      console.warn(`[team] TLS case skipped: openssl could not make a certificate (${made.error?.message ?? made.stderr})`);
      return;
    }
    const s = await serve({ tlsCert: cert, tlsKey: key });
    expect(s.url).toMatch(/^https:\/\//);
    const r = await postLogin(s, ANN, PASSWORD, { tls: true });
    expect(r.status).toBe(302);
    const set = r.headers['set-cookie']![0]!;
    expect(set).toContain('Secure');
    expect(set).toContain('HttpOnly');
    expect(set).toContain('SameSite=Strict');
    // Plain HTTP to the TLS port gets nowhere.
    await expect(request(s, 'GET', '/login')).rejects.toThrow();
  });

  it('needs the lease to edit shapes, tells others of the change, and audits it with the user', async () => {
    const mona = await client(server, MONA);
    const cls = (await mona.call('classes:list')).value as { id: number }[];
    const classId = cls[0]!.id;
    const imageId = imageIds[0]!;
    const ann = await client(server, ANN);
    const bob = await client(server, BOB);
    const edit = { imageId, label: 'draw', ops: [{ op: 'create', draft: { classId, geometry: { kind: 'box', x: 1, y: 1, w: 4, h: 4 } } }] };
    const without = await ann.call('annotations:edit', edit);
    expect(without.error?.code).toBe('LEASED');
    expect((await ann.call('annotations:list', { imageId })).value).toHaveLength(0);

    const lease = await ann.call('team:lease', { imageId });
    expect(lease.value).toMatchObject({ imageId, mine: true, holder: ANN });
    await expect.poll(() => bob.events.find((e) => e.event === 'lease:changed')?.payload).toMatchObject({ imageId, mine: false, holder: ANN });
    const taken = await bob.call('team:lease', { imageId });
    expect(taken.value).toMatchObject({ imageId, mine: false, holder: ANN });
    const bobEdit = await bob.call('annotations:edit', edit);
    expect(bobEdit.error?.code).toBe('LEASED');
    expect(bobEdit.error?.message).toContain(ANN);

    const done = await ann.call('annotations:edit', edit);
    expect(done.ok).toBe(true);
    await expect.poll(() => bob.events.find((e) => e.event === 'annotations:changed')?.payload).toEqual({ imageId, by: ANN, action: 'annotations:edit' });
    expect((await bob.call('annotations:list', { imageId })).value).toHaveLength(1);
    // The annotator cannot read the audit log; the reviewer can.
    expect((await ann.call('team:audit', { imageId })).error?.code).toBe('FORBIDDEN');
    const rita = await client(server, RITA);
    const log = (await rita.call('team:audit', { imageId })).value as { user: string; action: string; imageId: number | null; detail: string }[];
    expect(log.find((e) => e.action === 'annotations:edit')).toMatchObject({ user: ANN, imageId });
    expect(log.find((e) => e.action === 'annotations:edit')!.detail).toContain('"label":"draw"');
    expect(log.find((e) => e.action === 'refused:annotations:edit' && e.user === BOB)).toBeTruthy();
    expect(log.find((e) => e.action === 'lease:take')).toMatchObject({ user: ANN });
    const byAnn = (await rita.call('team:audit', { user: ANN })).value as { action: string }[];
    expect(byAnn.map((e) => e.action)).toContain('refused:classes:create');

    // Closing the socket gives the lease up: the other annotator gets it.
    ann.ws.close();
    await expect.poll(async () => (await bob.call('team:lease', { imageId })).value.mine).toBe(true);
    for (const c of [mona, bob, rita]) c.ws.close();
  });

  it('copies to other slices only when none of them is leased by someone else', async () => {
    const mona = await client(server, MONA);
    const classId = ((await mona.call('classes:list')).value as { id: number }[])[0]!.id;
    mona.ws.close();
    const [first, second] = stackIds as [number, number];
    const ann = await client(server, ANN);
    const bob = await client(server, BOB);
    expect((await ann.call('team:lease', { imageId: first })).value.mine).toBe(true);
    const made = await ann.call('annotations:edit', { imageId: first, label: 'draw', ops: [{ op: 'create', draft: { classId, geometry: { kind: 'box', x: 1, y: 1, w: 3, h: 3 } } }] });
    expect(made.ok).toBe(true);
    const id = (made.value as { created: number[] }).created[0]!;
    expect((await bob.call('team:lease', { imageId: second })).value.mine).toBe(true);
    const refused = await ann.call('stacks:propagate', { imageId: first, frame: 0, ids: [id], count: 2 });
    expect(refused.error?.code).toBe('LEASED');
    expect(refused.error?.message).toContain(BOB);
    expect((await ann.call('annotations:list', { imageId: second })).value).toHaveLength(0);
    await bob.call('team:release', { imageId: second });
    const copied = await ann.call('stacks:propagate', { imageId: first, frame: 0, ids: [id], count: 2 });
    expect(copied.ok, JSON.stringify(copied.error)).toBe(true);
    expect((await bob.call('annotations:list', { imageId: second })).value).toHaveLength(1);
    ann.ws.close();
    bob.ws.close();
  });

  it('keeps undo per user and audits accepted and rejected predictions per image, with the reviewer', async () => {
    const mona = await client(server, MONA);
    const classId = ((await mona.call('classes:list')).value as { id: number }[])[0]!.id;
    mona.ws.close();
    const [a, b] = [imageIds[2]!, imageIds[3]!];
    const ann = await client(server, ANN);
    const bob = await client(server, BOB);
    const box = (x: number) => ({ kind: 'box' as const, x, y: 1, w: 4, h: 4 });
    // Two annotators edit one image one after the other (the lease passes between them).
    expect((await ann.call('team:lease', { imageId: a })).value.mine).toBe(true);
    const mine = await ann.call('annotations:edit', { imageId: a, label: 'ann draws', ops: [{ op: 'create', draft: { classId, geometry: box(1) } }] });
    expect(mine.ok).toBe(true);
    await ann.call('team:release', { imageId: a });
    expect((await bob.call('team:lease', { imageId: a })).value.mine).toBe(true);
    const his = await bob.call('annotations:edit', { imageId: a, label: 'bob draws', ops: [{ op: 'create', draft: { classId, geometry: box(10) } }] });
    expect(his.ok).toBe(true);
    await bob.call('team:release', { imageId: a });
    // Ann's undo takes back her own shape, not Bob's later one.
    expect((await ann.call('team:lease', { imageId: a })).value.mine).toBe(true);
    expect((await ann.call('annotations:history', { imageId: a })).value.undoLabel).toBe('ann draws');
    expect((await ann.call('annotations:undo', { imageId: a })).ok).toBe(true);
    const left = (await ann.call('annotations:list', { imageId: a })).value as { id: number }[];
    expect(left.map((r) => r.id)).toEqual([(his.value as { created: number[] }).created[0]]);
    await ann.call('team:release', { imageId: a });

    // Predictions on two images: the reviewer accepts one and rejects the other two.
    const ds = server.dataset;
    const run = await insertModelRun(ds.db, { model: 'tiny', parameters: {}, provider: 'cpu' });
    const preds = await insertAnnotations(ds.db, [
      { imageId: a, classId, geometry: box(20), source: 'model', modelRunId: run, score: 0.9 },
      { imageId: a, classId, geometry: box(30), source: 'model', modelRunId: run, score: 0.8 },
      { imageId: b, classId, geometry: box(20), source: 'model', modelRunId: run, score: 0.7 },
    ]);
    const rita = await client(server, RITA);
    expect((await rita.call('predictions:accept', { ids: [preds[0]] })).ok).toBe(true);
    expect((await rita.call('predictions:reject', { ids: [preds[1], preds[2]] })).ok).toBe(true);
    await expect.poll(() => ann.events.filter((e) => e.event === 'annotations:changed' && e.payload['by'] === RITA).length).toBe(3);
    const ofA = (await rita.call('team:audit', { imageId: a })).value as { user: string; action: string; detail: string }[];
    const ofB = (await rita.call('team:audit', { imageId: b })).value as { user: string; action: string; detail: string }[];
    expect(ofA.filter((e) => e.action.startsWith('predictions:')).map((e) => [e.user, e.action, JSON.parse(e.detail)])).toEqual([
      [RITA, 'predictions:reject', { ids: [preds[1]] }],
      [RITA, 'predictions:accept', { ids: [preds[0]] }],
    ]);
    expect(ofB.filter((e) => e.action.startsWith('predictions:')).map((e) => [e.user, e.action, JSON.parse(e.detail)])).toEqual([[RITA, 'predictions:reject', { ids: [preds[2]] }]]);
    // Who undid what is in the log too.
    expect(ofA.find((e) => e.action === 'annotations:undo')).toMatchObject({ user: ANN });
    for (const c of [ann, bob, rita]) c.ws.close();
  });

  it('queues a run on a model the manager added to the server', async (ctx) => {
    const model = sharedPath('models/yolov8n_int8.onnx');
    if (!model) {
      console.warn('[team] queue case skipped: ../shared/models/yolov8n_int8.onnx is absent');
      ctx.skip();
      return;
    }
    // The model file must lie in the served folders, as every path a caller names.
    const file = path.join(root, 'models', 'my-yolo.onnx');
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.copyFileSync(model, file);
    const mona = await client(server, MONA);
    const added = await mona.call('models:add', { file, manifest: { ...yolov8nInt8Manifest(file), id: 'my-yolo' } });
    expect(added.ok, JSON.stringify(added.error)).toBe(true);
    const queued = await mona.call('team:queuePrelabel', { modelId: 'my-yolo', scope: { imageIds: imageIds.slice(0, 2) }, skipLabeled: false, partSize: 1 });
    expect(queued.ok, JSON.stringify(queued.error)).toBe(true);
    expect(queued.value).toMatchObject({ parts: 2, images: 2 });
    const parts = (await mona.call('team:runParts', { runId: queued.value.runId })).value as { state: string }[];
    expect(parts.map((p) => p.state)).toEqual(['queued', 'queued']);
    mona.ws.close();
  });

  it('lets a lease lapsing during an edit pass to someone else only once that edit is in', async () => {
    // Leases of 3 s; an insert into this image's shapes takes 4 s (a trigger), so the edit's
    // transaction is still open when its lease lapses and the next annotator asks for it.
    const short = await serve({ leaseSeconds: 3 });
    const imageId = imageIds[1]!;
    const fn = `${pgds.schema}.slow_shape_insert`;
    await adminQuery(`CREATE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(4); RETURN NEW; END $$`);
    await adminQuery(`CREATE TRIGGER slow_shape_insert BEFORE INSERT ON ${pgds.schema}.annotations FOR EACH ROW WHEN (NEW.image_id = ${imageId}) EXECUTE FUNCTION ${fn}()`);
    try {
      const mona = await client(short, MONA);
      const classId = ((await mona.call('classes:list')).value as { id: number }[])[0]!.id;
      mona.ws.close();
      const ann = await client(short, ANN);
      const bob = await client(short, BOB);
      const t0 = Date.now();
      expect((await ann.call('team:lease', { imageId })).value.mine).toBe(true);
      const order: string[] = [];
      await new Promise((r) => setTimeout(r, 500));
      const edit = ann
        .call('annotations:edit', { imageId, label: 'slow', ops: [{ op: 'create', draft: { classId, geometry: { kind: 'box', x: 2, y: 2, w: 5, h: 5 } } }] })
        .then((r) => (order.push('edit committed'), r));
      // Past the lease's end (3 s), while the edit is still being written.
      await new Promise((r) => setTimeout(r, Math.max(0, t0 + 3500 - Date.now())));
      const lease = bob.call('team:lease', { imageId }).then((r) => (order.push('lease passed'), r));
      const [edited, taken] = await Promise.all([edit, lease]);
      expect(edited.ok, JSON.stringify(edited.error)).toBe(true);
      expect(taken.value).toMatchObject({ mine: true, holder: BOB });
      expect(order).toEqual(['edit committed', 'lease passed']);
      // What the new holder sees includes the edit.
      expect((await bob.call('annotations:list', { imageId })).value).toHaveLength(1);
      ann.ws.close();
      bob.ws.close();
    } finally {
      await adminQuery(`DROP TRIGGER IF EXISTS slow_shape_insert ON ${pgds.schema}.annotations`);
      await adminQuery(`DROP FUNCTION IF EXISTS ${fn}()`);
    }
  });

  it('tells only the one who started a job of its progress', async () => {
    const folder = path.join(root, 'incoming');
    fs.mkdirSync(folder, { recursive: true });
    for (const i of [1, 2]) await sharp({ create: { width: 16, height: 12, channels: 3, background: { r: 60 * i, g: 80, b: 100 } } }).png().toFile(path.join(folder, `new${i}.png`));
    const mona = await client(server, MONA);
    const ann = await client(server, ANN);
    const imported = await mona.call('images:import', { jobId: `import-${sfx}`, paths: [folder] });
    expect(imported.ok, JSON.stringify(imported.error)).toBe(true);
    const progress = (c: Client) => c.events.filter((e) => e.event === 'job:progress' && e.payload['jobId'] === `import-${sfx}`);
    expect(progress(mona).length).toBeGreaterThan(0);
    // An event for everyone still reaches the annotator: it is only the job's progress that does not.
    expect((await ann.call('team:lease', { imageId: imageIds[0]! })).value.mine).toBe(true);
    await expect.poll(() => mona.events.some((e) => e.event === 'lease:changed' && e.payload['holder'] === ANN)).toBe(true);
    expect(progress(ann)).toEqual([]);
    await ann.call('team:release', { imageId: imageIds[0]! });
    mona.ws.close();
    ann.ws.close();
  });
});
