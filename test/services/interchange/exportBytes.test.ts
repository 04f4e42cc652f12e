import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeMask } from '../../../src-main/common/geometry';
import type { AttributeValue, Geometry, Split } from '../../../src-main/common/model';
import { insertAnnotations, type NewAnnotation } from '../../../src-main/db/annotations';
import { insertClass } from '../../../src-main/db/classes';
import { setSplits } from '../../../src-main/db/export';
import { insertImages, type NewImage } from '../../../src-main/db/images';
import { insertModelRun } from '../../../src-main/db/modelRuns';
import { Dataset } from '../../../src-main/services/dataset';
import { exportDataset, type ExportOptions } from '../../../src-main/services/interchange/exportDataset';
import { importDataset } from '../../../src-main/services/interchange/importDataset';
import { EXPORT_MANIFEST } from '../../../src-main/services/interchange/exportPlace';
import { VERSION_FILE } from '../../../src-main/services/interchange/versionFile';
import { sharedPath, tempDir } from '../../helpers/shared';

/*
 * The exported files, byte for byte, as the object-building exporter wrote them (each entry an
 * object passed to JSON.stringify, polygon areas from the full RLE, every number formatted by
 * JSON.stringify or toPrecision and regular expressions): the SHA-256 of every file it wrote for
 * the same datasets. The exporter now writes JSON text directly and computes areas without the
 * runs; these prove it still writes the very same bytes.
 */
const GOLDEN: Record<string, { files: number; sha256: string }> = {
  'fixture coco polygon': { files: 4, sha256: '3765292b0f781cefa45e3d70d22b94f66fb8d60f36835c3b42cba255fbb0e469' },
  'fixture coco rle': { files: 4, sha256: '05cfecb04045f49a330d794fc297780d56fb3b7ba9f11c4af63cab819365a638' },
  'fixture coco human only': { files: 4, sha256: 'c47d9fa84c8e0d75cf5e84a938eefc4ddec6207d5898d39830624fae34555f4d' },
  'fixture yolo-seg': { files: 25, sha256: 'f6b87cd095c5fda40903d6f6681581f19445d291e7c29bee07a4e9630fb200fe' },
  'fixture yolo': { files: 25, sha256: '636d992b6280dea50f8cf8bf2dbfb8a7a1a462666aa96a89594bfa35bb16597e' },
  'tinycoco coco polygon': { files: 1, sha256: '537d772bc00a09e3ebde29f6f9d831d036a4f13d62e2c30eb684691b23620c19' },
  'tinycoco coco rle': { files: 1, sha256: '1cea968fb3c4f348ba647db7af95786f9dd5f73bdefdc53e387369284a7abf5e' },
  'tinycoco yolo-seg': { files: 33, sha256: '080dd6eed6a23764538c2954a3313606d2548b2d46a6b30a0d9b77c1005e0eda' },
  'tinycoco yolo': { files: 33, sha256: 'd861c027321b006df07fac86dfdd7487917bd6c9745692cb01c86fe80f54b0e9' },
};

const open: Dataset[] = [];
afterEach(async () => {
  for (const ds of open.splice(0)) await ds.close();
});

/** Deterministic pseudo-random numbers (a linear congruential generator). */
function rng(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648;
  };
}

/**
 * A dataset exercising every branch of the COCO and YOLO writers: boxes (negative width and
 * height too), polygons with one and several parts, vertices outside the image, repeated
 * vertices, fractional and whole coordinates, masks crowd and not, scored predictions,
 * attributes (plain, named like COCO keys, integer-like), tags, shapes without a class, and
 * images of every split and none.
 */
