import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { EXPORT_MANIFEST, filesUnder } from '../../../src-main/services/interchange/exportPlace';
import { removeStaleExportTemps } from '../../../src-main/services/interchange/exportTemp';
import sharp from 'sharp';
import { fails, importedDataset, makeImageDir, newWorkspace, ok } from '../../helpers/workspace';
import { makeImages } from '../../helpers/images';
import { tempDir } from '../../helpers/shared';

/**
 * Exporting into a folder that is not empty: refused unless told; overwrite replaces an earlier
 * export (and only one: a file no export listed stops it, untouched); merge replaces the files the
 * export writes and keeps the others. Through the contract, with real files.
 */
let imageDir = '';
beforeAll(async () => {
  imageDir = await makeImageDir();
}, 60_000);

async function labelled() {
  const d = await importedDataset(imageDir);
  const cls = (await ok(d.ws, 'classes:create', { name: 'cell' })).id;
  const a = d.items.find((i) => i.path.endsWith('a.jpg'))!;
  const edit = await ok(d.ws, 'annotations:edit', { imageId: a.id, label: 'box', ops: [{ op: 'create', draft: { classId: cls, geometry: { kind: 'box', x: 4, y: 4, w: 10, h: 10 } } }] });
  return { ...d, a, cls, shape: edit.created[0]! };
}

const manifest = (dir: string) => JSON.parse(fs.readFileSync(path.join(dir, EXPORT_MANIFEST), 'utf8')) as { format: string; files: string[] };
const read = (dir: string, rel: string) => fs.readFileSync(path.join(dir, ...rel.split('/')), 'utf8');
const siblings = (dir: string) => fs.readdirSync(path.dirname(dir)).filter((n) => n.includes(path.basename(dir)));

