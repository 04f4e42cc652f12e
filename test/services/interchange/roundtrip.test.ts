import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import type { ExportFormat, FormatName } from '../../../src-main/common/formats/types';
import { decodeMask, encodeMask, fillHoles, geometryBBox, polygonToRle, rleMerge, type Rle } from '../../../src-main/common/geometry';
import type { AttributeValue, Geometry, Split } from '../../../src-main/common/model';
import { listClasses } from '../../../src-main/db/classes';
import { Dataset } from '../../../src-main/services/dataset';
import { exportDataset } from '../../../src-main/services/interchange/exportDataset';
import { importDataset } from '../../../src-main/services/interchange/importDataset';
import { assignSplits } from '../../../src-main/services/interchange/splits';
import { sharedPath, tempDir } from '../../helpers/shared';

const open: Dataset[] = [];
afterAll(async () => {
  for (const ds of open.splice(0)) await ds.close();
});

interface Shape {
  label: string;
  geometry: Geometry;
  attributes: Record<string, AttributeValue>;
}
interface ImageState {
  split: Split | null;
  tags: string[];
  shapes: Shape[];
}

/** Everything a round trip must keep, per image file name. */
async function snapshot(ds: Dataset): Promise<Map<string, ImageState>> {
  const names = new Map((await listClasses(ds.db)).map((c) => [c.id, c.name]));
  const out = new Map<string, ImageState>();
  const images = await ds.db.prepare('SELECT id, path, split FROM images ORDER BY id').all() as { id: number; path: string; split: Split | null }[];
  const byId = new Map<number, ImageState>();
  for (const im of images) {
    const st: ImageState = { split: im.split, tags: [], shapes: [] };
    const key = im.path.replace(/\\/g, '/').split('/').pop()!;
    expect(out.has(key), `${key} twice`).toBe(false);
    out.set(key, st);
    byId.set(im.id, st);
  }
  const rows = await ds.db.prepare('SELECT image_id, class_id, geometry, attributes FROM annotations').all() as {
    image_id: number;
    class_id: number;
    geometry: string;
    attributes: string;
  }[];
  for (const r of rows) {
    const st = byId.get(r.image_id)!;
    const geometry = JSON.parse(r.geometry) as Geometry;
    const label = names.get(r.class_id)!;
    if (geometry.kind === 'tag') st.tags.push(label);
    else st.shapes.push({ label, geometry, attributes: JSON.parse(r.attributes) as Record<string, AttributeValue> });
  }
  for (const st of out.values()) {
    st.tags.sort();
    st.shapes.sort((a, b) => sortKey(a).localeCompare(sortKey(b)));
  }
  return out;
}

function sortKey(s: Shape): string {
  const b = geometryBBox(s.geometry);
  return `${s.label}|${s.geometry.kind}|${[b.x, b.y, b.w, b.h].map((v) => v.toFixed(2).padStart(12, '0')).join(',')}`;
}

