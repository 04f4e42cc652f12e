import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { defaultAuthor } from '../../src-main/services/comments';
import { openStore } from '../helpers/engine';
import { fails, importedDataset, makeImageDir, ok } from '../helpers/workspace';

/**
 * Comments pinned to shapes and points, through the real contract and SQLite: a shape comment's
 * pin is its shape's top-right corner; deleting the shape keeps the comment as a point comment
 * where it was, and undoing the delete links it again; resolving and reopening change the open
 * counts of the grid and its filter; replies follow their comment; removing an image removes its
 * comments.
 */
let imageDir = '';
beforeAll(async () => {
  imageDir = await makeImageDir();
}, 60_000);

const byName = (items: { id: number; path: string }[], name: string) => items.find((i) => path.basename(i.path) === name)!;

describe('comments', () => {
  it('pins to a shape or a point, keeps the point when the shape is deleted, and finds the shape again on undo', async () => {
    const { ws, items } = await importedDataset(imageDir);
    const a = byName(items, 'a.jpg');
    const cls = (await ok(ws, 'classes:create', { name: 'cell' })).id;
    const edit = await ok(ws, 'annotations:edit', {
      imageId: a.id,
      label: 'box',
      ops: [{ op: 'create', draft: { classId: cls, geometry: { kind: 'box', x: 10, y: 5, w: 20, h: 8 } } }],
    });
    const shape = edit.created[0]!;

    const onShape = await ok(ws, 'comments:add', { imageId: a.id, annotationId: shape, body: '  boundary too loose  ', author: 'Ana' });
    expect(onShape).toMatchObject({ imageId: a.id, frame: 0, annotationId: shape, shapeExists: true, x: 30, y: 5, body: 'boundary too loose', author: 'Ana', resolvedAt: null, parentId: null });
    const onPoint = await ok(ws, 'comments:add', { imageId: a.id, x: 3.5, y: 40, body: 'missed cell here' });
    expect(onPoint).toMatchObject({ annotationId: null, shapeExists: false, x: 3.5, y: 40, author: defaultAuthor() });
    expect(defaultAuthor().length).toBeGreaterThan(0);

    await ok(ws, 'annotations:edit', { imageId: a.id, label: 'delete', ops: [{ op: 'delete', id: shape }] });
    const afterDelete = (await ok(ws, 'comments:list', { imageId: a.id })).find((c) => c.id === onShape.id)!;
    expect(afterDelete).toMatchObject({ annotationId: shape, shapeExists: false, x: 30, y: 5 });

    await ok(ws, 'annotations:undo', { imageId: a.id });
    const afterUndo = (await ok(ws, 'comments:list', { imageId: a.id })).find((c) => c.id === onShape.id)!;
    expect(afterUndo.shapeExists).toBe(true);
    await ws.close();
  });

  it('refuses comments without text, outside the image, on another image\'s shape or on a missing frame', async () => {
    const { ws, items } = await importedDataset(imageDir);
    const a = byName(items, 'a.jpg');
    const b = byName(items, 'b.png');
    const pages = byName(items, 'f-pages.tif');
    const edit = await ok(ws, 'annotations:edit', { imageId: b.id, label: 'box', ops: [{ op: 'create', draft: { classId: null, geometry: { kind: 'box', x: 1, y: 1, w: 5, h: 5 } } }] });
    expect((await fails(ws, 'comments:add', { imageId: a.id, x: 1, y: 1, body: '   ' })).code).toBe('INVALID_ARGUMENT');
    const outside = await fails(ws, 'comments:add', { imageId: a.id, x: 65, y: 1, body: 'x' });
    expect(outside.code).toBe('INVALID_ARGUMENT');
    expect(outside.message).toContain('a.jpg');
    expect((await fails(ws, 'comments:add', { imageId: a.id, annotationId: edit.created[0]!, body: 'x' })).code).toBe('NOT_FOUND');
    expect((await fails(ws, 'comments:add', { imageId: a.id, body: 'no place' })).code).toBe('INVALID_ARGUMENT');
    expect((await fails(ws, 'comments:add', { imageId: pages.id, frame: 3, x: 1, y: 1, body: 'x' })).code).toBe('INVALID_ARGUMENT');
    const onFrame = await ok(ws, 'comments:add', { imageId: pages.id, frame: 2, x: 1, y: 1, body: 'third page' });
    expect(onFrame.frame).toBe(2);
    expect(await ok(ws, 'comments:list', { imageId: a.id })).toEqual([]);
    await ws.close();
  });

  it('counts open comments per image for the grid and its filter; resolve and reopen; replies follow their comment', async () => {
    const { ws, items } = await importedDataset(imageDir);
    const a = byName(items, 'a.jpg');
    const b = byName(items, 'b.png');
    const first = await ok(ws, 'comments:add', { imageId: a.id, x: 1, y: 1, body: 'one' });
    await ok(ws, 'comments:add', { imageId: a.id, x: 2, y: 2, body: 'two' });
    const onB = await ok(ws, 'comments:add', { imageId: b.id, x: 2, y: 2, body: 'three' });
    const reply = await ok(ws, 'comments:add', { imageId: a.id, parentId: first.id, body: 'done, please check', author: 'Ben' });
    expect(reply).toMatchObject({ parentId: first.id, x: 1, y: 1, frame: 0, author: 'Ben' });
    expect((await fails(ws, 'comments:add', { imageId: b.id, parentId: first.id, body: 'wrong image' })).code).toBe('INVALID_ARGUMENT');
    expect((await fails(ws, 'comments:resolve', { id: reply.id, resolved: true })).code).toBe('INVALID_ARGUMENT');

    const counts = async () => Object.fromEntries((await ok(ws, 'images:list', {})).items.map((i) => [i.id, i.openComments]));
    expect((await counts())[a.id]).toBe(2);
    expect((await counts())[b.id]).toBe(1);
    expect(await ok(ws, 'images:count', { filter: { hasOpenComments: true } })).toBe(2);

    const resolved = await ok(ws, 'comments:resolve', { id: first.id, resolved: true, author: 'Ana' });
    expect(resolved.resolvedBy).toBe('Ana');
    expect(resolved.resolvedAt).toBeGreaterThan(0);
    expect((await counts())[a.id]).toBe(1);
    await ok(ws, 'comments:resolve', { id: onB.id, resolved: true });
    expect(await ok(ws, 'images:count', { filter: { hasOpenComments: true } })).toBe(1);
    expect((await ok(ws, 'images:list', { filter: { hasOpenComments: false } })).items.map((i) => i.id)).toContain(b.id);
    expect(await ok(ws, 'images:locate', { id: a.id, filter: { hasOpenComments: true } })).toBe(0);
    expect(await ok(ws, 'images:locate', { id: b.id, filter: { hasOpenComments: true } })).toBeNull();
    expect(await ok(ws, 'images:locate', { id: b.id })).toBe(items.findIndex((i) => i.id === b.id));
    const open = await ok(ws, 'comments:open', {});
    expect(open.map((c) => c.body)).toEqual(['two']);
    expect(path.basename(open[0]!.imagePath)).toBe('a.jpg');

    const reopened = await ok(ws, 'comments:resolve', { id: first.id, resolved: false });
    expect(reopened).toMatchObject({ resolvedAt: null, resolvedBy: null });
    expect((await counts())[a.id]).toBe(2);

    await ok(ws, 'comments:delete', { id: first.id });
    expect((await ok(ws, 'comments:list', { imageId: a.id })).map((c) => c.body)).toEqual(['two']);
    await ws.close();
  });

  it('goes with its image', async () => {
    const { ws, items, file } = await importedDataset(imageDir);
    const a = byName(items, 'a.jpg');
    await ok(ws, 'comments:add', { imageId: a.id, x: 1, y: 1, body: 'one' });
    await ws.close();
    const db = await openStore(file);
    await db.prepare('DELETE FROM images WHERE id = ?').run(a.id);
    expect(await db.prepare('SELECT count(*) FROM comments').pluck().get()).toBe(0);
    await db.close();
  });
});

