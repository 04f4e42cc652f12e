import { beforeAll, describe, expect, it } from 'vitest';
import type { AttributeDef } from '../../src-main/common/model';
import { insertAnnotations } from '../../src-main/db/annotations';
import type { Workspace } from '../../src-main/services/workspace';
import { fails, importedDataset, makeImageDir, ok } from '../helpers/workspace';

let imageDir: string;
beforeAll(async () => {
  imageDir = await makeImageDir();
});

async function session() {
  const { ws, file, items } = await importedDataset(imageDir);
  const [cell, nucleus, debris] = [
    await ok(ws, 'classes:create', { name: 'cell', color: '#112233', hotkey: '1' }),
    await ok(ws, 'classes:create', { name: 'nucleus' }),
    await ok(ws, 'classes:create', { name: 'debris' }),
  ];
  return { ws, file, images: items.map((i) => i.id), cell: cell!.id, nucleus: nucleus!.id, debris: debris!.id };
}

const tag = (classId: number | null) => ({ op: 'create' as const, draft: { classId, geometry: { kind: 'tag' as const } } });

async function rows(ws: Workspace, sql: string): Promise<unknown[]> {
  return await ws.current!.db.prepare(sql).all();
}

describe('classes:update', () => {
  it('renames, recolours, sets and clears the hotkey, and stores attribute definitions', async () => {
    const { ws, file, cell } = await session();
    const attrs: AttributeDef[] = [
      { name: 'occluded', type: 'boolean', default: false },
      { name: 'severity', type: 'number', min: 1, max: 5, step: 1, default: 3 },
      { name: 'stage', type: 'select', options: ['early', 'late'], default: 'early' },
      { name: 'note', type: 'text' },
    ];
    expect(await ok(ws, 'classes:update', { id: cell, name: 'Cell', color: '#abcdef', attributes: attrs })).toEqual({
      id: cell,
      name: 'Cell',
      color: '#abcdef',
      hotkey: '1',
      order: 0,
      attributes: attrs,
      keypoints: null,
    });
    expect(await ok(ws, 'classes:update', { id: cell, hotkey: null })).toMatchObject({ hotkey: null, name: 'Cell', attributes: attrs });
    expect(await ok(ws, 'classes:update', { id: cell, hotkey: 'c' })).toMatchObject({ hotkey: 'c' });

    // Every class query returns the definitions parsed, after reopening too.
    await ok(ws, 'dataset:close', {});
    await ok(ws, 'dataset:open', { path: file });
    const list = await ok(ws, 'classes:list', {});
    expect(list[0]).toEqual({ id: cell, name: 'Cell', color: '#abcdef', hotkey: 'c', order: 0, attributes: attrs, keypoints: null });
    expect(list.slice(1).map((c) => c.attributes)).toEqual([[], []]);
  });

  it('refuses names taken by another class (in any case), bad definitions and unknown ids', async () => {
    const { ws, cell } = await session();
    const before = await ok(ws, 'classes:list', {});
    expect(await fails(ws, 'classes:update', { id: cell, name: 'NUCLEUS' })).toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(await fails(ws, 'classes:update', { id: cell, name: '  ' })).toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(await fails(ws, 'classes:update', { id: cell, color: 'red' })).toMatchObject({ code: 'INVALID_ARGUMENT' });
    const badDefs: AttributeDef[][] = [
      [{ name: 'a', type: 'boolean' }, { name: 'a', type: 'text' }],
      [{ name: 'n', type: 'number', min: 5, max: 1 }],
      [{ name: 'n', type: 'number', min: 0, max: 1, default: 2 }],
      [{ name: 's', type: 'select', options: ['x', 'y'], default: 'z' }],
      [{ name: 's', type: 'select', options: ['x', 'x'] }],
    ];
    for (const attributes of badDefs) {
      expect(await fails(ws, 'classes:update', { id: cell, name: 'renamed', attributes }), JSON.stringify(attributes)).toMatchObject({
        code: 'INVALID_ARGUMENT',
      });
    }
    expect(await fails(ws, 'classes:update', { id: 4242, name: 'x' })).toMatchObject({ code: 'NOT_FOUND' });
    expect(await ok(ws, 'classes:list', {})).toEqual(before);
    // Its own name in another case is not a clash.
    expect(await ok(ws, 'classes:update', { id: cell, name: 'CELL' })).toMatchObject({ name: 'CELL' });
  });
});

describe('classes:reorder', () => {
  it('sets the order to the given list, which must hold every class exactly once', async () => {
    const { ws, cell, nucleus, debris } = await session();
    const list = await ok(ws, 'classes:reorder', { ids: [debris, cell, nucleus] });
    expect(list.map((c) => [c.id, c.order])).toEqual([
      [debris, 0],
      [cell, 1],
      [nucleus, 2],
    ]);
    const before = await ok(ws, 'classes:list', {});
    expect(before).toEqual(list);
    for (const ids of [[debris, cell], [debris, cell, nucleus, 4242], [debris, cell, cell], [debris, cell, cell, nucleus]]) {
      expect(await fails(ws, 'classes:reorder', { ids }), JSON.stringify(ids)).toMatchObject({ code: 'INVALID_ARGUMENT' });
    }
    expect(await ok(ws, 'classes:list', {})).toEqual(before);
    // New classes go after the reordered ones.
    expect(await ok(ws, 'classes:create', { name: 'late' })).toMatchObject({ order: 3 });
  });
});

