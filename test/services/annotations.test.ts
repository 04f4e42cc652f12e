import { beforeAll, describe, expect, it } from 'vitest';
import type { Args } from '../../src-main/common/contract';
import type { AnnotationRecord, Geometry, ImageDetail, ImageListItem } from '../../src-main/common/model';
import { deleteAnnotationsByIds, insertAnnotations } from '../../src-main/db/annotations';
import { insertModelRun } from '../../src-main/db/modelRuns';
import type { Workspace } from '../../src-main/services/workspace';
import { tempDir } from '../helpers/shared';
import { fails, importedDataset, makeImageDir, newWorkspace, ok } from '../helpers/workspace';

/** An op as callers send it; attribute values are limited by the contract's schema. */
type EditOp = Args<'annotations:edit'>['ops'][number];

/** The source images are made once; each test gets its own dataset over a copy of the same files. */
let imageDir: string;
beforeAll(async () => {
  imageDir = await makeImageDir();
});

interface Session {
  ws: Workspace;
  file: string;
  images: ImageListItem[];
  /** The 64 x 48 JPEG. */
  img: ImageListItem;
  other: ImageListItem;
  cls: number;
  cls2: number;
}

async function session(): Promise<Session> {
  const { ws, file, items } = await importedDataset(imageDir);
  expect(items).toHaveLength(8);
  const img = items.find((i) => i.path.endsWith('a.jpg'))!;
  const other = items.find((i) => i.path.endsWith('b.png'))!;
  const cls = (await ok(ws, 'classes:create', { name: 'cell' })).id;
  const cls2 = (await ok(ws, 'classes:create', { name: 'nucleus' })).id;
  return { ws, file, images: items, img, other, cls, cls2 };
}

async function journalRows(ws: Workspace): Promise<number> {
  return await ws.current!.db.prepare('SELECT count(*) FROM edit_journal').pluck().get() as number;
}

async function annotationRows(ws: Workspace): Promise<number> {
  return await ws.current!.db.prepare('SELECT count(*) FROM annotations').pluck().get() as number;
}

/** Stored state an edit may touch: rows, history, and image statuses. */
async function snapshot(ws: Workspace) {
  const db = ws.current!.db;
  return {
    annotations: await db.prepare('SELECT * FROM annotations ORDER BY id').all(),
    journal: await db.prepare('SELECT * FROM edit_journal ORDER BY id').all(),
    statuses: await db.prepare('SELECT id, status, updated_at FROM images ORDER BY id').all(),
  };
}

/** Undo and redo restore every field except version and updatedAt (see services/annotations.ts). */
const content = (list: AnnotationRecord[]) => list.map(({ version: _v, updatedAt: _u, ...rest }) => rest);

/** Geometry of every kind that is valid on a 64 x 48 image. */
const GEOMETRIES: Geometry[] = [
  { kind: 'box', x: 1, y: 2, w: 10, h: 8 },
  { kind: 'polygon', parts: [[0, 0, 10, 0, 10, 10, 0, 10]] },
  { kind: 'mask', rle: { size: [48, 64], counts: [100, 20, 48 * 64 - 120] } },
  { kind: 'point', x: 30, y: 20 },
  { kind: 'obb', cx: 32, cy: 24, w: 12, h: 6, angle: 0.3 },
  { kind: 'tag' },
];

