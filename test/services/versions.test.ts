import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterEach, describe, expect, it } from 'vitest';
import { recipeSchema } from '../../src-main/common/augment/recipe';
import { CHANNELS } from '../../src-main/common/contract';
import type { AppError } from '../../src-main/common/errors';
import { insertAnnotations } from '../../src-main/db/annotations';
import { insertClass } from '../../src-main/db/classes';
import { setSplits } from '../../src-main/db/export';
import { listImages } from '../../src-main/db/images';
import { setRememberedWindow } from '../../src-main/db/imaging';
import { insertModelRun } from '../../src-main/db/modelRuns';
import { insertVersion, listVersions as dbListVersions } from '../../src-main/db/versions';
import { editAnnotations, listImageAnnotations } from '../../src-main/services/annotations';
import { Dataset } from '../../src-main/services/dataset';
import { importImages } from '../../src-main/services/importer';
import { exportDataset, type ExportOptions } from '../../src-main/services/interchange/exportDataset';
import { EXPORT_MANIFEST } from '../../src-main/services/interchange/exportPlace';
import { sha256File, VERSION_FILE, type VersionFile } from '../../src-main/services/interchange/versionFile';
import { createVersion, deleteVersion, diffVersions, listVersions, versionAnnotations } from '../../src-main/services/versions';
import { tempDir } from '../helpers/shared';

const open: Dataset[] = [];
afterEach(async () => {
  for (const ds of open.splice(0)) await ds.close();
});

interface Fixture {
  dir: string;
  root: string;
  ds: Dataset;
  ids: Record<string, number>;
  classes: Record<string, number>;
  /** Annotation ids by a short name. */
  ann: Record<string, number>;
}

/** Four PNGs (one in the train split), classes cell / nucleus, boxes, a polygon, a tag and a pending prediction. */
async function fixture(): Promise<Fixture> {
  const dir = tempDir('tessera-versions-');
  const root = path.join(dir, 'imgs');
  fs.mkdirSync(root, { recursive: true });
  for (const [i, name] of ['a.png', 'b.png', 'c.png', 'd.png'].entries()) {
    await sharp({ create: { width: 40, height: 30, channels: 3, background: { r: 30 * i, g: 100, b: 200 - 20 * i } } })
      .png()
      .toFile(path.join(root, name));
  }
  const ds = await Dataset.create(path.join(dir, 'd.tessera'), root);
  open.push(ds);
  expect((await importImages(ds, { paths: [root] })).imported).toBe(4);
  const ids: Record<string, number> = {};
  for (const im of await listImages(ds.db, {}, 0, 100)) ids[im.path] = im.id;
  const classes: Record<string, number> = {};
  for (const name of ['cell', 'nucleus']) classes[name] = (await insertClass(ds.db, { name, color: '#112233' })).id;
  await setSplits(ds.db, [
    [ids['a.png']!, 'train'],
    [ids['b.png']!, 'train'],
    [ids['c.png']!, 'train'],
    [ids['d.png']!, 'test'],
  ]);
  const run = await insertModelRun(ds.db, { model: 'm' });
  const [boxA, boxB, polyB, tagC, boxC, pred] = await insertAnnotations(ds.db, [
    { imageId: ids['a.png']!, classId: classes['cell']!, geometry: { kind: 'box', x: 2, y: 3, w: 10, h: 8 }, source: 'human' },
    { imageId: ids['b.png']!, classId: classes['nucleus']!, geometry: { kind: 'box', x: 5, y: 5, w: 6, h: 6 }, source: 'human' },
    { imageId: ids['b.png']!, classId: classes['cell']!, geometry: { kind: 'polygon', parts: [[1, 1, 20, 1, 20, 15, 1, 15]] }, source: 'human', z: 1 },
    { imageId: ids['c.png']!, classId: classes['nucleus']!, geometry: { kind: 'tag' }, source: 'human' },
    { imageId: ids['c.png']!, classId: classes['cell']!, geometry: { kind: 'box', x: 0, y: 0, w: 12, h: 12 }, source: 'human' },
    { imageId: ids['d.png']!, classId: classes['cell']!, geometry: { kind: 'box', x: 1, y: 1, w: 4, h: 4 }, source: 'model', modelRunId: run, score: 0.9 },
  ]);
  return { dir, root, ds, ids, classes, ann: { boxA: boxA!, boxB: boxB!, polyB: polyB!, tagC: tagC!, boxC: boxC!, pred: pred! } };
}