/** Deep equality with numbers equal within 1e-6 relative (absolute below 1). */
function near(a: unknown, b: unknown, where: string): string | null {
  if (typeof a === 'number' && typeof b === 'number') {
    return Math.abs(a - b) <= 1e-6 * Math.max(1, Math.abs(a), Math.abs(b)) ? null : `${where}: ${a} != ${b}`;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    if (a.length !== b.length) return `${where}: length ${a.length} != ${b.length}`;
    for (let i = 0; i < a.length; i++) {
      const d = near(a[i], b[i], `${where}[${i}]`);
      if (d) return d;
    }
    return null;
  }
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    const ka = Object.keys(a).sort();
    const kb = Object.keys(b).sort();
    if (ka.join() !== kb.join()) return `${where}: keys ${ka.join()} != ${kb.join()}`;
    for (const k of ka) {
      const d = near((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${where}.${k}`);
      if (d) return d;
    }
    return null;
  }
  return Object.is(a, b) ? null : `${where}: ${JSON.stringify(a)} != ${JSON.stringify(b)}`;
}

async function importInto(file: string, root: string, source: string, format: FormatName): Promise<Dataset> {
  const ds = await Dataset.create(file, root);
  open.push(ds);
  await importDataset(ds, { path: source, format, allowOutsideRoot: true });
  return ds;
}

/** Import `source`, export to `target` with the images, import that into a fresh dataset. */
async function roundTrip(
  source: string,
  format: FormatName,
  target: ExportFormat,
  reformat: FormatName = format,
  cocoSegmentation: 'polygon' | 'rle' = 'polygon',
  prepare?: (ds: Dataset) => Promise<unknown> | void,
) {
  const dir = tempDir(`tessera-rt-${target}-`);
  const first = await importInto(path.join(dir, 'first.tessera'), dir, source, format);
  // Every image gets a split, so the round trip also shows that each format keeps them.
  await assignSplits(first, { ratios: [0.6, 0.2, 0.2], seed: 1, stratify: true, only: 'all' });
  await prepare?.(first);
  const out = path.join(dir, 'out');
  const report = await exportDataset(first, {
    outDir: out,
    format: target,
    only: 'all',
    withPredictions: true,
    images: 'copy',
    strict: false,
    cocoSegmentation,
  });
  const second = await importInto(path.join(dir, 'second.tessera'), out, out, reformat);
  return { first, second, report, out };
}

/** `splits: false` only where the format has no place for splits (compared separately). */
async function expectSame(first: Dataset, second: Dataset, { splits = true } = {}): Promise<void> {
  const a = await snapshot(first);
  const b = await snapshot(second);
  if (!splits) for (const st of [...a.values(), ...b.values()]) st.split = null;
  expect([...b.keys()].sort()).toEqual([...a.keys()].sort());
  const shapes = [...a.values()].reduce((n, s) => n + s.shapes.length, 0);
  expect(shapes).toBeGreaterThan(0);
  for (const [key, st] of a) {
    const d = near(b.get(key), st, key);
    if (d) throw new Error(d);
  }
  expect((await listClasses(second.db)).map((c) => c.name)).toEqual((await listClasses(first.db)).map((c) => c.name));
}

const CASES: { name: string; rel: string; format: FormatName; target: ExportFormat }[] = [
  { name: 'COCO (tinycoco: polygons, multi-part, crowd RLE)', rel: 'datasets/coco_tinycoco', format: 'coco', target: 'coco' },
  { name: 'Pascal VOC (BCCD)', rel: 'datasets/bccd_voc', format: 'voc', target: 'voc' },
  { name: 'YOLO OBB (crop/weed)', rel: 'datasets/agri_crop_weed_obb', format: 'yolo', target: 'yolo-obb' },
  { name: 'YOLO detect (datumaro yolov8)', rel: 'datasets/datumaro_cvat_fork_yolov8/yolo_dataset/yolov8_detection', format: 'yolo', target: 'yolo' },
  { name: 'YOLO segment (datumaro yolov8)', rel: 'datasets/datumaro_cvat_fork_yolov8/yolo_dataset/yolov8_segmentation', format: 'yolo', target: 'yolo-seg' },
  { name: 'CVAT for images (datumaro)', rel: 'datasets/datumaro_assets/cvat_dataset/for_images/export_project', format: 'cvat', target: 'cvat' },
];

describe('round trips: import, export, import again gives the same dataset', () => {
  for (const c of CASES) {
    it(c.name, async () => {
      const source = sharedPath(c.rel);
      if (!source) return;
      const { first, second, report } = await roundTrip(source, c.format, c.target);
      expect(report.warnings).toEqual([]);
      await expectSame(first, second);
    });
  }

  it('labelme (generated: rectangle, polygon, point, flags)', async () => {
    const src = tempDir('tessera-labelme-src-');
    const shapes = [
      { label: 'cell', points: [[2.5, 3.25], [20.75, 14.5]], shape_type: 'rectangle', group_id: null, flags: {} },
      { label: 'nucleus', points: [[5, 5], [15.5, 6], [11, 13.125]], shape_type: 'polygon', group_id: null, flags: {} },
      { label: 'nucleus', points: [[30.5, 20.25]], shape_type: 'point', group_id: null, flags: {} },
    ];
    for (const [i, name] of ['one', 'two'].entries()) {
      await sharp({ create: { width: 40, height: 30, channels: 3, background: { r: 10 + i * 50, g: 20, b: 30 } } }).png().toFile(path.join(src, `${name}.png`));
      const doc = { version: '5.2.1', flags: { blurry: i === 0, sharp: i === 1 }, shapes: i === 0 ? shapes : shapes.slice(1), imagePath: `${name}.png`, imageData: null, imageHeight: 30, imageWidth: 40 };
      fs.writeFileSync(path.join(src, `${name}.json`), JSON.stringify(doc));
    }
    const { first, second, report } = await roundTrip(src, 'labelme', 'labelme');
    expect(report.warnings).toEqual([]);
    expect((await snapshot(first)).get('one.png')!.tags).toEqual(['blurry']);
    // The labelme writer puts every image beside its JSON with no split folder, so splits do not
    // survive a labelme round trip yet (reported to the format's owner); all else must.
    await expectSame(first, second, { splits: false });
  });

  it('polygons and masks to YOLO detect: boxes in non-empty label files, every conversion counted', async () => {
    const source = sharedPath('datasets/coco_tinycoco');
    if (!source) return;
    const { first, second, report, out } = await roundTrip(source, 'coco', 'yolo', 'yolo');
    const kinds = await first.db.prepare("SELECT kind, count(*) AS n FROM annotations GROUP BY kind").all() as { kind: string; n: number }[];
    const count = Object.fromEntries(kinds.map((k) => [k.kind, k.n]));
    expect(count['polygon']).toBeGreaterThan(0);
    const warned = Object.fromEntries(report.warnings.map((w) => [w.kind, w.count]));
    expect(warned['polygon→box']).toBe(count['polygon']);
    expect(warned['mask→box'] ?? 0).toBe(count['mask'] ?? 0);
    expect(warned['dropped-all']).toBeUndefined();

    const a = await snapshot(first);
    const withShapes = [...a.values()].filter((s) => s.shapes.length > 0).length;
    const labels = fs
      .readdirSync(out, { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile() && e.name.endsWith('.txt') && e.parentPath.includes(`${path.sep}labels`))
      .map((e) => fs.readFileSync(path.join(e.parentPath, e.name), 'utf8').trim());
    expect(labels.filter((t) => t.length > 0)).toHaveLength(withShapes);
    expect(report.emptyLabelFiles).toBe(a.size - withShapes);

    // Each shape came back as the box around it.
    const b = await snapshot(second);
    for (const [key, st] of a) {
      const boxes = st.shapes.map((s) => ({ label: s.label, geometry: { kind: 'box', ...geometryBBox(s.geometry) } }));
      boxes.sort((x, y) => sortKey({ ...x, attributes: {} } as Shape).localeCompare(sortKey({ ...y, attributes: {} } as Shape)));
      if (!b.has(key)) throw new Error(`${key} missing after the round trip; have ${[...b.keys()].slice(0, 3).join(', ')}`);
      const got = b.get(key)!.shapes.map((s) => ({ label: s.label, geometry: s.geometry }));
      expect(near(got, boxes, key)).toBeNull();
    }
  });

  it('polygons to COCO RLE: each comes back as the mask the COCO API rasterises', async () => {
    const source = sharedPath('datasets/coco_tinycoco');
    if (!source) return;
    const { first, second, report } = await roundTrip(source, 'coco', 'coco', 'coco', 'rle');
    expect(report.warnings).toEqual([]);
    const sizes = await imageSizes(first);
    const a = await snapshot(first);
    const b = await snapshot(second);
    for (const [key, st] of a) {
      const [w, h] = sizes.get(key)!;
      const expected = st.shapes.map((s) => ({ label: s.label, rle: rasterOf(s.geometry, w, h) }));
      const got = b.get(key)!.shapes.map((s) => {
        expect(s.geometry.kind).toBe('mask');
        return { label: s.label, rle: rasterOf(s.geometry, w, h) };
      });
      const order = (x: { label: string; rle: Rle }) => `${x.label}|${JSON.stringify(x.rle.counts)}`;
      expect(got.map(order).sort()).toEqual(expected.map(order).sort());
    }
  });

  it('masks to YOLO segment: traced outlines rasterise back to the masks (holes filled)', async () => {
    const source = sharedPath('datasets/coco_tinycoco');
    if (!source) return;
    // Masks alone, so that what comes back can be compared pixel for pixel.
    const onlyMasks = async (ds: Dataset) => await ds.db.prepare("DELETE FROM annotations WHERE kind <> 'mask'").run();
    const { first, second, report } = await roundTrip(source, 'coco', 'yolo-seg', 'yolo', 'polygon', onlyMasks);
    const masks = await first.db.prepare("SELECT count(*) FROM annotations WHERE kind = 'mask'").pluck().get() as number;
    expect(masks).toBeGreaterThan(0);
    const warned = Object.fromEntries(report.warnings.map((w) => [w.kind, w.count]));
    expect(warned['mask→polygon']).toBe(masks);
    // Masks of several components are traced to several parts, which YOLO's writer joins (and counts).
    expect(Object.keys(warned).sort()).toEqual(Object.keys(warned).length === 1 ? ['mask→polygon'] : ['mask→polygon', 'polygon-parts-joined']);
    const sizes = await imageSizes(first);
    const b = await snapshot(second);
    for (const [key, st] of await snapshot(first)) {
      const [w, h] = sizes.get(key)!;
      // Per class, the union of its shapes: a mask of several components comes back as one polygon per part.
      const union = (shapes: Shape[]) => {
        const by = new Map<string, Rle[]>();
        for (const s of shapes) {
          const r = s.geometry.kind === 'mask' ? encodeMask(fillHoles(decodeMask(s.geometry.rle), w, h), w, h) : rasterOf(s.geometry, w, h);
          by.set(s.label, [...(by.get(s.label) ?? []), r]);
        }
        return Object.fromEntries([...by].map(([label, rles]) => [label, JSON.stringify(rleMerge(rles).counts)]));
      };
      expect(union(b.get(key)!.shapes), key).toEqual(union(st.shapes));
    }
  });

  it('polygons to YOLO segment and back stay within 0.5 px, vertex for vertex', async () => {
    const source = sharedPath('datasets/coco_tinycoco');
    if (!source) return;
    const onlyPolygons = async (ds: Dataset) => await ds.db.prepare("DELETE FROM annotations WHERE kind <> 'polygon'").run();
    const { first, second, report } = await roundTrip(source, 'coco', 'yolo-seg', 'yolo', 'polygon', onlyPolygons);
    // YOLO has one polygon per line: multi-part polygons are joined by the writer, and counted.
    const geometries = await first.db.prepare('SELECT geometry FROM annotations').pluck().all() as string[];
    const multi = geometries.filter((g) => (JSON.parse(g) as Extract<Geometry, { kind: 'polygon' }>).parts.length > 1).length;
    expect(multi).toBeGreaterThan(0);
    expect(Object.fromEntries(report.warnings.map((w) => [w.kind, w.count]))).toEqual({ 'polygon-parts-joined': multi });
    const b = await snapshot(second);
    let vertices = 0;
    for (const [key, st] of await snapshot(first)) {
      const back = b.get(key)!.shapes;
      for (const s of st.shapes) {
        const parts = (s.geometry as Extract<Geometry, { kind: 'polygon' }>).parts;
        const same = back.filter((x) => x.label === s.label && x.geometry.kind === 'polygon');
        if (parts.length === 1) {
          // A single part comes back with the same vertices, in order.
          const part = parts[0]!;
          const match = same.some((x) => (x.geometry as typeof s.geometry & { kind: 'polygon' }).parts.some((q) => q.length === part.length && q.every((v, i) => Math.abs(v - part[i]!) <= 0.5)));
          expect(match, `${key} ${s.label}`).toBe(true);
        } else {
          // Joined parts: every vertex is still there, within 0.5 px.
          const pool = same.flatMap((x) => (x.geometry as typeof s.geometry & { kind: 'polygon' }).parts.flat());
          for (const part of parts) {
            for (let i = 0; i < part.length; i += 2) {
              let best = Infinity;
              for (let j = 0; j < pool.length; j += 2) best = Math.min(best, Math.hypot(pool[j]! - part[i]!, pool[j + 1]! - part[i + 1]!));
              expect(best, `${key} ${s.label}`).toBeLessThanOrEqual(0.5);
            }
          }
        }
        vertices += parts.reduce((n, p) => n + p.length / 2, 0);
      }
    }
    expect(vertices).toBeGreaterThan(1000);
  });
});

async function imageSizes(ds: Dataset): Promise<Map<string, [number, number]>> {
  const rows = await ds.db.prepare('SELECT path, width, height FROM images').all() as { path: string; width: number; height: number }[];
  return new Map(rows.map((r) => [r.path.replace(/\\/g, '/').split('/').pop()!, [r.width, r.height]]));
}

function rasterOf(g: Geometry, w: number, h: number): Rle {
  if (g.kind === 'mask') return g.rle;
  if (g.kind === 'polygon') return polygonToRle(g.parts, h, w);
  throw new Error(`no raster for ${g.kind}`);
}
