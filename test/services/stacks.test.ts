import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Geometry } from '../../src-main/common/model';
import { INTERPOLATED_ATTRIBUTE } from '../../src-main/common/stacks';
import type { Workspace } from '../../src-main/services/workspace';
import { writeCtSeries, type SeriesSlice } from '../helpers/dicomSeries';
import { openStore } from '../helpers/engine';
import { sharedPath, tempDir } from '../helpers/shared';
import { fails, newWorkspace, ok } from '../helpers/workspace';

const CT = 'datasets/dicom_pydicom/CT_small.dcm';
const RTDOSE = 'datasets/dicom_pydicom/rtdose.dcm';
/** File names of slices 0..4 in position order: their name order is c, a, e, b, d. */
const NAMES = ['s-c.dcm', 's-a.dcm', 's-e.dcm', 's-b.dcm', 's-d.dcm'];

let dir: string;
let ws: Workspace;
let cls: number;

async function dataset(): Promise<void> {
  ws = newWorkspace(path.join(dir, 'config'));
  await ok(ws, 'dataset:create', { path: path.join(dir, 'd.tessera'), root: dir });
  cls = (await ok(ws, 'classes:create', { name: 'lesion' })).id;
}

async function importDir(sub: string): Promise<void> {
  const r = await ok(ws, 'images:import', { jobId: 'imp', paths: [path.join(dir, sub)] });
  expect(r.problems).toEqual([]);
}

async function draw(imageId: number, geometry: Geometry, frame = 0): Promise<number> {
  const r = await ok(ws, 'annotations:edit', { imageId, label: 'draw', ops: [{ op: 'create', draft: { classId: cls, geometry, frame } }] });
  return r.created[0]!;
}

const box = (x: number, y: number, w: number, h: number): Geometry => ({ kind: 'box', x, y, w, h });

beforeEach(async () => {
  dir = tempDir('tessera-stacks-');
  await dataset();
});