function opts(outDir: string, extra: Partial<ExportOptions> = {}): ExportOptions {
  return { outDir, format: 'coco', only: 'all', withPredictions: false, images: 'copy', strict: false, cocoSegmentation: 'polygon', ...extra };
}

/** Every file under `dir` (relative, `/`-separated) -> its sha256. */
async function hashes(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const e of fs.readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (e.isDirectory()) continue;
    const abs = path.join(e.parentPath, e.name);
    out[path.relative(dir, abs).split(path.sep).join('/')] = await sha256File(abs);
  }
  return out;
}

/** Edits made between v1 and v2: a box moved, an image deleted, an image moved to val. */
async function editDataset(f: Fixture): Promise<void> {
  await editAnnotations(f.ds, { imageId: f.ids['a.png']!, label: 'move box', ops: [{ op: 'update', id: f.ann['boxA']!, patch: { geometry: { kind: 'box', x: 4, y: 3, w: 10, h: 9 } } }] });
  await f.ds.db.prepare('DELETE FROM images WHERE id = ?').run(f.ids['b.png']!);
  await setSplits(f.ds.db, [[f.ids['c.png']!, 'val']]);
}

describe('dataset versions', () => {
  it('diffs v1 and v2 with exactly the changes made between them, and a version against the dataset now', async () => {
    const f = await fixture();
    const v1 = await createVersion(f.ds, { name: 'first', note: 'before edits' });
    expect(v1).toMatchObject({ number: 1, name: 'first', note: 'before edits', images: 4, classes: 2, annotations: 5, withPredictions: false });
    await editDataset(f);
    const v2 = await createVersion(f.ds, { name: 'second' });
    expect(v2).toMatchObject({ number: 2, images: 3, annotations: 3 });

    const d = await diffVersions(f.ds, 1, 2);
    expect(d.from).toEqual({ number: 1, name: 'first' });
    expect(d.to).toEqual({ number: 2, name: 'second' });
    expect(d.images.added).toEqual([]);
    expect(d.images.removed).toEqual([{ id: f.ids['b.png'], path: 'b.png' }]);
    expect(d.images.replaced).toEqual([]);
    expect(d.images.splitMoves).toEqual([{ id: f.ids['c.png'], path: 'c.png', from: 'train', to: 'val' }]);
    expect(d.annotations).toEqual({
      added: 0,
      changed: 1,
      removed: 2,
      byClass: [
        { classId: f.classes['cell'], name: 'cell', added: 0, changed: 1, removed: 1 },
        { classId: f.classes['nucleus'], name: 'nucleus', added: 0, changed: 0, removed: 1 },
      ],
    });
    expect(d.classes).toEqual({ added: [], removed: [], changed: [] });

    // v2 against the dataset now: nothing, until a class is renamed and a box added.
    const same = await diffVersions(f.ds, 2, 'current');
    expect(same.to).toBeNull();
    expect([same.annotations.added, same.annotations.changed, same.annotations.removed, same.images.splitMoves.length]).toEqual([0, 0, 0, 0]);
    await f.ds.db.prepare("UPDATE classes SET name = 'cyte' WHERE id = ?").run(f.classes['cell']!);
    await editAnnotations(f.ds, { imageId: f.ids['d.png']!, label: 'add', ops: [{ op: 'create', draft: { classId: f.classes['nucleus']!, geometry: { kind: 'box', x: 1, y: 1, w: 3, h: 3 } } }] });
    const now = await diffVersions(f.ds, 2, 'current');
    expect(now.classes.changed).toEqual([{ id: f.classes['cell'], name: 'cyte', was: 'cell', fields: ['name'] }]);
    expect(now.annotations.byClass).toEqual([{ classId: f.classes['nucleus'], name: 'nucleus', added: 1, changed: 0, removed: 0 }]);
    await expect(async () => diffVersions(f.ds, 1, 7)).rejects.toThrow(/no version 7 in this dataset \(versions: 1, 2\)/);
  });

  for (const format of ['coco', 'yolo'] as const) {
    it(`exports v1 after v2 (${format}) as the same files, byte for byte, as v1's first export`, async () => {
      const f = await fixture();
      await createVersion(f.ds, { name: 'first' });
      const first = path.join(f.dir, 'out1');
      const r1 = await exportDataset(f.ds, opts(first, { format, version: 1 }));
      expect(r1.images).toBe(4);
      const before = await hashes(first);
      expect(Object.keys(before)).toEqual(expect.arrayContaining([VERSION_FILE, EXPORT_MANIFEST]));

      await editDataset(f);
      await f.ds.db.prepare("UPDATE classes SET name = 'cyte', sort_order = 9 WHERE id = ?").run(f.classes['cell']!);
      await createVersion(f.ds, { name: 'second' });

      const again = path.join(f.dir, 'out2');
      await exportDataset(f.ds, opts(again, { format, version: 1 }));
      expect(await hashes(again)).toEqual(before);

      // The dataset now exports otherwise: the check above could fail.
      const live = path.join(f.dir, 'live');
      await exportDataset(f.ds, opts(live, { format }));
      expect(await hashes(live)).not.toEqual(before);
    });
  }

  it('writes tessera-version.json listing every written file with its sha256, for versions and the dataset now', async () => {
    const f = await fixture();
    await createVersion(f.ds, { name: 'first', note: 'n' });
    for (const [dir, version] of [
      ['v', 1],
      ['now', undefined],
    ] as const) {
      const out = path.join(f.dir, dir);
      await exportDataset(f.ds, opts(out, { format: 'yolo', ...(version ? { version } : {}) }));
      const vf = JSON.parse(fs.readFileSync(path.join(out, VERSION_FILE), 'utf8')) as VersionFile;
      const all = await hashes(out);
      delete all[VERSION_FILE];
      delete all[EXPORT_MANIFEST];
      expect(Object.keys(all).length).toBeGreaterThan(8);
      expect(vf.files).toEqual(all);
      expect(vf.dataset).toEqual({ uuid: f.ds.uuid, name: f.ds.name });
      expect(vf.format).toBe('yolo');
      expect(vf.tool.version).toMatch(/^\d+\.\d+\.\d+/);
      // The whole recipe of the export, one `tessera export --recipe` takes back.
      expect(recipeSchema.parse(vf.recipe)).toEqual(vf.recipe);
      expect(vf.recipe).toMatchObject({ recipe: 1, format: 'yolo', only: 'all', withPredictions: false });
      if (version) expect(vf.version).toMatchObject({ number: 1, name: 'first', note: 'n' });
      else expect(vf.version).toBeNull();
      // The export manifest lists it, so an overwrite or a merge later may replace it.
      expect(JSON.parse(fs.readFileSync(path.join(out, EXPORT_MANIFEST), 'utf8')).files).toContain(VERSION_FILE);
    }
    // Overwrite and merge into an earlier export (which holds its tessera-version.json) still work.
    const out = path.join(f.dir, 'now');
    await editDataset(f);
    await exportDataset(f.ds, opts(out, { format: 'yolo', ifExists: 'overwrite' }));
    await exportDataset(f.ds, opts(out, { format: 'yolo', ifExists: 'merge' }));
    const vf = JSON.parse(fs.readFileSync(path.join(out, VERSION_FILE), 'utf8')) as VersionFile;
    expect(Object.keys(vf.files)).not.toContain('images/train/b.png');
    for (const [rel, h] of Object.entries(vf.files)) expect(await sha256File(path.join(out, rel))).toBe(h);
  });

  it('refuses to export a version whose image file changed on disk, naming it, and writes nothing', async () => {
    const f = await fixture();
    await createVersion(f.ds, { name: 'first' });
    await sharp({ create: { width: 40, height: 30, channels: 3, background: { r: 1, g: 2, b: 3 } } })
      .png()
      .toFile(path.join(f.root, 'c.png'));
    const out = path.join(f.dir, 'out');
    await expect(exportDataset(f.ds, opts(out, { version: 1 }))).rejects.toMatchObject({
      code: 'FILE_CHANGED',
      message: expect.stringMatching(/version 1 \(first\): 1 image file\(s\) changed on disk .*: c\.png;/),
    });
    expect(fs.existsSync(out)).toBe(false);
    expect(fs.readdirSync(f.dir).filter((n) => n.startsWith('.out'))).toEqual([]);
    // The dataset now exports as before.
    await exportDataset(f.ds, opts(out));
    await expect(exportDataset(f.ds, opts(path.join(f.dir, 'x'), { version: 3 }))).rejects.toThrow(/no version 3/);
  });

  it('keeps versions immutable: later edits do not reach them, no channel edits them, the tables refuse updates', async () => {
    const f = await fixture();
    await createVersion(f.ds, { name: 'first' });
    const before = await versionAnnotations(f.ds, 1, f.ids['a.png']!);
    expect(before.map((a) => a.geometry)).toEqual([{ kind: 'box', x: 2, y: 3, w: 10, h: 8 }]);
    await editDataset(f);
    await f.ds.db.prepare('DELETE FROM annotations').run();
    expect(await listImageAnnotations(f.ds, f.ids['a.png']!)).toEqual([]);
    expect(await versionAnnotations(f.ds, 1, f.ids['a.png']!)).toEqual(before);
    // The deleted image is still in the version, with its annotations in drawing order.
    expect((await versionAnnotations(f.ds, 1, f.ids['b.png']!)).map((a) => a.id)).toEqual([f.ann['boxB'], f.ann['polyB']]);
    await expect(async () => versionAnnotations(f.ds, 1, 999)).rejects.toThrow(/image 999 is not in version 1/);

    for (const t of ['versions', 'version_images', 'version_classes', 'version_annotations']) {
      const set = t === 'versions' ? 'name = name' : 'version_id = version_id';
      await expect(async () => f.ds.db.prepare(`UPDATE ${t} SET ${set}`).run()).rejects.toThrow(/versions are immutable/);
    }
    expect(CHANNELS.filter((c) => c.startsWith('versions:')).sort()).toEqual(['versions:annotations', 'versions:classes', 'versions:create', 'versions:delete', 'versions:diff', 'versions:images', 'versions:list']);

    // Deleting is allowed, and numbers are not given again.
    await deleteVersion(f.ds, 1);
    expect(await listVersions(f.ds)).toEqual([]);
    expect(await f.ds.db.prepare('SELECT count(*) FROM version_annotations').pluck().get()).toBe(0);
    expect((await createVersion(f.ds, { name: 'again' })).number).toBe(2);
  });

  it('creates a version in one transaction: a failure leaves nothing, and the number is not used up', async () => {
    const f = await fixture();
    await expect(async () =>
      insertVersion(f.ds.db, { name: 'broken' }, Date.now(), () => {
        throw new Error('disk full');
      }),
    ).rejects.toThrow('disk full');
    expect(await dbListVersions(f.ds.db)).toEqual([]);
    for (const t of ['versions', 'version_images', 'version_classes', 'version_annotations']) expect(await f.ds.db.prepare(`SELECT count(*) FROM ${t}`).pluck().get()).toBe(0);
    expect((await createVersion(f.ds, { name: 'ok' })).number).toBe(1);
    await expect(async () => createVersion(f.ds, { name: '  ' })).rejects.toThrow(/needs a name/);
  });

  it('freezes pending predictions only when asked, and exports them only with withPredictions', async () => {
    const f = await fixture();
    await createVersion(f.ds, { name: 'human' });
    await createVersion(f.ds, { name: 'all', withPredictions: true });
    expect((await listVersions(f.ds)).map((v) => [v.number, v.annotations, v.withPredictions])).toEqual([
      [1, 5, false],
      [2, 6, true],
    ]);
    await f.ds.db.prepare('DELETE FROM annotations WHERE source = ?').run('model');
    const out = path.join(f.dir, 'p');
    const r = await exportDataset(f.ds, opts(out, { version: 2, withPredictions: true, images: 'none' }));
    expect(r.annotations).toBe(5); // 4 shapes + the prediction (the tag is no COCO annotation)
    const r1 = await exportDataset(f.ds, opts(path.join(f.dir, 'q'), { version: 2, images: 'none' }));
    expect(r1.annotations).toBe(4);
    const err = await exportDataset(f.ds, opts(path.join(f.dir, 'r'), { version: 2, format: 'yolo', strict: true, images: 'none' })).catch((e: AppError) => e);
    expect((err as AppError).message).toMatch(/strict export to yolo: b\.png: annotation \d+ is a polygon/);
  });
});

