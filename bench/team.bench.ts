/**
 * Team server under load: simulated annotators, each logged in with an account of their own,
 * saving edits on images they hold the lease of, for a fixed time, over loopback only.
 *
 * - **tessera serve**: a real `tessera serve` process on 127.0.0.1 in front of a PostgreSQL
 *   dataset (a throw-away cluster, as the tests use, or TESSERA_TEST_PG_URL). Each annotator logs
 *   in (POST /login), opens the WebSocket, takes the lease of its image and saves edits through
 *   `annotations:edit` (creates, moves of its own shapes, deletes), with a short think time.
 * - **baseline**: the same annotators and the same edits, made in this process straight through
 *   the services on the same PostgreSQL server: no HTTP, no login, no roles, no leases, no audit.
 *
 * After each run every acknowledged edit is checked against the store: each shape created and not
 * deleted is there exactly once with the geometry of its last acknowledged save, nothing else is,
 * and the edit journal holds one entry per acknowledged save of that user. Lost or duplicated edits
 * are counted and make the run fail.
 *
 * Usage: npm run bench:team [-- --annotators 20 --seconds 60 --think-ms 200 --only server|baseline --json]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import WebSocket from 'ws';
import startPgCluster, { pgUrl } from '../test/helpers/postgres';
import { asUser, Dataset } from '../src-main/services/dataset';
import { editAnnotations } from '../src-main/services/annotations';
import { importImages } from '../src-main/services/importer';
import { insertClass } from '../src-main/db/classes';
import { addUser, ensureAccounts, setPassword, setRole } from '../src-main/team/accounts';
import type { Geometry } from '../src-main/common/model';
import type { EditResult } from '../src-main/common/editing';
import { median, pct } from './stats';
import { printTable } from './table';

const { values } = parseArgs({
  options: {
    annotators: { type: 'string', default: '20' },
    seconds: { type: 'string', default: '60' },
    'think-ms': { type: 'string', default: '200' },
    json: { type: 'boolean', default: false },
    /** Measure one side only: 'server' or 'baseline'. */
    only: { type: 'string' },
  },
});
const ANNOTATORS = Number(values.annotators);
const SECONDS = Number(values.seconds);
const THINK_MS = Number(values['think-ms']);
if (!(ANNOTATORS >= 1 && ANNOTATORS <= 200)) throw new Error(`--annotators ${values.annotators}: 1 to 200`);
if (!(SECONDS > 0 && SECONDS <= 600)) throw new Error(`--seconds ${values.seconds}: at most 600`);
if (!(THINK_MS >= 0)) throw new Error(`--think-ms ${values['think-ms']}: a number of milliseconds`);
const log = (m: string): void => void (values.json ? process.stderr : process.stdout).write(`${m}\n`);
const PASSWORD = crypto.randomBytes(12).toString('base64url');

/** What one annotator was told is stored: its shapes by id, with the geometry of their last save. */
interface Tally {
  user: string;
  imageId: number;
  shapes: Map<number, Geometry>;
  saves: number;
  latencies: number[];
  errors: string[];
}

/** Saves an edit and returns its result; the two runs differ only in this. */
type Save = (t: Tally, label: string, ops: unknown[]) => Promise<EditResult>;

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

/** One annotator's session: create, move or delete a shape, think, again, until the deadline. */
async function annotate(t: Tally, save: Save, classId: number, until: number, seed: number): Promise<void> {
  const r = rng(seed);
  while (Date.now() < until) {
    const ids = [...t.shapes.keys()];
    const roll = r();
    const geometry: Geometry = { kind: 'box', x: Math.round(r() * 40), y: Math.round(r() * 30), w: 5 + Math.round(r() * 10), h: 5 + Math.round(r() * 10) };
    let ops: unknown[];
    let kind: 'create' | 'update' | 'delete';
    if (ids.length === 0 || roll < 0.6) {
      kind = 'create';
      ops = [{ op: 'create', draft: { classId, geometry } }];
    } else if (roll < 0.9) {
      kind = 'update';
      ops = [{ op: 'update', id: ids[Math.floor(r() * ids.length)]!, patch: { geometry } }];
    } else {
      kind = 'delete';
      ops = [{ op: 'delete', id: ids[Math.floor(r() * ids.length)]! }];
    }
    const t0 = performance.now();
    try {
      const res = await save(t, kind, ops);
      t.latencies.push(performance.now() - t0);
      t.saves++;
      if (kind === 'create') t.shapes.set(res.created[0]!, geometry);
      else if (kind === 'update') t.shapes.set((ops[0] as { id: number }).id, geometry);
      else t.shapes.delete((ops[0] as { id: number }).id);
    } catch (e) {
      t.errors.push((e as Error).message);
      if (t.errors.length > 20) throw new Error(`${t.user}: too many failed saves: ${t.errors.slice(0, 3).join(' | ')}`);
    }
    if (THINK_MS > 0) await new Promise((res) => setTimeout(res, THINK_MS * (0.5 + r())));
  }
}