afterEach(async () => {
  await ws.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('a DICOM series of separate files', () => {
  let slices: SeriesSlice[];
  /** Image ids in position order. */
  let ids: number[];

  beforeEach(async (ctx) => {
    const src = sharedPath(CT);
    if (!src) return ctx.skip();
    slices = writeCtSeries(src, path.join(dir, 'ct'), NAMES);
    await importDir('ct');
    const { items } = await ok(ws, 'images:list', {});
    expect(items).toHaveLength(1);
    const got = await ok(ws, 'stacks:get', { id: items[0]!.stack!.id });
    ids = got.members.map((m) => m.id);
  });

  it('forms one stack, one grid tile with its slice count, ordered by Image Position along the normal, not by name', async () => {
    expect(await ok(ws, 'images:count', {})).toBe(1);
    const { items } = await ok(ws, 'images:list', {});
    expect(items[0]!.stack).toMatchObject({ kind: 'dicom', order: 'position', slices: 5 });
    const got = await ok(ws, 'stacks:get', { id: items[0]!.stack!.id });
    expect(got.members.map((m) => path.basename(m.path))).toEqual(NAMES);
    // The file name order would be a, b, c, d, e: the stack is not in that order.
    expect([...NAMES].sort()).not.toEqual(NAMES);
    // The tile is the middle slice.
    expect(items[0]!.id).toBe(ids[2]);
    // Five images all the same: the dataset still counts each file.
    expect((await ok(ws, 'dataset:info', {})).images.total).toBe(5);
    expect(got.viewedImageId).toBeNull();
    expect(await ok(ws, 'stacks:setViewed', { id: got.stack.id, imageId: ids[3]! })).toBe(true);
    expect((await ok(ws, 'stacks:get', { id: got.stack.id })).viewedImageId).toBe(ids[3]);
    expect(await ok(ws, 'stacks:setViewed', { id: got.stack.id, imageId: 999 })).toBe(false);
  });

  it('interpolates a box between slices 1 and 5: slice 3 holds the exact linear interpolation, marked until edited', async () => {
    const a = await draw(ids[0]!, box(10, 20, 30, 40));
    const e = await draw(ids[4]!, box(50, 60, 70, 20));
    const r = await ok(ws, 'stacks:interpolate', { imageId: ids[0]!, id: a });
    expect(r).toMatchObject({ slices: 3, created: 3, images: 3, from: 0, to: 4, replaced: 0 });
    const on = async (k: number) => (await ok(ws, 'annotations:list', { imageId: ids[k]! })).filter((x) => x.kind === 'box');
    const third = await on(2);
    expect(third).toHaveLength(1);
    expect(third[0]!.geometry).toEqual(box(30, 40, 50, 30));
    // The mark names the two key shapes, lower id first.
    expect(third[0]!.attributes[INTERPOLATED_ATTRIBUTE]).toBe(`${Math.min(a, e)}-${Math.max(a, e)}`);
    expect((await on(1))[0]!.geometry).toEqual(box(20, 30, 40, 35));
    expect((await on(3))[0]!.geometry).toEqual(box(40, 50, 60, 25));
    // Editing the shape makes it a key shape: the mark goes.
    const edited = await ok(ws, 'annotations:edit', { imageId: ids[2]!, label: 'move', ops: [{ op: 'update', id: third[0]!.id, patch: { geometry: box(31, 40, 50, 30) } }] });
    expect(edited.changed[0]!.attributes[INTERPOLATED_ATTRIBUTE]).toBeUndefined();
    // One undo step per slice written: undo on slice 4 removes its interpolated box only.
    expect((await ok(ws, 'annotations:history', { imageId: ids[3]! })).undoLabel).toBe('Interpolate box');
    await ok(ws, 'annotations:undo', { imageId: ids[3]! });
    expect(await on(3)).toHaveLength(0);
    expect(await on(1)).toHaveLength(1);
    // Interpolating again replaces the interpolated shapes between the keys, not the edited key.
    const again = await ok(ws, 'stacks:interpolate', { imageId: ids[4]!, id: (await on(4))[0]!.id });
    expect(again).toMatchObject({ from: 2, to: 4, created: 1 });
    expect((await on(3))[0]!.geometry).toEqual(box(40.5, 50, 60, 25));
    expect(await on(1)).toHaveLength(1);
  });

  it('interpolates one object towards its own key, not towards another object of the class nearer in slices, and keeps the other object\'s interpolations', async () => {
    // Lesion A: keys on slices 1 and 5 at the top left; lesion B: a key on slice 3 at the bottom right.
    const a0 = await draw(ids[0]!, box(0, 0, 20, 20));
    const a4 = await draw(ids[4]!, box(4, 0, 20, 20));
    const b2 = await draw(ids[2]!, box(100, 100, 10, 10));
    const on = async (k: number) => (await ok(ws, 'annotations:list', { imageId: ids[k]! })).filter((x) => x.kind === 'box');
    const r = await ok(ws, 'stacks:interpolate', { imageId: ids[0]!, id: a0 });
    expect(r).toMatchObject({ from: 0, to: 4, created: 3, replaced: 0 });
    // Slice 3 holds A's interpolation (one step of 1 px per slice), not a morph into B.
    expect((await on(2)).map((x) => x.geometry)).toEqual(expect.arrayContaining([box(2, 0, 20, 20), box(100, 100, 10, 10)]));
    expect((await on(1)).map((x) => x.geometry)).toEqual([box(1, 0, 20, 20)]);
    // B gets a second key on slice 5; interpolating B (3 to 5) leaves A's slice-4 shape alone.
    const b4 = await draw(ids[4]!, box(102, 100, 10, 10));
    const rb = await ok(ws, 'stacks:interpolate', { imageId: ids[2]!, id: b2 });
    expect(rb).toMatchObject({ from: 2, to: 4, created: 1, replaced: 0 });
    expect((await on(3)).map((x) => [x.geometry, x.attributes[INTERPOLATED_ATTRIBUTE]])).toEqual(
      expect.arrayContaining([
        [box(3, 0, 20, 20), `${a0}-${a4}`],
        [box(101, 100, 10, 10), `${Math.min(b2, b4)}-${Math.max(b2, b4)}`],
      ]),
    );
    expect(await on(3)).toHaveLength(2);
    // Interpolating A again replaces A's three interpolated shapes only, and says so.
    const again = await ok(ws, 'stacks:interpolate', { imageId: ids[4]!, id: a4 });
    expect(again).toMatchObject({ from: 0, to: 4, created: 3, replaced: 3 });
    expect(await on(3)).toHaveLength(2);
    expect(await on(1)).toHaveLength(1);
    // A third lesion key overlapping A on slice 5 makes A's target ambiguous: refused, nothing written.
    await draw(ids[4]!, box(10, 10, 20, 20));
    const refused = await fails(ws, 'stacks:interpolate', { imageId: ids[0]!, id: a0 });
    expect(refused.code).toBe('INVALID_ARGUMENT');
    expect(refused.message).toMatch(/several boxes of this class on slice 5 overlap/);
    // Named explicitly, the target is used.
    expect(await ok(ws, 'stacks:interpolate', { imageId: ids[0]!, id: a0, toId: a4 })).toMatchObject({ from: 0, to: 4, replaced: 3 });
    // Several keys of the class, none overlapping: refused rather than guessed.
    const lone = await draw(ids[1]!, box(100, 0, 5, 5));
    expect((await fails(ws, 'stacks:interpolate', { imageId: ids[1]!, id: lone })).message).toMatch(/no box of this class on another slice overlaps/);
  });

  it('replaces shapes interpolated before the keys were recorded (marked true) only where they overlap the new ones', async () => {
    const a = await draw(ids[0]!, box(0, 0, 20, 20));
    await draw(ids[4]!, box(4, 0, 20, 20));
    const legacy = async (k: number, g: Geometry) =>
      (await ok(ws, 'annotations:edit', { imageId: ids[k]!, label: 'old', ops: [{ op: 'create', draft: { classId: cls, geometry: g, attributes: { [INTERPOLATED_ATTRIBUTE]: true } } }] })).created[0]!;
    const over = await legacy(2, box(1, 1, 20, 20));
    const apart = await legacy(2, box(90, 90, 10, 10));
    const r = await ok(ws, 'stacks:interpolate', { imageId: ids[0]!, id: a });
    expect(r).toMatchObject({ created: 3, replaced: 1 });
    const left = (await ok(ws, 'annotations:list', { imageId: ids[2]! })).map((x) => x.id);
    expect(left).not.toContain(over);
    expect(left).toContain(apart);
  });

  it('interpolates polygons resampled to one vertex count and aligned on the nearest starting vertex', async () => {
    const square = { kind: 'polygon' as const, parts: [[0, 0, 40, 0, 40, 40, 0, 40]] };
    // The same square moved by (20, 10), listed from another corner and the other way round.
    const moved = { kind: 'polygon' as const, parts: [[60, 50, 60, 10, 20, 10, 20, 50]] };
    const a = await draw(ids[1]!, square);
    await draw(ids[3]!, moved);
    await ok(ws, 'stacks:interpolate', { imageId: ids[1]!, id: a });
    const mid = (await ok(ws, 'annotations:list', { imageId: ids[2]! }))[0]!;
    expect(mid.geometry).toEqual({ kind: 'polygon', parts: [[10, 5, 50, 5, 50, 45, 10, 45]] });
  });

  it('propagates the selected shapes to the next 2 slices, one undo step on each', async () => {
    const a = await draw(ids[1]!, box(5, 6, 7, 8));
    const r = await ok(ws, 'stacks:propagate', { imageId: ids[1]!, frame: 0, ids: [a], count: 2 });
    expect(r).toMatchObject({ slices: 2, created: 2, images: 2 });
    for (const k of [2, 3]) {
      const list = await ok(ws, 'annotations:list', { imageId: ids[k]! });
      expect(list.map((x) => [x.geometry, x.classId])).toEqual([[box(5, 6, 7, 8), cls]]);
      expect((await ok(ws, 'annotations:history', { imageId: ids[k]! })).undoLabel).toBe('Copy to next 2 slices');
    }
    expect(await ok(ws, 'annotations:list', { imageId: ids[4]! })).toHaveLength(0);
    // At the end of the stack fewer slices receive copies; past it there is nothing to copy to.
    expect((await ok(ws, 'stacks:propagate', { imageId: ids[3]!, frame: 0, ids: [(await ok(ws, 'annotations:list', { imageId: ids[3]! }))[0]!.id], count: 5 })).slices).toBe(1);
    const last = (await ok(ws, 'annotations:list', { imageId: ids[4]! }))[0]!.id;
    expect((await fails(ws, 'stacks:propagate', { imageId: ids[4]!, frame: 0, ids: [last], count: 1 })).code).toBe('INVALID_ARGUMENT');
  });

  it('counts a stack once in the grid whichever slice matches a filter, and finds a slice at its tile', async () => {
    await draw(ids[3]!, box(1, 1, 5, 5));
    expect(await ok(ws, 'images:count', { filter: { classId: cls } })).toBe(1);
    const { items } = await ok(ws, 'images:list', { filter: { classId: cls } });
    expect(items[0]!.stack?.slices).toBe(5);
    expect(items[0]!.annotationCount).toBe(1);
    expect(items[0]!.status).toBe('in_progress');
    expect(await ok(ws, 'images:statusCounts', { filter: {} })).toMatchObject({ new: 4, in_progress: 1 });
    const next = await ok(ws, 'images:findNext', { filter: {}, afterId: ids[3], want: 'unlabeled' });
    expect(next).not.toBeNull();
    expect(next!.index).toBe(0);
    // The error browser and review find a slice at its stack's tile; a slice the filter hides is not found.
    expect(await ok(ws, 'images:locate', { filter: { classId: cls }, id: ids[3]! })).toBe(0);
    expect(await ok(ws, 'images:locate', { filter: { classId: cls }, id: ids[0]! })).toBeNull();
  });

  it('shares one window across the slices: a window set on one slice is the one every slice opens with', async () => {
    await ok(ws, 'imaging:setWindow', { imageId: ids[3]!, window: { center: 40, width: 400 } });
    await ok(ws, 'imaging:setWindow', { imageId: ids[0]!, window: { center: -600, width: 1500 } });
    for (const id of ids) {
      const w = await ok(ws, 'imaging:getWindow', { imageId: id });
      expect(w.window).toEqual({ center: -600, width: 1500 });
    }
  });

  it('plans stacks once for a dataset from before stacks existed, when it is opened', async () => {
    const file = path.join(dir, 'd.tessera');
    await ok(ws, 'dataset:close', {});
    const db = await openStore(file);
    await db.exec("DELETE FROM stacks; DELETE FROM meta WHERE key = 'stacks_planned'");
    await db.close();
    await ok(ws, 'dataset:open', { path: file });
    expect(await ok(ws, 'images:count', {})).toBe(1);
  });
});

describe('frames of one multi-frame image as slices', () => {
  it('propagates and interpolates across the 15 frames of rtdose.dcm, one undo step for the image', async (ctx) => {
    const src = sharedPath(RTDOSE);
    if (!src) return ctx.skip();
    fs.mkdirSync(path.join(dir, 'rt'));
    fs.copyFileSync(src, path.join(dir, 'rt', 'rtdose.dcm'));
    await importDir('rt');
    const { items } = await ok(ws, 'images:list', {});
    expect(items[0]!.frames).toBe(15);
    expect(items[0]!.stack).toBeUndefined();
    const id = items[0]!.id;
    const a = await draw(id, box(2, 2, 4, 4), 0);
    await draw(id, box(6, 2, 4, 8), 4);
    const r = await ok(ws, 'stacks:interpolate', { imageId: id, id: a });
    expect(r).toMatchObject({ slices: 3, images: 1, from: 0, to: 4 });
    const list = await ok(ws, 'annotations:list', { imageId: id });
    expect(list.find((x) => x.frame === 2)!.geometry).toEqual(box(4, 2, 4, 6));
    const p = await ok(ws, 'stacks:propagate', { imageId: id, frame: 4, ids: [list.find((x) => x.frame === 4)!.id], count: 2 });
    expect(p).toMatchObject({ slices: 2, images: 1 });
    const after = await ok(ws, 'annotations:list', { imageId: id });
    expect(after.filter((x) => x.frame === 5 || x.frame === 6).map((x) => x.geometry)).toEqual([box(6, 2, 4, 8), box(6, 2, 4, 8)]);
    await ok(ws, 'annotations:undo', { imageId: id });
    expect((await ok(ws, 'annotations:list', { imageId: id })).filter((x) => x.frame > 4)).toHaveLength(0);
  });
});

describe('numbered image sequences', () => {
  async function grey(file: string, v: number, w = 32, h = 24): Promise<void> {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    await sharp(Buffer.alloc(w * h, v), { raw: { width: w, height: h, channels: 1 } }).toColourspace('b-w').png().toFile(file);
  }

  it('greyscale PNGs named with a zero-padded number form one stack in number order; colour files, short runs and odd sizes do not', async () => {
    // Numbers out of name-sort order once padded differently would be wrong: all have 4 digits.
    for (const [n, v] of [[3, 30], [1, 10], [2, 20], [10, 100]] as const) await grey(path.join(dir, 'seq', `cell_${String(n).padStart(4, '0')}.png`), v);
    await grey(path.join(dir, 'seq', 'cell_0004.png'), 40, 64, 24); // another size: not a slice
    await grey(path.join(dir, 'seq', 'other0001.png'), 1);
    await grey(path.join(dir, 'seq', 'other0002.png'), 2); // two files are not a stack
    for (const n of [1, 2, 3]) {
      await sharp({ create: { width: 32, height: 24, channels: 3, background: { r: n * 50, g: 0, b: 0 } } }).png().toFile(path.join(dir, 'seq', `IMG_000${n}.png`));
    }
    await importDir('seq');
    // 1 stack + the odd size + 2 "other" + 3 colour files.
    expect(await ok(ws, 'images:count', {})).toBe(7);
    const { items } = await ok(ws, 'images:list', {});
    const stacks = items.filter((i) => i.stack);
    expect(stacks).toHaveLength(1);
    expect(stacks[0]!.stack).toMatchObject({ kind: 'sequence', order: 'number', slices: 4 });
    const got = await ok(ws, 'stacks:get', { id: stacks[0]!.stack!.id });
    expect(got.members.map((m) => path.basename(m.path))).toEqual(['cell_0001.png', 'cell_0002.png', 'cell_0003.png', 'cell_0010.png']);
  });
});