describe('versions over the IPC contract', () => {
  it('creates, lists, diffs, reads and deletes versions through dispatch, validating every argument', async () => {
    const { newWorkspace, ok, fails } = await import('../helpers/workspace');
    const dir = tempDir('tessera-versions-ipc-');
    const root = path.join(dir, 'imgs');
    fs.mkdirSync(root);
    await sharp({ create: { width: 20, height: 10, channels: 3, background: { r: 9, g: 9, b: 9 } } })
      .png()
      .toFile(path.join(root, 'x.png'));
    const ws = newWorkspace(path.join(dir, 'config'));
    try {
      await ok(ws, 'dataset:create', { path: path.join(dir, 'd.tessera'), root });
      await ok(ws, 'images:import', { jobId: 'imp', paths: [root] });
      const [im] = (await ok(ws, 'images:list', {})).items;
      const cls = (await ok(ws, 'classes:create', { name: 'cell' })).id;
      await ok(ws, 'annotations:edit', { imageId: im!.id, label: 'box', ops: [{ op: 'create', draft: { classId: cls, geometry: { kind: 'box', x: 1, y: 1, w: 4, h: 4 } } }] });
      expect((await fails(ws, 'versions:create', { name: '   ' })).code).toBe('INVALID_ARGUMENT');
      expect((await fails(ws, 'versions:create', { name: 'x', extra: 1 } as never)).code).toBe('INVALID_ARGUMENT');
      const v = await ok(ws, 'versions:create', { name: ' v1 ', note: 'first' });
      expect(v).toMatchObject({ number: 1, name: 'v1', note: 'first', images: 1, annotations: 1 });
      expect((await ok(ws, 'versions:list', {})).map((x) => x.number)).toEqual([1]);
      expect((await fails(ws, 'versions:diff', { a: 1, b: 'latest' as never })).code).toBe('INVALID_ARGUMENT');
      expect((await fails(ws, 'versions:diff', { a: 0, b: 'current' })).code).toBe('INVALID_ARGUMENT');
      expect((await fails(ws, 'versions:diff', { a: 2, b: 'current' })).code).toBe('NOT_FOUND');
      expect((await ok(ws, 'versions:diff', { a: 1, b: 'current' })).annotations.added).toBe(0);
      expect(await ok(ws, 'versions:images', { number: 1 })).toEqual([im!.id]);
      expect((await ok(ws, 'versions:annotations', { number: 1, imageId: im!.id })).map((a) => a.geometry)).toEqual([{ kind: 'box', x: 1, y: 1, w: 4, h: 4 }]);
      expect((await fails(ws, 'versions:annotations', { number: 1, imageId: -1 })).code).toBe('INVALID_ARGUMENT');
      expect((await fails(ws, 'interchange:export', { jobId: 'e', outDir: path.join(dir, 'out'), format: 'coco', version: 0 })).code).toBe('INVALID_ARGUMENT');
      const r = await ok(ws, 'interchange:export', { jobId: 'e', outDir: path.join(dir, 'out'), format: 'coco', version: 1 });
      expect(r.annotations).toBe(1);
      expect(await ok(ws, 'versions:delete', { number: 1 })).toBeNull();
      expect((await fails(ws, 'versions:delete', { number: 1 })).code).toBe('NOT_FOUND');
      expect(await ok(ws, 'versions:list', {})).toEqual([]);
    } finally {
      await ws.close();
    }
  });
});