async function fixture(): Promise<Dataset> {
  const dir = tempDir('tessera-export-bytes-');
  const ds = await Dataset.create(path.join(dir, 'd.tessera'), dir);
  open.push(ds);
  const db = ds.db;
  const classes: number[] = [];
  for (const name of ['cell', 'nucleus', 'débris "x"', 'blurry']) classes.push((await insertClass(db, { name, color: '#112233' })).id);
  const sizes = [
    [64, 48],
    [40, 30],
    [33, 17],
    [100, 80],
  ] as const;
  const rows: NewImage[] = Array.from({ length: 24 }, (_, i) => ({
    // Unique paths, base names repeated across folders (the writers must keep file names unique).
    path: `imgs/d${i % 3}/im_${Math.floor(i / 3)}.${i % 2 ? 'jpg' : 'png'}`,
    external: false,
    contentHash: `h${i}`,
    fileSize: 1,
    fileMtimeMs: 0,
    width: sizes[i % 4]![0],
    height: sizes[i % 4]![1],
    channels: 3,
    bitDepth: 8,
    format: i % 2 ? 'jpeg' : 'png',
    frames: 1,
    orientation: 1,
  }));
  const ids = await insertImages(db, rows);
  const run = await insertModelRun(db, { model: 'm' });
  const r = rng(12345);
  const coord = (max: number): number => {
    const k = r();
    const v = r() * (max + 20) - 10;
    if (k < 0.3) return Math.round(v);
    if (k < 0.5) return Math.round(v * 2) / 2;
    if (k < 0.8) return Math.round(v * 10) / 10;
    return v;
  };
  const ring = (w: number, h: number): number[] => {
    const out: number[] = [];
    const n = 3 + Math.floor(r() * 12);
    for (let k = 0; k < n; k++) {
      out.push(coord(w), coord(h));
      if (r() < 0.1) out.push(out[out.length - 2]!, out[out.length - 1]!);
    }
    return out;
  };
  const anns: NewAnnotation[] = [];
  ids.forEach((imageId, i) => {
    const [w, h] = sizes[i % 4]!;
    for (let k = 0; k < 40; k++) {
      const pick = r();
      let geometry: Geometry;
      if (pick < 0.25) geometry = { kind: 'box', x: coord(w), y: coord(h), w: (r() < 0.2 ? -1 : 1) * (1 + coord(w / 2)), h: (r() < 0.2 ? -1 : 1) * (1 + coord(h / 2)) };
      else if (pick < 0.75) geometry = { kind: 'polygon', parts: r() < 0.15 ? [ring(w, h), ring(w, h)] : [ring(w, h)] };
      else if (pick < 0.9) {
        const m = new Uint8Array(w * h);
        const cx = r() * w;
        const cy = r() * h;
        const rad = 2 + r() * 10;
        for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) if ((x - cx) ** 2 + (y - cy) ** 2 < rad * rad) m[y * w + x] = 1;
        if (!m.includes(1)) m[0] = 1;
        geometry = { kind: 'mask', rle: encodeMask(m, w, h) };
      } else if (pick < 0.95) geometry = { kind: 'obb', cx: coord(w), cy: coord(h), w: 3 + r() * 9, h: 2 + r() * 5, angle: r() * 3 };
      else geometry = { kind: 'tag' };
      const attributes: Record<string, AttributeValue> = {};
      const a = r();
      if (a < 0.1) attributes['iscrowd'] = true;
      else if (a < 0.15) attributes['iscrowd'] = false;
      else if (a < 0.2) attributes['note'] = `n${k}`;
      else if (a < 0.23) Object.assign(attributes, { area: 5, occluded: true });
      else if (a < 0.25) Object.assign(attributes, { '7': 'seven', z: 1.5 });
      const predicted = r() < 0.15;
      anns.push({
        imageId,
        classId: r() < 0.04 ? null : classes[Math.floor(r() * classes.length)]!,
        geometry,
        source: predicted ? 'model' : 'human',
        modelRunId: predicted ? run : null,
        score: predicted ? Math.round(r() * 1000) / 1000 : null,
        attributes,
        z: Math.floor(r() * 3),
      });
    }
  });
  await insertAnnotations(db, anns);
  const splits: (Split | null)[] = ['train', 'val', 'test', null];
  await setSplits(
    db,
    ids.map((id, i) => [id, splits[i % 4]!] as const),
  );
  return ds;
}

/**
 * How many files there are under `dir`, and one SHA-256 of their paths and contents. The export's
 * manifest (the list of the files written, for a later overwrite) and tessera-version.json (which
 * names the dataset by its random uuid) are not part of the format.
 */
function hashes(dir: string): { files: number; sha256: string } {
  const out: Record<string, string> = {};
  for (const e of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!e.isFile()) continue;
    if ((e.name === EXPORT_MANIFEST || e.name === VERSION_FILE) && e.parentPath === dir) continue;
    const file = path.join(e.parentPath, e.name);
    out[path.relative(dir, file).split(path.sep).join('/')] = createHash('sha256').update(fs.readFileSync(file)).digest('hex');
  }
  const lines = Object.entries(out)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([file, hash]) => `${file} ${hash}\n`);
  return { files: lines.length, sha256: createHash('sha256').update(lines.join('')).digest('hex') };
}

const CASES: { name: string; opts: Pick<ExportOptions, 'format' | 'cocoSegmentation' | 'withPredictions'> }[] = [
  { name: 'coco polygon', opts: { format: 'coco', cocoSegmentation: 'polygon', withPredictions: true } },
  { name: 'coco rle', opts: { format: 'coco', cocoSegmentation: 'rle', withPredictions: true } },
  { name: 'coco human only', opts: { format: 'coco', cocoSegmentation: 'polygon', withPredictions: false } },
  { name: 'yolo-seg', opts: { format: 'yolo-seg', cocoSegmentation: 'polygon', withPredictions: true } },
  { name: 'yolo', opts: { format: 'yolo', cocoSegmentation: 'polygon', withPredictions: true } },
];

async function exportHashes(ds: Dataset, opts: (typeof CASES)[number]['opts']): Promise<{ files: number; sha256: string }> {
  const out = path.join(tempDir('tessera-export-bytes-out-'), 'out');
  await exportDataset(ds, { outDir: out, only: 'all', images: 'none', strict: false, ...opts });
  return hashes(out);
}

describe('exported bytes', () => {
  for (const c of CASES) {
    it(`a dataset of every kind of shape, ${c.name}: the same files as before`, async () => {
      const got = await exportHashes(await fixture(), c.opts);
      expect(got).toEqual(GOLDEN[`fixture ${c.name}`]);
    });
  }

  const tiny = sharedPath('datasets/coco_tinycoco');
  for (const c of CASES.filter((x) => x.name !== 'coco human only')) {
    it.skipIf(!tiny)(`coco_tinycoco re-exported, ${c.name}: the same files as before`, async () => {
      const dir = tempDir('tessera-export-bytes-tiny-');
      const ds = await Dataset.create(path.join(dir, 'd.tessera'), dir);
      open.push(ds);
      // Every category, as the files were first written with (unused ones included).
      await importDataset(ds, { path: tiny!, format: 'coco', allowOutsideRoot: true, keepEmptyClasses: true });
      const got = await exportHashes(ds, c.opts);
      expect(got).toEqual(GOLDEN[`tinycoco ${c.name}`]);
    });
  }
});
