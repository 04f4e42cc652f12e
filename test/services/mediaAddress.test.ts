import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { resolveMedia } from '../../src-main/services/mediaRoute';
import type { Workspace } from '../../src-main/services/workspace';
import { onPostgres } from '../helpers/engine';
import { tempDir } from '../helpers/shared';
import { fails, newWorkspace, ok } from '../helpers/workspace';

/**
 * Every media address names the dataset and the version of the image's file, so neither a cache
 * nor the route itself can hand back another dataset's or an older file's pixels; and only files
 * that read as the imported image are ever sent.
 */

/** An uncompressed PNG: pictures of the same size and depth have the same byte size. */
function flatPng(file: string, rgb: [number, number, number], size = 32): Promise<unknown> {
  const [r, g, b] = rgb;
  fs.mkdirSync(path.dirname(file), { recursive: true });
  return sharp({ create: { width: size, height: size, channels: 3, background: { r, g, b } } })
    .png({ compressionLevel: 0, adaptiveFiltering: false })
    .toFile(file);
}

/**
 * The first pixel of what an address serves, rounded to tens (thumbnails are lossy WebP), or the
 * error code it gets.
 */
async function firstPixel(ws: Workspace, address: string): Promise<number[] | string> {
  const r = await resolveMedia(ws, address);
  if (!r.ok) return r.error.code;
  const { data } = await sharp(r.file).raw().toBuffer({ resolveWithObject: true });
  return Array.from(data.subarray(0, 3), (v) => Math.round(v / 10) * 10);
}

async function datasetWith(ws: Workspace, dir: string, rgb: [number, number, number]): Promise<{ file: string; id: number; media: string }> {
  await flatPng(path.join(dir, 'imgs', 'one.png'), rgb);
  const file = path.join(dir, 'set.tessera');
  await ok(ws, 'dataset:create', { path: file, root: dir });
  await ok(ws, 'images:import', { jobId: 'i', paths: [path.join(dir, 'imgs')] });
  const [item] = (await ok(ws, 'images:list', {})).items;
  return { file, id: item!.id, media: item!.media };
}