/** Compares what the annotators were told with what the store holds. */
async function verify(ds: Dataset, tallies: readonly Tally[]): Promise<{ lost: number; duplicated: number; unexpected: number; journalMismatch: number }> {
  let lost = 0;
  let duplicated = 0;
  let unexpected = 0;
  let journalMismatch = 0;
  for (const t of tallies) {
    const rows = (await ds.db.prepare("SELECT id, geometry FROM annotations WHERE image_id = ? AND source = 'human'").all(t.imageId)) as { id: number; geometry: string }[];
    const seen = new Map<number, number>();
    for (const row of rows) seen.set(row.id, (seen.get(row.id) ?? 0) + 1);
    for (const [id, geometry] of t.shapes) {
      const row = rows.find((x) => x.id === id);
      if (!row) lost++;
      else if (JSON.stringify(JSON.parse(row.geometry)) !== JSON.stringify(geometry)) lost++;
      if ((seen.get(id) ?? 0) > 1) duplicated++;
    }
    for (const row of rows) if (!t.shapes.has(row.id)) unexpected++;
    const journal = (await ds.db.prepare('SELECT count(*) AS n FROM edit_journal WHERE image_id = ? AND user_name = ?').get(t.imageId, t.user)) as { n: number };
    if (journal.n !== t.saves) journalMismatch++;
  }
  return { lost, duplicated, unexpected, journalMismatch };
}

async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

const repo = path.resolve(import.meta.dirname, '..');
const cli = path.join(repo, 'scripts', 'tessera.mjs');

