import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { insertImages } from '../../src-main/db/images';
import { appendEdit, clearHistory, imagesWithHistoryOfClass, markUndone, peekRedo, peekUndo, setEntryState } from '../../src-main/db/journal';
import { openDatabase } from '../../src-main/db/open';
import { tempDir } from '../helpers/shared';

describe('edit journal', () => {
  it('keeps undo and redo history across closing and reopening the dataset', async () => {
    const file = path.join(tempDir(), 'j.tessera');
    let db = openDatabase(file, { create: true });
    const [img] = await insertImages(db, [
      { path: 'a.png', external: false, contentHash: 'h', fileSize: 1, fileMtimeMs: 0, width: 4, height: 4, channels: 3, bitDepth: 8, format: 'png', frames: 1, orientation: 1 },
    ]);
    await appendEdit(db, { imageId: img!, label: 'add box', forward: { add: 1 }, backward: { remove: 1 } });
    const second = await appendEdit(db, { imageId: img!, label: 'move box', forward: { dx: 3 }, backward: { dx: -3 } });
    await markUndone(db, second, true);
    await db.close();

    db = openDatabase(file);
    expect(await peekUndo(db, img!)).toMatchObject({ label: 'add box', backward: { remove: 1 } });
    expect(await peekRedo(db, img!)).toMatchObject({ label: 'move box', forward: { dx: 3 } });
    // A new edit ends the redo branch.
    await appendEdit(db, { imageId: img!, label: 'delete box', forward: {}, backward: {} });
    expect(await peekRedo(db, img!)).toBeUndefined();
    expect((await peekUndo(db, img!))?.label).toBe('delete box');
    await db.close();
  });

  it('finds the images whose history holds a class, on either side, ignoring payloads of other shapes', async () => {
    const db = openDatabase(':memory:', { create: true });
    const img = (p: string) => ({ path: p, external: false, contentHash: p, fileSize: 1, fileMtimeMs: 0, width: 4, height: 4, channels: 3, bitDepth: 8, format: 'png', frames: 1, orientation: 1 });
    const [a, b, c, d] = await insertImages(db, [img('a'), img('b'), img('c'), img('d')]) as [number, number, number, number];
    const value = (classId: number | null) => ({ id: 1, value: { classId, kind: 'tag' } });
    await appendEdit(db, { imageId: a, label: 'after side', forward: [value(7)], backward: [{ id: 1, value: null }] });
    await appendEdit(db, { imageId: b, label: 'before side', forward: [value(3)], backward: [value(7)] });
    await appendEdit(db, { imageId: c, label: 'other class', forward: [value(70)], backward: [value(null)] });
    await appendEdit(db, { imageId: d, label: 'foreign', forward: ['text', 7, { classId: 7 }, [7]], backward: { value: { classId: 7 } } });
    expect((await imagesWithHistoryOfClass(db, 7)).sort()).toEqual([a, b].sort());

    const entry = (await peekUndo(db, c))!;
    await setEntryState(db, entry.id, true, { forward: [value(71)], backward: [] });
    expect(await peekUndo(db, c)).toBeUndefined();
    expect(await peekRedo(db, c)).toMatchObject({ id: entry.id, forward: [value(71)], backward: [] });

    expect(await clearHistory(db, [a, b])).toBe(2);
    expect(await peekUndo(db, a)).toBeUndefined();
    expect(await peekUndo(db, b)).toBeUndefined();
    expect((await peekUndo(db, d))?.label).toBe('foreign');
    await db.close();
  });
});
