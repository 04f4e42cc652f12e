import { describe, expect, it } from 'vitest';
import type { Geometry } from '../../src-main/common/model';
import { countByKind, countBySource, insertAnnotations, listAnnotations } from '../../src-main/db/annotations';
import { insertClass } from '../../src-main/db/classes';
import { insertImages } from '../../src-main/db/images';
import { insertModelRun } from '../../src-main/db/modelRuns';
import { openDatabase } from '../../src-main/db/open';

async function setup() {
  const db = openDatabase(':memory:', { create: true });
  const img = (p: string) => ({ path: p, external: false, contentHash: p, fileSize: 1, fileMtimeMs: 0, width: 100, height: 80, channels: 3, bitDepth: 8, format: 'png', frames: 1, orientation: 1 });
  const [a, b] = await insertImages(db, [img('a.png'), img('b.png')]);
  const cls = await insertClass(db, { name: 'cell', color: '#ff0000' });
  return { db, a: a!, b: b!, cls: cls.id };
}

describe('annotations store', () => {
  it('returns ids in input order across multi-row chunks and reads every kind back exactly', async () => {
    const { db, a, b, cls } = await setup();
    const geoms: Geometry[] = [
      { kind: 'box', x: 1.5, y: 2.25, w: 10, h: 20 },
      { kind: 'polygon', parts: [[0, 0, 10, 0, 10, 10], [20, 20, 30, 20, 30, 30]] },
      { kind: 'mask', rle: { size: [80, 100], counts: [5, 10, 7985] } },
      { kind: 'point', x: 3, y: 4 },
      { kind: 'obb', cx: 50, cy: 40, w: 20, h: 10, angle: 0.5 },
      { kind: 'tag' },
    ];
    const items = Array.from({ length: 200 }, (_, i) => ({
      imageId: i % 3 ? a : b,
      classId: cls,
      geometry: geoms[i % geoms.length]!,
      source: 'human' as const,
      attributes: { i },
    }));
    const ids = await insertAnnotations(db, items);
    expect(ids).toHaveLength(200);
    expect(new Set(ids).size).toBe(200);
    const byId = new Map([...await listAnnotations(db, a), ...await listAnnotations(db, b)].map((r) => [r.id, r]));
    ids.forEach((id, i) => {
      const r = byId.get(id)!;
      expect(r.geometry).toEqual(items[i]!.geometry);
      expect(r.attributes).toEqual({ i });
      expect(r.kind).toBe(items[i]!.geometry.kind);
      expect(r.version).toBe(1);
    });
    expect(await countByKind(db)).toMatchObject({ box: 34, polygon: 34, tag: 33 });
  });

  it('stores through multi-row statements exactly the rows that one-row statements store', async () => {
    const geoms: Geometry[] = [
      { kind: 'box', x: 1.5, y: 2.25, w: 10, h: 20 },
      { kind: 'polygon', parts: [[0, 0, 10, 0, 10, 10], [20, 20, 30, 20, 30, 30.125]] },
      { kind: 'mask', rle: { size: [80, 100], counts: [5, 10, 7985] } },
      { kind: 'point', x: 3, y: 4 },
      { kind: 'obb', cx: 50, cy: 40, w: 20, h: 10, angle: 0.5 },
      { kind: 'tag' },
    ];
    const now = 1_700_000_000_123;
    const rowsOf = async (multi: boolean) => {
      const { db, a, b, cls } = await setup();
      const run = await insertModelRun(db, { model: 'm', provider: 'cpu', parameters: {} });
      // Two full 64-row statements and a shorter last one; every optional field set or left out.
      const items = Array.from({ length: 64 * 2 + 7 }, (_, i) => ({
        imageId: i % 3 ? a : b,
        classId: i % 11 === 0 ? null : cls,
        geometry: geoms[i % geoms.length]!,
        source: i % 4 === 0 ? ('model' as const) : ('human' as const),
        ...(i % 4 === 0 ? { modelRunId: run, score: (i % 10) / 10 } : {}),
        ...(i % 5 === 0 ? { frame: i % 3, z: i } : {}),
        ...(i % 2 === 0 ? { attributes: { i, note: `n${i}`, ok: i % 3 === 0, none: null } } : {}),
      }));
      const ids: number[] = [];
      if (multi) ids.push(...(await insertAnnotations(db, items, now)));
      else for (const it of items) ids.push(...(await insertAnnotations(db, [it], now)));
      const rows = await db.prepare('SELECT * FROM annotations ORDER BY id').all() as { id: number }[];
      expect(rows.map((r) => r.id)).toEqual(ids);
      return rows;
    };
    const single = await rowsOf(false);
    expect(single).toHaveLength(135);
    expect(await rowsOf(true)).toEqual(single);
  });

  it('keeps predictions apart with their model run, and a failed batch stores nothing', async () => {
    const { db, a, cls } = await setup();
    const run = await insertModelRun(db, { model: 'yolov8n', provider: 'cpu', parameters: { conf: 0.25 } });
    await insertAnnotations(db, [{ imageId: a, classId: cls, geometry: { kind: 'point', x: 1, y: 1 }, source: 'model', modelRunId: run, score: 0.9 }]);
    expect(await countBySource(db)).toEqual({ human: 0, model: 1 });
    const bad = Array.from({ length: 100 }, (_, i) => ({
      imageId: i === 70 ? 12345 : a,
      classId: cls,
      geometry: { kind: 'point', x: i, y: i } as Geometry,
      source: 'human' as const,
    }));
    await expect(async () => insertAnnotations(db, bad)).rejects.toThrow(/FOREIGN KEY/);
    expect(await countBySource(db)).toEqual({ human: 0, model: 1 });
  });
});