/** A logged-in WebSocket client of the team server. */
class Client {
  private next = 1;
  private readonly waiting = new Map<number, (r: { ok: boolean; value?: unknown; error?: { code: string; message: string } }) => void>();
  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const msg = JSON.parse(String(data)) as { t: string; id?: number; result?: { ok: boolean } };
      if (msg.t === 'result' && msg.id !== undefined) {
        this.waiting.get(msg.id)?.(msg.result as never);
        this.waiting.delete(msg.id);
      }
    });
  }

  static async login(base: string, user: string, password: string): Promise<Client> {
    const res = await fetch(`${base}/login`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: base },
      body: new URLSearchParams({ user, password }).toString(),
    });
    const cookie = res.headers.get('set-cookie')?.split(';')[0];
    if (res.status !== 302 || !cookie) throw new Error(`${user}: login answered ${res.status}: ${(await res.text()).slice(0, 200)}`);
    const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/ws`, { headers: { cookie, origin: base } });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, r) => reject(new Error(`${user}: WebSocket refused with ${r.statusCode}`)));
    });
    return new Client(ws);
  }

  async call<T>(channel: string, args: unknown): Promise<T> {
    const id = this.next++;
    const result = await new Promise<{ ok: boolean; value?: unknown; error?: { code: string; message: string } }>((resolve) => {
      this.waiting.set(id, resolve);
      this.ws.send(JSON.stringify({ t: 'call', id, channel, args }));
    });
    if (!result.ok) throw new Error(`${channel}: ${result.error?.code}: ${result.error?.message}`);
    return result.value as T;
  }

  close(): void {
    this.ws.close();
  }
}

interface RunResult {
  saves: number;
  savesPerSecond: number;
  p50: number;
  p95: number;
  max: number;
  failedSaves: number;
  lost: number;
  duplicated: number;
  unexpected: number;
  journalMismatch: number;
}

function summarise(tallies: readonly Tally[], seconds: number, check: Awaited<ReturnType<typeof verify>>): RunResult {
  const lat = tallies.flatMap((t) => t.latencies);
  const saves = tallies.reduce((a, t) => a + t.saves, 0);
  return {
    saves,
    savesPerSecond: saves / seconds,
    p50: lat.length ? median(lat) : NaN,
    p95: lat.length ? pct(lat, 95) : NaN,
    max: lat.length ? Math.max(...lat) : NaN,
    failedSaves: tallies.reduce((a, t) => a + t.errors.length, 0),
    ...check,
  };
}

async function makeDataset(url: string, dir: string): Promise<{ imageIds: number[]; classId: number }> {
  const imagesDir = path.join(dir, 'images');
  fs.mkdirSync(imagesDir, { recursive: true });
  for (let i = 0; i < ANNOTATORS * 2; i++) {
    await sharp({ create: { width: 64, height: 48, channels: 3, background: { r: (i * 37) % 256, g: (i * 11) % 256, b: 90 } } })
      .png()
      .toFile(path.join(imagesDir, `img${String(i).padStart(3, '0')}.png`));
  }
  const ds = await Dataset.create(url, dir);
  try {
    await importImages(ds, { paths: [imagesDir] });
    const classId = (await insertClass(ds.db, { name: 'cell', color: '#e6194b' })).id;
    const imageIds = (await ds.db.prepare('SELECT id FROM images ORDER BY id').pluck().all()) as number[];
    return { imageIds, classId };
  } finally {
    await ds.close();
  }
}

async function serverRun(base: string, url: string, dir: string): Promise<RunResult> {
  const { imageIds, classId } = await makeDataset(url, dir);
  const users = Array.from({ length: ANNOTATORS }, (_, i) => `annotator${String(i + 1).padStart(2, '0')}`);
  log(`creating ${users.length} accounts...`);
  await createAccounts(url, users);
  const port = Number(new URL(base).port);
  log(`starting tessera serve on 127.0.0.1:${port}...`);
  const server = spawn(process.execPath, [cli, 'serve', url, '--listen', `127.0.0.1:${port}`, '--root', dir], {
    env: { ...process.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let serverOut = '';
  server.stdout!.on('data', (d: Buffer) => (serverOut += String(d)));
  server.stderr!.on('data', (d: Buffer) => (serverOut += String(d)));
  try {
    await waitForPort(port, server, () => serverOut);
    const clients = await Promise.all(users.map((u) => Client.login(base, u, PASSWORD)));
    const tallies: Tally[] = users.map((user, i) => ({ user, imageId: imageIds[i]!, shapes: new Map(), saves: 0, latencies: [], errors: [] }));
    await Promise.all(
      tallies.map(async (t, i) => {
        const lease = await clients[i]!.call<{ mine: boolean; holder: string | null }>('team:lease', { imageId: t.imageId });
        if (!lease.mine) throw new Error(`${t.user}: the lease of image ${t.imageId} is held by ${lease.holder}`);
      }),
    );
    // Lease renewal as the app does it, at a third of the lease time.
    const me = await clients[0]!.call<{ leaseSeconds: number }>('team:me', {});
    const renew = setInterval(() => {
      for (const [i, t] of tallies.entries()) void clients[i]!.call('team:lease', { imageId: t.imageId }).catch(() => {});
    }, (me.leaseSeconds * 1000) / 3);
    log(`${users.length} annotators saving for ${SECONDS} s through the server...`);
    const until = Date.now() + SECONDS * 1000;
    const t0 = performance.now();
    try {
      await Promise.all(tallies.map((t, i) => annotate(t, (_t, label, ops) => clients[i]!.call<EditResult>('annotations:edit', { imageId: t.imageId, label, ops }), classId, until, 1000 + i)));
    } finally {
      clearInterval(renew);
    }
    const seconds = (performance.now() - t0) / 1000;
    for (const c of clients) c.close();
    const ds = await Dataset.open(url);
    try {
      return summarise(tallies, seconds, await verify(ds, tallies));
    } finally {
      await ds.close();
    }
  } finally {
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
  }
}

async function baselineRun(url: string, dir: string): Promise<RunResult> {
  const { imageIds, classId } = await makeDataset(url, dir);
  const ds = await Dataset.open(url);
  try {
    const tallies: Tally[] = Array.from({ length: ANNOTATORS }, (_, i) => ({
      user: `annotator${String(i + 1).padStart(2, '0')}`,
      imageId: imageIds[i]!,
      shapes: new Map(),
      saves: 0,
      latencies: [],
      errors: [],
    }));
    log(`${tallies.length} annotators saving for ${SECONDS} s straight through the services...`);
    const until = Date.now() + SECONDS * 1000;
    const t0 = performance.now();
    await Promise.all(
      tallies.map((t, i) =>
        annotate(t, (tt, label, ops) => asUser(tt.user, () => editAnnotations(ds, { imageId: tt.imageId, label, ops } as never)), classId, until, 1000 + i),
      ),
    );
    const seconds = (performance.now() - t0) / 1000;
    return summarise(tallies, seconds, await verify(ds, tallies));
  } finally {
    await ds.close();
  }
}

/** Accounts with the annotator role, made as `tessera user add` makes them (scrypt hashes). */
async function createAccounts(url: string, users: readonly string[]): Promise<void> {
  const ds = await Dataset.open(url);
  try {
    await ensureAccounts(ds.db);
    for (const u of users) {
      await addUser(ds.db, u, PASSWORD).catch(async () => await setPassword(ds.db, u, PASSWORD));
      await setRole(ds.db, ds.uuid, u, 'annotator');
    }
  } finally {
    await ds.close();
  }
}

async function waitForPort(port: number, proc: ChildProcess, out: () => string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`tessera serve exited ${proc.exitCode}: ${out().slice(-800)}`);
    const up = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.end();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (up) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`tessera serve did not listen on ${port} within 60 s: ${out().slice(-800)}`);
}

function schemaUrl(base: string, schema: string): string {
  const u = new URL(base);
  u.searchParams.set('schema', schema);
  return u.href;
}

async function main(): Promise<void> {
  let stop: (() => Promise<void>) | undefined;
  if (!process.env['TESSERA_TEST_PG_URL']) {
    log('starting a throw-away PostgreSQL cluster...');
    stop = await startPgCluster();
  }
  const pg = pgUrl();
  if (!pg) throw new Error(`no PostgreSQL server: ${process.env['TESSERA_TEST_PG_SKIP'] ?? 'set TESSERA_TEST_PG_URL or install PostgreSQL'}`);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-team-bench-'));
  const tag = crypto.randomBytes(4).toString('hex');
  try {
    const port = await freePort();
    const skipped: RunResult = { saves: 0, savesPerSecond: NaN, p50: NaN, p95: NaN, max: NaN, failedSaves: 0, lost: 0, duplicated: 0, unexpected: 0, journalMismatch: 0 };
    const served = values.only === 'baseline' ? skipped : await serverRun(`http://127.0.0.1:${port}`, schemaUrl(pg, `bench_team_${tag}`), path.join(work, 'served'));
    const base = values.only === 'server' ? skipped : await baselineRun(schemaUrl(pg, `bench_direct_${tag}`), path.join(work, 'direct'));
    const fmt = (x: number, d = 1): string => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');
    if (values.json) {
      console.log(JSON.stringify({ annotators: ANNOTATORS, seconds: SECONDS, thinkMs: THINK_MS, tessera: served, baseline: base }, null, 2));
    } else {
      console.log(`\n${ANNOTATORS} annotators, ${SECONDS} s, think time ${THINK_MS} ms (0.5-1.5x), ${os.cpus().length} cores, PostgreSQL`);
      console.log('baseline: the same edits straight through the services in one process (no server, login, roles, leases or audit)\n');
      printTable(
        ['metric', 'tessera serve', 'baseline', 'ratio'],
        [
          ['saves acknowledged', String(served.saves), String(base.saves), fmt(served.saves / base.saves, 2)],
          ['saves/s', fmt(served.savesPerSecond), fmt(base.savesPerSecond), fmt(served.savesPerSecond / base.savesPerSecond, 2)],
          ['save latency p50, ms', fmt(served.p50), fmt(base.p50), fmt(served.p50 / base.p50, 2)],
          ['save latency p95, ms', fmt(served.p95), fmt(base.p95), fmt(served.p95 / base.p95, 2)],
          ['save latency max, ms', fmt(served.max), fmt(base.max), ''],
          ['failed saves', String(served.failedSaves), String(base.failedSaves), ''],
          ['lost edits', String(served.lost), String(base.lost), ''],
          ['duplicated edits', String(served.duplicated), String(base.duplicated), ''],
          ['shapes nobody saved', String(served.unexpected), String(base.unexpected), ''],
          ['journal count mismatches', String(served.journalMismatch), String(base.journalMismatch), ''],
        ],
      );
    }
    const bad = served.lost + served.duplicated + served.unexpected + served.journalMismatch + base.lost + base.duplicated + base.unexpected + base.journalMismatch;
    if (bad > 0) {
      console.error(`FAILED: ${bad} edits lost, duplicated or unaccounted for`);
      process.exitCode = 1;
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
    await stop?.();
  }
}

await main();
