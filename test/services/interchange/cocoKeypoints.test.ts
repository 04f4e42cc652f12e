import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { cocoToInterchange } from '../../../src-main/common/formats/coco';
import { COCO_PERSON_KEYPOINTS } from '../../../src-main/common/keypoints';
import type { KeypointSchema } from '../../../src-main/common/model';
import { insertClass, listClasses, setClassKeypoints } from '../../../src-main/db/classes';
import { Dataset } from '../../../src-main/services/dataset';
import { exportDataset } from '../../../src-main/services/interchange/exportDataset';
import { importDataset, inspectDataset } from '../../../src-main/services/interchange/importDataset';
import { sharedPath, tempDir } from '../../helpers/shared';

const DATUMARO_KEYPOINTS = sharedPath('datasets/datumaro_assets/coco_dataset/coco_person_keypoints');

const open: Dataset[] = [];
afterAll(async () => {
  for (const ds of open.splice(0)) await ds.close();
});

async function newDataset(root: string): Promise<Dataset> {
  const ds = await Dataset.create(path.join(tempDir('tessera-kp-ds-'), 'd.tessera'), root);
  open.push(ds);
  return ds;
}

/** Every stored annotation as (file, class, geometry), ordered for comparison. */
async function stored(ds: Dataset): Promise<{ file: string; label: string; geometry: unknown }[]> {
  const rows = await ds.db
    .prepare('SELECT i.path AS file, c.name AS label, a.geometry AS g FROM annotations a JOIN images i ON i.id = a.image_id JOIN classes c ON c.id = a.class_id ORDER BY i.path, a.kind, a.geometry')
    .all() as { file: string; label: string; g: string }[];
  return rows.map((r) => ({ file: path.basename(r.file), label: r.label, geometry: JSON.parse(r.g) as unknown }));
}

async function keypointsOf(ds: Dataset) {
  return (await stored(ds)).filter((a) => (a.geometry as { kind: string }).kind === 'keypoints');
}

/** COCO 2017's person category, as person_keypoints_val2017.json writes it (skeleton from 1). */
const PERSON_CATEGORY = {
  id: 1,
  name: 'person',
  supercategory: 'person',
  keypoints: COCO_PERSON_KEYPOINTS.names,
  skeleton: [
    [16, 14],
    [14, 12],
    [17, 15],
    [15, 13],
    [12, 13],
    [6, 12],
    [7, 13],
    [6, 7],
    [6, 8],
    [7, 9],
    [8, 10],
    [9, 11],
    [2, 3],
    [1, 2],
    [1, 3],
    [2, 4],
    [3, 5],
    [4, 6],
    [5, 7],
  ],
};

/** 17 keypoints: labelled ones (v 1 and 2) spread over the image, the rest unlabelled. */
function person(seed: number, visibility: number[]): number[] {
  return visibility.flatMap((v, i) => (v === 0 ? [0, 0, 0] : [10 + ((i * 7 + seed) % 60), 5 + ((i * 3 + seed * 2) % 50), v]));
}

const V1 = [2, 2, 1, 0, 2, 2, 2, 1, 1, 2, 0, 2, 2, 1, 2, 0, 0];
const V2 = [0, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 1, 0, 0, 0, 0];

/** A COCO person keypoints layout with real images in a temporary folder. */
async function personKeypointsFolder(): Promise<{ dir: string; doc: Record<string, unknown> }> {
  const dir = tempDir('tessera-kp-');
  fs.mkdirSync(path.join(dir, 'images', 'val'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'annotations'));
  for (const [name, seed] of [
    ['p1.jpg', 1],
    ['p2.jpg', 2],
  ] as const) {
    await sharp({ create: { width: 80, height: 60, channels: 3, background: { r: seed * 60, g: 90, b: 30 } } })
      .jpeg()
      .toFile(path.join(dir, 'images', 'val', name));
  }
  const doc = {
    images: [
      { id: 7, file_name: 'p1.jpg', width: 80, height: 60 },
      { id: 8, file_name: 'p2.jpg', width: 80, height: 60 },
    ],
    annotations: [
      // A person with an outline, a box and keypoints, as COCO writes every person.
      { id: 1, image_id: 7, category_id: 1, iscrowd: 0, area: 600, bbox: [5, 5, 30, 40], segmentation: [[5, 5, 35, 5, 35, 45, 5, 45]], keypoints: person(1, V1), num_keypoints: 13 },
      { id: 2, image_id: 8, category_id: 1, iscrowd: 0, area: 100, bbox: [40, 10, 10, 10], segmentation: [], keypoints: person(2, V2), num_keypoints: 4 },
      // A person too small to have keypoints labelled: its outline only.
      { id: 3, image_id: 8, category_id: 1, iscrowd: 0, area: 16, bbox: [1, 1, 4, 4], segmentation: [[1, 1, 5, 1, 5, 5, 1, 5]], keypoints: Array(51).fill(0), num_keypoints: 0 },
    ],
    categories: [PERSON_CATEGORY],
  };
  fs.writeFileSync(path.join(dir, 'annotations', 'person_keypoints_val.json'), JSON.stringify(doc));
  return { dir, doc };
}

