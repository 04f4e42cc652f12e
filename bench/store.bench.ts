/**
 * Dataset store benchmark (`npm run bench:store`). Runs the same measurements on both engines,
 * SQLite (a `.tessera` file) and PostgreSQL (a throw-away cluster started for the run, as the tests
 * start theirs, and stopped at the end), and prints them side by side, each beside a naive
 * baseline measured on the same engine in the same run, and the targets:
 *   - import rate (probe + insert, no thumbnails) of 20,000 small images, images/s
 *     baseline: the same importer probing one file at a time
 *   - inserting 1,000,000 annotations (boxes and 20-vertex polygons), annotations/s
 *     baseline: one auto-committed INSERT per annotation
 *   - p50/p95 of a grid page query (200 images with annotation counts, by status and class)
 *     baseline: the same page written as LEFT JOIN + GROUP BY with IN (subquery)
 *   - time to open the dataset (Dataset.open and its summary) at that size
 *     baseline: a bare connection (better-sqlite3 open, pg client connect) and a count
 *   - peak RSS of the process
 * Without PostgreSQL installed (no initdb/pg_ctl) the PostgreSQL column says why and only SQLite
 * runs. A server of one's own is used instead of a throw-away cluster when TESSERA_TEST_PG_URL
 * names it (the bench works in schemas of its own there and drops them).
 * Options: --images N (default 20000), --annotations N (default 1000000),
 *          --engine sqlite|postgres|both (default both), --json
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import sharp from 'sharp';
import type { Geometry } from '../src-main/common/model';
import { insertAnnotations, type NewAnnotation } from '../src-main/db/annotations';
import { insertClass } from '../src-main/db/classes';
import { insertImages, listImages } from '../src-main/db/images';
import { Dataset } from '../src-main/services/dataset';
import { importImages } from '../src-main/services/importer';
import { IMAGE_STATUSES } from '../src-main/common/model';
import startPgCluster, { pgUrl } from '../test/helpers/postgres';
import { median, pct } from './stats';

const { values } = parseArgs({
  options: {
    images: { type: 'string', default: '20000' },
    annotations: { type: 'string', default: '1000000' },
    engine: { type: 'string', default: 'both' },
    json: { type: 'boolean', default: false },
  },
});
const N_IMAGES = Number(values.images);
const N_ANN = Number(values.annotations);
if (!['sqlite', 'postgres', 'both'].includes(values.engine)) throw new Error(`--engine ${values.engine}: use sqlite, postgres or both`);
// Dataset paths name SQLite files here, whatever the environment maps them to.
delete process.env['TESSERA_STORE'];

function log(msg: string): void {
  if (!values.json) process.stderr.write(`${msg}\n`);
}

/** 20,000 distinct small PNGs, made once and reused by later runs. */
async function imageFolder(n: number): Promise<string> {
  const dir = path.join(os.tmpdir(), `tessera-bench-images-${n}`);
  const done = path.join(dir, '.complete');
  if (fs.existsSync(done)) return dir;
  log(`generating ${n} images in ${dir} (once)...`);
  fs.mkdirSync(dir, { recursive: true });
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      const px = Buffer.alloc(32 * 24 * 3);
      for (let k = 0; k < px.length; k++) px[k] = (k * 31 + i * 7 + (k >> 5) * i) & 255;
      px.writeUInt32LE(i, 0); // distinct content per file
      const sub = path.join(dir, String(Math.floor(i / 1000)).padStart(3, '0'));
      if (i % 1000 === 0) fs.mkdirSync(sub, { recursive: true });
      await sharp(px, { raw: { width: 32, height: 24, channels: 3 } })
        .png({ compressionLevel: 1 })
        .toFile(path.join(sub, `img${String(i).padStart(6, '0')}.png`));
    }
  };
  for (let s = 0; s < n; s += 1000) fs.mkdirSync(path.join(dir, String(s / 1000).padStart(3, '0')), { recursive: true });
  await Promise.all(Array.from({ length: 8 }, worker));
  fs.writeFileSync(done, '');
  return dir;
}