describe('media addresses', () => {
  it("name the dataset: dataset A's address is refused while B is open, though both have an image 1", async () => {
    const ws = newWorkspace(tempDir());
    const a = await datasetWith(ws, tempDir(), [240, 0, 0]);
    const view = (key: string) => firstPixel(ws, `view/${key}`);
    const thumb = (key: string) => firstPixel(ws, `thumb/${key}`);
    expect(await view(a.media)).toEqual([240, 0, 0]);
    expect(await thumb(a.media)).toEqual([240, 0, 0]);
    const b = await datasetWith(ws, tempDir(), [0, 0, 240]);
    expect(b.id).toBe(a.id);
    expect(b.media).not.toBe(a.media);
    expect(b.media.split('/')[0]).toBe((await ok(ws, 'dataset:current', {}))!.uuid);
    expect(await view(a.media)).toBe('NOT_FOUND');
    expect(await thumb(a.media)).toBe('NOT_FOUND');
    expect(await view(b.media)).toEqual([0, 0, 240]);
    expect(await thumb(b.media)).toEqual([0, 0, 240]);
    // The identity survives closing and opening again, so addresses stay valid across sessions.
    await ok(ws, 'dataset:open', { path: a.file });
    expect((await ok(ws, 'images:get', { id: a.id })).media).toBe(a.media);
    expect(await view(a.media)).toEqual([240, 0, 0]);
    await ws.close();
  });

  it('name the version: a file replaced by another picture of the same byte size is shown as changed, never as the old pixels', async () => {
    const ws = newWorkspace(tempDir());
    const dir = tempDir();
    const { id, media } = await datasetWith(ws, dir, [10, 200, 10]);
    expect(await firstPixel(ws, `view/${media}`)).toEqual([10, 200, 10]);
    expect(await firstPixel(ws, `thumb/${media}`)).toEqual([10, 200, 10]);
    const file = path.join(dir, 'imgs', 'one.png');
    const before = fs.statSync(file);
    await flatPng(path.join(dir, 'other.png'), [200, 10, 200]);
    fs.renameSync(path.join(dir, 'other.png'), file);
    fs.utimesSync(file, before.atime, new Date(before.mtimeMs + 5000));
    expect(fs.statSync(file).size).toBe(before.size);

    const detail = await ok(ws, 'images:get', { id });
    expect(detail.fileState).toBe('changed');
    expect(detail.media).not.toBe(media);
    for (const kind of ['view', 'thumb']) {
      expect(await firstPixel(ws, `${kind}/${media}`)).toBe('FILE_CHANGED');
      expect(await firstPixel(ws, `${kind}/${detail.media}`)).toBe('FILE_CHANGED');
    }
    await ws.close();
  });

  it('never send a stored file that is not the imported image, whatever its row says', async () => {
    const ws = newWorkspace(tempDir());
    const dir = tempDir();
    const { id } = await datasetWith(ws, dir, [0, 0, 0]);
    const secret = path.join(dir, 'imgs', 'notes.txt');
    fs.writeFileSync(secret, 'secret: 12345\n'.repeat(40));
    const st = fs.statSync(secret);
    const db = ws.current!.db;
    await db.prepare('UPDATE images SET path = ?, file_size = ?, file_mtime_ms = ? WHERE id = ?').run('imgs/notes.txt', st.size, Math.round(st.mtimeMs), id);
    expect((await ok(ws, 'images:get', { id })).fileState).toBe('ok');
    const r = await resolveMedia(ws, `view/${await ws.mediaKey(id)}`);
    expect(r.ok ? fs.readFileSync(r.file, 'utf8').slice(0, 6) : r.status).toBe(422);
    expect(await firstPixel(ws, `thumb/${await ws.mediaKey(id)}`)).toBe('CORRUPT_IMAGE');

    // A real picture of the imported format, size and byte size, with the row's time: still not
    // the imported content, so its bytes are not sent.
    const other = path.join(dir, 'imgs', 'other.png');
    await flatPng(other, [200, 200, 0]);
    const ost = fs.statSync(other);
    await db.prepare('UPDATE images SET path = ?, file_size = ?, file_mtime_ms = ? WHERE id = ?').run('imgs/other.png', ost.size, Math.round(ost.mtimeMs), id);
    expect((await ok(ws, 'images:get', { id })).fileState).toBe('ok');
    const swapped = await resolveMedia(ws, `view/${await ws.mediaKey(id)}`);
    expect(swapped.ok ? 'sent' : [swapped.status, swapped.error.code]).toEqual([409, 'FILE_CHANGED']);

    // The same row made absolute and external, as a crafted dataset file would have it: the
    // folder is not allowed for this dataset, so the file is not even looked at.
    const outside = tempDir();
    const passwd = path.join(outside, 'passwd');
    fs.copyFileSync(secret, passwd);
    const pst = fs.statSync(passwd);
    await db.prepare('UPDATE images SET path = ?, external = 1, file_size = ?, file_mtime_ms = ? WHERE id = ?').run(passwd, pst.size, Math.round(pst.mtimeMs), id);
    const blocked = await resolveMedia(ws, `view/${await ws.mediaKey(id)}`);
    expect(blocked.ok ? 'sent' : [blocked.status, blocked.error.code]).toEqual([403, 'EXTERNAL_NOT_ALLOWED']);
    await ws.close();
  });

  it('read images outside the root only from folders this user allowed for this dataset file', async () => {
    const outside = tempDir();
    await flatPng(path.join(outside, 'far', 'x.png'), [90, 90, 90]);
    const root = tempDir();
    const file = path.join(root, 'set.tessera');
    const myConfig = tempDir();
    const mine = newWorkspace(myConfig);
    await ok(mine, 'dataset:create', { path: file, root });
    // Importing from outside the root, agreed to, allows that folder for this dataset.
    await ok(mine, 'images:import', { jobId: 'o', paths: [path.join(outside, 'far')], allowOutsideRoot: true });
    const [item] = (await ok(mine, 'images:list', {})).items;
    expect((await ok(mine, 'dataset:current', {}))!.blockedFolders).toEqual([]);
    expect(await firstPixel(mine, `view/${item!.media}`)).toEqual([90, 90, 90]);
    await mine.close();

    // The same dataset file opened by another user (another settings folder): nothing is allowed.
    const theirs = newWorkspace(tempDir());
    const summary = await ok(theirs, 'dataset:open', { path: file });
    expect(summary.blockedFolders).toEqual([{ folder: path.join(outside, 'far'), images: 1 }]);
    expect((await ok(theirs, 'images:get', { id: item!.id })).fileState).toBe('not_allowed');
    expect(await firstPixel(theirs, `view/${await theirs.mediaKey(item!.id)}`)).toBe('EXTERNAL_NOT_ALLOWED');
    expect(await firstPixel(theirs, `thumb/${await theirs.mediaKey(item!.id)}`)).toBe('EXTERNAL_NOT_ALLOWED');
    expect((await fails(theirs, 'dataset:allowExternal', { folders: ['/etc'] })).code).toBe('INVALID_ARGUMENT');
    const allowed = await ok(theirs, 'dataset:allowExternal', { folders: [path.join(outside, 'far')] });
    expect(allowed.blockedFolders).toEqual([]);
    expect(await firstPixel(theirs, `view/${await theirs.mediaKey(item!.id)}`)).toEqual([90, 90, 90]);
    // A folder is allowed, not what lies below it: a row pointing into a subfolder stays blocked.
    const deeper = path.join(outside, 'far', 'private');
    await flatPng(path.join(deeper, 'y.png'), [10, 10, 10]);
    const st = fs.statSync(path.join(deeper, 'y.png'));
    await theirs.current!.db.prepare('UPDATE images SET path = ?, file_size = ?, file_mtime_ms = ? WHERE id = ?').run(path.join(deeper, 'y.png'), st.size, Math.round(st.mtimeMs), item!.id);
    expect((await ok(theirs, 'images:get', { id: item!.id })).fileState).toBe('not_allowed');
    expect(await firstPixel(theirs, `view/${await theirs.mediaKey(item!.id)}`)).toBe('EXTERNAL_NOT_ALLOWED');
    const far = path.join(outside, 'far', 'x.png');
    const fst = fs.statSync(far);
    await theirs.current!.db.prepare('UPDATE images SET path = ?, file_size = ?, file_mtime_ms = ? WHERE id = ?').run(far, fst.size, Math.round(fst.mtimeMs), item!.id);
    await theirs.close();

    // The user who allowed the folder still has it allowed when opening the dataset again.
    const again = newWorkspace(myConfig);
    expect((await ok(again, 'dataset:open', { path: file })).blockedFolders).toEqual([]);
    await again.close();
  });

  it.skipIf(onPostgres('a copy of a dataset file is a SQLite-only case: in PostgreSQL the file only marks the dataset'))(
    'a copy of the dataset file elsewhere is another dataset file: the grant of the original does not carry over',
    async () => {
      const outside = tempDir();
      await flatPng(path.join(outside, 'far', 'x.png'), [90, 90, 90]);
      const root = tempDir();
      const file = path.join(root, 'set.tessera');
      const myConfig = tempDir();
      const mine = newWorkspace(myConfig);
      await ok(mine, 'dataset:create', { path: file, root });
      await ok(mine, 'images:import', { jobId: 'o', paths: [path.join(outside, 'far')], allowOutsideRoot: true });
      await mine.close();

      // It holds the same identity, yet the grant is for the original file only.
      const copy = path.join(tempDir(), 'copy.tessera');
      fs.copyFileSync(file, copy);
      const again = newWorkspace(myConfig);
      expect((await ok(again, 'dataset:open', { path: file })).blockedFolders).toEqual([]);
      const copied = await ok(again, 'dataset:open', { path: copy });
      expect(copied.blockedFolders.map((b) => b.folder)).toEqual([path.join(outside, 'far')]);
      await again.close();
    },
  );
});