describe('a version exported with a recipe', () => {
  const mosaic = recipeSchema.parse({ recipe: 1, format: 'coco', augment: { outputs: 2, seed: 5, steps: [{ op: 'mosaic', p: 1 }, { op: 'flip', horizontal: 0.5 }] } });
  const flip = recipeSchema.parse({ recipe: 1, format: 'coco', augment: { outputs: 2, seed: 5, steps: [{ op: 'flip', horizontal: 1 }] } });
  const withRecipe = (outDir: string, r: typeof mosaic, version = 1) => opts(outDir, { version, recipe: { preprocess: r.preprocess, augment: r.augment } });

  it('draws its mosaics from the version\'s train images, whatever the dataset\'s splits are now', async () => {
    const f = await fixture();
    await createVersion(f.ds, { name: 'first' });
    const first = path.join(f.dir, 'out1');
    await exportDataset(f.ds, withRecipe(first, mosaic));
    const before = await hashes(first);
    // Every train image but one moved out of train now: a mosaic drawn from the live split would differ.
    await setSplits(f.ds.db, [
      [f.ids['b.png']!, 'val'],
      [f.ids['c.png']!, 'test'],
    ]);
    const again = path.join(f.dir, 'out2');
    await exportDataset(f.ds, withRecipe(again, mosaic));
    expect(await hashes(again)).toEqual(before);
  });

  it('numbers augmented copies and their objects above the version\'s own ids, not the dataset\'s now', async () => {
    const f = await fixture();
    await createVersion(f.ds, { name: 'first' });
    const first = path.join(f.dir, 'out1');
    await exportDataset(f.ds, withRecipe(first, flip));
    const before = await hashes(first);
    const coco = JSON.parse(fs.readFileSync(path.join(first, 'annotations/instances_train.json'), 'utf8')) as { images: { id: number }[]; annotations: { id: number }[] };
    expect(coco.images.length).toBe(9);
    // The dataset grows: a new image with a box.
    await sharp({ create: { width: 20, height: 20, channels: 3, background: '#808080' } }).png().toFile(path.join(f.root, 'e.png'));
    await importImages(f.ds, { paths: [path.join(f.root, 'e.png')] });
    const e = (await listImages(f.ds.db, {}, 0, 100)).find((im) => im.path === 'e.png')!.id;
    await editAnnotations(f.ds, { imageId: e, label: 'add', ops: [{ op: 'create', draft: { classId: f.classes['cell']!, geometry: { kind: 'box', x: 1, y: 1, w: 5, h: 5 } } }] });
    const again = path.join(f.dir, 'out2');
    await exportDataset(f.ds, withRecipe(again, flip));
    expect(await hashes(again)).toEqual(before);
  });

  it('reads a deleted image and a 16-bit image\'s window as they were frozen', async () => {
    const f = await fixture();
    const g16 = new Uint16Array(50 * 20);
    for (let i = 0; i < g16.length; i++) g16[i] = (i * 37) % 4000;
    await sharp(g16, { raw: { width: 50, height: 20, channels: 1 } }).toColourspace('grey16').png().toFile(path.join(f.root, 'deep.png'));
    await importImages(f.ds, { paths: [path.join(f.root, 'deep.png')] });
    const deep = (await listImages(f.ds.db, {}, 0, 100)).find((im) => im.path === 'deep.png')!.id;
    await setSplits(f.ds.db, [[deep, 'train']]);
    await setRememberedWindow(f.ds.db, deep, { center: 1000, width: 800 });
    await createVersion(f.ds, { name: 'first' });
    const grey = recipeSchema.parse({ recipe: 1, format: 'coco', preprocess: { grayscale: true }, augment: { outputs: 1, seed: 2, steps: [{ op: 'flip', horizontal: 1 }] } });
    const first = path.join(f.dir, 'out1');
    await exportDataset(f.ds, withRecipe(first, grey));
    const before = await hashes(first);

    // Another window chosen since, then the images deleted from the dataset (their files stay).
    await setRememberedWindow(f.ds.db, deep, { center: 3000, width: 200 });
    const windowed = path.join(f.dir, 'out2');
    await exportDataset(f.ds, withRecipe(windowed, grey));
    expect(await hashes(windowed)).toEqual(before);
    await f.ds.db.prepare('DELETE FROM images WHERE id IN (?, ?)').run(deep, f.ids['b.png']!);
    const deleted = path.join(f.dir, 'out3');
    await exportDataset(f.ds, withRecipe(deleted, grey));
    expect(await hashes(deleted)).toEqual(before);

    // The live dataset's window does change a live export: the check above could fail.
    await importImages(f.ds, { paths: [path.join(f.root, 'deep.png')] });
    const again = (await listImages(f.ds.db, {}, 0, 100)).find((im) => im.path === 'deep.png')!.id;
    await setSplits(f.ds.db, [[again, 'train']]);
    const liveA = path.join(f.dir, 'liveA');
    const liveB = path.join(f.dir, 'liveB');
    await setRememberedWindow(f.ds.db, again, { center: 1000, width: 800 });
    await exportDataset(f.ds, { ...withRecipe(liveA, grey), version: undefined });
    await setRememberedWindow(f.ds.db, again, { center: 3000, width: 200 });
    await exportDataset(f.ds, { ...withRecipe(liveB, grey), version: undefined });
    const a = await hashes(liveA);
    const b = await hashes(liveB);
    expect(b['images/train/deep.png']).not.toBe(a['images/train/deep.png']);
  });
});