describe('export into a folder that is not empty', () => {
  it('is refused by default, naming the choices, and leaves the folder as it was', async () => {
    const { ws } = await labelled();
    const out = path.join(tempDir(), 'out');
    fs.mkdirSync(out);
    fs.writeFileSync(path.join(out, 'notes.txt'), 'mine');
    const e = await fails(ws, 'interchange:export', { jobId: 'x', outDir: out, format: 'yolo' });
    expect(e.code).toBe('INVALID_ARGUMENT');
    expect(e.message).toMatch(/not empty.*overwrite or merge/);
    expect(e.detail).toMatchObject({ notEmpty: true });
    expect(fs.readdirSync(out)).toEqual(['notes.txt']);
    await ws.close();
  });

  it('overwrite replaces an earlier export, dropping its files this one does not write', async () => {
    const { ws } = await labelled();
    const out = path.join(tempDir(), 'out');
    await ok(ws, 'interchange:export', { jobId: 'x', outDir: out, format: 'yolo', images: 'copy' });
    const first = manifest(out);
    expect(first.format).toBe('yolo');
    expect(first.files).toEqual(filesUnder(out, [EXPORT_MANIFEST]));
    expect(first.files.some((f) => f.startsWith('images/'))).toBe(true);

    await ok(ws, 'interchange:export', { jobId: 'y', outDir: out, format: 'yolo', images: 'none', ifExists: 'overwrite' });
    const files = filesUnder(out, [EXPORT_MANIFEST]);
    expect(files.some((f) => f.startsWith('images/'))).toBe(false);
    expect(files.some((f) => f.startsWith('labels/'))).toBe(true);
    expect(manifest(out).files).toEqual(files);
    expect(siblings(out)).toEqual(['out']);
    await ws.close();
  });

  it('overwrite refuses a folder holding files no export wrote, and one no export made, changing nothing', async () => {
    const { ws } = await labelled();
    const out = path.join(tempDir(), 'out');
    await ok(ws, 'interchange:export', { jobId: 'x', outDir: out, format: 'yolo', images: 'copy' });
    fs.mkdirSync(path.join(out, 'labels', 'mine'), { recursive: true });
    fs.writeFileSync(path.join(out, 'labels', 'mine', 'notes.txt'), 'mine');
    const before = filesUnder(out);
    const e = await fails(ws, 'interchange:export', { jobId: 'y', outDir: out, format: 'yolo', images: 'none', ifExists: 'overwrite' });
    expect(e.code).toBe('INVALID_ARGUMENT');
    expect(e.message).toContain('labels/mine/notes.txt');
    expect(filesUnder(out)).toEqual(before);

    const plain = path.join(tempDir(), 'plain');
    fs.mkdirSync(plain);
    fs.writeFileSync(path.join(plain, 'data.yaml'), 'mine');
    expect((await fails(ws, 'interchange:export', { jobId: 'z', outDir: plain, format: 'yolo', ifExists: 'overwrite' })).message).toContain(EXPORT_MANIFEST);
    expect(read(plain, 'data.yaml')).toBe('mine');
    await ws.close();
  });

  it('merge replaces the files the export writes and keeps the others; COCO\'s annotation file is replaced whole', async () => {
    const { ws, a, shape, cls } = await labelled();
    const out = path.join(tempDir(), 'out');
    await ok(ws, 'interchange:export', { jobId: 'x', outDir: out, format: 'coco', images: 'copy' });
    const annFiles = filesUnder(out).filter((f) => f.startsWith('annotations/'));
    expect(annFiles).toHaveLength(1);
    const ann = annFiles[0]!;
    expect(JSON.parse(read(out, ann)).annotations).toHaveLength(1);
    fs.writeFileSync(path.join(out, 'README.txt'), 'mine');
    fs.writeFileSync(path.join(out, 'annotations', 'extra.json'), '{}');

    await ok(ws, 'annotations:edit', { imageId: a.id, label: 'more', ops: [{ op: 'create', draft: { classId: cls, geometry: { kind: 'box', x: 20, y: 20, w: 5, h: 5 } } }] });
    await ok(ws, 'annotations:edit', { imageId: a.id, label: 'move', ops: [{ op: 'update', id: shape, patch: { geometry: { kind: 'box', x: 30, y: 4, w: 10, h: 10 } } }] });
    await ok(ws, 'interchange:export', { jobId: 'y', outDir: out, format: 'coco', images: 'none', ifExists: 'merge' });
    const coco = JSON.parse(read(out, ann)) as { annotations: { bbox: number[] }[] };
    expect(coco.annotations.map((x) => x.bbox).sort()).toEqual([[20, 20, 5, 5], [30, 4, 10, 10]].sort());
    expect(read(out, 'README.txt')).toBe('mine');
    expect(read(out, 'annotations/extra.json')).toBe('{}');
    // The images of the first export stay (this one wrote none), and the manifest lists both exports' files.
    const images = filesUnder(out).filter((f) => f.startsWith('images/'));
    expect(images.length).toBeGreaterThan(0);
    const listed = manifest(out).files;
    expect(listed).toEqual(expect.arrayContaining([ann, ...images]));
    expect(listed).not.toContain('README.txt');
    expect(siblings(out)).toEqual(['out']);

    // What merge added is an export's: overwrite may now replace it all except the user's files, so it refuses.
    expect((await fails(ws, 'interchange:export', { jobId: 'z', outDir: out, format: 'coco', ifExists: 'overwrite' })).message).toContain('README.txt');
    await ws.close();
  });

  it('merge changes nothing when a folder stands where the export writes a file', async () => {
    const { ws } = await labelled();
    const out = path.join(tempDir(), 'out');
    await ok(ws, 'interchange:export', { jobId: 'x', outDir: out, format: 'yolo', images: 'none' });
    fs.rmSync(path.join(out, 'data.yaml'));
    fs.mkdirSync(path.join(out, 'data.yaml'));
    const before = filesUnder(out);
    const e = await fails(ws, 'interchange:export', { jobId: 'y', outDir: out, format: 'yolo', images: 'none', ifExists: 'merge' });
    expect(e.message).toContain('data.yaml');
    expect(filesUnder(out)).toEqual(before);
    expect(siblings(out)).toEqual(['out']);
    await ws.close();
  });
});

