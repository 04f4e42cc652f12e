/**
 * Versions at scale: creating a version of 20,000 images and 200,000 boxes, diffing it against the
 * dataset after edits, and exporting it (COCO, no image files) beside an export of the dataset now.
 * Medians of 3 runs. `npx tsx bench/versions.ts`
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { insertAnnotations, type NewAnnotation } from '../src-main/db/annotations';
import { insertClass } from '../src-main/db/classes';
import { insertImages, type NewImage } from '../src-main/db/images';
import { Dataset } from '../src-main/services/dataset';
import { exportDataset } from '../src-main/services/interchange/exportDataset';
import { createVersion, deleteVersion, diffVersions } from '../src-main/services/versions';

const IMAGES = 20_000;
const PER_IMAGE = 10;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-bench-versions-'));
const ds = await Dataset.create(path.join(dir, 'd.tessera'), dir);
const classes: number[] = [];
for (const name of ['a', 'b', 'c', 'd']) classes.push((await insertClass(ds.db, { name, color: '#123456' })).id);
const rows: NewImage[] = Array.from({ length: IMAGES }, (_, i) => ({
  path: `imgs/im_${i}.jpg`,
  external: false,
  contentHash: `h${i}`,
  fileSize: 1,
  fileMtimeMs: 0,
  width: 640,
  height: 480,
  channels: 3,
  bitDepth: 8,
  format: 'jpeg',
  frames: 1,
  orientation: 1,
}));
const ids = await insertImages(ds.db, rows);
const anns: NewAnnotation[] = [];
for (const id of ids) for (let k = 0; k < PER_IMAGE; k++) anns.push({ imageId: id, classId: classes[k % 4]!, geometry: { kind: 'box', x: k * 7.5, y: k * 3.25, w: 40, h: 30 }, source: 'human' });
await ds.db.transaction(async () => await insertAnnotations(ds.db, anns))();

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
async function time(f: () => unknown | Promise<unknown>): Promise<number> {
  const t = performance.now();
  await f();
  return performance.now() - t;
}

const create: number[] = [];
for (let i = 0; i < 3; i++) {
  create.push(await time(async () => await createVersion(ds, { name: `v${i}` })));
  if (i < 2) await deleteVersion(ds, i + 1);
}
const v = 3;
// Edits after the version: 1% of boxes moved, 1% of images deleted.
await ds.db.prepare('UPDATE annotations SET geometry = json_set(geometry, \'$.x\', 1) WHERE id % 100 = 0').run();
await ds.db.prepare('DELETE FROM images WHERE id % 100 = 1').run();
const diff: number[] = [];
let d = await diffVersions(ds, v, 'current');
for (let i = 0; i < 3; i++) diff.push(await time(async () => (d = await diffVersions(ds, v, 'current'))));
const live: number[] = [];
const frozen: number[] = [];
for (let i = 0; i < 3; i++) {
  const o = { format: 'coco' as const, only: 'all' as const, withPredictions: false, images: 'none' as const, strict: false, cocoSegmentation: 'polygon' as const };
  live.push(await time(() => exportDataset(ds, { ...o, outDir: path.join(dir, `live${i}`) })));
  frozen.push(await time(() => exportDataset(ds, { ...o, outDir: path.join(dir, `v${i}`), version: v })));
}
const size = fs.statSync(path.join(dir, 'd.tessera')).size;
console.log(`${IMAGES} images, ${IMAGES * PER_IMAGE} boxes; medians of 3`);
console.log(`create version        ${median(create).toFixed(0)} ms`);
console.log(`diff vs current       ${median(diff).toFixed(0)} ms (${d.images.removed.length} images removed, ${d.annotations.changed} changed, ${d.annotations.removed} removed)`);
console.log(`export COCO, now      ${median(live).toFixed(0)} ms`);
console.log(`export COCO, version  ${median(frozen).toFixed(0)} ms (ratio ${(median(frozen) / median(live)).toFixed(2)})`);
console.log(`dataset file          ${(size / 1e6).toFixed(1)} MB with one version`);
await ds.close();
fs.rmSync(dir, { recursive: true, force: true });
