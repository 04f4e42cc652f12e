import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { MIGRATIONS, SCHEMA_VERSION } from '../../src-main/db/migrations';
import { openDatabase } from '../../src-main/db/open';
import { insertAnnotations } from '../../src-main/db/annotations';
import { insertClass } from '../../src-main/db/classes';
import { insertImages } from '../../src-main/db/images';
import { insertVersion, listVersions, versionImageAnnotations } from '../../src-main/db/versions';
import { tempDir } from '../helpers/shared';

describe('migration 15 (versions)', () => {
  it('adds empty version tables to a version-14 dataset, whose rows a first version then freezes, independent of later deletes', () => {
    const file = path.join(tempDir(), 'v14.tessera');
    const v14 = openDatabase(file, { create: true, migrations: MIGRATIONS.filter((m) => m.version <= 14) });
    const [a] = insertImages(v14, [{ path: 'a.png', external: false, contentHash: 'ha', fileSize: 1, fileMtimeMs: 1, width: 10, height: 10, channels: 3, bitDepth: 8, format: 'png', frames: 1, orientation: 1 }]);
    const cls = insertClass(v14, { name: 'cell', color: '#ff0000' }).id;
    const [box] = insertAnnotations(v14, [{ imageId: a!, classId: cls, geometry: { kind: 'box', x: 1, y: 2, w: 3, h: 4 }, source: 'human', attributes: { occluded: true } }]);
    v14.close();

    const db = openDatabase(file);
    expect(db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    for (const t of ['versions', 'version_images', 'version_classes', 'version_annotations']) expect(db.prepare(`SELECT count(*) FROM ${t}`).pluck().get()).toBe(0);
    expect(listVersions(db)).toEqual([]);

    const v = insertVersion(db, { name: 'after upgrade', note: 'n' }, 1_700_000_000_000);
    expect(v).toEqual({ number: 1, name: 'after upgrade', note: 'n', createdAt: 1_700_000_000_000, withPredictions: false, recipe: null, images: 1, classes: 1, annotations: 1 });
    expect(db.prepare('SELECT path, content_hash, status, split FROM version_images').all()).toEqual([{ path: 'a.png', content_hash: 'ha', status: 'new', split: null }]);
    db.pragma('foreign_keys = ON');
    db.prepare('DELETE FROM annotations').run();
    db.prepare('DELETE FROM images').run();
    db.prepare('DELETE FROM classes').run();
    const kept = versionImageAnnotations(db, 1, a!, v.createdAt);
    expect(kept.map((r) => [r.id, r.classId, r.geometry, r.attributes])).toEqual([[box, cls, { kind: 'box', x: 1, y: 2, w: 3, h: 4 }, { occluded: true }]]);
    expect(db.prepare('SELECT name, color FROM version_classes').all()).toEqual([{ name: 'cell', color: '#ff0000' }]);
    db.close();
  });
});