const yoloFiles = (out: string) => filesUnder(out).filter((f) => /^(images|labels)\//.test(f));

describe('merge into an earlier export', () => {
  it('moves an image whose split changed, leaving nothing under its old split', async () => {
    const { ws } = await labelled();
    const out = path.join(tempDir(), 'out');
    await ok(ws, 'splits:assign', { ratios: [1, 0, 0] });
    await ok(ws, 'interchange:export', { jobId: 'x', outDir: out, format: 'yolo', images: 'copy' });
    const before = yoloFiles(out);
    expect(before.some((f) => f.startsWith('images/train/'))).toBe(true);
    expect(before.some((f) => f.startsWith('labels/train/'))).toBe(true);
    fs.writeFileSync(path.join(out, 'notes.txt'), 'mine');

    await ok(ws, 'splits:assign', { ratios: [0, 1, 0] });
    await ok(ws, 'interchange:export', { jobId: 'y', outDir: out, format: 'yolo', images: 'copy', ifExists: 'merge' });
    const after = yoloFiles(out);
    expect(after.filter((f) => f.includes('/train/'))).toEqual([]);
    expect(after.map((f) => f.replace('/val/', '/train/'))).toEqual(before);
    expect(read(out, 'notes.txt')).toBe('mine');
    expect(manifest(out).files).toEqual(filesUnder(out, [EXPORT_MANIFEST]).filter((f) => f !== 'notes.txt'));

    // Without image files: an image file of the earlier export is kept only where this export would put it.
    await ok(ws, 'splits:assign', { ratios: [0, 0, 1] });
    await ok(ws, 'interchange:export', { jobId: 'z', outDir: out, format: 'yolo', images: 'none', ifExists: 'merge' });
    const last = yoloFiles(out);
    expect(last.filter((f) => !f.includes('/test/'))).toEqual([]);
    expect(last.some((f) => f.startsWith('labels/test/'))).toBe(true);
    expect(last.some((f) => f.startsWith('images/'))).toBe(false);
    expect(siblings(out)).toEqual(['out']);
    await ws.close();
  });

  it('is refused when the classes or the format changed, naming the change and Overwrite, and changes nothing', async () => {
    const { ws, cls } = await labelled();
    await ok(ws, 'classes:create', { name: 'nucleus' });
    const out = path.join(tempDir(), 'out');
    await ok(ws, 'interchange:export', { jobId: 'x', outDir: out, format: 'yolo', images: 'none' });
    const before = filesUnder(out).map((f) => [f, read(out, f)]);

    await ok(ws, 'classes:update', { id: cls, name: 'blood cell' });
    const e = await fails(ws, 'interchange:export', { jobId: 'y', outDir: out, format: 'yolo', images: 'none', ifExists: 'merge' });
    expect(e.code).toBe('INVALID_ARGUMENT');
    expect(e.message).toMatch(/classes changed.*"cell".*"blood cell"/);
    expect(e.message).toContain('Overwrite');
    expect(e.detail).toMatchObject({ mergeConflict: true, was: ['cell', 'nucleus'], classes: ['blood cell', 'nucleus'] });
    expect(filesUnder(out).map((f) => [f, read(out, f)])).toEqual(before);

    const f = await fails(ws, 'interchange:export', { jobId: 'z', outDir: out, format: 'voc', images: 'none', ifExists: 'merge' });
    expect(f.message).toMatch(/earlier export there is yolo, this one is voc/);
    expect(filesUnder(out).map((x) => [x, read(out, x)])).toEqual(before);
    // Overwrite still replaces it.
    await ok(ws, 'interchange:export', { jobId: 'w', outDir: out, format: 'yolo', images: 'none', ifExists: 'overwrite' });
    expect(read(out, 'data.yaml')).toContain('blood cell');
    expect(siblings(out)).toEqual(['out']);
    await ws.close();
  });

  it('is refused when the earlier export is of another dataset, whose images could take the same names', async () => {
    const first = await labelled();
    const second = await labelled();
    const out = path.join(tempDir(), 'out');
    await ok(first.ws, 'interchange:export', { jobId: 'x', outDir: out, format: 'yolo', images: 'copy' });
    const before = filesUnder(out).map((f) => [f, read(out, f)]);
    const e = await fails(second.ws, 'interchange:export', { jobId: 'y', outDir: out, format: 'yolo', images: 'copy', ifExists: 'merge' });
    expect(e.message).toMatch(/another dataset.*Overwrite/);
    expect(filesUnder(out).map((f) => [f, read(out, f)])).toEqual(before);
    await first.ws.close();
    await second.ws.close();
  });

  it('keeps the files of images a partial export leaves out, and refuses when another image takes their name', async () => {
    const root = tempDir();
    for (const [dir, r] of [['p', 200], ['q', 20]] as const) {
      fs.mkdirSync(path.join(root, dir));
      await sharp({ create: { width: 32, height: 24, channels: 3, background: { r, g: 90, b: 40 } } }).jpeg().toFile(path.join(root, dir, 'x.jpg'));
    }
    await sharp({ create: { width: 32, height: 24, channels: 3, background: { r: 1, g: 2, b: 3 } } }).jpeg().toFile(path.join(root, 'p', 'y.jpg'));
    const dir = tempDir();
    const ws = newWorkspace(dir);
    await ok(ws, 'dataset:create', { path: path.join(dir, 'd.tessera'), root });
    await ok(ws, 'images:import', { jobId: 'imp', paths: [path.join(root, 'p'), path.join(root, 'q')] });
    const { items } = await ok(ws, 'images:list', {});
    const px = items.find((i) => i.path === 'p/x.jpg')!;
    const qx = items.find((i) => i.path === 'q/x.jpg')!;
    const py = items.find((i) => i.path === 'p/y.jpg')!;
    expect(px.id).toBeLessThan(qx.id);
    const out = path.join(tempDir(), 'out');
    await ok(ws, 'interchange:export', { jobId: 'a', outDir: out, format: 'yolo', images: 'copy' });
    expect(yoloFiles(out)).toEqual(['images/train/x.jpg', `images/train/x_${qx.id}.jpg`, 'images/train/y.jpg', 'labels/train/x.txt', `labels/train/x_${qx.id}.txt`, 'labels/train/y.txt']);

    // Only p/y.jpg is done: the others' files stay, and the manifest still says whose they are.
    await ok(ws, 'images:setStatus', { ids: [py.id], status: 'done' });
    await ok(ws, 'interchange:export', { jobId: 'b', outDir: out, format: 'yolo', images: 'copy', only: 'done', ifExists: 'merge' });
    expect(yoloFiles(out)).toHaveLength(6);
    expect(manifest(out).files).toEqual(filesUnder(out, [EXPORT_MANIFEST]));

    // Only q/x.jpg is done: it would be written as x.jpg over p/x.jpg's file, and its own x_<id> files would be left.
    await ok(ws, 'images:setStatus', { ids: [py.id], status: 'new' });
    await ok(ws, 'images:setStatus', { ids: [qx.id], status: 'done' });
    const before = filesUnder(out).map((f) => [f, fs.readFileSync(path.join(out, f)).toString('base64')]);
    const e = await fails(ws, 'interchange:export', { jobId: 'c', outDir: out, format: 'yolo', images: 'copy', only: 'done', ifExists: 'merge' });
    expect(e.message).toContain('p/x.jpg');
    expect(e.message).toContain('Overwrite');
    expect(filesUnder(out).map((f) => [f, fs.readFileSync(path.join(out, f)).toString('base64')])).toEqual(before);
    expect(siblings(out)).toEqual(['out']);
    await ws.close();
  });
});

describe('the manifest of an export', () => {
  it('gives each image its own files, never the files of the whole export that share its name', async () => {
    const root = tempDir();
    fs.mkdirSync(path.join(root, 'p'));
    for (const [n, r] of [['data', 10], ['train', 90], ['other', 200]] as const) {
      await sharp({ create: { width: 16, height: 12, channels: 3, background: { r, g: 1, b: 1 } } }).jpeg().toFile(path.join(root, 'p', `${n}.jpg`));
    }
    const dir = tempDir();
    const ws = newWorkspace(dir);
    await ok(ws, 'dataset:create', { path: path.join(dir, 'd.tessera'), root });
    await ok(ws, 'images:import', { jobId: 'imp', paths: [path.join(root, 'p')] });
    await ok(ws, 'classes:create', { name: 'cell' });
    const { items } = await ok(ws, 'images:list', {});
    const other = items.find((i) => i.path === 'p/other.jpg')!;
    await ok(ws, 'splits:assign', { ratios: [1, 0, 0] });
    for (const format of ['yolo', 'voc'] as const) {
      const out = path.join(tempDir(), format);
      await ok(ws, 'interchange:export', { jobId: 'a', outDir: out, format, images: 'copy' });
      const m = JSON.parse(read(out, EXPORT_MANIFEST)) as { images: Record<string, { image: string; files: string[] }> };
      for (const rec of Object.values(m.images)) {
        expect(rec.files).toContain(rec.image);
        for (const f of rec.files) expect(f).not.toMatch(/^(data\.yaml|ImageSets\/)/);
      }
      expect(m.images['p/data.jpg']!.files).toHaveLength(2);
      // A partial export writes data.yaml and the split lists again: no image of the earlier export is in its way.
      await ok(ws, 'images:setStatus', { ids: [other.id], status: 'done' });
      await ok(ws, 'interchange:export', { jobId: 'b', outDir: out, format, images: 'copy', only: 'done', ifExists: 'merge' });
      await ok(ws, 'images:setStatus', { ids: [other.id], status: 'new' });
      expect(filesUnder(out).filter((f) => f.includes('data.') || f.includes('train.'))).not.toEqual([]);
    }
    await ws.close();
  });
});

describe('merge and overwrite never reach the source images', () => {
  it('refuses a link in the folder, leaving the files it leads to as they were', async () => {
    const { ws } = await labelled();
    const out = path.join(tempDir(), 'out');
    await ok(ws, 'interchange:export', { jobId: 'x', outDir: out, format: 'yolo', images: 'copy' });
    // The user replaced the copied images by a link to the originals.
    const originals = path.join(imageDir, 'imgs');
    const stat = () => filesUnder(originals).map((f) => [f, fs.statSync(path.join(originals, f)).ino, fs.readFileSync(path.join(originals, f)).length]);
    const before = stat();
    fs.rmSync(path.join(out, 'images'), { recursive: true });
    fs.symlinkSync(originals, path.join(out, 'images'), 'dir');
    const e = await fails(ws, 'interchange:export', { jobId: 'y', outDir: out, format: 'yolo', images: 'copy', ifExists: 'merge' });
    expect(e.message).toContain(path.join(out, 'images'));
    expect(e.message).toContain('link');
    expect(stat()).toEqual(before);
    expect(fs.lstatSync(path.join(out, 'images')).isSymbolicLink()).toBe(true);
    // Overwrite refuses it too (the link is no export's file), and deletes nothing through it.
    await fails(ws, 'interchange:export', { jobId: 'z', outDir: out, format: 'yolo', images: 'copy', ifExists: 'overwrite' });
    expect(stat()).toEqual(before);
    await ws.close();
  });

  it('refuses to merge into the dataset folder or a folder holding its images', async () => {
    const { ws } = await labelled();
    const before = filesUnder(imageDir).map((f) => [f, fs.statSync(path.join(imageDir, f)).mtimeMs]);
    for (const out of [imageDir, path.join(imageDir, 'imgs')]) {
      const e = await fails(ws, 'interchange:export', { jobId: 'x', outDir: out, format: 'yolo', images: 'copy', ifExists: 'merge' });
      expect(e.code).toBe('INVALID_ARGUMENT');
      expect(e.detail).toMatchObject({ sources: true });
    }
    expect(filesUnder(imageDir).map((f) => [f, fs.statSync(path.join(imageDir, f)).mtimeMs])).toEqual(before);
    // A new folder inside the dataset folder is still fine, and merging into it again too.
    const inside = path.join(imageDir, 'exports-merge-test');
    await ok(ws, 'interchange:export', { jobId: 'y', outDir: inside, format: 'yolo', images: 'none' });
    await ok(ws, 'interchange:export', { jobId: 'z', outDir: inside, format: 'yolo', images: 'none', ifExists: 'merge' });
    fs.rmSync(inside, { recursive: true });
    await ws.close();
  });

  it('refuses to merge into a folder inside one holding images from outside the dataset folder', async () => {
    const outside = tempDir();
    await makeImages(path.join(outside, 'pics'));
    const dir = tempDir();
    const ws = newWorkspace(dir);
    await ok(ws, 'dataset:create', { path: path.join(dir, 'd.tessera'), root: tempDir() });
    await ok(ws, 'images:import', { jobId: 'imp', paths: [path.join(outside, 'pics')], allowOutsideRoot: true });
    expect((await ok(ws, 'images:list', {})).items.length).toBeGreaterThan(0);
    // A new folder there is fine; merging or overwriting into it later is not.
    const out = path.join(outside, 'pics', 'export');
    await ok(ws, 'interchange:export', { jobId: 'x', outDir: out, format: 'yolo', images: 'none' });
    for (const ifExists of ['merge', 'overwrite'] as const) {
      const e = await fails(ws, 'interchange:export', { jobId: 'y', outDir: out, format: 'yolo', images: 'none', ifExists });
      expect(e.message).toContain(`is inside ${path.join(outside, 'pics')}`);
      expect(e.detail).toMatchObject({ sources: true });
    }
    await ws.close();
  });
});

/** Every file under `dir` with its bytes. */
const snapshot = (dir: string) => Object.fromEntries(filesUnder(dir).map((f) => [f, fs.readFileSync(path.join(dir, ...f.split('/'))).toString('base64')]));

/** A pid no process has now: one that just ended. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', '']);
  return r.pid!;
}

describe('an overwrite or merge killed while placing the export', () => {
  const script = path.resolve('test/helpers/placeCrash.ts');

  /** A folder holding export A (train) and, staged beside it as a killed export's temporary folder would be, export B (val, one more box). */
  async function twoExports() {
    const { ws, a, cls } = await labelled();
    const parent = tempDir();
    const out = path.join(parent, 'out');
    await ok(ws, 'splits:assign', { ratios: [1, 0, 0] });
    await ok(ws, 'interchange:export', { jobId: 'a', outDir: out, format: 'yolo', images: 'copy' });
    await ok(ws, 'splits:assign', { ratios: [0, 1, 0] });
    await ok(ws, 'annotations:edit', { imageId: a.id, label: 'more', ops: [{ op: 'create', draft: { classId: cls, geometry: { kind: 'box', x: 20, y: 20, w: 5, h: 5 } } }] });
    const staging = path.join(tempDir(), 'b');
    await ok(ws, 'interchange:export', { jobId: 'b', outDir: staging, format: 'yolo', images: 'copy' });
    await ws.close();
    const b = snapshot(staging);
    const tmp = path.join(parent, '.out.export-1-0badc0de');
    fs.cpSync(staging, tmp, { recursive: true });
    return { parent, out, tmp, a: snapshot(out), b };
  }

  function killedAt(tmp: string, out: string, ifExists: string, step: string): void {
    const r = spawnSync(process.execPath, ['--import', 'tsx', script, tmp, out, ifExists, step], { encoding: 'utf8' });
    expect(r.signal, r.stderr).toBe('SIGKILL');
  }

  it('a merge killed halfway is rolled back by the next export into the folder', async () => {
    const { parent, out, tmp } = await twoExports();
    fs.writeFileSync(path.join(out, 'notes.txt'), 'mine');
    const a = snapshot(out);
    killedAt(tmp, out, 'merge', 'merge:4');
    // What the killed process left: files moved both ways, a backup and its journal.
    const left = fs.readdirSync(parent);
    expect(left.some((n) => n.includes('.merge-backup-'))).toBe(true);
    expect(left.some((n) => n.includes('.journal-'))).toBe(true);
    expect(snapshot(out)).not.toEqual(a);
    removeStaleExportTemps(parent);
    expect(snapshot(out)).toEqual(a);
    expect(fs.readdirSync(parent)).toEqual(['out']);
  });

  it('an overwrite killed between its renames gets the old folder back; one killed after keeps the new', async () => {
    const first = await twoExports();
    killedAt(first.tmp, first.out, 'overwrite', 'overwrite:aside');
    expect(fs.existsSync(first.out)).toBe(false);
    removeStaleExportTemps(first.parent);
    expect(snapshot(first.out)).toEqual(first.a);
    expect(fs.readdirSync(first.parent)).toEqual(['out']);

    const second = await twoExports();
    killedAt(second.tmp, second.out, 'overwrite', 'overwrite:placed');
    removeStaleExportTemps(second.parent);
    expect(snapshot(second.out)).toEqual(second.b);
    expect(fs.readdirSync(second.parent)).toEqual(['out']);
  });

  it('folders set aside by a killed export without a journal are put back or removed', () => {
    const parent = tempDir();
    const pid = deadPid();
    // Killed between an overwrite's renames: the destination is missing, the old folder aside.
    const aside = path.join(parent, `.out.replaced-${pid}-0123abcd`);
    fs.mkdirSync(path.join(aside, 'labels'), { recursive: true });
    fs.writeFileSync(path.join(aside, 'labels', 'a.txt'), '0 0.5 0.5 0.1 0.1\n');
    // Killed after a merge moved data.yaml to its backup, before the new one was in place.
    const merged = path.join(parent, 'merged');
    fs.mkdirSync(merged);
    fs.writeFileSync(path.join(merged, 'notes.txt'), 'mine');
    const backup = path.join(parent, `.merged.merge-backup-${pid}-89abcdef`);
    fs.mkdirSync(backup);
    fs.writeFileSync(path.join(backup, 'data.yaml'), 'names: [cell]\n');
    // A live process's folder and a user's look-alike stay.
    const live = path.join(parent, `.x.replaced-${process.ppid}-00000000`);
    fs.mkdirSync(live);
    const alike = path.join(parent, '.out.replaced-mine');
    fs.mkdirSync(alike);

    removeStaleExportTemps(parent);
    expect(read(path.join(parent, 'out'), 'labels/a.txt')).toBe('0 0.5 0.5 0.1 0.1\n');
    expect(read(merged, 'data.yaml')).toBe('names: [cell]\n');
    expect(read(merged, 'notes.txt')).toBe('mine');
    expect(fs.readdirSync(parent).sort()).toEqual([path.basename(alike), path.basename(live), 'merged', 'out'].sort());
  });
});