function geometryFor(i: number, w: number, h: number): Geometry {
  if (i % 2 === 0) return { kind: 'box', x: (i * 7) % (w - 10), y: (i * 3) % (h - 10), w: 8.5, h: 6.25 };
  const cx = w / 2;
  const cy = h / 2;
  const pts: number[] = [];
  for (let k = 0; k < 20; k++) {
    const a = (k / 20) * Math.PI * 2;
    pts.push(Math.round((cx + Math.cos(a) * 9.3) * 100) / 100, Math.round((cy + Math.sin(a) * 7.1) * 100) / 100);
  }
  return { kind: 'polygon', parts: [pts] };
}

interface Result {
  tessera: number;
  baseline: number | null;
  unit: string;
  target: string;
  ok: boolean | null;
}

interface EngineRun {
  results: Record<string, Result>;
  databaseMiB: number;
  /** Peak RSS of the process when this engine's half ended (the halves run one after the other). */
  peakRssMiB: number;
  seconds: number;
}

/** Where one engine keeps the bench's datasets, and what it takes to open one bare. */
interface Store {
  engine: 'sqlite' | 'postgres';
  /** The dataset called `name`: a `.tessera` path, or a postgres:// URL of a schema of its own. */
  location(name: string): string;
  /** The baseline open: a bare connection and a count of the images. */
  rawOpen(location: string): Promise<void>;
  sizeMiB(location: string): Promise<number>;
  cleanup(): Promise<void>;
}

function sqliteStore(): Store {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-bench-'));
  return {
    engine: 'sqlite',
    location: (name) => path.join(work, `${name}.tessera`),
    rawOpen: async (file) => {
      const Database = (await import('better-sqlite3')).default;
      const raw = new Database(file, { readonly: true });
      raw.prepare('SELECT count(*) FROM images').get();
      raw.close();
    },
    sizeMiB: async (file) => fs.statSync(file).size / 2 ** 20,
    cleanup: async () => fs.rmSync(work, { recursive: true, force: true }),
  };
}

function pgStore(base: string): Store {
  const tag = `${process.pid}_${Date.now().toString(36)}`;
  const schemas = new Set<string>();
  const admin = async (sql: string, params: unknown[] = []): Promise<pg.QueryResult> => {
    const c = new pg.Client({ connectionString: base });
    await c.connect();
    try {
      return await c.query(sql, params);
    } finally {
      await c.end();
    }
  };
  return {
    engine: 'postgres',
    location: (name) => {
      const schema = `bench_${name}_${tag}`;
      schemas.add(schema);
      const u = new URL(base);
      u.searchParams.set('schema', schema);
      return u.href;
    },
    rawOpen: async (url) => {
      const u = new URL(url);
      const schema = u.searchParams.get('schema')!;
      u.searchParams.delete('schema');
      const c = new pg.Client({ connectionString: u.href });
      await c.connect();
      await c.query(`SELECT count(*) FROM ${schema}.images`);
      await c.end();
    },
    sizeMiB: async (url) => {
      const schema = new URL(url).searchParams.get('schema')!;
      const r = await admin(
        `SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) AS bytes FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = $1 AND c.relkind IN ('r', 'm')`,
        [schema],
      );
      return Number(r.rows[0].bytes) / 2 ** 20;
    },
    cleanup: async () => {
      for (const s of schemas) await admin(`DROP SCHEMA IF EXISTS ${s} CASCADE`);
    },
  };
}

