import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { insertImages } from '../../src-main/db/images';
import { appendEdit, markUndone, peekRedo, peekUndo } from '../../src-main/db/journal';
import { openDatabase } from '../../src-main/db/open';
import { tempDir } from '../helpers/shared';

describe('edit journal', () => {
  it('keeps undo and redo history across closing and reopening the dataset', () => {
    const file = path.join(tempDir(), 'j.tessera');
    let db = openDatabase(file, { create: true });
    const [img] = insertImages(db, [
      { path: 'a.png', external: false, contentHash: 'h', fileSize: 1, fileMtimeMs: 0, width: 4, height: 4, channels: 3, bitDepth: 8, format: 'png', frames: 1, orientation: 1 },
    ]);
    appendEdit(db, { imageId: img!, label: 'add box', forward: { add: 1 }, backward: { remove: 1 } });
    const second = appendEdit(db, { imageId: img!, label: 'move box', forward: { dx: 3 }, backward: { dx: -3 } });
    markUndone(db, second, true);
    db.close();

    db = openDatabase(file);
    expect(peekUndo(db, img!)).toMatchObject({ label: 'add box', backward: { remove: 1 } });
    expect(peekRedo(db, img!)).toMatchObject({ label: 'move box', forward: { dx: 3 } });
    // A new edit ends the redo branch.
    appendEdit(db, { imageId: img!, label: 'delete box', forward: {}, backward: {} });
    expect(peekRedo(db, img!)).toBeUndefined();
    expect(peekUndo(db, img!)?.label).toBe('delete box');
    db.close();
  });
});