describe('annotations:edit', () => {
  it('creates every kind, updates and deletes, and returns what changed', async () => {
    const { ws, img, cls, cls2 } = await session();
    expect((await ok(ws, 'images:get', { id: img.id })).status).toBe('new');
    const created = await ok(ws, 'annotations:edit', {
      imageId: img.id,
      label: 'draw',
      ops: GEOMETRIES.map((geometry, i) => ({ op: 'create', draft: { classId: i % 2 ? cls2 : cls, geometry, attributes: { i }, z: 5 - i } })),
    });
    expect(created.created).toHaveLength(6);
    expect(created.journalId).toBeGreaterThan(0);
    expect(created.label).toBe('draw');
    expect(created.deleted).toEqual([]);
    expect(created.changed.map((a) => a.id)).toEqual(created.created);
    created.changed.forEach((a, i) => {
      expect(a).toMatchObject({ imageId: img.id, kind: GEOMETRIES[i]!.kind, geometry: GEOMETRIES[i], source: 'human', modelRunId: null, score: null, version: 1, attributes: { i }, frame: 0 });
    });
    // The first edit of a new image puts it in progress.
    expect((await ok(ws, 'images:get', { id: img.id })).status).toBe('in_progress');

    // Listed by z, then id: the last created (z 0) comes first.
    const listed = await ok(ws, 'annotations:list', { imageId: img.id });
    expect(listed.map((a) => a.id)).toEqual([...created.created].reverse());
    expect(listed).toEqual([...created.changed].reverse());

    const [box, polygon, mask, point] = created.created as [number, number, number, number];
    const edited = await ok(ws, 'annotations:edit', {
      imageId: img.id,
      label: 'change',
      ops: [
        { op: 'update', id: polygon, patch: { geometry: { kind: 'polygon', parts: [[1, 1, 9, 1, 5, 9]] } }, baseVersion: 1 },
        { op: 'delete', id: mask },
        { op: 'update', id: box, patch: { classId: null, attributes: { occluded: true }, z: 9 } },
        { op: 'create', draft: { classId: cls, geometry: { kind: 'point', x: 1, y: 1 } } },
        { op: 'update', id: point, patch: { geometry: { kind: 'box', x: 0, y: 0, w: 4, h: 4 } } },
      ],
    });
    expect(edited.deleted).toEqual([mask]);
    expect(edited.created).toHaveLength(1);
    expect(edited.changed.map((a) => a.id)).toEqual([polygon, box, edited.created[0], point]);
    const byId = new Map((await ok(ws, 'annotations:list', { imageId: img.id })).map((a) => [a.id, a]));
    expect(byId.has(mask)).toBe(false);
    expect(byId.get(polygon)).toMatchObject({ version: 2, geometry: { parts: [[1, 1, 9, 1, 5, 9]] }, classId: cls2 });
    expect(byId.get(box)).toMatchObject({ version: 2, classId: null, attributes: { occluded: true }, z: 9, geometry: GEOMETRIES[0] });
    // A geometry of another kind changes the annotation's kind with it.
    expect(byId.get(point)).toMatchObject({ version: 2, kind: 'box' });
    expect(byId.get(edited.created[0]!)).toMatchObject({ version: 1, source: 'human', classId: cls });
    expect(byId.get(box)!.updatedAt).toBeGreaterThanOrEqual(byId.get(box)!.createdAt);
    expect(await ok(ws, 'annotations:history', { imageId: img.id })).toEqual({ canUndo: true, canRedo: false, undoLabel: 'change', redoLabel: null });
  });

  it('does not bump the version or write history when a patch equals the stored value', async () => {
    const { ws, img, cls } = await session();
    const { created } = await ok(ws, 'annotations:edit', {
      imageId: img.id,
      label: 'draw',
      ops: [{ op: 'create', draft: { classId: cls, geometry: { kind: 'box', x: 1, y: 2, w: 3, h: 4 }, attributes: { a: 1, b: 'x' } } }],
    });
    const before = await snapshot(ws);
    const same = await ok(ws, 'annotations:edit', {
      imageId: img.id,
      label: 'nothing',
      ops: [
        // Same values with keys in another order.
        { op: 'update', id: created[0]!, patch: { geometry: { kind: 'box', h: 4, w: 3, y: 2, x: 1 }, attributes: { b: 'x', a: 1 }, classId: cls, z: 0 } },
      ],
    });
    expect(same).toEqual({ journalId: 0, label: 'nothing', changed: [], deleted: [], created: [] });
    expect(await snapshot(ws)).toEqual(before);

    // Two ops that cancel out inside one edit are no change either; two that do not bump once.
    const id = created[0]!;
    const moveBack = await ok(ws, 'annotations:edit', {
      imageId: img.id,
      label: 'wiggle',
      ops: [
        { op: 'update', id, patch: { z: 3 } },
        { op: 'update', id, patch: { z: 0 } },
      ],
    });
    expect(moveBack.changed).toEqual([]);
    const twice = await ok(ws, 'annotations:edit', {
      imageId: img.id,
      label: 'twice',
      ops: [
        { op: 'update', id, patch: { z: 3 }, baseVersion: 1 },
        { op: 'update', id, patch: { classId: null }, baseVersion: 1 },
      ],
    });
    expect(twice.changed).toMatchObject([{ id, z: 3, classId: null, version: 2 }]);
  });

  it('keeps the source, model run and score when a prediction is edited', async () => {
    const { ws, img, cls } = await session();
    const db = ws.current!.db;
    const run = await insertModelRun(db, { model: 'yolo', provider: 'cpu' });
    const [pred] = await insertAnnotations(db, [{ imageId: img.id, classId: cls, geometry: { kind: 'box', x: 1, y: 1, w: 5, h: 5 }, source: 'model', modelRunId: run, score: 0.8 }], 1000);
    const r = await ok(ws, 'annotations:edit', {
      imageId: img.id,
      label: 'resize',
      ops: [{ op: 'update', id: pred!, patch: { geometry: { kind: 'box', x: 1, y: 1, w: 6, h: 6 } } }],
    });
    expect(r.changed).toMatchObject([{ id: pred, source: 'model', modelRunId: run, score: 0.8, createdAt: 1000, version: 2 }]);
  });

  const invalid: [string, Geometry, RegExp][] = [
    ['a zero-area box', { kind: 'box', x: 5, y: 5, w: 0, h: 10 }, /zero area/],
    ['a polygon with 2 distinct vertices', { kind: 'polygon', parts: [[0, 0, 10, 10, 0, 0, 10, 10]] }, /3 distinct vertices/],
    ['an empty mask', { kind: 'mask', rle: { size: [48, 64], counts: [48 * 64] } }, /empty mask/],
    ['a mask of the wrong size', { kind: 'mask', rle: { size: [64, 48], counts: [0, 64 * 48] } }, /64x48|48x64/],
  ];

  it.each(invalid)('refuses %s with INVALID_GEOMETRY naming the op, and writes nothing', async (_name, geometry, reason) => {
    const { ws, img, cls } = await session();
    const { created } = await ok(ws, 'annotations:edit', {
      imageId: img.id,
      label: 'seed',
      ops: [{ op: 'create', draft: { classId: cls, geometry: GEOMETRIES[0]! } }],
    });
    await ok(ws, 'images:setStatus', { ids: [img.id], status: 'new' });
    const before = await snapshot(ws);
    expect(await annotationRows(ws)).toBe(1);
    expect(await journalRows(ws)).toBe(1);
    for (const ops of [
      [{ op: 'create', draft: { classId: cls, geometry: GEOMETRIES[3]! } }, { op: 'create', draft: { classId: cls, geometry } }],
      [{ op: 'update', id: created[0]!, patch: { z: 3 } }, { op: 'update', id: created[0]!, patch: { geometry } }],
    ] as EditOp[][]) {
      const err = await fails(ws, 'annotations:edit', { imageId: img.id, label: 'bad', ops });
      expect(err.code).toBe('INVALID_GEOMETRY');
      expect(err.message).toMatch(/^op 1: /);
      expect(err.message).toMatch(reason);
      expect(err.detail).toMatchObject({ op: 1 });
    }
    expect(await annotationRows(ws)).toBe(1);
    expect(await journalRows(ws)).toBe(1);
    expect(await snapshot(ws)).toEqual(before);
  });

  it('writes nothing when an op in the middle of a batch fails, whatever the reason', async () => {
    const { ws, img, other, cls } = await session();
    const { created } = await ok(ws, 'annotations:edit', {
      imageId: img.id,
      label: 'seed',
      ops: [
        { op: 'create', draft: { classId: cls, geometry: GEOMETRIES[0]! } },
        { op: 'create', draft: { classId: cls, geometry: GEOMETRIES[3]! } },
      ],
    });
    const elsewhere = await ok(ws, 'annotations:edit', {
      imageId: other.id,
      label: 'seed',
      ops: [{ op: 'create', draft: { classId: cls, geometry: { kind: 'tag' } } }],
    });
    const [a, b] = created as [number, number];
    const good: EditOp[] = [
      { op: 'create', draft: { classId: cls, geometry: GEOMETRIES[1]! } },
      { op: 'update', id: a, patch: { z: 4 } },
      { op: 'delete', id: b },
    ];
    const before = await snapshot(ws);
    const cases: [EditOp, string][] = [
      [{ op: 'delete', id: 999_999 }, 'NOT_FOUND'],
      [{ op: 'update', id: elsewhere.created[0]!, patch: { z: 1 } }, 'NOT_FOUND'],
      [{ op: 'delete', id: b }, 'NOT_FOUND'], // deleted earlier in the same batch
      [{ op: 'create', draft: { classId: 4242, geometry: GEOMETRIES[0]! } }, 'INVALID_ARGUMENT'],
      [{ op: 'update', id: a, patch: { classId: 4242 } }, 'INVALID_ARGUMENT'],
      [{ op: 'create', draft: { classId: cls, geometry: GEOMETRIES[0]!, frame: 1 } }, 'INVALID_ARGUMENT'],
      [{ op: 'update', id: a, patch: { z: 1 }, baseVersion: 7 }, 'STALE_EDIT'],
    ];
    for (const [bad, code] of cases) {
      const err = await fails(ws, 'annotations:edit', { imageId: img.id, label: 'batch', ops: [...good, bad, good[0]!] });
      expect(err.code, JSON.stringify(bad)).toBe(code);
      expect(err.message).toMatch(/^op 3: /);
      expect(await snapshot(ws)).toEqual(before);
    }
    expect(await fails(ws, 'annotations:edit', { imageId: 999_999, label: 'x', ops: good })).toMatchObject({ code: 'NOT_FOUND' });
    // The same batch without the failing op goes through.
    expect((await ok(ws, 'annotations:edit', { imageId: img.id, label: 'batch', ops: good })).deleted).toEqual([b]);
  });

  it('refuses an update made on an older version with STALE_EDIT', async () => {
    const { ws, img, cls } = await session();
    const { created } = await ok(ws, 'annotations:edit', {
      imageId: img.id,
      label: 'draw',
      ops: [{ op: 'create', draft: { classId: cls, geometry: GEOMETRIES[0]! } }],
    });
    const id = created[0]!;
    await ok(ws, 'annotations:edit', { imageId: img.id, label: 'move', ops: [{ op: 'update', id, patch: { z: 1 }, baseVersion: 1 }] });
    const before = await snapshot(ws);
    const err = await fails(ws, 'annotations:edit', { imageId: img.id, label: 'late', ops: [{ op: 'update', id, patch: { z: 2 }, baseVersion: 1 }] });
    expect(err).toMatchObject({ code: 'STALE_EDIT', detail: { id, version: 2 } });
    expect(await snapshot(ws)).toEqual(before);
  });
});

