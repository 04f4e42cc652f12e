import { describe, expect, it } from 'vitest';
import { insertImages, setStatus } from '../../src-main/db/images';
import { openDatabase } from '../../src-main/db/open';
import { countTiles, listTiles, locateTile, rebuildStacks, stackMemberIds } from '../../src-main/db/stacks';

/**
 * The grid's tiles against a plain reading of the rule: every image in no stack is a tile, every
 * stack with a matching slice is one tile at its first matching image id, in id order.
 */
describe('grid tiles over real SQLite', () => {
  const db = openDatabase(':memory:', { create: true });
  // 400 images in 8 folders; in each folder the greyscale ones (every third) form a sequence.
  const rows = Array.from({ length: 400 }, (_, i) => ({
    path: `f${i % 8}/s_${String(i).padStart(4, '0')}.png`,
    external: false,
    contentHash: `h${i}`,
    fileSize: 1,
    fileMtimeMs: 1,
    width: 16,
    height: 16,
    channels: i % 3 === 0 ? 1 : 3,
    bitDepth: 8,
    format: 'png',
    frames: 1,
    orientation: 1,
  }));
  const ids = insertImages(db, rows);
  // A pseudo-random subset is done, for a filter.
  setStatus(db, ids.filter((id) => (id * 7919) % 5 === 0), 'done');
  const planned = rebuildStacks(db);

  function expected(status?: 'done'): { id: number; stack: number | null }[] {
    const stackOf = new Map<number, number>();
    for (const s of db.prepare('SELECT id FROM stacks').pluck().all() as number[]) for (const m of stackMemberIds(db, s)) stackOf.set(m, s);
    const matched = (db.prepare(`SELECT id FROM images ${status ? "WHERE status = 'done'" : ''} ORDER BY id`).pluck().all() as number[]);
    const seen = new Set<number>();
    const out: { id: number; stack: number | null }[] = [];
    for (const id of matched) {
      const s = stackOf.get(id);
      if (s === undefined) out.push({ id, stack: null });
      else if (!seen.has(s)) {
        seen.add(s);
        out.push({ id, stack: s });
      }
    }
    return out;
  }

  it.each([[undefined], ['done' as const]])('pages of any size and offset give the tiles in order (status filter %s)', (status) => {
    expect(planned.stacks).toBe(8);
    const filter = status ? { status } : {};
    const want = expected(status);
    expect(countTiles(db, filter)).toBe(want.length);
    for (const size of [1, 7, 50, 200]) {
      const got: { id: number; stack: number | null }[] = [];
      for (let offset = 0; offset < want.length + size; offset += size) {
        for (const t of listTiles(db, filter, offset, size)) {
          // A stack's tile shows its middle slice; its position is that of its first matching slice.
          got.push(t.stack ? { id: want.find((w) => w.stack === t.stack!.id)!.id, stack: t.stack.id } : { id: t.id, stack: null });
        }
      }
      expect(got).toEqual(want);
    }
    for (const [i, w] of want.entries()) expect(locateTile(db, filter, w.id)).toBe(i);
  });
});