async function measure(store: Store, imagesDir: string): Promise<EngineRun> {
  const started = performance.now();
  const results: Record<string, Result> = {};
  const name = store.engine === 'sqlite' ? 'SQLite' : 'PostgreSQL';

  // Import: Tessera's concurrent probe versus one file at a time, on fresh datasets.
  log(`${name}: import...`);
  const benchLoc = store.location('bench');
  const ds = await Dataset.create(benchLoc, imagesDir);
  let t = performance.now();
  const report = await importImages(ds, { paths: [imagesDir] });
  const importS = (performance.now() - t) / 1000;
  if (report.imported !== N_IMAGES) throw new Error(`imported ${report.imported} of ${N_IMAGES}: ${JSON.stringify(report.problems.slice(0, 3))}`);
  const importRate = N_IMAGES / importS;

  const baseDs = await Dataset.create(store.location('baseline'), imagesDir);
  const subset = path.join(imagesDir, '000');
  t = performance.now();
  const baseReport = await importImages(baseDs, { paths: [subset], concurrency: 1 });
  const baseImportRate = baseReport.imported / ((performance.now() - t) / 1000);
  await baseDs.close();
  results['import (probe + insert)'] = { tessera: importRate, baseline: baseImportRate, unit: 'images/s', target: '>= 2000', ok: importRate >= 2000 };

  // Annotations: batched transactions with prepared statements versus auto-commit per row.
  log(`${name}: annotations...`);
  const db = ds.db;
  const classes: number[] = [];
  for (const [i, name] of ['RBC', 'WBC', 'Platelets', 'crop', 'weed'].entries()) classes.push((await insertClass(db, { name, color: `#00000${i}` })).id);
  const imageIds = await db.prepare('SELECT id FROM images ORDER BY id').pluck().all() as number[];
  const statuses = IMAGE_STATUSES;
  const setStatus = db.prepare('UPDATE images SET status = ? WHERE id = ?');
  await db.transaction(async () => {
    for (const [i, id] of imageIds.entries()) await setStatus.run(statuses[i % statuses.length], id);
  })();

  // Geometry objects are made outside the timer: an importer or a model hands them over ready.
  const BATCH = 50_000;
  let annS = 0;
  let made = 0;
  while (made < N_ANN) {
    const batch: NewAnnotation[] = [];
    for (let k = 0; k < BATCH && made < N_ANN; k++, made++) {
      // Importers and pre-labeling write an image's annotations together.
      const imageId = imageIds[Math.floor((made * imageIds.length) / N_ANN)]!;
      batch.push({ imageId, classId: classes[(made * 7919) % classes.length]!, geometry: geometryFor(made, 32, 24), source: 'human' });
    }
    t = performance.now();
    await insertAnnotations(db, batch);
    annS += (performance.now() - t) / 1000;
  }
  const annRate = N_ANN / annS;

  const naive = await Dataset.create(store.location('naive'), imagesDir);
  const [naiveImage] = await insertImages(naive.db, [
    { path: 'x.png', external: false, contentHash: 'h', fileSize: 1, fileMtimeMs: 0, width: 32, height: 24, channels: 3, bitDepth: 8, format: 'png', frames: 1, orientation: 1 },
  ]);
  const NAIVE_N = 5_000;
  const naiveGeoms = Array.from({ length: NAIVE_N }, (_, k) => geometryFor(k, 32, 24));
  t = performance.now();
  for (let k = 0; k < NAIVE_N; k++) {
    await naive.db
      .prepare(
        'INSERT INTO annotations (image_id, class_id, kind, geometry, source, created_at, updated_at) VALUES (?, NULL, ?, ?, ?, ?, ?)',
      )
      .run(naiveImage, naiveGeoms[k]!.kind, JSON.stringify(naiveGeoms[k]), 'human', Date.now(), Date.now());
  }
  const naiveRate = NAIVE_N / ((performance.now() - t) / 1000);
  await naive.close();
  results['insert annotations'] = { tessera: annRate, baseline: naiveRate, unit: 'annotations/s', target: '>= 200000', ok: annRate >= 200_000 };

  // Page query at that size: random status, class and page; Tessera's query versus the naive one.
  // Statistics first, as each engine keeps them after a bulk load: SQLite's PRAGMA optimize, and
  // on PostgreSQL what autovacuum does after many inserts (VACUUM ANALYZE: statistics, and the
  // visibility map that lets the counts read the indexes alone).
  log(`${name}: page queries...`);
  if (db.sqlite) db.sqlite.pragma('optimize');
  else await db.exec('VACUUM ANALYZE');
  const naivePage = db.prepare(
    `SELECT i.id, i.path, i.width, i.height, i.status, count(a.id) AS annotationCount
     FROM images i LEFT JOIN annotations a ON a.image_id = i.id
     WHERE i.status = ? AND i.id IN (SELECT image_id FROM annotations WHERE class_id = ?)
     GROUP BY i.id ORDER BY i.id LIMIT 200 OFFSET ?`,
  );
  const perStatus = Math.floor(N_IMAGES / statuses.length);
  const ours: number[] = [];
  const theirs: number[] = [];
  let rows = 0;
  for (let q = 0; q < 300; q++) {
    const status = statuses[q % statuses.length]!;
    const classId = classes[(q * 3) % classes.length]!;
    const offset = Math.floor(((q * 7) % 97) / 97 * Math.max(0, perStatus - 200));
    let t0 = performance.now();
    const page = await listImages(db, { status, classId }, offset, 200);
    ours.push(performance.now() - t0);
    rows += page.length;
    if (q < 60) {
      t0 = performance.now();
      await naivePage.all(status, classId, offset);
      theirs.push(performance.now() - t0);
    }
  }
  if (rows === 0) throw new Error('page queries returned no rows');
  results['page query p50'] = { tessera: median(ours), baseline: median(theirs), unit: 'ms', target: '', ok: null };
  results['page query p95'] = { tessera: pct(ours, 95), baseline: pct(theirs, 95), unit: 'ms', target: '< 20', ok: pct(ours, 95) < 20 };

  // Open: the dataset as the app opens it (schema check and migrations, root, first summary),
  // with the data in the OS cache.
  log(`${name}: open...`);
  await ds.close();
  const opens: number[] = [];
  const rawOpens: number[] = [];
  for (let k = 0; k < 7; k++) {
    let t0 = performance.now();
    const again = await Dataset.open(benchLoc);
    await again.summary();
    opens.push(performance.now() - t0);
    await again.close();
    t0 = performance.now();
    await store.rawOpen(benchLoc);
    rawOpens.push(performance.now() - t0);
  }
  results['open dataset'] = { tessera: median(opens), baseline: median(rawOpens), unit: 'ms', target: '< 500', ok: median(opens) < 500 };
  const databaseMiB = await store.sizeMiB(benchLoc);
  return { results, databaseMiB, peakRssMiB: process.resourceUsage().maxRSS / 1024, seconds: (performance.now() - started) / 1000 };
}