describe('annotations:undo and annotations:redo', () => {
  /** A session with a human box and a prediction on the image, made outside the history. */
  async function seeded() {
    const s = await session();
    const db = s.ws.current!.db;
    const run = await insertModelRun(db, { model: 'yolo', provider: 'cpu' });
    const [human, pred] = await insertAnnotations(
      db,
      [
        { imageId: s.img.id, classId: s.cls, geometry: { kind: 'box', x: 1, y: 1, w: 4, h: 4 }, source: 'human', attributes: { k: 'v' }, z: 1 },
        { imageId: s.img.id, classId: s.cls2, geometry: { kind: 'polygon', parts: [[0, 0, 8, 0, 8, 8]] }, source: 'model', modelRunId: run, score: 0.42 },
      ],
      1234,
    );
    return { ...s, human: human!, pred: pred!, run };
  }

  it('round-trips an edit exactly, with versions that only grow', async () => {
    const { ws, img, cls, human, pred, run } = await seeded();
    const l0 = await ok(ws, 'annotations:list', { imageId: img.id });
    expect(await ok(ws, 'annotations:undo', { imageId: img.id })).toBeNull();
    expect(await ok(ws, 'annotations:redo', { imageId: img.id })).toBeNull();

    const edit = await ok(ws, 'annotations:edit', {
      imageId: img.id,
      label: 'mixed',
      ops: [
        { op: 'create', draft: { classId: cls, geometry: GEOMETRIES[2]! } },
        { op: 'update', id: human, patch: { geometry: { kind: 'box', x: 2, y: 2, w: 6, h: 6 }, attributes: {} } },
        { op: 'delete', id: pred },
        { op: 'create', draft: { classId: null, geometry: { kind: 'tag' }, attributes: { good: true } } },
      ],
    });
    const l1 = await ok(ws, 'annotations:list', { imageId: img.id });
    const seen = new Map<number, number>();
    const grows = (list: AnnotationRecord[]) => {
      for (const a of list) {
        expect(a.version, `version of ${a.id}`).toBeGreaterThan(seen.get(a.id) ?? 0);
        seen.set(a.id, a.version);
      }
    };
    grows(l0);
    grows(l1);

    const undone = await ok(ws, 'annotations:undo', { imageId: img.id });
    expect(undone).toMatchObject({ journalId: edit.journalId, label: 'mixed', deleted: edit.created, created: [pred] });
    const l2 = await ok(ws, 'annotations:list', { imageId: img.id });
    expect(content(l2)).toEqual(content(l0));
    // The deleted prediction is back with its id and every field: created_at, source, run, score.
    expect(l2.find((a) => a.id === pred)).toMatchObject({ source: 'model', modelRunId: run, score: 0.42, createdAt: 1234, version: 2 });
    // The updated box has its old value with version = current + 1.
    expect(l2.find((a) => a.id === human)).toMatchObject({ version: 3, attributes: { k: 'v' }, geometry: { w: 4 } });
    // What changed, in the order the edit named the annotations, as stored now.
    expect(undone!.changed.map((a) => a.id)).toEqual([human, pred]);
    for (const a of undone!.changed) expect(a).toEqual(l2.find((x) => x.id === a.id));
    grows(l2);
    expect(await ok(ws, 'annotations:history', { imageId: img.id })).toEqual({ canUndo: false, canRedo: true, undoLabel: null, redoLabel: 'mixed' });

    const redone = await ok(ws, 'annotations:redo', { imageId: img.id });
    expect(redone).toMatchObject({ journalId: edit.journalId, deleted: [pred], created: edit.created });
    const l3 = await ok(ws, 'annotations:list', { imageId: img.id });
    // Created annotations come back under the same ids.
    expect(content(l3)).toEqual(content(l1));
    grows(l3);
    expect(l3.find((a) => a.id === edit.created[0])!.version).toBe(2);

    // Further round trips keep restoring the same contents and keep versions growing.
    for (let i = 0; i < 2; i++) {
      await ok(ws, 'annotations:undo', { imageId: img.id });
      const u = await ok(ws, 'annotations:list', { imageId: img.id });
      expect(content(u)).toEqual(content(l0));
      grows(u);
      await ok(ws, 'annotations:redo', { imageId: img.id });
      const r = await ok(ws, 'annotations:list', { imageId: img.id });
      expect(content(r)).toEqual(content(l1));
      grows(r);
    }
    expect(await ok(ws, 'annotations:redo', { imageId: img.id })).toBeNull();
  });

  it('undoes several edits in order, and a new edit ends the redo branch', async () => {
    const { ws, img, cls } = await session();
    const states: AnnotationRecord[][] = [await ok(ws, 'annotations:list', { imageId: img.id })];
    const a = await ok(ws, 'annotations:edit', { imageId: img.id, label: 'A', ops: [{ op: 'create', draft: { classId: cls, geometry: GEOMETRIES[0]! } }] });
    states.push(await ok(ws, 'annotations:list', { imageId: img.id }));
    const id = a.created[0]!;
    await ok(ws, 'annotations:edit', { imageId: img.id, label: 'B', ops: [{ op: 'update', id, patch: { z: 5 } }] });
    states.push(await ok(ws, 'annotations:list', { imageId: img.id }));
    await ok(ws, 'annotations:edit', { imageId: img.id, label: 'C', ops: [{ op: 'update', id, patch: { z: 6 } }] });

    expect((await ok(ws, 'annotations:undo', { imageId: img.id }))!.label).toBe('C');
    expect(content(await ok(ws, 'annotations:list', { imageId: img.id }))).toEqual(content(states[2]!));
    expect((await ok(ws, 'annotations:undo', { imageId: img.id }))!.label).toBe('B');
    expect(content(await ok(ws, 'annotations:list', { imageId: img.id }))).toEqual(content(states[1]!));
    expect(await ok(ws, 'annotations:history', { imageId: img.id })).toEqual({ canUndo: true, canRedo: true, undoLabel: 'A', redoLabel: 'B' });

    await ok(ws, 'annotations:edit', { imageId: img.id, label: 'D', ops: [{ op: 'update', id, patch: { z: 7 } }] });
    expect(await ok(ws, 'annotations:history', { imageId: img.id })).toEqual({ canUndo: true, canRedo: false, undoLabel: 'D', redoLabel: null });
    expect(await ok(ws, 'annotations:redo', { imageId: img.id })).toBeNull();
    expect((await ok(ws, 'annotations:undo', { imageId: img.id }))!.label).toBe('D');
    expect((await ok(ws, 'annotations:undo', { imageId: img.id }))!.label).toBe('A');
    expect(await ok(ws, 'annotations:list', { imageId: img.id })).toEqual([]);
    expect(await ok(ws, 'annotations:undo', { imageId: img.id })).toBeNull();
  });

  it('keeps each image its own history', async () => {
    const { ws, img, other, cls } = await session();
    await ok(ws, 'annotations:edit', { imageId: img.id, label: 'on a', ops: [{ op: 'create', draft: { classId: cls, geometry: GEOMETRIES[0]! } }] });
    await ok(ws, 'annotations:edit', { imageId: other.id, label: 'on b', ops: [{ op: 'create', draft: { classId: cls, geometry: { kind: 'tag' } } }] });
    expect((await ok(ws, 'annotations:undo', { imageId: img.id }))!.label).toBe('on a');
    expect(await ok(ws, 'annotations:list', { imageId: img.id })).toEqual([]);
    expect(await ok(ws, 'annotations:list', { imageId: other.id })).toHaveLength(1);
    expect(await ok(ws, 'annotations:history', { imageId: other.id })).toMatchObject({ undoLabel: 'on b', canRedo: false });
    expect(await fails(ws, 'annotations:undo', { imageId: 999_999 })).toMatchObject({ code: 'NOT_FOUND' });
    expect(await fails(ws, 'annotations:list', { imageId: 999_999 })).toMatchObject({ code: 'NOT_FOUND' });
  });

  it('never gives an undone annotation id to a new annotation, so redo cannot collide', async () => {
    const { ws, img, other, cls } = await session();
    const a = await ok(ws, 'annotations:edit', { imageId: img.id, label: 'draw', ops: [{ op: 'create', draft: { classId: cls, geometry: GEOMETRIES[0]! } }] });
    await ok(ws, 'annotations:undo', { imageId: img.id });
    const b = await ok(ws, 'annotations:edit', { imageId: other.id, label: 'draw', ops: [{ op: 'create', draft: { classId: cls, geometry: { kind: 'tag' } } }] });
    expect(b.created[0]).toBeGreaterThan(a.created[0]!);
    const redone = await ok(ws, 'annotations:redo', { imageId: img.id });
    expect(redone!.created).toEqual(a.created);
    expect((await ok(ws, 'annotations:list', { imageId: other.id })).map((x) => x.id)).toEqual(b.created);
  });

  it('undoes and redoes after the dataset is closed and opened again', async () => {
    const { ws, file, img, cls, human } = await seeded();
    const l0 = await ok(ws, 'annotations:list', { imageId: img.id });
    await ok(ws, 'annotations:edit', {
      imageId: img.id,
      label: 'before restart',
      ops: [
        { op: 'delete', id: human },
        { op: 'create', draft: { classId: cls, geometry: GEOMETRIES[1]! } },
      ],
    });
    const l1 = await ok(ws, 'annotations:list', { imageId: img.id });
    await ok(ws, 'dataset:close', {});

    const ws2 = newWorkspace(tempDir());
    await ok(ws2, 'dataset:open', { path: file });
    expect(await ok(ws2, 'annotations:history', { imageId: img.id })).toMatchObject({ canUndo: true, undoLabel: 'before restart' });
    expect((await ok(ws2, 'annotations:undo', { imageId: img.id }))!.created).toEqual([human]);
    expect(content(await ok(ws2, 'annotations:list', { imageId: img.id }))).toEqual(content(l0));
    await ok(ws2, 'dataset:close', {});
    await ok(ws2, 'dataset:open', { path: file });
    await ok(ws2, 'annotations:redo', { imageId: img.id });
    expect(content(await ok(ws2, 'annotations:list', { imageId: img.id }))).toEqual(content(l1));
    await ok(ws2, 'dataset:close', {});
  });

  it('refuses an entry that no longer fits the annotations with STALE_EDIT, and drops that history', async () => {
    const { ws, img, cls } = await session();
    const a = await ok(ws, 'annotations:edit', { imageId: img.id, label: 'draw', ops: [{ op: 'create', draft: { classId: cls, geometry: GEOMETRIES[0]! } }] });
    await ok(ws, 'annotations:edit', { imageId: img.id, label: 'move', ops: [{ op: 'update', id: a.created[0]!, patch: { z: 2 } }] });
    // Something outside the editor (an import, pre-labeling) removes the annotation.
    await deleteAnnotationsByIds(ws.current!.db, a.created);
    const before = await annotationRows(ws);
    expect(await fails(ws, 'annotations:undo', { imageId: img.id })).toMatchObject({ code: 'STALE_EDIT' });
    expect(await annotationRows(ws)).toBe(before);
    expect(await ok(ws, 'annotations:history', { imageId: img.id })).toEqual({ canUndo: false, canRedo: false, undoLabel: null, redoLabel: null });
    expect(await ok(ws, 'annotations:undo', { imageId: img.id })).toBeNull();
  });
});

