/**
 * Dataset store benchmark (`npm run bench:store`). Prints Tessera's figures beside a naive
 * baseline measured in the same run, and the targets:
 *   - import rate (probe + insert, no thumbnails) of 20,000 small images, images/s
 *     baseline: the same importer probing one file at a time
 *   - inserting 1,000,000 annotations (boxes and 20-vertex polygons), annotations/s
 *     baseline: one auto-committed INSERT per annotation
 *   - p50/p95 of a grid page query (200 images with annotation counts, by status and class)
 *     baseline: the same page written as LEFT JOIN + GROUP BY with IN (subquery)
 *   - time to open the dataset; peak RSS
 * Options: --images N (default 20000), --annotations N (default 1000000), --json
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import type { Geometry } from '../src-main/common/model';
import { insertAnnotations, type NewAnnotation } from '../src-main/db/annotations';
import { insertClass } from '../src-main/db/classes';
import { listImages } from '../src-main/db/images';
import { Dataset } from '../src-main/services/dataset';
import { importImages } from '../src-main/services/importer';
import { IMAGE_STATUSES } from '../src-main/common/model';
import { median, pct } from './stats';

const { values } = parseArgs({
  options: {
    images: { type: 'string', default: '20000' },
    annotations: { type: 'string', default: '1000000' },
    json: { type: 'boolean', default: false },
  },
});
const N_IMAGES = Number(values.images);
const N_ANN = Number(values.annotations);

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

async function main(): Promise<void> {
  const imagesDir = await imageFolder(N_IMAGES);
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-bench-'));
  const results: Record<string, { tessera: number; baseline: number | null; unit: string; target: string; ok: boolean | null }> = {};

  // Import: Tessera's concurrent probe versus one file at a time, on fresh datasets.
  log('import...');
  const ds = await Dataset.create(path.join(work, 'bench.tessera'), imagesDir);
  let t = performance.now();
  const report = await importImages(ds, { paths: [imagesDir] });
  const importS = (performance.now() - t) / 1000;
  if (report.imported !== N_IMAGES) throw new Error(`imported ${report.imported} of ${N_IMAGES}: ${JSON.stringify(report.problems.slice(0, 3))}`);
  const importRate = N_IMAGES / importS;

  const baseDs = await Dataset.create(path.join(work, 'baseline.tessera'), imagesDir);
  const subset = path.join(imagesDir, '000');
  t = performance.now();
  const baseReport = await importImages(baseDs, { paths: [subset], concurrency: 1 });
  const baseImportRate = baseReport.imported / ((performance.now() - t) / 1000);
  await baseDs.close();
  results['import (probe + insert)'] = { tessera: importRate, baseline: baseImportRate, unit: 'images/s', target: '>= 2000', ok: importRate >= 2000 };

  // Annotations: batched transactions with prepared statements versus auto-commit per row.
  log('annotations...');
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

  const naive = await Dataset.create(path.join(work, 'naive.tessera'), imagesDir);
  await naive.db.exec(`INSERT INTO images SELECT * FROM (SELECT 1 AS id, 'x.png', 0, 'h', 1, 0, 32, 24, 3, 8, 'png', 1, 1, 'new', NULL, NULL, 0, 0)`);
  const NAIVE_N = 5_000;
  const naiveGeoms = Array.from({ length: NAIVE_N }, (_, k) => geometryFor(k, 32, 24));
  t = performance.now();
  for (let k = 0; k < NAIVE_N; k++) {
    await naive.db
      .prepare(
        'INSERT INTO annotations (image_id, class_id, kind, geometry, source, created_at, updated_at) VALUES (1, NULL, ?, ?, ?, ?, ?)',
      )
      .run(naiveGeoms[k]!.kind, JSON.stringify(naiveGeoms[k]), 'human', Date.now(), Date.now());
  }
  const naiveRate = NAIVE_N / ((performance.now() - t) / 1000);
  await naive.close();
  results[`insert ${N_ANN.toLocaleString('en')} annotations`] = { tessera: annRate, baseline: naiveRate, unit: 'annotations/s', target: '>= 200000', ok: annRate >= 200_000 };

  // Page query at that size: random status, class and page; Tessera's query versus the naive one.
  log('page queries...');
  db.sqlite?.pragma('optimize');
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

  // Open: the dataset as the app opens it (schema check, pragmas, first summary), cold process cache aside.
  log('open...');
  await ds.close();
  const opens: number[] = [];
  const rawOpens: number[] = [];
  const Database = (await import('better-sqlite3')).default;
  for (let k = 0; k < 7; k++) {
    let t0 = performance.now();
    const again = await Dataset.open(path.join(work, 'bench.tessera'));
    await again.summary();
    opens.push(performance.now() - t0);
    await again.close();
    t0 = performance.now();
    const raw = new Database(path.join(work, 'bench.tessera'), { readonly: true });
    raw.prepare('SELECT count(*) FROM images').get();
    rawOpens.push(performance.now() - t0);
    raw.close();
  }
  results['open dataset'] = { tessera: median(opens), baseline: median(rawOpens), unit: 'ms', target: '< 500', ok: median(opens) < 500 };
  const rssMiB = process.resourceUsage().maxRSS / 1024;
  results['peak RSS'] = { tessera: rssMiB, baseline: null, unit: 'MiB', target: '', ok: null };
  const dbMiB = fs.statSync(path.join(work, 'bench.tessera')).size / 2 ** 20;
  fs.rmSync(work, { recursive: true, force: true });

  if (values.json) {
    console.log(JSON.stringify({ images: N_IMAGES, annotations: N_ANN, results, databaseMiB: dbMiB }, null, 2));
    return;
  }
  const fmt = (x: number | null, unit: string) => (x === null ? '-' : unit === 'ms' ? x.toFixed(2) : Math.round(x).toLocaleString('en'));
  console.log(`\nTessera dataset store: ${N_IMAGES.toLocaleString('en')} images, ${N_ANN.toLocaleString('en')} annotations (database ${dbMiB.toFixed(0)} MiB)`);
  console.log(`${'metric'.padEnd(34)}${'tessera'.padStart(14)}${'baseline'.padStart(14)}${'ratio'.padStart(9)}  ${'unit'.padEnd(14)}target`);
  for (const [name, r] of Object.entries(results)) {
    const ratio = r.baseline ? (r.unit === 'ms' ? r.baseline / r.tessera : r.tessera / r.baseline) : null;
    console.log(
      `${name.padEnd(34)}${fmt(r.tessera, r.unit).padStart(14)}${fmt(r.baseline, r.unit).padStart(14)}${(ratio ? `${ratio.toFixed(1)}x` : '-').padStart(9)}  ${r.unit.padEnd(14)}${r.target}${r.ok === null ? '' : r.ok ? '  ok' : '  MISSED'}`,
    );
  }
  console.log('baselines: import = one file at a time (1,000 files); annotations = auto-commit per row (5,000 rows);');
  console.log('           page query = LEFT JOIN + GROUP BY + IN (subquery); open = bare better-sqlite3 open + count');
}

await main();