/** The PostgreSQL server to measure: TESSERA_TEST_PG_URL, or a throw-away cluster of this run. */
async function startPostgres(): Promise<{ url: string; stop: () => Promise<void> } | { skipped: string }> {
  let stop: (() => Promise<void>) | undefined;
  try {
    stop = await startPgCluster();
  } catch (e) {
    return { skipped: `the PostgreSQL cluster did not start: ${(e as Error).message.split('\n')[0]}` };
  }
  const url = pgUrl();
  if (!url) return { skipped: process.env['TESSERA_TEST_PG_SKIP'] ?? 'no PostgreSQL server' };
  return { url, stop: stop ?? (async () => {}) };
}

async function main(): Promise<void> {
  const imagesDir = await imageFolder(N_IMAGES);
  const runs: { sqlite?: EngineRun; postgres?: EngineRun | { skipped: string } } = {};

  if (values.engine !== 'postgres') {
    const store = sqliteStore();
    try {
      runs.sqlite = await measure(store, imagesDir);
    } finally {
      await store.cleanup();
    }
  }
  if (values.engine !== 'sqlite') {
    log('PostgreSQL: starting a throw-away cluster...');
    const server = await startPostgres();
    if ('skipped' in server) {
      runs.postgres = server;
      log(`PostgreSQL: skipped (${server.skipped})`);
    } else {
      const store = pgStore(server.url);
      try {
        runs.postgres = await measure(store, imagesDir);
      } finally {
        await store.cleanup().catch(() => {});
        await server.stop();
      }
    }
  }

  if (values.json) {
    console.log(JSON.stringify({ images: N_IMAGES, annotations: N_ANN, engines: runs }, null, 2));
    return;
  }
  const sq = runs.sqlite;
  const pgRun = runs.postgres && 'results' in runs.postgres ? runs.postgres : undefined;
  const fmt = (x: number | null | undefined, unit: string) =>
    x === null || x === undefined ? '-' : unit === 'ms' ? x.toFixed(2) : Math.round(x).toLocaleString('en');
  const mark = (r: Result | undefined) => (r === undefined || r.ok === null ? '' : r.ok ? 'ok' : 'MISSED');
  const rowName = (name: string) => (name === 'insert annotations' ? `insert ${N_ANN.toLocaleString('en')} annotations` : name);
  const sizes = [sq ? `SQLite ${sq.databaseMiB.toFixed(0)} MiB` : '', pgRun ? `PostgreSQL ${pgRun.databaseMiB.toFixed(0)} MiB` : ''].filter(Boolean).join(', ');
  console.log(`\nTessera dataset store: ${N_IMAGES.toLocaleString('en')} images, ${N_ANN.toLocaleString('en')} annotations${sizes ? ` (${sizes})` : ''}`);
  console.log(
    `${'metric'.padEnd(32)}${'SQLite'.padStart(11)}${'baseline'.padStart(11)}${'PostgreSQL'.padStart(12)}${'baseline'.padStart(11)}  ${'unit'.padEnd(14)}${'target'.padEnd(10)}SQLite / PostgreSQL`,
  );
  const names = Object.keys((sq ?? pgRun)?.results ?? {});
  for (const n of names) {
    const a = sq?.results[n];
    const b = pgRun?.results[n];
    const r = (a ?? b)!;
    const marks = [sq ? mark(a) : '', pgRun ? mark(b) : ''];
    console.log(
      `${rowName(n).padEnd(32)}${fmt(a?.tessera, r.unit).padStart(11)}${fmt(a?.baseline, r.unit).padStart(11)}${fmt(b?.tessera, r.unit).padStart(12)}${fmt(b?.baseline, r.unit).padStart(11)}  ${r.unit.padEnd(14)}${r.target.padEnd(10)}${r.ok === null ? '' : marks.filter(Boolean).join(' / ')}`,
    );
  }
  console.log(
    `${'peak RSS after each half'.padEnd(32)}${fmt(sq?.peakRssMiB, 'MiB').padStart(11)}${''.padStart(11)}${fmt(pgRun?.peakRssMiB, 'MiB').padStart(12)}${''.padStart(11)}  MiB (the process; PostgreSQL's server apart)`,
  );
  console.log(`${'time for the half'.padEnd(32)}${fmt(sq?.seconds, 's').padStart(11)}${''.padStart(11)}${fmt(pgRun?.seconds, 's').padStart(12)}${''.padStart(11)}  s`);
  if (runs.postgres && 'skipped' in runs.postgres) console.log(`PostgreSQL: not measured: ${runs.postgres.skipped}`);
  console.log('baselines: import = one file at a time (1,000 files); annotations = auto-commit per row (5,000 rows);');
  console.log('           page query = LEFT JOIN + GROUP BY + IN (subquery); open = bare connection (better-sqlite3 open,');
  console.log('           pg client connect) + count');
}

await main();