describe('images:findNext', () => {
  it('finds the next unlabeled or not-done image in list order, wrapping round', async () => {
    const { ws, images, cls } = await session();
    const ids = images.map((i) => i.id);
    const label = (id: number) =>
      ok(ws, 'annotations:edit', { imageId: id, label: 'tag', ops: [{ op: 'create', draft: { classId: cls, geometry: { kind: 'tag' } } }] });
    await label(ids[0]!);
    await label(ids[1]!);
    await label(ids[5]!);
    await ok(ws, 'images:setStatus', { ids: [ids[2]!], status: 'done' });
    await ok(ws, 'images:setStatus', { ids: [ids[3]!], status: 'reviewed' });
    await ok(ws, 'images:setStatus', { ids: [ids[1]!, ids[7]!], status: 'done' });
    // unlabeled: 2, 3, 4, 6, 7 (positions); not done: 0, 4, 5, 6.
    const next = (want: 'unlabeled' | 'not_done', afterId?: number, filter = {}) => ok(ws, 'images:findNext', { want, afterId, filter });

    expect(await next('unlabeled')).toEqual({ id: ids[2], index: 2 });
    expect(await next('unlabeled', ids[2])).toEqual({ id: ids[3], index: 3 });
    expect(await next('unlabeled', ids[4])).toEqual({ id: ids[6], index: 6 });
    expect(await next('unlabeled', ids[7])).toEqual({ id: ids[2], index: 2 });
    expect(await next('not_done')).toEqual({ id: ids[0], index: 0 });
    expect(await next('not_done', ids[0])).toEqual({ id: ids[4], index: 4 });
    expect(await next('not_done', ids[6])).toEqual({ id: ids[0], index: 0 });

    // The index is the position in the filtered list, as images:list pages it.
    const done = await ok(ws, 'images:list', { filter: { status: 'done' } });
    expect(done.items.map((i) => i.id)).toEqual([ids[1], ids[2], ids[7]]);
    expect(await next('unlabeled', ids[2], { status: 'done' })).toEqual({ id: ids[7], index: 2 });
    expect(await next('unlabeled', ids[7], { status: 'done' })).toEqual({ id: ids[2], index: 1 });
    expect(await next('not_done', undefined, { status: 'done' })).toBeNull();

    // The image asked from is not its own next; with no other match the answer is null.
    for (const id of [ids[2]!, ids[3]!, ids[4]!, ids[7]!]) await label(id);
    expect(await next('unlabeled', ids[6])).toBeNull();
    expect(await next('unlabeled', ids[0])).toEqual({ id: ids[6], index: 6 });
  });
});

describe('image status', () => {
  it('leaves a status other than new alone when the image is edited', async () => {
    const { ws, img, cls } = await session();
    await ok(ws, 'images:setStatus', { ids: [img.id], status: 'done' });
    await ok(ws, 'annotations:edit', { imageId: img.id, label: 'fix', ops: [{ op: 'create', draft: { classId: cls, geometry: { kind: 'tag' } } }] });
    const d: ImageDetail = await ok(ws, 'images:get', { id: img.id });
    expect(d.status).toBe('done');
    expect(d.annotationCount).toBe(1);
  });
});
