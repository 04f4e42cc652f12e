import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { EXPORT_MANIFEST, filesUnder } from '../../../src-main/services/interchange/exportPlace';
import { fails, importedDataset, makeImageDir, ok } from '../../helpers/workspace';
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
    ws.close();
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
    ws.close();
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
    ws.close();
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
    ws.close();
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
    ws.close();
  });
});