describe('classes:delete', () => {
  it('moves the annotations to another class in one step', async () => {
    const { ws, images, cell, nucleus, debris } = await session();
    const [a, b] = images as [number, number];
    const onA = await ok(ws, 'annotations:edit', { imageId: a, label: 'tags', ops: [tag(cell), tag(cell), tag(nucleus)] });
    await ok(ws, 'annotations:edit', { imageId: b, label: 'tags', ops: [tag(cell), tag(debris)] });

    expect(await ok(ws, 'classes:delete', { id: cell, moveTo: debris })).toEqual({ moved: 3, deleted: 0 });
    const listA = await ok(ws, 'annotations:list', { imageId: a });
    expect(listA.map((x) => [x.id, x.classId, x.version])).toEqual([
      [onA.created[0], debris, 2],
      [onA.created[1], debris, 2],
      [onA.created[2], nucleus, 1],
    ]);
    expect((await ok(ws, 'annotations:list', { imageId: b })).map((x) => x.classId)).toEqual([debris, debris]);
    const classes = await ok(ws, 'classes:list', {});
    expect(classes.map((c) => [c.name, c.order])).toEqual([
      ['nucleus', 0],
      ['debris', 1],
    ]);
    expect((await ok(ws, 'dataset:info', {})).classes.map((c) => [c.name, c.annotations])).toEqual([
      ['nucleus', 1],
      ['debris', 4],
    ]);
  });

  it('deletes the annotations when moveTo is null, and leaves other classes alone', async () => {
    const { ws, images, cell, nucleus } = await session();
    const [a, b] = images as [number, number];
    await ok(ws, 'annotations:edit', { imageId: a, label: 'tags', ops: [tag(cell), tag(nucleus), tag(null)] });
    await ok(ws, 'annotations:edit', { imageId: b, label: 'tags', ops: [tag(cell)] });
    expect(await ok(ws, 'classes:delete', { id: cell, moveTo: null })).toEqual({ moved: 0, deleted: 2 });
    expect((await ok(ws, 'annotations:list', { imageId: a })).map((x) => x.classId)).toEqual([nucleus, null]);
    expect(await ok(ws, 'annotations:list', { imageId: b })).toEqual([]);
    expect((await ok(ws, 'classes:list', {})).map((c) => c.id)).not.toContain(cell);
  });

  it('refuses a bad target and changes nothing', async () => {
    const { ws, images, cell } = await session();
    await ok(ws, 'annotations:edit', { imageId: images[0]!, label: 'tags', ops: [tag(cell)] });
    const snap = async () => [await rows(ws, 'SELECT * FROM classes ORDER BY id'), await rows(ws, 'SELECT * FROM annotations ORDER BY id'), await rows(ws, 'SELECT * FROM edit_journal')];
    const before = await snap();
    expect(await fails(ws, 'classes:delete', { id: cell, moveTo: cell })).toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(await fails(ws, 'classes:delete', { id: cell, moveTo: 4242 })).toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(await fails(ws, 'classes:delete', { id: 4242, moveTo: null })).toMatchObject({ code: 'NOT_FOUND' });
    expect(await snap()).toEqual(before);
  });

  it('is not undoable, and clears only the history that held the deleted class', async () => {
    const { ws, images, cell, nucleus, debris } = await session();
    const [a, b, c] = images as [number, number, number];
    const created = await ok(ws, 'annotations:edit', { imageId: a, label: 'draw cell', ops: [tag(cell)] });
    // A history where the class only appears on the before side: an imported annotation of the
    // class, changed to another class in the editor.
    await insertAnnotations(ws.current!.db, [{ imageId: b, classId: cell, geometry: { kind: 'tag' }, source: 'human' }]);
    const onB = (await ok(ws, 'annotations:list', { imageId: b }))[0]!;
    await ok(ws, 'annotations:edit', { imageId: b, label: 'recolour', ops: [{ op: 'update', id: onB.id, patch: { classId: nucleus } }] });
    await ok(ws, 'annotations:edit', { imageId: c, label: 'draw debris', ops: [tag(debris)] });

    expect(await ok(ws, 'classes:delete', { id: cell, moveTo: null })).toEqual({ moved: 0, deleted: 1 });
    for (const id of [a, b]) {
      expect(await ok(ws, 'annotations:history', { imageId: id })).toEqual({ canUndo: false, canRedo: false, undoLabel: null, redoLabel: null });
      expect(await ok(ws, 'annotations:undo', { imageId: id })).toBeNull();
    }
    expect(await ok(ws, 'annotations:list', { imageId: a })).toEqual([]);
    expect(created.created).toHaveLength(1);
    // Image c never held the class: its history is intact and still undoes.
    expect((await ok(ws, 'annotations:undo', { imageId: c }))!.label).toBe('draw debris');
    expect(await ok(ws, 'annotations:list', { imageId: c })).toEqual([]);
  });
});
