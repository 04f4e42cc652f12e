import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ImageListItem } from '../../src-main/common/model';
import { fails, importedDataset, makeImageDir, ok } from '../helpers/workspace';

let imageDir: string;
beforeAll(async () => {
  imageDir = await makeImageDir();
});

async function scene() {
  const { ws, file, items } = await importedDataset(imageDir);
  const by = (name: string): ImageListItem => items.find((i) => path.basename(i.path) === name)!;
  const [a, b, c, d] = [by('a.jpg'), by('b.png'), by('c.webp'), by('d16.png')];
  await ok(ws, 'images:setStatus', { ids: [a.id, b.id, c.id], status: 'done' });
  return { ws, file, items, a, b, c, d };
}

describe('review verdicts', () => {
  it('accepts and rejects done images with a comment that persists', async () => {
    const { ws, file, a, b } = await scene();
    expect(await ok(ws, 'images:review', { id: a.id, verdict: 'reviewed' })).toEqual({ id: a.id, status: 'reviewed', reviewComment: null });
    expect(await ok(ws, 'images:review', { id: b.id, verdict: 'rejected', comment: '  the debris is not labeled \n' })).toEqual({
      id: b.id,
      status: 'rejected',
      reviewComment: 'the debris is not labeled',
    });
    // Closing and opening the dataset reads both back from the file.
    await ok(ws, 'dataset:close', {});
    await ok(ws, 'dataset:open', { path: file });
    const ga = await ok(ws, 'images:get', { id: a.id });
    const gb = await ok(ws, 'images:get', { id: b.id });
    expect([ga.status, ga.reviewComment]).toEqual(['reviewed', null]);
    expect([gb.status, gb.reviewComment]).toEqual(['rejected', 'the debris is not labeled']);
  });

  it('keeps the comment while the labeler fixes the image, and replaces it with the next verdict', async () => {
    const { ws, b } = await scene();
    await ok(ws, 'images:review', { id: b.id, verdict: 'rejected', comment: 'box too loose' });
    await ok(ws, 'images:setStatus', { ids: [b.id], status: 'in_progress' });
    expect((await ok(ws, 'images:get', { id: b.id })).reviewComment).toBe('box too loose');
    await ok(ws, 'images:setStatus', { ids: [b.id], status: 'done' });
    await ok(ws, 'images:review', { id: b.id, verdict: 'reviewed', comment: '   ' });
    const g = await ok(ws, 'images:get', { id: b.id });
    expect([g.status, g.reviewComment]).toEqual(['reviewed', null]);
  });

  it('refuses images that are not finished, unknown images and unknown verdicts', async () => {
    const { ws, d } = await scene();
    expect((await fails(ws, 'images:review', { id: d.id, verdict: 'reviewed' })).code).toBe('INVALID_ARGUMENT');
    expect((await ok(ws, 'images:get', { id: d.id })).status).toBe('new');
    expect((await fails(ws, 'images:review', { id: 99_999, verdict: 'reviewed' })).code).toBe('NOT_FOUND');
    expect((await fails(ws, 'images:review', { id: d.id, verdict: 'done' as 'reviewed' })).code).toBe('INVALID_ARGUMENT');
  });
});

describe('review walk and status counts', () => {
  it('walks the done images in grid order, wrapping round, until none is left', async () => {
    const { ws, a, b, c } = await scene();
    const done = [a.id, b.id, c.id].sort((x, y) => x - y);
    const first = await ok(ws, 'images:findNext', { want: 'done' });
    expect(first?.id).toBe(done[0]);
    await ok(ws, 'images:review', { id: done[0]!, verdict: 'reviewed' });
    const second = await ok(ws, 'images:findNext', { want: 'done', afterId: done[0] });
    expect(second?.id).toBe(done[1]);
    await ok(ws, 'images:review', { id: done[1]!, verdict: 'rejected', comment: 'redo' });
    // From the last done image the walk wraps round and finds no other.
    expect(await ok(ws, 'images:findNext', { want: 'done', afterId: done[2] })).toBeNull();
    expect((await ok(ws, 'images:findNext', { want: 'done', afterId: done[1] }))?.id).toBe(done[2]);
    await ok(ws, 'images:review', { id: done[2]!, verdict: 'reviewed' });
    expect(await ok(ws, 'images:findNext', { want: 'done' })).toBeNull();
    expect(await ok(ws, 'images:statusCounts', {})).toEqual({ new: 5, in_progress: 0, done: 0, reviewed: 2, rejected: 1 });
  });

  it('counts per status within the other filters, ignoring the status filter itself', async () => {
    const { ws, a, b } = await scene();
    await ok(ws, 'images:review', { id: b.id, verdict: 'rejected' });
    expect(await ok(ws, 'images:statusCounts', { filter: { status: 'new' } })).toEqual({ new: 5, in_progress: 0, done: 2, reviewed: 0, rejected: 1 });
    expect(await ok(ws, 'images:statusCounts', { filter: { ids: [a.id, b.id] } })).toEqual({ new: 0, in_progress: 0, done: 1, reviewed: 0, rejected: 1 });
    const rejected = await ok(ws, 'images:list', { filter: { status: 'rejected' } });
    expect(rejected.items.map((i) => i.id)).toEqual([b.id]);
  });
});
