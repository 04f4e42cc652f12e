import { beforeAll, describe, expect, it } from 'vitest';
import { insertImages, setStatus } from '../../src-main/db/images';
import { openDatabase } from '../../src-main/db/open';
import { insertAnnotations } from '../../src-main/db/annotations';
import type { Db } from '../../src-main/db/open';
import { countTiles, listTiles, locateTile, rebuildStacks, stackMemberIds, stackStatus } from '../../src-main/db/stacks';
import type { ImageStatus } from '../../src-main/common/model';

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
  let ids: number[] = [];
  let planned: { stacks: number; members: number };
  beforeAll(async () => {
    ids = await insertImages(db, rows);
    // A pseudo-random subset is done, for a filter.
    await setStatus(db, ids.filter((id) => (id * 7919) % 5 === 0), 'done');
    planned = await rebuildStacks(db);
  });

  async function expected(status?: 'done'): Promise<{ id: number; stack: number | null }[]> {
    const stackOf = new Map<number, number>();
    for (const s of await db.prepare('SELECT id FROM stacks').pluck().all() as number[]) for (const m of await stackMemberIds(db, s)) stackOf.set(m, s);
    const matched = (await db.prepare(`SELECT id FROM images ${status ? "WHERE status = 'done'" : ''} ORDER BY id`).pluck().all() as number[]);
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

  it.each([[undefined], ['done' as const]])('pages of any size and offset give the tiles in order (status filter %s)', async (status) => {
    expect(planned.stacks).toBe(8);
    const filter = status ? { status } : {};
    const want = await expected(status);
    expect(await countTiles(db, filter)).toBe(want.length);
    for (const size of [1, 7, 50, 200]) {
      const got: { id: number; stack: number | null }[] = [];
      for (let offset = 0; offset < want.length + size; offset += size) {
        for (const t of await listTiles(db, filter, offset, size)) {
          // A stack's tile shows its middle slice; its position is that of its first matching slice.
          got.push(t.stack ? { id: want.find((w) => w.stack === t.stack!.id)!.id, stack: t.stack.id } : { id: t.id, stack: null });
        }
      }
      expect(got).toEqual(want);
    }
    for (const [i, w] of want.entries()) expect(await locateTile(db, filter, w.id)).toBe(i);
  });

  /** The same connection, counting the statements it runs (get, all, run, iterate). */
  function counting(): { db: Db; runs: () => number } {
    let runs = 0;
    const wrap = (st: object): object => {
      const proxy: object = new Proxy(st, {
        get(t, k) {
          const v = Reflect.get(t, k, t) as unknown;
          if (typeof v !== 'function') return v;
          return (...args: unknown[]) => {
            if (k === 'get' || k === 'all' || k === 'run' || k === 'iterate') runs++;
            const r = (v as (...a: unknown[]) => unknown).apply(t, args);
            return r === t ? proxy : r;
          };
        },
      });
      return proxy;
    };
    const counted = new Proxy(db, {
      get(t, k) {
        const v = Reflect.get(t, k, t) as unknown;
        if (k === 'prepare') return (sql: string) => wrap(t.prepare(sql));
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(t) : v;
      },
    });
    return { db: counted, runs: () => runs };
  }

  it('sums each stack tile over its slices (annotations, open comments, status) in a few queries a page, whatever its size', async () => {
    const stacks = await db.prepare('SELECT id FROM stacks ORDER BY id').pluck().all() as number[];
    const first = await stackMemberIds(db, stacks[0]!);
    // Annotations and comments on some slices; one slice of the first stack removed (a gap in its positions).
    await insertAnnotations(db, ids.filter((_, k) => k % 4 === 0).map((imageId) => ({ imageId, classId: null, geometry: { kind: 'box' as const, x: 0, y: 0, w: 1, h: 1 }, source: 'human' as const })));
    const comment = db.prepare("INSERT INTO comments (image_id, x, y, author, body, created_at, resolved_at, parent_id) VALUES (?, 0, 0, 'a', 'b', 0, ?, ?)");
    for (const [k, id] of ids.entries()) if (k % 5 === 0) await comment.run(id, k % 10 === 0 ? 1 : null, null);
    const parent = Number((await comment.run(ids[3]!, null, null)).lastInsertRowid);
    await comment.run(ids[3]!, null, parent);
    await setStatus(db, [first[1]!], 'rejected');
    await db.prepare('DELETE FROM images WHERE id = ?').run(first[2]!);
    const one = async (sql: string, id: number) => await db.prepare(sql).pluck().get(id) as number;
    const runs: number[] = [];
    const total = await countTiles(db, {});
    for (const size of [3, 200]) {
      const c = counting();
      const tiles = await listTiles(c.db, {}, 0, size);
      expect(tiles).toHaveLength(Math.min(size, total));
      runs.push(c.runs());
      for (const t of tiles) {
        const members = t.stack ? await stackMemberIds(db, t.stack.id) : [t.id];
        const sum = async (sql: string) => {
          let a = 0;
          for (const id of members) a += await one(sql, id);
          return a;
        };
        expect(t.annotationCount).toBe(await sum('SELECT count(*) FROM annotations WHERE image_id = ?'));
        expect(t.openComments).toBe(await sum('SELECT count(*) FROM comments WHERE image_id = ? AND parent_id IS NULL AND resolved_at IS NULL'));
        if (!t.stack) continue;
        expect(t.stack.slices).toBe(members.length);
        expect(t.id).toBe(members[Math.floor((members.length - 1) / 2)]);
        const statuses: ImageStatus[] = [];
        for (const id of members) statuses.push(await db.prepare('SELECT status FROM images WHERE id = ?').pluck().get(id) as ImageStatus);
        expect(t.status).toBe(stackStatus(statuses));
      }
    }
    // The statements a page runs do not grow with its tiles or its stacks' slices (a stack with a
    // removed slice costs one more, for its cover).
    expect(runs[1]).toBe(runs[0]);
    expect(runs[1]).toBeLessThanOrEqual(7);
    expect((await listTiles(db, {}, 0, 200)).find((t) => t.stack?.id === stacks[0])!.status).toBe('rejected');
  });
});
