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

describe('frozen georeferences and COCO ids', () => {
  it('reads back as the live ones did when the version was made, after the live rows change', async () => {
    const { setGeoReferences, getGeo } = await import('../../src-main/db/geo');
    const { cocoExportIds } = await import('../../src-main/db/interchange');
    const { versionGeo, versionCocoIds, versionClasses } = await import('../../src-main/db/versions');
    const { listClasses } = await import('../../src-main/db/classes');
    const db = openDatabase(path.join(tempDir(), 'g.tessera'), { create: true });
    const img = (p: string) => ({ path: p, external: false, contentHash: p, fileSize: 1, fileMtimeMs: 1, width: 10, height: 10, channels: 3, bitDepth: 8, format: 'tiff', frames: 1, orientation: 1 });
    const [a, b, c] = insertImages(db, [img('a.tif'), img('b.tif'), img('c.tif')]);
    const k1 = insertClass(db, { name: 'one', color: '#000000', attributes: [{ name: 'occluded', type: 'boolean' }] }).id;
    const k2 = insertClass(db, { name: 'two', color: '#ffffff' }).id;
    setGeoReferences(db, [
      { imageId: a!, geo: { transform: [500000, 0.5, 0, 4100000, 0, -0.5], epsg: 32618, crsName: 'WGS 84 / UTM zone 18N', nodata: Number.NaN, linearUnit: 1 } },
      { imageId: b!, geo: { transform: [1, 2, 0, 3, 0, -2], epsg: null, crsName: null, nodata: -9999, linearUnit: null } },
    ]);
    db.prepare('INSERT INTO coco_image_ids (image_id, coco_id) VALUES (?, 7000)').run(b!);
    db.prepare('INSERT INTO coco_category_ids (class_id, coco_id) VALUES (?, 90)').run(k2);
    const liveGeo = [a!, b!, c!].map((id) => getGeo(db, id));
    const liveIds = cocoExportIds(db);
    const ids = [a!, b!, c!].map((id) => liveIds.image(id));
    const cats = listClasses(db).map((k, i) => liveIds.category(k.id, i));
    const classes = listClasses(db);
    insertVersion(db, { name: 'v' });

    db.prepare('DELETE FROM image_geo').run();
    db.prepare('DELETE FROM coco_image_ids').run();
    db.prepare('UPDATE classes SET attributes = ? WHERE id = ?').run('[]', k1);
    expect([a!, b!, c!].map((id) => versionGeo(db, 1, id))).toEqual(liveGeo);
    expect(Number.isNaN(versionGeo(db, 1, a!)!.nodata)).toBe(true);
    const frozen = versionCocoIds(db, 1);
    expect([a!, b!, c!].map((id) => frozen.image(id))).toEqual(ids);
    expect(versionClasses(db, 1).map((k, i) => frozen.category(k.id, i))).toEqual(cats);
    expect(versionClasses(db, 1).map(({ cocoId: _, ...k }) => k)).toEqual(classes.map((k) => ({ ...k, hotkey: null })));
    db.close();
  });
});