describe('the open image of the viewer', () => {
  it('is remembered per dataset, forgotten for the grid, and reported gone when its image was removed', async () => {
    const { ws, items, file } = await importedDataset(imageDir);
    expect(await ok(ws, 'dataset:openImage', {})).toBeNull();
    const third = items[2]!;
    await ok(ws, 'dataset:setOpenImage', { id: third.id });
    expect(await ok(ws, 'dataset:openImage', {})).toEqual({ id: third.id, index: 2 });
    await ok(ws, 'dataset:close', {});
    await ok(ws, 'dataset:open', { path: file });
    expect(await ok(ws, 'dataset:openImage', {})).toEqual({ id: third.id, index: 2 });
    expect((await fails(ws, 'dataset:setOpenImage', { id: 99_999 })).code).toBe('NOT_FOUND');
    await ok(ws, 'dataset:setOpenImage', { id: null });
    expect(await ok(ws, 'dataset:openImage', {})).toBeNull();

    await ok(ws, 'dataset:setOpenImage', { id: third.id });
    await ws.close();
    const db = await openStore(file);
    await db.prepare('DELETE FROM images WHERE id = ?').run(third.id);
    await db.close();
    const again = (await importedDataset(imageDir)).ws;
    await ok(again, 'dataset:open', { path: file });
    expect(await ok(again, 'dataset:openImage', {})).toEqual({ id: third.id, index: null });
    await again.close();
  });
});