describe('COCO keypoints import', () => {
  it('gives the class the category keypoints and skeleton (from 1 in the file, from 0 stored), and each person its keypoints beside its outline', async () => {
    const { dir } = await personKeypointsFolder();
    const ds = await newDataset(dir);
    const report = await importDataset(ds, { path: dir, format: 'auto', allowOutsideRoot: false });
    expect(report.format).toBe('coco');
    expect(report.problems).toEqual([]);
    expect(report.annotations.byKind).toEqual({ keypoints: 2, polygon: 2, box: 1 });
    expect(report.counters['keypointsNoneLabelled']).toBe(1);
    const [cls] = await listClasses(ds.db);
    expect(cls!.keypoints).toEqual({ names: COCO_PERSON_KEYPOINTS.names, skeleton: COCO_PERSON_KEYPOINTS.skeleton });
    // The preset is COCO's own skeleton.
    expect(PERSON_CATEGORY.skeleton.map(([a, b]) => [a! - 1, b! - 1])).toEqual(COCO_PERSON_KEYPOINTS.skeleton);
    expect(await keypointsOf(ds)).toEqual([
      { file: 'p1.jpg', label: 'person', geometry: { kind: 'keypoints', points: person(1, V1) } },
      { file: 'p2.jpg', label: 'person', geometry: { kind: 'keypoints', points: person(2, V2) } },
    ]);
  });

  it.runIf(DATUMARO_KEYPOINTS)('reads Datumaro\'s person keypoints fixture: unnamed keypoints are numbered, a skeleton from 0 is read as such', async () => {
    const src = DATUMARO_KEYPOINTS!;
    const ds = await newDataset(tempDir('tessera-kp-root-'));
    const report = await importDataset(ds, { path: src, format: 'auto', allowOutsideRoot: true });
    expect(report.problems.filter((p) => p.severity === 'error')).toEqual([]);
    expect(report.problems.filter((p) => /read as numbered from 0/.test(p.message)).length).toBeGreaterThan(0);
    const schema: KeypointSchema = { names: ['1', '2', '3'], skeleton: [[0, 1], [1, 2]] };
    expect((await listClasses(ds.db)).map((c) => [c.name, c.keypoints])).toEqual([
      ['a', schema],
      ['b', schema],
    ]);
    // The fixture's unlabelled first point of b on a.jpg stays (0, 0, 0); flags exactly as written.
    expect(await keypointsOf(ds)).toEqual([
      { file: 'a.jpg', label: 'b', geometry: { kind: 'keypoints', points: [0, 0, 0, 0, 2, 1, 4, 1, 2] } },
      { file: 'b.jpg', label: 'a', geometry: { kind: 'keypoints', points: [1, 2, 2, 3, 4, 2, 2, 3, 2] } },
      { file: 'b.jpg', label: 'b', geometry: { kind: 'keypoints', points: [2, 4, 2, 4, 4, 2, 4, 2, 2] } },
    ]);
    // Their box, outline and crowd mask come in as before, as shapes of their own.
    expect(report.annotations.byKind).toEqual({ keypoints: 3, box: 1, polygon: 1, mask: 1 });
  });

  it('reports bad keypoints naming the file and the annotation, and keeps the rest', () => {
    const file = 'annotations/person_keypoints_val.json';
    const ds = cocoToInterchange(
      {
        images: [{ id: 1, file_name: 'a.jpg', width: 50, height: 50 }],
        categories: [
          { id: 1, name: 'pose', keypoints: ['a', 'b'], skeleton: [[1, 2]] },
          { id: 2, name: 'car' },
          { id: 3, name: 'bad', keypoints: ['x', 'x'] },
        ],
        annotations: [
          { id: 1, image_id: 1, category_id: 1, keypoints: [1, 2, 2, 3, 4, 2, 5, 6, 2] },
          { id: 2, image_id: 1, category_id: 1, keypoints: [1, 2, 2, 3, 4, 3] },
          { id: 3, image_id: 1, category_id: 2, bbox: [1, 1, 5, 5], keypoints: [1, 2, 2] },
          { id: 4, image_id: 1, category_id: 1, keypoints: [1, 2, 2, 3, 'x', 2] },
          { id: 5, image_id: 1, category_id: 1, keypoints: [1, 2, 2, 3, 4, 1], num_keypoints: 1 },
          { id: 6, image_id: 1, category_id: 3, keypoints: [1, 2, 2, 3, 4, 1] },
        ],
      },
      { file },
    );
    const problems = ds.problems.map((p) => `${p.file} ${p.where} ${p.severity}: ${p.message}`);
    expect(problems).toEqual([
      `${file} annotations[0].keypoints error: has 3 keypoints, but category "pose" has 2 (6 numbers expected); the keypoints are skipped`,
      `${file} annotations[1].keypoints error: keypoint 2 (b) has visibility 3, not 0, 1 or 2; the keypoints are skipped`,
      `${file} annotations[2].keypoints error: category "car" (id 2) has no keypoints list in this file; the keypoints are skipped`,
      `${file} annotations[3].keypoints error: value 4 is "x", not a finite number; the keypoints are skipped`,
      `${file} annotations[4].num_keypoints warning: is 1, but 2 keypoints are labelled (the keypoints are what is kept)`,
      `${file} annotations[5].keypoints error: categories[2]: keypoint name "x" is used twice (keypoints 1 and 2); the keypoints are skipped`,
    ]);
    // The car's box still comes in; the one good pose too.
    expect(ds.images[0]!.annotations.map((a) => [a.label, a.geometry.kind])).toEqual([
      ['car', 'box'],
      ['pose', 'keypoints'],
    ]);
    expect(ds.classKeypoints).toEqual({ pose: { names: ['a', 'b'], skeleton: [[0, 1]] } });
  });

  it('keeps a class\'s own schema and skips objects that do not fit it, naming the file and image', async () => {
    const { dir } = await personKeypointsFolder();
    const ds = await newDataset(dir);
    const c = await insertClass(ds.db, { name: 'person', color: '#ff0000' });
    await setClassKeypoints(ds.db, c.id, { names: ['head', 'tail'], skeleton: [[0, 1]] });
    const report = await inspectDataset(ds, { path: dir, format: 'coco', allowOutsideRoot: false });
    const errors = report.problems.filter((p) => p.severity === 'error').map((p) => `${p.file}: ${p.where}: ${p.message}`);
    expect(errors).toEqual([
      `${path.basename(dir)}: undefined: class "person" has the keypoints 2 (head, tail), the file 17 (nose, left_eye, right_eye, ...): its keypoint objects of this class are skipped (their points would take other names)`,
      'images/val/p1.jpg: image images/val/p1.jpg, annotation 1: keypoints named nose, left_eye, right_eye, ... do not match class "person"\'s; annotation skipped',
      'images/val/p2.jpg: image images/val/p2.jpg, annotation 1: keypoints named nose, left_eye, right_eye, ... do not match class "person"\'s; annotation skipped',
    ]);
  });

  it('reads a file naming the class\'s keypoints in another order by name, and skips one naming others', async () => {
    const { dir, doc } = await personKeypointsFolder();
    // The dataset's person lists COCO's keypoints with left and right swapped.
    const names = COCO_PERSON_KEYPOINTS.names;
    const swapped = names.map((n) => (n.startsWith('left_') ? n.replace('left_', 'right_') : n.startsWith('right_') ? n.replace('right_', 'left_') : n));
    const ds = await newDataset(dir);
    const c = await insertClass(ds.db, { name: 'person', color: '#ff0000' });
    await setClassKeypoints(ds.db, c.id, { names: swapped, skeleton: [] });
    const report = await importDataset(ds, { path: dir, format: 'coco', allowOutsideRoot: false });
    expect(report.problems.filter((p) => p.severity === 'error')).toEqual([]);
    expect(report.problems.some((p) => p.severity === 'warning' && /same keypoints in another order/.test(p.message))).toBe(true);
    const kp = (await keypointsOf(ds)).find((a) => a.file === 'p1.jpg')!.geometry as { points: number[] };
    const file = (doc.annotations as { keypoints: number[] }[])[0]!.keypoints;
    // Each stored keypoint is the file's keypoint of the same name.
    swapped.forEach((n, i) => {
      const j = names.indexOf(n);
      expect(kp.points.slice(i * 3, i * 3 + 3), n).toEqual(file.slice(j * 3, j * 3 + 3));
    });
    expect(kp.points.slice(3, 6)).toEqual(file.slice(6, 9));

    // Same count, other names: the objects are skipped, not stored under the wrong names.
    const { dir: dir2 } = await personKeypointsFolder();
    const ds2 = await newDataset(dir2);
    const c2 = await insertClass(ds2.db, { name: 'person', color: '#ff0000' });
    await setClassKeypoints(ds2.db, c2.id, { names: names.map((n, i) => `p${i}`), skeleton: [] });
    const r2 = await importDataset(ds2, { path: dir2, format: 'coco', allowOutsideRoot: false });
    expect(await keypointsOf(ds2)).toEqual([]);
    expect(r2.problems.filter((p) => p.severity === 'error' && /do not match class "person"'s/.test(p.message))).toHaveLength(2);
  });
});

describe('COCO keypoints export', () => {
  it('round-trips keypoints, visibility flags and skeleton exactly: import, export, import again', async () => {
    const { dir, doc } = await personKeypointsFolder();
    const first = await newDataset(dir);
    await importDataset(first, { path: dir, format: 'coco', allowOutsideRoot: false });
    const out = path.join(tempDir('tessera-kp-out-'), 'out');
    const report = await exportDataset(first, { outDir: out, format: 'coco', only: 'all', withPredictions: true, images: 'copy', strict: true, cocoSegmentation: 'polygon' });
    expect(report.warnings).toEqual([]);
    const written = JSON.parse(fs.readFileSync(path.join(out, 'annotations', 'instances_val.json'), 'utf8')) as {
      categories: { name: string; keypoints?: string[]; skeleton?: number[][] }[];
      annotations: { keypoints?: number[]; num_keypoints?: number; bbox: number[]; area: number; segmentation: unknown; category_id: number }[];
    };
    expect(written.categories).toEqual([{ id: 1, name: 'person', supercategory: '', keypoints: PERSON_CATEGORY.keypoints, skeleton: PERSON_CATEGORY.skeleton }]);
    const kp = written.annotations.filter((a) => a.keypoints);
    const source = (doc['annotations'] as { keypoints: number[]; num_keypoints: number }[]).filter((a) => a.num_keypoints > 0);
    expect(kp.map((a) => a.keypoints).sort()).toEqual(source.map((a) => a.keypoints).sort());
    expect(kp.map((a) => a.num_keypoints).sort()).toEqual(source.map((a) => a.num_keypoints).sort());
    // The box of a keypoints object is that of its labelled points; its area that box's.
    for (const a of kp) {
      const xs: number[] = [];
      const ys: number[] = [];
      for (let i = 0; i < a.keypoints!.length; i += 3) if (a.keypoints![i + 2]! > 0) xs.push(a.keypoints![i]!), ys.push(a.keypoints![i + 1]!);
      const box = [Math.min(...xs), Math.min(...ys), Math.max(...xs) - Math.min(...xs), Math.max(...ys) - Math.min(...ys)];
      expect(a.bbox).toEqual(box);
      expect(a.area).toBe(box[2]! * box[3]!);
      expect(a.segmentation).toEqual([]);
    }
    // The outlines and the box are written as their own objects, without keypoints.
    expect(written.annotations.filter((a) => !a.keypoints)).toHaveLength(3);

    const second = await newDataset(out);
    const again = await importDataset(second, { path: out, format: 'coco', allowOutsideRoot: false });
    expect(again.problems).toEqual([]);
    expect((await listClasses(second.db))[0]!.keypoints).toEqual((await listClasses(first.db))[0]!.keypoints);
    expect((await keypointsOf(second)).map((a) => a.geometry)).toEqual((await keypointsOf(first)).map((a) => a.geometry));
    expect((await stored(second)).length).toBe((await stored(first)).length);
  });
});
